/* minidnn runtime: arena, model loader/validator, graph executor (the API both builds use). */
#ifndef MINIDNN_RUNTIME_H
#define MINIDNN_RUNTIME_H

#include "ops.h"

/* Bump allocator over caller-provided memory. Every allocation is 32-byte aligned. */
typedef struct {
  uint8_t *base;
  uint32_t size;
  uint32_t used;
} md_arena;

void *md_arena_alloc(md_arena *arena, uint32_t bytes);

/* One graph step: the parsed node and its tensor index arrays (pointing into the blob). */
typedef struct {
  md_node node;
  const uint32_t *inputs;  /* node.n_inputs indices, MD_ABSENT = absent */
  const uint32_t *outputs; /* node.n_outputs indices */
  md_kernel kernel;
} md_step;

#define MD_ABSENT 0xffffffffu

/* Header flags (offset 12; minidnn/format.py FLAG_*): a generation model maps a request to the
 * ids it generates (docs/model-format.md, Generation models). Other bits: MD_ERR_BAD_HEADER. */
#define MD_FLAG_GENERATE 1u
/* Words before the prompt ids in a generation request: n, k, temperature bits, seed. */
#define MD_GEN_HEADER_WORDS 4u

/* A loaded, fully validated model. All arrays live in the arena. */
typedef struct {
  const uint8_t *blob;
  uint32_t length;
  uint32_t n_tensors;
  uint32_t n_nodes;
  uint32_t input;          /* tensor index of the model input */
  uint32_t output;         /* tensor index of the model output */
  uint32_t flags;          /* header flags (MD_FLAG_*) */
  md_tensor *tensors;
  md_step *steps;
} md_model;

/* Static facts about a model (md_plan): shapes and the arena size md_run needs. */
typedef struct {
  uint32_t length;
  uint32_t input_ndim;
  uint32_t input_dims[MD_MAX_DIMS];
  uint32_t input_size;     /* elements */
  uint32_t output_ndim;
  uint32_t output_dims[MD_MAX_DIMS];
  uint32_t output_size;    /* elements */
  uint32_t arena_bytes;    /* exact arena bytes md_load + md_run allocate */
  uint32_t n_tensors;
  uint32_t n_nodes;
  uint32_t input_dtype;    /* MD_DTYPE_F32, or an integer type (e.g. token ids; a node's int8 input) */
  uint32_t output_dtype;   /* MD_DTYPE_F32, or an integer type (a generation model's ids; a node's int8 output) */
  uint32_t flags;          /* header flags (MD_FLAG_*) */
  uint32_t context;        /* generation models: the context window T (else 0) */
  uint32_t vocab;          /* generation models: the vocabulary size V (else 0) */
} md_info;

/* For a generation model (md_plan has filled info from the graph): checks the graph's input
 * (int32, T ids) and output (float32 logits [.., T, V]) and turns info into the request/response
 * view: input = MD_GEN_HEADER_WORDS + T int32 words, output = T int32 ids, plus the arena the
 * generation loop needs. */
int md_generate_plan(md_info *info);
/* Runs a loaded generation model on one request (docs/model-format.md, Generation models). */
int md_generate(md_model *m, md_arena *arena, const uint32_t *request, uint32_t request_len,
                uint32_t *ids, uint32_t ids_len);
/* Runs every node of a loaded model in order (input and output tensors bound by the caller). */
int md_execute(md_model *m);

/* Validates the header and tables (bounds, alignment) and fills info. */
int md_plan(const uint8_t *blob, uint32_t avail, md_info *info);
/* Validates everything (tensors, nodes, op ids, attributes, graph order) and builds the model;
 * value tensors get arena buffers. */
int md_load(md_model *model, const uint8_t *blob, uint32_t avail, md_arena *arena);
/* Loads the model, binds input (input_len elements of 4 bytes: float32 or int32 words) and output
 * (output_len elements) and runs every node in order; a generation model (MD_FLAG_GENERATE) runs
 * md_generate instead (input = the request words, output = the ids). Returns MD_OK or the first
 * error. */
int md_run(const uint8_t *blob, uint32_t avail, const float32_t *input, uint32_t input_len,
           float32_t *output, uint32_t output_len, uint8_t *arena, uint32_t arena_size);

#endif
