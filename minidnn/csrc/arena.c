/* minidnn: the bump allocator (no malloc anywhere; the VM arena is ARENA_BASE..ARENA_END). */
#include "runtime.h"

void *md_arena_alloc(md_arena *arena, uint32_t bytes) {
  uint32_t rounded = (bytes + 31u) & ~31u;
  if (rounded < bytes || rounded > arena->size - arena->used) return NULL;
  void *p = arena->base + arena->used;
  arena->used += rounded;
  return p;
}
