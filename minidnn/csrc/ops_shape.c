/* minidnn: data movement ops (Reshape, Flatten, Transpose, Concat, Squeeze, Unsqueeze, Gather,
 * Resize-nearest, Slice, Identity) and Cast. No arithmetic on values; NaNs are canonicalized as
 * they are copied. */
#include "ops.h"

static float32_t canon(float32_t v) {
  if ((v.v & 0x7fffffffu) > 0x7f800000u) v.v = MD_CANONICAL_NAN;
  return v;
}

static void copy_values(float32_t *dst, const float32_t *src, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) dst[i] = canon(src[i]);
}

/* Copies X into Y when only the shape changes (sizes must match): float32 values (NaN made
 * canonical), or the words of an integer tensor of the same dtype unchanged. */
static int copy_same_size(const md_tensor *x, md_tensor *y) {
  if (x->size != y->size || x->dtype != y->dtype) return MD_ERR_SHAPE;
  if (x->dtype == MD_DTYPE_F32) {
    copy_values(y->data, x->data, x->size);
  } else {
    for (uint32_t i = 0; i < x->size; i++) y->data[i] = x->data[i];
  }
  return MD_OK;
}

int op_identity(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 1, 1, 1);
  if (rc) return rc;
  if (!md_same_shape(in[0], out[0])) return MD_ERR_SHAPE;
  return copy_same_size(in[0], out[0]);
}

/* The target shape is the stored output shape (an ONNX shape input, if kept, is ignored). */
int op_reshape(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 1, 2, 1);
  if (rc) return rc;
  return copy_same_size(in[0], out[0]);
}

int op_flatten(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 1, 1, 1);
  if (rc) return rc;
  const md_tensor *x = in[0];
  int32_t axis;
  uint32_t ax, outer = 1;
  if ((rc = md_attr_int(node, MD_ATTR_AXIS, 1, &axis))) return rc;
  if (axis == (int32_t)x->ndim) {
    ax = x->ndim;
  } else if ((rc = md_norm_axis(axis, x->ndim, &ax))) {
    return rc;
  }
  for (uint32_t d = 0; d < ax; d++) outer *= x->dims[d];
  if (out[0]->ndim != 2 || out[0]->dims[0] != outer) return MD_ERR_SHAPE;
  return copy_same_size(x, out[0]);
}

/* Reads axes (normalized for rank `rank`) into a bitmask; duplicates are an error. */
static int axes_mask(const md_node *node, uint32_t rank, int required, uint32_t *mask, uint32_t *count) {
  int32_t axes[MD_MAX_DIMS];
  uint32_t n, ax;
  int rc = md_attr_ints(node, MD_ATTR_AXES, axes, MD_MAX_DIMS, &n);
  if (rc) return rc;
  if (n == 0 && required) return MD_ERR_BAD_ATTRIBUTE;
  *mask = 0;
  for (uint32_t i = 0; i < n; i++) {
    if ((rc = md_norm_axis(axes[i], rank, &ax))) return rc;
    if (*mask & (1u << ax)) return MD_ERR_BAD_ATTRIBUTE;
    *mask |= 1u << ax;
  }
  *count = n;
  return MD_OK;
}

int op_squeeze(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 1, 1, 1);
  if (rc) return rc;
  const md_tensor *x = in[0];
  md_tensor *y = out[0];
  uint32_t mask, n, k = 0;
  if ((rc = axes_mask(node, x->ndim, 0, &mask, &n))) return rc;
  for (uint32_t d = 0; d < x->ndim; d++) {
    int drop = n ? (mask >> d) & 1u : x->dims[d] == 1;
    if (drop && x->dims[d] != 1) return MD_ERR_SHAPE;
    if (drop) continue;
    if (k >= y->ndim || y->dims[k] != x->dims[d]) return MD_ERR_SHAPE;
    k++;
  }
  if (k != y->ndim) return MD_ERR_SHAPE;
  return copy_same_size(x, y);
}

int op_unsqueeze(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 1, 1, 1);
  if (rc) return rc;
  const md_tensor *x = in[0];
  md_tensor *y = out[0];
  uint32_t mask, n, k = 0;
  if (y->ndim > MD_MAX_DIMS) return MD_ERR_SHAPE;
  if ((rc = axes_mask(node, y->ndim, 1, &mask, &n))) return rc;
  if (x->ndim + n != y->ndim) return MD_ERR_SHAPE;
  for (uint32_t d = 0; d < y->ndim; d++) {
    if ((mask >> d) & 1u) {
      if (y->dims[d] != 1) return MD_ERR_SHAPE;
    } else if (y->dims[d] != x->dims[k++]) {
      return MD_ERR_SHAPE;
    }
  }
  return copy_same_size(x, y);
}

int op_transpose(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 1, 1, 1);
  if (rc) return rc;
  const md_tensor *x = in[0];
  md_tensor *y = out[0];
  uint32_t r = x->ndim, n, seen = 0;
  int32_t perm[MD_MAX_DIMS];
  if ((rc = md_attr_ints(node, MD_ATTR_PERM, perm, MD_MAX_DIMS, &n))) return rc;
  if (n == 0) {
    for (uint32_t d = 0; d < r; d++) perm[d] = (int32_t)(r - 1 - d);
  } else if (n != r) {
    return MD_ERR_BAD_ATTRIBUTE;
  }
  if (y->ndim != r || x->dtype != MD_DTYPE_F32) return MD_ERR_SHAPE;
  uint32_t in_stride[MD_MAX_DIMS], step[MD_MAX_DIMS], coord[MD_MAX_DIMS];
  for (uint32_t d = r, s = 1; d-- > 0;) {
    in_stride[d] = s;
    s *= x->dims[d];
  }
  for (uint32_t d = 0; d < r; d++) {
    if (perm[d] < 0 || (uint32_t)perm[d] >= r || (seen >> perm[d]) & 1u) return MD_ERR_BAD_ATTRIBUTE;
    seen |= 1u << perm[d];
    if (y->dims[d] != x->dims[perm[d]]) return MD_ERR_SHAPE;
    step[d] = in_stride[perm[d]];
    coord[d] = 0;
  }
  /* walk Y in memory order, carrying an odometer over its coordinates */
  uint32_t src = 0;
  for (uint32_t i = 0; i < y->size; i++) {
    y->data[i] = canon(x->data[src]);
    for (uint32_t d = r; d-- > 0;) {
      src += step[d];
      if (++coord[d] < y->dims[d]) break;
      src -= step[d] * y->dims[d];
      coord[d] = 0;
    }
  }
  return MD_OK;
}

int op_concat(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 1, MD_MAX_IO, 1);
  if (rc) return rc;
  md_tensor *y = out[0];
  int32_t axis;
  uint32_t ax, total = 0, outer = 1, inner = 1;
  if (md_find_attr(node, MD_ATTR_AXIS) == NULL) return MD_ERR_BAD_ATTRIBUTE;
  if ((rc = md_attr_int(node, MD_ATTR_AXIS, 0, &axis))) return rc;
  if ((rc = md_norm_axis(axis, y->ndim, &ax))) return rc;
  for (uint32_t i = 0; i < node->n_inputs; i++) {
    const md_tensor *x = in[i];
    if (x == NULL) return MD_ERR_BAD_ARITY;
    if (x->ndim != y->ndim || x->dtype != MD_DTYPE_F32) return MD_ERR_SHAPE;
    for (uint32_t d = 0; d < y->ndim; d++)
      if (d != ax && x->dims[d] != y->dims[d]) return MD_ERR_SHAPE;
    total += x->dims[ax];
  }
  if (total != y->dims[ax]) return MD_ERR_SHAPE;
  for (uint32_t d = 0; d < ax; d++) outer *= y->dims[d];
  for (uint32_t d = ax + 1; d < y->ndim; d++) inner *= y->dims[d];
  float32_t *dst = y->data;
  for (uint32_t o = 0; o < outer; o++) {
    for (uint32_t i = 0; i < node->n_inputs; i++) {
      uint32_t chunk = in[i]->dims[ax] * inner;
      copy_values(dst, in[i]->data + o * chunk, chunk);
      dst += chunk;
    }
  }
  return MD_OK;
}

/* Gather along axis; indices are int32 constants or float32 values holding integers
 * (truncated toward zero); negative indices count from the end. */
int op_gather(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 2, 2, 1);
  if (rc) return rc;
  const md_tensor *x = in[0], *idx = in[1];
  md_tensor *y = out[0];
  int32_t axis;
  uint32_t ax, outer = 1, inner = 1;
  if ((rc = md_attr_int(node, MD_ATTR_AXIS, 0, &axis))) return rc;
  if ((rc = md_norm_axis(axis, x->ndim, &ax))) return rc;
  if (x->dtype != MD_DTYPE_F32 || y->ndim != x->ndim - 1 + idx->ndim) return MD_ERR_SHAPE;
  for (uint32_t d = 0; d < y->ndim; d++) {
    uint32_t want = d < ax ? x->dims[d] : d < ax + idx->ndim ? idx->dims[d - ax]
                                                             : x->dims[d - idx->ndim + 1];
    if (y->dims[d] != want) return MD_ERR_SHAPE;
  }
  for (uint32_t d = 0; d < ax; d++) outer *= x->dims[d];
  for (uint32_t d = ax + 1; d < x->ndim; d++) inner *= x->dims[d];
  int32_t len = (int32_t)x->dims[ax];
  float32_t *dst = y->data;
  for (uint32_t o = 0; o < outer; o++) {
    for (uint32_t k = 0; k < idx->size; k++) {
      int32_t i = idx->dtype == MD_DTYPE_I32 ? (int32_t)idx->data[k].v
                                             : f32_to_i32(idx->data[k], softfloat_round_minMag, false);
      if (i < 0) i += len;
      if (i < 0 || i >= len) return MD_ERR_INDEX;
      copy_values(dst, x->data + (o * (uint32_t)len + (uint32_t)i) * inner, inner);
      dst += inner;
    }
  }
  return MD_OK;
}

#define F32_HALF 0x3f000000u

/* Input index for output index `o` along one axis (ONNX Resize, mode nearest). */
static uint32_t nearest_index(uint32_t o, uint32_t in_len, uint32_t out_len, float32_t scale,
                              int32_t coord_mode, int32_t nearest_mode) {
  float32_t x = i32_to_f32((int32_t)o), half = md_f32(F32_HALF), orig;
  switch (coord_mode) {
  case MD_COORD_ASYMMETRIC:
    orig = f32_div(x, scale);
    break;
  case MD_COORD_ALIGN_CORNERS:
    orig = out_len == 1 ? md_f32(0)
                        : f32_div(f32_mul(x, i32_to_f32((int32_t)in_len - 1)),
                                  i32_to_f32((int32_t)out_len - 1));
    break;
  case MD_COORD_PYTORCH_HALF_PIXEL:
    orig = out_len > 1 ? f32_sub(f32_div(f32_add(x, half), scale), half) : md_f32(0);
    break;
  default: /* half_pixel */
    orig = f32_sub(f32_div(f32_add(x, half), scale), half);
  }
  float32_t fl = f32_roundToInt(orig, softfloat_round_min, false), r;
  float32_t frac = f32_sub(orig, fl);
  switch (nearest_mode) {
  case MD_NEAREST_FLOOR:
    r = fl;
    break;
  case MD_NEAREST_CEIL:
    r = f32_roundToInt(orig, softfloat_round_max, false);
    break;
  case MD_NEAREST_ROUND_PREFER_CEIL:
    r = f32_le(half, frac) ? f32_add(fl, md_f32(0x3f800000u)) : fl;
    break;
  default: /* round_prefer_floor */
    r = f32_lt(half, frac) ? f32_add(fl, md_f32(0x3f800000u)) : fl;
  }
  int32_t i = f32_to_i32(r, softfloat_round_minMag, false);
  if (i < 0) return 0;
  if ((uint32_t)i >= in_len) return in_len - 1;
  return (uint32_t)i;
}

int op_resize(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 1, 4, 1);
  if (rc) return rc;
  const md_tensor *x = in[0];
  md_tensor *y = out[0];
  int32_t coord_mode, nearest_mode;
  float32_t scales[MD_MAX_DIMS];
  uint32_t n, r = x->ndim;
  if ((rc = md_attr_int(node, MD_ATTR_COORD_MODE, MD_COORD_HALF_PIXEL, &coord_mode)) ||
      (rc = md_attr_int(node, MD_ATTR_NEAREST_MODE, MD_NEAREST_ROUND_PREFER_FLOOR, &nearest_mode)) ||
      (rc = md_attr_floats(node, MD_ATTR_SCALES, scales, MD_MAX_DIMS, &n)))
    return rc;
  if (coord_mode < 0 || coord_mode > MD_COORD_PYTORCH_HALF_PIXEL || nearest_mode < 0 ||
      nearest_mode > MD_NEAREST_CEIL || (n != 0 && n != r))
    return MD_ERR_BAD_ATTRIBUTE;
  if (y->ndim != r || x->dtype != MD_DTYPE_F32) return MD_ERR_SHAPE;
  uint32_t in_stride[MD_MAX_DIMS], coord[MD_MAX_DIMS];
  for (uint32_t d = r, s = 1; d-- > 0;) {
    in_stride[d] = s;
    s *= x->dims[d];
    coord[d] = 0;
    if (n == 0)
      scales[d] = f32_div(i32_to_f32((int32_t)y->dims[d]), i32_to_f32((int32_t)x->dims[d]));
    if (!f32_lt(md_f32(0), scales[d])) return MD_ERR_BAD_ATTRIBUTE;
  }
  for (uint32_t i = 0; i < y->size; i++) {
    uint32_t src = 0;
    for (uint32_t d = 0; d < r; d++) {
      uint32_t c = x->dims[d] == y->dims[d] ? coord[d]
                   : nearest_index(coord[d], x->dims[d], y->dims[d], scales[d], coord_mode, nearest_mode);
      src += c * in_stride[d];
    }
    y->data[i] = canon(x->data[src]);
    for (uint32_t d = r; d-- > 0;) {
      if (++coord[d] < y->dims[d]) break;
      coord[d] = 0;
    }
  }
  return MD_OK;
}

/* Y[i_0, .., i_r] = X[starts[d] + i_d * steps[d]]: one start and one nonzero step per axis (the
 * converter resolves ONNX starts/ends/axes/steps); every selected index must lie inside X. */
int op_slice(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 1, 1, 1);
  if (rc) return rc;
  const md_tensor *x = in[0];
  md_tensor *y = out[0];
  int32_t starts[MD_MAX_DIMS], steps[MD_MAX_DIMS];
  uint32_t n_starts, n_steps, r = x->ndim;
  if ((rc = md_attr_ints(node, MD_ATTR_STARTS, starts, MD_MAX_DIMS, &n_starts)) ||
      (rc = md_attr_ints(node, MD_ATTR_STEPS, steps, MD_MAX_DIMS, &n_steps)))
    return rc;
  if (n_starts != r || (n_steps != 0 && n_steps != r)) return MD_ERR_BAD_ATTRIBUTE;
  if (y->ndim != r || x->dtype != MD_DTYPE_F32) return MD_ERR_SHAPE;
  uint32_t coord[MD_MAX_DIMS];
  int32_t delta[MD_MAX_DIMS];
  int32_t src = 0;
  for (uint32_t d = r, s = 1; d-- > 0;) {
    int32_t step = n_steps ? steps[d] : 1, len = (int32_t)x->dims[d];
    int64_t last = (int64_t)starts[d] + (int64_t)step * ((int64_t)y->dims[d] - 1);
    if (step == 0) return MD_ERR_BAD_ATTRIBUTE;
    if (starts[d] < 0 || starts[d] >= len || last < 0 || last >= len) return MD_ERR_SHAPE;
    delta[d] = step * (int32_t)s;
    src += starts[d] * (int32_t)s;
    s *= x->dims[d];
    coord[d] = 0;
  }
  for (uint32_t i = 0; i < y->size; i++) {
    y->data[i] = canon(x->data[src]);
    for (uint32_t d = r; d-- > 0;) {
      src += delta[d];
      if (++coord[d] < y->dims[d]) break;
      src -= delta[d] * (int32_t)y->dims[d];
      coord[d] = 0;
    }
  }
  return MD_OK;
}

/* Cast to float (an int32 input is converted, rounding to nearest even), to int (float values
 * truncated toward zero; NaN stays NaN, infinities stay) or to bool (1.0 unless ±0). The
 * result is float32 in every case (run-time integers and booleans are float32 values). */
int op_cast(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int32_t to;
  int rc = md_check_arity(node, in, 1, 1, 1);
  if (rc) return rc;
  if ((rc = md_attr_int(node, MD_ATTR_TO, MD_CAST_FLOAT, &to))) return rc;
  if (to < MD_CAST_FLOAT || to > MD_CAST_BOOL) return MD_ERR_BAD_ATTRIBUTE;
  const md_tensor *x = in[0];
  md_tensor *y = out[0];
  if (!md_same_shape(x, y) || y->dtype != MD_DTYPE_F32) return MD_ERR_SHAPE;
  for (uint32_t i = 0; i < x->size; i++) {
    float32_t v = x->dtype == MD_DTYPE_I32 ? i32_to_f32((int32_t)x->data[i].v) : x->data[i];
    if (to == MD_CAST_INT && !((v.v & 0x7fffffffu) > 0x7f800000u))
      v = f32_roundToInt(v, softfloat_round_minMag, false);
    else if (to == MD_CAST_BOOL)
      v = md_f32((v.v & 0x7fffffffu) ? 0x3f800000u : 0u);
    y->data[i] = canon(v);
  }
  return MD_OK;
}
