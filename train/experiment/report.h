/* report.h: `tapegrad experiment report DIR`: each finished cell's last and best checkpoints
 * evaluated on dev (cached in the cell), DIR/results.tsv, DIR/results.json, DIR/report.md (per
 * variant mean and sd over seeds; each variant against the baseline by paired bootstrap, per seed
 * and pooled over seeds) and SVG plots. Private to train/. */
#ifndef TG_EXP_REPORT_H
#define TG_EXP_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "train/experiment/experiment.h"
#include "train/metrics/metrics.h"

#define TG_EXP_PATH_MAX (TG_PATH_MAX + TG_EXP_NAME_MAX + 128)

/* ---- a file printed into memory, then saved atomically (outfile.c) ---- */
typedef struct tg_exp_out {
    FILE *f;                      /* print into this */
    char *buf;
    size_t len;
    char path[TG_EXP_PATH_MAX];
} tg_exp_out;
/* NULL (and err) when the memory stream cannot be made. */
FILE *tg_exp_out_open(tg_exp_out *o, const char *path, tg_err *err);
/* Saves what was printed to the path (atomic_file.h); o is closed whatever happens. */
tg_status tg_exp_out_commit(tg_exp_out *o, tg_err *err);
void tg_exp_out_abort(tg_exp_out *o);

/* ---- the folder's own files read back (infile.c) ---- */
#define TG_EXP_LINE_MAX (16 << 20)
typedef struct tg_exp_in {
    FILE *f;
    char *line;                   /* the line read last, its '\n' dropped, NUL-terminated */
    size_t len, cap;
    long lineno;                  /* of that line, from 1 */
    bool torn;                    /* that line had no '\n': the last, cut by a kill or still being written */
    char path[TG_EXP_PATH_MAX];
} tg_exp_in;
/* Opens one of the files tapegrad writes in an experiment folder (experiment.txt, a cell's
 * metrics.tsv, diagnostics.tsv, eval-*.tsv, dev.hyp-*.txt) for reading: a regular file, not
 * through a symbolic link, opened without waiting. Otherwise an error naming the file; *missing
 * (missing may be NULL) says there is no file by that name. */
tg_status tg_exp_in_open(tg_exp_in *in, const char *path, bool *missing, tg_err *err);
/* The next line into in->line: true; false at the end (*st TG_OK) or, *st and err set, on a line
 * of TG_EXP_LINE_MAX bytes or more (named by file and line) or a read error. */
bool tg_exp_in_line(tg_exp_in *in, tg_status *st, tg_err *err);
void tg_exp_in_close(tg_exp_in *in);
/* path is absent or a regular file (by lstat), so that a write replaces it (a write to a FIFO or
 * device there would go into it, or wait); the same error as tg_exp_in_open otherwise. */
tg_status tg_exp_check_regular(const char *path, tg_err *err);

/* ---- a cell's checkpoint on dev, cached (evalcache.c) ---- */
typedef struct tg_exp_eval {
    bool present;                 /* the checkpoint exists and was scored */
    int64_t step;
    double train_seconds;
    double loss, nll, bleu, chrf;
    tg_token_stats stats;         /* teacher-forced token statistics (sums; nn.h), as eval prints them */
    uint64_t dev;                 /* a hash of the dev text scored (as the cache records it) */
    size_t n_seg;                 /* dev pairs (all of them; pairs left out have zero stats) */
    tg_bleu_stats *seg;           /* (n_seg) BLEU statistics of each dev pair's translation */
    bool copied;                  /* best.ckpt held last.ckpt's step: last's scores were copied */
} tg_exp_eval;
/* which: "last" or "best" (evaluate last first: a best at last's step copies its cache). *fresh:
 * the cache was (re)made now. No checkpoint: present false. */
tg_status tg_exp_cell_eval(const tg_exp_cell *c, const tg_run_config *cfg, const char *which,
                           const tg_dev_text *dev, tg_exp_eval *ev, bool *fresh, tg_err *err);
void tg_exp_eval_free(tg_exp_eval *ev);

/* ---- value against step (curves.c) ---- */
typedef struct tg_exp_curve {
    size_t n, cap;
    double *x, *y;                /* (n) x rising */
} tg_exp_curve;
tg_status tg_exp_curve_push(tg_exp_curve *c, double x, double y, tg_err *err);
void tg_exp_curve_free(tg_exp_curve *c);
/* Trailing moving average over `window` points. */
void tg_exp_curve_smooth(tg_exp_curve *c, int window);
/* The rows a reader left out for having fewer fields than it reads (a row cut short by hand or
 * by a tool): the caller warns, naming the first. A blank line and a torn last line (a run killed,
 * or still writing) are left out without a count. */
typedef struct tg_exp_short {
    long rows;                    /* how many */
    long first_line;              /* the first one's line, from 1 (0: none) */
    int first_fields;             /* its fields */
    int want;                     /* the fields a row needs */
    long cr_line;                 /* a torn last line holding CRs, a file of CR line ends: its line (0: none) */
    long kinds, kind_line;        /* rows of a kind neither train nor valid (metrics.tsv), the first's line */
    char kind[32];                /* that first one's kind, cut to 24 bytes */
} tg_exp_short;
/* The k-th (from 0) warning owed in buf: 0 a file of CR line ends left out; 1 "PATH:LINE: a row of
 * N fields where M are needed: left out of WHAT[, with K other such rows]"; 2 the rows of a kind
 * neither train nor valid. 1, or 0 when that one is not owed. */
int tg_exp_short_text(const char *path, const tg_exp_short *sh, const char *what, int k, char *buf, size_t len);
/* Column col (a header name: loss, nll, bleu, ...) of the rows of kind ("train"|"valid") of a
 * metrics.tsv. *sh (sh may be NULL): the rows too short to hold col, step and kind, but those of
 * the other kind train writes ("train" for "valid" and the other way round). */
tg_status tg_exp_read_metrics(const char *path, const char *kind, const char *col, tg_exp_curve *out,
                              tg_exp_short *sh, tg_err *err);
/* diagnostics.tsv: each metric (any name) averaged over its rows at each step. A missing file
 * gives n = 0. *sh (sh may be NULL): the rows of fewer than the six fields. */
typedef struct tg_exp_diag {
    int n;
    char **metric;                /* (n) */
    tg_exp_curve *curve;          /* (n) */
} tg_exp_diag;
tg_status tg_exp_read_diagnostics(const char *path, tg_exp_diag *out, tg_exp_short *sh, tg_err *err);
void tg_exp_diag_free(tg_exp_diag *d);
/* Mean, min and max over curves at every x that any of them has. */
typedef struct tg_exp_band {
    size_t n;
    double *x, *mean, *lo, *hi;
} tg_exp_band;
tg_status tg_exp_band_of(const tg_exp_curve *const *curves, int n, tg_exp_band *out, tg_err *err);
void tg_exp_band_free(tg_exp_band *b);

/* ---- SVG line plots (svg.c) ---- */
typedef struct tg_svg_series {
    const char *label;
    size_t n;
    const double *x, *y;          /* (n) the line */
    const double *lo, *hi;        /* (n) a shaded band, or NULL */
} tg_svg_series;
typedef struct tg_svg_plot {
    const char *title, *xlabel, *ylabel;
    const char *note;             /* a grey line under the legend, or NULL */
} tg_svg_plot;
tg_status tg_svg_line_plot(const char *path, const tg_svg_plot *p, const tg_svg_series *s, int n, tg_err *err);

/* ---- plots of an experiment (plots.c) ---- */
/* Writes DIR/plot-*.svg; appends a markdown line per plot to md (may be NULL). */
tg_status tg_exp_plots(const tg_experiment *e, const bool *finished, FILE *md, tg_err *err);

/* ---- the report (report.c) ---- */
/* baseline: "KEY=V,..." (unset keys: the axis's first value) or NULL. Returns the exit code. */
int tg_exp_report(const tg_experiment *e, const char *baseline);

#endif /* TG_EXP_REPORT_H */
