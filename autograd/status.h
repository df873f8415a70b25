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
#include <stdint.h>
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

/* The UTF-8 character at s[0 .. n): its bytes (1 to 4), its code point in *cp; or 0 for none
 * (n == 0, a stray continuation byte, a lead byte without its continuations, an overlong form, a
 * surrogate, past U+10FFFF), *cp untouched. Strict, as Python's codec. Bytes are read in order
 * and no further than the first that is not a continuation, so a NUL-terminated string may be
 * given with n = 4. datasets' tg_utf8_next is this; it sits here for tg_err_set. */
static inline int tg_utf8_decode_(const unsigned char *s, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    int len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; v = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0; /* continuation byte, or a lead byte that can only start an overlong form */
    if (n < (size_t)len) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
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
            uint32_t cp;
            if (b > 0 && (unsigned char)raw[b - 1] >= 0xC2 &&
                !tg_utf8_decode_((const unsigned char *)raw + b - 1, 4, &cp))
                raw[b - 1] = '\0';
        }
        size_t o = 0, take;
        for (const unsigned char *p = (const unsigned char *)raw; *p; p += take) {
            uint32_t cp = 0;
            size_t k = (size_t)tg_utf8_decode_(p, 4, &cp);
            int c1 = k == 2 && cp <= 0x9F;   /* U+0080-U+009F */
            int c0 = k == 1 && ((cp < 0x20 && cp != '\t' && cp != '\n') || cp == 0x7F);
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
