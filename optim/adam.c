/* adam.c: Adam and AdamW over flat buffers, with torch 1.13's order of operations.
 *
 * torch's single-tensor path, per element, with scalars computed in double and then rounded to
 * the tensor's type (so a float build rounds them to float, as torch does for float tensors):
 *   Adam L2:  g = g + wd * p                                  (grad.add(param, alpha=wd))
 *   AdamW:    p = p * (1 - lr * wd)                           (param.mul_)
 *             m = m * beta1 + (1 - beta1) * g                 (mul_, add_ with alpha)
 *             v = v * beta2 + ((1 - beta2) * g) * g           (mul_, addcmul_)
 *             denom = sqrt(v) / sqrt(1 - beta2^t) + eps
 *             p = p + (-(lr / (1 - beta1^t)) * m) / denom     (addcdiv_ with value)
 * Each element depends on nothing else, so the split over threads cannot change a bit. With the
 * avx2 or avx512 kernels selected (autograd/kernels/kernels.h) the vector loop of adam_avx2.c
 * does the bulk of each range with the same operations, so the same bits; TAPEGRAD_KERNELS=portable
 * keeps this scalar loop alone, the reference.
 */
#include "optim/adam_internal.h"
#include "autograd/kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Elements per thread below which the pool is not worth waking. */
#define ADAM_MIN_CHUNK ((size_t)1 << 15)
/* tg_adam_step_zero clears the gradients in blocks this long (16 KiB of floats), each just after
 * the update has read it: the lines are still in L1, so the clearing costs their write-back, not
 * a second pass over the gradients (a B step's 193 MB, which tg_params_zero_grad writes on one
 * thread). */
#define ZERO_BLOCK ((size_t)4096)
#define ADAM_ALIGN 64

tg_adam_config tg_adam_config_default(void) {
    return (tg_adam_config){.beta1 = 0.9, .beta2 = 0.98, .eps = 1e-9, .weight_decay = 0.0,
                            .decoupled = false};
}

tg_status tg_adam_config_check(const tg_adam_config *cfg, tg_err *err) {
    if (!cfg) return tg_err_set(err, TG_ERR_ARG, "adam: no configuration given");
    if (!(cfg->beta1 >= 0.0 && cfg->beta1 < 1.0))
        return tg_err_set(err, TG_ERR_ARG, "adam: beta1 = %g, expected a value in [0, 1)",
                          cfg->beta1);
    if (!(cfg->beta2 >= 0.0 && cfg->beta2 < 1.0))
        return tg_err_set(err, TG_ERR_ARG, "adam: beta2 = %g, expected a value in [0, 1)",
                          cfg->beta2);
    /* eps 0 makes 0/0 of a parameter whose gradients have all been zero (an unused embedding row) */
    if (!(cfg->eps > 0.0 && isfinite(cfg->eps) && (tg_float)cfg->eps > 0))
        return tg_err_set(err, TG_ERR_ARG, "adam: eps = %g, expected a finite value > 0 (and > 0 in "
                          "tg_float: at least 1.4e-45 in the float build)", cfg->eps);
    if (!(cfg->weight_decay >= 0.0 && isfinite(cfg->weight_decay)))
        return tg_err_set(err, TG_ERR_ARG,
                          "adam: weight_decay = %g, expected a finite value >= 0",
                          cfg->weight_decay);
    return TG_OK;
}

static tg_float *alloc_zeroed(int64_t n) {
    size_t bytes = (size_t)n * sizeof(tg_float);
    bytes = (bytes + ADAM_ALIGN - 1) / ADAM_ALIGN * ADAM_ALIGN;
    if (bytes == 0) bytes = ADAM_ALIGN;
    void *p = NULL;
    if (posix_memalign(&p, ADAM_ALIGN, bytes) != 0) return NULL;
    memset(p, 0, bytes);
    return p;
}

tg_status tg_adam_new(const tg_adam_config *cfg, int64_t n, tg_adam **out, tg_err *err) {
    if (!out) return tg_err_set(err, TG_ERR_ARG, "adam: no place for the optimiser given");
    *out = NULL;
    tg_status st = tg_adam_config_check(cfg, err);
    if (st != TG_OK) return st;
    /* Half of SIZE_MAX leaves room for rounding up to the alignment. */
    if (n < 0 || (uint64_t)n > SIZE_MAX / 2 / sizeof(tg_float))
        return tg_err_set(err, TG_ERR_ARG, "adam: %lld elements, expected 0 .. %zu",
                          (long long)n, SIZE_MAX / 2 / sizeof(tg_float));
    tg_adam *opt = calloc(1, sizeof *opt);
    if (!opt) return tg_err_set(err, TG_ERR_NOMEM, "adam: out of memory");
    opt->cfg = *cfg;
    opt->n = n;
    opt->m = alloc_zeroed(n);
    opt->v = alloc_zeroed(n);
    if (!opt->m || !opt->v) {
        tg_adam_free(opt);
        return tg_err_set(err, TG_ERR_NOMEM, "adam: out of memory for 2 x %lld moments",
                          (long long)n);
    }
    *out = opt;
    return TG_OK;
}

void tg_adam_free(tg_adam *opt) {
    if (!opt) return;
    free(opt->m);
    free(opt->v);
    free(opt);
}

int64_t tg_adam_numel(const tg_adam *opt) { return opt->n; }
tg_adam_config tg_adam_config_of(const tg_adam *opt) { return opt->cfg; }
int64_t tg_adam_step_count(const tg_adam *opt) { return opt->step; }
tg_float *tg_adam_m(tg_adam *opt) { return opt->m; }
tg_float *tg_adam_v(tg_adam *opt) { return opt->v; }

tg_status tg_adam_set_step_count(tg_adam *opt, int64_t step, tg_err *err) {
    if (step < 0 || step > INT64_MAX / 2)   /* (the count goes up by one a step) */
        return tg_err_set(err, TG_ERR_ARG, "adam: step count %lld, expected 0 to 2^62",
                          (long long)step);
    opt->step = step;
    return TG_OK;
}

void tg_adam_reset(tg_adam *opt) {
    if (opt->n > 0) {
        memset(opt->m, 0, (size_t)opt->n * sizeof(tg_float));
        memset(opt->v, 0, (size_t)opt->n * sizeof(tg_float));
    }
    opt->step = 0;
}

static inline tg_float tg_sqrt(tg_float x) {
#ifdef TG_DOUBLE
    return sqrt(x);
#else
    return sqrtf(x);
#endif
}

/* mode is a constant at each call site below, so each loop is compiled without the branches. */
static inline void adam_range(const tg_adam_job *j, size_t b, size_t e, tg_adam_mode mode) {
    tg_float *restrict p = j->p;
    const tg_float *restrict g = j->g;
    tg_float *restrict m = j->m;
    tg_float *restrict v = j->v;
    const tg_float b1 = j->beta1, a1 = j->one_minus_beta1, b2 = j->beta2, a2 = j->one_minus_beta2;
    const tg_float bc2 = j->bc2_sqrt, eps = j->eps, nss = j->neg_step_size;
    const tg_float wd = j->wd, decay = j->decay;
    for (size_t i = b; i < e; i++) {
        tg_float gi = g[i];
        tg_float pi = p[i];
        if (mode == ADAM_L2) gi = gi + wd * pi;
        if (mode == ADAM_DECOUPLED) pi = pi * decay;
        tg_float mi = m[i] * b1;
        mi = mi + a1 * gi;
        tg_float vi = v[i] * b2;
        vi = vi + (a2 * gi) * gi;
        tg_float denom = tg_sqrt(vi) / bc2 + eps;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi + (nss * mi) / denom;
    }
}

static void adam_block(const tg_adam_job *j, size_t b, size_t e) {
#if TG_ADAM_HAVE_AVX2
    if (j->fast) b = tg_adam_range_avx2(j, b, e);
#endif
    switch (j->mode) {
    case ADAM_PLAIN: adam_range(j, b, e, ADAM_PLAIN); break;
    case ADAM_L2: adam_range(j, b, e, ADAM_L2); break;
    case ADAM_DECOUPLED: adam_range(j, b, e, ADAM_DECOUPLED); break;
    }
}

/* Each element is updated alone, so blocks change no bits. */
static void adam_fn(void *arg, size_t b, size_t e) {
    const tg_adam_job *j = arg;
    if (!j->zero) { adam_block(j, b, e); return; }
    for (size_t s = b; s < e; s += ZERO_BLOCK) {
        size_t t = e - s < ZERO_BLOCK ? e : s + ZERO_BLOCK;
        adam_block(j, s, t);
        memset(j->zero + s, 0, (t - s) * sizeof *j->zero);
    }
}

static tg_status adam_step(tg_adam *opt, tg_float *params, const tg_float *grads, tg_float *zero,
                           double lr, tg_pool *pool, tg_err *err) {
    if (!opt) return tg_err_set(err, TG_ERR_ARG, "adam: no optimiser given");
    if (!(lr >= 0.0 && isfinite(lr)))
        return tg_err_set(err, TG_ERR_ARG, "adam: learning rate %g, expected a finite value >= 0",
                          lr);
    if (opt->n > 0 && (!params || !grads))
        return tg_err_set(err, TG_ERR_ARG, "adam: %s buffer is NULL",
                          params ? "gradient" : "parameter");
    if (opt->step >= INT64_MAX / 2) return tg_err_set(err, TG_ERR_STATE, "adam: step count past 2^62");
    const tg_adam_config *c = &opt->cfg;
    opt->step++;
    /* torch: step is a float tensor, beta ** step a Python (double) power. */
    double t = (double)opt->step;
    double bias_correction1 = 1.0 - pow(c->beta1, t);
    double bias_correction2 = 1.0 - pow(c->beta2, t);
    double step_size = lr / bias_correction1;
    tg_adam_job j = {
        .p = params, .g = grads, .m = opt->m, .v = opt->v, .zero = zero,
        .fast = tg_k_current() == TG_K_AVX2 || tg_k_current() == TG_K_AVX512,
        .mode = c->weight_decay == 0.0 ? ADAM_PLAIN : c->decoupled ? ADAM_DECOUPLED : ADAM_L2,
        .beta1 = (tg_float)c->beta1,
        .one_minus_beta1 = (tg_float)(1.0 - c->beta1),
        .beta2 = (tg_float)c->beta2,
        .one_minus_beta2 = (tg_float)(1.0 - c->beta2),
        .bc2_sqrt = (tg_float)sqrt(bias_correction2),
        .eps = (tg_float)c->eps,
        .neg_step_size = (tg_float)(-step_size),
        .wd = (tg_float)c->weight_decay,
        .decay = (tg_float)(1.0 - lr * c->weight_decay),
    };
    tg_pool_for(pool, (size_t)opt->n, ADAM_MIN_CHUNK, adam_fn, &j);
    return TG_OK;
}

tg_status tg_adam_step(tg_adam *opt, tg_float *params, const tg_float *grads, double lr,
                       tg_pool *pool, tg_err *err) {
    return adam_step(opt, params, grads, NULL, lr, pool, err);
}

tg_status tg_adam_step_zero(tg_adam *opt, tg_float *params, tg_float *grads, double lr,
                            tg_pool *pool, tg_err *err) {
    return adam_step(opt, params, grads, grads, lr, pool, err);
}
