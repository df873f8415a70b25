/* test_memory.c: where a step's memory goes — backward gives each intermediate gradient's space
 * back once its producer has run and reuses it, and the peak report names what held the arena. */
#include <check.h>
#include <stdlib.h>

#include "autograd/autograd.h"
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

int main(void) {
    Suite *s = suite_create("memory");
    TCase *tc = tcase_create("arena");
    tcase_add_test(tc, test_backward_reuses_gradient_space);
    tcase_add_test(tc, test_peak_holders);
    suite_add_tcase(s, tc);
    return tg_check_run(s) ? 1 : 0;
}
