/* ffn.c: the position-wise feed-forward network w_2 Drop(act(w_1 x + b_1)) + b_2; with ReLU the
 * activation is the first layer's epilogue (tg_matmul_bias_relu) unless tg_nn_set_composed. */
#include "nn/layers.h"

bool tg_ffn_declare(tg_ffn *f, tg_params *P, const char *prefix, int d_model, int d_ff) {
    return tg_linear_declare(&f->l1, P, prefix, "w_1", "b_1", d_model, d_ff) &&
           tg_linear_declare(&f->l2, P, prefix, "w_2", "b_2", d_ff, d_model);
}

tg_tensor *tg_ffn_forward(tg_ctx *ctx, const tg_ffn *f, tg_tensor *x, double p,
                          tg_activation act) {
    tg_tensor *u, *h;                                                             // (..., d_ff)
    if (act == TG_ACT_RELU && !tg_nn_composed()) {   /* ReLU in the GEMM's epilogue */
        u = h = tg_matmul_bias_relu(ctx, x, f->l1.w, f->l1.b);
    } else {
        u = tg_linear_forward(ctx, &f->l1, x);
        h = tg_nn_activation(ctx, u, act);
    }
    tg_tensor *d = tg_dropout(ctx, h, p);
    tg_tensor *y = tg_linear_forward(ctx, &f->l2, d);                             // (..., d)
    /* used up; what backward reads (u for the activation, d for w_2) stays */
    tg_release(ctx, d);
    if (h != d) tg_release(ctx, h);
    if (u != h) tg_release(ctx, u);
    return y;
}
