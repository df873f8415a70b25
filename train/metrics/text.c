/* text.c: code point strings, UTF-8 decoding (datasets' tg_utf8_next), and Python's isspace/split/rstrip/lower
 * over the generated tables in unicode_tables.c. */
#include "train/metrics/text.h"

#include <stdlib.h>

#include "datasets/datasets.h"
#include "train/metrics/unicode_tables.h"

tg_status tg_cps_reserve(tg_cps *b, size_t cap) {
    if (cap <= b->cap) return TG_OK;
    size_t want = b->cap ? b->cap : 64;
    while (want < cap) want *= 2;
    uint32_t *p = realloc(b->p, want * sizeof *p);
    if (!p) return TG_ERR_NOMEM;
    b->p = p;
    b->cap = want;
    return TG_OK;
}

void tg_cps_free(tg_cps *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

tg_status tg_utf8_decode(const char *s, size_t n, tg_cps *out, size_t *bad_at) {
    out->len = 0;
    /* At most one code point per byte. */
    if (tg_cps_reserve(out, n + 1) != TG_OK) return TG_ERR_NOMEM;
    size_t i = 0;
    while (i < n) {
        int k = tg_utf8_next(s + i, n - i, &out->p[out->len]);
        if (!k) {
            if (bad_at) *bad_at = i;
            return TG_ERR_FORMAT;
        }
        out->len++;
        i += (size_t)k;
    }
    return TG_OK;
}

static bool in_ranges(const uint32_t (*r)[2], size_t n, uint32_t c) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r[mid][1] < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && r[lo][0] <= c;
}

bool tg_uni_is_space(uint32_t c) {
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    return in_ranges(tg_uni_space, tg_uni_space_len, c);
}
bool tg_uni_is_punct(uint32_t c) { return in_ranges(tg_uni_punct, tg_uni_punct_len, c); }
bool tg_uni_is_symbol(uint32_t c) { return in_ranges(tg_uni_symbol, tg_uni_symbol_len, c); }
bool tg_uni_is_number(uint32_t c) { return in_ranges(tg_uni_number, tg_uni_number_len, c); }

/* Lowercase of one code point, without context; returns how many code points went to out. */
static size_t lower_one(uint32_t c, uint32_t out[3]) {
    if (c < 0x80) {
        out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        return 1;
    }
    for (size_t i = 0; i < tg_uni_lower_multis_len; i++) {
        if (tg_uni_lower_multis[i].cp == c) {
            for (uint32_t k = 0; k < tg_uni_lower_multis[i].n; k++) out[k] = tg_uni_lower_multis[i].out[k];
            return tg_uni_lower_multis[i].n;
        }
    }
    size_t lo = 0, hi = tg_uni_lower_runs_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tg_uni_lower_runs[mid].hi < c) lo = mid + 1;
        else hi = mid;
    }
    out[0] = c;
    if (lo < tg_uni_lower_runs_len) {
        const tg_uni_lower_run *r = &tg_uni_lower_runs[lo];
        if (r->lo <= c && (c - r->lo) % r->stride == 0) out[0] = (uint32_t)((int64_t)c + r->delta);
    }
    return 1;
}

static bool case_ignorable(uint32_t c) {
    return in_ranges(tg_uni_case_ignorable, tg_uni_case_ignorable_len, c);
}
static bool cased(uint32_t c) { return in_ranges(tg_uni_cased, tg_uni_cased_len, c); }

/* Python's Final_Sigma test for the capital sigma at s[i]: a cased letter before it and none
 * after it, either way skipping case-ignorable characters. */
static bool final_sigma(const uint32_t *s, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && case_ignorable(s[j - 1])) j--;
    if (j == 0 || !cased(s[j - 1])) return false;
    j = i + 1;
    while (j < n && case_ignorable(s[j])) j++;
    return j == n || !cased(s[j]);
}

tg_status tg_text_lower(const uint32_t *s, size_t n, tg_cps *out) {
    out->len = 0;
    /* Three code points out per code point in, at most. */
    if (tg_cps_reserve(out, 3 * n + 1) != TG_OK) return TG_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == 0x3A3) {
            out->p[out->len++] = final_sigma(s, n, i) ? 0x3C2 : 0x3C3;
            continue;
        }
        out->len += lower_one(s[i], out->p + out->len);
    }
    return TG_OK;
}

size_t tg_text_rstrip_len(const uint32_t *s, size_t n) {
    while (n > 0 && tg_uni_is_space(s[n - 1])) n--;
    return n;
}

tg_status tg_units_push(tg_units *v, const uint32_t *p, size_t len) {
    if (v->len == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 64;
        tg_unit *u = realloc(v->u, cap * sizeof *u);
        if (!u) return TG_ERR_NOMEM;
        v->u = u;
        v->cap = cap;
    }
    v->u[v->len].p = p;
    v->u[v->len].len = len;
    v->len++;
    return TG_OK;
}

void tg_units_free(tg_units *v) {
    free(v->u);
    v->u = NULL;
    v->len = v->cap = 0;
}

tg_status tg_text_split(const uint32_t *s, size_t n, tg_units *out) {
    out->len = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && tg_uni_is_space(s[i])) i++;
        if (i == n) break;
        size_t start = i;
        while (i < n && !tg_uni_is_space(s[i])) i++;
        if (tg_units_push(out, s + start, i - start) != TG_OK) return TG_ERR_NOMEM;
    }
    return TG_OK;
}
