/*
 * The load bench's native instrument: the callers' RTP and the echo bot of bench/load in one
 * single-threaded C process, so that on a small box the instrument takes a small share of the
 * cores the system under test needs. It produces the same talk (talker.c mirrors talker.ts),
 * the same frame tags (tags.c mirrors frame-tag.ts) and the same raw observations the Node
 * callers and bot feed to frame-stats.ts; the statistics stay in TypeScript (native.ts).
 */
#ifndef INSTRUMENT_H
#define INSTRUMENT_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_SAMPLES 160
#define TAG_BYTES 36
#define TAG_EVERY 4

/* CLOCK_MONOTONIC in microseconds, the clock of frame-tag.ts's nowUs(). */
int64_t now_us(void);

/* util/random.ts's SeededRandom (mulberry32). */
typedef struct {
  uint32_t state;
} seeded_random;
double random_next(seeded_random *random);
int random_int(seeded_random *random, int min, int max);

typedef struct {
  seeded_random random;
  uint8_t voice[80];
  int voice_length;
  uint8_t noise[FRAME_SAMPLES + FRAME_SAMPLES / 2];
  int phase;
  int talking;
  int frames_left;
  int spurt_frame;
} talker;
void talker_init(talker *speaker, uint32_t seed);
/* Writes the next 20 ms PCMU frame; 1 if it is a frame to tag. */
int talker_next(talker *speaker, uint8_t *payload);

typedef struct {
  int at;
  int call;
  int64_t caller_sent_us;
  int64_t bot_sent_us;
} frame_tag;
void tag_write(uint8_t *payload, int at, int call, int64_t caller_sent_us, int64_t bot_sent_us);
/* Every intact tag copy in payload[0, length), at most max; returns how many. */
int tags_find(const uint8_t *payload, int length, frame_tag *found, int max);

/* One tagged frame as a receiver saw it: the fields FrameStats.observe takes, and for the
 * bot's side the time it sent the echo (for its count of echoed frames). */
typedef struct {
  double call, frame_us, sent_us, arrival_us, bot_sent_us;
} observation;
typedef struct {
  observation *items;
  size_t count, capacity;
} observations;
void observations_add(observations *list, int call, int64_t frame_us, int64_t sent_us, int64_t arrival_us,
                      int64_t bot_sent_us);

/* The window both sides count in, CLOCK_MONOTONIC µs; observations before `window` are not kept. */
extern int64_t window_start_us, window_end_us;
extern int window_set;
int in_window(int64_t us);

/* The callers (callers.c): one loopback UDP socket for every call's RTP. */
typedef struct {
  uint64_t sent_in_window, sender_skipped;
  /* Datagrams the callers' socket dropped since the window was set (SO_RXQ_OVFL). */
  uint64_t receive_drops;
  double sender_lag_max_ms;
} caller_counts;
/* Opens `count` callers (closing the previous ones) on epoll `poller`, ticking on `timer_fd`; returns their port. */
int callers_open(int poller, int timer_fd, int count);
void callers_close(void);
/* Starts sending call's frames to remote_port on loopback; 0 stops them. */
void callers_connect(int call, int remote_port);
void callers_send_due(void);
void callers_receive(void);
void callers_reset_window(void);
caller_counts callers_counts(void);
extern observations caller_observations;

/* The echo bot (bot.c): a Twilio Media Streams WebSocket server on loopback. */
int bot_listen(int epoll_fd);
void bot_ready(int epoll_fd, uint64_t key, uint32_t events);
void bot_reset_window(void);
extern observations bot_observations;
extern uint64_t bot_invalid;
#define KEY_BOT_LISTEN ((uint64_t)1 << 40)
#define KEY_BOT_CONNECTION ((uint64_t)2 << 40)
#define KEY_CALLER ((uint64_t)3 << 40)
#define KEY_KIND_MASK ((uint64_t)0xff << 40)

int sha1_base64(const char *text, size_t length, char out[29]);
size_t base64_encode(const uint8_t *bytes, size_t length, char *out);
/* Decodes up to max bytes; -1 on a character outside the alphabet. */
long base64_decode(const char *text, size_t length, uint8_t *out, size_t max);

#endif
