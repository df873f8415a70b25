/* test_profile.c: the per-op time profile of `bench step --profile` — which ops were seen, how
 * many nodes, their GEMM work and bytes, and that nothing is counted when profiling is off. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autograd/autograd.h"
#include "tests/tg_check.h"
#include "train/cli/bench_profile.h"

static const tg_op_profile *find(const tg_op_profile *ops, int n, tg_op op) {
    for (int i = 0; i < n; i++)
        if (ops[i].op == op) return &ops[i];
    return NULL;
}

/* L = sum(relu(x W^T + b)) with x (2, 5, 8), W (6, 8), b (6), all taking gradients, two steps. */
static tg_tensor *graph(tg_ctx *ctx) {
    tg_tensor *x = tg_tensor_new(ctx, 3, (int[]){2, 5, 8}), *w = tg_tensor_new(ctx, 2, (int[]){6, 8});
    tg_tensor *b = tg_tensor_new(ctx, 1, (int[]){6});
    for (int64_t i = 0; i < x->n; i++) x->data[i] = (tg_float)(i % 3) - 1;
    for (int64_t i = 0; i < w->n; i++) w->data[i] = (tg_float)(i % 5) - 2;
    tg_tensor_set_requires_grad(ctx, x);
    tg_tensor_set_requires_grad(ctx, w);
    tg_tensor_set_requires_grad(ctx, b);
    return tg_sum(ctx, tg_relu(ctx, tg_matmul_bias(ctx, x, w, b)));
}

START_TEST(test_profile_counts) {
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 2, .seed = 1});
    tg_op_profile ops[TG_OP_COUNT];
    int steps = -1;
    ck_assert_int_eq(tg_ctx_profile_read(ctx, ops, &steps), 0);   /* off: nothing */
    ck_assert_int_eq(steps, 0);
    ck_assert_int_eq(tg_backward(ctx, graph(ctx)), TG_OK);        /* not profiled */
    tg_ctx_reset(ctx);
    ck_assert(tg_ctx_profile(ctx, true));
    for (int s = 0; s < 2; s++) {
        ck_assert_int_eq(tg_backward(ctx, graph(ctx)), TG_OK);
        tg_ctx_reset(ctx);
    }
    int n = tg_ctx_profile_read(ctx, ops, &steps);
    ck_assert_int_eq(steps, 2);
    ck_assert_int_eq(n, 3);   /* matmul_bias, relu, sum */
    const tg_op_profile *mm = find(ops, n, TG_OP_MATMUL_BIAS), *relu = find(ops, n, TG_OP_RELU);
    ck_assert(mm && relu && find(ops, n, TG_OP_SUM));
    ck_assert_int_eq(mm->nodes, 2);
    double one = 2.0 * 10 * 6 * 8;   /* (10 rows x 8) (8 x 6) */
    ck_assert(mm->fwd_flop == 2 * one && mm->bwd_flop == 2 * 2 * one);   /* d x and d W */
    ck_assert(relu->fwd_flop == 0 && relu->bwd_flop == 0);
    ck_assert(relu->fwd_bytes == 2 * 2 * 60 * sizeof(tg_float));         /* in and out, 2 steps */
    for (int i = 0; i < n; i++) ck_assert(ops[i].fwd_s >= 0 && ops[i].bwd_s >= 0);
    ck_assert(mm->fwd_s > 0 && mm->bwd_s > 0);
    ck_assert(tg_ctx_profile(ctx, false));
    ck_assert_int_eq(tg_ctx_profile_read(ctx, ops, &steps), 0);
    tg_ctx_free(ctx);
}
END_TEST

/* Part 0 (the caller's) returns at once, part 1 sleeps 50 ms: one section, and about 50 ms of a
 * thread's time spent waiting at its end. */
static void sleep_in_part_1(void *arg, size_t begin, size_t end) {
    (void)arg;
    (void)end;
    if (begin > 0) nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
}

START_TEST(test_pool_wait_counted) {
    tg_pool *pool = tg_pool_new(2);
    ck_assert_ptr_nonnull(pool);
    tg_pool_for(pool, 2, 1, sleep_in_part_1, NULL);   /* not counted */
    tg_pool_stats s = tg_pool_stats_read(pool);
    ck_assert(s.sections == 0 && s.wait_s == 0);
    tg_pool_stats_on(pool, true);
    tg_pool_for(pool, 2, 1, sleep_in_part_1, NULL);
    tg_pool_for(pool, 1, 1, sleep_in_part_1, NULL);   /* one part: not a section */
    s = tg_pool_stats_read(pool);
    ck_assert_int_eq(s.sections, 1);
    ck_assert(s.busy_s >= 0.05 && s.wall_s >= 0.05);
    /* parts x slowest - sum: the sleep, less the caller's part (microseconds) */
    ck_assert(s.wait_s >= 0.04 && s.wait_s <= s.busy_s + 1e-9);
    tg_pool_stats_on(pool, true);                     /* from zero again */
    ck_assert_int_eq(tg_pool_stats_read(pool).sections, 0);
    tg_pool_stats_on(pool, false);
    tg_pool_for(pool, 2, 1, sleep_in_part_1, NULL);
    ck_assert_int_eq(tg_pool_stats_read(pool).sections, 0);
    tg_pool_free(pool);
}
END_TEST

/* What fn prints of p (free it) */
static char *printed(void (*fn)(FILE *, const tg_bench_profile *), const tg_bench_profile *p) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    fn(f, p);
    ck_assert_int_eq(fclose(f), 0);
    return text;
}

/* The profile's floor: the GEMM work at bench gemm's rate plus the step outside the GEMM ops;
 * none without that rate. 47.3 GFLOP at 171.4 GFLOP/s is 0.27596 s, and 0.35 - 0.32 s is left. */
START_TEST(test_profile_floor) {
    tg_bench_profile p = {.step_s = 0.35, .gemm_s = 0.32, .gemm_flop = 47.3e9,
                          .bench_gemm_gflops = 171.4};
    ck_assert_double_eq_tol(tg_bench_profile_floor_s(&p), 47.3 / 171.4 + 0.03, 1e-12);
    p.bench_gemm_gflops = 0;
    ck_assert_double_eq(tg_bench_profile_floor_s(&p), 0);
}
END_TEST

/* The step's GEMMs faster than the same shapes alone (the rate measured under load): the floor is
 * over the step and was still printed as "a lower bound" (0.1605 s, 109% of a 0.1471 s small
 * step); it is said to be none. 15.2 GFLOP at 104.4 GFLOP/s is 0.1456 s, plus 0.015 s. */
START_TEST(test_profile_floor_over_the_step) {
    tg_bench_profile p = {.step_s = 0.1471, .gemm_s = 0.1321, .gemm_flop = 15.2e9,
                          .bench_gemm_gflops = 104.4};
    char *text = printed(tg_bench_profile_print, &p);
    ck_assert_msg(strstr(text, "would take 0.1606 s, 109% of this one (not under it: "), "%s",
                  text);
    ck_assert_msg(!strstr(text, "lower bound"), "%s", text);
    free(text);
    p.bench_gemm_gflops = 171.4;   /* under the step: a lower bound, as before */
    text = printed(tg_bench_profile_print, &p);
    ck_assert_msg(strstr(text, "(the rest as measured; a lower bound for these kernels here)"),
                  "%s", text);
    free(text);
}
END_TEST

/* The RESULT line's figures give its floor_s again: bench_gemm_gflops at 0.1 was off by up to
 * 0.25% at the portable kernels' rate (21.349 shown 21.3: 2.4211 s against 2.4160 s). */
START_TEST(test_profile_result_floor_recomputed) {
    tg_bench_profile p = {.step_s = 2.5, .gemm_s = 2.3, .gemm_flop = 47.31e9,
                          .bench_gemm_gflops = 21.349};
    char *text = printed(tg_bench_profile_result, &p);
    double gemm_s, flop, rate, floor_s;
    const char *at = strstr(text, " gemm_s=");
    ck_assert_msg(at && sscanf(at, " gemm_s=%lf gemm_gflop=%lf gemm_gflops=%*f "
                               "bench_gemm_gflops=%lf gemm_share=%*f floor_s=%lf",
                               &gemm_s, &flop, &rate, &floor_s) == 4, "%s", text);
    double again = flop / rate + (p.step_s - gemm_s);
    ck_assert_msg(fabs(again - floor_s) <= 2e-4 * floor_s, "floor_s %.4f, from the line %.4f: %s",
                  floor_s, again, text);
    free(text);
}
END_TEST

int main(void) {
    Suite *s = suite_create("profile");
    TCase *tc = tcase_create("ops");
    tcase_add_test(tc, test_profile_counts);
    tcase_add_test(tc, test_pool_wait_counted);
    tcase_add_test(tc, test_profile_floor);
    tcase_add_test(tc, test_profile_floor_over_the_step);
    tcase_add_test(tc, test_profile_result_floor_recomputed);
    suite_add_tcase(s, tc);
    return tg_check_run(s) ? 1 : 0;
}
