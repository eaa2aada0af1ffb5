/* minidnn: .mdnn reader (validates every offset, size, op id) and the graph executor.
 * Layout: docs/model-format.md. Nothing here reads outside [blob, blob + length).
 * The format numbers below copy minidnn/format.py (tests/test_shared_numbers.py compares them). */
#include "runtime.h"

#define HEADER_SIZE 64u
#define TENSOR_REC 48u
#define NODE_REC 32u
#define ATTR_REC 16u
#define MAX_ELEMENTS (1u << 26)
#define MAX_LIST 64u
#define MAX_ATTRS 32u
#define KIND_VALUE 0u
#define KIND_CONSTANT 1u
#define MAGIC 0x4e4e444du /* "MDNN" little-endian */
#define VERSION 2u
#define CHECKSUM_OFFSET 40u /* u32 CRC-32 for file integrity: checked on the host (format.py), not here */
#define DATA_ALIGN 32u /* constant data offsets and total_length */

static uint32_t rd(const uint8_t *blob, uint32_t off) {
  return *(const uint32_t *)(const void *)(blob + off);
}

static uint32_t round32(uint32_t n) { return (n + 31u) & ~31u; }

/* [off, off + count * elsize) lies inside [0, len). */
static int in_range(uint32_t off, uint32_t count, uint32_t elsize, uint32_t len) {
  return off <= len && count <= (len - off) / elsize;
}

/* Checks a 4-aligned array of count records of elsize bytes at off. */
static int check_array(uint32_t off, uint32_t count, uint32_t elsize, uint32_t len) {
  if (count == 0) return MD_OK;
  if (off & 3u) return MD_ERR_BAD_ALIGNMENT;
  if (!in_range(off, count, elsize, len)) return MD_ERR_BAD_OFFSET;
  return MD_OK;
}

/* Validates one tensor record and returns its element count in *size. */
/* Which ops may read or write integer tensors is checked per node (load_step). */
static int check_tensor(const uint8_t *blob, uint32_t len, uint32_t rec, uint32_t *size) {
  uint32_t kind = rd(blob, rec), dtype = rd(blob, rec + 4), ndim = rd(blob, rec + 8);
  if (kind > KIND_CONSTANT || dtype > MD_DTYPE_U8 || ndim > MD_MAX_DIMS) return MD_ERR_BAD_TENSOR;
  uint32_t n = 1;
  for (uint32_t d = 0; d < MD_MAX_DIMS; d++) {
    uint32_t dim = rd(blob, rec + 12 + 4 * d);
    if (d >= ndim) {
      if (dim != 1) return MD_ERR_BAD_TENSOR;
      continue;
    }
    if (dim == 0 || dim > MAX_ELEMENTS || n > MAX_ELEMENTS / dim) return MD_ERR_BAD_TENSOR;
    n *= dim;
  }
  uint32_t data_off = rd(blob, rec + 36), name_off = rd(blob, rec + 40), name_len = rd(blob, rec + 44);
  if (kind == KIND_CONSTANT) {
    if (data_off & (DATA_ALIGN - 1u)) return MD_ERR_BAD_ALIGNMENT;
    if (!in_range(data_off, n, 4, len)) return MD_ERR_BAD_OFFSET;
  } else if (data_off != 0) {
    return MD_ERR_BAD_TENSOR;
  }
  if (!in_range(name_off, name_len, 1, len)) return MD_ERR_BAD_OFFSET;
  *size = n;
  return MD_OK;
}

int md_plan(const uint8_t *blob, uint32_t avail, md_info *info) {
  if (((uintptr_t)blob & 3u) != 0) return MD_ERR_BAD_ALIGNMENT;
  if (avail < HEADER_SIZE) return MD_ERR_TRUNCATED;
  if (rd(blob, 0) != MAGIC) return MD_ERR_BAD_MAGIC;
  if (rd(blob, 4) != VERSION) return MD_ERR_BAD_VERSION;
  uint32_t len = rd(blob, 8);
  if (len < HEADER_SIZE || len > avail) return MD_ERR_TRUNCATED;
  if (len & (DATA_ALIGN - 1u)) return MD_ERR_BAD_ALIGNMENT;
  uint32_t flags = rd(blob, 12);
  if (flags & ~MD_FLAG_GENERATE) return MD_ERR_BAD_HEADER;
  for (uint32_t off = CHECKSUM_OFFSET + 4u; off < HEADER_SIZE; off += 4)
    if (rd(blob, off) != 0) return MD_ERR_BAD_HEADER;
  uint32_t n_t = rd(blob, 16), t_off = rd(blob, 20), n_n = rd(blob, 24), n_off = rd(blob, 28);
  uint32_t input = rd(blob, 32), output = rd(blob, 36);
  int rc = check_array(t_off, n_t, TENSOR_REC, len);
  if (rc) return rc;
  rc = check_array(n_off, n_n, NODE_REC, len);
  if (rc) return rc;
  if (input >= n_t || output >= n_t) return MD_ERR_BAD_TENSOR;
  if (rd(blob, t_off + TENSOR_REC * input) != KIND_VALUE) return MD_ERR_BAD_TENSOR;

  /* Arena: the same allocations md_load makes, in any order (sizes add up the same). */
  uint64_t need = round32(n_t * (uint32_t)sizeof(md_tensor)) + (uint64_t)round32(n_t);
  need += round32(n_n * (uint32_t)sizeof(md_step));
  if ((uint64_t)n_t * sizeof(md_tensor) > 0xffffffffu || (uint64_t)n_n * sizeof(md_step) > 0xffffffffu)
    return MD_ERR_ARENA;
  for (uint32_t i = 0; i < n_t; i++) {
    uint32_t rec = t_off + TENSOR_REC * i, size = 0;
    rc = check_tensor(blob, len, rec, &size);
    if (rc) return rc;
    if (i == input) {
      info->input_ndim = rd(blob, rec + 8);
      for (uint32_t d = 0; d < MD_MAX_DIMS; d++) info->input_dims[d] = rd(blob, rec + 12 + 4 * d);
      info->input_size = size;
      info->input_dtype = rd(blob, rec + 4);
    }
    if (i == output) {
      info->output_ndim = rd(blob, rec + 8);
      for (uint32_t d = 0; d < MD_MAX_DIMS; d++) info->output_dims[d] = rd(blob, rec + 12 + 4 * d);
      info->output_size = size;
      info->output_dtype = rd(blob, rec + 4);
    }
    if (rd(blob, rec) == KIND_VALUE && i != input && i != output) need += round32(4 * size);
  }
  for (uint32_t i = 0; i < n_n; i++) {
    uint32_t n_attrs = rd(blob, n_off + NODE_REC * i + 20);
    if (n_attrs > MAX_ATTRS) return MD_ERR_BAD_ATTRIBUTE;
    need += round32(n_attrs * (uint32_t)sizeof(md_attr));
  }
  if (need > 0xffffffffu) return MD_ERR_ARENA;
  info->length = len;
  info->arena_bytes = (uint32_t)need;
  info->n_tensors = n_t;
  info->n_nodes = n_n;
  info->flags = flags;
  info->context = 0;
  info->vocab = 0;
  if (flags & MD_FLAG_GENERATE) return md_generate_plan(info);
  return MD_OK;
}

static void load_tensor(const uint8_t *blob, uint32_t rec, md_tensor *t) {
  t->dtype = rd(blob, rec + 4);
  t->ndim = rd(blob, rec + 8);
  t->size = 1;
  for (uint32_t d = 0; d < MD_MAX_DIMS; d++) {
    t->dims[d] = rd(blob, rec + 12 + 4 * d);
    t->size *= t->dims[d];
  }
  t->data = NULL;
  if (rd(blob, rec) == KIND_CONSTANT)
    t->data = (float32_t *)(uintptr_t)(blob + rd(blob, rec + 36));
}

static int load_attrs(const uint8_t *blob, uint32_t len, uint32_t off, uint32_t n, md_attr *attrs) {
  int rc = check_array(off, n, ATTR_REC, len);
  if (rc) return rc;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t rec = off + ATTR_REC * i;
    md_attr *a = &attrs[i];
    a->key = rd(blob, rec);
    a->type = rd(blob, rec + 4);
    a->count = rd(blob, rec + 8);
    if (a->key == 0 || a->key > MD_ATTR_SELECT_LAST_INDEX || a->type > MD_ATTR_FLOATS) return MD_ERR_BAD_ATTRIBUTE;
    if (a->type == MD_ATTR_INT || a->type == MD_ATTR_FLOAT) {
      if (a->count != 1) return MD_ERR_BAD_ATTRIBUTE;
      a->values = (const uint32_t *)(const void *)(blob + rec + 12);
    } else {
      uint32_t v = rd(blob, rec + 12);
      if (a->count > MAX_LIST) return MD_ERR_BAD_ATTRIBUTE;
      rc = check_array(v, a->count, 4, len);
      if (rc) return rc;
      a->values = (const uint32_t *)(const void *)(blob + (a->count ? v : rec + 12));
    }
  }
  return MD_OK;
}

/* Ops that read or write int8 / uint8 tensors and int32 values and check their dtypes
 * themselves (the integer path, the shape-only copies, MaxPool and the generation state ops). */
static int integer_op(uint32_t op) {
  switch (op) {
    case MD_OP_QUANTIZE_LINEAR: case MD_OP_DEQUANTIZE_LINEAR: case MD_OP_QLINEAR_MATMUL:
    case MD_OP_MATMUL_INTEGER: case MD_OP_QLINEAR_CONV: case MD_OP_CONV_INTEGER: case MD_OP_QGEMM:
    case MD_OP_IDENTITY: case MD_OP_RESHAPE: case MD_OP_FLATTEN: case MD_OP_SQUEEZE: case MD_OP_UNSQUEEZE:
    case MD_OP_MAX_POOL:
    case MD_OP_GEN_INIT: case MD_OP_GEN_WINDOW: case MD_OP_GEN_SELECT:   /* generate.c checks them */
      return 1;
    default:
      return 0;
  }
}

/* Every other op writes float32 and reads no int8 / uint8 tensor and no int32 value other than
 * the model input (Cast also reads int32 values: an integer op's sums). */
static int check_dtypes(const md_model *m, const md_step *s) {
  if (integer_op(s->node.op)) return MD_OK;
  uint32_t t_off = rd(m->blob, 20);
  for (uint32_t i = 0; i < s->node.n_inputs; i++) {
    uint32_t t = s->inputs[i];
    if (t == MD_ABSENT) continue;
    uint32_t dtype = m->tensors[t].dtype;
    if (dtype == MD_DTYPE_I8 || dtype == MD_DTYPE_U8) return MD_ERR_BAD_TENSOR;
    if (dtype == MD_DTYPE_I32 && t != m->input && s->node.op != MD_OP_CAST &&
        rd(m->blob, t_off + TENSOR_REC * t) == KIND_VALUE)
      return MD_ERR_BAD_TENSOR;
  }
  for (uint32_t i = 0; i < s->node.n_outputs; i++)
    if (m->tensors[s->outputs[i]].dtype != MD_DTYPE_F32) return MD_ERR_BAD_TENSOR;
  return MD_OK;
}

/* Parses node i: op id, kernel, index arrays, attributes, and the graph order rules. */
static int load_step(md_model *m, uint32_t rec, uint8_t *written, md_arena *arena, md_step *s) {
  const uint8_t *blob = m->blob;
  uint32_t len = m->length;
  s->node.op = rd(blob, rec);
  s->kernel = md_kernel_for(s->node.op);
  if (s->kernel == NULL) return MD_ERR_UNKNOWN_OP;
  uint32_t n_in = rd(blob, rec + 4), in_off = rd(blob, rec + 8);
  uint32_t n_out = rd(blob, rec + 12), out_off = rd(blob, rec + 16);
  uint32_t n_attrs = rd(blob, rec + 20), attr_off = rd(blob, rec + 24);
  if (rd(blob, rec + 28) != 0) return MD_ERR_BAD_GRAPH;
  if (n_in > MD_MAX_IO || n_out == 0 || n_out > MD_MAX_IO) return MD_ERR_BAD_ARITY;
  int rc = check_array(in_off, n_in, 4, len);
  if (rc) return rc;
  rc = check_array(out_off, n_out, 4, len);
  if (rc) return rc;
  s->node.n_inputs = n_in;
  s->node.n_outputs = n_out;
  s->node.n_attrs = n_attrs;
  s->inputs = (const uint32_t *)(const void *)(blob + (n_in ? in_off : rec));
  s->outputs = (const uint32_t *)(const void *)(blob + out_off);
  md_attr *attrs = md_arena_alloc(arena, n_attrs * (uint32_t)sizeof(md_attr));
  if (attrs == NULL) return MD_ERR_ARENA;
  rc = load_attrs(blob, len, attr_off, n_attrs, attrs);
  if (rc) return rc;
  s->node.attrs = attrs;
  for (uint32_t i = 0; i < n_in; i++) {
    uint32_t t = s->inputs[i];
    if (t == MD_ABSENT) continue;
    if (t >= m->n_tensors || !written[t]) return MD_ERR_BAD_GRAPH;
  }
  for (uint32_t i = 0; i < n_out; i++) {
    uint32_t t = s->outputs[i];
    if (t >= m->n_tensors || written[t]) return MD_ERR_BAD_GRAPH;
    written[t] = 1;
  }
  if ((rc = check_dtypes(m, s))) return rc;
  for (uint32_t i = 0; i < n_out; i++) {
    uint32_t t = s->outputs[i];
    if (t == m->output) continue; /* bound to the caller's output buffer in md_run */
    md_tensor *tensor = &m->tensors[t];
    tensor->data = md_arena_alloc(arena, 4 * tensor->size);
    if (tensor->data == NULL) return MD_ERR_ARENA;
  }
  return MD_OK;
}

int md_load(md_model *m, const uint8_t *blob, uint32_t avail, md_arena *arena) {
  md_info info;
  int rc = md_plan(blob, avail, &info);
  if (rc) return rc;
  m->blob = blob;
  m->length = info.length;
  m->n_tensors = info.n_tensors;
  m->n_nodes = info.n_nodes;
  m->input = rd(blob, 32);
  m->output = rd(blob, 36);
  m->flags = info.flags;
  m->tensors = md_arena_alloc(arena, m->n_tensors * (uint32_t)sizeof(md_tensor));
  m->steps = md_arena_alloc(arena, m->n_nodes * (uint32_t)sizeof(md_step));
  uint8_t *written = md_arena_alloc(arena, m->n_tensors);
  if ((m->n_tensors && (m->tensors == NULL || written == NULL)) || (m->n_nodes && m->steps == NULL))
    return MD_ERR_ARENA;
  uint32_t t_off = rd(blob, 20), n_off = rd(blob, 28);
  for (uint32_t i = 0; i < m->n_tensors; i++) {
    uint32_t rec = t_off + TENSOR_REC * i;
    load_tensor(blob, rec, &m->tensors[i]);
    written[i] = (uint8_t)(rd(blob, rec) == KIND_CONSTANT || i == m->input);
  }
  for (uint32_t i = 0; i < m->n_nodes; i++) {
    rc = load_step(m, n_off + NODE_REC * i, written, arena, &m->steps[i]);
    if (rc) return rc;
  }
  if (!written[m->output]) return MD_ERR_BAD_GRAPH;
  return MD_OK;
}

static int run_step(md_model *m, const md_step *s) {
  const md_tensor *in[MD_MAX_IO];
  md_tensor *out[MD_MAX_IO];
  for (uint32_t i = 0; i < s->node.n_inputs; i++)
    in[i] = s->inputs[i] == MD_ABSENT ? NULL : &m->tensors[s->inputs[i]];
  for (uint32_t i = 0; i < s->node.n_outputs; i++) out[i] = &m->tensors[s->outputs[i]];
  return s->kernel(&s->node, in, out);
}

int md_execute(md_model *m) {
  for (uint32_t i = 0; i < m->n_nodes; i++) {
    int rc = run_step(m, &m->steps[i]);
    if (rc) return rc;
  }
  return MD_OK;
}

int md_run(const uint8_t *blob, uint32_t avail, const float32_t *input, uint32_t input_len,
           float32_t *output, uint32_t output_len, uint8_t *arena_mem, uint32_t arena_size) {
  md_arena arena = {arena_mem, arena_size, 0};
  md_model m;
  int rc = md_load(&m, blob, avail, &arena);
  if (rc) return rc;
  if (m.flags & MD_FLAG_GENERATE)
    return md_generate(&m, &arena, (const uint32_t *)(const void *)input, input_len,
                       (uint32_t *)(void *)output, output_len);
  md_tensor *x = &m.tensors[m.input], *y = &m.tensors[m.output];
  if (input_len != x->size) return MD_ERR_INPUT_SIZE;
  if (output_len != y->size) return MD_ERR_OUTPUT_SIZE;
  x->data = (float32_t *)(uintptr_t)input;
  int copy_out = m.output == m.input || y->data != NULL; /* the input itself or a constant */
  if (!copy_out) y->data = output;
  rc = md_execute(&m);
  if (rc) return rc;
  if (copy_out) memcpy(output, y->data, 4u * y->size);
  return MD_OK;
}
