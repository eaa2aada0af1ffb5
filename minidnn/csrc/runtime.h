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

/* A loaded, fully validated model. All arrays live in the arena. */
typedef struct {
  const uint8_t *blob;
  uint32_t length;
  uint32_t n_tensors;
  uint32_t n_nodes;
  uint32_t input;          /* tensor index of the model input */
  uint32_t output;         /* tensor index of the model output */
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
  uint32_t input_dtype;    /* MD_DTYPE_F32, or MD_DTYPE_I32 (e.g. token ids) */
} md_info;

/* Validates the header and tables (bounds, alignment) and fills info. */
int md_plan(const uint8_t *blob, uint32_t avail, md_info *info);
/* Validates everything (tensors, nodes, op ids, attributes, graph order) and builds the model;
 * value tensors get arena buffers. */
int md_load(md_model *model, const uint8_t *blob, uint32_t avail, md_arena *arena);
/* Loads the model, binds input (input_len elements of 4 bytes: float32 or int32 words) and output (output_len elements) and runs
 * every node in order. Returns MD_OK or the first error. */
int md_run(const uint8_t *blob, uint32_t avail, const float32_t *input, uint32_t input_len,
           float32_t *output, uint32_t output_len, uint8_t *arena, uint32_t arena_size);

#endif
