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
