/* dropout.c: inverted dropout's mask and scaling, split over the pool in contiguous ranges. The
 * portable loop draws through tg__uniform itself, so it is the stream's definition. */
#include "autograd/kernels/kernels_impl.h"
#include "autograd/internal.h"

/* A hash per element: cheaper work than an add, so smaller ranges are worth a thread. */
#define MIN_CHUNK 8192

typedef struct {
    const tg_float *x, *dy;
    tg_float *y;
    uint8_t *keep;
    const uint8_t *ckeep;
    double p;
    tg_float scale;
    uint64_t seed, counter;
} dropout_args;

static void dropout_range(void *arg, size_t begin, size_t end) {
    const dropout_args *a = arg;
    for (size_t i = begin; i < end; i++) {
        uint8_t k = tg__uniform(a->seed, a->counter + (uint64_t)i) >= a->p;
        a->keep[i] = k;
        a->y[i] = k ? a->x[i] * a->scale : 0;
    }
}

void tg_k_dropout(tg_pool *pool, int64_t n, const tg_float *x, double p, tg_float scale,
                  uint64_t seed, uint64_t counter, uint8_t *keep, tg_float *y) {
#if TG_K_HAVE_AVX2_FLOAT
    if (tg_k_fast()) { tg_k_dropout_avx2(pool, n, x, p, scale, seed, counter, keep, y); return; }
#endif
    dropout_args a = {.x = x, .y = y, .keep = keep, .p = p, .scale = scale, .seed = seed,
                      .counter = counter};
    tg_pool_for(pool, (size_t)n, MIN_CHUNK, dropout_range, &a);
}

static void dropout_bwd_range(void *arg, size_t begin, size_t end) {
    const dropout_args *a = arg;
    for (size_t i = begin; i < end; i++)
        if (a->ckeep[i]) a->y[i] += a->dy[i] * a->scale;
}

void tg_k_dropout_backward(tg_pool *pool, int64_t n, const uint8_t *keep, const tg_float *dy,
                           tg_float scale, tg_float *dx) {
#if TG_K_HAVE_AVX2_FLOAT
    if (tg_k_fast()) { tg_k_dropout_backward_avx2(pool, n, keep, dy, scale, dx); return; }
#endif
    dropout_args a = {.dy = dy, .y = dx, .ckeep = keep, .scale = scale};
    tg_pool_for(pool, (size_t)n, 16384, dropout_bwd_range, &a);
}
