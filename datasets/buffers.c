/* buffers.c: growable arrays, hashing, the string table and the integer map of internal.h. */
#include <stdlib.h>
#include <string.h>

#include "datasets/internal.h"

bool tg_ds_grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) return false;
        c *= 2;
    }
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

void tg_ids_free(tg_ids *ids) {
    free(ids->v);
    ids->v = NULL;
    ids->n = ids->cap = 0;
}

void tg_str_free(tg_str *t) {
    free(t->s);
    t->s = NULL;
    t->n = t->cap = 0;
}

bool tg_ds_ids_push(tg_ids *ids, int32_t v) {
    if (!tg_ds_grow((void **)&ids->v, &ids->cap, ids->n + 1, sizeof *ids->v)) return false;
    ids->v[ids->n++] = v;
    return true;
}

bool tg_ds_str_append(tg_str *t, const char *s, size_t n) {
    if (!tg_ds_grow((void **)&t->s, &t->cap, t->n + n + 1, 1)) return false;
    if (n) memcpy(t->s + t->n, s, n);
    t->n += n;
    t->s[t->n] = '\0';
    return true;
}

uint64_t tg_ds_hash_u64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
}

uint64_t tg_ds_hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001B3ull;
    }
    return tg_ds_hash_u64(h);
}

/* ---- string table ---- */

static bool strtab_rehash(tg_ds_strtab *t, size_t nslot) {
    int32_t *slot = malloc(nslot * sizeof *slot);
    if (!slot) return false;
    for (size_t i = 0; i < nslot; i++) slot[i] = -1;
    for (size_t i = 0; i < t->n; i++) {
        size_t j = (size_t)t->hash[i] & (nslot - 1);
        while (slot[j] >= 0) j = (j + 1) & (nslot - 1);
        slot[j] = (int32_t)i;
    }
    free(t->slot);
    t->slot = slot;
    t->nslot = nslot;
    return true;
}

static int64_t strtab_lookup(const tg_ds_strtab *t, const char *s, size_t n, uint64_t h, size_t *at) {
    size_t mask = t->nslot - 1, j = (size_t)h & mask;
    for (;;) {
        int32_t i = t->slot[j];
        if (i < 0) { *at = j; return -1; }
        if (t->hash[i] == h && t->len[i] == n && memcmp(t->pool + t->off[i], s, n) == 0) return i;
        j = (j + 1) & mask;
    }
}

int64_t tg_ds_strtab_find(const tg_ds_strtab *t, const char *s, size_t n) {
    if (!t->nslot) return -1;
    size_t at;
    return strtab_lookup(t, s, n, tg_ds_hash_bytes(s, n), &at);
}

int64_t tg_ds_strtab_intern(tg_ds_strtab *t, const char *s, size_t n, bool *added) {
    if (added) *added = false;
    if (n > UINT32_MAX || t->n >= INT32_MAX) return -1;
    if (!t->nslot && !strtab_rehash(t, 64)) return -1;
    uint64_t h = tg_ds_hash_bytes(s, n);
    size_t at;
    int64_t i = strtab_lookup(t, s, n, h, &at);
    if (i >= 0) return i;
    if (!tg_ds_grow((void **)&t->pool, &t->pool_cap, t->pool_n + n + 1, 1)) return -1;
    size_t cap = t->cap;
    if (!tg_ds_grow((void **)&t->off, &cap, t->n + 1, sizeof *t->off)) return -1;
    cap = t->cap;
    if (!tg_ds_grow((void **)&t->len, &cap, t->n + 1, sizeof *t->len)) return -1;
    cap = t->cap;
    if (!tg_ds_grow((void **)&t->hash, &cap, t->n + 1, sizeof *t->hash)) return -1;
    t->cap = cap;
    memcpy(t->pool + t->pool_n, s, n);
    t->pool[t->pool_n + n] = '\0';
    i = (int64_t)t->n++;
    t->off[i] = t->pool_n;
    t->len[i] = (uint32_t)n;
    t->hash[i] = h;
    t->pool_n += n + 1;
    t->slot[at] = (int32_t)i;
    if (t->n * 2 > t->nslot && !strtab_rehash(t, t->nslot * 2)) {
        t->n--; /* keep the table consistent: forget the entry we could not index */
        t->pool_n -= n + 1;
        t->slot[at] = -1;
        return -1;
    }
    if (added) *added = true;
    return i;
}

void tg_ds_strtab_free(tg_ds_strtab *t) {
    free(t->pool);
    free(t->off);
    free(t->len);
    free(t->hash);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

/* ---- uint64 map ---- */

#define EMPTY_KEY UINT64_MAX

static bool u64map_rehash(tg_ds_u64map *m, size_t cap) {
    uint64_t *key = malloc(cap * sizeof *key);
    int64_t *val = malloc(cap * sizeof *val);
    if (!key || !val) { free(key); free(val); return false; }
    for (size_t i = 0; i < cap; i++) key[i] = EMPTY_KEY;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->key[i] == EMPTY_KEY) continue;
        size_t j = (size_t)tg_ds_hash_u64(m->key[i]) & (cap - 1);
        while (key[j] != EMPTY_KEY) j = (j + 1) & (cap - 1);
        key[j] = m->key[i];
        val[j] = m->val[i];
    }
    free(m->key);
    free(m->val);
    m->key = key;
    m->val = val;
    m->cap = cap;
    return true;
}

int64_t *tg_ds_u64map_get(const tg_ds_u64map *m, uint64_t k) {
    if (!m->cap) return NULL;
    size_t mask = m->cap - 1, j = (size_t)tg_ds_hash_u64(k) & mask;
    for (;;) {
        if (m->key[j] == k) return &m->val[j];
        if (m->key[j] == EMPTY_KEY) return NULL;
        j = (j + 1) & mask;
    }
}

bool tg_ds_u64map_put(tg_ds_u64map *m, uint64_t k, int64_t v) {
    int64_t *p = tg_ds_u64map_get(m, k);
    if (p) { *p = v; return true; }
    if ((m->n + 1) * 2 > m->cap && !u64map_rehash(m, m->cap ? m->cap * 2 : 64)) return false;
    size_t mask = m->cap - 1, j = (size_t)tg_ds_hash_u64(k) & mask;
    while (m->key[j] != EMPTY_KEY) j = (j + 1) & mask;
    m->key[j] = k;
    m->val[j] = v;
    m->n++;
    return true;
}

void tg_ds_u64map_free(tg_ds_u64map *m) {
    free(m->key);
    free(m->val);
    memset(m, 0, sizeof *m);
}
