/* decoder.c: a decoder layer: causal self-attention, encoder-decoder attention, feed-forward,
 * each wrapped by the residual and LayerNorm of the norm switch. The same code runs the whole
 * target sequence (training) and one position at a time against a key/value cache (decoding),
 * so the two cannot drift apart. */
#include <stdio.h>
#include <string.h>

#include "nn/layers.h"

bool tg_decoder_layer_declare(tg_decoder_layer *l, tg_params *P, const tg_model_config *c, int i) {
    char p[6][TG_NAME_MAX];
    snprintf(p[0], sizeof p[0], "decoder.layers.%d.self_attn.", i);
    snprintf(p[1], sizeof p[1], "decoder.layers.%d.norm1.", i);
    snprintf(p[2], sizeof p[2], "decoder.layers.%d.cross_attn.", i);
    snprintf(p[3], sizeof p[3], "decoder.layers.%d.norm2.", i);
    snprintf(p[4], sizeof p[4], "decoder.layers.%d.ffn.", i);
    snprintf(p[5], sizeof p[5], "decoder.layers.%d.norm3.", i);
    return tg_mha_declare(&l->self_attn, P, p[0], c) &&
           tg_norm_declare(&l->norm1, P, p[1], c->d_model) &&
           tg_mha_declare(&l->cross_attn, P, p[2], c) &&
           tg_norm_declare(&l->norm2, P, p[3], c->d_model) &&
           tg_ffn_declare(&l->ffn, P, p[4], c->d_model, c->d_ff) &&
           tg_norm_declare(&l->norm3, P, p[5], c->d_model);
}

/* Writes the newest key or value x (N, 1, d) at position t of the cache (N, cap, d) and returns
 * positions 0..t as a tensor (N, t+1, d) (the heads' packed layout, as attention reads it). */
static tg_tensor *cache_append(tg_ctx *ctx, tg_float *cache, tg_tensor *x, int t, int cap) {
    if (!x) return NULL;
    int N = x->shape[0], d = x->shape[2];
    tg_tensor *all = tg_tensor_new(ctx, 3, (int[]){N, t + 1, d});
    if (!all) return NULL;
    size_t row = (size_t)d * sizeof(tg_float);
    for (size_t n = 0; n < (size_t)N; n++) {
        tg_float *c = cache + n * (size_t)cap * d;
        memcpy(c + (size_t)t * d, x->data + n * d, row);
        memcpy(all->data + n * (size_t)(t + 1) * d, c, row * (size_t)(t + 1));
    }
    return all;
}

static tg_tensor *self_attention(tg_ctx *ctx, const tg_model_config *c, const tg_decoder_layer *l,
                                 tg_tensor *h, const tg_decoder_kv *kv, tg_sublayer_probe *p) {
    if (!kv->cache)
        return tg_mha_forward(ctx, &l->self_attn, c, h, h, kv->self_mask, true, p);
    tg_tensor *k, *v;                                                    // (N, 1, d)
    if (!tg_mha_kv(ctx, &l->self_attn, h, &k, &v)) return NULL;
    k = cache_append(ctx, kv->cache->k, k, kv->t, kv->cap);              // (N, t+1, d)
    v = cache_append(ctx, kv->cache->v, v, kv->t, kv->cap);
    if (!k || !v) return NULL;
    /* the newest position may see every cached one: no mask, no causal flag */
    return tg_mha_attend(ctx, &l->self_attn, c, h, k, v, NULL, false, p);
}

tg_tensor *tg_decoder_layer_forward(tg_ctx *ctx, const tg_model_config *c,
                                    const tg_decoder_layer *l, tg_tensor *y,
                                    const tg_decoder_kv *kv, tg_layer_probe *probe) {
    tg_sublayer_probe *p = probe ? probe->sub : NULL;
    tg_tensor *h = tg_sublayer_in(ctx, c, &l->norm1, y);                  // (B, T, d)
    tg_tensor *a = self_attention(ctx, c, l, h, kv, p);
    y = tg_sublayer_out(ctx, c, &l->norm1, y, tg_probe_branch(p, y, a));
    h = tg_sublayer_in(ctx, c, &l->norm2, y);
    if (p) p++;
    if (kv->cache)
        a = tg_mha_attend(ctx, &l->cross_attn, c, h, kv->cross_k, kv->cross_v,
                          kv->memory_mask, false, p);
    else
        a = tg_mha_forward(ctx, &l->cross_attn, c, h, kv->memory, kv->memory_mask, false, p);
    y = tg_sublayer_out(ctx, c, &l->norm2, y, tg_probe_branch(p, y, a));
    h = tg_sublayer_in(ctx, c, &l->norm3, y);
    tg_tensor *f = tg_ffn_forward(ctx, &l->ffn, h, c->dropout, c->ffn_activation);
    y = tg_sublayer_out(ctx, c, &l->norm3, y, tg_probe_branch(p ? p + 1 : NULL, y, f));
    if (probe) tg_keep(probe->out = y);
    return y;                                                             // (B, T, d)
}
