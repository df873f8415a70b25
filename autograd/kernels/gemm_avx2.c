/* gemm_avx2.c: the fast GEMM driver (AVX2 + FMA), chosen at run time (functions carry
 * target("avx2,fma"); nothing else in the build assumes the CPU has it).
 *
 * Goto/BLIS structure: op(B) is packed into (kc, nc) blocks of nr-column panels, op(A) into
 * (mc, kc) blocks of mr-row strips, and a register-blocked micro-kernel computes an mr x nr tile
 * of C from one A strip and one B panel. Micro-kernels: 6 x 16 floats (6 x 8 doubles) on AVX2;
 * 8 x 32 floats on AVX-512 (gemm_avx512.c) where the CPU has it. Blocks: kc = 256 (a B panel
 * stays in L1d), mc = 120 (an A block stays in L2), nc = 3072 (a B block, in L3).
 *
 * Determinism: every element of C is computed as one chain, whatever the blocking, whatever rows
 * or columns a thread is given, full tile or edge tile, whichever micro-kernel:
 *     p = fma(a_i,K-1 b_K-1,j, ... fma(a_i1 b_1j, fma(a_i0 b_0j, 0)))   (k ascending)
 *     C = accumulate ? C + p : p
 * The micro-kernel runs the chain over one k block in registers; between k blocks the running
 * sums are stored in tg_float (in C, or when accumulating into a per-thread buffer, since C
 * still holds the value to add at the end) and loaded back unchanged. Edge tiles run the same
 * kernel on zero-padded copies. So any split of the work, any thread count, and the AVX2 and
 * AVX-512 micro-kernels give the same bits; and C + p (not a chain started from C) makes
 * accumulating a product into C round the same way as adding it to anything else (backward
 * twice gives exactly twice the gradient). */
#include "autograd/kernels/gemm_avx2.h"

#if TG_K_HAVE_AVX2

#include <math.h>
#include <string.h>

#ifdef TG_DOUBLE
#define VMASKLOAD(p, m) _mm256_maskload_pd(p, m)
#define VMASKSTORE(p, m, v) _mm256_maskstore_pd(p, m, v)
/* lanes j < n set */
#define VMASK(n) _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3))
#define SFMA(a, b, c) fma(a, b, c)
#else
#define VMASKLOAD(p, m) _mm256_maskload_ps(p, m)
#define VMASKSTORE(p, m, v) _mm256_maskstore_ps(p, m, v)
#define VMASK(n) _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define SFMA(a, b, c) fmaf(a, b, c)
#endif

/* MC a multiple of every mr, NC of every nr */
enum { KC = TG_K_GEMM_KBLOCK, MC = 120, NC = 3072 };

/* 6 x 16 floats (6 x 8 doubles): 12 accumulators. The contract is tg_gemm_ukernel's. */
static TG_AVX2 void ukernel_6x2v(int64_t kc, const tg_float *restrict a, const tg_float *restrict b,
                                 const tg_float *src, int64_t lds, tg_float *dst, int64_t ldd,
                                 const tg_float *add, int64_t ldx) {
    enum { MR = 6, NR = 2 * VL };
    vec c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (src) {
        c00 = VLOAD(src + 0 * lds); c01 = VLOAD(src + 0 * lds + VL);
        c10 = VLOAD(src + 1 * lds); c11 = VLOAD(src + 1 * lds + VL);
        c20 = VLOAD(src + 2 * lds); c21 = VLOAD(src + 2 * lds + VL);
        c30 = VLOAD(src + 3 * lds); c31 = VLOAD(src + 3 * lds + VL);
        c40 = VLOAD(src + 4 * lds); c41 = VLOAD(src + 4 * lds + VL);
        c50 = VLOAD(src + 5 * lds); c51 = VLOAD(src + 5 * lds + VL);
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = VZERO();
    }
    /* one k: 12 FMAs from 2 loads of b and 6 broadcasts of a */
#define K_STEP(a, b)                                                                          \
    do {                                                                                      \
        vec b0 = VLOAD(b), b1 = VLOAD((b) + VL), t;                                          \
        t = VBCAST((a) + 0); c00 = VFMA(t, b0, c00); c01 = VFMA(t, b1, c01);                \
        t = VBCAST((a) + 1); c10 = VFMA(t, b0, c10); c11 = VFMA(t, b1, c11);                \
        t = VBCAST((a) + 2); c20 = VFMA(t, b0, c20); c21 = VFMA(t, b1, c21);                \
        t = VBCAST((a) + 3); c30 = VFMA(t, b0, c30); c31 = VFMA(t, b1, c31);                \
        t = VBCAST((a) + 4); c40 = VFMA(t, b0, c40); c41 = VFMA(t, b1, c41);                \
        t = VBCAST((a) + 5); c50 = VFMA(t, b0, c50); c51 = VFMA(t, b1, c51);                \
    } while (0)
    /* 4 k a round: the loop's own integer work (pointer steps, the compare) shares Intel's FMA
     * ports 0 and 1, so once a k it cost ~15% of the FMA rate (Emerald Rapids: 74 of 88 GFLOP/s),
     * once in 4 k ~4%; the chain of each element is the same, k ascending */
    int64_t k = 0;
    for (; k + 4 <= kc; k += 4) {
        K_STEP(a, b);
        K_STEP(a + MR, b + NR);
        K_STEP(a + 2 * MR, b + 2 * NR);
        K_STEP(a + 3 * MR, b + 3 * NR);
        a += 4 * MR;
        b += 4 * NR;
    }
    for (; k < kc; k++) {
        K_STEP(a, b);
        a += MR;
        b += NR;
    }
#undef K_STEP
    if (add) {
        c00 = VADD(VLOAD(add + 0 * ldx), c00); c01 = VADD(VLOAD(add + 0 * ldx + VL), c01);
        c10 = VADD(VLOAD(add + 1 * ldx), c10); c11 = VADD(VLOAD(add + 1 * ldx + VL), c11);
        c20 = VADD(VLOAD(add + 2 * ldx), c20); c21 = VADD(VLOAD(add + 2 * ldx + VL), c21);
        c30 = VADD(VLOAD(add + 3 * ldx), c30); c31 = VADD(VLOAD(add + 3 * ldx + VL), c31);
        c40 = VADD(VLOAD(add + 4 * ldx), c40); c41 = VADD(VLOAD(add + 4 * ldx + VL), c41);
        c50 = VADD(VLOAD(add + 5 * ldx), c50); c51 = VADD(VLOAD(add + 5 * ldx + VL), c51);
    }
    VSTORE(dst + 0 * ldd, c00); VSTORE(dst + 0 * ldd + VL, c01);
    VSTORE(dst + 1 * ldd, c10); VSTORE(dst + 1 * ldd + VL, c11);
    VSTORE(dst + 2 * ldd, c20); VSTORE(dst + 2 * ldd + VL, c21);
    VSTORE(dst + 3 * ldd, c30); VSTORE(dst + 3 * ldd + VL, c31);
    VSTORE(dst + 4 * ldd, c40); VSTORE(dst + 4 * ldd + VL, c41);
    VSTORE(dst + 5 * ldd, c50); VSTORE(dst + 5 * ldd + VL, c51);
}

static const tg_gemm_ukernel_desc avx2_kernel = {6, 2 * VL, ukernel_6x2v};

#ifndef TG_DOUBLE
/* r[0..8) rows of 8 floats -> r[k] = column k (r0[k], ..., r7[k]). */
static inline TG_AVX2 void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}
#endif

/* op(B)[pc.., jc..] (kc, nc) into NR-column panels: bp[p*kc*NR + k*NR + j], zero past nc. */
static TG_AVX2 void pack_b(const tg_gemm_args *g, const tg_float *B, int64_t pc, int64_t kc,
                           int64_t jc, int64_t nc, int64_t NR, tg_float *restrict bp) {
    for (int64_t p = 0; p < nc; p += NR, bp += kc * NR) {
        int64_t nr = nc - p < NR ? nc - p : NR;
        if (!g->tb) {    /* B is (K, N): a row of the panel is contiguous */
            /* written out per width: as loops, the compiler turns them into memmove calls */
            const tg_float *src = B + pc * g->ldb + jc + p;
            if (nr == NR && NR == 2 * VL) {
                for (int64_t k = 0; k < kc; k++, src += g->ldb) {
                    VSTORE(bp + k * NR, VLOAD(src));
                    VSTORE(bp + k * NR + VL, VLOAD(src + VL));
                }
            } else if (nr == NR && NR == 4 * VL) {
                for (int64_t k = 0; k < kc; k++, src += g->ldb) {
                    VSTORE(bp + k * NR, VLOAD(src));
                    VSTORE(bp + k * NR + VL, VLOAD(src + VL));
                    VSTORE(bp + k * NR + 2 * VL, VLOAD(src + 2 * VL));
                    VSTORE(bp + k * NR + 3 * VL, VLOAD(src + 3 * VL));
                }
            } else {         /* masked loads: zeros past nr */
                for (int64_t k = 0; k < kc; k++, src += g->ldb)
                    for (int64_t v = 0; v < NR; v += VL)
                        VSTORE(bp + k * NR + v, VMASKLOAD(src + v, VMASK(nr - v)));
            }
        } else {         /* B is (N, K): op(B)[k][j] = B[j][k] */
            int64_t k0 = 0;
#ifndef TG_DOUBLE
            if (nr == NR) {  /* 8x8 transposes: 8 rows of B at a time, 8 k at a time */
                const float *src = B + (jc + p) * g->ldb + pc;
                /* the next panel's rows at these k (a cache line every 16 k) are fetched while
                   this panel is packed: rows the op before left out of the caches then arrive
                   together, not one at a time (the T step 3.5% faster on AVX2, BENCHMARKS.md) */
                bool ahead = p + 2 * NR <= nc;
                for (; k0 + 8 <= kc; k0 += 8)
                    for (int64_t j8 = 0; j8 < NR; j8 += 8) {
                        __m256 r[8];
                        if (ahead && (k0 & 15) == 0)
                            for (int i = 0; i < 8; i++)
                                _mm_prefetch((const char *)(src + (NR + j8 + i) * g->ldb + k0),
                                             _MM_HINT_T0);
                        for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (j8 + i) * g->ldb + k0);
                        transpose8(r);
                        for (int k = 0; k < 8; k++) _mm256_storeu_ps(bp + (k0 + k) * NR + j8, r[k]);
                    }
            }
#endif
            for (int64_t j = 0; j < nr; j++) {
                const tg_float *src = B + (jc + p + j) * g->ldb + pc;
                for (int64_t k = k0; k < kc; k++) bp[k * NR + j] = src[k];
            }
            for (int64_t j = nr; j < NR; j++)
                for (int64_t k = k0; k < kc; k++) bp[k * NR + j] = 0;
        }
    }
}

/* Slack after a packed A block: the vector stores below write up to 8 floats past a strip's
 * last k (overwritten by the next strip, or landing in the slack). */
enum { A_SLACK = 16 };

/* op(A)[ic.., pc..] (mc, kc) into MR-row strips: ap[s*kc*MR + k*MR + i], zero past mc. */
static TG_AVX2 void pack_a(const tg_gemm_args *g, const tg_float *A, int64_t ic, int64_t mc,
                           int64_t pc, int64_t kc, int64_t MR, tg_float *restrict ap) {
    for (int64_t s = 0; s < mc; s += MR, ap += kc * MR) {
        int64_t mr = mc - s < MR ? mc - s : MR;
        if (g->ta) {     /* A is (K, M): a column of the strip is contiguous */
            /* masked loads of mr values (zeros past them), whole vectors stored: the extra
               lanes are overwritten by the next k (or land in the slack) */
            const tg_float *src = A + pc * g->lda + ic + s;
            const __m256i m0 = VMASK(mr), m1 = VMASK(mr - VL);
            if (MR <= VL) {
                for (int64_t k = 0; k < kc; k++, src += g->lda) VSTORE(ap + k * MR, VMASKLOAD(src, m0));
            } else {   /* MR <= 2 VL */
                for (int64_t k = 0; k < kc; k++, src += g->lda) {
                    VSTORE(ap + k * MR, VMASKLOAD(src, m0));
                    VSTORE(ap + k * MR + VL, VMASKLOAD(src + VL, m1));
                }
            }
        } else {         /* A is (M, K) */
            int64_t k0 = 0;
#ifndef TG_DOUBLE
            if (mr == MR && MR <= 8) {  /* 8x8 transposes of the MR rows (+ zero rows), 8 k at a
                                           time; each column's 8 values are stored over MR slots,
                                           the extra overwritten by the next column */
                const float *src = A + (ic + s) * g->lda + pc;
                bool ahead = s + 2 * MR <= mc;   /* the next strip's rows, as pack_b's panels */
                for (; k0 + 8 <= kc; k0 += 8) {
                    __m256 r[8];
                    if (ahead && (k0 & 15) == 0)
                        for (int i = 0; i < MR; i++)
                            _mm_prefetch((const char *)(src + (MR + i) * g->lda + k0), _MM_HINT_T0);
                    for (int i = 0; i < 8; i++)
                        r[i] = i < MR ? _mm256_loadu_ps(src + i * g->lda + k0) : _mm256_setzero_ps();
                    transpose8(r);
                    for (int k = 0; k < 8; k++) _mm256_storeu_ps(ap + (k0 + k) * MR, r[k]);
                }
            }
#endif
            for (int64_t i = 0; i < mr; i++) {
                const tg_float *src = A + (ic + s + i) * g->lda + pc;
                for (int64_t k = k0; k < kc; k++) ap[k * MR + i] = src[k];
            }
            for (int64_t i = mr; i < MR; i++)
                for (int64_t k = k0; k < kc; k++) ap[k * MR + i] = 0;
        }
    }
}

/* Where a k block's tiles come from and go to. The running sums live in C (not accumulating) or
 * in the per-thread buffer T (accumulating over several k blocks: C keeps its value until the
 * last block adds it); T is (rows, ldt) for the rows of the current A block and is never an
 * edge: its tiles are padded to MR x NR. */
typedef struct {
    tg_float *C; int64_t ldc;    /* at the block's top-left */
    tg_float *T; int64_t ldt;    /* NULL: sums in C */
    bool first, last, accumulate;
    const tg_float *bias;        /* the epilogue's, at the block's first column; NULL: none */
    bool relu;
} tile_io;

enum { TILE_MAX = 8 * 32 };   /* the largest micro-kernel tile, in elements */

/* The epilogue (kernels.h) on a finished tile c (mr, nr) while it is in L1: c + bias[j], then
 * c > 0 ? c : 0 (max(c, 0) keeps the second operand for a NaN or two zeros: the same), with the
 * bits of tg_k_axpby and tg_k_unary's ReLU. */
static TG_AVX2 void epilogue(tg_float *c, int64_t ldc, int64_t mr, int64_t nr,
                             const tg_float *bias, bool relu) {
    for (int64_t i = 0; i < mr; i++, c += ldc) {
        int64_t j = 0;
        for (; j + VL <= nr; j += VL) {
            vec v = VLOAD(c + j);
            if (bias) v = VADD(v, VLOAD(bias + j));
            if (relu) v = VMAX(v, VZERO());
            VSTORE(c + j, v);
        }
        for (; j < nr; j++) {
            tg_float v = bias ? c[j] + bias[j] : c[j];
            c[j] = relu ? (v > 0 ? v : 0) : v;
        }
    }
}

/* The micro-kernel's contract on a tile of mr x nr <= its own: the same kernel on zero-padded
 * copies, so the same chain per element. */
static TG_AVX2 void edge_tile(const tg_gemm_ukernel_desc *uk, int64_t kc, const tg_float *a,
                              const tg_float *b, const tg_float *src, int64_t lds, tg_float *dst,
                              int64_t ldd, const tg_float *add, int64_t ldx, int64_t mr,
                              int64_t nr) {
    const int64_t MR = uk->mr, NR = uk->nr;
    _Alignas(64) tg_float ts[TILE_MAX], tx[TILE_MAX], td[TILE_MAX];
    for (int64_t i = 0; src && i < MR; i++)
        for (int64_t v = 0; v < NR; v += VL)
            VSTORE(ts + i * NR + v,
                   i < mr ? VMASKLOAD(src + i * lds + v, VMASK(nr - v)) : VZERO());
    for (int64_t i = 0; add && i < MR; i++)
        for (int64_t v = 0; v < NR; v += VL)
            VSTORE(tx + i * NR + v,
                   i < mr ? VMASKLOAD(add + i * ldx + v, VMASK(nr - v)) : VZERO());
    uk->fn(kc, a, b, src ? ts : NULL, NR, td, NR, add ? tx : NULL, NR);
    for (int64_t i = 0; i < mr; i++)
        for (int64_t v = 0; v < nr; v += VL)
            VMASKSTORE(dst + i * ldd + v, VMASK(nr - v), VLOAD(td + i * NR + v));
}

/* C (mc, nc) from a packed A block and B block. */
static TG_AVX2 void macro(const tg_gemm_ukernel_desc *uk, int64_t mc, int64_t nc, int64_t kc,
                          const tg_float *ap, const tg_float *bp, const tile_io *io) {
    const int64_t MR = uk->mr, NR = uk->nr;
    for (int64_t jr = 0; jr < nc; jr += NR) {
        int64_t nr = nc - jr < NR ? nc - jr : NR;
        for (int64_t ir = 0; ir < mc; ir += MR) {
            int64_t mr = mc - ir < MR ? mc - ir : MR;
            tg_float *c = io->C + ir * io->ldc + jr;
            tg_float *t = io->T ? io->T + ir * io->ldt + jr : NULL;
            /* source of the running sums, where they go, what is added at the end */
            const tg_float *src = io->first ? NULL : t ? t : c;
            tg_float *dst = io->last || !t ? c : t;
            const tg_float *add = io->last && io->accumulate ? c : NULL;
            int64_t lds = src == t ? io->ldt : io->ldc, ldd = dst == t ? io->ldt : io->ldc;
            if (mr == MR && nr == NR)
                uk->fn(kc, ap + ir * kc, bp + jr * kc, src, lds, dst, ldd, add, io->ldc);
            else
                edge_tile(uk, kc, ap + ir * kc, bp + jr * kc, src, lds, dst, ldd, add, io->ldc,
                          mr, nr);
            if (io->last && (io->bias || io->relu))
                epilogue(c, io->ldc, mr, nr, io->bias ? io->bias + jr : NULL, io->relu);
        }
    }
}

/* Without scratch memory: the same chain, one element at a time. */
static TG_AVX2 void rect_unpacked(const tg_gemm_args *g, const tg_float *A, const tg_float *B,
                                  tg_float *C, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j = j0; j < j1; j++) {
            tg_float p = 0;
            for (int64_t k = 0; k < g->K; k++) {
                tg_float a = g->ta ? A[k * g->lda + i] : A[i * g->lda + k];
                tg_float b = g->tb ? B[j * g->ldb + k] : B[k * g->ldb + j];
                p = SFMA(a, b, p);
            }
            C[i * g->ldc + j] = g->accumulate ? C[i * g->ldc + j] + p : p;
        }
    tg_k_gemm_epilogue_rows(g, C, i0, i1, j0, j1);
}

/* n rounded up to a multiple of m (a padded strip or panel count times its width). */
static inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

/* A pre-packed op(B) (tg_k_gemm_prepack_b) holds each k block of KC rows whole, its nr-column
 * panels side by side: the block of k from pc, columns from jc (a multiple of nr), is at
 * Bp + pc * npad + jc * kc, npad = N rounded up to nr: the layout pack_b gives a (kc, nc) block. */
static bool prepacked(const tg_gemm_args *g, const tg_gemm_ukernel_desc *uk) {
    return g->Bp && g->Bp_nr == uk->nr && g->batch == 1;
}

/* C[i0..i1)[j0..j1) of batch item b. */
static TG_AVX2 void rect(const tg_gemm_ukernel_desc *uk, const tg_gemm_args *g, int64_t b,
                         int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    const tg_float *A = g->A + tg_gemm_item(g, b, g->strideA, g->strideA_h);
    const tg_float *B = g->B + tg_gemm_item(g, b, g->strideB, g->strideB_h);
    tg_float *C = g->C + tg_gemm_item(g, b, g->strideC, g->strideC_h);
    if (g->K == 0) {
        if (!g->accumulate)
            for (int64_t i = i0; i < i1; i++) memset(C + i * g->ldc + j0, 0, (size_t)(j1 - j0) * sizeof *C);
        tg_k_gemm_epilogue_rows(g, C, i0, i1, j0, j1);
        return;
    }
    const int64_t MR = uk->mr, NR = uk->nr;
    int64_t kmax = g->K < KC ? g->K : KC;
    int64_t nmax = j1 - j0 < NC ? j1 - j0 : NC, mmax = i1 - i0 < MC ? i1 - i0 : MC;
    nmax = round_up(nmax, NR);
    mmax = round_up(mmax, MR);
    bool pre = prepacked(g, uk);
    int64_t npad = round_up(g->N, NR);
    tg_float *bp = pre ? NULL : tg_k_scratch(0, (size_t)(kmax * nmax) * sizeof *bp);
    tg_float *ap = tg_k_scratch(1, (size_t)(kmax * mmax + A_SLACK) * sizeof *ap);
    /* accumulating over several k blocks: the running sums of the whole rect in T */
    int64_t rows = round_up(i1 - i0, MR);
    tg_float *T = NULL;
    if (g->accumulate && g->K > KC) {
        T = tg_k_scratch(2, (size_t)(rows * nmax) * sizeof *T);
        if (!T) ap = NULL;
    }
    if ((!pre && !bp) || !ap) { rect_unpacked(g, A, B, C, i0, i1, j0, j1); return; }
    for (int64_t jc = j0; jc < j1; jc += NC) {
        int64_t nc = j1 - jc < NC ? j1 - jc : NC;
        for (int64_t pc = 0; pc < g->K; pc += KC) {
            int64_t kc = g->K - pc < KC ? g->K - pc : KC;
            const tg_float *bk = pre ? g->Bp + pc * npad + jc * kc : bp;
            if (!pre) pack_b(g, B, pc, kc, jc, nc, NR, bp);
            for (int64_t ic = i0; ic < i1; ic += MC) {
                int64_t mc = i1 - ic < MC ? i1 - ic : MC;
                pack_a(g, A, ic, mc, pc, kc, MR, ap);
                tile_io io = {.C = C + ic * g->ldc + jc, .ldc = g->ldc,
                              .T = T ? T + (ic - i0) * nmax : NULL, .ldt = nmax,
                              .first = pc == 0, .last = pc + kc == g->K,
                              .accumulate = g->accumulate,
                              .bias = g->bias ? g->bias + jc : NULL, .relu = g->relu};
                macro(uk, mc, nc, kc, ap, bk, &io);
            }
        }
    }
}

/* Work units: mr-row strips of every batch item (by_rows), or nr-column panels. */
typedef struct {
    const tg_gemm_args *g;
    const tg_gemm_ukernel_desc *uk;
    bool by_rows;
    int64_t per;    /* units per batch item */
} gemm_job;

static void gemm_range(void *arg, size_t begin, size_t end) {
    const gemm_job *J = arg;
    const tg_gemm_args *g = J->g;
    const int64_t MR = J->uk->mr, NR = J->uk->nr;
    int64_t u = (int64_t)begin;
    while (u < (int64_t)end) {
        int64_t b = u / J->per, s = u % J->per;
        int64_t stop = (b + 1) * J->per < (int64_t)end ? (b + 1) * J->per : (int64_t)end;
        int64_t e = s + (stop - u);
        if (J->by_rows)
            rect(J->uk, g, b, s * MR, e * MR < g->M ? e * MR : g->M, 0, g->N);
        else
            rect(J->uk, g, b, 0, g->M, s * NR, e * NR < g->N ? e * NR : g->N);
        u = stop;
    }
}

void tg_k_gemm_packed(tg_pool *pool, const tg_gemm_args *g, const tg_gemm_ukernel_desc *uk) {
    int nt = tg_pool_threads(pool);
    int64_t strips = (g->M + uk->mr - 1) / uk->mr, panels = (g->N + uk->nr - 1) / uk->nr;
    /* rows unless there are too few strips to share and more panels than strips */
    bool by_rows = g->batch * strips >= 4 * nt || strips >= panels;
    /* A thread given rows packs all of op(B) and its share of op(A); given columns, all of op(A)
     * and its share of op(B). With several threads and one item, the split that copies less is
     * taken, when it leaves enough units to share (the projection onto the vocabulary: op(B) is
     * (d, V), op(A) a chunk of rows; each thread packing all of it cost more than the products).
     * Any split gives the same bits. A pre-packed op(B) costs neither split a copy. */
    if (nt > 1 && g->batch == 1 && panels >= 4 * nt) {
        double kn = prepacked(g, uk) ? 0 : (double)g->K * (double)g->N;
        double pack_rows = kn + (double)g->M * (double)g->K / nt;
        double pack_cols = (double)g->M * (double)g->K + kn / nt;
        if (pack_cols < pack_rows) by_rows = false;
    }
    gemm_job J = {.g = g, .uk = uk, .by_rows = by_rows};
    J.per = J.by_rows ? strips : panels;
    int64_t unit = (J.by_rows ? uk->mr * g->N : uk->nr * g->M) * (g->K + 1);
    /* a thread should get enough work to pay for waking it (~0.5M multiply-adds) */
    size_t min_units = (size_t)(1 + (1 << 19) / (unit + 1));
    tg_pool_for_balanced(pool, (size_t)(g->batch * J.per), min_units, gemm_range, &J);
}

static const tg_gemm_ukernel_desc *kernel_now(void) {
#if TG_K_HAVE_AVX512_GEMM
    if (tg_k_current() == TG_K_AVX512) return &tg_gemm_avx512_kernel;
#endif
    return &avx2_kernel;
}

void tg_k_gemm_avx2(tg_pool *pool, const tg_gemm_args *g) { tg_k_gemm_packed(pool, g, kernel_now()); }

int64_t tg_k_gemm_avx2_prepack_elems(const tg_gemm_args *g) {
    int64_t NR = kernel_now()->nr;
    return g->batch == 1 ? g->K * round_up(g->N, NR) : 0;
}

typedef struct { const tg_gemm_args *g; int64_t NR; tg_float *dst; } prepack_job;

/* Panels [begin, end) of every k block, in the layout prepacked() reads. */
static void prepack_range(void *arg, size_t begin, size_t end) {
    const prepack_job *J = arg;
    const tg_gemm_args *g = J->g;
    int64_t npad = round_up(g->N, J->NR), jc = (int64_t)begin * J->NR;
    int64_t nc = ((int64_t)end * J->NR < g->N ? (int64_t)end * J->NR : g->N) - jc;
    for (int64_t pc = 0; pc < g->K; pc += KC) {
        int64_t kc = g->K - pc < KC ? g->K - pc : KC;
        pack_b(g, g->B, pc, kc, jc, nc, J->NR, J->dst + pc * npad + jc * kc);
    }
}

void tg_k_gemm_avx2_prepack_b(tg_pool *pool, tg_gemm_args *g, tg_float *dst) {
    if (g->batch != 1) return;
    prepack_job J = {.g = g, .NR = kernel_now()->nr, .dst = dst};
    tg_pool_for(pool, (size_t)((g->N + J.NR - 1) / J.NR), 16, prepack_range, &J);
    g->Bp = dst;
    g->Bp_nr = J.NR;
}

#else   /* no AVX2 on this target: never selected */

void tg_k_gemm_avx2(tg_pool *pool, const tg_gemm_args *g) { (void)pool; (void)g; }
int64_t tg_k_gemm_avx2_prepack_elems(const tg_gemm_args *g) { (void)g; return 0; }
void tg_k_gemm_avx2_prepack_b(tg_pool *pool, tg_gemm_args *g, tg_float *dst) {
    (void)pool; (void)g; (void)dst;
}

#endif
