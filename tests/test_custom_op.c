/* test_custom_op.c: ops defined outside the library (tg_custom) — recorded and run backward like
 * built-in ones, checkable by tg_gradcheck (a wrong backward is caught), errors reported. */
#include <check.h>
#include <string.h>

#include "autograd/autograd.h"
#include "autograd/gradcheck.h"
#include "tests/tg_check.h"

/* y = x^2 * w, w optional second input; `user` points to a factor for the backward of x (2 is
 * right, anything else is a wrong gradient). A negative x is refused by forward. */
static tg_status sqw_forward(tg_tensor *const *in, int n_in, tg_tensor *out, void *user,
                             tg_err *err) {
    for (int64_t i = 0; i < out->n; i++) {
        tg_float x = in[0]->data[i];
        if (x < -100) return tg_err_set(err, TG_ERR_NUMERIC, "x[%lld] below -100", (long long)i);
        out->data[i] = x * x * (n_in > 1 ? in[1]->data[i] : 1);
    }
    return TG_OK;
}
static int grads_seen[2]; /* how many backwards got a gradient buffer for each input */
static void sqw_backward(tg_tensor *const *in, int n_in, const tg_tensor *out, tg_float *const *g,
                         void *user) {
    double k = *(const double *)user;
    for (int j = 0; j < n_in; j++) grads_seen[j] += g[j] != NULL;
    for (int64_t i = 0; i < out->n; i++) {
        tg_float x = in[0]->data[i], w = n_in > 1 ? in[1]->data[i] : 1;
        if (g[0]) g[0][i] += (tg_float)k * x * w * out->grad[i];
        if (n_in > 1 && g[1]) g[1][i] += x * x * out->grad[i];
    }
}
static const tg_custom_op sqw = {"sqw", sqw_forward, sqw_backward};
static const tg_custom_op no_backward = {"fwd_only", sqw_forward, NULL};

typedef struct {
    tg_tensor *x, *w;
    double k;
} args;
static tg_tensor *loss_fn(tg_ctx *ctx, void *arg) {
    args *a = arg;
    tg_tensor *y = tg_custom(ctx, &sqw, &a->k, (tg_tensor *[]){a->x, a->w}, 2, 2, a->x->shape);
    return tg_sum(ctx, tg_mul(ctx, tg_relu(ctx, y), y)); /* y^2 (y >= 0): a nonlinear use */
}

START_TEST(test_custom_op_gradcheck) {
    tg_params *P = tg_params_new();
    args a = {tg_params_add(P, "x", 2, (int[]){3, 5}), tg_params_add(P, "w", 2, (int[]){3, 5}), 2};
    ck_assert_int_eq(tg_params_alloc(P, NULL), TG_OK);
    for (int i = 0; i < 15; i++) {
        a.x->data[i] = (tg_float)(0.3 + 0.05 * i);
        a.w->data[i] = (tg_float)(1.2 - 0.04 * i);
    }
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1, .seed = 1});
    tg_gradcheck_opts o = tg_gradcheck_defaults();
    tg_gradcheck_result r;
    tg_tensor *leaves[] = {a.x, a.w};
    ck_assert_int_eq(tg_gradcheck(ctx, loss_fn, &a, leaves, 2, &o, &r, NULL), TG_OK);
    ck_assert_msg(r.pass, "%s", r.worst);
    ck_assert_int_eq(r.checked, 30);
    a.k = 1.5; /* a wrong backward (25% off) is caught */
    ck_assert_int_eq(tg_gradcheck(ctx, loss_fn, &a, leaves, 2, &o, &r, NULL), TG_OK);
    ck_assert(!r.pass);
    tg_ctx_free(ctx);
    tg_params_free(P);
}
END_TEST

START_TEST(test_custom_op_records_like_builtin) {
    tg_params *P = tg_params_new();
    tg_tensor *x = tg_params_add(P, "x", 1, (int[]){4});
    ck_assert_int_eq(tg_params_alloc(P, NULL), TG_OK);
    for (int i = 0; i < 4; i++) x->data[i] = (tg_float)(i + 1);
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1, .seed = 1});
    double k = 2;
    tg_tensor *w = tg_tensor_new(ctx, 1, (int[]){4}); /* needs no gradient: NULL buffer */
    for (int i = 0; i < 4; i++) w->data[i] = 3;
    memset(grads_seen, 0, sizeof grads_seen);
    tg_tensor *y = tg_custom(ctx, &sqw, &k, (tg_tensor *[]){x, w}, 2, 1, (int[]){4});
    ck_assert_ptr_nonnull(y);
    ck_assert(tg_requires_grad(y));
    ck_assert_int_eq(tg_tape_len(ctx), 1);
    ck_assert_int_eq(tg_backward(ctx, tg_sum(ctx, y)), TG_OK);
    ck_assert_int_eq(grads_seen[0], 1);
    ck_assert_int_eq(grads_seen[1], 0);
    for (int i = 0; i < 4; i++) ck_assert(x->grad[i] == 2 * (i + 1) * 3); /* d(3 x^2)/dx */
    /* recording off: no node, the same values */
    tg_ctx_reset(ctx);
    tg_ctx_set_grad_enabled(ctx, false);
    y = tg_custom(ctx, &sqw, &k, (tg_tensor *[]){x}, 1, 1, (int[]){4});
    ck_assert_int_eq(tg_tape_len(ctx), 0);
    ck_assert(y->data[3] == 16);
    tg_ctx_free(ctx);
    tg_params_free(P);
}
END_TEST

START_TEST(test_custom_op_errors) {
    tg_params *P = tg_params_new();
    tg_tensor *x = tg_params_add(P, "x", 1, (int[]){2});
    ck_assert_int_eq(tg_params_alloc(P, NULL), TG_OK);
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1, .seed = 1});
    double k = 2;
    x->data[1] = -200; /* forward refuses it: its message, prefixed by the op's name */
    ck_assert_ptr_null(tg_custom(ctx, &sqw, &k, (tg_tensor *[]){x}, 1, 1, (int[]){2}));
    ck_assert_int_eq(tg_ctx_status(ctx), TG_ERR_NUMERIC);
    ck_assert_str_eq(tg_ctx_errmsg(ctx), "custom sqw: x[1] below -100");
    tg_ctx_reset(ctx);
    x->data[1] = 1;
    ck_assert_ptr_null(tg_custom(ctx, &sqw, &k, (tg_tensor *[]){x, x, x, x}, 4, 1, (int[]){2}));
    ck_assert(strstr(tg_ctx_errmsg(ctx), "4 inputs, expected 1..3"));
    tg_ctx_reset(ctx);
    ck_assert_ptr_null(tg_custom(ctx, &sqw, &k, (tg_tensor *[]){x}, 1, 1, (int[]){0}));
    ck_assert_int_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    tg_ctx_reset(ctx);
    tg_tensor *y = tg_custom(ctx, &no_backward, NULL, (tg_tensor *[]){x}, 1, 1, (int[]){2});
    ck_assert_int_eq(tg_backward(ctx, tg_sum(ctx, y)), TG_ERR_STATE);
    ck_assert(strstr(tg_ctx_errmsg(ctx), "fwd_only has no backward"));
    tg_ctx_free(ctx);
    tg_params_free(P);
}
END_TEST

int main(void) {
    Suite *s = suite_create("custom_op");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_custom_op_gradcheck);
    tcase_add_test(tc, test_custom_op_records_like_builtin);
    tcase_add_test(tc, test_custom_op_errors);
    suite_add_tcase(s, tc);
    return tg_check_run(s) ? 1 : 0;
}
