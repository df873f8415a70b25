/* matmul_bias.c: a linear layer's x W^T + b as one op. The composed matmul + add keeps both the
 * product and the sum for the step; here the bias is added into the product in place (matmul's
 * backward never reads its own output), so one tensor and one gradient fewer per linear layer.
 * The GEMM adds the bias (and applies the ReLU) to each tile of the product as it finishes it,
 * while the tile is in cache, with the bits of the composed ops' separate passes (kernels.h), so
 * forward and backward give the composed ops' bits. tg_matmul_bias_relu's ReLU (the
 * feed-forward's first layer): the pre-activation is never kept, backward takes relu' from the
 * output. */
#include "autograd/ops/ops.h"

static tg_tensor *matmul_bias(tg_ctx *ctx, tg_tensor *x, tg_tensor *w, tg_tensor *b, bool relu) {
    TG_NEED(ctx, x);
    TG_NEED(ctx, w);
    TG_NEED(ctx, b);
    char sw[64], sb[64];
    const char *name = relu ? "matmul_bias_relu" : "matmul_bias";
    if (w->ndim != 2 || b->ndim != 1 || b->shape[0] != w->shape[0])
        return tg__fail(ctx, TG_ERR_SHAPE, "%s: w %s and b %s: wants w (out, in), b (out)", name,
                        tg_shape_str(w, sw, sizeof sw), tg_shape_str(b, sb, sizeof sb));
    /* y = x w^T, + b per row, relu: b and relu on each tile as the GEMM finishes it */
    tg_tensor *y = tg__matmul_epilogue(ctx, x, w, false, true, b->data, relu);   // (..., out)
    if (!y) return NULL;
    tg_op op = relu ? TG_OP_MATMUL_BIAS_RELU : TG_OP_MATMUL_BIAS;
    tg_node *node = y->node;
    if (node) {   /* matmul recorded it: the same node, now with the bias */
        node->op = op;   /* its backward reads what matmul's does (and, with relu, y) */
        node->in[2] = b;
        node->n_in = 3;
        if (relu) tg__keep_for_backward(node);
    } else {      /* neither x nor w needs a gradient: record for b alone, if it needs one */
        tg__record(ctx, op, y, x, w, b);
    }
    return y;
}

tg_tensor *tg_matmul_bias(tg_ctx *ctx, tg_tensor *x, tg_tensor *w, tg_tensor *b) {
    return matmul_bias(ctx, x, w, b, false);
}

tg_tensor *tg_matmul_bias_relu(tg_ctx *ctx, tg_tensor *x, tg_tensor *w, tg_tensor *b) {
    return matmul_bias(ctx, x, w, b, true);
}

void tg_matmul_bias_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *b = n->in[2], *y = n->out;
    /* as the composed ops on the way back: the add's bias gradient first, then the matmul's */
    if (tg_requires_grad(b)) tg_k_colsum(ctx->pool, y->n / b->n, b->n, y->grad, tg__grad(ctx, b));
    if (tg_requires_grad(n->in[0]) || tg_requires_grad(n->in[1])) tg_matmul_backward(ctx, n);
}

/* relu'(u) is y > 0 (y = relu(u)): the output's gradient masked in place (nothing reads it after
 * this node), as the composed relu's backward makes u's gradient from zero, then matmul_bias's. */
void tg_matmul_bias_relu_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *y = n->out;
    tg_k_relu_mask(ctx->pool, y->n, y->data, y->grad);
    tg_matmul_bias_backward(ctx, n);
}
