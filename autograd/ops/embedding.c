/* embedding.c: gather rows of a (V, d) weight by id; backward scatter-adds into the weight's
 * gradient, split over the pool by columns so repeated ids add up in a fixed order. The padding
 * id's row gets no gradient. */
#include "autograd/ops/ops.h"

#include <string.h>

tg_tensor *tg_embedding(tg_ctx *ctx, tg_tensor *weight, const int32_t *ids, int ndim,
                        const int *shape, int pad_id) {
    TG_NEED(ctx, weight);
    char sw[64];
    if (weight->ndim != 2)
        return tg__fail(ctx, TG_ERR_SHAPE, "embedding: weight %s is not (V, d)",
                        tg_shape_str(weight, sw, sizeof sw));
    if (ndim < 1 || ndim >= TG_MAX_DIMS)
        return tg__fail(ctx, TG_ERR_SHAPE, "embedding: ids have %d dims (1 to %d)", ndim, TG_MAX_DIMS - 1);
    int V = weight->shape[0], d = weight->shape[1];
    int oshape[TG_MAX_DIMS];
    for (int k = 0; k < ndim; k++) oshape[k] = shape[k];
    oshape[ndim] = d;
    int64_t n = tg_shape_numel(ndim, shape);
    if (n < 0 || n > TG_NUMEL_MAX / d)
        return tg__fail(ctx, TG_ERR_SHAPE, "embedding: ids of more than %lld elements, or a dim not positive",
                        (long long)(TG_NUMEL_MAX / d));
    for (int64_t r = 0; r < n; r++)
        if (ids[r] < 0 || ids[r] >= V)
            return tg__fail(ctx, TG_ERR_ARG, "embedding: id %d at position %lld is outside [0, %d)",
                            ids[r], (long long)r, V);
    tg_tensor *y = tg__new_uninit(ctx, ndim + 1, oshape);       // (shape..., d)
    int32_t *saved = y ? tg_ctx_alloc(ctx, (size_t)n * sizeof *saved) : NULL;
    if (!saved) return NULL;
    memcpy(saved, ids, (size_t)n * sizeof *saved);
    for (int64_t r = 0; r < n; r++) {
        if (ids[r] == pad_id) memset(y->data + r * d, 0, (size_t)d * sizeof(tg_float));
        else memcpy(y->data + r * d, weight->data + (int64_t)ids[r] * d, (size_t)d * sizeof(tg_float));
    }
    tg_node *node = tg__record(ctx, TG_OP_EMBEDDING, y, weight, NULL, NULL);
    if (node) {
        node->saved[0] = saved;
        node->saved_bytes = (size_t)n * sizeof *saved;
        node->i[0] = n;
        node->i[1] = pad_id;
    }
    return y;
}

typedef struct { const int32_t *ids; int64_t n, d; int pad; const tg_float *dy; tg_float *dw; } emb_bwd;

static void emb_bwd_range(void *arg, size_t begin, size_t end) {
    const emb_bwd *a = arg;
    for (int64_t r = 0; r < a->n; r++) {
        if (a->ids[r] == a->pad) continue;
        tg_float *dw = a->dw + (int64_t)a->ids[r] * a->d;
        const tg_float *dy = a->dy + r * a->d;
        for (size_t j = begin; j < end; j++) dw[j] += dy[j];
    }
}

void tg_embedding_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *w = n->in[0];
    if (!tg_requires_grad(w)) return;
    emb_bwd a = {n->saved[0], n->i[0], w->shape[1], (int)n->i[1], n->out->grad, tg__grad(ctx, w)};
    tg_pool_for(ctx->pool, (size_t)a.d, 16, emb_bwd_range, &a);
}
