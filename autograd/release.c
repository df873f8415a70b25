/* release.c: giving a tensor's values back to the arena during the forward. Most activations
 * are read once, by the next op, and never by backward (a linear layer's output read by
 * dropout, the heads before their transpose, ...); when the layer that made one says it is done
 * with it (tg_release), its space goes to the next tensors. Whether backward needs the values is
 * known from the recorded nodes: each marks what its op's backward reads (the table below), and
 * a marked tensor stays until the reset. A reshape shares its input's values, so marking a
 * reshape marks its input, and an unrecorded reshape (its consumers cannot be traced back) keeps
 * its input for the step. */
#include "autograd/internal.h"

enum { READS_IN0 = 1, READS_IN1 = 2, READS_IN2 = 4, READS_OUT = 16, READS_ALL = 31 };
_Static_assert(TG_NODE_MAX_IN <= 4, "READS_OUT must stay above the inputs' bits");

/* What each op's backward reads besides gradients and its saved buffers. An op missing here is
 * taken to read everything: a new op is safe before it is listed. */
static unsigned backward_reads(tg_op op) {
    switch (op) {
    case TG_OP_ADD: case TG_OP_SUB: case TG_OP_SCALE: case TG_OP_DROPOUT: case TG_OP_EMBEDDING:
    case TG_OP_RESHAPE: case TG_OP_TRANSPOSE: case TG_OP_SUM: case TG_OP_MEAN:
    case TG_OP_LINEAR_CROSS_ENTROPY: case TG_OP_RESIDUAL:   /* residual saves its sum */
        return 0;
    case TG_OP_MUL: case TG_OP_MATMUL: case TG_OP_MATMUL_BIAS:
        return READS_IN0 | READS_IN1;
    case TG_OP_MATMUL_BIAS_RELU:
        return READS_IN0 | READS_IN1 | READS_OUT;
    case TG_OP_RELU: case TG_OP_GELU: case TG_OP_POW: case TG_OP_CROSS_ENTROPY:
        return READS_IN0;
    case TG_OP_LAYER_NORM:
        return READS_IN0 | READS_IN1 | READS_IN2;
    case TG_OP_SOFTMAX: case TG_OP_LOG_SOFTMAX:
        return READS_OUT;
    default:
        return READS_ALL;
    }
}

void tg__keep(tg_tensor *t) {
    while (t && !(t->flags & TG__TENSOR_KEEP)) {
        t->flags |= TG__TENSOR_KEEP;
        t = t->node && t->node->op == TG_OP_RESHAPE ? t->node->in[0] : NULL;
    }
}

void tg_keep(tg_tensor *t) { tg__keep(t); }

void tg__keep_for_backward(tg_node *node) {
    unsigned r = backward_reads(node->op);
    for (int k = 0; k < TG_NODE_MAX_IN; k++)
        if (r & (1u << k)) tg__keep(node->in[k]);
    if (r & READS_OUT) tg__keep(node->out);
}

void tg_release(tg_ctx *ctx, tg_tensor *t) {
    if (!t || !t->data) return;
    /* parameters and reshapes do not own their values; marked leaves are the caller's */
    if (t->flags & (TG_TENSOR_PARAM | TG__TENSOR_KEEP | TG__TENSOR_VIEW)) return;
    if (!t->node && (t->flags & TG_TENSOR_REQUIRES_GRAD)) return;
    tg__arena_give_back(ctx, t->data, (size_t)t->n * sizeof(tg_float));
    t->data = NULL;
}
