/* ckpt_le.h (private to train/): little-endian loads and stores, the byte order of every integer
 * and float in a checkpoint. Built from bytes so the result does not depend on the host's order;
 * compilers turn these into single moves on little-endian machines. */
#ifndef TG_CKPT_LE_H
#define TG_CKPT_LE_H

#include <stdint.h>

static inline void tg_le_put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static inline void tg_le_put64(unsigned char *p, uint64_t v) {
    tg_le_put32(p, (uint32_t)v);
    tg_le_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t tg_le_get32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t tg_le_get64(const unsigned char *p) {
    return (uint64_t)tg_le_get32(p) | (uint64_t)tg_le_get32(p + 4) << 32;
}

#endif /* TG_CKPT_LE_H */
