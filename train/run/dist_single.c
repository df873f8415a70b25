/* dist_single.c: one process (a build without TG_MPI): every call of dist.h is trivial. */
#include <string.h>

#include "train/run/dist.h"

int tg_dist_init(int *argc, char ***argv, char *msg, size_t msg_len) { return 0; }
void tg_dist_finalize(void) {}
void tg_dist_abort(int code) {}
void tg_dist_end_together(void) {}
bool tg_dist_together(void) { return false; }
int tg_dist_rank(void) { return 0; }
int tg_dist_size(void) { return 1; }
tg_status tg_dist_sum(tg_float *buf, size_t n, tg_err *err) { return TG_OK; }

tg_status tg_dist_sum_begin(tg_float *buf, const tg_dist_bucket *buckets, int n, tg_err *err) {
    return tg_err_set(err, TG_ERR_STATE, "one process: nothing to sum");
}
void tg_dist_sum_ready(int bucket) {}
tg_status tg_dist_sum_end(tg_err *err) { return TG_OK; }

tg_status tg_dist_gather(const double *mine, int k, double *all, tg_err *err) {
    memmove(all, mine, (size_t)k * sizeof *all);
    return TG_OK;
}

tg_status tg_dist_bcast(void *buf, size_t bytes, tg_err *err) { return TG_OK; }
uint64_t tg_dist_bytes_sent(void) { return 0; }
