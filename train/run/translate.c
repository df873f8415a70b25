/* translate.c: text <-> ids for a run's model, and translation of many sentences in batches
 * sorted by length (so little of each batch is padding), put back in the input order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/run/run.h"
#include "train/run/text_out.h"

tg_status tg_run_encode(tg_bpe *bpe, int vocab, const char *text, tg_ids *out, tg_err *err) {
    out->n = 0;
    if (bpe) return tg_bpe_encode(bpe, text, strlen(text), out, err);
    /* synthetic tasks: the text is the ids, separated by spaces */
    for (const char *p = text; *p;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        /* digits to a blank or the end: strtol alone took "+6" and "\v6", and read "0x6" as id 0
         * (refused as a special id); the text cut at a character, not inside one */
        char *end;
        long v = *p >= '0' && *p <= '9' ? strtol(p, &end, 10) : -1;
        if (v < 0 || (*end && *end != ' ' && *end != '\t') || v > 1 << 30) {
            char shown[48];
            return tg_err_set(err, TG_ERR_FORMAT, "'%s' is not a list of token ids",
                              tg_shown(shown, sizeof shown, text));
        }
        if (v >= vocab)
            return tg_err_set(err, TG_ERR_FORMAT, "id %ld outside the model's vocabulary [0, %d)", v, vocab);
        /* (padding in a source was masked out as padding, an end of sentence ended it) */
        if (v < TG_N_SPECIAL)
            return tg_err_set(err, TG_ERR_FORMAT, "id %ld is a special id (0 pad, 1 bos, 2 eos, 3 unk): a task's "
                              "tokens are %d to %d", v, TG_N_SPECIAL, vocab - 1);
        if (out->n == out->cap) {
            size_t cap = out->cap ? 2 * out->cap : 64;
            int32_t *nv = realloc(out->v, cap * sizeof *nv);
            if (!nv) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
            out->v = nv;
            out->cap = cap;
        }
        out->v[out->n++] = (int32_t)v;
        p = end;
    }
    return TG_OK;
}

tg_status tg_run_detok(const tg_bpe *bpe, const int32_t *ids, int n, tg_str *out, tg_err *err) {
    if (bpe) return tg_bpe_detok(bpe, ids, (size_t)n, out, err);
    size_t need = (size_t)n * 12 + 1;
    if (out->cap < need) {
        char *s = realloc(out->s, need);
        if (!s) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
        out->s = s;
        out->cap = need;
    }
    out->n = 0;
    out->s[0] = '\0';
    for (int i = 0; i < n && ids[i] != TG_EOS_ID; i++)
        out->n += (size_t)sprintf(out->s + out->n, out->n ? " %d" : "%d", ids[i]);
    return TG_OK;
}

tg_status tg_srcs_add(tg_srcs *s, const int32_t *ids, int n, tg_err *err) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        int32_t **nids = realloc(s->ids, (size_t)cap * sizeof *nids);
        if (nids) s->ids = nids;
        int *nlen = realloc(s->len, (size_t)cap * sizeof *nlen);
        if (nlen) s->len = nlen;
        if (!nids || !nlen) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
        s->cap = cap;
    }
    int32_t *v = malloc((size_t)(n + 1) * sizeof *v);
    if (!v) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    if (n > 0) memcpy(v, ids, (size_t)n * sizeof *v);
    v[n] = TG_EOS_ID;
    s->ids[s->n] = v;
    s->len[s->n++] = n + 1;
    return TG_OK;
}

tg_status tg_srcs_add_dataset(tg_srcs *s, const tg_dataset *ds, size_t n, tg_err *err) {
    tg_status st = TG_OK;
    for (size_t i = 0; st == TG_OK && i < n; i++) st = tg_srcs_add(s, ds->ids + ds->off[i], ds->src_len[i], err);
    return st;
}

void tg_srcs_free(tg_srcs *s) {
    for (int i = 0; i < s->n; i++) free(s->ids[i]);
    free(s->ids);
    free(s->len);
    memset(s, 0, sizeof *s);
}

tg_status tg_translate_srcs(tg_model *m, tg_ctx *ctx, const tg_bpe *bpe, const tg_srcs *srcs,
                            const tg_translate_opts *o, char **hyps, tg_err *err) {
    return tg_translate_ids(m, ctx, bpe, (const int32_t *const *)srcs->ids, srcs->len, srcs->n, o, hyps, err);
}

typedef struct { int len, index; } by_len;

static int cmp_len(const void *a, const void *b) {
    const by_len *x = a, *y = b;
    return x->len != y->len ? (x->len < y->len ? -1 : 1) : (x->index < y->index ? -1 : x->index > y->index);
}

tg_status tg_translate_ids(tg_model *m, tg_ctx *ctx, const tg_bpe *bpe, const int32_t *const *src,
                           const int *src_len, int n, const tg_translate_opts *o, char **hyps,
                           tg_err *err) {
    by_len *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    const int32_t **bsrc = malloc((size_t)(o->batch > 0 ? o->batch : 1) * sizeof *bsrc);
    int *blen = malloc((size_t)(o->batch > 0 ? o->batch : 1) * sizeof *blen);
    tg_str text = {0};
    tg_status s = order && bsrc && blen ? TG_OK : tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) order[i] = (by_len){src_len[i], i};
    if (s == TG_OK) qsort(order, (size_t)n, sizeof *order, cmp_len);
    int batch = o->batch > 0 ? o->batch : 1;
    for (int i0 = 0; s == TG_OK && i0 < n; i0 += batch) {
        if (o->stop && *o->stop) {
            s = tg_err_set(err, TG_ERR_STATE, "decoding stopped by a signal");
            break;
        }
        int bn = n - i0 < batch ? n - i0 : batch;
        for (int k = 0; k < bn; k++) {
            bsrc[k] = src[order[i0 + k].index];
            blen[k] = src_len[order[i0 + k].index];
        }
        tg_decode_out out = {0};
        s = o->decode.beam > 1 ? tg_decode_beam(m, ctx, bsrc, blen, bn, &o->decode, &out, err)
                               : tg_decode_greedy(m, ctx, bsrc, blen, bn, &o->decode, &out, err);
        for (int k = 0; s == TG_OK && k < bn; k++) {
            s = tg_run_detok(bpe, out.ids[k], out.len[k], &text, err);
            if (s == TG_OK && !(hyps[order[i0 + k].index] = strdup(text.s ? text.s : "")))
                s = tg_err_set(err, TG_ERR_NOMEM, "out of memory");
        }
        tg_decode_out_free(&out);
    }
    tg_str_free(&text);
    free(order);
    free(bsrc);
    free(blen);
    return s;
}
