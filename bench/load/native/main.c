/*
 *   instrument    (built by bench/load/native.ts with the system's C compiler)
 *
 * Prints {"url"} once its echo bot listens. Commands on stdin, one per line (the protocol of
 * bench/load/child.ts):
 *   open N              binds N loopback UDP sockets, one caller each; prints {"ports"}
 *   connect CALL PORT   starts sending CALL's frames to PORT (rtp-callers.ts's connect)
 *   disconnect CALL     stops them
 *   close-callers       closes every caller's socket
 *   window START END    counts tagged frames sent in [START, END) µs from now on
 *   report PATH         writes the window's raw observations to PATH; prints the counts
 *   talk SEED FRAMES    prints a talker's first FRAMES frames, hex, and which are tagged (for
 *                       the test that holds talker.c to talker.ts)
 * Exits when stdin closes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "instrument.h"

#define FRAME_US 20000
#define PHASES 4
#define SLOT_US (FRAME_US / PHASES)
#define RTP_HEADER_BYTES 12
#define MAX_CATCH_UP_SLOTS 50
#define CARRIED_BYTES (TAG_BYTES - 1)
#define KEY_STDIN ((uint64_t)4 << 40)
#define KEY_TIMER ((uint64_t)5 << 40)

/* A caller, as rtp-callers.ts's CallerStream. */
typedef struct {
  int fd;
  int remote_port;
  uint16_t rtp_seq;
  uint32_t rtp_timestamp;
  uint32_t ssrc;
  talker talk;
  /* The previous payload's last CARRIED_BYTES, then the payload being read (TagStreamReader). */
  uint8_t received[CARRIED_BYTES + FRAME_SAMPLES];
} caller;

int64_t window_start_us = INT64_MAX, window_end_us = INT64_MAX;
int window_set;
static int epoll_fd, timer_fd;
static caller *callers;
static int caller_count;
static int64_t started_us;
static int64_t slot;
static observations caller_observations;
static uint64_t sent_in_window, sender_skipped;
static double sender_lag_max_ms;

int in_window(int64_t us) { return us >= window_start_us && us < window_end_us; }

static void arm_timer(void) {
  int64_t due = started_us + slot * SLOT_US;
  struct itimerspec spec = {.it_value = {.tv_sec = due / 1000000, .tv_nsec = (due % 1000000) * 1000}};
  timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &spec, NULL);
}

static void close_callers(void) {
  for (int call = 0; call < caller_count; call++) close(callers[call].fd);
  free(callers);
  callers = NULL;
  caller_count = 0;
  struct itimerspec off = {0};
  timerfd_settime(timer_fd, 0, &off, NULL);
}

static void open_callers(int count) {
  close_callers();
  callers = calloc((size_t)count, sizeof *callers);
  printf("{\"ports\":[");
  for (int call = 0; call < count && callers; call++) {
    caller *stream = &callers[call];
    stream->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    bind(stream->fd, (struct sockaddr *)&address, length);
    getsockname(stream->fd, (struct sockaddr *)&address, &length);
    stream->remote_port = 0;
    stream->ssrc = 0x10000 + (uint32_t)call;
    // Seeded by the call's index, as the Node callers are: the same voices in every run.
    talker_init(&stream->talk, (uint32_t)call + 1);
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = KEY_CALLER | (uint64_t)call};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, stream->fd, &event);
    printf("%s%d", call ? "," : "", ntohs(address.sin_port));
    caller_count = call + 1;
  }
  printf("]}\n");
  fflush(stdout);
  started_us = now_us();
  slot = 0;
  arm_timer();
}

static void send_frame(int call) {
  caller *stream = &callers[call];
  if (!stream->remote_port) return;
  uint8_t packet[RTP_HEADER_BYTES + FRAME_SAMPLES];
  packet[0] = 0x80;  // RTP version 2 (RFC 3550 §5.1), no padding, extension or CSRC
  packet[1] = 0;     // PCMU
  packet[2] = (uint8_t)(stream->rtp_seq >> 8), packet[3] = (uint8_t)stream->rtp_seq;
  for (int i = 0; i < 4; i++) {
    packet[4 + i] = (uint8_t)(stream->rtp_timestamp >> (24 - 8 * i));
    packet[8 + i] = (uint8_t)(stream->ssrc >> (24 - 8 * i));
  }
  uint8_t *payload = packet + RTP_HEADER_BYTES;
  int tagged = talker_next(&stream->talk, payload);
  int64_t sent_us = tagged ? now_us() : 0;
  if (tagged) {
    tag_write(payload, 0, call, sent_us, 0);
    tag_write(payload, FRAME_SAMPLES / 2, call, sent_us, 0);
  }
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)stream->remote_port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  sendto(stream->fd, packet, sizeof packet, 0, (struct sockaddr *)&to, sizeof to);
  stream->rtp_seq++;
  stream->rtp_timestamp += FRAME_SAMPLES;
  if (tagged && in_window(sent_us)) sent_in_window++;
}

/* rtp-callers.ts's #sendDueSlots: absolute deadlines, bounded catch-up, lag reported. */
static void send_due_slots(void) {
  uint64_t expirations;
  if (read(timer_fd, &expirations, sizeof expirations) < 0 && errno == EAGAIN) return;
  int64_t now = now_us();
  int64_t behind = (now - started_us) / SLOT_US - slot;
  double lag_ms = (double)(now - (started_us + slot * SLOT_US)) / 1000;
  if (in_window(now) && lag_ms > sender_lag_max_ms) sender_lag_max_ms = lag_ms;
  if (behind > MAX_CATCH_UP_SLOTS) {
    int64_t skipped = behind - MAX_CATCH_UP_SLOTS;
    sender_skipped += (uint64_t)((skipped * caller_count + PHASES / 2) / PHASES);
    slot += skipped;
  }
  while (started_us + slot * SLOT_US <= now_us()) {
    for (int call = (int)(slot % PHASES); call < caller_count; call += PHASES) send_frame(call);
    slot++;
  }
  arm_timer();
}

/* One packet per readiness: epoll is level-triggered, so a second waiting packet is reported
 * again, and no recv is spent on learning that the socket is empty. */
static void receive(int call) {
  caller *stream = &callers[call];
  uint8_t packet[2048];
  {
    ssize_t length = recv(stream->fd, packet, sizeof packet, 0);
    if (length < 0) return;
    int64_t arrival_us = now_us();
    // RFC 5761 §4: RTCP (payload types 192-223 in the second byte) may share the port.
    if (length <= RTP_HEADER_BYTES || (packet[1] >= 192 && packet[1] <= 223)) return;
    int header = RTP_HEADER_BYTES + 4 * (packet[0] & 0x0f);
    int payload_length = (int)length - header;
    if (payload_length <= 0) return;
    if (payload_length > FRAME_SAMPLES) payload_length = FRAME_SAMPLES;
    memcpy(stream->received + CARRIED_BYTES, packet + header, (size_t)payload_length);
    frame_tag tags[16];
    int found = tags_find(stream->received, CARRIED_BYTES + payload_length, tags, 16);
    memmove(stream->received, stream->received + payload_length, CARRIED_BYTES);
    for (int i = 0; i < found; i++)
      if (tags[i].call == call && tags[i].bot_sent_us != 0)
        observations_add(&caller_observations, call, tags[i].caller_sent_us, tags[i].bot_sent_us, arrival_us, 0);
  }
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
  else if (strcmp(word, "connect") == 0 && sscanf(line, "%*s %lld %lld", &a, &b) == 2 && a >= 0 && a < caller_count)
    callers[a].remote_port = (int)b;
  else if (strcmp(word, "disconnect") == 0 && sscanf(line, "%*s %lld", &a) == 1 && a >= 0 && a < caller_count)
    callers[a].remote_port = 0;
  else if (strcmp(word, "close-callers") == 0) close_callers();
  else if (strcmp(word, "window") == 0 && sscanf(line, "%*s %lld %lld", &a, &b) == 2) {
    window_start_us = a, window_end_us = b, window_set = 1;
    caller_observations.count = 0;
    bot_reset_window();
    sent_in_window = sender_skipped = 0;
    sender_lag_max_ms = 0;
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
    printf("{\"written\":%s,\"sentInWindow\":%" PRIu64 ",\"senderLagMaxMs\":%.3f,\"senderSkipped\":%" PRIu64
           ",\"invalid\":%" PRIu64 "}\n",
           file ? "true" : "false", sent_in_window, sender_lag_max_ms, sender_skipped, bot_invalid);
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
      } else if (kind == KEY_TIMER) send_due_slots();
      else if (kind == KEY_CALLER) {
        int call = (int)(key & 0xffffffff);
        if (call < caller_count) receive(call);
      } else bot_ready(epoll_fd, key, events[i].events);
    }
  }
}
