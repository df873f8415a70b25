/* opcheck.c: the gradient check of every op in the op table, on several shapes (sizes 1, 7 and
 * 33), with masks and broadcasting where the op has them. Each case's inputs are parameters of
 * their own store (values persist across resets); the loss is sum(op(inputs) * R) for a fixed
 * random R, checked for two draws of R. An op of the table with no case fails. */
#include "autograd/gradcheck.h"
#include "autograd/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IN 4

typedef struct opcase opcase;
typedef tg_tensor *(*build_fn)(tg_ctx *ctx, tg_tensor **in, const opcase *c);

struct opcase {
    tg_op op;
    const char *variant;
    int n_in;
    int ndim[MAX_IN];
    int shape[MAX_IN][TG_MAX_DIMS];
    build_fn build;
    int flag;                  /* per-op option: transposes, causal, gelu variant... */
    double away_from_zero;     /* inputs kept at least this far from 0 (kinks) */
};

/* ---- builders ---- */
static tg_tensor *b_add(tg_ctx *c, tg_tensor **in, const opcase *k) { return tg_add(c, in[0], in[1]); }
static tg_tensor *b_sub(tg_ctx *c, tg_tensor **in, const opcase *k) { return tg_sub(c, in[0], in[1]); }
static tg_tensor *b_mul(tg_ctx *c, tg_tensor **in, const opcase *k) { return tg_mul(c, in[0], in[1]); }
static tg_tensor *b_pow(tg_ctx *c, tg_tensor **in, const opcase *k) {
    /* positive inputs for a fractional power: x * x + 0.5 */
    tg_tensor *half = tg_tensor_new(c, in[0]->ndim, in[0]->shape);
    if (half) for (int64_t i = 0; i < half->n; i++) half->data[i] = (tg_float)0.5;
    return tg_pow(c, tg_add(c, tg_mul(c, in[0], in[0]), half), k->flag ? -0.5 : 3.0);
}
static tg_tensor *b_scale(tg_ctx *c, tg_tensor **in, const opcase *k) { return tg_scale(c, in[0], -1.7); }
static tg_tensor *b_matmul(tg_ctx *c, tg_tensor **in, const opcase *k) {
    return tg_matmul(c, in[0], in[1], k->flag & 1, k->flag & 2);
}
/* attention's per-head products on (B, T, 3 heads * 2): flag 0 scores, 1 mix */
static tg_tensor *b_heads(tg_ctx *c, tg_tensor **in, const opcase *k) {
    return k->flag ? tg_heads_mix(c, in[0], in[1], 3) : tg_heads_scores(c, in[0], in[1], 3);
}
static tg_tensor *b_matmul_bias(tg_ctx *c, tg_tensor **in, const opcase *k) {
    return tg_matmul_bias(c, in[0], in[1], in[2]);
}
static tg_tensor *b_matmul_bias_relu(tg_ctx *c, tg_tensor **in, const opcase *k) {
    return tg_matmul_bias_relu(c, in[0], in[1], in[2]);
}
static tg_tensor *b_relu(tg_ctx *c, tg_tensor **in, const opcase *k) { return tg_relu(c, in[0]); }
static tg_tensor *b_gelu(tg_ctx *c, tg_tensor **in, const opcase *k) { return tg_gelu(c, in[0], k->flag); }
static tg_tensor *b_sigmoid(tg_ctx *c, tg_tensor **in, const opcase *k) { return tg_sigmoid(c, in[0]); }
/* Padding mask (B, 1, 1, Tk): the last `b + 1` keys of batch row b are -inf. */
static tg_tensor *pad_mask(tg_ctx *c, int B, int Tk) {
    tg_tensor *m = tg_tensor_new(c, 4, (int[]){B, 1, 1, Tk});
    if (!m) return NULL;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < Tk; j++) m->data[b * Tk + j] = j >= Tk - 1 - b ? (tg_float)-INFINITY : 0;
    return m;
}
static tg_tensor *b_softmax(tg_ctx *c, tg_tensor **in, const opcase *k) {
    tg_tensor *x = in[0], *mask = NULL;
    if (k->flag & 2) mask = pad_mask(c, x->shape[0], x->shape[3]);
    return k->flag & 4 ? tg_softmax_scaled(c, x, 0.37, mask, k->flag & 1) : tg_softmax(c, x, mask, k->flag & 1);
}
static tg_tensor *b_log_softmax(tg_ctx *c, tg_tensor **in, const opcase *k) { return tg_log_softmax(c, in[0]); }
static tg_tensor *b_layer_norm(tg_ctx *c, tg_tensor **in, const opcase *k) {
    return tg_layer_norm(c, in[0], k->n_in > 1 ? in[1] : NULL, k->n_in > 2 ? in[2] : NULL, 1e-5);
}
static tg_tensor *b_dropout(tg_ctx *c, tg_tensor **in, const opcase *k) {
    tg_ctx_set_rng(c, (tg_rng_state){42, 7});   /* the same mask on every evaluation */
    return tg_dropout(c, in[0], 0.3);
}
/* flag 1: with the norm (gain, bias as inputs 2, 3); p = 0.3 on the same mask every time */
static tg_tensor *b_residual(tg_ctx *c, tg_tensor **in, const opcase *k) {
    tg_ctx_set_rng(c, (tg_rng_state){42, 7});
    if (k->flag) return tg_residual_norm(c, in[0], in[1], 0.3, in[2], k->n_in > 3 ? in[3] : NULL, 1e-5);
    return tg_residual(c, in[0], in[1], 0.3);
}
static tg_tensor *b_embedding(tg_ctx *c, tg_tensor **in, const opcase *k) {
    int V = in[0]->shape[0], n = 2 * 7;
    int32_t ids[14];
    for (int i = 0; i < n; i++) ids[i] = (int32_t)((i * 5 + 3) % V);   /* repeats, and pad id 0 */
    return tg_embedding(c, in[0], ids, 2, (int[]){2, 7}, V > 1 ? 0 : -1);
}
static tg_tensor *b_reshape(tg_ctx *c, tg_tensor **in, const opcase *k) {
    tg_tensor *x = in[0];
    return tg_reshape(c, x, 2, (int[]){x->shape[x->ndim - 1], (int)(x->n / x->shape[x->ndim - 1])});
}
static tg_tensor *b_transpose(tg_ctx *c, tg_tensor **in, const opcase *k) {
    return tg_transpose(c, in[0], k->flag / 10, k->flag % 10);
}
static tg_tensor *b_sum(tg_ctx *c, tg_tensor **in, const opcase *k) { return tg_sum(c, in[0]); }
static tg_tensor *b_mean(tg_ctx *c, tg_tensor **in, const opcase *k) { return tg_mean(c, in[0]); }
static tg_tensor *b_cross_entropy(tg_ctx *c, tg_tensor **in, const opcase *k) {
    tg_tensor *x = in[0];
    int V = x->shape[x->ndim - 1], rows = (int)(x->n / V);
    int32_t t[64];
    for (int r = 0; r < rows && r < 64; r++) t[r] = (int32_t)((r * 7 + 2) % V);
    if (rows > 2) t[1] = -100;                   /* an ignored row */
    return tg_cross_entropy(c, x, t, k->flag ? 0.1 : 0.0, -100);
}
/* The custom-op path, through a small op of its own: y = a * a * b (b of a's shape). */
static tg_status aab_forward(tg_tensor *const *in, int n_in, tg_tensor *out, void *user, tg_err *err) {
    for (int64_t i = 0; i < out->n; i++)
        out->data[i] = in[0]->data[i] * in[0]->data[i] * in[1]->data[i];
    return TG_OK;
}
static void aab_backward(tg_tensor *const *in, int n_in, const tg_tensor *out, tg_float *const *g,
                         void *user) {
    const tg_float *a = in[0]->data, *b = in[1]->data;
    for (int64_t i = 0; i < out->n; i++) {
        if (g[0]) g[0][i] += 2 * a[i] * b[i] * out->grad[i];
        if (g[1]) g[1][i] += a[i] * a[i] * out->grad[i];
    }
}
static const tg_custom_op aab_op = {"a*a*b", aab_forward, aab_backward};
static tg_tensor *b_custom(tg_ctx *c, tg_tensor **in, const opcase *k) {
    return tg_custom(c, &aab_op, NULL, in, 2, in[0]->ndim, in[0]->shape);
}

/* x (..., d) against w (V, d), flag = rows per chunk (0: the default, one chunk here) */
static tg_tensor *b_linear_cross_entropy(tg_ctx *c, tg_tensor **in, const opcase *k) {
    tg_tensor *x = in[0];
    int V = in[1]->shape[0], rows = (int)(x->n / x->shape[x->ndim - 1]);
    int32_t t[64];
    for (int r = 0; r < rows && r < 64; r++) t[r] = (int32_t)((r * 7 + 2) % V);
    if (rows > 2) t[1] = -100;                   /* an ignored row */
    return tg_linear_cross_entropy(c, x, in[1], t, 0.1, -100, k->flag, NULL);
}

#define SH(...) {__VA_ARGS__}
static const opcase cases[] = {
    {TG_OP_ADD, "", 2, {2, 2}, {SH(7, 33), SH(7, 33)}, b_add, 0, 0},
    {TG_OP_ADD, "+row", 2, {3, 1}, {SH(2, 7, 33), SH(33)}, b_add, 0, 0},
    {TG_OP_ADD, "+trailing", 2, {3, 2}, {SH(3, 7, 5), SH(7, 5)}, b_add, 0, 0},
    {TG_OP_ADD, "", 2, {1, 1}, {SH(1), SH(1)}, b_add, 0, 0},
    {TG_OP_SUB, "", 2, {2, 2}, {SH(33, 7), SH(33, 7)}, b_sub, 0, 0},
    {TG_OP_SUB, "", 2, {1, 1}, {SH(1), SH(1)}, b_sub, 0, 0},
    {TG_OP_MUL, "", 2, {2, 2}, {SH(7, 33), SH(7, 33)}, b_mul, 0, 0},
    {TG_OP_MUL, "", 2, {1, 1}, {SH(1), SH(1)}, b_mul, 0, 0},
    {TG_OP_MUL, "+row", 2, {3, 1}, {SH(2, 7, 33), SH(33)}, b_mul, 0, 0},
    {TG_OP_POW, "-0.5", 1, {2}, {SH(7, 33)}, b_pow, 1, 0},
    {TG_OP_POW, "3", 1, {1}, {SH(1)}, b_pow, 0, 0},
    {TG_OP_SCALE, "", 1, {2}, {SH(7, 33)}, b_scale, 0, 0},
    {TG_OP_MATMUL, "", 2, {2, 2}, {SH(7, 33), SH(33, 1)}, b_matmul, 0, 0},
    {TG_OP_MATMUL, "a^T", 2, {2, 2}, {SH(33, 7), SH(33, 5)}, b_matmul, 1, 0},
    {TG_OP_MATMUL, "b^T", 2, {2, 2}, {SH(7, 33), SH(5, 33)}, b_matmul, 2, 0},
    {TG_OP_MATMUL, "a^T b^T", 2, {2, 2}, {SH(33, 7), SH(1, 33)}, b_matmul, 3, 0},
    {TG_OP_MATMUL, "batched", 2, {3, 3}, {SH(2, 7, 33), SH(2, 33, 7)}, b_matmul, 0, 0},
    {TG_OP_MATMUL, "batched b^T", 2, {4, 4}, {SH(2, 2, 7, 5), SH(2, 2, 7, 5)}, b_matmul, 2, 0},
    {TG_OP_MATMUL, "batched a^T", 2, {3, 3}, {SH(2, 7, 5), SH(2, 7, 1)}, b_matmul, 1, 0},
    {TG_OP_MATMUL, "shared b^T", 2, {3, 2}, {SH(2, 7, 33), SH(5, 33)}, b_matmul, 2, 0},
    {TG_OP_MATMUL, "shared", 2, {3, 2}, {SH(2, 7, 33), SH(33, 7)}, b_matmul, 0, 0},
    {TG_OP_MATMUL, "", 2, {2, 2}, {SH(1, 1), SH(1, 1)}, b_matmul, 0, 0},
    {TG_OP_MATMUL, "heads scores", 2, {3, 3}, {SH(2, 5, 6), SH(2, 7, 6)}, b_heads, 0, 0},
    {TG_OP_MATMUL, "heads mix", 2, {4, 3}, {SH(2, 3, 5, 7), SH(2, 7, 6)}, b_heads, 1, 0},
    {TG_OP_MATMUL_BIAS, "", 3, {2, 2, 1}, {SH(7, 33), SH(5, 33), SH(5)}, b_matmul_bias, 0, 0},
    {TG_OP_MATMUL_BIAS, "batched rows", 3, {3, 2, 1}, {SH(2, 7, 33), SH(1, 33), SH(1)}, b_matmul_bias, 0, 0},
    {TG_OP_MATMUL_BIAS_RELU, "", 3, {3, 2, 1}, {SH(2, 3, 4), SH(5, 4), SH(5)}, b_matmul_bias_relu, 0, 0},
    {TG_OP_RELU, "", 1, {2}, {SH(7, 33)}, b_relu, 0, 0.05},
    {TG_OP_RELU, "", 1, {1}, {SH(1)}, b_relu, 0, 0.05},
    {TG_OP_GELU, "tanh", 1, {2}, {SH(7, 33)}, b_gelu, 1, 0},
    {TG_OP_GELU, "erf", 1, {2}, {SH(33, 7)}, b_gelu, 0, 0},
    {TG_OP_SIGMOID, "", 1, {2}, {SH(7, 33)}, b_sigmoid, 0, 0},
    {TG_OP_SIGMOID, "", 1, {1}, {SH(1)}, b_sigmoid, 0, 0},
    {TG_OP_SOFTMAX, "", 1, {2}, {SH(7, 33)}, b_softmax, 0, 0},
    {TG_OP_SOFTMAX, "", 1, {2}, {SH(1, 1)}, b_softmax, 0, 0},
    {TG_OP_SOFTMAX, "causal", 1, {3}, {SH(2, 7, 7)}, b_softmax, 1, 0},
    {TG_OP_SOFTMAX, "causal Tk>Tq", 1, {3}, {SH(2, 5, 7)}, b_softmax, 1, 0},
    {TG_OP_SOFTMAX, "+pad mask", 1, {4}, {SH(3, 2, 7, 7)}, b_softmax, 2, 0},
    {TG_OP_SOFTMAX, "+pad mask+causal", 1, {4}, {SH(2, 2, 7, 7)}, b_softmax, 3, 0},
    {TG_OP_SOFTMAX, "scaled+pad mask+causal", 1, {4}, {SH(2, 2, 7, 7)}, b_softmax, 7, 0},
    {TG_OP_LOG_SOFTMAX, "", 1, {2}, {SH(7, 33)}, b_log_softmax, 0, 0},
    {TG_OP_LOG_SOFTMAX, "", 1, {2}, {SH(1, 7)}, b_log_softmax, 0, 0},
    {TG_OP_LAYER_NORM, "", 3, {2, 1, 1}, {SH(7, 33), SH(33), SH(33)}, b_layer_norm, 0, 0},
    {TG_OP_LAYER_NORM, "", 3, {3, 1, 1}, {SH(2, 3, 7), SH(7), SH(7)}, b_layer_norm, 0, 0},
    {TG_OP_LAYER_NORM, "no affine", 1, {2}, {SH(1, 33)}, b_layer_norm, 0, 0},
    {TG_OP_DROPOUT, "p=0.3", 1, {2}, {SH(7, 33)}, b_dropout, 0, 0},
    {TG_OP_RESIDUAL, "p=0.3", 2, {2, 2}, {SH(7, 33), SH(7, 33)}, b_residual, 0, 0},
    {TG_OP_RESIDUAL, "p=0.3+norm", 4, {3, 3, 1, 1}, {SH(2, 3, 7), SH(2, 3, 7), SH(7), SH(7)}, b_residual, 1, 0},
    {TG_OP_RESIDUAL, "p=0.3+norm no bias", 3, {2, 2, 1}, {SH(7, 33), SH(7, 33), SH(33)}, b_residual, 1, 0},
    {TG_OP_EMBEDDING, "pad 0", 1, {2}, {SH(33, 7)}, b_embedding, 0, 0},
    {TG_OP_EMBEDDING, "", 1, {2}, {SH(1, 5)}, b_embedding, 0, 0},
    {TG_OP_RESHAPE, "", 1, {2}, {SH(7, 33)}, b_reshape, 0, 0},
    {TG_OP_RESHAPE, "", 1, {3}, {SH(2, 7, 1)}, b_reshape, 0, 0},
    {TG_OP_TRANSPOSE, "0,1", 1, {2}, {SH(7, 33)}, b_transpose, 1, 0},
    {TG_OP_TRANSPOSE, "1,2", 1, {3}, {SH(2, 7, 33)}, b_transpose, 12, 0},
    {TG_OP_TRANSPOSE, "1,2 heads", 1, {4}, {SH(2, 7, 3, 5)}, b_transpose, 12, 0},
    {TG_OP_TRANSPOSE, "0,3", 1, {4}, {SH(2, 1, 3, 7)}, b_transpose, 3, 0},
    {TG_OP_SUM, "", 1, {2}, {SH(7, 33)}, b_sum, 0, 0},
    {TG_OP_SUM, "", 1, {1}, {SH(1)}, b_sum, 0, 0},
    {TG_OP_MEAN, "", 1, {2}, {SH(33, 7)}, b_mean, 0, 0},
    {TG_OP_CROSS_ENTROPY, "ls 0.1+ignore", 1, {2}, {SH(7, 33)}, b_cross_entropy, 1, 0},
    {TG_OP_LINEAR_CROSS_ENTROPY, "chunks of 3", 2, {3, 2}, {SH(2, 7, 5), SH(33, 5)}, b_linear_cross_entropy, 3, 0},
    {TG_OP_LINEAR_CROSS_ENTROPY, "one chunk", 2, {2, 2}, {SH(7, 5), SH(33, 5)}, b_linear_cross_entropy, 0, 0},
    {TG_OP_CROSS_ENTROPY, "", 1, {3}, {SH(2, 7, 5)}, b_cross_entropy, 0, 0},
    {TG_OP_CROSS_ENTROPY, "ls 0.1", 1, {2}, {SH(1, 7)}, b_cross_entropy, 1, 0},
    {TG_OP_CUSTOM, "a*a*b", 2, {2, 2}, {SH(7, 33), SH(7, 33)}, b_custom, 0, 0},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

typedef struct {
    const opcase *c;
    tg_tensor *in[MAX_IN];
    tg_float *R;            /* projection of the output, (out numel) */
    int64_t out_n;
} case_run;

static tg_tensor *case_loss(tg_ctx *ctx, void *arg) {
    case_run *run = arg;
    tg_tensor *y = run->c->build(ctx, run->in, run->c);
    if (!y) return NULL;
    tg_tensor *R = tg_tensor_from(ctx, y->ndim, y->shape, run->R);
    return tg_sum(ctx, tg_mul(ctx, y, R));
}

static double uniform(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static void run_case(tg_ctx *ctx, const opcase *c, int index, tg_opcheck_line *line) {
    memset(line, 0, sizeof *line);
    line->op = c->op;
    snprintf(line->name, sizeof line->name, "%s%s%s", tg_op_name(c->op), c->variant[0] ? " " : "",
             c->variant);
    size_t k = 0;
    for (int i = 0; i < c->n_in; i++) {
        tg_tensor tmp = {.ndim = c->ndim[i]};
        memcpy(tmp.shape, c->shape[i], sizeof tmp.shape);
        char s[48];
        k += (size_t)snprintf(line->shapes + k, sizeof line->shapes - k, "%s%s", i ? " x " : "",
                              tg_shape_str(&tmp, s, sizeof s));
        if (k >= sizeof line->shapes) break;
    }
    tg_params *P = tg_params_new();
    case_run run = {.c = c};
    uint64_t rng = 1000 + (uint64_t)index;
    tg_err err;
    bool ok = P != NULL;
    for (int i = 0; ok && i < c->n_in; i++) {
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        ok = (run.in[i] = tg_params_add(P, name, c->ndim[i], c->shape[i])) != NULL;
    }
    ok = ok && tg_params_alloc(P, &err) == TG_OK;
    for (int i = 0; ok && i < c->n_in; i++)
        for (int64_t j = 0; j < run.in[i]->n; j++) {
            double v = 2 * uniform(&rng) - 1;
            if (fabs(v) < c->away_from_zero) v = v < 0 ? -c->away_from_zero - 0.1 : c->away_from_zero + 0.1;
            run.in[i]->data[j] = (tg_float)v;
        }
    /* the output's size, from one forward */
    if (ok) {
        tg_ctx_reset(ctx);
        tg_tensor *y = c->build(ctx, run.in, c);
        ok = y != NULL;
        if (ok) run.out_n = y->n;
        else snprintf(line->r.worst, sizeof line->r.worst, "build failed: %.100s", tg_ctx_errmsg(ctx));
    }
    run.R = ok ? malloc((size_t)run.out_n * sizeof *run.R) : NULL;
    ok = ok && run.R;
    line->r.pass = ok;
    for (int proj = 0; ok && proj < 2; proj++) {
        for (int64_t j = 0; j < run.out_n; j++) run.R[j] = (tg_float)(2 * uniform(&rng) - 1);
        tg_gradcheck_opts o = tg_gradcheck_defaults();
        tg_gradcheck_result r;
        tg_status st = tg_gradcheck(ctx, case_loss, &run, run.in, c->n_in, &o, &r, &err);
        if (st != TG_OK) {
            ok = false;
            snprintf(line->r.worst, sizeof line->r.worst, "%.120s", err.msg);
            break;
        }
        if (r.max_abs >= line->r.max_abs) memcpy(line->r.worst, r.worst, sizeof r.worst);
        line->r.max_abs = fmax(line->r.max_abs, r.max_abs);
        line->r.max_rel = fmax(line->r.max_rel, r.max_rel);
        line->r.checked += r.checked;
        line->r.failed += r.failed;
        ok = r.pass;
    }
    line->r.pass = ok;
    free(run.R);
    tg_params_free(P);
    tg_ctx_reset(ctx);
}

int tg_opcheck_all(int threads, tg_opcheck_line *out, int cap, int *n_failed) {
    int n = 0;
    *n_failed = 0;
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = threads, .arena_bytes = 1 << 20, .seed = 1});
    for (int op = 0; op < TG_OP_COUNT; op++) {
        int found = 0;
        for (int i = 0; i < N_CASES; i++) {
            if (cases[i].op != (tg_op)op) continue;
            found++;
            tg_opcheck_line line;
            if (ctx) run_case(ctx, &cases[i], i, &line);
            else {
                memset(&line, 0, sizeof line);
                snprintf(line.r.worst, sizeof line.r.worst, "cannot create a context");
            }
            if (!line.r.pass) ++*n_failed;
            if (n < cap) out[n] = line;
            n++;
        }
        if (!found) {   /* an op of the table without a check fails */
            tg_opcheck_line line = {.op = (tg_op)op};
            snprintf(line.name, sizeof line.name, "%s", tg_op_name((tg_op)op));
            snprintf(line.r.worst, sizeof line.r.worst, "no gradient check for this op");
            ++*n_failed;
            if (n < cap) out[n] = line;
            n++;
        }
    }
    tg_ctx_free(ctx);
    return n;
}
