/* pool.c: persistent worker threads woken by a generation counter under one mutex. */
#include "autograd/pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define TG_POOL_MAX 64

struct tg_pool {
    int n;                     /* threads including the caller */
    pthread_t threads[TG_POOL_MAX];
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    unsigned long generation;  /* bumped for each job */
    int pending;               /* workers still running the current job */
    int quit;
    /* the current job */
    tg_range_fn fn;
    void *arg;
    size_t n_items;
    int n_parts;
};

typedef struct { tg_pool *pool; int index; } worker_arg;

static void part_range(size_t n, int parts, int i, size_t *b, size_t *e) {
    *b = n * (size_t)i / (size_t)parts;
    *e = n * (size_t)(i + 1) / (size_t)parts;
}

static void *worker_main(void *p) {
    worker_arg *wa = p;
    tg_pool *pool = wa->pool;
    int index = wa->index;
    free(wa);
    unsigned long seen = 0;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (pool->generation == seen && !pool->quit) pthread_cond_wait(&pool->wake, &pool->mu);
        if (pool->quit) break;
        seen = pool->generation;
        tg_range_fn fn = pool->fn;
        void *arg = pool->arg;
        size_t n = pool->n_items;
        int parts = pool->n_parts;
        pthread_mutex_unlock(&pool->mu);
        if (index < parts) {
            size_t b, e;
            part_range(n, parts, index, &b, &e);
            if (e > b) fn(arg, b, e);
        }
        pthread_mutex_lock(&pool->mu);
        if (--pool->pending == 0) pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

int tg_default_threads(void) {
    const char *env = getenv("TAPEGRAD_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v > 0 && v <= TG_POOL_MAX) return (int)v;
    }
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    if (c < 1) c = 1;
    if (c > TG_POOL_MAX) c = TG_POOL_MAX;
    return (int)c;
}

tg_pool *tg_pool_new(int n_threads) {
    if (n_threads <= 0) n_threads = tg_default_threads();
    if (n_threads > TG_POOL_MAX) n_threads = TG_POOL_MAX;
    tg_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n = n_threads;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) { pool->n = i; tg_pool_free(pool); return NULL; }
        wa->pool = pool;
        wa->index = i;
        if (pthread_create(&pool->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            pool->n = i;
            tg_pool_free(pool);
            return NULL;
        }
    }
    return pool;
}

void tg_pool_free(tg_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    pool->quit = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n; i++) pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    free(pool);
}

int tg_pool_threads(const tg_pool *pool) { return pool ? pool->n : 1; }

void tg_pool_for(tg_pool *pool, size_t n, size_t min_chunk, tg_range_fn fn, void *arg) {
    if (n == 0) return;
    if (min_chunk < 1) min_chunk = 1;
    int parts = pool ? pool->n : 1;
    if ((size_t)parts > n / min_chunk) parts = (int)(n / min_chunk);
    if (parts < 1) parts = 1;
    if (parts == 1) { fn(arg, 0, n); return; }
    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->arg = arg;
    pool->n_items = n;
    pool->n_parts = parts;
    pool->pending = pool->n - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    size_t b, e;
    part_range(n, parts, 0, &b, &e);
    fn(arg, b, e);
    pthread_mutex_lock(&pool->mu);
    while (pool->pending > 0) pthread_cond_wait(&pool->done, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
}
