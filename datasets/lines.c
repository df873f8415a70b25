/* lines.c: the one line splitter of the text readers (corpus files, the vocabulary file). */
#include <string.h>

#include "datasets/internal.h"

int tg_ds_line_next(const char *buf, size_t len, size_t *pos, size_t *n) {
    if (*pos >= len) return 0;
    const char *s = buf + *pos;
    const char *nl = memchr(s, '\n', len - *pos);
    size_t k = nl ? (size_t)(nl - s) : len - *pos;
    *pos += k + (nl ? 1 : 0);
    if (k > 0 && s[k - 1] == '\r') k--;
    *n = k;
    return nl ? 1 : 2;
}
