/* diagnostics.c: per-layer statistics of a forward on one batch, for the question "what does a
 * nonlinearity after attention or on the residual path change?" (issue 10, section 3): zeros
 * after the attention activation, the branch's mean and RMS (a ReLU output is non-negative: a
 * mean shift into the residual stream), Admin's residual dependency (Liu et al. 2020), rank
 * collapse as Dong et al. 2021 measure it, attention entropy, and per-layer gradient norms.
 * Everything is summed in double over the non-pad tokens, in a fixed order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"

const char *tg_diag_sublayer_name(tg_diag_sublayer_kind k) {
    static const char *const names[] = {"self_attn", "cross_attn", "ffn"};
    return (unsigned)k < TG_DIAG_SUBLAYERS ? names[k] : "?";
}

/* Rows (tokens) of a (B, T, d) tensor that are not padding: ids (B, T). */
typedef struct {
    const int32_t *ids;
    int B, T;
} token_mask;

static bool is_token(const token_mask *tm, int64_t row) { return tm->ids[row] != TG_PAD_ID; }

/* Mean and variance over every element of the token rows of x (B, T, d); with y, of x + y. */
static void moments(const tg_tensor *x, const tg_tensor *y, const token_mask *tm, double *mean,
                    double *var, double *rms) {
    int d = x->shape[2];
    double sum = 0, sq = 0;
    int64_t n = 0;
    for (int64_t r = 0; r < (int64_t)tm->B * tm->T; r++) {
        if (!is_token(tm, r)) continue;
        for (int j = 0; j < d; j++) {
            double v = x->data[r * d + j] + (y ? y->data[r * d + j] : 0);
            sum += v;
            sq += v * v;
        }
        n += d;
    }
    *mean = n ? sum / (double)n : NAN;
    *rms = n ? sqrt(sq / (double)n) : NAN;
    /* second pass for the variance: no cancellation when the mean is large */
    double ss = 0;
    for (int64_t r = 0; r < (int64_t)tm->B * tm->T; r++) {
        if (!is_token(tm, r)) continue;
        for (int j = 0; j < d; j++) {
            double v = x->data[r * d + j] + (y ? y->data[r * d + j] : 0) - *mean;
            ss += v * v;
        }
    }
    *var = n ? ss / (double)n : NAN;
}

/* Fraction of exact zeros in the token rows of a (B, T, d) tensor. */
static double zero_fraction(const tg_tensor *a, const token_mask *tm) {
    int d = a->shape[2];
    int64_t zeros = 0, n = 0;
    for (int64_t r = 0; r < (int64_t)tm->B * tm->T; r++) {
        if (!is_token(tm, r)) continue;
        for (int j = 0; j < d; j++) zeros += a->data[r * d + j] == 0;
        n += d;
    }
    return n ? (double)zeros / (double)n : NAN;
}

/* Mean entropy of the probability rows p (B, H, Tq, Tk) over heads and token queries. */
static double entropy(const tg_tensor *p, const token_mask *queries) {
    int B = p->shape[0], H = p->shape[1], Tq = p->shape[2], Tk = p->shape[3];
    double sum = 0;
    int64_t n = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int q = 0; q < Tq; q++) {
                if (!is_token(queries, (int64_t)b * Tq + q)) continue;
                const tg_float *row = p->data + (((int64_t)b * H + h) * Tq + q) * Tk;
                for (int k = 0; k < Tk; k++)
                    if (row[k] > 0) sum -= (double)row[k] * log((double)row[k]);
                n++;
            }
    return n ? sum / (double)n : NAN;
}

/* ||X - 1 xbar^T||_F / ||X||_F per sentence of x (B, T, d) over its token rows, averaged. */
static double relative_residual(const tg_tensor *x, const token_mask *tm, double *xbar) {
    int d = x->shape[2];
    double sum = 0;
    int counted = 0;
    for (int b = 0; b < tm->B; b++) {
        int64_t r0 = (int64_t)b * tm->T, n = 0;
        memset(xbar, 0, sizeof *xbar * (size_t)d);
        for (int64_t r = r0; r < r0 + tm->T; r++)
            if (is_token(tm, r)) {
                for (int j = 0; j < d; j++) xbar[j] += x->data[r * d + j];
                n++;
            }
        if (!n) continue;
        for (int j = 0; j < d; j++) xbar[j] /= (double)n;
        double num = 0, den = 0;
        for (int64_t r = r0; r < r0 + tm->T; r++)
            if (is_token(tm, r))
                for (int j = 0; j < d; j++) {
                    double v = x->data[r * d + j];
                    num += (v - xbar[j]) * (v - xbar[j]);
                    den += v * v;
                }
        if (den > 0) { sum += sqrt(num / den); counted++; }
    }
    return counted ? sum / counted : NAN;
}

/* One sub-layer's statistics; queries: the token rows of the attention's (and branch's) rows. */
static void sublayer_stats(const tg_sublayer_probe *p, bool attention, const token_mask *rows,
                           tg_diag_sublayer *out) {
    double var_f, var_sum, mean_sum, rms_sum;
    out->present = true;
    moments(p->fx, NULL, rows, &out->branch_mean, &var_f, &out->branch_rms);
    moments(p->x, p->fx, rows, &mean_sum, &var_sum, &rms_sum);
    out->resid_dep = var_sum > 0 ? var_f / var_sum : NAN;
    out->zero_frac = attention ? zero_fraction(p->act, rows) : NAN;
    out->attn_entropy = attention ? entropy(p->probs, rows) : NAN;
}

static void layer_stats(const tg_layer_probe *p, bool decoder, const token_mask *rows,
                        double *scratch, tg_diag_layer *out) {
    static const tg_diag_sublayer_kind enc_kinds[] = {TG_DIAG_SELF_ATTN, TG_DIAG_FFN};
    static const tg_diag_sublayer_kind dec_kinds[] = {TG_DIAG_SELF_ATTN, TG_DIAG_CROSS_ATTN,
                                                      TG_DIAG_FFN};
    int n = decoder ? 3 : 2;
    memset(out->sub, 0, sizeof out->sub);   /* present = false */
    for (int i = 0; i < n; i++) {
        tg_diag_sublayer_kind kind = decoder ? dec_kinds[i] : enc_kinds[i];
        sublayer_stats(&p->sub[i], kind != TG_DIAG_FFN, rows, &out->sub[kind]);
    }
    out->rank_resid = relative_residual(p->out, rows, scratch);
}

tg_status tg_model_diagnose(tg_model *m, tg_ctx *ctx, const int32_t *src, const int32_t *tgt_in,
                            int B, int S, int T, tg_diag_layer *enc, tg_diag_layer *dec,
                            tg_err *err) {
    const tg_model_config *c = &m->cfg;
    tg_layer_probe *pe = calloc((size_t)c->enc_layers, sizeof *pe);
    tg_layer_probe *pd = calloc((size_t)c->dec_layers, sizeof *pd);
    double *scratch = malloc(sizeof *scratch * (size_t)c->d_model);
    tg_status st = TG_OK;
    if (!pe || !pd || !scratch) st = tg_err_set(err, TG_ERR_NOMEM, "diagnostics: out of memory");
    bool training = tg_ctx_training(ctx), grad = tg_ctx_grad_enabled(ctx);
    tg_ctx_set_training(ctx, false);   /* no dropout: no draws from the stream */
    tg_ctx_set_grad_enabled(ctx, false);
    tg_ctx_reset(ctx);
    m->probe_enc = pe;
    m->probe_dec = pd;
    tg_tensor *y = NULL;
    if (st == TG_OK) st = tg_model_states(m, ctx, src, tgt_in, B, S, T, &y, err);
    m->probe_enc = m->probe_dec = NULL;
    if (st == TG_OK) {
        token_mask srcm = {src, B, S}, tgtm = {tgt_in, B, T};
        for (int i = 0; i < c->enc_layers; i++) layer_stats(&pe[i], false, &srcm, scratch, &enc[i]);
        for (int i = 0; i < c->dec_layers; i++) layer_stats(&pd[i], true, &tgtm, scratch, &dec[i]);
    }
    tg_ctx_reset(ctx);
    tg_ctx_set_training(ctx, training);
    tg_ctx_set_grad_enabled(ctx, grad);
    free(pe);
    free(pd);
    free(scratch);
    return st;
}

/* The layer a parameter belongs to: "<stack>.layers.<i>." -> i, else -1. */
static int layer_of(const char *name, const char *stack) {
    size_t k = strlen(stack);
    if (strncmp(name, stack, k) || strncmp(name + k, ".layers.", 8)) return -1;
    return atoi(name + k + 8);
}

void tg_model_layer_grad_norms(const tg_model *m, tg_diag_layer *enc, tg_diag_layer *dec) {
    const tg_model_config *c = &m->cfg;
    for (int i = 0; i < c->enc_layers; i++) enc[i].grad_norm = 0;
    for (int i = 0; i < c->dec_layers; i++) dec[i].grad_norm = 0;
    for (int p = 0; p < tg_params_len(m->params); p++) {
        const tg_tensor *t = tg_params_at(m->params, p);
        int e = layer_of(t->name, "encoder"), d = layer_of(t->name, "decoder");
        double *acc = e >= 0 && e < c->enc_layers ? &enc[e].grad_norm
                      : d >= 0 && d < c->dec_layers ? &dec[d].grad_norm : NULL;
        if (!acc) continue;
        for (int64_t j = 0; j < t->n; j++) *acc += (double)t->grad[j] * (double)t->grad[j];
    }
    for (int i = 0; i < c->enc_layers; i++) enc[i].grad_norm = sqrt(enc[i].grad_norm);
    for (int i = 0; i < c->dec_layers; i++) dec[i].grad_norm = sqrt(dec[i].grad_norm);
}
