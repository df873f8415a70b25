/* evalcache.c: a cell's checkpoint (last or best) scored on its recipe's dev set by the eval
 * code (tg_eval_texts, greedy), cached in the cell folder: CELL/eval-WHICH.tsv (`key<TAB>value`
 * lines) and CELL/dev.hyp-WHICH.txt (the translations, one a line, of the dev pairs scored). A
 * cache older than its checkpoint is redone; so is one that does not parse, and one made on other
 * dev text (the cache records a hash of it: a dev file rewritten with as many lines as before is
 * noticed; a cache without the hash, from an older build, counts as stale). The per-segment BLEU
 * statistics the paired bootstrap needs are recomputed from the cached translations. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "train/ckpt/ckpt_file.h"
#include "train/experiment/report.h"

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

/* a's modification time is after b's (or b is missing). */
static bool newer(const char *a, const char *b) {
    struct stat sa, sb;
    if (stat(b, &sb) != 0) return true;
    if (stat(a, &sa) != 0) return false;
    return sa.st_mtim.tv_sec != sb.st_mtim.tv_sec ? sa.st_mtim.tv_sec > sb.st_mtim.tv_sec
                                                  : sa.st_mtim.tv_nsec > sb.st_mtim.tv_nsec;
}

static tg_status write_cache(const tg_exp_cell *c, const char *which, const tg_exp_eval *ev,
                             const tg_eval_result *r, uint64_t dev, tg_err *err) {
    char path[TG_EXP_PATH_MAX];
    tg_exp_out o;
    cell_file(c, "dev.hyp-%s.txt", which, path, sizeof path);
    FILE *f = tg_exp_out_open(&o, path, err);
    if (!f) return TG_ERR_NOMEM;
    for (size_t i = 0; i < r->n; i++) {
        for (const char *p = r->hyps[i]; *p; p++) fputc(*p == '\n' || *p == '\r' ? ' ' : *p, f);
        fputc('\n', f);
    }
    tg_status s = tg_exp_out_commit(&o, err);
    if (s != TG_OK) return s;
    cell_file(c, "eval-%s.tsv", which, path, sizeof path);
    if (!(f = tg_exp_out_open(&o, path, err))) return TG_ERR_NOMEM;   /* written last: its time stamps the cache */
    fprintf(f, "step\t%lld\ntrain_seconds\t%.17g\nloss\t%.17g\nnll\t%.17g\nbleu\t%.17g\nchrf\t%.17g\npairs\t%zu\n"
               "dev\t%016llx\ndecoding\tgreedy\nskipped\t",
            (long long)ev->step, ev->train_seconds, ev->loss, ev->nll, ev->bleu, ev->chrf, r->n, (unsigned long long)dev);
    const char *sep = "";
    for (size_t i = 0, k = 0; i < r->n + r->too_long; i++) {   /* dev pairs left out (too long) */
        if (k < r->n && r->index[k] == i) { k++; continue; }
        fprintf(f, "%s%zu", sep, i);
        sep = ",";
    }
    fputc('\n', f);
    return tg_exp_out_commit(&o, err);
}

static bool read_tsv(const char *path, tg_exp_eval *ev, bool *skip, size_t n_dev, uint64_t dev);

/* Copies file from to file to through tg_exp_out (atomic); false if from cannot be read. */
static bool copy_file(const char *from, const char *to, tg_status *st, tg_err *err) {
    FILE *in = fopen(from, "rb");
    if (!in) return false;
    tg_exp_out o;
    FILE *f = tg_exp_out_open(&o, to, err);
    if (!f) { fclose(in); *st = TG_ERR_NOMEM; return true; }
    char buf[1 << 14];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, f);
    bool bad = ferror(in);
    fclose(in);
    if (bad) { tg_exp_out_abort(&o); *st = tg_err_set(err, TG_ERR_IO, "%s: read error", from); return true; }
    *st = tg_exp_out_commit(&o, err);
    return true;
}

/* best.ckpt written at the step last.ckpt holds is the same model: its scores are last's, so
 * last's valid cache is copied instead of decoding the dev set again. True when that was done
 * (*st then says whether the copy succeeded). */
static bool reuse_last(const tg_exp_cell *c, int64_t step, const tg_dev_text *dev, tg_status *st, tg_err *err) {
    char ckpt[TG_EXP_PATH_MAX], tsv[TG_EXP_PATH_MAX], hyp[TG_EXP_PATH_MAX], to[TG_EXP_PATH_MAX];
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", c->dir);
    cell_file(c, "eval-%s.tsv", "last", tsv, sizeof tsv);
    cell_file(c, "dev.hyp-%s.txt", "last", hyp, sizeof hyp);
    bool *skip = calloc(dev->n + 1, sizeof *skip);
    tg_exp_eval last = {0};
    bool ok = skip && !newer(ckpt, tsv) && !newer(hyp, tsv) &&
              read_tsv(tsv, &last, skip, dev->n, dev_hash(dev)) && last.step == step;
    free(skip);
    if (!ok) return false;
    *st = TG_OK;
    cell_file(c, "dev.hyp-%s.txt", "best", to, sizeof to);
    if (!copy_file(hyp, to, st, err)) return false;
    if (*st != TG_OK) return true;
    cell_file(c, "eval-%s.tsv", "best", to, sizeof to);   /* last: its time stamps the cache */
    if (!copy_file(tsv, to, st, err)) return false;
    return true;
}

static tg_status evaluate(const tg_exp_cell *c, const tg_run_config *cfg, const char *ckpt, const char *which,
                          const tg_dev_text *dev, tg_exp_eval *ev, tg_err *err) {
    tg_loaded L;
    tg_status s = tg_run_load_model(ckpt, &L, err);
    if (s != TG_OK) return s;
    if (!strcmp(which, "best") && reuse_last(c, L.st.step, dev, &s, err)) {
        tg_loaded_free(&L);
        ev->copied = true;
        return s;
    }
    tg_eval_opts o = {.translate = {.decode = tg_decode_defaults(), .batch = 64}, .max_tokens = 4000,
                      .threads = cfg->threads};
    o.translate.decode.beam = 1;
    tg_eval_result r;
    s = tg_eval_texts(L.model, L.bpe, (const char *const *)dev->src, (const char *const *)dev->ref, dev->n, &o, &r, err);
    if (s == TG_OK) {
        ev->step = L.st.step;
        ev->train_seconds = L.st.train_seconds;
        ev->loss = r.loss;
        ev->nll = r.nll;
        ev->bleu = r.bleu.score;
        ev->chrf = r.chrf.score;
        s = write_cache(c, which, ev, &r, dev_hash(dev), err);
        tg_eval_result_free(&r);
    }
    tg_loaded_free(&L);
    return s;
}

/* Reads eval-WHICH.tsv; false when it does not parse or was made on other dev text (hash dev):
 * the cache is then redone. */
static bool read_tsv(const char *path, tg_exp_eval *ev, bool *skip, size_t n_dev, uint64_t dev) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[1 << 16];
    int got = 0;
    size_t pairs = 0;
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = '\0';
        char *v = tab + 1;
        long long step;
        if (!strcmp(line, "step") && sscanf(v, "%lld", &step) == 1) { ev->step = step; got |= 1; }
        else if (!strcmp(line, "train_seconds")) { ev->train_seconds = strtod(v, NULL); got |= 2; }
        else if (!strcmp(line, "loss")) { ev->loss = strtod(v, NULL); got |= 4; }
        else if (!strcmp(line, "nll")) { ev->nll = strtod(v, NULL); got |= 8; }
        else if (!strcmp(line, "bleu")) { ev->bleu = strtod(v, NULL); got |= 16; }
        else if (!strcmp(line, "chrf")) { ev->chrf = strtod(v, NULL); got |= 32; }
        else if (!strcmp(line, "pairs") && sscanf(v, "%zu", &pairs) == 1) got |= 64;
        else if (!strcmp(line, "dev") && strtoull(v, NULL, 16) == dev) got |= 256;
        else if (!strcmp(line, "skipped")) {
            got |= 128;
            for (char *p = v; *p && *p != '\n';) {
                char *end;
                unsigned long long i = strtoull(p, &end, 10);
                if (end == p || i >= n_dev) { got = 0; break; }
                skip[i] = true;
                p = *end == ',' ? end + 1 : end;
            }
        }
    }
    fclose(f);
    size_t skipped = 0;
    for (size_t i = 0; i < n_dev; i++) skipped += skip[i];
    return got == 511 && pairs + skipped == n_dev;
}

/* The per-segment BLEU statistics of the cached translations against the dev references. */
static tg_status segment_stats(const char *hyp_path, const tg_dev_text *dev, const bool *skip, const tg_bleu_opts *bo,
                               tg_exp_eval *ev, tg_err *err) {
    FILE *f = fopen(hyp_path, "r");
    if (!f) return tg_err_set(err, TG_ERR_IO, "%s: cannot read: %s", hyp_path, strerror(errno));
    ev->seg = calloc(dev->n + 1, sizeof *ev->seg);
    tg_status s = ev->seg ? TG_OK : tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    size_t cap = 1 << 16, k = 0;
    char *line = malloc(cap);
    if (s == TG_OK && !line) s = tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; s == TG_OK && i < dev->n; i++) {
        if (skip[i]) continue;
        size_t len = 0;
        int ch;
        while ((ch = fgetc(f)) != EOF && ch != '\n') {
            if (len + 2 > cap) {
                char *nl = realloc(line, cap *= 2);
                if (!nl) { s = tg_err_set(err, TG_ERR_NOMEM, "out of memory"); break; }
                line = nl;
            }
            line[len++] = (char)ch;
        }
        if (s == TG_OK && ch == EOF && len == 0)
            s = tg_err_set(err, TG_ERR_FORMAT, "%s: %zu lines, expected more", hyp_path, k);
        if (s != TG_OK) break;
        line[len] = '\0';
        s = tg_bleu_stats_add(&ev->seg[i], line, dev->ref[i], bo, err);
        k++;
    }
    free(line);
    fclose(f);
    ev->n_seg = dev->n;
    return s;
}

tg_status tg_exp_cell_eval(const tg_exp_cell *c, const tg_run_config *cfg, const char *which,
                           const tg_dev_text *dev, tg_exp_eval *ev, bool *fresh, tg_err *err) {
    memset(ev, 0, sizeof *ev);
    *fresh = false;
    char ckpt[TG_EXP_PATH_MAX], tsv[TG_EXP_PATH_MAX], hyp[TG_EXP_PATH_MAX];
    snprintf(ckpt, sizeof ckpt, "%s/%s.ckpt", c->dir, which);
    cell_file(c, "eval-%s.tsv", which, tsv, sizeof tsv);
    cell_file(c, "dev.hyp-%s.txt", which, hyp, sizeof hyp);
    struct stat st;
    if (stat(ckpt, &st) != 0) return TG_OK;   /* no such checkpoint (e.g. no best without a dev set) */
    bool *skip = calloc(dev->n + 1, sizeof *skip);
    if (!skip) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    tg_status s = TG_OK;
    uint64_t hash = dev_hash(dev);
    if (newer(ckpt, tsv) || newer(hyp, tsv) || !read_tsv(tsv, ev, skip, dev->n, hash)) {
        memset(skip, 0, dev->n * sizeof *skip);
        s = evaluate(c, cfg, ckpt, which, dev, ev, err);
        if (s == TG_OK && !read_tsv(tsv, ev, skip, dev->n, hash))
            s = tg_err_set(err, TG_ERR_FORMAT, "%s: cannot read back what was written", tsv);
        *fresh = true;
    }
    tg_bleu_opts bo = tg_eval_bleu_opts(cfg->task[0] != '\0');
    if (s == TG_OK) s = segment_stats(hyp, dev, skip, &bo, ev, err);
    free(skip);
    ev->present = s == TG_OK;
    return s;
}

void tg_exp_eval_free(tg_exp_eval *ev) {
    free(ev->seg);
    memset(ev, 0, sizeof *ev);
}
