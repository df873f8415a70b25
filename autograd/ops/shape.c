/* shape.c: reshape and transpose. With no views, both write a new tensor: every kernel then sees
 * contiguous rows. */
#include "autograd/ops/ops.h"

#include <string.h>

tg_tensor *tg_reshape(tg_ctx *ctx, tg_tensor *x, int ndim, const int *shape) {
    TG_NEED(ctx, x);
    char sx[64];
    if (ndim < 0 || ndim > TG_MAX_DIMS)
        return tg__fail(ctx, TG_ERR_SHAPE, "reshape: %d dims (at most %d)", ndim, TG_MAX_DIMS);
    for (int d = 0; d < ndim; d++)
        if (shape[d] <= 0) return tg__fail(ctx, TG_ERR_SHAPE, "reshape: dim %d is %d", d, shape[d]);
    if (tg_shape_numel(ndim, shape) != x->n)
        return tg__fail(ctx, TG_ERR_SHAPE, "reshape: %s has %lld elements, the new shape %lld",
                        tg_shape_str(x, sx, sizeof sx), (long long)x->n,
                        (long long)tg_shape_numel(ndim, shape));
    tg_tensor *y = tg__new_uninit(ctx, ndim, shape);
    if (!y) return NULL;
    memcpy(y->data, x->data, (size_t)x->n * sizeof(tg_float));
    tg__record(ctx, TG_OP_RESHAPE, y, x, NULL, NULL);
    return y;
}

void tg_reshape_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *x = n->in[0];
    if (tg_requires_grad(x)) tg_k_acc(ctx->pool, x->n, 1, n->out->grad, tg__grad(ctx, x));
}

/* Copies src (shape s) into dst with dims d0 and d1 swapped; acc adds instead of writing. */
static void permute(const tg_float *src, tg_float *dst, int ndim, const int *s, int d0, int d1, bool acc) {
    int sh[TG_MAX_DIMS] = {1, 1, 1, 1};   /* pad to 4 dims at the front */
    int off = TG_MAX_DIMS - ndim;
    for (int d = 0; d < ndim; d++) sh[off + d] = s[d];
    d0 += off;
    d1 += off;
    int64_t st[TG_MAX_DIMS], dt[TG_MAX_DIMS];   /* source strides, destination strides */
    int dsh[TG_MAX_DIMS];
    for (int d = 0; d < TG_MAX_DIMS; d++) dsh[d] = sh[d];
    dsh[d0] = sh[d1];
    dsh[d1] = sh[d0];
    st[3] = dt[3] = 1;
    for (int d = 2; d >= 0; d--) { st[d] = st[d + 1] * sh[d + 1]; dt[d] = dt[d + 1] * dsh[d + 1]; }
    /* destination stride for each source dim */
    int64_t ds[TG_MAX_DIMS];
    for (int d = 0; d < TG_MAX_DIMS; d++) ds[d] = dt[d];
    ds[d0] = dt[d1];
    ds[d1] = dt[d0];
    for (int i0 = 0; i0 < sh[0]; i0++)
        for (int i1 = 0; i1 < sh[1]; i1++)
            for (int i2 = 0; i2 < sh[2]; i2++) {
                const tg_float *s3 = src + i0 * st[0] + i1 * st[1] + i2 * st[2];
                tg_float *d3 = dst + i0 * ds[0] + i1 * ds[1] + i2 * ds[2];
                if (acc) for (int i3 = 0; i3 < sh[3]; i3++) d3[i3 * ds[3]] += s3[i3];
                else for (int i3 = 0; i3 < sh[3]; i3++) d3[i3 * ds[3]] = s3[i3];
            }
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
    permute(x->data, y->data, x->ndim, x->shape, d0, d1, false);
    tg_node *node = tg__record(ctx, TG_OP_TRANSPOSE, y, x, NULL, NULL);
    if (node) { node->i[0] = d0; node->i[1] = d1; }
    return y;
}

void tg_transpose_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *x = n->in[0], *y = n->out;
    if (tg_requires_grad(x))
        permute(y->grad, tg__grad(ctx, x), y->ndim, y->shape, (int)n->i[0], (int)n->i[1], true);
}
