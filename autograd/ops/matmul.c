/* matmul.c: op(a) @ op(b), batched over leading dims, or with a 2-D b shared by every matrix of a
 * (a linear layer: a's leading dims fold into rows, one GEMM). */
#include "autograd/ops/ops.h"

tg_tensor *tg_matmul(tg_ctx *ctx, tg_tensor *a, tg_tensor *b, bool ta, bool tb) {
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
    tg_tensor *y = tg__new_uninit(ctx, a->ndim, shape);   // (..., M, N)
    if (!y) return NULL;
    int64_t batch = a->n / ((int64_t)M * K);
    tg_gemm_args g = {.ta = ta, .tb = tb, .M = M, .N = N, .K = K,
                      .A = a->data, .lda = ta ? M : K, .strideA = (int64_t)M * K,
                      .B = b->data, .ldb = tb ? K : N, .strideB = shared_b ? 0 : (int64_t)K * N,
                      .C = y->data, .ldc = N, .strideC = (int64_t)M * N, .batch = batch};
    if (shared_b) { g.M = M * batch; g.batch = 1; }
    tg_k_gemm(ctx->pool, &g);
    tg_node *node = tg__record(ctx, TG_OP_MATMUL, y, a, b, NULL);
    if (node) {
        node->i[0] = ta; node->i[1] = tb; node->i[2] = M; node->i[3] = N; node->i[4] = K;
        node->i[5] = shared_b ? -batch : batch;
    }
    return y;
}

void tg_matmul_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
    bool ta = n->i[0], tb = n->i[1];
    int64_t M = n->i[2], N = n->i[3], K = n->i[4], batch = n->i[5];
    bool shared_b = batch < 0;
    if (shared_b) { M *= -batch; batch = 1; }
    int64_t sa = shared_b ? 0 : M * K, sb = shared_b ? 0 : K * N, sy = M * N;
    if (tg_requires_grad(a)) {
        tg_float *ga = tg__grad(ctx, a);
        tg_gemm_args g;
        if (!ta)   /* dA (M, K) += dY op(B)^T */
            g = (tg_gemm_args){.ta = false, .tb = !tb, .M = M, .N = K, .K = N,
                               .A = y->grad, .lda = N, .strideA = sy,
                               .B = b->data, .ldb = tb ? K : N, .strideB = sb,
                               .C = ga, .ldc = K, .strideC = sa};
        else       /* A is (K, M): dA += op(B) dY^T */
            g = (tg_gemm_args){.ta = tb, .tb = true, .M = K, .N = M, .K = N,
                               .A = b->data, .lda = tb ? K : N, .strideA = sb,
                               .B = y->grad, .ldb = N, .strideB = sy,
                               .C = ga, .ldc = M, .strideC = sa};
        g.accumulate = true;
        g.batch = batch;
        tg_k_gemm(ctx->pool, &g);
    }
    if (tg_requires_grad(b)) {
        tg_float *gb = tg__grad(ctx, b);
        tg_gemm_args g;
        if (!tb)   /* dB (K, N) += op(A)^T dY */
            g = (tg_gemm_args){.ta = !ta, .tb = false, .M = K, .N = N, .K = M,
                               .A = a->data, .lda = ta ? M : K, .strideA = sa,
                               .B = y->grad, .ldb = N, .strideB = sy,
                               .C = gb, .ldc = N, .strideC = sb};
        else       /* B is (N, K): dB += dY^T op(A) */
            g = (tg_gemm_args){.ta = true, .tb = ta, .M = N, .N = K, .K = M,
                               .A = y->grad, .lda = N, .strideA = sy,
                               .B = a->data, .ldb = ta ? M : K, .strideB = sa,
                               .C = gb, .ldc = K, .strideC = sb};
        g.accumulate = true;
        g.batch = batch;
        tg_k_gemm(ctx->pool, &g);
    }
}
