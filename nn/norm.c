/* norm.c: LayerNorm with a gain and a bias (torch.nn.LayerNorm, eps 1e-5), and the residual
 * wrapper that places it before (pre-LN) or after (post-LN) each sub-layer. */
#include "nn/layers.h"

bool tg_norm_declare(tg_norm *n, tg_params *P, const char *prefix, int d) {
    n->gain = tg_nn_declare(P, prefix, "gain", 1, (int[]){d});
    n->bias = tg_nn_declare(P, prefix, "bias", 1, (int[]){d});
    return n->gain && n->bias;
}

tg_tensor *tg_norm_forward(tg_ctx *ctx, const tg_norm *n, tg_tensor *x) {
    return tg_layer_norm(ctx, x, n->gain, n->bias, TG_NN_LN_EPS);
}

tg_tensor *tg_sublayer_in(tg_ctx *ctx, const tg_model_config *c, const tg_norm *n, tg_tensor *x) {
    return c->norm == TG_NORM_PRE ? tg_norm_forward(ctx, n, x) : x;
}

/* The composed ops, kept for the tests that hold the fused op to their bits (tg_nn_set_composed)
 * and for the residual activation, which sits between the add and the norm. */
static tg_tensor *sublayer_out_composed(tg_ctx *ctx, const tg_model_config *c, const tg_norm *n,
                                        tg_tensor *x, tg_tensor *fx) {
    tg_tensor *d = tg_dropout(ctx, fx, c->dropout);
    tg_tensor *r = tg_add(ctx, x, d);
    /* the sub-layer's output and its dropout are used up (kept if backward reads them) */
    tg_release(ctx, d);
    if (d != fx) tg_release(ctx, fx);
    r = tg_nn_activation(ctx, r, c->residual_activation);  /* ResNet v1's place */
    return c->norm == TG_NORM_POST ? tg_norm_forward(ctx, n, r) : r;
}

static bool composed;

void tg_nn_set_composed(bool on) { composed = on; }
bool tg_nn_composed(void) { return composed; }

tg_tensor *tg_sublayer_out(tg_ctx *ctx, const tg_model_config *c, const tg_norm *n, tg_tensor *x,
                           tg_tensor *fx) {
    if (composed || c->residual_activation != TG_ACT_NONE)
        return sublayer_out_composed(ctx, c, n, x, fx);
    tg_tensor *y = c->norm == TG_NORM_POST
                       ? tg_residual_norm(ctx, x, fx, c->dropout, n->gain, n->bias, TG_NN_LN_EPS)
                       : tg_residual(ctx, x, fx, c->dropout);   // (B, T, d)
    tg_release(ctx, fx);   /* used up: backward reads only what the op saved */
    return y;
}
