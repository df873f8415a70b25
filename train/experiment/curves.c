/* curves.c: a value against step, read from a cell's metrics.tsv (a column of its train or valid
 * rows) or diagnostics.tsv (each metric averaged over stacks, layers and sublayers at each step),
 * and the band of a variant's curves over seeds (mean, min, max at each step). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/experiment/report.h"
#include "train/metrics/order_stats.h"

tg_status tg_exp_curve_push(tg_exp_curve *c, double x, double y, tg_err *err) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        double *nx = realloc(c->x, cap * sizeof *nx);
        if (nx) c->x = nx;
        double *ny = realloc(c->y, cap * sizeof *ny);
        if (ny) c->y = ny;
        if (!nx || !ny) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
        c->cap = cap;
    }
    c->x[c->n] = x;
    c->y[c->n++] = y;
    return TG_OK;
}

void tg_exp_curve_free(tg_exp_curve *c) {
    free(c->x);
    free(c->y);
    memset(c, 0, sizeof *c);
}

void tg_exp_curve_smooth(tg_exp_curve *c, int window) {
    if (c->n == 0) return;
    double *y = malloc((c->n + 1) * sizeof *y);
    if (!y) return;
    for (size_t i = 0; i < c->n; i++) {   /* trailing mean: each point sees only the past */
        double sum = 0;
        int k = 0;
        for (size_t j = i + 1 > (size_t)window ? i + 1 - (size_t)window : 0; j <= i; j++, k++) sum += c->y[j];
        y[i] = sum / k;
    }
    memcpy(c->y, y, c->n * sizeof *y);
    free(y);
}

/* Splits a line at tabs in place; returns the number of fields (at most max). */
static int split_tabs(char *line, char **field, int max) {
    int n = 0;
    line[strcspn(line, "\r")] = '\0';
    for (char *p = line; n < max;) {
        field[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab) break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

#define MAX_FIELDS 32

/* Counts the row just read (n fields, want needed) as left out, unless it is blank or a torn last
 * line: those hold no row (a blank line is dropped without a word by a resume's trim too; a torn
 * one is a run killed or still writing). */
static void count_short(tg_exp_short *sh, const tg_exp_in *in, bool blank, int n, int want) {
    if (!sh || blank || in->torn) return;
    if (sh->rows++ == 0) {
        sh->first_line = in->lineno;
        sh->first_fields = n;
    }
    sh->want = want;
}

/* A torn last line holding a CR, which no crash writes (tapegrad writes none): a file of CR line
 * ends, all its rows in that one line; noted in *sh. */
static bool cr_torn(tg_exp_short *sh, const tg_exp_in *in) {
    if (!in->torn || !memchr(in->line, '\r', in->len)) return false;
    if (sh) sh->cr_line = in->lineno;
    return true;
}

/* An empty line, or one of a lone '\r' (CRLF). */
static bool blank_line(const char *line) { return !line[0] || !strcmp(line, "\r"); }

int tg_exp_short_text(const char *path, const tg_exp_short *sh, const char *what, int k, char *buf, size_t len) {
    char others[64] = "";
    long more = k == 1 ? sh->rows - 1 : k == 2 ? sh->kinds - 1 : 0;
    if (more > 0) snprintf(others, sizeof others, ", with %ld other such row%s", more, more > 1 ? "s" : "");
    if (k == 0 && sh->cr_line)
        snprintf(buf, len, "%s:%ld: a last line without a newline, holding CRs (a file of CR line ends, which tapegrad "
                 "does not write): its rows are left out of %s", path, sh->cr_line, what);
    else if (k == 1 && sh->rows)
        snprintf(buf, len, "%s:%ld: a row of %d field%s where %d are needed: left out of %s%s", path, sh->first_line,
                 sh->first_fields, sh->first_fields == 1 ? "" : "s", sh->want, what, others);
    else if (k == 2 && sh->kinds)
        snprintf(buf, len, "%s:%ld: a row of kind '%s', which is neither train nor valid: left out of %s%s", path,
                 sh->kind_line, sh->kind, what, others);
    else
        return 0;
    return 1;
}

tg_status tg_exp_read_metrics(const char *path, const char *kind, const char *col, tg_exp_curve *out,
                              tg_exp_short *sh, tg_err *err) {
    memset(out, 0, sizeof *out);
    if (sh) memset(sh, 0, sizeof *sh);
    tg_exp_in in;
    tg_status s = tg_exp_in_open(&in, path, NULL, err);
    char *field[MAX_FIELDS];
    int c_kind = -1, c_step = -1, c_val = -1, last = -1;   /* last: the largest of the three */
    while (s == TG_OK && tg_exp_in_line(&in, &s, err)) {
        if (cr_torn(sh, &in)) continue;
        bool blank = blank_line(in.line);
        int n = split_tabs(in.line, field, MAX_FIELDS);
        if (in.lineno == 1) {   /* the header names the columns */
            for (int i = 0; i < n; i++) {
                if (!strcmp(field[i], "kind")) c_kind = i;
                if (!strcmp(field[i], "step")) c_step = i;
                if (!strcmp(field[i], col)) c_val = i;
            }
            if (c_kind < 0 || c_step < 0 || c_val < 0)
                s = tg_err_set(err, TG_ERR_FORMAT, "%s:1: no kind, step or %s column", path, col);
            last = c_kind > c_step ? c_kind : c_step;
            if (c_val > last) last = c_val;
            continue;
        }
        /* a short row names fewer fields than the columns: the rest of field[] would be the
         * header's, pointing into a line buffer since reallocated. It is counted for the warning
         * unless its kind is the other one train writes (that curve's reader counts it). */
        if (n <= last) {
            const char *k = n > c_kind ? field[c_kind] : "";
            if (!strcmp(k, kind) || (strcmp(k, "train") && strcmp(k, "valid"))) count_short(sh, &in, blank, n, last + 1);
            continue;
        }
        if (sh && strcmp(field[c_kind], "train") && strcmp(field[c_kind], "valid") && sh->kinds++ == 0) {
            sh->kind_line = in.lineno;   /* a kind train never writes (edited: "trian") */
            snprintf(sh->kind, sizeof sh->kind, "%.24s", field[c_kind]);
        }
        if (strcmp(field[c_kind], kind) || !*field[c_val]) continue;
        char *e1, *e2;
        double x = strtod(field[c_step], &e1), y = strtod(field[c_val], &e2);
        if (!*field[c_step] || *e1 || *e2) s = tg_err_set(err, TG_ERR_FORMAT, "%s:%ld: not a number", path, in.lineno);
        else s = tg_exp_curve_push(out, x, y, err);
    }
    tg_exp_in_close(&in);
    if (s != TG_OK) tg_exp_curve_free(out);
    return s;
}

static int diag_metric(tg_exp_diag *d, const char *name, tg_err *err) {
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->metric[i], name)) return i;
    char **nm = realloc(d->metric, (size_t)(d->n + 1) * sizeof *nm);
    if (nm) d->metric = nm;
    tg_exp_curve *nc = realloc(d->curve, (size_t)(d->n + 1) * sizeof *nc);
    if (nc) d->curve = nc;
    if (!nm || !nc || !(d->metric[d->n] = strdup(name))) { tg_err_set(err, TG_ERR_NOMEM, "out of memory"); return -1; }
    memset(&d->curve[d->n], 0, sizeof d->curve[d->n]);
    return d->n++;
}

/* Adds a value to metric m at step x: the curve holds the running mean of the rows at x. */
static tg_status diag_add(tg_exp_diag *d, int m, double x, double y, double *count, tg_err *err) {
    tg_exp_curve *c = &d->curve[m];
    if (c->n && c->x[c->n - 1] == x) {
        count[m]++;
        c->y[c->n - 1] += (y - c->y[c->n - 1]) / count[m];
        return TG_OK;
    }
    count[m] = 1;
    return tg_exp_curve_push(c, x, y, err);
}

/* Rows step, stack, layer, sublayer, metric, value after a header; metrics unknown here are
 * read like the others. */
tg_status tg_exp_read_diagnostics(const char *path, tg_exp_diag *out, tg_exp_short *sh, tg_err *err) {
    memset(out, 0, sizeof *out);
    if (sh) memset(sh, 0, sizeof *sh);
    tg_exp_in in;
    bool missing;
    tg_status s = tg_exp_in_open(&in, path, &missing, err);
    if (missing) return TG_OK;   /* a run without --diagnostics */
    char *field[MAX_FIELDS];
    double count[256] = {0};   /* rows at the current step, per metric */
    while (s == TG_OK && tg_exp_in_line(&in, &s, err)) {
        if (cr_torn(sh, &in)) continue;
        bool blank = blank_line(in.line);
        int n = split_tabs(in.line, field, MAX_FIELDS);
        if (in.lineno == 1) continue;
        if (n < 6) {
            count_short(sh, &in, blank, n, 6);
            continue;
        }
        char *e1, *e2;
        double x = strtod(field[0], &e1), y = strtod(field[5], &e2);
        if (!*field[0] || *e1 || *e2) { s = tg_err_set(err, TG_ERR_FORMAT, "%s:%ld: not a number", path, in.lineno); break; }
        if (!isfinite(y)) continue;
        int m = diag_metric(out, field[4], err);
        if (m < 0) s = TG_ERR_NOMEM;
        else if (m < 256) s = diag_add(out, m, x, y, count, err);
    }
    tg_exp_in_close(&in);
    if (s != TG_OK) tg_exp_diag_free(out);
    return s;
}

void tg_exp_diag_free(tg_exp_diag *d) {
    for (int i = 0; i < d->n; i++) { free(d->metric[i]); tg_exp_curve_free(&d->curve[i]); }
    free(d->metric);
    free(d->curve);
    memset(d, 0, sizeof *d);
}

/* The index of x in c (whose x rise), or -1. */
static long find_x(const tg_exp_curve *c, double x) {
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->x[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    return lo < c->n && c->x[lo] == x ? (long)lo : -1;
}

tg_status tg_exp_band_of(const tg_exp_curve *const *curves, int n, tg_exp_band *out, tg_err *err) {
    memset(out, 0, sizeof *out);
    size_t total = 0;
    for (int k = 0; k < n; k++) total += curves[k]->n;
    double *xs = malloc((total + 1) * sizeof *xs);
    if (!xs) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    size_t m = 0;
    for (int k = 0; k < n; k++)
        for (size_t i = 0; i < curves[k]->n; i++) xs[m++] = curves[k]->x[i];
    tg_sort_doubles(xs, m);
    size_t u = 0;
    for (size_t i = 0; i < m; i++)
        if (!u || xs[i] != xs[u - 1]) xs[u++] = xs[i];
    out->x = xs;
    out->mean = malloc((u + 1) * sizeof *out->mean);
    out->lo = malloc((u + 1) * sizeof *out->lo);
    out->hi = malloc((u + 1) * sizeof *out->hi);
    if (!out->mean || !out->lo || !out->hi) { tg_exp_band_free(out); return tg_err_set(err, TG_ERR_NOMEM, "out of memory"); }
    for (size_t i = 0; i < u; i++) {
        double sum = 0, lo = INFINITY, hi = -INFINITY;
        int have = 0;
        for (int k = 0; k < n; k++) {
            long j = find_x(curves[k], xs[i]);
            if (j < 0) continue;
            double y = curves[k]->y[j];
            sum += y;
            lo = fmin(lo, y);
            hi = fmax(hi, y);
            have++;
        }
        out->mean[i] = sum / have;
        out->lo[i] = lo;
        out->hi[i] = hi;
    }
    out->n = u;
    return TG_OK;
}

void tg_exp_band_free(tg_exp_band *b) {
    free(b->x);
    free(b->mean);
    free(b->lo);
    free(b->hi);
    memset(b, 0, sizeof *b);
}
