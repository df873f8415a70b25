/* kernels.h: the numeric loops behind the ops, one small interface. Every matmul-shaped op calls
 * tg_k_gemm; a faster implementation (AVX2+FMA, a GPU, ...) replaces a kernel here without touching
 * an op. Work is split over the pool by output rows (or columns), and every output element is
 * computed in one fixed order whatever part of the work a thread gets, so 1 and N threads give the
 * same bits. Matrices are row-major with a leading dimension (row stride) each.
 *
 *   tg_gemm_args g = {.tb = true, .M = 1024, .N = 256, .K = 256, .A = x, .lda = 256,
 *                     .B = w, .ldb = 256, .C = y, .ldc = 256, .batch = 1};
 *   tg_k_gemm(pool, &g);                       // y (1024, 256) = x (1024, 256) w^T (256, 256)
 */
#ifndef TG_KERNELS_H
#define TG_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/autograd.h"

/* Which implementation runs the kernels. The first kernel call picks one: the best the CPU
 * supports (AVX-512F, else AVX2+FMA, else portable C); TAPEGRAD_KERNELS=portable|avx2|avx512|auto
 * in the environment overrides that (asking for more than the CPU has falls back; another value
 * is ignored with one warning on stderr). The portable
 * kernels are the reference. Within one implementation every result is bit-identical for any
 * thread count; avx512 differs from avx2 only in the GEMM's micro-kernel and dropout's hash
 * (16 lanes), which compute the same bits, so the two give identical results; portable agrees with them to rounding (the fast
 * kernels use fused multiply-adds and float arithmetic). */
typedef enum tg_k_impl {
    TG_K_AUTO,      /* the environment's choice, else the best the CPU supports */
    TG_K_PORTABLE,  /* plain C, runs anywhere */
    TG_K_AVX2,      /* AVX2 + FMA (x86-64), chosen at run time */
    TG_K_AVX512,    /* AVX2 kernels with an AVX-512F GEMM micro-kernel (float builds) */
} tg_k_impl;
/* Switches the implementation for all later kernel calls (not while a kernel runs); returns
 * the one now in force. */
tg_k_impl tg_k_select(tg_k_impl want);
tg_k_impl tg_k_current(void);
const char *tg_k_impl_name(tg_k_impl impl);  /* "auto" | "portable" | "avx2" | "avx512" */
/* Bytes the kernels' per-thread scratch buffers (GEMM packing panels) hold now, all threads. */
size_t tg_k_scratch_bytes(void);
/* "portable", "avx2", "avx512" or "auto" into *out; false for anything else. */
bool tg_k_impl_parse(const char *s, tg_k_impl *out);

/* C (M, N) = op(A) op(B) + (accumulate ? C : 0), op(X) = X^T when tX.
 * A is (M, K) or, transposed, (K, M); B is (K, N) or, transposed, (N, K). Batched: `batch`
 * independent products, X_b = X + b * strideX. The portable GEMM accumulates each product into C
 * in k order; the fast one forms the product alone (one FMA chain over k) and then adds it to C.
 * Then the epilogue, a linear layer's bias and ReLU: C[i][j] += bias[j] (bias: N values, NULL for
 * none), then C = C > 0 ? C : 0 when relu; done on each tile while it is in cache, with the bits
 * of tg_k_axpby(C, 1, bias) and tg_k_unary(RELU) run over C after the GEMM. */
typedef struct tg_gemm_args {
    bool ta, tb, accumulate;
    int64_t M, N, K;
    const tg_float *A; int64_t lda, strideA;
    const tg_float *B; int64_t ldb, strideB;
    tg_float *C;       int64_t ldc, strideC;
    int64_t batch;
    /* heads > 1: item b is head b % heads of group b / heads, X_b = X + (b / heads) * strideX +
     * (b % heads) * strideX_h: attention's heads read in place from (B, T, H * dh) (0: plain). */
    int64_t heads, strideA_h, strideB_h, strideC_h;
    const tg_float *bias;   /* the epilogue (above): (N) added to every row, or NULL */
    bool relu;
    /* op(B) already packed by tg_k_gemm_prepack_b (several products with one B: the packing is
     * done once, not per product), or NULL. B stays set: a kernel that cannot use Bp reads B. */
    const tg_float *Bp;
    int64_t Bp_nr;          /* the panel width Bp was packed for (set by tg_k_gemm_prepack_b) */
} tg_gemm_args;

/* Offset of batch item b in an operand with strides (stride, stride_h), as tg_gemm_args says. */
static inline int64_t tg_gemm_item(const tg_gemm_args *g, int64_t b, int64_t stride, int64_t stride_h) {
    return g->heads > 1 ? b / g->heads * stride + b % g->heads * stride_h : b * stride;
}
void tg_k_gemm(tg_pool *pool, const tg_gemm_args *g);
/* The fast GEMM's k block: an accumulating product with K at most this makes each output in one
 * pass, with no running sums kept aside (a caller choosing K, as the projection + loss's chunk
 * rows, stays within it). */
enum { TG_K_GEMM_KBLOCK = 256 };
/* Pre-packing op(B) for later products with the same B (batch 1): the tg_float elements
 * tg_k_gemm_prepack_b writes, 0 when the kernels in force do not pre-pack (portable). Then
 * tg_k_gemm_prepack_b packs op(B) into dst and sets g->Bp and g->Bp_nr; the products give the
 * same bits as without it. A kernel switch afterwards makes the GEMM read B again. */
int64_t tg_k_gemm_prepack_elems(const tg_gemm_args *g);
void tg_k_gemm_prepack_b(tg_pool *pool, tg_gemm_args *g, tg_float *dst);

/* y = softmax(x + mask) per row of n, with rows/cols described by the caller's callback-free form:
 * mask_off[r] is the offset of row r's mask row (or NULL: no mask), mask_col_stride 0 or 1,
 * causal_limit(r) = last allowed column when causal >= 0 (see softmax.c). */
typedef struct tg_softmax_args {
    int64_t rows, n;
    const tg_float *x;
    tg_float *y;
    const tg_float *mask;        /* NULL: none */
    int ndim;                    /* of x, for the mask's broadcast */
    int shape[TG_MAX_DIMS];      /* x's shape */
    int64_t mask_stride[TG_MAX_DIMS]; /* per dim of x: the mask's stride, 0 where it broadcasts */
    bool causal;                 /* key j allowed iff j <= q + (Tk - Tq) */
    int64_t tq;                  /* x's second-to-last dim (queries) */
    bool log;                    /* log_softmax instead (no mask, not causal) */
    bool scaled;                 /* x times scale (a float product) before the mask: softmax(scale x + mask) */
    tg_float scale;
} tg_softmax_args;
void tg_k_softmax(tg_pool *pool, const tg_softmax_args *a);
/* dx += y * (dy - sum(dy * y)) per row (softmax); dx += dy - exp(y) * sum(dy) (log_softmax).
 * scale != 1 (softmax of scale x): dx += scale * g, g the row's term rounded to tg_float first, as
 * softmax's backward and then scale's would give it. */
void tg_k_softmax_backward(tg_pool *pool, int64_t rows, int64_t n, const tg_float *y,
                           const tg_float *dy, tg_float *dx, bool log, tg_float scale);

/* Layer norm over rows of n: y = (x - mean) * rstd * gain + bias (gain, bias may be NULL).
 * mean and rstd (rows) are written for backward. */
void tg_k_layer_norm(tg_pool *pool, int64_t rows, int64_t n, const tg_float *x, const tg_float *gain,
                     const tg_float *bias, double eps, tg_float *y, tg_float *mean, tg_float *rstd);
/* Accumulates dx (may be NULL), dgain, dbias (may be NULL). */
void tg_k_layer_norm_backward(tg_pool *pool, int64_t rows, int64_t n, const tg_float *x,
                              const tg_float *gain, const tg_float *mean, const tg_float *rstd,
                              const tg_float *dy, tg_float *dx, tg_float *dgain, tg_float *dbias);

/* dst[j] += sum over r of src[r * n + j], rows in ascending order for every j. */
void tg_k_colsum(tg_pool *pool, int64_t rows, int64_t n, const tg_float *src, tg_float *dst);
/* Sum of x in double, by fixed chunks added in order (thread-count independent). */
double tg_k_sum(tg_pool *pool, int64_t n, const tg_float *x);

/* Elementwise. */
typedef enum tg_unary {
    TG_UNARY_RELU, TG_UNARY_GELU_TANH, TG_UNARY_GELU_ERF, TG_UNARY_SIGMOID
} tg_unary;
/* y = f(x); y may be x (in place). The same bits in every implementation and on any pool. */
void tg_k_unary(tg_pool *pool, tg_unary f, int64_t n, const tg_float *x, tg_float *y);
/* dx += f'(x) * dy; dx may be x or dy. The same bits in every implementation and on any pool, but
 * for one case: where two NaNs meet in the sigmoid's (x and dy, or a NaN product and a NaN
 * already in dx), which one's payload the result keeps (a NaN either way; C leaves the operand
 * order of a product or a sum to the compiler). */
void tg_k_unary_backward(tg_pool *pool, tg_unary f, int64_t n, const tg_float *x, const tg_float *dy,
                         tg_float *dx);
/* g[i] = y[i] > 0 ? 0 + g[i] : 0: ReLU's backward taken from its output y, in place; the bits
 * of tg_k_unary_backward(RELU) into a zeroed dx (the same in every implementation). */
void tg_k_relu_mask(tg_pool *pool, int64_t n, const tg_float *y, tg_float *g);
/* y = a + s * b (b broadcast: b index = i % nb). */
void tg_k_axpby(tg_pool *pool, int64_t n, const tg_float *a, double s, const tg_float *b, int64_t nb,
                tg_float *y);
/* y[i] = x[i] * b[i % nb]; nb divides n (b is all of x's shape, or its trailing dims). The same
 * bits on any pool, but for one case: of two NaN operands, which one's payload the product keeps
 * may depend on whether the element fell in a vector loop or a scalar tail (a NaN either way). */
void tg_k_mul(tg_pool *pool, int64_t n, const tg_float *x, const tg_float *b, int64_t nb, tg_float *y);
/* g[i] += dy[i] * b[i % nb], nb as tg_k_mul's */
void tg_k_mul_acc(tg_pool *pool, int64_t n, const tg_float *dy, const tg_float *b, int64_t nb, tg_float *g);
/* y[i] += s * x[i] */
void tg_k_acc(tg_pool *pool, int64_t n, double s, const tg_float *x, tg_float *y);

/* dst = src with dims d0 and d1 swapped (src: ndim <= TG_MAX_DIMS dims of `shape`, contiguous);
 * acc: dst += instead. Split over the pool by source rows; every element of dst comes from one
 * element of src, so the result does not depend on the split. */
void tg_k_transpose(tg_pool *pool, int ndim, const int *shape, int d0, int d1, const tg_float *src,
                    tg_float *dst, bool acc);

/* Label-smoothed cross-entropy rows (see tg_cross_entropy). loss_rows[r] (0 for ignored rows)
 * and lse[r] are written, and nll_rows[r] unless NULL: the plain loss lse - x_t from the same lse,
 * as a second call with smoothing 0 gives it bit for bit. Returns the number of counted rows. */
int64_t tg_k_cross_entropy(tg_pool *pool, int64_t rows, int64_t V, const tg_float *logits,
                           const int32_t *targets, double smoothing, int ignore_index,
                           tg_float *lse, double *loss_rows, double *nll_rows);
/* dlogits = (accumulate ? dlogits : 0) + scale * (softmax - target distribution), for rows not
 * ignored; ignored rows are left (accumulate) or zeroed. Not accumulating gives the bits of
 * accumulating into zeros, without the pass that zeroes them, and dlogits may then be logits
 * itself (each element is read before it is written): the gradient in the logits' place. */
void tg_k_cross_entropy_backward(tg_pool *pool, int64_t rows, int64_t V, const tg_float *logits,
                                 const int32_t *targets, double smoothing, int ignore_index,
                                 const tg_float *lse, double scale, bool accumulate,
                                 tg_float *dlogits);

/* x[0 .. n) = 0, split over the pool (large gradient buffers are zeroed before every backward). */
void tg_k_zero(tg_pool *pool, int64_t n, tg_float *x);

/* Inverted dropout over n elements: keep[i] = tg__uniform(seed, counter + i) >= p (the context's
 * counter-based stream, autograd/ctx.c), y[i] = keep[i] ? x[i] * scale : 0. Each element's draw
 * depends only on its index, so the mask is the same for any split, thread count or
 * implementation (the AVX2 version computes the same 64-bit hash four lanes at a time, the
 * AVX-512 one eight). Dropout is the same bits in every implementation. */
void tg_k_dropout(tg_pool *pool, int64_t n, const tg_float *x, double p, tg_float scale,
                  uint64_t seed, uint64_t counter, uint8_t *keep, tg_float *y);
/* dx[i] += dy[i] * scale where keep[i]; dx is left untouched where not (not even + 0). */
void tg_k_dropout_backward(tg_pool *pool, int64_t n, const uint8_t *keep, const tg_float *dy,
                           tg_float scale, tg_float *dx);

#endif /* TG_KERNELS_H */
