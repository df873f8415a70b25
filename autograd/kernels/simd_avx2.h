/* simd_avx2.h: AVX2 helpers shared by the *_avx2.c kernels (float build). Every function carries
 * target("avx2,fma") itself: the files are compiled for baseline x86-64 and only run these after
 * the run-time check in dispatch.c.
 *
 * Reductions here are deterministic: a row is always reduced by one thread, lane partial sums
 * are combined in one fixed order, and tails are added after the vector part. */
#ifndef TG_SIMD_AVX2_H
#define TG_SIMD_AVX2_H

#include "autograd/kernels/kernels_impl.h"

#if TG_K_HAVE_AVX2_FLOAT

#include <immintrin.h>

#define TG_AVX2 __attribute__((target("avx2,fma")))

/* exp(x) for 8 floats, within 2 ulp for results >= FLT_MIN; results below FLT_MIN (x < -87.33)
 * are 0, x > 88.72 gives +inf, NaN stays NaN. Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2,
 * then a degree-6 polynomial for e^r (Cephes' coefficients) and 2^n through the exponent bits. */
static inline TG_AVX2 __m256 tg_exp_ps(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.72283935546875f), lo = _mm256_set1_ps(-87.33654022216797f);
    __m256 xc = _mm256_min_ps(hi, x);     /* NaN in x stays (second operand wins) */
    xc = _mm256_max_ps(lo, xc);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 r2 = _mm256_mul_ps(r, r);
    p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* n in [-126, 128]: 2^n as 2^(n/2) 2^(n - n/2), each factor a normal float */
    __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
    y = _mm256_blendv_ps(y, _mm256_set1_ps(__builtin_inff()), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
    return y;
}

/* Adds the 8 floats of v, widened to double, into two 4-double accumulators. */
static inline TG_AVX2 void tg_acc_pd(__m256 v, __m256d *lo, __m256d *hi) {
    *lo = _mm256_add_pd(*lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    *hi = _mm256_add_pd(*hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

/* Sum of the 8 lanes of two 4-double accumulators, in one fixed order. */
static inline TG_AVX2 double tg_hsum_pd(__m256d lo, __m256d hi) {
    __m256d s = _mm256_add_pd(lo, hi);
    __m128d t = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(t, _mm_unpackhi_pd(t, t)));
}

static inline TG_AVX2 float tg_hmax_ps(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

#endif

#endif /* TG_SIMD_AVX2_H */
