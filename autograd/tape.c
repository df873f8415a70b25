/* tape.c: reverse-mode backward over the tape, and the op table. */
#include <stdint.h>
#include <stdlib.h>

#include "autograd/internal.h"

/* Rows in op_list.h order, without designators: the table is as long as the rows it is given, so
 * the check below fails at compile time if the table and the enum ever come apart (a row left
 * out, or a table written by hand). */
#define TG_OP_TABLE_ROW(E, name) {#name, tg_##name##_backward},
const tg_op_def tg_op_table[] = {TG_OP_LIST(TG_OP_TABLE_ROW)};
_Static_assert(sizeof tg_op_table / sizeof tg_op_table[0] == TG_OP_COUNT,
               "the op table must have one row per tg_op, in op_list.h order");

const char *tg_op_name(tg_op op) {
    return (unsigned)op < TG_OP_COUNT && tg_op_table[op].name ? tg_op_table[op].name : "?";
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
    /* Intermediate gradients start from zero on every call; leaves keep accumulating. A node's
     * output gradient is made by its first consumer's backward (tg__grad, zeroed), and given back
     * once the node itself has run: every consumer comes later on the tape, so nothing reads it
     * again. The space goes to the next gradients, and a step holds only those waiting for their
     * producer. A node whose output got no gradient (it does not lead to the loss) is skipped. */
    for (tg_node *n = loss->node; n; n = n->prev)
        if (n->out->grad && !tg__grad_shared(n->out)) tg_k_zero(ctx->pool, n->out->n, n->out->grad);
    /* The loss's gradient is its own, even when the loss is a reshape: its input's gradient is
     * given back after its producer ran (the loss would keep a pointer into space taken since),
     * or is a leaf's, which accumulates (the seed would overwrite it). */
    if (tg__grad_shared(loss) || (!loss->grad && (loss->flags & TG__TENSOR_VIEW)))
        if (!(loss->grad = tg__arena_take(ctx, sizeof(tg_float)))) return ctx->status;
    if (!tg__grad(ctx, loss)) return ctx->status;
    loss->grad[0] = 1;
    int64_t walked = 0;
    if (ctx->prof) tg__prof_forward(ctx, loss->node);
    for (tg_node *n = loss->node; n; n = n->prev) {
        tg_tensor *out = n->out;
        walked++;   /* every node counts, as tg_backward_leaf_final counts them */
        if (!out->grad) {
            if (hook) hook(user, walked);
            continue;
        }
        double t0 = ctx->prof ? tg__now() : 0;
        tg_op_table[n->op].backward(ctx, n);
        if (ctx->prof) tg__prof_backward(ctx, n, tg__now() - t0);
        if (ctx->status != TG_OK) return ctx->status;
        if (hook) hook(user, walked);
        if (ctx->peak) tg__peak_note(ctx);
        if (out != loss) {
            if (!tg__grad_shared(out))
                tg__arena_give_back(ctx, out->grad, (size_t)out->n * sizeof(tg_float));
            out->grad = NULL;
        }
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
