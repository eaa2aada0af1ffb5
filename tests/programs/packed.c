/* Unaligned access through packed structs (lwl/lwr/swl/swr, byte-wise halves). */
#include "common.h"

struct __attribute__((packed)) rec {
  unsigned char tag;
  u32 word;
  unsigned short half;
  i32 sword;
  u64 dword;
};

static struct rec recs[5];

/* Through a pointer the compiler cannot see is aligned: lwl/lwr and swl/swr. */
__attribute__((noinline)) static u32 read_fields(const struct rec *r) {
  return r->word ^ (u32)r->sword ^ r->half ^ (u32)(r->dword >> 32);
}

__attribute__((noinline)) static void bump(struct rec *r, u32 k) {
  r->word += k;
  r->sword -= (i32)k;
  r->half = (unsigned short)(r->half + k);
}

int main(void) {
  for (u32 i = 0; i < 5; i++) {
    recs[i].tag = (unsigned char)i;
    recs[i].word = 0x01020304u * (i + 1) + 0x80000000u;
    recs[i].half = (unsigned short)(0xBEEF + i);
    recs[i].sword = -(i32)(i * 1000003);
    recs[i].dword = 0x1122334455667788ull * (i + 1);
  }
  u32 h = 0;
  for (u32 i = 0; i < 5; i++) {
    h = h * 31 + recs[i].word;
    h = h * 31 + recs[i].half;
    h = h * 31 + (u32)recs[i].sword;
    h = h * 31 + (u32)(recs[i].dword >> 8);
  }
  results[0] = h;
  unsigned char *raw = (unsigned char *)recs;
  h = 0;
  for (u32 i = 0; i < sizeof recs; i++) h = h * 33 + raw[i];
  results[1] = h;
  for (u32 i = 0; i < 5; i++) {
    bump(&recs[i], i * 0x10001u);
    results[2 + i] = read_fields(&recs[i]);
  }
  return 0;
}
