/* progress.c: log lines, the terminal bar and metrics.tsv. */
#include "train/run/progress.h"

#include "train/ckpt/atomic_file.h"
#include "train/run/text_out.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

tg_num_text tg_format_num(double x, int decimals) {
    tg_num_text t;
    if (fabs(x) < 1e9 || !isfinite(x)) snprintf(t.s, sizeof t.s, "%.*f", decimals, x);
    else snprintf(t.s, sizeof t.s, "%.3e", x);
    return t;
}

/* The longest line trim_tsv reads: a metrics row is ~150 bytes, a diagnostics row a few KB. */
#define TSV_LINE_MAX ((size_t)1 << 20)
#define TSV_LINE_MAX_TEXT "1 MiB"

static const char *column(const char *line, int col) {
    for (int c = 0; c < col && line; c++) {
        line = strchr(line, '\t');
        if (line) line++;
    }
    return line;
}

char *tg_tsv_skip_bom(char *line, long *n) {
    if (*n < 3 || memcmp(line, "\xEF\xBB\xBF", 3)) return line;
    *n -= 3;
    return line + 3;
}

bool tg_tsv_is_row(const char *line, int step_col) {
    const char *col = column(line, step_col);
    if (!col || !isdigit((unsigned char)*col)) return false;
    while (isdigit((unsigned char)*col)) col++;
    return *col == '\t' || *col == '\n' || (*col == '\r' && col[1] == '\n') || *col == '\0';
}

static bool blank_line(const char *line) {
    return line[0] == '\n' || (line[0] == '\r' && line[1] == '\n');
}

/* Counts line lineno (text; torn: a last line with CRs; too_long: its first TSV_LINE_MAX bytes)
 * in *dropped, keeping the first one's number, start and why. */
static void count_dropped(tg_tsv_dropped *dropped, long lineno, const char *text, bool torn, bool too_long) {
    if (dropped->lines++) return;
    dropped->first_line = lineno;
    dropped->first_torn = torn;
    dropped->first_long = too_long;
    /* the line but its end (\n, \r\n): a lone \r inside is shown ('?'), not an end */
    size_t n = strlen(text);
    n -= n && text[n - 1] == '\n';
    n -= n && text[n - 1] == '\r';
    size_t cut = n < 40 ? n : 40;
    for (int k = 0; k < 3 && cut < n && cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80; k++)
        cut--;   /* a whole UTF-8 character (at most 4 bytes: bytes that are not UTF-8 are cut) */
    snprintf(dropped->first, sizeof dropped->first, "%.*s%s", (int)cut, text, cut < n ? "..." : "");
}

/* Opens out over path and copies into it the header and rows of path whose step (column
 * step_col, 0-based) is <= keep_step, but for rows of kind drop_at_keep (the first column; NULL:
 * none) at keep_step itself, and drops a last line without its newline (torn by a crash; counted in
 * *dropped when it holds a CR, which no crash writes: a file of CR line ends). The
 * first line is header, whatever was there (edited by hand; put back before the first row when it
 * was deleted), and a later line that is no row (a header pasted again, a blank) is dropped and,
 * but for a blank, counted in *dropped. A line over TSV_LINE_MAX, torn or not, first or not, is
 * counted in *dropped and leaves the header's place to the next line. *found: whether path was there (absent: out is open and
 * empty). On failure out is closed, path untouched. */
static tg_status copy_kept(const char *path, const char *header, int step_col, int64_t keep_step,
                           const char *drop_at_keep, tg_afile *out, bool *found, tg_tsv_dropped *dropped,
                           tg_err *err) {
    memset(dropped, 0, sizeof *dropped);
    /* Never through a link (it would copy whatever it names into the run folder) and never a
     * device or FIFO (/dev/zero never ends, a FIFO without a writer never opens). */
    FILE *in = tg_afile_fopen_regular(path, true);
    *found = in != NULL;
    int e = in ? 0 : errno;
    if (e == ELOOP)
        return tg_err_set(err, TG_ERR_IO, "%s: is a symbolic link; refusing to rewrite it",
                          TG_SHOWN(path));
    if (e == EINVAL)
        return tg_err_set(err, TG_ERR_IO, "%s: not a regular file; refusing to rewrite it",
                          TG_SHOWN(path));
    if (e && e != ENOENT) return tg_err_set(err, TG_ERR_IO, "%s: %s", TG_SHOWN(path), strerror(e));
    tg_status st = tg_afile_open(out, path, err);
    if (!in || st != TG_OK) {
        if (in) fclose(in);
        return st;
    }
    char *line = NULL;
    size_t cap = 0;
    long len = 0, lineno = 0;
    bool first = true;
    while (st == TG_OK && (len = tg_afile_getline(&line, &cap, in, TSV_LINE_MAX)) != -1) {
        lineno++;
        if (len == -3) break;
        if (len == -2) {   /* longer than any row or header tapegrad writes, and than a crash tears: not a
                            * row, nor the header's place (it passes to the next line), whatever it holds */
            bool cr = memchr(line, '\r', TSV_LINE_MAX) != NULL, whole = tg_afile_skip_line(in, &cr);
            count_dropped(dropped, lineno, line, !whole && cr, whole || !cr);   /* torn with CRs: as below */
            continue;
        }
        if (line[len - 1] != '\n') {   /* a last line torn by a crash, which writes no CR: one with a CR is
                                        * a file of CR line ends (a hand's editor), its rows all in it */
            if (memchr(line, '\r', (size_t)len)) count_dropped(dropped, lineno, line, true, false);
            continue;
        }
        char *text = lineno == 1 ? tg_tsv_skip_bom(line, &len) : line;   /* (a BOM starts a file alone) */
        bool was_first = first;
        if (first) {   /* the header's place: tapegrad's header (it never changed), whatever a hand left */
            st = tg_afile_write(out, header, strlen(header), err);
            first = false;
        }
        if (!tg_tsv_is_row(text, step_col)) {   /* the old header, or what a hand left: not a row */
            if (!was_first && !blank_line(text)) count_dropped(dropped, lineno, text, false, false);
            continue;
        }
        int64_t step = strtoll(column(text, step_col), NULL, 10);
        if (step > keep_step) continue;
        size_t k = drop_at_keep ? strlen(drop_at_keep) : 0;
        if (step == keep_step && k && !strncmp(text, drop_at_keep, k) && text[k] == '\t') continue;
        if (st == TG_OK) st = tg_afile_write(out, text, (size_t)len, err);
    }
    if (st == TG_OK && len == -3)
        st = tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", TG_SHOWN(path));
    free(line);
    if (st == TG_OK && ferror(in))
        st = tg_err_set(err, TG_ERR_IO, "%s: read error", TG_SHOWN(path));
    fclose(in);
    if (st != TG_OK) tg_afile_abort(out);
    return st;
}

/* copy_kept, and header alone when no line was kept (path new, empty, or only lines that are not
 * whole rows: one over 1 MiB, a torn header), as the file is opened for appending. */
static tg_status rewrite_open(const char *path, const char *header, int step_col, int64_t keep_step,
                              const char *drop_at_keep, tg_afile *out, bool *found,
                              tg_tsv_dropped *dropped, tg_err *err) {
    tg_status st =
        copy_kept(path, header, step_col, keep_step, drop_at_keep, out, found, dropped, err);
    struct stat sb;
    if (st == TG_OK && fstat(out->fd, &sb) == 0 && sb.st_size == 0) {
        st = tg_afile_write(out, header, strlen(header), err);
        if (st != TG_OK) tg_afile_abort(out);
    }
    return st;
}

/* rewrite_open, then the rewritten file replaces path atomically; an absent path stays absent. */
static int trim_tsv(const char *path, const char *header, int step_col, int64_t keep_step, const char *drop_at_keep,
                    tg_tsv_dropped *dropped, char *msg, size_t msg_len) {
    tg_afile out;
    tg_err err;
    bool found;
    tg_status st =
        rewrite_open(path, header, step_col, keep_step, drop_at_keep, &out, &found, dropped, &err);
    if (st == TG_OK && !found) {
        tg_afile_abort(&out);
        return 0;
    }
    if (st == TG_OK) st = tg_afile_commit(&out, &err);
    if (st != TG_OK) snprintf(msg, msg_len, "%s", err.msg);
    return st == TG_OK ? 0 : -1;
}

tg_status tg_tsv_rewrite_open(tg_afile *out, const char *path, const char *header, int step_col, int64_t keep_step,
                              tg_tsv_dropped *dropped, tg_err *err) {
    bool found;
    return rewrite_open(path, header, step_col, keep_step, NULL, out, &found, dropped, err);
}

/* Writes a finished line and records the first failure: a full disk stops the run. */
static void write_line(tg_progress *p, int fd, const char *name, const char *line, size_t n) {
    if (p->failed || fd < 0) return;
    tg_err err;
    if (tg_afile_fd_write(fd, line, n, name, &err) != TG_OK) {
        p->failed = true;
        snprintf(p->error, sizeof p->error, "%s", err.msg);
    }
}

int tg_tsv_trim(const char *path, const char *header, int step_col, int64_t keep_step, const char *drop_at_keep,
                tg_tsv_dropped *dropped, char *msg, size_t msg_len) {
    return trim_tsv(path, header, step_col, keep_step, drop_at_keep, dropped, msg, msg_len);
}

int tg_tsv_dropped_text(const char *path, const tg_tsv_dropped *d, char *buf, size_t len) {
    if (!d->lines) return 0;
    char others[64] = "";
    if (d->lines > 1) snprintf(others, sizeof others, ", with %ld other such line%s", d->lines - 1, d->lines > 2 ? "s" : "");
    tg_err e;   /* (tg_err_set: a control byte of the line quoted becomes '?') */
    tg_err_set(&e, TG_ERR_FORMAT, "%s:%ld: '%s' is not a row (%s): dropped%s", TG_SHOWN(path),
               d->first_line, d->first,
               d->first_torn ? "a last line without a newline, holding CRs: a file of CR line ends, which tapegrad "
                               "does not write"
               : d->first_long ? "a line longer than " TSV_LINE_MAX_TEXT ", which no row tapegrad writes is"
                               : "its step is not a whole number", others);
    snprintf(buf, len, "%s", e.msg);
    return 1;
}

/* Trims path as trim_tsv does, opens it for appending without following a symlink, and writes
 * header when the file is new. */
static int tsv_open(const char *path, const char *header, int step_col, int64_t keep_step, const char *drop_at_keep,
                    tg_tsv_dropped *dropped, int *fd, char *msg, size_t msg_len) {
    *fd = -1;
    if (trim_tsv(path, header, step_col, keep_step, drop_at_keep, dropped, msg, msg_len) != 0) return -1;
    tg_err err;
    struct stat sb;
    tg_status st = tg_afile_append_open(path, fd, &err);
    if (st == TG_OK && fstat(*fd, &sb) == 0 && sb.st_size == 0)
        st = tg_afile_fd_write(*fd, header, strlen(header), path, &err);
    if (st == TG_OK) return 0;
    snprintf(msg, msg_len, "%s", err.msg);
    if (*fd >= 0) close(*fd);
    *fd = -1;
    return -1;
}

int tg_tsv_open(const char *path, const char *header, int step_col, int64_t keep_step, tg_tsv_dropped *dropped,
                int *fd, char *msg, size_t msg_len) {
    return tsv_open(path, header, step_col, keep_step, NULL, dropped, fd, msg, msg_len);
}

tg_status tg_progress_sync(tg_progress *p, tg_err *err) {
    if (p->failed) return tg_err_set(err, TG_ERR_IO, "%s", p->error);
    tg_status s = p->metrics_fd >= 0 ? tg_afile_fd_sync(p->metrics_fd, p->metrics_path, err) : TG_OK;
    if (s == TG_OK && p->log_fd >= 0) s = tg_afile_fd_sync(p->log_fd, p->log_path, err);
    return s;
}

/* stderr is a terminal that redraws a line in place: not one whose TERM is unset, empty or "dumb"
 * (Emacs' shell, a CI runner's or an editor's pty), which shows the bar's \r and ESC[K as junk, one
 * bar after the other; there, the log lines alone. */
static bool console_redraws(void) {
    const char *term = getenv("TERM");
    return isatty(STDERR_FILENO) && term && *term && strcmp(term, "dumb") != 0;
}

int tg_progress_open(tg_progress *p, const char *rundir, int64_t keep_step, bool valid_pending, char *msg,
                     size_t msg_len) {
    memset(p, 0, sizeof *p);
    p->tty = console_redraws();
    p->log_fd = p->metrics_fd = -1;
    if (!rundir) {   /* an MPI rank but rank 0: rank 0 alone writes and prints */
        p->quiet = true;
        return 0;
    }
    size_t len = strlen(rundir) + sizeof "/metrics.tsv";
    p->log_path = malloc(len);
    p->metrics_path = malloc(len);
    if (!p->log_path || !p->metrics_path) {
        snprintf(msg, msg_len, "out of memory");
        tg_progress_close(p);
        return -1;
    }
    snprintf(p->log_path, len, "%s/train.log", rundir);
    snprintf(p->metrics_path, len, "%s/metrics.tsv", rundir);
    tg_err err;
    if (tg_afile_append_open(p->log_path, &p->log_fd, &err) != TG_OK) {
        snprintf(msg, msg_len, "%s", err.msg);
        tg_progress_close(p);
        return -1;
    }
    /* a pending validation's row may have been written before a kill: it is written again */
    tg_tsv_dropped dropped;
    if (tsv_open(p->metrics_path, METRICS_HEADER, 1, keep_step, valid_pending ? "valid" : NULL, &dropped,
                 &p->metrics_fd, msg, msg_len) != 0) {
        tg_progress_close(p);
        return -1;
    }
    char text[600];
    if (tg_tsv_dropped_text(p->metrics_path, &dropped, text, sizeof text)) tg_progress_log(p, "warning: %s", text);
    return 0;
}

bool tg_console_drop_if_stalled(void) {
    struct pollfd pf = {.fd = 2, .events = POLLOUT};
    int r;
    while ((r = poll(&pf, 1, 2000)) < 0 && errno == EINTR) {}
    if (r != 0) return false;
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) { dup2(null, 2); close(null); }
    return true;
}

/* s (n bytes) to stderr, whole: a write cut short by a signal goes on (a stop signal's handler does
 * not restart it), but once stopping, stderr gets 2 s to take each part; after that the console is
 * given up (tg_console_drop_if_stalled) and said in train.log, which holds every line. */
static void console_write(tg_progress *p, const char *s, size_t n) {
    while (n > 0 && !p->console_lost) {
        if (p->stopping && *p->stopping && tg_console_drop_if_stalled()) {
            p->console_lost = true;
            if (p->log_fd < 0) return;
            time_t now = time(NULL);
            struct tm tm;
            localtime_r(&now, &tm);
            char said[160];
            size_t k = strftime(said, sizeof said, "[%Y-%m-%d %H:%M:%S] ", &tm);
            k += (size_t)snprintf(said + k, sizeof said - k, "stderr took nothing for 2 s while the run was stopping: "
                                  "the rest of this log is in train.log only\n");
            write_line(p, p->log_fd, p->log_path, said, k < sizeof said ? k : sizeof said - 1);
            return;
        }
        ssize_t w = write(2, s, n);
        if (w > 0) s += w, n -= (size_t)w;
        else if (!(w < 0 && errno == EINTR)) return;   /* EPIPE, EBADF: no console; train.log has the line */
    }
}

void tg_progress_close(tg_progress *p) {
    if (p->bar_shown) console_write(p, "\r\033[K", 4);
    if (p->log_fd >= 0) close(p->log_fd);
    if (p->metrics_fd >= 0) close(p->metrics_fd);
    free(p->log_path);
    free(p->metrics_path);
    memset(p, 0, sizeof *p);
    p->log_fd = p->metrics_fd = -1;
}

void tg_progress_log(tg_progress *p, const char *fmt, ...) {
    if (p->quiet) return;
    /* the line, as shown, and with its stamp: 18 KiB, on the heap (the saves below a log line
     * need the stack under a small `ulimit -s`) */
    struct { char line[2048], shown[4 * 2048], out[4 * 2048 + 40]; } *b = malloc(sizeof *b);
    if (!b) {   /* a line that cannot be made stops the run (saved) as one that cannot be written */
        if (!p->failed) snprintf(p->error, sizeof p->error, "out of memory for a log line");
        p->failed = true;
        return;
    }
    char *line = b->line, *shown = b->shown, *out = b->out;   /* out: the console's line, then train.log's */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof b->line, fmt, ap);
    va_end(ap);
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
    /* the dev set's sentences (the samples), their translations and names are shown, not obeyed:
     * a control character (an ESC sequence in a dev file) as \xNN (text_out.h), on the terminal
     * and in train.log; the line breaks of the samples' own format, and tabs (a quoted metrics.tsv
     * line), are kept */
    size_t o = 0;
    for (char *seg = line;;) {
        size_t k = strcspn(seg, "\n\t");
        char sep = seg[k];
        seg[k] = '\0';
        o += strlen(tg_shown(shown + o, sizeof b->shown - o, seg));
        if (!sep || o + 2 > sizeof b->shown) break;
        shown[o++] = sep;
        shown[o] = '\0';
        seg += k + 1;
    }
    int m = snprintf(out, sizeof b->out, "%s[%s] %s\n", p->bar_shown ? "\r\033[K" : "", stamp, shown);
    p->bar_shown = false;
    fflush(stderr);   /* (what stdio holds for stderr first) */
    console_write(p, out, m < (int)sizeof b->out ? (size_t)m : sizeof b->out - 1);
    if (p->log_fd >= 0) {
        strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
        int n = snprintf(out, sizeof b->out, "[%s] %s\n", stamp, shown);
        write_line(p, p->log_fd, p->log_path, out, n < (int)sizeof b->out ? (size_t)n : sizeof b->out - 1);
    }
    free(b);
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
    char out[400];
    int m = total > 0 ? snprintf(out, sizeof out, "\r\033[K[%s] %3.0f%% %s", bar, 100 * f, text)
                      : snprintf(out, sizeof out, "\r\033[K%s", text);
    console_write(p, out, m < (int)sizeof out ? (size_t)m : sizeof out - 1);
    p->bar_shown = true;
}

static size_t field(char *buf, size_t k, size_t cap, double v, const char *fmt) {
    if (k < cap) buf[k++] = '\t';
    if (!isnan(v) && k < cap) k += (size_t)snprintf(buf + k, cap - k, fmt, v);
    return k;
}

void tg_progress_metrics(tg_progress *p, const tg_metrics_row *r) {
    if (p->metrics_fd < 0) return;
    char line[1024];
    size_t cap = sizeof line - 1;
    size_t k = (size_t)snprintf(line, cap, "%s\t%lld\t%lld", r->kind, (long long)r->step, (long long)r->epoch);
    k = field(line, k, cap, r->elapsed_s, "%.3f");
    k = field(line, k, cap, r->lr, "%.6g");
    k = field(line, k, cap, r->loss, "%.5f");
    k = field(line, k, cap, r->nll, "%.5f");
    k = field(line, k, cap, r->ppl, "%.3f");
    k = field(line, k, cap, r->tgt_tok_s, "%.0f");
    k = field(line, k, cap, r->grad_norm, "%.4f");
    k = field(line, k, cap, r->bleu, "%.2f");
    k = field(line, k, cap, r->chrf, "%.2f");
    if (k > cap - 1) k = cap - 1;
    line[k++] = '\n';
    write_line(p, p->metrics_fd, p->metrics_path, line, k);
}
