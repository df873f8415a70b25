/* softmax_avx2.c: softmax / log_softmax rows (with the additive broadcast mask and the causal
 * limit) and their backward, 8 floats at a time. exp is tg_exp_ps (within 2 ulp); the row sums
 * are accumulated in double lanes; each row is done by one thread, so the bits do not depend on
 * the thread count. Same semantics as softmax.c: masked keys get probability 0 (log: -inf), a
 * row with every key masked is all zeros (log: all -inf). */
#include "autograd/kernels/simd_avx2.h"

#if TG_K_HAVE_AVX2_FLOAT

#include <math.h>

static TG_AVX2 void softmax_range(void *arg, size_t begin, size_t end) {
    const tg_softmax_args *a = arg;
    int64_t n = a->n;
    for (int64_t r = (int64_t)begin; r < (int64_t)end; r++) {
        const float *x = a->x + r * n;
        float *y = a->y + r * n;
        int64_t mstride = 0;
        const float *m = tg_k_softmax_row_mask(a, r, &mstride);
        int64_t limit = tg_k_softmax_row_limit(a, r);   /* keys [0, limit) allowed */
        /* y = x (times scale) + mask over the allowed keys, and their max */
        __m256 vmx = _mm256_set1_ps(-INFINITY), vsc = _mm256_set1_ps(a->scale);
        const bool mask_per_key = m && mstride != 0;   /* else one value for the row */
        const __m256 vmask = _mm256_set1_ps(m ? m[0] : 0.0f);
        int64_t j = 0;
        for (; j + 8 <= limit; j += 8) {
            __m256 v = _mm256_loadu_ps(x + j);
            if (a->scaled) v = _mm256_mul_ps(vsc, v);
            if (m) v = _mm256_add_ps(v, mask_per_key ? _mm256_loadu_ps(m + j) : vmask);
            _mm256_storeu_ps(y + j, v);
            vmx = _mm256_max_ps(vmx, v);
        }
        float mx = tg_hmax_ps(vmx);
        for (; j < limit; j++) {
            float v = (a->scaled ? a->scale * x[j] : x[j]) + (m ? m[j * mstride] : 0.0f);
            y[j] = v;
            if (v > mx) mx = v;
        }
        if (mx == -INFINITY) {   /* nothing allowed */
            for (j = 0; j < n; j++) y[j] = a->log ? -INFINITY : 0;
            continue;
        }
        /* e = exp(y - mx), summed in double */
        __m256 vm = _mm256_set1_ps(mx);
        __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
        j = 0;
        if (a->log) {
            for (; j + 8 <= limit; j += 8)
                tg_acc_pd(tg_exp_ps(_mm256_sub_ps(_mm256_loadu_ps(y + j), vm)), &s0, &s1);
        } else {
            for (; j + 8 <= limit; j += 8) {
                __m256 e = tg_exp_ps(_mm256_sub_ps(_mm256_loadu_ps(y + j), vm));
                _mm256_storeu_ps(y + j, e);
                tg_acc_pd(e, &s0, &s1);
            }
        }
        double s = tg_hsum_pd(s0, s1);
        int64_t jv = j;
        for (; j < limit; j++) {
            double e = exp((double)y[j] - mx);
            if (!a->log) y[j] = (float)e;
            s += e;
        }
        if (a->log) {
            float lse = (float)(mx + log(s));
            __m256 vl = _mm256_set1_ps(lse);
            for (j = 0; j + 8 <= limit; j += 8)
                _mm256_storeu_ps(y + j, _mm256_sub_ps(_mm256_loadu_ps(y + j), vl));
            for (; j < limit; j++) y[j] -= lse;
            for (; j < n; j++) y[j] = -INFINITY;
        } else {
            float inv = (float)(1.0 / s);
            __m256 vi = _mm256_set1_ps(inv);
            for (j = 0; j < jv; j += 8) _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_loadu_ps(y + j), vi));
            for (; j < limit; j++) y[j] *= inv;
            for (; j < n; j++) y[j] = 0;
        }
    }
}

void tg_k_softmax_avx2(tg_pool *pool, const tg_softmax_args *a) {
    tg_pool_for(pool, (size_t)a->rows, (size_t)(1 + 4096 / (a->n + 1)), softmax_range, (void *)a);
}

typedef struct {
    int64_t n;
    const float *y, *dy;
    float *dx;
    bool log;
    float scale;
} softmax_bwd;

static TG_AVX2 void softmax_bwd_range(void *arg, size_t begin, size_t end) {
    const softmax_bwd *a = arg;
    int64_t n = a->n;
    for (int64_t r = (int64_t)begin; r < (int64_t)end; r++) {
        const float *y = a->y + r * n, *dy = a->dy + r * n;
        float *dx = a->dx + r * n;
        __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
        int64_t j = 0;
        if (a->log) {
            for (; j + 8 <= n; j += 8) tg_acc_pd(_mm256_loadu_ps(dy + j), &s0, &s1);
            double s = tg_hsum_pd(s0, s1);
            for (; j < n; j++) s += dy[j];
            __m256 vs = _mm256_set1_ps((float)s);
            for (j = 0; j + 8 <= n; j += 8) {
                __m256 p = tg_exp_ps(_mm256_loadu_ps(y + j));
                __m256 d = _mm256_fnmadd_ps(p, vs, _mm256_loadu_ps(dy + j));
                _mm256_storeu_ps(dx + j, _mm256_add_ps(_mm256_loadu_ps(dx + j), d));
            }
            for (; j < n; j++) dx[j] += (float)((double)dy[j] - exp((double)y[j]) * s);
        } else {
            for (; j + 8 <= n; j += 8)
                tg_acc_pd(_mm256_mul_ps(_mm256_loadu_ps(dy + j), _mm256_loadu_ps(y + j)), &s0, &s1);
            double s = tg_hsum_pd(s0, s1);
            for (; j < n; j++) s += (double)dy[j] * y[j];
            __m256 vs = _mm256_set1_ps((float)s), vsc = _mm256_set1_ps(a->scale);
            bool scaled = a->scale != 1;
            for (j = 0; j + 8 <= n; j += 8) {
                __m256 d = _mm256_mul_ps(_mm256_loadu_ps(y + j), _mm256_sub_ps(_mm256_loadu_ps(dy + j), vs));
                if (scaled) d = _mm256_mul_ps(vsc, d);
                _mm256_storeu_ps(dx + j, _mm256_add_ps(_mm256_loadu_ps(dx + j), d));
            }
            for (; j < n; j++) {
                float d = (float)((double)y[j] * ((double)dy[j] - s));
                dx[j] += scaled ? a->scale * d : d;
            }
        }
    }
}

void tg_k_softmax_backward_avx2(tg_pool *pool, int64_t rows, int64_t n, const float *y,
                                const float *dy, float *dx, bool log, float scale) {
    softmax_bwd a = {n, y, dy, dx, log, scale};   /* log_softmax reads no scale */
    tg_pool_for(pool, (size_t)rows, (size_t)(1 + 4096 / (n + 1)), softmax_bwd_range, &a);
}

#endif
