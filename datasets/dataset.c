/* dataset.c: tokenized pairs, built from a corpus (with the max-length filter) or added one by
 * one. All ids sit in one array so a dataset is a few allocations whatever its size. */
#include <stdlib.h>
#include <string.h>

#include "datasets/internal.h"

tg_status tg_dataset_add(tg_dataset *ds, const int32_t *src, int32_t src_len, const int32_t *tgt,
                         int32_t tgt_len, size_t index, tg_err *err) {
    if (src_len < 0 || tgt_len < 0)
        return tg_err_set(err, TG_ERR_ARG, "negative length (source %d, target %d)", (int)src_len, (int)tgt_len);
    size_t need = ds->n_ids_ + (size_t)src_len + (size_t)tgt_len;
    if (!tg_ds_grow((void **)&ds->ids, &ds->cap_ids_, need ? need : 1, sizeof *ds->ids))
        return tg_err_set(err, TG_ERR_NOMEM, "out of memory after %zu pairs", ds->n);
    if (ds->n == ds->cap_) {
        size_t c[4] = {ds->cap_, ds->cap_, ds->cap_, ds->cap_};
        if (!tg_ds_grow((void **)&ds->off, &c[0], ds->n + 1, sizeof *ds->off) ||
            !tg_ds_grow((void **)&ds->src_len, &c[1], ds->n + 1, sizeof *ds->src_len) ||
            !tg_ds_grow((void **)&ds->tgt_len, &c[2], ds->n + 1, sizeof *ds->tgt_len) ||
            !tg_ds_grow((void **)&ds->index, &c[3], ds->n + 1, sizeof *ds->index))
            return tg_err_set(err, TG_ERR_NOMEM, "out of memory after %zu pairs", ds->n);
        size_t m = c[0];
        for (int i = 1; i < 4; i++) m = c[i] < m ? c[i] : m;
        ds->cap_ = m;
    }
    ds->off[ds->n] = ds->n_ids_;
    if (src_len) memcpy(ds->ids + ds->n_ids_, src, (size_t)src_len * sizeof *src);
    if (tgt_len) memcpy(ds->ids + ds->n_ids_ + src_len, tgt, (size_t)tgt_len * sizeof *tgt);
    ds->n_ids_ = need;
    ds->src_len[ds->n] = src_len;
    ds->tgt_len[ds->n] = tgt_len;
    ds->index[ds->n] = index;
    ds->n++;
    return TG_OK;
}

tg_status tg_dataset_from_corpus(tg_dataset *ds, const tg_corpus *c, tg_bpe *bpe, int32_t max_len,
                                 tg_err *err) {
    tg_ids s = {0}, t = {0};
    tg_status st = TG_OK;
    for (size_t i = 0; i < c->n && st == TG_OK; i++) {
        s.n = t.n = 0;
        st = tg_bpe_encode(bpe, c->src[i], strlen(c->src[i]), &s, err);
        if (st == TG_OK) st = tg_bpe_encode(bpe, c->tgt[i], strlen(c->tgt[i]), &t, err);
        if (st != TG_OK) break;
        if ((max_len > 0 && (s.n > (size_t)max_len || t.n > (size_t)max_len)) ||
            s.n >= INT32_MAX || t.n >= INT32_MAX) {
            ds->n_filtered++;
            continue;
        }
        st = tg_dataset_add(ds, s.v, (int32_t)s.n, t.v, (int32_t)t.n, i, err);
    }
    tg_ids_free(&s);
    tg_ids_free(&t);
    return st;
}

void tg_dataset_free(tg_dataset *ds) {
    free(ds->ids);
    free(ds->off);
    free(ds->src_len);
    free(ds->tgt_len);
    free(ds->index);
    memset(ds, 0, sizeof *ds);
}
