/* optim.h: the optimiser side of training: Adam / AdamW over one flat parameter buffer, gradient
 * clipping by global norm, a NaN/Inf check on gradients, and learning-rate schedules.
 *
 * Everything works on flat tg_float buffers (tg_params_data / tg_params_grad, or any raw buffer),
 * so the update is one loop split over the thread pool, with the same bits for any thread count.
 *
 *   tg_adam_config cfg = tg_adam_config_default();            // the paper: 0.9, 0.98, 1e-9
 *   tg_adam *opt;
 *   if (tg_adam_new(&cfg, tg_params_numel(P), &opt, &err) != TG_OK) ...;
 *   tg_schedule sch = tg_schedule_default(TG_SCHEDULE_NOAM);  // factor 1, warmup 4000
 *   sch.d_model = 512;
 *   for (int64_t step = 1; ...; step++) {
 *       ... forward, tg_backward ...
 *       double norm;
 *       tg_clip_grad_norm(tg_params_grad(P), n, 1.0, pool, &norm, &err);  // max_norm 0: no clip
 *       if (!tg_grad_all_finite(tg_params_grad(P), n, pool)) skip the update;
 *       tg_adam_step(opt, tg_params_data(P), tg_params_grad(P), tg_schedule_lr(&sch, step),
 *                    pool, &err);
 *       tg_params_zero_grad(P);   // or both in one pass: tg_adam_step_zero
 *   }
 *   tg_adam_free(opt);
 *
 * A checkpoint saves the optimiser with tg_adam_state_write (a header, then m, then v, each in one
 * piece) and restores it with tg_adam_state_read; the continued run is bit-identical.
 */
#ifndef TG_OPTIM_H
#define TG_OPTIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Adam / AdamW ------------------------------------------------------------------------ */

/* The learning rate is not here: it is given to every tg_adam_step (it comes from a schedule). */
typedef struct tg_adam_config {
    double beta1;         /* first-moment decay, in [0, 1) */
    double beta2;         /* second-moment decay, in [0, 1) */
    double eps;           /* added to sqrt(v_hat), > 0 */
    double weight_decay;  /* >= 0; what it means depends on `decoupled` */
    /* false: torch.optim.Adam, weight_decay * param is added to the gradient (L2);
     * true:  torch.optim.AdamW, param *= 1 - lr * weight_decay before the Adam update. */
    bool decoupled;
} tg_adam_config;

/* The paper's settings: beta1 0.9, beta2 0.98, eps 1e-9, no weight decay, not decoupled. */
tg_adam_config tg_adam_config_default(void);
/* TG_ERR_ARG with a message naming the bad field and the allowed range. */
tg_status tg_adam_config_check(const tg_adam_config *cfg, tg_err *err);

/* An optimiser over n scalars: it owns the moments m and v, each one contiguous buffer of n
 * tg_float parallel to the parameter buffer (zeroed), and the number of steps taken. */
typedef struct tg_adam tg_adam;

tg_status tg_adam_new(const tg_adam_config *cfg, int64_t n, tg_adam **out, tg_err *err);
void tg_adam_free(tg_adam *opt);

/* One update of params (n) from grads (n) with learning rate lr (>= 0, finite), following
 * torch 1.13's _single_tensor_adam / _single_tensor_adamw operation by operation. The loop is
 * split over pool (NULL: inline); each element is computed alone, so any thread count gives the
 * same bits. grads is read only (Adam's L2 term is added on the fly). */
tg_status tg_adam_step(tg_adam *opt, tg_float *params, const tg_float *grads, double lr,
                       tg_pool *pool, tg_err *err);
/* tg_adam_step, then grads set to 0 in the same pass (each block right after the update read
 * it): the step and tg_params_zero_grad without a second pass over the gradients. On an error
 * nothing is updated and grads are left as they were. */
tg_status tg_adam_step_zero(tg_adam *opt, tg_float *params, tg_float *grads, double lr,
                            tg_pool *pool, tg_err *err);

int64_t tg_adam_numel(const tg_adam *opt);
tg_adam_config tg_adam_config_of(const tg_adam *opt);
int64_t tg_adam_step_count(const tg_adam *opt);   /* updates taken so far (torch's state step) */
tg_status tg_adam_set_step_count(tg_adam *opt, int64_t step, tg_err *err);  /* step >= 0 */
tg_float *tg_adam_m(tg_adam *opt);                /* (n) first moments */
tg_float *tg_adam_v(tg_adam *opt);                /* (n) second moments */
void tg_adam_reset(tg_adam *opt);                 /* zero moments, step 0 */

/* ---- Adam state, for checkpoints ----------------------------------------------------------
 * Layout: a TG_ADAM_STATE_HEADER_BYTES header (magic "TGADAMST", version, element size, a
 * byte-order mark, step, n), then m (n tg_float), then v (n tg_float), in host byte order. */

#define TG_ADAM_STATE_HEADER_BYTES 40
#define TG_ADAM_STATE_VERSION 1

/* A sink takes all len bytes or fails; a source gives exactly len bytes or fails (a short read is
 * TG_ERR_CORRUPT, "truncated"). Both fill err on failure. */
typedef tg_status (*tg_byte_sink)(void *ctx, const void *bytes, size_t len, tg_err *err);
typedef tg_status (*tg_byte_source)(void *ctx, void *bytes, size_t len, tg_err *err);

size_t tg_adam_state_size(const tg_adam *opt);   /* header + 2 n sizeof(tg_float) */
/* Three sink calls: the header, m, v (each buffer in one go, no copy). */
tg_status tg_adam_state_write(const tg_adam *opt, tg_byte_sink sink, void *ctx, tg_err *err);
/* Reads and checks the header (magic, version, element size, byte order, n equal to opt's),
 * then m and v. If anything fails after the header, opt is reset (zeros, step 0) so no
 * half-read state is ever used. */
tg_status tg_adam_state_read(tg_adam *opt, tg_byte_source src, void *ctx, tg_err *err);
/* The same into / from one memory block: save needs cap >= tg_adam_state_size, load needs
 * len == tg_adam_state_size. */
tg_status tg_adam_state_save(const tg_adam *opt, void *buf, size_t cap, tg_err *err);
tg_status tg_adam_state_load(tg_adam *opt, const void *buf, size_t len, tg_err *err);

/* ---- gradients: norm, clipping, finiteness ----------------------------------------------- */

/* The L2 norm of g (n) as one vector. Squares are summed in double over fixed chunks whose
 * boundaries depend only on n, and the chunk sums are added in order: the same bits for any
 * thread count. */
double tg_grad_norm(const tg_float *g, size_t n, tg_pool *pool);
/* torch.nn.utils.clip_grad_norm_ over one flat buffer: coef = max_norm / (norm + 1e-6); when
 * coef < 1 every gradient is multiplied by it, else g is untouched. max_norm 0 turns clipping
 * off (the norm is still computed, for logging); negative or NaN max_norm is TG_ERR_ARG. The norm
 * goes to *norm_out (may be NULL). A non-finite norm leaves g untouched and is TG_ERR_NUMERIC. */
tg_status tg_clip_grad_norm(tg_float *g, size_t n, double max_norm, tg_pool *pool,
                            double *norm_out, tg_err *err);
/* Number of NaN or Inf entries in g (n); the training loop skips an update when it is not 0. */
size_t tg_grad_count_nonfinite(const tg_float *g, size_t n, tg_pool *pool);
static inline bool tg_grad_all_finite(const tg_float *g, size_t n, tg_pool *pool) {
    return tg_grad_count_nonfinite(g, n, pool) == 0;
}

/* ---- learning-rate schedules ------------------------------------------------------------- */

typedef enum tg_schedule_kind {
    TG_SCHEDULE_NOAM,          /* the paper: factor d_model^-0.5 min(step^-0.5, step warmup^-1.5) */
    TG_SCHEDULE_INVERSE_SQRT,  /* fairseq: linear warmup init_lr -> lr, then lr sqrt(warmup/step) */
    TG_SCHEDULE_COSINE,        /* linear warmup init_lr -> lr, cosine decay to min_lr at total */
    TG_SCHEDULE_CONSTANT,      /* lr */
    TG_SCHEDULE_COUNT
} tg_schedule_kind;

/* Which fields each kind reads: noam: factor, d_model, warmup; inverse_sqrt: lr, init_lr, warmup;
 * cosine: lr, init_lr, min_lr, warmup, total; constant: lr. */
typedef struct tg_schedule {
    tg_schedule_kind kind;
    double lr;          /* peak (inverse_sqrt, cosine) or the constant; >= 0 */
    double init_lr;     /* where the linear warmup starts (at step 0); >= 0 */
    double min_lr;      /* cosine's floor, in [0, lr] */
    double factor;      /* noam's scale; > 0 */
    int64_t warmup;     /* warmup steps: >= 1 for noam and inverse_sqrt, >= 0 for cosine */
    int64_t total;      /* cosine: the step where min_lr is reached; > warmup */
    int d_model;        /* noam; >= 1 */
} tg_schedule;

/* Defaults per kind: noam factor 1, warmup 4000, d_model 512; inverse_sqrt lr 5e-4, init 0,
 * warmup 4000; cosine lr 5e-4, init 0, min 0, warmup 4000, total 100000; constant lr 1e-4. */
tg_schedule tg_schedule_default(tg_schedule_kind kind);
/* TG_ERR_ARG with a message naming the bad field and the allowed range. */
tg_status tg_schedule_check(const tg_schedule *s, tg_err *err);
/* The learning rate for update number step (1-based: the first update is step 1), a pure
 * function of step. Steps below 1 are taken as 1. s must pass tg_schedule_check. */
double tg_schedule_lr(const tg_schedule *s, int64_t step);
/* "noam", "inverse-sqrt" (or "inverse_sqrt"), "cosine", "constant"; an unknown name is
 * TG_ERR_ARG with the list of known ones. */
tg_status tg_schedule_kind_parse(const char *name, tg_schedule_kind *out, tg_err *err);
const char *tg_schedule_kind_name(tg_schedule_kind kind);  /* "inverse-sqrt", ...; "?" if bad */

#ifdef __cplusplus
}
#endif

#endif /* TG_OPTIM_H */
