/* layers.h (private to nn/): the layers the model is built from. Each layer declares its
 * parameters in a tg_params store under a name prefix, and has a forward that builds its graph
 * in a context. Forwards return NULL when an op failed (the context holds the error). */
#ifndef TG_NN_LAYERS_H
#define TG_NN_LAYERS_H

#include "nn/nn.h"

#define TG_NN_LN_EPS 1e-5

/* Declares name_prefix + suffix with the given shape; NULL when the store refuses it. */
tg_tensor *tg_nn_declare(tg_params *P, const char *prefix, const char *suffix, int ndim,
                         const int *shape);

/* Activation by switch (TG_ACT_NONE: x itself). */
tg_tensor *tg_nn_activation(tg_ctx *ctx, tg_tensor *x, tg_activation a);

/* y = x W^T + b, W (out, in), b (out), x (..., in) -> (..., out). */
typedef struct tg_linear {
    tg_tensor *w, *b;
} tg_linear;
bool tg_linear_declare(tg_linear *l, tg_params *P, const char *prefix, const char *w_name,
                       const char *b_name, int in, int out);
tg_tensor *tg_linear_forward(tg_ctx *ctx, const tg_linear *l, tg_tensor *x);

typedef struct tg_norm {
    tg_tensor *gain, *bias;  /* (d) */
} tg_norm;
bool tg_norm_declare(tg_norm *n, tg_params *P, const char *prefix, int d);
tg_tensor *tg_norm_forward(tg_ctx *ctx, const tg_norm *n, tg_tensor *x);

/* Multi-head attention: q, k, v and output projections, each (d, d) with a bias. */
typedef struct tg_mha {
    tg_linear q, k, v, o;
    int heads, d_head;
} tg_mha;
bool tg_mha_declare(tg_mha *a, tg_params *P, const char *prefix, int d_model, int heads);
/* Projected keys and values of x (B, Tk, d) -> *k, *v (B, H, Tk, d_head). */
bool tg_mha_kv(tg_ctx *ctx, const tg_mha *a, tg_tensor *x, tg_tensor **k, tg_tensor **v);
/* Attention of queries xq (B, Tq, d) over k, v (B, H, Tk, d_head): mask (B, 1, 1, Tk) additive or
 * NULL, causal as tg_softmax; dropout p on the probabilities; then the output projection and the
 * attention activation -> (B, Tq, d). */
tg_tensor *tg_mha_attend(tg_ctx *ctx, const tg_mha *a, tg_tensor *xq, tg_tensor *k, tg_tensor *v,
                         tg_tensor *mask, bool causal, double p, tg_activation act);
tg_tensor *tg_mha_forward(tg_ctx *ctx, const tg_mha *a, tg_tensor *xq, tg_tensor *xkv,
                          tg_tensor *mask, bool causal, double p, tg_activation act);
/* (B, T, d) <-> (B, H, T, d_head); x is used up (tg_release): pass a tensor made for it. */
tg_tensor *tg_mha_split(tg_ctx *ctx, const tg_mha *a, tg_tensor *x);
tg_tensor *tg_mha_merge(tg_ctx *ctx, const tg_mha *a, tg_tensor *x);

/* Position-wise feed-forward: w_2 Drop(act(w_1 x + b_1)) + b_2. */
typedef struct tg_ffn {
    tg_linear l1, l2;
} tg_ffn;
bool tg_ffn_declare(tg_ffn *f, tg_params *P, const char *prefix, int d_model, int d_ff);
tg_tensor *tg_ffn_forward(tg_ctx *ctx, const tg_ffn *f, tg_tensor *x, double p,
                          tg_activation act);

/* Residual wrapper of a sub-layer: post: LN(x + Drop(fx)); pre: x + Drop(fx), where the caller
 * computed fx from tg_sublayer_in(x) (LN(x) in pre-LN, x in post-LN). fx is used up
 * (tg_release). */
tg_tensor *tg_sublayer_in(tg_ctx *ctx, const tg_model_config *c, const tg_norm *n, tg_tensor *x);
tg_tensor *tg_sublayer_out(tg_ctx *ctx, const tg_model_config *c, const tg_norm *n, tg_tensor *x,
                           tg_tensor *fx);

typedef struct tg_encoder_layer {
    tg_mha self_attn;
    tg_norm norm1, norm2;
    tg_ffn ffn;
} tg_encoder_layer;
bool tg_encoder_layer_declare(tg_encoder_layer *l, tg_params *P, const tg_model_config *c, int i);
/* x (B, S, d), mask (B, 1, 1, S) -> (B, S, d) */
tg_tensor *tg_encoder_layer_forward(tg_ctx *ctx, const tg_model_config *c,
                                    const tg_encoder_layer *l, tg_tensor *x, tg_tensor *mask);

/* A self-attention key/value cache of one decoder layer: (rows, H, cap, d_head) each. */
typedef struct tg_kv_cache {
    tg_float *k, *v;
} tg_kv_cache;

typedef struct tg_decoder_layer {
    tg_mha self_attn, cross_attn;
    tg_norm norm1, norm2, norm3;
    tg_ffn ffn;
} tg_decoder_layer;
bool tg_decoder_layer_declare(tg_decoder_layer *l, tg_params *P, const tg_model_config *c, int i);

/* How a decoder layer gets its keys and values. Full sequence: self-attention over y with the
 * causal flag and self_mask, cross-attention over memory. One step (cache != NULL): y is (N, 1,
 * d) at position t; its self-attention key/value are written into the cache at t and attention
 * runs over positions 0..t; cross_k/cross_v (N, H, S, d_head) were computed once. */
typedef struct tg_decoder_kv {
    tg_tensor *self_mask;          /* (B, 1, 1, T) or NULL */
    tg_tensor *memory;             /* (B, S, d), full sequence only */
    tg_tensor *cross_k, *cross_v;  /* (N, H, S, d_head), one step only */
    tg_tensor *memory_mask;        /* (B, 1, 1, S) */
    tg_kv_cache *cache;
    int t, cap;
} tg_decoder_kv;
tg_tensor *tg_decoder_layer_forward(tg_ctx *ctx, const tg_model_config *c,
                                    const tg_decoder_layer *l, tg_tensor *y,
                                    const tg_decoder_kv *kv);

struct tg_model {
    tg_model_config cfg;
    tg_params *params;
    tg_tensor *embedding;    /* (V, d) */
    tg_tensor *output;       /* (V, d): the embedding when tied */
    tg_encoder_layer *enc;   /* enc_layers */
    tg_decoder_layer *dec;   /* dec_layers */
    tg_norm enc_norm, dec_norm;  /* pre-LN only */
    double *positions;       /* (max_len, d) sinusoidal table */
};

/* Sinusoidal table (max_len, d): PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(...). */
double *tg_positions_new(int max_len, int d);
/* sqrt(d) * E[ids] + PE[offset .. offset+T), then dropout: ids (B, T) -> (B, T, d). */
tg_tensor *tg_model_embed(tg_ctx *ctx, const tg_model *m, const int32_t *ids, int B, int T,
                          int offset);
/* Additive key mask (B, 1, 1, T): 0 for a token, -inf for pad. */
tg_tensor *tg_key_mask(tg_ctx *ctx, const int32_t *ids, int B, int T);
/* Encoder stack (final norm included): src (B, S) -> (B, S, d); mask out (B, 1, 1, S). */
tg_tensor *tg_model_encode(tg_ctx *ctx, const tg_model *m, const int32_t *src, int B, int S,
                           tg_tensor **mask_out);
/* Output projection of decoder states (..., d) -> (..., V). */
tg_tensor *tg_model_project(tg_ctx *ctx, const tg_model *m, tg_tensor *y);
/* Checks ids against [0, vocab); TG_ERR_ARG naming `what`, row and column. */
tg_status tg_model_check_ids(const tg_model *m, const char *what, const int32_t *ids, int B,
                             int T, tg_err *err);
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
    return v != TG_NN_PAD_ID && v != o->bos_id;
}

#endif /* TG_NN_LAYERS_H */
