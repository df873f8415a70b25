/* nn.h: the encoder-decoder Transformer of "Attention Is All You Need" on tapegrad's autograd:
 * configuration (with the architecture switches), the model and its named parameters, the
 * training loss, incremental decoding (greedy and beam search), per-layer diagnostics and a
 * whole-model gradient check.
 *
 *   tg_model_config cfg = tg_model_config_default();     // the paper's base model
 *   cfg.vocab = 8000; cfg.norm = TG_NORM_PRE;
 *   tg_err err;
 *   tg_model *m = tg_model_new(&cfg, 1, &err);            // NULL + err.msg on a bad config
 *   tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.seed = 1});
 *   tg_tensor *loss; int64_t ntok;
 *   tg_model_loss(m, ctx, src, tgt_in, tgt_out, B, S, T, &loss, &ntok, &err);  // (B,S), (B,T)
 *   tg_backward(ctx, loss);                  // gradients in tg_params_grad(tg_model_params(m))
 *   tg_ctx_reset(ctx);
 *   tg_decode_out out;
 *   tg_decode_opts o = tg_decode_defaults();              // beam 4, alpha 0.6, 1.2 * len + 10
 *   tg_decode_beam(m, ctx, srcs, src_lens, n, &o, &out, &err);  // out.ids[i], out.len[i]
 *   tg_decode_out_free(&out);
 *   tg_model_free(m);
 *
 * The model follows ../shared/bench/torch_reference.py: one embedding matrix (V, d_model) shared
 * by source and target, scaled by sqrt(d_model), plus fixed sinusoidal positions, then dropout;
 * every projection (attention q/k/v/out, feed-forward) is a linear layer with a bias; the output
 * projection is the embedding matrix (tied) with no bias; LayerNorm eps 1e-5; attention
 * probabilities, the feed-forward hidden layer and each sub-layer output get dropout. Token ids:
 * pad 0 (never attended to, ignored by the loss), bos 1, eos 2.
 */
#ifndef TG_NN_H
#define TG_NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/autograd.h"
#include "autograd/gradcheck.h"
#include "autograd/tokens.h"   /* TG_PAD_ID, TG_BOS_ID, TG_EOS_ID */

#ifdef __cplusplus
extern "C" {
#endif


/* ---- configuration ---------------------------------------------------------------------- */

typedef enum tg_norm_place {
    TG_NORM_POST, /* x = LN(x + Drop(f(x))), as in the paper */
    TG_NORM_PRE,  /* x = x + Drop(f(LN(x))), with a final LayerNorm on each stack */
} tg_norm_place;

typedef enum tg_activation {
    TG_ACT_NONE,
    TG_ACT_RELU,
    TG_ACT_GELU, /* exact form x Phi(x), as torch.nn.functional.gelu */
} tg_activation;

/* Where the attention activation goes (Qiu et al. 2025 call the heads place G1). */
typedef enum tg_attn_place {
    TG_ATTN_AT_OUT,   /* after the output projection W_O: act(W_O concat(heads)) */
    TG_ATTN_AT_HEADS, /* on each head's output before W_O: W_O act(concat(heads)) */
} tg_attn_place;

typedef enum tg_attn_gate {
    TG_GATE_NONE,
    TG_GATE_SIGMOID, /* Qiu et al. 2025's elementwise gate before W_O: concat(heads) (.)
                        sigmoid(X W_g^T + b_g), X the attention's query-side input */
} tg_attn_gate;

typedef struct tg_model_config {
    int vocab;               /* shared source/target vocabulary, specials included */
    int d_model, heads, d_ff;
    int enc_layers, dec_layers;
    int max_len;             /* longest source or decoder input (positions table) */
    double dropout;          /* every dropout of the model, in [0, 1) */
    double label_smoothing;  /* spread uniformly over the whole vocabulary, in [0, 1) */
    tg_norm_place norm;      /* post (paper) | pre */
    tg_activation ffn_activation;  /* relu (paper) | gelu */
    tg_activation attn_activation; /* none (paper) | relu | gelu, in every attention (encoder
                                      self, decoder self, cross), at attn_activation_at */
    tg_attn_place attn_activation_at; /* out (after W_O, before dropout and the residual add)
                                         | heads (on the concatenated heads, before W_O) */
    tg_attn_gate attn_gate;  /* none (paper) | sigmoid: each attention gets w_g (d, d) and b_g
                                (d); with heads, the activation comes first, then the gate:
                                W_O (act(heads) (.) sigmoid(X W_g^T + b_g)) */
    tg_activation residual_activation; /* none (paper) | relu: after each residual add, ResNet
                                          v1's place. post-LN: x = LN(relu(x + Drop(f(x))));
                                          pre-LN: x = relu(x + Drop(f(LN(x)))) */
    bool tie_embeddings;     /* on (paper): the output projection is the embedding matrix; off:
                                its own (V, d_model) matrix "output.weight", no bias */
} tg_model_config;

/* The paper's base model: vocab 37000 (its shared BPE vocabulary; set yours), d_model 512,
 * 8 heads, d_ff 2048, 6+6 layers, max_len 1024, dropout 0.1, label smoothing 0.1, post-LN,
 * ReLU, no attention activation (at out), no gate, no residual activation, tied embeddings. */
tg_model_config tg_model_config_default(void);
/* TG_ERR_ARG with a message naming the field when a value is out of range (sizes >= 1,
 * d_model even and divisible by heads, vocab >= 4 for the special ids, dropout and label
 * smoothing in [0, 1), ffn_activation relu or gelu, residual_activation none or relu, sizes
 * bounded so that nothing overflows). */
tg_status tg_model_config_validate(const tg_model_config *c, tg_err *err);
/* The numeric bounds of one config field: lo <= v <= hi, or lo <= v < hi when hi_open. One table
 * holds them all; tg_model_config_validate and the tapegrad flags both read it. */
typedef struct tg_model_limit {
    const char *key; /* the field's name, as tg_model_config_set takes it ("d_model") */
    double lo, hi;
    bool hi_open;
} tg_model_limit;
/* The bounds of field key, or NULL when it has none (the switches). Static storage. */
const tg_model_limit *tg_model_config_limit(const char *key);
/* Whether v lies within l. */
bool tg_model_limit_holds(const tg_model_limit *l, double v);
/* Parameters (scalars) a model of config c declares, computed without building it (a checkpoint
 * reader checks a file's sizes with it before allocating); equals tg_model_param_count of the
 * built model. c must have passed tg_model_config_validate (then nothing overflows 64 bits). */
uint64_t tg_model_config_param_count(const tg_model_config *c);
/* Sets one field from text, for flags and config files: keys are the field names ("d_model",
 * "norm", "tie_embeddings"...), values numbers or the names below (tie_embeddings: on | off).
 * Does not validate the whole config. */
tg_status tg_model_config_set(tg_model_config *c, const char *key, const char *value,
                              tg_err *err);
/* "vocab=8000 d_model=512 ... tie_embeddings=on" (every field, parseable with _set); returns
 * the length snprintf would have written. */
int tg_model_config_str(const tg_model_config *c, char *buf, size_t len);
const char *tg_norm_place_name(tg_norm_place p);  /* "post" | "pre" */
const char *tg_activation_name(tg_activation a);  /* "none" | "relu" | "gelu" */
const char *tg_attn_place_name(tg_attn_place p);  /* "out" | "heads" */
const char *tg_attn_gate_name(tg_attn_gate g);    /* "none" | "sigmoid" */
tg_status tg_norm_place_parse(const char *s, tg_norm_place *out, tg_err *err);
tg_status tg_activation_parse(const char *s, tg_activation *out, tg_err *err);
tg_status tg_attn_place_parse(const char *s, tg_attn_place *out, tg_err *err);
tg_status tg_attn_gate_parse(const char *s, tg_attn_gate *out, tg_err *err);

/* ---- the model -------------------------------------------------------------------------- */

typedef struct tg_model tg_model;

/* Validates cfg (nothing is allocated for a bad one), declares every parameter with its
 * hierarchical name, allocates the parameter store and initialises it from seed: Xavier-uniform
 * for every matrix, zero biases, LayerNorm gain 1 and bias 0, embedding ~ N(0, d_model^-0.5)
 * with the pad row zeroed (as torch_reference.py). NULL with err filled on failure.
 * Names: embedding.weight, output.weight (untied only), encoder.layers.<i>.{self_attn,ffn,
 * norm1,norm2}.*, decoder.layers.<i>.{self_attn,cross_attn,ffn,norm1,norm2,norm3}.*,
 * encoder.norm.*, decoder.norm.* (pre-LN only); attention: w_q b_q w_k b_k w_v b_v w_o b_o,
 * then w_g b_g with the sigmoid gate (weights (out, in) as torch.nn.Linear); ffn: w_1 (d_ff, d) b_1 w_2 (d, d_ff) b_2; norms:
 * gain bias. */
tg_model *tg_model_new(const tg_model_config *cfg, uint64_t seed, tg_err *err);
void tg_model_free(tg_model *m);
/* Re-draws every parameter from seed, exactly as tg_model_new did. */
void tg_model_init(tg_model *m, uint64_t seed);
const tg_model_config *tg_model_cfg(const tg_model *m);
tg_params *tg_model_params(const tg_model *m);
int64_t tg_model_param_count(const tg_model *m);  /* scalars; the tied matrix counted once */

/* Builds the forward graph in ctx: logits (B, T, V) for source ids src (B, S) and decoder inputs
 * tgt_in (B, T), both right-padded with 0. Dropout follows tg_ctx_training(ctx). Ids must lie in
 * [0, vocab) and S, T in [1, max_len]; otherwise TG_ERR_ARG and a message. */
tg_status tg_model_logits(tg_model *m, tg_ctx *ctx, const int32_t *src, const int32_t *tgt_in,
                          int B, int S, int T, tg_tensor **logits, tg_err *err);
/* The training loss: label-smoothed cross-entropy of the logits against tgt_out (B, T), mean
 * over its non-pad tokens; () tensor in *loss; *n_tokens (may be NULL) the non-pad count. The
 * projection and the loss run in chunks of rows (tg_linear_cross_entropy): the logits never
 * exist whole, and the gradient of the tied matrix may differ from matmul + cross_entropy's in
 * the last bits. */
tg_status tg_model_loss(tg_model *m, tg_ctx *ctx, const int32_t *src, const int32_t *tgt_in,
                        const int32_t *tgt_out, int B, int S, int T, tg_tensor **loss,
                        int64_t *n_tokens, tg_err *err);
/* The same loss, and the plain (unsmoothed) cross-entropy of the same rows in *nll (may be
 * NULL), for perplexity, from the same chunks of logits. */
tg_status tg_model_loss_nll(tg_model *m, tg_ctx *ctx, const int32_t *src, const int32_t *tgt_in,
                            const int32_t *tgt_out, int B, int S, int T, tg_tensor **loss,
                            double *nll, tg_err *err);

/* Teacher-forced statistics of the next-token distributions p = softmax(logits), summed over
 * target tokens (the means are the sums over tokens): */
typedef struct tg_token_stats {
    int64_t tokens;      /* targets counted: not pad, within [0, V) */
    int64_t correct;     /* whose most probable token (the lowest id among ties) is the target */
    int64_t top5;        /* whose target has fewer than 5 tokens more probable than it */
    double nll;          /* -log p(target): the NLL of tg_model_loss_nll */
    double nll_wrong;    /* the part of nll from the targets that are not the most probable */
    double entropy;      /* -sum_v p_v log p_v, nats */
    double confidence;   /* p of the most probable token */
} tg_token_stats;
/* The statistics as means: accuracy and top5 as fractions; nll_right (nll_wrong) the NLL per token of
 * the targets that are (are not) the most probable; entropy and confidence per token. A mean over
 * no tokens is NaN. */
typedef struct tg_token_means {
    double nll, accuracy, top5, nll_right, nll_wrong, entropy, confidence;
} tg_token_means;
tg_token_means tg_token_stats_means(const tg_token_stats *s);
/* Adds rows (rows, V) of logits, against targets (rows), into *acc, in double, for the
 * distributions softmax(logits / temperature) (temperature > 0; 1: the model's own); rows whose
 * target is ignore are left out. Non-finite logits give non-finite sums, never a crash. */
void tg_token_stats_rows(const tg_float *logits, int64_t rows, int64_t V, const int32_t *targets,
                         int ignore, double temperature, tg_token_stats *acc);
/* The same for the batch's target tokens tgt_out (B, T) (pad left out), from tg_model_logits:
 * the (B, T, V) logits exist whole for the call. A temperature not > 0 is TG_ERR_ARG. */
tg_status tg_model_token_stats(tg_model *m, tg_ctx *ctx, const int32_t *src, const int32_t *tgt_in,
                               const int32_t *tgt_out, int B, int S, int T, double temperature,
                               tg_token_stats *acc, tg_err *err);

/* ---- incremental decoding --------------------------------------------------------------- */

/* The decoder's state over a set of rows (hypotheses): for each decoder layer the self-attention
 * keys/values of the tokens so far and the encoder-decoder keys/values of the row's source, both
 * computed once and owned here. Every call runs with recording and dropout off (restored after)
 * and resets ctx: give decoding a ctx with nothing live in it. */
typedef struct tg_decoder_state tg_decoder_state;

/* Encodes n sources (src[i] has src_len[i] ids, 1..max_len, no padding) and prepares one row per
 * source for up to max_steps decoder inputs (<= max_len). */
tg_status tg_decoder_state_new(tg_model *m, tg_ctx *ctx, const int32_t *const *src,
                               const int *src_len, int n, int max_steps,
                               tg_decoder_state **out, tg_err *err);
void tg_decoder_state_free(tg_decoder_state *st);
int tg_decoder_state_rows(const tg_decoder_state *st);
int tg_decoder_state_steps(const tg_decoder_state *st);  /* decoder inputs consumed so far */
/* Feeds tokens[r] (one per row) at the next position; writes the logits of the next token,
 * (rows, V), into logits. */
tg_status tg_decoder_state_step(tg_decoder_state *st, tg_ctx *ctx, const int32_t *tokens,
                                tg_float *logits, tg_err *err);
/* Row r of the new state is row rows[r] of the old one (repeat to expand into beams, permute to
 * follow beam parents, drop finished rows); n_rows >= 1. */
tg_status tg_decoder_state_select(tg_decoder_state *st, const int *rows, int n_rows,
                                  tg_err *err);

typedef struct tg_decode_opts {
    int beam;            /* hypotheses per sentence, >= 1 */
    double alpha;        /* GNMT length penalty lp = ((5 + len) / 6)^alpha; 0: none */
    double max_len_a;    /* at most floor(a * src_len + b) tokens (eos included) are made, */
    int max_len_b;       /* and never more than the model's max_len */
    int bos_id, eos_id;
} tg_decode_opts;

/* beam 4, alpha 0.6 (the paper's), a 1.2, b 10, bos 1, eos 2. */
tg_decode_opts tg_decode_defaults(void);

/* One output per source, in the order given: ids without bos and eos. After a failure it is
 * empty; tg_decode_out_free is safe either way. */
typedef struct tg_decode_out {
    int n;
    int32_t **ids;
    int *len;
    double *logprob;     /* sum of the token log-probabilities, eos included when made */
    double *score;       /* logprob / length penalty (greedy: alpha applied the same way) */
} tg_decode_out;

void tg_decode_out_free(tg_decode_out *out);
/* Both never produce pad or bos (their probabilities still count in the normalisation).
 * Greedy: the most probable token at each step (the lowest id on a tie), until eos or the
 * length limit. Batched over the n sources; finished sentences leave the batch. */
tg_status tg_decode_greedy(tg_model *m, tg_ctx *ctx, const int32_t *const *src,
                           const int *src_len, int n, const tg_decode_opts *o,
                           tg_decode_out *out, tg_err *err);
/* Beam search: per sentence `beam` live hypotheses; each step takes the 2*beam best extensions
 * (ties: lower previous hypothesis, then lower id), moves those ending in eos to the finished
 * list with score logprob / lp, keeps the best `beam` others; a sentence stops when it has
 * `beam` finished hypotheses or reaches its length limit (its live ones are then finished too).
 * The output is the best finished score. beam 1 gives the greedy result. */
tg_status tg_decode_beam(tg_model *m, tg_ctx *ctx, const int32_t *const *src,
                         const int *src_len, int n, const tg_decode_opts *o, tg_decode_out *out,
                         tg_err *err);

/* ---- diagnostics ------------------------------------------------------------------------- */

/* A layer's sub-layers: encoder layers have self_attn and ffn, decoder layers all three. */
typedef enum tg_diag_sublayer_kind {
    TG_DIAG_SELF_ATTN, TG_DIAG_CROSS_ATTN, TG_DIAG_FFN, TG_DIAG_SUBLAYERS
} tg_diag_sublayer_kind;
const char *tg_diag_sublayer_name(tg_diag_sublayer_kind k);  /* "self_attn" | "cross_attn" | "ffn" */

/* Statistics of one sub-layer over the batch's non-pad tokens (issue 10, section 3). */
typedef struct tg_diag_sublayer {
    bool present;
    double zero_frac;     /* attention: fraction of exact zeros after its activation (before
                             W_O at heads, after it at out), without one after the gate (before
                             W_O), without either on the output; NAN for ffn */
    double branch_mean;   /* mean of the branch output f(x) added to the residual stream */
    double branch_rms;    /* its root mean square */
    double resid_dep;     /* Admin's residual dependency Var[f(x)] / Var[x + f(x)] (Liu et al.
                             2020), variances over every element of the non-pad tokens */
    double attn_entropy;  /* attention: mean entropy (nats) of the probabilities over heads and
                             non-pad queries; NAN for ffn */
} tg_diag_sublayer;

typedef struct tg_diag_layer {
    tg_diag_sublayer sub[TG_DIAG_SUBLAYERS];
    double rank_resid;    /* Dong et al. 2021's relative residual ||X - 1 xbar^T||_F / ||X||_F of
                             the layer's output tokens X (n, d), per sentence without padding,
                             averaged over sentences */
    double grad_norm;     /* L2 norm of the layer's parameter gradients: set by
                             tg_model_layer_grad_norms, left alone by tg_model_diagnose */
} tg_diag_layer;

/* Runs the model's forward on one batch (as tg_model_logits: src (B, S), tgt_in (B, T), right-
 * padded with 0) with recording and dropout off, and fills enc (enc_layers) and dec (dec_layers)
 * with each layer's statistics (grad_norm left as it was). Draws nothing from the dropout stream, leaves
 * parameters and gradients alone, resets ctx and restores its modes: give it a ctx with nothing
 * live in it. */
tg_status tg_model_diagnose(tg_model *m, tg_ctx *ctx, const int32_t *src, const int32_t *tgt_in,
                            int B, int S, int T, tg_diag_layer *enc, tg_diag_layer *dec,
                            tg_err *err);
/* The L2 norm of the current gradients of each layer's parameters (encoder.layers.<i>.*,
 * decoder.layers.<i>.*) into enc[i].grad_norm and dec[i].grad_norm, summed in double in store
 * order. */
void tg_model_layer_grad_norms(const tg_model *m, tg_diag_layer *enc, tg_diag_layer *dec);

/* ---- whole-model gradient check --------------------------------------------------------- */

typedef struct tg_model_gradcheck_opts {
    tg_gradcheck_opts check;  /* eps, atol, rtol; check.max_elems per parameter (<= 0: all) */
    int projections;          /* random unit directions u over all parameters at once (torch's
                                 fast mode: u . grad against (L(p + eps u) - L(p - eps u)) / 2eps) */
    uint64_t seed;            /* model initialisation, batch and samples */
    int threads;              /* of the context the check makes */
} tg_model_gradcheck_opts;

/* Every element of every parameter and 4 projections; seed 1; threads 1. Double:
 * tg_gradcheck_defaults() (torch's eps 1e-6, atol 1e-5, rtol 1e-3). Float: atol 5e-3, rtol 5e-2
 * (tg_gradcheck's float ones) with eps 1e-4, which holds for smooth models (gelu) but not
 * reliably across ReLU kinks: check ReLU models in the double build. */
tg_model_gradcheck_opts tg_model_gradcheck_defaults(void);

/* The tiny model the check runs on: vocab 11, d_model 8, 2 heads, d_ff 16, 2+2 layers,
 * max_len 8, dropout 0, label smoothing 0.1, the paper's switches; set the switches on it. */
tg_model_config tg_model_gradcheck_config(void);

typedef struct tg_model_gradcheck_line {
    char name[TG_NAME_MAX];  /* parameter name, or "projection <k>" */
    char shape[32];          /* "(11, 8)"; "(all)" for a projection */
    tg_gradcheck_result r;
} tg_model_gradcheck_line;

/* Builds the model of cfg (dropout must be 0), one padded batch (2 sentences: source lengths 5
 * and 3, target lengths 4 and 2, label smoothing as in cfg) and checks the loss's gradient for
 * each parameter (one line each, in store order), then the projections. Lines go to out (up to
 * cap); returns the number of lines (or -1 with err filled when the check could not run) and
 * sets *n_failed. */
int tg_model_gradcheck(const tg_model_config *cfg, const tg_model_gradcheck_opts *opts,
                       tg_model_gradcheck_line *out, int cap, int *n_failed, tg_err *err);

#ifdef __cplusplus
}
#endif

#endif /* TG_NN_H */
