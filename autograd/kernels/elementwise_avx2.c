/* elementwise_avx2.c: ReLU, ReLU's backward (from x or from the output), axpby and acc on 8
 * floats at a time. They do the same float operations as the portable loops (multiply, then
 * add; no FMA), so their results are the same bits; ReLU's backward from x gives 0 where the
 * portable gives NaN for an infinite dy at x <= 0. The sigmoid and its backward, 4 doubles at a
 * time, give the portable bits by a rounding check (below). GELU stays portable (erf/tanh). */
#include "autograd/kernels/simd_avx2.h"

#if TG_K_HAVE_AVX2_FLOAT

#define MIN_CHUNK 16384

typedef struct {
    const float *x, *dy, *b;
    float *y;
    float s;
    int64_t nb;
} ew_args;

static TG_AVX2 void relu_range(void *arg, size_t begin, size_t end) {
    const ew_args *a = arg;
    const __m256 z = _mm256_setzero_ps();
    size_t i = begin;
    for (; i + 8 <= end; i += 8) _mm256_storeu_ps(a->y + i, _mm256_max_ps(_mm256_loadu_ps(a->x + i), z));
    for (; i < end; i++) a->y[i] = a->x[i] > 0 ? a->x[i] : 0;
}

static TG_AVX2 void relu_bwd_range(void *arg, size_t begin, size_t end) {
    const ew_args *a = arg;
    const __m256 z = _mm256_setzero_ps();
    size_t i = begin;
    for (; i + 8 <= end; i += 8) {
        __m256 keep = _mm256_cmp_ps(_mm256_loadu_ps(a->x + i), z, _CMP_GT_OQ);
        __m256 d = _mm256_and_ps(keep, _mm256_loadu_ps(a->dy + i));
        _mm256_storeu_ps(a->y + i, _mm256_add_ps(_mm256_loadu_ps(a->y + i), d));
    }
    for (; i < end; i++) if (a->x[i] > 0) a->y[i] += a->dy[i];
}

/* ---- sigmoid: the bits of tg_k_sigmoid_ref, 4 doubles at a time ----
 *
 * The portable sigmoid rounds 1 / (1 + exp(-x)), computed in double with libm's exp, to float.
 * Here exp is a vector polynomial whose double result differs from libm's by far less than
 * SIG_TOL relative; where the interval [v - tol, v + tol] around the vector result v rounds to one
 * float, libm's result (inside it) rounds to that float too, so the vector's float is the portable
 * one. A lane whose interval straddles a float rounding boundary (about 1 in 2^20), or whose |x|
 * is beyond SIG_XMAX or NaN, is computed by tg_k_sigmoid_ref itself. The backward does the same for
 * (float)(s (1 - s) dy), with a tolerance that covers 1 - s's loss of relative accuracy as s nears 1
 * (lanes with x above about 14 go to the scalar path). */
#define SIG_XMAX 40.0          /* e^40 and e^-40 are normal doubles; sigmoid(40) rounds to 1.0f */
#define SIG_TOL 0x1p-44        /* relative; the two doubles differ by under 2^-49 relative */

/* e^t for 4 doubles with |t| <= SIG_XMAX: t = n ln2 + r with |r| <= ln2/2 (ln2 in two parts, the
 * first with 32 significant bits so n ln2_hi is exact), e^r by its Taylor series to r^12 (the
 * next term is under 2.5e-16 of the sum), then 2^n (|n| <= 58) through the exponent bits. */
static inline TG_AVX2 __m256d exp_pd(__m256d t) {
    const __m256d ln2_hi = _mm256_set1_pd(6.93147180369123816490e-01);
    const __m256d ln2_lo = _mm256_set1_pd(1.90821492927058770002e-10);
    __m256d n = _mm256_round_pd(_mm256_mul_pd(t, _mm256_set1_pd(1.4426950408889634)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256d r = _mm256_fnmadd_pd(n, ln2_hi, t);
    r = _mm256_fnmadd_pd(n, ln2_lo, r);
    /* sum of r^k / k!, k <= 12, as E(r^2) + r O(r^2): two chains half as long as one */
    __m256d u = _mm256_mul_pd(r, r);
    __m256d pe = _mm256_set1_pd(1.0 / 479001600);   /* 1/12! */
    pe = _mm256_fmadd_pd(pe, u, _mm256_set1_pd(1.0 / 3628800));
    pe = _mm256_fmadd_pd(pe, u, _mm256_set1_pd(1.0 / 40320));
    pe = _mm256_fmadd_pd(pe, u, _mm256_set1_pd(1.0 / 720));
    pe = _mm256_fmadd_pd(pe, u, _mm256_set1_pd(1.0 / 24));
    pe = _mm256_fmadd_pd(pe, u, _mm256_set1_pd(0.5));
    pe = _mm256_fmadd_pd(pe, u, _mm256_set1_pd(1.0));
    __m256d po = _mm256_set1_pd(1.0 / 39916800);    /* 1/11! */
    po = _mm256_fmadd_pd(po, u, _mm256_set1_pd(1.0 / 362880));
    po = _mm256_fmadd_pd(po, u, _mm256_set1_pd(1.0 / 5040));
    po = _mm256_fmadd_pd(po, u, _mm256_set1_pd(1.0 / 120));
    po = _mm256_fmadd_pd(po, u, _mm256_set1_pd(1.0 / 6));
    po = _mm256_fmadd_pd(po, u, _mm256_set1_pd(1.0));
    __m256d p = _mm256_fmadd_pd(r, po, pe);
    __m256i e = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n));
    e = _mm256_slli_epi64(_mm256_add_epi64(e, _mm256_set1_epi64x(1023)), 52);
    return _mm256_mul_pd(p, _mm256_castsi256_pd(e));
}

/* sigmoid of 4 doubles (any lane: the scalar path decides lanes outside *ok) */
static inline TG_AVX2 __m256d sigmoid_pd(__m256d x, int *ok) {
    const __m256d sign = _mm256_set1_pd(-0.0), one = _mm256_set1_pd(1.0);
    __m256d in = _mm256_cmp_pd(_mm256_andnot_pd(sign, x), _mm256_set1_pd(SIG_XMAX), _CMP_LE_OQ);   /* NaN: out */
    x = _mm256_and_pd(in, x);   /* out-of-range lanes: any finite value */
    *ok = _mm256_movemask_pd(in);
    return _mm256_div_pd(one, _mm256_add_pd(one, exp_pd(_mm256_xor_pd(x, sign))));
}

/* Lanes of v (>= 0) whose interval v +- tol rounds to one float, as a 4-bit mask. */
static inline TG_AVX2 int rounds_alike(__m256d v, __m256d tol) {
    __m128 lo = _mm256_cvtpd_ps(_mm256_sub_pd(v, tol)), hi = _mm256_cvtpd_ps(_mm256_add_pd(v, tol));
    return _mm_movemask_ps(_mm_cmpeq_ps(lo, hi));
}

/* The lanes of y[0..3] outside ok, from the scalar path (x: the inputs, saved: y may be x). */
static void sigmoid_fix(const float *x, float *y, int ok) {
    for (int l = 0; l < 4; l++)
        if (!(ok >> l & 1)) y[l] = (float)tg_k_sigmoid_ref(x[l]);
}

static TG_AVX2 void sigmoid_range(void *arg, size_t begin, size_t end) {
    const ew_args *a = arg;
    const __m256d tol = _mm256_set1_pd(SIG_TOL);
    size_t i = begin;
    for (; i + 8 <= end; i += 8) {   /* two independent halves, for the FMA chains to overlap */
        int ok0, ok1;
        __m256 x = _mm256_loadu_ps(a->x + i);
        __m256d s0 = sigmoid_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), &ok0);
        __m256d s1 = sigmoid_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), &ok1);
        ok0 &= rounds_alike(s0, _mm256_mul_pd(s0, tol));
        ok1 &= rounds_alike(s1, _mm256_mul_pd(s1, tol));
        _mm256_storeu_ps(a->y + i, _mm256_set_m128(_mm256_cvtpd_ps(s1), _mm256_cvtpd_ps(s0)));
        if ((ok0 & ok1) == 15) continue;
        float xs[8];
        _mm256_storeu_ps(xs, x);
        sigmoid_fix(xs, a->y + i, ok0);
        sigmoid_fix(xs + 4, a->y + i + 4, ok1);
    }
    for (; i < end; i++) a->y[i] = (float)tg_k_sigmoid_ref(a->x[i]);
}

/* dx[l] for the lanes outside ok; x, dy, o: the inputs and dx before the call, saved (dx may be
 * x or dy). */
static void sigmoid_bwd_fix(const float *x, const float *dy, const float *o, float *dx, int ok) {
    for (int l = 0; l < 4; l++)
        if (!(ok >> l & 1)) dx[l] = o[l] + (float)(tg_k_sigmoid_grad_ref(x[l]) * dy[l]);
}

/* s (1 - s) dy for 4 lanes of x and dy (floats), with the lanes it decides in *ok */
static inline TG_AVX2 __m128 sigmoid_grad_ps(__m128 x, __m128 dyf, int *ok) {
    const __m256d tol = _mm256_set1_pd(SIG_TOL), one = _mm256_set1_pd(1.0), sign = _mm256_set1_pd(-0.0);
    __m256d s = sigmoid_pd(_mm256_cvtps_pd(x), ok);
    __m256d dy = _mm256_cvtps_pd(dyf);
    __m256d p = _mm256_mul_pd(_mm256_mul_pd(s, _mm256_sub_pd(one, s)), dy);
    __m256d t = _mm256_mul_pd(_mm256_mul_pd(s, _mm256_andnot_pd(sign, dy)), tol);
    *ok &= rounds_alike(_mm256_andnot_pd(sign, p), t);
    return _mm256_cvtpd_ps(p);
}

/* dx += (float)(s (1 - s) dy). Error of the vector d = s (1 - s) against libm's: under 2^-47 s
 * absolute (1 - s is exact for s >= 1/2, and s's own error is under 2^-49 s), so with p = d dy the
 * tolerance is 2^-44 s |dy|, which is >= 2^-44 |p|. */
static TG_AVX2 void sigmoid_bwd_range(void *arg, size_t begin, size_t end) {
    const ew_args *a = arg;
    size_t i = begin;
    for (; i + 8 <= end; i += 8) {
        int ok0, ok1;
        __m256 x = _mm256_loadu_ps(a->x + i), dy = _mm256_loadu_ps(a->dy + i), old = _mm256_loadu_ps(a->y + i);
        __m128 g0 = sigmoid_grad_ps(_mm256_castps256_ps128(x), _mm256_castps256_ps128(dy), &ok0);
        __m128 g1 = sigmoid_grad_ps(_mm256_extractf128_ps(x, 1), _mm256_extractf128_ps(dy, 1), &ok1);
        _mm256_storeu_ps(a->y + i, _mm256_add_ps(old, _mm256_set_m128(g1, g0)));
        if ((ok0 & ok1) == 15) continue;
        float xs[8], dys[8], o[8];
        _mm256_storeu_ps(xs, x);
        _mm256_storeu_ps(dys, dy);
        _mm256_storeu_ps(o, old);
        sigmoid_bwd_fix(xs, dys, o, a->y + i, ok0);
        sigmoid_bwd_fix(xs + 4, dys + 4, o + 4, a->y + i + 4, ok1);
    }
    for (; i < end; i++) a->y[i] += (float)(tg_k_sigmoid_grad_ref(a->x[i]) * a->dy[i]);
}

bool tg_k_unary_avx2(tg_pool *pool, tg_unary f, int64_t n, const float *x, float *y) {
    ew_args a = {.x = x, .y = y};
    if (f == TG_UNARY_RELU) tg_pool_for(pool, (size_t)n, MIN_CHUNK, relu_range, &a);
    else if (f == TG_UNARY_SIGMOID) tg_pool_for(pool, (size_t)n, MIN_CHUNK / 4, sigmoid_range, &a);
    else return false;
    return true;
}

bool tg_k_unary_backward_avx2(tg_pool *pool, tg_unary f, int64_t n, const float *x,
                              const float *dy, float *dx) {
    ew_args a = {.x = x, .dy = dy, .y = dx};
    if (f == TG_UNARY_RELU) tg_pool_for(pool, (size_t)n, MIN_CHUNK, relu_bwd_range, &a);
    else if (f == TG_UNARY_SIGMOID) tg_pool_for(pool, (size_t)n, MIN_CHUNK / 4, sigmoid_bwd_range, &a);
    else return false;
    return true;
}

/* y[i] = x[i] + s * b[i % nb], walking b in step with i instead of dividing per element. */
static TG_AVX2 void axpby_range(void *arg, size_t begin, size_t end) {
    const ew_args *a = arg;
    const __m256 s = _mm256_set1_ps(a->s);
    int64_t i = (int64_t)begin, e = (int64_t)end, nb = a->nb;
    while (i < e) {
        int64_t j = nb ? i % nb : i;   /* position in b */
        int64_t len = nb ? nb - j : e - i;
        if (len > e - i) len = e - i;
        const float *x = a->x + i, *b = a->b + j;
        float *y = a->y + i;
        int64_t k = 0;
        for (; k + 8 <= len; k += 8)
            _mm256_storeu_ps(y + k, _mm256_add_ps(_mm256_loadu_ps(x + k),
                                                  _mm256_mul_ps(s, _mm256_loadu_ps(b + k))));
        for (; k < len; k++) y[k] = x[k] + a->s * b[k];
        i += len;
    }
}

void tg_k_axpby_avx2(tg_pool *pool, int64_t n, const float *x, double s, const float *b, int64_t nb,
                     float *y) {
    ew_args a = {.x = x, .s = (float)s, .b = b, .nb = nb == n ? 0 : nb, .y = y};
    tg_pool_for(pool, (size_t)n, MIN_CHUNK, axpby_range, &a);
}

static TG_AVX2 void acc_range(void *arg, size_t begin, size_t end) {
    const ew_args *a = arg;
    size_t i = begin;
    if (a->s == 1) {
        for (; i + 8 <= end; i += 8)
            _mm256_storeu_ps(a->y + i, _mm256_add_ps(_mm256_loadu_ps(a->y + i), _mm256_loadu_ps(a->x + i)));
        for (; i < end; i++) a->y[i] += a->x[i];
    } else {
        const __m256 s = _mm256_set1_ps(a->s);
        for (; i + 8 <= end; i += 8)
            _mm256_storeu_ps(a->y + i, _mm256_add_ps(_mm256_loadu_ps(a->y + i),
                                                     _mm256_mul_ps(s, _mm256_loadu_ps(a->x + i))));
        for (; i < end; i++) a->y[i] += a->s * a->x[i];
    }
}

void tg_k_acc_avx2(tg_pool *pool, int64_t n, double s, const float *x, float *y) {
    ew_args a = {.x = x, .s = (float)s, .y = y};
    tg_pool_for(pool, (size_t)n, MIN_CHUNK, acc_range, &a);
}

/* g = y > 0 ? 0 + g : 0, as the portable loop, without its branch on the sign of y (random,
 * mispredicted about half the time: that loop was 8% of a training step at d_model 256). The
 * compare is ordered (NaN y gives 0, as the portable's) and 0 + g turns -0 into +0 as there. */
static TG_AVX2 void relu_mask_range(void *arg, size_t begin, size_t end) {
    const ew_args *a = arg;
    const __m256 z = _mm256_setzero_ps();
    size_t i = begin;
    for (; i + 8 <= end; i += 8) {
        __m256 keep = _mm256_cmp_ps(_mm256_loadu_ps(a->x + i), z, _CMP_GT_OQ);
        __m256 kept = _mm256_add_ps(z, _mm256_loadu_ps(a->y + i));
        _mm256_storeu_ps(a->y + i, _mm256_and_ps(keep, kept));
    }
    for (; i < end; i++) a->y[i] = a->x[i] > 0 ? 0.0f + a->y[i] : 0;
}

void tg_k_relu_mask_avx2(tg_pool *pool, int64_t n, const float *y, float *g) {
    ew_args a = {.x = y, .y = g};
    tg_pool_for(pool, (size_t)n, MIN_CHUNK, relu_mask_range, &a);
}

/* dst[j] += sum over rows of src[r][j]: vectors across columns, rows in ascending order for every
 * column, as the portable loop (same bits). */
typedef struct { int64_t rows, n; const float *src; float *dst; } colsum_args;

static TG_AVX2 void colsum_range(void *arg, size_t begin, size_t end) {
    const colsum_args *a = arg;
    int64_t j0 = (int64_t)begin, j1 = (int64_t)end;
    /* 32 columns at a time in registers, then the rest */
    int64_t j = j0;
    for (; j + 32 <= j1; j += 32) {
        __m256 s0 = _mm256_loadu_ps(a->dst + j), s1 = _mm256_loadu_ps(a->dst + j + 8);
        __m256 s2 = _mm256_loadu_ps(a->dst + j + 16), s3 = _mm256_loadu_ps(a->dst + j + 24);
        for (int64_t r = 0; r < a->rows; r++) {
            const float *s = a->src + r * a->n + j;
            s0 = _mm256_add_ps(s0, _mm256_loadu_ps(s));
            s1 = _mm256_add_ps(s1, _mm256_loadu_ps(s + 8));
            s2 = _mm256_add_ps(s2, _mm256_loadu_ps(s + 16));
            s3 = _mm256_add_ps(s3, _mm256_loadu_ps(s + 24));
        }
        _mm256_storeu_ps(a->dst + j, s0);
        _mm256_storeu_ps(a->dst + j + 8, s1);
        _mm256_storeu_ps(a->dst + j + 16, s2);
        _mm256_storeu_ps(a->dst + j + 24, s3);
    }
    for (; j < j1; j++) {
        float s = a->dst[j];
        for (int64_t r = 0; r < a->rows; r++) s += a->src[r * a->n + j];
        a->dst[j] = s;
    }
}

void tg_k_colsum_avx2(tg_pool *pool, int64_t rows, int64_t n, const float *src, float *dst) {
    colsum_args a = {rows, n, src, dst};
    /* column ranges in multiples of 32 so the vector loop covers them */
    size_t min_cols = (size_t)(1 + 8192 / (rows + 1));
    min_cols = (min_cols + 31) / 32 * 32;
    tg_pool_for(pool, (size_t)n, min_cols, colsum_range, &a);
}

#endif
