/* status.h: the status codes every tapegrad library function returns, and the message that goes
 * with them. Header-only, so that datasets/ can use it without depending on the rest of autograd.
 *
 *   tg_err err;
 *   tg_status st = tg_something(..., &err);
 *   if (st != TG_OK) fprintf(stderr, "%s: %s\n", tg_status_str(st), err.msg);
 *
 * Library code never exits and never prints (but one line on stderr for a TAPEGRAD_THREADS or
 * TAPEGRAD_KERNELS variable it cannot use): it fills a tg_err (which may be NULL) and returns.
 */
#ifndef TG_STATUS_H
#define TG_STATUS_H

#include <stdarg.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tg_status {
    TG_OK = 0,        /* success */
    TG_ERR_ARG,       /* an argument or configuration value is invalid */
    TG_ERR_SHAPE,     /* tensor shapes do not fit the op */
    TG_ERR_NOMEM,     /* memory could not be allocated */
    TG_ERR_IO,        /* a file could not be opened, read, written or renamed */
    TG_ERR_FORMAT,    /* input is malformed (bad UTF-8, bad TSV line, unknown key...) */
    TG_ERR_CORRUPT,   /* a checksum does not match, or a file is truncated */
    TG_ERR_VERSION,   /* a file has a format version this build cannot read */
    TG_ERR_NUMERIC,   /* a NaN or Inf was met */
    TG_ERR_STATE,     /* a call came in the wrong order (e.g. params used before alloc) */
    TG_STATUS_COUNT
} tg_status;

/* Detail of the last failure: what was wrong, with file and line where there is one. */
typedef struct tg_err {
    char msg[512];
} tg_err;

static inline const char *tg_status_str(tg_status s) {
    static const char *const names[TG_STATUS_COUNT] = {
        "ok", "invalid argument", "shape mismatch", "out of memory", "I/O error",
        "bad input format", "corrupt data", "unsupported version", "numeric error",
        "invalid state",
    };
    return (unsigned)s < TG_STATUS_COUNT ? names[s] : "unknown status";
}

/* The length of msg[0 .. o), a message cut short, without what the cut left incomplete: the
 * start of an escape (a message quoting another, "%s: %s" with its msg, cut by vsnprintf inside
 * one of its "\xNN") and the start of a UTF-8 character whose last bytes fell past the cut. */
static inline size_t tg_err_cut_tail_(const char *msg, size_t o) {
    const unsigned char *m = (const unsigned char *)msg;
    for (size_t k = 0; k < 3 && k < o; k++) {   /* "\", "\x", "\xN" at the end */
        int is = m[o - 1 - k] == '\\';
        for (size_t i = o - k; is && i < o; i++) {
            int hex = (m[i] >= '0' && m[i] <= '9') || (m[i] >= 'A' && m[i] <= 'F');
            is = i == o - k ? m[i] == 'x' : hex;
        }
        if (is) { o -= k + 1; break; }
    }
    size_t b = o;
    while (b > 0 && o - b < 3 && (m[b - 1] & 0xC0) == 0x80) b--;   /* back to the lead byte */
    if (b > 0 && m[b - 1] >= 0xC0) {
        size_t len = m[b - 1] >= 0xF0 ? 4 : m[b - 1] >= 0xE0 ? 3 : 2;
        if (o - (b - 1) < len) o = b - 1;
    }
    return o;
}

/* Fills err (if any) with a printf-style message and returns st, for `return tg_err_set(...)`.
 * Messages quote bad input ("'%.*s' is not a character"), which may hold terminal escapes: control
 * bytes (C0 but tab and newline, DEL, and the UTF-8 form of C1) are shown as \xNN, as the commands
 * show file names, so printing a message never obeys the file it describes. A message too long
 * for msg is cut before an escape, never inside one, and never inside a UTF-8 character. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline tg_status tg_err_set(tg_err *err, tg_status st, const char *fmt, ...) {
    if (err) {
        char raw[sizeof err->msg];
        va_list ap;
        va_start(ap, fmt);
        int cut = vsnprintf(raw, sizeof raw, fmt, ap) >= (int)sizeof raw;
        va_end(ap);
        size_t o = 0;
        for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
            int c1 = *p == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F;   /* U+0080-U+009F: two bytes */
            int ctl = c1 || (*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7F;
            size_t need = ctl ? 4 * (size_t)(1 + c1) : 1;
            if (o + need >= sizeof err->msg) { cut = 1; break; }
            if (!ctl) { err->msg[o++] = (char)*p; continue; }
            for (int k = 0; k <= c1; k++) o += (size_t)snprintf(err->msg + o, 5, "\\x%02X", p[k]);
            p += c1;
        }
        if (cut) o = tg_err_cut_tail_(err->msg, o);
        err->msg[o] = '\0';
    }
    return st;
}

#ifdef __cplusplus
}
#endif

#endif /* TG_STATUS_H */
