/* minidnn: tensors, nodes, the kernel signature, error codes and every op kernel.
 *
 * Every float operation goes through Berkeley SoftFloat (float32_t, round-to-nearest-even,
 * no FMA). Data are float32 bit patterns (float32_t = struct { uint32_t v; }), little-endian in
 * memory on both targets (host and mipsel). Shapes are static: the model stores the shape of
 * every tensor; the executor allocates each output before calling its kernel, and the kernel
 * checks that the shapes it is given are consistent (else MD_ERR_SHAPE).
 *
 * Kernel rules: no malloc, no globals, no scratch memory (write into the outputs only; an
 * output never aliases an input), fixed loop/summation order, canonical NaN (0x7fc00000) for
 * any NaN that leaves an op. Helpers for attributes and shapes are in this header.
 */
#ifndef MINIDNN_OPS_H
#define MINIDNN_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "softfloat.h"

/* ---- error codes (main() returns these in the VM; docs/model-format.md §Errors) ---------- */
enum {
  MD_OK = 0,
  MD_ERR_BAD_MAGIC = 1,        /* first 4 bytes are not "MDNN" */
  MD_ERR_BAD_VERSION = 2,      /* format version not supported */
  MD_ERR_TRUNCATED = 3,        /* blob shorter than its header / its declared length */
  MD_ERR_BAD_OFFSET = 4,       /* a table/array/data offset or size lies outside the blob */
  MD_ERR_BAD_ALIGNMENT = 5,    /* an offset is not aligned (4 bytes; weights 32 bytes) */
  MD_ERR_BAD_TENSOR = 6,       /* bad tensor record: dtype, kind, ndim, dims, element count */
  MD_ERR_UNKNOWN_OP = 7,       /* node op id not in the op table */
  MD_ERR_BAD_ARITY = 8,        /* wrong number of node inputs/outputs, or a missing required input */
  MD_ERR_BAD_ATTRIBUTE = 9,    /* unknown attribute key/type, bad count or value */
  MD_ERR_SHAPE = 10,           /* tensor shapes inconsistent with the op */
  MD_ERR_BAD_GRAPH = 11,       /* tensor index out of range, read before written, written twice */
  MD_ERR_ARENA = 12,           /* scratch arena exhausted */
  MD_ERR_INPUT_SIZE = 13,      /* input buffer size != input tensor size */
  MD_ERR_OUTPUT_SIZE = 14,     /* output buffer size != output tensor size */
  MD_ERR_INDEX = 15,           /* Gather index out of range at run time */
  MD_ERR_UNSUPPORTED = 16,     /* valid ONNX but not supported here (e.g. Resize mode) */
  MD_ERR_BAD_HEADER = 17,      /* reserved header fields nonzero, flags unknown */
};

/* ---- op ids (docs/model-format.md §Ops; minidnn/format.py OP_IDS) ------------------------ */
enum {
  MD_OP_IDENTITY = 1,
  MD_OP_RESHAPE = 2,
  MD_OP_FLATTEN = 3,
  MD_OP_TRANSPOSE = 4,
  MD_OP_CONCAT = 5,
  MD_OP_SQUEEZE = 6,
  MD_OP_UNSQUEEZE = 7,
  MD_OP_GATHER = 8,
  MD_OP_RESIZE = 9,
  MD_OP_GEMM = 16,
  MD_OP_MATMUL = 17,
  MD_OP_CONV = 24,
  MD_OP_CONV_TRANSPOSE = 25,
  MD_OP_MAX_POOL = 26,
  MD_OP_AVERAGE_POOL = 27,
  MD_OP_GLOBAL_AVERAGE_POOL = 28,
  MD_OP_RELU = 32,
  MD_OP_LEAKY_RELU = 33,
  MD_OP_CLIP = 34,
  MD_OP_SIGMOID = 35,
  MD_OP_TANH = 36,
  MD_OP_GELU = 37,
  MD_OP_ERF = 38,
  MD_OP_ADD = 40,
  MD_OP_SUB = 41,
  MD_OP_MUL = 42,
  MD_OP_DIV = 43,
  MD_OP_BATCH_NORM = 48,
  MD_OP_LAYER_NORM = 49,
  MD_OP_SOFTMAX = 50,
  MD_OP_LOG_SOFTMAX = 51,
  MD_OP_MAX_ID = 63,
};

/* ---- attribute keys and types (docs/model-format.md §Attributes) ------------------------- */
enum {
  MD_ATTR_ALPHA = 1,           /* float: Gemm alpha, LeakyRelu alpha */
  MD_ATTR_BETA = 2,            /* float: Gemm beta */
  MD_ATTR_TRANS_A = 3,         /* int: Gemm transA */
  MD_ATTR_TRANS_B = 4,         /* int: Gemm transB */
  MD_ATTR_AXIS = 5,            /* int: Flatten, Concat, Gather, Softmax, LogSoftmax, LayerNorm (may be < 0) */
  MD_ATTR_AXES = 6,            /* ints: Squeeze, Unsqueeze */
  MD_ATTR_EPSILON = 7,         /* float: BatchNorm, LayerNorm */
  MD_ATTR_GROUP = 8,           /* int: Conv, ConvTranspose */
  MD_ATTR_KERNEL_SHAPE = 9,    /* ints: Conv*, pools */
  MD_ATTR_PADS = 10,           /* ints: [h_begin, w_begin, h_end, w_end] (ONNX order) */
  MD_ATTR_STRIDES = 11,        /* ints */
  MD_ATTR_DILATIONS = 12,      /* ints */
  MD_ATTR_PERM = 13,           /* ints: Transpose */
  MD_ATTR_MIN = 14,            /* float: Clip (default -inf) */
  MD_ATTR_MAX = 15,            /* float: Clip (default +inf) */
  MD_ATTR_OUTPUT_PADDING = 16, /* ints: ConvTranspose */
  MD_ATTR_CEIL_MODE = 17,      /* int: pools (only affects the stored output shape) */
  MD_ATTR_COUNT_INCLUDE_PAD = 18, /* int: AveragePool */
  MD_ATTR_APPROXIMATE = 19,    /* int: Gelu, 0 = none (erf), 1 = tanh */
  MD_ATTR_COORD_MODE = 20,     /* int: Resize coordinate_transformation_mode, see MD_COORD_* */
  MD_ATTR_NEAREST_MODE = 21,   /* int: Resize nearest_mode, see MD_NEAREST_* */
  MD_ATTR_SCALES = 22,         /* floats: Resize scales per axis (default out/in) */
  MD_ATTR_MAX_KEY = 31,
};

enum { MD_ATTR_INT = 0, MD_ATTR_FLOAT = 1, MD_ATTR_INTS = 2, MD_ATTR_FLOATS = 3 };

enum { MD_COORD_HALF_PIXEL = 0, MD_COORD_ASYMMETRIC = 1, MD_COORD_ALIGN_CORNERS = 2,
       MD_COORD_PYTORCH_HALF_PIXEL = 3 };
enum { MD_NEAREST_ROUND_PREFER_FLOOR = 0, MD_NEAREST_ROUND_PREFER_CEIL = 1,
       MD_NEAREST_FLOOR = 2, MD_NEAREST_CEIL = 3 };

/* ---- limits ------------------------------------------------------------------------------ */
#define MD_MAX_DIMS 6          /* max tensor rank */
#define MD_MAX_IO 32           /* max inputs (or outputs) of one node */
#define MD_CANONICAL_NAN 0x7fc00000u

enum { MD_DTYPE_F32 = 0, MD_DTYPE_I32 = 1 };

/* ---- tensors and nodes ------------------------------------------------------------------- */
typedef struct {
  uint32_t dtype;              /* MD_DTYPE_F32 or MD_DTYPE_I32 (constants only, e.g. Gather indices) */
  uint32_t ndim;               /* 0..MD_MAX_DIMS (0 = scalar, size 1) */
  uint32_t dims[MD_MAX_DIMS];  /* unused dims are 1 */
  uint32_t size;               /* number of elements = product of dims */
  float32_t *data;             /* f32 bit patterns; for I32 read as (int32_t) data[i].v */
} md_tensor;

typedef struct {
  uint32_t key;                /* MD_ATTR_* */
  uint32_t type;               /* MD_ATTR_INT .. MD_ATTR_FLOATS */
  uint32_t count;              /* 1 for scalars, element count for lists */
  const uint32_t *values;      /* count words (int32 or float32 bits), validated in bounds */
} md_attr;

typedef struct {
  uint32_t op;                 /* MD_OP_* */
  uint32_t n_inputs;
  uint32_t n_outputs;
  uint32_t n_attrs;
  const md_attr *attrs;        /* n_attrs parsed, validated attributes */
} md_node;

/* A kernel. in[i] is NULL for an absent optional input (e.g. Gemm without C). Outputs are
 * allocated with their stored shapes; the kernel validates shapes/attributes and fills them.
 * Returns MD_OK or an MD_ERR_* code. */
typedef int (*md_kernel)(const md_node *node, const md_tensor *const *in, md_tensor *const *out);

/* ---- attribute helpers (ops.c). A missing attribute yields the default; a present one with
 * the wrong type/count makes the *_checked variants return MD_ERR_BAD_ATTRIBUTE. --------- */
const md_attr *md_find_attr(const md_node *node, uint32_t key);
int md_attr_int(const md_node *node, uint32_t key, int32_t dflt, int32_t *out);
int md_attr_float(const md_node *node, uint32_t key, float32_t dflt, float32_t *out);
/* Copies up to `cap` ints into out, sets *count (0 if absent). Error if count > cap. */
int md_attr_ints(const md_node *node, uint32_t key, int32_t *out, uint32_t cap, uint32_t *count);
int md_attr_floats(const md_node *node, uint32_t key, float32_t *out, uint32_t cap, uint32_t *count);

/* ---- shape helpers (ops.c) ---------------------------------------------------------------- */
int md_same_shape(const md_tensor *a, const md_tensor *b);
/* Normalizes a possibly negative axis for rank `ndim` (axis in [-ndim, ndim)); error if out of range. */
int md_norm_axis(int32_t axis, uint32_t ndim, uint32_t *out);
/* Checks n_inputs in [min_in, max_in], n_outputs == n_out and that in[0..min_in) are present. */
int md_check_arity(const md_node *node, const md_tensor *const *in, uint32_t min_in,
                   uint32_t max_in, uint32_t n_out);
/* A float32_t from its bit pattern. */
static inline float32_t md_f32(uint32_t bits) { float32_t f; f.v = bits; return f; }

/* ---- freestanding libc pieces (ops.c; the compiler may emit calls to these) ---------------- */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
void *memmove(void *dst, const void *src, size_t n);

/* ---- kernels ------------------------------------------------------------------------------ */
/* ops_dense.c */
int op_gemm(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_matmul(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
/* ops_conv.c */
int op_conv(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_conv_transpose(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_max_pool(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_average_pool(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_global_average_pool(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
/* ops_shape.c */
int op_reshape(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_flatten(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_transpose(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_concat(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_squeeze(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_unsqueeze(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_gather(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_resize(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_identity(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
/* [M] ops_elementwise.c */
int op_relu(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_leaky_relu(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_clip(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_sigmoid(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_tanh(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_gelu(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_erf(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_add(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_sub(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_mul(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_div(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
/* [M] ops_norm.c */
int op_batch_norm(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_layer_norm(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_softmax(const md_node *node, const md_tensor *const *in, md_tensor *const *out);
int op_log_softmax(const md_node *node, const md_tensor *const *in, md_tensor *const *out);

/* The op table (ops.c): kernel for an op id, or NULL if unknown. */
md_kernel md_kernel_for(uint32_t op);

#endif
