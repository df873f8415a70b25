/* layers.h (private to nn/): the model's inside on top of the public blocks (blocks.h): the model
 * struct, its embedding, encoder and projection, and the helpers decoding shares. */
#ifndef TG_NN_LAYERS_H
#define TG_NN_LAYERS_H

#include "nn/blocks.h"
#include "nn/nn.h"

struct tg_model {
    tg_model_config cfg;
    tg_params *params;
    tg_tensor *embedding;    /* (V, d) */
    tg_tensor *output;       /* (V, d): the embedding when tied */
    tg_encoder_layer *enc;   /* enc_layers */
    tg_decoder_layer *dec;   /* dec_layers */
    tg_norm enc_norm, dec_norm;  /* pre-LN only */
    double *positions;       /* (max_len, d) sinusoidal table */
    tg_layer_probe *probe_enc, *probe_dec;  /* NULL, or one per layer while diagnostics run */
};

/* sqrt(d) * E[ids] + PE[offset .. offset+T), then dropout: ids (B, T) -> (B, T, d). */
tg_tensor *tg_model_embed(tg_ctx *ctx, const tg_model *m, const int32_t *ids, int B, int T,
                          int offset);
/* Encoder stack (final norm included): src (B, S) -> (B, S, d); mask out (B, 1, 1, S). */
tg_tensor *tg_model_encode(tg_ctx *ctx, const tg_model *m, const int32_t *src, int B, int S,
                           tg_tensor **mask_out);
/* The whole forward up to the last decoder layer's output (B, T, d) (no final norm, no
 * projection); the checks of tg_model_logits. */
tg_status tg_model_states(tg_model *m, tg_ctx *ctx, const int32_t *src, const int32_t *tgt_in,
                          int B, int S, int T, tg_tensor **states, tg_err *err);
/* Output projection of decoder states (..., d) -> (..., V). */
tg_tensor *tg_model_project(tg_ctx *ctx, const tg_model *m, tg_tensor *y);
/* Checks ids against [0, vocab); TG_ERR_ARG naming `what`, row and column. */
tg_status tg_model_check_ids(const tg_model *m, const char *what, const int32_t *ids, int B,
                             int T, tg_err *err);
/* The composed ops instead of the fused ones (off by default; the same bits either way): residual
 * sub-layers (tg_sublayer_out) through dropout, add and layer norm instead of tg_residual(_norm),
 * attention's heads split and merged by transposes around tg_matmul instead of tg_heads_scores /
 * tg_heads_mix, the feed-forward's ReLU as tg_relu instead of tg_matmul_bias_relu. For the tests
 * that hold the fused ops to the composed ones. Process-wide; set it between steps. */
void tg_nn_set_composed(bool on);
bool tg_nn_composed(void);
/* Fills err from ctx's error after a failed forward. */
tg_status tg_nn_ctx_error(tg_ctx *ctx, const char *what, tg_err *err);

/* Seeded initialisation streams (splitmix64): uniform in [0, 1) and standard normal. */
typedef struct tg_nn_rng {
    uint64_t s;
} tg_nn_rng;
double tg_nn_rng_uniform(tg_nn_rng *r);
double tg_nn_rng_normal(tg_nn_rng *r);
uint64_t tg_nn_rng_next(tg_nn_rng *r);

/* Decoding helpers shared by greedy and beam search. */
int tg_decode_limit(const tg_model *m, const tg_decode_opts *o, int src_len);
tg_status tg_decode_check(const tg_model *m, const int32_t *const *src, const int *src_len, int n,
                          const tg_decode_opts *o, tg_err *err);
tg_status tg_decode_out_alloc(tg_decode_out *out, int n, tg_err *err);
/* Log-softmax of one row of logits (V) into out, in double. */
void tg_decode_log_softmax(const tg_float *logits, int V, double *out);
double tg_decode_length_penalty(double alpha, int len);
/* Whether decoding may produce token v: never pad (a pad input would be masked in training but
 * not in the cache) nor bos. */
static inline bool tg_decode_allowed(const tg_decode_opts *o, int v) {
    return v != TG_PAD_ID && v != o->bos_id;
}

#endif /* TG_NN_LAYERS_H */
