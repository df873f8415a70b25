/* run_loop.c: the training loop. One step: next batch, forward, label-smoothed loss, backward,
 * clip, Adam, in an order that is a function of the checkpointed state alone, so a resumed run
 * repeats exactly the steps an uninterrupted one takes. Around it: progress lines, validation
 * (dev loss, BLEU, samples), checkpoints (last, best, periodic), early stopping, NaN/Inf
 * handling, and SIGINT/SIGTERM (finish the step, save, exit 0). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "train/metrics/metrics.h"
#include "train/run/diagnostics.h"
#include "train/run/dist.h"
#include "train/run/progress.h"
#include "train/run/run.h"

static volatile sig_atomic_t g_stop_signal;
static volatile sig_atomic_t g_pipe_broken;   /* a SIGPIPE came: stderr's reader is gone */
static volatile sig_atomic_t g_continued;     /* a SIGCONT came: the process was stopped (Ctrl-Z) */

static void on_continue(int sig) { (void)sig; g_continued = 1; }

static void on_signal(int sig) {
    g_stop_signal = sig;
    if (sig == SIGPIPE) g_pipe_broken = 1;
}

/* A stop signal that cuts a validation short: in one process (over MPI every rank validates, and
 * the ranks agree on a stop only between steps). */
static bool stop_in_validation(void) { return g_stop_signal && tg_dist_size() == 1; }

/* Fault injection for the tests: a SIGTERM raised inside the N-th validation of this process
 * (TAPEGRAD_STOP_IN_VALIDATION=N, after its dev loss and before its decoding), or right after
 * update N (TAPEGRAD_STOP_AT_STEP=N), as a signal landing there would. */
static void inject_stop(const char *var, long n) {
    static bool raised;   /* once: a second SIGTERM would kill (SA_RESETHAND) */
    const char *e = getenv(var);
    if (!raised && e && atol(e) == n && n > 0) {
        raised = true;
        raise(SIGTERM);
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void ckpt_path(const tg_run *r, const char *name, char *buf, size_t len) {
    snprintf(buf, len, "%s/%s", r->cfg.out, name);
}

/* ---- one update ---- */

typedef struct {
    bool skipped;         /* non-finite loss or gradient: no update */
    bool before_update;   /* the step failed before its update: the run's state is the last step's */
    int continued_rank;   /* over MPI, the first rank that took a SIGCONT in the step (or -1) */
    bool failed_elsewhere;   /* over MPI, the error only tells of other ranks' failures (rank 0 names them) */
    double loss, nll;     /* per target token */
    int64_t tokens;
    double grad_norm, lr;
} step_result;

/* Fault injection for the divergence tests: TAPEGRAD_INJECT_NAN=START:COUNT makes the gradient
 * NaN for COUNT update attempts from attempt START (1-based, counted in this process). */
static bool inject_nan(void) {
    static long attempt, start = -1, count;
    if (start < 0) {
        const char *e = getenv("TAPEGRAD_INJECT_NAN");
        start = 0;
        if (e && sscanf(e, "%ld:%ld", &start, &count) != 2) start = 0;
    }
    attempt++;
    return start > 0 && attempt >= start && attempt < start + count;
}

/* Fault injection for the tests: TAPEGRAD_FAIL_STEP=N makes the N-th update attempt of this process
 * fail after its backward (N:batch: in the making of its batch), TAPEGRAD_FAIL_IN_VALIDATION=N its
 * N-th validation after its dev loss, with an out-of-memory error, as a longer batch's would. True
 * when var is set to n. */
static bool inject_failure(const char *var, long n) {
    const char *e = getenv(var);
    return e && atol(e) == n;
}

/* The whole batch's loss and, when it is finite, its gradient: one forward and backward. */
static tg_status batch_grad(tg_run *r, const tg_batch *b, tg_shard_result *out, tg_err *err) {
    tg_ctx *ctx = r->ctx;
    /* the loss, and the plain NLL for perplexity (not on the tape), from chunks of logits */
    tg_tensor *loss = NULL;
    tg_status s = tg_model_loss_nll(r->model, ctx, b->src, b->tgt_in, b->tgt_out, b->B, b->S, b->T, &loss,
                                    &out->nll, err);
    if (s != TG_OK) return s;
    out->loss = loss->data[0];
    out->finite = isfinite(out->loss);
    if (!out->finite) return TG_OK;
    s = tg_backward(ctx, loss);
    return s == TG_OK ? TG_OK : tg_err_set(err, s, "backward: %s", tg_ctx_errmsg(ctx));
}

/* A step's update from its gradient g: clipped, then Adam at the schedule's rate, or skipped
 * (non-finite loss or gradient); the step, the batch iterator's and dropout's state advanced. */
static tg_status update(tg_run *r, tg_run_diag *diag, const tg_shard_result *g, step_result *res,
                        tg_err *err) {
    tg_ctx *ctx = r->ctx;
    tg_params *P = tg_model_params(r->model);
    size_t n = (size_t)tg_params_numel(P);
    tg_status s = TG_OK;
    /* Over MPI, nothing from here to the update can fail on one rank alone, so no rank can leave
     * another waiting (and none needs a collective of its own): every rank holds the same bits.
     * The summed gradient is the last rank's buffer broadcast to all (tg_dist_sum copies it, no
     * arithmetic), and g->finite comes from the same gathered figures on each. Clip fails on a
     * max_norm < 0 (the settings agreed before the first step, tg_run_agree_start) or a NULL
     * buffer (never), and reports TG_ERR_NUMERIC for a non-finite norm of that same buffer, summed
     * in chunks fixed by n alone in portable C (optim/clip.c): one verdict everywhere, a skip on
     * every rank or on none. Adam fails on a NULL optimiser or buffer (never), a step count past
     * 2^62 (the same on every rank: agreed at the start, advanced alike), or a learning rate that is
     * not finite or below 0: from the schedule, agreed, at a step and lr_scale that every rank takes
     * from rank 0 (tg_run_agree); its vector loop gives the scalar loop's bits (optim/adam.c), so a
     * rank on other kernels updates alike. TAPEGRAD_INJECT_NAN, the one hook here, is agreed at the
     * start (tg_run_agree_args). The diagnostics' gradient norms (rank 0) only read. */
    if (g->finite) {
        if (inject_nan()) tg_params_grad(P)[0] = NAN;
        if (tg_run_diag_due(diag, r->st.step + 1)) tg_run_diag_grads(diag, r->model, r->st.step + 1);
        tg_err e2;
        s = tg_clip_grad_norm(tg_params_grad(P), n, r->cfg.clip_norm, tg_ctx_pool(ctx), &res->grad_norm, &e2);
        if (s != TG_OK && s != TG_ERR_NUMERIC) { tg_ctx_reset(ctx); return tg_err_set(err, s, "%s", e2.msg); }
        res->skipped = s == TG_ERR_NUMERIC;
    } else {
        res->skipped = true;
        res->grad_norm = NAN;
    }
    s = TG_OK;
    if (!res->skipped) {
        res->lr = tg_schedule_lr(&r->sched, r->st.step + 1) * r->st.lr_scale;
        /* the gradients cleared in the update's pass (on an error: below, as on a skip) */
        s = tg_adam_step_zero(r->adam, tg_params_data(P), tg_params_grad(P), res->lr,
                              tg_ctx_pool(ctx), err);
        if (s == TG_OK) {
            r->st.step++;
            r->st.bad_steps = 0;
            r->st.tokens_seen += res->tokens;
        }
    } else {
        r->st.bad_steps++;
        r->st.skipped_steps++;
    }
    if (res->skipped || s != TG_OK) tg_params_zero_grad(P);
    tg_ctx_reset(ctx);
    r->st.iter = tg_batch_iter_get_state(r->iter);
    r->st.dropout_rng = tg_ctx_rng(ctx);
    return s;
}

/* One training step: the next batch, its loss and gradient (in shards with --accum-shards), then
 * the update. A failure before the update leaves the run's state the last step's. */
static tg_status train_step(tg_run *r, tg_run_diag *diag, tg_batch *b, step_result *res, tg_err *err) {
    memset(res, 0, sizeof *res);
    res->continued_rank = -1;
    static long attempts;
    bool fail = inject_failure("TAPEGRAD_FAIL_STEP", ++attempts);
    bool fail_batch = fail && strstr(getenv("TAPEGRAD_FAIL_STEP"), ":batch");
    /* (out of memory for a longer batch than any before: a failure before the update, which over
     * MPI the other ranks learn of in the step's gather) */
    tg_status s = fail_batch ? tg_err_set(err, TG_ERR_NOMEM, "out of memory for a batch (TAPEGRAD_FAIL_STEP)")
                             : tg_batch_iter_next(r->iter, b, err);
    fail = fail && !fail_batch;
    if (s != TG_OK && tg_dist_size() == 1) {
        res->before_update = true;
        return s;
    }
    tg_ctx *ctx = r->ctx;
    tg_ctx_set_training(ctx, true);
    tg_ctx_set_grad_enabled(ctx, true);
    tg_shard_result g = {.continued_rank = -1};
    if (r->cfg.accum_shards > 1) {   /* (over MPI, every rank learns of a failure on any) */
        s = tg_run_shard_grads(r, b, s, fail, &g_continued, &g, err);
    } else {
        s = batch_grad(r, b, &g, err);
        if (s == TG_OK && fail) s = tg_err_set(err, TG_ERR_NOMEM, TG_RUN_FAIL_STEP_MSG);
    }
    res->continued_rank = g.continued_rank;
    res->failed_elsewhere = g.failed_elsewhere;
    if (s != TG_OK) {   /* r->st, the parameters and the optimiser are still the last step's */
        res->before_update = true;
        return s;
    }
    res->loss = g.loss;
    res->nll = g.nll;
    res->tokens = b->n_tgt_tokens;
    return update(r, diag, &g, res, err);
}

/* ---- validation ---- */

typedef struct {
    bool done;
    bool interrupted;     /* a stop signal cut it short: nothing of it is kept */
    double loss, nll, bleu, chrf;
    char bleu_sig[TG_METRICS_SIGNATURE_MAX];
} valid_result;

static tg_status dev_loss(tg_run *r, valid_result *v, tg_err *err) {
    int64_t tokens = 0;
    tg_status s = tg_batch_iter_set_state(r->dev_iter, &r->dev_start, err);   /* the same batches each time */
    if (s == TG_OK) s = tg_eval_loss_batches(r->model, r->ctx, r->dev_iter, &v->loss, &v->nll, &tokens, err);
    return s;
}

static tg_status validate(tg_run *r, tg_progress *pg, valid_result *v, tg_err *err) {
    memset(v, 0, sizeof *v);
    if (!r->dev_iter) return TG_OK;
    tg_ctx *ctx = r->ctx;
    tg_ctx_set_training(ctx, false);
    tg_ctx_set_grad_enabled(ctx, false);
    double t0 = now_s();
    tg_status s = dev_loss(r, v, err);
    static long validations;
    inject_stop("TAPEGRAD_STOP_IN_VALIDATION", ++validations);
    if (s == TG_OK && inject_failure("TAPEGRAD_FAIL_IN_VALIDATION", validations))
        s = tg_err_set(err, TG_ERR_NOMEM, "validation: out of memory (TAPEGRAD_FAIL_IN_VALIDATION)");
    /* BLEU on the first K dev sentences */
    size_t n = r->cfg.valid_sentences > 0 && (size_t)r->cfg.valid_sentences < r->dev.n
                   ? (size_t)r->cfg.valid_sentences : r->dev.n;
    tg_srcs srcs = {0};
    char **hyps = calloc(n + 1, sizeof *hyps);
    if (s == TG_OK && !hyps) s = tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    if (s == TG_OK) s = tg_srcs_add_dataset(&srcs, &r->dev, n, err);
    tg_translate_opts to = {.decode = tg_decode_defaults(), .batch = 64};
    to.decode.beam = r->cfg.beam;
    to.decode.alpha = r->cfg.alpha;
    if (tg_dist_size() == 1) to.stop = &g_stop_signal;
    if (s == TG_OK && !stop_in_validation()) s = tg_translate_srcs(r->model, ctx, r->bpe, &srcs, &to, hyps, err);
    if (stop_in_validation()) {   /* before or during the decoding: the signal's error, if any, is not one */
        v->interrupted = true;
        s = TG_OK;
        tg_progress_log(pg, "stop signal: the validation of step %lld is left for the resume", (long long)r->st.step);
    }
    if (s == TG_OK && !v->interrupted) {
        tg_bleu_opts bo = tg_bleu_opts_default();
        if (!r->bpe) bo.tokenize = TG_BLEU_TOK_NONE;   /* synthetic ids: words are the ids */
        tg_bleu_result br;
        tg_chrf_result cr;
        s = tg_bleu_corpus_score((const char *const *)hyps, (const char *const *)r->dev_ref, n, &bo, &br, err);
        if (s == TG_OK) s = tg_chrf_corpus_score((const char *const *)hyps, (const char *const *)r->dev_ref, n,
                                                 &(tg_chrf_opts){.char_order = 6, .beta = 2}, &cr, err);
        if (s == TG_OK) {
            v->bleu = br.score;
            v->chrf = cr.score;
            snprintf(v->bleu_sig, sizeof v->bleu_sig, "%s", br.signature);
            v->done = true;
            for (size_t i = 0; i < n && i < 2; i++)
                tg_progress_log(pg, "  sample %zu: %s\n             ref: %s\n             hyp: %s", i + 1,
                                r->dev_src[i], r->dev_ref[i], hyps[i]);
            tg_progress_log(pg, "valid step %lld | dev loss %s | nll %s | ppl %s | BLEU %.2f (%zu sentences, %s) "
                            "| chrF2 %.2f | %.1f s", (long long)r->st.step, tg_format_num(v->loss, 4).s,
                            tg_format_num(v->nll, 4).s, tg_format_num(exp(v->nll), 2).s,
                            v->bleu, n, r->cfg.beam > 1 ? "beam" : "greedy", v->chrf, now_s() - t0);
        }
    }
    for (size_t i = 0; hyps && i < n; i++) free(hyps[i]);
    free(hyps);
    tg_srcs_free(&srcs);
    tg_ctx_set_training(ctx, true);
    tg_ctx_set_grad_enabled(ctx, true);
    return s;
}

/* ---- checkpoints ---- */

/* A log or metrics line that could not be written (a full disk) ends the run with an error. */
static tg_status progress_status(const tg_progress *pg, tg_err *err) {
    return pg->failed ? tg_err_set(err, TG_ERR_IO, "%s", pg->error) : TG_OK;
}

/* The file at path, by its inode number (0: none). */
static uint64_t file_id(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* --keep: once per run, the step-N.ckpt files that are not the run's, which it leaves alone. */
static void say_ahead(tg_run *r, tg_progress *pg, const tg_run_ahead *a) {
    if ((!a->n && !a->n_other) || r->keep_ahead_said) return;
    r->keep_ahead_said = true;
    if (a->n)
        tg_progress_log(pg, "%s/step-%lld.ckpt%s: beyond the run's step %lld, so not a snapshot of "
                        "this run: left alone and not counted by --keep", r->out_shown,
                        (long long)a->newest, a->n > 1 ? " (and others beyond it)" : "",
                        (long long)r->st.step);
    if (a->n_other)
        tg_progress_log(pg, "%s/step-%lld.ckpt%s: not a snapshot of this run (no optimiser state, "
                        "another step's, or unreadable): left alone and not counted by --keep",
                        r->out_shown, (long long)a->other, a->n_other > 1 ? " (and others)" : "");
}

static tg_status save_last(tg_run *r, tg_progress *pg, tg_run_diag *diag, tg_err *err) {
    if (tg_dist_rank() != 0) return TG_OK;   /* over MPI, rank 0 writes the checkpoints */
    /* A row or log line lost since the last save: no checkpoint past it, so that the resume (from
     * the last save, the tables trimmed to it) writes it again rather than going on without it;
     * and the lines written are on disk before it, so that a crash of the machine loses none. */
    tg_status s = tg_progress_sync(pg, err);
    if (s == TG_OK) s = tg_run_diag_sync(diag, r, err);
    if (s != TG_OK) return s;
    char path[TG_PATH_MAX + 32];
    ckpt_path(r, "last.ckpt", path, sizeof path);
    double t0 = now_s();
    s = tg_run_save(r, path, err);
    if (s == TG_OK) {   /* (a step-N.ckpt that fails below leaves it saved) */
        r->saved_step = r->st.step;
        r->saved_file = file_id(path);
    }
    if (s == TG_OK && r->st.step > 0 && (r->cfg.keep > 0 || tg_run_kept_for_good(r->st.step, r->cfg.keep_every))) {
        char periodic[TG_PATH_MAX + 48];
        tg_run_periodic_path(r->cfg.out, r->st.step, periodic, sizeof periodic);
        s = tg_run_save(r, periodic, err);
        tg_run_ahead ahead = {0};
        if (s == TG_OK && r->cfg.keep > 0)
            s = tg_run_keep_newest(r->cfg.out, r->cfg.keep, r->cfg.keep_every, r->st.step, &ahead, err);
        say_ahead(r, pg, &ahead);
    }
    if (s == TG_OK)
        tg_progress_log(pg, "saved %s/last.ckpt (step %lld, %.1f s)", r->out_shown,
                        (long long)r->st.step, now_s() - t0);
    return s;
}

/* On a resume: the step-N.ckpt of last.ckpt's step that a kill between the two saves of
 * save_last left unwritten (--keep). Over MPI rank 0 writes it, as it writes every checkpoint. */
static tg_status keep_resumed(tg_run *r, tg_progress *pg, tg_err *err) {
    if (tg_dist_rank() != 0) return TG_OK;
    bool wrote;
    tg_run_ahead ahead;
    tg_status s = tg_run_keep_resumed(r->cfg.out, r->st.step, r->cfg.keep, r->cfg.keep_every, &wrote, &ahead, err);
    say_ahead(r, pg, &ahead);
    if (s == TG_OK && wrote)
        tg_progress_log(pg, "step-%lld.ckpt was missing (the run stopped between it and last.ckpt): written from "
                        "last.ckpt", (long long)r->st.step);
    return s;
}

/* After max_bad_steps NaN/Inf updates in a row: back to last.ckpt with half the learning rate
 * (and to its metrics interval: the next row averages the updates that made the model, not the
 * ones the reload undid). */
#define MAX_RELOADS 20

static tg_status reload_last(tg_run *r, tg_run_diag *diag, tg_progress *pg, tg_err *err) {
    if (r->st.reloads >= MAX_RELOADS)
        return tg_err_set(err, TG_ERR_NUMERIC, "the run diverged %d times, even at %.3g x the learning rate: "
                          "giving up (check the data and --lr)", MAX_RELOADS, r->st.lr_scale);
    char path[TG_PATH_MAX + 32];
    ckpt_path(r, "last.ckpt", path, sizeof path);
    double scale = r->st.lr_scale * 0.5;
    int64_t reloads = r->st.reloads + 1, skipped = r->st.skipped_steps;
    tg_status s = tg_run_restore(r, path, err);
    if (s != TG_OK) return s;
    r->valid_pending = false;   /* (this process's last.ckpt: its pending validation ran at the start) */
    s = tg_run_diag_rewind(diag, r, err);
    if (s != TG_OK) return s;
    r->st.lr_scale = scale;
    r->st.reloads = reloads;
    r->st.skipped_steps = skipped;
    r->st.bad_steps = 0;
    tg_progress_log(pg, "diverged: %lld non-finite updates in a row; reloaded %s/last.ckpt "
                    "(step %lld) and lowered the learning rate to %.4g x the schedule",
                    (long long)r->cfg.max_bad_steps, r->out_shown, (long long)r->st.step, scale);
    return TG_OK;
}

/* ---- the loop ---- */

/* A step that failed before its update (out of memory for a longer batch than any before, say), or
 * a validation that failed (its decoding out of memory), ended the run with the steps since the last
 * save unsaved: saves them (a step's unless saved at this step; a validation's always, as pending,
 * so that the resume runs it first), so that nothing is lost and the resume, once the cause is dealt
 * with, is exact. */
static void save_before_error(tg_run *r, tg_progress *pg, tg_run_diag *diag, bool saved_now, bool in_validation) {
    char what[96];
    if (in_validation) snprintf(what, sizeof what, "the validation of step %lld", (long long)r->st.step);
    else snprintf(what, sizeof what, "step %lld", (long long)r->st.step + 1);
    r->valid_pending = r->valid_pending || in_validation;
    tg_err e2;
    const char *before = in_validation ? "" : " before its update";
    if ((in_validation || !saved_now) && save_last(r, pg, diag, &e2) != TG_OK) {
        /* which step last.ckpt holds: a failed save leaves the old file (atomic_file.h), but for one
         * whose rename was done, its folder's sync failing after it, and for step-N.ckpt's failing
         * after last.ckpt was saved */
        char path[TG_PATH_MAX + 32];
        ckpt_path(r, "last.ckpt", path, sizeof path);
        uint64_t now = file_id(path);
        if (now && now != r->saved_file) r->saved_step = r->st.step, r->saved_file = now;
        if (r->saved_step == r->st.step)
            tg_progress_log(pg, "%s failed%s (below), and the save after it failed: %s; last.ckpt holds step %lld "
                            "all the same: once the causes are dealt with, resume with: tapegrad train --resume %s",
                            what, before, e2.msg, (long long)r->saved_step, r->out_shown);
        else if (r->saved_step >= 0)
            tg_progress_log(pg, "%s failed%s (below), and last.ckpt could not be saved: %s; last.ckpt still holds step "
                            "%lld, its last save (the %lld step%s since then are lost): once the causes are dealt with, "
                            "resume with: tapegrad train --resume %s", what, before, e2.msg, (long long)r->saved_step,
                            (long long)(r->st.step - r->saved_step), r->st.step - r->saved_step == 1 ? "" : "s",
                            r->out_shown);
        else
            tg_progress_log(pg, "%s failed%s (below), and last.ckpt could not be saved: %s; the run has no last.ckpt",
                            what, before, e2.msg);
        return;
    }
    tg_progress_log(pg, "%s failed%s (below); last.ckpt holds step %lld%s: once the cause is dealt with, resume "
                    "with: tapegrad train --resume %s", what, before,
                    (long long)r->st.step,
                    in_validation ? ", the validation left for the resume" : "", r->out_shown);
}

static void log_stopped(const tg_run *r, tg_progress *pg, int sig) {
    tg_progress_log(pg, "stopped by signal %d at step %lld%s; resume with: tapegrad train --resume %s", sig,
                    (long long)r->st.step, sig == SIGPIPE ? " (SIGPIPE: the reader of this output went away)" : "",
                    r->out_shown);
}

static bool epochs_done(const tg_run *r) {
    if (r->cfg.max_epochs <= 0) return false;
    tg_batch_iter_state it = tg_batch_iter_get_state(r->iter);
    size_t nb = tg_batch_iter_epoch_batches(r->iter);
    return it.epoch >= (uint64_t)r->cfg.max_epochs ||
           (it.epoch + 1 == (uint64_t)r->cfg.max_epochs && it.pos >= nb);
}

/* The epoch as people read it (log lines, metrics.tsv's column): counted from 1, as fairseq does;
 * the iterator counts from 0. A step that ends an epoch still counts in it. */
static int64_t epoch_shown(const tg_run *r) {
    return (int64_t)tg_batch_iter_get_state(r->iter).epoch + 1;
}

static const char *stop_reason(const tg_run *r) {
    if (r->cfg.max_steps > 0 && r->st.step >= r->cfg.max_steps) return "reached --max-steps";
    if (r->cfg.time_limit > 0 && r->st.train_seconds >= r->cfg.time_limit) return "reached --time-limit";
    if (epochs_done(r)) return "reached --max-epochs";
    if (r->cfg.patience > 0 && r->st.bad_validations >= r->cfg.patience) return "early stopping (--patience)";
    return NULL;
}

static double eta_seconds(const tg_run *r, double step_s) {
    double eta = INFINITY;
    if (r->cfg.max_steps > 0) eta = (double)(r->cfg.max_steps - r->st.step) * step_s;
    if (r->cfg.time_limit > 0) eta = fmin(eta, r->cfg.time_limit - r->st.train_seconds);
    return eta;
}

static tg_status after_validation(tg_run *r, tg_progress *pg, const valid_result *v, tg_err *err) {
    tg_metrics_row row = {"valid", r->st.step, epoch_shown(r),
                          r->st.train_seconds, NAN, v->loss, v->nll, exp(v->nll), NAN, NAN, v->bleu, v->chrf};
    tg_progress_metrics(pg, &row);
    if (v->bleu > r->st.best_bleu) {
        r->st.best_bleu = v->bleu;
        r->st.best_step = r->st.step;
        r->st.bad_validations = 0;
        char path[TG_PATH_MAX + 32];
        ckpt_path(r, "best.ckpt", path, sizeof path);
        tg_status s = progress_status(pg, err);   /* (its row lost: see save_last) */
        if (s == TG_OK) s = tg_run_save(r, path, err);
        if (s != TG_OK) return s;
        tg_progress_log(pg, "new best BLEU %.2f: saved %s/best.ckpt", v->bleu, r->out_shown);
    } else {
        r->st.bad_validations++;
        tg_progress_log(pg, "no better than the best BLEU %.2f (step %lld) for %lld validation%s", r->st.best_bleu,
                        (long long)r->st.best_step, (long long)r->st.bad_validations,
                        r->st.bad_validations == 1 ? "" : "s");
    }
    return TG_OK;
}

/* --fit-steps: the cosine schedule's length (--max-steps) set, at step min(warmup, TG_FIT_AT), to
 * the steps that fit in the time left at the mean time of the steps measured since the first fifth
 * of those (98% of it: the time limit stays the hard stop). The warmup's rates do not depend on the
 * length, so the run is the same as one started with --max-steps N; over MPI rank 0's N is used. */
static int64_t fit_at(const tg_run *r) {
    return r->cfg.warmup < TG_FIT_AT ? r->cfg.warmup : TG_FIT_AT;
}

static bool fit_due(const tg_run *r) { return r->cfg.fit_steps && r->cfg.max_steps <= 0; }

static tg_status fit_steps(tg_run *r, tg_progress *pg, double fit_s, int64_t fit_n, tg_err *err) {
    double step_s = fit_s / (double)fit_n;
    double left = r->cfg.time_limit - r->st.train_seconds;
    int64_t n = r->st.step + (left > 0 ? (int64_t)floor(0.98 * left / step_s) : 0);
    if (n <= r->cfg.warmup) n = r->cfg.warmup + 1;   /* the schedule's least length */
    tg_status s = tg_dist_bcast(&n, sizeof n, err);
    if (s != TG_OK) return s;
    r->cfg.max_steps = n;
    r->sched.total = n;
    tg_progress_log(pg, "--fit-steps: %.3f s a step over steps %lld-%lld, so --max-steps %lld fits in the %.0f s "
                    "left of --time-limit: the cosine schedule ends there (--max-steps %lld repeats this run)",
                    step_s, (long long)(r->st.step - fit_n + 1), (long long)r->st.step, (long long)n, left,
                    (long long)n);
    return TG_OK;
}

/* ---- the run ---- */

static void log_model(const tg_run *r, tg_progress *pg) {
    int threads = tg_pool_threads(tg_ctx_pool(r->ctx));
    tg_progress_log(pg, "model: %lld parameters (d_model %d, %d heads, d_ff %d, %d+%d layers, "
                    "norm %s, ffn %s, attn-activation %s at %s, attn-gate %s, "
                    "residual-activation %s, vocab %d); %zu training pairs (%zu over the length "
                    "limit left out), %zu batches an epoch; %d thread%s",
                    (long long)tg_model_param_count(r->model), r->mcfg.d_model, r->mcfg.heads,
                    r->mcfg.d_ff, r->mcfg.enc_layers, r->mcfg.dec_layers, r->cfg.norm,
                    r->cfg.ffn_activation, r->cfg.attn_activation, r->cfg.attn_activation_at,
                    r->cfg.attn_gate, r->cfg.residual_activation, r->mcfg.vocab, r->train.n,
                    r->train.n_filtered, tg_batch_iter_epoch_batches(r->iter), threads,
                    threads == 1 ? "" : "s");
}

/* The handlers the run replaced, and the signal mask, put back when it ends. */
typedef struct {
    struct sigaction stop[TG_N_STOP_SIGNALS], cont;
    sigset_t mask;
} old_handlers;

static const int g_stops[] = {TG_STOP_SIGNALS};

/* Installed before the first save: a signal during it (an experiment stopping its other cells as
 * one failed) lets the save finish, and the loop stops at once, rather than killing the process
 * mid-write with the checkpoint's temporary left behind. Every stop signal (atomic_file.h) stops
 * the run saved: SIGHUP (the terminal closed), SLURM's SIGUSR1 warning before its time limit, a
 * soft CPU limit's SIGXCPU, a broken pipe's SIGPIPE (the reader of stderr gone: `| head`, a
 * killed `tee`); one ignored from the start (nohup's SIGHUP) stays ignored, but Ctrl-C and
 * SIGTERM, which always stop the run */
static void catch_stops(old_handlers *old) {
    struct sigaction cont;
    memset(&cont, 0, sizeof cont);
    cont.sa_handler = on_continue;
    cont.sa_flags = SA_RESTART;
    sigemptyset(&cont.sa_mask);
    sigaction(SIGCONT, &cont, &old->cont);
    g_stop_signal = 0;
    g_pipe_broken = 0;
    for (int i = 0; i < TG_N_STOP_SIGNALS; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        /* a second Ctrl-C or SIGTERM stops at once; not over MPI, where a Ctrl-C reaches a rank
         * twice (from the terminal and forwarded by mpirun) and mpirun ends a job that does not
         * stop; nor the others (SIGXCPU comes again each second past the limit) */
        bool now = g_stops[i] == SIGINT || g_stops[i] == SIGTERM;
        /* not restarted: a log line waiting on a stalled stderr pipe is let go, after 2 s for the
         * reader (progress.c: pg.stopping), so that the run still saves */
        sa.sa_flags = now && tg_dist_size() == 1 ? SA_RESETHAND : 0;
        sigemptyset(&sa.sa_mask);
        sigaction(g_stops[i], NULL, &old->stop[i]);
        if (now || old->stop[i].sa_handler != SIG_IGN) sigaction(g_stops[i], &sa, NULL);
    }
    /* started with them blocked, the run took none: SIGTERM waited for the SIGKILL */
    tg_stop_signals_unblock(&old->mask);
}

/* (after a SIGPIPE stop, stderr's reader is gone: SIGPIPE stays ignored, so that the lines still
 * to come fail, rather than end the run saved by a kill at the first of them) */
static void restore_handlers(const old_handlers *old) {
    for (int i = 0; i < TG_N_STOP_SIGNALS; i++)
        if (g_stops[i] == SIGPIPE && g_pipe_broken) signal(SIGPIPE, SIG_IGN);
        else sigaction(g_stops[i], &old->stop[i], NULL);
    sigaction(SIGCONT, &old->cont, NULL);
    pthread_sigmask(SIG_SETMASK, &old->mask, NULL);
}

/* A step's time as training time: a step stopped (Ctrl-Z, SIGSTOP) and continued counts as the
 * mean step so far, since the wait is not training time, which --time-limit, --fit-steps and
 * tok/s count. (A SIGCONT without a stop, as a scheduler's cancel sends before its SIGTERM, or a
 * pause too short to matter, changes nothing.) Over MPI, rank 0's time is every rank's: a pause
 * of another rank alone, which rank 0 waited out in the sum, is one too. */
static double step_time(const tg_run *r, tg_progress *pg, const step_result *res, tg_status s,
                        double dt, double mean) {
    if (!((g_continued || res->continued_rank >= 0) && dt > 2 * mean + 0.1)) return dt;
    char who[48] = "the process";
    if (!g_continued)
        snprintf(who, sizeof who, "rank %d of %d", res->continued_rank, tg_dist_size());
    int64_t step = s == TG_OK && !res->skipped ? r->st.step : r->st.step + 1;
    tg_progress_log(pg, "step %lld: %s was stopped and continued within it: %.1f s counted as "
                    "%.3f s of training (the mean step)", (long long)step, who, dt, mean);
    return mean;
}

/* The progress line every --log-every steps (and metrics.tsv's row; the interval's sums start
 * again), else a progress bar on a terminal. */
static void log_progress(tg_run *r, tg_progress *pg, const step_result *res, double step_s) {
    tg_run_interval *iv = &r->iv;
    char eta[32];
    tg_format_duration(eta_seconds(r, step_s), eta, sizeof eta);
    const char *eta_shown = isfinite(eta_seconds(r, step_s)) ? eta : "-";
    if (r->st.step % r->cfg.log_every == 0) {
        double loss = iv->loss / (double)iv->tokens, nll = iv->nll / (double)iv->tokens;
        double tok_s = (double)iv->tokens / iv->wall_s, gnorm = iv->grad_norm / (double)iv->steps;
        char el[32];
        tg_format_duration(r->st.train_seconds, el, sizeof el);
        tg_progress_log(pg, "step %lld | epoch %lld | loss %s | nll %s | ppl %s | lr %.3e | "
                        "gnorm %s | %.0f tgt tok/s | %s elapsed | ETA %s", (long long)r->st.step,
                        (long long)epoch_shown(r), tg_format_num(loss, 4).s,
                        tg_format_num(nll, 4).s, tg_format_num(exp(nll), 2).s, res->lr,
                        tg_format_num(gnorm, 3).s, tok_s, el, eta_shown);
        tg_metrics_row row = {"train", r->st.step, epoch_shown(r), r->st.train_seconds, res->lr,
                              loss, nll, exp(nll), tok_s, gnorm, NAN, NAN};
        tg_progress_metrics(pg, &row);
        memset(iv, 0, sizeof *iv);
    } else if (pg->tty) {
        char text[160];
        snprintf(text, sizeof text, "step %lld | loss %.3f | ETA %s", (long long)r->st.step,
                 res->loss, eta_shown);
        double done = r->cfg.max_steps > 0 ? (double)r->st.step : r->st.train_seconds;
        double total = r->cfg.max_steps > 0 ? (double)r->cfg.max_steps : r->cfg.time_limit;
        tg_progress_bar(pg, done, total, text);
    }
}

/* This step's validation: its row and best.ckpt, or, cut short by a stop signal, left pending
 * for the resume with *stop set (the run then stops); a failure saves what it can first. */
static tg_status validate_now(tg_run *r, tg_progress *pg, tg_run_diag *diag, int *stop,
                              tg_err *err) {
    valid_result v;
    tg_status s = validate(r, pg, &v, err);
    if (s != TG_OK) save_before_error(r, pg, diag, false, true);
    if (s == TG_OK && v.interrupted) {
        r->valid_pending = true;
        *stop = (int)g_stop_signal;
    }
    if (s == TG_OK && v.done) s = after_validation(r, pg, &v, err);
    return s;
}

/* What the loop leaves for the run's end. */
typedef struct {
    int64_t start_step;       /* the step this process started at */
    const char *reason;       /* the limit that ended the run (stop_reason), or NULL */
    int stop;                 /* a stop signal, agreed by every rank (0: none) */
    bool validated_now, saved_now;   /* the last step's validation ran, its last.ckpt was saved */
    bool ran_pending;         /* a resume's pending validation ran before the loop */
} loop_end;

static void log_done(const tg_run *r, tg_progress *pg, const char *reason) {
    char el[32], best[96] = "";
    tg_format_duration(r->st.train_seconds, el, sizeof el);
    if (r->st.best_bleu >= 0)   /* (no validation yet, or no dev set: no best to name) */
        snprintf(best, sizeof best, "; best dev BLEU %.2f at step %lld", r->st.best_bleu,
                 (long long)r->st.best_step);
    tg_progress_log(pg, "done: %s at step %lld after %s of training%s",
                    reason ? reason : "stopped", (long long)r->st.step, el, best);
    if (reason && fit_due(r))   /* a limit ended the run inside the warmup: no cosine was run */
        tg_progress_log(pg, "--fit-steps: the run ended at step %lld, before its fit at step %lld "
                        "(the end of --warmup %d), so its learning rate never decayed",
                        (long long)r->st.step, (long long)fit_at(r), r->cfg.warmup);
}

/* The end of a sound run. A stop saves (the end's validation, if it came with the run's end,
 * left for the resume); a run with nothing to do says so; an end validates and saves its last
 * step. */
static tg_status end_run(tg_run *r, tg_progress *pg, tg_run_diag *diag, loop_end *e,
                         tg_err *err) {
    tg_status s = TG_OK;
    if (e->stop) {
        if (e->reason && !e->validated_now && r->dev_iter) r->valid_pending = true;
        if (!e->saved_now) s = save_last(r, pg, diag, err);
        if (s == TG_OK) log_stopped(r, pg, e->stop);
        return s;
    }
    if (r->st.step == e->start_step && !e->ran_pending) {
        tg_progress_log(pg, "nothing to do: %s at step %lld", e->reason ? e->reason : "stopped",
                        (long long)r->st.step);
        /* a longer --time-limit on a run whose length --fit-steps fitted: its cosine ended */
        if (r->cfg.fit_steps && r->cfg.max_steps > 0 && r->st.step >= r->cfg.max_steps &&
            r->st.train_seconds < r->cfg.time_limit)
            tg_progress_log(pg, "--fit-steps set --max-steps %lld from the time limit the run "
                            "started with, and its cosine schedule has ended there: a longer "
                            "--time-limit does not extend the run (a larger --max-steps does, "
                            "stretching the cosine, whose rate rises again)",
                            (long long)r->cfg.max_steps);
        return TG_OK;
    }
    if (!e->validated_now && r->dev_iter) {
        s = validate_now(r, pg, diag, &e->stop, err);
        e->saved_now = false;
    }
    if (s == TG_OK && !e->saved_now) s = save_last(r, pg, diag, err);
    if (s == TG_OK && e->stop) log_stopped(r, pg, e->stop);
    else if (s == TG_OK) log_done(r, pg, e->reason);
    return s;
}

static void log_dist(tg_run *r, tg_progress *pg, int64_t start_step) {
    if (tg_dist_size() <= 1 || r->st.step <= start_step) return;
    double steps = (double)(r->st.step - start_step), sent = 1e-6 * (double)tg_dist_bytes_sent();
    double grad = 1e-6 * (double)tg_params_numel(tg_model_params(r->model)) * sizeof(tg_float);
    tg_progress_log(pg, "data-parallel over %d MPI ranks: rank 0 sent %.1f MB for the gradient "
                    "sums of %.0f steps (%.2f MB a step; the gradient is %.2f MB, %.0f%% of it "
                    "summed while backward ran)", tg_dist_size(), sent, steps, sent / steps, grad,
                    100 * tg_run_overlap_early(r));
}

/* The run's first last.ckpt, a reload target from the start; a resume's holds the step it
 * resumed, which keep_resumed keeps. */
static tg_status first_save(tg_run *r, tg_progress *pg, tg_run_diag *diag, tg_err *err) {
    bool fresh = r->st.step == 0 && r->st.skipped_steps == 0;
    r->saved_step = fresh ? -1 : r->st.step;
    if (fresh) return save_last(r, pg, diag, err);
    char path[TG_PATH_MAX + 32];
    ckpt_path(r, "last.ckpt", path, sizeof path);
    r->saved_file = file_id(path);
    tg_progress_log(pg, "resumed at step %lld (epoch %lld, %.0f s of training so far)",
                    (long long)r->st.step, (long long)epoch_shown(r), r->st.train_seconds);
    return keep_resumed(r, pg, err);
}

/* A resume of a run stopped inside this step's validation: the validation, then last.ckpt
 * (interrupted again: the loop stops at once, still pending). */
static tg_status run_pending(tg_run *r, tg_progress *pg, tg_run_diag *diag, loop_end *e,
                             tg_err *err) {
    valid_result v;
    tg_status s = validate(r, pg, &v, err);
    if (s != TG_OK || v.interrupted) return s;
    r->valid_pending = false;   /* before best.ckpt is written: it is not pending */
    if (v.done) s = after_validation(r, pg, &v, err);
    if (s == TG_OK) s = save_last(r, pg, diag, err);
    e->validated_now = e->saved_now = e->ran_pending = true;   /* an end is not validated twice */
    return s;
}

/* A step's figures into the interval's sums (in the checkpoint: a resume goes on with the same
 * sums); the mean step time. */
static double interval_add(tg_run_interval *iv, const step_result *res, double dt) {
    iv->loss += res->loss * (double)res->tokens;
    iv->nll += res->nll * (double)res->tokens;
    iv->grad_norm += res->grad_norm;
    iv->tokens += res->tokens;
    iv->wall_s += dt;
    iv->steps++;
    return iv->wall_s / (double)iv->steps;
}

/* What the loop keeps from step to step besides the run's own state. */
typedef struct {
    tg_progress pg;
    tg_run_diag diag;
    tg_batch b;
    loop_end e;
    double diag_s, session_train_s;   /* this process's, for the diagnostics' cost */
    int diag_runs;
    double step_s;                    /* the mean step time */
    double fit_s;                     /* the time of the steps --fit-steps timed */
    int64_t fit_n;                    /* steps timed for --fit-steps */
    bool told_by_rank0;               /* this rank's error is others' failure, which rank 0 tells */
    /* a failure no other rank can learn (the step's, out of memory before its sum): the job is
     * ended by MPI_Abort, as nothing else reaches the ranks waiting in the sum */
    bool lone;
} loop_state;

/* The log, the ranks' agreement on the start, the overlap and the diagnostics: 0, or 1 said. */
static int loop_open(tg_run *r, loop_state *L) {
    char msg[512];
    tg_err err = {{0}};
    const char *out = tg_dist_rank() == 0 ? r->cfg.out : NULL;
    if (tg_progress_open(&L->pg, out, r->st.step, r->valid_pending, msg, sizeof msg) != 0) {
        fprintf(stderr, "tapegrad train: %s\n", msg);
        return 1;
    }
    L->pg.stopping = &g_stop_signal;
    log_model(r, &L->pg);
    tg_status s = tg_run_agree_start(r, &err);
    if (s == TG_OK) s = tg_run_overlap_prepare(r, &err);
    if (s == TG_OK) s = tg_run_diag_open(&L->diag, r, &err);
    if (s != TG_OK) {
        if (tg_dist_rank() == 0 || !tg_dist_together()) fprintf(stderr, "tapegrad train: %s\n", err.msg);
        tg_progress_close(&L->pg);
        return 1;
    }
    L->e.start_step = r->st.step;
    return 0;
}

/* After a step that ran: its diagnostics, a skipped update's count and reload, --fit-steps, the
 * interval's sums and the log line, then the step's validation and save. A validation cut short
 * by a stop returns with L->e.stop set: the run stops, the step saved below the loop as pending. */
static tg_status after_step(tg_run *r, loop_state *L, const step_result *res, double dt,
                            tg_err *err) {
    tg_status s = TG_OK;
    loop_end *e = &L->e;
    if (!res->skipped && tg_run_diag_due(&L->diag, r->st.step)) {
        double d0 = now_s();
        s = tg_run_diag_write(&L->diag, r, r->st.step, err);
        if (s != TG_OK) return s;   /* (rank 0's alone: told at the agreement) */
        L->diag_s += now_s() - d0;
        L->diag_runs++;
    }
    e->validated_now = e->saved_now = false;
    if (res->skipped) {
        tg_progress_log(&L->pg, "step %lld: non-finite %s, update skipped (%lld in a row, %lld in "
                        "all)", (long long)r->st.step + 1,
                        isfinite(res->loss) ? "gradient" : "loss",
                        (long long)r->st.bad_steps, (long long)r->st.skipped_steps);
        if (r->st.bad_steps >= r->cfg.max_bad_steps) s = reload_last(r, &L->diag, &L->pg, err);
        return s;
    }
    if (fit_due(r) && r->st.step > fit_at(r) / 5) {
        L->fit_s += dt;
        L->fit_n++;
        if (r->st.step >= fit_at(r) && (s = fit_steps(r, &L->pg, L->fit_s, L->fit_n, err)) != TG_OK)
            return s;
    }
    L->step_s = interval_add(&r->iv, res, dt);   /* (in the checkpoint: a resume goes on) */
    log_progress(r, &L->pg, res, L->step_s);
    if (r->cfg.valid_every > 0 && r->st.step % r->cfg.valid_every == 0 && r->dev_iter) {
        s = validate_now(r, &L->pg, &L->diag, &e->stop, err);
        e->validated_now = true;
        if (s == TG_OK && e->stop) return s;
    }
    /* the step that ends the run saves after its validation (below the loop), not before it: a
     * last.ckpt at the end saved ahead of it would leave a kill during that validation with no
     * best.ckpt of the end, and a resume with nothing to do */
    bool ends_unvalidated = !e->validated_now && r->dev_iter && stop_reason(r);
    bool periodic = (r->cfg.save_every > 0 && r->st.step % r->cfg.save_every == 0) ||
                    tg_run_kept_for_good(r->st.step, r->cfg.keep_every);
    if (s == TG_OK && ((periodic && !ends_unvalidated) || e->validated_now)) {
        s = save_last(r, &L->pg, &L->diag, err);
        e->saved_now = true;
    }
    return s;
}

/* The end: the run's end (end_run, under the stop signals' handlers) when sound, the ranks told
 * of rank 0's failure, the last log lines, and the exit status. */
static int loop_close(tg_run *r, loop_state *L, const old_handlers *old, tg_status s, tg_err *err) {
    if (s == TG_OK) s = end_run(r, &L->pg, &L->diag, &L->e, err);
    log_dist(r, &L->pg, L->e.start_step);
    restore_handlers(old);
    tg_batch_free(&L->b);
    if (s == TG_OK) s = progress_status(&L->pg, err);
    /* a failure of rank 0's in the end's validation or save, told */
    if (!L->lone && !tg_dist_together()) {
        bool told = false;
        tg_err e2;
        tg_status a = tg_run_agree_end(r, s != TG_OK, &told, s != TG_OK ? &e2 : err);
        if (s == TG_OK) s = a;
        L->told_by_rank0 = L->told_by_rank0 || (told && tg_dist_rank() != 0);
    }
    if (L->diag_runs > 0)
        tg_progress_log(&L->pg, "diagnostics: %d at %.3f s each, %.2f%% of this session's %.1f s "
                        "of training", L->diag_runs, L->diag_s / L->diag_runs,
                        100 * L->diag_s / L->session_train_s, L->session_train_s);
    tg_run_diag_close(&L->diag);
    /* (a rank whose step was sound, in a step other ranks failed: rank 0 names them, and each
     * prints its own cause; a line from every rank would repeat rank 0's P-1 times) */
    if (s != TG_OK && L->pg.quiet && !L->told_by_rank0)
        fprintf(stderr, "tapegrad train: rank %d: error: %s\n", tg_dist_rank(), err->msg);
    else if (s != TG_OK) tg_progress_log(&L->pg, "error: %s", err->msg);
    tg_progress_close(&L->pg);
    return s == TG_OK ? 0 : 1;
}

int tg_run_train(tg_run *r) {
    loop_state L = {0};
    if (loop_open(r, &L) != 0) return 1;
    tg_err err = {{0}};
    old_handlers old;
    catch_stops(&old);
    tg_status s = first_save(r, &L.pg, &L.diag, &err);
    if (s == TG_OK && r->valid_pending) s = run_pending(r, &L.pg, &L.diag, &L.e, &err);
    /* a rank whose run failed alone (but in the step's sum and gather, which tell every rank): its
     * failure is told to all at the next agreement, so that every rank ends with exit 1, and none by
     * MPI_Abort (L.lone: one that cannot be told) */
    for (;;) {
        /* a failed log write (rank 0's alone) ends the run there */
        if (s == TG_OK) s = progress_status(&L.pg, &err);
        bool told = false;
        tg_err e2;
        L.e.stop = g_stop_signal;
        tg_status a = tg_run_agree(r, &L.e.stop, s != TG_OK, &told, s != TG_OK ? &e2 : &err);
        if (s == TG_OK) s = a;
        L.told_by_rank0 = told && tg_dist_rank() != 0;
        if (s != TG_OK || (L.e.reason = stop_reason(r)) || L.e.stop) break;
        step_result res;
        g_continued = 0;
        double t0 = now_s();
        s = train_step(r, &L.diag, &L.b, &res, &err);
        double mean = r->iv.steps > 0 ? r->iv.wall_s / (double)r->iv.steps : L.step_s;
        double dt = step_time(r, &L.pg, &res, s, now_s() - t0, mean);
        if (s != TG_OK && res.before_update)
            save_before_error(r, &L.pg, &L.diag, L.e.saved_now, false);
        L.told_by_rank0 = s != TG_OK && res.failed_elsewhere && tg_dist_rank() != 0;
        L.lone = s != TG_OK && tg_dist_size() > 1 && !tg_dist_together();
        if (s != TG_OK) break;   /* (every rank knows, or none can: above) */
        inject_stop("TAPEGRAD_STOP_AT_STEP", (long)r->st.step);
        r->st.train_seconds += dt;
        L.session_train_s += dt;
        s = after_step(r, &L, &res, dt, &err);
        if (s == TG_OK && L.e.stop) break;   /* a validation stopped: saved below as pending */
    }
    return loop_close(r, &L, &old, s, &err);
}
