/* gemm_avx2.h: the packed GEMM driver's pieces shared by its micro-kernels (gemm_avx2.c,
 * gemm_avx512.c): the vector type of the AVX2 build and the micro-kernel descriptor. */
#ifndef TG_GEMM_AVX2_H
#define TG_GEMM_AVX2_H

#include "autograd/kernels/kernels_impl.h"

#if TG_K_HAVE_AVX2

#include <immintrin.h>

#define TG_AVX2 __attribute__((target("avx2,fma")))

#ifdef TG_DOUBLE
enum { VL = 4 };
typedef __m256d vec;
#define VLOAD(p) _mm256_loadu_pd(p)
#define VSTORE(p, v) _mm256_storeu_pd(p, v)
#define VFMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define VADD(a, b) _mm256_add_pd(a, b)
#define VMAX(a, b) _mm256_max_pd(a, b)
#define VBCAST(p) _mm256_broadcast_sd(p)
#define VZERO() _mm256_setzero_pd()
#else
enum { VL = 8 };
typedef __m256 vec;
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VMAX(a, b) _mm256_max_ps(a, b)
#define VBCAST(p) _mm256_broadcast_ss(p)
#define VZERO() _mm256_setzero_ps()
#endif

/* A micro-kernel: p = (src ? src : 0) + sum_k a[k*mr + i] b[k*nr + j] over an mr x nr tile, k
 * ascending, one FMA per k; then dst = add ? add + p : p. Tiles have row strides lds, ldd, ldx;
 * dst may be src or add (each row is read before it is written). a is an mr-row strip and b an
 * nr-column panel as packed by the driver. */
typedef void (*tg_gemm_ukernel)(int64_t kc, const tg_float *restrict a, const tg_float *restrict b,
                                const tg_float *src, int64_t lds, tg_float *dst, int64_t ldd,
                                const tg_float *add, int64_t ldx);
typedef struct {
    int64_t mr, nr;   /* mr <= 8 and <= 2 VL (the packing), nr a multiple of VL, mr * nr <= 256 */
    tg_gemm_ukernel fn;
} tg_gemm_ukernel_desc;

/* The packed GEMM with the given micro-kernel. */
void tg_k_gemm_packed(tg_pool *pool, const tg_gemm_args *g, const tg_gemm_ukernel_desc *uk);

#if TG_K_HAVE_AVX512_GEMM
extern const tg_gemm_ukernel_desc tg_gemm_avx512_kernel;   /* 8 x 32 floats */
#endif

#endif
#endif /* TG_GEMM_AVX2_H */
