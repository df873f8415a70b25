/* attention.c: multi-head scaled dot-product attention, self and encoder-decoder. The key/value
 * projection is separate from the attention itself so that incremental decoding can project
 * only the newest token and attend over cached keys and values. */
#include <math.h>

#include "nn/layers.h"

bool tg_mha_declare(tg_mha *a, tg_params *P, const char *prefix, int d_model, int heads) {
    a->heads = heads;
    a->d_head = d_model / heads;
    return tg_linear_declare(&a->q, P, prefix, "w_q", "b_q", d_model, d_model) &&
           tg_linear_declare(&a->k, P, prefix, "w_k", "b_k", d_model, d_model) &&
           tg_linear_declare(&a->v, P, prefix, "w_v", "b_v", d_model, d_model) &&
           tg_linear_declare(&a->o, P, prefix, "w_o", "b_o", d_model, d_model);
}

tg_tensor *tg_mha_split(tg_ctx *ctx, const tg_mha *a, tg_tensor *x) {
    if (!x) return NULL;
    int B = x->shape[0], T = x->shape[1];
    tg_tensor *r = tg_reshape(ctx, x, 4, (int[]){B, T, a->heads, a->d_head});  // (B, T, H, dh)
    tg_tensor *h = tg_transpose(ctx, r, 1, 2);                                  // (B, H, T, dh)
    tg_release(ctx, x);   /* the projection, read only by the transpose */
    return h;
}

tg_tensor *tg_mha_merge(tg_ctx *ctx, const tg_mha *a, tg_tensor *x) {
    if (!x) return NULL;
    int B = x->shape[0], T = x->shape[2];
    tg_tensor *t = tg_transpose(ctx, x, 1, 2);                                  // (B, T, H, dh)
    tg_release(ctx, x);   /* the heads' contexts, read only by the transpose */
    return tg_reshape(ctx, t, 3, (int[]){B, T, a->heads * a->d_head});          // (B, T, d)
}

bool tg_mha_kv(tg_ctx *ctx, const tg_mha *a, tg_tensor *x, tg_tensor **k, tg_tensor **v) {
    *k = tg_mha_split(ctx, a, tg_linear_forward(ctx, &a->k, x));  // (B, H, Tk, dh)
    *v = tg_mha_split(ctx, a, tg_linear_forward(ctx, &a->v, x));  // (B, H, Tk, dh)
    return *k && *v;
}

tg_tensor *tg_mha_attend(tg_ctx *ctx, const tg_mha *a, tg_tensor *xq, tg_tensor *k, tg_tensor *v,
                         tg_tensor *mask, bool causal, double p, tg_activation act) {
    tg_tensor *q = tg_mha_split(ctx, a, tg_linear_forward(ctx, &a->q, xq));     // (B, H, Tq, dh)
    tg_tensor *s = tg_matmul(ctx, q, k, false, true);                           // (B, H, Tq, Tk)
    s = tg_scale(ctx, s, 1.0 / sqrt((double)a->d_head));
    tg_tensor *w = tg_dropout(ctx, tg_softmax(ctx, s, mask, causal), p);        // (B, H, Tq, Tk)
    tg_tensor *c = tg_mha_merge(ctx, a, tg_matmul(ctx, w, v, false, false));    // (B, Tq, d)
    return tg_nn_activation(ctx, tg_linear_forward(ctx, &a->o, c), act);        // (B, Tq, d)
}

tg_tensor *tg_mha_forward(tg_ctx *ctx, const tg_mha *a, tg_tensor *xq, tg_tensor *xkv,
                          tg_tensor *mask, bool causal, double p, tg_activation act) {
    tg_tensor *k, *v;
    if (!tg_mha_kv(ctx, a, xkv, &k, &v)) return NULL;
    return tg_mha_attend(ctx, a, xq, k, v, mask, causal, p, act);
}
