/* activation.c: the activation switches (feed-forward and after attention). */
#include "nn/layers.h"

tg_tensor *tg_nn_activation(tg_ctx *ctx, tg_tensor *x, tg_activation a) {
    switch (a) {
    case TG_ACT_RELU: return tg_relu(ctx, x);
    case TG_ACT_GELU: return tg_gelu(ctx, x, false);  /* erf form, as torch's default */
    case TG_ACT_NONE: break;
    }
    return x;
}
