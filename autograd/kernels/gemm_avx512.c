/* gemm_avx512.c: an 8 x 32 float micro-kernel (16 zmm accumulators) for the packed GEMM of
 * gemm_avx2.c, for CPUs with AVX-512F (target("avx512f") on this function only). It runs the same
 * per-element FMA chain as the AVX2 micro-kernel, so its results are the same bits: only the
 * width of the vectors differs. */
#include "autograd/kernels/gemm_avx2.h"

#if TG_K_HAVE_AVX512_GEMM

#define TG_AVX512 __attribute__((target("avx512f")))

static TG_AVX512 void ukernel_8x32(int64_t kc, const float *restrict a, const float *restrict b,
                                   const float *src, int64_t lds, float *dst, int64_t ldd,
                                   const float *add, int64_t ldx) {
    enum { MR = 8, NR = 32 };
    __m512 c[MR][2];
    for (int i = 0; i < MR; i++) {
        c[i][0] = src ? _mm512_loadu_ps(src + i * lds) : _mm512_setzero_ps();
        c[i][1] = src ? _mm512_loadu_ps(src + i * lds + 16) : _mm512_setzero_ps();
    }
    /* 4 k a round where kc allows (the AVX2 kernel says why); the same chain, k ascending */
    int64_t k = 0;
    for (; k + 4 <= kc; k += 4, a += 4 * MR, b += 4 * NR)
        for (int u = 0; u < 4; u++) {
            __m512 b0 = _mm512_loadu_ps(b + u * NR), b1 = _mm512_loadu_ps(b + u * NR + 16);
            for (int i = 0; i < MR; i++) {
                __m512 t = _mm512_set1_ps(a[u * MR + i]);
                c[i][0] = _mm512_fmadd_ps(t, b0, c[i][0]);
                c[i][1] = _mm512_fmadd_ps(t, b1, c[i][1]);
            }
        }
    for (; k < kc; k++, a += MR, b += NR) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        for (int i = 0; i < MR; i++) {
            __m512 t = _mm512_set1_ps(a[i]);
            c[i][0] = _mm512_fmadd_ps(t, b0, c[i][0]);
            c[i][1] = _mm512_fmadd_ps(t, b1, c[i][1]);
        }
    }
    for (int i = 0; i < MR; i++) {
        if (add) {
            c[i][0] = _mm512_add_ps(_mm512_loadu_ps(add + i * ldx), c[i][0]);
            c[i][1] = _mm512_add_ps(_mm512_loadu_ps(add + i * ldx + 16), c[i][1]);
        }
        _mm512_storeu_ps(dst + i * ldd, c[i][0]);
        _mm512_storeu_ps(dst + i * ldd + 16, c[i][1]);
    }
}

const tg_gemm_ukernel_desc tg_gemm_avx512_kernel = {8, 32, ukernel_8x32};

#endif
