/* softmax.c: softmax over the last dim of scale x with an additive broadcast mask and a causal
 * flag (attention's scaled scores in one pass), and log_softmax. The output is what backward
 * needs (saved as the node's out; the scale in f[0]). */
#include "autograd/ops/ops.h"

tg_tensor *tg_softmax(tg_ctx *ctx, tg_tensor *x, tg_tensor *mask, bool causal) {
    return tg_softmax_scaled(ctx, x, 1.0, mask, causal);
}

tg_tensor *tg_softmax_scaled(tg_ctx *ctx, tg_tensor *x, double scale, tg_tensor *mask, bool causal) {
    TG_NEED(ctx, x);
    char sx[64], sm[64];
    /* checked before the last dim is read: a 0-d tensor has none (shape[-1] would divide by 0) */
    if (x->ndim < 1) return tg__fail(ctx, TG_ERR_SHAPE, "softmax: a scalar has no last dim");
    tg_softmax_args a = {.rows = x->n / x->shape[x->ndim - 1], .n = x->shape[x->ndim - 1],
                         .x = x->data, .ndim = x->ndim, .causal = causal, .scaled = scale != 1,
                         .scale = (tg_float)scale};
    if (causal && x->ndim < 2)
        return tg__fail(ctx, TG_ERR_SHAPE, "softmax: causal needs (..., Tq, Tk), got %s",
                        tg_shape_str(x, sx, sizeof sx));
    a.tq = x->ndim >= 2 ? x->shape[x->ndim - 2] : 1;
    for (int d = 0; d < x->ndim; d++) a.shape[d] = x->shape[d];
    if (mask) {
        bool ok = mask->ndim == x->ndim;
        for (int d = 0; ok && d < x->ndim; d++)
            ok = mask->shape[d] == x->shape[d] || mask->shape[d] == 1;
        if (!ok)
            return tg__fail(ctx, TG_ERR_SHAPE, "softmax: mask %s does not broadcast to %s",
                            tg_shape_str(mask, sm, sizeof sm), tg_shape_str(x, sx, sizeof sx));
        int64_t stride = 1;
        for (int d = x->ndim - 1; d >= 0; d--) {
            a.mask_stride[d] = mask->shape[d] == 1 ? 0 : stride;
            stride *= mask->shape[d];
        }
        a.mask = mask->data;
    }
    tg_tensor *y = tg__new_uninit(ctx, x->ndim, x->shape);
    if (!y) return NULL;
    a.y = y->data;
    tg_k_softmax(ctx->pool, &a);
    tg_node *node = tg__record(ctx, TG_OP_SOFTMAX, y, x, NULL, NULL);   /* the mask takes no gradient */
    if (node) node->f[0] = scale;
    return y;
}

void tg_softmax_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *x = n->in[0], *y = n->out;
    if (!tg_requires_grad(x)) return;
    int64_t len = x->shape[x->ndim - 1];
    tg_k_softmax_backward(ctx->pool, x->n / len, len, y->data, y->grad, tg__grad(ctx, x), false,
                          (tg_float)n->f[0]);
}

tg_tensor *tg_log_softmax(tg_ctx *ctx, tg_tensor *x) {
    TG_NEED(ctx, x);
    if (x->ndim < 1) return tg__fail(ctx, TG_ERR_SHAPE, "log_softmax: a scalar has no last dim");
    tg_tensor *y = tg__new_uninit(ctx, x->ndim, x->shape);
    if (!y) return NULL;
    tg_softmax_args a = {.rows = x->n / x->shape[x->ndim - 1], .n = x->shape[x->ndim - 1],
                         .x = x->data, .y = y->data, .ndim = x->ndim, .log = true};
    tg_k_softmax(ctx->pool, &a);
    tg__record(ctx, TG_OP_LOG_SOFTMAX, y, x, NULL, NULL);
    return y;
}

void tg_log_softmax_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *x = n->in[0], *y = n->out;
    if (!tg_requires_grad(x)) return;
    int64_t len = x->shape[x->ndim - 1];
    tg_k_softmax_backward(ctx->pool, x->n / len, len, y->data, y->grad, tg__grad(ctx, x), true, 1);
}
