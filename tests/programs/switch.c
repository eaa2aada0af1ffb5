/* Dense switch statements (jump tables through jr) and a sparse one (compare chains). */
#include "common.h"

__attribute__((noinline)) static u32 dense(u32 x) {
  switch (x) {
    case 0: return 11;
    case 1: return 23;
    case 2: return 37;
    case 3: return 41;
    case 4: return 59;
    case 5: return 61;
    case 6: return 79;
    case 7: return 83;
    case 8: return 97;
    case 9: return 101;
    case 10: return 113;
    default: return 7;
  }
}

__attribute__((noinline)) static i32 sparse(i32 x) {
  switch (x) {
    case -1000: return 1;
    case -3: return 2;
    case 17: return 3;
    case 4096: return 4;
    case 123456: return 5;
    default: return 0;
  }
}

int main(void) {
  u32 acc = 0;
  for (u32 i = 0; i < 14; i++) acc = acc * 31 + dense(i);
  results[0] = acc;
  i32 probes[] = {-1000, -3, 17, 4096, 123456, 5, -4};
  u32 s = 0;
  for (u32 i = 0; i < sizeof probes / sizeof probes[0]; i++) s = s * 7 + (u32)sparse(probes[i]);
  results[1] = s;
  return 0;
}
