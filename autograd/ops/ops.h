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

#endif /* TG_OPS_H */
