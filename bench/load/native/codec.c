/* SHA-1 (RFC 3174) and base64 (RFC 4648 §4): the WebSocket handshake's accept key
 * (RFC 6455 §4.2.2) and Twilio's media payloads. */
#include <string.h>

#include "instrument.h"

static uint32_t rotl(uint32_t value, int bits) { return (value << bits) | (value >> (32 - bits)); }

static void sha1_block(uint32_t h[5], const uint8_t block[64]) {
  uint32_t w[80];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 | (uint32_t)block[4 * i + 2] << 8 |
           block[4 * i + 3];
  for (int i = 16; i < 80; i++) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) f = (b & c) | (~b & d), k = 0x5a827999;
    else if (i < 40) f = b ^ c ^ d, k = 0x6ed9eba1;
    else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
    else f = b ^ c ^ d, k = 0xca62c1d6;
    uint32_t next = rotl(a, 5) + f + e + k + w[i];
    e = d, d = c, c = rotl(b, 30), b = a, a = next;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

/* SHA-1 of a short text (a key and the GUID, under 120 bytes), base64: 28 characters. */
int sha1_base64(const char *text, size_t length, char out[29]) {
  uint8_t buffer[128] = {0};
  if (length > sizeof buffer - 9) return -1;
  memcpy(buffer, text, length);
  buffer[length] = 0x80;
  size_t blocks = length + 9 <= 64 ? 1 : 2;
  uint64_t bits = (uint64_t)length * 8;
  for (int i = 0; i < 8; i++) buffer[blocks * 64 - 1 - i] = (uint8_t)(bits >> (8 * i));
  uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
  for (size_t i = 0; i < blocks; i++) sha1_block(h, buffer + 64 * i);
  uint8_t digest[20];
  for (int i = 0; i < 20; i++) digest[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
  base64_encode(digest, 20, out);
  out[28] = 0;
  return 0;
}

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encode(const uint8_t *bytes, size_t length, char *out) {
  size_t written = 0;
  for (size_t i = 0; i < length; i += 3) {
    uint32_t group = (uint32_t)bytes[i] << 16;
    if (i + 1 < length) group |= (uint32_t)bytes[i + 1] << 8;
    if (i + 2 < length) group |= bytes[i + 2];
    out[written++] = ALPHABET[group >> 18];
    out[written++] = ALPHABET[(group >> 12) & 63];
    out[written++] = i + 1 < length ? ALPHABET[(group >> 6) & 63] : '=';
    out[written++] = i + 2 < length ? ALPHABET[group & 63] : '=';
  }
  return written;
}

static int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

long base64_decode(const char *text, size_t length, uint8_t *out, size_t max) {
  uint32_t group = 0;
  int bits = 0;
  size_t written = 0;
  for (size_t i = 0; i < length && text[i] != '='; i++) {
    int value = sextet(text[i]);
    if (value < 0) return -1;
    group = (group << 6) | (uint32_t)value;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (written == max) return -1;
      out[written++] = (uint8_t)(group >> bits);
    }
  }
  return (long)written;
}
