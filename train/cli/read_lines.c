/* read_lines.c: a whole file (or stdin) split into lines in place (tg_file_read has refused NUL bytes). */
#include "train/cli/read_lines.h"

#include <stdlib.h>
#include <string.h>

#include "datasets/datasets.h"
#include "datasets/shown.h"

tg_status tg_lines_read(tg_lines *out, const char *path, tg_err *err) {
    memset(out, 0, sizeof *out);
    bool std = !path || !strcmp(path, "-");
    char shown[TG_SHOWN_MAX];   /* a name with a line break: its messages stay on one line */
    const char *name = tg_shown_tail(shown, sizeof shown, tg_file_shown(std ? "-" : path));
    char *buf;
    size_t len;
    tg_status st = tg_file_read(std ? "-" : path, TG_LINES_MAX_BYTES, &buf, &len, err);
    if (st != TG_OK) return st;
    /* a UTF-8 byte-order mark (Windows editors write one) is not text, as in the corpus reader */
    size_t start = len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3) ? 3 : 0;
    size_t n = 0;
    for (size_t i = start; i < len; i++) n += buf[i] == '\n';
    if (len > start && buf[len - 1] != '\n') n++;
    if (n > TG_LINES_MAX_LINES) {
        free(buf);
        return tg_err_set(err, TG_ERR_FORMAT, "%s: %zu lines, over the limit of %zu lines of a text to translate, "
                          "score or evaluate", name, n, TG_LINES_MAX_LINES);
    }
    out->line = malloc((n + 1) * sizeof *out->line);
    if (!out->line) { free(buf); return tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", name); }
    out->buf_ = buf;
    char *p = buf + start;
    for (size_t k = 0; k < n; k++) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        char *end = nl ? nl : buf + len;
        size_t bad_at;
        if (!tg_utf8_valid(p, (size_t)(end - p), &bad_at)) {
            tg_lines_free(out);
            return tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: invalid UTF-8 at byte %zu of the line", name, k + 1,
                              bad_at + 1);
        }
        char *stop = end > p && end[-1] == '\r' ? end - 1 : end;   /* "\r\n": that CR ends the line */
        if (memchr(p, '\r', (size_t)(stop - p))) {
            tg_lines_free(out);
            return tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: %s", name, k + 1, TG_LINES_CR_HINT);
        }
        *stop = '\0';
        *end = '\0';
        out->line[k] = p;
        p = end + 1;
    }
    out->n = n;
    return TG_OK;
}

void tg_lines_free(tg_lines *l) {
    free(l->line);
    free(l->buf_);
    memset(l, 0, sizeof *l);
}
