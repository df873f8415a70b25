/* evaluate.c: a model scored on text pairs -- label-smoothed loss and NLL per target token,
 * translations (greedy or beam), corpus BLEU and chrF2 -- what `tapegrad eval` prints and what
 * `tapegrad experiment report` caches for each cell. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/shown.h"
#include "train/metrics/metrics.h"
#include "train/run/run.h"

/* Prefixes err's message with where pair i is: "FILE:LINE: side: " (or "pair I: side: "). */
static tg_status pair_error(const tg_eval_opts *o, size_t i, const char *side, tg_status s, tg_err *err) {
    tg_err e = *err;
    if (o->name)
        return tg_err_set(err, s, "%s:%zu: %s%s%.400s", TG_SHOWN(o->name),
                          o->line ? o->line[i] : i + 1, side, *side ? ": " : "", e.msg);
    return tg_err_set(err, s, "pair %zu: %s%s%.400s", i, side, *side ? ": " : "", e.msg);
}

/* The pairs that fit the positions table, encoded; index[k] is pair k's place in the input. The
 * others are counted in out->too_long, the first ones kept in out->first_too_long for the caller
 * to name. A pair over the loss batch's token budget is an error naming it (the batcher would
 * name its place in the dataset). */
static tg_status encode_pairs(tg_bpe *bpe, const char *const *src, const char *const *ref, size_t n,
                              const tg_model_config *cfg, const tg_eval_opts *o, tg_dataset *ds,
                              tg_eval_result *out, tg_err *err) {
    tg_ids ids = {0}, tids = {0};
    tg_status s = TG_OK;
    const int max_pieces = cfg->max_len - 2;   /* the model's own positions, less bos/eos */
    out->max_pieces = max_pieces;
    for (size_t i = 0; s == TG_OK && i < n; i++) {
        if ((s = tg_run_encode(bpe, cfg->vocab, src[i], &ids, err)) != TG_OK) {
            s = pair_error(o, i, "source", s, err);
            break;
        }
        if ((s = tg_run_encode(bpe, cfg->vocab, ref[i], &tids, err)) != TG_OK) {
            s = pair_error(o, i, "target", s, err);
            break;
        }
        if ((int)ids.n > max_pieces || (int)tids.n > max_pieces) {
            if (out->too_long < TG_EVAL_NAMED_TOO_LONG) out->first_too_long[out->too_long] = (tg_eval_too_long){i, ids.n, tids.n};
            out->too_long++;
            continue;
        }
        long long need = (long long)ids.n + 1 + (long long)tids.n + 1;
        if (o->max_tokens > 0 && need > o->max_tokens) {
            tg_err_set(err, TG_ERR_ARG, "needs %lld tokens (source %zu + eos, target %zu + bos/eos), over the loss "
                       "batch's budget of %d tokens (eval --max-tokens): raise it", need, ids.n, tids.n,
                       o->max_tokens);
            s = pair_error(o, i, "", TG_ERR_ARG, err);
            break;
        }
        s = tg_dataset_add(ds, ids.v, (int32_t)ids.n, tids.v, (int32_t)tids.n, i, err);
    }
    tg_ids_free(&ids);
    tg_ids_free(&tids);
    if (s == TG_OK && ds->n == 0) s = tg_err_set(err, TG_ERR_ARG, "no pair fits the model");
    return s;
}

tg_status tg_eval_loss_batches(tg_model *m, tg_ctx *ctx, tg_batch_iter *it, double *loss_out, double *nll_out,
                               int64_t *tokens_out, tg_err *err) {
    tg_batch b = {0};
    double loss = 0, nll = 0;
    int64_t tokens = 0;
    tg_status s = TG_OK;
    size_t nb = tg_batch_iter_epoch_batches(it);
    for (size_t k = 0; s == TG_OK && k < nb; k++) {
        tg_tensor *l = NULL;   /* from chunks of logits: the (B, T, V) logits never exist whole */
        double n = 0;
        s = tg_batch_iter_next(it, &b, err);
        if (s == TG_OK)
            s = tg_model_loss_nll(m, ctx, b.src, b.tgt_in, b.tgt_out, b.B, b.S, b.T, &l, &n, err);
        if (s != TG_OK) break;
        loss += (double)l->data[0] * (double)b.n_tgt_tokens;
        nll += n * (double)b.n_tgt_tokens;
        tokens += b.n_tgt_tokens;
        tg_ctx_reset(ctx);
    }
    tg_batch_free(&b);
    *tokens_out = tokens;
    *loss_out = tokens ? loss / (double)tokens : NAN;
    *nll_out = tokens ? nll / (double)tokens : NAN;
    return s;
}

static tg_status loss_of(tg_model *m, tg_ctx *ctx, const tg_dataset *ds, int max_tokens, tg_eval_result *out,
                         tg_err *err) {
    tg_batch_iter *it = NULL;
    tg_status s = tg_batch_iter_new(&it, ds, &(tg_batch_opts){.max_tokens = max_tokens, .seed = 1, .shuffle = false}, err);
    if (s == TG_OK) s = tg_eval_loss_batches(m, ctx, it, &out->loss, &out->nll, &out->tokens, err);
    tg_batch_iter_free(it);
    return s;
}

/* The teacher-forced token statistics of ds, in the loss's batches. */
static tg_status token_stats_of(tg_model *m, tg_ctx *ctx, const tg_dataset *ds, int max_tokens,
                                double temperature, tg_token_stats *out, tg_err *err) {
    tg_batch_iter *it = NULL;
    tg_batch b = {0};
    tg_status s = tg_batch_iter_new(&it, ds, &(tg_batch_opts){.max_tokens = max_tokens, .seed = 1, .shuffle = false}, err);
    size_t nb = s == TG_OK ? tg_batch_iter_epoch_batches(it) : 0;
    for (size_t k = 0; s == TG_OK && k < nb; k++) {
        s = tg_batch_iter_next(it, &b, err);
        if (s == TG_OK) s = tg_model_token_stats(m, ctx, b.src, b.tgt_in, b.tgt_out, b.B, b.S, b.T, temperature, out, err);
        tg_ctx_reset(ctx);
    }
    tg_batch_free(&b);
    tg_batch_iter_free(it);
    return s;
}

static tg_status translate_all(tg_model *m, tg_ctx *ctx, const tg_bpe *bpe, const tg_dataset *ds,
                               const tg_translate_opts *to, char **hyps, tg_err *err) {
    tg_srcs srcs = {0};
    tg_status s = tg_srcs_add_dataset(&srcs, ds, ds->n, err);
    if (s == TG_OK) s = tg_translate_srcs(m, ctx, bpe, &srcs, to, hyps, err);
    tg_srcs_free(&srcs);
    return s;
}

tg_bleu_opts tg_eval_bleu_opts(bool ids) {
    tg_bleu_opts bo = tg_bleu_opts_default();
    if (ids) bo.tokenize = TG_BLEU_TOK_NONE;   /* synthetic ids: words are the ids */
    return bo;
}

tg_status tg_eval_texts(tg_model *m, tg_bpe *bpe, const char *const *src, const char *const *ref, size_t n,
                        const tg_eval_opts *o, tg_eval_result *out, tg_err *err) {
    memset(out, 0, sizeof *out);
    tg_dataset ds = {0};
    tg_status s = encode_pairs(bpe, src, ref, n, tg_model_cfg(m), o, &ds, out, err);
    tg_ctx *ctx = s == TG_OK ? tg_ctx_new(&(tg_ctx_opts){.threads = o->threads}) : NULL;
    if (s == TG_OK && !ctx) s = tg_err_set(err, TG_ERR_NOMEM, "cannot create the compute context");
    if (s == TG_OK) {
        tg_ctx_set_training(ctx, false);
        tg_ctx_set_grad_enabled(ctx, false);
        s = loss_of(m, ctx, &ds, o->max_tokens, out, err);
        if (s == TG_OK && o->token_stats) s = token_stats_of(m, ctx, &ds, o->max_tokens,
                                                             o->temperature > 0 ? o->temperature : 1, &out->stats, err);
    }
    out->n = ds.n;
    out->hyps = calloc(ds.n + 1, sizeof *out->hyps);
    out->index = calloc(ds.n + 1, sizeof *out->index);
    const char **refs = calloc(ds.n + 1, sizeof *refs);
    if (s == TG_OK && (!out->hyps || !out->index || !refs)) s = tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; s == TG_OK && i < ds.n; i++) {
        out->index[i] = ds.index[i];
        refs[i] = ref[ds.index[i]];
    }
    if (s == TG_OK) s = translate_all(m, ctx, bpe, &ds, &o->translate, out->hyps, err);
    tg_bleu_opts bo = tg_eval_bleu_opts(bpe == NULL);
    if (s == TG_OK) s = tg_bleu_corpus_score((const char *const *)out->hyps, refs, ds.n, &bo, &out->bleu, err);
    if (s == TG_OK)
        s = tg_chrf_corpus_score((const char *const *)out->hyps, refs, ds.n,
                                 &(tg_chrf_opts){.char_order = 6, .beta = 2}, &out->chrf, err);
    free(refs);
    tg_ctx_free(ctx);
    tg_dataset_free(&ds);
    if (s != TG_OK) tg_eval_result_free(out);
    return s;
}

void tg_eval_result_free(tg_eval_result *r) {
    for (size_t i = 0; r->hyps && i < r->n; i++) free(r->hyps[i]);
    free(r->hyps);
    free(r->index);
    memset(r, 0, sizeof *r);
}
