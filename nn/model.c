/* model.c: the seq2seq Transformer: parameters, embedding with positions, the encoder and
 * decoder stacks, the (tied) output projection and the label-smoothed loss. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"


void tg_model_free(tg_model *m) {
    if (!m) return;
    tg_params_free(m->params);
    free(m->enc);
    free(m->dec);
    free(m->positions);
    free(m);
}

static bool declare_all(tg_model *m) {
    const tg_model_config *c = &m->cfg;
    tg_params *P = m->params;
    int V = c->vocab, d = c->d_model;
    m->embedding = tg_params_add(P, "embedding.weight", 2, (int[]){V, d});
    m->output = c->tie_embeddings ? m->embedding : tg_params_add(P, "output.weight", 2,
                                                                  (int[]){V, d});
    if (!m->embedding || !m->output) return false;
    for (int i = 0; i < c->enc_layers; i++)
        if (!tg_encoder_layer_declare(&m->enc[i], P, c, i)) return false;
    if (c->norm == TG_NORM_PRE && !tg_norm_declare(&m->enc_norm, P, "encoder.norm.", d))
        return false;
    for (int i = 0; i < c->dec_layers; i++)
        if (!tg_decoder_layer_declare(&m->dec[i], P, c, i)) return false;
    if (c->norm == TG_NORM_PRE && !tg_norm_declare(&m->dec_norm, P, "decoder.norm.", d))
        return false;
    return true;
}

tg_model *tg_model_new(const tg_model_config *cfg, uint64_t seed, tg_err *err) {
    if (tg_model_config_validate(cfg, err) != TG_OK) return NULL;
    tg_model *m = calloc(1, sizeof *m);
    if (!m) { tg_err_set(err, TG_ERR_NOMEM, "model: out of memory"); return NULL; }
    m->cfg = *cfg;
    m->params = tg_params_new();
    m->enc = calloc((size_t)cfg->enc_layers, sizeof *m->enc);
    m->dec = calloc((size_t)cfg->dec_layers, sizeof *m->dec);
    m->positions = tg_positions_new(cfg->max_len, cfg->d_model);
    if (!m->params || !m->enc || !m->dec || !m->positions) {
        tg_model_free(m);
        tg_err_set(err, TG_ERR_NOMEM, "model: out of memory");
        return NULL;
    }
    if (!declare_all(m)) {
        tg_err_set(err, TG_ERR_STATE, "model: declaring parameters: %s",
                   tg_params_errmsg(m->params));
        tg_model_free(m);
        return NULL;
    }
    if (tg_params_alloc(m->params, err) != TG_OK) {
        tg_model_free(m);
        return NULL;
    }
    tg_model_init(m, seed);
    return m;
}

const tg_model_config *tg_model_cfg(const tg_model *m) { return &m->cfg; }
tg_params *tg_model_params(const tg_model *m) { return m->params; }
int64_t tg_model_param_count(const tg_model *m) { return tg_params_numel(m->params); }

tg_status tg_nn_ctx_error(tg_ctx *ctx, const char *what, tg_err *err) {
    tg_status st = tg_ctx_status(ctx);
    if (st == TG_OK) st = TG_ERR_STATE;
    return tg_err_set(err, st, "%s: %s", what, tg_ctx_errmsg(ctx));
}

tg_status tg_model_check_ids(const tg_model *m, const char *what, const int32_t *ids, int B,
                             int T, tg_err *err) {
    if (!ids) return tg_err_set(err, TG_ERR_ARG, "%s: NULL ids", what);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int32_t id = ids[(size_t)b * T + t];
            if (id < 0 || id >= m->cfg.vocab)
                return tg_err_set(err, TG_ERR_ARG,
                                  "%s: sentence %d, position %d: id %d outside [0, %d)", what, b,
                                  t, (int)id, m->cfg.vocab);
        }
    return TG_OK;
}

tg_tensor *tg_model_embed(tg_ctx *ctx, const tg_model *m, const int32_t *ids, int B, int T,
                          int offset) {
    int d = m->cfg.d_model;
    tg_tensor *e = tg_embedding(ctx, m->embedding, ids, 2, (int[]){B, T}, TG_PAD_ID);
    e = tg_scale(ctx, e, sqrt((double)d));                                  // (B, T, d)
    tg_tensor *pe = tg_positions_rows(ctx, m->positions, d, offset, T);     // (T, d)
    return tg_dropout(ctx, tg_add(ctx, e, pe), m->cfg.dropout);             // (B, T, d)
}

tg_tensor *tg_key_mask(tg_ctx *ctx, const int32_t *ids, int B, int T) {
    tg_tensor *mask = tg_tensor_new(ctx, 4, (int[]){B, 1, 1, T});          // (B, 1, 1, T)
    if (!mask) return NULL;
    for (int64_t i = 0; i < mask->n; i++)
        mask->data[i] = ids[i] == TG_PAD_ID ? (tg_float)-INFINITY : 0;  /* torch's -inf fill */
    return mask;
}

tg_tensor *tg_model_encode(tg_ctx *ctx, const tg_model *m, const int32_t *src, int B, int S,
                           tg_tensor **mask_out) {
    tg_tensor *mask = tg_key_mask(ctx, src, B, S);                          // (B, 1, 1, S)
    tg_tensor *x = tg_model_embed(ctx, m, src, B, S, 0);                    // (B, S, d)
    for (int i = 0; i < m->cfg.enc_layers; i++)
        x = tg_encoder_layer_forward(ctx, &m->cfg, &m->enc[i], x, mask,
                                     m->probe_enc ? &m->probe_enc[i] : NULL);
    if (m->cfg.norm == TG_NORM_PRE) x = tg_norm_forward(ctx, &m->enc_norm, x);
    if (mask_out) *mask_out = mask;
    return x;
}

tg_tensor *tg_model_project(tg_ctx *ctx, const tg_model *m, tg_tensor *y) {
    if (m->cfg.norm == TG_NORM_PRE) y = tg_norm_forward(ctx, &m->dec_norm, y);
    return tg_matmul(ctx, y, m->output, false, true);                      // (..., V)
}

static tg_status check_batch(const tg_model *m, const int32_t *src, const int32_t *tgt_in,
                             int B, int S, int T, tg_err *err) {
    if (B < 1 || S < 1 || T < 1)
        return tg_err_set(err, TG_ERR_ARG, "model: batch (B %d, S %d, T %d) has an empty side",
                          B, S, T);
    if (S > m->cfg.max_len || T > m->cfg.max_len)
        return tg_err_set(err, TG_ERR_ARG,
                          "model: source length %d or target length %d over max_len %d", S, T,
                          m->cfg.max_len);
    tg_status st = tg_model_check_ids(m, "source", src, B, S, err);
    return st ? st : tg_model_check_ids(m, "decoder input", tgt_in, B, T, err);
}

tg_status tg_model_states(tg_model *m, tg_ctx *ctx, const int32_t *src, const int32_t *tgt_in,
                          int B, int S, int T, tg_tensor **states, tg_err *err) {
    *states = NULL;
    tg_status st = check_batch(m, src, tgt_in, B, S, T, err);
    if (st) return st;
    tg_tensor *src_mask;
    tg_tensor *x = tg_model_encode(ctx, m, src, B, S, &src_mask);            // (B, S, d)
    tg_decoder_kv kv = {
        .self_mask = tg_key_mask(ctx, tgt_in, B, T),                       // (B, 1, 1, T)
        .memory = x,
        .memory_mask = src_mask,
    };
    tg_tensor *y = tg_model_embed(ctx, m, tgt_in, B, T, 0);                // (B, T, d)
    for (int i = 0; i < m->cfg.dec_layers; i++)
        y = tg_decoder_layer_forward(ctx, &m->cfg, &m->dec[i], y, &kv,
                                     m->probe_dec ? &m->probe_dec[i] : NULL);
    *states = y;                                                           // (B, T, d)
    return y ? TG_OK : tg_nn_ctx_error(ctx, "model forward", err);
}

tg_status tg_model_logits(tg_model *m, tg_ctx *ctx, const int32_t *src, const int32_t *tgt_in,
                          int B, int S, int T, tg_tensor **logits, tg_err *err) {
    tg_tensor *y;
    tg_status st = tg_model_states(m, ctx, src, tgt_in, B, S, T, &y, err);
    *logits = st ? NULL : tg_model_project(ctx, m, y);                     // (B, T, V)
    if (st) return st;
    return *logits ? TG_OK : tg_nn_ctx_error(ctx, "model forward", err);
}

tg_status tg_model_loss_nll(tg_model *m, tg_ctx *ctx, const int32_t *src, const int32_t *tgt_in,
                            const int32_t *tgt_out, int B, int S, int T, tg_tensor **loss,
                            double *nll, tg_err *err) {
    *loss = NULL;
    tg_status st = check_batch(m, src, tgt_in, B, S, T, err);
    if (!st) st = tg_model_check_ids(m, "target", tgt_out, B, T, err);
    tg_tensor *y;                                                          // (B, T, d)
    if (!st) st = tg_model_states(m, ctx, src, tgt_in, B, S, T, &y, err);
    if (st) return st;
    if (m->cfg.norm == TG_NORM_PRE) y = tg_norm_forward(ctx, &m->dec_norm, y);
    /* the projection and the loss in chunks of rows: the (B, T, V) logits never exist whole */
    *loss = tg_linear_cross_entropy(ctx, y, m->output, tgt_out, m->cfg.label_smoothing,
                                    TG_PAD_ID, 0, nll);                     // ()
    return *loss ? TG_OK : tg_nn_ctx_error(ctx, "model loss", err);
}

tg_status tg_model_loss(tg_model *m, tg_ctx *ctx, const int32_t *src, const int32_t *tgt_in,
                        const int32_t *tgt_out, int B, int S, int T, tg_tensor **loss,
                        int64_t *n_tokens, tg_err *err) {
    tg_status st = tg_model_loss_nll(m, ctx, src, tgt_in, tgt_out, B, S, T, loss, NULL, err);
    if (st) return st;
    if (n_tokens) {
        int64_t n = 0;
        for (size_t i = 0; i < (size_t)B * T; i++) n += tgt_out[i] != TG_PAD_ID;
        *n_tokens = n;
    }
    return TG_OK;
}
