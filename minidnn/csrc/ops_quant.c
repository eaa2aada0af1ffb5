/* minidnn: the integer path. QuantizeLinear, DequantizeLinear, QLinearMatMul, MatMulInteger,
 * QGemm, QLinearConv, ConvInteger on int8 / uint8 tensors (every element one 32-bit word holding
 * the sign- or zero-extended value, docs/model-format.md).
 *
 * Dot products are pure integer: acc = sum over k of (a_k - a_zp) * (b_k - b_zp), in increasing k,
 * in wrapping 32-bit arithmetic (exact for every int8/uint8 model whose sums fit int32: K below
 * 2^31 / 255^2 = 33025 terms is always safe). Requantization follows ONNX and onnxruntime: the
 * multiplier is f32_div(f32_mul(a_scale, b_scale[c]), y_scale) (onnxruntime's order), then
 * y = saturate(round_half_even(f32(acc) * multiplier) + y_zp); float steps are SoftFloat. */
#include "ops.h"

/* Value range of an int8 / uint8 tensor; error unless `dtype` is one of them. */
static int qrange(uint32_t dtype, int32_t *lo, int32_t *hi) {
  if (dtype == MD_DTYPE_I8) {
    *lo = -128;
    *hi = 127;
  } else if (dtype == MD_DTYPE_U8) {
    *lo = 0;
    *hi = 255;
  } else {
    return MD_ERR_SHAPE;
  }
  return MD_OK;
}

static int is_q8(const md_tensor *t) { return t->dtype == MD_DTYPE_I8 || t->dtype == MD_DTYPE_U8; }

static int32_t word(const md_tensor *t, uint32_t i) { return (int32_t)t->data[i].v; }

/* A scale (float32) and an optional zero point (same dtype as `data`) with 1 or `channels`
 * elements: the per-tensor or per-channel quantization parameters of one operand. An int8 / uint8
 * zero point must lie in its type's range (BAD_ATTRIBUTE: a forged word could not be saturated
 * against without overflow). */
static int check_params(const md_tensor *scale, const md_tensor *zp, uint32_t dtype, uint32_t channels) {
  if (scale->dtype != MD_DTYPE_F32 || scale->ndim > 1) return MD_ERR_SHAPE;
  if (scale->size != 1 && scale->size != channels) return MD_ERR_SHAPE;
  if (zp == NULL) return MD_OK;
  if (zp->dtype != dtype || zp->ndim > 1 || zp->size != scale->size) return MD_ERR_SHAPE;
  int32_t lo, hi;
  if (qrange(dtype, &lo, &hi) == MD_OK)
    for (uint32_t i = 0; i < zp->size; i++)
      if (word(zp, i) < lo || word(zp, i) > hi) return MD_ERR_BAD_ATTRIBUTE;
  return MD_OK;
}

static int32_t zp_at(const md_tensor *zp, uint32_t c) {
  if (zp == NULL) return 0;
  return word(zp, zp->size == 1 ? 0 : c);
}

static float32_t scale_at(const md_tensor *scale, uint32_t c) {
  return scale->data[scale->size == 1 ? 0 : c];
}

/* saturate(round_half_even(v) + zp) into [lo, hi]; NaN saturates to hi (SoftFloat's RISC-V
 * f32_to_i32 maps NaN to INT32_MAX), +-inf to hi / lo. */
static int32_t quantize_value(float32_t v, int32_t zp, int32_t lo, int32_t hi) {
  int32_t r = (int32_t)f32_to_i32(v, softfloat_round_near_even, false);
  if (r > hi - zp) return hi;
  if (r < lo - zp) return lo;
  return r + zp;
}

static int32_t requantize(int32_t acc, float32_t multiplier, int32_t zp, int32_t lo, int32_t hi) {
  return quantize_value(f32_mul(i32_to_f32(acc), multiplier), zp, lo, hi);
}

/* Elements per channel step for a per-axis parameter along `axis` of `x` (1 channel: per tensor). */
static int axis_layout(const md_node *node, const md_tensor *x, const md_tensor *scale, uint32_t *inner,
                       uint32_t *channels) {
  *inner = 1;
  *channels = 1;
  if (scale->size == 1 && scale->ndim <= 1) return MD_OK;
  int32_t axis;
  uint32_t ax;
  int rc = md_attr_int(node, MD_ATTR_AXIS, 1, &axis);
  if (rc || (rc = md_norm_axis(axis, x->ndim, &ax))) return rc;
  for (uint32_t d = ax + 1; d < x->ndim; d++) *inner *= x->dims[d];
  *channels = x->dims[ax];
  return MD_OK;
}

/* y = saturate(round_half_even(x / y_scale) + y_zp) (f32_div, as onnxruntime divides). */
int op_quantize_linear(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 2, 3, 1);
  if (rc) return rc;
  const md_tensor *x = in[0], *scale = in[1], *zp = node->n_inputs > 2 ? in[2] : NULL;
  md_tensor *y = out[0];
  int32_t lo, hi;
  uint32_t inner, channels;
  if ((rc = qrange(y->dtype, &lo, &hi))) return rc;
  if (x->dtype != MD_DTYPE_F32 || !md_same_shape(x, y)) return MD_ERR_SHAPE;
  if ((rc = axis_layout(node, x, scale, &inner, &channels))) return rc;
  if ((rc = check_params(scale, zp, y->dtype, channels))) return rc;
  for (uint32_t i = 0; i < x->size; i++) {
    uint32_t c = (i / inner) % channels;
    y->data[i].v = (uint32_t)quantize_value(f32_div(x->data[i], scale_at(scale, c)), zp_at(zp, c), lo, hi);
  }
  return MD_OK;
}

/* y = f32(x - x_zp) * x_scale (the integer difference, then one SoftFloat multiply). */
int op_dequantize_linear(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 2, 3, 1);
  if (rc) return rc;
  const md_tensor *x = in[0], *scale = in[1], *zp = node->n_inputs > 2 ? in[2] : NULL;
  md_tensor *y = out[0];
  uint32_t inner, channels;
  if (!is_q8(x) && x->dtype != MD_DTYPE_I32) return MD_ERR_SHAPE;
  if (y->dtype != MD_DTYPE_F32 || !md_same_shape(x, y)) return MD_ERR_SHAPE;
  if ((rc = axis_layout(node, x, scale, &inner, &channels))) return rc;
  if ((rc = check_params(scale, zp, x->dtype, channels))) return rc;
  for (uint32_t i = 0; i < x->size; i++) {
    uint32_t c = (i / inner) % channels;
    int32_t d = (int32_t)((uint32_t)word(x, i) - (uint32_t)zp_at(zp, c));
    y->data[i] = f32_mul(i32_to_f32(d), scale_at(scale, c));
  }
  return MD_OK;
}

/* ---- matrix products ---------------------------------------------------------------------- */

/* sum_k (a[k*sa] - za) * (b[k*sb] - zb), k = 0..n-1, wrapping uint32 arithmetic. */
static int32_t idot(const float32_t *a, uint32_t sa, const float32_t *b, uint32_t sb, uint32_t n, uint32_t za,
                    uint32_t zb) {
  const uint32_t *pa = (const uint32_t *)(const void *)a, *pb = (const uint32_t *)(const void *)b;
  const uint32_t *pe = pa + n * sa;
  uint32_t acc = 0;
  for (; pa != pe; pa += sa, pb += sb) acc += (*pa - za) * (*pb - zb);
  return (int32_t)acc;
}

/* One integer matrix product y = op(A) op(B) (+ bias), A (m, k) and B (k, n) after the
 * transposes; per-column (j) b zero point and scale. `y_scale` NULL: int32 output (the raw sums). */
typedef struct {
  const md_tensor *a, *a_scale, *a_zp, *b, *b_scale, *b_zp, *bias, *y_scale, *y_zp;
  int32_t trans_a, trans_b;
} qmatmul_args;

static int qmatmul(const qmatmul_args *q, md_tensor *y) {
  const md_tensor *a = q->a, *b = q->b, *bias = q->bias;
  if (!is_q8(a) || !is_q8(b) || a->ndim != 2 || b->ndim != 2 || y->ndim != 2) return MD_ERR_SHAPE;
  uint32_t m = q->trans_a ? a->dims[1] : a->dims[0], k = q->trans_a ? a->dims[0] : a->dims[1];
  uint32_t kb = q->trans_b ? b->dims[1] : b->dims[0], n = q->trans_b ? b->dims[0] : b->dims[1];
  if (k != kb || y->dims[0] != m || y->dims[1] != n) return MD_ERR_SHAPE;
  int32_t lo = 0, hi = 0;
  int rc;
  if (q->y_scale != NULL) {
    if ((rc = qrange(y->dtype, &lo, &hi)) || (rc = check_params(q->a_scale, q->a_zp, a->dtype, 1)) ||
        (rc = check_params(q->b_scale, q->b_zp, b->dtype, n)) ||
        (rc = check_params(q->y_scale, q->y_zp, y->dtype, 1)))
      return rc;
  } else {
    if (y->dtype != MD_DTYPE_I32) return MD_ERR_SHAPE;
    if (q->a_zp != NULL && (q->a_zp->dtype != a->dtype || q->a_zp->size != 1)) return MD_ERR_SHAPE;
    if (q->b_zp != NULL && (q->b_zp->dtype != b->dtype || q->b_zp->ndim > 1 ||
                            (q->b_zp->size != 1 && q->b_zp->size != n)))
      return MD_ERR_SHAPE;
  }
  uint32_t brs = 0, bcs = 0; /* bias strides (row, column) */
  if (bias != NULL) {
    if (bias->dtype != MD_DTYPE_I32) return MD_ERR_SHAPE;
    if (bias->ndim == 2 && bias->dims[0] == m && bias->dims[1] == n) {
      brs = n;
      bcs = 1;
    } else if (bias->size == n && (bias->ndim == 1 || (bias->ndim == 2 && bias->dims[0] == 1))) {
      bcs = 1;
    } else if (bias->size != 1 || bias->ndim > 2) {
      return MD_ERR_SHAPE;
    }
  }
  /* element (i, kk) of op(A) is a[i * sai + kk * sak]; (kk, j) of op(B) is b[kk * sbk + j * sbj] */
  uint32_t sai = q->trans_a ? 1 : k, sak = q->trans_a ? m : 1;
  uint32_t sbk = q->trans_b ? 1 : n, sbj = q->trans_b ? k : 1;
  uint32_t za = (uint32_t)zp_at(q->a_zp, 0);
  for (uint32_t j = 0; j < n; j++) {
    uint32_t zb = (uint32_t)zp_at(q->b_zp, j);
    float32_t mult = md_f32(0);
    int32_t zy = 0;
    if (q->y_scale != NULL) {
      mult = f32_div(f32_mul(scale_at(q->a_scale, 0), scale_at(q->b_scale, j)), scale_at(q->y_scale, 0));
      zy = zp_at(q->y_zp, 0);
    }
    for (uint32_t i = 0; i < m; i++) {
      int32_t acc = idot(a->data + i * sai, sak, b->data + j * sbj, sbk, k, za, zb);
      if (bias != NULL) acc = (int32_t)((uint32_t)acc + bias->data[i * brs + j * bcs].v);
      y->data[i * n + j].v = q->y_scale != NULL ? (uint32_t)requantize(acc, mult, zy, lo, hi) : (uint32_t)acc;
    }
  }
  return MD_OK;
}

/* QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp), 2-D operands. */
int op_qlinear_matmul(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 8, 8, 1);
  if (rc) return rc;
  qmatmul_args q = {in[0], in[1], in[2], in[3], in[4], in[5], NULL, in[6], in[7], 0, 0};
  return qmatmul(&q, out[0]);
}

/* MatMulInteger(A, B, a_zp?, b_zp?) -> int32, 2-D operands. */
int op_matmul_integer(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 2, 4, 1);
  if (rc) return rc;
  qmatmul_args q = {in[0], NULL, node->n_inputs > 2 ? in[2] : NULL, in[1], NULL,
                    node->n_inputs > 3 ? in[3] : NULL, NULL, NULL, NULL, 0, 0};
  return qmatmul(&q, out[0]);
}

/* QGemm(A, a_scale, a_zp, B, b_scale, b_zp, C?, y_scale, y_zp) trans_a, trans_b: onnxruntime's
 * com.microsoft QGemm with alpha 1 and an int32 bias C (scale a_scale * b_scale, zero point 0). */
int op_qgemm(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 6, 9, 1); /* C (input 6) is optional */
  if (rc) return rc;
  if (node->n_inputs != 9 || in[7] == NULL || in[8] == NULL) return MD_ERR_BAD_ARITY;
  qmatmul_args q = {in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], in[8], 0, 0};
  if ((rc = md_attr_int(node, MD_ATTR_TRANS_A, 0, &q.trans_a)) ||
      (rc = md_attr_int(node, MD_ATTR_TRANS_B, 0, &q.trans_b)))
    return rc;
  return qmatmul(&q, out[0]);
}

/* ---- convolution -------------------------------------------------------------------------- */

typedef struct {
  const md_tensor *x, *x_scale, *x_zp, *w, *w_scale, *w_zp, *bias, *y_scale, *y_zp;
} qconv_args;

static int read_ints(const md_node *node, uint32_t key, uint32_t n, int32_t dflt, int32_t *v) {
  uint32_t got;
  int rc = md_attr_ints(node, key, v, n, &got);
  if (rc) return rc;
  if (got == 0)
    for (uint32_t i = 0; i < n; i++) v[i] = dflt;
  else if (got != n)
    return MD_ERR_BAD_ATTRIBUTE;
  return MD_OK;
}

/* 2-D NCHW convolution; sums over (input channel, kh, kw) in increasing order, then + bias. */
static int qconv(const md_node *node, const qconv_args *q, md_tensor *y) {
  const md_tensor *x = q->x, *wt = q->w, *bias = q->bias;
  if (!is_q8(x) || !is_q8(wt) || x->ndim != 4 || wt->ndim != 4 || y->ndim != 4) return MD_ERR_SHAPE;
  int32_t kernel[2], pads[4], strides[2], dil[2], group;
  int rc;
  if ((rc = read_ints(node, MD_ATTR_KERNEL_SHAPE, 2, 0, kernel)) ||
      (rc = read_ints(node, MD_ATTR_PADS, 4, 0, pads)) || (rc = read_ints(node, MD_ATTR_STRIDES, 2, 1, strides)) ||
      (rc = read_ints(node, MD_ATTR_DILATIONS, 2, 1, dil)) || (rc = md_attr_int(node, MD_ATTR_GROUP, 1, &group)))
    return rc;
  if (group <= 0) return MD_ERR_BAD_ATTRIBUTE;
  for (uint32_t i = 0; i < 4; i++)
    if (pads[i] < 0 || pads[i] > 65535) return MD_ERR_BAD_ATTRIBUTE;
  for (uint32_t i = 0; i < 2; i++)
    if (strides[i] <= 0 || strides[i] > 65535 || dil[i] <= 0 || dil[i] > 65535) return MD_ERR_BAD_ATTRIBUTE;
  uint32_t kh = wt->dims[2], kw = wt->dims[3];
  if ((kernel[0] != 0 || kernel[1] != 0) && ((uint32_t)kernel[0] != kh || (uint32_t)kernel[1] != kw))
    return MD_ERR_SHAPE;
  uint32_t batch = x->dims[0], c = x->dims[1], h = x->dims[2], wd = x->dims[3];
  uint32_t oc = wt->dims[0], icg = wt->dims[1], g = (uint32_t)group;
  if (c != icg * g || oc % g != 0 || kh > 65535 || kw > 65535) return MD_ERR_SHAPE;
  uint32_t sh = (uint32_t)strides[0], sw = (uint32_t)strides[1], dh = (uint32_t)dil[0], dw = (uint32_t)dil[1];
  uint32_t pt = (uint32_t)pads[0], pl = (uint32_t)pads[1];
  uint64_t span_h = (uint64_t)dh * (kh - 1) + 1, span_w = (uint64_t)dw * (kw - 1) + 1;
  uint64_t ph = (uint64_t)h + pt + (uint32_t)pads[2], pw = (uint64_t)wd + pl + (uint32_t)pads[3];
  if (ph < span_h || pw < span_w || ph >= (1u << 30) || pw >= (1u << 30)) return MD_ERR_SHAPE;
  uint32_t oh = (uint32_t)((ph - span_h) / sh) + 1, ow = (uint32_t)((pw - span_w) / sw) + 1;
  if (y->dims[0] != batch || y->dims[1] != oc || y->dims[2] != oh || y->dims[3] != ow) return MD_ERR_SHAPE;
  int32_t lo = 0, hi = 0;
  if (q->y_scale != NULL) {
    if ((rc = qrange(y->dtype, &lo, &hi)) || (rc = check_params(q->x_scale, q->x_zp, x->dtype, 1)) ||
        (rc = check_params(q->w_scale, q->w_zp, wt->dtype, oc)) ||
        (rc = check_params(q->y_scale, q->y_zp, y->dtype, 1)))
      return rc;
  } else {
    if (y->dtype != MD_DTYPE_I32) return MD_ERR_SHAPE;
    if (q->x_zp != NULL && (q->x_zp->dtype != x->dtype || q->x_zp->size != 1)) return MD_ERR_SHAPE;
    if (q->w_zp != NULL && (q->w_zp->dtype != wt->dtype || q->w_zp->ndim > 1 ||
                            (q->w_zp->size != 1 && q->w_zp->size != oc)))
      return MD_ERR_SHAPE;
  }
  if (bias != NULL && (bias->dtype != MD_DTYPE_I32 || bias->ndim != 1 || bias->dims[0] != oc)) return MD_ERR_SHAPE;
  uint32_t ocg = oc / g, zx = (uint32_t)zp_at(q->x_zp, 0);
  for (uint32_t n = 0; n < batch; n++) {
    for (uint32_t o = 0; o < oc; o++) {
      const uint32_t *xg = (const uint32_t *)(const void *)(x->data + (n * c + (o / ocg) * icg) * h * wd);
      const uint32_t *wo = (const uint32_t *)(const void *)(wt->data + o * icg * kh * kw);
      uint32_t zw = (uint32_t)zp_at(q->w_zp, o);
      float32_t mult = md_f32(0);
      int32_t zy = 0;
      if (q->y_scale != NULL) {
        mult = f32_div(f32_mul(scale_at(q->x_scale, 0), scale_at(q->w_scale, o)), scale_at(q->y_scale, 0));
        zy = zp_at(q->y_zp, 0);
      }
      uint32_t b = bias != NULL ? bias->data[o].v : 0;
      uint32_t *yp = (uint32_t *)(void *)(y->data + (n * oc + o) * oh * ow);
      for (uint32_t i = 0; i < oh; i++) {
        int32_t r0 = (int32_t)(i * sh) - (int32_t)pt;
        uint32_t ki0, ki1;
        md_valid_taps(r0, kh, dh, h, &ki0, &ki1);
        for (uint32_t j = 0; j < ow; j++) {
          int32_t c0 = (int32_t)(j * sw) - (int32_t)pl;
          uint32_t kj0, kj1;
          md_valid_taps(c0, kw, dw, wd, &kj0, &kj1);
          uint32_t acc = 0;
          uint32_t taps_w = kj1 - kj0, row_step = dh * wd;
          for (uint32_t ci = 0; ci < icg; ci++) {
            /* padding taps hold the zero point: their terms are 0 and skipped */
            const uint32_t *xr = xg + ci * h * wd + (uint32_t)(r0 + (int32_t)(ki0 * dh)) * wd +
                                 (uint32_t)(c0 + (int32_t)(kj0 * dw));
            const uint32_t *wr = wo + ci * kh * kw + ki0 * kw + kj0;
            for (uint32_t ki = ki0; ki < ki1; ki++, xr += row_step, wr += kw) {
              const uint32_t *xp = xr, *wp = wr, *we = wr + taps_w;
              if (dw == 1) {
                while (wp < we) acc += (*xp++ - zx) * (*wp++ - zw);
              } else {
                for (; wp < we; xp += dw) acc += (*xp - zx) * (*wp++ - zw);
              }
            }
          }
          acc += b;
          *yp++ = q->y_scale != NULL ? (uint32_t)requantize((int32_t)acc, mult, zy, lo, hi) : acc;
        }
      }
    }
  }
  return MD_OK;
}

/* QLinearConv(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B?) (B int32). */
int op_qlinear_conv(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 8, 9, 1);
  if (rc) return rc;
  qconv_args q = {in[0], in[1], in[2], in[3], in[4], in[5], node->n_inputs > 8 ? in[8] : NULL, in[6], in[7]};
  return qconv(node, &q, out[0]);
}

/* ConvInteger(x, w, x_zp?, w_zp?) -> int32. */
int op_conv_integer(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 2, 4, 1);
  if (rc) return rc;
  qconv_args q = {in[0], NULL, node->n_inputs > 2 ? in[2] : NULL, in[1], NULL,
                  node->n_inputs > 3 ? in[3] : NULL, NULL, NULL, NULL};
  return qconv(node, &q, out[0]);
}
