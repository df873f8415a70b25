/* test_score.c: BLEU, chrF and chrF++ against the scores sacreBLEU 2.6.0 computed for every case
 * in ../shared/fixtures/sacrebleu (discovered at run time, so a new case folder is covered
 * without touching this file), plus the tokenizers, lowercasing, UTF-8 checks, smoothing
 * branches, empty input, and `tapegrad score` itself (called in-process), with --paired-bs
 * against the fixture that follows sacreBLEU's paired bootstrap. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/datasets.h"
#include "train/cli/commands.h"
#include "train/metrics/metrics.h"
#include "train/metrics/order_stats.h"
#include "train/metrics/paired_bs.h"
#include "train/metrics/text.h"
#include "tests/tg_check.h"

#define FIXTURES "../shared/fixtures/sacrebleu"

/* ------------------------------------------------------------------------------------------ */
/* A small JSON reader, enough for expected.json: objects, arrays, numbers, strings, literals. */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
    jtype type;
    double num;
    char *str;            /* J_STR */
    struct jval *items;   /* J_ARR, J_OBJ: values */
    char **keys;          /* J_OBJ */
    size_t n;
} jval;

typedef struct jparser {
    const char *s;
    size_t pos, len;
    int bad;
} jparser;

static void jskip(jparser *p) {
    while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos])) p->pos++;
}

static void jfree(jval *v) {
    free(v->str);
    for (size_t i = 0; i < v->n; i++) {
        jfree(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    *v = (jval){0};
}

static char *jstring(jparser *p) {
    if (p->pos >= p->len || p->s[p->pos] != '"') { p->bad = 1; return NULL; }
    p->pos++;
    char *out = malloc(p->len - p->pos + 1);
    size_t k = 0;
    while (p->pos < p->len && p->s[p->pos] != '"') {
        char c = p->s[p->pos++];
        if (c == '\\' && p->pos < p->len) {
            char e = p->s[p->pos++];
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': c = '?'; p->pos += 4; break;   /* not in these files; keep going */
            default: c = e; break;
            }
        }
        out[k++] = c;
    }
    if (p->pos >= p->len) { p->bad = 1; free(out); return NULL; }
    p->pos++;
    out[k] = '\0';
    return out;
}

static void jparse(jparser *p, jval *v, int depth) {
    *v = (jval){0};
    jskip(p);
    if (p->pos >= p->len || depth > 32) { p->bad = 1; return; }
    char c = p->s[p->pos];
    if (c == '{' || c == '[') {
        int obj = c == '{';
        v->type = obj ? J_OBJ : J_ARR;
        p->pos++;
        jskip(p);
        if (p->pos < p->len && p->s[p->pos] == (obj ? '}' : ']')) { p->pos++; return; }
        for (;;) {
            v->items = realloc(v->items, (v->n + 1) * sizeof *v->items);
            if (obj) v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
            if (obj) {
                jskip(p);
                v->keys[v->n] = jstring(p);
                jskip(p);
                if (p->bad || p->pos >= p->len || p->s[p->pos] != ':') {
                    free(v->keys[v->n]);
                    p->bad = 1;
                    return;
                }
                p->pos++;
            }
            jparse(p, &v->items[v->n], depth + 1);
            v->n++;
            if (p->bad) return;
            jskip(p);
            if (p->pos < p->len && p->s[p->pos] == ',') { p->pos++; continue; }
            if (p->pos < p->len && p->s[p->pos] == (obj ? '}' : ']')) { p->pos++; return; }
            p->bad = 1;
            return;
        }
    } else if (c == '"') {
        v->type = J_STR;
        v->str = jstring(p);
    } else if (!strncmp(p->s + p->pos, "true", 4) || !strncmp(p->s + p->pos, "false", 5)) {
        v->type = J_BOOL;
        v->num = c == 't';
        p->pos += c == 't' ? 4 : 5;
    } else if (!strncmp(p->s + p->pos, "null", 4)) {
        v->type = J_NULL;
        p->pos += 4;
    } else {
        char *end;
        v->type = J_NUM;
        v->num = strtod(p->s + p->pos, &end);
        if (end == p->s + p->pos) p->bad = 1;
        p->pos = (size_t)(end - p->s);
    }
}

static const jval *jget(const jval *obj, const char *key) {
    if (!obj || obj->type != J_OBJ) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key)) return &obj->items[i];
    return NULL;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* Parses a JSON file; the caller frees with jfree. Fails the test on bad JSON. */
static void jload(const char *path, jval *v) {
    size_t len;
    char *s = slurp(path, &len);
    ck_assert_msg(s != NULL, "cannot read %s", path);
    jparser p = {s, 0, len, 0};
    jparse(&p, v, 0);
    jskip(&p);
    ck_assert_msg(!p.bad && p.pos == len, "%s: bad JSON near byte %zu", path, p.pos);
    free(s);
}

/* Lines of a file: split on '\n', a last unterminated line included (as tapegrad score reads). */
typedef struct lines {
    char *buf;
    char **line;
    size_t n;
} lines;

static void lines_load(const char *path, lines *l) {
    size_t len;
    l->buf = slurp(path, &len);
    ck_assert_msg(l->buf != NULL, "cannot read %s", path);
    l->n = 0;
    for (size_t i = 0; i < len; i++)
        if (l->buf[i] == '\n') l->n++;
    if (len && l->buf[len - 1] != '\n') l->n++;
    l->line = malloc((l->n + 1) * sizeof *l->line);
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= len && k < l->n; i++) {
        if (i == len || l->buf[i] == '\n') {
            l->buf[i] = '\0';
            l->line[k++] = l->buf + start;
            start = i + 1;
        }
    }
}

static void lines_free(lines *l) {
    free(l->buf);
    free(l->line);
}

/* ------------------------------------------------------------------------------------------ */
/* Every fixture case, every metric in its expected.json. */

#define MAX_CASES 256
static char *case_names[MAX_CASES];
static int n_cases;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void discover_cases(void) {
    DIR *d = opendir(FIXTURES);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) && n_cases < MAX_CASES) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s/expected.json", FIXTURES, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0) case_names[n_cases++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(case_names, (size_t)n_cases, sizeof *case_names, cmp_str);
}

static int failures;

#define EXPECT(cond, ...)                                    \
    do {                                                     \
        if (!(cond)) {                                       \
            failures++;                                      \
            fprintf(stderr, "  MISMATCH " __VA_ARGS__);      \
            fprintf(stderr, "\n");                           \
        }                                                    \
    } while (0)

static void check_int_array(const char *cs, const char *key, const char *field, const jval *want,
                            const int64_t *got, size_t n) {
    EXPECT(want && want->type == J_ARR && want->n == n, "%s %s.%s: expected an array of %zu", cs,
           key, field, n);
    if (!want || want->type != J_ARR || want->n != n) return;
    for (size_t i = 0; i < n; i++)
        EXPECT((double)got[i] == want->items[i].num, "%s %s.%s[%zu]: got %lld, sacreBLEU %.0f", cs,
               key, field, i, (long long)got[i], want->items[i].num);
}

static void check_number(const char *cs, const char *key, const char *field, const jval *want,
                         double got, double tol) {
    EXPECT(want && want->type == J_NUM, "%s %s.%s missing", cs, key, field);
    if (want && want->type == J_NUM)
        EXPECT(fabs(got - want->num) <= tol, "%s %s.%s: got %.12f, sacreBLEU %.12f", cs, key,
               field, got, want->num);
}

static void check_signature(const char *cs, const char *key, const jval *want, const char *got) {
    if (!want) return;   /* bleu_13a_lowercase carries none */
    EXPECT(want->type == J_STR && !strcmp(want->str, got), "%s %s.signature: got '%s', sacreBLEU '%s'",
           cs, key, got, want->type == J_STR ? want->str : "?");
}

/* "bleu_13a", "bleu_intl_lowercase", ... -> options; false for a name it does not know. */
static bool bleu_opts_for(const char *key, tg_bleu_opts *o) {
    *o = tg_bleu_opts_default();
    const char *rest = key + strlen("bleu_");
    size_t tl = strcspn(rest, "_");
    if (tl == 3 && !strncmp(rest, "13a", 3)) o->tokenize = TG_BLEU_TOK_13A;
    else if (tl == 4 && !strncmp(rest, "intl", 4)) o->tokenize = TG_BLEU_TOK_INTL;
    else if (tl == 4 && !strncmp(rest, "none", 4)) o->tokenize = TG_BLEU_TOK_NONE;
    else return false;
    if (!strcmp(rest + tl, "_lowercase")) o->lowercase = true;
    else if (rest[tl] != '\0') return false;
    return true;
}

static void check_case(const char *cs) {
    char path[1024];
    jval exp;
    snprintf(path, sizeof path, "%s/%s/expected.json", FIXTURES, cs);
    jload(path, &exp);
    ck_assert_msg(exp.type == J_OBJ, "%s: expected.json is not an object", path);
    lines hyp, ref;
    snprintf(path, sizeof path, "%s/%s/hyp.txt", FIXTURES, cs);
    lines_load(path, &hyp);
    snprintf(path, sizeof path, "%s/%s/ref.txt", FIXTURES, cs);
    lines_load(path, &ref);
    ck_assert_msg(hyp.n == ref.n, "%s: hyp.txt has %zu lines, ref.txt %zu", cs, hyp.n, ref.n);
    const char *const *h = (const char *const *)hyp.line, *const *r = (const char *const *)ref.line;
    tg_err err = {{0}};
    int checked = 0;
    failures = 0;

    for (size_t k = 0; k < exp.n; k++) {
        const char *key = exp.keys[k];
        const jval *want = &exp.items[k];
        tg_bleu_opts bo;
        if (!strcmp(key, "sacrebleu_version")) {
            EXPECT(want->type == J_STR && !strcmp(want->str, TG_SACREBLEU_VERSION),
                   "%s: fixtures are from sacreBLEU %s, this reproduces %s", cs,
                   want->type == J_STR ? want->str : "?", TG_SACREBLEU_VERSION);
        } else if (!strcmp(key, "segments")) {
            EXPECT(want->type == J_NUM && want->num == (double)hyp.n,
                   "%s: %zu lines, expected.json says %.0f", cs, hyp.n, want->num);
        } else if (!strncmp(key, "bleu_", 5) && bleu_opts_for(key, &bo)) {
            tg_bleu_result b;
            ck_assert_msg(tg_bleu_corpus_score(h, r, hyp.n, &bo, &b, &err) == TG_OK, "%s %s: %s", cs,
                          key, err.msg);
            check_int_array(cs, key, "counts", jget(want, "counts"), b.counts, 4);
            check_int_array(cs, key, "totals", jget(want, "totals"), b.totals, 4);
            check_number(cs, key, "score", jget(want, "score"), b.score, 1e-6);
            check_number(cs, key, "bp", jget(want, "bp"), b.bp, 1e-9);
            const jval *sl = jget(want, "sys_len"), *rl = jget(want, "ref_len");
            if (sl)
                EXPECT(sl->num == (double)b.sys_len, "%s %s.sys_len: got %lld, sacreBLEU %.0f", cs,
                       key, (long long)b.sys_len, sl->num);
            if (rl)
                EXPECT(rl->num == (double)b.ref_len, "%s %s.ref_len: got %lld, sacreBLEU %.0f", cs,
                       key, (long long)b.ref_len, rl->num);
            check_signature(cs, key, jget(want, "signature"), b.signature);
            /* The lowercase entries carry no signature; sacreBLEU's would say case:lc. */
            EXPECT(!!strstr(b.signature, bo.lowercase ? "|case:lc|" : "|case:mixed|"),
                   "%s %s.signature: %s", cs, key, b.signature);
            checked++;
        } else if (!strcmp(key, "chrf") || !strcmp(key, "chrf_pp")) {
            tg_chrf_opts co = tg_chrf_opts_default();
            if (!strcmp(key, "chrf_pp")) co.word_order = 2;
            tg_chrf_result c;
            ck_assert_msg(tg_chrf_corpus_score(h, r, hyp.n, &co, &c, &err) == TG_OK, "%s %s: %s", cs,
                          key, err.msg);
            check_number(cs, key, "score", jget(want, "score"), c.score, 1e-6);
            check_signature(cs, key, jget(want, "signature"), c.signature);
            checked++;
        } else if (!strcmp(key, "sentence_bleu_13a_first20")) {
            size_t n = hyp.n < 20 ? hyp.n : 20;
            EXPECT(want->type == J_ARR && want->n == n, "%s %s: %zu scores, expected %zu", cs, key,
                   want->type == J_ARR ? want->n : 0, n);
            for (size_t i = 0; i < n && want->type == J_ARR && i < want->n; i++) {
                tg_bleu_result b;
                ck_assert_msg(tg_bleu_sentence_score(h[i], r[i], NULL, &b, &err) == TG_OK, "%s: %s",
                              cs, err.msg);
                EXPECT(fabs(b.score - want->items[i].num) <= 1e-6,
                       "%s %s[%zu]: got %.12f, sacreBLEU %.12f", cs, key, i, b.score,
                       want->items[i].num);
                EXPECT(!strcmp(b.signature,
                               "nrefs:1|case:mixed|eff:yes|tok:13a|smooth:exp|version:2.6.0"),
                       "%s sentence signature %s", cs, b.signature);
            }
            checked++;
        } else {
            EXPECT(0, "%s: expected.json has '%s', which this test does not know how to check", cs, key);
        }
    }
    jfree(&exp);
    lines_free(&hyp);
    lines_free(&ref);
    ck_assert_msg(checked > 0, "%s: no metric checked", cs);
    ck_assert_msg(failures == 0, "%s: %d mismatches with sacreBLEU (listed above)", cs, failures);
}

START_TEST(test_fixture_case) {
    ck_assert_int_lt(_i, n_cases);
    check_case(case_names[_i]);
}
END_TEST

START_TEST(test_fixtures_found) {
    /* The loop test above runs once per case; this fails if there is none to run. */
    ck_assert_msg(n_cases >= 7, "found %d cases under %s (expected the 7 committed ones or more)",
                  n_cases, FIXTURES);
    bool edge = false;
    for (int i = 0; i < n_cases; i++) edge |= !strcmp(case_names[i], "edge_cases");
    ck_assert_msg(edge, "edge_cases not found under %s", FIXTURES);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Tokenizers and text helpers, on strings whose sacreBLEU output is known. */

/* Tokenizes utf8 with tok (0 none, 1 13a, 2 intl) and joins the words with single spaces. */
static char *tokenize(const char *utf8, int tok, bool lower) {
    tg_cps a = {0}, b = {0}, c = {0};
    tg_units w = {0};
    size_t bad;
    ck_assert_int_eq(tg_utf8_decode(utf8, strlen(utf8), &a, &bad), TG_OK);
    if (lower) {
        ck_assert_int_eq(tg_text_lower(a.p, a.len, &b), TG_OK);
        tg_cps t = a; a = b; b = t;
    }
    size_t len = tg_text_rstrip_len(a.p, a.len);
    const tg_cps *src = &a;
    if (tok == 1) ck_assert_int_eq(tg_tok_13a(a.p, len, &b, &c), TG_OK);
    if (tok == 2) ck_assert_int_eq(tg_tok_intl(a.p, len, &b, &c), TG_OK);
    if (tok) { src = &b; len = b.len; }
    ck_assert_int_eq(tg_text_split(src->p, len, &w), TG_OK);
    char *out = malloc(4 * (len + 1) + w.len + 1);
    size_t k = 0;
    for (size_t i = 0; i < w.len; i++) {
        if (i) out[k++] = ' ';
        for (size_t j = 0; j < w.u[i].len; j++) {
            uint32_t cp = w.u[i].p[j];
            if (cp < 0x80) out[k++] = (char)cp;
            else if (cp < 0x800) {
                out[k++] = (char)(0xC0 | (cp >> 6)); out[k++] = (char)(0x80 | (cp & 0x3F));
            }
            else if (cp < 0x10000) {
                out[k++] = (char)(0xE0 | (cp >> 12)); out[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[k++] = (char)(0x80 | (cp & 0x3F));
            } else {
                out[k++] = (char)(0xF0 | (cp >> 18)); out[k++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                out[k++] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[k++] = (char)(0x80 | (cp & 0x3F));
            }
        }
    }
    out[k] = '\0';
    tg_cps_free(&a); tg_cps_free(&b); tg_cps_free(&c); tg_units_free(&w);
    return out;
}

static void expect_tok(const char *in, int tok, bool lower, const char *want) {
    char *got = tokenize(in, tok, lower);
    ck_assert_msg(!strcmp(got, want), "tokenizer %d on '%s': got '%s', want '%s'", tok, in, got, want);
    free(got);
}

START_TEST(test_tokenize_13a) {
    /* Expected strings are what sacreBLEU 2.6.0's Tokenizer13a returns for these inputs. */
    /* 13a leaves the apostrophe alone; intl splits it off. */
    expect_tok("Don't stop: it is 1,000.5 km away!", 1, false, "Don't stop : it is 1,000.5 km away !");
    expect_tok("She said \"Hello\" - and left...", 1, false, "She said \" Hello \" - and left . . .");
    expect_tok("&amp; &lt;tag&gt; \"quoted\"", 1, false, "& < tag > \" quoted \"");
    /* The entity replacements run in order, so &amp;quot; ends as &quot; and stays. */
    expect_tok("a &amp;quot; b", 1, false, "a & quot ; b");
    expect_tok("x<skipped>y", 1, false, "xy");
    expect_tok("12:30 pm on 2024-01-02", 1, false, "12 : 30 pm on 2024 - 01 - 02");
    expect_tok("end 2024.", 1, false, "end 2024 .");
    expect_tok("a.b,c 3.5", 1, false, "a . b , c 3.5");
    expect_tok("   ", 1, false, "");
    expect_tok("", 1, false, "");
    /* Non-ASCII passes through 13a untouched; ideographic space (U+3000) still splits. */
    expect_tok("„%s“ x\u3000y", 1, false, "„ % s“ x y");
}
END_TEST

START_TEST(test_tokenize_intl) {
    expect_tok("Don't stop: it's 1,000.5 km (approx.) away!", 2, false,
               "Don ' t stop : it ' s 1,000.5 km ( approx . ) away !");
    expect_tok("She said “Hello” — and left…", 2, false, "She said “ Hello ” — and left …");
    expect_tok("$5.00 + 3% = ???", 2, false, "$ 5.00 + 3 % = ? ? ?");
    /* A number then a final period keeps the period (mteval-v14's own behaviour). */
    expect_tok("end 2024.", 2, false, "end 2024.");
    /* Leading whitespace takes part in the matching: the first pass consumes " .". */
    expect_tok(" ..5", 2, false, ". .5");
    expect_tok("..5", 2, false, ". . 5");
    expect_tok("中文 and 日本語", 2, false, "中文 and 日本語");
    /* \P{N} is "not a number" in Unicode's sense: superscripts, fractions and Arabic-Indic
     * digits protect a following punctuation mark just as 0-9 do. */
    expect_tok("x². 5½,x", 2, false, "x² . 5½ , x");
    expect_tok("٣.٥ ٣,", 2, false, "٣.٥ ٣,");
    expect_tok("(c) ©2024", 2, false, "( c ) © 2024");
}
END_TEST

START_TEST(test_lowercase) {
    expect_tok("ÄÖÜ Straße", 0, true, "äöü straße");
    /* Final sigma: ς at a word end, σ elsewhere, case-ignorable marks skipped. */
    expect_tok("ΟΔΟΣ ΣΑΣ. Σ", 0, true, "οδος σας. σ");
    /* U+0130 lowercases to two code points, i + combining dot above. */
    expect_tok("İ", 0, true, "i\u0307");
    expect_tok("ǅ Ꮿ K", 0, true, "ǆ ꮿ k");   /* titlecase, Cherokee, Kelvin sign */
}
END_TEST

/* One UTF-8 character of c into out; its length. */
static size_t utf8_put(uint32_t c, char out[4]) {
    if (c < 0x80) { out[0] = (char)c; return 1; }
    if (c < 0x800) { out[0] = (char)(0xC0 | c >> 6); out[1] = (char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12); out[1] = (char)(0x80 | (c >> 6 & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | c >> 18); out[1] = (char)(0x80 | (c >> 12 & 0x3F));
    out[2] = (char)(0x80 | (c >> 6 & 0x3F)); out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* The two whitespace sets over every code point: BPE's (datasets, Unicode White_Space) and
 * sacreBLEU's (Python isspace) differ in exactly U+001C..U+001F, which only Python counts;
 * the one decoder reads every scalar value back as itself. */
START_TEST(test_whitespace_sets) {
    tg_cps b = {0};
    size_t bad;
    uint32_t differ[8], misread = 0;   /* plain checks in the loop: a ck_assert costs a pipe write */
    int n_differ = 0;
    for (uint32_t c = 0; c < 0x110000; c++) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        char u[4];
        size_t n = utf8_put(c, u);
        if ((tg_utf8_space_len(u, n) == n) != tg_uni_is_space(c) && n_differ < 8) differ[n_differ++] = c;
        if (tg_utf8_decode(u, n, &b, &bad) != TG_OK || b.len != 1 || b.p[0] != c) misread++;
    }
    ck_assert_uint_eq(misread, 0);
    ck_assert_int_eq(n_differ, 4);
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(differ[i], 0x1C + (uint32_t)i);
    ck_assert(tg_uni_is_space(0x1C) && tg_utf8_space_len("\x1C", 1) == 0);
    tg_cps_free(&b);
}
END_TEST

START_TEST(test_utf8) {
    tg_cps b = {0};
    size_t bad = 99;
    ck_assert_int_eq(tg_utf8_decode("a\xc3\xa9\xf0\x9f\x98\x80", 7, &b, &bad), TG_OK);
    ck_assert_uint_eq(b.len, 3);
    ck_assert_uint_eq(b.p[1], 0xE9);
    ck_assert_uint_eq(b.p[2], 0x1F600);
    /* overlong, surrogate, past U+10FFFF, truncated, stray continuation, never-valid byte */
    const char *bads[] = {"ab\xc0\x80", "ab\xed\xa0\x80", "ab\xf4\x90\x80\x80",
                          "ab\xe2\x82", "ab\x80", "ab\xff"};
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        ck_assert_int_eq(tg_utf8_decode(bads[i], strlen(bads[i]), &b, &bad), TG_ERR_FORMAT);
        ck_assert_uint_eq(bad, 2);
        size_t at = 99;
        ck_assert(!tg_utf8_valid(bads[i], strlen(bads[i]), &at));
        ck_assert_uint_eq(at, 2);
    }
    tg_cps_free(&b);

    tg_bleu_result r;
    tg_err err = {{0}};
    const char *h[] = {"fine", "bad \xff"}, *rf[] = {"fine", "fine"};
    ck_assert_int_eq(tg_bleu_corpus_score(h, rf, 2, NULL, &r, &err), TG_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "segment 2") && strstr(err.msg, "hypothesis"), "message: %s", err.msg);
    tg_chrf_result c;
    ck_assert_int_eq(tg_chrf_corpus_score(rf, h, 2, NULL, &c, &err), TG_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "segment 2") && strstr(err.msg, "reference"), "message: %s", err.msg);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Scoring branches the fixtures do not reach. Expected values: sacreBLEU's compute_bleu and
 * _compute_f_score evaluated by hand (Python) on the same statistics. */

START_TEST(test_bleu_smoothing) {
    tg_bleu_stats s = {{3, 1, 0, 0}, {5, 4, 3, 2}, 5, 6};
    tg_bleu_opts o = tg_bleu_opts_default();
    tg_bleu_result r;
    tg_err err;
    ck_assert_int_eq(tg_bleu_stats_score(&s, &o, &r, &err), TG_OK);
    /* exp: precisions 60, 25, 100/(2*3), 100/(4*2); bp = exp(1 - 6/5) */
    ck_assert_double_eq_tol(r.bp, exp(1.0 - 6.0 / 5.0), 1e-15);
    ck_assert_double_eq_tol(r.precisions[2], 100.0 / 6.0, 1e-12);
    ck_assert_double_eq_tol(r.precisions[3], 100.0 / 8.0, 1e-12);
    ck_assert_double_eq_tol(r.score, 19.3576934939088, 1e-9);
    ck_assert_str_eq(r.signature, "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0");

    o.smooth = TG_BLEU_SMOOTH_NONE;
    ck_assert_int_eq(tg_bleu_stats_score(&s, &o, &r, &err), TG_OK);
    ck_assert_double_eq(r.score, 0.0);
    ck_assert_str_eq(r.signature, "nrefs:1|case:mixed|eff:no|tok:13a|smooth:none|version:2.6.0");

    o.smooth = TG_BLEU_SMOOTH_FLOOR;
    ck_assert_int_eq(tg_bleu_stats_score(&s, &o, &r, &err), TG_OK);
    ck_assert_double_eq_tol(r.precisions[2], 100.0 * 0.1 / 3.0, 1e-12);
    ck_assert_double_eq_tol(r.score, 10.29499418829739, 1e-9);
    ck_assert_str_eq(r.signature, "nrefs:1|case:mixed|eff:no|tok:13a|smooth:floor[0.10]|version:2.6.0");

    o.smooth = TG_BLEU_SMOOTH_ADD_K;
    ck_assert_int_eq(tg_bleu_stats_score(&s, &o, &r, &err), TG_OK);
    ck_assert_double_eq_tol(r.precisions[1], 100.0 * 2.0 / 5.0, 1e-12);
    ck_assert_double_eq_tol(r.score, 30.789214024300126, 1e-9);
    ck_assert_int_eq(r.counts[1], 1);   /* reported counts stay raw */
    ck_assert_str_eq(r.signature, "nrefs:1|case:mixed|eff:no|tok:13a|smooth:add-k[1.00]|version:2.6.0");

    /* Effective order on a 2-word hypothesis: only orders 1 and 2 count. */
    tg_bleu_stats s2 = {{2, 1, 0, 0}, {2, 1, 0, 0}, 2, 2};
    o = tg_bleu_opts_default();
    o.effective_order = true;
    o.lowercase = true;
    o.tokenize = TG_BLEU_TOK_INTL;
    ck_assert_int_eq(tg_bleu_stats_score(&s2, &o, &r, &err), TG_OK);
    ck_assert_double_eq_tol(r.score, 100.0, 1e-9);
    ck_assert_str_eq(r.signature, "nrefs:1|case:lc|eff:yes|tok:intl|smooth:exp|version:2.6.0");
    o.effective_order = false;   /* then orders 3 and 4 have precision 0: score 0 */
    ck_assert_int_eq(tg_bleu_stats_score(&s2, &o, &r, &err), TG_OK);
    ck_assert_double_eq_tol(r.score, 0.0, 1e-12);

    o.tokenize = (tg_bleu_tokenize)7;
    ck_assert_int_eq(tg_bleu_stats_score(&s2, &o, &r, &err), TG_ERR_ARG);
}
END_TEST

START_TEST(test_empty) {
    tg_bleu_result b;
    tg_chrf_result c;
    tg_err err;
    /* No segments at all. */
    ck_assert_int_eq(tg_bleu_corpus_score(NULL, NULL, 0, NULL, &b, &err), TG_OK);
    ck_assert_double_eq(b.score, 0.0);
    ck_assert_double_eq(b.bp, 1.0);
    ck_assert_int_eq(b.sys_len, 0);
    ck_assert_int_eq(b.ref_len, 0);
    ck_assert_int_eq(tg_chrf_corpus_score(NULL, NULL, 0, NULL, &c, &err), TG_OK);
    ck_assert_double_eq(c.score, 0.0);
    /* Empty hypotheses against a non-empty reference: sys_len 0, so bp 0 and score 0. */
    const char *h[] = {"", "   "}, *r[] = {"a b c", ""};
    ck_assert_int_eq(tg_bleu_corpus_score(h, r, 2, NULL, &b, &err), TG_OK);
    ck_assert_int_eq(b.sys_len, 0);
    ck_assert_int_eq(b.ref_len, 3);
    ck_assert_double_eq(b.bp, 0.0);
    ck_assert_double_eq(b.score, 0.0);
    ck_assert_int_eq(b.totals[0], 0);
    ck_assert_int_eq(tg_bleu_sentence_score("", "", NULL, &b, &err), TG_OK);
    ck_assert_double_eq(b.score, 0.0);
    ck_assert_double_eq(b.bp, 1.0);
    ck_assert_int_eq(tg_chrf_corpus_score(h, r, 2, NULL, &c, &err), TG_OK);
    ck_assert_double_eq(c.score, 0.0);
    ck_assert_int_eq(c.stats.ref[0], 3);
    ck_assert_int_eq(c.stats.hyp[0], 0);
    /* A reference shorter than an order: the hypothesis n-grams of that order are not counted. */
    ck_assert_int_eq(tg_chrf_sentence_score("abcd", "ab", NULL, &c, &err), TG_OK);
    ck_assert_int_eq(c.stats.hyp[0], 4);
    ck_assert_int_eq(c.stats.hyp[1], 3);
    ck_assert_int_eq(c.stats.hyp[2], 0);
    ck_assert_int_eq(c.stats.match[1], 1);
    /* prec (2/4 + 1/3)/2, rec 1: F2 = 5 p r / (4 p + r) */
    double p = (2.0 / 4 + 1.0 / 3) / 2;
    ck_assert_double_eq_tol(c.score, 100 * 5 * p / (4 * p + 1), 1e-9);
    /* Bad options are refused, not crashed on. */
    tg_chrf_opts co = tg_chrf_opts_default();
    co.char_order = 20;
    ck_assert_int_eq(tg_chrf_sentence_score("a", "a", &co, &c, &err), TG_ERR_ARG);
}
END_TEST

static bool same_ngram(const tg_unit *a, const tg_unit *b, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (a[k].len != b[k].len || memcmp(a[k].p, b[k].p, a[k].len * sizeof *a[k].p)) return false;
    return true;
}

/* Clipped matches counted the slow, plain way: for each position of hyp whose n-gram is the first
 * of its kind there, min(its count in hyp, its count in ref). */
static int64_t naive_match(const tg_unit *h, size_t nh, const tg_unit *r, size_t nr, size_t n) {
    int64_t m = 0;
    for (size_t i = 0; i + n <= nh; i++) {
        bool first = true;
        for (size_t k = 0; k < i && first; k++) first = !same_ngram(h + k, h + i, n);
        if (!first) continue;
        int64_t ch = 0, cr = 0;
        for (size_t k = i; k + n <= nh; k++) ch += same_ngram(h + k, h + i, n);
        for (size_t k = 0; k + n <= nr; k++) cr += same_ngram(r + k, h + i, n);
        m += ch < cr ? ch : cr;
    }
    return m;
}

/* The distinct n-grams of order n among units[0 .. nu), counted the plain way. */
static size_t naive_distinct(const tg_unit *u, size_t nu, size_t n) {
    size_t d = 0;
    for (size_t i = 0; i + n <= nu; i++) {
        bool first = true;
        for (size_t k = 0; k < i && first; k++) first = !same_ngram(u + k, u + i, n);
        d += first;
    }
    return d;
}

/* 2 x 1,500 words of 1 or 2 code points from a three-letter alphabet (many repeats); words
 * overlap, pointing into one text. */
enum { NG_UNITS = 1500, NG_MAX_N = 6 };
static tg_unit ng_units[2][NG_UNITS];

static void ngram_units_fill(void) {
    static uint32_t text[4 * NG_UNITS];
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < 4 * NG_UNITS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        text[i] = 'a' + (uint32_t)(x % 3);
    }
    for (int side = 0; side < 2; side++)
        for (size_t i = 0; i < NG_UNITS; i++) {
            size_t at = side * 2 * NG_UNITS + i * 2;
            ng_units[side][i] = (tg_unit){text + at, 1 + (text[at + 1] == 'a')};
        }
}

/* tg_ngram_match_orders sorts short sides by a merge sort and long ones by key (a radix sort),
 * then the runs of a key whose n-grams differ by their units: every order 1 .. max_n, for max_n
 * 1 to 6, against the plain count on sides of every size (orders longer than a side, empty
 * sides), with 64-bit keys and with keys cut to 2 bits (nearly every n-gram collides with
 * others). Nothing is written past match[max_n - 1]. */
START_TEST(test_ngram_match_counts) {
    ngram_units_fill();
    static const size_t sizes[] = {0, 1, 5, 16, 17, 31, 200, 1023, 1024, 1027, NG_UNITS};
    enum { N_SIZES = sizeof sizes / sizeof *sizes };
    for (size_t a = 0; a < N_SIZES; a++) {
        size_t nh = sizes[a], nr = sizes[(a + 3) % N_SIZES];
        int64_t want[NG_MAX_N];
        for (size_t n = 1; n <= NG_MAX_N; n++)
            want[n - 1] = naive_match(ng_units[0], nh, ng_units[1], nr, n);
        for (int bits = 64; bits >= 2; bits -= 62) {
            tg_ngram_work w = {.key_bits = bits};
            for (size_t max_n = 1; max_n <= NG_MAX_N; max_n++) {
                int64_t got[NG_MAX_N + 1];
                for (size_t n = 0; n <= NG_MAX_N; n++) got[n] = -7;
                ck_assert_int_eq(tg_ngram_match_orders(ng_units[0], nh, ng_units[1], nr, max_n,
                                                       &w, got), TG_OK);
                for (size_t n = 1; n <= max_n; n++)
                    ck_assert_msg(got[n - 1] == want[n - 1],
                                  "key_bits %d, %zu against %zu units, order %zu of %zu: %lld, "
                                  "not %lld", bits, nh, nr, n, max_n, (long long)got[n - 1],
                                  (long long)want[n - 1]);
                ck_assert_int_eq(got[max_n], -7);
            }
            tg_ngram_work_free(&w);
        }
    }
}
END_TEST

/* Checks a side's sorted n-grams of order n as a call left them in its scratch: two share a
 * 64-bit key exactly when they are equal, so each run of one key holds one n-gram and there
 * are as many runs as distinct n-grams. */
static void check_key_runs(const tg_ngram *a, const tg_unit *u, size_t nu, size_t n,
                           const char *side) {
    size_t runs = 0;
    for (size_t i = 0; i + n <= nu; i++) {
        if (i > 0 && a[i].key == a[i - 1].key) {
            ck_assert_msg(same_ngram(a[i].u, a[i - 1].u, n),
                          "%s, %zu units, order %zu: different n-grams share a key", side, nu, n);
            continue;
        }
        runs++;
    }
    ck_assert_msg(runs == naive_distinct(u, nu, n),
                  "%s, %zu units, order %zu: %zu keys for %zu distinct n-grams", side, nu, n, runs,
                  naive_distinct(u, nu, n));
}

/* The counts above come out right from any key that is a function of the n-gram's units, even
 * one that leaves units out (ties are broken by the units): here the keys built order by order
 * are checked to tell n-grams apart, on both sides, both sorts and every order up to 6, so a key
 * update that drops a unit (one that takes an n-gram's first unit again, not its last) or
 * depends on the position fails. The call's last order stays in the scratch's hyp and ref. */
START_TEST(test_ngram_keys) {
    ngram_units_fill();
    static const size_t sizes[] = {17, 200, 1027, NG_UNITS};
    tg_ngram_work w = {0};
    for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a++)
        for (size_t n = 1; n <= NG_MAX_N; n++) {
            size_t nh = sizes[a], nr = NG_UNITS - sizes[a] + 16;
            int64_t got[NG_MAX_N];
            ck_assert_int_eq(tg_ngram_match_orders(ng_units[0], nh, ng_units[1], nr, n, &w, got),
                             TG_OK);
            check_key_runs(w.hyp, ng_units[0], nh, n, "hypothesis");
            check_key_runs(w.ref, ng_units[1], nr, n, "reference");
        }
    tg_ngram_work_free(&w);
}
END_TEST

START_TEST(test_chrf_pp_words) {
    /* chrF++ splits one ASCII punctuation mark off a word's end, else its start: "(hi)" gives
     * "(hi" and ")", so against "( hi )" only ")" matches among unigrams. */
    tg_chrf_opts co = tg_chrf_opts_default();
    co.char_order = 0;
    co.word_order = 1;
    tg_chrf_result c;
    tg_err err;
    ck_assert_int_eq(tg_chrf_sentence_score("(hi)", "( hi )", &co, &c, &err), TG_OK);
    ck_assert_int_eq(c.stats.hyp[0], 2);
    ck_assert_int_eq(c.stats.ref[0], 3);
    ck_assert_int_eq(c.stats.match[0], 1);
    ck_assert_str_eq(c.name, "chrF2+");
    ck_assert_int_eq(tg_chrf_sentence_score("\"quoted\" end.", "\"quoted end .", &co, &c, &err), TG_OK);
    /* hyp: '"quoted' '"' 'end' '.'; ref: '"' 'quoted' 'end' '.' (the mark comes off the start) */
    ck_assert_int_eq(c.stats.hyp[0], 4);
    ck_assert_int_eq(c.stats.match[0], 3);
    co = tg_chrf_opts_default();
    co.lowercase = true;
    co.eps_smoothing = true;
    co.whitespace = true;
    ck_assert_int_eq(tg_chrf_sentence_score("A b", "a b", &co, &c, &err), TG_OK);
    ck_assert_str_eq(c.signature, "nrefs:1|case:lc|eff:no|nc:6|nw:0|space:yes|version:2.6.0");
    /* With whitespace kept, "a b" has 3 characters and 1 trigram. Orders 1..3 match fully
     * (F = 1 each), orders 4..6 have no n-grams and add eps: 100 * (3 + 3 eps) / 6. Effective
     * order smoothing would give 100. */
    ck_assert_double_eq_tol(c.score, 50.0, 1e-9);
    ck_assert_int_eq(c.stats.hyp[2], 1);
    ck_assert_int_eq(c.stats.hyp[3], 0);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* `tapegrad score`, called in-process with stdout and stderr sent to files. */

static char tmpdir[160];

static void make_tmpdir(void) {
    ck_assert_ptr_nonnull(tg_check_mkdtemp(tmpdir, sizeof tmpdir, "tg_score"));
}

static void remove_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    if (!d) return;
    struct dirent *e;
    char path[sizeof tmpdir + sizeof e->d_name + 2];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(tmpdir);
}

static void write_file(const char *name, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Runs tg_cmd_score(args...) and returns its exit code; stdout and stderr end up in
 * tmpdir/out and tmpdir/err. */
static int run_score(int argc, char **argv) {
    char out[256], errp[256];
    snprintf(out, sizeof out, "%s/out", tmpdir);
    snprintf(errp, sizeof errp, "%s/err", tmpdir);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert(so >= 0 && se >= 0 && fo >= 0 && fe >= 0);
    dup2(fo, 1);
    dup2(fe, 2);
    int rc = tg_cmd_score(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so); close(se); close(fo); close(fe);
    return rc;
}

static char *read_tmp(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    char *s = slurp(path, NULL);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* Runs tg_cmd_score(argv) (NULL-terminated), expects exit code rc and needle in stream ("out" or
 * "err"). */
static void expect_score(char **argv, int rc, const char *stream, const char *needle) {
    int argc = 0;
    while (argv[argc]) argc++;
    ck_assert_int_eq(run_score(argc, argv), rc);
    char *msg = read_tmp(stream);
    ck_assert_msg(strstr(msg, needle) != NULL, "expected '%s' in: %s", needle, msg);
    free(msg);
}

/* tmpdir/name into buf (256 bytes). */
static char *tmp_path(char *buf, const char *name) {
    snprintf(buf, 256, "%s/%s", tmpdir, name);
    return buf;
}

START_TEST(test_cli_json) {
    make_tmpdir();
    char *argv[] = {"score", "--ref", FIXTURES "/edge_cases/ref.txt", "--hyp",
                    FIXTURES "/edge_cases/hyp.txt", "--json", NULL};
    ck_assert_int_eq(run_score(6, argv), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/out", tmpdir);
    jval got, exp;
    jload(path, &got);
    jload(FIXTURES "/edge_cases/expected.json", &exp);
    const jval *gb = jget(&got, "bleu"), *eb = jget(&exp, "bleu_13a");
    ck_assert_ptr_nonnull(gb);
    ck_assert_ptr_nonnull(eb);
    ck_assert_double_eq_tol(jget(gb, "score")->num, jget(eb, "score")->num, 1e-6);
    ck_assert_double_eq_tol(jget(gb, "bp")->num, jget(eb, "bp")->num, 1e-9);
    ck_assert_double_eq(jget(gb, "sys_len")->num, jget(eb, "sys_len")->num);
    ck_assert_double_eq(jget(gb, "ref_len")->num, jget(eb, "ref_len")->num);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_double_eq(jget(gb, "counts")->items[i].num, jget(eb, "counts")->items[i].num);
        ck_assert_double_eq(jget(gb, "totals")->items[i].num, jget(eb, "totals")->items[i].num);
    }
    ck_assert_str_eq(jget(gb, "signature")->str, jget(eb, "signature")->str);
    const char *keys[] = {"chrf", "chrf_pp"};
    for (int i = 0; i < 2; i++) {
        const jval *g = jget(&got, keys[i]), *e = jget(&exp, keys[i]);
        ck_assert_ptr_nonnull(g);
        ck_assert_double_eq_tol(jget(g, "score")->num, jget(e, "score")->num, 1e-6);
        ck_assert_str_eq(jget(g, "signature")->str, jget(e, "signature")->str);
    }
    jfree(&got);
    jfree(&exp);

    /* --tokenize intl and --lowercase reach BLEU and its signature. */
    char *argv2[] = {"score", "--ref", FIXTURES "/edge_cases/ref.txt", "--hyp",
                     FIXTURES "/edge_cases/hyp.txt", "--tokenize", "intl", "--lowercase", NULL};
    ck_assert_int_eq(run_score(8, argv2), 0);
    char *text = read_tmp("out");
    const char *want[] = {
        "BLEU|nrefs:1|case:lc|eff:no|tok:intl|smooth:exp|version:2.6.0 = ",
        "\nchrF2|nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0 = 65.71\n",
        "\nchrF2++|nrefs:1|case:mixed|eff:yes|nc:6|nw:2|space:no|version:2.6.0 = 62.99\n",
    };
    ck_assert_msg(strstr(text, want[0]) == text, "text output: %s", text);
    ck_assert_msg(strstr(text, want[1]) && strstr(text, want[2]), "text output: %s", text);
    free(text);
    remove_tmpdir();
}
END_TEST

/* score reads its files with the one line reader (tg_lines_read): a file saved with "\r\n" scores
 * as the same file with "\n", and a NUL byte is refused naming the file and line. */
START_TEST(test_cli_crlf_and_nul) {
    make_tmpdir();
    char ref[256], lf[256], crlf[256], nul[256];
    write_file("ref.txt", "the cat sat on the mat\nit was a dog\n");
    write_file("lf.txt", "the cat sat on a mat\nit is a dog\n");
    write_file("crlf.txt", "the cat sat on a mat\r\nit is a dog\r\n");
    FILE *f = fopen(tmp_path(nul, "nul.txt"), "wb");
    ck_assert_ptr_nonnull(f);
    fwrite("the cat\nit \0 a dog\n", 1, 19, f);
    fclose(f);
    char *a[] = {"score", "--ref", tmp_path(ref, "ref.txt"), "--hyp", tmp_path(lf, "lf.txt"), NULL};
    ck_assert_int_eq(run_score(5, a), 0);
    char *want = read_tmp("out");
    a[4] = tmp_path(crlf, "crlf.txt");
    ck_assert_int_eq(run_score(5, a), 0);
    char *got = read_tmp("out");
    ck_assert_str_eq(got, want);
    free(got);
    free(want);
    a[4] = nul;
    expect_score(a, 1, "err", "nul.txt:2: NUL byte at byte offset 3 of the line");
    remove_tmpdir();
}
END_TEST

START_TEST(test_cli_errors) {
    make_tmpdir();
    char ref[256], hyp[256], bad[256];
    snprintf(ref, sizeof ref, "%s/ref.txt", tmpdir);
    snprintf(hyp, sizeof hyp, "%s/hyp.txt", tmpdir);
    snprintf(bad, sizeof bad, "%s/bad.txt", tmpdir);
    write_file("ref.txt", "one\ntwo\nthree\n");
    write_file("hyp.txt", "one\ntwo");   /* last line unterminated: still 2 lines */
    write_file("bad.txt", "one\ntw\xc3o\nthree\n");

    /* Different line counts: an error naming both files and their counts. */
    char *a1[] = {"score", "--ref", ref, "--hyp", hyp, NULL};
    ck_assert_int_eq(run_score(5, a1), 1);
    char *msg = read_tmp("err");
    ck_assert_msg(strstr(msg, ref) && strstr(msg, hyp) && strstr(msg, " 3 ") && strstr(msg, " 2"),
                  "message: %s", msg);
    free(msg);

    /* A missing file exits 1 and names it. */
    char missing[256];
    snprintf(missing, sizeof missing, "%s/nope.txt", tmpdir);
    char *a2[] = {"score", "--ref", missing, "--hyp", hyp, NULL};
    ck_assert_int_eq(run_score(5, a2), 1);
    msg = read_tmp("err");
    ck_assert_msg(strstr(msg, missing) != NULL, "message: %s", msg);
    free(msg);

    /* Invalid UTF-8: file and line named. */
    char *a3[] = {"score", "--ref", ref, "--hyp", bad, NULL};
    ck_assert_int_eq(run_score(5, a3), 1);
    msg = read_tmp("err");
    ck_assert_msg(strstr(msg, "bad.txt:2:") != NULL, "message: %s", msg);
    free(msg);

    /* Usage errors exit 2; --help exits 0 and prints the usage on stdout. */
    char *a4[] = {"score", "--ref", ref, "--hyp", hyp, "--bogus", NULL};
    ck_assert_int_eq(run_score(6, a4), 2);
    char *a5[] = {"score", "--ref", ref, NULL};
    ck_assert_int_eq(run_score(3, a5), 2);
    char *a6[] = {"score", "--ref", ref, "--hyp", ref, "--tokenize", "zh", NULL};
    ck_assert_int_eq(run_score(7, a6), 2);
    char *a7[] = {"score", "--help", NULL};
    ck_assert_int_eq(run_score(2, a7), 0);
    msg = read_tmp("out");
    ck_assert_msg(strstr(msg, "usage: tapegrad score") != NULL, "help: %s", msg);
    free(msg);

    /* Empty files: zero segments score 0 without error. */
    write_file("empty1.txt", "");
    write_file("empty2.txt", "");
    char e1[256], e2[256];
    char *a8[] = {"score", "--ref", tmp_path(e1, "empty1.txt"), "--hyp",
                  tmp_path(e2, "empty2.txt"), "--json", NULL};
    expect_score(a8, 0, "out", "\"segments\": 0");
    remove_tmpdir();
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* `tapegrad score --paired-bs` against tests/fixtures/paired_bs/expected.tsv, which
 * tests/gen_paired_bs_fixture.py wrote by following sacreBLEU 2.6's paired_bs with numpy. */

#define BS_FIXTURE "tests/fixtures/paired_bs/expected.tsv"
#define BS_REF FIXTURES "/de_drop10/ref.txt"
#define BS_MAX 8

typedef struct bs_row {
    char name[64], file[256];
    double score, mean, ci, sd, diff_score, diff_mean, diff_ci, diff_sd, p, p_sacrebleu;
} bs_row;

/* The fixture's rows (the baseline first); returns how many. */
static int bs_fixture(bs_row *rows) {
    lines l;
    lines_load(BS_FIXTURE, &l);
    int n = 0;
    for (size_t i = 0; i < l.n; i++) {
        bs_row *r = &rows[n];
        if (l.line[i][0] == '#' || !strncmp(l.line[i], "name\t", 5) || !l.line[i][0]) continue;
        ck_assert_int_lt(n, BS_MAX);
        int got = sscanf(l.line[i],
                         "%63[^\t]\t%255[^\t]\t%lf\t%lf\t%lf\t%lf\t%lf\t%lf\t%lf\t%lf\t%lf\t%lf",
                         r->name, r->file, &r->score, &r->mean, &r->ci, &r->sd, &r->diff_score,
                         &r->diff_mean, &r->diff_ci, &r->diff_sd, &r->p, &r->p_sacrebleu);
        ck_assert_msg(got == 12, "%s line %zu: %d fields", BS_FIXTURE, i + 1, got);
        n++;
    }
    lines_free(&l);
    ck_assert_int_ge(n, 4);
    return n;
}

/* Monte Carlo tolerances for two independent bootstraps of N resamples each (the fixture's,
 * drawn by numpy's PCG64, and ours, drawn by xoshiro256**), at four standard errors of their
 * difference, sd being the spread of the resampled values:
 * - a mean: each has standard error sd / sqrt(N), so 4 sqrt(2) sd / sqrt(N) (0.18 sd at 1000);
 * - a CI half-width (2.5% and 97.5% order statistics): for a normal spread each quantile has
 *   standard error sqrt(0.025 * 0.975 / N) / phi(1.96) sd = 0.0845 sd at N = 1000, the
 *   half-width sqrt(2) / 2 of that, the difference of two sqrt(2) more: 4 * 0.0845 sd
 *   (0.34 sd, 0.17 of the interval itself);
 * - a p-value: a proportion, standard error sqrt(p (1 - p) / N) each, so
 *   4 sqrt(2 p (1 - p) / N), plus 2 / (N + 1) for the +1 correction's granularity (so that
 *   p = 1/(N+1) against 2/(N+1) still agrees). */
static double tol_mean(double sd, int n) { return 4.0 * sqrt(2.0) * sd / sqrt(n) + 1e-9; }
static double tol_ci(double sd, int n) {
    return 4.0 * sqrt(0.025 * 0.975 / n) / 0.05844 * sd + 1e-9;
}
static double tol_p(double p, int n) { return 4.0 * sqrt(2.0 * p * (1.0 - p) / n) + 2.0 / (n + 1); }

static void check_estimate(const char *what, const jval *got, double score, double mean, double ci,
                           double sd, int n) {
    ck_assert_ptr_nonnull(got);
    /* The full-set score is no estimate: both sides compute it from the same integer counts. */
    ck_assert_msg(fabs(jget(got, "score")->num - score) < 1e-9, "%s score %.12g, want %.12g",
                  what, jget(got, "score")->num, score);
    double m = jget(got, "mean")->num, c = jget(got, "ci")->num;
    ck_assert_msg(fabs(m - mean) <= tol_mean(sd, n), "%s mean %.4f, fixture %.4f (tolerance %.4f)",
                  what, m, mean, tol_mean(sd, n));
    ck_assert_msg(fabs(c - ci) <= tol_ci(sd, n), "%s ci %.4f, fixture %.4f (tolerance %.4f)", what,
                  c, ci, tol_ci(sd, n));
}

START_TEST(test_paired_bs_fixture) {
    bs_row rows[BS_MAX];
    int n_rows = bs_fixture(rows);
    make_tmpdir();
    char *argv[8 + BS_MAX] = {"score", "--ref", BS_REF, "--hyp", rows[0].file, "--json"};
    int argc = 6;
    argv[argc++] = "--paired-bs";
    for (int s = 1; s < n_rows; s++) argv[argc++] = rows[s].file;
    argv[argc] = NULL;
    ck_assert_int_eq(run_score(argc, argv), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/out", tmpdir);
    jval got;
    jload(path, &got);   /* fails the test unless the output is well-formed JSON */
    const jval *sys = jget(&got, "systems");
    ck_assert_ptr_nonnull(sys);
    ck_assert_int_eq((int)sys->n, n_rows);
    ck_assert_int_eq((int)jget(&got, "paired_bs_n")->num, 1000);
    ck_assert_int_eq((int)jget(&got, "paired_bs_seed")->num, 12345);
    ck_assert_str_eq(jget(&got, "signature")->str, "nrefs:1|bs:1000|seed:12345|case:mixed|eff:no|"
                                                   "tok:13a|smooth:exp|version:2.6.0");
    for (int s = 0; s < n_rows; s++) {
        const bs_row *r = &rows[s];
        const jval *g = &sys->items[s];
        ck_assert_str_eq(jget(g, "name")->str, r->file);
        char what[96];
        snprintf(what, sizeof what, "%.63s bleu", r->name);
        check_estimate(what, jget(g, "bleu"), r->score, r->mean, r->ci, r->sd, 1000);
        snprintf(what, sizeof what, "%.63s diff", r->name);
        check_estimate(what, jget(g, "diff"), r->diff_score, r->diff_mean, r->diff_ci, r->diff_sd,
                       1000);
        const jval *p = jget(g, "p_value");
        ck_assert_ptr_nonnull(p);
        if (s == 0) {
            ck_assert_int_eq(p->type, J_NULL);
            continue;
        }
        ck_assert_msg(fabs(p->num - r->p) <= tol_p(r->p, 1000), "%s p %.4f, fixture %.4f", r->name,
                      p->num, r->p);
        if (!strcmp(r->name, "identical")) {
            /* The baseline against itself: no difference on any resample, nothing significant. */
            ck_assert_msg(p->num >= 0.9, "identical system: p = %g", p->num);
            const jval *d = jget(g, "diff");
            ck_assert(jget(d, "score")->num == 0.0 && jget(d, "mean")->num == 0.0 &&
                      jget(d, "ci")->num == 0.0);
        }
    }
    jfree(&got);
    remove_tmpdir();
}
END_TEST

/* Runs `score --paired-bs` with the baseline, the clearly better system and the baseline again,
 * 200 resamples from seed; returns the text output (the caller frees). A fresh argv each time:
 * getopt reorders the one it is given. */
static char *paired_text(const bs_row *rows, const char *seed) {
    char *argv[] = {"score", "--ref", BS_REF, "--hyp", (char *)rows[0].file, "--paired-bs",
                    (char *)rows[1].file, (char *)rows[0].file, "--paired-bs-n", "200",
                    "--paired-bs-seed", (char *)seed, NULL};
    ck_assert_int_eq(run_score(12, argv), 0);
    return read_tmp("out");
}

START_TEST(test_paired_bs_text) {
    bs_row rows[BS_MAX];
    bs_fixture(rows);
    make_tmpdir();
    /* sacreBLEU's table and signature. */
    char *out = paired_text(rows, "7");
    char want[512];
    snprintf(want, sizeof want, "│ Baseline: %s │  40.5 (", rows[0].file);
    const char *must[] = {
        "╒", "│  BLEU (μ ± 95% CI)  │\n╞", want, "│    (p = 0.0050)*    │\n",
        "│    (p = 1.0000)     │\n╘",
        "\nBLEU|nrefs:1|bs:200|seed:7|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0\n",
    };
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        ck_assert_msg(strstr(out, must[i]) != NULL, "missing '%s' in:\n%s", must[i], out);

    /* The same seed gives the same output; another seed other resamples. */
    char *again = paired_text(rows, "7"), *other = paired_text(rows, "8");
    ck_assert_str_eq(out, again);
    ck_assert_str_ne(out, other);
    free(out), free(again), free(other);
    remove_tmpdir();
}
END_TEST

START_TEST(test_paired_bs_errors) {
    make_tmpdir();
    char ref[256], hyp[256], shortf[256], bad[256], empty[256];
    tmp_path(ref, "ref.txt"), tmp_path(hyp, "hyp.txt"), tmp_path(shortf, "short.txt");
    tmp_path(bad, "bad.txt"), tmp_path(empty, "empty.txt");
    write_file("ref.txt", "one two\nthree four\nfive\n");
    write_file("hyp.txt", "one two\nthree\nfive\n");
    write_file("short.txt", "one two\nthree four\n");
    write_file("bad.txt", "one two\nthr\xff" "ee\nfive\n");
    write_file("empty.txt", "");

    /* A system with another line count: exit 1, both files and counts named. */
    char want[600];
    snprintf(want, sizeof want, "%s has 3 lines but %s has 2:", ref, shortf);
    char *a1[] = {"score", "--ref", ref, "--hyp", hyp, "--paired-bs", hyp, shortf, NULL};
    expect_score(a1, 1, "err", want);
    /* Invalid UTF-8 in a system: file and line. */
    char *a2[] = {"score", "--ref", ref, "--hyp", hyp, "--paired-bs", bad, NULL};
    expect_score(a2, 1, "err", "bad.txt:2:");
    /* Nothing to resample is a failure with a reason, not a crash. */
    char *a3[] = {"score", "--ref", empty, "--hyp", empty, "--paired-bs", empty, NULL};
    expect_score(a3, 1, "err", "no segments");
    /* Bad counts and seeds, and a stray word without --paired-bs, are usage errors. */
    const char *bad_n[] = {"0", "-3", "abc", "1e3", "20000000"};
    for (size_t i = 0; i < sizeof bad_n / sizeof bad_n[0]; i++) {
        char *a[] = {"score", "--ref", ref, "--hyp", hyp, "--paired-bs", hyp, "--paired-bs-n",
                     (char *)bad_n[i], NULL};
        expect_score(a, 2, "err", "--paired-bs-n");
    }
    char *a4[] = {"score", "--ref", ref, "--hyp", hyp, "--paired-bs", hyp, "--paired-bs-seed",
                  "-1", NULL};
    expect_score(a4, 2, "err", "--paired-bs-seed '-1'");
    char *a5[] = {"score", "--ref", ref, "--hyp", hyp, hyp, NULL};
    expect_score(a5, 2, "err", "unexpected argument");
    /* Flags that would do nothing are refused: resampling without --paired-bs, a value for a
     * smoothing that takes none. */
    char *a7[] = {"score", "--ref", ref, "--hyp", hyp, "--paired-bs-n", "10", NULL};
    expect_score(a7, 2, "err", "--paired-bs-n goes with --paired-bs");
    char *a8[] = {"score", "--ref", ref, "--hyp", hyp, "--smooth-value", "0.2", NULL};
    expect_score(a8, 2, "err", "--smooth-value 0.2: only --smooth floor and add-k take a value");
    /* decimal only, as the other number flags (before: strtod took hex, 0x1p-3) */
    char *a10[] = {"score", "--ref", ref, "--hyp", hyp, "--smooth", "floor", "--smooth-value", "0x1p-3", NULL};
    expect_score(a10, 2, "err", "--smooth-value '0x1p-3': expected a number from 0 to 1e9");
    char *a9[] = {"score", "--ref", ref, "--hyp", hyp, "--smooth", "floor", "--smooth-value", "0.2", NULL};
    expect_score(a9, 0, "out", "BLEU");
    char *a6[] = {"score", "--help", NULL};
    expect_score(a6, 0, "out", "--paired-bs-seed S");
    remove_tmpdir();
}
END_TEST

/* The library call: argument checks, and a case small enough to know the answer. */
START_TEST(test_paired_bs_library) {
    tg_bleu_opts bo = tg_bleu_opts_default();
    tg_err err;
    /* One segment of 5 tokens: a perfect hypothesis (BLEU 100) and a partial one. */
    tg_bleu_stats a[1] = {{{5, 4, 3, 2}, {5, 4, 3, 2}, 5, 5}};
    tg_bleu_stats b[1] = {{{4, 2, 1, 1}, {5, 4, 3, 2}, 5, 5}};
    const tg_bleu_stats *seg[2] = {a, b};
    tg_paired_bs_system out[2];
    ck_assert_int_eq(tg_paired_bs(seg, 2, 0, 10, 1, &bo, out, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_paired_bs(seg, 2, 1, 0, 1, &bo, out, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_paired_bs(seg, 0, 1, 10, 1, &bo, out, &err), TG_ERR_ARG);
    /* One segment: every resample is the full set, so mean = score, ci = 0, and the centred
     * differences are all 0 < |observed|: p = 1 / (N + 1). */
    ck_assert_int_eq(tg_paired_bs(seg, 2, 1, 99, 1, &bo, out, &err), TG_OK);
    tg_bleu_result ra, rb;
    tg_bleu_stats_score(a, &bo, &ra, NULL);
    tg_bleu_stats_score(b, &bo, &rb, NULL);
    ck_assert_double_eq(out[0].bleu.score, ra.score);
    ck_assert_double_eq_tol(out[0].bleu.mean, ra.score, 1e-12);
    ck_assert_double_eq(out[0].bleu.ci, 0.0);
    ck_assert_double_eq(out[0].p_value, 1.0);
    ck_assert_double_eq(out[1].bleu.score, rb.score);
    ck_assert_double_eq_tol(out[1].diff.mean, rb.score - ra.score, 1e-12);
    ck_assert_double_eq_tol(out[1].p_value, 1.0 / 100.0, 1e-15);
}
END_TEST

/* The definitions, exactly: the test redraws tg_paired_bs's resamples (tg_data_rng, stream 0,
 * one index per segment, resample by resample) and recomputes mean, the (N/40)-th order
 * statistics and the tie-counting p-value by hand. The fixture test checks sacreBLEU's method
 * only to Monte Carlo precision; this pins each definition (an off-by-one order statistic or a
 * strict count would fail here). */
static double stats_bleu(const tg_bleu_stats *acc) {
    tg_bleu_opts bo = tg_bleu_opts_default();
    tg_bleu_result r;
    ck_assert_int_eq(tg_bleu_stats_score(acc, &bo, &r, NULL), TG_OK);
    return r.score;
}

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

START_TEST(test_paired_bs_definitions) {
    enum { NSEG = 7, NB = 80, NSYS = 3 };
    tg_bleu_opts bo = tg_bleu_opts_default();
    /* Baseline, a system better on some segments, and the baseline again. */
    tg_bleu_stats seg[NSYS][NSEG];
    for (int i = 0; i < NSEG; i++) {
        int64_t len = 6 + i, m = 3 + i % 3;
        seg[0][i] = (tg_bleu_stats){{m, m - 1, m - 2, m - 3 > 0 ? m - 3 : 0},
                                    {len, len - 1, len - 2, len - 3}, len, len + 1};
        seg[1][i] = seg[0][i];
        if (i % 2) seg[1][i].counts[0] += 2, seg[1][i].counts[1] += 1, seg[1][i].counts[3] += 1;
        seg[2][i] = seg[0][i];
    }
    const tg_bleu_stats *ptr[NSYS] = {seg[0], seg[1], seg[2]};
    tg_paired_bs_system out[NSYS];
    tg_err err;
    ck_assert_int_eq(tg_paired_bs(ptr, NSYS, NSEG, NB, 99, &bo, out, &err), TG_OK);

    double sc[NSYS][NB], full[NSYS];
    tg_data_rng rng;
    tg_data_rng_seed(&rng, 99, 0);
    for (int b = 0; b < NB; b++) {
        size_t idx[NSEG];
        for (int i = 0; i < NSEG; i++) idx[i] = (size_t)tg_data_rng_below(&rng, NSEG);
        for (int s = 0; s < NSYS; s++) {
            tg_bleu_stats acc = {0};
            for (int i = 0; i < NSEG; i++) tg_bleu_stats_sum(&acc, &seg[s][idx[i]]);
            sc[s][b] = stats_bleu(&acc);
        }
    }
    for (int s = 0; s < NSYS; s++) {
        tg_bleu_stats acc = {0};
        for (int i = 0; i < NSEG; i++) tg_bleu_stats_sum(&acc, &seg[s][i]);
        full[s] = stats_bleu(&acc);
    }
    for (int s = 0; s < NSYS; s++) {
        double v[NB], d[NB], sum = 0, dsum = 0, absmean = 0;
        for (int b = 0; b < NB; b++) {
            v[b] = sc[s][b], d[b] = sc[s][b] - sc[0][b];
            sum += v[b], dsum += d[b], absmean += fabs(d[b]);
        }
        absmean /= NB;
        int count = 0;
        for (int b = 0; b < NB; b++) count += fabs(d[b]) - absmean >= fabs(full[s] - full[0]);
        qsort(v, NB, sizeof *v, cmp_dbl);
        qsort(d, NB, sizeof *d, cmp_dbl);
        /* N = 80: the 2nd smallest and 2nd largest (indices 2 and 77). */
        ck_assert_double_eq(out[s].bleu.score, full[s]);
        ck_assert_double_eq_tol(out[s].bleu.mean, sum / NB, 1e-12);
        ck_assert_double_eq_tol(out[s].bleu.ci, 0.5 * (v[77] - v[2]), 1e-12);
        ck_assert_double_eq_tol(out[s].diff.mean, dsum / NB, 1e-12);
        ck_assert_double_eq_tol(out[s].diff.ci, 0.5 * (d[77] - d[2]), 1e-12);
        if (s) ck_assert_double_eq_tol(out[s].p_value, (count + 1.0) / (NB + 1.0), 1e-15);
    }
    ck_assert(out[1].bleu.score > out[0].bleu.score && out[1].bleu.ci > 0);
    ck_assert_double_eq(out[2].p_value, 1.0);   /* every resample ties with the observed 0 */
}
END_TEST

/* tg_median, shared by bench and vocab bench: the middle value, the mean of the middle two for an
 * even count (vocab bench printed the upper one before), the input left as it was; NaN for none.
 * tg_sort_doubles sorts in place and takes an empty array. */
START_TEST(test_order_stats) {
    const double odd[] = {3.0, -1.0, 2.0, 8.0, 0.5}, even[] = {4.0, 1.0, 9.0, 2.0};
    ck_assert_double_eq(tg_median(odd, 5), 2.0);
    ck_assert_double_eq(tg_median(even, 4), 3.0);
    ck_assert_double_eq(tg_median(even, 1), 4.0);
    ck_assert_double_eq(tg_median(even, 2), 2.5);
    ck_assert(isnan(tg_median(even, 0)));
    ck_assert_double_eq(even[0], 4.0);
    ck_assert_double_eq(even[3], 2.0);
    double v[] = {0.25, -3.0, 7.5, 0.25, -0.0, 1e300};
    tg_sort_doubles(v, 6);
    for (int i = 1; i < 6; i++) ck_assert(v[i - 1] <= v[i]);
    ck_assert_double_eq(v[0], -3.0);
    ck_assert_double_eq(v[5], 1e300);
    tg_sort_doubles(NULL, 0);
}
END_TEST

static Suite *score_suite(void) {
    Suite *s = suite_create("score");
    TCase *tc = tcase_create("sacrebleu_fixtures");
    tcase_add_test(tc, test_fixtures_found);
    tcase_add_loop_test(tc, test_fixture_case, 0, n_cases);
    suite_add_tcase(s, tc);
    tc = tcase_create("text");
    tcase_add_test(tc, test_tokenize_13a);
    tcase_add_test(tc, test_tokenize_intl);
    tcase_add_test(tc, test_lowercase);
    tcase_add_test(tc, test_utf8);
    tcase_add_test(tc, test_whitespace_sets);
    suite_add_tcase(s, tc);
    tc = tcase_create("scoring");
    tcase_add_test(tc, test_bleu_smoothing);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_chrf_pp_words);
    tcase_add_test(tc, test_ngram_match_counts);
    tcase_add_test(tc, test_ngram_keys);
    suite_add_tcase(s, tc);
    tc = tcase_create("cli");
    tcase_add_test(tc, test_cli_json);
    tcase_add_test(tc, test_cli_errors);
    tcase_add_test(tc, test_cli_crlf_and_nul);
    suite_add_tcase(s, tc);
    tc = tcase_create("paired_bs");
    tcase_add_test(tc, test_paired_bs_fixture);
    tcase_add_test(tc, test_paired_bs_text);
    tcase_add_test(tc, test_paired_bs_errors);
    tcase_add_test(tc, test_paired_bs_library);
    tcase_add_test(tc, test_paired_bs_definitions);
    suite_add_tcase(s, tc);
    tc = tcase_create("order_stats");
    tcase_add_test(tc, test_order_stats);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    discover_cases();
    int failed = tg_check_run(score_suite());
    for (int i = 0; i < n_cases; i++) free(case_names[i]);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
