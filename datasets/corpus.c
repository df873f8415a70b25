/* corpus.c: TSV and file-pair readers, line checks and the bad-line policy.
 *
 * A file is read whole; lines are normalised in place and NUL-terminated inside that buffer, so
 * a corpus costs one copy of its files plus three pointers a pair. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/internal.h"
#include "datasets/shown.h"

static const char *const reason_names[TG_BAD_REASON_COUNT] = {
    "line too long", "NUL byte", "invalid UTF-8", "no tab", "more than one tab", "empty side",
};

const char *tg_bad_reason_str(tg_bad_reason r) {
    return (unsigned)r < TG_BAD_REASON_COUNT ? reason_names[r] : "unknown reason";
}

void tg_corpus_free(tg_corpus *c) {
    free(c->src);
    free(c->tgt);
    free(c->line);
    free(c->buf_[0]);
    free(c->buf_[1]);
    memset(c, 0, sizeof *c);
}

typedef struct line_iter {
    char *buf;
    size_t len, pos;
    size_t line_no; /* 1-based number of the line last returned */
} line_iter;

static void line_iter_init(line_iter *it, char *buf, size_t len) {
    it->buf = buf;
    it->len = len;
    it->pos = 0;
    it->line_no = 0;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) it->pos = 3; /* byte-order mark */
}

/* The next line without its "\n" or "\r\n"; false at the end. *off is its offset in the file. */
static bool line_iter_next(line_iter *it, char **line, size_t *n, size_t *off) {
    *off = it->pos;
    if (!tg_ds_line_next(it->buf, it->len, &it->pos, n)) return false;
    *line = it->buf + *off;
    it->line_no++;
    return true;
}

static size_t count_lines(char *buf, size_t len) {
    line_iter it;
    line_iter_init(&it, buf, len);
    char *l;
    size_t n, off;
    while (line_iter_next(&it, &l, &n, &off)) {}
    return it.line_no;
}

/* Checks shared by both formats: length, NUL, UTF-8. Returns the reason, or -1 if fine. */
static int check_bytes(const char *line, size_t n, size_t max_bytes, const char *path,
                       size_t line_no, size_t file_off, tg_err *err) {
    if (n > max_bytes) {
        tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: line is %zu bytes long, over the limit of %zu bytes",
                   path, line_no, n, max_bytes);
        return TG_BAD_TOO_LONG;
    }
    const char *z = memchr(line, '\0', n);
    if (z) {
        tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: NUL byte at byte offset %zu of the line (text lines hold none)",
                   path, line_no, (size_t)(z - line));
        return TG_BAD_NUL;
    }
    size_t bad;
    if (!tg_utf8_valid(line, n, &bad)) {
        tg_err_set(err, TG_ERR_FORMAT,
                   "%s:%zu: invalid UTF-8 at byte offset %zu of the line (offset %zu in the file)",
                   path, line_no, bad, file_off + bad);
        return TG_BAD_UTF8;
    }
    return -1;
}

static tg_status corpus_push(tg_corpus *c, size_t *cap, char *src, char *tgt, size_t line_no,
                             tg_err *err) {
    if (c->n == *cap) {
        size_t c1 = *cap, c2 = *cap, c3 = *cap;
        if (!tg_ds_grow((void **)&c->src, &c1, c->n + 1, sizeof *c->src) ||
            !tg_ds_grow((void **)&c->tgt, &c2, c->n + 1, sizeof *c->tgt) ||
            !tg_ds_grow((void **)&c->line, &c3, c->n + 1, sizeof *c->line))
            return tg_err_set(err, TG_ERR_NOMEM, "out of memory after %zu pairs", c->n);
        *cap = c1 < c2 ? (c1 < c3 ? c1 : c3) : (c2 < c3 ? c2 : c3);
    }
    c->src[c->n] = src;
    c->tgt[c->n] = tgt;
    c->line[c->n] = line_no;
    c->n++;
    return TG_OK;
}

/* Normalises s[0..n) in place and terminates it (s[n] must be writable); returns the length. */
static size_t normalize_terminate(char *s, size_t n) {
    size_t k = tg_corpus_normalize(s, n);
    s[k] = '\0';
    return k;
}

static void note_skip(tg_corpus *c, int reason, size_t line_no) {
    if (c->stats.skipped[reason]++ == 0) c->stats.first_line[reason] = line_no;
}

/* The end of a read: refuse a corpus with no pair left, fill the stats. */
static tg_status finish(tg_corpus *c, const char *what, tg_err *err) {
    c->stats.kept = c->n;
    if (c->n == 0) {
        size_t skipped = 0;
        for (int r = 0; r < TG_BAD_REASON_COUNT; r++) skipped += c->stats.skipped[r];
        return tg_err_set(err, TG_ERR_FORMAT, "%s: no usable pairs: all %zu lines were skipped as bad",
                          what, skipped);
    }
    return TG_OK;
}

static size_t max_line(const tg_corpus_opts *o) {
    return o && o->max_line_bytes ? o->max_line_bytes : TG_CORPUS_MAX_LINE_BYTES;
}

static size_t max_file(const tg_corpus_opts *o) {
    return o && o->max_file_bytes ? o->max_file_bytes : TG_CORPUS_MAX_FILE_BYTES;
}

/* TG_OK, or an error if the file has more lines than opts allow (counted before the pointers a
 * pair costs are allocated). */
static tg_status check_line_count(const tg_corpus_opts *o, const char *path, size_t lines, tg_err *err) {
    if (!o || !o->max_lines || lines <= o->max_lines) return TG_OK;
    return tg_err_set(err, TG_ERR_FORMAT, "%s: %zu lines, over the limit of %zu lines", path, lines, o->max_lines);
}

tg_status tg_corpus_read_tsv(tg_corpus *c, const char *path, const tg_corpus_opts *opts,
                             tg_err *err) {
    memset(c, 0, sizeof *c);
    bool skip = opts && opts->on_bad_line == TG_BAD_LINE_SKIP;
    size_t max_bytes = max_line(opts), cap = 0;
    char *buf;
    size_t len;
    tg_status st = tg_file_read_nul_ok(path, max_file(opts), skip, &buf, &len, err);
    if (st != TG_OK) return st;
    char shown[TG_SHOWN_MAX];
    path = tg_shown_tail(shown, sizeof shown, tg_file_shown(path));
    c->buf_[0] = buf;
    line_iter it;
    line_iter_init(&it, buf, len);
    if (it.pos >= len) {
        tg_corpus_free(c);
        return tg_err_set(err, TG_ERR_FORMAT, "%s: file is empty (expected source<TAB>target lines)", path);
    }
    if (check_line_count(opts, path, opts && opts->max_lines ? count_lines(buf, len) : 0, err) != TG_OK) {
        tg_corpus_free(c);
        return TG_ERR_FORMAT;
    }
    char *line;
    size_t n, off;
    while (line_iter_next(&it, &line, &n, &off)) {
        size_t ln = it.line_no;
        c->stats.lines++;
        int reason = check_bytes(line, n, max_bytes, path, ln, off, err);
        char *tab = NULL;
        if (reason < 0) {
            tab = memchr(line, '\t', n);
            if (!tab) {
                reason = TG_BAD_NO_TAB;
                tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: %s (expected source<TAB>target)", path, ln,
                           n == 0 ? "empty line" : "no tab");
            } else {
                size_t tabs = 0;
                for (size_t i = 0; i < n; i++) tabs += line[i] == '\t';
                if (tabs > 1) {
                    reason = TG_BAD_EXTRA_TAB;
                    size_t inner = n && line[n - 1] == '\r' ? n - 1 : n;   /* (a CRLF line's own CR aside) */
                    bool cr = memchr(line, '\r', inner) != NULL;          /* lines ended by CR alone: old Mac */
                    tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: %zu tabs (expected exactly one: source<TAB>target)%s",
                               path, ln, tabs, cr ? "; its lines end in a carriage return alone (\\r, as old Mac "
                               "files): convert them with tr '\\r' '\\n'" : "");
                }
            }
        }
        if (reason < 0) {
            char *tgt = tab + 1;
            size_t ns = normalize_terminate(line, (size_t)(tab - line));
            size_t nt = normalize_terminate(tgt, n - (size_t)(tgt - line));
            if (ns == 0 || nt == 0) {
                reason = TG_BAD_EMPTY_SIDE;
                tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: empty %s (expected text on both sides of the tab)",
                           path, ln, ns == 0 ? "source" : "target");
            } else {
                st = corpus_push(c, &cap, line, tgt, ln, err);
                if (st != TG_OK) { tg_corpus_free(c); return st; }
                continue;
            }
        }
        if (!skip) { tg_corpus_free(c); return TG_ERR_FORMAT; }
        note_skip(c, reason, ln);
    }
    st = finish(c, path, err);
    if (st != TG_OK) tg_corpus_free(c);
    return st;
}

tg_status tg_corpus_read_pair(tg_corpus *c, const char *src_path, const char *tgt_path,
                              const tg_corpus_opts *opts, tg_err *err) {
    memset(c, 0, sizeof *c);
    if (tg_file_reads_stdin(src_path) && tg_file_reads_stdin(tgt_path))   /* (the second read found it empty) */
        return tg_err_set(err, TG_ERR_ARG, "the source and the target side are both stdin ('-', /dev/stdin): the "
                          "first reads it whole; give a file for one of them");
    bool skip = opts && opts->on_bad_line == TG_BAD_LINE_SKIP;
    size_t max_bytes = max_line(opts), cap = 0;
    const char *paths[2] = {src_path, tgt_path};
    size_t len[2], lines[2];
    line_iter it[2];
    char shown[2][TG_SHOWN_MAX];
    for (int k = 0; k < 2; k++) {
        tg_status st = tg_file_read_nul_ok(paths[k], max_file(opts), skip, &c->buf_[k], &len[k], err);
        if (st != TG_OK) { tg_corpus_free(c); return st; }
        paths[k] = tg_shown_tail(shown[k], sizeof shown[k], tg_file_shown(paths[k]));
        line_iter_init(&it[k], c->buf_[k], len[k]);
        if (it[k].pos >= len[k]) {
            tg_corpus_free(c);
            return tg_err_set(err, TG_ERR_FORMAT, "%s: file is empty (expected one sentence a line)", paths[k]);
        }
        lines[k] = count_lines(c->buf_[k], len[k]);
        if (check_line_count(opts, paths[k], lines[k], err) != TG_OK) { tg_corpus_free(c); return TG_ERR_FORMAT; }
    }
    if (lines[0] != lines[1]) {
        int shorter = lines[0] < lines[1] ? 0 : 1;
        tg_err_set(err, TG_ERR_FORMAT,
                   "%s ended first, after line %zu, while %s goes on to line %zu "
                   "(line-aligned files must have the same number of lines)",
                   paths[shorter], lines[shorter], paths[1 - shorter], lines[1 - shorter]);
        tg_corpus_free(c);
        return TG_ERR_FORMAT;
    }
    char *line[2];
    size_t n[2], off[2];
    while (line_iter_next(&it[0], &line[0], &n[0], &off[0]) &&
           line_iter_next(&it[1], &line[1], &n[1], &off[1])) {
        size_t ln = it[0].line_no;
        c->stats.lines++;
        int reason = -1;
        for (int k = 0; k < 2 && reason < 0; k++)
            reason = check_bytes(line[k], n[k], max_bytes, paths[k], ln, off[k], err);
        for (int k = 0; k < 2 && reason < 0; k++) {
            n[k] = normalize_terminate(line[k], n[k]);
            if (n[k] == 0) {
                reason = TG_BAD_EMPTY_SIDE;
                tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: empty line (expected a sentence, aligned with %s:%zu)",
                           paths[k], ln, paths[1 - k], ln);
            }
        }
        if (reason < 0) {
            tg_status st = corpus_push(c, &cap, line[0], line[1], ln, err);
            if (st != TG_OK) { tg_corpus_free(c); return st; }
            continue;
        }
        if (!skip) { tg_corpus_free(c); return TG_ERR_FORMAT; }
        note_skip(c, reason, ln);
    }
    char what[600];
    snprintf(what, sizeof what, "%s / %s", paths[0], paths[1]);
    tg_status st = finish(c, what, err);
    if (st != TG_OK) tg_corpus_free(c);
    return st;
}
