/* run_hash.c: hashes of a run's data, by content: what the ranks of an MPI run compare before
 * the first step (run_agree.c), and the dev set a checkpoint records so that a resume validates on
 * the same one (run_ckpt.c, section "dev"). */
#include <string.h>

#include "train/ckpt/ckpt_file.h"
#include "train/run/run.h"

uint64_t tg_run_hash_mix(uint64_t h, uint64_t x) {
    return tg_ckpt_hash64((uint64_t[2]){h, x}, 2 * sizeof(uint64_t));
}

uint64_t tg_run_dataset_hash(const tg_dataset *ds) {
    uint64_t h = tg_run_hash_mix(0, ds->n);
    if (!ds->n) return h;
    size_t ids = ds->off[ds->n - 1] + (size_t)ds->src_len[ds->n - 1] + (size_t)ds->tgt_len[ds->n - 1];
    h = tg_run_hash_mix(h, tg_ckpt_hash64(ds->ids, ids * sizeof *ds->ids));
    h = tg_run_hash_mix(h, tg_ckpt_hash64(ds->src_len, ds->n * sizeof *ds->src_len));
    return tg_run_hash_mix(h, tg_ckpt_hash64(ds->tgt_len, ds->n * sizeof *ds->tgt_len));
}

uint64_t tg_run_dev_hash(const tg_run *r) {
    uint64_t h = tg_run_dataset_hash(&r->dev);
    for (size_t k = 0; r->dev_src && k < r->dev.n; k++)   /* the texts BLEU is scored on */
        h = tg_run_hash_mix(tg_run_hash_mix(h, tg_ckpt_hash64(r->dev_src[k], strlen(r->dev_src[k]))),
                            tg_ckpt_hash64(r->dev_ref[k], strlen(r->dev_ref[k])));
    return h;
}
