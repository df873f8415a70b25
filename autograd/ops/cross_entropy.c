/* cross_entropy.c: label-smoothed cross-entropy with an ignore index, fused with log_softmax.
 * Saves the targets and each row's log-sum-exp; backward is softmax - target distribution. */
#include "autograd/ops/ops.h"

#include <string.h>

tg_tensor *tg_cross_entropy(tg_ctx *ctx, tg_tensor *logits, const int32_t *targets,
                            double smoothing, int ignore_index) {
    TG_NEED(ctx, logits);
    if (logits->ndim < 1) return tg__fail(ctx, TG_ERR_SHAPE, "cross_entropy: logits are a scalar");
    if (!(smoothing >= 0 && smoothing <= 1))
        return tg__fail(ctx, TG_ERR_ARG, "cross_entropy: label smoothing %g not in [0, 1]", smoothing);
    int64_t V = logits->shape[logits->ndim - 1], rows = logits->n / V;
    for (int64_t r = 0; r < rows; r++)
        if (targets[r] != ignore_index && (targets[r] < 0 || targets[r] >= V))
            return tg__fail(ctx, TG_ERR_ARG, "cross_entropy: target %d of row %lld is outside [0, %lld)",
                            targets[r], (long long)r, (long long)V);
    tg_tensor *y = tg__new_uninit(ctx, 0, NULL);                            // ()
    tg_float *lse = y ? tg_ctx_alloc(ctx, (size_t)rows * sizeof *lse) : NULL;  // (rows)
    double *loss = lse ? tg_ctx_alloc(ctx, (size_t)rows * sizeof *loss) : NULL;
    int32_t *saved = loss ? tg_ctx_alloc(ctx, (size_t)rows * sizeof *saved) : NULL;
    if (!saved) return NULL;
    memcpy(saved, targets, (size_t)rows * sizeof *saved);
    int64_t count = tg_k_cross_entropy(ctx->pool, rows, V, logits->data, targets, smoothing,
                                       ignore_index, lse, loss, NULL);
    double total = 0;
    for (int64_t r = 0; r < rows; r++) total += loss[r];   /* rows in order: thread-independent */
    y->data[0] = (tg_float)(count ? total / (double)count : 0);
    tg_node *node = tg__record(ctx, TG_OP_CROSS_ENTROPY, y, logits, NULL, NULL);
    if (node) {
        node->saved[0] = saved;
        node->saved[1] = lse;
        node->saved_bytes = (size_t)rows * (sizeof *saved + sizeof *lse + sizeof *loss);
        node->i[0] = ignore_index;
        node->i[1] = count;
        node->f[0] = smoothing;
    }
    return y;
}

void tg_cross_entropy_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *x = n->in[0];
    if (!tg_requires_grad(x) || n->i[1] == 0) return;
    int64_t V = x->shape[x->ndim - 1];
    double scale = (double)n->out->grad[0] / (double)n->i[1];
    tg_k_cross_entropy_backward(ctx->pool, x->n / V, V, x->data, n->saved[0], n->f[0], (int)n->i[0],
                                n->saved[1], scale, true, tg__grad(ctx, x));
}
