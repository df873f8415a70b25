/* layer_norm_avx2.c: layer norm forward and backward over rows of n, 8 floats at a time. Row
 * statistics are summed in double lanes (two passes for the variance, as layer_norm.c); the
 * per-element arithmetic is in float. The gain/bias gradients are split by columns and summed
 * over rows in ascending order for every column, so the bits do not depend on the thread count. */
#include "autograd/kernels/simd_avx2.h"

#if TG_K_HAVE_AVX2_FLOAT

#include <math.h>

typedef struct {
    int64_t n;
    const float *x, *gain, *bias;
    double eps;
    float *y, *mean, *rstd;
    const float *dy;
    float *dx, *dgain, *dbias;
    int64_t rows;
} ln_args;

static TG_AVX2 void ln_fwd_range(void *arg, size_t begin, size_t end) {
    const ln_args *a = arg;
    int64_t n = a->n;
    for (int64_t r = (int64_t)begin; r < (int64_t)end; r++) {
        const float *x = a->x + r * n;
        float *y = a->y + r * n;
        __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
        int64_t j = 0;
        for (; j + 8 <= n; j += 8) tg_acc_pd(_mm256_loadu_ps(x + j), &s0, &s1);
        double mu = tg_hsum_pd(s0, s1);
        for (; j < n; j++) mu += x[j];
        mu /= (double)n;
        __m256d m4 = _mm256_set1_pd(mu);
        s0 = s1 = _mm256_setzero_pd();
        for (j = 0; j + 8 <= n; j += 8) {
            __m256 v = _mm256_loadu_ps(x + j);
            __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), m4);
            __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), m4);
            s0 = _mm256_add_pd(s0, _mm256_mul_pd(d0, d0));
            s1 = _mm256_add_pd(s1, _mm256_mul_pd(d1, d1));
        }
        double var = tg_hsum_pd(s0, s1);
        for (; j < n; j++) { double d = x[j] - mu; var += d * d; }
        var /= (double)n;
        double rs = 1.0 / sqrt(var + a->eps);
        a->mean[r] = (float)mu;
        a->rstd[r] = (float)rs;
        const __m256 vmu = _mm256_set1_ps((float)mu), vrs = _mm256_set1_ps((float)rs);
        for (j = 0; j + 8 <= n; j += 8) {
            __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), vmu), vrs);
            if (a->gain) v = _mm256_mul_ps(v, _mm256_loadu_ps(a->gain + j));
            if (a->bias) v = _mm256_add_ps(v, _mm256_loadu_ps(a->bias + j));
            _mm256_storeu_ps(y + j, v);
        }
        for (; j < n; j++) {
            float v = (x[j] - (float)mu) * (float)rs;
            if (a->gain) v *= a->gain[j];
            if (a->bias) v += a->bias[j];
            y[j] = v;
        }
    }
}

void tg_k_layer_norm_avx2(tg_pool *pool, int64_t rows, int64_t n, const float *x, const float *gain,
                          const float *bias, double eps, float *y, float *mean, float *rstd) {
    ln_args a = {.n = n, .x = x, .gain = gain, .bias = bias, .eps = eps, .y = y, .mean = mean,
                 .rstd = rstd};
    tg_pool_for(pool, (size_t)rows, (size_t)(1 + 4096 / (n + 1)), ln_fwd_range, &a);
}

/* dxhat = dy * gain; dx += rs * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) */
static TG_AVX2 void ln_dx_range(void *arg, size_t begin, size_t end) {
    const ln_args *a = arg;
    int64_t n = a->n;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (int64_t r = (int64_t)begin; r < (int64_t)end; r++) {
        const float *x = a->x + r * n, *dy = a->dy + r * n;
        float *dx = a->dx + r * n;
        float mu = a->mean[r], rs = a->rstd[r];
        const __m256 vmu = _mm256_set1_ps(mu), vrs = _mm256_set1_ps(rs);
        __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
        __m256d t0 = _mm256_setzero_pd(), t1 = _mm256_setzero_pd();
        int64_t j = 0;
        for (; j + 8 <= n; j += 8) {
            __m256 g = a->gain ? _mm256_loadu_ps(a->gain + j) : one;
            __m256 dxh = _mm256_mul_ps(_mm256_loadu_ps(dy + j), g);
            __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), vmu), vrs);
            tg_acc_pd(dxh, &s0, &s1);
            tg_acc_pd(_mm256_mul_ps(dxh, xh), &t0, &t1);
        }
        double m1 = tg_hsum_pd(s0, s1), m2 = tg_hsum_pd(t0, t1);
        for (; j < n; j++) {
            float dxh = dy[j] * (a->gain ? a->gain[j] : 1.0f), xh = (x[j] - mu) * rs;
            m1 += dxh;
            m2 += dxh * xh;
        }
        m1 /= (double)n;
        m2 /= (double)n;
        const __m256 vm1 = _mm256_set1_ps((float)m1), vm2 = _mm256_set1_ps((float)m2);
        for (j = 0; j + 8 <= n; j += 8) {
            __m256 g = a->gain ? _mm256_loadu_ps(a->gain + j) : one;
            __m256 dxh = _mm256_mul_ps(_mm256_loadu_ps(dy + j), g);
            __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), vmu), vrs);
            __m256 d = _mm256_sub_ps(_mm256_sub_ps(dxh, vm1), _mm256_mul_ps(xh, vm2));
            _mm256_storeu_ps(dx + j, _mm256_add_ps(_mm256_loadu_ps(dx + j), _mm256_mul_ps(vrs, d)));
        }
        for (; j < n; j++) {
            float dxh = dy[j] * (a->gain ? a->gain[j] : 1.0f), xh = (x[j] - mu) * rs;
            dx[j] += rs * (dxh - (float)m1 - xh * (float)m2);
        }
    }
}

/* dgain[j] += sum_r dy xhat, dbias[j] += sum_r dy: 32 columns at a time held in registers over
 * all rows (rows in ascending order for every column, as the scalar tail), then the rest. */
static TG_AVX2 void ln_dparam_range(void *arg, size_t begin, size_t end) {
    const ln_args *a = arg;
    int64_t n = a->n, j = (int64_t)begin, j1 = (int64_t)end;
    for (; j + 32 <= j1; j += 32) {
        __m256 g[4], b[4];
        for (int v = 0; v < 4; v++) {
            g[v] = a->dgain ? _mm256_loadu_ps(a->dgain + j + 8 * v) : _mm256_setzero_ps();
            b[v] = a->dbias ? _mm256_loadu_ps(a->dbias + j + 8 * v) : _mm256_setzero_ps();
        }
        for (int64_t r = 0; r < a->rows; r++) {
            const float *x = a->x + r * n + j, *dy = a->dy + r * n + j;
            const __m256 vmu = _mm256_set1_ps(a->mean[r]), vrs = _mm256_set1_ps(a->rstd[r]);
            for (int v = 0; v < 4; v++) {
                __m256 d = _mm256_loadu_ps(dy + 8 * v);
                __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + 8 * v), vmu), vrs);
                g[v] = _mm256_add_ps(g[v], _mm256_mul_ps(d, xh));
                b[v] = _mm256_add_ps(b[v], d);
            }
        }
        for (int v = 0; v < 4; v++) {
            if (a->dgain) _mm256_storeu_ps(a->dgain + j + 8 * v, g[v]);
            if (a->dbias) _mm256_storeu_ps(a->dbias + j + 8 * v, b[v]);
        }
    }
    for (; j < j1; j++) {
        float g = a->dgain ? a->dgain[j] : 0, b = a->dbias ? a->dbias[j] : 0;
        for (int64_t r = 0; r < a->rows; r++) {
            float d = a->dy[r * n + j];
            g += d * ((a->x[r * n + j] - a->mean[r]) * a->rstd[r]);
            b += d;
        }
        if (a->dgain) a->dgain[j] = g;
        if (a->dbias) a->dbias[j] = b;
    }
}

void tg_k_layer_norm_backward_avx2(tg_pool *pool, int64_t rows, int64_t n, const float *x,
                                   const float *gain, const float *mean, const float *rstd,
                                   const float *dy, float *dx, float *dgain, float *dbias) {
    ln_args a = {.n = n, .x = x, .gain = gain, .mean = (float *)mean, .rstd = (float *)rstd,
                 .dy = dy, .dx = dx, .dgain = dgain, .dbias = dbias, .rows = rows};
    if (dx) tg_pool_for(pool, (size_t)rows, (size_t)(1 + 4096 / (n + 1)), ln_dx_range, &a);
    if (dgain || dbias) tg_pool_for(pool, (size_t)n, 64, ln_dparam_range, &a);   /* 64: whole blocks */
}

#endif
