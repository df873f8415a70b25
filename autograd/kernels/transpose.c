/* transpose.c: the permutation copy behind the transpose op (and its backward). Shapes are
 * padded to 4 dims at the front; the source's last dim is walked contiguously, so when it is not
 * one of the swapped dims (attention's head split and merge) both sides are contiguous rows and
 * the copy vectorises. Rows of the source are split over the pool. */
#include "autograd/kernels/kernels_impl.h"

typedef struct {
    int sh[TG_MAX_DIMS];        /* source shape, padded to 4 dims */
    int64_t st[TG_MAX_DIMS];    /* source strides */
    int64_t ds[TG_MAX_DIMS];    /* destination stride for each source dim */
    const tg_float *src;
    tg_float *dst;
    bool acc;
} perm_args;

static void perm_range(void *arg, size_t begin, size_t end) {
    const perm_args *a = arg;
    int64_t n3 = a->sh[3], d3 = a->ds[3];
    for (int64_t r = (int64_t)begin; r < (int64_t)end; r++) {
        int64_t i2 = r % a->sh[2], i1 = r / a->sh[2] % a->sh[1], i0 = r / a->sh[2] / a->sh[1];
        const tg_float *restrict s = a->src + i0 * a->st[0] + i1 * a->st[1] + i2 * a->st[2];
        tg_float *restrict d = a->dst + i0 * a->ds[0] + i1 * a->ds[1] + i2 * a->ds[2];
        if (d3 == 1) {
            if (a->acc) for (int64_t i = 0; i < n3; i++) d[i] += s[i];
            else for (int64_t i = 0; i < n3; i++) d[i] = s[i];
        } else {
            if (a->acc) for (int64_t i = 0; i < n3; i++) d[i * d3] += s[i];
            else for (int64_t i = 0; i < n3; i++) d[i * d3] = s[i];
        }
    }
}

void tg_k_transpose(tg_pool *pool, int ndim, const int *shape, int d0, int d1, const tg_float *src,
                    tg_float *dst, bool acc) {
    perm_args a = {.sh = {1, 1, 1, 1}, .src = src, .dst = dst, .acc = acc};
    int off = TG_MAX_DIMS - ndim;
    for (int d = 0; d < ndim; d++) a.sh[off + d] = shape[d];
    d0 += off;
    d1 += off;
    int dsh[TG_MAX_DIMS];   /* destination shape */
    for (int d = 0; d < TG_MAX_DIMS; d++) dsh[d] = a.sh[d];
    dsh[d0] = a.sh[d1];
    dsh[d1] = a.sh[d0];
    int64_t dt[TG_MAX_DIMS];
    a.st[3] = dt[3] = 1;
    for (int d = 2; d >= 0; d--) { a.st[d] = a.st[d + 1] * a.sh[d + 1]; dt[d] = dt[d + 1] * dsh[d + 1]; }
    for (int d = 0; d < TG_MAX_DIMS; d++) a.ds[d] = dt[d];
    a.ds[d0] = dt[d1];
    a.ds[d1] = dt[d0];
    int64_t rows = (int64_t)a.sh[0] * a.sh[1] * a.sh[2];
    if (rows == 0 || a.sh[3] == 0) return;
    tg_pool_for(pool, (size_t)rows, (size_t)(1 + 16384 / a.sh[3]), perm_range, &a);
}
