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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* As tg_pool_for, but the ranges' lengths follow each thread's speed on the calls before (items
 * a second, smoothed): a thread slowed by other load on its CPU gets fewer items, so that the
 * parts end together. For fn whose results do not depend on where the ranges split (the GEMM:
 * each element is one chain, whoever computes it), since the split changes from call to call. */
void tg_pool_for_balanced(tg_pool *pool, size_t n, size_t min_chunk, tg_range_fn fn, void *arg);

/* How evenly tg_pool_for's work was shared (`bench step --profile`), since tg_pool_stats_on turned
 * counting on: the calls split over two threads or more (sections), their time on the caller's
 * clock, each part's time in fn summed over the threads (busy), and the time threads sat waiting at
 * a section's end for its slowest part (wait: for each section, parts x the slowest part's time,
 * less the parts' sum). wait / (busy + wait) is the share of thread time lost to imbalance. */
typedef struct tg_pool_stats {
    int64_t sections;
    double wall_s, busy_s, wait_s;
} tg_pool_stats;

/* on: counting from zero (two clock reads a part a section); off: no counting. */
void tg_pool_stats_on(tg_pool *pool, bool on);
tg_pool_stats tg_pool_stats_read(const tg_pool *pool);

/* The thread count asked for by TAPEGRAD_THREADS, else the number of online cores. */
int tg_default_threads(void);

#ifdef __cplusplus
}
#endif

#endif /* TG_POOL_H */
