/* minidnn: generation inside one run. A generation model (header flag MD_FLAG_GENERATE) is a causal
 * language model, int32 ids [.., T] -> float32 logits [.., T, V]; one request asks for k new tokens
 * after a prompt, greedy (temperature 0) or sampled at a temperature with a seeded counter-based
 * PRNG (Philox2x32-10). Each new token is fed back by recomputing the whole model over the last T
 * tokens (left-aligned, padded with id 0; causal, so the padding does not change the logits read).
 * Request and response layout: docs/model-format.md, Generation models. Every float operation is
 * SoftFloat and the PRNG is integer-only, so native and VM runs produce the same ids. */
#include "mathf.h"
#include "runtime.h"

#define PHILOX_M 0xD256D193u /* Philox2x32 multiplier (Salmon et al., SC'11; Random123) */
#define PHILOX_W 0x9E3779B9u /* Weyl key increment */
#define PHILOX_ROUNDS 10u
#define TWO_POW_M24 0x33800000u /* 2^-24 */

static uint32_t round32(uint32_t n) { return (n + 31u) & ~31u; }

int md_generate_plan(md_info *info) {
  if (info->input_dtype != MD_DTYPE_I32 || info->output_dtype != MD_DTYPE_F32 || info->input_ndim == 0 ||
      info->output_ndim < 2)
    return MD_ERR_BAD_TENSOR;
  uint32_t t = info->input_dims[info->input_ndim - 1];
  uint32_t v = info->output_dims[info->output_ndim - 1];
  if (info->input_size != t || info->output_dims[info->output_ndim - 2] != t || info->output_size != t * v)
    return MD_ERR_BAD_TENSOR; /* leading dims must be 1: ids [1, T], logits [1, T, V] */
  uint64_t need = (uint64_t)info->arena_bytes + round32(4u * t) + round32(8u * t) + round32(4u * t * v);
  if (need > 0xffffffffu) return MD_ERR_ARENA;
  info->arena_bytes = (uint32_t)need;
  info->context = t;
  info->vocab = v;
  info->input_ndim = 1;
  info->output_ndim = 1;
  for (uint32_t d = 0; d < MD_MAX_DIMS; d++) info->input_dims[d] = info->output_dims[d] = 1;
  info->input_dims[0] = info->input_size = MD_GEN_HEADER_WORDS + t;
  info->output_dims[0] = info->output_size = t;
  info->input_dtype = info->output_dtype = MD_DTYPE_I32;
  return MD_OK;
}

/* Philox2x32-10 of counter (c0, c1) under key; the first output word. */
static uint32_t philox(uint32_t c0, uint32_t c1, uint32_t key) {
  for (uint32_t r = 0; r < PHILOX_ROUNDS; r++) {
    uint64_t p = (uint64_t)PHILOX_M * c0;
    uint32_t hi = (uint32_t)(p >> 32), lo = (uint32_t)p;
    c0 = hi ^ key ^ c1;
    c1 = lo;
    key += PHILOX_W;
  }
  return c0;
}

/* The first index of the largest logit; NaN logits never win (all NaN: 0). */
static uint32_t argmax(const float32_t *row, uint32_t v) {
  uint32_t best = v;
  for (uint32_t i = 0; i < v; i++) {
    if (mf_isnan(row[i])) continue;
    if (best == v || f32_lt(row[best], row[i])) best = i;
  }
  return best == v ? 0 : best;
}

/* Unnormalised probability of logit z (already divided by the temperature) given the largest m:
 * exp(z - m); NaN -> 0; if m is infinite, 1 for z == m and 0 otherwise. */
static float32_t weight(float32_t z, float32_t m) {
  if (mf_isnan(z)) return mf_f32(0);
  if (mf_isinf(m)) return mf_f32(z.v == m.v ? 0x3f800000u : 0u);
  return mf_exp(f32_sub(z, m));
}

/* Samples from softmax(row / temp): u = (philox(counter, 0; seed) >> 8) * 2^-24, threshold u * S
 * (S = the sum of the weights in index order), the first index whose running sum exceeds it (if
 * rounding leaves none, the last index of nonzero weight). */
static uint32_t sample(const float32_t *row, uint32_t v, float32_t temp, uint32_t seed, uint32_t counter) {
  float32_t m = mf_f32(0);
  int have = 0;
  for (uint32_t i = 0; i < v; i++) {
    float32_t z = f32_div(row[i], temp);
    if (mf_isnan(z)) continue;
    if (!have || f32_lt(m, z)) m = z;
    have = 1;
  }
  if (!have) return 0;
  float32_t total = mf_f32(0);
  for (uint32_t i = 0; i < v; i++) total = f32_add(total, weight(f32_div(row[i], temp), m));
  float32_t u = f32_mul(ui32_to_f32(philox(counter, 0, seed) >> 8), mf_f32(TWO_POW_M24));
  float32_t threshold = f32_mul(u, total), run = mf_f32(0);
  uint32_t last = 0;
  for (uint32_t i = 0; i < v; i++) {
    float32_t w = weight(f32_div(row[i], temp), m);
    if (w.v == 0) continue;
    run = f32_add(run, w);
    last = i;
    if (f32_lt(threshold, run)) return i;
  }
  return last;
}

int md_generate(md_model *m, md_arena *arena, const uint32_t *request, uint32_t request_len,
                uint32_t *ids, uint32_t ids_len) {
  md_tensor *x = &m->tensors[m->input], *y = &m->tensors[m->output];
  uint32_t t = x->size, v = y->dims[y->ndim - 1];
  if (request_len != MD_GEN_HEADER_WORDS + t) return MD_ERR_INPUT_SIZE;
  if (ids_len != t) return MD_ERR_OUTPUT_SIZE;
  uint32_t n = request[0], k = request[1], seed = request[3];
  float32_t temp = mf_f32(request[2]);
  if (n == 0 || n > t || k == 0 || k > t || temp.v >= 0x7f800000u) return MD_ERR_BAD_REQUEST;
  const uint32_t *prompt = request + MD_GEN_HEADER_WORDS;
  for (uint32_t i = 0; i < n; i++)
    if (prompt[i] >= v) return MD_ERR_INDEX;
  uint32_t *window = md_arena_alloc(arena, 4u * t);
  uint32_t *seq = md_arena_alloc(arena, 8u * t);
  float32_t *logits = md_arena_alloc(arena, 4u * t * v);
  if (window == NULL || seq == NULL || logits == NULL) return MD_ERR_ARENA;
  memcpy(seq, prompt, 4u * n);
  x->data = (float32_t *)(void *)window;
  if (y->data == NULL) y->data = logits; /* else the output is a constant */
  uint32_t len = n;
  for (uint32_t j = 0; j < k; j++) {
    uint32_t start = len > t ? len - t : 0, w = len - start;
    for (uint32_t i = 0; i < t; i++) window[i] = i < w ? seq[start + i] : 0u;
    int rc = md_execute(m);
    if (rc) return rc;
    const float32_t *row = y->data + (w - 1u) * v;
    uint32_t tok = temp.v == 0 ? argmax(row, v) : sample(row, v, temp, seed, j);
    seq[len++] = tok;
    ids[j] = tok;
  }
  for (uint32_t j = k; j < t; j++) ids[j] = 0;
  return MD_OK;
}

/* ---- the generation loop as three ops (two-phase games unroll it: docs/two-phase.md §10) ---------------------
 * The state S is a value tensor of 8 + 2T words holding u32 bit patterns, none of them a NaN pattern (so the
 * float copy kernels that move it keep it intact): [0] n, [1] k, [2] temperature bits, [3] seed & 0xffff,
 * [4] seed >> 16, [5] j = ids generated so far, [6..7] 0, [8..8+T) the prompt (n ids, zeros after),
 * [8+T..8+2T) the generated ids (j ids, zeros after). */
#define GEN_STATE_HEADER 8u

/* T of a state tensor (8 + 2T words, T >= 1), or 0 if its size is not of that form. */
static uint32_t gen_state_t(const md_tensor *s) {
  return s->size >= GEN_STATE_HEADER + 2u && (s->size - GEN_STATE_HEADER) % 2u == 0 ? (s->size - GEN_STATE_HEADER) / 2u : 0;
}

/* n, j and the window length w of a state for context t; MD_ERR_BAD_REQUEST if n or j is out of range. */
static int gen_window(const uint32_t *st, uint32_t t, uint32_t *start, uint32_t *w) {
  uint32_t n = st[0], j = st[5];
  if (n == 0 || n > t || j > t) return MD_ERR_BAD_REQUEST;
  uint32_t len = n + j;
  *start = len > t ? len - t : 0;
  *w = len - *start;
  return MD_OK;
}

/* The i-th id of prompt ++ generated. */
static uint32_t gen_seq(const uint32_t *st, uint32_t t, uint32_t i) {
  uint32_t n = st[0];
  return i < n ? st[GEN_STATE_HEADER + i] : st[GEN_STATE_HEADER + t + (i - n)];
}

/* GenInit(request int32 [4 + T]) -> S: checks n, k, the temperature as md_generate does (BAD_REQUEST). */
int op_gen_init(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 1, 1, 1);
  if (rc) return rc;
  const md_tensor *x = in[0];
  md_tensor *y = out[0];
  uint32_t t = gen_state_t(y);
  if (x->dtype != MD_DTYPE_I32 || y->dtype != MD_DTYPE_F32 || t == 0 || x->size != MD_GEN_HEADER_WORDS + t)
    return MD_ERR_SHAPE;
  const uint32_t *r = (const uint32_t *)(const void *)x->data;
  uint32_t *st = (uint32_t *)(void *)y->data;
  uint32_t n = r[0], k = r[1], temp = r[2], seed = r[3];
  if (n == 0 || n > t || k == 0 || k > t || temp >= 0x7f800000u) return MD_ERR_BAD_REQUEST;
  for (uint32_t i = 0; i < y->size; i++) st[i] = 0;
  st[0] = n;
  st[1] = k;
  st[2] = temp;
  st[3] = seed & 0xffffu;
  st[4] = seed >> 16;
  for (uint32_t i = 0; i < n; i++) st[GEN_STATE_HEADER + i] = r[MD_GEN_HEADER_WORDS + i];
  return MD_OK;
}

/* GenWindow(S) -> ids (T words, int32 bit patterns): the last min(len, T) ids of prompt ++ generated at
 * positions 0..w-1, id 0 after them (md_generate's window). */
int op_gen_window(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 1, 1, 1);
  if (rc) return rc;
  const md_tensor *s = in[0];
  md_tensor *y = out[0];
  uint32_t t = gen_state_t(s), start, w;
  if (t == 0 || y->size != t || s->dtype != MD_DTYPE_F32 || y->dtype != MD_DTYPE_I32) return MD_ERR_SHAPE;
  const uint32_t *st = (const uint32_t *)(const void *)s->data;
  if ((rc = gen_window(st, t, &start, &w))) return rc;
  uint32_t *ids = (uint32_t *)(void *)y->data;
  for (uint32_t i = 0; i < t; i++) ids[i] = i < w ? gen_seq(st, t, start + i) : 0u;
  return MD_OK;
}

/* GenSelect(logits [.., T, V], S) -> S': the id of logits row w - 1 (argmax at temperature 0, else the
 * sample of counter j), appended; j + 1. At j = 0 every prompt id must be < V (MD_ERR_INDEX). */
int op_gen_select(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 2, 2, 1);
  if (rc) return rc;
  const md_tensor *x = in[0], *s = in[1];
  md_tensor *y = out[0];
  uint32_t t = gen_state_t(s), start, w;
  if (t == 0 || y->size != s->size || x->dtype != MD_DTYPE_F32 || s->dtype != MD_DTYPE_F32 ||
      y->dtype != MD_DTYPE_F32 || x->ndim < 2 ||
      x->dims[x->ndim - 2] != t)
    return MD_ERR_SHAPE;
  uint32_t v = x->dims[x->ndim - 1];
  if (v == 0 || x->size != t * v) return MD_ERR_SHAPE;
  const uint32_t *st = (const uint32_t *)(const void *)s->data;
  if ((rc = gen_window(st, t, &start, &w))) return rc;
  uint32_t n = st[0], j = st[5];
  if (j >= t || st[3] > 0xffffu || st[4] > 0xffffu || st[2] >= 0x7f800000u) return MD_ERR_BAD_REQUEST;
  if (j == 0)
    for (uint32_t i = 0; i < n; i++)
      if (st[GEN_STATE_HEADER + i] >= v) return MD_ERR_INDEX;
  float32_t temp = mf_f32(st[2]);
  const float32_t *row = x->data + (w - 1u) * v;
  uint32_t tok = temp.v == 0 ? argmax(row, v) : sample(row, v, temp, st[3] | (st[4] << 16), j);
  uint32_t *next = (uint32_t *)(void *)y->data;
  for (uint32_t i = 0; i < y->size; i++) next[i] = st[i];
  next[GEN_STATE_HEADER + t + j] = tok;
  next[5] = j + 1u;
  return MD_OK;
}
