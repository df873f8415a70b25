/* dist_mpi.c: dist.h over MPI (TG_MPI builds). Started by mpirun, every rank trains the same
 * model on its shard of each batch; started alone, it is one process as in dist_single.c.
 *
 * tg_dist_sum is a chain in rank order: rank r receives the partial sum of ranks 0..r-1, adds its
 * own buffer (tg_dist_fold) and passes it on; the last rank holds the total and broadcasts it.
 * The buffer goes in chunks so that the ranks of the chain work at once (a pipeline). MPI's own
 * reductions are not used: their order of additions is unspecified. tg_dist_sum_begin runs the
 * same chain bucket by bucket on a helper thread while backward goes on. Each link carries the
 * gradient once each way, as a ring all-reduce's 2(N-1)/N does per rank, but the chain's
 * latency grows with N (fine for tens of ranks; a tree would be the next step). */
#include <mpi.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/threads.h"
#include "train/run/dist.h"

#ifdef TG_DOUBLE
#define TG_MPI_FLOAT MPI_DOUBLE
#else
#define TG_MPI_FLOAT MPI_FLOAT
#endif

/* Elements a message: large enough for bandwidth, small enough that the chain overlaps. */
#define CHUNK ((size_t)1 << 18)

static int g_rank, g_size = 1;
static int g_on, g_overlap;   /* g_overlap: every rank can run the overlapped sum */
static uint64_t g_sent;
static int g_together;   /* tg_dist_end_together */
static tg_float *g_tmp;   /* (CHUNK) a received partial sum */

static int launched_by_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

int tg_dist_init(int *argc, char ***argv, char *msg, size_t msg_len) {
    if (!launched_by_mpirun()) return 0;
    int provided;
    /* the threads MPI starts take no stop signal (threads.h says why) */
    sigset_t old;
    tg_thread_block_signals(&old);
    /* SERIALIZED: the overlapped sum's helper thread calls MPI while the main thread does not */
    int rc = MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != MPI_SUCCESS) {
        snprintf(msg, msg_len, "MPI_Init failed");
        return -1;
    }
    g_on = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    /* all ranks overlap, or none: one rank summing while another gathers would wait forever */
    const char *e = getenv("TAPEGRAD_MPI_OVERLAP");
    int can = provided >= MPI_THREAD_SERIALIZED && !(e && !strcmp(e, "0"));
    MPI_Allreduce(&can, &g_overlap, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    /* the chain's buffer now, not at a step: a rank short of memory there would leave the chain
     * with the others waiting in it */
    if (g_size > 1 && !(g_tmp = malloc(CHUNK * sizeof *g_tmp))) {
        snprintf(msg, msg_len, "rank %d: out of memory for the gradient sum's buffer", g_rank);
        return -1;
    }
    return 0;
}

void tg_dist_finalize(void) {
    if (!g_on) return;
    /* ended together by a failure: mpirun ends the job at the first rank that exits non-zero, so
     * none exits before rank 0's save is done */
    if (g_together) MPI_Barrier(MPI_COMM_WORLD);
    free(g_tmp);
    g_tmp = NULL;
    MPI_Finalize();
    g_on = 0;
}

void tg_dist_end_together(void) { g_together = 1; }
bool tg_dist_together(void) { return g_together; }

void tg_dist_abort(int code) {
    if (!g_on || g_size < 2 || g_together) return;
    fprintf(stderr, "tapegrad: rank %d of %d failed: ending the whole job\n", g_rank, g_size);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
}

int tg_dist_rank(void) { return g_rank; }
int tg_dist_size(void) { return g_size; }
uint64_t tg_dist_bytes_sent(void) { return g_sent; }

static tg_status failed(tg_err *err, const char *what, int rc) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    return tg_err_set(err, TG_ERR_IO, "MPI %s on rank %d: %s", what, g_rank, text);
}

/* The chain over buf (n) and the broadcast of the total from the last rank. */
static tg_status chain_sum(tg_float *buf, size_t n, tg_err *err) {
    const int last = g_size - 1;
    for (size_t at = 0; at < n; at += CHUNK) {
        int len = (int)(n - at < CHUNK ? n - at : CHUNK), rc;
        if (g_rank > 0) {
            rc = MPI_Recv(g_tmp, len, TG_MPI_FLOAT, g_rank - 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS) return failed(err, "receive", rc);
            tg_dist_fold(g_tmp, buf + at, (size_t)len);   /* (b0 + ... + b[r-1]) + b[r] */
            memcpy(buf + at, g_tmp, (size_t)len * sizeof *buf);
        }
        if (g_rank < last) {
            rc = MPI_Send(buf + at, len, TG_MPI_FLOAT, g_rank + 1, 0, MPI_COMM_WORLD);
            if (rc != MPI_SUCCESS) return failed(err, "send", rc);
            g_sent += (uint64_t)len * sizeof *buf;
        }
    }
    /* the total, from the last rank to all: copies, so any broadcast algorithm is exact */
    for (size_t at = 0; at < n; at += CHUNK) {
        int len = (int)(n - at < CHUNK ? n - at : CHUNK);
        int rc = MPI_Bcast(buf + at, len, TG_MPI_FLOAT, last, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return failed(err, "broadcast", rc);
    }
    if (g_rank == last) g_sent += (uint64_t)n * sizeof *buf;   /* at least once out of the root */
    return TG_OK;
}

tg_status tg_dist_sum(tg_float *buf, size_t n, tg_err *err) {
    return g_size < 2 ? TG_OK : chain_sum(buf, n, err);
}

/* ---- the overlapped sum: a helper thread sums the buckets in order, each once it is final ---- */

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    tg_float *buf;
    const tg_dist_bucket *bucket;
    int n;
    unsigned char *ready;   /* (n) under mu */
    tg_status st;
    tg_err err;
    bool running;
    bool inline_sum;        /* no helper thread (none could start, or no memory): tg_dist_sum_end sums */
} ov = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *sum_buckets(void *unused) {
    (void)unused;
    for (int k = 0; k < ov.n && ov.st == TG_OK; k++) {
        pthread_mutex_lock(&ov.mu);
        while (!ov.inline_sum && !ov.ready[k]) pthread_cond_wait(&ov.cv, &ov.mu);
        pthread_mutex_unlock(&ov.mu);
        ov.st = chain_sum(ov.buf + ov.bucket[k].off, ov.bucket[k].len, &ov.err);
    }
    return NULL;
}

/* The other ranks sum bucket by bucket: a rank that cannot start the helper thread (out of memory
 * for its stack or for the flags) sums the same buckets in the same order in tg_dist_sum_end, not
 * its buffer whole (tg_dist_sum's other messages would leave every rank waiting). */
tg_status tg_dist_sum_begin(tg_float *buf, const tg_dist_bucket *buckets, int n, tg_err *err) {
    if (g_size < 2 || !g_overlap)
        return tg_err_set(err, TG_ERR_STATE, "no overlapped sum here");
    ov.buf = buf, ov.bucket = buckets, ov.n = n, ov.st = TG_OK, ov.running = true;
    /* TAPEGRAD_FAIL_SUM_THREAD=1: this rank's thread cannot start, for the tests */
    const char *fail = getenv("TAPEGRAD_FAIL_SUM_THREAD");
    ov.ready = fail && !strcmp(fail, "1") ? NULL : calloc((size_t)(n > 0 ? n : 1), 1);
    ov.inline_sum = !ov.ready || tg_thread_start(&ov.thread, sum_buckets, NULL) != 0;   /* (no stop signal there) */
    return TG_OK;
}

void tg_dist_sum_ready(int bucket) {
    if (!ov.running || ov.inline_sum || bucket < 0 || bucket >= ov.n) return;
    pthread_mutex_lock(&ov.mu);
    ov.ready[bucket] = 1;
    pthread_cond_signal(&ov.cv);
    pthread_mutex_unlock(&ov.mu);
}

tg_status tg_dist_sum_end(tg_err *err) {
    if (!ov.running) return TG_OK;
    if (ov.inline_sum) {
        sum_buckets(NULL);
    } else {
        for (int k = 0; k < ov.n; k++) tg_dist_sum_ready(k);
        pthread_join(ov.thread, NULL);
    }
    ov.running = false;
    free(ov.ready);
    ov.ready = NULL;
    if (ov.st != TG_OK) return tg_err_set(err, ov.st, "%s", ov.err.msg);
    return TG_OK;
}

tg_status tg_dist_gather(const double *mine, int k, double *all, tg_err *err) {
    if (g_size < 2) {
        memmove(all, mine, (size_t)k * sizeof *all);
        return TG_OK;
    }
    int rc = MPI_Allgather(mine, k, MPI_DOUBLE, all, k, MPI_DOUBLE, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? TG_OK : failed(err, "allgather", rc);
}

tg_status tg_dist_bcast(void *buf, size_t bytes, tg_err *err) {
    if (g_size < 2) return TG_OK;
    int rc = MPI_Bcast(buf, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? TG_OK : failed(err, "broadcast", rc);
}
