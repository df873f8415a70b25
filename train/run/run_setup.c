/* run_setup.c: a run's data, vocabulary, model, optimiser and context, fresh or resumed. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "datasets/shown.h"
#include "train/ckpt/atomic_file.h"
#include "train/run/dist.h"
#include "train/run/run.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *g_say_as = "train";

void tg_run_say_as(const char *command) { g_say_as = command; }

/* A progress line on stderr; over MPI only rank 0's (the ranks read the same data). */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void say(const char *fmt, ...) {
    if (tg_dist_rank() != 0) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tapegrad %s: ", g_say_as);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static void report_skipped(const char *what, const tg_corpus_stats *s) {
    for (int k = 0; k < TG_BAD_REASON_COUNT; k++)
        if (s->skipped[k])
            say("%s: skipped %zu line%s: %s (first at line %zu)\n", TG_SHOWN(tg_file_shown(what)),
                    s->skipped[k], s->skipped[k] == 1 ? "" : "s", tg_bad_reason_str((tg_bad_reason)k),
                    s->first_line[k]);
}

/* Text of an id sequence for a synthetic task: the ids, space-separated. */
static char *ids_text(const int32_t *ids, int n) {
    tg_str t = {0};
    tg_err err;
    if (tg_run_detok(NULL, ids, n, &t, &err) != TG_OK) return NULL;
    char *s = strdup(t.s ? t.s : "");
    tg_str_free(&t);
    return s;
}

tg_status tg_run_vocab_save(const tg_bpe *bpe, const char *path, tg_err *err) {
    tg_str t = {0};
    tg_status st = tg_bpe_save_text(bpe, &t, err);
    if (st == TG_OK) st = tg_afile_save(path, t.s, t.n, err);
    tg_str_free(&t);
    return st;
}

/* Keeps the pairs whose sides fit the model's positions (a run from before --task-max-len was
 * limited); the others are counted in n_filtered, as tg_dataset_from_corpus does. */
static tg_status fit_positions(tg_dataset *ds, tg_err *err) {
    tg_dataset kept = {0};
    tg_status s = TG_OK;
    for (size_t i = 0; s == TG_OK && i < ds->n; i++) {
        const int32_t *p = ds->ids + ds->off[i];
        if (ds->src_len[i] > TG_RUN_MAX_PIECES || ds->tgt_len[i] > TG_RUN_MAX_PIECES) kept.n_filtered++;
        else s = tg_dataset_add(&kept, p, ds->src_len[i], p + ds->src_len[i], ds->tgt_len[i], ds->index[i], err);
    }
    if (s == TG_OK && kept.n == 0)
        s = tg_err_set(err, TG_ERR_ARG, "no synthetic pair fits %d positions", TG_RUN_MAX_POSITIONS);
    if (s == TG_OK && kept.n_filtered)
        say("%zu pairs longer than %d symbols (the model's positions) dropped\n", kept.n_filtered,
            TG_RUN_MAX_PIECES);
    kept.n_filtered += ds->n_filtered;
    tg_dataset_free(ds);
    *ds = kept;
    if (s != TG_OK) tg_dataset_free(ds);
    return s;
}

/* A synthetic task's dev set: another draw of the same task, 5% of the training size in 50..500. */
static tg_status synth_dev(const tg_run_config *c, tg_synth_opts o, tg_dataset *dev, tg_err *err) {
    size_t n_dev = (size_t)c->task_size / 20;
    if (n_dev < 50) n_dev = 50;
    if (n_dev > 500) n_dev = 500;
    o.seed = c->seed + 1000003;
    return tg_synth_dataset(dev, &o, n_dev, err);
}

static tg_status synth_opts(const tg_run_config *c, tg_synth_opts *o, tg_err *err) {
    *o = (tg_synth_opts){.vocab = c->task_vocab + TG_N_SPECIAL, .min_len = c->task_min_len,
                         .max_len = c->task_max_len, .seed = c->seed};
    return tg_synth_task_parse(c->task, &o->task, err);
}

static tg_status synth_data(tg_run *r, tg_err *err) {
    const tg_run_config *c = &r->cfg;
    tg_synth_opts o;
    tg_status s = synth_opts(c, &o, err);
    if (s == TG_OK) s = tg_synth_dataset(&r->train, &o, (size_t)c->task_size, err);
    if (s == TG_OK && c->task_max_len > TG_RUN_MAX_PIECES) s = fit_positions(&r->train, err);
    if (s == TG_OK) s = synth_dev(c, o, &r->dev, err);
    return s;
}

/* r's dev pairs of corpus dev as bpe encodes them, those that fit the positions table, with their
 * texts (r->dev, r->dev_src, r->dev_ref). */
static tg_status dev_from_corpus(tg_run *r, const tg_corpus *dev, tg_bpe *bpe, tg_err *err) {
    tg_status s = tg_dataset_from_corpus(&r->dev, dev, bpe, TG_RUN_MAX_POSITIONS - 2, err);
    if (s == TG_OK) {
        r->dev_src = calloc(r->dev.n + 1, sizeof *r->dev_src);
        r->dev_ref = calloc(r->dev.n + 1, sizeof *r->dev_ref);
        if (!r->dev_src || !r->dev_ref) s = tg_err_set(err, TG_ERR_NOMEM, "out of memory");
        for (size_t i = 0; s == TG_OK && i < r->dev.n; i++) {
            r->dev_src[i] = strdup(dev->src[r->dev.index[i]]);
            r->dev_ref[i] = strdup(dev->tgt[r->dev.index[i]]);
            if (!r->dev_src[i] || !r->dev_ref[i]) s = tg_err_set(err, TG_ERR_NOMEM, "out of memory");
        }
    }
    return s;
}

static tg_status file_data(tg_run *r, tg_loaded *from, tg_err *err) {
    const tg_run_config *c = &r->cfg;
    tg_corpus_opts copts = {.on_bad_line = strcmp(c->on_bad_line, "skip") ? TG_BAD_LINE_ERROR : TG_BAD_LINE_SKIP};
    tg_corpus corpus = {0};
    tg_status s = c->train[0] ? tg_corpus_read_tsv(&corpus, c->train, &copts, err)
                              : tg_corpus_read_pair(&corpus, c->train_src, c->train_tgt, &copts, err);
    if (s != TG_OK) return s;
    report_skipped(c->train[0] ? c->train : c->train_src, &corpus.stats);
    say("%zu training pairs read\n", corpus.n);
    /* The dev file is read before the vocabulary is learned: a typo in --dev costs nothing. */
    tg_corpus dev = {0};
    if (c->dev[0]) {
        s = tg_corpus_read_tsv(&dev, c->dev, &copts, err);
        if (s != TG_OK) {
            tg_corpus_free(&dev);
            tg_corpus_free(&corpus);
            return s;
        }
        report_skipped(c->dev, &dev.stats);
    }
    if (from) {
        r->bpe = from->bpe;
        from->bpe = NULL;
    } else if (c->vocab[0]) {
        s = tg_bpe_load(&r->bpe, c->vocab, err);
    } else {
        double t0 = now_s();
        say("learning %d BPE merges from both sides ...\n", c->merges);
        s = tg_bpe_learn(&r->bpe, &corpus, &(tg_bpe_learn_opts){.merges = c->merges}, err);
        char path[TG_PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/vocab.txt", c->out);
        if (s == TG_OK && tg_dist_rank() == 0) s = tg_run_vocab_save(r->bpe, path, err);   /* rank 0 writes */
        if (s == TG_OK)
            say("vocabulary of %d pieces in %.1f s, saved to %s/vocab.txt\n",
                tg_bpe_vocab_size(r->bpe), now_s() - t0, r->out_shown);
    }
    const int limit = c->max_len < TG_RUN_MAX_PIECES ? c->max_len : TG_RUN_MAX_PIECES;
    if (s == TG_OK) s = tg_dataset_from_corpus(&r->train, &corpus, r->bpe, limit, err);
    if (s == TG_OK && r->train.n_filtered)
        say("%zu pairs longer than %d pieces (%s) dropped\n", r->train.n_filtered, limit,
            limit == c->max_len ? "--max-len" : "the model's positions");
    if (s == TG_OK && r->train.n == 0)
        s = tg_err_set(err, TG_ERR_ARG, "no training pair is within %d pieces", limit);
    tg_corpus_free(&corpus);
    if (s != TG_OK || !c->dev[0]) {
        tg_corpus_free(&dev);
        return s;
    }
    s = dev_from_corpus(r, &dev, r->bpe, err);
    if (s == TG_OK && r->dev.n_filtered)
        say("%zu dev pairs longer than %d pieces left out of validation\n",
                r->dev.n_filtered, TG_RUN_MAX_POSITIONS - 2);
    tg_corpus_free(&dev);
    return s;
}

/* Each pair of a synthetic dataset as text (ids, space-separated): src[i], ref[i]. */
static tg_status dataset_text(const tg_dataset *d, char ***src, char ***ref, tg_err *err) {
    *src = calloc(d->n + 1, sizeof **src);
    *ref = calloc(d->n + 1, sizeof **ref);
    if (!*src || !*ref) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < d->n; i++) {
        const int32_t *p = d->ids + d->off[i];
        (*src)[i] = ids_text(p, d->src_len[i]);
        (*ref)[i] = ids_text(p + d->src_len[i], d->tgt_len[i]);
        if (!(*src)[i] || !(*ref)[i]) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    }
    return TG_OK;
}

static tg_status synth_dev_text(tg_run *r, tg_err *err) { return dataset_text(&r->dev, &r->dev_src, &r->dev_ref, err); }

tg_status tg_run_dev_text(const tg_run_config *c, tg_dev_text *out, tg_err *err) {
    memset(out, 0, sizeof *out);
    tg_status s = TG_OK;
    if (c->task[0]) {
        tg_synth_opts o;
        tg_dataset dev = {0};
        s = synth_opts(c, &o, err);
        if (s == TG_OK) s = synth_dev(c, o, &dev, err);
        if (s == TG_OK) { out->n = dev.n; s = dataset_text(&dev, &out->src, &out->ref, err); }
        tg_dataset_free(&dev);
    } else if (c->dev[0]) {
        tg_corpus_opts copts = {.on_bad_line = strcmp(c->on_bad_line, "skip") ? TG_BAD_LINE_ERROR : TG_BAD_LINE_SKIP};
        tg_corpus dev = {0};
        s = tg_corpus_read_tsv(&dev, c->dev, &copts, err);
        out->src = calloc(dev.n + 1, sizeof *out->src);
        out->ref = calloc(dev.n + 1, sizeof *out->ref);
        if (s == TG_OK && (!out->src || !out->ref)) s = tg_err_set(err, TG_ERR_NOMEM, "out of memory");
        if (s == TG_OK) out->n = dev.n;
        for (size_t i = 0; s == TG_OK && i < dev.n; i++)
            if (!(out->src[i] = strdup(dev.src[i])) || !(out->ref[i] = strdup(dev.tgt[i])))
                s = tg_err_set(err, TG_ERR_NOMEM, "out of memory");
        tg_corpus_free(&dev);
    }
    if (s != TG_OK) tg_dev_text_free(out);
    return s;
}

void tg_dev_text_free(tg_dev_text *d) {
    for (size_t i = 0; d->src && i < d->n; i++) free(d->src[i]);
    for (size_t i = 0; d->ref && i < d->n; i++) free(d->ref[i]);
    free(d->src);
    free(d->ref);
    memset(d, 0, sizeof *d);
}

/* A run killed while saving leaves NAME.tmp.<pid>.<n> beside the file it was replacing (a
 * checkpoint, config.txt, metrics.tsv, diagnostics.tsv or vocab.txt; see train/ckpt/atomic_file.h).
 * Only that exact name: a user's copy such as best.ckpt.tmp.before-lr-change is kept. */
static bool stale_temp(const char *name) {
    static const char *const kinds[] = {"config.txt", "metrics.tsv", "diagnostics.tsv", "vocab.txt"};
    size_t n;
    if (!tg_afile_dead_temp(name, &n)) return false;   /* a live writer's (a ckpt average into the folder) is kept */
    if (n > 5 && !strncmp(name + n - 5, ".ckpt", 5)) return true;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (n == strlen(kinds[i]) && !strncmp(name, kinds[i], n)) return true;
    return false;
}

void tg_run_remove_stale_temps(const char *rundir, const char *command) {
    DIR *d = opendir(rundir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!stale_temp(e->d_name)) continue;
        if (tg_afile_unlink_dead_temp(dirfd(d), e->d_name))
            fprintf(stderr, "tapegrad %s: removed %s/%s, left by an interrupted save\n", command,
                    TG_SHOWN(rundir), TG_SHOWN(e->d_name));
    }
    closedir(d);
}

/* restore: from is the run folder's last.ckpt, resumed (else its model and vocabulary alone). */
static tg_status run_open(tg_run *r, const tg_run_config *cfg, tg_loaded *from, bool restore, tg_err *err) {
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    /* --out in a progress line: tg_progress_log keeps the line breaks and tabs of its own format,
     * and one in the name split the line. Shown whole up to --out's own size (any name without
     * control bytes), else as its end: a name of control bytes, shown 4 bytes a byte, filled the
     * line's 2 KiB and cut its end off ("(step N, ...)", "--resume DIR") */
    tg_shown_tail(r->out_shown, sizeof r->out_shown, r->cfg.out);
    const tg_run_config *c = &r->cfg;
    if (restore && tg_dist_rank() == 0) tg_run_remove_stale_temps(c->out, "train");   /* rank 0 owns the folder */
    tg_status s = c->task[0] ? synth_data(r, err) : file_data(r, from, err);
    if (s == TG_OK && c->task[0]) s = synth_dev_text(r, err);
    int vocab = c->task[0] ? c->task_vocab + TG_N_SPECIAL : (r->bpe ? tg_bpe_vocab_size(r->bpe) : 0);
    if (s == TG_OK) s = tg_run_model_config(c, vocab, &r->mcfg, err);
    if (s == TG_OK) s = tg_run_schedule(c, &r->mcfg, &r->sched, err);
    tg_adam_config acfg;
    if (s == TG_OK) s = tg_run_adam_config(c, &acfg, err);
    if (s == TG_OK)
        s = tg_batch_iter_new(&r->iter, &r->train,
                              &(tg_batch_opts){.max_tokens = c->max_tokens, .seed = c->seed, .shuffle = true}, err);
    if (s == TG_OK && r->dev.n && tg_dist_rank() == 0)   /* over MPI, rank 0 validates */
        s = tg_batch_iter_new(&r->dev_iter, &r->dev,
                              &(tg_batch_opts){.max_tokens = c->max_tokens, .seed = c->seed, .shuffle = false}, err);
    if (s == TG_OK && r->dev_iter) r->dev_start = tg_batch_iter_get_state(r->dev_iter);
    if (s == TG_OK) {
        if (from) {
            r->model = from->model;
            from->model = NULL;
        } else if (!(r->model = tg_model_new(&r->mcfg, c->seed, err))) {
            s = TG_ERR_ARG;
        }
    }
    if (s == TG_OK) s = tg_adam_new(&acfg, tg_params_numel(tg_model_params(r->model)), &r->adam, err);
    if (s == TG_OK) {
        r->ctx = tg_ctx_new(&(tg_ctx_opts){.threads = c->threads, .seed = c->seed ^ 0x5DEECE66Dull});
        if (!r->ctx) s = tg_err_set(err, TG_ERR_NOMEM, "cannot create the compute context (threads)");
    }
    if (s == TG_OK) {
        r->st = (tg_run_state){.iter = tg_batch_iter_get_state(r->iter), .dropout_rng = tg_ctx_rng(r->ctx),
                               .best_bleu = -1, .lr_scale = 1};
        if (restore) {
            char path[TG_PATH_MAX + 16];
            snprintf(path, sizeof path, "%s/last.ckpt", c->out);
            s = tg_run_restore(r, path, err);
        }
    }
    if (s != TG_OK) tg_run_close(r);
    return s;
}

tg_status tg_run_open(tg_run *r, const tg_run_config *cfg, tg_loaded *from, tg_err *err) {
    return run_open(r, cfg, from, from != NULL, err);
}

tg_status tg_run_open_model(tg_run *r, const tg_run_config *cfg, tg_loaded *from, tg_err *err) {
    return run_open(r, cfg, from, false, err);
}

tg_status tg_run_check_dev_of(const char *path, const tg_run_config *cfg, tg_bpe *bpe, tg_err *err) {
    tg_run r = {.cfg = *cfg};
    tg_status s = TG_OK;
    if (cfg->task[0]) {
        tg_synth_opts o;
        s = synth_opts(cfg, &o, err);
        if (s == TG_OK) s = synth_dev(cfg, o, &r.dev, err);
        if (s == TG_OK) s = synth_dev_text(&r, err);
    } else if (cfg->dev[0]) {
        tg_corpus_opts copts = {.on_bad_line = strcmp(cfg->on_bad_line, "skip") ? TG_BAD_LINE_ERROR : TG_BAD_LINE_SKIP};
        tg_corpus dev = {0};
        s = tg_corpus_read_tsv(&dev, cfg->dev, &copts, err);
        if (s == TG_OK) s = dev_from_corpus(&r, &dev, bpe, err);
        tg_corpus_free(&dev);
    }
    if (s == TG_OK) s = tg_run_check_dev(path, &r, err);
    tg_run_close(&r);
    return s;
}

void tg_run_close(tg_run *r) {
    for (size_t i = 0; r->dev_src && i < r->dev.n; i++) free(r->dev_src[i]);
    for (size_t i = 0; r->dev_ref && i < r->dev.n; i++) free(r->dev_ref[i]);
    free(r->dev_src);
    free(r->dev_ref);
    tg_batch_iter_free(r->iter);
    tg_batch_iter_free(r->dev_iter);
    tg_dataset_free(&r->train);
    tg_dataset_free(&r->dev);
    tg_model_free(r->model);
    tg_adam_free(r->adam);
    tg_ctx_free(r->ctx);
    tg_bpe_free(r->bpe);
    tg_batch_free(&r->shard);
    free(r->grad_acc);
    tg_run_overlap_free(r->overlap);
    memset(r, 0, sizeof *r);
}
