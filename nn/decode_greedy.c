/* decode_greedy.c: greedy decoding, batched; a sentence leaves the batch when it is finished. */
#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"

tg_status tg_decode_greedy(tg_model *m, tg_ctx *ctx, const int32_t *const *src,
                           const int *src_len, int n, const tg_decode_opts *o,
                           tg_decode_out *out, tg_err *err) {
    *out = (tg_decode_out){0};  /* empty on failure: safe to free */
    tg_status st = tg_decode_check(m, src, src_len, n, o, err);
    if (st) return st;
    int V = m->cfg.vocab, max_steps = 1;
    for (int i = 0; i < n; i++)
        if (src_len[i] >= 1 && tg_decode_limit(m, o, src_len[i]) > max_steps)
            max_steps = tg_decode_limit(m, o, src_len[i]);
    if ((st = tg_decode_out_alloc(out, n, err))) return st;
    tg_decoder_state *ds = NULL;
    int *active = malloc(sizeof(int) * (size_t)n);      // sentence of each row
    int *keep = malloc(sizeof(int) * (size_t)n);        // old row index of each kept row
    int *made = calloc((size_t)n, sizeof(int));         // tokens made per sentence, eos included
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)n);
    tg_float *logits = malloc(sizeof(tg_float) * (size_t)n * V);
    double *lp = malloc(sizeof(double) * (size_t)V);
    bool ok = active && keep && made && tokens && logits && lp;
    for (int i = 0; ok && i < n; i++) {
        out->ids[i] = malloc(sizeof(int32_t) * (size_t)max_steps);
        ok = out->ids[i] != NULL;
        active[i] = i;
        tokens[i] = o->bos_id;
    }
    if (!ok) st = tg_err_set(err, TG_ERR_NOMEM, "decode: out of memory");
    if (!st) st = tg_decoder_state_new(m, ctx, src, src_len, n, max_steps, &ds, err);

    int rows = n;
    while (!st && rows > 0) {
        if ((st = tg_decoder_state_step(ds, ctx, tokens, logits, err))) break;
        int kept = 0;
        for (int r = 0; r < rows; r++) {
            int i = active[r];
            tg_decode_log_softmax(logits + (size_t)r * V, V, lp);
            int best = -1;
            for (int v = 0; v < V; v++)
                if (tg_decode_allowed(o, v) && (best < 0 || lp[v] > lp[best])) best = v;
            out->logprob[i] += lp[best];
            made[i]++;
            if (best == o->eos_id) continue;
            out->ids[i][out->len[i]++] = best;
            if (made[i] >= tg_decode_limit(m, o, src_len[i])) continue;
            active[kept] = i;
            tokens[kept] = best;
            keep[kept++] = r;
        }
        if (kept == 0) break;
        if (kept < rows) st = tg_decoder_state_select(ds, keep, kept, err);
        rows = kept;
    }
    for (int i = 0; !st && i < n; i++)
        out->score[i] = out->logprob[i] / tg_decode_length_penalty(o->alpha, made[i]);
    tg_decoder_state_free(ds);
    free(active);
    free(keep);
    free(made);
    free(tokens);
    free(logits);
    free(lp);
    if (st) tg_decode_out_free(out);
    return st;
}
