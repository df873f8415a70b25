/* reduce.c: reductions in an order that does not depend on the thread count. */
#include "autograd/kernels/kernels_impl.h"

typedef struct { int64_t rows, n; const tg_float *src; tg_float *dst; } colsum_args;

static void colsum_range(void *arg, size_t begin, size_t end) {
    const colsum_args *a = arg;
    for (int64_t r = 0; r < a->rows; r++) {
        const tg_float *s = a->src + r * a->n;
        for (int64_t j = (int64_t)begin; j < (int64_t)end; j++) a->dst[j] += s[j];
    }
}

void tg_k_colsum(tg_pool *pool, int64_t rows, int64_t n, const tg_float *src, tg_float *dst) {
#if TG_K_HAVE_AVX2_FLOAT
    if (tg_k_fast()) { tg_k_colsum_avx2(pool, rows, n, src, dst); return; }
#endif
    colsum_args a = {rows, n, src, dst};
    tg_pool_for(pool, (size_t)n, (size_t)(1 + 4096 / (rows + 1)), colsum_range, &a);
}

enum { SUM_CHUNK = 4096, SUM_MAX_CHUNKS = 1 << 16 };

typedef struct { int64_t n, chunk; const tg_float *x; double *partial; } sum_args;

static void sum_range(void *arg, size_t begin, size_t end) {
    const sum_args *a = arg;
    for (size_t c = begin; c < end; c++) {
        int64_t lo = (int64_t)c * a->chunk, hi = lo + a->chunk < a->n ? lo + a->chunk : a->n;
        double s = 0;
        for (int64_t i = lo; i < hi; i++) s += a->x[i];
        a->partial[c] = s;
    }
}

double tg_k_sum(tg_pool *pool, int64_t n, const tg_float *x) {
    /* fixed chunks (a function of n only), partial sums added in chunk order */
    int64_t chunk = SUM_CHUNK;
    while ((n + chunk - 1) / chunk > SUM_MAX_CHUNKS) chunk *= 2;
    int64_t nc = (n + chunk - 1) / chunk;
    if (nc <= 1) {
        double s = 0;
        for (int64_t i = 0; i < n; i++) s += x[i];
        return s;
    }
    double partial[256];
    double total = 0;
    /* at most 256 chunks a round, so the partials fit on the stack */
    for (int64_t c0 = 0; c0 < nc; c0 += 256) {
        int64_t cn = nc - c0 < 256 ? nc - c0 : 256;
        sum_args a = {n - c0 * chunk, chunk, x + c0 * chunk, partial};
        tg_pool_for(pool, (size_t)cn, 1, sum_range, &a);
        for (int64_t c = 0; c < cn; c++) total += partial[c];
    }
    return total;
}
