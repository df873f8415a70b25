/* report.c: `tapegrad experiment report DIR`: every finished cell's last.ckpt and best.ckpt on
 * its recipe's dev set (evalcache.c), then DIR/results.tsv and DIR/results.json (a row per cell
 * and checkpoint), DIR/report.md (per variant mean and sd over seeds; each variant against the
 * baseline by paired bootstrap resampling of the dev set, per seed and pooled over seeds; time
 * per cell; the command) and the plots (plots.c). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/ckpt/atomic_file.h"
#include "train/experiment/report.h"
#include "train/metrics/paired_bs.h"
#include "train/run/progress.h"
#include "train/run/text_out.h"

#define N_WHICH 2
static const char *const WHICH[N_WHICH] = {"last", "best"};
#define BS_SAMPLES 1000
#define BS_SEED 12345

typedef struct {
    tg_exp_cell cell;
    bool finished;
    tg_exp_eval ev[N_WHICH];
} cell_result;

typedef struct {
    const tg_experiment *e;
    int n, nv, baseline;          /* cells, variants, the baseline variant */
    cell_result *r;               /* (n) */
    tg_bleu_opts bleu;
} report;

static volatile sig_atomic_t g_report_whole;   /* the report written: a stop signal now is said so */
static volatile sig_atomic_t g_pipe_broken;    /* a SIGPIPE came: the reader of stderr (or stdout) went away */

static cell_result *at(const report *R, int variant, int seed) { return &R->r[seed * R->nv + variant]; }

/* "KEY=V,KEY=V": the variant with those values (other axes: their first value). */
static int parse_baseline(const tg_experiment *e, const char *spec, tg_err *err) {
    int value[TG_EXP_MAX_AXES] = {0};
    bool seen[TG_EXP_MAX_AXES] = {false};
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec ? spec : "");
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        int a = 0, v = -1;
        if (eq) *eq = '\0';
        while (a < e->n_axes && strcmp(e->axes[a].key, tok)) a++;
        /* a value as --vary's repeats are told (0.10 is 0.1); a variant by its name */
        const tg_exp_axis *ax = a < e->n_axes ? &e->axes[a] : NULL;
        for (int k = 0; eq && ax && v < 0 && k < ax->n; k++)   /* the value as given first (90s and 1m30s, */
            if (!strcmp(ax->values[k], eq + 1)) v = k;            /* which an earlier build let both be) */
        for (int k = 0; eq && ax && v < 0 && !ax->n_set && k < ax->n; k++)
            if (tg_exp_same_value(ax->key, ax->values[k], eq + 1)) v = k;
        if (!eq || !ax) {
            tg_err_set(err, TG_ERR_ARG,
                       "--baseline '%s': expected KEY=VALUE,... with an axis and one of its values",
                       TG_SHOWN(spec));
            return -1;
        }
        if (v < 0) {
            char list[512] = "";
            for (int k = 0; k < ax->n && strlen(list) + 8 < sizeof list; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "",
                         TG_SHOWN_IN(64, ax->values[k]));
            tg_err_set(err, TG_ERR_ARG, "--baseline '%s': %s has no value %s (its values: %s)",
                       TG_SHOWN_IN(100, spec), ax->key, TG_SHOWN_IN(100, eq + 1), list);
            return -1;
        }
        if (seen[a]) {   /* norm=pre,norm=post: which one? */
            tg_err_set(err, TG_ERR_ARG, "--baseline '%s': %s given twice", TG_SHOWN(spec),
                       e->axes[a].key);
            return -1;
        }
        seen[a] = true;
        value[a] = v;
    }
    int index = 0;
    for (int a = 0; a < e->n_axes; a++) index = index * e->axes[a].n + value[a];
    return index;
}

static tg_status evaluate_cells(report *R, tg_err *err) {
    for (int i = 0; i < R->n; i++) {
        cell_result *c = &R->r[i];
        tg_exp_cell_get(R->e, i, &c->cell);
        tg_exp_status st;
        tg_run_config cfg;
        tg_status s = tg_exp_cell_status(R->e, &c->cell, &st, err);
        if (s == TG_OK) s = tg_exp_cell_config(R->e, &c->cell, &cfg, err);
        c->finished = s == TG_OK && st.state == TG_EXP_DONE;
        tg_dev_text dev = {0};
        if (c->finished) {
            R->bleu = tg_eval_bleu_opts(cfg.task[0] != '\0');
            s = tg_run_dev_text(&cfg, &dev, err);
        }
        for (int w = 0; s == TG_OK && w < N_WHICH && dev.n; w++) {
            bool fresh;
            s = tg_exp_cell_eval(&c->cell, &cfg, WHICH[w], &dev, &c->ev[w], &fresh, err);
            if (s == TG_OK && fresh)
                fprintf(stderr, "tapegrad experiment: %s %s/%s.ckpt on dev: BLEU %.2f, NLL %.4f\n",
                        c->ev[w].copied ? "at last.ckpt's step, copied the scores of" : "evaluated", c->cell.name,
                        WHICH[w], c->ev[w].bleu, c->ev[w].nll);
        }
        tg_dev_text_free(&dev);
        if (s != TG_OK) {
            tg_err inner = *err;
            return tg_err_set(err, s, "cell %s: %s", TG_EXP_CELL_SHOWN(c->cell.name), inner.msg);
        }
    }
    return TG_OK;
}

/* ---- results.tsv and results.json ---- */

static FILE *open_in(const tg_experiment *e, const char *name, tg_exp_out *o, tg_err *err) {
    char path[TG_EXP_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", e->dir, name);
    return tg_exp_out_open(o, path, err);
}

/* A TSV field after its tab: a tab or line break in it (a --variant name may hold a tab) would
 * split the field or the row, so each is written as a space. */
static void tsv_field(FILE *t, const char *s) {
    fputc('\t', t);
    for (; *s; s++) fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, t);
}

static tg_status write_results(const report *R, tg_err *err) {
    tg_exp_out ot, oj;
    FILE *t = open_in(R->e, "results.tsv", &ot, err), *j = t ? open_in(R->e, "results.json", &oj, err) : NULL;
    if (!t || !j) { if (t) tg_exp_out_abort(&ot); return TG_ERR_NOMEM; }
    fprintf(t, "cell\tvariant_label\tseed");
    for (int a = 0; a < R->e->n_axes; a++) tsv_field(t, R->e->axes[a].key);
    fprintf(t, "\tcheckpoint\tstep\ttrain_seconds\tdev_loss\tdev_nll\tdev_ppl\tbleu\tchrf2\ttoken_accuracy\t"
               "top5_accuracy\tnll_right\tnll_wrong\tentropy\tconfidence\n");
    fprintf(j, "[");
    bool first = true;
    for (int i = 0; i < R->n; i++)
        for (int w = 0; w < N_WHICH; w++) {
            const cell_result *c = &R->r[i];
            const tg_exp_eval *v = &c->ev[w];
            if (!c->finished || !v->present) continue;
            fprintf(t, "%s\t%s\t%llu", c->cell.name, c->cell.variant, (unsigned long long)c->cell.seed);
            fprintf(j, "%s\n  {\"cell\": ", first ? "" : ",");
            tg_json_str(j, c->cell.name);
            fprintf(j, ", \"seed\": %llu, \"axes\": {", (unsigned long long)c->cell.seed);
            for (int a = 0; a < R->e->n_axes; a++) {
                const char *val = R->e->axes[a].values[c->cell.value[a]];
                tsv_field(t, val);
                fprintf(j, "%s", a ? ", " : "");
                tg_json_str(j, R->e->axes[a].key);
                fprintf(j, ": ");
                tg_json_str(j, val);
            }
            tg_token_means tm = tg_token_stats_means(&v->stats);
            fprintf(t, "\t%s\t%lld", WHICH[w], (long long)v->step);
            fprintf(j, "}, \"checkpoint\": \"%s\", \"step\": %lld", WHICH[w], (long long)v->step);
            static const char *const key[] = {"train_seconds", "dev_loss", "dev_nll", "dev_ppl", "bleu", "chrf2",
                                              "token_accuracy", "top5_accuracy", "nll_right", "nll_wrong", "entropy",
                                              "confidence"};   /* the token statistics' keys are eval --json's */
            static const int decimals[] = {3, 6, 6, 4, 4, 4, 6, 6, 6, 6, 6, 6};
            const double val[] = {v->train_seconds, v->loss, v->nll, exp(v->nll), v->bleu, v->chrf, tm.accuracy,
                                  tm.top5, tm.nll_right, tm.nll_wrong, tm.entropy, tm.confidence};
            /* a value not finite (dev_ppl of a huge nll, nll_right with no target right): an empty
             * field in the TSV (what spreadsheets and pandas read as missing), null in the JSON */
            for (int k = 0; k < 12; k++) {
                if (isfinite(val[k])) fprintf(t, "\t%.*f", decimals[k], val[k]);
                else fputc('\t', t);
                fprintf(j, ", \"%s\": ", key[k]);
                tg_json_num(j, decimals[k], val[k]);
            }
            fputc('\n', t);
            fputc('}', j);
            first = false;
        }
    fprintf(j, "\n]\n");
    tg_status s = tg_exp_out_commit(&ot, err);
    if (s != TG_OK) { tg_exp_out_abort(&oj); return s; }
    return tg_exp_out_commit(&oj, err);
}

/* ---- report.md ---- */

/* A checkpoint's figures by index: the variant tables', then the token statistics' (as means). */
enum { M_LOSS, M_NLL, M_BLEU, M_CHRF, M_STEP, M_SECONDS, M_ACC, M_TOP5, M_NLL_RIGHT, M_NLL_WRONG, M_ENTROPY,
       M_OVERSURE, N_METRICS };

static double metric_of(const tg_exp_eval *ev, int k) {
    tg_token_means tm = tg_token_stats_means(&ev->stats);
    const double x[N_METRICS] = {ev->loss, ev->nll, ev->bleu, ev->chrf, (double)ev->step, ev->train_seconds,
                                 100 * tm.accuracy, 100 * tm.top5, tm.nll_right, tm.nll_wrong, tm.entropy,
                                 100 * (tm.confidence - tm.accuracy)};
    return x[k];
}

typedef struct { double mean, sd; int n; } mean_sd;

static mean_sd stats_of(const double *v, int n) {
    mean_sd m = {0, NAN, n};
    for (int i = 0; i < n; i++) m.mean += v[i] / n;
    if (n > 1) {
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (v[i] - m.mean) * (v[i] - m.mean);
        m.sd = sqrt(ss / (n - 1));
    }
    return m;
}

static void cell_md(FILE *f, mean_sd m, const char *fmt) {
    fprintf(f, " | ");
    if (!m.n || !isfinite(m.mean)) { fprintf(f, "-"); return; }   /* e.g. the NLL of right targets, none right */
    fprintf(f, fmt, m.mean);
    if (m.n > 1) {   /* the sd unsigned: fmt without its '+' */
        char plain[16];
        size_t k = 0;
        for (const char *p = fmt; *p && k + 1 < sizeof plain; p++)
            if (*p != '+') plain[k++] = *p;
        plain[k] = '\0';
        fprintf(f, " ± ");
        fprintf(f, plain, m.sd);
    }
}

/* The variant's metric k of checkpoint w over its finished seeds. */
static mean_sd variant_metric(const report *R, int v, int w, int k) {
    double *vals = calloc((size_t)R->e->n_seeds + 1, sizeof *vals);
    int n = 0;
    for (int s = 0; vals && s < R->e->n_seeds; s++) {
        const cell_result *c = at(R, v, s);
        if (!c->finished || !c->ev[w].present) continue;
        vals[n++] = metric_of(&c->ev[w], k);
    }
    mean_sd m = stats_of(vals, n);
    free(vals);
    return m;
}

static void variant_table(FILE *f, const report *R, int w) {
    fprintf(f, "### %s.ckpt\n\n| variant | seeds | dev loss | dev NLL | BLEU | chrF2 | step | training time (s) |\n"
               "|---|---|---|---|---|---|---|---|\n", WHICH[w]);
    static const char *const fmt[] = {"%.4f", "%.4f", "%.2f", "%.2f", "%.0f", "%.1f"};
    for (int v = 0; v < R->nv; v++) {
        mean_sd m0 = variant_metric(R, v, w, 0);
        fprintf(f, "| %s%s | %d", R->e->n_axes ? R->r[v].cell.variant : "all", v == R->baseline ? " (baseline)" : "",
                m0.n);
        for (int k = 0; k < 6; k++) cell_md(f, variant_metric(R, v, w, k), fmt[k]);
        fprintf(f, " |\n");
    }
    fprintf(f, "\n");
}

static void bs_row(FILE *f, const char *variant, const char *seed, const tg_paired_bs_system *sys,
                   const tg_paired_bs_system *base) {
    fprintf(f, "| %s | %s | %.2f (μ %.2f ± %.2f) | %.2f | %+.2f | [%+.2f, %+.2f] | %.4f |\n", variant, seed,
            sys->bleu.score, sys->bleu.mean, sys->bleu.ci, base->bleu.score, sys->diff.score,
            sys->diff.mean - sys->diff.ci, sys->diff.mean + sys->diff.ci, sys->p_value);
}

/* seg[0] the baseline's, seg[1..] the variants' (vars[k - 1]); one call, the same resamples. */
static tg_status bs_rows(FILE *f, const report *R, const tg_bleu_stats *const *seg, const int *vars, int n_sys,
                         size_t n_seg, const char *seed_label, tg_err *err) {
    tg_paired_bs_system *out = calloc((size_t)n_sys, sizeof *out);
    if (!out) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    tg_status s = tg_paired_bs(seg, (size_t)n_sys, n_seg, BS_SAMPLES, BS_SEED, &R->bleu, out, err);
    for (int k = 1; s == TG_OK && k < n_sys; k++) bs_row(f, R->r[vars[k - 1]].cell.variant, seed_label, &out[k], &out[0]);
    free(out);
    return s;
}

static bool scored(const cell_result *c, int w) { return c->finished && c->ev[w].present; }

/* Whether cell c's evaluation w can be paired with the baseline's b: the same dev segments, told
 * by the hash of the dev text (dev sets of one length would otherwise be paired line by line). */
static bool pairable(const cell_result *c, const cell_result *b, int w) {
    return scored(c, w) && scored(b, w) && c->ev[w].n_seg == b->ev[w].n_seg && c->ev[w].dev == b->ev[w].dev;
}

/* The cells that pairable() keeps from the baseline's cell of their seed because they were
 * scored on other dev text (a variant given another --dev): named in report.md and warned about
 * on stderr, so that a missing row is not taken for an unfinished cell. */
static void other_dev_note(FILE *f, const report *R) {
    int n = 0;
    for (int sd = 0; sd < R->e->n_seeds; sd++)
        for (int v = 0; v < R->nv; v++) {
            const cell_result *b = at(R, R->baseline, sd), *c = at(R, v, sd);
            int w = 0;
            while (w < N_WHICH && !(scored(c, w) && scored(b, w))) w++;
            if (v == R->baseline || w == N_WHICH || c->ev[w].dev == b->ev[w].dev) continue;
            fprintf(f, "%s`%s`", n++ ? ", " : "**Not compared with the baseline** (scored on other dev text than the "
                    "baseline's cell of their seed, so their segments are other sentences; their scores above are on "
                    "their own dev set): ", c->cell.name);
            fprintf(stderr, "tapegrad experiment: warning: %s was scored on other dev text than the baseline's %s: "
                            "not compared with it\n", c->cell.name, b->cell.name);
        }
    if (n) fprintf(f, ".\n\n");
}

/* Variant v against the baseline pooled over the seeds where both cells are scored (segment
 * statistics summed over those seeds): a row when there are two seeds or more. */
static tg_status pooled_row(FILE *f, const report *R, int v, int w, tg_err *err) {
    size_t n_seg = 0;
    int k = 0;
    tg_bleu_stats *pool[2] = {NULL, NULL};
    tg_status s = TG_OK;
    for (int sd = 0; s == TG_OK && sd < R->e->n_seeds; sd++) {
        const cell_result *b = at(R, R->baseline, sd), *c = at(R, v, sd);
        if (!pairable(c, b, w) || (n_seg && b->ev[w].n_seg != n_seg)) continue;
        n_seg = b->ev[w].n_seg;
        for (int i = 0; i < 2 && s == TG_OK; i++)
            if (!pool[i] && !(pool[i] = calloc(n_seg + 1, sizeof **pool))) s = tg_err_set(err, TG_ERR_NOMEM, "out of memory");
        for (size_t i = 0; s == TG_OK && i < n_seg; i++) {
            tg_bleu_stats_sum(&pool[0][i], &b->ev[w].seg[i]);
            tg_bleu_stats_sum(&pool[1][i], &c->ev[w].seg[i]);
        }
        k++;
    }
    if (s == TG_OK && k > 1) {
        const tg_bleu_stats *seg[2] = {pool[0], pool[1]};
        int vars[1] = {v};
        char label[48];
        snprintf(label, sizeof label, "**pooled (%d seeds)**", k);
        s = bs_rows(f, R, seg, vars, 2, n_seg, label, err);
    }
    free(pool[0]);
    free(pool[1]);
    return s;
}

/* Per seed, the variants whose cell and the baseline's are scored; then each variant pooled over
 * the seeds where it and the baseline are (an unfinished seed leaves the others' pooling alone). */
static tg_status bootstrap_section(FILE *f, const report *R, int w, tg_err *err) {
    int nv = R->nv, ns = R->e->n_seeds;
    const tg_bleu_stats **seg = calloc((size_t)nv + 1, sizeof *seg);
    int *vars = calloc((size_t)nv + 1, sizeof *vars);
    tg_status s = seg && vars ? TG_OK : tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    fprintf(f, "### %s.ckpt\n\n| variant | seed | BLEU (resampled mean ± 95%%) | baseline BLEU | Δ BLEU | 95%% interval of Δ | p |\n"
               "|---|---|---|---|---|---|---|\n", WHICH[w]);
    for (int sd = 0; s == TG_OK && sd < ns; sd++) {
        const cell_result *b = at(R, R->baseline, sd);
        if (!b->finished || !b->ev[w].present) continue;
        int n_sys = 1;
        seg[0] = b->ev[w].seg;
        for (int v = 0; v < nv; v++) {
            const cell_result *c = at(R, v, sd);
            if (v != R->baseline && pairable(c, b, w)) { vars[n_sys - 1] = v; seg[n_sys++] = c->ev[w].seg; }
        }
        char label[32];
        snprintf(label, sizeof label, "%llu", (unsigned long long)b->cell.seed);
        if (n_sys > 1) s = bs_rows(f, R, seg, vars, n_sys, b->ev[w].n_seg, label, err);
    }
    for (int v = 0; s == TG_OK && v < nv; v++)
        if (v != R->baseline) s = pooled_row(f, R, v, w, err);
    fprintf(f, "\n");
    free(seg);
    free(vars);
    return s;
}

/* The token statistics: per variant, mean ± sd over seeds; then each variant minus the baseline,
 * seed by seed (cells scored on the same dev text), averaged, with the seeds where the variant's
 * accuracy is the lower. */
static void token_tables(FILE *f, const report *R, int w) {
    static const char *const fmt[] = {"%.2f", "%.2f", "%.4f", "%.4f", "%.4f", "%+.2f"};
    fprintf(f, "### %s.ckpt\n\n| variant | seeds | accuracy (%%) | top-5 (%%) | NLL of right | NLL of wrong | entropy | "
               "confidence − accuracy (points) |\n|---|---|---|---|---|---|---|---|\n", WHICH[w]);
    for (int v = 0; v < R->nv; v++) {
        fprintf(f, "| %s%s | %d", R->e->n_axes ? R->r[v].cell.variant : "all", v == R->baseline ? " (baseline)" : "",
                variant_metric(R, v, w, M_ACC).n);
        for (int k = M_ACC; k < N_METRICS; k++) cell_md(f, variant_metric(R, v, w, k), fmt[k - M_ACC]);
        fprintf(f, " |\n");
    }
    if (R->nv < 2) { fprintf(f, "\n"); return; }
    fprintf(f, "\n| variant − baseline | seeds paired | accuracy | lower in | top-5 | NLL of right | NLL of wrong | "
               "entropy | confidence − accuracy |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int v = 0; v < R->nv; v++) {
        if (v == R->baseline) continue;
        double d[N_METRICS] = {0};
        int n = 0, lower = 0;
        for (int sd = 0; sd < R->e->n_seeds; sd++) {
            const cell_result *b = at(R, R->baseline, sd), *c = at(R, v, sd);
            if (!pairable(c, b, w)) continue;
            for (int k = M_ACC; k < N_METRICS; k++) d[k] += metric_of(&c->ev[w], k) - metric_of(&b->ev[w], k);
            lower += metric_of(&c->ev[w], M_ACC) < metric_of(&b->ev[w], M_ACC);
            n++;
        }
        fprintf(f, "| %s | %d", R->r[v].cell.variant, n);
        if (!n) { fprintf(f, " | - | - | - | - | - | - | - |\n"); continue; }
        fprintf(f, " | %+.2f | %d of %d | %+.2f", d[M_ACC] / n, lower, n, d[M_TOP5] / n);
        for (int k = M_NLL_RIGHT; k < N_METRICS; k++)
            fprintf(f, !isfinite(d[k]) ? " | -" : k == M_OVERSURE ? " | %+.2f" : " | %+.4f", d[k] / n);
        fprintf(f, " |\n");
    }
    fprintf(f, "\n");
}

static void time_table(FILE *f, const report *R) {
    fprintf(f, "## Time per cell\n\n| cell | steps | training time (s) | s per step |\n|---|---|---|---|\n");
    for (int i = 0; i < R->n; i++) {
        const cell_result *c = &R->r[i];
        if (!c->finished || !c->ev[0].present) { fprintf(f, "| %s | (not finished) | | |\n", c->cell.name); continue; }
        fprintf(f, "| %s | %lld | %.1f | %.4f |\n", c->cell.name, (long long)c->ev[0].step, c->ev[0].train_seconds,
                c->ev[0].step ? c->ev[0].train_seconds / (double)c->ev[0].step : 0);
    }
    fprintf(f, "\nTraining time is the cells' own (the checkpoints' train_seconds, validation excluded), measured "
               "on a machine that may have been shared.\n\n");
}

static tg_status write_md(const report *R, const bool *finished, tg_err *err) {
    tg_exp_out o;
    FILE *f = open_in(R->e, "report.md", &o, err);
    if (!f) return TG_ERR_NOMEM;
    enum { CMD_MAX = 16384 };
    char *cmd = malloc(CMD_MAX);   /* (not on the stack, where the plots below are drawn) */
    if (!cmd) {
        tg_exp_out_abort(&o);
        return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    }
    tg_exp_command_line(R->e, cmd, CMD_MAX);
    int done = 0;
    for (int i = 0; i < R->n; i++) done += finished[i];
    fprintf(f, "# Experiment %s\n\nReproduce it with:\n\n```sh\n%s\n```\n\n%d of %d cells finished (%d variants x %d "
               "seeds); the tables cover the finished ones. Dev set scores are of greedy translations; BLEU is "
               "sacreBLEU's corpus BLEU, chrF2 its chrF.\n\n## Per variant: mean ± sd over seeds\n\n",
            tg_exp_dir_shown(R->e), cmd, done, R->n, R->nv, R->e->n_seeds);
    free(cmd);
    for (int w = 0; w < N_WHICH; w++) variant_table(f, R, w);
    fprintf(f, "## Against the baseline (%s)\n\nPaired bootstrap resampling of the dev set (%d resamples, seed %d, "
               "corpus BLEU recomputed from the resampled segments' statistics, as `sacrebleu --paired-bs`): per "
               "seed, the variant's cell against the baseline's cell of the same seed, when both were scored on the "
               "same dev text; pooled, each segment's statistics summed over the seeds, so the resampling covers "
               "the data and the seeds average the training noise. Δ is the variant's BLEU minus the baseline's "
               "on the whole dev set; its interval is the resampled mean ± the 95%% half-width; p is the paired "
               "bootstrap's p-value.\n\n",
            R->e->n_axes ? R->r[R->baseline].cell.variant : "all", BS_SAMPLES, BS_SEED);
    other_dev_note(f, R);
    tg_status s = TG_OK;
    for (int w = 0; s == TG_OK && w < N_WHICH; w++) s = bootstrap_section(f, R, w, err);
    if (s == TG_OK) {
        fprintf(f, "## Teacher-forced token statistics\n\nOn the dev targets with the reference as the decoder's "
                   "input (as `tapegrad eval` prints them): accuracy, how often the most probable next token is the "
                   "target; top-5, how often the target is among the 5 most probable; the NLL per token of the "
                   "targets that are the most probable (right) and of the others (wrong); the entropy of the "
                   "next-token distribution (nats); confidence − accuracy, the mean probability of the first choice "
                   "less the accuracy (over-sureness when positive). A variant that loses its choices loses accuracy; "
                   "one that is only surer of its wrong choices keeps its accuracy and raises the NLL of wrong "
                   "targets. The second table is each variant minus the baseline, seed by seed, averaged; \"lower "
                   "in\" counts the seeds where the variant's accuracy is the lower.\n\n");
        for (int w = 0; w < N_WHICH; w++) token_tables(f, R, w);
        time_table(f, R);
    }
    if (s == TG_OK) {
        fprintf(f, "## Plots\n\nOne line per variant: the mean over its seeds, with the min-max band over seeds.\n\n");
        s = tg_exp_plots(R->e, finished, f, err);
    }
    if (s != TG_OK) { tg_exp_out_abort(&o); return s; }
    return tg_exp_out_commit(&o, err);
}

static int report_made(const tg_experiment *e, const char *baseline) {
    tg_err err;
    report R = {.e = e, .n = tg_exp_cell_count(e), .nv = tg_exp_variant_count(e), .bleu = tg_bleu_opts_default()};
    R.baseline = parse_baseline(e, baseline, &err);
    if (R.baseline < 0) { fprintf(stderr, "tapegrad experiment report: %s\n", err.msg); return 2; }
    R.r = calloc((size_t)R.n, sizeof *R.r);
    bool *finished = calloc((size_t)R.n + 1, sizeof *finished);
    tg_status s = R.r && finished ? TG_OK : tg_err_set(&err, TG_ERR_NOMEM, "out of memory");
    if (s == TG_OK) s = evaluate_cells(&R, &err);
    for (int i = 0; s == TG_OK && i < R.n; i++) finished[i] = R.r[i].finished;
    if (s == TG_OK) s = write_results(&R, &err);
    if (s == TG_OK) s = write_md(&R, finished, &err);
    g_report_whole = s == TG_OK;
    if (s == TG_OK)
        fprintf(stderr, "tapegrad experiment: wrote %s/report.md, results.tsv, results.json and the plots\n",
                tg_exp_dir_shown(e));
    else
        fprintf(stderr, "tapegrad experiment report: %s\n", err.msg);
    for (int i = 0; R.r && i < R.n; i++)
        for (int w = 0; w < N_WHICH; w++) tg_exp_eval_free(&R.r[i].ev[w]);
    free(R.r);
    free(finished);
    return s == TG_OK ? 0 : 1;
}

/* ---- a stop signal while the report is made ---- */

/* What stopped() says after "signal N", made before its handler is set: while the report is
 * written, and once it is (its last line to a stderr whose reader went: SIGPIPE). */
static char g_stopped_tail[2][TG_PATH_MAX + 256];
static size_t g_stopped_len[2];

/* A stop signal (Ctrl-C, SIGTERM, SIGHUP...) while the report is made ended the process at the
 * default (exit 143), without a word. Every write holds those signals
 * (atomic_file.c), so this handler runs only where no temporary stands: each file is the old one
 * or the whole new one, an eval cache too, and nothing is lost. It says so and exits 1 at once
 * (a cell's dev set being decoded is not waited for). Async-signal-safe: write and _exit. */
static void stopped(int sig) {
    tg_console_drop_if_stalled();   /* (a stderr that takes nothing would hold the exit) */
    char head[64] = "tapegrad experiment: stopped by signal ";
    size_t n = strlen(head);
    char digits[12];
    int k = 0;
    for (unsigned v = (unsigned)sig; k == 0 || v; v /= 10) digits[k++] = (char)('0' + v % 10);
    while (k) head[n++] = digits[--k];
    ssize_t w = write(2, head, n);
    w = write(2, g_stopped_tail[g_report_whole], g_stopped_len[g_report_whole]);
    (void)w;
    _exit(1);
}

/* A SIGPIPE (`report DIR 2>&1 | head -1`) stops nothing: the files are what was asked for, the
 * lines only news of them. Its writes fail (EPIPE) from then on; tg_exp_report ends with exit 1. */
static void pipe_broken(int sig) {
    (void)sig;
    g_pipe_broken = 1;
}

/* stopped() for each stop signal not ignored (nohup's SIGHUP, a SIGPIPE ignored once stderr's reader
 * went: left so), pipe_broken() for SIGPIPE; old: what to put back. */
static void catch_stops(const tg_experiment *e, struct sigaction old[TG_N_STOP_SIGNALS]) {
    static const int stops[] = {TG_STOP_SIGNALS};
    g_report_whole = g_pipe_broken = 0;
    for (int i = 0; i < 2; i++) {
        int n = i ? snprintf(g_stopped_tail[i], sizeof g_stopped_tail[i], " once the report of %s was written "
                             "whole\n", tg_exp_dir_shown(e))
                  : snprintf(g_stopped_tail[i], sizeof g_stopped_tail[i], " while writing the report; nothing is "
                             "lost (the cells are saved, and each file is the old one or the whole new one): run "
                             "`tapegrad experiment report %s` to make the report again\n", tg_exp_dir_shown(e));
        size_t cap = sizeof g_stopped_tail[i];
        g_stopped_len[i] = n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = stopped;
    sigemptyset(&sa.sa_mask);   /* the others held meanwhile: its own write's SIGPIPE too */
    for (int i = 0; i < TG_N_STOP_SIGNALS; i++) sigaddset(&sa.sa_mask, stops[i]);
    struct sigaction pipe = sa;
    pipe.sa_handler = pipe_broken;
    for (int i = 0; i < TG_N_STOP_SIGNALS; i++)
        if (sigaction(stops[i], NULL, &old[i]) == 0 && old[i].sa_handler != SIG_IGN)
            sigaction(stops[i], stops[i] == SIGPIPE ? &pipe : &sa, NULL);
}

static void restore_stops(const struct sigaction old[TG_N_STOP_SIGNALS]) {
    static const int stops[] = {TG_STOP_SIGNALS};
    for (int i = 0; i < TG_N_STOP_SIGNALS; i++) sigaction(stops[i], &old[i], NULL);
}

int tg_exp_report(const tg_experiment *e, const char *baseline) {
    struct sigaction old[TG_N_STOP_SIGNALS];
    catch_stops(e, old);
    int rc = report_made(e, baseline);
    restore_stops(old);
    if (g_pipe_broken) signal(SIGPIPE, SIG_IGN);   /* (as train: the lines after fail rather than kill) */
    /* the report made, its news lost (a reader gone, or one that ignored SIGPIPE: EPIPE; a full
     * stderr): quietly, exit 1 as for a failed write, whatever SIGPIPE's inherited setting */
    return (g_pipe_broken || ferror(stderr)) && rc == 0 ? 1 : rc;
}
