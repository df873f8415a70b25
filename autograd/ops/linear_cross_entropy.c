/* linear_cross_entropy.c: the output projection and the label-smoothed cross-entropy as one op,
 * in chunks of rows, so that the logits (rows, V) and their gradient never exist whole: a chunk's
 * logits are made, scored, turned into their gradient and pushed through the projection's two
 * backward products before the next chunk's. The gradients are therefore made during the forward
 * (when recording) and kept, d x (rows, d) and d w (V, d): far less than the logits (rows, V) and
 * their gradient, and no GEMM is run twice. Backward scales them by the loss's gradient.
 * Values: the loss and d x are those of the composed matmul + cross_entropy bit for bit (each
 * output element of a GEMM is one chain over k, whatever the rows around it); d w sums the chunks'
 * products in chunk order, so it may differ from one GEMM over all rows in the last bits. The
 * chunk size depends on V only, never on the thread count. w is packed for the logits' and d x's
 * GEMMs once, not once a chunk (where the kernels pre-pack: the same bits). */
#include "autograd/ops/ops.h"

#include <string.h>

enum { CHUNK_ELEMS = 1 << 21 };   /* ~8 MB of float logits a chunk, then their gradient */

typedef struct lce {
    tg_ctx *ctx;
    const tg_tensor *x, *w;
    const int32_t *targets;
    int64_t rows, V, d, chunk;
    double smoothing, scale;
    int ignore;
    tg_float *z, *lse;          /* chunk buffers: the logits (chunk, V), then their gradient d z
                                   in their place; (chunk) */
    double *loss;               /* (rows) */
    double *nll;                /* (rows), the plain NLL, or NULL when not asked for */
    tg_float *dx, *dw;          /* (rows, d), (V, d); NULL when not wanted */
    tg_gemm_args gz, gdx;       /* the logits' and d x's GEMMs but for the chunk's rows */
    tg_float *packed[2];        /* w packed for them, or NULL */
    size_t packed_bytes[2];
} lce;

/* Rows r0 .. r0+rc of the logits z = x w^T, their loss and, if wanted, their gradients. */
static void lce_chunk(lce *c, int64_t r0, int64_t rc) {
    int64_t V = c->V, d = c->d;
    const tg_float *xc = c->x->data + r0 * d;
    tg_gemm_args g = c->gz;
    g.M = rc, g.A = xc;
    tg_k_gemm(c->ctx->pool, &g);                                          // z (rc, V)
    tg_k_cross_entropy(c->ctx->pool, rc, V, c->z, c->targets + r0, c->smoothing, c->ignore,
                       c->lse, c->loss + r0, c->nll ? c->nll + r0 : NULL);   /* and the plain loss */
    if (!c->dx && !c->dw) return;
    tg_k_cross_entropy_backward(c->ctx->pool, rc, V, c->z, c->targets + r0, c->smoothing,
                                c->ignore, c->lse, c->scale, false, c->z);    // dz (rc, V) over z
    if (c->dx) {   /* dx rows (rc, d) = dz w */
        g = c->gdx;
        g.M = rc, g.C = c->dx + r0 * d;
        tg_k_gemm(c->ctx->pool, &g);
    }
    if (c->dw) {   /* dw (V, d) += dz^T x rows */
        g = (tg_gemm_args){.ta = true, .accumulate = true, .M = V, .N = d, .K = rc, .A = c->z,
                           .lda = V, .B = xc, .ldb = d, .C = c->dw, .ldc = d, .batch = 1};
        tg_k_gemm(c->ctx->pool, &g);
    }
}

/* w packed for the GEMM g (c->packed[k]) when the kernels pre-pack and the arena has spare room
 * for it (tg__arena_take_spare): a speed-up that never raises the step's memory. Else the GEMM
 * packs w itself, to the same bits. */
static void lce_prepack(lce *c, int k, tg_gemm_args *g) {
    int64_t elems = tg_k_gemm_prepack_elems(g);
    if (elems <= 0) return;
    c->packed_bytes[k] = (size_t)elems * sizeof(tg_float);
    c->packed[k] = tg__arena_take_spare(c->ctx, c->packed_bytes[k]);
    if (c->packed[k]) tg_k_gemm_prepack_b(c->ctx->pool, g, c->packed[k]);
}

/* false, with the error in ctx (tg__fail returns NULL), when the arguments do not fit */
static bool lce_check(tg_ctx *ctx, const tg_tensor *x, const tg_tensor *w,
                            const int32_t *targets, double smoothing, int chunk_rows) {
    char sx[64], sw[64];
    if (x->ndim < 1 || w->ndim != 2 || x->shape[x->ndim - 1] != w->shape[1])
        return (bool)tg__fail(ctx, TG_ERR_SHAPE, "linear_cross_entropy: x %s and w %s: wants x (..., d), "
                        "w (V, d)", tg_shape_str(x, sx, sizeof sx), tg_shape_str(w, sw, sizeof sw));
    if (!(smoothing >= 0 && smoothing <= 1))
        return (bool)tg__fail(ctx, TG_ERR_ARG, "linear_cross_entropy: label smoothing %g not in [0, 1]",
                        smoothing);
    if (chunk_rows < 0)
        return (bool)tg__fail(ctx, TG_ERR_ARG, "linear_cross_entropy: chunk_rows %d is negative", chunk_rows);
    if (!targets) return (bool)tg__fail(ctx, TG_ERR_ARG, "linear_cross_entropy: NULL targets");
    return true;
}

/* The mean of rows[] over the counted rows, summed in row order (thread-independent). */
static double row_mean(const double *rows, int64_t n, int64_t count) {
    double total = 0;
    for (int64_t r = 0; r < n; r++) total += rows[r];
    return count ? total / (double)count : 0;
}

tg_tensor *tg_linear_cross_entropy(tg_ctx *ctx, tg_tensor *x, tg_tensor *w, const int32_t *targets,
                                   double smoothing, int ignore_index, int chunk_rows, double *nll) {
    TG_NEED(ctx, x);
    TG_NEED(ctx, w);
    if (!lce_check(ctx, x, w, targets, smoothing, chunk_rows)) return NULL;
    int64_t V = w->shape[0], d = w->shape[1], rows = x->n / d, count = 0;
    for (int64_t r = 0; r < rows; r++) {
        if (targets[r] == ignore_index) continue;
        if (targets[r] < 0 || targets[r] >= V)
            return tg__fail(ctx, TG_ERR_ARG, "linear_cross_entropy: target %d of row %lld is "
                            "outside [0, %lld)", targets[r], (long long)r, (long long)V);
        count++;
    }
    /* d w's product has K = the chunk's rows: at most one k block of the GEMM */
    int64_t chunk = chunk_rows ? chunk_rows : CHUNK_ELEMS / V;
    if (!chunk_rows && chunk > TG_K_GEMM_KBLOCK) chunk = TG_K_GEMM_KBLOCK;
    if (chunk < 1) chunk = 1;
    if (chunk > rows) chunk = rows;
    tg_tensor *y = tg__new_uninit(ctx, 0, NULL);                              // ()
    /* recorded as the composed ops would be; with every row ignored there is no gradient to make */
    bool record = y && ctx->grad_enabled && (tg_requires_grad(x) || tg_requires_grad(w));
    bool grads = record && count > 0;
    lce c = {.ctx = ctx, .x = x, .w = w, .targets = targets, .rows = rows, .V = V, .d = d,
             .chunk = chunk, .smoothing = smoothing, .ignore = ignore_index,
             .scale = count ? 1.0 / (double)count : 0};
    size_t zb = (size_t)(chunk * V) * sizeof(tg_float);
    c.z = y ? tg__arena_take(ctx, zb) : NULL;   /* and, once scored, d z: one buffer */
    c.lse = c.z ? tg_ctx_alloc(ctx, (size_t)chunk * sizeof(tg_float)) : NULL;
    c.loss = c.lse ? tg_ctx_alloc(ctx, (nll ? 2 : 1) * (size_t)rows * sizeof(double)) : NULL;
    if (!c.loss) return NULL;
    if (nll) c.nll = c.loss + rows;
    if (grads) {
        c.dx = tg_requires_grad(x) ? tg_ctx_alloc(ctx, (size_t)x->n * sizeof(tg_float)) : NULL;
        c.dw = tg_requires_grad(w) ? tg_ctx_alloc(ctx, (size_t)w->n * sizeof(tg_float)) : NULL;
        if ((tg_requires_grad(x) && !c.dx) || (tg_requires_grad(w) && !c.dw)) return NULL;
        if (c.dw) tg_k_zero(ctx->pool, w->n, c.dw);
    }
    c.gz = (tg_gemm_args){.tb = true, .M = chunk, .N = V, .K = d, .lda = d, .B = w->data, .ldb = d,
                          .C = c.z, .ldc = V, .batch = 1};
    c.gdx = (tg_gemm_args){.M = chunk, .N = d, .K = V, .A = c.z, .lda = V, .B = w->data, .ldb = d,
                           .ldc = d, .batch = 1};
    if (rows > chunk) {   /* (one chunk: the GEMMs pack w once anyway) */
        if (c.dx) lce_prepack(&c, 1, &c.gdx);   /* first: it saves more */
        lce_prepack(&c, 0, &c.gz);
    }
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) lce_chunk(&c, r0, rows - r0 < chunk ? rows - r0 : chunk);
    y->data[0] = (tg_float)row_mean(c.loss, rows, count);
    if (nll) *nll = (tg_float)row_mean(c.nll, rows, count);   /* as a () tensor of the composed op */
    for (int k = 0; k < 2; k++)   /* (the reverse of their taking) */
        if (c.packed[k]) tg__arena_give_back(ctx, c.packed[k], c.packed_bytes[k]);
    tg__arena_give_back(ctx, c.z, zb);
    if (!record) return y;
    tg_node *node = tg__record(ctx, TG_OP_LINEAR_CROSS_ENTROPY, y, x, w, NULL);
    if (node) {
        node->saved[0] = c.dx;
        node->saved[1] = c.dw;
        node->saved_bytes = (size_t)((c.dx ? x->n : 0) + (c.dw ? w->n : 0)) * sizeof(tg_float);
    }
    return y;
}

void tg_linear_cross_entropy_backward(tg_ctx *ctx, tg_node *n) {
    double g = n->out->grad[0];   /* the gradients were made for d loss = 1 */
    for (int k = 0; k < 2; k++)
        if (n->saved[k] && tg_requires_grad(n->in[k]))
            tg_k_acc(ctx->pool, n->in[k]->n, g, n->saved[k], tg__grad(ctx, n->in[k]));
}
