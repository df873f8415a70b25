/* custom.c: ops defined outside the library (tg_custom_op). The node keeps the definition and the
 * user's pointer; forward runs at once, backward calls the user's function with the inputs'
 * gradient buffers (NULL where none is needed). */
#include "autograd/ops/ops.h"

_Static_assert(TG_CUSTOM_MAX_IN <= TG_NODE_MAX_IN, "a custom op's inputs must fit in a tape node");

tg_tensor *tg_custom(tg_ctx *ctx, const tg_custom_op *op, void *user, tg_tensor *const *in,
                     int n_in, int out_ndim, const int *out_shape) {
    if (ctx->status != TG_OK) return NULL;
    if (!op || !op->forward || !op->name)
        return tg__fail(ctx, TG_ERR_ARG, "custom: the op needs a name and a forward function");
    if (n_in < 1 || n_in > TG_CUSTOM_MAX_IN || !in)
        return tg__fail(ctx, TG_ERR_ARG, "custom %s: %d inputs, expected 1..%d", op->name, n_in,
                        TG_CUSTOM_MAX_IN);
    for (int i = 0; i < n_in; i++)
        if (!in[i]) return tg__fail(ctx, TG_ERR_ARG, "custom %s: input %d is NULL", op->name, i);
    if (out_ndim < 0 || out_ndim > TG_MAX_DIMS || (out_ndim > 0 && !out_shape))
        return tg__fail(ctx, TG_ERR_SHAPE, "custom %s: output ndim %d, expected 0..%d", op->name,
                        out_ndim, TG_MAX_DIMS);
    for (int d = 0; d < out_ndim; d++)
        if (out_shape[d] < 1)
            return tg__fail(ctx, TG_ERR_SHAPE, "custom %s: output dim %d is %d", op->name, d,
                            out_shape[d]);
    tg_tensor *y = tg__new_uninit(ctx, out_ndim, out_shape);
    if (!y) return NULL;
    tg_err err = {{0}};
    tg_status st = op->forward(in, n_in, y, user, &err);
    if (st != TG_OK)
        return tg__fail(ctx, st, "custom %s: %s", op->name,
                        err.msg[0] ? err.msg : tg_status_str(st));
    tg_node *n =
        tg__record(ctx, TG_OP_CUSTOM, y, in[0], n_in > 1 ? in[1] : NULL, n_in > 2 ? in[2] : NULL);
    if (n) {
        n->saved[0] = (void *)(uintptr_t)op; /* the definition is the caller's, read-only */
        n->saved[1] = user;
    }
    return y;
}

void tg_custom_backward(tg_ctx *ctx, tg_node *n) {
    const tg_custom_op *op = (const tg_custom_op *)n->saved[0];
    if (!op->backward) {
        tg__fail(ctx, TG_ERR_STATE, "backward: custom op %s has no backward function", op->name);
        return;
    }
    tg_float *grads[TG_NODE_MAX_IN] = {0};
    for (int i = 0; i < n->n_in; i++)
        if (tg_requires_grad(n->in[i])) grads[i] = tg__grad(ctx, n->in[i]);
    op->backward(n->in, n->n_in, n->out, grads, n->saved[1]);
}
