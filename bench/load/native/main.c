/*
 *   instrument    (built by bench/load/native.ts with the system's C compiler)
 *
 * Prints {"url"} once its echo bot listens. Commands on stdin, one per line (the protocol of
 * bench/load/child.ts):
 *   open N              opens N callers on one loopback UDP socket; prints {"ports"} (N times it)
 *   connect CALL PORT   starts sending CALL's frames to PORT (rtp-callers.ts's connect)
 *   disconnect CALL     stops them
 *   close-callers       closes the callers' socket
 *   window START END    counts tagged frames sent in [START, END) µs from now on
 *   report PATH         writes the window's raw observations to PATH; prints the counts
 *   talk SEED FRAMES    prints a talker's first FRAMES frames, hex, and which are tagged (for
 *                       the test that holds talker.c to talker.ts)
 * Exits when stdin closes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "instrument.h"

#define KEY_STDIN ((uint64_t)4 << 40)
#define KEY_TIMER ((uint64_t)5 << 40)

static int epoll_fd, timer_fd;

static void open_callers(int count) {
  int port = count > 0 ? callers_open(epoll_fd, timer_fd, count) : -1;
  printf("{\"ports\":[");
  for (int call = 0; call < count && port > 0; call++) printf("%s%d", call ? "," : "", port);
  printf("]}\n");
  fflush(stdout);
}

static void write_observations(FILE *file, const observations *list) {
  double count = (double)list->count;
  fwrite(&count, sizeof count, 1, file);
  fwrite(list->items, sizeof *list->items, list->count, file);
}

static void command(char *line) {
  char word[32] = {0}, path[4096] = {0};
  long long a = 0, b = 0;
  if (sscanf(line, "%31s", word) != 1) return;
  if (strcmp(word, "open") == 0 && sscanf(line, "%*s %lld", &a) == 1) open_callers((int)a);
  else if (strcmp(word, "connect") == 0 && sscanf(line, "%*s %lld %lld", &a, &b) == 2)
    callers_connect((int)a, (int)b);
  else if (strcmp(word, "disconnect") == 0 && sscanf(line, "%*s %lld", &a) == 1)
    callers_connect((int)a, 0);
  else if (strcmp(word, "close-callers") == 0) callers_close();
  else if (strcmp(word, "window") == 0 && sscanf(line, "%*s %lld %lld", &a, &b) == 2) {
    window_start_us = a, window_end_us = b, window_set = 1;
    callers_reset_window();
    bot_reset_window();
  } else if (strcmp(word, "talk") == 0 && sscanf(line, "%*s %lld %lld", &a, &b) == 2 && b > 0 && b <= 1000) {
    talker talk;
    talker_init(&talk, (uint32_t)a);
    char tagged[1001] = {0};
    printf("{\"frames\":\"");
    for (int frame = 0; frame < b; frame++) {
      uint8_t payload[FRAME_SAMPLES];
      tagged[frame] = talker_next(&talk, payload) ? '1' : '0';
      for (int i = 0; i < FRAME_SAMPLES; i++) printf("%02x", payload[i]);
    }
    printf("\",\"tagged\":\"%s\"}\n", tagged);
    fflush(stdout);
  } else if (strcmp(word, "report") == 0 && sscanf(line, "%*s %4095s", path) == 1) {
    FILE *file = fopen(path, "wb");
    if (file) {
      write_observations(file, &bot_observations);
      write_observations(file, &caller_observations);
      fclose(file);
    }
    window_set = 0;  // nothing is kept until the next window
    caller_counts counts = callers_counts();
    printf("{\"written\":%s,\"sentInWindow\":%" PRIu64 ",\"senderLagMaxMs\":%.3f,\"senderSkipped\":%" PRIu64
           ",\"receiveDrops\":%" PRIu64 ",\"invalid\":%" PRIu64 "}\n",
           file ? "true" : "false", counts.sent_in_window, counts.sender_lag_max_ms, counts.sender_skipped,
           counts.receive_drops, bot_invalid);
    fflush(stdout);
  }
}

/* Reads stdin's lines; 0 once it has closed. */
static int read_commands(void) {
  static char buffer[65536];
  static size_t length;
  for (;;) {
    ssize_t got = read(STDIN_FILENO, buffer + length, sizeof buffer - 1 - length);
    if (got == 0) return 0;
    if (got < 0) return errno == EAGAIN || errno == EINTR;
    length += (size_t)got;
    char *start = buffer, *newline;
    while ((newline = memchr(start, '\n', (size_t)(buffer + length - start)))) {
      *newline = 0;
      command(start);
      start = newline + 1;
    }
    length = (size_t)(buffer + length - start);
    memmove(buffer, start, length);
    if (length == sizeof buffer - 1) length = 0;  // a line too long for any command
  }
}

int main(void) {
  // As Node does at start-up: as many descriptors as the hard limit allows.
  struct rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  // A bot connection the gateway closed is seen as EPIPE from write, not as a signal.
  signal(SIGPIPE, SIG_IGN);
  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  struct epoll_event event = {.events = EPOLLIN, .data.u64 = KEY_TIMER};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, timer_fd, &event);
  int port = bot_listen(epoll_fd);
  if (port < 0) return 1;
  fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
  struct epoll_event input = {.events = EPOLLIN, .data.u64 = KEY_STDIN};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, STDIN_FILENO, &input);
  printf("{\"url\":\"ws://127.0.0.1:%d/load\"}\n", port);
  fflush(stdout);
  struct epoll_event events[256];
  for (;;) {
    int ready = epoll_wait(epoll_fd, events, 256, -1);
    for (int i = 0; i < ready; i++) {
      uint64_t key = events[i].data.u64;
      uint64_t kind = key & KEY_KIND_MASK;
      if (kind == KEY_STDIN) {
        if (!read_commands()) return 0;
      } else if (kind == KEY_TIMER) callers_send_due();
      else if (kind == KEY_CALLER) callers_receive();
      else bot_ready(epoll_fd, key, events[i].events);
    }
  }
}
