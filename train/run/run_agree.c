/* run_agree.c: the ranks of an MPI run agree before each step (see run.h): every decision to
 * stop, validate or save is then taken alike everywhere, so no rank waits for one that left. */
#include <stdlib.h>
#include <string.h>

#include "train/run/dist.h"
#include "train/run/run.h"

enum { AG_SIGNAL, AG_STEP, AG_EPOCH, AG_POS, AG_N };

tg_status tg_run_agree(tg_run *r, int *stop_signal, tg_err *err) {
    int P = tg_dist_size();
    if (P == 1) return TG_OK;
    double mine[AG_N] = {*stop_signal, (double)r->st.step, (double)r->st.iter.epoch, (double)r->st.iter.pos};
    double all[AG_N * 64], *a = P <= 64 ? all : NULL;
    double *heap = a ? NULL : malloc((size_t)P * AG_N * sizeof *heap);
    if (!a && !(a = heap)) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    tg_status s = tg_dist_gather(mine, AG_N, a, err);
    *stop_signal = 0;
    for (int k = 0; s == TG_OK && k < P; k++) {
        const double *o = a + (size_t)k * AG_N;
        if (!*stop_signal) *stop_signal = (int)o[AG_SIGNAL];
        if (o[AG_STEP] != mine[AG_STEP] || o[AG_EPOCH] != mine[AG_EPOCH] || o[AG_POS] != mine[AG_POS])
            s = tg_err_set(err, TG_ERR_ARG, "rank %d is at step %.0f (epoch %.0f, batch %.0f), rank %d at step %.0f "
                           "(epoch %.0f, batch %.0f): the ranks no longer train the same model", k, o[AG_STEP],
                           o[AG_EPOCH] + 1, o[AG_POS], tg_dist_rank(), mine[AG_STEP], mine[AG_EPOCH] + 1,
                           mine[AG_POS]);   /* epochs from 1, as the log counts them */
    }
    free(heap);
    if (s == TG_OK) s = tg_dist_bcast(&r->st, sizeof r->st, err);
    return s;
}
