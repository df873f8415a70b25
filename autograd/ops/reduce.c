/* reduce.c: sum and mean to a scalar, in a fixed order (see tg_k_sum). */
#include "autograd/ops/ops.h"

static tg_tensor *reduce(tg_ctx *ctx, tg_tensor *x, tg_op op) {
    TG_NEED(ctx, x);
    tg_tensor *y = tg__new_uninit(ctx, 0, NULL);   // ()
    if (!y) return NULL;
    double s = tg_k_sum(ctx->pool, x->n, x->data);
    y->data[0] = (tg_float)(op == TG_OP_MEAN ? s / (double)x->n : s);
    tg__record(ctx, op, y, x, NULL, NULL);
    return y;
}

tg_tensor *tg_sum(tg_ctx *ctx, tg_tensor *x) { return reduce(ctx, x, TG_OP_SUM); }
tg_tensor *tg_mean(tg_ctx *ctx, tg_tensor *x) { return reduce(ctx, x, TG_OP_MEAN); }

static void reduce_backward(tg_ctx *ctx, tg_node *n, double scale) {
    tg_tensor *x = n->in[0];
    if (!tg_requires_grad(x)) return;
    tg_float g = (tg_float)(n->out->grad[0] * scale), *gx = tg__grad(ctx, x);
    for (int64_t i = 0; i < x->n; i++) gx[i] += g;
}

void tg_sum_backward(tg_ctx *ctx, tg_node *n) { reduce_backward(ctx, n, 1); }
void tg_mean_backward(tg_ctx *ctx, tg_node *n) { reduce_backward(ctx, n, 1.0 / (double)n->in[0]->n); }
