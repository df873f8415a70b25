/* dropout.c: inverted dropout. The keep mask comes from the context's counter-based stream
 * (seed, counter): element i of this call uses draw counter + i, and the counter then moves on by
 * the tensor's size, so masks are reproducible and independent of the thread count. The mask is
 * saved (one byte an element) for backward. The loops are tg_k_dropout's. */
#include "autograd/ops/ops.h"

tg_tensor *tg_dropout(tg_ctx *ctx, tg_tensor *x, double p) {
    TG_NEED(ctx, x);
    if (!(p >= 0 && p < 1)) return tg__fail(ctx, TG_ERR_ARG, "dropout: p = %g not in [0, 1)", p);
    if (p == 0 || !ctx->training) return x;
    tg_tensor *y = tg__new_uninit(ctx, x->ndim, x->shape);
    uint8_t *keep = y ? tg_ctx_alloc(ctx, (size_t)x->n) : NULL;
    if (!keep) return NULL;
    tg_float scale = (tg_float)(1.0 / (1.0 - p));
    tg_k_dropout(ctx->pool, x->n, x->data, p, scale, ctx->rng.seed, ctx->rng.counter, keep,
                 y->data);
    ctx->rng.counter += (uint64_t)x->n;
    tg_node *node = tg__record(ctx, TG_OP_DROPOUT, y, x, NULL, NULL);
    if (node) {
        node->saved[0] = keep;
        node->saved_bytes = (size_t)x->n;
        node->f[0] = scale;
    }
    return y;
}

void tg_dropout_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *x = n->in[0], *y = n->out;
    if (!tg_requires_grad(x)) return;
    const uint8_t *keep = n->saved[0];
    tg_float *g = tg__grad(ctx, x);
    if (g) tg_k_dropout_backward(ctx->pool, x->n, keep, y->grad, (tg_float)n->f[0], g);
}
