/* cross_entropy.c: label-smoothed cross-entropy fused with log_softmax, per row of V logits.
 * Target distribution q = (1 - eps) onehot(t) + eps / V, as torch's CrossEntropyLoss(
 * label_smoothing=eps): loss_r = lse - (1 - eps) x_t - eps mean(x). */
#include "autograd/kernels/kernels_impl.h"

#include <math.h>
#include <string.h>

typedef struct {
    int64_t V;
    const tg_float *logits;
    const int32_t *targets;
    double eps, scale;
    int ignore;
    tg_float *lse;
    double *loss, *nll;   /* nll may be NULL */
    tg_float *dlogits;
    bool accumulate;
} ce_args;

static void ce_fwd_range(void *arg, size_t begin, size_t end) {
    const ce_args *a = arg;
    int64_t V = a->V;
    for (int64_t r = (int64_t)begin; r < (int64_t)end; r++) {
        const tg_float *x = a->logits + r * V;
        double mx = -INFINITY, s = 0, sx = 0;
        for (int64_t j = 0; j < V; j++) if (x[j] > mx) mx = x[j];
        for (int64_t j = 0; j < V; j++) { s += exp((double)x[j] - mx); sx += x[j]; }
        double lse = mx + log(s);
        a->lse[r] = (tg_float)lse;
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

int64_t tg_k_cross_entropy(tg_pool *pool, int64_t rows, int64_t V, const tg_float *logits,
                           const int32_t *targets, double smoothing, int ignore_index,
                           tg_float *lse, double *loss_rows, double *nll_rows) {
#if TG_K_HAVE_AVX2_FLOAT
    if (tg_k_fast())
        return tg_k_cross_entropy_avx2(pool, rows, V, logits, targets, smoothing, ignore_index, lse,
                                       loss_rows, nll_rows);
#endif
    ce_args a = {.V = V, .logits = logits, .targets = targets, .eps = smoothing,
                 .ignore = ignore_index, .lse = lse, .loss = loss_rows, .nll = nll_rows};
    tg_pool_for(pool, (size_t)rows, (size_t)(1 + 4096 / (V + 1)), ce_fwd_range, &a);
    int64_t count = 0;
    for (int64_t r = 0; r < rows; r++) count += targets[r] != ignore_index;
    return count;
}

static void ce_bwd_range(void *arg, size_t begin, size_t end) {
    const ce_args *a = arg;
    int64_t V = a->V;
    double off = a->eps / (double)V;
    for (int64_t r = (int64_t)begin; r < (int64_t)end; r++) {
        int t = a->targets[r];
        const tg_float *x = a->logits + r * V;
        tg_float *dx = a->dlogits + r * V;
        if (t == a->ignore) {
            if (!a->accumulate) memset(dx, 0, (size_t)V * sizeof *dx);
            continue;
        }
        double lse = a->lse[r];
        for (int64_t j = 0; j < V; j++) {
            double p = exp((double)x[j] - lse);
            tg_float base = a->accumulate ? dx[j] : 0;
            dx[j] = base + (tg_float)(a->scale * (p - off - (j == t ? 1 - a->eps : 0)));
        }
    }
}

void tg_k_cross_entropy_backward(tg_pool *pool, int64_t rows, int64_t V, const tg_float *logits,
                                 const int32_t *targets, double smoothing, int ignore_index,
                                 const tg_float *lse, double scale, bool accumulate,
                                 tg_float *dlogits) {
#if TG_K_HAVE_AVX2_FLOAT
    if (tg_k_fast()) {
        tg_k_cross_entropy_backward_avx2(pool, rows, V, logits, targets, smoothing, ignore_index,
                                         lse, scale, accumulate, dlogits);
        return;
    }
#endif
    ce_args a = {.V = V, .logits = logits, .targets = targets, .eps = smoothing, .scale = scale,
                 .ignore = ignore_index, .lse = (tg_float *)lse, .dlogits = dlogits,
                 .accumulate = accumulate};
    tg_pool_for(pool, (size_t)rows, (size_t)(1 + 4096 / (V + 1)), ce_bwd_range, &a);
}
