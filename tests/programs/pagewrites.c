/* Stores to many arena pages, pass after pass, with idle spins in between, most of them in a
 * branch delay slot: the fast runner maps fresh pages chunk by chunk, makes read-only pages
 * writable in place (but not in a delay slot, where unicorn would resume wrongly), protects idle
 * ones again, and must still match the stepper. */
#include "common.h"

#define ARENA 0x40000000u
#define PAGES 300u

/* n stores of v, one per page from p on, each in the delay slot of the loop's branch */
static void store_in_slots(u32 p, u32 v, u32 n) {
  __asm__ volatile(
      ".set push\n.set noreorder\n"
      "1: addiu %[n], %[n], -1\n"
      "addiu %[p], %[p], 4096\n"
      "bnez %[n], 1b\n"
      " sw %[v], -4096(%[p])\n"
      ".set pop\n"
      : [p] "+r"(p), [n] "+r"(n)
      : [v] "r"(v)
      : "memory");
}

int main(void) {
  u32 h = 0;
  for (u32 pass = 1; pass <= 8; pass++) {
    store_in_slots(ARENA + 4 * pass, pass * 0x01010101u, PAGES / pass);
    for (u32 i = 0; i < PAGES; i += pass) ((volatile u32 *)ARENA)[i * 1024 + 16] = i + pass;
    for (volatile u32 spin = 0; spin < 1500; spin++) {
    }
    for (u32 i = 0; i < PAGES; i += 3) h = h * 31 + ((volatile u32 *)ARENA)[i * 1024 + pass];
  }
  results[0] = h;
  return 0;
}
