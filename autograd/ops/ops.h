/* ops.h: what every op file needs besides internal.h. */
#ifndef TG_OPS_H
#define TG_OPS_H

#include "autograd/internal.h"

/* An op given a NULL input returns NULL: the error that made it is already in ctx. */
#define TG_NEED(ctx, t)                                                                  \
    do {                                                                                 \
        if (!(t)) {                                                                      \
            if ((ctx)->status == TG_OK)                                                  \
                tg__fail((ctx), TG_ERR_ARG, "%s: input '%s' is NULL", __func__, #t);     \
            return NULL;                                                                 \
        }                                                                                \
    } while (0)

#endif /* TG_OPS_H */
