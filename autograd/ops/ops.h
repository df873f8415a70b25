/* ops.h: what every op file needs besides internal.h. */
#ifndef TG_OPS_H
#define TG_OPS_H

#include "autograd/internal.h"

/* An op given a NULL input returns NULL: the error that made it is already in ctx. One given a
 * tensor whose values tg_release gave back fails with that said (before: a NULL dereference). */
#define TG_NEED(ctx, t)                                                                  \
    do {                                                                                 \
        if (!(t) || !(t)->data) {                                                        \
            if ((ctx)->status == TG_OK)                                                  \
                tg__fail((ctx), TG_ERR_ARG, "%s: input '%s' is %s", __func__, #t,        \
                         (t) ? "given back (tg_release)" : "NULL");                      \
            return NULL;                                                                 \
        }                                                                                \
    } while (0)

/* tg_matmul with the GEMM's epilogue on y (tg_gemm_args): + bias per row (NULL: none), then ReLU
 * when relu; recorded as matmul (matmul_bias.c makes the node its own). */
tg_tensor *tg__matmul_epilogue(tg_ctx *ctx, tg_tensor *a, tg_tensor *b, bool ta, bool tb,
                               const tg_float *bias, bool relu);

#endif /* TG_OPS_H */
