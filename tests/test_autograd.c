/* test_autograd.c: the autograd core — every op's gradient (over the op table), fused vs composed
 * ops, accumulation, no-grad mode, the arena's steady state, 1-vs-2-thread bit identity, shape
 * errors, dropout, the parameter store. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/autograd.h"
#include "autograd/gradcheck.h"
#include "autograd/kernels/kernels.h"   /* tg_k_select */
#include "tests/tg_check.h"

#ifdef TG_DOUBLE
#define FUSED_TOL 1e-12   /* fused vs composed: the same maths, rounded differently */
#else
#define FUSED_TOL 2e-5
#endif

static uint64_t rng_state;
static double urand(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}
static void fill(tg_tensor *t, double lo, double hi) {
    for (int64_t i = 0; i < t->n; i++) t->data[i] = (tg_float)(lo + (hi - lo) * urand());
}
static double rel_diff(double a, double b) { return fabs(a - b) / fmax(1.0, fmax(fabs(a), fabs(b))); }

/* ---- every op: analytic vs numeric ---- */

START_TEST(test_every_op_gradcheck) {
    tg_opcheck_line lines[256];
    int failed = -1;
    int n = tg_opcheck_all(2, lines, 256, &failed);
    ck_assert_int_le(n, 256);
    for (int i = 0; i < n; i++)
        if (!lines[i].r.pass)
            fprintf(stderr, "FAIL %s %s: %s\n", lines[i].name, lines[i].shapes, lines[i].r.worst);
    ck_assert_int_eq(failed, 0);
    /* every op of the table was checked, on at least one case with elements */
    for (int op = 0; op < TG_OP_COUNT; op++) {
        int64_t checked = 0;
        for (int i = 0; i < n; i++)
            if (lines[i].op == (tg_op)op) checked += lines[i].r.checked;
        ck_assert_msg(checked > 0, "op %s has no gradient check", tg_op_name((tg_op)op));
    }
}
END_TEST

/* A wrong gradient must be caught: a loss whose "analytic" side is off (dropout mask changes
 * between calls breaks the function) gives FAIL, so the checker can fail. */
static tg_tensor *unstable_loss(tg_ctx *ctx, void *arg) {
    tg_tensor *x = arg;   /* dropout with a stream that moves on every call: not a function */
    return tg_sum(ctx, tg_dropout(ctx, x, 0.5));
}
START_TEST(test_gradcheck_can_fail) {
    tg_params *P = tg_params_new();
    tg_tensor *x = tg_params_add(P, "x", 1, (int[]){33});
    ck_assert_int_eq(tg_params_alloc(P, NULL), TG_OK);
    rng_state = 5;
    fill(x, 0.5, 1.5);
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1, .seed = 3});
    tg_gradcheck_opts o = tg_gradcheck_defaults();
    tg_gradcheck_result r;
    ck_assert_int_eq(tg_gradcheck(ctx, unstable_loss, x, &x, 1, &o, &r, NULL), TG_OK);
    ck_assert(!r.pass);
    ck_assert_int_gt(r.failed, 0);
    tg_ctx_free(ctx);
    tg_params_free(P);
}
END_TEST

/* ---- fused vs composed ---- */

typedef struct { tg_tensor *out, *x, *gain, *bias; } ln_graph;

/* layer norm from primitives: means by a matmul with J = ones(d, d) / d, then pow(-0.5). */
static tg_tensor *layer_norm_composed(tg_ctx *ctx, tg_tensor *x, tg_tensor *gain, tg_tensor *bias, double eps) {
    int d = x->shape[x->ndim - 1];
    tg_tensor *J = tg_tensor_new(ctx, 2, (int[]){d, d});
    tg_tensor *E = tg_tensor_new(ctx, x->ndim, x->shape);
    for (int64_t i = 0; i < J->n; i++) J->data[i] = (tg_float)(1.0 / d);
    for (int64_t i = 0; i < E->n; i++) E->data[i] = (tg_float)eps;
    tg_tensor *mean = tg_matmul(ctx, x, J, false, false);       // (R, d): each row its mean
    tg_tensor *c = tg_sub(ctx, x, mean);                         // (R, d)
    tg_tensor *var = tg_matmul(ctx, tg_mul(ctx, c, c), J, false, false);
    tg_tensor *rstd = tg_pow(ctx, tg_add(ctx, var, E), -0.5);
    return tg_add(ctx, tg_mul(ctx, tg_mul(ctx, c, rstd), gain), bias);
}

START_TEST(test_layer_norm_fused_vs_composed) {
    int R = 7, d = 33;
    tg_params *P = tg_params_new();
    tg_tensor *x = tg_params_add(P, "x", 2, (int[]){R, d});
    tg_tensor *g = tg_params_add(P, "g", 1, (int[]){d});
    tg_tensor *b = tg_params_add(P, "b", 1, (int[]){d});
    ck_assert_int_eq(tg_params_alloc(P, NULL), TG_OK);
    rng_state = 11;
    fill(x, -2, 3);
    fill(g, 0.5, 1.5);
    fill(b, -1, 1);
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 2, .seed = 1});
    tg_tensor *W = tg_tensor_new(ctx, 2, (int[]){R, d});
    fill(W, -1, 1);
    tg_float *vals[2], *grads[2];
    for (int pass = 0; pass < 2; pass++) {
        tg_params_zero_grad(P);
        tg_tensor *y = pass ? layer_norm_composed(ctx, x, g, b, 1e-5) : tg_layer_norm(ctx, x, g, b, 1e-5);
        tg_tensor *L = tg_sum(ctx, tg_mul(ctx, y, W));
        ck_assert_int_eq(tg_backward(ctx, L), TG_OK);
        vals[pass] = malloc((size_t)y->n * sizeof(tg_float));
        memcpy(vals[pass], y->data, (size_t)y->n * sizeof(tg_float));
        grads[pass] = malloc((size_t)tg_params_numel(P) * sizeof(tg_float));
        memcpy(grads[pass], tg_params_grad(P), (size_t)tg_params_numel(P) * sizeof(tg_float));
    }
    for (int i = 0; i < R * d; i++)
        ck_assert_msg(rel_diff(vals[0][i], vals[1][i]) < FUSED_TOL, "value %d: %g vs %g", i,
                      (double)vals[0][i], (double)vals[1][i]);
    for (int64_t i = 0; i < tg_params_numel(P); i++)
        ck_assert_msg(rel_diff(grads[0][i], grads[1][i]) < FUSED_TOL, "grad %lld: %g vs %g",
                      (long long)i, (double)grads[0][i], (double)grads[1][i]);
    for (int k = 0; k < 2; k++) { free(vals[k]); free(grads[k]); }
    tg_ctx_free(ctx);
    tg_params_free(P);
}
END_TEST

START_TEST(test_cross_entropy_fused_vs_composed) {
    int R = 9, V = 33;
    double eps = 0.1;
    int32_t t[9] = {3, 0, 7, 32, 0, 1, 5, 0, 9};   /* 0 is the ignored (padding) id */
    tg_params *P = tg_params_new();
    tg_tensor *x = tg_params_add(P, "logits", 2, (int[]){R, V});
    ck_assert_int_eq(tg_params_alloc(P, NULL), TG_OK);
    rng_state = 12;
    fill(x, -4, 4);
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 2, .seed = 1});
    /* composed: -sum(log_softmax(x) * Q) with Q = ((1-eps) onehot + eps/V) / count, 0 on ignored rows */
    int count = 0;
    for (int r = 0; r < R; r++) count += t[r] != 0;
    tg_tensor *Q = tg_tensor_new(ctx, 2, (int[]){R, V});
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V && t[r] != 0; v++)
            Q->data[r * V + v] = (tg_float)(((v == t[r]) * (1 - eps) + eps / V) / count);
    double loss[2];
    tg_float *grads[2];
    for (int pass = 0; pass < 2; pass++) {
        tg_params_zero_grad(P);
        tg_tensor *L = pass ? tg_scale(ctx, tg_sum(ctx, tg_mul(ctx, tg_log_softmax(ctx, x), Q)), -1)
                            : tg_cross_entropy(ctx, x, t, eps, 0);
        ck_assert_int_eq(tg_backward(ctx, L), TG_OK);
        loss[pass] = L->data[0];
        grads[pass] = malloc((size_t)x->n * sizeof(tg_float));
        memcpy(grads[pass], x->grad, (size_t)x->n * sizeof(tg_float));
    }
    ck_assert_msg(rel_diff(loss[0], loss[1]) < FUSED_TOL, "loss %.15g vs %.15g", loss[0], loss[1]);
    for (int i = 0; i < R * V; i++)
        ck_assert_msg(rel_diff(grads[0][i], grads[1][i]) < FUSED_TOL, "grad %d", i);
    /* ignored rows get no gradient */
    for (int v = 0; v < V; v++) ck_assert(grads[0][1 * V + v] == 0);
    free(grads[0]);
    free(grads[1]);
    tg_ctx_free(ctx);
    tg_params_free(P);
}
END_TEST

/* ---- a small MLP step, used by several tests ---- */

typedef struct { tg_params *P; tg_tensor *w1, *b1, *w2, *g, *b; } mlp;

static mlp mlp_new(int d_in, int d_h, int V) {
    mlp m = {.P = tg_params_new()};
    m.w1 = tg_params_add(m.P, "w1", 2, (int[]){d_h, d_in});
    m.b1 = tg_params_add(m.P, "b1", 1, (int[]){d_h});
    m.g = tg_params_add(m.P, "ln.g", 1, (int[]){d_h});
    m.b = tg_params_add(m.P, "ln.b", 1, (int[]){d_h});
    m.w2 = tg_params_add(m.P, "w2", 2, (int[]){V, d_h});
    ck_assert_int_eq(tg_params_alloc(m.P, NULL), TG_OK);
    rng_state = 99;
    for (int i = 0; i < tg_params_len(m.P); i++) fill(tg_params_at(m.P, i), -0.3, 0.3);
    for (int64_t i = 0; i < m.g->n; i++) m.g->data[i] += 1;
    return m;
}

/* x (B, T, d_in) -> attention-like mixing with a causal, padded softmax -> layer norm -> logits -> loss */
static tg_tensor *mlp_loss(tg_ctx *ctx, mlp *m, int B, int T, int d_in, int V, const int32_t *targets) {
    tg_tensor *x = tg_tensor_new(ctx, 3, (int[]){B, T, d_in});
    uint64_t s = 7;
    for (int64_t i = 0; i < x->n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x->data[i] = (tg_float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
    }
    tg_tensor *h = tg_add(ctx, tg_matmul(ctx, x, m->w1, false, true), m->b1);   // (B, T, d_h)
    h = tg_relu(ctx, h);
    tg_tensor *scores = tg_scale(ctx, tg_matmul(ctx, h, h, false, true), 0.1);  // (B, T, T)
    tg_tensor *mask = tg_tensor_new(ctx, 3, (int[]){B, 1, T});
    for (int b = 0; b < B; b++) mask->data[b * T + T - 1] = (tg_float)-INFINITY;   /* last key padded */
    tg_tensor *att = tg_softmax(ctx, scores, mask, true);
    tg_tensor *mix = tg_matmul(ctx, att, h, false, false);                      // (B, T, d_h)
    tg_tensor *n = tg_layer_norm(ctx, tg_add(ctx, mix, h), m->g, m->b, 1e-5);
    n = tg_dropout(ctx, n, 0.1);
    tg_tensor *logits = tg_matmul(ctx, n, m->w2, false, true);                  // (B, T, V)
    return tg_cross_entropy(ctx, logits, targets, 0.1, 0);
}

static int32_t *make_targets(int n, int V) {
    int32_t *t = malloc((size_t)n * sizeof *t);
    for (int i = 0; i < n; i++) t[i] = (int32_t)((i * 13 + 5) % V);
    return t;
}

/* Intermediates large enough for the parallel zeroing (several 64K-element pieces, uneven):
 * L = sum(relu(x * c) * 3) on 2 threads. One backward gives the leaf exactly 3c where x c > 0 and
 * 0 elsewhere, a second one exactly twice that: the intermediates' gradients were zeroed again
 * (left over, they would add to the second pass). */
START_TEST(test_backward_big_intermediates_rezeroed) {
    int n = 3 * 65536 + 77;
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 2, .seed = 1});
    tg_tensor *x = tg_tensor_new(ctx, 2, (int[]){1, n}), *c = tg_tensor_new(ctx, 2, (int[]){1, n});
    ck_assert(x && c);
    rng_state = 3;
    fill(x, -1, 1);
    fill(c, 0.5, 2);
    tg_tensor_set_requires_grad(ctx, x);
    tg_tensor *L = tg_sum(ctx, tg_scale(ctx, tg_relu(ctx, tg_mul(ctx, x, c)), 3));
    for (int pass = 1; pass <= 2; pass++) {
        ck_assert_int_eq(tg_backward(ctx, L), TG_OK);
        for (int64_t i = 0; i < n; i++) {
            tg_float want = x->data[i] * c->data[i] > 0 ? (tg_float)(pass * (3 * c->data[i])) : 0;
            ck_assert_msg(x->grad[i] == want, "pass %d element %lld: %g, want %g", pass,
                          (long long)i, (double)x->grad[i], (double)want);
        }
    }
    tg_ctx_free(ctx);
}
END_TEST

START_TEST(test_backward_accumulates) {
    int B = 2, T = 5, D = 8, H = 16, V = 11;
    mlp m = mlp_new(D, H, V);
    int32_t *t = make_targets(B * T, V);
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 2, .seed = 5});
    tg_tensor *L = mlp_loss(ctx, &m, B, T, D, V, t);
    ck_assert_int_eq(tg_backward(ctx, L), TG_OK);
    int64_t n = tg_params_numel(m.P);
    tg_float *once = malloc((size_t)n * sizeof *once);
    memcpy(once, tg_params_grad(m.P), (size_t)n * sizeof *once);
    ck_assert_int_eq(tg_backward(ctx, L), TG_OK);
    int nonzero = 0;
    for (int64_t i = 0; i < n; i++) {
        /* a gradient is a sum of several paths' contributions: adding them to a non-zero
         * buffer rounds differently, hence a relative tolerance */
        ck_assert_msg(fabs(tg_params_grad(m.P)[i] - 2 * once[i]) <= 2 * FUSED_TOL * fabs(once[i]) + 1e-30,
                      "element %lld: %g after two, %g after one", (long long)i,
                      (double)tg_params_grad(m.P)[i], (double)once[i]);
        nonzero += once[i] != 0;
    }
    ck_assert_int_gt(nonzero, n / 2);
    tg_params_zero_grad(m.P);
    for (int64_t i = 0; i < n; i++) ck_assert(tg_params_grad(m.P)[i] == 0);
    free(once);
    free(t);
    tg_ctx_free(ctx);
    tg_params_free(m.P);
}
END_TEST

START_TEST(test_no_grad_mode) {
    int B = 2, T = 5, D = 8, H = 16, V = 11;
    mlp m = mlp_new(D, H, V);
    int32_t *t = make_targets(B * T, V);
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 2, .seed = 5});
    tg_ctx_set_training(ctx, false);   /* no dropout: both runs compute the same function */
    tg_tensor *L1 = mlp_loss(ctx, &m, B, T, D, V, t);
    ck_assert_int_gt(tg_tape_len(ctx), 5);
    double with_tape = L1->data[0];
    size_t used_with = tg_ctx_arena_stats(ctx).used;
    tg_ctx_reset(ctx);
    tg_ctx_set_grad_enabled(ctx, false);
    tg_tensor *L2 = mlp_loss(ctx, &m, B, T, D, V, t);
    ck_assert_int_eq(tg_tape_len(ctx), 0);
    ck_assert(!tg_requires_grad(L2));
    ck_assert(L2->grad == NULL && L2->node == NULL);
    ck_assert(L2->data[0] == with_tape);                        /* same values */
    ck_assert_uint_lt(tg_ctx_arena_stats(ctx).used, used_with);  /* no nodes, no saved buffers */
    ck_assert_int_ne(tg_backward(ctx, L2), TG_OK);               /* nothing to walk */
    for (int64_t i = 0; i < tg_params_numel(m.P); i++) ck_assert(tg_params_grad(m.P)[i] == 0);
    free(t);
    tg_ctx_free(ctx);
    tg_params_free(m.P);
}
END_TEST

START_TEST(test_arena_steady_state) {
    int B = 4, T = 16, D = 32, H = 64, V = 50;
    mlp m = mlp_new(D, H, V);
    int32_t *t = make_targets(B * T, V);
    /* a first chunk far too small, so the first step must grow the arena */
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 2, .seed = 5, .arena_bytes = 4096});
    tg_arena_stats after[6];
    for (int step = 0; step < 6; step++) {
        tg_params_zero_grad(m.P);
        tg_tensor *L = mlp_loss(ctx, &m, B, T, D, V, t);
        ck_assert_int_eq(tg_backward(ctx, L), TG_OK);
        for (int64_t i = 0; i < tg_params_numel(m.P); i++)   /* a plain SGD step */
            tg_params_data(m.P)[i] -= (tg_float)0.01 * tg_params_grad(m.P)[i];
        tg_ctx_reset(ctx);
        after[step] = tg_ctx_arena_stats(ctx);
    }
    ck_assert_uint_gt(after[0].heap_allocs, 2);   /* the first step did grow it */
    for (int step = 1; step < 6; step++) {
        ck_assert_uint_eq(after[step].heap_allocs, after[0].heap_allocs);
        ck_assert_uint_eq(after[step].high_water, after[0].high_water);
        ck_assert_uint_eq(after[step].capacity, after[0].capacity);
    }
    free(t);
    tg_ctx_free(ctx);
    tg_params_free(m.P);
}
END_TEST

/* ---- same bits for 1 and 2 threads ---- */

/* Attention's heads read in place (tg_heads_scores, tg_heads_mix) against the heads split by
 * transposes, multiplied by tg_matmul and merged back: output and the gradients of q, k, v the same
 * bits, for each kernel implementation and 1 or 2 threads; sizes past the GEMM's tiles. */
static tg_tensor *heads_split(tg_ctx *ctx, tg_tensor *x, int H) {   // (B, T, d) -> (B, H, T, dh)
    int B = x->shape[0], T = x->shape[1], dh = x->shape[2] / H;
    return tg_transpose(ctx, tg_reshape(ctx, x, 4, (int[]){B, T, H, dh}), 1, 2);
}
static tg_tensor *heads_attend(tg_ctx *ctx, tg_tensor **qkv, int H, bool in_place) {
    tg_tensor *q = qkv[0], *k = qkv[1], *v = qkv[2];
    if (in_place) return tg_heads_mix(ctx, tg_softmax(ctx, tg_heads_scores(ctx, q, k, H), NULL, false), v, H);
    tg_tensor *s = tg_matmul(ctx, heads_split(ctx, q, H), heads_split(ctx, k, H), false, true);
    tg_tensor *o = tg_matmul(ctx, tg_softmax(ctx, s, NULL, false), heads_split(ctx, v, H), false, false);
    o = tg_transpose(ctx, o, 1, 2);                                  // (B, Tq, H, dh)
    return tg_reshape(ctx, o, 3, (int[]){o->shape[0], o->shape[1], q->shape[2]});
}
START_TEST(test_heads_in_place_bits) {
    enum { B = 2, Tq = 37, Tk = 29, H = 3, D = 60 };
    tg_params *P = tg_params_new();
    tg_tensor *qkv[3] = {tg_params_add(P, "q", 3, (int[]){B, Tq, D}),
                         tg_params_add(P, "k", 3, (int[]){B, Tk, D}),
                         tg_params_add(P, "v", 3, (int[]){B, Tk, D})};
    ck_assert_int_eq(tg_params_alloc(P, NULL), TG_OK);
    rng_state = 17;
    for (int i = 0; i < 3; i++) fill(qkv[i], -1, 1);
    int64_t n = tg_params_numel(P), no = (int64_t)B * Tq * D;
    tg_float *ref = malloc((size_t)(n + no) * sizeof *ref), *got = malloc((size_t)(n + no) * sizeof *got);
    tg_k_impl impls[3] = {TG_K_PORTABLE, TG_K_AVX2, TG_K_AVX512};
    for (int im = 0; im < 3; im++) {
        if (tg_k_select(impls[im]) != impls[im]) continue;   /* not on this CPU */
        for (int run = 0; run < 3; run++) {   /* composed 2 threads; in place 2, 1 threads */
            tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = run == 2 ? 1 : 2, .seed = 1});
            tg_params_zero_grad(P);
            tg_tensor *o = heads_attend(ctx, qkv, H, run > 0);
            tg_tensor *W = tg_tensor_new(ctx, 3, (int[]){B, Tq, D});
            ck_assert(o && W);
            for (int64_t i = 0; i < W->n; i++) W->data[i] = (tg_float)((i % 7) - 3) / 4;
            ck_assert_int_eq(tg_backward(ctx, tg_sum(ctx, tg_mul(ctx, o, W))), TG_OK);
            tg_float *out = run ? got : ref;
            memcpy(out, tg_params_grad(P), (size_t)n * sizeof *out);
            memcpy(out + n, o->data, (size_t)no * sizeof *out);
            tg_ctx_free(ctx);
            if (run)
                for (int64_t i = 0; i < n + no; i++)
                    ck_assert_msg(memcmp(&ref[i], &got[i], sizeof *ref) == 0, "%s run %d %s %lld: %.9g vs %.9g",
                                  tg_k_impl_name(impls[im]), run, i < n ? "grad" : "value",
                                  (long long)(i < n ? i : i - n), (double)ref[i], (double)got[i]);
        }
    }
    tg_k_select(TG_K_AUTO);
    free(ref);
    free(got);
    tg_params_free(P);
}
END_TEST

START_TEST(test_thread_count_identity) {
    /* sizes big enough that every kernel does split over 2 threads */
    int B = 4, T = 48, D = 96, H = 128, V = 1000;
    int32_t *t = make_targets(B * T, V);
    tg_float *grads[2], loss[2], *logits_grad[2];
    for (int run = 0; run < 2; run++) {
        mlp m = mlp_new(D, H, V);
        tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = run + 1, .seed = 5});
        ck_assert_int_eq(tg_pool_threads(tg_ctx_pool(ctx)), run + 1);
        tg_tensor *L = mlp_loss(ctx, &m, B, T, D, V, t);
        ck_assert_int_eq(tg_backward(ctx, L), TG_OK);
        loss[run] = L->data[0];
        int64_t n = tg_params_numel(m.P);
        grads[run] = malloc((size_t)n * sizeof(tg_float));
        memcpy(grads[run], tg_params_grad(m.P), (size_t)n * sizeof(tg_float));
        /* and the sum kernel on a large vector */
        tg_tensor *big = tg_tensor_new(ctx, 1, (int[]){1 << 20});
        for (int64_t i = 0; i < big->n; i++) big->data[i] = (tg_float)(1.0 / (1 + i % 977));
        logits_grad[run] = malloc(sizeof(tg_float));
        logits_grad[run][0] = tg_sum(ctx, big)->data[0];
        tg_ctx_free(ctx);
        tg_params_free(m.P);
    }
    ck_assert(memcmp(&loss[0], &loss[1], sizeof loss[0]) == 0);
    ck_assert(memcmp(logits_grad[0], logits_grad[1], sizeof(tg_float)) == 0);
    int64_t n = (int64_t)H * D + H + H + H + (int64_t)V * H;
    ck_assert_msg(memcmp(grads[0], grads[1], (size_t)n * sizeof(tg_float)) == 0,
                  "gradients differ between 1 and 2 threads");
    for (int k = 0; k < 2; k++) { free(grads[k]); free(logits_grad[k]); }
    free(t);
}
END_TEST

/* ---- shape errors: a status and a message, never a crash ---- */

START_TEST(test_shape_errors) {
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1});
    tg_tensor *a = tg_tensor_new(ctx, 2, (int[]){8, 3});
    tg_tensor *b = tg_tensor_new(ctx, 2, (int[]){4, 2});
    tg_tensor *y = tg_matmul(ctx, a, b, false, false);
    ck_assert_ptr_null(y);
    ck_assert_int_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    const char *msg = tg_ctx_errmsg(ctx);
    ck_assert_msg(strstr(msg, "matmul") && strstr(msg, "(8, 3)") && strstr(msg, "(4, 2)"), "%s", msg);
    /* later ops given NULL return NULL; the first error is kept */
    ck_assert_ptr_null(tg_relu(ctx, y));
    ck_assert_ptr_null(tg_sum(ctx, tg_add(ctx, y, a)));
    ck_assert(strstr(tg_ctx_errmsg(ctx), "matmul"));
    ck_assert_int_ne(tg_backward(ctx, NULL), TG_OK);

    tg_ctx_reset(ctx);
    a = tg_tensor_new(ctx, 2, (int[]){8, 3});
    b = tg_tensor_new(ctx, 2, (int[]){3, 8});
    ck_assert_ptr_null(tg_add(ctx, a, b));
    ck_assert(strstr(tg_ctx_errmsg(ctx), "add") && strstr(tg_ctx_errmsg(ctx), "(3, 8)"));
    tg_ctx_reset(ctx);
    a = tg_tensor_new(ctx, 2, (int[]){8, 3});
    ck_assert_ptr_null(tg_reshape(ctx, a, 2, (int[]){5, 5}));
    ck_assert_int_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    tg_ctx_reset(ctx);   /* a reset frees the step's tensors: make them again */
    a = tg_tensor_new(ctx, 2, (int[]){8, 3});
    tg_tensor *gain = tg_tensor_new(ctx, 1, (int[]){4});
    ck_assert_ptr_null(tg_layer_norm(ctx, a, gain, NULL, 1e-5));
    ck_assert(strstr(tg_ctx_errmsg(ctx), "layer_norm"));
    tg_ctx_reset(ctx);
    a = tg_tensor_new(ctx, 2, (int[]){8, 3});
    tg_tensor *mask = tg_tensor_new(ctx, 2, (int[]){3, 3});
    ck_assert_ptr_null(tg_softmax(ctx, a, mask, false));
    ck_assert(strstr(tg_ctx_errmsg(ctx), "mask"));
    tg_ctx_reset(ctx);
    /* a 0-d input is refused before its (missing) last dim is read: issue 9, item 12 */
    tg_tensor *scalar = tg_tensor_new(ctx, 0, NULL);
    ck_assert_ptr_nonnull(scalar);
    ck_assert_ptr_null(tg_softmax(ctx, scalar, NULL, false));
    ck_assert(strstr(tg_ctx_errmsg(ctx), "no last dim"));
    tg_ctx_reset(ctx);
    scalar = tg_tensor_new(ctx, 0, NULL);
    ck_assert_ptr_null(tg_log_softmax(ctx, scalar));
    tg_ctx_reset(ctx);
    a = tg_tensor_new(ctx, 2, (int[]){8, 3});
    tg_tensor *w = tg_tensor_new(ctx, 2, (int[]){5, 3});
    int32_t ids[2] = {1, 5};
    ck_assert_ptr_null(tg_embedding(ctx, w, ids, 1, (int[]){2}, 0));
    ck_assert(strstr(tg_ctx_errmsg(ctx), "outside"));
    tg_ctx_reset(ctx);
    a = tg_tensor_new(ctx, 2, (int[]){8, 3});
    int32_t tg[8] = {0, 1, 2, 3, 4, 5, 6, 7};   /* 7 >= V = 3 */
    ck_assert_ptr_null(tg_cross_entropy(ctx, a, tg, 0.1, -1));
    ck_assert_int_eq(tg_ctx_status(ctx), TG_ERR_ARG);
    tg_ctx_reset(ctx);
    a = tg_tensor_new(ctx, 2, (int[]){8, 3});
    ck_assert_ptr_null(tg_transpose(ctx, a, 0, 2));
    ck_assert_ptr_null(tg_tensor_new(ctx, 2, (int[]){0, 3}));
    ck_assert_int_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    tg_ctx_reset(ctx);
    ck_assert_int_eq(tg_ctx_status(ctx), TG_OK);   /* reset clears the error */
    tg_ctx_free(ctx);
}
END_TEST

START_TEST(test_softmax_fully_masked_row) {
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1});
    tg_tensor *x = tg_tensor_new(ctx, 2, (int[]){2, 4});
    tg_tensor *m = tg_tensor_new(ctx, 2, (int[]){2, 4});
    for (int j = 0; j < 4; j++) m->data[j] = (tg_float)-INFINITY;   /* row 0: all masked */
    tg_tensor *y = tg_softmax(ctx, x, m, false);
    for (int j = 0; j < 4; j++) {
        ck_assert(y->data[j] == 0);
        ck_assert(fabs(y->data[4 + j] - 0.25) < 1e-7);
    }
    tg_ctx_free(ctx);
}
END_TEST

START_TEST(test_dropout) {
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 2, .seed = 77});
    tg_tensor *x = tg_tensor_new(ctx, 2, (int[]){100, 100});
    for (int64_t i = 0; i < x->n; i++) x->data[i] = 1;
    tg_rng_state s0 = tg_ctx_rng(ctx);
    tg_tensor *y1 = tg_dropout(ctx, x, 0.25);
    tg_tensor *y2 = tg_dropout(ctx, x, 0.25);
    int zeros = 0, differ = 0;
    for (int64_t i = 0; i < x->n; i++) {
        zeros += y1->data[i] == 0;
        differ += y1->data[i] != y2->data[i];
        ck_assert(y1->data[i] == 0 || fabs(y1->data[i] - 1 / 0.75) < 1e-6);
    }
    ck_assert_int_gt(zeros, 2300);     /* ~2500 expected */
    ck_assert_int_lt(zeros, 2700);
    ck_assert_int_gt(differ, 1000);    /* the stream moves on */
    tg_ctx_set_rng(ctx, s0);           /* restoring the state repeats the mask */
    tg_tensor *y3 = tg_dropout(ctx, x, 0.25);
    ck_assert(memcmp(y1->data, y3->data, (size_t)x->n * sizeof(tg_float)) == 0);
    ck_assert_ptr_eq(tg_dropout(ctx, x, 0), x);
    tg_ctx_set_training(ctx, false);
    ck_assert_ptr_eq(tg_dropout(ctx, x, 0.5), x);
    ck_assert_ptr_null(tg_dropout(ctx, x, 1.0));   /* p must be < 1 */
    tg_ctx_free(ctx);
}
END_TEST

START_TEST(test_params_store) {
    tg_params *P = tg_params_new();
    tg_tensor *a = tg_params_add(P, "enc.w", 2, (int[]){3, 4});
    tg_tensor *b = tg_params_add(P, "enc.b", 1, (int[]){4});
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_null(tg_params_add(P, "enc.w", 1, (int[]){2}));
    ck_assert(strstr(tg_params_errmsg(P), "twice"));
    ck_assert_ptr_null(tg_params_add(P, "bad", 1, (int[]){0}));
    ck_assert_int_eq(tg_params_alloc(P, NULL), TG_OK);
    ck_assert_ptr_null(tg_params_add(P, "late", 1, (int[]){2}));
    ck_assert_int_eq(tg_params_len(P), 2);
    ck_assert_int_eq(tg_params_numel(P), 16);
    ck_assert_ptr_eq(a->data, tg_params_data(P));          /* one buffer, in order */
    ck_assert_ptr_eq(b->data, tg_params_data(P) + 12);
    ck_assert_ptr_eq(b->grad, tg_params_grad(P) + 12);
    ck_assert_ptr_eq(tg_params_find(P, "enc.b"), b);
    ck_assert_ptr_null(tg_params_find(P, "dec.b"));
    tg_params_free(P);
}
END_TEST

/* ---- the library's edges, found by a hostile pass on the public API (session 29) ---- */

/* A loss that is a reshape keeps a gradient of its own: of an intermediate, a second backward
 * doubles the parameters' gradient and writes into no other tensor (before, the loss's gradient
 * was its input's, given back to the arena: 28 read for 1, a later tensor overwritten); of a
 * parameter, backward adds 1 to its accumulated gradient (before, the seed overwrote it). */
START_TEST(test_loss_that_is_a_reshape) {
    tg_params *P = tg_params_new();
    tg_tensor *W = tg_params_add(P, "w", 2, (int[]){1, 3}), *s = tg_params_add(P, "s", 1, (int[]){1});
    ck_assert_int_eq(tg_params_alloc(P, NULL), TG_OK);
    for (int i = 0; i < 3; i++) W->data[i] = (tg_float)(i + 1);
    s->data[0] = 3;
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1});
    tg_tensor *x = tg_tensor_from(ctx, 2, (int[]){2, 3}, (tg_float[]){1, 2, 3, 4, 5, 6});
    tg_tensor *h = tg_relu(ctx, tg_matmul(ctx, x, W, false, true));            // (2, 1)
    tg_tensor *y = tg_matmul(ctx, tg_transpose(ctx, h, 0, 1), h, false, false); // (1, 1): h.h
    tg_tensor *loss = tg_reshape(ctx, y, 0, NULL);                              // ()
    ck_assert_int_eq(tg_backward(ctx, loss), TG_OK);
    ck_assert(loss->grad && loss->grad[0] == 1);
    /* dL/dW = 2 sum_r h_r x_r, h = (14, 32): 2 (14 (1,2,3) + 32 (4,5,6)) = (284, 376, 468) */
    ck_assert(W->grad[0] == 284 && W->grad[1] == 376 && W->grad[2] == 468);
    tg_tensor *z = tg_tensor_from(ctx, 0, NULL, (tg_float[]){42});
    ck_assert_int_eq(tg_backward(ctx, loss), TG_OK);
    ck_assert(z->data[0] == 42);
    ck_assert(W->grad[0] == 568 && W->grad[1] == 752 && W->grad[2] == 936);
    tg_tensor *l1 = tg_sum(ctx, tg_scale(ctx, s, 5.0));
    ck_assert_int_eq(tg_backward(ctx, l1), TG_OK);
    tg_tensor *l2 = tg_reshape(ctx, s, 0, NULL);
    ck_assert_int_eq(tg_backward(ctx, l2), TG_OK);
    ck_assert(s->grad[0] == 6);
    ck_assert_int_eq(tg_backward(ctx, l2), TG_OK);
    ck_assert(s->grad[0] == 7);
    tg_ctx_free(ctx);
    tg_params_free(P);
}
END_TEST

/* Sizes that would wrap are refused with a message, never a small buffer: a tensor of 2^62
 * elements (its bytes wrapped to 0 and it came back OK), a parameter store past 2^56 elements
 * (numel wrapped), an arena chunk or block near SIZE_MAX (the rounding wrapped to 0). */
START_TEST(test_sizes_that_would_wrap_refused) {
    ck_assert_int_eq(tg_shape_numel(4, (int[]){65536, 65536, 65536, 16384}), -1);
    ck_assert_int_eq(tg_shape_numel(4, (int[]){65536, 65536, 65536, 65536}), -1);
    ck_assert_int_eq(tg_shape_numel(2, (int[]){3, 0}), -1);
    ck_assert_int_eq(tg_shape_numel(3, (int[]){2, 3, 4}), 24);
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1});
    ck_assert_ptr_null(tg_tensor_new(ctx, 4, (int[]){65536, 65536, 65536, 16384}));
    ck_assert_int_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    ck_assert_msg(strstr(tg_ctx_errmsg(ctx), "(65536, 65536, 65536, 16384) has more than"), "%s", tg_ctx_errmsg(ctx));
    tg_ctx_reset(ctx);
    tg_tensor *a = tg_tensor_new(ctx, 1, (int[]){6});
    ck_assert_ptr_null(tg_reshape(ctx, a, 4, (int[]){65536, 65536, 65536, 65536}));
    ck_assert_msg(strstr(tg_ctx_errmsg(ctx), "the new shape more than"), "%s", tg_ctx_errmsg(ctx));
    tg_ctx_reset(ctx);
    ck_assert_ptr_null(tg_ctx_alloc(ctx, SIZE_MAX - 10));
    ck_assert_int_eq(tg_ctx_status(ctx), TG_ERR_NOMEM);
    tg_ctx_free(ctx);
    ck_assert_ptr_null(tg_ctx_new(&(tg_ctx_opts){.threads = 1, .arena_bytes = SIZE_MAX}));
    tg_params *P = tg_params_new();
    ck_assert_ptr_nonnull(tg_params_add(P, "a", 2, (int[]){1 << 28, 1 << 27}));   /* 2^55 */
    ck_assert_ptr_nonnull(tg_params_add(P, "b", 2, (int[]){1 << 28, 1 << 27}));   /* 2^56 in all */
    ck_assert_ptr_null(tg_params_add(P, "c", 1, (int[]){1}));
    ck_assert_msg(strstr(tg_params_errmsg(P), "parameter 'c': the parameters would have more than 2^56"), "%s",
                  tg_params_errmsg(P));
    ck_assert_int_eq(tg_params_numel(P), INT64_C(1) << 56);
    tg_params_free(P);
}
END_TEST

/* An op given a tensor whose values were given back fails with that said (before: NULL read). */
START_TEST(test_released_input_refused) {
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1});
    tg_tensor *a = tg_tensor_new(ctx, 1, (int[]){4});
    tg_release(ctx, a);
    ck_assert_ptr_null(tg_relu(ctx, a));
    ck_assert_int_eq(tg_ctx_status(ctx), TG_ERR_ARG);
    ck_assert_msg(strstr(tg_ctx_errmsg(ctx), "given back (tg_release)"), "%s", tg_ctx_errmsg(ctx));
    tg_ctx_free(ctx);
}
END_TEST

static tg_tensor *gc_leaf;
static tg_tensor *gc_scalar(tg_ctx *ctx, void *arg) { (void)arg; return tg_sum(ctx, tg_mul(ctx, gc_leaf, gc_leaf)); }
static tg_tensor *gc_vector(tg_ctx *ctx, void *arg) { (void)arg; return tg_mul(ctx, gc_leaf, gc_leaf); }

/* tg_gradcheck passes only what it checked: a loss it cannot build (before: pass true with the
 * error), no leaves, or options that check nothing (eps 0 or NaN) give an error and pass false. */
START_TEST(test_gradcheck_refusals_do_not_pass) {
    tg_params *P = tg_params_new();
    gc_leaf = tg_params_add(P, "w", 1, (int[]){3});
    ck_assert_int_eq(tg_params_alloc(P, NULL), TG_OK);
    gc_leaf->data[0] = 1, gc_leaf->data[1] = -2, gc_leaf->data[2] = 3;
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1});
    tg_gradcheck_opts o = tg_gradcheck_defaults();
    tg_gradcheck_result r;
    tg_err err;
    ck_assert_int_eq(tg_gradcheck(ctx, gc_scalar, NULL, &gc_leaf, 1, &o, &r, &err), TG_OK);
    ck_assert(r.pass && r.checked == 3);
    ck_assert_int_ne(tg_gradcheck(ctx, gc_vector, NULL, &gc_leaf, 1, &o, &r, &err), TG_OK);
    ck_assert(!r.pass);
    ck_assert_int_eq(tg_gradcheck(ctx, gc_scalar, NULL, &gc_leaf, 0, &o, &r, &err), TG_ERR_ARG);
    ck_assert(!r.pass);
    ck_assert_int_eq(tg_gradcheck(ctx, gc_scalar, NULL, NULL, 1, &o, &r, &err), TG_ERR_ARG);
    ck_assert(!r.pass);
    for (int i = 0; i < 3; i++) {
        o = tg_gradcheck_defaults();
        *(i == 0 ? &o.eps : i == 1 ? &o.atol : &o.rtol) = i == 0 ? 0 : i == 1 ? NAN : -1;
        ck_assert_int_eq(tg_gradcheck(ctx, gc_scalar, NULL, &gc_leaf, 1, &o, &r, &err), TG_ERR_ARG);
        ck_assert_msg(!r.pass && strstr(err.msg, "must be finite"), "%s", err.msg);
    }
    ck_assert(gc_leaf->data[0] == 1 && gc_leaf->data[1] == -2 && gc_leaf->data[2] == 3);
    tg_ctx_free(ctx);
    tg_params_free(P);
}
END_TEST

int main(void) {
    Suite *s = suite_create("autograd");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_every_op_gradcheck);
    tcase_add_test(tc, test_gradcheck_can_fail);
    tcase_add_test(tc, test_layer_norm_fused_vs_composed);
    tcase_add_test(tc, test_cross_entropy_fused_vs_composed);
    tcase_add_test(tc, test_backward_accumulates);
    tcase_add_test(tc, test_backward_big_intermediates_rezeroed);
    tcase_add_test(tc, test_no_grad_mode);
    tcase_add_test(tc, test_arena_steady_state);
    tcase_add_test(tc, test_thread_count_identity);
    tcase_add_test(tc, test_heads_in_place_bits);
    tcase_add_test(tc, test_shape_errors);
    tcase_add_test(tc, test_softmax_fully_masked_row);
    tcase_add_test(tc, test_dropout);
    tcase_add_test(tc, test_params_store);
    tcase_add_test(tc, test_loss_that_is_a_reshape);
    tcase_add_test(tc, test_sizes_that_would_wrap_refused);
    tcase_add_test(tc, test_gradcheck_refusals_do_not_pass);
    tcase_add_test(tc, test_released_input_refused);
    suite_add_tcase(s, tc);
    int failed = tg_check_run(s);
    return failed ? 1 : 0;
}
