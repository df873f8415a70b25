/* encoder.c: an encoder layer: self-attention over the source (pad keys masked), then the
 * feed-forward network, each wrapped by the residual and LayerNorm of the norm switch. */
#include <stdio.h>

#include "nn/layers.h"

bool tg_encoder_layer_declare(tg_encoder_layer *l, tg_params *P, const tg_model_config *c, int i) {
    char p[4][TG_NAME_MAX];
    snprintf(p[0], sizeof p[0], "encoder.layers.%d.self_attn.", i);
    snprintf(p[1], sizeof p[1], "encoder.layers.%d.norm1.", i);
    snprintf(p[2], sizeof p[2], "encoder.layers.%d.ffn.", i);
    snprintf(p[3], sizeof p[3], "encoder.layers.%d.norm2.", i);
    return tg_mha_declare(&l->self_attn, P, p[0], c) &&
           tg_norm_declare(&l->norm1, P, p[1], c->d_model) &&
           tg_ffn_declare(&l->ffn, P, p[2], c->d_model, c->d_ff) &&
           tg_norm_declare(&l->norm2, P, p[3], c->d_model);
}

tg_tensor *tg_encoder_layer_forward(tg_ctx *ctx, const tg_model_config *c,
                                    const tg_encoder_layer *l, tg_tensor *x, tg_tensor *mask,
                                    tg_layer_probe *probe) {
    tg_sublayer_probe *p = probe ? probe->sub : NULL;
    tg_tensor *h = tg_sublayer_in(ctx, c, &l->norm1, x);                          // (B, S, d)
    tg_tensor *a = tg_mha_forward(ctx, &l->self_attn, c, h, h, mask, false, p);
    x = tg_sublayer_out(ctx, c, &l->norm1, x, tg_probe_branch(p, x, a));
    h = tg_sublayer_in(ctx, c, &l->norm2, x);
    tg_tensor *f = tg_ffn_forward(ctx, &l->ffn, h, c->dropout, c->ffn_activation);
    x = tg_sublayer_out(ctx, c, &l->norm2, x, tg_probe_branch(p ? p + 1 : NULL, x, f));
    if (probe) tg_keep(probe->out = x);
    return x;                                                                     // (B, S, d)
}
