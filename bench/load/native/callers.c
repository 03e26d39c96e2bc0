/*
 * The callers of rtp-callers.ts: 20 ms PCMU frames of talk per call, in four 5 ms phases,
 * on absolute deadlines with bounded catch-up, and the echoes' tags read back. Unlike the
 * Node callers, every call shares one loopback UDP socket: each phase goes out in one
 * sendmmsg and echoes come in by recvmmsg, told apart by the port each call's system under
 * test sends from. The system under test still has one socket per call; what is saved is the
 * instrument's syscalls and wake-ups, which on a small virtual machine are most of its cost.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "instrument.h"

#define FRAME_US 20000
#define PHASES 4
#define SLOT_US (FRAME_US / PHASES)
#define RTP_HEADER_BYTES 12
#define PACKET_BYTES (RTP_HEADER_BYTES + FRAME_SAMPLES)
#define MAX_CATCH_UP_SLOTS 50
#define CARRIED_BYTES (TAG_BYTES - 1)
#define RECEIVE_BATCH 64
/* Room for a stall of the instrument: 16 MiB is seconds of every call's echoes. */
#define RECEIVE_BUFFER_BYTES (16 << 20)

typedef struct {
  int remote_port;
  uint16_t rtp_seq;
  uint32_t rtp_timestamp;
  uint32_t ssrc;
  talker talk;
  /* The previous payload's last CARRIED_BYTES, then the payload being read (TagStreamReader). */
  uint8_t received[CARRIED_BYTES + FRAME_SAMPLES];
} caller;

observations caller_observations;
static int socket_fd = -1, timer_fd = -1;
static caller *callers;
static int caller_count;
/* Which call a system-under-test port belongs to, or -1. */
static int32_t call_by_port[65536];
static int64_t started_us, slot;
static caller_counts counts;
static uint32_t drops_seen, drops_at_window;
/* One phase's packets, built and then sent in one sendmmsg. */
static uint8_t (*packets)[PACKET_BYTES];
static struct mmsghdr *messages;
static struct iovec *vectors;
static struct sockaddr_in *targets;

static void arm_timer(void) {
  int64_t due = started_us + slot * SLOT_US;
  struct itimerspec spec = {.it_value = {.tv_sec = due / 1000000, .tv_nsec = (due % 1000000) * 1000}};
  timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &spec, NULL);
}

void callers_close(void) {
  if (socket_fd >= 0) close(socket_fd);
  socket_fd = -1;
  for (int call = 0; call < caller_count; call++) callers_connect(call, 0);
  free(callers), free(packets), free(messages), free(vectors), free(targets);
  callers = NULL, packets = NULL, messages = NULL, vectors = NULL, targets = NULL;
  caller_count = 0;
  struct itimerspec off = {0};
  if (timer_fd >= 0) timerfd_settime(timer_fd, 0, &off, NULL);
}

int callers_open(int poller, int timer, int count) {
  static int mapped;
  if (!mapped) memset(call_by_port, 0xff, sizeof call_by_port), mapped = 1;
  callers_close();
  timer_fd = timer;
  size_t size = (size_t)(count > 0 ? count : 1);
  callers = calloc(size, sizeof *callers);
  packets = calloc(size, sizeof *packets);
  messages = calloc(size, sizeof *messages);
  vectors = calloc(size, sizeof *vectors);
  targets = calloc(size, sizeof *targets);
  socket_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (!callers || !packets || !messages || !vectors || !targets || socket_fd < 0) return -1;
  int size_bytes = RECEIVE_BUFFER_BYTES, on = 1;
  // Forced past rmem_max where the process may (CAP_NET_ADMIN); else the kernel's cap.
  if (setsockopt(socket_fd, SOL_SOCKET, SO_RCVBUFFORCE, &size_bytes, sizeof size_bytes) < 0)
    setsockopt(socket_fd, SOL_SOCKET, SO_RCVBUF, &size_bytes, sizeof size_bytes);
  // Each datagram then carries the socket's drop count, so a drop here is reported, not taken for loss.
  setsockopt(socket_fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t length = sizeof address;
  if (bind(socket_fd, (struct sockaddr *)&address, length) < 0 ||
      getsockname(socket_fd, (struct sockaddr *)&address, &length) < 0)
    return -1;
  struct epoll_event event = {.events = EPOLLIN, .data.u64 = KEY_CALLER};
  epoll_ctl(poller, EPOLL_CTL_ADD, socket_fd, &event);
  for (int call = 0; call < count; call++) {
    callers[call].ssrc = 0x10000 + (uint32_t)call;
    // Seeded by the call's index, as the Node callers are: the same voices in every run.
    talker_init(&callers[call].talk, (uint32_t)call + 1);
  }
  caller_count = count;
  drops_seen = drops_at_window = 0;
  started_us = now_us();
  slot = 0;
  arm_timer();
  return ntohs(address.sin_port);
}

void callers_connect(int call, int remote_port) {
  if (call < 0 || call >= caller_count || remote_port < 0 || remote_port > 65535) return;
  caller *stream = &callers[call];
  if (stream->remote_port && call_by_port[stream->remote_port] == call) call_by_port[stream->remote_port] = -1;
  stream->remote_port = remote_port;
  if (remote_port) call_by_port[remote_port] = call;
}

void callers_reset_window(void) {
  memset(&counts, 0, sizeof counts);
  caller_observations.count = 0;
  drops_at_window = drops_seen;
}

caller_counts callers_counts(void) {
  caller_counts now = counts;
  now.receive_drops = drops_seen - drops_at_window;
  return now;
}

/* Writes call's next frame into the phase's batch; 1 if there is one. */
static int build_frame(int call, int index) {
  caller *stream = &callers[call];
  if (!stream->remote_port) return 0;
  uint8_t *packet = packets[index];
  packet[0] = 0x80;  // RTP version 2 (RFC 3550 §5.1), no padding, extension or CSRC
  packet[1] = 0;     // PCMU
  packet[2] = (uint8_t)(stream->rtp_seq >> 8), packet[3] = (uint8_t)stream->rtp_seq;
  for (int i = 0; i < 4; i++) {
    packet[4 + i] = (uint8_t)(stream->rtp_timestamp >> (24 - 8 * i));
    packet[8 + i] = (uint8_t)(stream->ssrc >> (24 - 8 * i));
  }
  uint8_t *payload = packet + RTP_HEADER_BYTES;
  int tagged = talker_next(&stream->talk, payload);
  if (tagged) {
    int64_t sent_us = now_us();
    tag_write(payload, 0, call, sent_us, 0);
    tag_write(payload, FRAME_SAMPLES / 2, call, sent_us, 0);
    if (in_window(sent_us)) counts.sent_in_window++;
  }
  stream->rtp_seq++;
  stream->rtp_timestamp += FRAME_SAMPLES;
  targets[index] = (struct sockaddr_in){.sin_family = AF_INET,
                                        .sin_port = htons((uint16_t)stream->remote_port),
                                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  vectors[index] = (struct iovec){.iov_base = packet, .iov_len = PACKET_BYTES};
  messages[index] = (struct mmsghdr){.msg_hdr = {.msg_name = &targets[index],
                                                 .msg_namelen = sizeof targets[index],
                                                 .msg_iov = &vectors[index],
                                                 .msg_iovlen = 1}};
  return 1;
}

static void send_phase(int phase) {
  int batch = 0;
  for (int call = phase; call < caller_count; call += PHASES) batch += build_frame(call, batch);
  for (int sent = 0; sent < batch;) {
    int done = sendmmsg(socket_fd, messages + sent, (unsigned)(batch - sent), 0);
    if (done <= 0) break;
    sent += done;
  }
}

/* rtp-callers.ts's #sendDueSlots: absolute deadlines, bounded catch-up, lag reported. */
void callers_send_due(void) {
  uint64_t expirations;
  if (read(timer_fd, &expirations, sizeof expirations) < 0 && errno == EAGAIN) return;
  if (!callers) return;
  int64_t now = now_us();
  int64_t behind = (now - started_us) / SLOT_US - slot;
  double lag_ms = (double)(now - (started_us + slot * SLOT_US)) / 1000;
  if (in_window(now) && lag_ms > counts.sender_lag_max_ms) counts.sender_lag_max_ms = lag_ms;
  if (behind > MAX_CATCH_UP_SLOTS) {
    int64_t skipped = behind - MAX_CATCH_UP_SLOTS;
    counts.sender_skipped += (uint64_t)((skipped * caller_count + PHASES / 2) / PHASES);
    slot += skipped;
  }
  while (started_us + slot * SLOT_US <= now_us()) {
    send_phase((int)(slot % PHASES));
    slot++;
  }
  arm_timer();
}

static void read_echo(const uint8_t *packet, int length, int port, int64_t arrival_us) {
  // RFC 5761 §4: RTCP (payload types 192-223 in the second byte) may share the port.
  if (length <= RTP_HEADER_BYTES || (packet[1] >= 192 && packet[1] <= 223)) return;
  int call = call_by_port[port];
  if (call < 0 || call >= caller_count) return;
  caller *stream = &callers[call];
  int header = RTP_HEADER_BYTES + 4 * (packet[0] & 0x0f);
  int payload_length = length - header;
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

void callers_receive(void) {
  static uint8_t buffers[RECEIVE_BATCH][2048];
  static struct sockaddr_in sources[RECEIVE_BATCH];
  static struct iovec iov[RECEIVE_BATCH];
  static struct mmsghdr batch[RECEIVE_BATCH];
  static char controls[RECEIVE_BATCH][CMSG_SPACE(sizeof(uint32_t))];
  int got;
  do {
    for (int i = 0; i < RECEIVE_BATCH; i++) {
      iov[i] = (struct iovec){.iov_base = buffers[i], .iov_len = sizeof buffers[i]};
      batch[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &sources[i],
                                              .msg_namelen = sizeof sources[i],
                                              .msg_iov = &iov[i],
                                              .msg_iovlen = 1,
                                              .msg_control = controls[i],
                                              .msg_controllen = sizeof controls[i]}};
    }
    got = recvmmsg(socket_fd, batch, RECEIVE_BATCH, MSG_DONTWAIT, NULL);
    int64_t arrival_us = now_us();
    for (int i = 0; i < got; i++) {
      for (struct cmsghdr *control = CMSG_FIRSTHDR(&batch[i].msg_hdr); control;
           control = CMSG_NXTHDR(&batch[i].msg_hdr, control))
        if (control->cmsg_level == SOL_SOCKET && control->cmsg_type == SO_RXQ_OVFL)
          memcpy(&drops_seen, CMSG_DATA(control), sizeof drops_seen);
      read_echo(buffers[i], (int)batch[i].msg_len, ntohs(sources[i].sin_port), arrival_us);
    }
  } while (got == RECEIVE_BATCH);
}
