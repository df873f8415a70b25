/* svg.c: a small SVG line-plot writer: one line per series with an optional shaded band
 * (min-max), axes with "nice" ticks (1, 2 or 5 times a power of ten) and labels, a title and a
 * legend. Plain SVG 1.1 that browsers show as they are; no gnuplot needed. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train/experiment/report.h"

enum { W = 860, H = 440, LEFT = 70, RIGHT = 260, TOP = 40, BOTTOM = 50 };   /* right: the legend */

/* Tableau 10: distinct for up to ten lines, readable for the colour-blind in the main. */
static const char *const COLOURS[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                      "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
#define N_COLOURS (int)(sizeof COLOURS / sizeof COLOURS[0])

static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '&') fputs("&amp;", f);
        else if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

/* A tick step of 1, 2 or 5 x 10^k giving about `want` intervals over span. */
static double nice_step(double span, int want) {
    double raw = span / want, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

typedef struct { double x0, x1, y0, y1; } range;

static void widen(range *r, double x, double y) {
    if (!isfinite(x) || !isfinite(y)) return;
    if (x < r->x0) r->x0 = x;
    if (x > r->x1) r->x1 = x;
    if (y < r->y0) r->y0 = y;
    if (y > r->y1) r->y1 = y;
}

static range data_range(const tg_svg_series *s, int n) {
    range r = {INFINITY, -INFINITY, INFINITY, -INFINITY};
    for (int k = 0; k < n; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            widen(&r, s[k].x[i], s[k].y[i]);
            if (s[k].lo) widen(&r, s[k].x[i], s[k].lo[i]);
            if (s[k].hi) widen(&r, s[k].x[i], s[k].hi[i]);
        }
    if (!(r.x0 <= r.x1)) r = (range){0, 1, 0, 1};
    if (r.x1 - r.x0 < 1e-12) { r.x0 -= 0.5; r.x1 += 0.5; }
    if (r.y1 - r.y0 < 1e-12) { r.y0 -= 0.5; r.y1 += 0.5; }
    double pad = 0.05 * (r.y1 - r.y0);
    r.y0 -= pad;
    r.y1 += pad;
    return r;
}

static double px(const range *r, double x) { return LEFT + (x - r->x0) / (r->x1 - r->x0) * (W - LEFT - RIGHT); }
static double py(const range *r, double y) { return H - BOTTOM - (y - r->y0) / (r->y1 - r->y0) * (H - TOP - BOTTOM); }

static void axes(FILE *f, const range *r, const tg_svg_plot *p) {
    fprintf(f, "<g font-family=\"sans-serif\" font-size=\"11\" fill=\"#333\">\n");
    double xs = nice_step(r->x1 - r->x0, 6), ys = nice_step(r->y1 - r->y0, 5);
    for (double t = ceil(r->x0 / xs) * xs; t <= r->x1 + 1e-9 * xs; t += xs) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>", px(r, t), TOP, px(r, t), H - BOTTOM);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", px(r, t), H - BOTTOM + 16, t);
    }
    for (double t = ceil(r->y0 / ys) * ys; t <= r->y1 + 1e-9 * ys; t += ys) {
        double v = fabs(t) < 1e-9 * ys ? 0 : t;
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>", LEFT, py(r, t), W - RIGHT, py(r, t));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", LEFT - 6, py(r, t) + 4, v);
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n", LEFT, TOP,
            W - LEFT - RIGHT, H - TOP - BOTTOM);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\">", (LEFT + W - RIGHT) / 2, H - 12);
    xml_text(f, p->xlabel);
    fprintf(f, "</text>\n<text transform=\"translate(16,%d) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">",
            (TOP + H - BOTTOM) / 2);
    xml_text(f, p->ylabel);
    fprintf(f, "</text>\n<text x=\"%d\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">",
            (LEFT + W - RIGHT) / 2);
    xml_text(f, p->title);
    fprintf(f, "</text>\n</g>\n");
}

static void band(FILE *f, const range *r, const tg_svg_series *s, const char *colour) {
    if (!s->lo || !s->hi || s->n < 2) return;
    fprintf(f, "<polygon fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" points=\"", colour);
    for (size_t i = 0; i < s->n; i++) fprintf(f, "%.1f,%.1f ", px(r, s->x[i]), py(r, s->hi[i]));
    for (size_t i = s->n; i-- > 0;) fprintf(f, "%.1f,%.1f ", px(r, s->x[i]), py(r, s->lo[i]));
    fprintf(f, "\"/>\n");
}

static void line(FILE *f, const range *r, const tg_svg_series *s, const char *colour, int k) {
    fprintf(f, "<path class=\"series\" data-series=\"%d\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" d=\"", k, colour);
    bool pen = false;
    for (size_t i = 0; i < s->n; i++) {
        if (!isfinite(s->y[i])) { pen = false; continue; }
        fprintf(f, "%c%.1f,%.1f ", pen ? 'L' : 'M', px(r, s->x[i]), py(r, s->y[i]));
        pen = true;
    }
    fprintf(f, "\"/>\n");
    if (s->n == 1) fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(r, s->x[0]), py(r, s->y[0]), colour);
}

static void legend(FILE *f, const tg_svg_series *s, int n, const char *note) {
    fprintf(f, "<g font-family=\"sans-serif\" font-size=\"11\" fill=\"#333\">\n");
    for (int k = 0; k < n; k++) {
        int y = TOP + 10 + 18 * k;
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>", W - RIGHT + 12, y,
                W - RIGHT + 32, y, COLOURS[k % N_COLOURS]);
        fprintf(f, "<text x=\"%d\" y=\"%d\">", W - RIGHT + 38, y + 4);
        xml_text(f, s[k].label);
        fprintf(f, "</text>\n");
    }
    if (note) {
        fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#777\">", W - RIGHT + 12, TOP + 14 + 18 * n);
        xml_text(f, note);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</g>\n");
}

tg_status tg_svg_line_plot(const char *path, const tg_svg_plot *p, const tg_svg_series *s, int n, tg_err *err) {
    tg_exp_out o;
    FILE *f = tg_exp_out_open(&o, path, err);
    if (!f) return TG_ERR_NOMEM;
    range r = data_range(s, n);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H, W, H);
    axes(f, &r, p);
    for (int k = 0; k < n; k++) band(f, &r, &s[k], COLOURS[k % N_COLOURS]);
    for (int k = 0; k < n; k++) line(f, &r, &s[k], COLOURS[k % N_COLOURS], k);
    legend(f, s, n, p->note);
    fprintf(f, "</svg>\n");
    return tg_exp_out_commit(&o, err);
}
