/* adam_avx2.c: the Adam update on 8 floats (4 doubles in the double build) at a time, compiled
 * with a target attribute only (the file stays baseline x86-64; adam.c runs it only when the
 * kernels in force are avx2 or avx512, which dispatch.c picks only on CPUs that have AVX2).
 * Every step is the scalar loop's: the same multiply, add, square root and divide, each correctly
 * rounded in IEEE arithmetic, on the same operands in the same order, and no fused multiply-add,
 * so each lane gives the bits the scalar loop gives for that element. */
#include "optim/adam_internal.h"

#if TG_ADAM_HAVE_AVX2

#include <immintrin.h>

#define TG_AVX2 __attribute__((target("avx2")))

#ifdef TG_DOUBLE
typedef __m256d vec;
#define W 4
#define LD(p) _mm256_loadu_pd(p)
#define ST(p, x) _mm256_storeu_pd(p, x)
#define SET1(x) _mm256_set1_pd(x)
#define MUL(a, b) _mm256_mul_pd(a, b)
#define ADD(a, b) _mm256_add_pd(a, b)
#define DIV(a, b) _mm256_div_pd(a, b)
#define SQRT(a) _mm256_sqrt_pd(a)
#else
typedef __m256 vec;
#define W 8
#define LD(p) _mm256_loadu_ps(p)
#define ST(p, x) _mm256_storeu_ps(p, x)
#define SET1(x) _mm256_set1_ps(x)
#define MUL(a, b) _mm256_mul_ps(a, b)
#define ADD(a, b) _mm256_add_ps(a, b)
#define DIV(a, b) _mm256_div_ps(a, b)
#define SQRT(a) _mm256_sqrt_ps(a)
#endif

/* mode is a constant at each call site below, as in adam.c. */
static inline TG_AVX2 size_t range(const tg_adam_job *j, size_t b, size_t e, tg_adam_mode mode) {
    tg_float *restrict p = j->p;
    const tg_float *restrict g = j->g;
    tg_float *restrict m = j->m;
    tg_float *restrict v = j->v;
    const vec b1 = SET1(j->beta1), a1 = SET1(j->one_minus_beta1);
    const vec b2 = SET1(j->beta2), a2 = SET1(j->one_minus_beta2);
    const vec bc2 = SET1(j->bc2_sqrt), eps = SET1(j->eps), nss = SET1(j->neg_step_size);
    const vec wd = SET1(j->wd), decay = SET1(j->decay);
    size_t i = b;
    for (; i + W <= e; i += W) {
        vec gi = LD(g + i);
        vec pi = LD(p + i);
        if (mode == ADAM_L2) gi = ADD(gi, MUL(wd, pi));
        if (mode == ADAM_DECOUPLED) pi = MUL(pi, decay);
        vec mi = MUL(LD(m + i), b1);
        mi = ADD(mi, MUL(a1, gi));
        vec vi = MUL(LD(v + i), b2);
        vi = ADD(vi, MUL(MUL(a2, gi), gi));
        vec denom = ADD(DIV(SQRT(vi), bc2), eps);
        ST(m + i, mi);
        ST(v + i, vi);
        ST(p + i, ADD(pi, DIV(MUL(nss, mi), denom)));
    }
    return i;
}

TG_AVX2 size_t tg_adam_range_avx2(const tg_adam_job *j, size_t b, size_t e) {
    switch (j->mode) {
    case ADAM_PLAIN: return range(j, b, e, ADAM_PLAIN);
    case ADAM_L2: return range(j, b, e, ADAM_L2);
    case ADAM_DECOUPLED: return range(j, b, e, ADAM_DECOUPLED);
    }
    return b;
}

#endif
