/* autograd.h: tensors, the tape, reverse-mode backward and the ops of tapegrad.
 *
 * A tg_ctx owns a per-step arena (activations, their gradients, the tape) and the thread pool.
 * Ops compute their forward at once (define-by-run) and, unless recording is off, append a node to
 * the tape. tg_backward walks the tape in reverse; gradients accumulate (+=) into leaves. An
 * intermediate's gradient lives only while backward needs it (its space is reused at once).
 * Parameters live in a tg_params store: one contiguous buffer for values, one for gradients.
 *
 *   tg_params *P = tg_params_new();
 *   tg_tensor *W = tg_params_add(P, "w", 2, (int[]){4, 3});
 *   tg_params_alloc(P, &err);                       // one buffer for all values, one for grads
 *   tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 2, .seed = 1});
 *   tg_tensor *x = tg_tensor_new(ctx, 2, (int[]){8, 3});      // (8, 3), zeros
 *   tg_tensor *y = tg_matmul(ctx, x, W, 0, 1);                // (8, 4) = x W^T
 *   tg_tensor *loss = tg_mean(ctx, tg_relu(ctx, y));          // ()
 *   if (tg_ctx_status(ctx) != TG_OK) puts(tg_ctx_errmsg(ctx)); // shape errors end up here
 *   tg_backward(ctx, loss);                                   // W->grad += d loss / d W
 *   tg_ctx_reset(ctx);                                        // free the step's activations
 *
 * Op errors (bad shapes) do not crash: the op returns NULL and records a status and a message in
 * the context ("matmul: (8, 3) x (4, 2): inner dims 3 and 4 differ"); later ops given NULL return
 * NULL, so a whole graph can be built and checked once.
 */
#ifndef TG_AUTOGRAD_H
#define TG_AUTOGRAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/build_config.h"   /* TG_DOUBLE when the library was built in double */
#include "autograd/ops/op_list.h"
#include "autograd/pool.h"
#include "autograd/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef TG_DOUBLE
typedef double tg_float;
#define TG_FLOAT_NAME "double"
#else
typedef float tg_float;
#define TG_FLOAT_NAME "float"
#endif

#define TG_MAX_DIMS 4
#define TG_NAME_MAX 64

/* ---- tensors ---------------------------------------------------------------------------- */

enum {
    TG_TENSOR_PARAM = 1u << 0,         /* lives in a tg_params store */
    TG_TENSOR_REQUIRES_GRAD = 1u << 1, /* gradients flow to it */
};

/* Contiguous, row-major, no strides; a reshape shares its input's values (only views are reshapes,
 * and no op writes into an existing tensor). Fixed size (see _Static_assert in tensor.c). */
typedef struct tg_tensor {
    tg_float *data;
    tg_float *grad;            /* NULL until a gradient is needed; an op output's is NULL again
                                * once backward has passed the op (only leaves and the loss keep one) */
    int64_t n;                 /* number of elements */
    int ndim;                  /* 0 (scalar) .. TG_MAX_DIMS */
    int shape[TG_MAX_DIMS];
    uint32_t flags;
    struct tg_node *node;      /* the tape node that made it, NULL for leaves */
    char name[TG_NAME_MAX];    /* parameters' hierarchical name, "" otherwise */
} tg_tensor;

/* At most this many elements in a tensor or a parameter store (2^56: its bytes, and the arena's
 * rounding of them, fit in every size type). */
#define TG_NUMEL_MAX (INT64_C(1) << 56)
/* The product of the dims (1 for ndim 0); -1 when a dim is not positive or the product is more
 * than TG_NUMEL_MAX. */
int64_t tg_shape_numel(int ndim, const int *shape);
bool tg_tensor_same_shape(const tg_tensor *a, const tg_tensor *b);   /* same ndim and dims */
/* "(2, 3, 4)" into buf (truncated to len); returns buf. */
char *tg_shape_str(const tg_tensor *t, char *buf, size_t len);
/* Whether gradients flow to t (false for NULL). */
static inline bool tg_requires_grad(const tg_tensor *t) {
    return t && (t->flags & TG_TENSOR_REQUIRES_GRAD);
}

/* ---- parameter store -------------------------------------------------------------------- */

/* Every parameter of a model: declared by name and shape, then allocated at once so that values
 * (and gradients) each form one contiguous buffer, in declaration order. */
typedef struct tg_params tg_params;

/* An empty store, owned by the caller (tg_params_free); NULL when out of memory. */
tg_params *tg_params_new(void);
/* Frees the store, its tensors and buffers (every tg_tensor * of it dangles after). NULL: no-op. */
void tg_params_free(tg_params *P);
/* Declares a parameter; returns NULL (and P's error) on a duplicate name or bad shape, or after
 * tg_params_alloc. Its data pointer is valid only after tg_params_alloc. */
tg_tensor *tg_params_add(tg_params *P, const char *name, int ndim, const int *shape);
/* Allocates the value and gradient buffers (zeroed) and points every parameter into them; the
 * store owns them. TG_ERR_STATE if called twice, TG_ERR_NOMEM. */
tg_status tg_params_alloc(tg_params *P, tg_err *err);
int tg_params_len(const tg_params *P);            /* number of parameter tensors */
tg_tensor *tg_params_at(const tg_params *P, int i);              /* i-th declared; owned by P */
tg_tensor *tg_params_find(const tg_params *P, const char *name); /* NULL if none has the name */
int64_t tg_params_numel(const tg_params *P);      /* number of scalars */
tg_float *tg_params_data(const tg_params *P);     /* the one value buffer (NULL before alloc) */
tg_float *tg_params_grad(const tg_params *P);     /* the one gradient buffer (NULL before alloc) */
void tg_params_zero_grad(tg_params *P);           /* gradients accumulate until this */
const char *tg_params_errmsg(const tg_params *P); /* why the last add failed; owned by P */
/* Sets what tg_params_errmsg gives: for a declare function of your own that refuses its
 * arguments (tg_mha_declare's heads, say). */
void tg_params_set_errmsg(tg_params *P, const char *msg);

/* ---- context: arena, tape, threads ------------------------------------------------------ */

typedef struct tg_ctx tg_ctx;

typedef struct tg_ctx_opts {
    int threads;          /* <= 0: TAPEGRAD_THREADS, else the number of cores */
    size_t arena_bytes;   /* first arena chunk; 0: 64 MiB. It grows when a step needs more. */
    uint64_t seed;        /* dropout's random stream */
} tg_ctx_opts;

/* A context with its pool and first arena chunk (opts may be NULL: defaults), owned by the
 * caller; NULL when memory or threads cannot be had. */
tg_ctx *tg_ctx_new(const tg_ctx_opts *opts);
void tg_ctx_free(tg_ctx *ctx);   /* every tensor of the context dangles after; NULL: no-op */
/* Drops the step's activations, gradients and tape. The arena keeps its memory: once one step of
 * a fixed-shape workload has run, later steps allocate nothing from the heap. */
void tg_ctx_reset(tg_ctx *ctx);
tg_pool *tg_ctx_pool(tg_ctx *ctx);   /* the context's thread pool, owned by ctx */

/* Recording: when off (decoding, evaluation), ops record no node and make no gradients. */
void tg_ctx_set_grad_enabled(tg_ctx *ctx, bool on);
bool tg_ctx_grad_enabled(const tg_ctx *ctx);
/* Training mode turns dropout on; off, dropout is the identity. Default: on. */
void tg_ctx_set_training(tg_ctx *ctx, bool on);
bool tg_ctx_training(const tg_ctx *ctx);

/* Dropout's random stream: a seed and a counter, both part of a checkpoint. */
typedef struct tg_rng_state { uint64_t seed, counter; } tg_rng_state;
tg_rng_state tg_ctx_rng(const tg_ctx *ctx);
void tg_ctx_set_rng(tg_ctx *ctx, tg_rng_state s);

/* The first error met while building the graph since the last reset (or clear). */
tg_status tg_ctx_status(const tg_ctx *ctx);
const char *tg_ctx_errmsg(const tg_ctx *ctx);   /* "" when none; owned by ctx */
void tg_ctx_clear_error(tg_ctx *ctx);           /* forget it, keep the step's tensors */

/* Arena accounting, for the steady-state test and for reports. */
typedef struct tg_arena_stats {
    size_t used;          /* bytes in use now */
    size_t high_water;    /* most bytes ever in use in one step */
    size_t capacity;      /* bytes held */
    uint64_t heap_allocs; /* chunks taken from the heap so far */
} tg_arena_stats;
tg_arena_stats tg_ctx_arena_stats(const tg_ctx *ctx);   /* a copy */

/* Scratch memory from the arena, valid until tg_ctx_reset (NULL + error if out of memory). */
void *tg_ctx_alloc(tg_ctx *ctx, size_t bytes);

/* ---- tensors of a step ------------------------------------------------------------------ */

/* A new activation tensor from the arena (owned by ctx until tg_ctx_reset), zero-filled; needs
 * no gradient. NULL with the context's error on a bad shape or out of memory. */
tg_tensor *tg_tensor_new(tg_ctx *ctx, int ndim, const int *shape);
/* Same, with the values copied from data (n elements). */
tg_tensor *tg_tensor_from(tg_ctx *ctx, int ndim, const int *shape, const tg_float *data);
/* The caller will not read t's values again (nor those of a reshape of t): the arena reuses
 * their space for the next tensors, unless a recorded backward reads them (they then stay until
 * the reset). Released, t->data is NULL. Parameters, reshapes and leaves marked requires-grad
 * are never released. Layers call it on the activations they made and used up. */
void tg_release(tg_ctx *ctx, tg_tensor *t);
/* Keeps t's values (and those t reshapes) until the reset: a later tg_release of them does
 * nothing. For a tensor read after the layers that made it are done with it (a diagnostics probe,
 * a result the caller holds on to). NULL: nothing. */
void tg_keep(tg_tensor *t);
/* Marks a leaf as needing a gradient (gradcheck inputs); its grad accumulates like a parameter's. */
void tg_tensor_set_requires_grad(tg_ctx *ctx, tg_tensor *t);

/* ---- ops (forward now, backward recorded) ----------------------------------------------- */
/* Each returns a new tensor owned by the context (valid until tg_ctx_reset), or NULL with the
 * context's status set (TG_ERR_SHAPE, TG_ERR_ARG, TG_ERR_NOMEM). Shapes in comments. */

/* a + b: b has a's shape, or a's trailing dims (a row vector (d) added to (..., d); (T, d) to
 * (B, T, d)). */
tg_tensor *tg_add(tg_ctx *ctx, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_sub(tg_ctx *ctx, tg_tensor *a, tg_tensor *b);          /* same shapes */
tg_tensor *tg_mul(tg_ctx *ctx, tg_tensor *a, tg_tensor *b);          /* elementwise; b as in add */
tg_tensor *tg_scale(tg_ctx *ctx, tg_tensor *a, double s);            /* s * a */
/* op(a) @ op(b), op = transpose of the last two dims when ta/tb.
 * a (..., M, K), b (..., K, N) with the same leading dims -> (..., M, N);
 * or b 2-D (K, N) shared by every matrix of a -> (..., M, N) (a linear layer). */
tg_tensor *tg_matmul(tg_ctx *ctx, tg_tensor *a, tg_tensor *b, bool ta, bool tb);
/* Attention's per-head products on the heads' packed layout (B, T, H * dh), head h being columns
 * h * dh .. (h + 1) * dh, with no transposed copies: scores (B, H, Tq, Tk) = q_h k_h^T for q
 * (B, Tq, H * dh), k (B, Tk, H * dh); mix (B, Tq, H * dh), head h's columns = w_h v_h for w
 * (B, H, Tq, Tk), v (B, Tk, H * dh). The same bits as tg_matmul on the split heads (the op is a
 * matmul node: the same GEMMs over strided matrices). */
tg_tensor *tg_heads_scores(tg_ctx *ctx, tg_tensor *q, tg_tensor *k, int heads);
tg_tensor *tg_heads_mix(tg_ctx *ctx, tg_tensor *w, tg_tensor *v, int heads);
/* A linear layer: x (..., in) W^T + b with w (out, in) and b (out) -> (..., out). The same values
 * and gradients as tg_add(tg_matmul(x, w, 0, 1), b), holding one tensor fewer. */
tg_tensor *tg_matmul_bias(tg_ctx *ctx, tg_tensor *x, tg_tensor *w, tg_tensor *b);
/* relu(x W^T + b), the ReLU applied in place: the same values and gradients as tg_relu of
 * tg_matmul_bias, without keeping the pre-activation (backward takes relu' from the output). */
tg_tensor *tg_matmul_bias_relu(tg_ctx *ctx, tg_tensor *x, tg_tensor *w, tg_tensor *b);
tg_tensor *tg_relu(tg_ctx *ctx, tg_tensor *a);                       /* max(a, 0) */
/* a^p elementwise; a must be positive where p is not an integer (1/sqrt(var + eps), ...). */
tg_tensor *tg_pow(tg_ctx *ctx, tg_tensor *a, double p);
/* tanh_approx: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); else x Phi(x) with erf. */
tg_tensor *tg_gelu(tg_ctx *ctx, tg_tensor *a, bool tanh_approx);
/* 1 / (1 + exp(-a)) elementwise (attention gates). */
tg_tensor *tg_sigmoid(tg_ctx *ctx, tg_tensor *a);
/* Softmax over the last dim of x (..., Tq, Tk). mask (optional, no gradient) is added first: its
 * shape has x's ndim with each dim equal to x's or 1 (e.g. (B, 1, 1, Tk) for padding). causal
 * masks key j > query i (aligned at the end when Tk > Tq). A row with every key masked gives 0. */
tg_tensor *tg_softmax(tg_ctx *ctx, tg_tensor *x, tg_tensor *mask, bool causal);
/* softmax(scale x + mask) in one pass, as tg_softmax(tg_scale(x, scale), ...) would give it, bit for
 * bit (attention's scaled scores; the scaled copy is never made). */
tg_tensor *tg_softmax_scaled(tg_ctx *ctx, tg_tensor *x, double scale, tg_tensor *mask, bool causal);
tg_tensor *tg_log_softmax(tg_ctx *ctx, tg_tensor *x);                /* over the last dim */
/* Normalise over the last dim d, then gain (d) and bias (d); either may be NULL. */
tg_tensor *tg_layer_norm(tg_ctx *ctx, tg_tensor *x, tg_tensor *gain, tg_tensor *bias, double eps);
/* Inverted dropout with keep-prob 1-p, mask from the context's seeded stream (saved for
 * backward). Identity when p == 0 or not training. */
tg_tensor *tg_dropout(tg_ctx *ctx, tg_tensor *x, double p);
/* A residual sub-layer's end as one op: x + Drop(fx) (tg_residual), or LN(x + Drop(fx)) with
 * gain and bias (d) either NULL (tg_residual_norm); x and fx of one shape (..., d). The same bits
 * as tg_dropout, tg_add (and tg_layer_norm) composed, the same draws of the dropout stream, with
 * less held for backward (no dropped copy of fx) and one node on the tape. */
tg_tensor *tg_residual(tg_ctx *ctx, tg_tensor *x, tg_tensor *fx, double p);
tg_tensor *tg_residual_norm(tg_ctx *ctx, tg_tensor *x, tg_tensor *fx, double p, tg_tensor *gain,
                            tg_tensor *bias, double eps);
/* Rows of weight (V, d) picked by ids (ndim dims of shape) -> (shape..., d). Rows whose id is
 * pad_id get zeros and no gradient (pad_id < 0: none). An id outside [0, V) is an error. */
tg_tensor *tg_embedding(tg_ctx *ctx, tg_tensor *weight, const int32_t *ids, int ndim,
                        const int *shape, int pad_id);
tg_tensor *tg_reshape(tg_ctx *ctx, tg_tensor *x, int ndim, const int *shape); /* same numel */
tg_tensor *tg_transpose(tg_ctx *ctx, tg_tensor *x, int d0, int d1);  /* swap two dims */
tg_tensor *tg_sum(tg_ctx *ctx, tg_tensor *x);                        /* () */
tg_tensor *tg_mean(tg_ctx *ctx, tg_tensor *x);                       /* () */
/* Label-smoothed cross-entropy of logits (..., V) against targets (one per row), fused with
 * log_softmax: per row (1-eps) * -log p[t] + eps * mean_v(-log p[v]); mean over rows whose target
 * is not ignore_index (ignore_index < 0: none); () output, 0 when every row is ignored. */
tg_tensor *tg_cross_entropy(tg_ctx *ctx, tg_tensor *logits, const int32_t *targets,
                            double smoothing, int ignore_index);
/* tg_cross_entropy(tg_matmul(x, w, 0, 1), ...) for x (..., d) and w (V, d), computed chunk_rows
 * rows at a time (0: about 2^21 logits a chunk, at most 256 rows) so that the logits and their
 * gradient never exist whole (the gradient is made in the logits' place). Its gradients are
 * made during this call when recording (kept until backward, which scales them by the loss's
 * gradient). The loss and d x equal the composed ops' bit for bit; d w sums the chunks in order,
 * so it may differ in the last bits. nll (may be NULL) gets the plain cross-entropy (smoothing 0)
 * of the same rows, as a second tg_cross_entropy would. */
tg_tensor *tg_linear_cross_entropy(tg_ctx *ctx, tg_tensor *x, tg_tensor *w, const int32_t *targets,
                                   double smoothing, int ignore_index, int chunk_rows, double *nll);

/* ---- custom ops: an op defined outside the library --------------------------------------- */

/* An op of your own that the tape records and runs backward like a built-in one, and that
 * tg_gradcheck can check (examples/custom_op.c):
 *
 *   static tg_status sq_fwd(tg_tensor *const *in, int n_in, tg_tensor *out, void *user, tg_err *e) {
 *       for (int64_t i = 0; i < out->n; i++) out->data[i] = in[0]->data[i] * in[0]->data[i];
 *       return TG_OK;
 *   }
 *   static void sq_bwd(tg_tensor *const *in, int n_in, const tg_tensor *out, tg_float *const *grads,
 *                      void *user) {
 *       for (int64_t i = 0; i < out->n; i++) grads[0][i] += 2 * in[0]->data[i] * out->grad[i];
 *   }
 *   static const tg_custom_op square = {"square", sq_fwd, sq_bwd};
 *   tg_tensor *y = tg_custom(ctx, &square, NULL, (tg_tensor *[]){x}, 1, x->ndim, x->shape);
 *
 * The definition and `user` must outlive the step (until tg_ctx_reset). Functions run on the
 * calling thread; they may use tg_ctx_pool's threads themselves. */
typedef struct tg_custom_op {
    const char *name;   /* shown in error messages */
    /* Fills out->data (out has the shape given to tg_custom, data not initialised) from the
     * inputs' data. Returns TG_OK, or an error status with err's message filled. */
    tg_status (*forward)(tg_tensor *const *in, int n_in, tg_tensor *out, void *user, tg_err *err);
    /* Adds (+=) d loss / d in[i] into grads[i] (in[i]->n elements) from out->grad; grads[i] is
     * NULL for an input that needs no gradient. NULL backward: the op is not differentiable and
     * a backward through it fails. */
    void (*backward)(tg_tensor *const *in, int n_in, const tg_tensor *out, tg_float *const *grads,
                     void *user);
} tg_custom_op;

#define TG_CUSTOM_MAX_IN 3
/* Runs op->forward on n_in (1..TG_CUSTOM_MAX_IN) inputs into a new (out_ndim, out_shape) tensor
 * from the arena and records it. NULL with the context's error on a bad argument or when
 * forward fails (its message is prefixed with op->name). */
tg_tensor *tg_custom(tg_ctx *ctx, const tg_custom_op *op, void *user, tg_tensor *const *in, int n_in,
                     int out_ndim, const int *out_shape);

/* ---- backward ---------------------------------------------------------------------------- */

/* Seeds d loss = 1 (loss must have one element) and walks the tape in reverse. Gradients of
 * leaves (parameters, tensors marked requires-grad) accumulate; those of intermediate tensors are
 * recomputed each call. Nodes none of whose inputs need a gradient are skipped. */
tg_status tg_backward(tg_ctx *ctx, tg_tensor *loss);

/* tg_backward that calls hook(user, walked) after each node, walked = nodes done so far (1, 2,
 * ...), on the calling thread with the pool idle: a caller may act on leaf gradients as soon as
 * they are final (e.g. start summing them across processes while the walk goes on). The
 * gradients are the same bits as tg_backward's; hook NULL is tg_backward. Statuses as
 * tg_backward's. */
typedef void (*tg_backward_hook)(void *user, int64_t walked);
tg_status tg_backward_hooked(tg_ctx *ctx, tg_tensor *loss, tg_backward_hook hook, void *user);
/* When each leaf's gradient is final in loss's backward walk: final_after[i] (n) = the walked
 * count (as tg_backward_hooked reports it) of the last node having leaves[i] as input, 0 if none
 * (its gradient is untouched). Reads the tape only, changes nothing. TG_ERR_NOMEM on
 * allocation failure. */
tg_status tg_backward_leaf_final(const tg_tensor *loss, int n, tg_tensor *const *leaves, int64_t *final_after);

/* ---- the op table ----------------------------------------------------------------------- */

/* One value per row of autograd/ops/op_list.h, in its order; TG_OP_COUNT is the number of rows. */
#define TG_OP_ENUM_ROW(E, name) TG_OP_##E,
typedef enum tg_op {
    TG_OP_LIST(TG_OP_ENUM_ROW)
    TG_OP_COUNT
} tg_op;

const char *tg_op_name(tg_op op);

/* Where a step's arena goes at its peak (`tapegrad bench step --memory`): the tape's nodes
 * grouped by op and output shape. */
typedef struct tg_mem_holder {
    tg_op op;
    int ndim, shape[TG_MAX_DIMS];   /* the op's output */
    int count;                      /* nodes of this op and output shape */
    size_t data_bytes;              /* their outputs' values */
    size_t grad_bytes;              /* their outputs' gradients alive at the peak */
    size_t saved_bytes;             /* kept for backward: masks, statistics, ids */
} tg_mem_holder;
typedef struct tg_mem_peak {
    size_t bytes;         /* arena bytes handed out at the peak of the last tracked step */
    size_t holes;         /* of which given back and not yet reused */
    size_t tape_bytes;    /* of which held by the tape's nodes (the sum over every holder) */
} tg_mem_peak;
/* Tracking on: each new high of a step's arena use notes what the tape holds (a walk over the
 * tape each time: for reports, it slows a step). false: out of memory. */
bool tg_ctx_track_peak(tg_ctx *ctx, bool on);
/* The largest holders at the last tracked step's peak, largest first: fills up to max and
 * returns how many (0 when nothing was tracked); *peak gets the totals. */
int tg_ctx_peak_holders(const tg_ctx *ctx, tg_mem_holder *out, int max, tg_mem_peak *peak);

/* Where a step's time goes (`tapegrad bench step --profile`), per op, summed over the profiled
 * steps (each ends with a backward). Forward time is the interval before each node was recorded
 * (the layer code between ops included); backward time is each node's backward. flop counts
 * GEMM work (matmul, matmul_bias, linear_cross_entropy; 0 for the others); bytes estimates what
 * an op reads and writes once (forward: inputs and output; backward: the output's gradient, and
 * each input's gradient read and written). */
typedef struct tg_op_profile {
    tg_op op;
    int64_t nodes;
    double fwd_s, bwd_s, fwd_flop, bwd_flop, fwd_bytes, bwd_bytes;
} tg_op_profile;
/* Profiling on or off (false: out of memory). Costs two clock reads a node. */
bool tg_ctx_profile(tg_ctx *ctx, bool on);
/* The ops seen so far (up to TG_OP_COUNT entries, op order); *steps the profiled backwards. */
int tg_ctx_profile_read(const tg_ctx *ctx, tg_op_profile *out, int *steps);

/* The op table's entry for a node's op is called by tg_backward; this is for tools and tests. */
int tg_tape_len(const tg_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif /* TG_AUTOGRAD_H */
