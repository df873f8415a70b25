/* batch.c: token-budget batches over length-sorted pairs, and the resumable epoch iterator.
 *
 * An epoch's plan is a pure function of (seed, epoch, dataset lengths, budget): shuffle the pairs,
 * stable-sort them by (source, target) length, cut greedily while B * (S + T) stays within the
 * budget, shuffle the batch order. So the iterator's state is just (seed, epoch, position), and a
 * restored iterator rebuilds the same plan and continues with the same batches. Because the sort
 * is by length, the cut points (and so the number of batches) are the same every epoch; only
 * which of the equally long pairs go together, and the batch order, change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/internal.h"

struct tg_batch_iter {
    const tg_dataset *ds;
    tg_batch_opts o;
    uint64_t fingerprint;
    uint64_t epoch, pos;       /* the next batch */
    bool have_plan;
    uint64_t plan_epoch;
    size_t *order;             /* (n) pairs, sorted by length within the epoch's shuffle */
    size_t *tmp;               /* (n) */
    size_t *bstart;            /* (nb + 1) batch k is order[bstart[k] .. bstart[k+1]) */
    size_t *border;            /* (nb) the epoch's batch order */
    size_t nb;
    size_t *cnt;               /* (max_len + 2) counting-sort buckets */
    int32_t max_len;
};

void tg_batch_free(tg_batch *b) {
    free(b->src);
    free(b->tgt_in);
    free(b->tgt_out);
    free(b->src_len);
    free(b->tgt_len);
    free(b->index);
    memset(b, 0, sizeof *b);
}

void tg_batch_iter_free(tg_batch_iter *it) {
    if (!it) return;
    free(it->order);
    free(it->tmp);
    free(it->bstart);
    free(it->border);
    free(it->cnt);
    free(it);
}

static void shuffle(size_t *a, size_t n, tg_data_rng *r) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)tg_data_rng_below(r, i);
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* Stable counting sort of idx[0..n) by len[idx[i]], through tmp. */
static void sort_by(size_t *idx, size_t *tmp, size_t n, const int32_t *len, size_t *cnt, int32_t max_len) {
    memset(cnt, 0, ((size_t)max_len + 2) * sizeof *cnt);
    for (size_t i = 0; i < n; i++) cnt[len[idx[i]] + 1]++;
    for (int32_t l = 0; l <= max_len; l++) cnt[l + 1] += cnt[l];
    for (size_t i = 0; i < n; i++) tmp[cnt[len[idx[i]]]++] = idx[i];
    memcpy(idx, tmp, n * sizeof *idx);
}

static void build_plan(tg_batch_iter *it, uint64_t epoch) {
    const tg_dataset *ds = it->ds;
    size_t n = ds->n;
    tg_data_rng r;
    tg_data_rng_seed(&r, it->o.seed, epoch);
    for (size_t i = 0; i < n; i++) it->order[i] = i;
    if (it->o.shuffle) shuffle(it->order, n, &r);
    /* by (source, target) length: the secondary key first, then a stable pass on the primary */
    sort_by(it->order, it->tmp, n, ds->tgt_len, it->cnt, it->max_len);
    sort_by(it->order, it->tmp, n, ds->src_len, it->cnt, it->max_len);
    size_t nb = 0, cur = 0;
    int64_t ms = 0, mt = 0;
    for (size_t i = 0; i < n; i++) {
        size_t p = it->order[i];
        int64_t ns = ds->src_len[p] + 1, nt = ds->tgt_len[p] + 1;
        if (ns < ms) ns = ms;
        if (nt < mt) nt = mt;
        if (cur > 0 && (int64_t)(cur + 1) * (ns + nt) > it->o.max_tokens) {
            it->bstart[++nb] = i;
            cur = 0;
            ns = ds->src_len[p] + 1;
            nt = ds->tgt_len[p] + 1;
        }
        cur++;
        ms = ns;
        mt = nt;
    }
    it->bstart[0] = 0;
    it->bstart[++nb] = n;
    it->nb = nb;
    for (size_t k = 0; k < nb; k++) it->border[k] = k;
    if (it->o.shuffle) shuffle(it->border, nb, &r);
    it->have_plan = true;
    it->plan_epoch = epoch;
}

/* FNV-1a over the options, every pair's lengths and (content) its pieces: a corpus edited so
 * that the lengths stay (a typo fixed) gets another fingerprint, so a resume onto it is refused
 * instead of training on other data than the checkpoint's run. Checkpoints saved before the
 * pieces were hashed hold the lengths-only hash (content false); set_state still accepts it. */
static uint64_t fingerprint(const tg_dataset *ds, const tg_batch_opts *o, bool content) {
    uint64_t h = 0xCBF29CE484222325ull;
#define MIX(v) do { h ^= (uint64_t)(v); h *= 0x100000001B3ull; } while (0)
    MIX(ds->n);
    MIX(o->max_tokens);
    MIX(o->shuffle);
    for (size_t i = 0; i < ds->n; i++) {
        MIX(ds->src_len[i]);
        MIX(ds->tgt_len[i]);
    }
    if (content)
        for (size_t i = 0; i < ds->n; i++) {
            const int32_t *p = ds->ids + ds->off[i];
            for (int32_t k = 0; k < ds->src_len[i] + ds->tgt_len[i]; k++) MIX((uint32_t)p[k]);
        }
#undef MIX
    return h;
}

tg_status tg_batch_iter_new(tg_batch_iter **out, const tg_dataset *ds, const tg_batch_opts *o,
                            tg_err *err) {
    *out = NULL;
    if (!ds->n) return tg_err_set(err, TG_ERR_ARG, "cannot batch an empty dataset");
    if (o->max_tokens <= 0)
        return tg_err_set(err, TG_ERR_ARG, "batch token budget must be positive, not %lld",
                          (long long)o->max_tokens);
    int32_t max_len = 0;
    for (size_t i = 0; i < ds->n; i++) {
        int64_t need = (int64_t)ds->src_len[i] + 1 + ds->tgt_len[i] + 1;
        if (need > o->max_tokens)
            return tg_err_set(err, TG_ERR_ARG,
                              "pair %zu (corpus index %zu) needs %lld tokens (source %d + eos, target %d "
                              "+ bos/eos), over the batch budget of %lld tokens: raise the budget or "
                              "lower the maximum length",
                              i, ds->index[i], (long long)need, (int)ds->src_len[i], (int)ds->tgt_len[i],
                              (long long)o->max_tokens);
        if (ds->src_len[i] > max_len) max_len = ds->src_len[i];
        if (ds->tgt_len[i] > max_len) max_len = ds->tgt_len[i];
    }
    tg_batch_iter *it = calloc(1, sizeof *it);
    if (!it) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    it->ds = ds;
    it->o = *o;
    it->max_len = max_len;
    it->fingerprint = fingerprint(ds, o, true);
    it->order = malloc(ds->n * sizeof *it->order);
    it->tmp = malloc(ds->n * sizeof *it->tmp);
    it->bstart = malloc((ds->n + 1) * sizeof *it->bstart);
    it->border = malloc(ds->n * sizeof *it->border);
    it->cnt = malloc(((size_t)max_len + 2) * sizeof *it->cnt);
    if (!it->order || !it->tmp || !it->bstart || !it->border || !it->cnt) {
        tg_batch_iter_free(it);
        return tg_err_set(err, TG_ERR_NOMEM, "out of memory for %zu pairs", ds->n);
    }
    build_plan(it, 0);
    *out = it;
    return TG_OK;
}

size_t tg_batch_iter_epoch_batches(const tg_batch_iter *it) { return it->nb; }

tg_batch_iter_state tg_batch_iter_get_state(const tg_batch_iter *it) {
    return (tg_batch_iter_state){it->o.seed, it->epoch, it->pos, it->fingerprint};
}

tg_status tg_batch_iter_set_state(tg_batch_iter *it, const tg_batch_iter_state *st, tg_err *err) {
    if (st->fingerprint != it->fingerprint && st->fingerprint != fingerprint(it->ds, &it->o, false))
        return tg_err_set(err, TG_ERR_STATE,
                          "iterator state was saved for other data or another batch budget (the pairs, their "
                          "pieces or the budget differ: fingerprint %016llx, this iterator %016llx)",
                          (unsigned long long)st->fingerprint, (unsigned long long)it->fingerprint);
    if (st->pos > it->nb)
        return tg_err_set(err, TG_ERR_STATE, "iterator state position %llu is past the %zu batches of an epoch",
                          (unsigned long long)st->pos, it->nb);
    if (st->seed != it->o.seed) it->have_plan = false;
    it->o.seed = st->seed;
    it->epoch = st->epoch;
    it->pos = st->pos;
    return TG_OK;
}

static bool batch_reserve(tg_batch *b, size_t rows, size_t src_cells, size_t tgt_cells) {
    if (rows > b->cap_rows_) {
        size_t c[3] = {b->cap_rows_, b->cap_rows_, b->cap_rows_};
        if (!tg_ds_grow((void **)&b->src_len, &c[0], rows, sizeof *b->src_len) ||
            !tg_ds_grow((void **)&b->tgt_len, &c[1], rows, sizeof *b->tgt_len) ||
            !tg_ds_grow((void **)&b->index, &c[2], rows, sizeof *b->index))
            return false;
        b->cap_rows_ = c[0] < c[1] ? (c[0] < c[2] ? c[0] : c[2]) : (c[1] < c[2] ? c[1] : c[2]);
    }
    if (src_cells > b->cap_src_ && !tg_ds_grow((void **)&b->src, &b->cap_src_, src_cells, sizeof *b->src))
        return false;
    if (tgt_cells > b->cap_tgt_) {
        size_t c1 = b->cap_tgt_, c2 = b->cap_tgt_;
        if (!tg_ds_grow((void **)&b->tgt_in, &c1, tgt_cells, sizeof *b->tgt_in) ||
            !tg_ds_grow((void **)&b->tgt_out, &c2, tgt_cells, sizeof *b->tgt_out))
            return false;
        b->cap_tgt_ = c1 < c2 ? c1 : c2;
    }
    return true;
}

tg_status tg_batch_iter_next(tg_batch_iter *it, tg_batch *b, tg_err *err) {
    if (it->pos >= it->nb) {
        it->epoch++;
        it->pos = 0;
    }
    if (!it->have_plan || (it->o.shuffle && it->plan_epoch != it->epoch)) build_plan(it, it->epoch);
    const tg_dataset *ds = it->ds;
    size_t k = it->border[it->pos];
    const size_t *rows = it->order + it->bstart[k];
    size_t B = it->bstart[k + 1] - it->bstart[k];
    int32_t S = 0, T = 0;
    for (size_t r = 0; r < B; r++) {
        if (ds->src_len[rows[r]] + 1 > S) S = ds->src_len[rows[r]] + 1;
        if (ds->tgt_len[rows[r]] + 1 > T) T = ds->tgt_len[rows[r]] + 1;
    }
    if (!batch_reserve(b, B, B * (size_t)S, B * (size_t)T))
        return tg_err_set(err, TG_ERR_NOMEM, "out of memory for a batch of %zu x (%d + %d)", B, (int)S, (int)T);
    memset(b->src, 0, B * (size_t)S * sizeof *b->src);       /* TG_PAD_ID is 0 */
    memset(b->tgt_in, 0, B * (size_t)T * sizeof *b->tgt_in);
    memset(b->tgt_out, 0, B * (size_t)T * sizeof *b->tgt_out);
    b->B = (int32_t)B;
    b->S = S;
    b->T = T;
    b->n_src_tokens = b->n_tgt_tokens = 0;
    for (size_t r = 0; r < B; r++) {
        size_t p = rows[r];
        int32_t ns = ds->src_len[p], nt = ds->tgt_len[p];
        const int32_t *s = ds->ids + ds->off[p], *t = s + ns;
        int32_t *src = b->src + r * (size_t)S, *tin = b->tgt_in + r * (size_t)T, *tout = b->tgt_out + r * (size_t)T;
        memcpy(src, s, (size_t)ns * sizeof *s);
        src[ns] = TG_EOS_ID;
        tin[0] = TG_BOS_ID;
        memcpy(tin + 1, t, (size_t)nt * sizeof *t);
        memcpy(tout, t, (size_t)nt * sizeof *t);
        tout[nt] = TG_EOS_ID;
        b->src_len[r] = ns + 1;
        b->tgt_len[r] = nt + 1;
        b->index[r] = ds->index[p];
        b->n_src_tokens += ns + 1;
        b->n_tgt_tokens += nt + 1;
    }
    b->epoch = it->epoch;
    b->pos = it->pos;
    it->pos++;
    return TG_OK;
}
