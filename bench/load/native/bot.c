/*
 * The echo bot of bench/load/echo-bot.ts: a Twilio Media Streams server (RFC 6455 WebSocket,
 * text frames of compact JSON as the gateway and the forwarder write them) that sends every
 * `media` payload straight back on its stream, after noting each tag's caller->bot arrival and
 * writing its own send time into the tag.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "instrument.h"

#define MAX_CONNECTIONS 8192
/* A message larger than this is not one the gateway sends; its connection is closed. */
#define MAX_INPUT (1 << 20)
#define MAX_PAYLOAD 4096
#define MAX_TAGS 64

typedef struct {
  int fd;
  int upgraded;
  uint8_t *input;
  size_t input_length, input_capacity;
  /* A fragmented message's text so far (RFC 6455 §5.4). */
  uint8_t *message;
  size_t message_length;
  uint8_t *output;
  size_t output_length;
  char stream_sid[72];
} connection;

static connection *connections[MAX_CONNECTIONS];
static int listen_fd = -1;
observations bot_observations;
uint64_t bot_invalid;

void bot_reset_window(void) {
  bot_observations.count = 0;
  bot_invalid = 0;
}

int bot_listen(int epoll_fd) {
  listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int on = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t length = sizeof address;
  if (bind(listen_fd, (struct sockaddr *)&address, length) < 0 || listen(listen_fd, 1024) < 0 ||
      getsockname(listen_fd, (struct sockaddr *)&address, &length) < 0)
    return -1;
  struct epoll_event event = {.events = EPOLLIN, .data.u64 = KEY_BOT_LISTEN};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &event);
  return ntohs(address.sin_port);
}

static void close_connection(int epoll_fd, int slot) {
  connection *conn = connections[slot];
  if (!conn) return;
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, conn->fd, NULL);
  close(conn->fd);
  free(conn->input);
  free(conn->message);
  free(conn->output);
  free(conn);
  connections[slot] = NULL;
}

/* Writes what it can now; the rest waits for EPOLLOUT. False if the connection failed. */
static int send_bytes(int epoll_fd, int slot, const uint8_t *bytes, size_t length) {
  connection *conn = connections[slot];
  size_t sent = 0;
  if (conn->output_length == 0) {
    ssize_t written = write(conn->fd, bytes, length);
    if (written < 0 && errno != EAGAIN) return 0;
    if (written > 0) sent = (size_t)written;
  }
  if (sent == length) return 1;
  if (conn->output_length + length - sent > MAX_INPUT) return 0;
  uint8_t *output = realloc(conn->output, conn->output_length + length - sent);
  if (!output) return 0;
  memcpy(output + conn->output_length, bytes + sent, length - sent);
  conn->output = output;
  conn->output_length += length - sent;
  struct epoll_event event = {.events = EPOLLIN | EPOLLOUT, .data.u64 = KEY_BOT_CONNECTION | (uint64_t)slot};
  epoll_ctl(epoll_fd, EPOLL_CTL_MOD, conn->fd, &event);
  return 1;
}

/* One unmasked server frame (RFC 6455 §5.2): FIN, the opcode, the length, the payload. */
static int send_frame(int epoll_fd, int slot, int opcode, const uint8_t *payload, size_t length) {
  static uint8_t frame[4 + 2 * MAX_PAYLOAD + 256];
  if (length > sizeof frame - 4) return 0;
  size_t header = 2;
  frame[0] = (uint8_t)(0x80 | opcode);
  if (length < 126) frame[1] = (uint8_t)length;
  else {
    frame[1] = 126;
    frame[2] = (uint8_t)(length >> 8);
    frame[3] = (uint8_t)length;
    header = 4;
  }
  memmove(frame + header, payload, length);
  return send_bytes(epoll_fd, slot, frame, header + length);
}

/* The string value of "name":"..." in compact JSON, or NULL. */
static const char *json_string(const char *text, size_t length, const char *name, size_t *value_length) {
  const char *found = memmem(text, length, name, strlen(name));
  if (!found) return NULL;
  const char *value = found + strlen(name);
  const char *end = memchr(value, '"', (size_t)(text + length - value));
  if (!end) return NULL;
  *value_length = (size_t)(end - value);
  return value;
}

static int on_text(int epoll_fd, int slot, const char *text, size_t length, int64_t arrival_us) {
  connection *conn = connections[slot];
  size_t event_length;
  const char *event = json_string(text, length, "\"event\":\"", &event_length);
  if (!event) {
    bot_invalid++;
    return 1;
  }
  if (event_length == 5 && memcmp(event, "start", 5) == 0) {
    size_t sid_length;
    const char *sid = json_string(text, length, "\"streamSid\":\"", &sid_length);
    if (sid && sid_length < sizeof conn->stream_sid) {
      memcpy(conn->stream_sid, sid, sid_length);
      conn->stream_sid[sid_length] = 0;
    }
    return 1;
  }
  if (event_length != 5 || memcmp(event, "media", 5) != 0) return 1;
  size_t encoded_length;
  const char *encoded = json_string(text, length, "\"payload\":\"", &encoded_length);
  static uint8_t payload[MAX_PAYLOAD];
  long payload_length = encoded ? base64_decode(encoded, encoded_length, payload, sizeof payload) : -1;
  if (payload_length < 0) {
    bot_invalid++;
    return 1;
  }
  // Each frame carries two copies of its tag; after the gateway's shifts a payload may hold
  // copies of two frames. The replay in native.ts counts each frame once, as FrameStats does.
  frame_tag tags[MAX_TAGS];
  int found = tags_find(payload, (int)payload_length, tags, MAX_TAGS);
  int64_t bot_sent_us = now_us();
  for (int i = 0; i < found; i++) {
    observations_add(&bot_observations, tags[i].call, tags[i].caller_sent_us, tags[i].caller_sent_us, arrival_us,
                     bot_sent_us);
    tag_write(payload, tags[i].at, tags[i].call, tags[i].caller_sent_us, bot_sent_us);
  }
  static char message[2 * MAX_PAYLOAD + 256];
  int head = snprintf(message, sizeof message, "{\"event\":\"media\",\"streamSid\":\"%s\",\"media\":{\"payload\":\"",
                      conn->stream_sid);
  size_t used = (size_t)head + base64_encode(payload, (size_t)payload_length, message + head);
  memcpy(message + used, "\"}}", 3);
  return send_frame(epoll_fd, slot, 0x1, (const uint8_t *)message, used + 3);
}

/* The HTTP upgrade (RFC 6455 §4.2): consumed once its headers are in; 0 to close. */
static int upgrade(int epoll_fd, int slot) {
  connection *conn = connections[slot];
  const char *text = (const char *)conn->input;
  const char *end = memmem(text, conn->input_length, "\r\n\r\n", 4);
  if (!end) return conn->input_length < 16384;
  const char *key = memmem(text, (size_t)(end - text), "Sec-WebSocket-Key:", 18);
  if (!key) key = memmem(text, (size_t)(end - text), "sec-websocket-key:", 18);
  if (!key) return 0;
  key += 18;
  while (*key == ' ') key++;
  const char *key_end = memmem(key, (size_t)(end + 2 - key), "\r\n", 2);
  char joined[128];
  int joined_length = snprintf(joined, sizeof joined, "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
                               (int)(key_end - key), key);
  char accept[29];
  if (joined_length <= 0 || sha1_base64(joined, (size_t)joined_length, accept) < 0) return 0;
  char response[256];
  int length = snprintf(response, sizeof response,
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Accept: %s\r\n\r\n",
                        accept);
  size_t consumed = (size_t)(end + 4 - text);
  memmove(conn->input, conn->input + consumed, conn->input_length - consumed);
  conn->input_length -= consumed;
  conn->upgraded = 1;
  return send_bytes(epoll_fd, slot, (const uint8_t *)response, (size_t)length);
}

/* Handles every whole frame in the input; 0 to close the connection. */
static int read_frames(int epoll_fd, int slot, int64_t arrival_us) {
  connection *conn = connections[slot];
  size_t offset = 0;
  int open = 1;
  while (open && conn->input_length - offset >= 2) {
    uint8_t *frame = conn->input + offset;
    size_t available = conn->input_length - offset;
    int fin = frame[0] & 0x80, opcode = frame[0] & 0x0f, masked = frame[1] & 0x80;
    uint64_t length = frame[1] & 0x7f;
    size_t header = 2;
    if (length == 126) {
      if (available < 4) break;
      length = (uint64_t)frame[2] << 8 | frame[3];
      header = 4;
    } else if (length == 127) {
      if (available < 10) break;
      length = 0;
      for (int i = 0; i < 8; i++) length = length << 8 | frame[2 + i];
      header = 10;
    }
    if (length > MAX_INPUT) return 0;
    size_t mask_at = header;
    if (masked) header += 4;
    if (available < header + length) break;
    uint8_t *payload = frame + header;
    if (masked)
      for (uint64_t i = 0; i < length; i++) payload[i] ^= frame[mask_at + (i & 3)];
    offset += header + (size_t)length;
    if (opcode == 0x8) {  // close: answer it and close (§5.5.1)
      send_frame(epoll_fd, slot, 0x8, payload, length < 2 ? length : 2);
      return 0;
    }
    if (opcode == 0x9) open = send_frame(epoll_fd, slot, 0xa, payload, (size_t)length);
    else if (opcode == 0x1 || opcode == 0x0) {
      if (!fin || conn->message_length > 0) {
        uint8_t *message = realloc(conn->message, conn->message_length + length);
        if (!message || conn->message_length + length > MAX_INPUT) return 0;
        memcpy(message + conn->message_length, payload, (size_t)length);
        conn->message = message;
        conn->message_length += (size_t)length;
        if (fin) {
          open = on_text(epoll_fd, slot, (const char *)conn->message, conn->message_length, arrival_us);
          conn->message_length = 0;
        }
      } else open = on_text(epoll_fd, slot, (const char *)payload, (size_t)length, arrival_us);
    } else if (opcode == 0x2) bot_invalid++;
  }
  memmove(conn->input, conn->input + offset, conn->input_length - offset);
  conn->input_length -= offset;
  return open;
}

static void accept_all(int epoll_fd) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    int slot = 0;
    while (slot < MAX_CONNECTIONS && connections[slot]) slot++;
    connection *conn = slot < MAX_CONNECTIONS ? calloc(1, sizeof *conn) : NULL;
    if (!conn) {
      close(fd);
      continue;
    }
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    conn->fd = fd;
    connections[slot] = conn;
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = KEY_BOT_CONNECTION | (uint64_t)slot};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
  }
}

static int read_input(int epoll_fd, int slot) {
  connection *conn = connections[slot];
  for (;;) {
    if (conn->input_capacity - conn->input_length < 4096) {
      size_t capacity = conn->input_capacity ? conn->input_capacity * 2 : 8192;
      if (capacity > 2 * MAX_INPUT) return 0;
      uint8_t *input = realloc(conn->input, capacity);
      if (!input) return 0;
      conn->input = input;
      conn->input_capacity = capacity;
    }
    size_t room = conn->input_capacity - conn->input_length;
    ssize_t got = read(conn->fd, conn->input + conn->input_length, room);
    if (got == 0) return 0;
    if (got < 0) return errno == EAGAIN;
    int64_t arrival_us = now_us();
    conn->input_length += (size_t)got;
    if (!conn->upgraded && !upgrade(epoll_fd, slot)) return 0;
    if (conn->upgraded && !read_frames(epoll_fd, slot, arrival_us)) return 0;
    // Level-triggered: what a short read left is reported again, without a read to find it empty.
    if ((size_t)got < room) return 1;
  }
}

static int flush_output(int epoll_fd, int slot) {
  connection *conn = connections[slot];
  ssize_t written = write(conn->fd, conn->output, conn->output_length);
  if (written < 0) return errno == EAGAIN;
  memmove(conn->output, conn->output + written, conn->output_length - (size_t)written);
  conn->output_length -= (size_t)written;
  if (conn->output_length == 0) {
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = KEY_BOT_CONNECTION | (uint64_t)slot};
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, conn->fd, &event);
  }
  return 1;
}

void bot_ready(int epoll_fd, uint64_t key, uint32_t events) {
  if ((key & KEY_KIND_MASK) == KEY_BOT_LISTEN) return accept_all(epoll_fd);
  int slot = (int)(key & 0xffffffff);
  if (slot >= MAX_CONNECTIONS || !connections[slot]) return;
  int open = 1;
  if (events & EPOLLOUT) open = flush_output(epoll_fd, slot);
  if (open && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) open = read_input(epoll_fd, slot);
  if (!open) close_connection(epoll_fd, slot);
}
