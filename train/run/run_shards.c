/* run_shards.c: a step's gradient over a batch split into shards (--accum-shards N, or N MPI
 * ranks). Shard k is the batch's rows [k*B/N, (k+1)*B/N) with their padding trimmed; its loss is
 * its mean over its target tokens times (its tokens / the batch's), so that the shards' gradients
 * add up to the gradient of the whole batch's mean. In one process the shards run one after the
 * other and their gradients are added in shard order (tg_dist_fold); over MPI, rank r computes
 * shard r and tg_dist_sum adds them in rank order with the same addition. Shard k's dropout draws
 * from its own stream (seed mixed with k, the step's counter), so a shard's numbers do not depend
 * on which process runs it. Both ways give every shard the same bits, hence the same sum. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/run/dist.h"
#include "train/run/run.h"

/* What each shard reports to all: {loss * tokens, nll * tokens, tokens, finite, dropout draws,
 * the batch's tokens as this process counted them, failed before the update (its rank's error is
 * its own), a SIGCONT came during the step (a pause of that rank alone, which the others waited
 * out in the sum)}. */
enum { ST_LOSS, ST_NLL, ST_TOKENS, ST_FINITE, ST_DRAWS, ST_BATCH_TOKENS, ST_FAILED, ST_CONTINUED, ST_N };

/* Rows [lo, hi) of b, each side as wide as its longest row there. */
static tg_status shard_batch(const tg_batch *b, int lo, int hi, tg_batch *out, tg_err *err) {
    int B = hi - lo, S = 1, T = 1;
    for (int i = lo; i < hi; i++) {
        if (b->src_len[i] > S) S = b->src_len[i];
        if (b->tgt_len[i] > T) T = b->tgt_len[i];
    }
    size_t need_src = (size_t)B * (size_t)S, need_tgt = (size_t)B * (size_t)T;
    if ((size_t)B > out->cap_rows_ || need_src > out->cap_src_ || need_tgt > out->cap_tgt_) {
        tg_batch_free(out);
        out->src = malloc(need_src * sizeof *out->src);
        out->tgt_in = malloc(need_tgt * sizeof *out->tgt_in);
        out->tgt_out = malloc(need_tgt * sizeof *out->tgt_out);
        out->src_len = malloc((size_t)B * sizeof *out->src_len);
        out->tgt_len = malloc((size_t)B * sizeof *out->tgt_len);
        out->index = malloc((size_t)B * sizeof *out->index);
        if (!out->src || !out->tgt_in || !out->tgt_out || !out->src_len || !out->tgt_len || !out->index)
            return tg_err_set(err, TG_ERR_NOMEM, "out of memory for a shard of %d sentences", B);
        out->cap_rows_ = (size_t)B, out->cap_src_ = need_src, out->cap_tgt_ = need_tgt;
    }
    out->B = B, out->S = S, out->T = T;
    out->n_src_tokens = out->n_tgt_tokens = 0;
    for (int i = 0; i < B; i++) {
        int r = lo + i;
        memcpy(out->src + (size_t)i * S, b->src + (size_t)r * b->S, (size_t)S * sizeof *out->src);
        memcpy(out->tgt_in + (size_t)i * T, b->tgt_in + (size_t)r * b->T, (size_t)T * sizeof *out->tgt_in);
        memcpy(out->tgt_out + (size_t)i * T, b->tgt_out + (size_t)r * b->T, (size_t)T * sizeof *out->tgt_out);
        out->src_len[i] = b->src_len[r];
        out->tgt_len[i] = b->tgt_len[r];
        out->index[i] = b->index[r];
        out->n_src_tokens += b->src_len[r];
        out->n_tgt_tokens += b->tgt_len[r];
    }
    out->epoch = b->epoch, out->pos = b->pos;
    return TG_OK;
}

/* Shard k's dropout seed: shard 0 keeps the run's stream, so one shard is the plain step. */
static uint64_t shard_seed(uint64_t seed, int k) {
    if (k == 0) return seed;
    uint64_t z = seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)k);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Failures the tests inject into a shard's backward: none, in its middle (the walk announces the
 * buckets final in its first half to the overlapped sum, then none, as a backward failing there
 * would leave them: TAPEGRAD_INJECT_RANK_FAIL=RANK:STEP:backward), or after it (TAPEGRAD_FAIL_STEP). */
enum { FAULT_NONE, FAULT_BACKWARD, FAULT_AFTER, FAULT_STOP };

/* Forward and backward of shard k of b into the gradient buffer (zero on entry); st (ST_N). With
 * sum (over MPI), the sum across ranks starts too, overlapping backward when it can; *summing
 * then says it runs (tg_run_overlap_end waits for it). inject: a FAULT_ to inject. */
static tg_status shard_grad(tg_run *r, const tg_batch *b, int k, int n_shards, tg_rng_state start,
                            double *st, bool sum, int inject, bool *summing, tg_err *err) {
    tg_ctx *ctx = r->ctx;
    memset(st, 0, ST_N * sizeof *st);
    st[ST_FINITE] = 1;
    st[ST_BATCH_TOKENS] = (double)b->n_tgt_tokens;
    int lo = (int)((int64_t)k * b->B / n_shards), hi = (int)((int64_t)(k + 1) * b->B / n_shards);
    if (lo == hi)   /* fewer sentences than shards: this one is empty, its gradient 0 */
        return sum ? tg_run_overlap_begin(r, NULL, summing, err) : TG_OK;
    tg_status s = shard_batch(b, lo, hi, &r->shard, err);
    if (s != TG_OK) return s;
    const tg_batch *sb = &r->shard;
    tg_ctx_set_rng(ctx, (tg_rng_state){shard_seed(start.seed, k), start.counter});
    /* the shard's loss, and its plain NLL (not on the tape), from chunks of logits */
    tg_tensor *loss = NULL;
    double nll = 0;
    s = tg_model_loss_nll(r->model, ctx, sb->src, sb->tgt_in, sb->tgt_out, sb->B, sb->S, sb->T, &loss, &nll, err);
    if (s != TG_OK) return s;
    /* the shard's share of the batch's mean */
    tg_tensor *part = tg_scale(ctx, loss, (double)sb->n_tgt_tokens / (double)b->n_tgt_tokens);
    if (!part) return tg_err_set(err, tg_ctx_status(ctx), "loss: %s", tg_ctx_errmsg(ctx));
    st[ST_LOSS] = (double)loss->data[0] * (double)sb->n_tgt_tokens;
    st[ST_NLL] = nll * (double)sb->n_tgt_tokens;
    st[ST_TOKENS] = (double)sb->n_tgt_tokens;
    st[ST_DRAWS] = (double)(tg_ctx_rng(ctx).counter - start.counter);
    st[ST_FINITE] = isfinite(loss->data[0]);
    if (sum) s = tg_run_overlap_begin(r, st[ST_FINITE] ? part : NULL, summing, err);
    if (s != TG_OK || !st[ST_FINITE]) return s;
    if (inject == FAULT_BACKWARD && *summing) tg_run_overlap_cut(r);
    s = tg_backward_hooked(ctx, part, *summing ? tg_run_overlap_hook : NULL, r->overlap);
    if (s != TG_OK) return tg_err_set(err, s, "backward: %s", tg_ctx_errmsg(ctx));
    if (inject == FAULT_BACKWARD)
        return tg_err_set(err, TG_ERR_NOMEM, "backward: out of memory in its middle (TAPEGRAD_INJECT_RANK_FAIL)");
    return inject == FAULT_AFTER ? tg_err_set(err, TG_ERR_NOMEM, TG_RUN_FAIL_STEP_MSG) : TG_OK;
}

/* Every shard's figures (n_shards * ST_N): in one process its own, over MPI everyone's; *summed:
 * the gradient buffer already holds the sum over ranks. fail: this rank's step failed before its
 * shard (err set), inject: a FAULT_ for its backward. Over MPI a rank that fails
 * still takes its part in the sum, whatever its buffer holds, and in the gather, which tells every
 * rank of the failure (ST_FAILED): no rank then updates, and none waits for one that left. */
static tg_status local_shards(tg_run *r, const tg_batch *b, int n_shards, tg_rng_state start, double *all,
                              tg_status fail, int inject, const volatile sig_atomic_t *continued, bool *summed,
                              tg_err *err) {
    tg_params *P = tg_model_params(r->model);
    tg_float *g = tg_params_grad(P);
    size_t n = (size_t)tg_params_numel(P);
    *summed = false;
    if (tg_dist_size() > 1) {
        double mine[ST_N] = {[ST_FINITE] = 1, [ST_BATCH_TOKENS] = (double)b->n_tgt_tokens};
        tg_status s = fail;
        if (s == TG_OK) s = shard_grad(r, b, tg_dist_rank(), n_shards, start, mine, true, inject, summed, err);
        tg_err e2;
        if (s != TG_OK && !*summed) (void)tg_run_overlap_begin(r, NULL, summed, &e2);   /* (no loss: cannot fail) */
        if (inject == FAULT_STOP) raise(SIGSTOP);   /* (continued, it goes on) */
        tg_status s2 = tg_run_overlap_end(r, &e2);   /* also after an error: the thread must end */
        /* without the overlapped sum, the plain one, before the gather too: so every rank takes its
         * part whatever its own step gave, and a rank paused in it is told of in the gather */
        if (s2 == TG_OK && !*summed) s2 = tg_dist_sum(g, n, &e2);
        *summed = true;
        if (s == TG_OK && s2 != TG_OK) s = tg_err_set(err, s2, "%s", e2.msg);
        tg_ctx_reset(r->ctx);
        if (s2 != TG_OK) return s;   /* the transport failed: no gather to count on */
        mine[ST_FAILED] = s != TG_OK;
        mine[ST_CONTINUED] = continued && *continued;
        s2 = tg_dist_gather(mine, ST_N, all, &e2);
        return s2 == TG_OK ? s : tg_err_set(err, s2, "%s", e2.msg);
    }
    for (int k = 0; k < n_shards; k++) {
        bool unused = false;
        tg_status s = shard_grad(r, b, k, n_shards, start, all + (size_t)k * ST_N, false, FAULT_NONE, &unused, err);
        tg_ctx_reset(r->ctx);
        if (s != TG_OK) return s;
        if (k == 0) memcpy(r->grad_acc, g, n * sizeof *g);
        else tg_dist_fold(r->grad_acc, g, n);
        tg_params_zero_grad(P);
    }
    return TG_OK;
}

/* Fault injection for the tests of a failing rank: TAPEGRAD_INJECT_RANK_FAIL=RANK:STEP makes that
 * rank fail with an error at that step (1-based) before its forward, RANK:STEP:backward in the
 * middle of its backward (*inject); RANK:STEP:kill makes it SIGKILL itself, RANK:STEP:stop stop
 * itself (SIGSTOP) there, until a SIGCONT. */
static tg_status inject_rank_failure(const tg_run *r, int *inject, tg_err *err) {
    const char *e = getenv("TAPEGRAD_INJECT_RANK_FAIL");
    int rank, step;
    char how[12] = "";
    if (!e || sscanf(e, "%d:%d:%11s", &rank, &step, how) < 2) return TG_OK;
    if (rank != tg_dist_rank() || r->st.step + 1 != step) return TG_OK;
    if (!strcmp(how, "kill")) raise(SIGKILL);
    if (!strcmp(how, "stop") || !strcmp(how, "backward")) {
        *inject = how[0] == 's' ? FAULT_STOP : FAULT_BACKWARD;
        return TG_OK;
    }
    return tg_err_set(err, TG_ERR_IO, "injected failure of rank %d at step %d (TAPEGRAD_INJECT_RANK_FAIL)", rank, step);
}

/* Rank 0's error for a step that failed before its update on some ranks (all: the gathered
 * figures of N ranks; own: rank 0's own error, TG_OK if its step was sound, err its message): "rank
 * 1 of 2 failed in step 13 ...", "ranks 1 and 2 of 3 failed ...", after rank 0's own message when
 * it failed too. At most 16 ranks by number (the rest counted), so that the line stays a line. */
static tg_status failed_ranks_error(const double *all, int N, int64_t step, tg_status own, tg_err *err) {
    enum { SHOWN = 16 };
    int n = 0, shown = 0;
    char names[200] = "";
    for (int k = 0; k < N; k++) n += all[(size_t)k * ST_N + ST_FAILED] != 0;
    for (int k = 0, i = 0; k < N && shown < SHOWN; k++) {
        if (!all[(size_t)k * ST_N + ST_FAILED]) continue;
        i++;
        size_t at = strlen(names);
        const char *sep = i == 1 ? "" : i == n ? " and " : ", ";
        snprintf(names + at, sizeof names - at, "%s%d", sep, k);
        shown++;
    }
    if (shown < n) {
        size_t at = strlen(names);
        snprintf(names + at, sizeof names - at, " and %d more", n - shown);
    }
    char told[sizeof err->msg];
    snprintf(told, sizeof told, "rank%s %s of %d failed in step %lld before its update (%s): no rank updated",
             n == 1 ? "" : "s", names, N, (long long)step,
             own != TG_OK ? "the others' errors are in their output"
                          : n == 1 ? "its error is in its output" : "their errors are in their output");
    if (own == TG_OK) return tg_err_set(err, TG_ERR_STATE, "%s", told);
    if (n == 1) return own;   /* rank 0 alone: its own error, as in one process */
    char mine[sizeof err->msg];
    snprintf(mine, sizeof mine, "%s", err->msg);
    return tg_err_set(err, own, "%s; %s", mine, told);
}

tg_status tg_run_shard_grads(tg_run *r, const tg_batch *b, tg_status failed, bool fail_step,
                             const volatile sig_atomic_t *continued, tg_shard_result *out, tg_err *err) {
    const int N = r->cfg.accum_shards;
    int inject = fail_step && tg_dist_size() > 1 ? FAULT_AFTER : FAULT_NONE;
    tg_status fail = failed != TG_OK ? failed : inject_rank_failure(r, &inject, err);
    tg_params *P = tg_model_params(r->model);
    size_t n = (size_t)tg_params_numel(P);
    memset(out, 0, sizeof *out);
    out->failed_rank = out->continued_rank = -1;
    if (fail == TG_OK && tg_dist_size() == 1 && !r->grad_acc && !(r->grad_acc = malloc(n * sizeof *r->grad_acc)))
        fail = tg_err_set(err, TG_ERR_NOMEM, "out of memory for the accumulated gradient");
    double *all = calloc((size_t)N * ST_N, sizeof *all);
    if (!all) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");   /* (over MPI: the job ends) */
    if (fail != TG_OK && tg_dist_size() == 1) {
        free(all);
        return fail;
    }
    tg_rng_state start = tg_ctx_rng(r->ctx);
    bool summed;
    tg_status s = local_shards(r, b, N, start, all, fail, inject, continued, &summed, err);
    if (s == TG_OK && fail_step && tg_dist_size() == 1) s = tg_err_set(err, TG_ERR_NOMEM, TG_RUN_FAIL_STEP_MSG);
    double draws = 0;
    out->finite = true;
    for (int k = 0; k < N; k++) {   /* (all zero unless gathered) */
        const double *st = all + (size_t)k * ST_N;
        if (st[ST_FAILED] && out->failed_rank < 0) out->failed_rank = k;
        out->failed_ranks += st[ST_FAILED] != 0;
        if (st[ST_CONTINUED] && out->continued_rank < 0) out->continued_rank = k;
    }
    if (out->failed_rank >= 0) {   /* every rank knows: each ends the job with exit 1 */
        tg_dist_end_together();
        /* each failing rank prints its own cause; rank 0 names them all (after its own cause, when it
         * is one of them); the others' error is only that: they print nothing, so the job's output
         * holds each line once, not once a rank */
        out->failed_elsewhere = s == TG_OK;
        if (tg_dist_rank() == 0) s = failed_ranks_error(all, N, r->st.step + 1, s, err);
        else if (s == TG_OK) s = tg_err_set(err, TG_ERR_STATE, "other ranks failed in step %lld before its update",
                                            (long long)r->st.step + 1);
    }
    for (int k = 0; s == TG_OK && k < N; k++) {
        const double *st = all + (size_t)k * ST_N;
        if (st[ST_BATCH_TOKENS] != (double)b->n_tgt_tokens)
            s = tg_err_set(err, TG_ERR_ARG, "rank %d's batch has %.0f target tokens, this rank's %lld: the ranks do "
                           "not read the same data", k, st[ST_BATCH_TOKENS], (long long)b->n_tgt_tokens);
        out->loss += st[ST_LOSS];
        out->nll += st[ST_NLL];
        out->finite = out->finite && st[ST_FINITE] != 0;
        draws = fmax(draws, st[ST_DRAWS]);
    }
    free(all);
    out->loss /= (double)b->n_tgt_tokens;
    out->nll /= (double)b->n_tgt_tokens;
    /* each shard's stream continues past the longest shard's draws */
    tg_ctx_set_rng(r->ctx, (tg_rng_state){start.seed, start.counter + (uint64_t)draws});
    if (s != TG_OK || !out->finite || summed) return s;
    memcpy(tg_params_grad(P), r->grad_acc, n * sizeof *r->grad_acc);
    return TG_OK;
}
