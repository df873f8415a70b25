/* pool.c: persistent worker threads. A job is published by bumping an atomic generation
 * counter; workers spin on it for a short while (a training step runs hundreds of kernels a few
 * microseconds apart, and a sleep/wake round trip through the kernel costs more than that) and
 * only then sleep on a condition variable. The caller likewise spins, then sleeps, until the
 * workers are done. Sleeping is announced through counters read in sequentially consistent
 * order on both sides, so a wake-up is never lost. */
#ifdef __linux__
#define _GNU_SOURCE   /* sched_getaffinity: the CPUs this process may run on (taskset, cgroups) */
#include <sched.h>
#endif
#include "autograd/internal.h"
#include "autograd/pool.h"
#include "autograd/threads.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define TG_POOL_MAX 64
/* busy-wait rounds before sleeping: a few tens of microseconds */
#define SPIN_ROUNDS 4000

struct tg_pool {
    int n;                     /* threads including the caller */
    pthread_t threads[TG_POOL_MAX];
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_ulong generation;   /* bumped for each job */
    atomic_int pending;        /* workers still running the current job */
    atomic_int sleepers;       /* workers asleep (or about to be) on `wake` */
    atomic_int caller_asleep;  /* the caller sleeps on `done` */
    atomic_int quit;
    /* the current job: written before the generation is bumped, read after */
    tg_range_fn fn;
    void *arg;
    int n_parts;
    size_t bound[TG_POOL_MAX + 1];   /* part i: items [bound[i], bound[i + 1]) */
    bool timed;                      /* the parts time themselves into part_s */
    /* each part's time in fn, written by its thread before it reports done */
    double part_s[TG_POOL_MAX];
    /* tg_pool_for_balanced: each thread's speed relative to the others' (mean 1) */
    double speed[TG_POOL_MAX];
    bool counting;                   /* tg_pool_stats */
    tg_pool_stats stats;
};

typedef struct { tg_pool *pool; int index; } worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Waits until the generation differs from seen (or quit); returns the new generation. */
static unsigned long wait_job(tg_pool *pool, unsigned long seen) {
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        unsigned long g = atomic_load(&pool->generation);
        if (g != seen || atomic_load(&pool->quit)) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&pool->mu);
    atomic_fetch_add(&pool->sleepers, 1);
    unsigned long g;
    while ((g = atomic_load(&pool->generation)) == seen && !atomic_load(&pool->quit))
        pthread_cond_wait(&pool->wake, &pool->mu);
    atomic_fetch_sub(&pool->sleepers, 1);
    pthread_mutex_unlock(&pool->mu);
    return g;
}

static void *worker_main(void *p) {
    worker_arg *wa = p;
    tg_pool *pool = wa->pool;
    int index = wa->index;
    free(wa);
    unsigned long seen = 0;
    for (;;) {
        seen = wait_job(pool, seen);
        if (atomic_load(&pool->quit)) break;
        if (index < pool->n_parts) {
            size_t b = pool->bound[index], e = pool->bound[index + 1];
            double t0 = pool->timed ? tg__now() : 0;
            if (e > b) pool->fn(pool->arg, b, e);
            if (pool->timed) pool->part_s[index] = tg__now() - t0;
        }
        if (atomic_fetch_sub(&pool->pending, 1) == 1 && atomic_load(&pool->caller_asleep)) {
            pthread_mutex_lock(&pool->mu);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->mu);
        }
    }
    return NULL;
}

/* The CPUs this process may run on: its affinity mask (taskset -c 0 gives 1), else those online. */
static long usable_cpus(void) {
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
    return sysconf(_SC_NPROCESSORS_ONLN);
}

void tg__fput_env_value(FILE *f, const char *v) {
    for (const unsigned char *c = (const unsigned char *)v; *c; c++)
        if (*c < 0x20 || *c > 0x7E) fprintf(f, "\\x%02X", *c);
        else fputc(*c, f);
}

int tg_default_threads(void) {
    static atomic_flag warned = ATOMIC_FLAG_INIT;
    long c = usable_cpus();
    if (c < 1) c = 1;
    if (c > TG_POOL_MAX) c = TG_POOL_MAX;
    const char *env = getenv("TAPEGRAD_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (env[0] >= '0' && env[0] <= '9' && *end == '\0' && v > 0 && v <= TG_POOL_MAX) return (int)v;
        if (!atomic_flag_test_and_set(&warned)) {   /* a typo would go unnoticed */
            fputs("tapegrad: TAPEGRAD_THREADS=", stderr);
            tg__fput_env_value(stderr, env);
            fprintf(stderr, " is not a thread count in 1..%d: ignored, %ld threads (the CPUs this process may use)\n",
                    TG_POOL_MAX, c);
        }
    }
    return (int)c;
}

void tg_thread_block_signals(sigset_t *old) {
    sigset_t all;
    sigfillset(&all);
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) sigdelset(&all, faults[i]);   /* the thread's own */
    pthread_sigmask(SIG_BLOCK, &all, old);
}

int tg_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg) {
    sigset_t old;
    tg_thread_block_signals(&old);
    /* glibc sizes a new thread's stack from RLIMIT_STACK: `ulimit -s 64` gave the workers 64 KiB.
     * Theirs is set here instead: a kernel's deepest chain takes under 16 KiB, and 2 MiB leaves room
     * for a sanitizer's larger frames and for the MPI library's own calls (the summing thread). */
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setstacksize(&attr, (size_t)2 << 20);
        rc = pthread_create(thread, &attr, fn, arg);
        pthread_attr_destroy(&attr);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

tg_pool *tg_pool_new(int n_threads) {
    if (n_threads <= 0) n_threads = tg_default_threads();
    if (n_threads > TG_POOL_MAX) n_threads = TG_POOL_MAX;
    tg_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n = 1;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->sleepers, 0);
    atomic_init(&pool->caller_asleep, 0);
    atomic_init(&pool->quit, 0);
    for (int i = 0; i < TG_POOL_MAX; i++) pool->speed[i] = 1;
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) { tg_pool_free(pool); return NULL; }
        wa->pool = pool;
        wa->index = i;
        if (tg_thread_start(&pool->threads[i], worker_main, wa) != 0) {   /* (threads.h) */
            free(wa);
            tg_pool_free(pool);
            return NULL;
        }
        pool->n = i + 1;
    }
    return pool;
}

void tg_pool_free(tg_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->quit, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n; i++) pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    free(pool);
}

int tg_pool_threads(const tg_pool *pool) { return pool ? pool->n : 1; }

/* Parts of a call: at most one a thread, each of at least min_chunk items. */
static int parts_for(const tg_pool *pool, size_t n, size_t min_chunk) {
    if (min_chunk < 1) min_chunk = 1;
    int parts = pool ? pool->n : 1;
    if ((size_t)parts > n / min_chunk) parts = (int)(n / min_chunk);
    return parts < 1 ? 1 : parts;
}

/* Runs the job whose parts are set (n_parts, bound): publishes it, runs part 0 on this thread,
 * waits for the others. */
static void run(tg_pool *pool, tg_range_fn fn, void *arg) {
    pool->fn = fn;
    pool->arg = arg;
    pool->timed = pool->timed || pool->counting;
    atomic_store(&pool->pending, pool->n - 1);
    atomic_fetch_add(&pool->generation, 1);     /* publishes the job (seq_cst) */
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mu);
    }
    double t0 = pool->timed ? tg__now() : 0;
    if (pool->bound[1] > 0) fn(arg, 0, pool->bound[1]);
    if (pool->timed) pool->part_s[0] = tg__now() - t0;
    for (int i = 0; i < SPIN_ROUNDS && atomic_load(&pool->pending) > 0; i++) cpu_relax();
    if (atomic_load(&pool->pending) > 0) {
        pthread_mutex_lock(&pool->mu);
        atomic_store(&pool->caller_asleep, 1);
        while (atomic_load(&pool->pending) > 0) pthread_cond_wait(&pool->done, &pool->mu);
        atomic_store(&pool->caller_asleep, 0);
        pthread_mutex_unlock(&pool->mu);
    }
    if (pool->counting) {   /* every part's time is written: pending reached 0 after each */
        int parts = pool->n_parts;
        double slowest = 0, sum = 0;
        for (int i = 0; i < parts; i++) {
            sum += pool->part_s[i];
            if (pool->part_s[i] > slowest) slowest = pool->part_s[i];
        }
        pool->stats.sections++;
        pool->stats.wall_s += tg__now() - t0;
        pool->stats.busy_s += sum;
        pool->stats.wait_s += parts * slowest - sum;
    }
}

void tg_pool_for(tg_pool *pool, size_t n, size_t min_chunk, tg_range_fn fn, void *arg) {
    if (n == 0) return;
    int parts = parts_for(pool, n, min_chunk);
    if (parts == 1) { fn(arg, 0, n); return; }
    pool->n_parts = parts;
    for (int i = 0; i <= parts; i++) pool->bound[i] = n * (size_t)i / (size_t)parts;
    pool->timed = false;
    run(pool, fn, arg);
}

/* A part shorter than this tells too little of its thread's speed (a clock read, a wake-up). */
#define BALANCE_MIN_S 100e-6
/* weight of the newest call in a thread's speed; the bounds on a speed (relative to the mean) */
#define BALANCE_NEW 0.5
#define BALANCE_MIN_SPEED 0.25
#define BALANCE_MAX_SPEED 4.0

void tg_pool_for_balanced(tg_pool *pool, size_t n, size_t min_chunk, tg_range_fn fn, void *arg) {
    if (n == 0) return;
    int parts = parts_for(pool, n, min_chunk);
    if (parts == 1) { fn(arg, 0, n); return; }
    double total = 0, at = 0;
    for (int i = 0; i < parts; i++) total += pool->speed[i];
    pool->n_parts = parts;
    pool->bound[0] = 0;
    for (int i = 1; i < parts; i++) {
        at += pool->speed[i - 1];
        size_t b = (size_t)((double)n * at / total + 0.5);
        pool->bound[i] = b < pool->bound[i - 1] ? pool->bound[i - 1] : b > n ? n : b;
    }
    pool->bound[parts] = n;
    pool->timed = true;
    run(pool, fn, arg);
    /* each thread's items a second against the mean of them, when every part was long enough */
    double rate[TG_POOL_MAX], mean = 0;
    for (int i = 0; i < parts; i++) {
        if (pool->part_s[i] < BALANCE_MIN_S) return;
        rate[i] = (double)(pool->bound[i + 1] - pool->bound[i]) / pool->part_s[i];
        mean += rate[i] / parts;
    }
    for (int i = 0; i < parts; i++) {
        double s = (1 - BALANCE_NEW) * pool->speed[i] + BALANCE_NEW * rate[i] / mean;
        pool->speed[i] = s < BALANCE_MIN_SPEED   ? BALANCE_MIN_SPEED
                         : s > BALANCE_MAX_SPEED ? BALANCE_MAX_SPEED
                                                 : s;
    }
}

void tg_pool_stats_on(tg_pool *pool, bool on) {
    if (!pool) return;
    pool->stats = (tg_pool_stats){0};
    pool->counting = on;   /* read by the workers only after the next job is published */
}

tg_pool_stats tg_pool_stats_read(const tg_pool *pool) {
    return pool ? pool->stats : (tg_pool_stats){0};
}
