/* tape.c: reverse-mode backward over the tape, and the op table. */
#include <stdint.h>
#include <stdlib.h>

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
};
_Static_assert(sizeof tg_op_table / sizeof tg_op_table[0] == TG_OP_COUNT,
               "the op table must have one entry per tg_op");

const char *tg_op_name(tg_op op) {
    return (unsigned)op < TG_OP_COUNT && tg_op_table[op].name ? tg_op_table[op].name : "?";
}

/* A gradient's share of the backward block: what an arena allocation of its own would take. */
static size_t grad_bytes(const tg_tensor *t) {
    size_t b = ((size_t)t->n * sizeof(tg_float) + 63) / 64 * 64;
    return b ? b : 64;
}

tg_status tg_backward(tg_ctx *ctx, tg_tensor *loss) { return tg_backward_hooked(ctx, loss, NULL, NULL); }

tg_status tg_backward_hooked(tg_ctx *ctx, tg_tensor *loss, tg_backward_hook hook, void *user) {
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
    /* Intermediate gradients start from zero on every call; leaves keep accumulating. Those not
     * allocated yet (all of them on a step's first backward) are carved from one arena block,
     * zeroed by one call split over the pool; each starts on a 64-byte boundary, as an arena
     * allocation of its own would. */
    size_t fresh = 0;
    for (tg_node *n = loss->node; n; n = n->prev)
        if (!n->out->grad) fresh += grad_bytes(n->out);
    char *block = NULL;
    if (fresh) {
        block = tg_ctx_alloc(ctx, fresh);
        if (!block) return ctx->status;
        tg_k_zero(ctx->pool, (int64_t)(fresh / sizeof(tg_float)), (tg_float *)(void *)block);
    }
    for (tg_node *n = loss->node; n; n = n->prev) {
        if (!n->out->grad) {
            n->out->grad = (tg_float *)(void *)block;
            block += grad_bytes(n->out);
        } else {
            tg_k_zero(ctx->pool, n->out->n, n->out->grad);
        }
    }
    loss->grad[0] = 1;
    int64_t walked = 0;
    for (tg_node *n = loss->node; n; n = n->prev) {
        tg_op_table[n->op].backward(ctx, n);
        if (ctx->status != TG_OK) return ctx->status;
        if (hook) hook(user, ++walked);
    }
    return TG_OK;
}

typedef struct { const tg_tensor *t; int i; } leaf_ref;

static int leaf_cmp(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)((const leaf_ref *)a)->t, y = (uintptr_t)((const leaf_ref *)b)->t;
    return x < y ? -1 : x > y;
}

tg_status tg_backward_leaf_final(const tg_tensor *loss, int n, tg_tensor *const *leaves, int64_t *final_after) {
    leaf_ref *ref = malloc((size_t)(n > 0 ? n : 1) * sizeof *ref);
    if (!ref) return TG_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        ref[i] = (leaf_ref){leaves[i], i};
        final_after[i] = 0;
    }
    qsort(ref, (size_t)n, sizeof *ref, leaf_cmp);
    int64_t walked = 0;
    for (const tg_node *nd = loss ? loss->node : NULL; nd; nd = nd->prev) {
        walked++;
        for (int k = 0; k < nd->n_in; k++) {
            if (!nd->in[k] || nd->in[k]->node) continue;   /* only leaves are of interest */
            leaf_ref key = {nd->in[k], 0};
            const leaf_ref *hit = bsearch(&key, ref, (size_t)n, sizeof *ref, leaf_cmp);
            if (hit) final_after[hit->i] = walked;   /* the walk's last toucher wins */
        }
    }
    free(ref);
    return TG_OK;
}
