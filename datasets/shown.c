/* shown.c: names and bytes as a terminal and a message show them (shown.h). */
#include "datasets/shown.h"

#include <stdint.h>
#include <string.h>

#include "datasets/datasets.h"

/* The character at s[0 .. n) as shown into buf: itself, or \xNN for each byte of a control
 * character (C0, DEL, C1) or of bytes that are not UTF-8; returns the bytes of s it takes, and the
 * length of what it shows in *len. */
static size_t shown_char(const char *s, size_t n, char buf[32], size_t *len) {
    uint32_t cp = 0;
    int k = tg_utf8_next(s, n, &cp);
    size_t take = k > 0 ? (size_t)k : 1;
    if (k == 0 || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
        *len = 0;
        for (size_t j = 0; j < take; j++)
            *len += (size_t)snprintf(buf + *len, 32 - *len, "\\x%02X", (unsigned char)s[j]);
    } else {
        memcpy(buf, s, take);
        *len = take;
    }
    return take;
}

const char *tg_shown(char *out, size_t cap, const char *s) {
    size_t n = strlen(s), o = 0, len;
    char buf[32];
    for (size_t i = 0; i < n && cap;) {
        size_t take = shown_char(s + i, n - i, buf, &len);
        if (o + len >= cap) break;   /* cut before a character, never inside one */
        memcpy(out + o, buf, len);
        o += len;
        i += take;
    }
    if (cap) out[o] = '\0';
    return out;
}

const char *tg_shown_tail(char *out, size_t cap, const char *s) {
    size_t n = strlen(s), width = 0, len, i;
    char buf[32];
    for (i = 0; i < n;) {
        i += shown_char(s + i, n - i, buf, &len);
        width += len;
    }
    if (width < cap) return tg_shown(out, cap, s);
    for (i = 0; i < n && 3 + width >= cap;) {   /* the first characters left out */
        i += shown_char(s + i, n - i, buf, &len);
        width -= len;
    }
    memcpy(out, "...", 3);
    tg_shown(out + 3, cap - 3, s + i);
    return out;
}

void tg_fput_shown(FILE *f, const char *s, size_t n) {
    char buf[32];
    size_t len;
    for (size_t i = 0; i < n;) {
        i += shown_char(s + i, n - i, buf, &len);
        fwrite(buf, 1, len, f);
    }
}
