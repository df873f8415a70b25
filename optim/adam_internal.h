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

/* One update's arguments, shared by the scalar loop (adam.c) and the AVX2 one (adam_avx2.c). */
typedef enum { ADAM_PLAIN, ADAM_L2, ADAM_DECOUPLED } tg_adam_mode;

typedef struct {
    tg_float *p;
    const tg_float *g;
    tg_float *m, *v;
    tg_float *zero;   /* the gradients again, cleared block by block after the update (or NULL) */
    tg_adam_mode mode;
    bool fast;  /* the AVX2 loop, chosen by tg_k_current() on the calling thread */
    /* torch's Python-float scalars, rounded once to tg_float as torch does */
    tg_float beta1, one_minus_beta1, beta2, one_minus_beta2;
    tg_float bc2_sqrt, eps, neg_step_size, wd, decay;
} tg_adam_job;

/* The AVX2 loop builds where GCC/Clang can target x86-64 AVX2 per function. */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define TG_ADAM_HAVE_AVX2 1
/* Updates elements [b, b + k) for the largest k <= e - b that is a whole number of vectors
 * (8 floats or 4 doubles) and returns b + k; the caller's scalar loop does the rest. The same
 * IEEE operations in the same order as the scalar loop, so the same bits. */
size_t tg_adam_range_avx2(const tg_adam_job *j, size_t b, size_t e);
#else
#define TG_ADAM_HAVE_AVX2 0
#endif

#endif /* TG_ADAM_INTERNAL_H */
