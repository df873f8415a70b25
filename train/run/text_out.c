/* text_out.c: JSON string literals and terminal-safe text (text_out.h). */
#include <math.h>

#include "train/run/text_out.h"

#include <stdint.h>
#include <string.h>

#include "datasets/datasets.h"

void tg_json_str(FILE *f, const char *s) {
    size_t n = strlen(s);
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        int k = tg_utf8_next(s + i, n - i, &cp);
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c < 0x20 || c == 0x7F) fprintf(f, "\\u%04x", c);
        else if (k == 0) fputs("\\ufffd", f);   /* JSON text is UTF-8: a stray byte cannot pass */
        else fwrite(s + i, 1, (size_t)k, f);
        i += k > 0 ? (size_t)k : 1;
    }
    fputc('"', f);
}

void tg_json_num(FILE *f, int decimals, double x) {
    if (!isfinite(x)) fputs("null", f);
    else if (fabs(x) < 1e9) fprintf(f, "%.*f", decimals, x);
    else fprintf(f, "%.*e", decimals, x);   /* as tg_format_num: no 300-digit numbers */
}

/* The character at s[0 .. n) as shown into buf: itself, or \xNN for each byte of a control
 * character (C0, DEL, C1) or of bytes that are not UTF-8; returns the bytes of s it takes, and the
 * length of what it shows in *len. */
static size_t shown_char(const char *s, size_t n, char buf[32], size_t *len) {
    uint32_t cp = 0;
    int k = tg_utf8_next(s, n, &cp);
    size_t take = k > 0 ? (size_t)k : 1;
    if (k == 0 || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
        *len = 0;
        for (size_t j = 0; j < take; j++) *len += (size_t)snprintf(buf + *len, 32 - *len, "\\x%02X", (unsigned char)s[j]);
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

void tg_fput_shown(FILE *f, const char *s, size_t n) {
    char buf[32];
    size_t len;
    for (size_t i = 0; i < n;) {
        i += shown_char(s + i, n - i, buf, &len);
        fwrite(buf, 1, len, f);
    }
}
