/* elementwise.c: activations and axpy-style loops, split over the pool in contiguous ranges. */
#include "autograd/kernels/kernels_impl.h"

#include <math.h>
#include <string.h>

#define MIN_CHUNK 16384

typedef struct {
    tg_unary f;
    const tg_float *x, *dy, *b;
    tg_float *y;
    double s;
    int64_t nb;
} ew_args;

static const double SQRT_2_OVER_PI = 0.7978845608028654;
static const double INV_SQRT2 = 0.7071067811865476;
static const double INV_SQRT_2PI = 0.3989422804014327;

static void unary_range(void *arg, size_t begin, size_t end) {
    const ew_args *a = arg;
    for (size_t i = begin; i < end; i++) {
        double x = a->x[i], y;
        switch (a->f) {
        case TG_UNARY_RELU: y = x > 0 ? x : 0; break;
        case TG_UNARY_GELU_TANH: y = 0.5 * x * (1 + tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))); break;
        case TG_UNARY_SIGMOID: y = tg_k_sigmoid_ref(x); break;
        default: y = 0.5 * x * (1 + erf(x * INV_SQRT2)); break;
        }
        a->y[i] = (tg_float)y;
    }
}

void tg_k_unary(tg_pool *pool, tg_unary f, int64_t n, const tg_float *x, tg_float *y) {
#if TG_K_HAVE_AVX2_FLOAT
    if (tg_k_fast() && tg_k_unary_avx2(pool, f, n, x, y)) return;
#endif
    ew_args a = {.f = f, .x = x, .y = y};
    tg_pool_for(pool, (size_t)n, MIN_CHUNK, unary_range, &a);
}

static void unary_bwd_range(void *arg, size_t begin, size_t end) {
    const ew_args *a = arg;
    for (size_t i = begin; i < end; i++) {
        double x = a->x[i], d;
        switch (a->f) {
        case TG_UNARY_RELU: d = x > 0 ? 1 : 0; break;
        case TG_UNARY_GELU_TANH: {
            double u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
            double t = tanh(u);
            double du = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
            d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du;
            break;
        }
        case TG_UNARY_SIGMOID: d = tg_k_sigmoid_grad_ref(x); break;
        default: d = 0.5 * (1 + erf(x * INV_SQRT2)) + x * INV_SQRT_2PI * exp(-0.5 * x * x); break;
        }
        a->y[i] += (tg_float)(d * a->dy[i]);
    }
}

void tg_k_unary_backward(tg_pool *pool, tg_unary f, int64_t n, const tg_float *x, const tg_float *dy,
                         tg_float *dx) {
#if TG_K_HAVE_AVX2_FLOAT
    if (tg_k_fast() && tg_k_unary_backward_avx2(pool, f, n, x, dy, dx)) return;
#endif
    ew_args a = {.f = f, .x = x, .dy = dy, .y = dx};
    tg_pool_for(pool, (size_t)n, MIN_CHUNK, unary_bwd_range, &a);
}

static void axpby_range(void *arg, size_t begin, size_t end) {
    const ew_args *a = arg;
    for (size_t i = begin; i < end; i++) {
        tg_float bv = a->b[a->nb ? (int64_t)i % a->nb : (int64_t)i];
        a->y[i] = a->x[i] + (tg_float)a->s * bv;
    }
}

void tg_k_axpby(tg_pool *pool, int64_t n, const tg_float *a_, double s, const tg_float *b, int64_t nb,
                tg_float *y) {
#if TG_K_HAVE_AVX2_FLOAT
    if (tg_k_fast()) { tg_k_axpby_avx2(pool, n, a_, s, b, nb, y); return; }
#endif
    ew_args a = {.x = a_, .s = s, .b = b, .nb = nb == n ? 0 : nb, .y = y};
    tg_pool_for(pool, (size_t)n, MIN_CHUNK, axpby_range, &a);
}

static void acc_range(void *arg, size_t begin, size_t end) {
    const ew_args *a = arg;
    tg_float s = (tg_float)a->s;
    if (s == 1)
        for (size_t i = begin; i < end; i++) a->y[i] += a->x[i];
    else
        for (size_t i = begin; i < end; i++) a->y[i] += s * a->x[i];
}

void tg_k_acc(tg_pool *pool, int64_t n, double s, const tg_float *x, tg_float *y) {
#if TG_K_HAVE_AVX2_FLOAT
    if (tg_k_fast()) { tg_k_acc_avx2(pool, n, s, x, y); return; }
#endif
    ew_args a = {.x = x, .s = s, .y = y};
    tg_pool_for(pool, (size_t)n, MIN_CHUNK, acc_range, &a);
}

/* The run of b (length nb, repeated) that starts at element i: *j = i % nb, its position in b,
 * and the length to b's end or to `end`. Walking runs keeps the inner loops contiguous (no
 * division per element), so they vectorise. */
static size_t b_run(size_t i, size_t end, int64_t nb, size_t *j) {
    *j = i % (size_t)nb;
    size_t len = (size_t)nb - *j;
    return len < end - i ? len : end - i;
}

static void mul_range(void *arg, size_t begin, size_t end) {
    const ew_args *a = arg;
    for (size_t i = begin, j, len; i < end; i += len) {
        len = b_run(i, end, a->nb, &j);
        const tg_float *x = a->x + i, *b = a->b + j;
        tg_float *y = a->y + i;
        for (size_t k = 0; k < len; k++) y[k] = x[k] * b[k];
    }
}

void tg_k_mul(tg_pool *pool, int64_t n, const tg_float *x, const tg_float *b, int64_t nb, tg_float *y) {
    ew_args a = {.x = x, .b = b, .nb = nb, .y = y};
    tg_pool_for(pool, (size_t)n, MIN_CHUNK, mul_range, &a);
}

static void mul_acc_range(void *arg, size_t begin, size_t end) {
    const ew_args *a = arg;
    for (size_t i = begin, j, len; i < end; i += len) {
        len = b_run(i, end, a->nb, &j);
        const tg_float *dy = a->dy + i, *b = a->b + j;
        tg_float *g = a->y + i;
        for (size_t k = 0; k < len; k++) g[k] += dy[k] * b[k];
    }
}

void tg_k_mul_acc(tg_pool *pool, int64_t n, const tg_float *dy, const tg_float *b, int64_t nb, tg_float *g) {
    ew_args a = {.dy = dy, .b = b, .nb = nb, .y = g};
    tg_pool_for(pool, (size_t)n, MIN_CHUNK, mul_acc_range, &a);
}

/* The bits of a tg_float, for a select without a branch. */
#ifdef TG_DOUBLE
typedef uint64_t float_bits;
#else
typedef uint32_t float_bits;
#endif
_Static_assert(sizeof(float_bits) == sizeof(tg_float), "float_bits must be as wide as tg_float");

/* g = y > 0 ? 0 + g : 0 (0 + g: what the composed relu backward makes in a zeroed gradient, -0
 * turns +0), as an AND of g's bits with a mask from the compare: the sign of y is random, and GCC
 * keeps a branch on it for the plain ?:, mispredicted about half the time. Same bits. */
static void relu_mask_range(void *arg, size_t begin, size_t end) {
    const ew_args *a = arg;
    for (size_t i = begin; i < end; i++) {
        tg_float kept = (tg_float)0 + a->y[i];
        float_bits u;
        memcpy(&u, &kept, sizeof u);
        u &= (float_bits)0 - (float_bits)(a->x[i] > 0);   /* all ones if y > 0 (false for NaN) */
        memcpy(&a->y[i], &u, sizeof u);
    }
}

void tg_k_relu_mask(tg_pool *pool, int64_t n, const tg_float *y, tg_float *g) {
#if TG_K_HAVE_AVX2_FLOAT
    if (tg_k_fast()) { tg_k_relu_mask_avx2(pool, n, y, g); return; }
#endif
    ew_args a = {.x = y, .y = g};
    tg_pool_for(pool, (size_t)n, MIN_CHUNK, relu_mask_range, &a);
}

static void zero_range(void *arg, size_t begin, size_t end) {
    tg_float *x = arg;
    memset(x + begin, 0, (end - begin) * sizeof *x);
}

/* A memset runs at tens of GB/s a core: below 64K elements a thread it is not worth a wake-up. */
void tg_k_zero(tg_pool *pool, int64_t n, tg_float *x) {
    if (n > 0) tg_pool_for(pool, (size_t)n, (size_t)1 << 16, zero_range, x);
}
