/* rng.c: the seeded stream that initialises parameters (splitmix64), independent of the
 * dropout stream of the context, so that a model's weights depend on its seed alone. */
#include <math.h>

#include "nn/layers.h"

uint64_t tg_nn_rng_next(tg_nn_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double tg_nn_rng_uniform(tg_nn_rng *r) {
    return (double)(tg_nn_rng_next(r) >> 11) * 0x1.0p-53;  /* 53 random bits */
}

double tg_nn_rng_normal(tg_nn_rng *r) {
    /* Box-Muller with 1 - u in (0, 1] so the log is finite; one draw per call keeps the stream
     * position a plain function of how many values were drawn. */
    double u1 = 1.0 - tg_nn_rng_uniform(r), u2 = tg_nn_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}
