/* memcpy/memset/memmove over odd lengths and alignments, and struct copies. */
#include "common.h"

typedef __SIZE_TYPE__ size_t;

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
void *memmove(void *dst, const void *src, size_t n);

#ifndef VMTEST_HOST /* the host build uses libc's */
void *memcpy(void *dst, const void *src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

void *memset(void *dst, int c, size_t n) {
  unsigned char *d = dst;
  while (n--) *d++ = (unsigned char)c;
  return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  if (d < s) {
    while (n--) *d++ = *s++;
  } else {
    while (n--) d[n] = s[n];
  }
  return dst;
}

#endif

struct big { u32 a[13]; unsigned char tail[3]; };

static unsigned char buf[300];
static unsigned char buf2[300];

int main(void) {
  for (u32 i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 7 + 3);
  memset(buf2 + 1, 0xA5, 77);
  memcpy(buf2 + 100, buf + 3, 101);
  memmove(buf + 10, buf + 5, 50);
  struct big x, y;
  for (u32 i = 0; i < 13; i++) x.a[i] = i * 0x01010101u;
  x.tail[0] = 1; x.tail[1] = 2; x.tail[2] = 3;
  y = x;
  u32 h = 0;
  for (u32 i = 0; i < sizeof buf; i++) h = h * 33 + buf[i];
  results[0] = h;
  h = 0;
  for (u32 i = 0; i < sizeof buf2; i++) h = h * 33 + buf2[i];
  results[1] = h;
  results[2] = y.a[12] + y.tail[2];
  return 0;
}
