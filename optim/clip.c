/* clip.c: global-norm gradient clipping and the NaN/Inf check, over one flat buffer.
 *
 * Reductions run over chunks whose boundaries depend only on n (never on the thread count):
 * each chunk's sum is computed by one thread in a fixed order, and the chunk sums are added in
 * chunk order afterwards, so 1 and 2 threads give the same bits.
 */
#include "optim/optim.h"

#include <math.h>

/* At most CLIP_MAX_CHUNKS chunks (their sums live on the stack), each of at least
 * CLIP_MIN_CHUNK elements so a chunk is worth handing to a thread. */
#define CLIP_MIN_CHUNK ((size_t)1 << 14)
#define CLIP_MAX_CHUNKS 1024
#define SCALE_MIN_CHUNK ((size_t)1 << 15)

static size_t chunk_count(size_t n) {
    size_t c = (n + CLIP_MIN_CHUNK - 1) / CLIP_MIN_CHUNK;
    if (c > CLIP_MAX_CHUNKS) c = CLIP_MAX_CHUNKS;
    return c ? c : 1;
}

static void chunk_bounds(size_t n, size_t chunks, size_t c, size_t *b, size_t *e) {
    /* n * c may overflow size_t only for n > 2^54 elements, far beyond any buffer. */
    *b = n * c / chunks;
    *e = n * (c + 1) / chunks;
}

typedef struct {
    const tg_float *g;
    size_t n, chunks;
    double *sums;  /* (chunks) */
} reduce_job;

/* Four interleaved accumulators (a fixed pattern, so still deterministic) keep the adds from
 * waiting on each other. */
static double sum_squares(const tg_float *g, size_t b, size_t e) {
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    size_t i = b;
    for (; i + 4 <= e; i += 4) {
        double x0 = g[i], x1 = g[i + 1], x2 = g[i + 2], x3 = g[i + 3];
        a0 += x0 * x0;
        a1 += x1 * x1;
        a2 += x2 * x2;
        a3 += x3 * x3;
    }
    for (; i < e; i++) {
        double x = g[i];
        a0 += x * x;
    }
    return (a0 + a1) + (a2 + a3);
}

static void norm_fn(void *arg, size_t cb, size_t ce) {
    reduce_job *j = arg;
    for (size_t c = cb; c < ce; c++) {
        size_t b, e;
        chunk_bounds(j->n, j->chunks, c, &b, &e);
        j->sums[c] = sum_squares(j->g, b, e);
    }
}

static void nonfinite_fn(void *arg, size_t cb, size_t ce) {
    reduce_job *j = arg;
    for (size_t c = cb; c < ce; c++) {
        size_t b, e;
        chunk_bounds(j->n, j->chunks, c, &b, &e);
        size_t bad = 0;
        for (size_t i = b; i < e; i++) bad += !isfinite(j->g[i]);
        j->sums[c] = (double)bad;  /* exact: a chunk is far below 2^53 elements */
    }
}

static double reduce(const tg_float *g, size_t n, tg_pool *pool, tg_range_fn fn) {
    if (n == 0) return 0.0;
    double sums[CLIP_MAX_CHUNKS];
    reduce_job j = {g, n, chunk_count(n), sums};
    tg_pool_for(pool, j.chunks, 1, fn, &j);
    double total = 0.0;
    for (size_t c = 0; c < j.chunks; c++) total += sums[c];
    return total;
}

double tg_grad_norm(const tg_float *g, size_t n, tg_pool *pool) {
    return sqrt(reduce(g, n, pool, norm_fn));
}

size_t tg_grad_count_nonfinite(const tg_float *g, size_t n, tg_pool *pool) {
    return (size_t)reduce(g, n, pool, nonfinite_fn);
}

typedef struct {
    tg_float *g;
    tg_float s;
} scale_job;

static void scale_fn(void *arg, size_t b, size_t e) {
    scale_job *j = arg;
    tg_float *restrict g = j->g;
    const tg_float s = j->s;
    for (size_t i = b; i < e; i++) g[i] = g[i] * s;
}

tg_status tg_clip_grad_norm(tg_float *g, size_t n, double max_norm, tg_pool *pool,
                            double *norm_out, tg_err *err) {
    if (norm_out) *norm_out = 0.0;
    if (!(max_norm >= 0.0))
        return tg_err_set(err, TG_ERR_ARG,
                          "clip: max_norm = %g, expected a value >= 0 (0: no clipping)", max_norm);
    if (n > 0 && !g) return tg_err_set(err, TG_ERR_ARG, "clip: gradient buffer is NULL");
    double norm = tg_grad_norm(g, n, pool);
    if (norm_out) *norm_out = norm;
    if (!isfinite(norm))
        return tg_err_set(err, TG_ERR_NUMERIC, "clip: gradient norm is %g; gradients left as they are",
                          norm);
    if (max_norm == 0.0) return TG_OK;
    /* torch.nn.utils.clip_grad_norm_: multiply by min(1, max_norm / (norm + 1e-6)); a factor of
     * 1 changes nothing, so the multiply is skipped then. */
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
        scale_job j = {g, (tg_float)coef};
        tg_pool_for(pool, n, SCALE_MIN_CHUNK, scale_fn, &j);
    }
    return TG_OK;
}
