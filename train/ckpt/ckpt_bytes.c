/* ckpt_bytes.c: what goes inside a checkpoint section: the byte builder, the bounds-checked cursor
 * that reads it back, and the 64-bit fingerprint of parameter bytes. */
#include <stdlib.h>
#include <string.h>

#include "train/ckpt/ckpt_file.h"
#include "train/ckpt/ckpt_le.h"

/* ---- builder ------------------------------------------------------------------------------ */

void tg_ckpt_buf_init(tg_ckpt_buf *b) {
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

void tg_ckpt_buf_free(tg_ckpt_buf *b) {
    free(b->data);
    tg_ckpt_buf_init(b);
}

tg_status tg_ckpt_buf_status(const tg_ckpt_buf *b, tg_err *err) {
    if (b->failed) return tg_err_set(err, TG_ERR_NOMEM, "checkpoint payload: out of memory after %zu bytes", b->len);
    return TG_OK;
}

/* Room for n more bytes, or NULL (and the buffer marked failed). */
static unsigned char *buf_grow(tg_ckpt_buf *b, size_t n) {
    if (b->failed) return NULL;
    if (n > SIZE_MAX - b->len) { b->failed = true; return NULL; }
    size_t need = b->len + n;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) { b->failed = true; return NULL; }
        b->data = d;
        b->cap = cap;
    }
    unsigned char *at = b->data + b->len;
    b->len = need;
    return at;
}

void tg_ckpt_buf_bytes(tg_ckpt_buf *b, const void *p, size_t n) {
    if (n == 0) return;
    unsigned char *at = buf_grow(b, n);
    if (at) memcpy(at, p, n);
}

void tg_ckpt_buf_u8(tg_ckpt_buf *b, uint8_t v) {
    unsigned char *at = buf_grow(b, 1);
    if (at) *at = v;
}

void tg_ckpt_buf_u32(tg_ckpt_buf *b, uint32_t v) {
    unsigned char *at = buf_grow(b, 4);
    if (at) tg_le_put32(at, v);
}

void tg_ckpt_buf_u64(tg_ckpt_buf *b, uint64_t v) {
    unsigned char *at = buf_grow(b, 8);
    if (at) tg_le_put64(at, v);
}

void tg_ckpt_buf_i64(tg_ckpt_buf *b, int64_t v) { tg_ckpt_buf_u64(b, (uint64_t)v); }

void tg_ckpt_buf_f32(tg_ckpt_buf *b, float v) { tg_ckpt_buf_f32s(b, &v, 1); }

void tg_ckpt_buf_f64(tg_ckpt_buf *b, double v) { tg_ckpt_buf_f64s(b, &v, 1); }

void tg_ckpt_buf_f32s(tg_ckpt_buf *b, const float *v, size_t n) {
    if (n > SIZE_MAX / 4) { b->failed = true; return; }
    unsigned char *at = buf_grow(b, n * 4);
    if (!at) return;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        tg_le_put32(at + 4 * i, u);
    }
}

void tg_ckpt_buf_f64s(tg_ckpt_buf *b, const double *v, size_t n) {
    if (n > SIZE_MAX / 8) { b->failed = true; return; }
    unsigned char *at = buf_grow(b, n * 8);
    if (!at) return;
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &v[i], 8);
        tg_le_put64(at + 8 * i, u);
    }
}

void tg_ckpt_buf_str(tg_ckpt_buf *b, const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n > UINT32_MAX) { b->failed = true; return; }
    tg_ckpt_buf_u32(b, (uint32_t)n);
    tg_ckpt_buf_bytes(b, s, n);
}

/* ---- cursor ------------------------------------------------------------------------------- */

void tg_ckpt_cur_init(tg_ckpt_cur *c, const void *data, size_t len, const char *what) {
    c->p = data;
    c->len = data ? len : 0;
    c->pos = 0;
    c->what = what ? what : "payload";
    c->st = TG_OK;
    c->err.msg[0] = '\0';
}

size_t tg_ckpt_cur_left(const tg_ckpt_cur *c) { return c->len - c->pos; }

/* The next n bytes, or NULL after recording why (the first failure wins). */
static const unsigned char *cur_take(tg_ckpt_cur *c, size_t n, const char *type) {
    if (c->st != TG_OK) return NULL;
    if (n > c->len - c->pos) {
        c->st = tg_err_set(&c->err, TG_ERR_CORRUPT,
                           "%s: %s needs %zu bytes at offset %zu, only %zu left (payload is %zu bytes)",
                           c->what, type, n, c->pos, c->len - c->pos, c->len);
        return NULL;
    }
    const unsigned char *at = c->p + c->pos;
    c->pos += n;
    return at;
}

tg_status tg_ckpt_cur_bytes(tg_ckpt_cur *c, void *out, size_t n) {
    const unsigned char *at = cur_take(c, n, "byte string");
    if (at) { if (n) memcpy(out, at, n); }
    else if (n) memset(out, 0, n);
    return c->st;
}

tg_status tg_ckpt_cur_ref(tg_ckpt_cur *c, size_t n, const void **out) {
    const unsigned char *at = cur_take(c, n, "byte string");
    *out = at;
    return c->st;
}

tg_status tg_ckpt_cur_u8(tg_ckpt_cur *c, uint8_t *out) {
    const unsigned char *at = cur_take(c, 1, "u8");
    *out = at ? *at : 0;
    return c->st;
}

tg_status tg_ckpt_cur_u32(tg_ckpt_cur *c, uint32_t *out) {
    const unsigned char *at = cur_take(c, 4, "u32");
    *out = at ? tg_le_get32(at) : 0;
    return c->st;
}

tg_status tg_ckpt_cur_u64(tg_ckpt_cur *c, uint64_t *out) {
    const unsigned char *at = cur_take(c, 8, "u64");
    *out = at ? tg_le_get64(at) : 0;
    return c->st;
}

tg_status tg_ckpt_cur_i64(tg_ckpt_cur *c, int64_t *out) {
    const unsigned char *at = cur_take(c, 8, "i64");
    *out = at ? (int64_t)tg_le_get64(at) : 0;
    return c->st;
}

tg_status tg_ckpt_cur_f32(tg_ckpt_cur *c, float *out) { return tg_ckpt_cur_f32s(c, out, 1); }

tg_status tg_ckpt_cur_f64(tg_ckpt_cur *c, double *out) { return tg_ckpt_cur_f64s(c, out, 1); }

tg_status tg_ckpt_cur_f32s(tg_ckpt_cur *c, float *out, size_t n) {
    const unsigned char *at = n > SIZE_MAX / 4 ? cur_take(c, SIZE_MAX, "f32 array") : cur_take(c, n * 4, "f32 array");
    for (size_t i = 0; i < n && at; i++) {
        uint32_t u = tg_le_get32(at + 4 * i);
        memcpy(&out[i], &u, 4);
    }
    if (!at && n && n <= SIZE_MAX / 4) memset(out, 0, n * 4);
    return c->st;
}

tg_status tg_ckpt_cur_f64s(tg_ckpt_cur *c, double *out, size_t n) {
    const unsigned char *at = n > SIZE_MAX / 8 ? cur_take(c, SIZE_MAX, "f64 array") : cur_take(c, n * 8, "f64 array");
    for (size_t i = 0; i < n && at; i++) {
        uint64_t u = tg_le_get64(at + 8 * i);
        memcpy(&out[i], &u, 8);
    }
    if (!at && n && n <= SIZE_MAX / 8) memset(out, 0, n * 8);
    return c->st;
}

tg_status tg_ckpt_cur_str(tg_ckpt_cur *c, char *out, size_t cap) {
    if (cap) out[0] = '\0';
    uint32_t n;
    size_t at_pos = c->pos;
    if (tg_ckpt_cur_u32(c, &n) != TG_OK) return c->st;
    if ((size_t)n >= cap) {
        c->st = tg_err_set(&c->err, TG_ERR_CORRUPT,
                           "%s: string at offset %zu is %u bytes, longer than the %zu expected",
                           c->what, at_pos, n, cap ? cap - 1 : 0);
        return c->st;
    }
    const unsigned char *at = cur_take(c, n, "string");
    if (!at) return c->st;
    if (memchr(at, '\0', n)) {
        c->st = tg_err_set(&c->err, TG_ERR_CORRUPT, "%s: string at offset %zu holds a NUL byte", c->what, at_pos);
        return c->st;
    }
    memcpy(out, at, n);
    out[n] = '\0';
    return TG_OK;
}

tg_status tg_ckpt_cur_source(void *cur, void *bytes, size_t len, tg_err *err) {
    tg_ckpt_cur *c = cur;
    const unsigned char *at = cur_take(c, len, "truncated: read");
    if (!at) {
        if (err) *err = c->err;
        return c->st;
    }
    if (len) memcpy(bytes, at, len);
    return TG_OK;
}

tg_status tg_ckpt_cur_finish(const tg_ckpt_cur *c, tg_err *err) {
    if (c->st != TG_OK) {
        if (err) *err = c->err;
        return c->st;
    }
    if (c->pos != c->len)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: %zu unexpected bytes after the %zu read", c->what,
                          c->len - c->pos, c->pos);
    return TG_OK;
}

/* ---- fingerprint -------------------------------------------------------------------------- */

#define HASH_K1 0x9E3779B97F4A7C15ull   /* 2^64 / golden ratio, odd */
#define HASH_K2 0xD6E8FEB86659FD93ull   /* odd */

static inline uint64_t rotl64(uint64_t x, int r) { return x << r | x >> (64 - r); }

/* Bijective avalanche (xorshift-multiply), so distinct states stay distinct. */
static inline uint64_t hash_mix(uint64_t x) {
    x ^= x >> 32;
    x *= HASH_K2;
    x ^= x >> 29;
    x *= HASH_K2;
    x ^= x >> 32;
    return x;
}

/* Each lane step is a bijection of the lane given the word and of the word given the lane, so a
 * change confined to one block always changes that lane's final state. The rotation between the
 * two multiplies carries high bits (which a multiply only moves upwards) down into the next one. */
static inline uint64_t hash_lane(uint64_t v, uint64_t w) { return rotl64((v ^ w) * HASH_K1, 29) * HASH_K2; }

uint64_t tg_ckpt_hash64(const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t v0 = HASH_K1, v1 = HASH_K2, v2 = ~HASH_K1, v3 = ~HASH_K2;
    size_t i = 0;
    for (; len - i >= 32; i += 32) {
        v0 = hash_lane(v0, tg_le_get64(p + i));
        v1 = hash_lane(v1, tg_le_get64(p + i + 8));
        v2 = hash_lane(v2, tg_le_get64(p + i + 16));
        v3 = hash_lane(v3, tg_le_get64(p + i + 24));
    }
    uint64_t h = hash_mix(v0);
    h = hash_mix(h ^ v1);
    h = hash_mix(h ^ v2);
    h = hash_mix(h ^ v3);
    for (; len - i >= 8; i += 8) h = hash_mix(h ^ tg_le_get64(p + i)) * HASH_K1;
    if (i < len) {
        unsigned char tail[8] = {0};
        memcpy(tail, p + i, len - i);
        h = hash_mix(h ^ tg_le_get64(tail)) * HASH_K1;
    }
    /* The length tells a zero tail from no tail. */
    return hash_mix(h ^ (uint64_t)len);
}
