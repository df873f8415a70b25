/* internal.h: what autograd's own sources share — the context, tape nodes, the op table, and the
 * helpers every op uses to make its output and record itself. Not part of the public API. */
#ifndef TG_AUTOGRAD_INTERNAL_H
#define TG_AUTOGRAD_INTERNAL_H

#include <stdio.h>

#include "autograd/autograd.h"
#include "autograd/kernels/kernels.h"

#define TG_NODE_MAX_IN 4   /* the residual op: x, f(x), gain, bias */

/* Tensor flags of autograd's own (the public ones are the low bits). */
enum {
    TG__TENSOR_KEEP = 1u << 16,   /* a recorded backward reads its values: never released */
    TG__TENSOR_VIEW = 1u << 17,   /* a reshape: its values are its input's */
};

/* One recorded op. Fixed size; op-specific values go in i[]/f[] and arena buffers in saved[]. */
typedef struct tg_node {
    tg_op op;
    int n_in;
    tg_tensor *in[TG_NODE_MAX_IN];
    tg_tensor *out;
    void *saved[2];         /* arena buffers kept for backward (mask, mean/rstd, ids...) */
    size_t saved_bytes;     /* their size (and the op's other arena scratch), for reports */
    int64_t i[6];
    double f[2];
    double t_rec;           /* when it was recorded, while profiling (profile.c) */
    struct tg_node *prev;   /* the tape runs backward through prev */
} tg_node;

typedef void (*tg_backward_fn)(tg_ctx *ctx, tg_node *node);

typedef struct tg_op_def {
    const char *name;
    tg_backward_fn backward;
} tg_op_def;

extern const tg_op_def tg_op_table[];

typedef struct tg_arena_chunk {
    struct tg_arena_chunk *next;
    size_t cap, used;
    unsigned char *base;
} tg_arena_chunk;

/* Space given back before the reset (arena_holes.c). */
typedef struct tg_arena_hole {
    unsigned char *p;
    size_t bytes;
    tg_arena_chunk *chunk;
} tg_arena_hole;
#define TG_ARENA_HOLES 256

struct tg_ctx {
    tg_pool *pool;
    tg_arena_chunk *chunks;     /* the chunk in use first */
    size_t chunk_bytes;
    size_t step_used;           /* bytes handed out this step, across chunks */
    tg_arena_hole holes[TG_ARENA_HOLES];   /* in address order */
    int n_holes;
    size_t hole_bytes;          /* bytes in holes: handed out, given back, not taken again */
    struct tg_peak_track *peak; /* what held the arena at the step's peak (mem_peak.c); NULL: off */
    struct tg_prof *prof;       /* time per op (profile.c); NULL: off */
    size_t high_water;
    uint64_t heap_allocs;
    tg_node *tape;              /* last node */
    int tape_len;
    bool grad_enabled, training;
    tg_rng_state rng;
    tg_status status;
    char errmsg[512];
};

/* Records the first error of the step; returns NULL for `return tg__fail(...)` in ops. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void *tg__fail(tg_ctx *ctx, tg_status st, const char *fmt, ...);

/* tg__fail with "op: (shape of a) and (shape of b): why", for ops of two tensors. */
void *tg__fail_shapes(tg_ctx *ctx, const char *op, const tg_tensor *a, const tg_tensor *b,
                      const char *why);

/* An arena request's size: rounded up to the 64-byte alignment every allocation keeps. */
size_t tg__arena_size(size_t bytes);
/* Gives back bytes at ptr (from tg_ctx_alloc or tg__arena_take) for reuse before the reset. */
void tg__arena_give_back(tg_ctx *ctx, void *ptr, size_t bytes);
/* Space for bytes from a hole given back, else from the arena (NULL + error if out of memory). */
void *tg__arena_take(tg_ctx *ctx, size_t bytes);
/* Space for bytes from a hole given back, else NULL (nothing allocated, no error). */
void *tg__arena_take_hole(tg_ctx *ctx, size_t bytes);
/* Space for bytes that does not raise the arena's high-water mark (a hole, else the arena below
 * the mark of the largest step so far), else NULL with no error: for work that pays only in
 * memory the process already holds (the first step never gets it). */
void *tg__arena_take_spare(tg_ctx *ctx, size_t bytes);

/* Peak tracking (mem_peak.c), called only when ctx->peak is set: after each arena allocation,
 * at each consistent point of the tape (a node recorded, a node's backward done), at the reset. */
void tg__peak_alloc(tg_ctx *ctx);
void tg__peak_note(tg_ctx *ctx);
void tg__peak_reset(tg_ctx *ctx);
void tg__peak_free(tg_ctx *ctx);

/* release.c: marks the tensors whose values node's backward reads (tg__record does), or t and
 * the tensors it is a reshape of. */
void tg__keep_for_backward(tg_node *node);
void tg__keep(tg_tensor *t);

/* Profiling (profile.c), called only when ctx->prof is set. */
typedef struct tg_prof tg_prof;
double tg__now(void);
void tg__prof_reset(tg_ctx *ctx);
void tg__prof_free(tg_ctx *ctx);
/* Adds the forward intervals of the nodes up to last (at backward's start). */
void tg__prof_forward(tg_ctx *ctx, tg_node *last);
void tg__prof_backward(tg_ctx *ctx, const tg_node *n, double seconds);

/* The value of an environment variable, as a warning about it shows it on f (pool.c): a byte
 * outside printable ASCII (an ESC) as \xNN, so that a value cannot send terminal escapes. */
void tg__fput_env_value(FILE *f, const char *v);

/* A tensor of the given shape from the arena, data not initialised. */
tg_tensor *tg__new_uninit(tg_ctx *ctx, int ndim, const int *shape);
/* The grad buffer of t, allocated zeroed on first use (activations and marked leaves); a recorded
 * reshape's is its input's. */
tg_float *tg__grad(tg_ctx *ctx, tg_tensor *t);
/* t is a reshape whose gradient is its input's (tg__grad): it has none of its own to give back. */
bool tg__grad_shared(const tg_tensor *t);
/* Appends a node for op making out from the inputs, if recording and any input needs a gradient;
 * marks out as needing one. Returns NULL when nothing was recorded (or on out-of-memory). */
tg_node *tg__record(tg_ctx *ctx, tg_op op, tg_tensor *out, tg_tensor *a, tg_tensor *b, tg_tensor *c);
/* The same for n (1..TG_NODE_MAX_IN) inputs in[] (NULL ones keep their places). */
tg_node *tg__record_n(tg_ctx *ctx, tg_op op, tg_tensor *out, tg_tensor *const *in, int n);

/* Backward of each op, in its op file: tg_<name>_backward for each row of op_list.h. */
#define TG_OP_BACKWARD_DECL(E, name) void tg_##name##_backward(tg_ctx *, tg_node *);
TG_OP_LIST(TG_OP_BACKWARD_DECL)

/* A counter-based uniform in [0, 1) for element `index` of the stream (seed, counter): the same
 * value whatever thread computes it. */
double tg__uniform(uint64_t seed, uint64_t index);

#endif /* TG_AUTOGRAD_INTERNAL_H */
