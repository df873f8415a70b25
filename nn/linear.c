/* linear.c: y = x W^T + b with W stored (out, in) as torch.nn.Linear, so weights load as-is. */
#include <stdio.h>

#include "nn/layers.h"

tg_tensor *tg_nn_declare(tg_params *P, const char *prefix, const char *suffix, int ndim,
                         const int *shape) {
    char name[4 * TG_NAME_MAX];   /* a name too long is the store's to refuse, with its message */
    snprintf(name, sizeof name, "%s%s", prefix, suffix);
    return tg_params_add(P, name, ndim, shape);
}

bool tg_linear_declare(tg_linear *l, tg_params *P, const char *prefix, const char *w_name,
                       const char *b_name, int in, int out) {
    l->w = tg_nn_declare(P, prefix, w_name, 2, (int[]){out, in});
    l->b = tg_nn_declare(P, prefix, b_name, 1, (int[]){out});
    return l->w && l->b;
}

tg_tensor *tg_linear_forward(tg_ctx *ctx, const tg_linear *l, tg_tensor *x) {
    return tg_matmul_bias(ctx, x, l->w, l->b);  // (..., out)
}
