/* init.c: the initialisation of torch_reference.py: Xavier-uniform for every matrix, zero
 * biases, LayerNorm gain 1 and bias 0, the embedding ~ N(0, d_model^-0.5) with the pad row zero
 * (so that sqrt(d_model) * embedding has unit variance). */
#include <math.h>
#include <string.h>

#include "nn/layers.h"

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

void tg_nn_init_params(tg_params *P, const tg_tensor *embedding, uint64_t seed) {
    tg_nn_rng r = {seed};
    for (int i = 0; i < tg_params_len(P); i++) {
        tg_tensor *p = tg_params_at(P, i);
        if (p == embedding) {
            int d = p->shape[1];
            double sd = 1.0 / sqrt((double)d);
            for (int64_t j = 0; j < p->n; j++) p->data[j] = (tg_float)(sd * tg_nn_rng_normal(&r));
            memset(p->data + (size_t)TG_PAD_ID * d, 0, sizeof(tg_float) * (size_t)d);
        } else if (p->ndim == 2) {
            /* weight (fan_out, fan_in), as torch.nn.init.xavier_uniform_ */
            double bound = sqrt(6.0 / ((double)p->shape[0] + p->shape[1]));
            for (int64_t j = 0; j < p->n; j++)
                p->data[j] = (tg_float)(bound * (2.0 * tg_nn_rng_uniform(&r) - 1.0));
        } else {
            tg_float v = ends_with(p->name, ".gain") ? 1 : 0;
            for (int64_t j = 0; j < p->n; j++) p->data[j] = v;
        }
    }
}

void tg_model_init(tg_model *m, uint64_t seed) { tg_nn_init_params(m->params, m->embedding, seed); }
