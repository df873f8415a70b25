/* evalcache.c: a cell's checkpoint (last or best) scored on its recipe's dev set by the eval
 * code (tg_eval_texts, greedy), cached in the cell folder: CELL/eval-WHICH.tsv (`key<TAB>value`
 * lines) and CELL/dev.hyp-WHICH.txt (the translations, one a line, of the dev pairs scored). A
 * cache older than its checkpoint is redone; so is one that does not parse, and one made on other
 * dev text (the cache records a hash of it: a dev file rewritten with as many lines as before is
 * noticed; a cache without the hash, from an older build, counts as stale) or of another checkpoint
 * (the cache records the checkpoint's step and parameter checksum, as `ckpt info` shows it: a
 * checkpoint replaced by another with an older time stamp is noticed; a cache without them counts
 * as stale). The per-segment BLEU
 * statistics the paired bootstrap needs are recomputed from the cached translations. The cache
 * also holds the teacher-forced token statistics (nn.h's tg_token_stats, as sums: accuracy,
 * top-5, the NLL of wrong first choices, entropy, confidence); a cache without them, from an older
 * build, counts as stale. The cache ends with a checksum of its lines and records one of the
 * translations' (`sum`, `hyps`): a cache edited by hand, or without them (an older build's), is
 * redone rather than reported. A link, FIFO
 * or device in the place of a cache file is refused (infile.c): it would be waited on, read for
 * ever or written into. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "train/ckpt/atomic_file.h"
#include "train/ckpt/ckpt_file.h"
#include "train/experiment/report.h"

/* What a cache was made from: the dev text's hash, the checkpoint's step and parameter checksum. */
typedef struct {
    uint64_t dev, params;
    int64_t step;
} cache_key;

static void cell_file(const tg_exp_cell *c, const char *fmt, const char *which, char *out, size_t len) {
    char name[64];
    snprintf(name, sizeof name, fmt, which);
    snprintf(out, len, "%s/%s", c->dir, name);
}

/* A hash of the dev text: every pair's source and reference, each hashed, chained. */
static uint64_t dev_hash(const tg_dev_text *dev) {
    uint64_t h[2] = {dev->n, 0};
    for (size_t i = 0; i < dev->n; i++) {
        h[1] = tg_ckpt_hash64(dev->src[i], strlen(dev->src[i]));
        h[0] = tg_ckpt_hash64(h, sizeof h);
        h[1] = tg_ckpt_hash64(dev->ref[i], strlen(dev->ref[i]));
        h[0] = tg_ckpt_hash64(h, sizeof h);
    }
    return h[0];
}

/* h chained with one line's bytes (without its newline): the checksums of the cache files. */
static uint64_t line_chain(uint64_t h, const char *line, size_t len) {
    uint64_t pair[2] = {h, tg_ckpt_hash64(line, len)};
    return tg_ckpt_hash64(pair, sizeof pair);
}

/* The checksum of the lines printed so far into o (flushed): each line chained. */
static uint64_t printed_chain(tg_exp_out *o) {
    uint64_t h = 0;
    if (fflush(o->f) != 0) return 0;   /* (the commit reports the error) */
    for (const char *p = o->buf, *end = o->buf + o->len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        h = line_chain(h, p, len);
        p += len + 1;
    }
    return h;
}

/* The checksum of the lines of the file at path, as printed_chain; false when it cannot be read. */
static bool file_chain(const char *path, uint64_t *h, tg_status *st, tg_err *err) {
    tg_exp_in in;
    bool missing;
    *h = 0;
    *st = tg_exp_in_open(&in, path, &missing, err);
    if (missing || *st != TG_OK) return false;
    while (tg_exp_in_line(&in, st, err)) *h = line_chain(*h, in.line, in.len);
    tg_exp_in_close(&in);
    return *st == TG_OK;
}

/* a's modification time is after b's (or b is missing). */
static bool newer(const char *a, const char *b) {
    struct stat sa, sb;
    if (stat(b, &sb) != 0) return true;
    if (stat(a, &sa) != 0) return false;
    return sa.st_mtim.tv_sec != sb.st_mtim.tv_sec ? sa.st_mtim.tv_sec > sb.st_mtim.tv_sec
                                                  : sa.st_mtim.tv_nsec > sb.st_mtim.tv_nsec;
}

static tg_status write_cache(const tg_exp_cell *c, const char *which, const tg_exp_eval *ev,
                             const tg_eval_result *r, const cache_key *key, tg_err *err) {
    char path[TG_EXP_PATH_MAX];
    tg_exp_out o;
    cell_file(c, "dev.hyp-%s.txt", which, path, sizeof path);
    FILE *f = tg_exp_out_open(&o, path, err);
    if (!f) return TG_ERR_NOMEM;
    for (size_t i = 0; i < r->n; i++) {
        for (const char *p = r->hyps[i]; *p; p++) fputc(*p == '\n' || *p == '\r' ? ' ' : *p, f);
        fputc('\n', f);
    }
    uint64_t hyps = printed_chain(&o);
    tg_status s = tg_exp_out_commit(&o, err);
    if (s != TG_OK) return s;
    cell_file(c, "eval-%s.tsv", which, path, sizeof path);
    if (!(f = tg_exp_out_open(&o, path, err))) return TG_ERR_NOMEM;   /* written last: its time stamps the cache */
    fprintf(f, "step\t%lld\ntrain_seconds\t%.17g\nloss\t%.17g\nnll\t%.17g\nbleu\t%.17g\nchrf\t%.17g\npairs\t%zu\n"
               "dev\t%016llx\nparams\t%016llx\ndecoding\tgreedy\n",
            (long long)ev->step, ev->train_seconds, ev->loss, ev->nll, ev->bleu, ev->chrf, r->n,
            (unsigned long long)key->dev, (unsigned long long)key->params);
    const tg_token_stats *ts = &r->stats;   /* sums, so that they read back exactly */
    fprintf(f, "tokens\t%lld\ncorrect\t%lld\ntop5\t%lld\nstats_nll\t%.17g\nnll_wrong\t%.17g\nentropy\t%.17g\n"
               "confidence\t%.17g\nskipped\t",
            (long long)ts->tokens, (long long)ts->correct, (long long)ts->top5, ts->nll, ts->nll_wrong, ts->entropy,
            ts->confidence);
    const char *sep = "";
    for (size_t i = 0, k = 0; i < r->n + r->too_long; i++) {   /* dev pairs left out (too long) */
        if (k < r->n && r->index[k] == i) { k++; continue; }
        fprintf(f, "%s%zu", sep, i);
        sep = ",";
    }
    fprintf(f, "\nhyps\t%016llx\n", (unsigned long long)hyps);
    fprintf(f, "sum\t%016llx\n", (unsigned long long)printed_chain(&o));   /* last: of every line above */
    return tg_exp_out_commit(&o, err);
}

static tg_status read_tsv(const char *path, const char *hyp, tg_exp_eval *ev, bool *skip, size_t n_dev,
                          const cache_key *key, bool *valid, tg_err *err);

/* Copies file from to file to (an atomic write, a piece at a time: the copy's size does not
 * bound memory); false if from is not there. */
static bool copy_file(const char *from, const char *to, tg_status *st, tg_err *err) {
    tg_exp_in in;
    bool missing;
    *st = tg_exp_in_open(&in, from, &missing, err);
    if (missing) return false;
    if (*st == TG_OK) *st = tg_afile_save_stream(to, in.f, from, NULL, err);
    tg_exp_in_close(&in);
    return true;
}

/* best.ckpt with the step and parameters last's cache was made from is the same model: its scores
 * are last's, so last's valid cache is copied instead of decoding the dev set again. True when
 * that was done (*st then says whether the copy succeeded). */
static bool reuse_last(const tg_exp_cell *c, const cache_key *key, const tg_dev_text *dev, tg_status *st, tg_err *err) {
    char tsv[TG_EXP_PATH_MAX], hyp[TG_EXP_PATH_MAX], to[TG_EXP_PATH_MAX];
    cell_file(c, "eval-%s.tsv", "last", tsv, sizeof tsv);
    cell_file(c, "dev.hyp-%s.txt", "last", hyp, sizeof hyp);
    bool *skip = calloc(dev->n + 1, sizeof *skip), ok = false;
    tg_exp_eval last = {0};
    *st = skip && !newer(hyp, tsv) ? read_tsv(tsv, hyp, &last, skip, dev->n, key, &ok, err) : TG_OK;
    free(skip);
    if (*st != TG_OK) return true;
    if (!ok) return false;
    cell_file(c, "dev.hyp-%s.txt", "best", to, sizeof to);
    if (!copy_file(hyp, to, st, err)) return false;
    if (*st != TG_OK) return true;
    cell_file(c, "eval-%s.tsv", "best", to, sizeof to);   /* last: its time stamps the cache */
    if (!copy_file(tsv, to, st, err)) return false;
    return true;
}

static tg_status evaluate(const tg_exp_cell *c, const tg_run_config *cfg, const tg_loaded *L, const char *which,
                          const tg_dev_text *dev, const cache_key *key, tg_exp_eval *ev, tg_err *err) {
    tg_status s;
    if (!strcmp(which, "best") && reuse_last(c, key, dev, &s, err)) {
        ev->copied = true;
        return s;
    }
    tg_eval_opts o = {.translate = {.decode = tg_decode_defaults(), .batch = 64}, .max_tokens = 4000,
                      .threads = cfg->threads, .token_stats = true, .temperature = 1};
    o.translate.decode.beam = 1;
    tg_eval_result r;
    s = tg_eval_texts(L->model, L->bpe, (const char *const *)dev->src, (const char *const *)dev->ref, dev->n, &o, &r, err);
    if (s == TG_OK) {
        ev->step = L->st.step;
        ev->train_seconds = L->st.train_seconds;
        ev->loss = r.loss;
        ev->nll = r.nll;
        ev->bleu = r.bleu.score;
        ev->chrf = r.chrf.score;
        s = write_cache(c, which, ev, &r, key, err);
        tg_eval_result_free(&r);
    }
    return s;
}

/* v is a whole number, finite, in [lo, hi]: put in *out. */
static bool number_in(const char *v, double lo, double hi, double *out) {
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x) || x < lo || x > hi) return false;
    *out = x;
    return true;
}

/* v is a whole number >= 0, all of it: put in *out. */
static bool count_of(const char *v, long long *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || x < 0 || errno == ERANGE) return false;
    *out = x;
    return true;
}

/* Reads eval-WHICH.tsv; *valid false when it is not there, does not parse (a value not finite or
 * out of its range counts so), was made from other dev text or another checkpoint than key's, or
 * its checksums disagree with its lines or with the translations in hyp: the cache is then redone.
 * An error when it cannot be read (not a file). */
static tg_status read_tsv(const char *path, const char *hyp, tg_exp_eval *ev, bool *skip, size_t n_dev,
                          const cache_key *key, bool *valid, tg_err *err) {
    *valid = false;
    tg_exp_in in;
    bool missing;
    tg_status s = tg_exp_in_open(&in, path, &missing, err);
    if (missing) return TG_OK;
    int got = 0;
    size_t pairs = 0;
    tg_token_stats *ts = &ev->stats;
    long long count[3];                    /* tokens, correct, top5 */
    uint64_t chain = 0, sum = 0, hyps = 0;
    while (s == TG_OK && tg_exp_in_line(&in, &s, err)) {
        char *line = in.line, *tab = strchr(line, '\t');
        if (strncmp(line, "sum\t", 4)) chain = line_chain(chain, in.line, in.len);
        if (!tab) continue;
        *tab = '\0';
        char *v = tab + 1;
        long long step;
        if (!strcmp(line, "step") && sscanf(v, "%lld", &step) == 1 && step == key->step) { ev->step = step; got |= 1; }
        else if (!strcmp(line, "train_seconds") && number_in(v, 0, HUGE_VAL, &ev->train_seconds)) got |= 2;
        else if (!strcmp(line, "loss") && number_in(v, 0, HUGE_VAL, &ev->loss)) got |= 4;
        else if (!strcmp(line, "nll") && number_in(v, 0, HUGE_VAL, &ev->nll)) got |= 8;
        /* a perfect BLEU, exp of the mean log precision, comes out a few ulps above 100 (run_ckpt.c) */
        else if (!strcmp(line, "bleu") && number_in(v, 0, 100 + 1e-9, &ev->bleu)) got |= 16;
        else if (!strcmp(line, "chrf") && number_in(v, 0, 100, &ev->chrf)) got |= 32;
        else if (!strcmp(line, "pairs") && sscanf(v, "%zu", &pairs) == 1) got |= 64;
        else if (!strcmp(line, "dev") && (ev->dev = strtoull(v, NULL, 16)) == key->dev) got |= 256;
        else if (!strcmp(line, "params") && strtoull(v, NULL, 16) == key->params) got |= 512;
        else if (!strcmp(line, "tokens") && count_of(v, &count[0]) && count[0] > 0) got |= 1024;
        else if (!strcmp(line, "correct") && count_of(v, &count[1])) got |= 2048;
        else if (!strcmp(line, "top5") && count_of(v, &count[2])) got |= 4096;
        else if (!strcmp(line, "stats_nll") && number_in(v, 0, HUGE_VAL, &ts->nll)) got |= 8192;
        else if (!strcmp(line, "nll_wrong") && number_in(v, 0, HUGE_VAL, &ts->nll_wrong)) got |= 16384;
        else if (!strcmp(line, "entropy") && number_in(v, 0, HUGE_VAL, &ts->entropy)) got |= 32768;
        else if (!strcmp(line, "confidence") && number_in(v, 0, HUGE_VAL, &ts->confidence)) got |= 65536;
        else if (!strcmp(line, "hyps")) hyps = strtoull(v, NULL, 16), got |= 131072;
        else if (!strcmp(line, "sum")) sum = strtoull(v, NULL, 16), got |= 262144;
        else if (!strcmp(line, "skipped")) {
            got |= 128;
            for (char *p = v; *p;) {
                char *end;
                unsigned long long i = strtoull(p, &end, 10);
                if (end == p || i >= n_dev) { got = 0; break; }
                skip[i] = true;
                p = *end == ',' ? end + 1 : end;
            }
        }
    }
    tg_exp_in_close(&in);
    if (s == TG_ERR_FORMAT) s = TG_OK;   /* a line too long: not a cache this build wrote; redone */
    size_t skipped = 0;
    for (size_t i = 0; i < n_dev; i++) skipped += skip[i];
    if (got == 524287) {   /* the statistics hang together: counts within the tokens, parts within sums */
        ts->tokens = count[0];
        ts->correct = count[1];
        ts->top5 = count[2];
        if (ts->correct > ts->tokens || ts->top5 > ts->tokens || ts->top5 < ts->correct ||
            ts->nll_wrong > ts->nll || ts->confidence > (double)ts->tokens)
            got = 0;
    }
    uint64_t hyps_now;
    *valid = s == TG_OK && got == 524287 && pairs + skipped == n_dev && sum == chain &&
             file_chain(hyp, &hyps_now, &s, err) && hyps_now == hyps;
    return s;
}

/* The per-segment BLEU statistics of the cached translations against the dev references; *cut
 * true when the translations are fewer than the pairs scored (the cache is then redone). */
static tg_status segment_stats(const char *hyp_path, const tg_dev_text *dev, const bool *skip, const tg_bleu_opts *bo,
                               tg_exp_eval *ev, bool *cut, tg_err *err) {
    *cut = false;
    tg_exp_in in;
    tg_status s = tg_exp_in_open(&in, hyp_path, NULL, err);
    if (s != TG_OK) return s;
    ev->seg = calloc(dev->n + 1, sizeof *ev->seg);
    if (!ev->seg) s = tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; s == TG_OK && i < dev->n; i++) {
        if (skip[i]) continue;
        if (!tg_exp_in_line(&in, &s, err)) {
            *cut = s == TG_OK;
            break;
        }
        s = tg_bleu_stats_add(&ev->seg[i], in.line, dev->ref[i], bo, err);
    }
    tg_exp_in_close(&in);
    ev->n_seg = dev->n;
    return s;
}

tg_status tg_exp_cell_eval(const tg_exp_cell *c, const tg_run_config *cfg, const char *which,
                           const tg_dev_text *dev, tg_exp_eval *ev, bool *fresh, tg_err *err) {
    memset(ev, 0, sizeof *ev);
    *fresh = false;
    /* the three paths and the checkpoint, 13 KiB: on the heap (the decoding goes on below here) */
    struct { char ckpt[TG_EXP_PATH_MAX], tsv[TG_EXP_PATH_MAX], hyp[TG_EXP_PATH_MAX]; tg_loaded L; } *h =
        calloc(1, sizeof *h);
    bool *skip = calloc(dev->n + 1, sizeof *skip);
    if (!h || !skip) {
        free(h);
        free(skip);
        return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    }
    char *ckpt = h->ckpt, *tsv = h->tsv, *hyp = h->hyp;
    tg_loaded *L = &h->L;
    snprintf(ckpt, sizeof h->ckpt, "%s/%s.ckpt", c->dir, which);
    cell_file(c, "eval-%s.tsv", which, tsv, sizeof h->tsv);
    cell_file(c, "dev.hyp-%s.txt", which, hyp, sizeof h->hyp);
    struct stat st;
    if (stat(ckpt, &st) != 0) {   /* no such checkpoint (e.g. no best without a dev set) */
        free(h);
        free(skip);
        return TG_OK;
    }
    /* the cache is rewritten when stale: a FIFO or device there would be written into, or waited on */
    tg_status s = tg_exp_check_regular(tsv, err);
    if (s == TG_OK) s = tg_exp_check_regular(hyp, err);
    /* the checkpoint is read for its identity: its time stamp alone does not tell another one */
    if (s == TG_OK) s = tg_run_load_model(ckpt, L, err);
    cache_key key = {dev_hash(dev), L->param_hash, L->st.step};
    bool valid = false;
    if (s == TG_OK && !newer(ckpt, tsv) && !newer(hyp, tsv)) s = read_tsv(tsv, hyp, ev, skip, dev->n, &key, &valid, err);
    tg_bleu_opts bo = tg_eval_bleu_opts(cfg->task[0] != '\0');
    bool cut = false;
    if (s == TG_OK && valid) s = segment_stats(hyp, dev, skip, &bo, ev, &cut, err);
    if (s == TG_OK && (!valid || cut)) {   /* stale, or translations cut short: redone */
        free(ev->seg);
        ev->seg = NULL;
        memset(skip, 0, dev->n * sizeof *skip);
        /* the dev text read now (a relative --dev, from this folder) is the one the cell validated on */
        s = tg_run_check_dev_of(ckpt, cfg, L->bpe, err);
        if (s == TG_OK) s = evaluate(c, cfg, L, which, dev, &key, ev, err);
        if (s == TG_OK) s = read_tsv(tsv, hyp, ev, skip, dev->n, &key, &valid, err);
        if (s == TG_OK && !valid) s = tg_err_set(err, TG_ERR_FORMAT, "%s: cannot read back what was written", tsv);
        if (s == TG_OK) s = segment_stats(hyp, dev, skip, &bo, ev, &cut, err);
        if (s == TG_OK && cut) s = tg_err_set(err, TG_ERR_FORMAT, "%s: fewer lines than written", hyp);
        *fresh = true;
    }
    tg_loaded_free(L);
    free(h);
    free(skip);
    ev->present = s == TG_OK;
    return s;
}

void tg_exp_eval_free(tg_exp_eval *ev) {
    free(ev->seg);
    memset(ev, 0, sizeof *ev);
}
