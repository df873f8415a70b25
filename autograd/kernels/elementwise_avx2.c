/* elementwise_avx2.c: ReLU, ReLU's backward (from x or from the output), axpby and acc on 8
 * floats at a time. They do the same float operations as the portable loops (multiply, then
 * add; no FMA), so their results are the same bits; ReLU's backward from x gives 0 where the
 * portable gives NaN for an infinite dy at x <= 0. GELU stays portable (it needs erf/tanh). */
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

bool tg_k_unary_avx2(tg_pool *pool, tg_unary f, int64_t n, const float *x, float *y) {
    if (f != TG_UNARY_RELU) return false;
    ew_args a = {.x = x, .y = y};
    tg_pool_for(pool, (size_t)n, MIN_CHUNK, relu_range, &a);
    return true;
}

bool tg_k_unary_backward_avx2(tg_pool *pool, tg_unary f, int64_t n, const float *x,
                              const float *dy, float *dx) {
    if (f != TG_UNARY_RELU) return false;
    ew_args a = {.x = x, .dy = dy, .y = dx};
    tg_pool_for(pool, (size_t)n, MIN_CHUNK, relu_bwd_range, &a);
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
