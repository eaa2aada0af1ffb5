/* minidnn: the op table, attribute/shape helpers shared by kernels, freestanding libc. */
#include "ops.h"

/* ---- op table ------------------------------------------------------------------------------ */
static const md_kernel OP_TABLE[MD_OP_MAX_ID + 1] = {
    [MD_OP_IDENTITY] = op_identity,
    [MD_OP_RESHAPE] = op_reshape,
    [MD_OP_FLATTEN] = op_flatten,
    [MD_OP_TRANSPOSE] = op_transpose,
    [MD_OP_CONCAT] = op_concat,
    [MD_OP_SQUEEZE] = op_squeeze,
    [MD_OP_UNSQUEEZE] = op_unsqueeze,
    [MD_OP_GATHER] = op_gather,
    [MD_OP_RESIZE] = op_resize,
    [MD_OP_SLICE] = op_slice,
    [MD_OP_EXPAND] = op_expand,
    [MD_OP_WHERE] = op_where,
    [MD_OP_CAST] = op_cast,
    [MD_OP_GEMM] = op_gemm,
    [MD_OP_MATMUL] = op_matmul,
    [MD_OP_CONV] = op_conv,
    [MD_OP_CONV_TRANSPOSE] = op_conv_transpose,
    [MD_OP_MAX_POOL] = op_max_pool,
    [MD_OP_AVERAGE_POOL] = op_average_pool,
    [MD_OP_GLOBAL_AVERAGE_POOL] = op_global_average_pool,
    [MD_OP_RELU] = op_relu,
    [MD_OP_LEAKY_RELU] = op_leaky_relu,
    [MD_OP_CLIP] = op_clip,
    [MD_OP_SIGMOID] = op_sigmoid,
    [MD_OP_TANH] = op_tanh,
    [MD_OP_GELU] = op_gelu,
    [MD_OP_ERF] = op_erf,
    [MD_OP_SQRT] = op_sqrt,
    [MD_OP_ADD] = op_add,
    [MD_OP_SUB] = op_sub,
    [MD_OP_MUL] = op_mul,
    [MD_OP_DIV] = op_div,
    [MD_OP_EXP] = op_exp,
    [MD_OP_LOG] = op_log,
    [MD_OP_RECIPROCAL] = op_reciprocal,
    [MD_OP_POW] = op_pow,
    [MD_OP_BATCH_NORM] = op_batch_norm,
    [MD_OP_LAYER_NORM] = op_layer_norm,
    [MD_OP_SOFTMAX] = op_softmax,
    [MD_OP_LOG_SOFTMAX] = op_log_softmax,
    [MD_OP_REDUCE_SUM] = op_reduce_sum,
    [MD_OP_REDUCE_MEAN] = op_reduce_mean,
    [MD_OP_REDUCE_MAX] = op_reduce_max,
    [MD_OP_EQUAL] = op_equal,
    [MD_OP_LESS] = op_less,
    [MD_OP_GREATER] = op_greater,
    [MD_OP_NOT] = op_not,
    [MD_OP_P_RELU] = op_p_relu,
    [MD_OP_ELU] = op_elu,
    [MD_OP_SOFTPLUS] = op_softplus,
    [MD_OP_SIN] = op_sin,
    [MD_OP_COS] = op_cos,
    [MD_OP_ABS] = op_abs,
    [MD_OP_FLOOR] = op_floor,
    [MD_OP_CEIL] = op_ceil,
    [MD_OP_MAX] = op_max,
    [MD_OP_MIN] = op_min,
    [MD_OP_LESS_OR_EQUAL] = op_less_or_equal,
    [MD_OP_GREATER_OR_EQUAL] = op_greater_or_equal,
    [MD_OP_AND] = op_and,
    [MD_OP_OR] = op_or,
    [MD_OP_XOR] = op_xor,
    [MD_OP_ARG_MAX] = op_arg_max,
    [MD_OP_ARG_MIN] = op_arg_min,
    [MD_OP_GEN_INIT] = op_gen_init,
    [MD_OP_GEN_WINDOW] = op_gen_window,
    [MD_OP_GEN_SELECT] = op_gen_select,
    [MD_OP_QUANTIZE_LINEAR] = op_quantize_linear,
    [MD_OP_DEQUANTIZE_LINEAR] = op_dequantize_linear,
    [MD_OP_QLINEAR_MATMUL] = op_qlinear_matmul,
    [MD_OP_MATMUL_INTEGER] = op_matmul_integer,
    [MD_OP_QLINEAR_CONV] = op_qlinear_conv,
    [MD_OP_CONV_INTEGER] = op_conv_integer,
    [MD_OP_QGEMM] = op_qgemm,
};

md_kernel md_kernel_for(uint32_t op) {
  return op <= MD_OP_MAX_ID ? OP_TABLE[op] : NULL;
}

/* ---- attributes ------------------------------------------------------------------------------ */
const md_attr *md_find_attr(const md_node *node, uint32_t key) {
  for (uint32_t i = 0; i < node->n_attrs; i++)
    if (node->attrs[i].key == key) return &node->attrs[i];
  return NULL;
}

int md_attr_int(const md_node *node, uint32_t key, int32_t dflt, int32_t *out) {
  const md_attr *a = md_find_attr(node, key);
  if (a == NULL) {
    *out = dflt;
    return MD_OK;
  }
  if (a->type != MD_ATTR_INT) return MD_ERR_BAD_ATTRIBUTE;
  *out = (int32_t)a->values[0];
  return MD_OK;
}

int md_attr_float(const md_node *node, uint32_t key, float32_t dflt, float32_t *out) {
  const md_attr *a = md_find_attr(node, key);
  if (a == NULL) {
    *out = dflt;
    return MD_OK;
  }
  if (a->type != MD_ATTR_FLOAT) return MD_ERR_BAD_ATTRIBUTE;
  out->v = a->values[0];
  return MD_OK;
}

static int attr_list(const md_node *node, uint32_t key, uint32_t type, uint32_t *out, uint32_t cap,
                     uint32_t *count) {
  const md_attr *a = md_find_attr(node, key);
  *count = 0;
  if (a == NULL) return MD_OK;
  if (a->type != type || a->count > cap) return MD_ERR_BAD_ATTRIBUTE;
  for (uint32_t i = 0; i < a->count; i++) out[i] = a->values[i];
  *count = a->count;
  return MD_OK;
}

int md_attr_ints(const md_node *node, uint32_t key, int32_t *out, uint32_t cap, uint32_t *count) {
  return attr_list(node, key, MD_ATTR_INTS, (uint32_t *)out, cap, count);
}

int md_attr_floats(const md_node *node, uint32_t key, float32_t *out, uint32_t cap, uint32_t *count) {
  return attr_list(node, key, MD_ATTR_FLOATS, (uint32_t *)(void *)out, cap, count);
}

/* ---- shapes ------------------------------------------------------------------------------------ */
int md_same_shape(const md_tensor *a, const md_tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (uint32_t d = 0; d < a->ndim; d++)
    if (a->dims[d] != b->dims[d]) return 0;
  return 1;
}

int md_norm_axis(int32_t axis, uint32_t ndim, uint32_t *out) {
  int32_t n = (int32_t)ndim;
  if (axis < -n || axis >= n) return MD_ERR_BAD_ATTRIBUTE;
  *out = (uint32_t)(axis < 0 ? axis + n : axis);
  return MD_OK;
}

int md_check_arity(const md_node *node, const md_tensor *const *in, uint32_t min_in,
                   uint32_t max_in, uint32_t n_out) {
  if (node->n_inputs < min_in || node->n_inputs > max_in || node->n_outputs != n_out)
    return MD_ERR_BAD_ARITY;
  for (uint32_t i = 0; i < min_in; i++)
    if (in[i] == NULL) return MD_ERR_BAD_ARITY;
  return MD_OK;
}

/* ---- freestanding libc (VM build only; the host uses its libc) ------------------------------ */
#if defined(__mips__)
void *memcpy(void *dst, const void *src, size_t n) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  if ((((uintptr_t)d | (uintptr_t)s | n) & 3u) == 0) {
    uint32_t *dw = dst;
    const uint32_t *sw = src;
    for (size_t i = 0; i < n / 4; i++) dw[i] = sw[i];
    return dst;
  }
  for (size_t i = 0; i < n; i++) d[i] = s[i];
  return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  if (d <= s || d >= s + n) {
    for (size_t i = 0; i < n; i++) d[i] = s[i];
  } else {
    for (size_t i = n; i > 0; i--) d[i - 1] = s[i - 1];
  }
  return dst;
}

void *memset(void *dst, int c, size_t n) {
  uint8_t *d = dst;
  for (size_t i = 0; i < n; i++) d[i] = (uint8_t)c;
  return dst;
}
#endif
