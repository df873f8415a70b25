/* adam_state.c: the optimiser's state as bytes, for checkpoints.
 *
 * Header (40 bytes, integers little-endian whatever the host):
 *   0  "TGADAMST"   magic
 *   8  u32 version  TG_ADAM_STATE_VERSION
 *   12 u32          bytes per element (4: float build, 8: double build)
 *   16 u32          0x01020304 written in host order: tells the moments' byte order
 *   20 u32          0 (reserved)
 *   24 i64          step
 *   32 i64          n
 * then m and v, n elements each, as they lie in memory (host byte order), so each is one write.
 */
#include "optim/adam_internal.h"

#include <string.h>

static const char state_magic[8] = {'T', 'G', 'A', 'D', 'A', 'M', 'S', 'T'};
#define STATE_BOM 0x01020304u

static void put_u32(unsigned char *p, uint32_t x) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(x >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t x) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(x >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) x |= (uint32_t)p[i] << (8 * i);
    return x;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x |= (uint64_t)p[i] << (8 * i);
    return x;
}

size_t tg_adam_state_size(const tg_adam *opt) {
    return TG_ADAM_STATE_HEADER_BYTES + 2 * (size_t)opt->n * sizeof(tg_float);
}

tg_status tg_adam_state_write(const tg_adam *opt, tg_byte_sink sink, void *ctx, tg_err *err) {
    if (!opt || !sink) return tg_err_set(err, TG_ERR_ARG, "adam state: no optimiser or sink");
    unsigned char h[TG_ADAM_STATE_HEADER_BYTES];
    memcpy(h, state_magic, 8);
    put_u32(h + 8, TG_ADAM_STATE_VERSION);
    put_u32(h + 12, (uint32_t)sizeof(tg_float));
    uint32_t bom = STATE_BOM;
    memcpy(h + 16, &bom, 4);
    put_u32(h + 20, 0);
    put_u64(h + 24, (uint64_t)opt->step);
    put_u64(h + 32, (uint64_t)opt->n);
    tg_status st = sink(ctx, h, sizeof h, err);
    size_t bytes = (size_t)opt->n * sizeof(tg_float);
    if (st == TG_OK && bytes) st = sink(ctx, opt->m, bytes, err);
    if (st == TG_OK && bytes) st = sink(ctx, opt->v, bytes, err);
    return st;
}

tg_status tg_adam_state_read(tg_adam *opt, tg_byte_source src, void *ctx, tg_err *err) {
    if (!opt || !src) return tg_err_set(err, TG_ERR_ARG, "adam state: no optimiser or source");
    unsigned char h[TG_ADAM_STATE_HEADER_BYTES];
    tg_status st = src(ctx, h, sizeof h, err);
    if (st != TG_OK) return st;
    if (memcmp(h, state_magic, 8) != 0)
        return tg_err_set(err, TG_ERR_FORMAT,
                          "adam state: bad magic at byte 0, expected \"TGADAMST\"");
    uint32_t version = get_u32(h + 8);
    if (version != TG_ADAM_STATE_VERSION)
        return tg_err_set(err, TG_ERR_VERSION,
                          "adam state: version %u at byte 8, this build reads version %d",
                          version, TG_ADAM_STATE_VERSION);
    uint32_t elem = get_u32(h + 12);
    if (elem != sizeof(tg_float))
        return tg_err_set(err, TG_ERR_FORMAT,
                          "adam state: %u-byte elements at byte 12 (a %s build), this is a %s "
                          "build (%zu-byte elements)",
                          elem, elem == 4 ? "float" : elem == 8 ? "double" : "unknown",
                          TG_FLOAT_NAME, sizeof(tg_float));
    uint32_t bom;
    memcpy(&bom, h + 16, 4);
    if (bom != STATE_BOM)
        return tg_err_set(err, TG_ERR_FORMAT,
                          "adam state: byte-order mark 0x%08x at byte 16, expected 0x%08x "
                          "(written on a machine of another byte order?)",
                          bom, STATE_BOM);
    int64_t step = (int64_t)get_u64(h + 24);
    int64_t n = (int64_t)get_u64(h + 32);
    if (step < 0)
        return tg_err_set(err, TG_ERR_FORMAT, "adam state: step %lld at byte 24, expected >= 0",
                          (long long)step);
    if (n != opt->n)
        return tg_err_set(err, TG_ERR_FORMAT,
                          "adam state: %lld elements at byte 32, the optimiser has %lld",
                          (long long)n, (long long)opt->n);
    size_t bytes = (size_t)n * sizeof(tg_float);
    if (bytes) st = src(ctx, opt->m, bytes, err);
    if (st == TG_OK && bytes) st = src(ctx, opt->v, bytes, err);
    if (st != TG_OK) {
        tg_adam_reset(opt);
        return st;
    }
    opt->step = step;
    return TG_OK;
}

typedef struct {
    unsigned char *p;
    size_t left;
} mem_cursor;

typedef struct {
    const unsigned char *p;
    size_t left;
} mem_reader;

static tg_status mem_sink(void *ctx, const void *bytes, size_t len, tg_err *err) {
    mem_cursor *c = ctx;
    if (len > c->left)
        return tg_err_set(err, TG_ERR_ARG, "adam state: buffer too small by %zu bytes",
                          len - c->left);
    memcpy(c->p, bytes, len);
    c->p += len;
    c->left -= len;
    return TG_OK;
}

static tg_status mem_source(void *ctx, void *bytes, size_t len, tg_err *err) {
    mem_reader *c = ctx;
    if (len > c->left)
        return tg_err_set(err, TG_ERR_CORRUPT, "adam state: truncated, %zu bytes short",
                          len - c->left);
    memcpy(bytes, c->p, len);
    c->p += len;
    c->left -= len;
    return TG_OK;
}

tg_status tg_adam_state_save(const tg_adam *opt, void *buf, size_t cap, tg_err *err) {
    if (!opt || !buf) return tg_err_set(err, TG_ERR_ARG, "adam state: no optimiser or buffer");
    size_t need = tg_adam_state_size(opt);
    if (cap < need)
        return tg_err_set(err, TG_ERR_ARG, "adam state: buffer of %zu bytes, %zu needed", cap,
                          need);
    mem_cursor c = {buf, cap};
    return tg_adam_state_write(opt, mem_sink, &c, err);
}

tg_status tg_adam_state_load(tg_adam *opt, const void *buf, size_t len, tg_err *err) {
    if (!opt || !buf) return tg_err_set(err, TG_ERR_ARG, "adam state: no optimiser or buffer");
    mem_reader c = {buf, len};
    tg_status st = tg_adam_state_read(opt, mem_source, &c, err);
    if (st == TG_OK && c.left != 0) {
        tg_adam_reset(opt);
        return tg_err_set(err, TG_ERR_CORRUPT,
                          "adam state: %zu bytes left over after the moments (%zu expected in "
                          "all)",
                          c.left, tg_adam_state_size(opt));
    }
    return st;
}
