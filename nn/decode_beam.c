/* decode_beam.c: beam search with the GNMT length penalty, batched over sentences. Each
 * sentence keeps up to `beam` live hypotheses (rows of the decoder state); only the best
 * finished hypothesis and the number finished are kept, which is all the stopping rule needs. */
#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"

typedef struct sentence {
    int limit;           /* tokens it may make, eos included */
    int first, n_live;   /* its rows in the decoder state */
    int n_finished;
    bool done;
    int best_len;        /* best finished: tokens without eos, their logprob and score */
    double best_logprob, best_score;
    bool has_best;
} sentence;

typedef struct cand {
    double score;
    int row, tok;
} cand;

typedef struct beam {
    const tg_model *m;
    const tg_decode_opts *o;
    int V, max_steps, cap_rows;
    sentence *s;
    int32_t *prefix, *prefix_next;  /* (rows, max_steps): tokens of each live hypothesis */
    double *logprob, *logprob_next; /* (rows) */
    int32_t *tokens;                /* (rows): latest token, fed at the next step */
    int *parents;                   /* (rows): old row of each new row */
    tg_float *logits;               /* (rows, V) */
    double *lp;                     /* (rows, V) */
    cand *cands;                    /* (2 beam) */
    int32_t **best;                 /* per sentence: tokens of its best finished hypothesis */
} beam;

/* Keeps the k best of the candidates offered so far, best first; an equal score goes after the
 * ones already kept, so rows and then ids in increasing order win ties. */
static void offer(cand *c, int *n, int k, double score, int row, int tok) {
    if (*n == k && !(score > c[k - 1].score)) return;
    int i = *n < k ? (*n)++ : k - 1;
    while (i > 0 && score > c[i - 1].score) {
        c[i] = c[i - 1];
        i--;
    }
    c[i] = (cand){score, row, tok};
}

static void finish(beam *b, int i, const int32_t *toks, int n_toks, double logprob, int made) {
    sentence *s = &b->s[i];
    double score = logprob / tg_decode_length_penalty(b->o->alpha, made);
    s->n_finished++;
    if (s->has_best && !(score > s->best_score)) return;
    s->has_best = true;
    s->best_score = score;
    s->best_logprob = logprob;
    s->best_len = n_toks;
    memcpy(b->best[i], toks, sizeof(int32_t) * (size_t)n_toks);
}

/* One sentence's step: picks its next live hypotheses (appended at row *next) from the 2 beam
 * best extensions of its live ones; `made` is the number of tokens each extension holds. */
static void advance(beam *b, int i, int made, int *next) {
    sentence *s = &b->s[i];
    int K = b->o->beam, V = b->V, nc = 0, n_live = 0, first_next = *next;
    for (int r = s->first; r < s->first + s->n_live; r++)
        for (int v = 0; v < V; v++)
            if (tg_decode_allowed(b->o, v))
                offer(b->cands, &nc, 2 * K, b->logprob[r] + b->lp[(size_t)r * V + v], r, v);
    for (int c = 0; c < nc && n_live < K && s->n_finished < K; c++) {
        const cand *x = &b->cands[c];
        const int32_t *pre = b->prefix + (size_t)x->row * b->max_steps;
        if (x->tok == b->o->eos_id) {
            finish(b, i, pre, made - 1, x->score, made);
            continue;
        }
        int r = (*next)++;
        int32_t *dst = b->prefix_next + (size_t)r * b->max_steps;
        memcpy(dst, pre, sizeof(int32_t) * (size_t)(made - 1));
        dst[made - 1] = x->tok;
        b->logprob_next[r] = x->score;
        b->tokens[r] = x->tok;
        b->parents[r] = x->row;
        n_live++;
    }
    if (s->n_finished < K && made >= s->limit) {
        /* out of length: the live hypotheses end here, without eos */
        for (int r = first_next; r < first_next + n_live; r++)
            finish(b, i, b->prefix_next + (size_t)r * b->max_steps, made, b->logprob_next[r],
                   made);
    }
    if (s->n_finished >= K || made >= s->limit) {
        s->done = true;
        *next = first_next;  /* its rows leave the state */
        s->n_live = 0;
        return;
    }
    s->first = first_next;
    s->n_live = n_live;
}

static void beam_free(beam *b) {
    for (int i = 0; b->best && b->s && i < b->cap_rows / b->o->beam; i++) free(b->best[i]);
    free(b->best);
    free(b->s);
    free(b->prefix);
    free(b->prefix_next);
    free(b->logprob);
    free(b->logprob_next);
    free(b->tokens);
    free(b->parents);
    free(b->logits);
    free(b->lp);
    free(b->cands);
}

static bool beam_alloc(beam *b, int n) {
    size_t rows = (size_t)n * b->o->beam;
    b->cap_rows = (int)rows;
    b->s = calloc((size_t)n, sizeof *b->s);
    b->best = calloc((size_t)n, sizeof *b->best);
    b->prefix = malloc(sizeof(int32_t) * rows * b->max_steps);
    b->prefix_next = malloc(sizeof(int32_t) * rows * b->max_steps);
    b->logprob = calloc(rows, sizeof(double));
    b->logprob_next = calloc(rows, sizeof(double));
    b->tokens = malloc(sizeof(int32_t) * rows);
    b->parents = malloc(sizeof(int) * rows);
    b->logits = malloc(sizeof(tg_float) * rows * b->V);
    b->lp = malloc(sizeof(double) * rows * b->V);
    b->cands = malloc(sizeof(cand) * 2 * (size_t)b->o->beam);
    bool ok = b->s && b->best && b->prefix && b->prefix_next && b->logprob && b->logprob_next &&
              b->tokens && b->parents && b->logits && b->lp && b->cands;
    for (int i = 0; ok && i < n; i++) ok = (b->best[i] = malloc(sizeof(int32_t) *
                                                                (size_t)b->max_steps)) != NULL;
    return ok;
}

tg_status tg_decode_beam(tg_model *m, tg_ctx *ctx, const int32_t *const *src,
                         const int *src_len, int n, const tg_decode_opts *o, tg_decode_out *out,
                         tg_err *err) {
    *out = (tg_decode_out){0};  /* empty on failure: safe to free */
    tg_status st = tg_decode_check(m, src, src_len, n, o, err);
    if (st) return st;
    if ((size_t)n * o->beam > (size_t)1 << 24)
        return tg_err_set(err, TG_ERR_ARG, "decode: %d sentences x beam %d is too many rows", n,
                          o->beam);
    beam b = {.m = m, .o = o, .V = m->cfg.vocab, .max_steps = 1};
    for (int i = 0; i < n; i++)
        if (src_len[i] >= 1 && tg_decode_limit(m, o, src_len[i]) > b.max_steps)
            b.max_steps = tg_decode_limit(m, o, src_len[i]);
    tg_decoder_state *ds = NULL;
    if (!beam_alloc(&b, n)) st = tg_err_set(err, TG_ERR_NOMEM, "decode: out of memory");
    if (!st) st = tg_decoder_state_new(m, ctx, src, src_len, n, b.max_steps, &ds, err);
    for (int i = 0; !st && i < n; i++) {
        b.s[i] = (sentence){.limit = tg_decode_limit(m, o, src_len[i]), .first = i, .n_live = 1};
        b.tokens[i] = o->bos_id;
    }
    int rows = n;
    for (int made = 1; !st && rows > 0; made++) {
        if ((st = tg_decoder_state_step(ds, ctx, b.tokens, b.logits, err))) break;
        for (int r = 0; r < rows; r++)
            tg_decode_log_softmax(b.logits + (size_t)r * b.V, b.V, b.lp + (size_t)r * b.V);
        int next = 0;
        for (int i = 0; i < n; i++)
            if (!b.s[i].done) advance(&b, i, made, &next);
        rows = next;
        if (rows == 0) break;
        st = tg_decoder_state_select(ds, b.parents, rows, err);
        int32_t *p = b.prefix; b.prefix = b.prefix_next; b.prefix_next = p;
        double *l = b.logprob; b.logprob = b.logprob_next; b.logprob_next = l;
    }
    if (!st) st = tg_decode_out_alloc(out, n, err);
    for (int i = 0; !st && i < n; i++) {
        sentence *s = &b.s[i];
        out->ids[i] = malloc(sizeof(int32_t) * (size_t)(s->best_len > 0 ? s->best_len : 1));
        if (!out->ids[i]) {
            st = tg_err_set(err, TG_ERR_NOMEM, "decode: out of memory");
            tg_decode_out_free(out);
            break;
        }
        memcpy(out->ids[i], b.best[i], sizeof(int32_t) * (size_t)s->best_len);
        out->len[i] = s->best_len;
        out->logprob[i] = s->best_logprob;
        out->score[i] = s->best_score;
    }
    tg_decoder_state_free(ds);
    beam_free(&b);
    return st;
}
