/* unicode_tables.h (private to train/): the generated Unicode tables in unicode_tables.c, which
 * scripts/gen_unicode_tables.py writes from Python's own Unicode database. Looked up through
 * train/metrics/text.h, not directly. */
#ifndef TG_UNICODE_TABLES_H
#define TG_UNICODE_TABLES_H

#include <stddef.h>
#include <stdint.h>

/* Sorted, disjoint closed ranges [lo, hi]. */
extern const uint32_t tg_uni_space[][2];
extern const size_t tg_uni_space_len;
extern const uint32_t tg_uni_punct[][2];
extern const size_t tg_uni_punct_len;
extern const uint32_t tg_uni_symbol[][2];
extern const size_t tg_uni_symbol_len;
extern const uint32_t tg_uni_number[][2];
extern const size_t tg_uni_number_len;
extern const uint32_t tg_uni_cased[][2];
extern const size_t tg_uni_cased_len;
extern const uint32_t tg_uni_case_ignorable[][2];
extern const size_t tg_uni_case_ignorable_len;

/* Every stride-th code point in [lo, hi] lowercases to itself + delta. Sorted by lo, disjoint. */
typedef struct tg_uni_lower_run {
    uint32_t lo, hi;
    int32_t delta;
    uint32_t stride;
} tg_uni_lower_run;
extern const tg_uni_lower_run tg_uni_lower_runs[];
extern const size_t tg_uni_lower_runs_len;

/* Code points whose lowercase is several code points (U+0130 -> i + combining dot). */
typedef struct tg_uni_lower_multi {
    uint32_t cp;
    uint32_t n;
    uint32_t out[3];
} tg_uni_lower_multi;
extern const tg_uni_lower_multi tg_uni_lower_multis[];
extern const size_t tg_uni_lower_multis_len;

#endif /* TG_UNICODE_TABLES_H */
