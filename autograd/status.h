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
#include <string.h>

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

/* The bytes of the UTF-8 character at p (NUL-terminated): 1 to 4, or 0 for a byte that starts
 * none (a stray continuation byte, a lead byte without its continuations, an overlong form). */
static inline size_t tg_err_utf8_len_(const unsigned char *p) {
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    size_t n = c < 0xC2 || c > 0xF4 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F;
    else if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;
    if (!n || p[1] < lo || p[1] > hi) return 0;
    for (size_t k = 2; k < n; k++)
        if ((p[k] & 0xC0) != 0x80) return 0;
    return n;
}

/* The length of msg[0 .. o), a message cut short, without the start of an escape the cut left
 * at its end: a message quoting another ("%s: %s" with its msg) cut by vsnprintf inside one of
 * the inner message's "\xNN". */
static inline size_t tg_err_cut_tail_(const char *msg, size_t o) {
    const unsigned char *m = (const unsigned char *)msg;
    for (size_t k = 0; k < 3 && k < o; k++) {   /* "\", "\x", "\xN" at the end */
        int is = m[o - 1 - k] == '\\';
        for (size_t i = o - k; is && i < o; i++) {
            int hex = (m[i] >= '0' && m[i] <= '9') || (m[i] >= 'A' && m[i] <= 'F');
            is = i == o - k ? m[i] == 'x' : hex;
        }
        if (is) return o - (k + 1);
    }
    return o;
}

/* Fills err (if any) with a printf-style message and returns st, for `return tg_err_set(...)`.
 * Messages quote bad input ("'%.*s' is not a character"), which may hold terminal escapes: control
 * characters (C0 but tab and newline, DEL, C1) and bytes that are not UTF-8 (0x9B alone is C1's
 * CSI to a terminal that takes 8-bit controls) are shown as \xNN a byte, as tg_shown shows file
 * names, so printing a message never obeys the file it describes. A message too long for msg is
 * cut before an escape or a character, never inside one. */
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
        if (cut) {   /* a character vsnprintf's cut split: dropped, not shown as stray bytes */
            size_t n = sizeof raw - 1, b = n;
            while (b > 0 && n - b < 3 && ((unsigned char)raw[b - 1] & 0xC0) == 0x80) b--;
            if (b > 0 && (unsigned char)raw[b - 1] >= 0xC2 &&
                !tg_err_utf8_len_((const unsigned char *)raw + b - 1))
                raw[b - 1] = '\0';
        }
        size_t o = 0, take;
        for (const unsigned char *p = (const unsigned char *)raw; *p; p += take) {
            size_t k = tg_err_utf8_len_(p);
            int c1 = k == 2 && p[0] == 0xC2 && p[1] <= 0x9F;   /* U+0080-U+009F */
            int c0 = k == 1 && ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7F);
            int ctl = !k || c1 || c0;
            take = k ? k : 1;
            if (o + (ctl ? 4 * take : take) >= sizeof err->msg) { cut = 1; break; }
            if (!ctl) {
                memcpy(err->msg + o, p, take);
                o += take;
                continue;
            }
            for (size_t j = 0; j < take; j++)
                o += (size_t)snprintf(err->msg + o, 5, "\\x%02X", p[j]);
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
