/* tape.c: reverse-mode backward over the tape, and the op table. */
#include "autograd/internal.h"

const tg_op_def tg_op_table[TG_OP_COUNT] = {
    [TG_OP_ADD] = {"add", tg_add_backward},
    [TG_OP_SUB] = {"sub", tg_sub_backward},
    [TG_OP_MUL] = {"mul", tg_mul_backward},
    [TG_OP_SCALE] = {"scale", tg_scale_backward},
    [TG_OP_MATMUL] = {"matmul", tg_matmul_backward},
    [TG_OP_RELU] = {"relu", tg_relu_backward},
    [TG_OP_GELU] = {"gelu", tg_gelu_backward},
    [TG_OP_SOFTMAX] = {"softmax", tg_softmax_backward},
    [TG_OP_LOG_SOFTMAX] = {"log_softmax", tg_log_softmax_backward},
    [TG_OP_LAYER_NORM] = {"layer_norm", tg_layer_norm_backward},
    [TG_OP_DROPOUT] = {"dropout", tg_dropout_backward},
    [TG_OP_EMBEDDING] = {"embedding", tg_embedding_backward},
    [TG_OP_RESHAPE] = {"reshape", tg_reshape_backward},
    [TG_OP_TRANSPOSE] = {"transpose", tg_transpose_backward},
    [TG_OP_SUM] = {"sum", tg_sum_backward},
    [TG_OP_MEAN] = {"mean", tg_mean_backward},
    [TG_OP_CROSS_ENTROPY] = {"cross_entropy", tg_cross_entropy_backward},
    [TG_OP_POW] = {"pow", tg_pow_backward},
    [TG_OP_MATMUL_BIAS] = {"matmul_bias", tg_matmul_bias_backward},
    [TG_OP_LINEAR_CROSS_ENTROPY] = {"linear_cross_entropy", tg_linear_cross_entropy_backward},
};
_Static_assert(sizeof tg_op_table / sizeof tg_op_table[0] == TG_OP_COUNT,
               "the op table must have one entry per tg_op");

const char *tg_op_name(tg_op op) {
    return (unsigned)op < TG_OP_COUNT && tg_op_table[op].name ? tg_op_table[op].name : "?";
}

tg_status tg_backward(tg_ctx *ctx, tg_tensor *loss) {
    if (ctx->status != TG_OK) return ctx->status;
    if (!loss) {
        tg__fail(ctx, TG_ERR_ARG, "backward: no loss tensor");
        return ctx->status;
    }
    if (loss->n != 1) {
        char s[64];
        tg__fail(ctx, TG_ERR_SHAPE, "backward: the loss must have one element, not %s",
                 tg_shape_str(loss, s, sizeof s));
        return ctx->status;
    }
    if (!loss->node) {
        tg__fail(ctx, TG_ERR_STATE, "backward: the loss was not recorded (recording off, or it "
                                    "depends on nothing that needs a gradient)");
        return ctx->status;
    }
    /* Intermediate gradients start from zero on every call; leaves keep accumulating. A node's
     * output gradient is made by its first consumer's backward (tg__grad, zeroed), and given back
     * once the node itself has run: every consumer comes later on the tape, so nothing reads it
     * again. The space goes to the next gradients, and a step holds only those waiting for their
     * producer. A node whose output got no gradient (it does not lead to the loss) is skipped. */
    for (tg_node *n = loss->node; n; n = n->prev)
        if (n->out->grad && !tg__grad_shared(n->out)) tg_k_zero(ctx->pool, n->out->n, n->out->grad);
    if (!tg__grad(ctx, loss)) return ctx->status;
    loss->grad[0] = 1;
    if (ctx->prof) tg__prof_forward(ctx, loss->node);
    for (tg_node *n = loss->node; n; n = n->prev) {
        tg_tensor *out = n->out;
        if (!out->grad) continue;
        double t0 = ctx->prof ? tg__now() : 0;
        tg_op_table[n->op].backward(ctx, n);
        if (ctx->prof) tg__prof_backward(ctx, n, tg__now() - t0);
        if (ctx->status != TG_OK) return ctx->status;
        if (ctx->peak) tg__peak_note(ctx);
        if (out != loss) {
            if (!tg__grad_shared(out))
                tg__arena_give_back(ctx, out->grad, (size_t)out->n * sizeof(tg_float));
            out->grad = NULL;
        }
    }
    return TG_OK;
}
