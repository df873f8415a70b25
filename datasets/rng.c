/* rng.c: xoshiro256** (Blackman & Vigna), seeded by splitmix64 from (seed, stream). */
#include "datasets/datasets.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void tg_data_rng_seed(tg_data_rng *r, uint64_t seed, uint64_t stream) {
    /* Mixing the stream through splitmix64 first keeps (seed, stream) and (seed + 1, stream - 1)
     * apart, which a plain sum would not. */
    uint64_t x = stream;
    uint64_t y = seed ^ splitmix64(&x);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&y);
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1; /* the one state xoshiro cannot leave */
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tg_data_rng_next(tg_data_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t tg_data_rng_below(tg_data_rng *r, uint64_t n) {
    /* Rejection: draws falling in the incomplete last copy of [0, n) are redrawn. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = tg_data_rng_next(r);
    while (x >= limit);
    return x % n;
}
