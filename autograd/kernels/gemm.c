/* gemm.c: the GEMM entry point and the portable GEMM (the reference; the fast one is
 * gemm_avx2.c). Rows of C are split over the pool; each element of C is accumulated
 * over k in ascending order (blocking over k and n keeps that order), so any split gives the same
 * bits. op(B) is read through a packed (kc, nc) panel when transposed (never a pre-packed Bp). */
#include "autograd/kernels/kernels_impl.h"

#include <string.h>

enum { KC = 128, NC = 256 };

typedef struct { const tg_gemm_args *g; } gemm_job;

static void gemm_rows(const tg_gemm_args *g, int64_t b, int64_t i0, int64_t i1) {
    const tg_float *A = g->A + tg_gemm_item(g, b, g->strideA, g->strideA_h);
    const tg_float *B = g->B + tg_gemm_item(g, b, g->strideB, g->strideB_h);
    tg_float *C = g->C + tg_gemm_item(g, b, g->strideC, g->strideC_h);
    if (!g->accumulate)
        for (int64_t i = i0; i < i1; i++) memset(C + i * g->ldc, 0, (size_t)g->N * sizeof *C);
    /* (a (KC, NC) panel is 128 KiB: a thread's scratch, not its stack, which may be 64 KiB) */
    tg_float *pack = g->tb ? tg_k_scratch(0, (size_t)KC * NC * sizeof *pack) : NULL;
    if (g->tb && !pack) {   /* without scratch memory: the same sums, op(B) read in place */
        for (int64_t i = i0; i < i1; i++)
            for (int64_t k = 0; k < g->K; k++) {
                tg_float a = g->ta ? A[k * g->lda + i] : A[i * g->lda + k];
                for (int64_t j = 0; j < g->N; j++) C[i * g->ldc + j] += a * B[j * g->ldb + k];
            }
        return;
    }
    for (int64_t k0 = 0; k0 < g->K; k0 += KC) {
        int64_t kc = g->K - k0 < KC ? g->K - k0 : KC;
        for (int64_t j0 = 0; j0 < g->N; j0 += NC) {
            int64_t nc = g->N - j0 < NC ? g->N - j0 : NC;
            const tg_float *bp;
            int64_t ldp;
            if (g->tb) {    /* B is (N, K): pack op(B)[k0.., j0..] row-major */
                for (int64_t jj = 0; jj < nc; jj++) {
                    const tg_float *src = B + (j0 + jj) * g->ldb + k0;
                    for (int64_t kk = 0; kk < kc; kk++) pack[kk * nc + jj] = src[kk];
                }
                bp = pack;
                ldp = nc;
            } else {
                bp = B + k0 * g->ldb + j0;
                ldp = g->ldb;
            }
            for (int64_t i = i0; i < i1; i++) {
                tg_float *restrict crow = C + i * g->ldc + j0;
                for (int64_t kk = 0; kk < kc; kk++) {
                    tg_float a = g->ta ? A[(k0 + kk) * g->lda + i] : A[i * g->lda + k0 + kk];
                    const tg_float *restrict brow = bp + kk * ldp;
                    for (int64_t jj = 0; jj < nc; jj++) crow[jj] += a * brow[jj];
                }
            }
        }
    }
}

void tg_k_gemm_epilogue_rows(const tg_gemm_args *g, tg_float *C, int64_t i0, int64_t i1,
                             int64_t j0, int64_t j1) {
    if (!g->bias && !g->relu) return;
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j = j0; j < j1; j++) {
            tg_float v = C[i * g->ldc + j];
            if (g->bias) v = v + g->bias[j];
            C[i * g->ldc + j] = g->relu ? (v > 0 ? v : 0) : v;
        }
}

static void gemm_range(void *arg, size_t begin, size_t end) {
    const tg_gemm_args *g = arg;
    int64_t r = (int64_t)begin;
    while (r < (int64_t)end) {
        int64_t b = r / g->M, i = r % g->M;
        int64_t stop = (b + 1) * g->M < (int64_t)end ? (b + 1) * g->M : (int64_t)end;
        gemm_rows(g, b, i, i + (stop - r));
        tg_k_gemm_epilogue_rows(g, g->C + tg_gemm_item(g, b, g->strideC, g->strideC_h), i,
                                i + (stop - r), 0, g->N);
        r = stop;
    }
}

void tg_k_gemm(tg_pool *pool, const tg_gemm_args *g) {
    int64_t rows = g->batch * g->M;
    if (rows == 0 || g->N == 0) return;
    if (tg_k_fast()) { tg_k_gemm_avx2(pool, g); return; }
    /* a thread should get enough work to pay for waking it */
    size_t min_rows = (size_t)(1 + 32768 / (g->N * (g->K + 1) + 1));
    tg_pool_for(pool, (size_t)rows, min_rows, gemm_range, (void *)g);
}

int64_t tg_k_gemm_prepack_elems(const tg_gemm_args *g) {
    return tg_k_fast() ? tg_k_gemm_avx2_prepack_elems(g) : 0;
}

void tg_k_gemm_prepack_b(tg_pool *pool, tg_gemm_args *g, tg_float *dst) {
    if (tg_k_fast()) tg_k_gemm_avx2_prepack_b(pool, g, dst);
}
