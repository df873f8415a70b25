/* tensor.c: shapes, tensors of a step, and the recording helpers the ops share. */
#include "autograd/internal.h"

#include <stdio.h>
#include <string.h>

/* Keep the node and tensor small and fixed: the tape is walked every step. */
_Static_assert(sizeof(tg_tensor) <= 160, "tg_tensor grew: keep it a small fixed-size struct");
_Static_assert(sizeof(tg_node) <= 160, "tg_node grew: keep it a small fixed-size struct");

int64_t tg_shape_numel(int ndim, const int *shape) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] <= 0 || n > TG_NUMEL_MAX / shape[d]) return -1;
        n *= shape[d];
    }
    return n;
}

bool tg_tensor_same_shape(const tg_tensor *a, const tg_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

char *tg_shape_str(const tg_tensor *t, char *buf, size_t len) {
    size_t k = (size_t)snprintf(buf, len, "(");
    for (int d = 0; d < t->ndim && k < len; d++)
        k += (size_t)snprintf(buf + k, len - k, d ? ", %d" : "%d", t->shape[d]);
    if (k < len) snprintf(buf + k, len - k, ")");
    return buf;
}

tg_tensor *tg__new_uninit(tg_ctx *ctx, int ndim, const int *shape) {
    if (ndim < 0 || ndim > TG_MAX_DIMS)
        return tg__fail(ctx, TG_ERR_SHAPE, "tensor: %d dims (at most %d)", ndim, TG_MAX_DIMS);
    for (int d = 0; d < ndim; d++)
        if (shape[d] <= 0)
            return tg__fail(ctx, TG_ERR_SHAPE, "tensor: dim %d has size %d", d, shape[d]);
    int64_t n = tg_shape_numel(ndim, shape);
    if (n < 0) {
        char s[96];
        tg_tensor dims = {.ndim = ndim};
        memcpy(dims.shape, shape, (size_t)ndim * sizeof *shape);
        return tg__fail(ctx, TG_ERR_SHAPE, "tensor: %s has more than %lld elements",
                        tg_shape_str(&dims, s, sizeof s), (long long)TG_NUMEL_MAX);
    }
    tg_tensor *t = tg_ctx_alloc(ctx, sizeof *t);
    /* often the space of a tensor released a moment ago (tg_release) */
    tg_float *data = t ? tg__arena_take(ctx, (size_t)n * sizeof(tg_float)) : NULL;
    if (!data) return NULL;
    memset(t, 0, sizeof *t);
    t->data = data;
    t->n = n;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    return t;
}

tg_tensor *tg_tensor_new(tg_ctx *ctx, int ndim, const int *shape) {
    tg_tensor *t = tg__new_uninit(ctx, ndim, shape);
    if (t) memset(t->data, 0, (size_t)t->n * sizeof(tg_float));
    return t;
}

tg_tensor *tg_tensor_from(tg_ctx *ctx, int ndim, const int *shape, const tg_float *data) {
    tg_tensor *t = tg__new_uninit(ctx, ndim, shape);
    if (t) memcpy(t->data, data, (size_t)t->n * sizeof(tg_float));
    return t;
}

void tg_tensor_set_requires_grad(tg_ctx *ctx, tg_tensor *t) {
    if (!t) return;
    t->flags |= TG_TENSOR_REQUIRES_GRAD;
    tg__grad(ctx, t);
}

bool tg__grad_shared(const tg_tensor *t) {
    return (t->flags & TG__TENSOR_VIEW) && t->node && t->grad && t->grad == t->node->in[0]->grad;
}

tg_float *tg__grad(tg_ctx *ctx, tg_tensor *t) {
    /* a recorded reshape's gradient is its input's, in the same layout: no copy on the way back */
    if (!t->grad && (t->flags & TG__TENSOR_VIEW) && t->node) return t->grad = tg__grad(ctx, t->node->in[0]);
    if (!t->grad) {
        /* during backward, often the space of a gradient given back a moment ago */
        t->grad = tg__arena_take(ctx, (size_t)t->n * sizeof(tg_float));
        if (t->grad) tg_k_zero(ctx->pool, t->n, t->grad);
    }
    return t->grad;
}

tg_node *tg__record(tg_ctx *ctx, tg_op op, tg_tensor *out, tg_tensor *a, tg_tensor *b, tg_tensor *c) {
    return tg__record_n(ctx, op, out, (tg_tensor *[]){a, b, c}, 3);
}

tg_node *tg__record_n(tg_ctx *ctx, tg_op op, tg_tensor *out, tg_tensor *const *in, int n) {
    if (!ctx->grad_enabled) return NULL;
    bool needed = false;
    for (int k = 0; k < n; k++) needed = needed || tg_requires_grad(in[k]);
    if (!needed) return NULL;
    tg_node *node = tg_ctx_alloc(ctx, sizeof *node);
    if (!node) return NULL;
    memset(node, 0, sizeof *node);
    node->op = op;
    for (int k = 0; k < n; k++) {
        node->in[k] = in[k];
        if (in[k]) node->n_in = k + 1;   /* up to the last present */
    }
    node->out = out;
    node->prev = ctx->tape;
    ctx->tape = node;
    ctx->tape_len++;
    out->flags |= TG_TENSOR_REQUIRES_GRAD;
    out->node = node;
    tg__keep_for_backward(node);
    if (ctx->peak) tg__peak_note(ctx);
    if (ctx->prof) node->t_rec = tg__now();
    return node;
}

void *tg__fail_shapes(tg_ctx *ctx, const char *op, const tg_tensor *a, const tg_tensor *b,
                      const char *why) {
    char sa[64], sb[64];
    return tg__fail(ctx, TG_ERR_SHAPE, "%s: %s and %s: %s", op, tg_shape_str(a, sa, sizeof sa),
                    tg_shape_str(b, sb, sizeof sb), why);
}
