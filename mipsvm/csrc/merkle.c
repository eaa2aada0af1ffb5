/* Native Merkle hashing for mipsvm.memory (docs/vm-spec.md §2): Ethereum keccak256 and the
 * 4 KiB page subtrees (level 7) of the VM memory tree, for bulk work such as the image root of a
 * 500 MB model. The Python code in mipsvm/memory.py is the definition; tests/test_vm_merkle_native.py
 * compares this file with it on random pages and regions.
 *
 * keccak256 = Keccak[r = 1088, c = 512] with the original padding (domain byte 0x01, not SHA-3's
 * 0x06). An inner node is keccak256(left || right): one permutation of a 64-byte message. */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RATE 136
#define PAGE_SIZE 4096
#define PAGE_LEVEL 7

static const uint64_t RC[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808AULL, 0x8000000080008000ULL,
    0x000000000000808BULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008AULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000AULL,
    0x000000008000808BULL, 0x800000000000008BULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800AULL, 0x800000008000000AULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

#define ROL(v, n) (((v) << (n)) | ((v) >> ((64 - (n)) & 63)))

/* Keccak-f[1600] on lanes s[x + 5y]: 24 rounds, two per loop iteration (a -> e -> a) with the
 * state in locals. Each output row y' of a round is chi over B[x' + 5y'] = rol(A[x + 5y] ^ D[x],
 * r[x + 5y]) with x' = y and y' = (2x + 3y) mod 5 (theta, rho, pi), then iota. */
static void keccak_f(uint64_t s[25]) {
  uint64_t a0 = s[0], a1 = s[1], a2 = s[2], a3 = s[3], a4 = s[4], a5 = s[5], a6 = s[6], a7 = s[7], a8 = s[8], a9 = s[9], a10 = s[10], a11 = s[11], a12 = s[12],
           a13 = s[13], a14 = s[14], a15 = s[15], a16 = s[16], a17 = s[17], a18 = s[18], a19 = s[19], a20 = s[20], a21 = s[21], a22 = s[22], a23 = s[23], a24 = s[24];
  uint64_t e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12,
           e13, e14, e15, e16, e17, e18, e19, e20, e21, e22, e23, e24;
  uint64_t c0, c1, c2, c3, c4, d0, d1, d2, d3, d4, b0, b1, b2, b3, b4;
  for (int round = 0; round < 24; round += 2) {
    c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20;
    c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21;
    c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22;
    c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23;
    c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24;
    d0 = c4 ^ ROL(c1, 1);
    d1 = c0 ^ ROL(c2, 1);
    d2 = c1 ^ ROL(c3, 1);
    d3 = c2 ^ ROL(c4, 1);
    d4 = c3 ^ ROL(c0, 1);
    b0 = (a0 ^ d0);
    b1 = ROL((a6 ^ d1), 44);
    b2 = ROL((a12 ^ d2), 43);
    b3 = ROL((a18 ^ d3), 21);
    b4 = ROL((a24 ^ d4), 14);
    e0 = b0 ^ (~b1 & b2);
    e1 = b1 ^ (~b2 & b3);
    e2 = b2 ^ (~b3 & b4);
    e3 = b3 ^ (~b4 & b0);
    e4 = b4 ^ (~b0 & b1);
    b0 = ROL((a3 ^ d3), 28);
    b1 = ROL((a9 ^ d4), 20);
    b2 = ROL((a10 ^ d0), 3);
    b3 = ROL((a16 ^ d1), 45);
    b4 = ROL((a22 ^ d2), 61);
    e5 = b0 ^ (~b1 & b2);
    e6 = b1 ^ (~b2 & b3);
    e7 = b2 ^ (~b3 & b4);
    e8 = b3 ^ (~b4 & b0);
    e9 = b4 ^ (~b0 & b1);
    b0 = ROL((a1 ^ d1), 1);
    b1 = ROL((a7 ^ d2), 6);
    b2 = ROL((a13 ^ d3), 25);
    b3 = ROL((a19 ^ d4), 8);
    b4 = ROL((a20 ^ d0), 18);
    e10 = b0 ^ (~b1 & b2);
    e11 = b1 ^ (~b2 & b3);
    e12 = b2 ^ (~b3 & b4);
    e13 = b3 ^ (~b4 & b0);
    e14 = b4 ^ (~b0 & b1);
    b0 = ROL((a4 ^ d4), 27);
    b1 = ROL((a5 ^ d0), 36);
    b2 = ROL((a11 ^ d1), 10);
    b3 = ROL((a17 ^ d2), 15);
    b4 = ROL((a23 ^ d3), 56);
    e15 = b0 ^ (~b1 & b2);
    e16 = b1 ^ (~b2 & b3);
    e17 = b2 ^ (~b3 & b4);
    e18 = b3 ^ (~b4 & b0);
    e19 = b4 ^ (~b0 & b1);
    b0 = ROL((a2 ^ d2), 62);
    b1 = ROL((a8 ^ d3), 55);
    b2 = ROL((a14 ^ d4), 39);
    b3 = ROL((a15 ^ d0), 41);
    b4 = ROL((a21 ^ d1), 2);
    e20 = b0 ^ (~b1 & b2);
    e21 = b1 ^ (~b2 & b3);
    e22 = b2 ^ (~b3 & b4);
    e23 = b3 ^ (~b4 & b0);
    e24 = b4 ^ (~b0 & b1);
    e0 ^= RC[round];
    c0 = e0 ^ e5 ^ e10 ^ e15 ^ e20;
    c1 = e1 ^ e6 ^ e11 ^ e16 ^ e21;
    c2 = e2 ^ e7 ^ e12 ^ e17 ^ e22;
    c3 = e3 ^ e8 ^ e13 ^ e18 ^ e23;
    c4 = e4 ^ e9 ^ e14 ^ e19 ^ e24;
    d0 = c4 ^ ROL(c1, 1);
    d1 = c0 ^ ROL(c2, 1);
    d2 = c1 ^ ROL(c3, 1);
    d3 = c2 ^ ROL(c4, 1);
    d4 = c3 ^ ROL(c0, 1);
    b0 = (e0 ^ d0);
    b1 = ROL((e6 ^ d1), 44);
    b2 = ROL((e12 ^ d2), 43);
    b3 = ROL((e18 ^ d3), 21);
    b4 = ROL((e24 ^ d4), 14);
    a0 = b0 ^ (~b1 & b2);
    a1 = b1 ^ (~b2 & b3);
    a2 = b2 ^ (~b3 & b4);
    a3 = b3 ^ (~b4 & b0);
    a4 = b4 ^ (~b0 & b1);
    b0 = ROL((e3 ^ d3), 28);
    b1 = ROL((e9 ^ d4), 20);
    b2 = ROL((e10 ^ d0), 3);
    b3 = ROL((e16 ^ d1), 45);
    b4 = ROL((e22 ^ d2), 61);
    a5 = b0 ^ (~b1 & b2);
    a6 = b1 ^ (~b2 & b3);
    a7 = b2 ^ (~b3 & b4);
    a8 = b3 ^ (~b4 & b0);
    a9 = b4 ^ (~b0 & b1);
    b0 = ROL((e1 ^ d1), 1);
    b1 = ROL((e7 ^ d2), 6);
    b2 = ROL((e13 ^ d3), 25);
    b3 = ROL((e19 ^ d4), 8);
    b4 = ROL((e20 ^ d0), 18);
    a10 = b0 ^ (~b1 & b2);
    a11 = b1 ^ (~b2 & b3);
    a12 = b2 ^ (~b3 & b4);
    a13 = b3 ^ (~b4 & b0);
    a14 = b4 ^ (~b0 & b1);
    b0 = ROL((e4 ^ d4), 27);
    b1 = ROL((e5 ^ d0), 36);
    b2 = ROL((e11 ^ d1), 10);
    b3 = ROL((e17 ^ d2), 15);
    b4 = ROL((e23 ^ d3), 56);
    a15 = b0 ^ (~b1 & b2);
    a16 = b1 ^ (~b2 & b3);
    a17 = b2 ^ (~b3 & b4);
    a18 = b3 ^ (~b4 & b0);
    a19 = b4 ^ (~b0 & b1);
    b0 = ROL((e2 ^ d2), 62);
    b1 = ROL((e8 ^ d3), 55);
    b2 = ROL((e14 ^ d4), 39);
    b3 = ROL((e15 ^ d0), 41);
    b4 = ROL((e21 ^ d1), 2);
    a20 = b0 ^ (~b1 & b2);
    a21 = b1 ^ (~b2 & b3);
    a22 = b2 ^ (~b3 & b4);
    a23 = b3 ^ (~b4 & b0);
    a24 = b4 ^ (~b0 & b1);
    a0 ^= RC[round + 1];
  }
  s[0] = a0; s[1] = a1; s[2] = a2; s[3] = a3; s[4] = a4; s[5] = a5; s[6] = a6; s[7] = a7; s[8] = a8; s[9] = a9; s[10] = a10; s[11] = a11; s[12] = a12;
  s[13] = a13; s[14] = a14; s[15] = a15; s[16] = a16; s[17] = a17; s[18] = a18; s[19] = a19; s[20] = a20; s[21] = a21; s[22] = a22; s[23] = a23; s[24] = a24;
}

static uint64_t load64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static void store64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* keccak256 of any message (the reference path for tests; the tree uses hash64). */
void mk_keccak256(const uint8_t *in, size_t len, uint8_t *out) {
  uint64_t a[25] = {0};
  while (len >= RATE) {
    for (int i = 0; i < RATE / 8; i++) a[i] ^= load64(in + 8 * i);
    keccak_f(a);
    in += RATE;
    len -= RATE;
  }
  uint8_t block[RATE] = {0};
  memcpy(block, in, len);
  block[len] ^= 0x01;
  block[RATE - 1] ^= 0x80;
  for (int i = 0; i < RATE / 8; i++) a[i] ^= load64(block + 8 * i);
  keccak_f(a);
  for (int i = 0; i < 4; i++) store64(out + 8 * i, a[i]);
}

/* keccak256(left || right) of two 32-byte nodes. */
static void hash64(const uint8_t *left, const uint8_t *right, uint8_t *out) {
  uint64_t a[25] = {0};
  for (int i = 0; i < 4; i++) {
    a[i] = load64(left + 8 * i);
    a[4 + i] = load64(right + 8 * i);
  }
  a[8] = 0x01;
  a[16] = 0x8000000000000000ULL;
  keccak_f(a);
  for (int i = 0; i < 4; i++) store64(out + 8 * i, a[i]);
}

static uint8_t ZERO[PAGE_LEVEL + 1][32];   /* zero-subtree hashes of levels 0..7 */
static pthread_once_t zero_once = PTHREAD_ONCE_INIT;

static void init_zero(void) {
  memset(ZERO[0], 0, 32);
  for (int k = 0; k < PAGE_LEVEL; k++) hash64(ZERO[k], ZERO[k], ZERO[k + 1]);
}

/* Root of one 4 KiB page (128 leaves). A pair of zero-subtree children gives the next zero hash
 * without hashing (keccak256(zero[k] || zero[k]) is zero[k + 1] by definition). */
static void page_root(const uint8_t *page, uint8_t *out) {
  uint8_t nodes[64][32];
  for (int i = 0; i < 64; i++) {
    const uint8_t *l = page + 64 * i, *r = l + 32;
    if (!memcmp(l, ZERO[0], 32) && !memcmp(r, ZERO[0], 32))
      memcpy(nodes[i], ZERO[1], 32);
    else
      hash64(l, r, nodes[i]);
  }
  for (int level = 1, n = 32; level < PAGE_LEVEL; level++, n /= 2) {
    for (int i = 0; i < n; i++) {
      if (!memcmp(nodes[2 * i], ZERO[level], 32) && !memcmp(nodes[2 * i + 1], ZERO[level], 32))
        memcpy(nodes[i], ZERO[level + 1], 32);
      else
        hash64(nodes[2 * i], nodes[2 * i + 1], nodes[i]);
    }
  }
  memcpy(out, nodes[0], 32);
}

typedef struct {
  const uint8_t *const *pages;
  uint8_t *out;
  size_t begin, end;
} job;

static void *run_job(void *arg) {
  job *j = arg;
  for (size_t i = j->begin; i < j->end; i++) page_root(j->pages[i], j->out + 32 * i);
  return NULL;
}

#define MAX_THREADS 16

/* out[32 i ..] = root of the 4096-byte page at pages[i], for i < n, on up to `threads` threads. */
int mk_page_roots(const uint8_t *const *pages, size_t n, uint8_t *out, int threads) {
  pthread_once(&zero_once, init_zero);
  if (threads < 1) threads = 1;
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  if ((size_t)threads > n / 64 + 1) threads = (int)(n / 64 + 1);
  job jobs[MAX_THREADS];
  pthread_t tids[MAX_THREADS];
  int started = 0;
  for (int t = 0; t < threads; t++) {
    jobs[t] = (job){pages, out, n * (size_t)t / (size_t)threads, n * (size_t)(t + 1) / (size_t)threads};
    if (t == threads - 1 || pthread_create(&tids[t], NULL, run_job, &jobs[t]) != 0) {
      run_job(&jobs[t]);        /* the last share (or any share without a thread) runs here */
    } else {
      started |= 1 << t;
    }
  }
  for (int t = 0; t < threads; t++)
    if (started & (1 << t)) pthread_join(tids[t], NULL);
  return 0;
}

/* out[32 i ..] = keccak256(nodes[64 i .. 64 i + 64]) for i < n: one tree level from the one below. */
void mk_hash_pairs(const uint8_t *nodes, size_t n, uint8_t *out) {
  for (size_t i = 0; i < n; i++) hash64(nodes + 64 * i, nodes + 64 * i + 32, out + 32 * i);
}
