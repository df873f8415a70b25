/* decode.c: what greedy and beam search share: options, length limits, checks, the output. */
#include <math.h>
#include <stdlib.h>

#include "nn/layers.h"

tg_decode_opts tg_decode_defaults(void) {
    return (tg_decode_opts){.beam = 4, .alpha = 0.6, .max_len_a = 1.2, .max_len_b = 10,
                            .bos_id = TG_BOS_ID, .eos_id = TG_EOS_ID};
}

int tg_decode_limit(const tg_model *m, const tg_decode_opts *o, int src_len) {
    double lim = floor(o->max_len_a * src_len + o->max_len_b);
    if (!(lim < m->cfg.max_len)) return m->cfg.max_len;
    return lim < 1 ? 1 : (int)lim;
}

tg_status tg_decode_check(const tg_model *m, const int32_t *const *src, const int *src_len, int n,
                          const tg_decode_opts *o, tg_err *err) {
    if (!o) return tg_err_set(err, TG_ERR_ARG, "decode: no options");
    if (n < 1 || !src || !src_len)
        return tg_err_set(err, TG_ERR_ARG, "decode: no sources (n = %d)", n);
    if (o->beam < 1) return tg_err_set(err, TG_ERR_ARG, "decode: beam = %d, expected >= 1", o->beam);
    if (!(o->alpha >= 0) || !isfinite(o->alpha))
        return tg_err_set(err, TG_ERR_ARG, "decode: alpha = %g, expected >= 0", o->alpha);
    if (!isfinite(o->max_len_a) || o->max_len_a < 0)
        return tg_err_set(err, TG_ERR_ARG, "decode: max_len_a = %g, expected >= 0",
                          o->max_len_a);
    int V = m->cfg.vocab;
    if (o->bos_id < 0 || o->bos_id >= V || o->eos_id < 0 || o->eos_id >= V)
        return tg_err_set(err, TG_ERR_ARG, "decode: bos %d or eos %d outside [0, %d)", o->bos_id,
                          o->eos_id, V);
    return TG_OK;
}

tg_status tg_decode_out_alloc(tg_decode_out *out, int n, tg_err *err) {
    *out = (tg_decode_out){.n = n};
    out->ids = calloc((size_t)n, sizeof *out->ids);
    out->len = calloc((size_t)n, sizeof *out->len);
    out->logprob = calloc((size_t)n, sizeof *out->logprob);
    out->score = calloc((size_t)n, sizeof *out->score);
    if (out->ids && out->len && out->logprob && out->score) return TG_OK;
    tg_decode_out_free(out);
    return tg_err_set(err, TG_ERR_NOMEM, "decode: out of memory");
}

void tg_decode_out_free(tg_decode_out *out) {
    if (!out) return;
    for (int i = 0; out->ids && i < out->n; i++) free(out->ids[i]);
    free(out->ids);
    free(out->len);
    free(out->logprob);
    free(out->score);
    *out = (tg_decode_out){0};
}

void tg_decode_log_softmax(const tg_float *logits, int V, double *out) {
    double mx = logits[0];
    for (int v = 1; v < V; v++)
        if (logits[v] > mx) mx = logits[v];
    double sum = 0;
    for (int v = 0; v < V; v++) sum += exp((double)logits[v] - mx);
    double lse = mx + log(sum);
    for (int v = 0; v < V; v++) out[v] = (double)logits[v] - lse;
}

double tg_decode_length_penalty(double alpha, int len) {
    return alpha == 0 ? 1.0 : pow((5.0 + len) / 6.0, alpha);
}
