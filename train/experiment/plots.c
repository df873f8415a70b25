/* plots.c: an experiment's SVG plots, one line per variant (the mean over its seeds) with a
 * shaded min-max band over the seeds: dev NLL and dev BLEU against step (metrics.tsv's
 * validation rows), the training loss (its log rows, a trailing mean over 5 of them), and, for
 * cells with a diagnostics.tsv, one plot per diagnostic metric: its value against step averaged
 * over stacks, layers and sublayers, then over seeds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/experiment/report.h"
#include "train/run/text_out.h"

#define TRAIN_SMOOTH 5

typedef struct {
    const char *file, *title, *ylabel;
} plot_names;

/* curves[v * n_seeds + s]: variant v, seed s (n = 0 when missing). */
static tg_status plot_variants(const tg_experiment *e, tg_exp_curve *curves, const plot_names *pn, FILE *md,
                               tg_err *err) {
    int nv = tg_exp_variant_count(e);
    tg_exp_band *bands = calloc((size_t)nv, sizeof *bands);
    tg_svg_series *series = calloc((size_t)nv, sizeof *series);
    const tg_exp_curve **have = calloc((size_t)e->n_seeds + 1, sizeof *have);
    tg_exp_cell *cells = calloc((size_t)nv, sizeof *cells);
    tg_status s = bands && series && have && cells ? TG_OK : tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    int k = 0, fewest = e->n_seeds, most = 0;   /* seeds a line is the mean of (finished cells) */
    for (int v = 0; s == TG_OK && v < nv; v++) {
        int n = 0;
        for (int sd = 0; sd < e->n_seeds; sd++)
            if (curves[v * e->n_seeds + sd].n) have[n++] = &curves[v * e->n_seeds + sd];
        if (!n) continue;
        if (n < fewest) fewest = n;
        if (n > most) most = n;
        s = tg_exp_band_of(have, n, &bands[k], err);
        tg_exp_cell_get(e, v, &cells[k]);
        series[k] = (tg_svg_series){e->n_axes ? cells[k].variant : "all", bands[k].n, bands[k].x, bands[k].mean,
                                    bands[k].lo, bands[k].hi};
        k++;
    }
    if (s == TG_OK && k > 0) {
        char path[TG_EXP_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", e->dir, pn->file);
        char note[64];
        if (fewest == most) snprintf(note, sizeof note, "line: mean of %d seeds; band: min-max", most);
        else snprintf(note, sizeof note, "line: mean of %d-%d seeds; band: min-max", fewest, most);
        s = tg_svg_line_plot(path, &(tg_svg_plot){pn->title, "step", pn->ylabel, most > 1 ? note : NULL},
                             series, k, err);
        if (s == TG_OK && md) fprintf(md, "![%s](%s)\n\n", pn->title, pn->file);
    }
    for (int i = 0; bands && i < nv; i++) tg_exp_band_free(&bands[i]);
    free(bands);
    free(series);
    free(have);
    free(cells);
    return s;
}

static void free_curves(tg_exp_curve *c, int n) {
    for (int i = 0; c && i < n; i++) tg_exp_curve_free(&c[i]);
    free(c);
}

/* The slot of cell i in curves[]: variant-major. */
static int slot(const tg_experiment *e, int cell) {
    int nv = tg_exp_variant_count(e);
    return (cell % nv) * e->n_seeds + cell / nv;
}

/* DIR/cells/CELL/file of cell i. */
static void cell_path(const tg_experiment *e, int i, const char *file, char *out, size_t len) {
    tg_exp_cell c;
    tg_exp_cell_get(e, i, &c);
    snprintf(out, len, "%s/%s", c.dir, file);
}

/* The warning owed for the rows a reader left out of what (a plot's file, or the diagnostics
 * plots): a hand-cut row is not dropped without a word. */
static void warn_short(const char *path, const tg_exp_short *sh, const char *what) {
    char text[TG_EXP_PATH_MAX + 256];
    for (int k = 0; k < 3; k++)
        if (tg_exp_short_text(path, sh, what, k, text, sizeof text)) {
            fputs("tapegrad experiment: warning: ", stderr);
            tg_fput_shown(stderr, text, strlen(text));   /* (the kind quoted is the file's: no escapes) */
            fputc('\n', stderr);
        }
}

static tg_status metric_plot(const tg_experiment *e, const bool *finished, const char *kind, const char *col,
                             int smooth, const plot_names *pn, FILE *md, tg_err *err) {
    int n = tg_exp_cell_count(e);
    tg_exp_curve *curves = calloc((size_t)n, sizeof *curves);
    if (!curves) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    tg_status s = TG_OK;
    for (int i = 0; s == TG_OK && i < n; i++) {
        if (!finished[i]) continue;
        char path[TG_EXP_PATH_MAX];
        cell_path(e, i, "metrics.tsv", path, sizeof path);
        tg_exp_short sh;
        s = tg_exp_read_metrics(path, kind, col, &curves[slot(e, i)], &sh, err);
        if (s == TG_OK) warn_short(path, &sh, pn->file);
        if (s == TG_OK && smooth > 1) tg_exp_curve_smooth(&curves[slot(e, i)], smooth);
    }
    if (s == TG_OK) s = plot_variants(e, curves, pn, md, err);
    free_curves(curves, n);
    return s;
}

/* Every metric name of the cells' diagnostics, in the order first seen. */
static tg_status diag_plots(const tg_experiment *e, const bool *finished, FILE *md, tg_err *err) {
    int n = tg_exp_cell_count(e);
    tg_exp_diag *d = calloc((size_t)n, sizeof *d);
    if (!d) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    tg_status s = TG_OK;
    for (int i = 0; s == TG_OK && i < n; i++) {
        if (!finished[i]) continue;
        char path[TG_EXP_PATH_MAX];
        cell_path(e, i, "diagnostics.tsv", path, sizeof path);
        tg_exp_short sh;
        s = tg_exp_read_diagnostics(path, &d[i], &sh, err);
        if (s == TG_OK) warn_short(path, &sh, "the diagnostics plots");
    }
    bool header = false;
    for (int i = 0; s == TG_OK && i < n; i++)
        for (int m = 0; s == TG_OK && m < d[i].n; m++) {
            const char *name = d[i].metric[m];
            bool seen = false;   /* plotted for an earlier cell */
            for (int j = 0; j < i && !seen; j++)
                for (int q = 0; q < d[j].n && !seen; q++) seen = !strcmp(d[j].metric[q], name);
            if (seen) continue;
            tg_exp_curve *curves = calloc((size_t)n, sizeof *curves);
            if (!curves) { s = tg_err_set(err, TG_ERR_NOMEM, "out of memory"); break; }
            for (int j = 0; j < n; j++)   /* borrowed, not copied: freed with d */
                for (int q = 0; q < d[j].n; q++)
                    if (!strcmp(d[j].metric[q], name)) curves[slot(e, j)] = d[j].curve[q];
            char file[160], title[200];
            snprintf(file, sizeof file, "plot-diag-%.100s.svg", name);
            for (char *p = file; *p; p++)
                if (*p == '/' || *p == ' ') *p = '_';
            snprintf(title, sizeof title, "%.100s (mean over stacks, layers, sublayers)", name);
            if (md && !header) {
                fprintf(md, "### Diagnostics (diagnostics.tsv)\n\nEach value is averaged over the stacks, layers "
                            "and sublayers that report it at a step, then over seeds (band: min-max over seeds).\n\n");
                header = true;
            }
            s = plot_variants(e, curves, &(plot_names){file, title, name}, md, err);
            free(curves);
        }
    for (int i = 0; i < n; i++) tg_exp_diag_free(&d[i]);
    free(d);
    return s;
}

tg_status tg_exp_plots(const tg_experiment *e, const bool *finished, FILE *md, tg_err *err) {
    tg_status s = metric_plot(e, finished, "valid", "nll", 1,
                              &(plot_names){"plot-dev-nll.svg", "dev NLL per target token", "dev NLL (nats)"}, md, err);
    if (s == TG_OK)
        s = metric_plot(e, finished, "valid", "bleu", 1,
                        &(plot_names){"plot-dev-bleu.svg", "dev BLEU (greedy)", "BLEU"}, md, err);
    if (s == TG_OK)
        s = metric_plot(e, finished, "train", "loss", TRAIN_SMOOTH,
                        &(plot_names){"plot-train-loss.svg", "training loss (label-smoothed, mean of 5 log points)",
                                      "loss"}, md, err);
    if (s == TG_OK) s = diag_plots(e, finished, md, err);
    return s;
}
