/* fma_peak.c: what one core's AVX2 FMA units can do, for reading GEMM rates against it.
 *   fma      12 independent register-only chains c = fma(c, x, y): the peak, float FLOP/s
 *   ukernel  tapegrad's 6 x 16 AVX2 micro-kernel loop (ukernel_6x2v in
 *            autograd/kernels/gemm_avx2.c: 4 k a round) with k = 256 and its operands in L1
 *   ukernel1 the same loop one k a round, as it was before session 40
 * Built and run by scripts/fma_peak.sh (one copy, then two at once). Prints GFLOP/s. */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* the sum of 12 vectors: keeps every chain alive after its loop */
static __m256 sum12(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5,
                    __m256 a6, __m256 a7, __m256 a8, __m256 a9, __m256 a10, __m256 a11) {
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    return _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
}

#define F(v) v = _mm256_fmadd_ps(v, x, y)
static double fma_loop(long n) {
    __m256 x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(0.9999999f);
    /* distinct starting values, or the compiler merges the chains */
    __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2),
           a3 = _mm256_set1_ps(3), a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5),
           a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7), a8 = _mm256_set1_ps(8),
           a9 = _mm256_set1_ps(9), a10 = _mm256_set1_ps(10), a11 = _mm256_set1_ps(11);
    double t0 = now();
    for (long k = 0; k < n; k++) { F(a0); F(a1); F(a2); F(a3); F(a4); F(a5); F(a6); F(a7); F(a8); F(a9); F(a10); F(a11); }
    double t = now() - t0;
    float v[8];
    _mm256_storeu_ps(v, sum12(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11));
    if (v[0] == 0.5f) puts("");   /* keeps the chains alive */
    return (double)n * 12 * 16 / t;
}

enum { KC = 256 };
/* one k of the 6 x 16 tile: 12 FMAs from 2 loads of b and 6 broadcasts of a */
#define K_STEP(a, b)                                                                                            \
    do {                                                                                                        \
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps((b) + 8);                                          \
        t = _mm256_broadcast_ss((a) + 0); c00 = _mm256_fmadd_ps(t, b0, c00); c01 = _mm256_fmadd_ps(t, b1, c01); \
        t = _mm256_broadcast_ss((a) + 1); c10 = _mm256_fmadd_ps(t, b0, c10); c11 = _mm256_fmadd_ps(t, b1, c11); \
        t = _mm256_broadcast_ss((a) + 2); c20 = _mm256_fmadd_ps(t, b0, c20); c21 = _mm256_fmadd_ps(t, b1, c21); \
        t = _mm256_broadcast_ss((a) + 3); c30 = _mm256_fmadd_ps(t, b0, c30); c31 = _mm256_fmadd_ps(t, b1, c31); \
        t = _mm256_broadcast_ss((a) + 4); c40 = _mm256_fmadd_ps(t, b0, c40); c41 = _mm256_fmadd_ps(t, b1, c41); \
        t = _mm256_broadcast_ss((a) + 5); c50 = _mm256_fmadd_ps(t, b0, c50); c51 = _mm256_fmadd_ps(t, b1, c51); \
    } while (0)
/* unroll: k a round, 4 as ukernel_6x2v since session 40, 1 as before it */
static __attribute__((noinline)) void ukernel(const float *a, const float *b, float *c, int unroll) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, t;
    if (unroll == 4) {
        for (int k = 0; k < KC; k += 4, a += 4 * 6, b += 4 * 16) {
            K_STEP(a, b);
            K_STEP(a + 6, b + 16);
            K_STEP(a + 12, b + 32);
            K_STEP(a + 18, b + 48);
        }
    } else {
        for (int k = 0; k < KC; k++, a += 6, b += 16) K_STEP(a, b);
    }
    __m256 s = sum12(c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51);
    _mm256_storeu_ps(c, _mm256_add_ps(s, _mm256_loadu_ps(c)));
}

static double ukernel_loop(long calls, int unroll) {
    float *a = aligned_alloc(64, sizeof(float) * 6 * KC), *b = aligned_alloc(64, sizeof(float) * 16 * KC);
    float c[8] = {0};
    if (!a || !b) { fprintf(stderr, "fma_peak: out of memory\n"); exit(1); }
    for (int i = 0; i < 6 * KC; i++) a[i] = 1e-3f * (float)(i % 7);
    for (int i = 0; i < 16 * KC; i++) b[i] = 1e-3f * (float)(i % 5);
    double t0 = now();
    for (long r = 0; r < calls; r++) ukernel(a, b, c, unroll);
    double t = now() - t0;
    if (c[0] == 0.5f) puts("");
    free(a);
    free(b);
    return (double)calls * 2 * 6 * 16 * KC / t;
}

int main(int argc, char **argv) {
    if (argc != 2 || (strcmp(argv[1], "fma") && strcmp(argv[1], "ukernel") && strcmp(argv[1], "ukernel1"))) {
        fprintf(stderr, "usage: fma_peak fma|ukernel|ukernel1\n");
        return 2;
    }
    double r = strcmp(argv[1], "fma") == 0 ? fma_loop(200000000L)
                                           : ukernel_loop(400000L, strcmp(argv[1], "ukernel") == 0 ? 4 : 1);
    printf("%s %.1f GFLOP/s\n", argv[1], r / 1e9);
    return 0;
}
