/* test_memory.c: where a step's memory goes — backward gives each intermediate gradient's space
 * back once its producer has run and reuses it, the peak report names what held the arena, and
 * activations released during the forward give their space to the next ones unless backward
 * reads them, and the ops that hold less (matmul_bias, reshape sharing its input's values, the
 * output projection and loss in chunks) compute what the composed ops do. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/autograd.h"
#include "autograd/internal.h"
#include "autograd/kernels/kernels_impl.h"
#include "nn/nn.h"
#include "tests/tg_check.h"

enum { N = 65536, CHAIN = 16 };   /* 16 tensors of 64K elements: sizes well above the overheads */

/* x (1, N) leaf -> 16 scales by 2 (kept in mid[]) -> sum. */
static tg_tensor *chain_loss(tg_ctx *ctx, tg_tensor **x_out, tg_tensor **mid) {
    tg_tensor *x = tg_tensor_new(ctx, 2, (int[]){1, N});
    for (int64_t i = 0; i < N; i++) x->data[i] = (tg_float)(i % 7) - 3;
    tg_tensor_set_requires_grad(ctx, x);
    tg_tensor *y = x;
    for (int k = 0; k < CHAIN; k++) y = mid[k] = tg_scale(ctx, y, 2);
    *x_out = x;
    return tg_sum(ctx, y);
}

/* Holding every gradient until the reset would take CHAIN more tensors; reusing the space, the
 * backward needs at most two at a time (the one being read and the one being written). */
START_TEST(test_backward_reuses_gradient_space) {
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 2, .seed = 1});
    tg_tensor *x, *mid[CHAIN];
    tg_tensor *L = chain_loss(ctx, &x, mid);
    size_t after_forward = tg_ctx_arena_stats(ctx).high_water;
    ck_assert_int_eq(tg_backward(ctx, L), TG_OK);
    size_t tensor = N * sizeof(tg_float), grown = tg_ctx_arena_stats(ctx).high_water - after_forward;
    ck_assert_msg(grown <= 2 * tensor + 4096, "backward took %zu bytes, %zu a tensor", grown, tensor);
    for (int64_t i = 0; i < N; i++)   /* d/dx of sum(2^16 x): exact in binary floating point */
        ck_assert(x->grad[i] == (tg_float)65536);
    /* given back: an op output has no gradient after backward; the leaf and the loss keep theirs */
    for (int k = 0; k < CHAIN; k++) ck_assert_ptr_null(mid[k]->grad);
    ck_assert_ptr_nonnull(L->grad);
    /* a second backward makes them again, from zero: the leaf gets exactly twice */
    ck_assert_int_eq(tg_backward(ctx, L), TG_OK);
    for (int64_t i = 0; i < N; i++) ck_assert(x->grad[i] == (tg_float)131072);
    tg_ctx_free(ctx);
}
END_TEST

static size_t rounded(size_t bytes) { return (bytes + 63) / 64 * 64; }

/* L = sum(relu(x W)): at the peak of the step (inside backward) both (64, 256) gradients are
 * alive, so the report's two largest holders are the matmul and the relu outputs, values and
 * gradient each; the totals add up. */
static void check_report(const tg_ctx *ctx) {
    tg_mem_holder h[8];
    tg_mem_peak pk;
    int n = tg_ctx_peak_holders(ctx, h, 8, &pk);
    ck_assert_int_eq(n, 3);
    size_t t = rounded(64 * 256 * sizeof(tg_float));
    bool seen[TG_OP_COUNT] = {false};
    for (int i = 0; i < 2; i++) {
        ck_assert(h[i].op == TG_OP_MATMUL || h[i].op == TG_OP_RELU);
        seen[h[i].op] = true;
        ck_assert_int_eq(h[i].count, 1);
        ck_assert_int_eq(h[i].ndim, 2);
        ck_assert_int_eq(h[i].shape[0], 64);
        ck_assert_int_eq(h[i].shape[1], 256);
        ck_assert_uint_eq(h[i].data_bytes, t);
        ck_assert_uint_eq(h[i].grad_bytes, t);
        ck_assert_uint_eq(h[i].saved_bytes, 0);
    }
    ck_assert(seen[TG_OP_MATMUL] && seen[TG_OP_RELU]);
    ck_assert(h[2].op == TG_OP_SUM && h[2].ndim == 0 && h[2].count == 1);
    ck_assert_uint_eq(pk.tape_bytes, 4 * t + h[2].data_bytes + h[2].grad_bytes);
    ck_assert_uint_eq(pk.bytes, tg_ctx_arena_stats(ctx).high_water);
    ck_assert_uint_le(pk.tape_bytes + pk.holes, pk.bytes);
}

START_TEST(test_peak_holders) {
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 2, .seed = 1});
    tg_mem_holder h[8];
    tg_mem_peak pk;
    ck_assert_int_eq(tg_ctx_peak_holders(ctx, h, 8, &pk), 0);   /* not tracking: nothing */
    ck_assert(tg_ctx_track_peak(ctx, true));
    for (int step = 0; step < 2; step++) {   /* the second step's peak replaces the first's */
        tg_tensor *x = tg_tensor_new(ctx, 2, (int[]){64, 128});
        tg_tensor *w = tg_tensor_new(ctx, 2, (int[]){128, 256});
        for (int64_t i = 0; i < x->n; i++) x->data[i] = (tg_float)((i % 5) - 2);
        for (int64_t i = 0; i < w->n; i++) w->data[i] = (tg_float)((i % 3) - 1);
        tg_tensor_set_requires_grad(ctx, w);
        tg_tensor *L = tg_sum(ctx, tg_relu(ctx, tg_matmul(ctx, x, w, false, false)));
        ck_assert_int_eq(tg_backward(ctx, L), TG_OK);
        check_report(ctx);
        tg_ctx_reset(ctx);
        check_report(ctx);   /* the report outlives the reset */
    }
    ck_assert(tg_ctx_track_peak(ctx, false));
    ck_assert_int_eq(tg_ctx_peak_holders(ctx, h, 8, &pk), 0);
    tg_ctx_free(ctx);
}
END_TEST

/* The fused linear op against matmul + add: the same values and the same gradients, bit for bit
 * (same kernels, same order), on sizes that split over 2 threads; and one tensor fewer. */
START_TEST(test_matmul_bias_equals_composed) {
    enum { R = 3 * 37, IN = 50, OUT = 70 };
    tg_float *got[2][4];
    size_t used[2];
    for (int fused = 0; fused < 2; fused++) {
        tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 2, .seed = 1});
        tg_tensor *x = tg_tensor_new(ctx, 3, (int[]){3, 37, IN});
        tg_tensor *w = tg_tensor_new(ctx, 2, (int[]){OUT, IN}), *b = tg_tensor_new(ctx, 1, (int[]){OUT});
        tg_tensor *t[3] = {x, w, b};
        for (int k = 0; k < 3; k++) {
            for (int64_t i = 0; i < t[k]->n; i++)
                t[k]->data[i] = (tg_float)(((i * 7919 + k * 31) % 1000) / 997.0 - 0.5);
            tg_tensor_set_requires_grad(ctx, t[k]);
        }
        size_t before = tg_ctx_arena_stats(ctx).used;
        tg_tensor *y = fused ? tg_matmul_bias(ctx, x, w, b) : tg_add(ctx, tg_matmul(ctx, x, w, false, true), b);
        used[fused] = tg_ctx_arena_stats(ctx).used - before;
        ck_assert_int_eq(y->ndim, 3);
        ck_assert_int_eq(y->shape[2], OUT);
        /* a loss that weighs every output differently: sum(y * y) */
        ck_assert_int_eq(tg_backward(ctx, tg_sum(ctx, tg_mul(ctx, y, y))), TG_OK);
        tg_tensor *res[4] = {y, x, w, b};
        for (int k = 0; k < 4; k++) {
            const tg_float *src = k ? res[k]->grad : res[k]->data;
            got[fused][k] = malloc((size_t)res[k]->n * sizeof(tg_float));
            for (int64_t i = 0; i < res[k]->n; i++) got[fused][k][i] = src[i];
        }
        tg_ctx_free(ctx);
    }
    int64_t n[4] = {R * OUT, R * IN, OUT * IN, OUT};
    for (int k = 0; k < 4; k++) {
        for (int64_t i = 0; i < n[k]; i++)
            ck_assert_msg(got[0][k][i] == got[1][k][i], "result %d element %lld: %.9g vs %.9g", k,
                          (long long)i, (double)got[0][k][i], (double)got[1][k][i]);
        free(got[0][k]);
        free(got[1][k]);
    }
    ck_assert_uint_le(used[1] + R * OUT * sizeof(tg_float), used[0]);
}
END_TEST

static void expect_shape_error(tg_tensor *w, tg_tensor *b, tg_ctx *ctx, tg_tensor *x) {
    ck_assert_ptr_null(tg_matmul_bias(ctx, x, w, b));
    ck_assert_int_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    ck_assert_msg(strstr(tg_ctx_errmsg(ctx), "matmul_bias") != NULL, "%s", tg_ctx_errmsg(ctx));
    tg_ctx_clear_error(ctx);
}

START_TEST(test_matmul_bias_shape_errors) {
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1, .seed = 1});
    tg_tensor *x = tg_tensor_new(ctx, 2, (int[]){4, 3});
    expect_shape_error(tg_tensor_new(ctx, 2, (int[]){5, 3}), tg_tensor_new(ctx, 1, (int[]){4}), ctx, x);
    expect_shape_error(tg_tensor_new(ctx, 1, (int[]){3}), tg_tensor_new(ctx, 1, (int[]){3}), ctx, x);
    expect_shape_error(tg_tensor_new(ctx, 2, (int[]){5, 3}), tg_tensor_new(ctx, 2, (int[]){1, 5}), ctx, x);
    ck_assert_ptr_null(tg_matmul_bias(ctx, x, tg_tensor_new(ctx, 2, (int[]){5, 2}),
                                      tg_tensor_new(ctx, 1, (int[]){5})));   /* inner dims */
    ck_assert_int_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    tg_ctx_free(ctx);
}
END_TEST

/* A reshape's output is its input's values under a new shape; its gradient is its own and reaches
 * the input. */
START_TEST(test_reshape_shares_values) {
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1, .seed = 1});
    tg_tensor *x = tg_tensor_new(ctx, 2, (int[]){6, 4});
    for (int64_t i = 0; i < x->n; i++) x->data[i] = (tg_float)i - 7;
    tg_tensor_set_requires_grad(ctx, x);
    tg_tensor *y = tg_reshape(ctx, x, 3, (int[]){2, 3, 4});
    ck_assert_ptr_eq(y->data, x->data);
    ck_assert_int_eq(tg_backward(ctx, tg_sum(ctx, tg_mul(ctx, y, y))), TG_OK);
    for (int64_t i = 0; i < x->n; i++) ck_assert(x->grad[i] == 2 * x->data[i]);
    tg_ctx_free(ctx);
}
END_TEST

/* ---- releasing activations during the forward ---- */

static tg_tensor *filled(tg_ctx *ctx, int rows, int cols, int salt) {
    tg_tensor *t = tg_tensor_new(ctx, 2, (int[]){rows, cols});
    for (int64_t i = 0; i < t->n; i++) t->data[i] = (tg_float)(((i * 31 + salt) % 17) - 8) / 8;
    return t;
}

/* A released tensor that backward does not read gives its space to the next tensor of its size;
 * those backward reads (an op's input or output, or through a reshape) stay; parameters-like
 * leaves stay; the gradients come out as without releases. */
START_TEST(test_release) {
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 2, .seed = 1});
    tg_tensor *x = filled(ctx, 8, 16, 1), *w = filled(ctx, 16, 16, 2);
    tg_tensor_set_requires_grad(ctx, x);
    tg_tensor_set_requires_grad(ctx, w);
    tg_tensor *a = tg_scale(ctx, x, 2);             /* read by nothing's backward */
    tg_tensor *b = tg_scale(ctx, a, 0.5);
    tg_float *a_space = a->data;
    tg_release(ctx, a);
    ck_assert_ptr_null(a->data);
    tg_tensor *c = tg_scale(ctx, b, 3);             /* takes a's space */
    ck_assert_ptr_eq(c->data, a_space);
    tg_tensor *u = tg_scale(ctx, c, 1);
    tg_tensor *h = tg_relu(ctx, u);                 /* relu's backward reads u */
    tg_tensor *s = tg_softmax(ctx, h, NULL, false); /* softmax's reads s */
    tg_tensor *v = tg_scale(ctx, s, 1);
    tg_tensor *r = tg_reshape(ctx, v, 2, (int[]){8, 16});
    tg_tensor *m = tg_matmul(ctx, r, w, false, false);   /* reads r, that is v's values */
    tg_release(ctx, u);
    tg_release(ctx, s);
    tg_release(ctx, v);
    tg_release(ctx, r);
    tg_release(ctx, x);
    ck_assert(u->data && s->data && v->data && r->data && x->data);
    tg_tensor *L = tg_sum(ctx, tg_mul(ctx, m, m));
    tg_release(ctx, h);                              /* read by nothing's backward: goes */
    ck_assert_ptr_null(h->data);
    ck_assert_int_eq(tg_backward(ctx, L), TG_OK);
    /* the same graph without releases */
    tg_ctx *ref = tg_ctx_new(&(tg_ctx_opts){.threads = 2, .seed = 1});
    tg_tensor *x2 = filled(ref, 8, 16, 1), *w2 = filled(ref, 16, 16, 2);
    tg_tensor_set_requires_grad(ref, x2);
    tg_tensor_set_requires_grad(ref, w2);
    tg_tensor *h2 = tg_relu(ref, tg_scale(ref, tg_scale(ref, tg_scale(ref, tg_scale(ref, x2, 2), 0.5), 3), 1));
    tg_tensor *r2 = tg_reshape(ref, tg_scale(ref, tg_softmax(ref, h2, NULL, false), 1), 2, (int[]){8, 16});
    tg_tensor *m2 = tg_matmul(ref, r2, w2, false, false);
    ck_assert_int_eq(tg_backward(ref, tg_sum(ref, tg_mul(ref, m2, m2))), TG_OK);
    for (int64_t i = 0; i < x->n; i++) ck_assert(x->grad[i] == x2->grad[i]);
    for (int64_t i = 0; i < w->n; i++) ck_assert(w->grad[i] == w2->grad[i]);
    tg_ctx_free(ref);
    tg_ctx_free(ctx);
}
END_TEST

/* Space given back at the arena's top lowers the top, with a hole left just below it: a larger
 * request after them starts where the hole did, where holes alone would have sent it above. And
 * spare room is only ever below the high-water mark: NULL, with no error, where it would raise it. */
START_TEST(test_arena_top_and_spare) {
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1, .seed = 1});
    size_t base = tg_ctx_arena_stats(ctx).used;
    unsigned char *p = tg_ctx_alloc(ctx, 1000), *q = tg_ctx_alloc(ctx, 1000);
    tg__arena_give_back(ctx, p, 1000);              /* below the top: a hole */
    tg__arena_give_back(ctx, q, 1000);              /* the top, and the hole below it */
    ck_assert_uint_eq(tg_ctx_arena_stats(ctx).used, base);
    unsigned char *r = tg_ctx_alloc(ctx, 3000);     /* fits neither alone */
    ck_assert_ptr_eq(r, p);
    size_t hw = tg_ctx_arena_stats(ctx).high_water;
    ck_assert_ptr_null(tg__arena_take_spare(ctx, 64));       /* at the mark: none */
    tg__arena_give_back(ctx, r, 3000);
    unsigned char *s2 = tg__arena_take_spare(ctx, 2000);      /* below it */
    ck_assert_ptr_eq(s2, p);
    ck_assert_ptr_null(tg__arena_take_spare(ctx, 2000));     /* would raise it */
    ck_assert_uint_eq(tg_ctx_arena_stats(ctx).high_water, hw);
    ck_assert_int_eq(tg_ctx_status(ctx), TG_OK);
    tg_ctx_free(ctx);
}
END_TEST

/* Not recording, a reshape cannot be traced from its consumers: its input keeps its values. */
START_TEST(test_release_unrecorded_reshape) {
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1, .seed = 1});
    tg_ctx_set_grad_enabled(ctx, false);
    tg_tensor *x = tg_scale(ctx, filled(ctx, 4, 6, 3), 2);
    tg_tensor *r = tg_reshape(ctx, x, 2, (int[]){6, 4});
    tg_tensor *y = tg_scale(ctx, x, 2);
    tg_release(ctx, x);
    ck_assert_ptr_nonnull(x->data);
    ck_assert(r->data == x->data);
    tg_release(ctx, y);                              /* nothing refers to y: it goes */
    ck_assert_ptr_null(y->data);
    tg_ctx_free(ctx);
}
END_TEST

/* ---- the output projection and the loss in chunks ---- */

#ifdef TG_DOUBLE
#define DW_TOL 1e-12   /* d w: the chunks' products summed in another order */
#else
#define DW_TOL 2e-5
#endif

enum { LR = 3 * 41, LD = 24, LV = 700 };   /* 123 rows, chunks of 16 and a short last one */

typedef struct lce_result {
    double loss, nll, high_water;
    tg_float *dx, *dw;
} lce_result;

/* x (1, rows, LD) and w (LV, LD) with fixed values, every 10th target ignored; fused or composed.
 * spare > 0: a step of that many floats before, so the arena has room below its high-water mark
 * (where the fused op packs w once for all chunks). */
static lce_result lce_run_rows(bool fused, int rows, int chunk_rows, int threads, int spare) {
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = threads, .seed = 1});
    if (spare) {
        ck_assert_ptr_nonnull(tg_tensor_new(ctx, 1, (int[]){spare}));
        tg_ctx_reset(ctx);
    }
    tg_tensor *x = tg_tensor_new(ctx, 3, (int[]){1, rows, LD});
    tg_tensor *w = tg_tensor_new(ctx, 2, (int[]){LV, LD});
    for (int64_t i = 0; i < x->n; i++) x->data[i] = (tg_float)(((i * 7919) % 1009) / 1009.0 - 0.5);
    for (int64_t i = 0; i < w->n; i++) w->data[i] = (tg_float)(((i * 104729) % 997) / 997.0 - 0.5);
    tg_tensor_set_requires_grad(ctx, x);
    tg_tensor_set_requires_grad(ctx, w);
    int32_t *t = malloc((size_t)rows * sizeof *t);
    for (int r = 0; r < rows; r++) t[r] = r % 10 == 3 ? -1 : (int32_t)((r * 37 + 5) % LV);
    lce_result res = {0};
    size_t before = tg_ctx_arena_stats(ctx).high_water;
    tg_tensor *L;
    if (fused) {
        L = tg_linear_cross_entropy(ctx, x, w, t, 0.1, -1, chunk_rows, &res.nll);
    } else {
        tg_tensor *z = tg_matmul(ctx, x, w, false, true);
        L = tg_cross_entropy(ctx, z, t, 0.1, -1);
        tg_ctx_set_grad_enabled(ctx, false);
        res.nll = tg_cross_entropy(ctx, z, t, 0, -1)->data[0];
        tg_ctx_set_grad_enabled(ctx, true);
    }
    ck_assert_int_eq(tg_backward(ctx, L), TG_OK);
    res.high_water = (double)(tg_ctx_arena_stats(ctx).high_water - before);
    res.loss = L->data[0];
    res.dx = malloc((size_t)x->n * sizeof(tg_float));
    res.dw = malloc((size_t)w->n * sizeof(tg_float));
    for (int64_t i = 0; i < x->n; i++) res.dx[i] = x->grad[i];
    for (int64_t i = 0; i < w->n; i++) res.dw[i] = w->grad[i];
    tg_ctx_free(ctx);
    free(t);
    return res;
}

/* 123 rows: chunks of 16 and a short last one */
static lce_result lce_run(bool fused, int chunk_rows, int threads, int spare) {
    return lce_run_rows(fused, LR, chunk_rows, threads, spare);
}

static void lce_free(lce_result *r) { free(r->dx); free(r->dw); }

/* The loss, the plain NLL and d x equal the composed ops' bit for bit; d w to rounding; the
 * chunked op's arena stays well below the composed ops' logits and their gradient. */
START_TEST(test_linear_cross_entropy_equals_composed) {
    lce_result ref = lce_run(false, 0, 2, 0);
    for (int chunk = 0; chunk <= 16; chunk += 16) {   /* one chunk, then 8 chunks */
        lce_result got = lce_run(true, chunk, 2, 0);
        ck_assert_msg(got.loss == ref.loss, "chunk %d: loss %.17g vs %.17g", chunk, got.loss, ref.loss);
        ck_assert(got.nll == ref.nll);
        ck_assert(got.loss > got.nll);   /* smoothing adds to the plain NLL */
        for (int64_t i = 0; i < LR * LD; i++)
            ck_assert_msg(got.dx[i] == ref.dx[i], "chunk %d: dx[%lld]", chunk, (long long)i);
        for (int64_t i = 0; i < LV * LD; i++)
            ck_assert_msg(fabs((double)got.dw[i] - (double)ref.dw[i]) <= DW_TOL, "chunk %d: dw[%lld] "
                          "%.9g vs %.9g", chunk, (long long)i, (double)got.dw[i], (double)ref.dw[i]);
        if (chunk) ck_assert_double_lt(got.high_water, 0.5 * ref.high_water);
        lce_free(&got);
    }
    lce_free(&ref);
}
END_TEST

/* The chunks do not depend on the thread count: 1 and 2 threads give the same bits; so does w
 * packed once in spare room (and the high-water mark does not move for it). */
START_TEST(test_linear_cross_entropy_threads) {
    lce_result a = lce_run(true, 16, 1, 0);
    for (int k = 0; k < 3; k++) {
        lce_result b = lce_run(true, 16, k ? k : 2, k ? 1 << 20 : 0);
        ck_assert(a.loss == b.loss && a.nll == b.nll);
        for (int64_t i = 0; i < LR * LD; i++) ck_assert(a.dx[i] == b.dx[i]);
        for (int64_t i = 0; i < LV * LD; i++) ck_assert(a.dw[i] == b.dw[i]);
        if (k) ck_assert(b.high_water == 0);
        lce_free(&b);
    }
    lce_free(&a);
}
END_TEST

/* The default chunk is 2^21 logits but at most 256 rows (d w's product, K = the chunk's rows, in
 * one k block of the GEMM): with 600 rows of 700 logits, the bits and memory of chunk_rows 256,
 * not of one 600-row chunk (d w's sum over chunks rounds differently: the test can tell). */
START_TEST(test_linear_cross_entropy_chunk_cap) {
    lce_result def = lce_run_rows(true, 600, 0, 2, 0), c256 = lce_run_rows(true, 600, 256, 2, 0);
    lce_result whole = lce_run_rows(true, 600, 600, 2, 0);
    ck_assert(memcmp(def.dw, c256.dw, LV * LD * sizeof *def.dw) == 0);
    ck_assert(memcmp(def.dx, c256.dx, 600 * LD * sizeof *def.dx) == 0);
    ck_assert(memcmp(whole.dw, c256.dw, LV * LD * sizeof *def.dw) != 0);
    ck_assert(def.high_water == c256.high_water);
    ck_assert_double_lt(def.high_water, whole.high_water);
    lce_free(&def);
    lce_free(&c256);
    lce_free(&whole);
}
END_TEST

/* Every row ignored: loss 0, recorded like the composed ops, and backward adds nothing. Bad
 * input is refused with the op's name. */
START_TEST(test_linear_cross_entropy_edges) {
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1, .seed = 1});
    tg_tensor *x = tg_tensor_new(ctx, 2, (int[]){4, 3}), *w = tg_tensor_new(ctx, 2, (int[]){5, 3});
    tg_tensor_set_requires_grad(ctx, w);
    int32_t none[4] = {-1, -1, -1, -1}, bad[4] = {0, 5, 1, 2};
    double nll = -1;
    tg_tensor *L = tg_linear_cross_entropy(ctx, x, w, none, 0.1, -1, 0, &nll);
    ck_assert(L && L->data[0] == 0 && nll == 0);
    ck_assert_int_eq(tg_backward(ctx, L), TG_OK);
    for (int64_t i = 0; i < w->n; i++) ck_assert(w->grad[i] == 0);
    ck_assert_ptr_null(tg_linear_cross_entropy(ctx, x, w, bad, 0.1, -1, 0, NULL));
    ck_assert_msg(strstr(tg_ctx_errmsg(ctx), "linear_cross_entropy: target 5 of row 1") != NULL,
                  "%s", tg_ctx_errmsg(ctx));
    tg_ctx_clear_error(ctx);
    ck_assert_ptr_null(tg_linear_cross_entropy(ctx, x, tg_tensor_new(ctx, 2, (int[]){5, 4}), none,
                                               0.1, -1, 0, NULL));
    ck_assert_int_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    tg_ctx_free(ctx);
}
END_TEST

/* The kernels' scratch is counted as it grows, and not again when reused. */
START_TEST(test_scratch_bytes) {
    size_t before = tg_k_scratch_bytes();
    ck_assert_ptr_nonnull(tg_k_scratch(3, 1 << 20));
    size_t grown = tg_k_scratch_bytes() - before;
    ck_assert_uint_ge(grown, 1 << 20);
    ck_assert_ptr_nonnull(tg_k_scratch(3, 1 << 10));   /* fits: no growth */
    ck_assert_uint_eq(tg_k_scratch_bytes() - before, grown);
}
END_TEST

/* ---- a model's training step ---- */

/* At the arena's peak of a small model's training step (dropout on, 2 threads): no tensor of
 * logits exists (the last dim never is the vocabulary); no copy of attention's heads exists (no
 * transpose: the heads are read in place from the q, k, v projections, which keep their values
 * for backward); and of the linear layers' (B, T, d) outputs only those hold values (W_O's and
 * the feed-forward's are released: nothing's backward reads them). */
START_TEST(test_model_step_holders) {
    tg_model_config cfg = tg_model_gradcheck_config();   /* 2 + 2 layers, max_len 8 */
    cfg.vocab = 300;   /* wider than any other dim: a logits tensor cannot hide */
    cfg.dropout = 0.1;
    tg_err err;
    tg_model *m = tg_model_new(&cfg, 3, &err);
    ck_assert_ptr_nonnull(m);
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 2, .seed = 4});
    ck_assert(tg_ctx_track_peak(ctx, true));
    enum { B = 3, S = 7, T = 6 };   /* S, T <= max_len */
    int32_t src[B * S], tin[B * T], tout[B * T];
    for (int i = 0; i < B * S; i++) src[i] = 2 + (i * 13) % 290;
    for (int i = 0; i < B * T; i++) tout[i] = 2 + (i * 7) % 290;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) tin[b * T + t] = t ? tout[b * T + t - 1] : 1;
    tg_tensor *loss = NULL;
    ck_assert_int_eq(tg_model_loss(m, ctx, src, tin, tout, B, S, T, &loss, NULL, &err), TG_OK);
    ck_assert_int_eq(tg_backward(ctx, loss), TG_OK);
    tg_mem_holder h[128];   /* every group, the empty ones too */
    tg_mem_peak pk;
    int n = tg_ctx_peak_holders(ctx, h, 128, &pk);
    ck_assert_int_lt(n, 128);
    ck_assert_int_gt(n, 5);
    bool linear_seen = false;
    int kept = 0;   /* (B, T, d) linear outputs holding values */
    for (int i = 0; i < n; i++) {
        ck_assert_msg(h[i].ndim == 0 || h[i].shape[h[i].ndim - 1] != cfg.vocab,
                      "a %s output of the vocabulary's width", tg_op_name(h[i].op));
        ck_assert_msg(h[i].op != TG_OP_TRANSPOSE, "a transposed copy of %d dims", h[i].ndim);
        if (h[i].op == TG_OP_MATMUL_BIAS && h[i].shape[h[i].ndim - 1] == cfg.d_model) {
            linear_seen = true;
            size_t one = rounded((size_t)h[i].shape[0] * h[i].shape[1] * cfg.d_model * sizeof(tg_float));
            ck_assert_uint_eq(h[i].data_bytes % one, 0);
            kept += (int)(h[i].data_bytes / one);
        }
    }
    ck_assert(linear_seen);
    ck_assert_int_eq(kept, 3 * (cfg.enc_layers + 2 * cfg.dec_layers));   /* q, k, v per attention */
    tg_ctx_free(ctx);
    tg_model_free(m);
}
END_TEST

/* A recorded reshape's gradient is its input's: backward makes no gradient for it and copies
 * nothing (here only the scale's output gets one), and the leaf gets exactly the right values. */
START_TEST(test_reshape_shares_gradient) {
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 2, .seed = 1});
    tg_tensor *x = tg_tensor_new(ctx, 2, (int[]){64, 1024});
    for (int64_t i = 0; i < x->n; i++) x->data[i] = (tg_float)(i % 5);
    tg_tensor_set_requires_grad(ctx, x);
    tg_tensor *L = tg_sum(ctx, tg_scale(ctx, tg_reshape(ctx, x, 2, (int[]){1024, 64}), 3));
    size_t after_forward = tg_ctx_arena_stats(ctx).high_water, t = x->n * sizeof(tg_float);
    ck_assert_int_eq(tg_backward(ctx, L), TG_OK);
    size_t grown = tg_ctx_arena_stats(ctx).high_water - after_forward;
    ck_assert_msg(grown < t + 4096, "backward took %zu bytes, %zu a tensor", grown, t);
    for (int64_t i = 0; i < x->n; i++) ck_assert(x->grad[i] == 3);
    ck_assert_int_eq(tg_backward(ctx, L), TG_OK);   /* a leaf keeps accumulating */
    for (int64_t i = 0; i < x->n; i++) ck_assert(x->grad[i] == 6);
    tg_ctx_free(ctx);
}
END_TEST

int main(void) {
    Suite *s = suite_create("memory");
    TCase *tc = tcase_create("arena");
    tcase_add_test(tc, test_backward_reuses_gradient_space);
    tcase_add_test(tc, test_peak_holders);
    tcase_add_test(tc, test_matmul_bias_equals_composed);
    tcase_add_test(tc, test_matmul_bias_shape_errors);
    tcase_add_test(tc, test_reshape_shares_values);
    tcase_add_test(tc, test_reshape_shares_gradient);
    tcase_add_test(tc, test_release);
    tcase_add_test(tc, test_arena_top_and_spare);
    tcase_add_test(tc, test_release_unrecorded_reshape);
    tcase_add_test(tc, test_linear_cross_entropy_equals_composed);
    tcase_add_test(tc, test_linear_cross_entropy_threads);
    tcase_add_test(tc, test_linear_cross_entropy_chunk_cap);
    tcase_add_test(tc, test_linear_cross_entropy_edges);
    tcase_add_test(tc, test_model_step_holders);
    tcase_add_test(tc, test_scratch_bytes);
    suite_add_tcase(s, tc);
    return tg_check_run(s) ? 1 : 0;
}
