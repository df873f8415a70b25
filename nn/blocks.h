/* blocks.h: the layers of nn/ as building blocks for models of your own (the Transformer of nn.h
 * is built from them): linear, embedding with positions, layer norm, dropout, multi-head attention
 * (padding masks, causal), the position-wise feed-forward, residual sub-layers, encoder and
 * decoder layers, and initialisation.
 *
 * Each block declares its parameters in a tg_params store under a name prefix (before
 * tg_params_alloc), and has a forward that builds its graph in a context. A block's struct only
 * points into the store, which owns the tensors: nothing to free. Declares return false when the
 * store refuses a name (duplicate, too long: tg_params_errmsg says why). Forwards return NULL
 * when an op failed: the context holds the error (tg_ctx_status / tg_ctx_errmsg).
 *
 *   tg_model_config c = tg_model_config_default();   // the paper's switches; set the sizes
 *   c.d_model = 64; c.heads = 4; c.dropout = 0.1;
 *   tg_mha att; tg_ffn ff; tg_norm n1, n2;
 *   tg_mha_declare(&att, P, "block0.attn.", &c);
 *   tg_ffn_declare(&ff, P, "block0.ffn.", 64, 256);
 *   tg_norm_declare(&n1, P, "block0.norm1.", 64); tg_norm_declare(&n2, P, "block0.norm2.", 64);
 *   tg_params_alloc(P, &err); tg_nn_init_params(P, NULL, seed);
 *   // a pre-LN causal block: x (B, T, 64)
 *   tg_tensor *h = tg_norm_forward(ctx, &n1, x);
 *   x = tg_add(ctx, x, tg_mha_forward(ctx, &att, &c, h, h, NULL, true, NULL));
 *   x = tg_add(ctx, x, tg_ffn_forward(ctx, &ff, tg_norm_forward(ctx, &n2, x), 0.1, TG_ACT_GELU));
 */
#ifndef TG_NN_BLOCKS_H
#define TG_NN_BLOCKS_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/autograd.h"
#include "nn/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TG_NN_LN_EPS 1e-5   /* LayerNorm's eps, as torch.nn.LayerNorm */

/* Declares prefix + suffix with the given shape; NULL when the store refuses it (see
 * tg_params_errmsg), as it does a name longer than TG_NAME_MAX - 1. */
tg_tensor *tg_nn_declare(tg_params *P, const char *prefix, const char *suffix, int ndim,
                         const int *shape);

/* Activation by switch: relu, gelu (exact), or x itself for TG_ACT_NONE. */
tg_tensor *tg_nn_activation(tg_ctx *ctx, tg_tensor *x, tg_activation a);

/* Initialises every parameter of P (allocated) from seed, in store order, as the Transformer
 * does: 2-D matrices Xavier-uniform, names ending in ".gain" 1, other tensors 0; `embedding`
 * (V, d) (may be NULL) ~ N(0, d^-0.5) with row TG_PAD_ID zeroed. Same seed, same values. */
void tg_nn_init_params(tg_params *P, const tg_tensor *embedding, uint64_t seed);

/* ---- linear, norm, feed-forward ---------------------------------------------------------- */

/* y = x W^T + b, W (out, in), b (out), x (..., in) -> (..., out). */
typedef struct tg_linear {
    tg_tensor *w, *b;
} tg_linear;
/* Declares prefix+w_name (out, in) and prefix+b_name (out). */
bool tg_linear_declare(tg_linear *l, tg_params *P, const char *prefix, const char *w_name,
                       const char *b_name, int in, int out);
tg_tensor *tg_linear_forward(tg_ctx *ctx, const tg_linear *l, tg_tensor *x);

/* LayerNorm over the last dim with gain and bias (d), eps TG_NN_LN_EPS. */
typedef struct tg_norm {
    tg_tensor *gain, *bias;  /* (d) */
} tg_norm;
/* Declares prefix+"gain" and prefix+"bias", each (d). */
bool tg_norm_declare(tg_norm *n, tg_params *P, const char *prefix, int d);
tg_tensor *tg_norm_forward(tg_ctx *ctx, const tg_norm *n, tg_tensor *x);   /* (..., d) */

/* Position-wise feed-forward: w_2 Drop(act(w_1 x + b_1)) + b_2. */
typedef struct tg_ffn {
    tg_linear l1, l2;
} tg_ffn;
/* Declares prefix+{w_1 (d_ff, d), b_1, w_2 (d, d_ff), b_2}. */
bool tg_ffn_declare(tg_ffn *f, tg_params *P, const char *prefix, int d_model, int d_ff);
/* x (..., d) -> (..., d); dropout p on the hidden layer when training. */
tg_tensor *tg_ffn_forward(tg_ctx *ctx, const tg_ffn *f, tg_tensor *x, double p,
                          tg_activation act);

/* ---- diagnostics probes ------------------------------------------------------------------ */

/* What a forward hands to the diagnostics (nn/diagnostics.c) when it is given a probe (pass NULL
 * otherwise): each sub-layer's residual input x and branch output f(x) (before dropout), both
 * (B, T, d); for an attention also its probabilities (B, H, Tq, Tk) before dropout and the tensor
 * after its activation and gate (B, Tq, d): where the activation is (before W_O at heads, after
 * it at out), without one after the gate (before W_O), without either the output. The tensors
 * live in the context's arena until its reset: a probed forward keeps them (tg_keep) where the
 * layers would otherwise give them back (tg_release). */
typedef struct tg_sublayer_probe {
    tg_tensor *x, *fx, *act, *probs;
} tg_sublayer_probe;

/* A layer's sub-layers in order (encoder: self_attn, ffn; decoder: self_attn, cross_attn, ffn)
 * and its output (B, T, d). */
typedef struct tg_layer_probe {
    tg_sublayer_probe sub[3];
    tg_tensor *out;
} tg_layer_probe;

/* Records a sub-layer's residual input and branch output in p (may be NULL) and keeps them from
 * tg_release (the sub-layer gives fx back after its residual add); returns fx. */
static inline tg_tensor *tg_probe_branch(tg_sublayer_probe *p, tg_tensor *x, tg_tensor *fx) {
    if (p) {
        p->x = x;
        p->fx = fx;
        tg_keep(x);
        tg_keep(fx);
    }
    return fx;
}

/* ---- multi-head attention ---------------------------------------------------------------- */

/* q, k, v and output projections, each (d, d) with a bias; with c->attn_gate sigmoid also the
 * gate projection g (d, d) with a bias (g.w NULL without it). */
typedef struct tg_mha {
    tg_linear q, k, v, o, g;
    int heads, d_head;
} tg_mha;
/* Declares prefix+{w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o} (and w_g, b_g with the gate) for
 * c->d_model and c->heads; false (tg_params_errmsg says why) unless heads >= 1 divides d_model. */
bool tg_mha_declare(tg_mha *a, tg_params *P, const char *prefix, const tg_model_config *c);
/* Attention of xq (B, Tq, d) over xkv (B, Tk, d) (xkv == xq: self-attention) -> (B, Tq, d).
 * mask (optional) is additive, (B, 1, 1, Tk) for padding (tg_key_mask) or any shape tg_softmax
 * takes; causal hides key j > query i; c->dropout on the probabilities when training; then c's
 * switches around the output projection (attn_activation at heads or out, the sigmoid gate of
 * xq); tg_model_config_default()'s are the paper's (none). probe: NULL, or where to record the
 * probabilities and the activation's output (diagnostics). */
tg_tensor *tg_mha_forward(tg_ctx *ctx, const tg_mha *a, const tg_model_config *c, tg_tensor *xq,
                          tg_tensor *xkv, tg_tensor *mask, bool causal, tg_sublayer_probe *probe);
/* The two halves of tg_mha_forward, for caching keys and values: projected keys and values of
 * x (B, Tk, d) -> *k, *v (B, Tk, d), head h in columns h * d_head .. (false: an op failed);
 * then attention of xq over them, as tg_mha_forward: the heads are read in place
 * (tg_heads_scores, tg_heads_mix), never split into copies. */
bool tg_mha_kv(tg_ctx *ctx, const tg_mha *a, tg_tensor *x, tg_tensor **k, tg_tensor **v);
tg_tensor *tg_mha_attend(tg_ctx *ctx, const tg_mha *a, const tg_model_config *c, tg_tensor *xq,
                         tg_tensor *k, tg_tensor *v, tg_tensor *mask, bool causal,
                         tg_sublayer_probe *probe);
/* (B, T, d) <-> (B, H, T, d_head) by transposes (the composed ops, tg_nn_set_composed); x is used
 * up (tg_release): pass a tensor made for it. */
tg_tensor *tg_mha_split(tg_ctx *ctx, const tg_mha *a, tg_tensor *x);
tg_tensor *tg_mha_merge(tg_ctx *ctx, const tg_mha *a, tg_tensor *x);
/* Additive key mask (B, 1, 1, T) from ids (B, T): 0 for a token, -inf for TG_PAD_ID. */
tg_tensor *tg_key_mask(tg_ctx *ctx, const int32_t *ids, int B, int T);

/* ---- positions ----------------------------------------------------------------------------- */

/* Sinusoidal table (max_len, d), d even: PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] =
 * cos(...), in double. The caller owns it (free()); NULL when out of memory. */
double *tg_positions_new(int max_len, int d);
/* Rows offset .. offset+T of a (max_len, d) table as a (T, d) tensor of the step, to add to
 * embeddings (B, T, d); the caller keeps offset + T <= max_len. */
tg_tensor *tg_positions_rows(tg_ctx *ctx, const double *table, int d, int offset, int T);

/* ---- residual sub-layers, encoder and decoder layers -------------------------------------- */

/* A sub-layer with its residual, by the config's switches: post: LN(r); pre: r, with
 * r = x + Drop(fx) or, with the residual activation, relu(x + Drop(fx)); the caller computed fx
 * from tg_sublayer_in(x) (LN(x) in pre-LN, x in post-LN). Dropout is c->dropout. fx is used
 * up (tg_release). Without the residual activation this is one op, tg_residual(_norm). */
tg_tensor *tg_sublayer_in(tg_ctx *ctx, const tg_model_config *c, const tg_norm *n, tg_tensor *x);
tg_tensor *tg_sublayer_out(tg_ctx *ctx, const tg_model_config *c, const tg_norm *n, tg_tensor *x,
                           tg_tensor *fx);

/* Self-attention then feed-forward, each a residual sub-layer (sizes and switches from c). */
typedef struct tg_encoder_layer {
    tg_mha self_attn;
    tg_norm norm1, norm2;
    tg_ffn ffn;
} tg_encoder_layer;
/* Declares "encoder.layers.<i>.{self_attn,norm1,ffn,norm2}.*". */
bool tg_encoder_layer_declare(tg_encoder_layer *l, tg_params *P, const tg_model_config *c, int i);
/* x (B, S, d), mask (B, 1, 1, S) or NULL -> (B, S, d); probe NULL or filled (diagnostics). */
tg_tensor *tg_encoder_layer_forward(tg_ctx *ctx, const tg_model_config *c,
                                    const tg_encoder_layer *l, tg_tensor *x, tg_tensor *mask,
                                    tg_layer_probe *probe);

/* A self-attention key/value cache of one decoder layer: (rows, cap, d) each. */
typedef struct tg_kv_cache {
    tg_float *k, *v;
} tg_kv_cache;

/* Causal self-attention, attention over the encoder's output, feed-forward. */
typedef struct tg_decoder_layer {
    tg_mha self_attn, cross_attn;
    tg_norm norm1, norm2, norm3;
    tg_ffn ffn;
} tg_decoder_layer;
/* Declares "decoder.layers.<i>.{self_attn,cross_attn,norm1,norm2,norm3,ffn}.*". */
bool tg_decoder_layer_declare(tg_decoder_layer *l, tg_params *P, const tg_model_config *c, int i);

/* How a decoder layer gets its keys and values. Full sequence (training): self-attention over y
 * with the causal flag and self_mask, cross-attention over memory; set self_mask, memory and
 * memory_mask, the rest 0. One step (cache != NULL): y is (N, 1, d) at position t; its
 * self-attention key/value are written into the cache at t and attention runs over positions
 * 0..t; cross_k/cross_v (N, S, d) were computed once (tg_mha_kv). */
typedef struct tg_decoder_kv {
    tg_tensor *self_mask;          /* (B, 1, 1, T) or NULL */
    tg_tensor *memory;             /* (B, S, d), full sequence only */
    tg_tensor *cross_k, *cross_v;  /* (N, S, d), one step only */
    tg_tensor *memory_mask;        /* (B, 1, 1, S) */
    tg_kv_cache *cache;
    int t, cap;
} tg_decoder_kv;
/* y (B, T, d) -> (B, T, d); probe NULL or filled (diagnostics). */
tg_tensor *tg_decoder_layer_forward(tg_ctx *ctx, const tg_model_config *c,
                                    const tg_decoder_layer *l, tg_tensor *y,
                                    const tg_decoder_kv *kv, tg_layer_probe *probe);

#ifdef __cplusplus
}
#endif

#endif /* TG_NN_BLOCKS_H */
