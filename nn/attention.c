/* attention.c: multi-head scaled dot-product attention, self and encoder-decoder. The key/value
 * projection is separate from the attention itself so that incremental decoding can project
 * only the newest token and attend over cached keys and values. */
#include <math.h>

#include "nn/layers.h"

bool tg_mha_declare(tg_mha *a, tg_params *P, const char *prefix, const tg_model_config *c) {
    int d = c->d_model;
    if (c->heads < 1 || d < 1 || d % c->heads) {
        char msg[128];
        snprintf(msg, sizeof msg, "%sattention: d_model %d does not divide into %d heads", prefix, d, c->heads);
        tg_params_set_errmsg(P, msg);
        return false;
    }
    a->heads = c->heads;
    a->d_head = d / c->heads;
    a->g = (tg_linear){0};
    /* the gate comes last: the other parameters keep their names and relative order */
    return tg_linear_declare(&a->q, P, prefix, "w_q", "b_q", d, d) &&
           tg_linear_declare(&a->k, P, prefix, "w_k", "b_k", d, d) &&
           tg_linear_declare(&a->v, P, prefix, "w_v", "b_v", d, d) &&
           tg_linear_declare(&a->o, P, prefix, "w_o", "b_o", d, d) &&
           (c->attn_gate == TG_GATE_NONE || tg_linear_declare(&a->g, P, prefix, "w_g", "b_g", d, d));
}

/* (B, T, d) -> (B, H, T, dh); x given back when used up (release). */
static tg_tensor *split(tg_ctx *ctx, const tg_mha *a, tg_tensor *x, bool release) {
    if (!x) return NULL;
    int B = x->shape[0], T = x->shape[1];
    tg_tensor *r = tg_reshape(ctx, x, 4, (int[]){B, T, a->heads, a->d_head});  // (B, T, H, dh)
    tg_tensor *h = tg_transpose(ctx, r, 1, 2);                                  // (B, H, T, dh)
    if (release) tg_release(ctx, x);   /* the projection, read only by the transpose */
    return h;
}

tg_tensor *tg_mha_split(tg_ctx *ctx, const tg_mha *a, tg_tensor *x) { return split(ctx, a, x, true); }

tg_tensor *tg_mha_merge(tg_ctx *ctx, const tg_mha *a, tg_tensor *x) {
    if (!x) return NULL;
    int B = x->shape[0], T = x->shape[2];
    tg_tensor *t = tg_transpose(ctx, x, 1, 2);                                  // (B, T, H, dh)
    tg_release(ctx, x);   /* the heads' contexts, read only by the transpose */
    return tg_reshape(ctx, t, 3, (int[]){B, T, a->heads * a->d_head});          // (B, T, d)
}

bool tg_mha_kv(tg_ctx *ctx, const tg_mha *a, tg_tensor *x, tg_tensor **k, tg_tensor **v) {
    *k = tg_linear_forward(ctx, &a->k, x);   // (B, Tk, d)
    *v = tg_linear_forward(ctx, &a->v, x);   // (B, Tk, d)
    return *k && *v;
}

/* The attention weights softmax(q k^T / sqrt(dh) + mask) (B, H, Tq, Tk) of q (B, Tq, d) against k
 * (B, Tk, d), and the heads' mix of v (B, Tk, d) by them -> (B, Tq, d): the heads read in place
 * and the scale inside the softmax, or split and merged by transposes and scaled by its own op
 * (the composed ops, tg_nn_set_composed; k and v kept, as cached keys and values are not the
 * step's). */
static tg_tensor *heads_weights(tg_ctx *ctx, const tg_mha *a, tg_tensor *q, tg_tensor *k, tg_tensor *mask,
                                bool causal) {
    double scale = 1.0 / sqrt((double)a->d_head);
    if (!tg_nn_composed()) {
        tg_tensor *s = tg_heads_scores(ctx, q, k, a->heads), *w = tg_softmax_scaled(ctx, s, scale, mask, causal);
        tg_release(ctx, s);   /* the scores, read only by the softmax, whose backward reads w */
        return w;
    }
    tg_tensor *s = tg_matmul(ctx, tg_mha_split(ctx, a, q), split(ctx, a, k, false), false, true);
    return tg_softmax(ctx, tg_scale(ctx, s, scale), mask, causal);
}

static tg_tensor *heads_mix(tg_ctx *ctx, const tg_mha *a, tg_tensor *w, tg_tensor *v) {
    if (tg_nn_composed())
        return tg_mha_merge(ctx, a, tg_matmul(ctx, w, split(ctx, a, v, false), false, false));
    return tg_heads_mix(ctx, w, v, a->heads);
}

tg_tensor *tg_mha_attend(tg_ctx *ctx, const tg_mha *a, const tg_model_config *c, tg_tensor *xq,
                         tg_tensor *k, tg_tensor *v, tg_tensor *mask, bool causal,
                         tg_sublayer_probe *probe) {
    tg_tensor *q = tg_linear_forward(ctx, &a->q, xq);                          // (B, Tq, d)
    tg_tensor *w = heads_weights(ctx, a, q, k, mask, causal);                  // (B, H, Tq, Tk)
    if (probe) tg_keep(probe->probs = w);
    w = tg_dropout(ctx, w, c->dropout);
    tg_tensor *h = heads_mix(ctx, a, w, v);                                     // (B, Tq, d)
    bool at_heads = c->attn_activation_at == TG_ATTN_AT_HEADS;
    if (at_heads) h = tg_nn_activation(ctx, h, c->attn_activation);
    if (a->g.w)  /* each head's dims get their own gate scores from the query-side input */
        h = tg_mul(ctx, h, tg_sigmoid(ctx, tg_linear_forward(ctx, &a->g, xq)));  // (B, Tq, d)
    tg_tensor *y = tg_linear_forward(ctx, &a->o, h);                            // (B, Tq, d)
    if (!at_heads) y = tg_nn_activation(ctx, y, c->attn_activation);
    /* zeros are counted where the activation is, else after the gate, else on the output */
    bool before_wo = c->attn_activation != TG_ACT_NONE ? at_heads : a->g.w != NULL;
    if (probe) tg_keep(probe->act = before_wo ? h : y);   /* y is the sub-layer's fx: released */
    return y;
}

tg_tensor *tg_mha_forward(tg_ctx *ctx, const tg_mha *a, const tg_model_config *c, tg_tensor *xq,
                          tg_tensor *xkv, tg_tensor *mask, bool causal, tg_sublayer_probe *probe) {
    tg_tensor *k, *v;
    if (!tg_mha_kv(ctx, a, xkv, &k, &v)) return NULL;
    return tg_mha_attend(ctx, a, c, xq, k, v, mask, causal, probe);
}
