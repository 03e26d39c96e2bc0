/*
 * The callers' talk and the frame tags, as talker.ts and frame-tag.ts make them (checked
 * byte for byte against them by test/bench/native-instrument.test.ts).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "instrument.h"

int64_t now_us(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

double random_next(seeded_random *random) {
  random->state += 0x6d2b79f5u;
  uint32_t t = random->state;
  t = (t ^ (t >> 15)) * (t | 1u);
  t ^= t + (t ^ (t >> 7)) * (t | 61u);
  return (double)(t ^ (t >> 14)) / 4294967296.0;
}

int random_int(seeded_random *random, int min, int max) {
  return min + (int)floor(random_next(random) * (max - min + 1));
}

/* JavaScript's Math.round: halves go up. */
static int js_round(double value) { return (int)floor(value + 0.5); }

/* G.711 µ-law (ITU-T G.711 §3), as media/g711.ts encodes it. */
static uint8_t mulaw_encode(int sample) {
  int sign = sample < 0 ? 0x80 : 0;
  int magnitude = (sign ? -sample : sample);
  if (magnitude > 32635) magnitude = 32635;
  magnitude += 0x84;
  int exponent = 7;
  for (int mask = 0x4000; (magnitude & mask) == 0 && exponent > 0; mask >>= 1) exponent--;
  int mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  return (uint8_t)(~(sign | (exponent << 4) | mantissa) & 0xff);
}

#define MIN_PERIOD 36
#define MAX_PERIOD 80
#define VOICE_PEAK 8000
#define ONSET_SAMPLES (FRAME_SAMPLES / 2)
#define MULAW_SILENCE 0xff
static const int SPURT_FRAMES[2] = {40, 100};
static const int PAUSE_FRAMES[2] = {10, 30};

void talker_init(talker *speaker, uint32_t seed) {
  memset(speaker, 0, sizeof *speaker);
  speaker->random.state = seed;
  seeded_random *random = &speaker->random;
  int period = random_int(random, MIN_PERIOD, MAX_PERIOD);
  const double gains[3] = {1, 0.5, 0.25};
  double phases[3];
  for (int k = 0; k < 3; k++) phases[k] = 2 * M_PI * random_next(random);
  double scale = VOICE_PEAK / (gains[0] + gains[1] + gains[2]);
  for (int n = 0; n < period; n++) {
    double sum = 0;
    for (int k = 0; k < 3; k++) sum += gains[k] * sin((2 * M_PI * (k + 1) * n) / period + phases[k]);
    speaker->voice[n] = mulaw_encode(js_round(scale * sum));
  }
  speaker->voice_length = period;
  for (int i = 0; i < FRAME_SAMPLES + ONSET_SAMPLES; i++)
    speaker->noise[i] = mulaw_encode(js_round(VOICE_PEAK * (2 * random_next(random) - 1)));
  speaker->talking = 1;
  speaker->frames_left = random_int(random, 1, SPURT_FRAMES[1]);
}

static void talker_turn(talker *speaker) {
  speaker->talking = !speaker->talking;
  const int *range = speaker->talking ? SPURT_FRAMES : PAUSE_FRAMES;
  speaker->frames_left = random_int(&speaker->random, range[0], range[1]);
  speaker->spurt_frame = 0;
}

int talker_next(talker *speaker, uint8_t *payload) {
  if (speaker->frames_left == 0) talker_turn(speaker);
  speaker->frames_left--;
  if (!speaker->talking) {
    memset(payload, MULAW_SILENCE, FRAME_SAMPLES);
    return 0;
  }
  int tagged = speaker->spurt_frame++ % TAG_EVERY == TAG_EVERY - 1;
  if (tagged) memcpy(payload, speaker->noise, FRAME_SAMPLES);
  else {
    int phase = speaker->phase;
    for (int i = 0; i < FRAME_SAMPLES; i++) {
      payload[i] = speaker->voice[phase];
      if (++phase == speaker->voice_length) phase = 0;
    }
    int tagged_next = speaker->spurt_frame % TAG_EVERY == TAG_EVERY - 1 && speaker->frames_left > 0;
    if (tagged_next) memcpy(payload + FRAME_SAMPLES - ONSET_SAMPLES, speaker->noise + FRAME_SAMPLES, ONSET_SAMPLES);
  }
  speaker->phase = (speaker->phase + FRAME_SAMPLES) % speaker->voice_length;
  return tagged;
}

/* The tag layout of frame-tag.ts: sync, then hex digits as µ-law codes 0x40 + d. */
static const uint8_t SYNC[4] = {0xa5, 0xb6, 0xc7, 0xd8};
#define DIGIT_BASE 0x40
#define CALL_AT 4
#define CALL_DIGITS 4
#define CALLER_SENT_AT (CALL_AT + CALL_DIGITS)
#define TIME_DIGITS 12
#define BOT_SENT_AT (CALLER_SENT_AT + TIME_DIGITS)
#define CHECK_AT (BOT_SENT_AT + TIME_DIGITS)
#define CHECK_DIGITS 4

static void write_digits(uint8_t *at, int digits, int64_t value) {
  for (int i = digits - 1; i >= 0; i--) {
    at[i] = (uint8_t)(DIGIT_BASE + value % 16);
    value /= 16;
  }
}

static int64_t read_digits(const uint8_t *at, int digits) {
  int64_t value = 0;
  for (int i = 0; i < digits; i++) {
    int digit = at[i] - DIGIT_BASE;
    if (digit < 0 || digit > 15) return -1;
    value = value * 16 + digit;
  }
  return value;
}

static int checksum(const uint8_t *tag) {
  int sum = 0;
  for (int i = CALL_AT; i < CHECK_AT; i++) sum = (sum * 31 + tag[i]) & 0xffff;
  return sum;
}

void tag_write(uint8_t *payload, int at, int call, int64_t caller_sent_us, int64_t bot_sent_us) {
  uint8_t *tag = payload + at;
  memcpy(tag, SYNC, sizeof SYNC);
  write_digits(tag + CALL_AT, CALL_DIGITS, call);
  write_digits(tag + CALLER_SENT_AT, TIME_DIGITS, caller_sent_us);
  write_digits(tag + BOT_SENT_AT, TIME_DIGITS, bot_sent_us);
  write_digits(tag + CHECK_AT, CHECK_DIGITS, checksum(tag));
}

int tags_find(const uint8_t *payload, int length, frame_tag *found, int max) {
  int count = 0;
  for (int at = 0; at + TAG_BYTES <= length && count < max; at++) {
    const uint8_t *tag = payload + at;
    if (memcmp(tag, SYNC, sizeof SYNC) != 0) continue;
    if (read_digits(tag + CHECK_AT, CHECK_DIGITS) != checksum(tag)) continue;
    int64_t call = read_digits(tag + CALL_AT, CALL_DIGITS);
    int64_t caller_sent = read_digits(tag + CALLER_SENT_AT, TIME_DIGITS);
    int64_t bot_sent = read_digits(tag + BOT_SENT_AT, TIME_DIGITS);
    if (call < 0 || caller_sent < 0 || bot_sent < 0) continue;
    found[count++] = (frame_tag){at, (int)call, caller_sent, bot_sent};
  }
  return count;
}

int64_t window_start_us = INT64_MAX, window_end_us = INT64_MAX;
int window_set;

int in_window(int64_t us) { return us >= window_start_us && us < window_end_us; }

/* Bounded: 1,600 calls' tagged frames from a window's start to its report (warm-up, window and
 * grace, about 30 s) are some 600,000 per direction. */
#define MAX_OBSERVATIONS (1u << 20)

void observations_add(observations *list, int call, int64_t frame_us, int64_t sent_us, int64_t arrival_us,
                      int64_t bot_sent_us) {
  if (!window_set || list->count >= MAX_OBSERVATIONS) return;
  if (list->count == list->capacity) {
    size_t capacity = list->capacity ? list->capacity * 2 : 65536;
    observation *items = realloc(list->items, capacity * sizeof *items);
    if (!items) return;
    list->items = items;
    list->capacity = capacity;
  }
  list->items[list->count++] =
      (observation){(double)call, (double)frame_us, (double)sent_us, (double)arrival_us, (double)bot_sent_us};
}
