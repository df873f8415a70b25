/* internal.h: helpers shared by the datasets sources (not part of the public API): growable
 * buffers, hashing, a string table (bytes -> dense index) and a uint64 -> int64 map. */
#ifndef TG_DATASETS_INTERNAL_H
#define TG_DATASETS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datasets/datasets.h"

/* Grows *p (elements of size elem) so that it holds at least need; returns false when out of
 * memory (leaving *p and *cap as they were). */
bool tg_ds_grow(void **p, size_t *cap, size_t need, size_t elem);

bool tg_ds_ids_push(tg_ids *ids, int32_t v);
bool tg_ds_str_append(tg_str *t, const char *s, size_t n); /* keeps t NUL-terminated */

/* The next line of buf[0 .. len) from *pos: it starts at the old *pos and is *n bytes long
 * without its "\n" or "\r\n" (a file saved by a Windows editor reads the same); *pos moves past
 * it. Returns 0 at the end of buf, 1 for a line ended by '\n', 2 for a last line without one. */
int tg_ds_line_next(const char *buf, size_t len, size_t *pos, size_t *n);

/* 64-bit FNV-1a, then a final mix so that the low bits are usable as a table index. */
uint64_t tg_ds_hash_bytes(const char *s, size_t n);
uint64_t tg_ds_hash_u64(uint64_t x);

/* Interns byte strings: each distinct string gets the next dense index 0, 1, 2... */
typedef struct tg_ds_strtab {
    char *pool;
    size_t pool_n, pool_cap;
    size_t *off;       /* (n) */
    uint32_t *len;     /* (n) */
    uint64_t *hash;    /* (n) */
    size_t n, cap;
    int32_t *slot;     /* (nslot) index or -1 */
    size_t nslot;
} tg_ds_strtab;

int64_t tg_ds_strtab_find(const tg_ds_strtab *t, const char *s, size_t n);
/* The index of s, adding it if new (*added says which); -1 when out of memory. s must not
 * point into t's own pool (which may move). */
int64_t tg_ds_strtab_intern(tg_ds_strtab *t, const char *s, size_t n, bool *added);
static inline const char *tg_ds_strtab_str(const tg_ds_strtab *t, size_t i) { return t->pool + t->off[i]; }
void tg_ds_strtab_free(tg_ds_strtab *t);

/* uint64 keys (never UINT64_MAX) to int64 values, open addressing. */
typedef struct tg_ds_u64map {
    uint64_t *key;
    int64_t *val;
    size_t n, cap;
} tg_ds_u64map;

/* Pointer to the value of key, or NULL. */
int64_t *tg_ds_u64map_get(const tg_ds_u64map *m, uint64_t key);
/* Sets key's value; false when out of memory. */
bool tg_ds_u64map_put(tg_ds_u64map *m, uint64_t key, int64_t val);
void tg_ds_u64map_free(tg_ds_u64map *m);

#endif
