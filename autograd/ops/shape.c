/* shape.c: reshape and transpose. Transpose writes a new tensor, so every kernel sees contiguous
 * rows; reshape keeps the layout, so its output shares its input's values (no copy: no op writes
 * into an existing tensor) and, when recorded, its input's gradient (tg__grad). */
#include "autograd/ops/ops.h"

#include <string.h>

tg_tensor *tg_reshape(tg_ctx *ctx, tg_tensor *x, int ndim, const int *shape) {
    TG_NEED(ctx, x);
    char sx[64];
    if (ndim < 0 || ndim > TG_MAX_DIMS)
        return tg__fail(ctx, TG_ERR_SHAPE, "reshape: %d dims (at most %d)", ndim, TG_MAX_DIMS);
    for (int d = 0; d < ndim; d++)
        if (shape[d] <= 0) return tg__fail(ctx, TG_ERR_SHAPE, "reshape: dim %d is %d", d, shape[d]);
    int64_t n = tg_shape_numel(ndim, shape);   /* -1: more than TG_NUMEL_MAX */
    if (n != x->n)
        return tg__fail(ctx, TG_ERR_SHAPE, "reshape: %s has %lld elements, the new shape %s%lld",
                        tg_shape_str(x, sx, sizeof sx), (long long)x->n, n < 0 ? "more than " : "",
                        (long long)(n < 0 ? TG_NUMEL_MAX : n));
    tg_tensor *y = tg_ctx_alloc(ctx, sizeof *y);
    if (!y) return NULL;
    memset(y, 0, sizeof *y);
    y->data = x->data;
    y->n = x->n;
    y->ndim = ndim;
    y->flags = TG__TENSOR_VIEW;
    for (int d = 0; d < ndim; d++) y->shape[d] = shape[d];
    /* unrecorded, its consumers' needs cannot be traced back to x: x keeps its values */
    if (!tg__record(ctx, TG_OP_RESHAPE, y, x, NULL, NULL)) tg__keep(x);
    return y;
}

void tg_reshape_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *x = n->in[0];
    /* usually nothing to do: the consumers wrote into x's gradient (tg__grad) */
    if (tg_requires_grad(x) && !tg__grad_shared(n->out))
        tg_k_acc(ctx->pool, x->n, 1, n->out->grad, tg__grad(ctx, x));
}

tg_tensor *tg_transpose(tg_ctx *ctx, tg_tensor *x, int d0, int d1) {
    TG_NEED(ctx, x);
    char sx[64];
    if (d0 < 0 || d1 < 0 || d0 >= x->ndim || d1 >= x->ndim)
        return tg__fail(ctx, TG_ERR_SHAPE, "transpose: dims %d and %d of %s", d0, d1,
                        tg_shape_str(x, sx, sizeof sx));
    int shape[TG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
    shape[d0] = x->shape[d1];
    shape[d1] = x->shape[d0];
    tg_tensor *y = tg__new_uninit(ctx, x->ndim, shape);
    if (!y) return NULL;
    tg_k_transpose(ctx->pool, x->ndim, x->shape, d0, d1, x->data, y->data, false);
    tg_node *node = tg__record(ctx, TG_OP_TRANSPOSE, y, x, NULL, NULL);
    if (node) { node->i[0] = d0; node->i[1] = d1; }
    return y;
}

void tg_transpose_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *x = n->in[0], *y = n->out;
    if (tg_requires_grad(x))
        tg_k_transpose(ctx->pool, y->ndim, y->shape, (int)n->i[0], (int)n->i[1], y->grad,
                       tg__grad(ctx, x), true);
}
