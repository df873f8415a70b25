/* pool.h: one persistent pthread pool. Kernels split their own work over it (by output rows);
 * nothing else starts threads. Work is split into contiguous ranges, so a kernel that computes
 * each output element in one fixed order gives the same bits for any thread count.
 *
 *   tg_pool *pool = tg_pool_new(0);            // 0: TAPEGRAD_THREADS, else the number of cores
 *   tg_pool_for(pool, n_rows, 64, row_fn, &args);  // row_fn(&args, begin, end), >= 64 rows each
 *   tg_pool_free(pool);
 */
#ifndef TG_POOL_H
#define TG_POOL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_pool tg_pool;

/* fn handles items [begin, end). */
typedef void (*tg_range_fn)(void *arg, size_t begin, size_t end);

/* n_threads <= 0: the TAPEGRAD_THREADS environment variable if set, else the number of cores.
 * Returns NULL when threads cannot be started. */
tg_pool *tg_pool_new(int n_threads);
void tg_pool_free(tg_pool *pool);
int tg_pool_threads(const tg_pool *pool);

/* Runs fn over [0, n) split into at most tg_pool_threads() contiguous ranges, the calling thread
 * taking the first; returns when all are done. pool may be NULL (runs inline). Small n (below
 * min_chunk items a thread) runs on fewer threads. Not reentrant: fn must not call tg_pool_for. */
void tg_pool_for(tg_pool *pool, size_t n, size_t min_chunk, tg_range_fn fn, void *arg);

/* The thread count asked for by TAPEGRAD_THREADS, else the number of online cores. */
int tg_default_threads(void);

#ifdef __cplusplus
}
#endif

#endif /* TG_POOL_H */
