/* run_ckpt.c: what a run's checkpoint holds, section by section, on top of ckpt_file.h:
 *   config       the run's settings, `key = value` lines (options.h)
 *   model        the model config, "key=value ..." (tg_model_config_str)
 *   vocab        the BPE vocabulary as text (absent for a synthetic task)
 *   param_index  element size, count, then each parameter's name and shape
 *   params       every parameter value, the one contiguous buffer as it is in memory
 *   adam         the optimiser's state (absent in an averaged checkpoint)
 *   state        step, data iterator, dropout stream, best score, early-stopping and
 *                divergence counters, lr scale, training time
 *   kernels      "portable" or "fast": which kernel family computed the run (they agree only
 *                to rounding, so an exact resume needs the same family)
 *   interval     the sums of the metrics interval so far (run.h's tg_run_interval), so that the
 *                first metrics row after a resume averages the steps an uninterrupted run's does
 * The format grows by sections: a reader looks up the ones it knows and passes over the others;
 * tg_run_load_model (a model to use) passes over adam, kernels and interval, which only a resume reads.
 *   valid_pending  present only when a stop signal cut the validation of the file's step short
 *                (the step, for a check): a resume runs that validation before training on
 *   dev          the number of dev pairs and a hash of them and of their texts (tg_run_dev_hash):
 *                a resume whose --dev reads other pairs (a relative path read from another
 *                folder, an edited file) is refused rather than validated on them
 * kernels, interval and dev came later than the rest, so a file may lack them (an older build's)
 * and still resume; an older build resumes a newer file, its interval starting empty (and passing
 * over a pending validation and the dev check).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/kernels/kernels.h"
#include "train/ckpt/ckpt_file.h"
#include "train/ckpt/ckpt_le.h"
#include "train/ckpt/params_file.h"
#include "train/run/run.h"
#include "train/run/text_out.h"

#define STATE_VERSION 1u
#define INTERVAL_VERSION 1u
#define PENDING_VERSION 1u
#define DEV_VERSION 1u

/* avx2 and avx512 compute the same bits: one family. */
static const char *kernel_family(void) {
    return tg_k_current() == TG_K_PORTABLE ? "portable" : "fast";
}

static void state_write(tg_ckpt_buf *b, const tg_run_state *s) {
    tg_ckpt_buf_u32(b, STATE_VERSION);
    tg_ckpt_buf_i64(b, s->step);
    tg_ckpt_buf_u64(b, s->iter.seed);
    tg_ckpt_buf_u64(b, s->iter.epoch);
    tg_ckpt_buf_u64(b, s->iter.pos);
    tg_ckpt_buf_u64(b, s->iter.fingerprint);
    tg_ckpt_buf_u64(b, s->dropout_rng.seed);
    tg_ckpt_buf_u64(b, s->dropout_rng.counter);
    tg_ckpt_buf_f64(b, s->best_bleu);
    tg_ckpt_buf_i64(b, s->best_step);
    tg_ckpt_buf_i64(b, s->bad_validations);
    tg_ckpt_buf_i64(b, s->bad_steps);
    tg_ckpt_buf_i64(b, s->skipped_steps);
    tg_ckpt_buf_i64(b, s->reloads);
    tg_ckpt_buf_f64(b, s->lr_scale);
    tg_ckpt_buf_f64(b, s->train_seconds);
    tg_ckpt_buf_i64(b, s->tokens_seen);
}

/* Every field of a (possibly hand-edited) state within what a run can reach, so that no counter
 * overflows and no limit is defeated (a NaN training time would never reach --time-limit). */
static tg_status state_check(const tg_run_state *s, const char *path, tg_err *err) {
    const int64_t max_count = (int64_t)1e15;   /* --max-steps' own bound */
    const struct { const char *name; int64_t v, hi; } counts[] = {
        {"step", s->step, max_count}, {"best_step", s->best_step, s->step},
        {"bad_validations", s->bad_validations, max_count}, {"bad_steps", s->bad_steps, max_count},
        {"skipped_steps", s->skipped_steps, max_count}, {"reloads", s->reloads, max_count},
        {"tokens_seen", s->tokens_seen, INT64_MAX / 2},
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (counts[i].v < 0 || counts[i].v > counts[i].hi)
            return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'state': %s = %lld is outside [0, %lld]", path,
                              counts[i].name, (long long)counts[i].v, (long long)counts[i].hi);
    if (!(s->train_seconds >= 0 && s->train_seconds <= 1e12))
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'state': train_seconds = %g is outside [0, 1e12]",
                          path, s->train_seconds);
    if (!(s->lr_scale > 0 && s->lr_scale <= 1))
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'state': lr_scale = %g is outside (0, 1]", path,
                          s->lr_scale);
    /* a perfect score, exp of the mean log precision, may come out a few ulps above 100 */
    if (!(s->best_bleu == -1 || (s->best_bleu >= 0 && s->best_bleu <= 100 + 1e-9)))
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'state': best_bleu = %g is neither -1 nor in [0, 100]",
                          path, s->best_bleu);
    return TG_OK;
}

/* A cursor on section `name`'s bytes p[0 .. n) past its leading u32 version, which must be the one
 * this build reads. Its errors name the file: what (TG_PATH_MAX + 64 bytes, alive as long as the
 * cursor) gets "PATH: section 'NAME'". */
static tg_status versioned_cursor(tg_ckpt_cur *c, const void *p, size_t n, const char *path, const char *name,
                                  uint32_t want, char *what, tg_err *err) {
    uint32_t version = 0;
    snprintf(what, TG_PATH_MAX + 64, "%s: section '%s'", path, name);
    tg_ckpt_cur_init(c, p, n, what);
    tg_ckpt_cur_u32(c, &version);
    if (c->st == TG_OK && version != want)
        return tg_err_set(err, TG_ERR_VERSION, "%s has version %u, this build reads %u", what, version, want);
    return TG_OK;
}

static tg_status state_read(const void *p, size_t n, const char *path, tg_run_state *s, tg_err *err) {
    tg_ckpt_cur c;
    char what[TG_PATH_MAX + 64];
    tg_status st = versioned_cursor(&c, p, n, path, "state", STATE_VERSION, what, err);
    if (st != TG_OK) return st;
    tg_ckpt_cur_i64(&c, &s->step);
    tg_ckpt_cur_u64(&c, &s->iter.seed);
    tg_ckpt_cur_u64(&c, &s->iter.epoch);
    tg_ckpt_cur_u64(&c, &s->iter.pos);
    tg_ckpt_cur_u64(&c, &s->iter.fingerprint);
    tg_ckpt_cur_u64(&c, &s->dropout_rng.seed);
    tg_ckpt_cur_u64(&c, &s->dropout_rng.counter);
    tg_ckpt_cur_f64(&c, &s->best_bleu);
    tg_ckpt_cur_i64(&c, &s->best_step);
    tg_ckpt_cur_i64(&c, &s->bad_validations);
    tg_ckpt_cur_i64(&c, &s->bad_steps);
    tg_ckpt_cur_i64(&c, &s->skipped_steps);
    tg_ckpt_cur_i64(&c, &s->reloads);
    tg_ckpt_cur_f64(&c, &s->lr_scale);
    tg_ckpt_cur_f64(&c, &s->train_seconds);
    tg_ckpt_cur_i64(&c, &s->tokens_seen);
    st = tg_ckpt_cur_finish(&c, err);
    return st == TG_OK ? state_check(s, path, err) : st;
}

static void interval_write(tg_ckpt_buf *b, const tg_run_interval *iv) {
    tg_ckpt_buf_u32(b, INTERVAL_VERSION);
    tg_ckpt_buf_i64(b, iv->steps);
    tg_ckpt_buf_i64(b, iv->tokens);
    tg_ckpt_buf_f64(b, iv->loss);
    tg_ckpt_buf_f64(b, iv->nll);
    tg_ckpt_buf_f64(b, iv->grad_norm);
    tg_ckpt_buf_f64(b, iv->wall_s);
}

/* An interval's sums against the run standing at st, as state_check checks the state: no more
 * updates or tokens than the run has made, finite sums >= 0, all 0 for no update, loss and nll 0
 * for no token, and means no run can exceed. A run diverging on the way to a skipped update makes
 * losses of 1e18 a token (its perplexity shows as inf) and what it wrote must load again; but a
 * token's loss is at most the spread of float logits (lse - x_t < 2 FLT_MAX + log V, 6.9e38) and
 * the norm of a finite float gradient at most FLT_MAX sqrt(its elements), 1.5e48 for 2^64. */
#define INTERVAL_MAX_PER_TOKEN 1e39
#define INTERVAL_MAX_GRAD_NORM 1e50

static tg_status interval_check(const tg_run_interval *iv, const tg_run_state *st, const char *path,
                                tg_err *err) {
    if (iv->steps < 0 || iv->steps > st->step)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'interval': steps = %lld is outside [0, %lld]", path,
                          (long long)iv->steps, (long long)st->step);
    if (iv->tokens < 0 || iv->tokens > st->tokens_seen)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'interval': tokens = %lld is outside [0, %lld]", path,
                          (long long)iv->tokens, (long long)st->tokens_seen);
    const struct { const char *name; double v; int64_t per; double max_mean; } sums[] = {
        {"loss", iv->loss, iv->tokens, INTERVAL_MAX_PER_TOKEN}, {"nll", iv->nll, iv->tokens, INTERVAL_MAX_PER_TOKEN},
        {"grad_norm", iv->grad_norm, iv->steps, INTERVAL_MAX_GRAD_NORM}, {"wall_s", iv->wall_s, iv->steps, 1e12},
    };
    for (size_t i = 0; i < sizeof sums / sizeof sums[0]; i++) {
        if (!(isfinite(sums[i].v) && sums[i].v >= 0))
            return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'interval': %s = %g is not a finite sum >= 0", path,
                              sums[i].name, sums[i].v);
        if (iv->steps == 0 && (sums[i].v != 0 || iv->tokens != 0))
            return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'interval': %s = %g, tokens = %lld over 0 steps "
                              "(an empty interval sums to 0)", path, sums[i].name, sums[i].v, (long long)iv->tokens);
        if (sums[i].per == 0 && sums[i].v != 0)
            return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'interval': %s = %g over 0 tokens", path,
                              sums[i].name, sums[i].v);
        if (sums[i].per > 0 && sums[i].v / (double)sums[i].per > sums[i].max_mean)
            return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'interval': %s = %g over %lld is a mean above %g",
                              path, sums[i].name, sums[i].v, (long long)sums[i].per, sums[i].max_mean);
    }
    return TG_OK;
}

/* A cursor on optional section `name` of version `want` (what: as versioned_cursor's), and whether
 * the file has it (*present false: an older build's file, TG_OK). */
static tg_status optional_cursor(const tg_ckpt_reader *rd, const char *name, uint32_t want, tg_ckpt_cur *c,
                                 char *what, bool *present, tg_err *err) {
    *present = tg_ckpt_reader_find(rd, name) != NULL;
    if (!*present) return TG_OK;
    const void *p;
    size_t n;
    tg_status s = tg_ckpt_reader_get(rd, name, &p, &n, err);
    const char *path = tg_ckpt_reader_shown(rd);
    return s == TG_OK ? versioned_cursor(c, p, n, path, name, want, what, err) : s;
}

/* The interval of a run standing at st, checked (interval_check); an absent section (a file from
 * before it existed) is an empty interval. Only a resume reads it. */
static tg_status interval_read(const tg_ckpt_reader *rd, const tg_run_state *st, tg_run_interval *iv,
                               tg_err *err) {
    memset(iv, 0, sizeof *iv);
    tg_ckpt_cur c;
    char what[TG_PATH_MAX + 64];
    bool present;
    tg_status s = optional_cursor(rd, "interval", INTERVAL_VERSION, &c, what, &present, err);
    if (s != TG_OK || !present) return s;
    tg_ckpt_cur_i64(&c, &iv->steps);
    tg_ckpt_cur_i64(&c, &iv->tokens);
    tg_ckpt_cur_f64(&c, &iv->loss);
    tg_ckpt_cur_f64(&c, &iv->nll);
    tg_ckpt_cur_f64(&c, &iv->grad_norm);
    tg_ckpt_cur_f64(&c, &iv->wall_s);
    s = tg_ckpt_cur_finish(&c, err);
    return s == TG_OK ? interval_check(iv, st, tg_ckpt_reader_shown(rd), err) : s;
}

/* Whether the file's validation is pending (section valid_pending, which names the state's step). */
static tg_status pending_read(const tg_ckpt_reader *rd, const tg_run_state *st, bool *pending, tg_err *err) {
    tg_ckpt_cur c;
    char what[TG_PATH_MAX + 64];
    tg_status s = optional_cursor(rd, "valid_pending", PENDING_VERSION, &c, what, pending, err);
    if (s != TG_OK || !*pending) return s;
    int64_t step = -1;
    tg_ckpt_cur_i64(&c, &step);
    s = tg_ckpt_cur_finish(&c, err);
    if (s == TG_OK && step != st->step)
        s = tg_err_set(err, TG_ERR_CORRUPT, "%s: step = %lld, the state's is %lld", what, (long long)step,
                       (long long)st->step);
    return s;
}

/* The file's dev set is the run's (section dev; a file without it, from an older build, passes). */
static tg_status dev_check(const tg_ckpt_reader *rd, const tg_run *r, tg_err *err) {
    tg_ckpt_cur c;
    char what[TG_PATH_MAX + 64];
    bool present;
    tg_status s = optional_cursor(rd, "dev", DEV_VERSION, &c, what, &present, err);
    if (s != TG_OK || !present) return s;
    uint64_t n = 0, hash = 0;
    tg_ckpt_cur_u64(&c, &n);
    tg_ckpt_cur_u64(&c, &hash);
    s = tg_ckpt_cur_finish(&c, err);
    /* --dev shown in 120 bytes: with both names at TG_SHOWN_MAX the advice was cut off the end */
    if (s == TG_OK && (n != r->dev.n || hash != tg_run_dev_hash(r)))
        s = tg_err_set(err, TG_ERR_STATE, "%s was validated on another dev set (%llu pairs) than "
                       "--dev %s reads now (%zu pairs): config.txt's relative paths are read from "
                       "the current folder: give the command from the folder the run started in",
                       tg_ckpt_reader_shown(rd), (unsigned long long)n,
                       r->cfg.dev[0] ? TG_SHOWN_IN(120, r->cfg.dev) : "(the task's)",
                       r->dev.n);
    return s;
}

tg_status tg_run_check_dev(const char *path, const tg_run *r, tg_err *err) {
    tg_ckpt_reader *rd;
    tg_status s = tg_ckpt_reader_open(path, &rd, err);
    if (s != TG_OK) return s;
    s = dev_check(rd, r, err);
    tg_ckpt_reader_free(rd);
    return s;
}

/* The state of path's checkpoint, read with its directory alone (tg_ckpt_reader_open_one: not the
 * parameters), and whether it holds optimiser state (resumable may be NULL). */
static tg_status state_only(const char *path, tg_run_state *st, bool *resumable, tg_err *err) {
    tg_ckpt_reader *rd;
    tg_status s = tg_ckpt_reader_open_one(path, "state", &rd, err);
    if (s != TG_OK) return s;
    const void *p;
    size_t n;
    s = tg_ckpt_reader_get(rd, "state", &p, &n, err);
    if (s == TG_OK) s = state_read(p, n, tg_ckpt_reader_shown(rd), st, err);
    if (resumable) *resumable = tg_ckpt_reader_find(rd, "adam") != NULL;
    tg_ckpt_reader_free(rd);
    return s;
}

tg_status tg_run_check_data(const char *path, tg_run *r, tg_err *err) {
    tg_run_state st;
    tg_status s = state_only(path, &st, NULL, err);
    if (s == TG_OK) {   /* as the resume checks it (tg_run_restore), the iterator then put back */
        tg_batch_iter_state was = tg_batch_iter_get_state(r->iter);
        tg_err e2;
        if (tg_batch_iter_set_state(r->iter, &st.iter, &e2) != TG_OK)
            s = tg_err_set(err, TG_ERR_STATE, "%s was trained on other data than --train reads now: %s (relative paths "
                           "in the run's config.txt are read from the current folder: give the command from the folder "
                           "the run started in)", TG_SHOWN(path), e2.msg);
        else tg_batch_iter_set_state(r->iter, &was, &e2);
    }
    return s;
}

/* Every section but adam: what a model-only (averaged) checkpoint holds too. */
tg_status tg_ckpt_write_model(tg_ckpt_writer *w, const tg_run_config *cfg, const tg_model *m,
                              const tg_bpe *bpe, const tg_run_state *st, tg_err *err) {
    enum { CFG_MAX = 64 * 1024 };
    char *text = malloc(CFG_MAX);
    if (!text) return tg_err_set(err, TG_ERR_NOMEM, "checkpoint: out of memory");
    tg_status s = TG_OK;
    int n = tg_run_config_format(cfg, text, CFG_MAX);
    if (n >= CFG_MAX) s = tg_err_set(err, TG_ERR_ARG, "checkpoint: config too long");
    if (s == TG_OK) s = tg_ckpt_writer_add(w, "config", text, (size_t)n, err);
    n = tg_model_config_str(tg_model_cfg(m), text, CFG_MAX);
    if (s == TG_OK) s = tg_ckpt_writer_add(w, "model", text, (size_t)n, err);
    free(text);
    if (s == TG_OK && bpe) {
        tg_str vt = {0};
        s = tg_bpe_save_text(bpe, &vt, err);
        if (s == TG_OK) s = tg_ckpt_writer_add(w, "vocab", vt.s, vt.n, err);
        tg_str_free(&vt);
    }
    if (s == TG_OK) s = tg_params_write(tg_model_params(m), w, err);
    tg_ckpt_buf b;
    tg_ckpt_buf_init(&b);
    state_write(&b, st);
    if (s == TG_OK) s = tg_ckpt_writer_add_buf(w, "state", &b, err);
    tg_ckpt_buf_free(&b);
    return s;
}

tg_status tg_run_save(const tg_run *r, const char *path, tg_err *err) {
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    if (!w) return tg_err_set(err, TG_ERR_NOMEM, "checkpoint: out of memory");
    tg_status s = tg_ckpt_write_model(w, &r->cfg, r->model, r->bpe, &r->st, err);
    if (s == TG_OK) s = tg_ckpt_writer_begin(w, "adam", err);
    if (s == TG_OK) s = tg_adam_state_write(r->adam, tg_ckpt_writer_sink, w, err);
    if (s == TG_OK) s = tg_ckpt_writer_add(w, "kernels", kernel_family(), strlen(kernel_family()), err);
    tg_ckpt_buf b;
    tg_ckpt_buf_init(&b);
    interval_write(&b, &r->iv);
    if (s == TG_OK) s = tg_ckpt_writer_add_buf(w, "interval", &b, err);
    tg_ckpt_buf_free(&b);
    tg_ckpt_buf_init(&b);
    tg_ckpt_buf_u32(&b, DEV_VERSION);
    tg_ckpt_buf_u64(&b, r->dev.n);
    tg_ckpt_buf_u64(&b, tg_run_dev_hash(r));
    if (s == TG_OK) s = tg_ckpt_writer_add_buf(w, "dev", &b, err);
    tg_ckpt_buf_free(&b);
    if (r->valid_pending) {
        tg_ckpt_buf_init(&b);
        tg_ckpt_buf_u32(&b, PENDING_VERSION);
        tg_ckpt_buf_i64(&b, r->st.step);
        if (s == TG_OK) s = tg_ckpt_writer_add_buf(w, "valid_pending", &b, err);
        tg_ckpt_buf_free(&b);
    }
    size_t n = strlen(r->cfg.out) + sizeof "/last.ckpt";
    char *like = malloc(n);   /* (off the stack, as the callers' paths: ulimit -s 64) */
    if (!like && s == TG_OK) s = tg_err_set(err, TG_ERR_NOMEM, "checkpoint: out of memory");
    if (like) snprintf(like, n, "%s/last.ckpt", r->cfg.out);
    if (s == TG_OK) s = tg_ckpt_writer_save_like(w, path, like, err);
    free(like);
    tg_ckpt_writer_free(w);
    return s;
}

/* ---- loading ---- */

static tg_status get_text(const tg_ckpt_reader *rd, const char *name, char **out, tg_err *err) {
    const void *p;
    size_t n;
    tg_status s = tg_ckpt_reader_get(rd, name, &p, &n, err);
    if (s != TG_OK) return s;
    char *t = malloc(n + 1);
    if (!t) return tg_err_set(err, TG_ERR_NOMEM, "checkpoint: out of memory");
    memcpy(t, p, n);
    t[n] = '\0';
    if (strlen(t) != n) {
        free(t);
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section '%s' holds a NUL byte",
                          tg_ckpt_reader_shown(rd), name);
    }
    *out = t;
    return TG_OK;
}

/* "k=v k=v ..." -> model config, field by field. */
static tg_status parse_model(const char *text, const char *path, tg_model_config *m, tg_err *err) {
    *m = tg_model_config_default();
    const char *p = text;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char tok[256];
        if (len >= sizeof tok) return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'model': bad entry", path);
        memcpy(tok, p, len);
        tok[len] = '\0';
        char *eq = strchr(tok, '=');
        if (!eq)
            return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'model': '%s' is not key=value",
                              path, TG_SHOWN(tok));
        *eq = '\0';
        tg_err e2;
        if (tg_model_config_set(m, tok, eq + 1, &e2) != TG_OK)
            return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'model': %s", path, e2.msg);
        p += len;
    }
    tg_err e2;
    if (tg_model_config_validate(m, &e2) != TG_OK)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'model': %s", path, e2.msg);
    return TG_OK;
}

/* Before a model is built from a file: its positions table within a run's, its parameter count
 * within TG_RUN_MAX_PARAMS and equal to what the params section holds, and the config section's
 * architecture the model section's. A 17 KB file cannot ask for gigabytes. */
static tg_status model_fits(const tg_ckpt_reader *rd, const tg_model_config *m, const tg_run_config *cfg,
                            tg_err *err) {
    const char *path = tg_ckpt_reader_shown(rd);
    if (m->max_len > TG_RUN_MAX_POSITIONS)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'model': max_len = %d, a run's model has at most %d",
                          path, m->max_len, TG_RUN_MAX_POSITIONS);
    uint64_t count = tg_model_config_param_count(m);
    if (count > TG_RUN_MAX_PARAMS)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'model' implies %llu parameters, more than the %llu "
                          "tapegrad builds", path, (unsigned long long)count, (unsigned long long)TG_RUN_MAX_PARAMS);
    const void *p;
    size_t n;
    uint32_t elem = 0;
    tg_status s = tg_ckpt_reader_get(rd, "param_index", &p, &n, err);
    if (s == TG_OK && n >= 4) elem = tg_le_get32(p);
    if (s == TG_OK && elem != 4 && elem != 8)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'param_index': parameters of %u bytes each", path, elem);
    if (s == TG_OK) s = tg_ckpt_reader_get(rd, "params", &p, &n, err);
    if (s == TG_OK && n != count * elem)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'model' implies %llu parameters (%llu bytes), section "
                          "'params' holds %zu bytes", path, (unsigned long long)count,
                          (unsigned long long)(count * elem), n);
    tg_model_config from_cfg;
    tg_err e2;
    if (s == TG_OK && tg_run_model_config(cfg, m->vocab, &from_cfg, &e2) != TG_OK)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'config': %s", path, e2.msg);
    if (s != TG_OK) return s;
    from_cfg.max_len = m->max_len;
    char a[512], b[512];
    tg_model_config_str(&from_cfg, a, sizeof a);
    tg_model_config_str(m, b, sizeof b);
    if (strcmp(a, b))
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'config' describes the model %s, section 'model' %s",
                          path, a, b);
    return TG_OK;
}

/* The model's values from the checkpoint (names and shapes checked), and the hash of their bytes. */
static tg_status load_params(const tg_ckpt_reader *rd, tg_model *m, uint64_t *hash, tg_err *err) {
    tg_status s = tg_params_read(tg_model_params(m), rd, err);
    const void *p;
    size_t n;
    if (s == TG_OK) s = tg_ckpt_reader_get(rd, "params", &p, &n, err);
    if (s == TG_OK) *hash = tg_ckpt_hash64(p, n);
    return s;
}

/* The run config of section 'config' (the defaults under the keys it lacks: an older build's). */
static tg_status read_config(const tg_ckpt_reader *rd, const char *path, tg_run_config *cfg, tg_err *err) {
    char *text = NULL;
    tg_run_config_default(cfg);
    tg_status s = get_text(rd, "config", &text, err);
    if (s == TG_OK) {
        tg_err e2;
        if (tg_run_config_parse(cfg, text, path, &e2) != TG_OK)
            s = tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'config': %s", path, e2.msg);
        free(text);
    }
    return s;
}

tg_status tg_run_load_config(const char *path, tg_run_config *cfg, tg_err *err) {
    tg_ckpt_reader *rd;
    tg_status s = tg_ckpt_reader_open(path, &rd, err);
    if (s != TG_OK) return s;
    s = read_config(rd, tg_ckpt_reader_shown(rd), cfg, err);
    tg_ckpt_reader_free(rd);
    return s;
}

tg_status tg_run_load_model(const char *path, tg_loaded *out, tg_err *err) {
    memset(out, 0, sizeof *out);
    tg_ckpt_reader *rd;
    tg_status s = tg_ckpt_reader_open(path, &rd, err);
    if (s != TG_OK) return s;
    path = tg_ckpt_reader_shown(rd);   /* the messages' (rd freed last) */
    char *text = NULL;
    tg_model_config mcfg;
    s = read_config(rd, path, &out->cfg, err);
    if (s == TG_OK) s = get_text(rd, "model", &text, err);
    if (s == TG_OK) s = parse_model(text, path, &mcfg, err);
    free(text);
    /* Only a synthetic task's run has no vocabulary (its ids are its text): a text run's checkpoint
     * that lost the section is refused, not read as ids. */
    if (s == TG_OK && !out->cfg.task[0] && !tg_ckpt_reader_find(rd, "vocab"))
        s = tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'vocab' is missing (the run trained on text, not "
                       "on a synthetic task): the checkpoint is incomplete", path);
    if (s == TG_OK && tg_ckpt_reader_find(rd, "vocab")) {
        const void *p;
        size_t n;
        /* its errors' line numbers count the section's text, not the file's lines: said so */
        char name[TG_PATH_MAX + 32];
        snprintf(name, sizeof name, "%s's embedded vocabulary", path);
        s = tg_ckpt_reader_get(rd, "vocab", &p, &n, err);
        if (s == TG_OK) s = tg_bpe_load_text(&out->bpe, p, n, name, err);
        if (s == TG_OK && tg_bpe_vocab_size(out->bpe) != mcfg.vocab)
            s = tg_err_set(err, TG_ERR_CORRUPT, "%s: vocabulary of %d pieces, the model has %d", path,
                           tg_bpe_vocab_size(out->bpe), mcfg.vocab);
    }
    if (s == TG_OK) s = model_fits(rd, &mcfg, &out->cfg, err);
    if (s == TG_OK) {
        out->model = tg_model_new(&mcfg, out->cfg.seed, err);
        if (!out->model) s = TG_ERR_CORRUPT;
    }
    if (s == TG_OK) s = load_params(rd, out->model, &out->param_hash, err);
    if (s == TG_OK) {
        const void *p;
        size_t n;
        s = tg_ckpt_reader_get(rd, "state", &p, &n, err);
        if (s == TG_OK) s = state_read(p, n, path, &out->st, err);
    }
    out->valid_pending = tg_ckpt_reader_find(rd, "valid_pending") != NULL;   /* (a resume checks it) */
    tg_ckpt_reader_free(rd);
    if (s != TG_OK) tg_loaded_free(out);
    return s;
}

void tg_loaded_free(tg_loaded *l) {
    tg_model_free(l->model);
    tg_bpe_free(l->bpe);
    l->model = NULL;
    l->bpe = NULL;
}

bool tg_run_same_vocab(const tg_bpe *a, const tg_bpe *b) {
    if (!a || !b) return a == b;
    tg_str ta = {0}, tb = {0};
    tg_err err;
    bool same = tg_bpe_save_text(a, &ta, &err) == TG_OK && tg_bpe_save_text(b, &tb, &err) == TG_OK &&
                ta.n == tb.n && memcmp(ta.s, tb.s, ta.n) == 0;
    tg_str_free(&ta);
    tg_str_free(&tb);
    return same;
}

tg_status tg_run_snapshot_step(const char *path, int64_t *step, bool *resumable, tg_err *err) {
    tg_run_state st;
    tg_status s = state_only(path, &st, resumable, err);
    if (s == TG_OK) *step = st.step;
    return s;
}

tg_status tg_run_restore(tg_run *r, const char *path, tg_err *err) {
    tg_ckpt_reader *rd;
    tg_status s = tg_ckpt_reader_open(path, &rd, err);
    if (s != TG_OK) return s;
    path = tg_ckpt_reader_shown(rd);   /* the messages' (rd freed last) */
    uint64_t hash;
    const void *p;
    size_t n;
    tg_run_state st;
    tg_run_interval iv;
    bool pending = false;
    s = load_params(rd, r->model, &hash, err);
    if (s == TG_OK && !tg_ckpt_reader_find(rd, "adam"))
        s = tg_err_set(err, TG_ERR_FORMAT, "%s has no optimiser state (an averaged checkpoint?): it "
                       "cannot be resumed", path);
    if (s == TG_OK) s = tg_ckpt_reader_get(rd, "adam", &p, &n, err);
    if (s == TG_OK) {
        tg_err e2;
        if (tg_adam_state_load(r->adam, p, n, &e2) != TG_OK)
            s = tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'adam': %s", path, e2.msg);
    }
    if (s == TG_OK) s = tg_ckpt_reader_get(rd, "state", &p, &n, err);
    if (s == TG_OK) s = state_read(p, n, path, &st, err);
    if (s == TG_OK) s = interval_read(rd, &st, &iv, err);
    if (s == TG_OK) s = pending_read(rd, &st, &pending, err);
    if (s == TG_OK) s = dev_check(rd, r, err);
    if (s == TG_OK) {
        tg_err e2;
        if (tg_batch_iter_set_state(r->iter, &st.iter, &e2) != TG_OK)
            s = tg_err_set(err, TG_ERR_ARG, "%s: the data iterator cannot continue: %s (relative paths in the run's "
                           "config.txt are read from the current folder: resume from the folder the run started in)",
                           path, e2.msg);
    }
    if (s == TG_OK) {
        r->st = st;
        r->iv = iv;
        r->valid_pending = pending;
        tg_ctx_set_rng(r->ctx, st.dropout_rng);
        const tg_ckpt_section *k = tg_ckpt_reader_find(rd, "kernels");
        if (k && tg_ckpt_reader_get(rd, "kernels", &p, &n, err) == TG_OK &&
            (n != strlen(kernel_family()) || memcmp(p, kernel_family(), n))) {
            /* the name is the file's text: shown escaped, a hand-edited one sends no terminal escapes */
            fprintf(stderr, "tapegrad train: warning: %s was computed with the '", path);
            tg_fput_shown(stderr, p, n > 64 ? 64 : n);
            fprintf(stderr, "' kernels, this run uses the %s ones: it continues, but rounds differently from a "
                            "run never stopped\n", kernel_family());
        }
    }
    tg_ckpt_reader_free(rd);
    return s;
}
