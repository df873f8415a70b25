/* kernels_impl.h: the implementations behind kernels.h, for the dispatchers. Each public kernel
 * tg_k_X checks tg_k_current() and calls tg_k_X_avx2 (the AVX2+FMA file, compiled with target
 * attributes only, never global -m flags) or its portable body. */
#ifndef TG_KERNELS_IMPL_H
#define TG_KERNELS_IMPL_H

#include "autograd/kernels/kernels.h"
#include <math.h>

/* The AVX2 files compile only where GCC/Clang can target x86-64 AVX2 per function. */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define TG_K_HAVE_AVX2 1
#else
#define TG_K_HAVE_AVX2 0
#endif

/* The AVX-512 micro-kernel is float only (the double build's GEMM stays on AVX2). */
#if TG_K_HAVE_AVX2 && !defined(TG_DOUBLE)
#define TG_K_HAVE_AVX512_GEMM 1
#else
#define TG_K_HAVE_AVX512_GEMM 0
#endif

/* AVX-512 CPUs run every kernel's AVX2 version; only the GEMM's micro-kernel is wider. */
static inline bool tg_k_fast(void) {
    tg_k_impl k = tg_k_current();
    return TG_K_HAVE_AVX2 && (k == TG_K_AVX2 || k == TG_K_AVX512);
}

/* A per-thread buffer of at least `bytes`, 64-byte aligned, for slot 0..3; kept for the thread's
 * life and reused by later calls (contents not kept). NULL when out of memory. */
void *tg_k_scratch(int slot, size_t bytes);

void tg_k_gemm_avx2(tg_pool *pool, const tg_gemm_args *g);   /* float and double */
int64_t tg_k_gemm_avx2_prepack_elems(const tg_gemm_args *g);  /* kernels.h's, when fast */
void tg_k_gemm_avx2_prepack_b(tg_pool *pool, tg_gemm_args *g, tg_float *dst);
/* The GEMM's epilogue (kernels.h) on rows [i0, i1), columns [j0, j1) of C, one element at a time
 * (C at the item's (0, 0)): the portable GEMM's, and the fast one's where it has no tiles. */
void tg_k_gemm_epilogue_rows(const tg_gemm_args *g, tg_float *C, int64_t i0, int64_t i1,
                             int64_t j0, int64_t j1);

/* The other fast kernels are float only: the double build (gradient checks) runs the portable
 * ones. Same contracts as the public kernels; the unary ones return false for functions they do
 * not cover (GELU), which then run portably. */
#if TG_K_HAVE_AVX2 && !defined(TG_DOUBLE)
#define TG_K_HAVE_AVX2_FLOAT 1
bool tg_k_unary_avx2(tg_pool *pool, tg_unary f, int64_t n, const float *x, float *y);
bool tg_k_unary_backward_avx2(tg_pool *pool, tg_unary f, int64_t n, const float *x,
                              const float *dy, float *dx);
void tg_k_axpby_avx2(tg_pool *pool, int64_t n, const float *x, double s, const float *b, int64_t nb,
                     float *y);
void tg_k_acc_avx2(tg_pool *pool, int64_t n, double s, const float *x, float *y);
void tg_k_relu_mask_avx2(tg_pool *pool, int64_t n, const float *y, float *g);
void tg_k_colsum_avx2(tg_pool *pool, int64_t rows, int64_t n, const float *src, float *dst);
void tg_k_softmax_avx2(tg_pool *pool, const tg_softmax_args *a);
void tg_k_softmax_backward_avx2(tg_pool *pool, int64_t rows, int64_t n, const float *y,
                                const float *dy, float *dx, bool log, float scale);
int64_t tg_k_cross_entropy_avx2(tg_pool *pool, int64_t rows, int64_t V, const float *logits,
                                const int32_t *targets, double smoothing, int ignore_index,
                                float *lse, double *loss_rows, double *nll_rows);
void tg_k_cross_entropy_backward_avx2(tg_pool *pool, int64_t rows, int64_t V, const float *logits,
                                      const int32_t *targets, double smoothing, int ignore_index,
                                      const float *lse, double scale, bool accumulate,
                                      float *dlogits);
void tg_k_layer_norm_avx2(tg_pool *pool, int64_t rows, int64_t n, const float *x, const float *gain,
                          const float *bias, double eps, float *y, float *mean, float *rstd);
void tg_k_layer_norm_backward_avx2(tg_pool *pool, int64_t rows, int64_t n, const float *x,
                                   const float *gain, const float *mean, const float *rstd,
                                   const float *dy, float *dx, float *dgain, float *dbias);
void tg_k_dropout_avx2(tg_pool *pool, int64_t n, const float *x, double p, float scale,
                       uint64_t seed, uint64_t counter, uint8_t *keep, float *y);
void tg_k_dropout_backward_avx2(tg_pool *pool, int64_t n, const uint8_t *keep, const float *dy,
                                float scale, float *dx);
#else
#define TG_K_HAVE_AVX2_FLOAT 0
#endif


/* The sigmoid and its derivative as every implementation defines them: in double, through libm's
 * exp. The AVX2 kernels give these bits too (elementwise_avx2.c). */
static inline double tg_k_sigmoid_ref(double x) { return 1 / (1 + exp(-x)); }
static inline double tg_k_sigmoid_grad_ref(double x) {
    double s = tg_k_sigmoid_ref(x);
    return s * (1 - s);
}

/* Softmax row r of a (..., Tq, Tk) input: where its mask row starts (NULL: no mask; *stride is the
 * mask's step along the keys), and how many keys the causal limit allows. Shared by the portable
 * and the AVX2 kernels so both mask the same keys. */
static inline const tg_float *tg_k_softmax_row_mask(const tg_softmax_args *a, int64_t r, int64_t *stride) {
    if (!a->mask) return NULL;
    int64_t off = 0, rem = r;
    for (int d = a->ndim - 2; d >= 0; d--) {
        off += (rem % a->shape[d]) * a->mask_stride[d];
        rem /= a->shape[d];
    }
    *stride = a->mask_stride[a->ndim - 1];
    return a->mask + off;
}

static inline int64_t tg_k_softmax_row_limit(const tg_softmax_args *a, int64_t r) {
    if (!a->causal) return a->n;
    int64_t limit = r % a->tq + (a->n - a->tq) + 1;
    return limit > a->n ? a->n : limit < 0 ? 0 : limit;
}

#endif /* TG_KERNELS_IMPL_H */
