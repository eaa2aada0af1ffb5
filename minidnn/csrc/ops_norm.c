/* minidnn: normalization ops: BatchNormalization (inference), LayerNormalization, Softmax,
 * LogSoftmax, and the reductions ReduceSum, ReduceMean, ReduceMax. Every reduction is a left-to-right sum in index order; the output tensor is the
 * only memory written (softmax keeps its exponentials there before the division). */
#include "mathf.h"
#include "ops.h"

#define F32_ZERO 0x00000000u
#define F32_ONE 0x3f800000u
#define F32_NEG_INF 0xff800000u
#define F32_DEFAULT_EPS 0x3727c5acu /* 1e-5 */

static int is_f32(const md_tensor *t) { return t->dtype == MD_DTYPE_F32; }

/* ---- BatchNormalization -------------------------------------------------------------------
 * X [N, C, ...], scale/B/mean/var [C]:  a = scale / sqrt(var + eps), b = B - mean a,
 * y = x a + b (the per-channel affine form, computed once per channel). */
int op_batch_norm(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  float32_t eps;
  int rc = md_check_arity(node, in, 5, 5, 1);
  if (rc) return rc;
  if ((rc = md_attr_float(node, MD_ATTR_EPSILON, md_f32(F32_DEFAULT_EPS), &eps))) return rc;
  const md_tensor *x = in[0];
  md_tensor *y = out[0];
  if (x->ndim < 2 || !md_same_shape(x, y) || !is_f32(x) || !is_f32(y)) return MD_ERR_SHAPE;
  uint32_t n = x->dims[0], c = x->dims[1], inner = 1;
  for (uint32_t d = 2; d < x->ndim; d++) inner *= x->dims[d];
  for (uint32_t i = 1; i < 5; i++)
    if (in[i]->size != c || !is_f32(in[i])) return MD_ERR_SHAPE;
  const float32_t *scale = in[1]->data, *bias = in[2]->data, *mean = in[3]->data,
                  *var = in[4]->data;
  for (uint32_t ch = 0; ch < c; ch++) {
    float32_t a = f32_div(scale[ch], mf_sqrt(f32_add(var[ch], eps)));
    float32_t b = f32_sub(bias[ch], f32_mul(mean[ch], a));
    for (uint32_t s = 0; s < n; s++) {
      const float32_t *xp = x->data + ((size_t)s * c + ch) * inner;
      float32_t *yp = y->data + ((size_t)s * c + ch) * inner;
      for (uint32_t i = 0; i < inner; i++) yp[i] = f32_canon(f32_add(f32_mul(xp[i], a), b));
    }
  }
  return MD_OK;
}

/* ---- LayerNormalization ------------------------------------------------------------------
 * Normalizes over dims [axis, rank): mean = sum/N, var = sum((x - mean)^2)/N,
 * y = ((x - mean) * (1 / sqrt(var + eps))) * scale + B; scale and B have N elements or 1
 * (unidirectionally broadcast over the normalized block). */
static int block_param(const md_tensor *t, uint32_t block, const float32_t **data, uint32_t *step) {
  if (t == NULL) {
    *data = NULL;
    *step = 0;
    return MD_OK;
  }
  if (!is_f32(t) || (t->size != block && t->size != 1)) return MD_ERR_SHAPE;
  *data = t->data;
  *step = t->size == 1 ? 0 : 1;
  return MD_OK;
}

int op_layer_norm(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int32_t axis_attr;
  uint32_t axis, outer = 1, block = 1, ss, sb;
  float32_t eps;
  const float32_t *scale, *bias;
  int rc = md_check_arity(node, in, 2, 3, 1);
  if (rc) return rc;
  const md_tensor *x = in[0];
  md_tensor *y = out[0];
  if (!md_same_shape(x, y) || !is_f32(x) || !is_f32(y) || x->ndim == 0) return MD_ERR_SHAPE;
  if ((rc = md_attr_int(node, MD_ATTR_AXIS, -1, &axis_attr)) ||
      (rc = md_attr_float(node, MD_ATTR_EPSILON, md_f32(F32_DEFAULT_EPS), &eps)) ||
      (rc = md_norm_axis(axis_attr, x->ndim, &axis)))
    return rc;
  for (uint32_t d = 0; d < x->ndim; d++) *(d < axis ? &outer : &block) *= x->dims[d];
  if ((rc = block_param(in[1], block, &scale, &ss)) ||
      (rc = block_param(node->n_inputs > 2 ? in[2] : NULL, block, &bias, &sb)))
    return rc;
  float32_t count = ui32_to_f32(block);
  for (uint32_t o = 0; o < outer; o++) {
    const float32_t *xp = x->data + (size_t)o * block;
    float32_t *yp = y->data + (size_t)o * block;
    float32_t sum = md_f32(F32_ZERO);
    for (uint32_t i = 0; i < block; i++) sum = f32_add(sum, xp[i]);
    float32_t mean = f32_div(sum, count);
    float32_t sq = md_f32(F32_ZERO);
    for (uint32_t i = 0; i < block; i++) {
      float32_t d = f32_sub(xp[i], mean);
      sq = f32_add(sq, f32_mul(d, d));
    }
    float32_t inv_std = f32_div(md_f32(F32_ONE), mf_sqrt(f32_add(f32_div(sq, count), eps)));
    for (uint32_t i = 0; i < block; i++) {
      float32_t v = f32_mul(f32_mul(f32_sub(xp[i], mean), inv_std), scale[i * ss]);
      if (bias != NULL) v = f32_add(v, bias[i * sb]);
      yp[i] = f32_canon(v);
    }
  }
  return MD_OK;
}

/* ---- Softmax / LogSoftmax along one axis ---------------------------------------------------
 * For each line along the axis: m = max, e_k = exp(x_k - m), s = sum e_k (index order);
 * softmax y_k = e_k / s, log-softmax y_k = (x_k - m) - log s. */
typedef struct {
  uint32_t outer, n, inner;
} md_lines;

static int softmax_setup(const md_node *node, const md_tensor *const *in, md_tensor *const *out,
                         md_lines *l) {
  int32_t axis_attr;
  uint32_t axis;
  int rc = md_check_arity(node, in, 1, 1, 1);
  if (rc) return rc;
  const md_tensor *x = in[0];
  if (!md_same_shape(x, out[0]) || !is_f32(x) || !is_f32(out[0]) || x->ndim == 0)
    return MD_ERR_SHAPE;
  if ((rc = md_attr_int(node, MD_ATTR_AXIS, -1, &axis_attr)) ||
      (rc = md_norm_axis(axis_attr, x->ndim, &axis)))
    return rc;
  l->outer = 1;
  l->inner = 1;
  l->n = x->dims[axis];
  for (uint32_t d = 0; d < axis; d++) l->outer *= x->dims[d];
  for (uint32_t d = axis + 1; d < x->ndim; d++) l->inner *= x->dims[d];
  return MD_OK;
}

static float32_t line_max(const float32_t *x, uint32_t n, uint32_t stride) {
  float32_t m = md_f32(F32_NEG_INF);
  for (uint32_t k = 0; k < n; k++) m = mf_max(m, x[(size_t)k * stride]);
  return m;
}

static int softmax_common(const md_node *node, const md_tensor *const *in, md_tensor *const *out,
                          int log_form) {
  md_lines l;
  int rc = softmax_setup(node, in, out, &l);
  if (rc) return rc;
  for (uint32_t o = 0; o < l.outer; o++) {
    for (uint32_t i = 0; i < l.inner; i++) {
      size_t base = (size_t)o * l.n * l.inner + i;
      const float32_t *xp = in[0]->data + base;
      float32_t *yp = out[0]->data + base;
      float32_t m = line_max(xp, l.n, l.inner);
      float32_t s = md_f32(F32_ZERO);
      for (uint32_t k = 0; k < l.n; k++) {
        float32_t e = mf_exp(f32_sub(xp[(size_t)k * l.inner], m));
        s = f32_add(s, e);
        if (!log_form) yp[(size_t)k * l.inner] = e;
      }
      if (log_form) {
        float32_t ls = mf_log(s);
        for (uint32_t k = 0; k < l.n; k++) {
          size_t at = (size_t)k * l.inner;
          yp[at] = f32_canon(f32_sub(f32_sub(xp[at], m), ls));
        }
      } else {
        for (uint32_t k = 0; k < l.n; k++) {
          size_t at = (size_t)k * l.inner;
          yp[at] = f32_canon(f32_div(yp[at], s));
        }
      }
    }
  }
  return MD_OK;
}

int op_softmax(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return softmax_common(node, in, out, 0);
}

int op_log_softmax(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return softmax_common(node, in, out, 1);
}

/* ---- ReduceSum / ReduceMean / ReduceMax over a set of axes ---------------------------------
 * axes: the reduced axes (required, normalized, no duplicates). The output keeps the other
 * dims in order, with or without 1s in the reduced places (keepdims: only the stored shape
 * differs). Each output element is one left-to-right fold over its reduced elements in C
 * order, from +0 (sum; mean divides the sum by the count) or -inf (max; NaN wins). */
enum { REDUCE_SUM, REDUCE_MEAN, REDUCE_MAX };

static int reduce_common(const md_node *node, const md_tensor *const *in, md_tensor *const *out,
                         int kind) {
  int rc = md_check_arity(node, in, 1, 1, 1);
  if (rc) return rc;
  const md_tensor *x = in[0];
  md_tensor *y = out[0];
  int32_t axes[MD_MAX_DIMS];
  uint32_t n_axes, mask = 0, r = x->ndim;
  if ((rc = md_attr_ints(node, MD_ATTR_AXES, axes, MD_MAX_DIMS, &n_axes))) return rc;
  if (n_axes == 0) return MD_ERR_BAD_ATTRIBUTE;
  for (uint32_t i = 0; i < n_axes; i++) {
    uint32_t ax;
    if ((rc = md_norm_axis(axes[i], r, &ax))) return rc;
    if (mask & (1u << ax)) return MD_ERR_BAD_ATTRIBUTE;
    mask |= 1u << ax;
  }
  if (!is_f32(x) || !is_f32(y)) return MD_ERR_SHAPE;
  /* kept dims (outer loop) and reduced dims (inner loop), each with its input stride */
  uint32_t kdim[MD_MAX_DIMS], kstr[MD_MAX_DIMS], rdim[MD_MAX_DIMS], rstr[MD_MAX_DIMS];
  uint32_t nk = 0, nr = 0, count = 1;
  for (uint32_t d = r, s = 1; d-- > 0;) {
    if ((mask >> d) & 1u) {
      rdim[nr] = x->dims[d];
      rstr[nr++] = s;
      count *= x->dims[d];
    } else {
      kdim[nk] = x->dims[d];
      kstr[nk++] = s;
    }
    s *= x->dims[d];
  }
  /* (kdim/rdim are innermost first) Y: the kept dims, with or without 1s where reduced */
  if (y->size != x->size / count) return MD_ERR_SHAPE;
  if (y->ndim == r) {
    for (uint32_t d = 0; d < r; d++)
      if (y->dims[d] != ((mask >> d) & 1u ? 1u : x->dims[d])) return MD_ERR_SHAPE;
  } else if (y->ndim == nk) {
    for (uint32_t k = 0; k < nk; k++)
      if (y->dims[nk - 1 - k] != kdim[k]) return MD_ERR_SHAPE;
  } else {
    return MD_ERR_SHAPE;
  }
  uint32_t kc[MD_MAX_DIMS] = {0}, base = 0;
  float32_t n_f = ui32_to_f32(count);
  for (uint32_t o = 0; o < y->size; o++) {
    float32_t acc = md_f32(kind == REDUCE_MAX ? F32_NEG_INF : F32_ZERO);
    uint32_t rc_[MD_MAX_DIMS] = {0}, at = base;
    for (uint32_t j = 0; j < count; j++) {
      float32_t v = x->data[at];
      acc = kind == REDUCE_MAX ? mf_max(acc, v) : f32_add(acc, v);
      for (uint32_t k = 0; k < nr; k++) {
        at += rstr[k];
        if (++rc_[k] < rdim[k]) break;
        at -= rstr[k] * rdim[k];
        rc_[k] = 0;
      }
    }
    if (kind == REDUCE_MEAN) acc = f32_div(acc, n_f);
    y->data[o] = f32_canon(acc);
    for (uint32_t k = 0; k < nk; k++) {
      base += kstr[k];
      if (++kc[k] < kdim[k]) break;
      base -= kstr[k] * kdim[k];
      kc[k] = 0;
    }
  }
  return MD_OK;
}

int op_reduce_sum(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return reduce_common(node, in, out, REDUCE_SUM);
}

int op_reduce_mean(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return reduce_common(node, in, out, REDUCE_MEAN);
}

int op_reduce_max(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return reduce_common(node, in, out, REDUCE_MAX);
}

/* ---- ArgMax / ArgMin along one axis ---------------------------------------------------------
 * The index (a float32 integer value) of the first (select_last_index = 1: last) largest /
 * smallest element of each line, by f32_lt in index order; a NaN in the line wins (the first
 * NaN, or the last), as numpy's argmax. The output keeps the axis as 1 or drops it (the stored
 * shape says which). */
static int arg_common(const md_node *node, const md_tensor *const *in, md_tensor *const *out,
                      int is_max) {
  int32_t axis_attr, last;
  uint32_t axis;
  int rc = md_check_arity(node, in, 1, 1, 1);
  if (rc) return rc;
  const md_tensor *x = in[0];
  md_tensor *y = out[0];
  if (!is_f32(x) || !is_f32(y) || x->ndim == 0) return MD_ERR_SHAPE;
  if ((rc = md_attr_int(node, MD_ATTR_AXIS, 0, &axis_attr)) ||
      (rc = md_attr_int(node, MD_ATTR_SELECT_LAST_INDEX, 0, &last)) ||
      (rc = md_norm_axis(axis_attr, x->ndim, &axis)))
    return rc;
  uint32_t outer = 1, inner = 1, n = x->dims[axis];
  for (uint32_t d = 0; d < axis; d++) outer *= x->dims[d];
  for (uint32_t d = axis + 1; d < x->ndim; d++) inner *= x->dims[d];
  if (y->size != outer * inner) return MD_ERR_SHAPE;
  if (y->ndim == x->ndim) {
    for (uint32_t d = 0; d < x->ndim; d++)
      if (y->dims[d] != (d == axis ? 1u : x->dims[d])) return MD_ERR_SHAPE;
  } else if (y->ndim + 1 == x->ndim) {
    for (uint32_t d = 0, k = 0; d < x->ndim; d++)
      if (d != axis && y->dims[k++] != x->dims[d]) return MD_ERR_SHAPE;
  } else {
    return MD_ERR_SHAPE;
  }
  for (uint32_t o = 0; o < outer; o++) {
    for (uint32_t i = 0; i < inner; i++) {
      const float32_t *xp = x->data + (size_t)o * n * inner + i;
      uint32_t best = 0;
      float32_t bv = xp[0];
      for (uint32_t k = 1; k < n; k++) {
        float32_t v = xp[(size_t)k * inner];
        int bv_nan = mf_isnan(bv), v_nan = mf_isnan(v);
        int better = bv_nan ? (last && v_nan)
                            : v_nan || (is_max ? f32_lt(bv, v) : f32_lt(v, bv)) ||
                                  (last && f32_eq(v, bv));
        if (better) {
          best = k;
          bv = v;
        }
      }
      y->data[(size_t)o * inner + i] = ui32_to_f32(best);
    }
  }
  return MD_OK;
}

int op_arg_max(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return arg_common(node, in, out, 1);
}

int op_arg_min(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return arg_common(node, in, out, 0);
}
