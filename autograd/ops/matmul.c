/* matmul.c: op(a) @ op(b), batched over leading dims, or with a 2-D b shared by every matrix of a
 * (a linear layer: a's leading dims fold into rows, one GEMM); and attention's two per-head
 * products read in place from the heads' packed layout (B, T, H * dh) (tg_heads_scores,
 * tg_heads_mix): the same GEMMs over strided matrices, so the same bits as splitting the heads
 * with transposes, multiplying and merging them back, without the copies. */
#include "autograd/ops/ops.h"

#include <string.h>

/* How the GEMMs see the matrices of a, b and y: each operand's leading dim, batch stride and
 * head stride (tg_gemm_args), so the same forward and backward serve a plain batched product
 * and attention's heads read in place from (B, T, H * dh). */
typedef struct mm_view {
    int64_t ld, stride, stride_h;
} mm_view;
enum { MM_A, MM_B, MM_Y };
typedef struct mm_plan {
    bool ta, tb;
    int64_t M, N, K, batch, heads;
    mm_view v[3];   /* a, b, y (and their gradients, laid out alike) */
    const tg_float *bias;   /* the forward's epilogue (tg_gemm_args): tg__matmul_epilogue's */
    bool relu;
} mm_plan;
typedef struct mm_op {
    bool ta, tb;
    int64_t M, N, K;
} mm_op;

/* C (role ic) = or += op(A) op(B) over the plan's batch, each operand seen as its role's view. */
static void mm_gemm(tg_ctx *ctx, const mm_plan *p, mm_op o, const tg_float *A, int ia,
                    const tg_float *B, int ib, tg_float *C, int ic) {
    bool forward = ic == MM_Y;   /* and only forward has the epilogue */
    tg_gemm_args g = {.ta = o.ta, .tb = o.tb, .accumulate = !forward, .M = o.M, .N = o.N, .K = o.K,
                      .A = A, .lda = p->v[ia].ld, .strideA = p->v[ia].stride, .strideA_h = p->v[ia].stride_h,
                      .B = B, .ldb = p->v[ib].ld, .strideB = p->v[ib].stride, .strideB_h = p->v[ib].stride_h,
                      .C = C, .ldc = p->v[ic].ld, .strideC = p->v[ic].stride, .strideC_h = p->v[ic].stride_h,
                      .batch = p->batch, .heads = p->heads,
                      .bias = forward ? p->bias : NULL, .relu = forward && p->relu};
    tg_k_gemm(ctx->pool, &g);
}

/* The three layouts, each rebuilt in backward from the node's i[]: ta | tb << 1 | heads << 2,
 * kind, M, N, K, batch. */
enum { MM_PLAIN, MM_SCORES, MM_MIX };

/* a (..., M, K) or (..., K, M) when ta, b likewise, y (..., M, N), contiguous; batch < 0: b is one
 * (K, N) or (N, K) matrix shared by the -batch matrices of a, which fold into rows. */
static mm_plan plan_plain(bool ta, bool tb, int64_t M, int64_t N, int64_t K, int64_t batch) {
    mm_plan p = {.ta = ta, .tb = tb, .M = M, .N = N, .K = K, .batch = batch,
                 .v = {{ta ? M : K, M * K, 0}, {tb ? K : N, K * N, 0}, {N, M * N, 0}}};
    if (batch < 0) { p.M = M * -batch; p.batch = 1; }
    return p;
}

/* scores: q (B, Tq, H dh) k (B, Tk, H dh)^T per head -> (B, H, Tq, Tk): M Tq, N Tk, K dh;
 * mix: w (B, H, Tq, Tk) v (B, Tk, H dh) per head -> (B, Tq, H dh): M Tq, N dh, K Tk. */
static mm_plan plan_heads(int kind, int64_t H, int64_t M, int64_t N, int64_t K, int64_t batch) {
    mm_plan p = {.ta = false, .tb = kind == MM_SCORES, .M = M, .N = N, .K = K, .batch = batch,
                 .heads = H};
    int64_t Tq = M, Tk = kind == MM_SCORES ? N : K, dh = kind == MM_SCORES ? K : N, D = H * dh;
    mm_view packed_q = {D, Tq * D, dh}, packed_k = {D, Tk * D, dh}, w = {Tk, H * Tq * Tk, Tq * Tk};
    p.v[MM_A] = kind == MM_SCORES ? packed_q : w;
    p.v[MM_B] = packed_k;
    p.v[MM_Y] = kind == MM_SCORES ? w : packed_q;
    return p;
}

static mm_plan plan_of(const int64_t *i) {
    return i[1] == MM_PLAIN ? plan_plain(i[0] & 1, i[0] & 2, i[2], i[3], i[4], i[5])
                            : plan_heads((int)i[1], i[0] >> 2, i[2], i[3], i[4], i[5]);
}

/* y = a b by the plan (kind, heads as plan_of reads them; i[2..5] are also the profile's flop
 * count, 2 M N K |batch|), and the epilogue epi's bias and relu. */
static tg_tensor *mm_run(tg_ctx *ctx, int kind, int64_t heads, int64_t M, int64_t N, int64_t K,
                         int64_t batch, bool ta, bool tb, tg_tensor *a, tg_tensor *b, tg_tensor *y,
                         const mm_plan *epi) {
    if (!y) return NULL;
    int64_t code[6] = {ta | tb << 1 | heads << 2, kind, M, N, K, batch};
    mm_plan p = plan_of(code);
    p.bias = epi ? epi->bias : NULL;
    p.relu = epi && epi->relu;
    mm_gemm(ctx, &p, (mm_op){p.ta, p.tb, p.M, p.N, p.K}, a->data, MM_A, b->data, MM_B, y->data, MM_Y);
    tg_node *node = tg__record(ctx, TG_OP_MATMUL, y, a, b, NULL);
    if (node) memcpy(node->i, code, sizeof code);
    return y;
}

/* x (B, T, H * dh), a width that divides by heads; other is the op's other operand (for the
 * message). */
static bool heads_fit(tg_ctx *ctx, const char *op, const tg_tensor *x, const tg_tensor *other, int heads) {
    if (x->ndim != 3)
        return tg__fail_shapes(ctx, op, x, other, "the heads must be (B, T, H * dh)"), false;
    if (heads < 1 || x->shape[2] % heads)
        return tg__fail_shapes(ctx, op, x, other, "the width does not divide by the heads"), false;
    return true;
}

static tg_tensor *matmul(tg_ctx *ctx, tg_tensor *a, tg_tensor *b, bool ta, bool tb,
                         const mm_plan *epi) {
    TG_NEED(ctx, a);
    TG_NEED(ctx, b);
    char sa[64], sb[64];
    tg_shape_str(a, sa, sizeof sa);
    tg_shape_str(b, sb, sizeof sb);
    if (a->ndim < 2 || b->ndim < 2)
        return tg__fail(ctx, TG_ERR_SHAPE, "matmul: %s x %s: both need at least 2 dims", sa, sb);
    int M = a->shape[a->ndim - (ta ? 1 : 2)], K = a->shape[a->ndim - (ta ? 2 : 1)];
    int Kb = b->shape[b->ndim - (tb ? 1 : 2)], N = b->shape[b->ndim - (tb ? 2 : 1)];
    if (K != Kb)
        return tg__fail(ctx, TG_ERR_SHAPE, "matmul%s%s: %s x %s: inner dims %d and %d differ",
                        ta ? " (a transposed)" : "", tb ? " (b transposed)" : "", sa, sb, K, Kb);
    bool shared_b = b->ndim == 2 && a->ndim > 2;
    if (shared_b && ta)
        return tg__fail(ctx, TG_ERR_SHAPE, "matmul: %s x %s: a 2-D b needs a not transposed", sa, sb);
    if (!shared_b) {
        if (a->ndim != b->ndim)
            return tg__fail(ctx, TG_ERR_SHAPE, "matmul: %s x %s: batch dims differ", sa, sb);
        for (int d = 0; d < a->ndim - 2; d++)
            if (a->shape[d] != b->shape[d])
                return tg__fail(ctx, TG_ERR_SHAPE, "matmul: %s x %s: batch dims differ", sa, sb);
    }
    int shape[TG_MAX_DIMS];
    for (int d = 0; d < a->ndim - 2; d++) shape[d] = a->shape[d];
    shape[a->ndim - 2] = M;
    shape[a->ndim - 1] = N;
    int64_t batch = a->n / ((int64_t)M * K);
    return mm_run(ctx, MM_PLAIN, 0, M, N, K, shared_b ? -batch : batch, ta, tb, a, b,
                  tg__new_uninit(ctx, a->ndim, shape), epi);              // (..., M, N)
}

tg_tensor *tg_matmul(tg_ctx *ctx, tg_tensor *a, tg_tensor *b, bool ta, bool tb) {
    return matmul(ctx, a, b, ta, tb, NULL);
}

tg_tensor *tg__matmul_epilogue(tg_ctx *ctx, tg_tensor *a, tg_tensor *b, bool ta, bool tb,
                               const tg_float *bias, bool relu) {
    return matmul(ctx, a, b, ta, tb, &(mm_plan){.bias = bias, .relu = relu});
}

tg_tensor *tg_heads_scores(tg_ctx *ctx, tg_tensor *q, tg_tensor *k, int heads) {
    TG_NEED(ctx, q);
    TG_NEED(ctx, k);
    if (!heads_fit(ctx, "heads_scores", q, k, heads) || !heads_fit(ctx, "heads_scores", k, q, heads)) return NULL;
    if (q->shape[0] != k->shape[0] || q->shape[2] != k->shape[2])
        return tg__fail_shapes(ctx, "heads_scores", q, k, "batch or width differ");
    int64_t B = q->shape[0], Tq = q->shape[1], Tk = k->shape[1], D = q->shape[2], dh = D / heads;
    tg_tensor *y = tg__new_uninit(ctx, 4, (int[]){(int)B, heads, (int)Tq, (int)Tk});
    return mm_run(ctx, MM_SCORES, heads, Tq, Tk, dh, B * heads, false, true, q, k, y,
                  NULL);                                                  // (B, H, Tq, Tk)
}

tg_tensor *tg_heads_mix(tg_ctx *ctx, tg_tensor *w, tg_tensor *v, int heads) {
    TG_NEED(ctx, w);
    TG_NEED(ctx, v);
    if (!heads_fit(ctx, "heads_mix", v, w, heads)) return NULL;
    int64_t B = v->shape[0], Tk = v->shape[1], D = v->shape[2], dh = D / heads;
    if (w->ndim != 4 || w->shape[0] != B || w->shape[1] != heads || w->shape[3] != Tk)
        return tg__fail_shapes(ctx, "heads_mix", w, v, "weights must be (B, H, Tq, Tk) for v (B, Tk, H * dh)");
    int64_t Tq = w->shape[2];
    tg_tensor *y = tg__new_uninit(ctx, 3, (int[]){(int)B, (int)Tq, (int)D});
    return mm_run(ctx, MM_MIX, heads, Tq, dh, Tk, B * heads, false, false, w, v, y,
                  NULL);                                                  // (B, Tq, H dh)
}

void tg_matmul_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
    mm_plan plan = plan_of(n->i);
    const mm_plan *p = &plan;
    bool ta = p->ta, tb = p->tb;
    int64_t M = p->M, N = p->N, K = p->K;
    if (tg_requires_grad(a)) {
        tg_float *ga = tg__grad(ctx, a);
        if (!ta)   /* dA (M, K) += dY op(B)^T */
            mm_gemm(ctx, p, (mm_op){false, !tb, M, K, N}, y->grad, MM_Y, b->data, MM_B, ga, MM_A);
        else       /* A is (K, M): dA += op(B) dY^T */
            mm_gemm(ctx, p, (mm_op){tb, true, K, M, N}, b->data, MM_B, y->grad, MM_Y, ga, MM_A);
    }
    if (tg_requires_grad(b)) {
        tg_float *gb = tg__grad(ctx, b);
        if (!tb)   /* dB (K, N) += op(A)^T dY */
            mm_gemm(ctx, p, (mm_op){!ta, false, K, N, M}, a->data, MM_A, y->grad, MM_Y, gb, MM_B);
        else       /* B is (N, K): dB += dY^T op(A) */
            mm_gemm(ctx, p, (mm_op){true, ta, N, K, M}, y->grad, MM_Y, a->data, MM_A, gb, MM_B);
    }
}
