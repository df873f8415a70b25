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

const char *tg_shown(char *out, size_t cap, const char *s) {
    size_t n = strlen(s), o = 0;
    for (size_t i = 0; i < n && cap;) {
        uint32_t cp = 0;
        int k = tg_utf8_next(s + i, n - i, &cp);
        bool control = k == 0 || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
        size_t need = control ? 4 * (size_t)(k ? k : 1) : (size_t)k;
        if (o + need >= cap) break;   /* cut before a character, never inside one */
        if (control) {
            for (int j = 0; j < (k ? k : 1); j++)
                o += (size_t)snprintf(out + o, cap - o, "\\x%02X", (unsigned char)s[i + (size_t)j]);
        } else {
            memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k;
        }
        i += k > 0 ? (size_t)k : 1;
    }
    if (cap) out[o] = '\0';
    return out;
}

void tg_fput_shown(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0;
        int k = tg_utf8_next(s + i, n - i, &cp);
        bool control = k == 0 || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
        if (control) {
            for (int j = 0; j < (k ? k : 1); j++) fprintf(f, "\\x%02X", (unsigned char)s[i + (size_t)j]);
        } else {
            fwrite(s + i, 1, (size_t)k, f);
        }
        i += k > 0 ? (size_t)k : 1;
    }
}
