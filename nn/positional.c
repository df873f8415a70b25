/* positional.c: the fixed sinusoidal position table, computed in double whatever tg_float is
 * (the double build's comparison with PyTorch needs it exact to the last bits). */
#include <math.h>
#include <stdlib.h>

#include "nn/layers.h"

double *tg_positions_new(int max_len, int d) {
    double *pe = malloc(sizeof *pe * (size_t)max_len * (size_t)d);
    if (!pe) return NULL;
    for (int i = 0; i < d / 2; i++) {
        /* same expression as torch_reference.py: exp(2i * -ln(10000) / d) */
        double inv = exp((double)(2 * i) * (-log(10000.0) / d));
        for (int p = 0; p < max_len; p++) {
            pe[(size_t)p * d + 2 * i] = sin(p * inv);
            pe[(size_t)p * d + 2 * i + 1] = cos(p * inv);
        }
    }
    return pe;
}

tg_tensor *tg_positions_rows(tg_ctx *ctx, const double *table, int d, int offset, int T) {
    tg_tensor *pe = tg_tensor_new(ctx, 2, (int[]){T, d});   // (T, d)
    if (!pe) return NULL;
    const double *src = table + (size_t)offset * d;
    for (int64_t i = 0; i < pe->n; i++) pe->data[i] = (tg_float)src[i];
    return pe;
}
