/* test_kernels.c: the kernels behind autograd/kernels/kernels.h. The fast (AVX2+FMA) GEMM against
 * a naive GEMM in double and against the portable one, over shapes that hit every tile edge
 * (1, odd sizes, tails of the 6-row strips, 16-column panels, 256-deep k blocks, 120-row and
 * 3072-column blocks), with the AVX2 and (where the CPU has it) the AVX-512 micro-kernel, which
 * must give the same bits, all four transpose combinations, accumulate on and off, padded leading
 * dimensions and batches with strides; writes stay inside C. Bit identity on the fast path for
 * 1, 2 and 3 threads and for other splits of the work (row blocks, column blocks, batch items
 * one by one). The other fast kernels (softmax with masks and causal limits, log_softmax, their
 * backward, layer norm forward/backward, cross-entropy forward/backward, ReLU, axpby, acc,
 * colsum) against the portable ones within stated tolerances and bit-identical over thread
 * counts; the transpose kernel against index arithmetic; three training steps of a small
 * Transformer bit-identical over thread counts and GEMM micro-kernels; the run-time dispatch.
 * Dropout: both implementations' masks against the stream's formula (seeds, counters, sizes, p at
 * a draw), forward and backward bit-identical between them and over thread counts.
 *
 * On a CPU without AVX2 the "fast" path is the portable one and the comparisons still run. */
#define _GNU_SOURCE   /* pthread_getattr_np: a pool thread's stack size */
#include <check.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/autograd.h"
#include "autograd/kernels/kernels.h"
#include "autograd/pool.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "tests/tg_check.h"

#ifdef TG_DOUBLE
#define EPS DBL_EPSILON
#define KTOL 1e-12    /* fast vs portable, kernels other than GEMM (the same code in double) */
#else
#define EPS FLT_EPSILON
#define KTOL 2e-6     /* float: exp within 2 ulp, float instead of double per-element arithmetic */
#endif

static uint64_t rng = 1;
static double urand(void) {   /* [0, 1) */
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}
static void fill(tg_float *x, int64_t n, double lo, double hi) {
    for (int64_t i = 0; i < n; i++) x[i] = (tg_float)(lo + (hi - lo) * urand());
}
static tg_float *alloc_fill(int64_t n, double lo, double hi) {
    tg_float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    fill(x, n, lo, hi);
    return x;
}
static tg_float *dup(const tg_float *x, int64_t n) {
    tg_float *y = malloc((size_t)(n > 0 ? n : 1) * sizeof *y);
    ck_assert_ptr_nonnull(y);
    memcpy(y, x, (size_t)n * sizeof *y);
    return y;
}
static bool same_bits(const void *a, const void *b, size_t bytes) { return memcmp(a, b, bytes) == 0; }

/* The implementation the tests call "fast": the best the CPU has (AVX-512, AVX2, else portable). */
static tg_k_impl fast_impl(void) { return tg_k_select(TG_K_AVX512); }

/* The fast GEMMs this CPU can run (AVX2, and AVX-512 where present), else portable: n of them. */
static int fast_gemms(tg_k_impl out[2]) {
    int n = 0;
    if (tg_k_select(TG_K_AVX2) == TG_K_AVX2) out[n++] = TG_K_AVX2;
    if (tg_k_select(TG_K_AVX512) == TG_K_AVX512) out[n++] = TG_K_AVX512;
    if (n == 0) out[n++] = TG_K_PORTABLE;
    return n;
}

/* ---- GEMM ------------------------------------------------------------------------------- */

/* A GEMM problem with its buffers: leading dims padded by `pad`, batch items `gap` apart. */
typedef struct {
    tg_gemm_args g;
    tg_float *A, *B, *C0;   /* C0: C before the call (sentinels outside the matrices) */
    int64_t nA, nB, nC;
} gemm_case;

static const tg_float SENTINEL = (tg_float)12345.0;

static gemm_case gemm_case_new(bool ta, bool tb, bool acc, int64_t M, int64_t N, int64_t K,
                               int64_t batch, int64_t pad, int64_t gap, bool shared_b) {
    gemm_case c = {0};
    tg_gemm_args *g = &c.g;
    *g = (tg_gemm_args){.ta = ta, .tb = tb, .accumulate = acc, .M = M, .N = N, .K = K, .batch = batch};
    g->lda = (ta ? M : K) + pad;
    g->ldb = (tb ? K : N) + pad;
    g->ldc = N + pad;
    int64_t ra = ta ? K : M, rb = tb ? N : K;
    g->strideA = ra * g->lda + gap;
    g->strideB = shared_b ? 0 : rb * g->ldb + gap;
    g->strideC = M * g->ldc + gap;
    c.nA = g->strideA * batch;
    c.nB = shared_b ? rb * g->ldb : g->strideB * batch;
    c.nC = g->strideC * batch;
    c.A = alloc_fill(c.nA, -1, 1);
    c.B = alloc_fill(c.nB, -1, 1);
    c.C0 = alloc_fill(c.nC, -1, 1);
    /* everything of C outside the M x N matrices is a sentinel that must survive */
    for (int64_t i = 0; i < c.nC; i++) {
        int64_t b = i / g->strideC, r = i % g->strideC;
        (void)b;
        if (r >= M * g->ldc || r % g->ldc >= N) c.C0[i] = SENTINEL;
    }
    g->A = c.A;
    g->B = c.B;
    return c;
}

static void gemm_case_free(gemm_case *c) {
    free(c->A);
    free(c->B);
    free(c->C0);
}

/* C after the call, with the given implementation and pool. */
static tg_float *gemm_run(const gemm_case *c, tg_k_impl impl, tg_pool *pool) {
    tg_float *C = dup(c->C0, c->nC);
    tg_gemm_args g = c->g;
    g.C = C;
    tg_k_select(impl);
    tg_k_gemm(pool, &g);
    return C;
}

/* Every element within (K + 2) eps of the sum of |terms| of the exact result (computed in
 * long double), and every sentinel intact. */
static void gemm_check(const gemm_case *c, const tg_float *C, const char *what) {
    const tg_gemm_args *g = &c->g;
    for (int64_t b = 0; b < g->batch; b++) {
        const tg_float *A = c->A + b * g->strideA, *B = c->B + b * g->strideB;
        const tg_float *C0 = c->C0 + b * g->strideC, *Cb = C + b * g->strideC;
        for (int64_t i = 0; i < g->M; i++)
            for (int64_t j = 0; j < g->N; j++) {
                long double s = g->accumulate ? C0[i * g->ldc + j] : 0, mag = fabsl(s);
                for (int64_t k = 0; k < g->K; k++) {
                    long double a = g->ta ? A[k * g->lda + i] : A[i * g->lda + k];
                    long double v = g->tb ? B[j * g->ldb + k] : B[k * g->ldb + j];
                    s += a * v;
                    mag += fabsl(a * v);
                }
                double got = Cb[i * g->ldc + j];
                double tol = (double)(g->K + 2) * EPS * (double)mag + 1e-300;
                ck_assert_msg(fabs(got - (double)s) <= tol,
                              "%s: %c%c M=%lld N=%lld K=%lld batch=%lld acc=%d: C[%lld][%lld][%lld] = %.9g, "
                              "exact %.9g (tol %.3g)", what, g->ta ? 't' : 'n', g->tb ? 't' : 'n',
                              (long long)g->M, (long long)g->N, (long long)g->K, (long long)g->batch,
                              g->accumulate, (long long)b, (long long)i, (long long)j, got,
                              (double)s, tol);
            }
    }
    for (int64_t i = 0; i < c->nC; i++) {
        int64_t r = i % g->strideC;
        if (r >= g->M * g->ldc || r % g->ldc >= g->N)
            ck_assert_msg(C[i] == SENTINEL, "%s: M=%lld N=%lld: wrote outside C at %lld", what,
                          (long long)g->M, (long long)g->N, (long long)i);
    }
}

START_TEST(test_gemm_against_naive) {
    tg_pool *pool = tg_pool_new(2);
    ck_assert_ptr_nonnull(pool);
    tg_k_impl fast[2];
    int nfast = fast_gemms(fast);
    static const int64_t Ms[] = {1, 5, 6, 7, 13, 121, 127};
    static const int64_t Ns[] = {1, 7, 15, 16, 17, 33, 48};
    static const int64_t Ks[] = {1, 3, 8, 9, 256, 257, 600};
    int n = 0;
    for (int t = 0; t < 4; t++)
        for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
            for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
                for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++, n++) {
                    bool acc = n % 2, pad = n % 3 == 0;
                    /* the deep cases only on some shapes: they dominate the naive loop */
                    if (Ks[ki] > 256 && (mi + ni) % 3) continue;
                    gemm_case c = gemm_case_new(t & 1, t & 2, acc, Ms[mi], Ns[ni], Ks[ki], 1,
                                                pad ? 3 : 0, 0, false);
                    tg_float *Cf[2], *Cp = gemm_run(&c, TG_K_PORTABLE, pool);
                    for (int f = 0; f < nfast; f++) {
                        Cf[f] = gemm_run(&c, fast[f], pool);
                        gemm_check(&c, Cf[f], tg_k_impl_name(fast[f]));
                    }
                    /* the AVX-512 micro-kernel gives the AVX2 one's bits */
                    if (nfast == 2)
                        ck_assert_msg(same_bits(Cf[0], Cf[1], (size_t)c.nC * sizeof *Cp),
                                      "avx2 and avx512 differ: M=%lld N=%lld K=%lld", (long long)Ms[mi],
                                      (long long)Ns[ni], (long long)Ks[ki]);
                    gemm_check(&c, Cp, "portable");
                    for (int f = 0; f < nfast; f++) free(Cf[f]);
                    free(Cp);
                    gemm_case_free(&c);
                }
    tg_pool_free(pool);
}
END_TEST

/* Blocks beyond one 120-row A block and one 3072-column B block, batches with strides, each
 * work split (rows or columns, 2 threads) against one thread. */
START_TEST(test_gemm_big_and_batched) {
    tg_pool *pool = tg_pool_new(2);
    tg_k_impl fast[2];
    int nfast = fast_gemms(fast);
    struct { bool ta, tb, acc; int64_t M, N, K, batch, pad, gap; bool shared; } cs[] = {
        {false, true, false, 130, 3100, 20, 1, 0, 0, false},   /* row split, two column blocks */
        {true, false, true, 7, 3100, 19, 1, 1, 0, false},      /* few rows: column split */
        {false, true, false, 70, 700, 64, 1, 0, 0, false},     /* column split (less to pack) */
        {true, false, true, 64, 1000, 300, 1, 0, 3, false},    /* the same, two k blocks, accumulating */
        {false, false, true, 250, 40, 300, 1, 2, 0, false},    /* three row blocks, two k blocks */
        {true, true, false, 33, 35, 37, 5, 1, 11, false},      /* batched, padded, gaps */
        {false, true, true, 32, 32, 64, 7, 0, 0, false},       /* attention scores */
        {true, false, true, 32, 64, 32, 7, 0, 5, false},       /* attention backward */
        {false, false, false, 9, 17, 5, 4, 2, 3, true},        /* one B for every batch item */
    };
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
        gemm_case c = gemm_case_new(cs[i].ta, cs[i].tb, cs[i].acc, cs[i].M, cs[i].N, cs[i].K,
                                    cs[i].batch, cs[i].pad, cs[i].gap, cs[i].shared);
        tg_float *Cf[2], *Cp = gemm_run(&c, TG_K_PORTABLE, pool);
        for (int f = 0; f < nfast; f++) {
            Cf[f] = gemm_run(&c, fast[f], pool);
            gemm_check(&c, Cf[f], tg_k_impl_name(fast[f]));
            tg_float *C1 = gemm_run(&c, fast[f], NULL);   /* one thread: the row split, same bits */
            ck_assert_msg(same_bits(C1, Cf[f], (size_t)c.nC * sizeof *Cp), "case %zu: 1 and 2 threads differ", i);
            free(C1);
        }
        if (nfast == 2) ck_assert(same_bits(Cf[0], Cf[1], (size_t)c.nC * sizeof *Cp));
        gemm_check(&c, Cp, "portable");
        for (int f = 0; f < nfast; f++) free(Cf[f]);
        free(Cp);
        gemm_case_free(&c);
    }
    tg_pool_free(pool);
}
END_TEST

/* K = 0: C = 0, or unchanged when accumulating. */
START_TEST(test_gemm_empty_k) {
    tg_k_impl impls[3] = {TG_K_PORTABLE};
    int n = 1 + fast_gemms(impls + 1);
    for (int i = 0; i < n; i++)
        for (int acc = 0; acc < 2; acc++) {
            gemm_case c = gemm_case_new(false, false, acc, 5, 9, 0, 1, 0, 0, false);
            tg_float *C = gemm_run(&c, impls[i], NULL);
            for (int64_t k = 0; k < c.nC; k++) ck_assert(C[k] == (acc ? c.C0[k] : 0));
            free(C);
            gemm_case_free(&c);
        }
}
END_TEST

/* Accumulating adds the product to C: the same bits as C + (the product alone). */
START_TEST(test_gemm_accumulate_adds_product) {
    tg_k_impl fasts[2];
    int nfast = fast_gemms(fasts);
    int64_t Ks[] = {5, 256, 700};
    for (int f = 0; f < nfast; f++)
    for (int t = 0; t < 4; t++)
        for (int ki = 0; ki < 3; ki++) {
            tg_k_impl fast = fasts[f];
            gemm_case c = gemm_case_new(t & 1, t & 2, true, 29, 37, Ks[ki], 2, 1, 3, false);
            tg_float *acc = gemm_run(&c, fast, NULL);
            c.g.accumulate = false;
            tg_float *prod = gemm_run(&c, fast, NULL);
            for (int64_t i = 0; i < c.nC; i++) {
                int64_t r = i % c.g.strideC;
                if (r >= c.g.M * c.g.ldc || r % c.g.ldc >= c.g.N) continue;
                tg_float want = c.C0[i] + prod[i];
                ck_assert_msg(same_bits(&acc[i], &want, sizeof want), "K=%lld element %lld",
                              (long long)Ks[ki], (long long)i);
            }
            free(acc);
            free(prod);
            gemm_case_free(&c);
        }
}
END_TEST

/* A pre-packed op(B) gives the bits of the GEMM that packs B itself, on 1 and 2 threads, with
 * every layout, several k and column blocks, edge panels, accumulating and the epilogue; the
 * packed copy is what is read (B is overwritten after packing); a kernel switched after packing
 * (another panel width) and the portable GEMM read B instead. */
START_TEST(test_gemm_prepacked_b) {
    tg_pool *pool = tg_pool_new(2);
    ck_assert_ptr_nonnull(pool);
    tg_k_impl fast[2];
    int nfast = fast_gemms(fast);
    struct { bool ta, tb, acc; int64_t M, N, K, pad; } cs[] = {
        {false, true, false, 131, 1000, 256, 0},   /* the projection's logits: the column split */
        {false, false, false, 131, 256, 1000, 0},  /* its d x: four k blocks */
        {true, false, true, 70, 3100, 300, 1},     /* two column blocks, two k blocks, accumulating */
        {true, true, true, 7, 45, 19, 2},          /* edge panels, padded */
    };
    for (size_t ci = 0; ci < sizeof cs / sizeof *cs; ci++)
        for (int f = 0; f < nfast; f++) {
            gemm_case c = gemm_case_new(cs[ci].ta, cs[ci].tb, cs[ci].acc, cs[ci].M, cs[ci].N,
                                        cs[ci].K, 1, cs[ci].pad, 0, false);
            tg_float *bias = alloc_fill(c.g.N, -0.5, 0.5);
            c.g.bias = ci == 1 ? bias : NULL;
            c.g.relu = ci == 1;
            tg_float *want = gemm_run(&c, fast[f], pool);
            tg_k_select(fast[f]);
            int64_t elems = tg_k_gemm_prepack_elems(&c.g);
            if (fast[f] == TG_K_PORTABLE) {
                ck_assert_int_eq(elems, 0);
            } else {
                ck_assert_int_ge(elems, c.g.K * c.g.N);
                tg_float *packed = malloc((size_t)elems * sizeof *packed);
                tg_float *B = dup(c.B, c.nB);
                c.g.B = B;
                tg_k_gemm_prepack_b(pool, &c.g, packed);
                ck_assert_ptr_eq(c.g.Bp, packed);
                for (int64_t k = 0; k < c.nB; k++) B[k] = (tg_float)NAN;   /* only Bp is read */
                for (int t = 0; t < 2; t++) {
                    tg_float *got = gemm_run(&c, fast[f], t ? pool : NULL);
                    ck_assert_msg(same_bits(got, want, (size_t)c.nC * sizeof *got),
                                  "%s case %zu threads %d: pre-packed B gives other bits",
                                  tg_k_impl_name(fast[f]), ci, t + 1);
                    free(got);
                }
                c.g.B = c.B;   /* another kernel (panel width) or portable: B is read */
                gemm_case plain = c;
                plain.g.Bp = NULL;
                tg_k_impl other = nfast == 2 ? fast[1 - f] : TG_K_PORTABLE;
                tg_float *got = gemm_run(&c, other, pool), *ref = gemm_run(&plain, other, pool);
                ck_assert_msg(same_bits(got, ref, (size_t)c.nC * sizeof *got),
                              "case %zu: %s with B packed for %s", ci, tg_k_impl_name(other),
                              tg_k_impl_name(fast[f]));
                free(got); free(ref); free(packed); free(B);
            }
            free(want); free(bias);
            gemm_case_free(&c);
        }
    tg_pool_free(pool);
}
END_TEST

/* The epilogue (a linear layer's bias and ReLU, applied by the GEMM on each tile) gives the bits
 * of the GEMM followed by tg_k_axpby(row, 1, bias) and tg_k_unary(RELU) on every row of C: in
 * every implementation, on edge tiles, across k blocks (K > 256) and column blocks (N > 3072),
 * accumulating or not, K = 0, batched with gaps, on 1 and 2 threads; a NaN in the bias and one
 * in A; and nothing outside C written (the sentinels). */
START_TEST(test_gemm_epilogue_is_the_passes) {
    tg_pool *pool = tg_pool_new(2);
    ck_assert_ptr_nonnull(pool);
    tg_k_impl impls[3] = {TG_K_PORTABLE};
    int n_impl = 1 + fast_gemms(impls + 1);
    if (impls[1] == TG_K_PORTABLE) n_impl = 1;
    struct { bool ta, tb, acc; int64_t M, N, K, batch, pad, gap; } cs[] = {
        {false, true, false, 37, 70, 50, 1, 0, 0},      /* a linear layer: x w^T, edge tiles */
        {false, true, true, 13, 33, 300, 1, 1, 0},      /* two k blocks, accumulating */
        {false, true, false, 130, 3100, 20, 1, 0, 0},   /* two column blocks */
        {true, false, false, 7, 3100, 19, 1, 1, 0},     /* few rows: the column split */
        {false, false, true, 9, 17, 0, 1, 2, 0},        /* K = 0 */
        {true, true, false, 33, 35, 37, 3, 1, 11},      /* batched, padded, gaps */
    };
    for (size_t ci = 0; ci < sizeof cs / sizeof *cs; ci++)
        for (int mode = 1; mode < 4; mode++) {   /* bias, relu, both */
            gemm_case c = gemm_case_new(cs[ci].ta, cs[ci].tb, cs[ci].acc, cs[ci].M, cs[ci].N,
                                        cs[ci].K, cs[ci].batch, cs[ci].pad, cs[ci].gap, false);
            int64_t N = c.g.N, ldc = c.g.ldc;
            tg_float *bias = alloc_fill(N, -1.5, 1);   /* mostly below the products: ReLU cuts */
            bias[0] = (tg_float)NAN;
            if (c.g.K > 0) c.A[0] = (tg_float)NAN;     /* a NaN row (or column) of C */
            for (int t = 0; t < 2; t++)
                for (int f = 0; f < n_impl; f++) {
                    tg_pool *p = t ? pool : NULL;
                    tg_float *want = gemm_run(&c, impls[f], p);   /* then the passes, row by row */
                    for (int64_t b = 0; b < c.g.batch; b++)
                        for (int64_t i = 0; i < c.g.M; i++) {
                            tg_float *row = want + b * c.g.strideC + i * ldc;
                            if (mode & 1) tg_k_axpby(p, N, row, 1, bias, N, row);
                            if (mode & 2) tg_k_unary(p, TG_UNARY_RELU, N, row, row);
                        }
                    gemm_case e = c;
                    e.g.bias = mode & 1 ? bias : NULL;
                    e.g.relu = mode & 2;
                    tg_float *got = gemm_run(&e, impls[f], p);
                    for (int64_t k = 0; k < c.nC; k++)
                        ck_assert_msg(same_bits(&got[k], &want[k], sizeof want[k]),
                                      "%s case %zu mode %d threads %d: C element %lld %.9g, "
                                      "the passes give %.9g", tg_k_impl_name(impls[f]), ci, mode,
                                      t + 1, (long long)k, (double)got[k], (double)want[k]);
                    free(got);
                    free(want);
                }
            free(bias);
            gemm_case_free(&c);
        }
    tg_pool_free(pool);
}
END_TEST

/* The fast GEMM gives the same bits for 1, 2 and 3 threads, for its row blocks or column blocks
 * computed by separate calls (edge tiles in other places), and for batch items one by one. */
/* tg_pool_for_balanced's probe: the part each thread got in the last call, every item counted
 * once, and a thread's time per item (the caller fast, the others slow). */
typedef struct {
    pthread_t caller;
    long caller_us, worker_us;   /* sleep per item */
    int seen[64];                /* items' visits in this call */
    size_t worker_items;
} balance_probe;

static void balance_probe_fn(void *arg, size_t b, size_t e) {
    balance_probe *p = arg;
    bool caller = pthread_equal(pthread_self(), p->caller);
    for (size_t i = b; i < e; i++) p->seen[i]++;   /* the parts are disjoint: no race */
    if (!caller) p->worker_items = e - b;
    long us = (long)(e - b) * (caller ? p->caller_us : p->worker_us);
    nanosleep(&(struct timespec){.tv_sec = us / 1000000, .tv_nsec = us % 1000000 * 1000}, NULL);
}

/* A 2-thread pool whose worker has been seen 20 times slower than the caller on balanced calls
 * (a ratio that a loaded machine's late wake-ups, a few milliseconds, cannot undo): its later
 * balanced calls split unevenly. Returns the worker's part of the last call (of 60). */
static size_t skew_pool(tg_pool *pool) {
    balance_probe p = {.caller = pthread_self(), .caller_us = 10, .worker_us = 200};
    for (int call = 0; call < 12; call++) {
        memset(p.seen, 0, sizeof p.seen);
        tg_pool_for_balanced(pool, 60, 1, balance_probe_fn, &p);
        for (int i = 0; i < 60; i++) ck_assert_int_eq(p.seen[i], 1);
    }
    return p.worker_items;
}

START_TEST(test_gemm_split_identity) {
    tg_k_impl fasts[2];
    int nfast = fast_gemms(fasts);
    /* the last: two threads whose balanced split is uneven (skewed before each use) */
    tg_pool *pools[4] = {tg_pool_new(1), tg_pool_new(2), tg_pool_new(3), tg_pool_new(2)};
    struct { int64_t M, N, K, batch; } shapes[] = {
        {131, 70, 300, 1}, {7, 500, 33, 1}, {32, 32, 64, 12}, {300, 17, 9, 1}, {1, 3300, 7, 1},
    };
    for (int f = 0; f < nfast; f++)
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int t = 0; t < 4; t++) {
            tg_k_impl fast = fasts[f];
            bool ta = t & 1, tb = t & 2, acc = (s + t) % 2;
            gemm_case c = gemm_case_new(ta, tb, acc, shapes[s].M, shapes[s].N, shapes[s].K,
                                        shapes[s].batch, 1, 2, false);
            tg_float *ref = gemm_run(&c, fast, pools[0]);
            for (int p = 1; p < 4; p++) {
                if (p == 3) ck_assert(skew_pool(pools[3]) < 25);
                tg_float *C = gemm_run(&c, fast, pools[p]);
                ck_assert_msg(same_bits(C, ref, (size_t)c.nC * sizeof *C),
                              "shape %zu %c%c: %d threads%s differ from 1", s, ta ? 't' : 'n',
                              tb ? 't' : 'n', p == 3 ? 2 : p + 1, p == 3 ? " split unevenly" : "");
                free(C);
            }
            const tg_gemm_args *g = &c.g;
            /* rows [0, r) and [r, M) as two calls, per batch item */
            int64_t cuts[] = {1, 5, 7, g->M / 2, g->M - 1};
            for (int ci = 0; ci < 5; ci++) {
                int64_t r = cuts[ci];
                if (r <= 0 || r >= g->M) continue;
                tg_float *C = dup(c.C0, c.nC);
                for (int64_t b = 0; b < g->batch; b++) {
                    tg_gemm_args h = *g;
                    h.batch = 1;
                    h.A = c.A + b * g->strideA;
                    h.B = c.B + b * g->strideB;
                    h.C = C + b * g->strideC;
                    tg_gemm_args top = h, bottom = h;
                    top.M = r;
                    bottom.M = g->M - r;
                    bottom.A = h.A + (ta ? r : r * g->lda);
                    bottom.C = h.C + r * g->ldc;
                    tg_k_gemm(pools[1], &top);
                    tg_k_gemm(pools[1], &bottom);
                }
                ck_assert_msg(same_bits(C, ref, (size_t)c.nC * sizeof *C),
                              "shape %zu %c%c: row cut at %lld differs", s, ta ? 't' : 'n',
                              tb ? 't' : 'n', (long long)r);
                free(C);
            }
            /* columns [0, q) and [q, N) as two calls */
            int64_t qs[] = {1, 9, 16, g->N - 3};
            for (int qi = 0; qi < 4; qi++) {
                int64_t q = qs[qi];
                if (q <= 0 || q >= g->N) continue;
                tg_float *C = dup(c.C0, c.nC);
                for (int64_t b = 0; b < g->batch; b++) {
                    tg_gemm_args h = *g;
                    h.batch = 1;
                    h.A = c.A + b * g->strideA;
                    h.B = c.B + b * g->strideB;
                    h.C = C + b * g->strideC;
                    tg_gemm_args left = h, right = h;
                    left.N = q;
                    right.N = g->N - q;
                    right.B = h.B + (tb ? q * g->ldb : q);
                    right.C = h.C + q;
                    tg_k_gemm(pools[0], &left);
                    tg_k_gemm(pools[2], &right);
                }
                ck_assert_msg(same_bits(C, ref, (size_t)c.nC * sizeof *C),
                              "shape %zu %c%c: column cut at %lld differs", s, ta ? 't' : 'n',
                              tb ? 't' : 'n', (long long)q);
                free(C);
            }
            free(ref);
            gemm_case_free(&c);
        }
    for (int p = 0; p < 4; p++) tg_pool_free(pools[p]);
}
END_TEST

/* ---- the other kernels: fast vs portable, and thread identity ---------------------------- */

static void assert_close(const tg_float *got, const tg_float *want, int64_t n, double atol,
                         double rtol, const char *what) {
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        if (isinf(w) || isnan(w)) {
            ck_assert_msg(same_bits(&got[i], &want[i], sizeof got[i]) || (isnan(g) && isnan(w)),
                          "%s[%lld]: %g, want %g", what, (long long)i, g, w);
            continue;
        }
        ck_assert_msg(fabs(g - w) <= atol + rtol * fabs(w), "%s[%lld]: %.9g, want %.9g", what,
                      (long long)i, g, w);
    }
}

/* A softmax problem: x (B, H, Tq, Tk), optional mask of shape (B, 1, 1|Tq, Tk). */
typedef struct {
    tg_softmax_args a;
    tg_float *x, *mask;
} sm_case;

static sm_case sm_case_new(int B, int H, int Tq, int Tk, int mask_kind, bool causal, bool log) {
    sm_case c = {0};
    int64_t n = (int64_t)B * H * Tq * Tk;
    c.x = alloc_fill(n, -6, 6);
    c.a = (tg_softmax_args){.rows = n / Tk, .n = Tk, .x = c.x, .ndim = 4,
                            .shape = {B, H, Tq, Tk}, .causal = causal, .tq = Tq, .log = log};
    if (mask_kind) {   /* 1: key padding (B, 1, 1, Tk); 2: (B, 1, Tq, Tk) with finite values too */
        int mq = mask_kind == 1 ? 1 : Tq;
        c.mask = alloc_fill((int64_t)B * mq * Tk, -2, 2);
        for (int64_t i = 0; i < (int64_t)B * mq * Tk; i++)
            if (mask_kind == 1 ? (i % Tk) >= Tk - 1 - (i / Tk) % 3 : urand() < 0.3)
                c.mask[i] = (tg_float)-INFINITY;
            else if (mask_kind == 1)
                c.mask[i] = 0;
        if (mask_kind == 2) for (int k = 0; k < Tk; k++) c.mask[k] = (tg_float)-INFINITY;  /* a dead row */
        c.a.mask = c.mask;
        int64_t st[4] = {(int64_t)mq * Tk, 0, mq == 1 ? 0 : Tk, 1};
        memcpy(c.a.mask_stride, st, sizeof st);
    }
    return c;
}

static tg_float *sm_run(const sm_case *c, tg_k_impl impl, tg_pool *pool) {
    int64_t n = c->a.rows * c->a.n;
    tg_float *y = alloc_fill(n, 0, 1);
    tg_softmax_args a = c->a;
    a.y = y;
    tg_k_select(impl);
    tg_k_softmax(pool, &a);
    return y;
}

/* softmax of scale x in one pass (attention) against the composed kernels, bit for bit, in each
 * implementation: forward as the unscaled softmax of the tg_float products scale * x; backward as
 * scale times the unscaled backward made in a zeroed buffer (softmax's, then scale's). */
START_TEST(test_softmax_scaled_is_composed) {
    tg_k_impl impls[] = {TG_K_PORTABLE, fast_impl()};
    const tg_float scale = (tg_float)0.37;
    for (int ii = 0; ii < 2; ii++)
        for (int mk = 0; mk < 3; mk++)
            for (int causal = 0; causal < 2; causal++) {
                sm_case c = sm_case_new(3, 2, causal ? 7 : 5, 9 + 8 * mk, mk, causal, false);
                int64_t n = c.a.rows * c.a.n;
                tg_float *xs = dup(c.x, n);
                for (int64_t i = 0; i < n; i++) xs[i] = scale * c.x[i];
                sm_case fused = c;
                fused.a.scaled = true;
                fused.a.scale = scale;
                sm_case composed = c;
                composed.a.x = xs;
                tg_float *yf = sm_run(&fused, impls[ii], NULL), *yc = sm_run(&composed, impls[ii], NULL);
                ck_assert(same_bits(yf, yc, (size_t)n * sizeof *yf));
                tg_float *dy = alloc_fill(n, -1, 1), *g = calloc((size_t)n, sizeof *g);
                tg_float *dxf = calloc((size_t)n, sizeof *dxf), *dxc = calloc((size_t)n, sizeof *dxc);
                tg_k_select(impls[ii]);
                tg_k_softmax_backward(NULL, c.a.rows, c.a.n, yf, dy, dxf, false, scale);
                tg_k_softmax_backward(NULL, c.a.rows, c.a.n, yc, dy, g, false, 1);
                tg_k_acc(NULL, n, scale, g, dxc);
                ck_assert(same_bits(dxf, dxc, (size_t)n * sizeof *dxf));
                free(xs); free(yf); free(yc); free(dy); free(g); free(dxf); free(dxc);
                free(c.x); free(c.mask);
            }
}
END_TEST

START_TEST(test_softmax_fast_vs_portable) {
    tg_k_impl fast = fast_impl();
    tg_pool *p2 = tg_pool_new(2), *p3 = tg_pool_new(3);
    int tks[] = {1, 7, 8, 9, 33};
    for (int ti = 0; ti < 5; ti++)
        for (int mk = 0; mk < 3; mk++)
            for (int causal = 0; causal < 2; causal++)
                for (int log = 0; log < 2; log++) {
                    int Tk = tks[ti], Tq = causal ? (Tk > 3 ? Tk - 2 : Tk + 2) : 5;
                    sm_case c = sm_case_new(3, 2, Tq, Tk, mk, causal, log);
                    tg_float *yf = sm_run(&c, fast, NULL), *yp = sm_run(&c, TG_K_PORTABLE, NULL);
                    int64_t n = c.a.rows * c.a.n;
                    assert_close(yf, yp, n, KTOL, 4 * KTOL, log ? "log_softmax" : "softmax");
                    /* masked keys are exactly 0 (-inf for log) in both */
                    for (int64_t i = 0; i < n; i++)
                        if (yp[i] == 0 || isinf(yp[i])) ck_assert(yf[i] == yp[i]);
                    /* backward */
                    tg_float *dy = alloc_fill(n, -1, 1);
                    tg_float *dxf = alloc_fill(n, -1, 1), *dxp = dup(dxf, n);
                    for (int64_t i = 0; i < n; i++) if (isinf(yp[i])) yp[i] = yf[i] = -30;  /* log: finite */
                    tg_k_select(fast);
                    tg_k_softmax_backward(NULL, c.a.rows, c.a.n, yf, dy, dxf, log, 1);
                    tg_k_select(TG_K_PORTABLE);
                    tg_k_softmax_backward(NULL, c.a.rows, c.a.n, yp, dy, dxp, log, 1);
                    assert_close(dxf, dxp, n, 4 * KTOL * (Tk + 1), 4 * KTOL, "softmax backward");
                    free(dy); free(dxf); free(dxp); free(yf); free(yp);
                    free(c.x); free(c.mask);
                }
    /* thread identity on rows enough to split */
    for (int log = 0; log < 2; log++) {
        sm_case c = sm_case_new(4, 8, 40, 37, log ? 0 : 1, !log, log);
        int64_t n = c.a.rows * c.a.n;
        tg_float *y1 = sm_run(&c, fast, NULL), *y2 = sm_run(&c, fast, p2), *y3 = sm_run(&c, fast, p3);
        ck_assert(same_bits(y1, y2, (size_t)n * sizeof *y1) && same_bits(y1, y3, (size_t)n * sizeof *y1));
        tg_float *dy = alloc_fill(n, -1, 1), *d1 = alloc_fill(n, -1, 1), *d2 = dup(d1, n);
        tg_k_softmax_backward(NULL, c.a.rows, c.a.n, y1, dy, d1, log, 1);
        tg_k_softmax_backward(p2, c.a.rows, c.a.n, y1, dy, d2, log, 1);
        ck_assert(same_bits(d1, d2, (size_t)n * sizeof *d1));
        free(y1); free(y2); free(y3); free(dy); free(d1); free(d2); free(c.x); free(c.mask);
    }
    tg_pool_free(p2);
    tg_pool_free(p3);
}
END_TEST

START_TEST(test_layer_norm_fast_vs_portable) {
    tg_k_impl fast = fast_impl();
    tg_pool *p2 = tg_pool_new(2), *p3 = tg_pool_new(3);
    int ns[] = {1, 7, 8, 33, 256};
    for (int ni = 0; ni < 5; ni++)
        for (int affine = 0; affine < 2; affine++) {
            int64_t rows = 37, n = ns[ni], len = rows * n;
            tg_float *x = alloc_fill(len, -3, 5), *gain = affine ? alloc_fill(n, 0.5, 1.5) : NULL;
            tg_float *bias = affine ? alloc_fill(n, -1, 1) : NULL, *dy = alloc_fill(len, -1, 1);
            tg_float *y[2], *st[2], *dx[2], *dg[2], *db[2];
            tg_k_impl impls[2] = {fast, TG_K_PORTABLE};
            for (int k = 0; k < 2; k++) {
                y[k] = alloc_fill(len, 0, 1);
                st[k] = alloc_fill(2 * rows, 0, 1);
                tg_k_select(impls[k]);
                tg_k_layer_norm(NULL, rows, n, x, gain, bias, 1e-5, y[k], st[k], st[k] + rows);
                rng = 77;   /* the same accumulators for both */
                dx[k] = alloc_fill(len, -1, 1);
                dg[k] = alloc_fill(n, -1, 1);
                db[k] = alloc_fill(n, -1, 1);
                tg_k_layer_norm_backward(NULL, rows, n, x, gain, st[k], st[k] + rows, dy, dx[k],
                                         affine ? dg[k] : NULL, affine ? db[k] : NULL);
            }
            assert_close(y[0], y[1], len, 8 * KTOL, 8 * KTOL, "layer_norm y");
            assert_close(st[0], st[1], 2 * rows, KTOL, KTOL, "layer_norm mean/rstd");
            assert_close(dx[0], dx[1], len, 8 * KTOL * n, 8 * KTOL, "layer_norm dx");
            assert_close(dg[0], dg[1], n, 8 * KTOL * rows, 8 * KTOL, "layer_norm dgain");
            assert_close(db[0], db[1], n, 0, 0, "layer_norm dbias");   /* the same sums */
            /* dx NULL: only the parameter gradients */
            tg_k_select(fast);
            tg_k_layer_norm_backward(NULL, rows, n, x, gain, st[0], st[0] + rows, dy, NULL,
                                     affine ? dg[0] : NULL, affine ? db[0] : NULL);
            for (int k = 0; k < 2; k++) { free(y[k]); free(st[k]); free(dx[k]); free(dg[k]); free(db[k]); }
            free(x); free(gain); free(bias); free(dy);
        }
    /* thread identity: forward rows and the column-split parameter gradients */
    int64_t rows = 600, n = 100, len = rows * n;
    tg_float *x = alloc_fill(len, -3, 5), *gain = alloc_fill(n, 0.5, 1.5), *bias = alloc_fill(n, -1, 1);
    tg_float *dy = alloc_fill(len, -1, 1);
    tg_float *y[3], *st[3], *dx[3], *dg[3], *db[3];
    tg_pool *pools[3] = {NULL, p2, p3};
    tg_k_select(fast);
    for (int k = 0; k < 3; k++) {
        y[k] = alloc_fill(len, 0, 1);
        st[k] = alloc_fill(2 * rows, 0, 1);
        tg_k_layer_norm(pools[k], rows, n, x, gain, bias, 1e-5, y[k], st[k], st[k] + rows);
        dx[k] = calloc((size_t)len, sizeof(tg_float));
        dg[k] = calloc((size_t)n, sizeof(tg_float));
        db[k] = calloc((size_t)n, sizeof(tg_float));
        tg_k_layer_norm_backward(pools[k], rows, n, x, gain, st[k], st[k] + rows, dy, dx[k], dg[k], db[k]);
    }
    for (int k = 1; k < 3; k++) {
        ck_assert(same_bits(y[0], y[k], (size_t)len * sizeof *x));
        ck_assert(same_bits(st[0], st[k], 2 * (size_t)rows * sizeof *x));
        ck_assert(same_bits(dx[0], dx[k], (size_t)len * sizeof *x));
        ck_assert(same_bits(dg[0], dg[k], (size_t)n * sizeof *x));
        ck_assert(same_bits(db[0], db[k], (size_t)n * sizeof *x));
    }
    for (int k = 0; k < 3; k++) { free(y[k]); free(st[k]); free(dx[k]); free(dg[k]); free(db[k]); }
    free(x); free(gain); free(bias); free(dy);
    tg_pool_free(p2);
    tg_pool_free(p3);
}
END_TEST

START_TEST(test_cross_entropy_fast_vs_portable) {
    tg_k_impl fast = fast_impl();
    tg_pool *p2 = tg_pool_new(2), *p3 = tg_pool_new(3);
    int Vs[] = {1, 7, 8, 33, 1000};
    for (int vi = 0; vi < 5; vi++)
        for (int sm = 0; sm < 2; sm++) {
            int64_t rows = 29, V = Vs[vi];
            double eps = sm ? 0.1 : 0;
            tg_float *x = alloc_fill(rows * V, -8, 8);
            int32_t *t = malloc((size_t)rows * sizeof *t);
            for (int64_t r = 0; r < rows; r++) t[r] = r % 5 == 2 ? -100 : (int32_t)((r * 7) % V);
            tg_float lse[2][29];
            double loss[2][29];
            tg_float *dx[2];
            int64_t count[2];
            tg_k_impl impls[2] = {fast, TG_K_PORTABLE};
            for (int k = 0; k < 2; k++) {
                tg_k_select(impls[k]);
                double nll[29], nll2[29];
                tg_float lse2[29];
                count[k] = tg_k_cross_entropy(NULL, rows, V, x, t, eps, -100, lse[k], loss[k], nll);
                /* the plain loss given beside is a second call's with smoothing 0, bit for bit */
                tg_k_cross_entropy(NULL, rows, V, x, t, 0, -100, lse2, nll2, NULL);
                ck_assert(same_bits(nll, nll2, sizeof nll) && same_bits(lse[k], lse2, sizeof lse2));
                rng = 5;
                dx[k] = alloc_fill(rows * V, -1, 1);
                tg_k_cross_entropy_backward(NULL, rows, V, x, t, eps, -100, lse[k], 0.37, true, dx[k]);
                /* not accumulating: the bits of accumulating into zeros, ignored rows zeroed */
                tg_float *zeros = calloc((size_t)(rows * V), sizeof *zeros);
                tg_float *stored = alloc_fill(rows * V, -1, 1);
                tg_k_cross_entropy_backward(NULL, rows, V, x, t, eps, -100, lse[k], 0.37, true, zeros);
                tg_k_cross_entropy_backward(NULL, rows, V, x, t, eps, -100, lse[k], 0.37, false, stored);
                ck_assert_msg(same_bits(zeros, stored, (size_t)(rows * V) * sizeof *zeros),
                              "%s V=%d: stored != accumulated into zeros", tg_k_impl_name(impls[k]),
                              Vs[vi]);
                /* and in the logits' place (dlogits = logits): the same bits again */
                tg_float *inplace = malloc((size_t)(rows * V) * sizeof *inplace);
                memcpy(inplace, x, (size_t)(rows * V) * sizeof *inplace);
                tg_k_cross_entropy_backward(NULL, rows, V, inplace, t, eps, -100, lse[k], 0.37,
                                            false, inplace);
                ck_assert_msg(same_bits(inplace, stored, (size_t)(rows * V) * sizeof *inplace),
                              "%s V=%d: in place != stored", tg_k_impl_name(impls[k]), Vs[vi]);
                free(inplace);
                free(zeros);
                free(stored);
            }
            ck_assert_int_eq(count[0], count[1]);
            ck_assert_int_eq(count[0], rows - 6);
            assert_close(lse[0], lse[1], rows, KTOL * 8, KTOL, "lse");
            for (int64_t r = 0; r < rows; r++) {
                ck_assert_msg(fabs(loss[0][r] - loss[1][r]) <= 8 * KTOL * (1 + fabs(loss[1][r])),
                              "V=%d loss row %lld: %.9g vs %.9g", Vs[vi], (long long)r, loss[0][r], loss[1][r]);
                if (t[r] == -100) ck_assert(loss[0][r] == 0);
            }
            assert_close(dx[0], dx[1], rows * V, 4 * KTOL, 4 * KTOL, "cross_entropy dlogits");
            /* ignored rows untouched */
            rng = 5;
            tg_float *orig = alloc_fill(rows * V, -1, 1);
            for (int64_t r = 0; r < rows; r++)
                if (t[r] == -100) ck_assert(same_bits(dx[0] + r * V, orig + r * V, (size_t)V * sizeof *orig));
            free(orig); free(dx[0]); free(dx[1]); free(x); free(t);
        }
    /* thread identity */
    int64_t rows = 64, V = 1000;
    tg_float *x = alloc_fill(rows * V, -8, 8);
    int32_t *t = malloc((size_t)rows * sizeof *t);
    for (int64_t r = 0; r < rows; r++) t[r] = (int32_t)((r * 37) % V);
    tg_pool *pools[3] = {NULL, p2, p3};
    tg_float lse[3][64], *dx[3];
    double loss[3][64];
    tg_k_select(fast);
    for (int k = 0; k < 3; k++) {
        tg_k_cross_entropy(pools[k], rows, V, x, t, 0.1, 0, lse[k], loss[k], NULL);
        dx[k] = calloc((size_t)(rows * V), sizeof(tg_float));
        tg_k_cross_entropy_backward(pools[k], rows, V, x, t, 0.1, 0, lse[k], 0.5, true, dx[k]);
    }
    for (int k = 1; k < 3; k++) {
        ck_assert(same_bits(lse[0], lse[k], sizeof lse[0]) && same_bits(loss[0], loss[k], sizeof loss[0]));
        ck_assert(same_bits(dx[0], dx[k], (size_t)(rows * V) * sizeof(tg_float)));
    }
    for (int k = 0; k < 3; k++) free(dx[k]);
    free(x); free(t);
    tg_pool_free(p2);
    tg_pool_free(p3);
}
END_TEST

/* ReLU, its backward from the output, axpby, acc and colsum do the same float operations in both implementations: the same
 * bits (ReLU's backward aside, only for infinite dy), for any thread count. */
/* First index where two arrays' bits differ, or -1; where a and b are both NaN and two or more of
 * the inputs in[0..2][i] (NULL: none) are NaN, they count as the same: which payload survives where
 * two NaNs meet is the compiler's choice of operand order. */
static int64_t first_diff(const tg_float *a, const tg_float *b, int64_t n, const tg_float *const in[3]) {
    for (int64_t i = 0; i < n; i++) {
        if (!memcmp(a + i, b + i, sizeof *a)) continue;
        int nans = 0;
        for (int k = 0; in && k < 3; k++) nans += in[k] && isnan(in[k][i]);
        if (!(nans >= 2 && isnan(a[i]) && isnan(b[i]))) return i;
    }
    return -1;
}

/* A float of random bits: any sign, exponent and payload (NaNs, infinities, subnormals too). */
static tg_float random_bits(void) {
    uint32_t u = (uint32_t)(urand() * 4294967296.0);
    float f;
    memcpy(&f, &u, sizeof f);
    return (tg_float)f;
}

/* The sigmoid and its backward: the fast kernels (a vector exp in double with a rounding check,
 * elementwise_avx2.c) give the portable bits, 1 / (1 + exp(-x)) through libm, for every input:
 * a dense sweep over [-50, 50] (past the vector range's +-40), floats of random bits, the edges
 * and specials, and in the backward dy of random bits (0, -0, huge, tiny, inf, NaN) and x around
 * 14, where 1 - s loses the accuracy the check needs; with 1, 2 and 3 threads. */
START_TEST(test_sigmoid_fast_is_portable) {
    tg_k_impl fast = fast_impl();
    tg_pool *pools[3] = {NULL, tg_pool_new(2), tg_pool_new(3)};
    const int64_t n = 1000003, sweep = 400000, bits = 600000;
    tg_float *x = malloc((size_t)n * sizeof *x), *dy = malloc((size_t)n * sizeof *dy);
    ck_assert(x && dy);
    rng = 21;
    for (int64_t i = 0; i < n; i++) {
        if (i < sweep) x[i] = (tg_float)(-50 + 100.0 * (double)i / sweep);
        else if (i < bits) x[i] = random_bits();
        else x[i] = (tg_float)(urand() < 0.5 ? 12 + 4 * urand() : -8 + 16 * urand());
        dy[i] = i % 3 == 0 ? random_bits() : (tg_float)(2 * urand() - 1);
    }
    const double edge[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 40, -40, 40.000004, -40.000004, 88.7, -88.7,
                           103.9, -103.9, 1e-45, -1e-45, 3.4e38, -3.4e38, 16.635532, 36.7368, -36.7368};
    for (int k = 0; k < (int)(sizeof edge / sizeof edge[0]); k++) {
        x[sweep + k] = (tg_float)edge[k];
        x[n - 1 - k] = (tg_float)edge[k];   /* in the tails too */
        dy[n - 1 - 2 * k] = (tg_float)(k % 2 ? -0.0 : 0.0);
    }
    uint32_t nans[2] = {0x7fc0000au, 0xffc000d1u};   /* x and dy both NaN, other payloads and signs */
    float nan_x, nan_dy;
    memcpy(&nan_x, &nans[0], sizeof nan_x);
    memcpy(&nan_dy, &nans[1], sizeof nan_dy);
    x[bits - 1] = (tg_float)nan_x;
    dy[bits - 1] = (tg_float)nan_dy;
    tg_float *ref_y = NULL, *ref_dx = NULL;
    for (int k = 0; k < 4; k++) {   /* k = 0: portable; 1..3: fast with 1, 2, 3 threads */
        tg_k_select(k ? fast : TG_K_PORTABLE);
        tg_pool *pool = k ? pools[k - 1] : NULL;
        tg_float *y = alloc_fill(n, 0, 1);
        rng = 5;   /* the same accumulator for each */
        tg_float *dx = alloc_fill(n, -1, 1);
        tg_k_unary(pool, TG_UNARY_SIGMOID, n, x, y);
        tg_k_unary_backward(pool, TG_UNARY_SIGMOID, n, x, dy, dx);
        if (!k) { ref_y = y; ref_dx = dx; continue; }
        const tg_float *const ins[3] = {x, dy, NULL};   /* dx's old values: finite */
        int64_t iy = first_diff(y, ref_y, n, NULL), id = first_diff(dx, ref_dx, n, ins);
        ck_assert_msg(iy < 0, "sigmoid, implementation %d: x[%lld] = %a gives %a, portable %a", k, (long long)iy,
                      (double)x[iy < 0 ? 0 : iy], (double)y[iy < 0 ? 0 : iy], (double)ref_y[iy < 0 ? 0 : iy]);
        ck_assert_msg(id < 0, "sigmoid backward, implementation %d: x[%lld] = %a, dy %a gives %a, portable %a", k,
                      (long long)id, (double)x[id < 0 ? 0 : id], (double)dy[id < 0 ? 0 : id],
                      (double)dx[id < 0 ? 0 : id], (double)ref_dx[id < 0 ? 0 : id]);
        free(y);
        free(dx);
    }
    /* in place (y = x; dx = x; dx = dy), every implementation against the portable out-of-place
     * result: the scalar lanes must read the inputs, not what the vector lanes just wrote */
    for (int k = 1; k < 4; k++) {
        tg_k_select(k ? fast : TG_K_PORTABLE);
        tg_pool *pool = pools[k - 1];
        tg_float *y = dup(x, n);
        tg_k_unary(pool, TG_UNARY_SIGMOID, n, y, y);
        int64_t iy = first_diff(y, ref_y, n, NULL);
        ck_assert_msg(iy < 0, "sigmoid in place, implementation %d: x[%lld] = %a", k, (long long)iy,
                      (double)x[iy < 0 ? 0 : iy]);
        free(y);
        for (int which = 0; which < 2; which++) {   /* dx = x + ... with dx the x, then the dy buffer */
            tg_float *xs = dup(x, n), *dys = dup(dy, n), *dx = which ? dys : xs;
            tg_float *want = dup(which ? dy : x, n);
            tg_k_select(TG_K_PORTABLE);
            tg_k_unary_backward(NULL, TG_UNARY_SIGMOID, n, x, dy, want);
            tg_k_select(fast);
            tg_k_unary_backward(pool, TG_UNARY_SIGMOID, n, xs, dys, dx);
            const tg_float *const ins[3] = {x, dy, which ? dy : x};   /* and dx's old values */
            int64_t id = first_diff(dx, want, n, ins);
            ck_assert_msg(id < 0, "sigmoid backward into %s, implementation %d: x[%lld] = %a", which ? "dy" : "x",
                          k, (long long)id, (double)x[id < 0 ? 0 : id]);
            free(xs);
            free(dys);
            free(want);
        }
    }
    free(ref_y);
    free(ref_dx);
    free(x);
    free(dy);
    tg_pool_free(pools[1]);
    tg_pool_free(pools[2]);
}
END_TEST

START_TEST(test_elementwise_fast_vs_portable) {
    tg_k_impl fast = fast_impl();
    tg_pool *pools[3] = {NULL, tg_pool_new(2), tg_pool_new(3)};
    int64_t n = 100003;   /* over several 16384-element chunks, and a tail */
    tg_float *x = alloc_fill(n, -2, 2), *dy = alloc_fill(n, -1, 1);
    x[5] = (tg_float)-0.0; x[6] = 0; x[7] = (tg_float)INFINITY; x[8] = (tg_float)-INFINITY; x[9] = (tg_float)NAN;
    tg_float *ref_y = NULL, *ref_dx = NULL;
    for (int k = 0; k < 4; k++) {   /* k = 0: portable; 1..3: fast with 1, 2, 3 threads */
        tg_k_select(k ? fast : TG_K_PORTABLE);
        tg_pool *pool = k ? pools[k - 1] : NULL;
        tg_float *y = alloc_fill(n, 0, 1);
        rng = 9;
        tg_float *dx = alloc_fill(n, -1, 1);
        tg_k_unary(pool, TG_UNARY_RELU, n, x, y);
        tg_k_unary_backward(pool, TG_UNARY_RELU, n, x, dy, dx);
        if (!k) { ref_y = y; ref_dx = dx; continue; }
        ck_assert(same_bits(y, ref_y, (size_t)n * sizeof *y));
        ck_assert(same_bits(dx, ref_dx, (size_t)n * sizeof *dx));
        free(y);
        free(dx);
    }
    free(ref_y);
    free(ref_dx);
    /* ReLU's backward from its output y, in place on g: 0 + g where y > 0 (-0 turns +0), else 0
     * (NaN y too); each against that formula, with -0, infinite and NaN in both y and g */
    tg_float *g0 = alloc_fill(n, -1, 1);
    g0[6] = (tg_float)-0.0; g0[10] = (tg_float)INFINITY; g0[11] = (tg_float)NAN; g0[12] = (tg_float)-0.0;
    x[10] = 1; x[11] = 1; x[12] = 1;
    g0[n - 1] = (tg_float)-0.0;   /* in the vector loops' tails (n = 3 mod 8) */
    x[n - 1] = 1;
    tg_float *want = malloc((size_t)n * sizeof *want);
    ck_assert_ptr_nonnull(want);
    for (int64_t i = 0; i < n; i++) want[i] = x[i] > 0 ? (tg_float)0 + g0[i] : 0;
    ck_assert(!signbit(want[12]) && !signbit(want[n - 1]) && isinf(want[10]) && isnan(want[11]) && want[9] == 0);
    for (int k = 0; k < 4; k++) {
        tg_k_select(k ? fast : TG_K_PORTABLE);
        tg_float *g = dup(g0, n);
        tg_k_relu_mask(k ? pools[k - 1] : NULL, n, x, g);
        ck_assert_msg(same_bits(g, want, (size_t)n * sizeof *g), "relu_mask, implementation %d", k);
        free(g);
    }
    free(g0);
    free(want);
    /* axpby with b broadcast over rows (nb = 1, 7, 256) or full (nb = n); acc with s = 1 and not */
    int64_t nbs[] = {1, 7, 256, 0};
    for (int bi = 0; bi < 4; bi++) {
        int64_t nb = nbs[bi] ? nbs[bi] : n - 3, len = nbs[bi] ? nb * (n / nb) : nb;
        tg_float *b = alloc_fill(nb, -1, 1), *ys[4];
        for (int k = 0; k < 4; k++) {
            tg_k_select(k ? fast : TG_K_PORTABLE);
            ys[k] = alloc_fill(len, 0, 1);
            tg_k_axpby(k ? pools[k - 1] : NULL, len, x, -0.75, b, nb, ys[k]);
            if (k) ck_assert_msg(same_bits(ys[k], ys[0], (size_t)len * sizeof *x), "axpby nb=%lld", (long long)nb);
        }
        for (int k = 0; k < 4; k++) free(ys[k]);
        free(b);
    }
    double ss[] = {1, 0.3};
    for (int si = 0; si < 2; si++) {
        tg_float *ys[4];
        for (int k = 0; k < 4; k++) {
            tg_k_select(k ? fast : TG_K_PORTABLE);
            rng = 11;
            ys[k] = alloc_fill(n, -1, 1);
            tg_k_acc(k ? pools[k - 1] : NULL, n, ss[si], dy, ys[k]);
            if (k) ck_assert(same_bits(ys[k], ys[0], (size_t)n * sizeof *x));
        }
        for (int k = 0; k < 4; k++) free(ys[k]);
    }
    int64_t cols[] = {1, 33, 300};
    for (int ci = 0; ci < 3; ci++) {
        int64_t rows = 50, nc = cols[ci];
        tg_float *src = alloc_fill(rows * nc, -1, 1), *ds[4];
        for (int k = 0; k < 4; k++) {
            tg_k_select(k ? fast : TG_K_PORTABLE);
            rng = 13;
            ds[k] = alloc_fill(nc, -1, 1);
            tg_k_colsum(k ? pools[k - 1] : NULL, rows, nc, src, ds[k]);
            if (k) ck_assert(same_bits(ds[k], ds[0], (size_t)nc * sizeof *x));
        }
        for (int k = 0; k < 4; k++) free(ds[k]);
        free(src);
    }
    free(x);
    free(dy);
    tg_pool_free(pools[1]);
    tg_pool_free(pools[2]);
}
END_TEST

/* mul and its backward's accumulate walk b in runs instead of dividing per element: each output
 * element is the one float product (and sum) of the element-by-element formula, for b broadcast
 * or whole, on any pool. The lengths put a thread's first element inside a run of b (32769 / 2 =
 * 16384 = 1 mod 3; 99995 / 2 = 3 mod 7; 100096 / 2 = 128 mod 256; 100000 / 3 = 333 mod 1000). */
START_TEST(test_mul_kernels) {
    tg_pool *pools[3] = {NULL, tg_pool_new(2), tg_pool_new(3)};
    int64_t n = 100096;
    tg_float *x = alloc_fill(n, -2, 2), *dy = alloc_fill(n, -1, 1);
    x[5] = (tg_float)-0.0; x[7] = (tg_float)INFINITY; x[9] = (tg_float)NAN; x[11] = (tg_float)1e-40;
    const int64_t cases[][2] = {{100003, 1}, {32769, 3}, {99995, 7}, {100096, 256}, {100000, 1000}, {100003, 100003}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int64_t len = cases[ci][0], nb = cases[ci][1];
        tg_float *b = alloc_fill(nb, -1, 1), *want = malloc((size_t)len * sizeof *want);
        tg_float *g0 = alloc_fill(len, -1, 1), *want_g = malloc((size_t)len * sizeof *want_g);
        ck_assert(want && want_g);
        for (int64_t i = 0; i < len; i++) {
            want[i] = x[i] * b[i % nb];
            want_g[i] = g0[i] + dy[i] * b[i % nb];
        }
        for (int k = 0; k < 3; k++) {
            tg_float *y = alloc_fill(len, 0, 1), *g = malloc((size_t)len * sizeof *g);
            ck_assert(g);
            memcpy(g, g0, (size_t)len * sizeof *g);
            tg_k_mul(pools[k], len, x, b, nb, y);
            tg_k_mul_acc(pools[k], len, dy, b, nb, g);
            ck_assert_msg(same_bits(y, want, (size_t)len * sizeof *y), "mul nb=%lld pool %d", (long long)nb, k);
            ck_assert_msg(same_bits(g, want_g, (size_t)len * sizeof *g), "mul_acc nb=%lld pool %d", (long long)nb, k);
            free(y);
            free(g);
        }
        free(b);
        free(want);
        free(g0);
        free(want_g);
    }
    free(x);
    free(dy);
    tg_pool_free(pools[1]);
    tg_pool_free(pools[2]);
}
END_TEST

/* ---- dropout ----------------------------------------------------------------------------- */

/* The stream as autograd/ctx.c defines it (tg__uniform), restated so that a change to the mask
 * of either implementation fails here: existing checkpoints and exact resumes depend on it. */
static double ref_uniform(uint64_t seed, uint64_t index) {
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + index + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* Runs tg_k_dropout with impl and checks every keep byte and output against the formula. */
static void dropout_check(tg_k_impl impl, tg_pool *pool, int64_t n, uint64_t seed, uint64_t counter,
                          double p, const tg_float *x) {
    tg_k_select(impl);
    tg_float scale = (tg_float)(1.0 / (1.0 - p));
    uint8_t *keep = malloc((size_t)n + 1);
    tg_float *y = malloc((size_t)(n + 1) * sizeof *y);
    ck_assert(keep && y);
    keep[n] = 77;
    y[n] = SENTINEL;
    tg_k_dropout(pool, n, x, p, scale, seed, counter, keep, y);
    for (int64_t i = 0; i < n; i++) {
        uint8_t want = ref_uniform(seed, counter + (uint64_t)i) >= p;
        tg_float want_y = want ? x[i] * scale : 0;
        ck_assert_msg(keep[i] == want && same_bits(&y[i], &want_y, sizeof want_y),
                      "%s: n %lld seed %llx counter %llx p %.17g: element %lld keep %d want %d",
                      tg_k_impl_name(impl), (long long)n, (unsigned long long)seed,
                      (unsigned long long)counter, p, (long long)i, keep[i], want);
    }
    ck_assert_int_eq(keep[n], 77);   /* nothing written past n */
    ck_assert(y[n] == SENTINEL);
    free(keep);
    free(y);
}

/* Both implementations make the stream's mask exactly, for many seeds, counters (wrapping past
 * 2^64 included), sizes (vector tails) and p, and at p equal to a draw (kept: u >= p) or the next
 * double above it (dropped), in the vector part and in the tail. */
START_TEST(test_dropout_mask_is_the_stream) {
    tg_k_impl impls[3] = {TG_K_PORTABLE};
    int ni = 1 + fast_gemms(impls + 1);   /* portable, avx2, avx512 (16 at a time) */
    tg_float *x = alloc_fill(1100, -3, 3);
    x[3] = (tg_float)-0.0;
    int64_t sizes[] = {0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1031};
    uint64_t seeds[] = {0, 1, 42, 0x0123456789ABCDEFull, ~0ull};
    uint64_t counters[] = {0, 5, 0xFFFFFFFDull, ~0ull - 9};
    double ps[] = {0.1, 0.5, 0.9, 1e-18, 0.999999};
    for (int k = 0; k < ni; k++)
        for (int si = 0; si < 13; si++)
            for (int ci = 0; ci < 5; ci++)
                for (int qi = 0; qi < 4; qi++)
                    dropout_check(impls[k], NULL, sizes[si], seeds[ci], counters[qi], ps[si % 5], x);
    rng = 21;
    for (int r = 0; r < 300; r++) {   /* random seeds, counters, sizes and p */
        uint64_t seed = (uint64_t)(urand() * 9007199254740992.0) * 2048 + (uint64_t)r;
        uint64_t counter = (uint64_t)(urand() * 9007199254740992.0) * 4096;
        int64_t n = 1 + (int64_t)(urand() * 60);
        double p = urand();
        for (int k = 0; k < ni; k++) dropout_check(impls[k], NULL, n, seed, counter, p, x);
    }
    for (int64_t j = 0; j < 37; j += 3) {   /* in the vectors of n = 37, and in the tails */
        double u = ref_uniform(7, 1000 + (uint64_t)j);
        for (int k = 0; k < ni; k++) {
            uint8_t keep[37];
            tg_float y[37];
            tg_k_select(impls[k]);
            tg_k_dropout(NULL, 37, x, u, 2, 7, 1000, keep, y);
            ck_assert_msg(keep[j] == 1, "%s: p = draw %lld must keep", tg_k_impl_name(impls[k]),
                          (long long)j);
            tg_k_dropout(NULL, 37, x, nextafter(u, 1.0), 2, 7, 1000, keep, y);
            ck_assert_msg(keep[j] == 0, "%s: p above draw %lld must drop",
                          tg_k_impl_name(impls[k]), (long long)j);
        }
    }
    free(x);
}
END_TEST

/* Over several pool chunks: the fast forward is the portable's bits for 1, 2 and 3 threads;
 * backward adds dy * scale where kept and leaves dx's exact bits (-0, whatever dy holds) where
 * dropped. */
START_TEST(test_dropout_threads_and_backward) {
    tg_k_impl fasts[2];
    int nf = fast_gemms(fasts);
    tg_pool *pools[3] = {NULL, tg_pool_new(2), tg_pool_new(3)};
    int64_t n = 100003;
    double p = 0.3;
    tg_float scale = (tg_float)(1.0 / (1.0 - p));
    tg_float *x = alloc_fill(n, -2, 2), *dy = alloc_fill(n, -1, 1), *dx0 = alloc_fill(n, -1, 1);
    uint8_t *ref_keep = NULL;
    tg_float *ref_y = NULL, *ref_dx = NULL;
    for (int k = 0; k < 1 + 3 * nf; k++) {   /* 0: portable; then each fast one on 1, 2, 3 threads */
        tg_k_select(k ? fasts[(k - 1) / 3] : TG_K_PORTABLE);
        tg_pool *pool = k ? pools[(k - 1) % 3] : NULL;
        uint8_t *keep = malloc((size_t)n);
        tg_float *y = alloc_fill(n, 0, 1), *dx = dup(dx0, n);
        ck_assert_ptr_nonnull(keep);
        tg_k_dropout(pool, n, x, p, scale, 99, 123456789, keep, y);
        if (!k) {   /* special values where dropped: dx -0 must stay -0, dy inf/NaN unseen */
            int specials = 0;
            for (int64_t i = 0; i < n && specials < 30; i++)
                if (!keep[i]) {
                    dx0[i] = (tg_float)-0.0;
                    dy[i] = specials % 2 ? (tg_float)NAN : (tg_float)INFINITY;
                    dx[i] = dx0[i];
                    specials++;
                }
            ck_assert_int_eq(specials, 30);
        }
        tg_k_dropout_backward(pool, n, keep, dy, scale, dx);
        if (!k) {
            for (int64_t i = 0; i < n; i++) {
                tg_float want = keep[i] ? dx0[i] + dy[i] * scale : dx0[i];
                ck_assert(same_bits(&dx[i], &want, sizeof want));
            }
            ref_keep = keep; ref_y = y; ref_dx = dx;
            continue;
        }
        ck_assert_msg(same_bits(keep, ref_keep, (size_t)n), "keep, impl %d", k);
        ck_assert_msg(same_bits(y, ref_y, (size_t)n * sizeof *y), "y, impl %d", k);
        ck_assert_msg(same_bits(dx, ref_dx, (size_t)n * sizeof *dx), "dx, impl %d", k);
        free(keep);
        free(y);
        free(dx);
    }
    free(ref_keep);
    free(ref_y);
    free(ref_dx);
    free(x);
    free(dy);
    free(dx0);
    tg_pool_free(pools[1]);
    tg_pool_free(pools[2]);
}
END_TEST

/* tg_k_zero clears exactly [0, n) for sizes below, at and over its 64K-element pieces, on 1, 2
 * and 3 threads. */
START_TEST(test_zero_kernel) {
    tg_pool *pools[3] = {NULL, tg_pool_new(2), tg_pool_new(3)};
    int64_t sizes[] = {0, 1, 65535, 65536, 3 * 65536 + 5};
    for (int k = 0; k < 3; k++)
        for (int si = 0; si < 5; si++) {
            int64_t n = sizes[si];
            tg_float *x = alloc_fill(n + 2, 1, 2);
            tg_k_zero(pools[k], n, x + 1);
            ck_assert(x[0] >= 1 && x[n + 1] >= 1);   /* neighbours untouched */
            for (int64_t i = 1; i <= n; i++)
                ck_assert_msg(x[i] == 0 && !signbit(x[i]), "n %lld element %lld", (long long)n,
                              (long long)i);
            free(x);
        }
    tg_pool_free(pools[1]);
    tg_pool_free(pools[2]);
}
END_TEST

START_TEST(test_transpose_kernel) {
    tg_pool *p2 = tg_pool_new(2);
    int shapes[][4] = {{2, 3, 4, 5}, {3, 70, 4, 64}, {1, 1, 1, 7}};
    int ndims[] = {4, 4, 2};
    for (int si = 0; si < 3; si++) {
        int nd = ndims[si];
        const int *sh = shapes[si] + (4 - nd);
        int64_t n = tg_shape_numel(nd, sh);
        tg_float *src = alloc_fill(n, -1, 1);
        for (int d0 = 0; d0 < nd; d0++)
            for (int d1 = 0; d1 < nd; d1++)
                for (int acc = 0; acc < 2; acc++) {
                    tg_float *dst = alloc_fill(n, -1, 1), *want = dup(dst, n);
                    tg_k_transpose(si == 1 ? p2 : NULL, nd, sh, d0, d1, src, dst, acc);
                    /* element at source index (i0..i3) lands at the index with d0 and d1 swapped */
                    int dsh[4];
                    for (int d = 0; d < nd; d++) dsh[d] = sh[d];
                    dsh[d0] = sh[d1];
                    dsh[d1] = sh[d0];
                    for (int64_t i = 0; i < n; i++) {
                        int idx[4], rem = (int)i;
                        for (int d = nd - 1; d >= 0; d--) { idx[d] = rem % sh[d]; rem /= sh[d]; }
                        int t = idx[d0]; idx[d0] = idx[d1]; idx[d1] = t;
                        int64_t o = 0;
                        for (int d = 0; d < nd; d++) o = o * dsh[d] + idx[d];
                        want[o] = acc ? want[o] + src[i] : src[i];
                    }
                    ck_assert_msg(same_bits(dst, want, (size_t)n * sizeof *dst),
                                  "transpose shape %d dims %d,%d acc %d", si, d0, d1, acc);
                    free(dst);
                    free(want);
                }
        free(src);
    }
    tg_pool_free(p2);
}
END_TEST

/* Three Adam steps of a small Transformer (padding, dropout, label smoothing) with `impl` kernels
 * and `threads` threads: the parameters after them, and the three losses. */
static tg_float *train_three_steps(tg_k_impl impl, int threads, int64_t *n_out, double losses[3]) {
    tg_k_select(impl);
    tg_model_config cfg = tg_model_config_default();
    cfg.vocab = 300;
    cfg.d_model = 64;
    cfg.heads = 4;
    cfg.d_ff = 96;
    cfg.enc_layers = cfg.dec_layers = 2;
    cfg.max_len = 40;
    tg_err err;
    tg_model *m = tg_model_new(&cfg, 3, &err);
    ck_assert_ptr_nonnull(m);
    tg_params *P = tg_model_params(m);
    int64_t n = tg_params_numel(P);
    tg_adam_config ac = tg_adam_config_default();
    tg_adam *opt = NULL;
    ck_assert_int_eq(tg_adam_new(&ac, n, &opt, &err), TG_OK);
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = threads, .seed = 9});
    enum { B = 6, S = 13, T = 11 };
    int32_t src[B * S], tin[B * T], tout[B * T];
    rng = 21;
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < B * S; i++) src[i] = i % S > S - 1 - i / S % 4 ? 0 : 2 + (int32_t)(urand() * 298);
        for (int i = 0; i < B * T; i++) tout[i] = 2 + (int32_t)(urand() * 298);
        for (int i = 0; i < B * T; i++) tin[i] = i % T ? tout[i - 1] : TG_BOS_ID;
        tout[B * T - 1] = 0;
        tg_tensor *loss;
        ck_assert_int_eq(tg_model_loss(m, ctx, src, tin, tout, B, S, T, &loss, NULL, &err), TG_OK);
        losses[step] = loss->data[0];
        ck_assert_int_eq(tg_backward(ctx, loss), TG_OK);
        ck_assert_int_eq(tg_adam_step(opt, tg_params_data(P), tg_params_grad(P), 1e-3,
                                      tg_ctx_pool(ctx), &err), TG_OK);
        tg_params_zero_grad(P);
        tg_ctx_reset(ctx);
    }
    tg_float *out = dup(tg_params_data(P), n);
    *n_out = n;
    tg_adam_free(opt);
    tg_ctx_free(ctx);
    tg_model_free(m);
    return out;
}

/* The whole model: 1, 2 and 3 threads, and the AVX2 and AVX-512 GEMMs, give the same bits; the
 * portable kernels give the same losses to rounding (not the same parameters: Adam's first steps
 * move a parameter by about lr whatever the size of its gradient, so a gradient near 0 whose
 * sign differs by rounding moves it the other way). */
START_TEST(test_training_steps_identity) {
    tg_k_impl fasts[2];
    int nfast = fast_gemms(fasts);
    int64_t n;
    double ref_loss[3], loss[3];
    tg_float *ref = train_three_steps(fasts[0], 1, &n, ref_loss);
    for (int f = 0; f < nfast; f++)
        for (int t = 1; t <= 3; t++) {
            if (f == 0 && t == 1) continue;
            int64_t n2;
            tg_float *p = train_three_steps(fasts[f], t, &n2, loss);
            ck_assert_msg(n2 == n && same_bits(p, ref, (size_t)n * sizeof *p),
                          "%s with %d threads differs from %s with 1", tg_k_impl_name(fasts[f]), t,
                          tg_k_impl_name(fasts[0]));
            ck_assert(same_bits(loss, ref_loss, sizeof loss));
            free(p);
        }
    tg_float *port = train_three_steps(TG_K_PORTABLE, 2, &n, loss);
    for (int k = 0; k < 3; k++)
        ck_assert_msg(fabs(loss[k] - ref_loss[k]) <= 1e-5 * fabs(ref_loss[k]),
                      "step %d loss: portable %.9g, fast %.9g", k + 1, loss[k], ref_loss[k]);
    free(port);
    free(ref);
}
END_TEST

START_TEST(test_dispatch) {
    tg_k_impl k;
    ck_assert(tg_k_impl_parse("portable", &k) && k == TG_K_PORTABLE);
    ck_assert(tg_k_impl_parse("avx2", &k) && k == TG_K_AVX2);
    ck_assert(tg_k_impl_parse("auto", &k) && k == TG_K_AUTO);
    ck_assert(!tg_k_impl_parse("AVX2", &k) && !tg_k_impl_parse("", &k) && !tg_k_impl_parse(NULL, &k));
    ck_assert_str_eq(tg_k_impl_name(TG_K_PORTABLE), "portable");
    ck_assert_str_eq(tg_k_impl_name(TG_K_AVX2), "avx2");
    bool cpu = false;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    cpu = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    tg_k_impl avx2 = cpu ? TG_K_AVX2 : TG_K_PORTABLE, best = avx2;
#if (defined(__x86_64__) || defined(__i386__)) && !defined(TG_DOUBLE)
    if (cpu && __builtin_cpu_supports("avx512f")) best = TG_K_AVX512;   /* float builds only */
#endif
    ck_assert_int_eq(tg_k_select(TG_K_PORTABLE), TG_K_PORTABLE);
    ck_assert_int_eq(tg_k_current(), TG_K_PORTABLE);
    ck_assert_int_eq(tg_k_select(TG_K_AVX2), avx2);     /* falls back without the CPU support */
    ck_assert_int_eq(tg_k_select(TG_K_AVX512), best);
    ck_assert(tg_k_impl_parse("avx512", &k) && k == TG_K_AVX512);
    ck_assert_str_eq(tg_k_impl_name(TG_K_AVX512), "avx512");
    setenv("TAPEGRAD_KERNELS", "portable", 1);
    ck_assert_int_eq(tg_k_select(TG_K_AUTO), TG_K_PORTABLE);
    ck_assert_int_eq(tg_k_select(TG_K_AVX2), avx2);    /* an explicit choice beats the variable */
    setenv("TAPEGRAD_KERNELS", "avx2", 1);
    ck_assert_int_eq(tg_k_select(TG_K_AUTO), avx2);
    setenv("TAPEGRAD_KERNELS", "avx512", 1);
    ck_assert_int_eq(tg_k_select(TG_K_AUTO), best);
    setenv("TAPEGRAD_KERNELS", "nonsense", 1);
    ck_assert_int_eq(tg_k_select(TG_K_AUTO), best);
    unsetenv("TAPEGRAD_KERNELS");
    ck_assert_int_eq(tg_k_select(TG_K_AUTO), best);
}
END_TEST

/* A pool thread's stack is the pool's own size (2 MiB), not glibc's default, which follows
 * RLIMIT_STACK: under `ulimit -s 64` the workers had 64 KiB, and the portable GEMM's panel alone
 * was 128 KiB (tests/small_stack.sh runs that). The suite runs under the usual 8 MiB limit, where
 * the default would be 8 MiB. */
typedef struct { pthread_t caller; pthread_mutex_t mu; size_t worker_stack; int workers; } stack_probe;

static void stack_probe_fn(void *arg, size_t b, size_t e) {
    stack_probe *p = arg;
    pthread_attr_t attr;
    size_t size = 0;
    if (pthread_equal(pthread_self(), p->caller) || pthread_getattr_np(pthread_self(), &attr) != 0) return;
    pthread_attr_getstacksize(&attr, &size);
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&p->mu);
    p->worker_stack = size;
    p->workers++;
    pthread_mutex_unlock(&p->mu);
}

/* Balanced calls give a thread seen slower fewer items (every item still once), bounded so that
 * it keeps some; plain calls still split evenly. */
START_TEST(test_pool_balanced_follows_speed) {
    tg_pool *pool = tg_pool_new(2);
    ck_assert_ptr_nonnull(pool);
    /* 20 times slower: its speed held at a quarter of the mean, the other's near 1.9, so about 7
     * of the 60 items; at the bounds (1/4 against 4) it would still get 3 */
    size_t worker = skew_pool(pool);
    ck_assert_msg(worker >= 3 && worker <= 12, "the slower thread got %zu of 60 items", worker);
    balance_probe p = {.caller = pthread_self()};
    tg_pool_for(pool, 60, 1, balance_probe_fn, &p);
    ck_assert_uint_eq(p.worker_items, 30);
    tg_pool_free(pool);
}
END_TEST

START_TEST(test_pool_threads_own_stack) {
    tg_pool *pool = tg_pool_new(3);
    ck_assert_ptr_nonnull(pool);
    stack_probe p = {.caller = pthread_self(), .mu = PTHREAD_MUTEX_INITIALIZER};
    tg_pool_for(pool, 3, 1, stack_probe_fn, &p);
    tg_pool_free(pool);
    ck_assert_int_eq(p.workers, 2);
    ck_assert_uint_eq(p.worker_stack, (size_t)2 << 20);
}
END_TEST

int main(void) {
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_gemm_against_naive);
    tcase_add_test(tc, test_gemm_big_and_batched);
    tcase_add_test(tc, test_gemm_empty_k);
    tcase_add_test(tc, test_gemm_accumulate_adds_product);
    tcase_add_test(tc, test_gemm_epilogue_is_the_passes);
    tcase_add_test(tc, test_gemm_prepacked_b);
    tcase_add_test(tc, test_gemm_split_identity);
    tcase_add_test(tc, test_softmax_fast_vs_portable);
    tcase_add_test(tc, test_softmax_scaled_is_composed);
    tcase_add_test(tc, test_layer_norm_fast_vs_portable);
    tcase_add_test(tc, test_cross_entropy_fast_vs_portable);
    tcase_add_test(tc, test_elementwise_fast_vs_portable);
    tcase_add_test(tc, test_sigmoid_fast_is_portable);
    tcase_add_test(tc, test_mul_kernels);
    tcase_add_test(tc, test_dropout_mask_is_the_stream);
    tcase_add_test(tc, test_dropout_threads_and_backward);
    tcase_add_test(tc, test_zero_kernel);
    tcase_add_test(tc, test_transpose_kernel);
    tcase_add_test(tc, test_training_steps_identity);
    tcase_add_test(tc, test_dispatch);
    tcase_add_test(tc, test_pool_threads_own_stack);
    tcase_add_test(tc, test_pool_balanced_follows_speed);
    suite_add_tcase(s, tc);
    return tg_check_run(s) ? 1 : 0;
}
