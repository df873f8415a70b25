/* gradcheck_model.c: the whole model's gradient against finite differences, parameter by
 * parameter (every element, or a seeded sample per parameter), plus random projections over all
 * parameters at once (torch.autograd.gradcheck's fast mode): u . grad against the central
 * difference of the loss along u. Runs on a tiny model and one padded batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"

tg_model_gradcheck_opts tg_model_gradcheck_defaults(void) {
    tg_model_gradcheck_opts o = {.check = tg_gradcheck_defaults(), .projections = 4, .seed = 1,
                                 .threads = 1};
#ifdef TG_DOUBLE
    o.check.max_elems = 0;
#else
    /* float: tg_gradcheck's float tolerances with a step of 1e-4 rather than 1e-2, so that few
       differences straddle a ReLU kink; the loss's rounding (~1e-7 |L|) over 2e-4 stays well
       under atol. Kinks still catch some elements of ReLU models at this step: the float build
       is only reliable for the smooth switches (gelu), the double build for all. */
    o.check.eps = 1e-4;
    o.check.max_elems = 0;
#endif
    return o;
}

tg_model_config tg_model_gradcheck_config(void) {
    tg_model_config c = tg_model_config_default();
    c.vocab = 11;
    c.d_model = 8;
    c.heads = 2;
    c.d_ff = 16;
    c.enc_layers = c.dec_layers = 2;
    c.max_len = 8;
    c.dropout = 0;
    c.label_smoothing = 0.1;
    return c;
}

enum { GC_B = 2, GC_S = 5, GC_T = 4 };

typedef struct gc_batch {
    tg_model *m;
    int32_t src[GC_B * GC_S], tgt_in[GC_B * GC_T], tgt_out[GC_B * GC_T];
} gc_batch;

/* Two sentence pairs, the second padded on both sides: source lengths 5 and 3, target lengths
 * 4 and 2 (eos included). */
static void gc_batch_fill(gc_batch *b, uint64_t seed) {
    static const int src_len[GC_B] = {5, 3}, tgt_len[GC_B] = {4, 2};
    tg_nn_rng r = {seed ^ 0x5EEDBA7Cu};
    int V = b->m->cfg.vocab;
    memset(b->src, 0, sizeof b->src);
    memset(b->tgt_in, 0, sizeof b->tgt_in);
    memset(b->tgt_out, 0, sizeof b->tgt_out);
    for (int i = 0; i < GC_B; i++) {
        for (int s = 0; s < src_len[i]; s++)
            b->src[i * GC_S + s] = 4 + (int32_t)(tg_nn_rng_next(&r) % (uint64_t)(V - 4));
        b->tgt_in[i * GC_T] = TG_BOS_ID;
        for (int t = 0; t < tgt_len[i] - 1; t++) {
            int32_t y = 4 + (int32_t)(tg_nn_rng_next(&r) % (uint64_t)(V - 4));
            b->tgt_out[i * GC_T + t] = y;
            b->tgt_in[i * GC_T + t + 1] = y;
        }
        b->tgt_out[i * GC_T + tgt_len[i] - 1] = TG_EOS_ID;
    }
}

static tg_tensor *gc_loss(tg_ctx *ctx, void *arg) {
    gc_batch *b = arg;
    tg_tensor *loss;
    if (tg_model_loss(b->m, ctx, b->src, b->tgt_in, b->tgt_out, GC_B, GC_S, GC_T, &loss, NULL,
                      NULL))
        return NULL;
    return loss;
}

/* Loss value with recording off. */
static bool gc_eval(tg_ctx *ctx, gc_batch *b, double *out) {
    bool grad = tg_ctx_grad_enabled(ctx);
    tg_ctx_set_grad_enabled(ctx, false);
    tg_ctx_reset(ctx);
    tg_tensor *loss = gc_loss(ctx, b);
    if (loss) *out = loss->data[0];
    tg_ctx_reset(ctx);
    tg_ctx_set_grad_enabled(ctx, grad);
    return loss != NULL;
}

/* One projection: u a random unit vector over every parameter scalar (as torch's fast mode). */
static tg_status gc_projection(tg_ctx *ctx, gc_batch *b, const tg_model_gradcheck_opts *o,
                               int k, tg_model_gradcheck_line *line, tg_err *err) {
    tg_params *P = b->m->params;
    int64_t n = tg_params_numel(P);
    tg_float *theta = tg_params_data(P), *grad = tg_params_grad(P);
    tg_float *saved = malloc(sizeof(tg_float) * (size_t)n);
    double *u = malloc(sizeof(double) * (size_t)n);
    if (!saved || !u) {
        free(saved);
        free(u);
        return tg_err_set(err, TG_ERR_NOMEM, "gradcheck: out of memory");
    }
    memcpy(saved, theta, sizeof(tg_float) * (size_t)n);
    tg_nn_rng r = {o->seed * 1000003u + (uint64_t)k + 1};
    double norm = 0;
    for (int64_t i = 0; i < n; i++) {
        u[i] = tg_nn_rng_normal(&r);
        norm += u[i] * u[i];
    }
    for (int64_t i = 0; i < n; i++) u[i] /= sqrt(norm);

    tg_status st = TG_OK;
    tg_params_zero_grad(P);
    tg_ctx_reset(ctx);
    tg_tensor *loss = gc_loss(ctx, b);
    if (!loss || tg_backward(ctx, loss) != TG_OK) st = tg_nn_ctx_error(ctx, "gradcheck", err);
    tg_ctx_reset(ctx);
    double analytic = 0, lp = 0, lm = 0;
    for (int64_t i = 0; !st && i < n; i++) analytic += (double)grad[i] * u[i];
    for (int64_t i = 0; !st && i < n; i++) theta[i] = (tg_float)(saved[i] + o->check.eps * u[i]);
    if (!st && !gc_eval(ctx, b, &lp)) st = tg_nn_ctx_error(ctx, "gradcheck", err);
    for (int64_t i = 0; !st && i < n; i++) theta[i] = (tg_float)(saved[i] - o->check.eps * u[i]);
    if (!st && !gc_eval(ctx, b, &lm)) st = tg_nn_ctx_error(ctx, "gradcheck", err);
    memcpy(theta, saved, sizeof(tg_float) * (size_t)n);
    free(saved);
    free(u);
    if (st) return st;

    double numeric = (lp - lm) / (2 * o->check.eps), diff = fabs(analytic - numeric);
    snprintf(line->name, sizeof line->name, "projection %d", k);
    snprintf(line->shape, sizeof line->shape, "(all %lld)", (long long)n);
    tg_gradcheck_result *res = &line->r;
    *res = (tg_gradcheck_result){0};
    res->max_abs = diff;
    res->max_rel = fabs(numeric) > o->check.atol ? diff / fabs(numeric) : 0;  /* as tg_gradcheck */
    res->checked = 1;
    res->failed = diff > o->check.atol + o->check.rtol * fabs(numeric);
    res->pass = !res->failed;
    snprintf(res->worst, sizeof res->worst, "u.grad: analytic %.10g numeric %.10g", analytic,
             numeric);
    return TG_OK;
}

int tg_model_gradcheck(const tg_model_config *cfg, const tg_model_gradcheck_opts *opts,
                       tg_model_gradcheck_line *out, int cap, int *n_failed, tg_err *err) {
    tg_model_gradcheck_opts o = opts ? *opts : tg_model_gradcheck_defaults();
    *n_failed = 0;
    if (tg_model_config_validate(cfg, err)) return -1;
    if (cfg->dropout != 0) {
        tg_err_set(err, TG_ERR_ARG, "gradcheck: dropout = %g, the check needs 0", cfg->dropout);
        return -1;
    }
    if (cfg->max_len < GC_S) {
        tg_err_set(err, TG_ERR_ARG, "gradcheck: max_len = %d, the check's batch needs %d",
                   cfg->max_len, GC_S);
        return -1;
    }
    gc_batch *b = calloc(1, sizeof *b);
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = o.threads, .seed = o.seed});
    if (b) b->m = tg_model_new(cfg, o.seed, err);
    if (!b || !ctx || !b->m) {
        if (!b || !ctx) tg_err_set(err, TG_ERR_NOMEM, "gradcheck: out of memory");
        if (b) tg_model_free(b->m);
        free(b);
        tg_ctx_free(ctx);
        return -1;
    }
    gc_batch_fill(b, o.seed);

    int lines = 0;
    tg_status st = TG_OK;
    tg_params *P = b->m->params;
    for (int i = 0; !st && i < tg_params_len(P); i++) {
        tg_tensor *p = tg_params_at(P, i);
        tg_model_gradcheck_line line = {0};
        snprintf(line.name, sizeof line.name, "%s", p->name);
        tg_shape_str(p, line.shape, sizeof line.shape);
        tg_gradcheck_opts go = o.check;
        go.seed = o.seed + (uint64_t)i;
        tg_params_zero_grad(P);
        tg_ctx_reset(ctx);
        st = tg_gradcheck(ctx, gc_loss, b, &p, 1, &go, &line.r, err);
        if (st) break;
        *n_failed += !line.r.pass;
        if (lines < cap) out[lines] = line;
        lines++;
    }
    for (int k = 0; !st && k < o.projections; k++) {
        tg_model_gradcheck_line line = {0};
        st = gc_projection(ctx, b, &o, k, &line, err);
        if (st) break;
        *n_failed += !line.r.pass;
        if (lines < cap) out[lines] = line;
        lines++;
    }
    tg_model_free(b->m);
    free(b);
    tg_ctx_free(ctx);
    return st ? -1 : lines;
}
