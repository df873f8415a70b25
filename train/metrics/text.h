/* text.h (private to train/): text as arrays of Unicode code points, and the parts of Python's
 * str behaviour that sacreBLEU's metrics depend on (split, rstrip, lower), the 13a and intl
 * tokenizers, and clipped n-gram matching. Used by bleu.c, chrf.c and cmd_score.c.
 *
 *   tg_cps cps = {0};
 *   size_t bad;
 *   if (tg_utf8_decode(line, strlen(line), &cps, &bad) == TG_OK) { ... cps.p[0 .. cps.len) ... }
 *   tg_cps_free(&cps);
 */
#ifndef TG_TEXT_H
#define TG_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/status.h"

/* A growable code point string. Zero-initialise; free with tg_cps_free. */
typedef struct tg_cps {
    uint32_t *p;
    size_t len, cap;
} tg_cps;

tg_status tg_cps_reserve(tg_cps *b, size_t cap);
void tg_cps_free(tg_cps *b);

/* Strict UTF-8 as Python's codec reads it (datasets' tg_utf8_next: no overlong forms, no
 * surrogates, nothing past U+10FFFF). Replaces the contents of out. On bad input returns
 * TG_ERR_FORMAT and sets *bad_at to the byte offset of the first byte that does not decode.
 * To check without decoding, tg_utf8_valid. */
tg_status tg_utf8_decode(const char *s, size_t n, tg_cps *out, size_t *bad_at);

/* Python's str.isspace(), which is what str.split() and str.rstrip() use, so the metrics split
 * words as sacreBLEU does. Not the set BPE and the corpus readers use (datasets'
 * tg_utf8_space_len, Unicode White_Space): Python also counts U+001C..U+001F (the
 * information separators) as space; test_score's whitespace_sets pins the difference. */
bool tg_uni_is_space(uint32_t c);
bool tg_uni_is_punct(uint32_t c);   /* general category P* */
bool tg_uni_is_symbol(uint32_t c);  /* general category S* */
bool tg_uni_is_number(uint32_t c);  /* general category N* */

/* Python's str.lower() of s[0..n), Final_Sigma rule included. Replaces the contents of out. */
tg_status tg_text_lower(const uint32_t *s, size_t n, tg_cps *out);
/* Length of s[0..n) once trailing whitespace is dropped (str.rstrip()). */
size_t tg_text_rstrip_len(const uint32_t *s, size_t n);

/* A slice of a code point string: a word or a single character. */
typedef struct tg_unit {
    const uint32_t *p;
    size_t len;
} tg_unit;

typedef struct tg_units {
    tg_unit *u;
    size_t len, cap;
} tg_units;

tg_status tg_units_push(tg_units *v, const uint32_t *p, size_t len);
void tg_units_free(tg_units *v);

/* The words of s[0..n) as str.split() finds them: maximal runs of non-whitespace. The units
 * point into s. Replaces the contents of out. */
tg_status tg_text_split(const uint32_t *s, size_t n, tg_units *out);

/* sacreBLEU's tokenizers. Each replaces the contents of out (tmp is scratch space); the result's
 * words are found with tg_text_split. */
tg_status tg_tok_13a(const uint32_t *s, size_t n, tg_cps *out, tg_cps *tmp);
tg_status tg_tok_intl(const uint32_t *s, size_t n, tg_cps *out, tg_cps *tmp);

typedef struct tg_ngram {   /* of the order being counted: units u[0 .. n) */
    uint64_t key;       /* a hash of its units: compared first, the units only when keys tie */
    const tg_unit *u;   /* first unit */
} tg_ngram;

/* Scratch space for tg_ngram_match_orders, reused across calls. Zero-initialise. */
typedef struct tg_ngram_work {
    tg_ngram *hyp, *ref, *tmp;   /* after a call, hyp and ref: the highest order sorted */
    uint64_t *hk_hyp, *hk_ref;   /* a side's unit hashes, then its n-grams' running keys */
    size_t cap_hyp, cap_ref, cap_tmp, cap_hk_hyp, cap_hk_ref;
    int key_bits;       /* 0: 64-bit keys; 1-63 keeps that many (tests, to make keys collide) */
} tg_ngram_work;

void tg_ngram_work_free(tg_ngram_work *w);

/* Clipped matches of each order n = 1 .. max_n into match[n - 1]: the sum over distinct order-n
 * n-grams g of min(count of g in hyp, count of g in ref). Units compare by their code points.
 * Each side's units are hashed once for all the orders. max_n 0 counts nothing. */
tg_status tg_ngram_match_orders(const tg_unit *hyp, size_t n_hyp, const tg_unit *ref,
                                size_t n_ref, size_t max_n, tg_ngram_work *w, int64_t *match);

#endif /* TG_TEXT_H */
