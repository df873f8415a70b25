/* utf8.c: UTF-8 decoding and validation, the whitespace set, and line normalisation. */
#include <string.h>

#include "datasets/datasets.h"

/* the decoder tg_err_set uses too (autograd/status.h, the lowest layer) */
int tg_utf8_next(const char *str, size_t n, uint32_t *cp) {
    return tg_utf8_decode_((const unsigned char *)str, n, cp);
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
