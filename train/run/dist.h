/* dist.h: the processes of a data-parallel run. Built with TG_MPI, dist_mpi.c runs these over MPI
 * when the program was started by mpirun; otherwise (dist_single.c, or no mpirun) there is one
 * process of rank 0 and every call is trivial. Only the main thread calls these.
 *
 * Exactness rests on tg_dist_sum: the sum of the ranks' buffers is formed in rank order,
 * ((b0 + b1) + b2) + ..., whatever the transport does, which is the order in which
 * `--accum-shards N` adds the shards' gradients in one process (tg_dist_fold). */
#ifndef TG_DIST_H
#define TG_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/autograd.h"

/* Starts MPI when the environment says mpirun started us (else nothing). 0, or -1 with msg. */
int tg_dist_init(int *argc, char ***argv, char *msg, size_t msg_len);
/* Ends MPI after a successful run. */
void tg_dist_finalize(void);
/* Ends the whole job at once (every rank) with the exit code: a rank that failed. Nothing after
 * tg_dist_end_together. */
void tg_dist_abort(int code);
/* Every rank knows of the failure that ends the run (a step that failed before its update on some
 * rank) and ends with it: each then leaves through tg_dist_finalize, exit 1, rather than
 * tg_dist_abort, which would kill rank 0 in its save. */
void tg_dist_end_together(void);
/* tg_dist_end_together was called. */
bool tg_dist_together(void);

int tg_dist_rank(void);
int tg_dist_size(void);

/* acc[i] = acc[i] + x[i]: the one addition by which shards' gradients are summed, in one process
 * or across ranks, so both give the same bits. */
void tg_dist_fold(tg_float *acc, const tg_float *x, size_t n);

/* buf (n) on every rank becomes the sum over ranks in rank order (see above). */
tg_status tg_dist_sum(tg_float *buf, size_t n, tg_err *err);
/* The same sum as tg_dist_sum, bucket by bucket (contiguous ranges of buf, summed in the order
 * given) on a helper thread, each bucket as soon as the caller says it is final, so that the
 * sum overlaps the backward pass. Between begin and end the caller makes no other dist call.
 * begin fails with TG_ERR_STATE when this MPI cannot (no MPI_THREAD_SERIALIZED, one rank, or
 * TAPEGRAD_MPI_OVERLAP=0): then use tg_dist_sum. end marks every bucket final and waits. A rank
 * whose helper thread cannot start sums the same buckets in end, so the ranks' messages match. */
typedef struct tg_dist_bucket { size_t off, len; } tg_dist_bucket;
tg_status tg_dist_sum_begin(tg_float *buf, const tg_dist_bucket *buckets, int n, tg_err *err);
void tg_dist_sum_ready(int bucket);
tg_status tg_dist_sum_end(tg_err *err);

/* all (size * k) = every rank's mine (k), in rank order. */
tg_status tg_dist_gather(const double *mine, int k, double *all, tg_err *err);
/* bytes (from rank 0) to every rank. */
tg_status tg_dist_bcast(void *buf, size_t bytes, tg_err *err);

/* Bytes this rank has sent so far through tg_dist_sum (for the scaling figures). */
uint64_t tg_dist_bytes_sent(void);

#endif /* TG_DIST_H */
