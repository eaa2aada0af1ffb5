/* optimist fast runner: a unicorn UC_HOOK_BLOCK callback that counts executed instructions.
 *
 * A translation block is straight-line code, so counting whole blocks is exact as long as every
 * block runs to its end. At the start of a block the hook asks unicorn to stop (before the block
 * runs) when running all of it would pass `limit`; the caller then finishes the remaining few
 * instructions itself. Faults inside a block are located by the caller from block_pc/block_base.
 * Per-block counting costs far less than unicorn's per-instruction `count` hook.
 */
#include <stdint.h>

typedef int (*uc_emu_stop_fn)(void *uc);

struct block_counter {
  uint64_t executed;   /* instructions of the blocks entered so far (each counted in full) */
  uint64_t limit;      /* never enter a block that would take `executed` past this */
  uint64_t block_pc;   /* start address of the last block entered (or refused) */
  uint64_t block_base; /* `executed` before that block */
  uint64_t block_size; /* its size in instructions */
  uint64_t stopped;    /* 1 when the hook stopped before block_pc */
  uc_emu_stop_fn emu_stop;
  uint64_t hook_stop;  /* address + 1 of the first stop hook hit (0: none) */
};

void optimist_block_hook(void *uc, uint64_t address, uint32_t size, void *user_data) {
  struct block_counter *c = (struct block_counter *)user_data;
  uint64_t n = size >> 2;
  c->block_pc = address;
  c->block_base = c->executed;
  c->block_size = n;
  if (c->executed + n > c->limit) {
    c->stopped = 1;
    c->emu_stop(uc);
    return;
  }
  c->executed += n;
}

/* A code hook that does nothing: attached to pages with long straight-line runs, it makes
 * unicorn end translation blocks early (unicorn 2.1.4 crashes on blocks of ~450+ instructions). */
void optimist_nop_hook(void *uc, uint64_t address, uint32_t size, void *user_data) {
  (void)uc;
  (void)address;
  (void)size;
  (void)user_data;
}

/* A code hook on a word the reference stepper must execute: records the address (the first one
 * hit since the counter was reset) and stops unicorn before that word runs. */
void optimist_stop_hook(void *uc, uint64_t address, uint32_t size, void *user_data) {
  struct block_counter *c = (struct block_counter *)user_data;
  (void)size;
  if (c->hook_stop == 0) {
    c->hook_stop = address + 1;
    c->emu_stop(uc);
  }
}
