/* dist_fold.c: the one addition that sums shard gradients (see dist.h). Plain IEEE adds with
 * -ffp-contract=off: vectorised or not, each element is acc + x rounded once. */
#include "train/run/dist.h"

void tg_dist_fold(tg_float *acc, const tg_float *x, size_t n) {
    for (size_t i = 0; i < n; i++) acc[i] = acc[i] + x[i];
}
