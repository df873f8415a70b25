/* kv_cache.c: the decoder state of incremental decoding. Per decoder layer it owns the
 * self-attention keys/values of every position fed so far and the encoder-decoder keys/values of
 * each row's source (computed once, when the sources are encoded). Rows are hypotheses: select()
 * gathers them, so beams can follow their parents and finished sentences can leave. */
#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"

/* Rows of `chunks` chunks of `stride` elements each, in two buffers: gathers read `cur` and
 * write `tmp`, then swap. */
typedef struct rowbuf {
    tg_float *cur, *tmp;
    int chunks;
    size_t stride;
    int cap;  /* rows both buffers hold */
} rowbuf;

static size_t rowbuf_row(const rowbuf *b) { return (size_t)b->chunks * b->stride; }

static bool rowbuf_init(rowbuf *b, int rows, int chunks, size_t stride) {
    b->chunks = chunks;
    b->stride = stride;
    b->cap = rows;
    b->cur = calloc((size_t)rows * rowbuf_row(b), sizeof(tg_float));
    b->tmp = calloc((size_t)rows * rowbuf_row(b), sizeof(tg_float));
    return b->cur && b->tmp;
}

static void rowbuf_free(rowbuf *b) {
    free(b->cur);
    free(b->tmp);
}

/* New row r = old row idx[r]; copies the first `used` elements of each chunk. */
static bool rowbuf_gather(rowbuf *b, const int *idx, int n, size_t used) {
    size_t row = rowbuf_row(b);
    if (n > b->cap) {
        tg_float *t = realloc(b->tmp, sizeof(tg_float) * (size_t)n * row);
        if (!t) return false;
        b->tmp = t;
    }
    for (int r = 0; r < n; r++)
        for (int c = 0; c < b->chunks; c++)
            memcpy(b->tmp + (size_t)r * row + c * b->stride,
                   b->cur + (size_t)idx[r] * row + c * b->stride, used * sizeof(tg_float));
    tg_float *t = b->cur;
    b->cur = b->tmp;
    b->tmp = t;
    if (n > b->cap) {
        t = realloc(b->tmp, sizeof(tg_float) * (size_t)n * row);
        if (!t) return false;
        b->tmp = t;
        b->cap = n;
    }
    return true;
}

struct tg_decoder_state {
    tg_model *m;
    int rows, S, steps, max_steps;
    rowbuf *self_k, *self_v;    /* per layer: rows of (max_steps, d) */
    rowbuf *cross_k, *cross_v;  /* per layer: rows of (S, d) */
    rowbuf mask;                /* rows of (S): the additive source key mask */
    int *row_src, *row_tmp;     /* source sentence of each row */
    int row_cap;
};

void tg_decoder_state_free(tg_decoder_state *st) {
    if (!st) return;
    int L = st->m->cfg.dec_layers;
    for (int l = 0; l < L; l++) {
        if (st->self_k) rowbuf_free(&st->self_k[l]);
        if (st->self_v) rowbuf_free(&st->self_v[l]);
        if (st->cross_k) rowbuf_free(&st->cross_k[l]);
        if (st->cross_v) rowbuf_free(&st->cross_v[l]);
    }
    free(st->self_k);
    free(st->self_v);
    free(st->cross_k);
    free(st->cross_v);
    rowbuf_free(&st->mask);
    free(st->row_src);
    free(st->row_tmp);
    free(st);
}

int tg_decoder_state_rows(const tg_decoder_state *st) { return st->rows; }
int tg_decoder_state_steps(const tg_decoder_state *st) { return st->steps; }

/* Recording and dropout off for the duration of a decoding call, restored after. */
typedef struct mode { bool grad, training; } mode;
static mode mode_inference(tg_ctx *ctx) {
    mode old = {tg_ctx_grad_enabled(ctx), tg_ctx_training(ctx)};
    tg_ctx_set_grad_enabled(ctx, false);
    tg_ctx_set_training(ctx, false);
    return old;
}
static void mode_restore(tg_ctx *ctx, mode old) {
    tg_ctx_reset(ctx);
    tg_ctx_set_grad_enabled(ctx, old.grad);
    tg_ctx_set_training(ctx, old.training);
}

static bool state_alloc(tg_decoder_state *st, int n) {
    const tg_model_config *c = &st->m->cfg;
    int L = c->dec_layers, d = c->d_model;
    st->self_k = calloc((size_t)L, sizeof(rowbuf));
    st->self_v = calloc((size_t)L, sizeof(rowbuf));
    st->cross_k = calloc((size_t)L, sizeof(rowbuf));
    st->cross_v = calloc((size_t)L, sizeof(rowbuf));
    st->row_src = malloc(sizeof(int) * (size_t)n);
    st->row_tmp = malloc(sizeof(int) * (size_t)n);
    st->row_cap = n;
    if (!st->self_k || !st->self_v || !st->cross_k || !st->cross_v || !st->row_src ||
        !st->row_tmp)
        return false;
    bool ok = rowbuf_init(&st->mask, n, 1, (size_t)st->S);
    for (int l = 0; l < L; l++) {
        ok = rowbuf_init(&st->self_k[l], n, 1, (size_t)st->max_steps * d) && ok;
        ok = rowbuf_init(&st->self_v[l], n, 1, (size_t)st->max_steps * d) && ok;
        ok = rowbuf_init(&st->cross_k[l], n, 1, (size_t)st->S * d) && ok;
        ok = rowbuf_init(&st->cross_v[l], n, 1, (size_t)st->S * d) && ok;
    }
    return ok;
}

tg_status tg_decoder_state_new(tg_model *m, tg_ctx *ctx, const int32_t *const *src,
                               const int *src_len, int n, int max_steps,
                               tg_decoder_state **out, tg_err *err) {
    *out = NULL;
    const tg_model_config *c = &m->cfg;
    if (n < 1 || !src || !src_len)
        return tg_err_set(err, TG_ERR_ARG, "decode: no sources (n = %d)", n);
    if (max_steps < 1 || max_steps > c->max_len)
        return tg_err_set(err, TG_ERR_ARG, "decode: max_steps = %d, expected 1..%d", max_steps,
                          c->max_len);
    int S = 0;
    for (int i = 0; i < n; i++) {
        if (src_len[i] < 1 || src_len[i] > c->max_len)
            return tg_err_set(err, TG_ERR_ARG, "decode: source %d has length %d, expected 1..%d",
                              i, src_len[i], c->max_len);
        tg_err e;
        tg_status st = tg_model_check_ids(m, "source", src[i], 1, src_len[i], &e);
        if (st) return tg_err_set(err, st, "decode: sentence %d: %s", i, e.msg);
        if (src_len[i] > S) S = src_len[i];
    }
    int32_t *padded = calloc((size_t)n * S, sizeof *padded);  // (n, S), pad 0
    tg_decoder_state *st = calloc(1, sizeof *st);
    if (st) {
        st->m = m;
        st->rows = n;
        st->S = S;
        st->max_steps = max_steps;
    }
    if (!padded || !st || !state_alloc(st, n)) {
        free(padded);
        tg_decoder_state_free(st);
        return tg_err_set(err, TG_ERR_NOMEM, "decode: out of memory");
    }
    for (int i = 0; i < n; i++) {
        memcpy(padded + (size_t)i * S, src[i], sizeof(int32_t) * (size_t)src_len[i]);
        st->row_src[i] = i;
    }

    mode old = mode_inference(ctx);
    tg_ctx_reset(ctx);
    tg_tensor *mask;
    tg_tensor *x = tg_model_encode(ctx, m, padded, n, S, &mask);           // (n, S, d)
    bool ok = x != NULL;
    for (int l = 0; ok && l < c->dec_layers; l++) {
        tg_tensor *k, *v;                                                  // (n, S, d)
        ok = tg_mha_kv(ctx, &m->dec[l].cross_attn, x, &k, &v);
        if (ok) {
            memcpy(st->cross_k[l].cur, k->data, sizeof(tg_float) * (size_t)k->n);
            memcpy(st->cross_v[l].cur, v->data, sizeof(tg_float) * (size_t)v->n);
        }
    }
    tg_status status = TG_OK;
    if (ok)
        memcpy(st->mask.cur, mask->data, sizeof(tg_float) * (size_t)mask->n);
    else
        status = tg_nn_ctx_error(ctx, "decode: encoder", err);
    mode_restore(ctx, old);
    free(padded);
    if (status) {
        tg_decoder_state_free(st);
        return status;
    }
    *out = st;
    return TG_OK;
}

/* A tensor over memory the state owns: read by ops with recording off, never freed by them. */
static tg_tensor wrap(tg_float *data, int ndim, const int *shape) {
    tg_tensor t = {.data = data, .ndim = ndim};
    memcpy(t.shape, shape, sizeof(int) * (size_t)ndim);
    t.n = tg_shape_numel(ndim, shape);
    return t;
}

tg_status tg_decoder_state_step(tg_decoder_state *st, tg_ctx *ctx, const int32_t *tokens,
                                tg_float *logits, tg_err *err) {
    const tg_model *m = st->m;
    const tg_model_config *c = &m->cfg;
    int N = st->rows, d = c->d_model;
    if (st->steps >= st->max_steps)
        return tg_err_set(err, TG_ERR_ARG, "decode: step %d beyond max_steps %d", st->steps + 1,
                          st->max_steps);
    tg_status s = tg_model_check_ids(m, "decode: tokens", tokens, N, 1, err);
    if (s) return s;

    mode old = mode_inference(ctx);
    tg_ctx_reset(ctx);
    tg_tensor mask = wrap(st->mask.cur, 4, (int[]){N, 1, 1, st->S});
    tg_tensor *y = tg_model_embed(ctx, m, tokens, N, 1, st->steps);        // (N, 1, d)
    for (int l = 0; l < c->dec_layers; l++) {
        tg_tensor ck = wrap(st->cross_k[l].cur, 3, (int[]){N, st->S, d});
        tg_tensor cv = wrap(st->cross_v[l].cur, 3, (int[]){N, st->S, d});
        tg_kv_cache cache = {st->self_k[l].cur, st->self_v[l].cur};
        tg_decoder_kv kv = {
            .cross_k = &ck, .cross_v = &cv, .memory_mask = &mask,
            .cache = &cache, .t = st->steps, .cap = st->max_steps,
        };
        y = tg_decoder_layer_forward(ctx, c, &m->dec[l], y, &kv, NULL);
    }
    tg_tensor *out = tg_model_project(ctx, m, y);                          // (N, 1, V)
    if (out) {
        memcpy(logits, out->data, sizeof(tg_float) * (size_t)out->n);
        st->steps++;
    } else {
        s = tg_nn_ctx_error(ctx, "decode: step", err);
    }
    mode_restore(ctx, old);
    return s;
}

tg_status tg_decoder_state_select(tg_decoder_state *st, const int *rows, int n_rows,
                                  tg_err *err) {
    if (n_rows < 1 || !rows)
        return tg_err_set(err, TG_ERR_ARG, "decode: select of %d rows", n_rows);
    for (int r = 0; r < n_rows; r++)
        if (rows[r] < 0 || rows[r] >= st->rows)
            return tg_err_set(err, TG_ERR_ARG, "decode: select: row %d outside [0, %d)", rows[r],
                              st->rows);
    if (n_rows > st->row_cap) {
        int *a = realloc(st->row_src, sizeof(int) * (size_t)n_rows);
        if (a) st->row_src = a;
        int *b = realloc(st->row_tmp, sizeof(int) * (size_t)n_rows);
        if (b) st->row_tmp = b;
        if (!a || !b) return tg_err_set(err, TG_ERR_NOMEM, "decode: out of memory");
        st->row_cap = n_rows;
    }
    /* Rows that keep their source (beams following parents within a sentence) leave the source
     * side as it is; only a change of sentences moves it. */
    bool same_src = n_rows == st->rows;
    for (int r = 0; r < n_rows; r++) {
        st->row_tmp[r] = st->row_src[rows[r]];
        same_src = same_src && st->row_tmp[r] == st->row_src[r];
    }
    int *t = st->row_src;
    st->row_src = st->row_tmp;
    st->row_tmp = t;

    const tg_model_config *c = &st->m->cfg;
    int d = c->d_model;
    bool ok = true;
    for (int l = 0; l < c->dec_layers; l++) {
        ok = rowbuf_gather(&st->self_k[l], rows, n_rows, (size_t)st->steps * d) && ok;
        ok = rowbuf_gather(&st->self_v[l], rows, n_rows, (size_t)st->steps * d) && ok;
        if (!same_src) {
            ok = rowbuf_gather(&st->cross_k[l], rows, n_rows, (size_t)st->S * d) && ok;
            ok = rowbuf_gather(&st->cross_v[l], rows, n_rows, (size_t)st->S * d) && ok;
        }
    }
    if (!same_src) ok = rowbuf_gather(&st->mask, rows, n_rows, (size_t)st->S) && ok;
    st->rows = n_rows;
    return ok ? TG_OK : tg_err_set(err, TG_ERR_NOMEM, "decode: out of memory");
}
