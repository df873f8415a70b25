/* layer_norm.c: fused layer norm over the last dim. Statistics in double per row. The gain and
 * bias gradients sum over rows: they are split over the pool by columns, each column summed over
 * the rows in ascending order, so the result does not depend on the thread count. */
#include "autograd/kernels/kernels_impl.h"

#include <math.h>

typedef struct {
    int64_t n;
    const tg_float *x, *gain, *bias;
    double eps;
    tg_float *y, *mean, *rstd;
    const tg_float *dy;
    tg_float *dx, *dgain, *dbias;
    int64_t rows;
} ln_args;

static void ln_fwd_range(void *arg, size_t begin, size_t end) {
    const ln_args *a = arg;
    int64_t n = a->n;
    for (int64_t r = (int64_t)begin; r < (int64_t)end; r++) {
        const tg_float *x = a->x + r * n;
        tg_float *y = a->y + r * n;
        double mu = 0, var = 0;
        for (int64_t j = 0; j < n; j++) mu += x[j];
        mu /= (double)n;
        for (int64_t j = 0; j < n; j++) { double d = x[j] - mu; var += d * d; }
        var /= (double)n;
        double rs = 1.0 / sqrt(var + a->eps);
        a->mean[r] = (tg_float)mu;
        a->rstd[r] = (tg_float)rs;
        for (int64_t j = 0; j < n; j++) {
            double v = ((double)x[j] - mu) * rs;
            if (a->gain) v *= a->gain[j];
            if (a->bias) v += a->bias[j];
            y[j] = (tg_float)v;
        }
    }
}

void tg_k_layer_norm(tg_pool *pool, int64_t rows, int64_t n, const tg_float *x, const tg_float *gain,
                     const tg_float *bias, double eps, tg_float *y, tg_float *mean, tg_float *rstd) {
#if TG_K_HAVE_AVX2_FLOAT
    if (tg_k_fast()) { tg_k_layer_norm_avx2(pool, rows, n, x, gain, bias, eps, y, mean, rstd); return; }
#endif
    ln_args a = {.n = n, .x = x, .gain = gain, .bias = bias, .eps = eps, .y = y, .mean = mean,
                 .rstd = rstd};
    tg_pool_for(pool, (size_t)rows, (size_t)(1 + 4096 / (n + 1)), ln_fwd_range, &a);
}

static void ln_dx_range(void *arg, size_t begin, size_t end) {
    const ln_args *a = arg;
    int64_t n = a->n;
    for (int64_t r = (int64_t)begin; r < (int64_t)end; r++) {
        const tg_float *x = a->x + r * n, *dy = a->dy + r * n;
        tg_float *dx = a->dx + r * n;
        double mu = a->mean[r], rs = a->rstd[r];
        /* dxhat = dy * gain; dx = rs * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) */
        double s1 = 0, s2 = 0;
        for (int64_t j = 0; j < n; j++) {
            double g = a->gain ? (double)a->gain[j] : 1.0;
            double dxh = (double)dy[j] * g, xh = ((double)x[j] - mu) * rs;
            s1 += dxh;
            s2 += dxh * xh;
        }
        s1 /= (double)n;
        s2 /= (double)n;
        for (int64_t j = 0; j < n; j++) {
            double g = a->gain ? (double)a->gain[j] : 1.0;
            double dxh = (double)dy[j] * g, xh = ((double)x[j] - mu) * rs;
            dx[j] += (tg_float)(rs * (dxh - s1 - xh * s2));
        }
    }
}

static void ln_dparam_range(void *arg, size_t begin, size_t end) {
    const ln_args *a = arg;
    int64_t n = a->n;
    for (int64_t r = 0; r < a->rows; r++) {
        const tg_float *x = a->x + r * n, *dy = a->dy + r * n;
        double mu = a->mean[r], rs = a->rstd[r];
        for (int64_t j = (int64_t)begin; j < (int64_t)end; j++) {
            if (a->dgain) a->dgain[j] += (tg_float)((double)dy[j] * (((double)x[j] - mu) * rs));
            if (a->dbias) a->dbias[j] += dy[j];
        }
    }
}

void tg_k_layer_norm_backward(tg_pool *pool, int64_t rows, int64_t n, const tg_float *x,
                              const tg_float *gain, const tg_float *mean, const tg_float *rstd,
                              const tg_float *dy, tg_float *dx, tg_float *dgain, tg_float *dbias) {
#if TG_K_HAVE_AVX2_FLOAT
    if (tg_k_fast()) {
        tg_k_layer_norm_backward_avx2(pool, rows, n, x, gain, mean, rstd, dy, dx, dgain, dbias);
        return;
    }
#endif
    ln_args a = {.n = n, .x = x, .gain = gain, .mean = (tg_float *)mean, .rstd = (tg_float *)rstd,
                 .dy = dy, .dx = dx, .dgain = dgain, .dbias = dbias, .rows = rows};
    if (dx) tg_pool_for(pool, (size_t)rows, (size_t)(1 + 4096 / (n + 1)), ln_dx_range, &a);
    if (dgain || dbias) tg_pool_for(pool, (size_t)n, 16, ln_dparam_range, &a);
}
