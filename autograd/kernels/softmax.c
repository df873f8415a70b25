/* softmax.c: softmax / log_softmax over the last dim, with an additive broadcast mask and a
 * causal limit. Masked keys (-inf after the mask, or past the causal limit) get probability 0; a
 * row with every key masked is all zeros. Rows are independent: split over the pool. */
#include "autograd/kernels/kernels_impl.h"

#include <math.h>

static void softmax_range(void *arg, size_t begin, size_t end) {
    const tg_softmax_args *a = arg;
    int64_t n = a->n;
    for (int64_t r = (int64_t)begin; r < (int64_t)end; r++) {
        const tg_float *x = a->x + r * n;
        tg_float *y = a->y + r * n;
        int64_t mstride = 0;
        const tg_float *m = tg_k_softmax_row_mask(a, r, &mstride);
        int64_t limit = tg_k_softmax_row_limit(a, r);   /* keys [0, limit) allowed */
        double mx = -INFINITY;
        for (int64_t j = 0; j < limit; j++) {
            tg_float xs = a->scaled ? a->scale * x[j] : x[j];
            double v = (double)xs + (m ? (double)m[j * mstride] : 0.0);
            y[j] = (tg_float)v;
            if (v > mx) mx = v;
        }
        if (mx == -INFINITY) {   /* nothing allowed */
            for (int64_t j = 0; j < n; j++) y[j] = a->log ? (tg_float)-INFINITY : 0;
            continue;
        }
        double s = 0;
        for (int64_t j = 0; j < limit; j++) s += exp((double)y[j] - mx);
        if (a->log) {
            double lse = mx + log(s);
            for (int64_t j = 0; j < limit; j++) y[j] = (tg_float)((double)y[j] - lse);
            for (int64_t j = limit; j < n; j++) y[j] = (tg_float)-INFINITY;
        } else {
            double inv = 1.0 / s;
            for (int64_t j = 0; j < limit; j++) y[j] = (tg_float)(exp((double)y[j] - mx) * inv);
            for (int64_t j = limit; j < n; j++) y[j] = 0;
        }
    }
}

void tg_k_softmax(tg_pool *pool, const tg_softmax_args *a) {
#if TG_K_HAVE_AVX2_FLOAT
    if (tg_k_fast()) { tg_k_softmax_avx2(pool, a); return; }
#endif
    tg_pool_for(pool, (size_t)a->rows, (size_t)(1 + 4096 / (a->n + 1)), softmax_range, (void *)a);
}

typedef struct {
    int64_t n;
    const tg_float *y, *dy;
    tg_float *dx;
    bool log;
    tg_float scale;
} softmax_bwd;

static void softmax_bwd_range(void *arg, size_t begin, size_t end) {
    const softmax_bwd *a = arg;
    int64_t n = a->n;
    for (int64_t r = (int64_t)begin; r < (int64_t)end; r++) {
        const tg_float *y = a->y + r * n, *dy = a->dy + r * n;
        tg_float *dx = a->dx + r * n;
        double s = 0;
        if (a->log) {
            for (int64_t j = 0; j < n; j++) s += dy[j];
            for (int64_t j = 0; j < n; j++)
                dx[j] += (tg_float)((double)dy[j] - exp((double)y[j]) * s);
        } else {
            for (int64_t j = 0; j < n; j++) s += (double)dy[j] * y[j];
            if (a->scale == 1)
                for (int64_t j = 0; j < n; j++) dx[j] += (tg_float)((double)y[j] * ((double)dy[j] - s));
            else
                for (int64_t j = 0; j < n; j++) dx[j] += a->scale * (tg_float)((double)y[j] * ((double)dy[j] - s));
        }
    }
}

void tg_k_softmax_backward(tg_pool *pool, int64_t rows, int64_t n, const tg_float *y,
                           const tg_float *dy, tg_float *dx, bool log, tg_float scale) {
#if TG_K_HAVE_AVX2_FLOAT
    if (tg_k_fast()) { tg_k_softmax_backward_avx2(pool, rows, n, y, dy, dx, log, scale); return; }
#endif
    softmax_bwd a = {n, y, dy, dx, log, scale};   /* log_softmax reads no scale */
    tg_pool_for(pool, (size_t)rows, (size_t)(1 + 4096 / (n + 1)), softmax_bwd_range, &a);
}
