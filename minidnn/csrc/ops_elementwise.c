/* minidnn: elementwise ops. Unary: Relu, LeakyRelu, Clip, Sigmoid, Tanh, Gelu, Erf, Sqrt, Exp,
 * Log, Reciprocal, Not, Elu, Softplus, Sin, Cos. Binary with numpy/ONNX
 * multidirectional broadcasting: Add, Sub, Mul, Div, Equal, Less, Greater, PRelu; Where (three
 * operands) and Expand (one operand broadcast to the output). One SoftFloat call (or one mathf
 * function) per element, elements in C order; every result passes through f32_canon.
 * Booleans are float32 0.0 / 1.0 (comparisons write them; Not and Where read any nonzero as
 * true). */
#include "mathf.h"
#include "ops.h"

#define F32_ZERO 0x00000000u
#define F32_POS_INF 0x7f800000u
#define F32_NEG_INF 0xff800000u
#define F32_ONE 0x3f800000u
#define F32_LEAKY_ALPHA 0x3c23d70au /* 0.01 */

/* ---- unary ------------------------------------------------------------------------------- */

/* X and Y: float32, same shape. */
static int check_unary(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 1, 1, 1);
  if (rc) return rc;
  if (in[0]->dtype != MD_DTYPE_F32 || out[0]->dtype != MD_DTYPE_F32) return MD_ERR_SHAPE;
  if (!md_same_shape(in[0], out[0]) || in[0]->size != out[0]->size) return MD_ERR_SHAPE;
  return MD_OK;
}

static int map_unary(const md_node *node, const md_tensor *const *in, md_tensor *const *out,
                     float32_t (*fn)(float32_t)) {
  int rc = check_unary(node, in, out);
  if (rc) return rc;
  const float32_t *x = in[0]->data;
  float32_t *y = out[0]->data;
  for (uint32_t i = 0; i < in[0]->size; i++) y[i] = f32_canon(fn(x[i]));
  return MD_OK;
}

/* max(x, +0); NaN stays NaN; relu(-0) = +0 */
static float32_t relu(float32_t x) {
  if (mf_isnan(x)) return f32_canon(x);
  return (x.v & 0x80000000u) ? md_f32(F32_ZERO) : x;
}

int op_relu(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_unary(node, in, out, relu);
}

int op_sigmoid(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_unary(node, in, out, mf_sigmoid);
}

int op_tanh(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_unary(node, in, out, mf_tanh);
}

int op_erf(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_unary(node, in, out, mf_erf);
}

/* approximate: 0 = exact erf form, 1 = tanh form */
int op_gelu(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int32_t approximate;
  int rc = md_attr_int(node, MD_ATTR_APPROXIMATE, 0, &approximate);
  if (rc) return rc;
  if (approximate != 0 && approximate != 1) return MD_ERR_BAD_ATTRIBUTE;
  return map_unary(node, in, out, approximate ? mf_gelu_tanh : mf_gelu);
}

/* y = x < 0 ? alpha x : x (alpha default 0.01) */
int op_leaky_relu(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  float32_t alpha;
  int rc = check_unary(node, in, out);
  if (rc) return rc;
  if ((rc = md_attr_float(node, MD_ATTR_ALPHA, md_f32(F32_LEAKY_ALPHA), &alpha))) return rc;
  const float32_t *x = in[0]->data;
  float32_t *y = out[0]->data;
  float32_t zero = md_f32(F32_ZERO);
  for (uint32_t i = 0; i < in[0]->size; i++)
    y[i] = f32_canon(f32_lt(x[i], zero) ? f32_mul(x[i], alpha) : x[i]);
  return MD_OK;
}

/* y = min(max(x, min), max); bounds default to -inf/+inf; NaN stays NaN */
int op_clip(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  float32_t lo, hi;
  int rc = check_unary(node, in, out);
  if (rc) return rc;
  if ((rc = md_attr_float(node, MD_ATTR_MIN, md_f32(F32_NEG_INF), &lo)) ||
      (rc = md_attr_float(node, MD_ATTR_MAX, md_f32(F32_POS_INF), &hi)))
    return rc;
  if (mf_isnan(lo) || mf_isnan(hi)) return MD_ERR_BAD_ATTRIBUTE;
  const float32_t *x = in[0]->data;
  float32_t *y = out[0]->data;
  for (uint32_t i = 0; i < in[0]->size; i++) y[i] = f32_canon(mf_min(mf_max(x[i], lo), hi));
  return MD_OK;
}

int op_sqrt(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_unary(node, in, out, mf_sqrt);
}

int op_exp(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_unary(node, in, out, mf_exp);
}

int op_log(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_unary(node, in, out, mf_log);
}

static float32_t reciprocal(float32_t x) { return f32_div(md_f32(F32_ONE), x); }

int op_reciprocal(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_unary(node, in, out, reciprocal);
}

int op_softplus(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_unary(node, in, out, mf_softplus);
}

static float32_t abs_value(float32_t x) { return mf_abs(x); }
static float32_t floor_value(float32_t x) { return f32_roundToInt(x, softfloat_round_min, false); }
static float32_t ceil_value(float32_t x) { return f32_roundToInt(x, softfloat_round_max, false); }

int op_abs(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_unary(node, in, out, abs_value);
}

/* SoftFloat roundToInt: ±0, ±inf and integers unchanged, floor(-0.5) = -1, ceil(-0.5) = -0 */
int op_floor(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_unary(node, in, out, floor_value);
}

int op_ceil(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_unary(node, in, out, ceil_value);
}

int op_sin(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_unary(node, in, out, mf_sin);
}

int op_cos(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_unary(node, in, out, mf_cos);
}

/* 1.0 where x is ±0, else 0.0 (NaN counts as true, as numpy's bool(nan)) */
static float32_t logical_not(float32_t x) {
  return md_f32((x.v & 0x7fffffffu) == 0 ? F32_ONE : F32_ZERO);
}

int op_not(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_unary(node, in, out, logical_not);
}

/* y = x < 0 ? alpha expm1(x) : x (alpha default 1) */
int op_elu(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  float32_t alpha;
  int rc = check_unary(node, in, out);
  if (rc) return rc;
  if ((rc = md_attr_float(node, MD_ATTR_ALPHA, md_f32(F32_ONE), &alpha))) return rc;
  const float32_t *x = in[0]->data;
  float32_t *y = out[0]->data;
  for (uint32_t i = 0; i < in[0]->size; i++)
    y[i] = f32_canon(f32_lt(x[i], md_f32(F32_ZERO)) ? f32_mul(alpha, mf_expm1(x[i])) : x[i]);
  return MD_OK;
}

/* ---- binary with broadcasting ------------------------------------------------------------ */

typedef float32_t (*binary_fn)(float32_t, float32_t);

/* Strides (in elements) of `t` seen through the output's rank: dims are right-aligned, a
 * broadcast dim (size 1 against a larger output dim) gets stride 0. */
static int broadcast_strides(const md_tensor *t, const md_tensor *y, uint32_t *strides) {
  uint32_t lead = y->ndim - t->ndim, step = 1;
  for (uint32_t d = y->ndim; d-- > 0;) {
    if (d < lead) {
      strides[d] = 0;
      continue;
    }
    uint32_t n = t->dims[d - lead];
    if (n == y->dims[d]) {
      strides[d] = n == 1 ? 0 : step;
    } else if (n == 1) {
      strides[d] = 0;
    } else {
      return MD_ERR_SHAPE;
    }
    step *= n;
  }
  return MD_OK;
}

/* Y must have the broadcast shape of A and B (rank = max rank, each dim = the non-1 one). */
static int check_broadcast(const md_tensor *a, const md_tensor *b, const md_tensor *y) {
  uint32_t rank = a->ndim > b->ndim ? a->ndim : b->ndim;
  if (y->ndim != rank) return MD_ERR_SHAPE;
  for (uint32_t d = 0; d < rank; d++) {
    uint32_t da = d + a->ndim >= rank ? a->dims[d + a->ndim - rank] : 1;
    uint32_t db = d + b->ndim >= rank ? b->dims[d + b->ndim - rank] : 1;
    uint32_t want = da == 1 ? db : da;
    if ((da != 1 && db != 1 && da != db) || y->dims[d] != want) return MD_ERR_SHAPE;
  }
  return MD_OK;
}

static int map_binary(const md_node *node, const md_tensor *const *in, md_tensor *const *out,
                      binary_fn fn) {
  int rc = md_check_arity(node, in, 2, 2, 1);
  if (rc) return rc;
  const md_tensor *a = in[0], *b = in[1];
  md_tensor *y = out[0];
  if (a->dtype != MD_DTYPE_F32 || b->dtype != MD_DTYPE_F32 || y->dtype != MD_DTYPE_F32)
    return MD_ERR_SHAPE;
  if ((rc = check_broadcast(a, b, y))) return rc;
  const float32_t *pa = a->data, *pb = b->data;
  float32_t *py = y->data;
  if (a->size == y->size && b->size == y->size) { /* same shape */
    for (uint32_t i = 0; i < y->size; i++) py[i] = f32_canon(fn(pa[i], pb[i]));
    return MD_OK;
  }
  if (a->size == y->size && b->size == 1) { /* tensor op scalar */
    for (uint32_t i = 0; i < y->size; i++) py[i] = f32_canon(fn(pa[i], pb[0]));
    return MD_OK;
  }
  uint32_t sa[MD_MAX_DIMS], sb[MD_MAX_DIMS], idx[MD_MAX_DIMS] = {0};
  if ((rc = broadcast_strides(a, y, sa)) || (rc = broadcast_strides(b, y, sb))) return rc;
  uint32_t ia = 0, ib = 0, last = y->ndim - 1;
  for (uint32_t i = 0; i < y->size; i++) {
    py[i] = f32_canon(fn(pa[ia], pb[ib]));
    /* odometer over the output index, innermost dim fastest */
    for (uint32_t d = last + 1; d-- > 0;) {
      ia += sa[d];
      ib += sb[d];
      if (++idx[d] < y->dims[d]) break;
      ia -= sa[d] * y->dims[d];
      ib -= sb[d] * y->dims[d];
      idx[d] = 0;
    }
  }
  return MD_OK;
}

int op_add(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_binary(node, in, out, f32_add);
}

int op_sub(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_binary(node, in, out, f32_sub);
}

int op_mul(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_binary(node, in, out, f32_mul);
}

int op_div(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_binary(node, in, out, f32_div);
}

/* Pow(X, E): x^e elementwise (broadcasting), C99 pow special values, for exponents 0.5, -0.5
 * and integers in [-16, 16]; any other exponent value: UNSUPPORTED (checked before computing).
 * Exact forms: e = 1 (x), 2 (x*x, one rounding), -1 (1/x, one rounding), 0.5 (sqrt, one
 * rounding; pow(-0, 0.5) = +0, pow(-inf, 0.5) = +inf), 0 (1, even for NaN). Other integers:
 * x*x*...*x left to right (|e| - 1 roundings), then 1/that for e < 0; -0.5: 1/sqrt(x). */
#define F32_HALF 0x3f000000u
#define F32_MINUS_HALF 0xbf000000u

static int pow_exponent_ok(float32_t e) {
  if (e.v == F32_HALF || e.v == F32_MINUS_HALF) return 1;
  if (mf_isnan(e) || !f32_eq(f32_roundToInt(e, softfloat_round_near_even, false), e)) return 0;
  int32_t n = f32_to_i32(e, softfloat_round_near_even, false);
  return n >= -16 && n <= 16;
}

static float32_t pow_elem(float32_t x, float32_t e) {
  if (e.v == F32_HALF || e.v == F32_MINUS_HALF) {
    if (x.v == 0x80000000u) x = md_f32(F32_ZERO);     /* pow(-0, ±0.5) = pow(+0, ±0.5) */
    if (x.v == F32_NEG_INF) x = md_f32(F32_POS_INF);  /* pow(-inf, ±0.5) = pow(+inf, ±0.5) */
    float32_t r = mf_sqrt(x);
    return e.v == F32_HALF ? r : f32_div(md_f32(F32_ONE), r);
  }
  int32_t n = f32_to_i32(e, softfloat_round_near_even, false);
  if (n == 0) return md_f32(F32_ONE);
  uint32_t k = (uint32_t)(n < 0 ? -n : n);
  float32_t r = x;
  for (uint32_t j = 1; j < k; j++) r = f32_mul(r, x);
  return n < 0 ? f32_div(md_f32(F32_ONE), r) : r;
}

int op_pow(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 2, 2, 1);
  if (rc) return rc;
  if (in[1]->dtype != MD_DTYPE_F32) return MD_ERR_SHAPE;
  for (uint32_t i = 0; i < in[1]->size; i++)
    if (!pow_exponent_ok(in[1]->data[i])) return MD_ERR_UNSUPPORTED;
  return map_binary(node, in, out, pow_elem);
}

static float32_t as_bool(bool b) { return md_f32(b ? F32_ONE : F32_ZERO); }
static float32_t equal(float32_t a, float32_t b) { return as_bool(f32_eq(a, b)); }
static float32_t less(float32_t a, float32_t b) { return as_bool(f32_lt_quiet(a, b)); }
static float32_t greater(float32_t a, float32_t b) { return as_bool(f32_lt_quiet(b, a)); }
/* PRelu(x, slope) = x < 0 ? slope x : x */
static float32_t p_relu(float32_t x, float32_t slope) {
  return f32_lt_quiet(x, md_f32(F32_ZERO)) ? f32_mul(slope, x) : x;
}

int op_equal(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_binary(node, in, out, equal);
}

int op_less(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_binary(node, in, out, less);
}

int op_greater(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_binary(node, in, out, greater);
}

/* The slope broadcasts to X (unidirectionally): the output has X's shape. */
int op_p_relu(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 2, 2, 1);
  if (rc) return rc;
  if (!md_same_shape(in[0], out[0])) return MD_ERR_SHAPE;
  return map_binary(node, in, out, p_relu);
}

/* Y = X broadcast to Y's shape (numpy rules; Y's stored shape is the broadcast shape). */
int op_expand(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 1, 2, 1);
  if (rc) return rc;
  const md_tensor *x = in[0];
  md_tensor *y = out[0];
  if (x->dtype != MD_DTYPE_F32 || x->ndim > y->ndim) return MD_ERR_SHAPE;
  uint32_t sx[MD_MAX_DIMS], idx[MD_MAX_DIMS] = {0};
  if ((rc = broadcast_strides(x, y, sx))) return rc;
  uint32_t ix = 0;
  for (uint32_t i = 0; i < y->size; i++) {
    y->data[i] = f32_canon(x->data[ix]);
    for (uint32_t d = y->ndim; d-- > 0;) {
      ix += sx[d];
      if (++idx[d] < y->dims[d]) break;
      ix -= sx[d] * y->dims[d];
      idx[d] = 0;
    }
  }
  return MD_OK;
}

/* Y = cond != 0 ? A : B, all three broadcast to Y (NaN in cond counts as true). */
int op_where(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 3, 3, 1);
  if (rc) return rc;
  const md_tensor *c = in[0], *a = in[1], *b = in[2];
  md_tensor *y = out[0];
  if (c->dtype != MD_DTYPE_F32 || a->dtype != MD_DTYPE_F32 || b->dtype != MD_DTYPE_F32 ||
      y->dtype != MD_DTYPE_F32)
    return MD_ERR_SHAPE;
  uint32_t rank = c->ndim;
  if (a->ndim > rank) rank = a->ndim;
  if (b->ndim > rank) rank = b->ndim;
  if (y->ndim != rank) return MD_ERR_SHAPE;
  for (uint32_t d = 0; d < rank; d++) { /* every operand dim is 1 or Y's; Y's is one of them */
    uint32_t want = 1;
    const md_tensor *ts[3] = {c, a, b};
    for (uint32_t t = 0; t < 3; t++) {
      uint32_t n = d + ts[t]->ndim >= rank ? ts[t]->dims[d + ts[t]->ndim - rank] : 1;
      if (n != 1) {
        if (want != 1 && n != want) return MD_ERR_SHAPE;
        want = n;
      }
    }
    if (y->dims[d] != want) return MD_ERR_SHAPE;
  }
  uint32_t sc[MD_MAX_DIMS], sa[MD_MAX_DIMS], sb[MD_MAX_DIMS], idx[MD_MAX_DIMS] = {0};
  if ((rc = broadcast_strides(c, y, sc)) || (rc = broadcast_strides(a, y, sa)) ||
      (rc = broadcast_strides(b, y, sb)))
    return rc;
  uint32_t ic = 0, ia = 0, ib = 0;
  for (uint32_t i = 0; i < y->size; i++) {
    int take_a = (c->data[ic].v & 0x7fffffffu) != 0;
    y->data[i] = f32_canon(take_a ? a->data[ia] : b->data[ib]);
    for (uint32_t d = rank; d-- > 0;) {
      ic += sc[d];
      ia += sa[d];
      ib += sb[d];
      if (++idx[d] < y->dims[d]) break;
      ic -= sc[d] * y->dims[d];
      ia -= sa[d] * y->dims[d];
      ib -= sb[d] * y->dims[d];
      idx[d] = 0;
    }
  }
  return MD_OK;
}

static float32_t less_or_equal(float32_t a, float32_t b) { return as_bool(f32_le_quiet(a, b)); }
static float32_t greater_or_equal(float32_t a, float32_t b) { return as_bool(f32_le_quiet(b, a)); }
static int truth(float32_t a) { return (a.v & 0x7fffffffu) != 0; }
static float32_t logical_and(float32_t a, float32_t b) { return as_bool(truth(a) && truth(b)); }
static float32_t logical_or(float32_t a, float32_t b) { return as_bool(truth(a) || truth(b)); }
static float32_t logical_xor(float32_t a, float32_t b) { return as_bool(truth(a) != truth(b)); }

/* two operands (the converter chains more): NaN if either is NaN; max(-0, +0) = +0 */
int op_max(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_binary(node, in, out, mf_max);
}

int op_min(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_binary(node, in, out, mf_min);
}

int op_less_or_equal(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_binary(node, in, out, less_or_equal);
}

int op_greater_or_equal(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_binary(node, in, out, greater_or_equal);
}

int op_and(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_binary(node, in, out, logical_and);
}

int op_or(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_binary(node, in, out, logical_or);
}

int op_xor(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return map_binary(node, in, out, logical_xor);
}
