/* minidnn: 2-D convolution, transposed convolution and pooling on NCHW tensors.
 * Sums run over (input channel, kh, kw) in increasing order from +0, skipping padding, then the
 * bias is added; averages divide the sum by the element count (f32_div). */
#include "ops.h"

typedef struct {
  uint32_t kh, kw;            /* kernel */
  uint32_t pt, pl, pb, pr;    /* pads: top, left, bottom, right */
  uint32_t sh, sw;            /* strides */
  uint32_t dh, dw;            /* dilations */
} window;

/* Reads kernel_shape (or the given default), pads, strides, dilations for 2-D ops. */
static int read_window(const md_node *node, uint32_t kh, uint32_t kw, int need_kernel, window *w) {
  int32_t v[4];
  uint32_t n;
  int rc = md_attr_ints(node, MD_ATTR_KERNEL_SHAPE, v, 2, &n);
  if (rc) return rc;
  if (n == 0 && need_kernel) return MD_ERR_BAD_ATTRIBUTE;
  if (n != 0 && (n != 2 || v[0] <= 0 || v[1] <= 0)) return MD_ERR_BAD_ATTRIBUTE;
  if (n == 2 && !need_kernel && ((uint32_t)v[0] != kh || (uint32_t)v[1] != kw)) return MD_ERR_SHAPE;
  w->kh = n ? (uint32_t)v[0] : kh;
  w->kw = n ? (uint32_t)v[1] : kw;
  if ((rc = md_attr_ints(node, MD_ATTR_PADS, v, 4, &n))) return rc;
  if (n != 0 && n != 4) return MD_ERR_BAD_ATTRIBUTE;
  for (uint32_t i = 0; i < n; i++)
    if (v[i] < 0 || v[i] > 65535) return MD_ERR_BAD_ATTRIBUTE;
  w->pt = n ? (uint32_t)v[0] : 0;
  w->pl = n ? (uint32_t)v[1] : 0;
  w->pb = n ? (uint32_t)v[2] : 0;
  w->pr = n ? (uint32_t)v[3] : 0;
  if ((rc = md_attr_ints(node, MD_ATTR_STRIDES, v, 2, &n))) return rc;
  if (n != 0 && (n != 2 || v[0] <= 0 || v[1] <= 0 || v[0] > 65535 || v[1] > 65535))
    return MD_ERR_BAD_ATTRIBUTE;
  w->sh = n ? (uint32_t)v[0] : 1;
  w->sw = n ? (uint32_t)v[1] : 1;
  if ((rc = md_attr_ints(node, MD_ATTR_DILATIONS, v, 2, &n))) return rc;
  if (n != 0 && (n != 2 || v[0] <= 0 || v[1] <= 0 || v[0] > 65535 || v[1] > 65535))
    return MD_ERR_BAD_ATTRIBUTE;
  w->dh = n ? (uint32_t)v[0] : 1;
  w->dw = n ? (uint32_t)v[1] : 1;
  if (w->kh > 65535 || w->kw > 65535) return MD_ERR_BAD_ATTRIBUTE;
  return MD_OK;
}

/* Output length of a sliding window (floor, or ceil mode as in ONNX); 0 if empty. */
static uint32_t out_len(uint32_t len, uint32_t p0, uint32_t p1, uint32_t k, uint32_t s, uint32_t d,
                        int ceil) {
  uint32_t span = d * (k - 1) + 1, padded = len + p0 + p1;
  if (padded < span) return 0;
  uint32_t num = padded - span;
  uint32_t o = (ceil ? (num + s - 1) / s : num / s) + 1;
  if (ceil && (o - 1) * s >= len + p0) o--;
  return o;
}

/* The last window's coordinates (out - 1) * s + (k - 1) * d stay far below 2^31. */
static int fits_int32(uint32_t out, uint32_t s, uint32_t k, uint32_t d) {
  return (uint64_t)(out - 1) * s + (uint64_t)(k - 1) * d < (1u << 30);
}

/* Kernel taps [k0, k1) whose input coordinate start + k * d lies in [0, len): the padding is
 * skipped, the summation order over the remaining taps is unchanged. */
void md_valid_taps(int32_t start, uint32_t k, uint32_t d, uint32_t len, uint32_t *k0,
                       uint32_t *k1) {
  int32_t lo = start < 0 ? (int32_t)(((uint32_t)(-start) + d - 1) / d) : 0;
  int32_t room = (int32_t)len - start, hi = room <= 0 ? 0 : (int32_t)(((uint32_t)room + d - 1) / d);
  if (hi > (int32_t)k) hi = (int32_t)k;
  if (lo > hi) lo = hi;
  *k0 = (uint32_t)lo;
  *k1 = (uint32_t)hi;
}

static int is_4d_f32(const md_tensor *t) { return t->ndim == 4 && t->dtype == MD_DTYPE_F32; }

__attribute__((flatten)) int op_conv(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 2, 3, 1);
  if (rc) return rc;
  const md_tensor *x = in[0], *wt = in[1], *bias = node->n_inputs > 2 ? in[2] : NULL;
  md_tensor *y = out[0];
  if (!is_4d_f32(x) || !is_4d_f32(wt) || y->ndim != 4) return MD_ERR_SHAPE;
  window w;
  int32_t group;
  if ((rc = read_window(node, wt->dims[2], wt->dims[3], 0, &w))) return rc;
  if ((rc = md_attr_int(node, MD_ATTR_GROUP, 1, &group))) return rc;
  if (group <= 0) return MD_ERR_BAD_ATTRIBUTE;
  uint32_t batch = x->dims[0], c = x->dims[1], h = x->dims[2], wd = x->dims[3];
  uint32_t oc = wt->dims[0], icg = wt->dims[1], g = (uint32_t)group;
  if (c != icg * g || oc % g != 0) return MD_ERR_SHAPE;
  uint32_t oh = out_len(h, w.pt, w.pb, w.kh, w.sh, w.dh, 0);
  uint32_t ow = out_len(wd, w.pl, w.pr, w.kw, w.sw, w.dw, 0);
  if (y->dims[0] != batch || y->dims[1] != oc || y->dims[2] != oh || y->dims[3] != ow)
    return MD_ERR_SHAPE;
  if (bias != NULL && (bias->ndim != 1 || bias->dims[0] != oc || bias->dtype != MD_DTYPE_F32))
    return MD_ERR_SHAPE;
  if (oh == 0 || ow == 0 || !fits_int32(oh, w.sh, w.kh, w.dh) || !fits_int32(ow, w.sw, w.kw, w.dw))
    return MD_ERR_SHAPE;
  uint32_t ocg = oc / g;
  float32_t *yp = y->data;
  for (uint32_t n = 0; n < batch; n++) {
    for (uint32_t o = 0; o < oc; o++) {
      const float32_t *xg = x->data + (n * c + (o / ocg) * icg) * h * wd;
      const float32_t *wo = wt->data + o * icg * w.kh * w.kw;
      for (uint32_t i = 0; i < oh; i++) {
        int32_t r0 = (int32_t)(i * w.sh) - (int32_t)w.pt; /* input row of kernel row 0 */
        uint32_t ki0, ki1;
        md_valid_taps(r0, w.kh, w.dh, h, &ki0, &ki1);
        for (uint32_t j = 0; j < ow; j++) {
          int32_t c0 = (int32_t)(j * w.sw) - (int32_t)w.pl;
          uint32_t kj0, kj1;
          md_valid_taps(c0, w.kw, w.dw, wd, &kj0, &kj1);
          float32_t acc = md_f32(0);
          for (uint32_t ci = 0; ci < icg; ci++) {
            const float32_t *xc = xg + ci * h * wd, *wc = wo + ci * w.kh * w.kw;
            for (uint32_t ki = ki0; ki < ki1; ki++) {
              const float32_t *xr = xc + (uint32_t)(r0 + (int32_t)(ki * w.dh)) * wd;
              const float32_t *wr = wc + ki * w.kw;
              for (uint32_t kj = kj0; kj < kj1; kj++)
                acc = f32_add(acc, f32_mul(xr[(uint32_t)(c0 + (int32_t)(kj * w.dw))], wr[kj]));
            }
          }
          if (bias != NULL) acc = f32_add(acc, bias->data[o]);
          *yp++ = acc;
        }
      }
    }
  }
  return MD_OK;
}

/* Transposed convolution, computed per output element (gather form) so the order is fixed. */
__attribute__((flatten)) int op_conv_transpose(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 2, 3, 1);
  if (rc) return rc;
  const md_tensor *x = in[0], *wt = in[1], *bias = node->n_inputs > 2 ? in[2] : NULL;
  md_tensor *y = out[0];
  if (!is_4d_f32(x) || !is_4d_f32(wt) || y->ndim != 4) return MD_ERR_SHAPE;
  window w;
  int32_t group, opad[2] = {0, 0};
  uint32_t n_opad;
  if ((rc = read_window(node, wt->dims[2], wt->dims[3], 0, &w))) return rc;
  if ((rc = md_attr_int(node, MD_ATTR_GROUP, 1, &group))) return rc;
  if ((rc = md_attr_ints(node, MD_ATTR_OUTPUT_PADDING, opad, 2, &n_opad))) return rc;
  if (group <= 0 || (n_opad != 0 && n_opad != 2) || opad[0] < 0 || opad[1] < 0)
    return MD_ERR_BAD_ATTRIBUTE;
  uint32_t batch = x->dims[0], c = x->dims[1], h = x->dims[2], wd = x->dims[3];
  uint32_t g = (uint32_t)group, ocg = wt->dims[1], oc = ocg * g;
  if (wt->dims[0] != c || c % g != 0) return MD_ERR_SHAPE;
  uint32_t icg = c / g;
  uint32_t full_h = w.sh * (h - 1) + (uint32_t)opad[0] + (w.kh - 1) * w.dh + 1;
  uint32_t full_w = w.sw * (wd - 1) + (uint32_t)opad[1] + (w.kw - 1) * w.dw + 1;
  if (full_h <= w.pt + w.pb || full_w <= w.pl + w.pr) return MD_ERR_SHAPE;
  uint32_t oh = full_h - w.pt - w.pb, ow = full_w - w.pl - w.pr;
  if (y->dims[0] != batch || y->dims[1] != oc || y->dims[2] != oh || y->dims[3] != ow)
    return MD_ERR_SHAPE;
  if (bias != NULL && (bias->ndim != 1 || bias->dims[0] != oc || bias->dtype != MD_DTYPE_F32))
    return MD_ERR_SHAPE;
  float32_t *yp = y->data;
  for (uint32_t n = 0; n < batch; n++) {
    for (uint32_t o = 0; o < oc; o++) {
      uint32_t gi = o / ocg, oo = o % ocg;
      for (uint32_t i = 0; i < oh; i++) {
        for (uint32_t j = 0; j < ow; j++) {
          float32_t acc = md_f32(0);
          for (uint32_t ci = 0; ci < icg; ci++) {
            uint32_t ch = gi * icg + ci;
            const float32_t *xc = x->data + (n * c + ch) * h * wd;
            const float32_t *wc = wt->data + (ch * ocg + oo) * w.kh * w.kw;
            for (uint32_t ki = 0; ki < w.kh; ki++) {
              uint32_t t = i + w.pt, kd = ki * w.dh; /* input row r satisfies r*sh + kd == t */
              if (t < kd || (t - kd) % w.sh != 0 || (t - kd) / w.sh >= h) continue;
              const float32_t *xr = xc + ((t - kd) / w.sh) * wd, *wr = wc + ki * w.kw;
              for (uint32_t kj = 0; kj < w.kw; kj++) {
                uint32_t u = j + w.pl, ld = kj * w.dw;
                if (u < ld || (u - ld) % w.sw != 0 || (u - ld) / w.sw >= wd) continue;
                acc = f32_add(acc, f32_mul(xr[(u - ld) / w.sw], wr[kj]));
              }
            }
          }
          if (bias != NULL) acc = f32_add(acc, bias->data[o]);
          *yp++ = acc;
        }
      }
    }
  }
  return MD_OK;
}

enum { POOL_MAX, POOL_AVG };

__attribute__((always_inline)) static inline int pool(const md_node *node, const md_tensor *const *in, md_tensor *const *out, int kind) {
  int rc = md_check_arity(node, in, 1, 1, 1);
  if (rc) return rc;
  const md_tensor *x = in[0];
  md_tensor *y = out[0];
  if (!is_4d_f32(x) || y->ndim != 4) return MD_ERR_SHAPE;
  window w;
  int32_t ceil_mode, include_pad;
  if ((rc = read_window(node, 0, 0, 1, &w))) return rc;
  if ((rc = md_attr_int(node, MD_ATTR_CEIL_MODE, 0, &ceil_mode))) return rc;
  if ((rc = md_attr_int(node, MD_ATTR_COUNT_INCLUDE_PAD, 0, &include_pad))) return rc;
  if (kind == POOL_AVG && (w.dh != 1 || w.dw != 1)) return MD_ERR_UNSUPPORTED;
  uint32_t planes = x->dims[0] * x->dims[1], h = x->dims[2], wd = x->dims[3];
  uint32_t oh = out_len(h, w.pt, w.pb, w.kh, w.sh, w.dh, ceil_mode != 0);
  uint32_t ow = out_len(wd, w.pl, w.pr, w.kw, w.sw, w.dw, ceil_mode != 0);
  if (y->dims[0] != x->dims[0] || y->dims[1] != x->dims[1] || y->dims[2] != oh || y->dims[3] != ow)
    return MD_ERR_SHAPE;
  float32_t *yp = y->data;
  for (uint32_t p = 0; p < planes; p++) {
    const float32_t *xp = x->data + p * h * wd;
    for (uint32_t i = 0; i < oh; i++) {
      for (uint32_t j = 0; j < ow; j++) {
        float32_t acc = md_f32(kind == POOL_MAX ? 0xff800000u : 0); /* -inf or +0 */
        uint32_t count = 0, padded_count = 0;
        int nan = 0;
        for (uint32_t ki = 0; ki < w.kh; ki++) {
          uint32_t r = i * w.sh + ki * w.dh;
          if (r >= h + w.pt + w.pb) continue;
          for (uint32_t kj = 0; kj < w.kw; kj++) {
            uint32_t col = j * w.sw + kj * w.dw;
            if (col >= wd + w.pl + w.pr) continue;
            padded_count++;
            if (r < w.pt || r - w.pt >= h || col < w.pl || col - w.pl >= wd) continue;
            float32_t v = xp[(r - w.pt) * wd + (col - w.pl)];
            count++;
            if (kind == POOL_AVG) {
              acc = f32_add(acc, v);
            } else if ((v.v & 0x7fffffffu) > 0x7f800000u) {
              nan = 1;
            } else if (f32_lt(acc, v)) {
              acc = v;
            }
          }
        }
        if (kind == POOL_AVG)
          acc = f32_div(acc, i32_to_f32((int32_t)(include_pad ? padded_count : count)));
        else if (nan)
          acc.v = MD_CANONICAL_NAN;
        *yp++ = acc;
      }
    }
  }
  return MD_OK;
}

/* MaxPool of an int8 / uint8 tensor (the integer path): the largest integer of each window, the
 * padding skipped (a window of padding only gives the type's least value); output of the same dtype. */
static int max_pool_ints(const md_node *node, const md_tensor *x, md_tensor *y) {
  window w;
  int32_t ceil_mode;
  int rc;
  if ((rc = read_window(node, 0, 0, 1, &w)) || (rc = md_attr_int(node, MD_ATTR_CEIL_MODE, 0, &ceil_mode))) return rc;
  if (x->ndim != 4 || y->ndim != 4 || y->dtype != x->dtype) return MD_ERR_SHAPE;
  uint32_t planes = x->dims[0] * x->dims[1], h = x->dims[2], wd = x->dims[3];
  uint32_t oh = out_len(h, w.pt, w.pb, w.kh, w.sh, w.dh, ceil_mode != 0);
  uint32_t ow = out_len(wd, w.pl, w.pr, w.kw, w.sw, w.dw, ceil_mode != 0);
  if (y->dims[0] != x->dims[0] || y->dims[1] != x->dims[1] || y->dims[2] != oh || y->dims[3] != ow)
    return MD_ERR_SHAPE;
  const int32_t *xs = (const int32_t *)(const void *)x->data;
  int32_t *yp = (int32_t *)(void *)y->data;
  for (uint32_t p = 0; p < planes; p++) {
    const int32_t *xp = xs + p * h * wd;
    for (uint32_t i = 0; i < oh; i++) {
      for (uint32_t j = 0; j < ow; j++) {
        int32_t acc = x->dtype == MD_DTYPE_I8 ? -128 : 0;
        for (uint32_t ki = 0; ki < w.kh; ki++) {
          uint32_t r = i * w.sh + ki * w.dh;
          if (r < w.pt || r - w.pt >= h) continue;
          for (uint32_t kj = 0; kj < w.kw; kj++) {
            uint32_t col = j * w.sw + kj * w.dw;
            if (col < w.pl || col - w.pl >= wd) continue;
            int32_t v = xp[(r - w.pt) * wd + (col - w.pl)];
            if (v > acc) acc = v;
          }
        }
        *yp++ = acc;
      }
    }
  }
  return MD_OK;
}

int op_max_pool(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 1, 1, 1);
  if (rc) return rc;
  if (in[0]->dtype == MD_DTYPE_I8 || in[0]->dtype == MD_DTYPE_U8) return max_pool_ints(node, in[0], out[0]);
  if (out[0]->dtype != MD_DTYPE_F32) return MD_ERR_SHAPE;
  return pool(node, in, out, POOL_MAX);
}

int op_average_pool(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  return pool(node, in, out, POOL_AVG);
}

/* Mean over all spatial positions of each (n, c) plane, summed in memory order. */
int op_global_average_pool(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 1, 1, 1);
  if (rc) return rc;
  const md_tensor *x = in[0];
  md_tensor *y = out[0];
  if (x->ndim < 3 || x->dtype != MD_DTYPE_F32 || y->ndim != x->ndim) return MD_ERR_SHAPE;
  if (y->dims[0] != x->dims[0] || y->dims[1] != x->dims[1]) return MD_ERR_SHAPE;
  uint32_t spatial = 1;
  for (uint32_t d = 2; d < x->ndim; d++) {
    if (y->dims[d] != 1) return MD_ERR_SHAPE;
    spatial *= x->dims[d];
  }
  float32_t count = i32_to_f32((int32_t)spatial);
  uint32_t planes = x->dims[0] * x->dims[1];
  for (uint32_t p = 0; p < planes; p++) {
    const float32_t *xp = x->data + p * spatial;
    float32_t acc = md_f32(0);
    for (uint32_t i = 0; i < spatial; i++) acc = f32_add(acc, xp[i]);
    y->data[p] = f32_div(acc, count);
  }
  return MD_OK;
}
