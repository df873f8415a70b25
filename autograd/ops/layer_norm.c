/* layer_norm.c: fused layer norm (normalise, gain, bias, eps) over the last dim; mean and rstd per
 * row are saved for backward. */
#include "autograd/ops/ops.h"

tg_tensor *tg_layer_norm(tg_ctx *ctx, tg_tensor *x, tg_tensor *gain, tg_tensor *bias, double eps) {
    TG_NEED(ctx, x);
    char sx[64], sp[64];
    if (x->ndim < 1) return tg__fail(ctx, TG_ERR_SHAPE, "layer_norm: a scalar has no last dim");
    int d = x->shape[x->ndim - 1];
    tg_tensor *p[2] = {gain, bias};
    for (int k = 0; k < 2; k++)
        if (p[k] && p[k]->n != d)
            return tg__fail(ctx, TG_ERR_SHAPE, "layer_norm: %s %s does not fit x %s (needs %d)",
                            k ? "bias" : "gain", tg_shape_str(p[k], sp, sizeof sp),
                            tg_shape_str(x, sx, sizeof sx), d);
    if (!(eps >= 0)) return tg__fail(ctx, TG_ERR_ARG, "layer_norm: eps %g is negative", eps);
    int64_t rows = x->n / d;
    tg_tensor *y = tg__new_uninit(ctx, x->ndim, x->shape);     // like x
    tg_float *stats = y ? tg_ctx_alloc(ctx, 2 * (size_t)rows * sizeof(tg_float)) : NULL; // mean, rstd (rows)
    if (!stats) return NULL;
    tg_k_layer_norm(ctx->pool, rows, d, x->data, gain ? gain->data : NULL, bias ? bias->data : NULL,
                    eps, y->data, stats, stats + rows);
    tg_node *node = tg__record(ctx, TG_OP_LAYER_NORM, y, x, gain, bias);
    if (node) {
        /* in[] keeps NULL gain/bias in their places; n_in counts the last present */
        node->in[1] = gain;
        node->in[2] = bias;
        node->saved[0] = stats;
        node->saved_bytes = 2 * (size_t)rows * sizeof(tg_float);
    }
    return y;
}

void tg_layer_norm_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *x = n->in[0], *gain = n->in[1], *bias = n->in[2], *y = n->out;
    int64_t d = x->shape[x->ndim - 1], rows = x->n / d;
    tg_float *stats = n->saved[0];
    tg_k_layer_norm_backward(ctx->pool, rows, d, x->data, gain ? gain->data : NULL, stats,
                             stats + rows, y->grad,
                             tg_requires_grad(x) ? tg__grad(ctx, x) : NULL,
                             tg_requires_grad(gain) ? tg__grad(ctx, gain) : NULL,
                             tg_requires_grad(bias) ? tg__grad(ctx, bias) : NULL);
}
