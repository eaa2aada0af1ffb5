/* minidnn: Gemm and MatMul. Each output element is one dot product summed in increasing k,
 * starting from +0: acc = f32_add(acc, f32_mul(a_k, b_k)) (no FMA); then alpha, then beta*C. */
#include "ops.h"

#define F32_ONE 0x3f800000u

/* Dot product of n terms with strides (in elements); fixed order k = 0..n-1. `flatten` inlines
 * SoftFloat's f32_mul/f32_add here (under LTO), removing call and struct-return overhead. */
__attribute__((flatten)) static float32_t dot(const float32_t *a, uint32_t sa, const float32_t *b,
                                              uint32_t sb, uint32_t n) {
  float32_t acc = md_f32(0);
  for (uint32_t k = 0; k < n; k++) {
    acc = f32_add(acc, f32_mul(*a, *b));
    a += sa;
    b += sb;
  }
  return acc;
}

/* Element strides (row, col) of a bias C broadcast to (m, n); error if not broadcastable. */
static int bias_strides(const md_tensor *c, uint32_t m, uint32_t n, uint32_t *rs, uint32_t *cs) {
  uint32_t rows = 1, cols = 1;
  if (c->ndim == 1) {
    cols = c->dims[0];
  } else if (c->ndim == 2) {
    rows = c->dims[0];
    cols = c->dims[1];
  } else if (c->ndim != 0) {
    return MD_ERR_SHAPE;
  }
  if ((rows != 1 && rows != m) || (cols != 1 && cols != n)) return MD_ERR_SHAPE;
  *rs = rows == 1 ? 0 : cols;
  *cs = cols == 1 ? 0 : 1;
  return MD_OK;
}

int op_gemm(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 2, 3, 1);
  if (rc) return rc;
  float32_t alpha, beta;
  int32_t trans_a, trans_b;
  if ((rc = md_attr_float(node, MD_ATTR_ALPHA, md_f32(F32_ONE), &alpha)) ||
      (rc = md_attr_float(node, MD_ATTR_BETA, md_f32(F32_ONE), &beta)) ||
      (rc = md_attr_int(node, MD_ATTR_TRANS_A, 0, &trans_a)) ||
      (rc = md_attr_int(node, MD_ATTR_TRANS_B, 0, &trans_b)))
    return rc;
  const md_tensor *a = in[0], *b = in[1], *c = node->n_inputs > 2 ? in[2] : NULL;
  md_tensor *y = out[0];
  if (a->ndim != 2 || b->ndim != 2 || y->ndim != 2) return MD_ERR_SHAPE;
  if (a->dtype != MD_DTYPE_F32 || b->dtype != MD_DTYPE_F32) return MD_ERR_SHAPE;
  uint32_t m = trans_a ? a->dims[1] : a->dims[0], k = trans_a ? a->dims[0] : a->dims[1];
  uint32_t kb = trans_b ? b->dims[1] : b->dims[0], n = trans_b ? b->dims[0] : b->dims[1];
  if (k != kb || y->dims[0] != m || y->dims[1] != n) return MD_ERR_SHAPE;
  uint32_t rs = 0, cs = 0;
  if (c != NULL && ((rc = bias_strides(c, m, n, &rs, &cs)) || c->dtype != MD_DTYPE_F32))
    return rc ? rc : MD_ERR_SHAPE;
  /* element (i, kk) of op(A) is a[i * sai + kk * sak]; (kk, j) of op(B) is b[kk * sbk + j * sbj] */
  uint32_t sai = trans_a ? 1 : k, sak = trans_a ? m : 1;
  uint32_t sbk = trans_b ? 1 : n, sbj = trans_b ? k : 1;
  int scale = alpha.v != F32_ONE, scale_c = beta.v != F32_ONE;
  for (uint32_t i = 0; i < m; i++) {
    for (uint32_t j = 0; j < n; j++) {
      float32_t acc = dot(a->data + i * sai, sak, b->data + j * sbj, sbk, k);
      if (scale) acc = f32_mul(alpha, acc);
      if (c != NULL) {
        float32_t cv = c->data[i * rs + j * cs];
        acc = f32_add(acc, scale_c ? f32_mul(beta, cv) : cv);
      }
      y->data[i * n + j] = acc;
    }
  }
  return MD_OK;
}

/* numpy.matmul: A (..., M, K) or (K), B (..., K, N) or (K); batch dims broadcast. */
int op_matmul(const md_node *node, const md_tensor *const *in, md_tensor *const *out) {
  int rc = md_check_arity(node, in, 2, 2, 1);
  if (rc) return rc;
  const md_tensor *a = in[0], *b = in[1];
  md_tensor *y = out[0];
  if (a->ndim == 0 || b->ndim == 0 || a->dtype != MD_DTYPE_F32 || b->dtype != MD_DTYPE_F32)
    return MD_ERR_SHAPE;
  uint32_t m = a->ndim >= 2 ? a->dims[a->ndim - 2] : 1, k = a->dims[a->ndim - 1];
  uint32_t kb = b->ndim >= 2 ? b->dims[b->ndim - 2] : b->dims[0];
  uint32_t n = b->ndim >= 2 ? b->dims[b->ndim - 1] : 1;
  if (k != kb) return MD_ERR_SHAPE;
  uint32_t ba = a->ndim >= 2 ? a->ndim - 2 : 0, bb = b->ndim >= 2 ? b->ndim - 2 : 0;
  uint32_t br = ba > bb ? ba : bb;
  uint32_t yd = br + (a->ndim >= 2) + (b->ndim >= 2);
  if (y->ndim != yd) return MD_ERR_SHAPE;
  /* batch shape and per-operand batch strides (0 where broadcast) */
  uint32_t bdims[MD_MAX_DIMS], sa[MD_MAX_DIMS], sb[MD_MAX_DIMS];
  uint32_t stride_a = m * k, stride_b = k * n, batches = 1;
  for (uint32_t d = br; d-- > 0;) {
    uint32_t da = d >= br - ba ? a->dims[d - (br - ba)] : 1;
    uint32_t db = d >= br - bb ? b->dims[d - (br - bb)] : 1;
    if (da != db && da != 1 && db != 1) return MD_ERR_SHAPE;
    bdims[d] = da > db ? da : db;
    if (y->dims[d] != bdims[d]) return MD_ERR_SHAPE;
    sa[d] = da == 1 ? 0 : stride_a;
    sb[d] = db == 1 ? 0 : stride_b;
    stride_a *= da;
    stride_b *= db;
    batches *= bdims[d];
  }
  if (a->ndim >= 2 && y->dims[br] != m) return MD_ERR_SHAPE;
  if (b->ndim >= 2 && y->dims[yd - 1] != n) return MD_ERR_SHAPE;
  float32_t *yp = y->data;
  for (uint32_t bi = 0; bi < batches; bi++) {
    uint32_t rem = bi, oa = 0, ob = 0;
    for (uint32_t d = br; d-- > 0;) {
      uint32_t coord = rem % bdims[d];
      rem /= bdims[d];
      oa += coord * sa[d];
      ob += coord * sb[d];
    }
    const float32_t *ap = a->data + oa, *bp = b->data + ob;
    for (uint32_t i = 0; i < m; i++)
      for (uint32_t j = 0; j < n; j++) *yp++ = dot(ap + i * k, 1, bp + j, n, k);
  }
  return MD_OK;
}
