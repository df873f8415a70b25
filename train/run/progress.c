/* progress.c: log lines, the terminal bar and metrics.tsv. */
#include "train/run/progress.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char METRICS_HEADER[] =
    "kind\tstep\tepoch\telapsed_s\tlr\tloss\tnll\tppl\ttgt_tok_s\tgrad_norm\tbleu\tchrf\n";

void tg_format_duration(double s, char *buf, size_t len) {
    if (!(s >= 0) || s > 1e9) { snprintf(buf, len, "?"); return; }
    long t = (long)(s + 0.5), h = t / 3600, m = t / 60 % 60, sec = t % 60;
    if (h) snprintf(buf, len, "%ldh%02ldm%02lds", h, m, sec);
    else if (m) snprintf(buf, len, "%ldm%02lds", m, sec);
    else snprintf(buf, len, "%lds", sec);
}

/* Keeps the header and rows whose step is <= keep_step; rewrites the file atomically. */
static int trim_metrics(const char path[4200], int64_t keep_step, char *msg, size_t msg_len) {
    FILE *in = fopen(path, "r");
    if (!in) return errno == ENOENT ? 0 : (snprintf(msg, msg_len, "%s: %s", path, strerror(errno)), -1);
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    if (!out) { fclose(in); snprintf(msg, msg_len, "%s: %s", tmp, strerror(errno)); return -1; }
    char line[4096];
    bool first = true;
    while (fgets(line, sizeof line, in)) {
        if (!first) {
            char *tab = strchr(line, '\t');
            if (tab && strtoll(tab + 1, NULL, 10) > keep_step) continue;
        }
        first = false;
        fputs(line, out);
    }
    fclose(in);
    if (fflush(out) != 0 || fsync(fileno(out)) != 0) {
        fclose(out);
        remove(tmp);
        snprintf(msg, msg_len, "%s: cannot write", tmp);
        return -1;
    }
    fclose(out);
    if (rename(tmp, path) != 0) { remove(tmp); snprintf(msg, msg_len, "%s: %s", path, strerror(errno)); return -1; }
    return 0;
}

int tg_progress_open(tg_progress *p, const char *rundir, int64_t keep_step, char *msg, size_t msg_len) {
    memset(p, 0, sizeof *p);
    p->tty = isatty(STDERR_FILENO);
    if (!rundir) {
        p->quiet = true;
        return 0;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/train.log", rundir);
    p->log = fopen(path, "a");
    if (!p->log) { snprintf(msg, msg_len, "%s: %s", path, strerror(errno)); return -1; }
    snprintf(path, sizeof path, "%s/metrics.tsv", rundir);
    if (trim_metrics(path, keep_step, msg, msg_len) != 0) return -1;
    p->metrics = fopen(path, "a");
    if (!p->metrics) { snprintf(msg, msg_len, "%s: %s", path, strerror(errno)); return -1; }
    if (ftell(p->metrics) == 0) fputs(METRICS_HEADER, p->metrics);
    fflush(p->metrics);
    return 0;
}

void tg_progress_close(tg_progress *p) {
    if (p->bar_shown) fputs("\r\033[K", stderr);
    if (p->log) fclose(p->log);
    if (p->metrics) fclose(p->metrics);
    memset(p, 0, sizeof *p);
}

void tg_progress_log(tg_progress *p, const char *fmt, ...) {
    if (p->quiet) return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
    if (p->bar_shown) { fputs("\r\033[K", stderr); p->bar_shown = false; }
    fprintf(stderr, "[%s] %s\n", stamp, line);
    fflush(stderr);
    if (p->log) {
        strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
        fprintf(p->log, "[%s] %s\n", stamp, line);
        fflush(p->log);
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void tg_progress_bar(tg_progress *p, double done, double total, const char *text) {
    if (!p->tty || p->quiet) return;
    double t = now_s();   /* at most ten redraws a second */
    if (p->bar_shown && t - p->bar_time < 0.1) return;
    p->bar_time = t;
    enum { WIDTH = 30 };
    char bar[WIDTH + 1];
    double f = total > 0 ? done / total : 0;
    if (f > 1) f = 1;
    int fill = (int)(f * WIDTH);
    for (int i = 0; i < WIDTH; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[WIDTH] = '\0';
    if (total > 0) fprintf(stderr, "\r\033[K[%s] %3.0f%% %s", bar, 100 * f, text);
    else fprintf(stderr, "\r\033[K%s", text);
    fflush(stderr);
    p->bar_shown = true;
}

static void field(FILE *f, double v, const char *fmt) {
    fputc('\t', f);
    if (!isnan(v)) fprintf(f, fmt, v);
}

void tg_progress_metrics(tg_progress *p, const tg_metrics_row *r) {
    if (!p->metrics) return;
    fprintf(p->metrics, "%s\t%lld\t%lld", r->kind, (long long)r->step, (long long)r->epoch);
    field(p->metrics, r->elapsed_s, "%.1f");
    field(p->metrics, r->lr, "%.6g");
    field(p->metrics, r->loss, "%.5f");
    field(p->metrics, r->nll, "%.5f");
    field(p->metrics, r->ppl, "%.3f");
    field(p->metrics, r->tgt_tok_s, "%.0f");
    field(p->metrics, r->grad_norm, "%.4f");
    field(p->metrics, r->bleu, "%.2f");
    field(p->metrics, r->chrf, "%.2f");
    fputc('\n', p->metrics);
    fflush(p->metrics);
}
