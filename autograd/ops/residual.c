/* residual.c: a sub-layer's residual as one op: y = x + Drop(fx) (pre-LN's sub-layer), or
 * y = LN(x + Drop(fx)) with a gain and a bias (post-LN's). It gives the bits of the composed
 * tg_dropout, tg_add and tg_layer_norm, because it runs their kernels in their order: the same
 * counter-based mask (draws counter .. counter + n, the counter then moves on by n), the same
 * sum x + 1 * d, the same normalisation; backward the same norm backward, then dx += dr and
 * d fx += dr * scale where kept. What it saves against them: the dropped tensor Drop(fx) is never
 * a tensor of the step, the tape holds one node instead of three, and backward makes one
 * gradient buffer (dr, given back at once) instead of two.
 *
 * Saved for backward: with the norm, the sum r = x + Drop(fx) (the norm's input) and its row
 * means and rstds; with dropout, the keep mask (one byte an element). x and fx are
 * not read by backward, so the layers may give them back (tg_release). */
#include "autograd/ops/ops.h"

typedef struct residual_args {
    tg_tensor *x, *fx, *gain, *bias;
    double p, eps;
    bool norm;
} residual_args;

static tg_tensor *residual_check(tg_ctx *ctx, const residual_args *a) {
    char sx[64], sf[64];
    if (!tg_tensor_same_shape(a->x, a->fx)) return tg__fail_shapes(ctx, "residual", a->x, a->fx, "x and f(x) differ");
    if (!(a->p >= 0 && a->p < 1))
        return tg__fail(ctx, TG_ERR_ARG, "residual: dropout p = %g not in [0, 1)", a->p);
    if (!a->norm) return a->x;
    int d = a->x->shape[a->x->ndim - 1];
    tg_tensor *p[2] = {a->gain, a->bias};
    for (int k = 0; k < 2; k++)
        if (p[k] && p[k]->n != d)
            return tg__fail(ctx, TG_ERR_SHAPE, "residual: %s %s does not fit x %s (needs %d)",
                            k ? "bias" : "gain", tg_shape_str(p[k], sf, sizeof sf),
                            tg_shape_str(a->x, sx, sizeof sx), d);
    if (!(a->eps >= 0)) return tg__fail(ctx, TG_ERR_ARG, "residual: eps %g is negative", a->eps);
    return a->x;
}

static tg_tensor *residual(tg_ctx *ctx, const residual_args *a) {
    TG_NEED(ctx, a->x);
    TG_NEED(ctx, a->fx);
    if (!residual_check(ctx, a)) return NULL;
    tg_tensor *x = a->x;
    int64_t n = x->n, d = x->shape[x->ndim - 1], rows = n / d;
    bool drop = a->p > 0 && ctx->training;
    tg_tensor *y = tg__new_uninit(ctx, x->ndim, x->shape);                  // like x
    /* with the norm, r (like x) apart, as the composed add's output was; without, r is y */
    size_t r_bytes = (size_t)n * sizeof(tg_float);
    tg_float *r = y && a->norm ? tg__arena_take(ctx, r_bytes) : y ? y->data : NULL;
    /* mean, rstd (rows each) with the norm, then the keep mask (n bytes) with dropout */
    size_t stat_bytes = a->norm ? 2 * (size_t)rows * sizeof(tg_float) : 0;
    size_t aux_bytes = stat_bytes + (drop ? (size_t)n : 0);
    unsigned char *aux = r && aux_bytes ? tg_ctx_alloc(ctx, aux_bytes) : NULL;
    if (!r || (aux_bytes && !aux)) return NULL;
    tg_float *stats = (tg_float *)aux;
    uint8_t *keep = drop ? aux + stat_bytes : NULL;
    tg_float scale = drop ? (tg_float)(1.0 / (1.0 - a->p)) : 1;
    if (drop) {
        tg_k_dropout(ctx->pool, n, a->fx->data, a->p, scale, ctx->rng.seed, ctx->rng.counter, keep, r);
        ctx->rng.counter += (uint64_t)n;
        tg_k_axpby(ctx->pool, n, x->data, 1, r, n, r);                      // r = x + Drop(fx)
    } else {
        tg_k_axpby(ctx->pool, n, x->data, 1, a->fx->data, n, r);
    }
    if (a->norm)
        tg_k_layer_norm(ctx->pool, rows, d, r, a->gain ? a->gain->data : NULL,
                        a->bias ? a->bias->data : NULL, a->eps, y->data, stats, stats + rows);
    tg_node *node = tg__record_n(ctx, TG_OP_RESIDUAL, y, (tg_tensor *[]){x, a->fx, a->gain, a->bias}, 4);
    if (!node) {   /* nothing will run backward: the saved buffers go back at once */
        if (a->norm) tg__arena_give_back(ctx, r, r_bytes);
        if (aux) tg__arena_give_back(ctx, aux, aux_bytes);
        return y;
    }
    node->saved[0] = aux;
    node->saved[1] = a->norm ? r : NULL;
    node->saved_bytes = aux_bytes + (a->norm ? r_bytes : 0);
    node->i[0] = a->norm;
    node->i[1] = drop;
    node->f[0] = scale;
    return y;
}

tg_tensor *tg_residual(tg_ctx *ctx, tg_tensor *x, tg_tensor *fx, double p) {
    return residual(ctx, &(residual_args){.x = x, .fx = fx, .p = p});
}

tg_tensor *tg_residual_norm(tg_ctx *ctx, tg_tensor *x, tg_tensor *fx, double p, tg_tensor *gain,
                            tg_tensor *bias, double eps) {
    return residual(ctx, &(residual_args){.x = x, .fx = fx, .p = p, .gain = gain, .bias = bias,
                                          .eps = eps, .norm = true});
}

void tg_residual_backward(tg_ctx *ctx, tg_node *nd) {
    tg_tensor *x = nd->in[0], *fx = nd->in[1], *gain = nd->in[2], *bias = nd->in[3], *y = nd->out;
    int64_t n = y->n, d = y->shape[y->ndim - 1], rows = n / d;
    bool norm = nd->i[0];
    const tg_float *stats = nd->saved[0], *r = nd->saved[1];                 // (2, rows), like x
    const uint8_t *keep = nd->i[1] ? (const uint8_t *)nd->saved[0] + (norm ? 2 * rows * sizeof(tg_float) : 0) : NULL;
    tg_float *dr = y->grad;                                                  // like x
    if (norm) {   /* the norm's backward into dr, from zero as the composed r's gradient */
        dr = tg__arena_take(ctx, (size_t)n * sizeof(tg_float));
        if (!dr) return;
        tg_k_zero(ctx->pool, n, dr);
        tg_k_layer_norm_backward(ctx->pool, rows, d, r, gain ? gain->data : NULL, stats,
                                 stats + rows, y->grad, dr,
                                 tg_requires_grad(gain) ? tg__grad(ctx, gain) : NULL,
                                 tg_requires_grad(bias) ? tg__grad(ctx, bias) : NULL);
    }
    if (tg_requires_grad(x)) tg_k_acc(ctx->pool, n, 1, dr, tg__grad(ctx, x));
    if (tg_requires_grad(fx)) {
        tg_float *g = tg__grad(ctx, fx);
        if (g && keep) tg_k_dropout_backward(ctx->pool, n, keep, dr, (tg_float)nd->f[0], g);
        else if (g) tg_k_acc(ctx->pool, n, 1, dr, g);
    }
    if (dr != y->grad) tg__arena_give_back(ctx, dr, (size_t)n * sizeof(tg_float));
}
