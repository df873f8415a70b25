/* bpe.h: the BPE vocabulary's inside, shared by vocab.c, bpe_learn.c and bpe_encode.c.
 *
 * A piece is kept as its bytes with an ASCII space standing for the word-start marker: words
 * never contain spaces, so the marker cannot be confused with text (a literal "▁" in the text is
 * just three bytes). Piece id = TG_BPE_FIRST_CHAR + its index in `pieces`. */
#ifndef TG_DATASETS_BPE_H
#define TG_DATASETS_BPE_H

#include "datasets/internal.h"

#define TG_BPE_FORMAT_NAME "tapegrad-bpe"
#define TG_BPE_FORMAT_VERSION 1
#define TG_BPE_MARKER ' '
/* Words longer than this (in bytes) are encoded but not cached, which bounds the cache. */
#define TG_BPE_CACHE_MAX_WORD 256
#define TG_BPE_CACHE_MAX_ENTRIES (1u << 20)

struct tg_bpe {
    int32_t n_chars, n_merges;
    tg_ds_strtab pieces;         /* chars first, then each new merge result */
    int32_t *merge_left, *merge_right, *merge_result; /* (n_merges) in rank order */
    size_t merge_cap;
    tg_ds_u64map merge_rank;     /* (left << 32 | right) -> rank */
    int32_t ascii_id[128];    /* id of each ASCII character, -1 if outside the alphabet */
    tg_ds_u64map char_id;        /* other characters: their bytes packed in a uint64 -> id */

    /* encode cache: word (without marker) -> its ids */
    tg_ds_strtab cache;
    size_t *cache_off;        /* (cache.n) start in cache_ids */
    size_t cache_off_cap;
    tg_ids cache_ids;
    /* encode scratch */
    int32_t *sym, *prev, *next;
    size_t sym_cap;
    uint64_t *heap;
    size_t heap_cap;
};

tg_bpe *tg_bpe_new_empty(void);
/* Adds a character (one UTF-8 character, or the marker) to the alphabet; its id, or -1 (out of
 * memory; or a duplicate, which *dup reports). Chars must all come before the first merge. */
int32_t tg_bpe_add_char(tg_bpe *b, const char *s, size_t n, bool *dup);
/* Adds merge (left, right) as the next rank; the id of its result (an existing piece if one has
 * the same bytes), or -1 when out of memory. */
int32_t tg_bpe_add_merge(tg_bpe *b, int32_t left, int32_t right);

static inline int32_t tg_bpe_id_of_piece(size_t index) { return (int32_t)(TG_BPE_FIRST_CHAR + index); }
static inline size_t tg_bpe_piece_len(const tg_bpe *b, int32_t id) {
    return b->pieces.len[id - TG_BPE_FIRST_CHAR];
}
static inline const char *tg_bpe_piece_bytes(const tg_bpe *b, int32_t id) {
    return tg_ds_strtab_str(&b->pieces, (size_t)(id - TG_BPE_FIRST_CHAR));
}
static inline uint64_t tg_bpe_pair_key(int32_t l, int32_t r) {
    return ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
}
/* The id of the character of n (1..4) bytes at s, or -1. */
int32_t tg_bpe_char_lookup(const tg_bpe *b, const char *s, size_t n);
/* A word's first symbols, as the learner and the encoder both start from: the word marker, then
 * each character of w[0 .. n) (or its bytes, when the character is not in the alphabet or w is
 * not UTF-8 there). out has room for n + 1 ids; returns how many were written. */
size_t tg_bpe_word_chars(const tg_bpe *b, const char *w, size_t n, int32_t *out);

/* Printed form of a piece's bytes (marker -> "▁", escapes), appended to out. */
bool tg_bpe_escape(const char *s, size_t n, tg_str *out);
/* Inverse of tg_bpe_escape, appended to out; false on a malformed escape. */
bool tg_bpe_unescape(const char *s, size_t n, tg_str *out, bool *oom);

#endif
