/* test_shards.c: --accum-shards N. The gradient over N shards equals the whole batch's (N = 1) up
 * to rounding, also with more shards than sentences (empty shards) and with the loss weights
 * the shards' token counts give; the run's loss is the whole batch's. And the plan of the
 * overlapped MPI sum: when each parameter's gradient is final in the backward walk. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/run/run.h"
#include "tests/tg_check.h"

/* A tiny copy-task run without dropout (dropout draws differ between shard counts by design). */
static void open_run(tg_run *r, int shards) {
    tg_run_config c;
    tg_run_config_default(&c);
    tg_err err;
    const char *kv[][2] = {{"task", "copy"}, {"task-vocab", "12"}, {"task-size", "200"}, {"d-model", "16"},
                           {"heads", "2"}, {"d-ff", "32"}, {"layers", "1"}, {"max-tokens", "400"},
                           {"dropout", "0"}, {"threads", "2"}, {"out", "/nonexistent/unused"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        ck_assert_int_eq(tg_run_config_set(&c, kv[i][0], kv[i][1], &err), TG_OK);
    c.accum_shards = shards;
    ck_assert_msg(tg_run_open(r, &c, NULL, &err) == TG_OK, "%s", err.msg);
}

/* The gradient (copied to out) and loss of the run's first batch over `shards` shards. */
static tg_shard_result first_batch_grad(int shards, tg_float **out, size_t *n, int *rows) {
    tg_run r;
    open_run(&r, shards);
    tg_batch b = {0};
    tg_err err;
    ck_assert_int_eq(tg_batch_iter_next(r.iter, &b, &err), TG_OK);
    tg_shard_result res;
    ck_assert_msg(tg_run_shard_grads(&r, &b, TG_OK, false, NULL, &res, &err) == TG_OK, "%s", err.msg);
    tg_params *P = tg_model_params(r.model);
    *n = (size_t)tg_params_numel(P);
    *out = malloc(*n * sizeof **out);
    memcpy(*out, tg_params_grad(P), *n * sizeof **out);
    *rows = b.B;
    tg_batch_free(&b);
    tg_run_close(&r);
    return res;
}

#ifdef TG_DOUBLE
#define REL_TOL 1e-11
#else
#define REL_TOL 2e-5
#endif

START_TEST(test_shard_grads_equal_whole_batch) {
    tg_float *g1, *gk;
    size_t n, nk;
    int rows;
    tg_shard_result want = first_batch_grad(1, &g1, &n, &rows);
    ck_assert(want.finite && isfinite(want.loss));
    ck_assert_int_ge(rows, 4);
    double scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)g1[i]));
    ck_assert(scale > 0);
    /* 2 and 3 shards, and more shards than sentences: the last ones are empty */
    int counts[] = {2, 3, rows + 2};
    for (size_t t = 0; t < sizeof counts / sizeof counts[0]; t++) {
        int rk;
        tg_shard_result got = first_batch_grad(counts[t], &gk, &nk, &rk);
        ck_assert_int_eq(nk, n);
        ck_assert(got.finite);
        ck_assert_msg(fabs(got.loss - want.loss) <= REL_TOL * fabs(want.loss), "%d shards: loss %.9g, whole batch %.9g",
                      counts[t], got.loss, want.loss);
        ck_assert(fabs(got.nll - want.nll) <= REL_TOL * fabs(want.nll));
        double worst = 0;
        for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)gk[i] - (double)g1[i]));
        ck_assert_msg(worst <= REL_TOL * scale, "%d shards: gradient off by %.3g (largest element %.3g)", counts[t],
                      worst, scale);
        free(gk);
    }
    free(g1);
}
END_TEST

/* The hook sees walked = 1, 2, ... after each node; leaf_final gives the last node of the walk
 * that touches each parameter (the walk meets z = y W2 before y = x W1), 0 for an unused one. */
typedef struct { int64_t calls, last; bool in_order; } hook_log;
static void count_hook(void *user, int64_t walked) {
    hook_log *h = user;
    h->in_order = h->in_order && walked == h->last + 1;
    h->last = walked;
    h->calls++;
}

START_TEST(test_backward_leaf_final_and_hook) {
    tg_params *P = tg_params_new();
    tg_tensor *W1 = tg_params_add(P, "w1", 2, (int[]){3, 4});
    tg_tensor *unused = tg_params_add(P, "unused", 1, (int[]){5});
    tg_tensor *W2 = tg_params_add(P, "w2", 2, (int[]){4, 2});
    tg_err err;
    ck_assert_int_eq(tg_params_alloc(P, &err), TG_OK);
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1, .seed = 1});
    tg_tensor *x = tg_tensor_new(ctx, 2, (int[]){2, 3});               // (2, 3)
    tg_tensor *y = tg_matmul(ctx, x, W1, false, false);                // (2, 4), node 3 of the walk
    tg_tensor *z = tg_matmul(ctx, y, W2, false, false);                // (2, 2), node 2
    tg_tensor *loss = tg_sum(ctx, z);                                  // (), node 1
    ck_assert_ptr_nonnull(loss);
    tg_tensor *leaves[] = {W1, unused, W2};
    int64_t final_after[3];
    ck_assert_int_eq(tg_backward_leaf_final(loss, 3, leaves, final_after), TG_OK);
    ck_assert_int_eq(final_after[0], 3);
    ck_assert_int_eq(final_after[1], 0);
    ck_assert_int_eq(final_after[2], 2);
    hook_log h = {0, 0, true};
    ck_assert_int_eq(tg_backward_hooked(ctx, loss, count_hook, &h), TG_OK);
    ck_assert_int_eq(h.calls, 3);
    ck_assert(h.in_order);
    tg_ctx_free(ctx);
    tg_params_free(P);
}
END_TEST

/* TAPEGRAD_MPI_BUCKET was read with atoll: "12abc" meant 12 and "abc" the default, unsaid. A value
 * that is not a whole number above 0 is warned of, escaped, once, and the default taken. */
START_TEST(test_bucket_variable_strict) {
    static const char *const bad[] = {"12abc", "abc", "0", "-5", " 12", "+12", "12 ", "0x10",
                                      "99999999999999999999"};
    int64_t v = -1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!tg_run_bucket_parse(bad[i], &v) && v == -1, "'%s' taken as %lld", bad[i], (long long)v);
    ck_assert(tg_run_bucket_parse("300", &v) && v == 300);
    ck_assert(tg_run_bucket_parse("0300", &v) && v == 300);
    char dir[256], path[300];
    ck_assert_ptr_nonnull(tg_check_mkdtemp(dir, sizeof dir, "tg_bucket"));
    snprintf(path, sizeof path, "%s/err.txt", dir);
    ck_assert_ptr_nonnull(freopen(path, "w", stderr));
    ck_assert_int_eq(setenv("TAPEGRAD_MPI_BUCKET", "300", 1), 0);
    ck_assert_int_eq(tg_run_overlap_bucket_elems(), 300);
    ck_assert_int_eq(setenv("TAPEGRAD_MPI_BUCKET", "12abc\x1b[31m", 1), 0);
    ck_assert_int_eq(tg_run_overlap_bucket_elems(), (int64_t)1 << 20);
    ck_assert_int_eq(setenv("TAPEGRAD_MPI_BUCKET", "abc", 1), 0);
    ck_assert_int_eq(tg_run_overlap_bucket_elems(), (int64_t)1 << 20);   /* (said once a process) */
    unsetenv("TAPEGRAD_MPI_BUCKET");
    ck_assert_int_eq(tg_run_overlap_bucket_elems(), (int64_t)1 << 20);
    fflush(stderr);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char text[1024] = {0};
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    ck_assert_msg(!strcmp(text, "tapegrad: TAPEGRAD_MPI_BUCKET=12abc\\x1B[31m is not a bucket size (a whole number of "
                                "elements above 0): ignored, 1048576 elements\n"), "stderr: '%s' (%zu bytes)", text, n);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("shards");
    TCase *tc = tcase_create("accum");
    tcase_add_test(tc, test_shard_grads_equal_whole_batch);
    tcase_add_test(tc, test_backward_leaf_final_and_hook);
    tcase_add_test(tc, test_bucket_variable_strict);
    suite_add_tcase(s, tc);
    return tg_check_run(s) ? 1 : 0;
}
