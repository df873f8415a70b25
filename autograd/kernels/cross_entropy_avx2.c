/* cross_entropy_avx2.c: label-smoothed cross-entropy rows over V logits, 8 floats at a time:
 * log-sum-exp with tg_exp_ps and double-lane sums, and the backward softmax - q. One thread per
 * row, fixed lane order: the bits do not depend on the thread count. Formulas as cross_entropy.c. */
#include "autograd/kernels/simd_avx2.h"

#if TG_K_HAVE_AVX2_FLOAT

#include <math.h>
#include <string.h>

typedef struct {
    int64_t V;
    const float *logits;
    const int32_t *targets;
    double eps, scale;
    int ignore;
    float *lse;
    double *loss, *nll;   /* nll may be NULL */
    float *dlogits;
    bool accumulate;
} ce_args;

static TG_AVX2 void ce_fwd_range(void *arg, size_t begin, size_t end) {
    const ce_args *a = arg;
    int64_t V = a->V;
    for (int64_t r = (int64_t)begin; r < (int64_t)end; r++) {
        const float *x = a->logits + r * V;
        __m256 vmx = _mm256_set1_ps(-INFINITY);
        int64_t j = 0;
        for (; j + 8 <= V; j += 8) vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(x + j));
        float mx = tg_hmax_ps(vmx);
        for (; j < V; j++) if (x[j] > mx) mx = x[j];
        __m256 vm = _mm256_set1_ps(mx);
        __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
        __m256d t0 = _mm256_setzero_pd(), t1 = _mm256_setzero_pd();
        for (j = 0; j + 8 <= V; j += 8) {
            __m256 v = _mm256_loadu_ps(x + j);
            tg_acc_pd(tg_exp_ps(_mm256_sub_ps(v, vm)), &s0, &s1);
            tg_acc_pd(v, &t0, &t1);
        }
        double s = tg_hsum_pd(s0, s1), sx = tg_hsum_pd(t0, t1);
        for (; j < V; j++) { s += exp((double)x[j] - mx); sx += x[j]; }
        double lse = mx + log(s);
        a->lse[r] = (float)lse;
        int t = a->targets[r];
        if (t == a->ignore) {
            a->loss[r] = 0;
            if (a->nll) a->nll[r] = 0;
            continue;
        }
        a->loss[r] = lse - (1 - a->eps) * (double)x[t] - a->eps * sx / (double)V;
        if (a->nll) a->nll[r] = lse - (double)x[t];
    }
}

int64_t tg_k_cross_entropy_avx2(tg_pool *pool, int64_t rows, int64_t V, const float *logits,
                                const int32_t *targets, double smoothing, int ignore_index,
                                float *lse, double *loss_rows, double *nll_rows) {
    ce_args a = {.V = V, .logits = logits, .targets = targets, .eps = smoothing,
                 .ignore = ignore_index, .lse = lse, .loss = loss_rows, .nll = nll_rows};
    tg_pool_for(pool, (size_t)rows, (size_t)(1 + 4096 / (V + 1)), ce_fwd_range, &a);
    int64_t count = 0;
    for (int64_t r = 0; r < rows; r++) count += targets[r] != ignore_index;
    return count;
}

static TG_AVX2 void ce_bwd_range(void *arg, size_t begin, size_t end) {
    const ce_args *a = arg;
    int64_t V = a->V;
    double off = a->eps / (double)V;
    const __m256 vs = _mm256_set1_ps((float)a->scale), voff = _mm256_set1_ps((float)off);
    for (int64_t r = (int64_t)begin; r < (int64_t)end; r++) {
        int t = a->targets[r];
        const float *x = a->logits + r * V;
        float *dx = a->dlogits + r * V;
        if (t == a->ignore) {
            if (!a->accumulate) memset(dx, 0, (size_t)V * sizeof *dx);
            continue;
        }
        bool acc = a->accumulate;
        float dxt = acc ? dx[t] : 0;   /* the target's term is redone below in double */
        float xt = x[t];               /* (read first: dx may be x itself) */
        __m256 vl = _mm256_set1_ps(a->lse[r]);
        int64_t j = 0;
        for (; j + 8 <= V; j += 8) {   /* (0 + d, not d: the bits of accumulating into zeros) */
            __m256 p = tg_exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), vl));
            __m256 d = _mm256_mul_ps(vs, _mm256_sub_ps(p, voff));
            __m256 base = acc ? _mm256_loadu_ps(dx + j) : _mm256_setzero_ps();
            _mm256_storeu_ps(dx + j, _mm256_add_ps(base, d));
        }
        double lse = a->lse[r];
        for (; j < V; j++)
            dx[j] = (acc ? dx[j] : 0) + (float)(a->scale * (exp((double)x[j] - lse) - off));
        dx[t] = dxt + (float)(a->scale * (exp((double)xt - lse) - off - (1 - a->eps)));
    }
}

void tg_k_cross_entropy_backward_avx2(tg_pool *pool, int64_t rows, int64_t V, const float *logits,
                                      const int32_t *targets, double smoothing, int ignore_index,
                                      const float *lse, double scale, bool accumulate,
                                      float *dlogits) {
    ce_args a = {.V = V, .logits = logits, .targets = targets, .eps = smoothing, .scale = scale,
                 .ignore = ignore_index, .lse = (float *)lse, .dlogits = dlogits,
                 .accumulate = accumulate};
    tg_pool_for(pool, (size_t)rows, (size_t)(1 + 4096 / (V + 1)), ce_bwd_range, &a);
}

#endif
