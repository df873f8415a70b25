/* adam_internal.h: the tg_adam struct, shared by adam.c (the update) and adam_state.c (save and
 * load). Private to optim/. */
#ifndef TG_ADAM_INTERNAL_H
#define TG_ADAM_INTERNAL_H

#include "optim/optim.h"

struct tg_adam {
    tg_adam_config cfg;
    int64_t n;
    int64_t step;  /* updates taken; the next update uses step + 1 in the bias corrections */
    tg_float *m;   /* (n) */
    tg_float *v;   /* (n) */
};

#endif /* TG_ADAM_INTERNAL_H */
