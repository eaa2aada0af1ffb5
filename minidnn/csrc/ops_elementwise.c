/* minidnn: elementwise ops. Unary: Relu, LeakyRelu, Clip, Sigmoid, Tanh, Gelu, Erf. Binary with
 * numpy/ONNX multidirectional broadcasting: Add, Sub, Mul, Div. One SoftFloat call (or one mathf
 * function) per element, elements in C order; every result passes through f32_canon. */
#include "mathf.h"
#include "ops.h"

#define F32_ZERO 0x00000000u
#define F32_POS_INF 0x7f800000u
#define F32_NEG_INF 0xff800000u
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
