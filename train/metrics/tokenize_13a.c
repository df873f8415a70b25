/* tokenize_13a.c: sacreBLEU's "13a" tokenizer (mteval-v13a.pl) and "intl" tokenizer
 * (mteval-v14.pl --international-tokenization), over code points.
 *
 * sacreBLEU writes both as a list of regex substitutions applied one after the other. Each
 * pattern here matches one or two characters, so each substitution is a single left-to-right
 * scan that, like Python's re.sub, resumes after a match (matches never overlap): in "a..",
 * `([^0-9])([\.,])` matches "a." and the second "." is then tried as a first character. The
 * order of the passes matters and is sacreBLEU's. */
#include <string.h>

#include "train/metrics/text.h"

static void swap_cps(tg_cps *a, tg_cps *b) {
    tg_cps t = *a;
    *a = *b;
    *b = t;
}

static bool is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static bool not_digit(uint32_t c) { return !is_digit(c); }
static bool is_period_comma(uint32_t c) { return c == '.' || c == ','; }
static bool is_dash(uint32_t c) { return c == '-'; }
static bool not_number(uint32_t c) { return !tg_uni_is_number(c); }

/* 13a's first class, [\{-\~\[-\` -\&\(-\+\:-\@\/]: ASCII punctuation and symbols except
 * ' - . , (which have their own rules), plus the space. */
static bool is_13a_punct(uint32_t c) {
    return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') ||
           (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}

/* Python's str.replace(pat, rep) with ASCII pat (non-empty) and rep. */
static tg_status replace_all(const tg_cps *in, const char *pat, const char *rep, tg_cps *out) {
    size_t np = strlen(pat), nr = strlen(rep);
    out->len = 0;
    /* rep is never longer than pat here, but size for the general case. */
    size_t cap = in->len + 1 + (nr > np ? (in->len / np + 1) * (nr - np) : 0);
    if (tg_cps_reserve(out, cap) != TG_OK) return TG_ERR_NOMEM;
    size_t i = 0;
    while (i < in->len) {
        size_t k = 0;
        if (in->len - i >= np)
            while (k < np && in->p[i + k] == (uint32_t)(unsigned char)pat[k]) k++;
        if (k == np) {
            for (size_t j = 0; j < nr; j++) out->p[out->len++] = (unsigned char)rep[j];
            i += np;
        } else {
            out->p[out->len++] = in->p[i++];
        }
    }
    return TG_OK;
}

/* `(class)` -> ` \1 `. */
static tg_status pad_pass(const tg_cps *in, bool (*cls)(uint32_t), tg_cps *out) {
    out->len = 0;
    if (tg_cps_reserve(out, 3 * in->len + 1) != TG_OK) return TG_ERR_NOMEM;
    for (size_t i = 0; i < in->len; i++) {
        uint32_t c = in->p[i];
        if (cls(c)) {
            out->p[out->len++] = ' ';
            out->p[out->len++] = c;
            out->p[out->len++] = ' ';
        } else {
            out->p[out->len++] = c;
        }
    }
    return TG_OK;
}

/* `(first)(second)` -> `\1 \2 ` (space_before = false) or ` \1 \2` (space_before = true). */
static tg_status pair_pass(const tg_cps *in, bool (*first)(uint32_t), bool (*second)(uint32_t),
                           bool space_before, tg_cps *out) {
    out->len = 0;
    if (tg_cps_reserve(out, 2 * in->len + 1) != TG_OK) return TG_ERR_NOMEM;
    size_t i = 0;
    while (i < in->len) {
        if (i + 1 < in->len && first(in->p[i]) && second(in->p[i + 1])) {
            if (space_before) out->p[out->len++] = ' ';
            out->p[out->len++] = in->p[i];
            out->p[out->len++] = ' ';
            out->p[out->len++] = in->p[i + 1];
            if (!space_before) out->p[out->len++] = ' ';
            i += 2;
        } else {
            out->p[out->len++] = in->p[i++];
        }
    }
    return TG_OK;
}

static bool contains(const tg_cps *b, uint32_t c) {
    for (size_t i = 0; i < b->len; i++)
        if (b->p[i] == c) return true;
    return false;
}

/* Copies s into out. */
static tg_status load(const uint32_t *s, size_t n, tg_cps *out) {
    out->len = 0;
    if (tg_cps_reserve(out, n + 1) != TG_OK) return TG_ERR_NOMEM;
    if (n) memcpy(out->p, s, n * sizeof *s);
    out->len = n;
    return TG_OK;
}

/* Each step reads *out and writes *tmp, then swaps them, so the result is always in out. */
#define STEP(call)                                   \
    do {                                             \
        if ((call) != TG_OK) return TG_ERR_NOMEM;    \
        swap_cps(out, tmp);                          \
    } while (0)

tg_status tg_tok_13a(const uint32_t *s, size_t n, tg_cps *out, tg_cps *tmp) {
    if (load(s, n, out) != TG_OK) return TG_ERR_NOMEM;
    /* The language-independent part of mteval-v13a.pl. */
    STEP(replace_all(out, "<skipped>", "", tmp));
    STEP(replace_all(out, "-\n", "", tmp));
    STEP(replace_all(out, "\n", " ", tmp));
    if (contains(out, '&')) {
        /* In this order: "&amp;quot;" becomes "&quot;" and stays so. */
        STEP(replace_all(out, "&quot;", "\"", tmp));
        STEP(replace_all(out, "&amp;", "&", tmp));
        STEP(replace_all(out, "&lt;", "<", tmp));
        STEP(replace_all(out, "&gt;", ">", tmp));
    }
    /* Padding with spaces lets the period/comma rules see a character on both sides. */
    if (tg_cps_reserve(tmp, out->len + 3) != TG_OK) return TG_ERR_NOMEM;
    tmp->p[0] = ' ';
    if (out->len) memcpy(tmp->p + 1, out->p, out->len * sizeof *out->p);
    tmp->p[out->len + 1] = ' ';
    tmp->len = out->len + 2;
    swap_cps(out, tmp);
    STEP(pad_pass(out, is_13a_punct, tmp));
    /* Period and comma unless preceded by a digit, then unless followed by a digit. */
    STEP(pair_pass(out, not_digit, is_period_comma, false, tmp));
    STEP(pair_pass(out, is_period_comma, not_digit, true, tmp));
    /* Dash when preceded by a digit. */
    STEP(pair_pass(out, is_digit, is_dash, false, tmp));
    return TG_OK;
}

tg_status tg_tok_intl(const uint32_t *s, size_t n, tg_cps *out, tg_cps *tmp) {
    if (load(s, n, out) != TG_OK) return TG_ERR_NOMEM;
    /* (\P{N})(\p{P}) -> "\1 \2 ", then (\p{P})(\P{N}) -> " \1 \2", then (\p{S}) -> " \1 ". */
    STEP(pair_pass(out, not_number, tg_uni_is_punct, false, tmp));
    STEP(pair_pass(out, tg_uni_is_punct, not_number, true, tmp));
    STEP(pad_pass(out, tg_uni_is_symbol, tmp));
    return TG_OK;
}
