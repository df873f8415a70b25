/* utf8.c: UTF-8 decoding and validation, the whitespace set, and line normalisation. */
#include <string.h>

#include "datasets/datasets.h"

int tg_utf8_next(const char *str, size_t n, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)str;
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

bool tg_utf8_valid(const char *s, size_t n, size_t *bad_at) {
    size_t i = 0;
    while (i < n) {
        if ((unsigned char)s[i] < 0x80) { i++; continue; }
        uint32_t cp;
        int k = tg_utf8_next(s + i, n - i, &cp);
        if (k == 0) {
            if (bad_at) *bad_at = i;
            return false;
        }
        i += (size_t)k;
    }
    return true;
}

size_t tg_utf8_space_len(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c == ' ' || (c >= '\t' && c <= '\r')) return 1;
    if (c < 0xC2) return 0; /* the rest of ASCII, or not a lead byte */
    uint32_t cp;
    int k = tg_utf8_next(str, n, &cp);
    if (k == 0) return 0;
    switch (cp) {
    case 0x0085: case 0x00A0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
        return (size_t)k;
    default:
        return (cp >= 0x2000 && cp <= 0x200A) ? (size_t)k : 0;
    }
}

size_t tg_corpus_normalize(char *s, size_t n) {
    size_t r = 0, w = 0;
    bool pending_space = false;
    while (r < n) {
        size_t k = tg_utf8_space_len(s + r, n - r);
        if (k) {
            pending_space = w > 0;   /* leading whitespace is dropped */
            r += k;
            continue;
        }
        if (pending_space) { s[w++] = ' '; pending_space = false; }
        s[w++] = s[r++];
    }
    return w;
}
