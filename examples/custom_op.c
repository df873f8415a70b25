/* custom_op.c: an op the library does not have — swish, y = x * sigmoid(x) — written outside the
 * library as a tg_custom_op (forward, backward, user data), used in a graph like a built-in op
 * and checked by tg_gradcheck against finite differences. Exits 0 only when the check passes.
 *   build/examples/example_custom_op */
#include <math.h>
#include <stdio.h>
#include <tapegrad.h>

/* User data: swish_beta(x) = x * sigmoid(beta x); beta = 1 is swish (SiLU). */
typedef struct {
    double beta;
} swish_args;

static double sigmoid(double z) { return 1 / (1 + exp(-z)); }

/* out (like in[0]) = x * sigmoid(beta x) */
static tg_status swish_forward(tg_tensor *const *in, int n_in, tg_tensor *out, void *user,
                               tg_err *err) {
    (void)n_in, (void)err;   /* one input, as declared; nothing here can fail */
    double beta = ((const swish_args *)user)->beta;
    const tg_float *x = in[0]->data;
    for (int64_t i = 0; i < out->n; i++) out->data[i] = (tg_float)(x[i] * sigmoid(beta * x[i]));
    return TG_OK;
}

/* dy/dx = s + beta x s (1 - s), s = sigmoid(beta x); accumulate into grads[0] (NULL: not needed) */
static void swish_backward(tg_tensor *const *in, int n_in, const tg_tensor *out,
                           tg_float *const *grads, void *user) {
    (void)n_in;
    if (!grads[0]) return;
    double beta = ((const swish_args *)user)->beta;
    const tg_float *x = in[0]->data;
    for (int64_t i = 0; i < out->n; i++) {
        double s = sigmoid(beta * x[i]);
        grads[0][i] += (tg_float)((s + beta * x[i] * s * (1 - s)) * out->grad[i]);
    }
}

static const tg_custom_op swish_op = {"swish", swish_forward, swish_backward};

static tg_tensor *swish(tg_ctx *ctx, tg_tensor *x, swish_args *a) {
    return tg_custom(ctx, &swish_op, a, (tg_tensor *[]){x}, 1, x->ndim, x->shape);
}

/* What the check differentiates: loss = sum(swish(x W^T) * x W^T), x (4, 5), W (3, 5). */
typedef struct {
    tg_tensor *x, *w;
    swish_args sw;
} model;
static tg_tensor *loss_fn(tg_ctx *ctx, void *arg) {
    model *m = arg;
    tg_tensor *h = tg_matmul(ctx, m->x, m->w, false, true); // (4, 3)
    return tg_sum(ctx, tg_mul(ctx, swish(ctx, h, &m->sw), h));
}

/* Output that cannot be written (a full disk, a closed pipe) is a failure, not a success. */
static int stdout_ok(void) {
    int ok = !ferror(stdout);
    if (fclose(stdout) != 0) ok = 0;
    if (!ok) fprintf(stderr, "custom_op: cannot write the output (stdout)\n");
    return ok;
}

int main(void) {
    tg_err err;
    tg_params *P = tg_params_new();
    model m = {
        tg_params_add(P, "x", 2, (int[]){4, 5}), tg_params_add(P, "w", 2, (int[]){3, 5}), {1.0}};
    if (tg_params_alloc(P, &err) != TG_OK) return 1;
    tg_nn_init_params(P, NULL, 3); /* both 2-D: Xavier-uniform values */
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1, .seed = 1});
    if (!ctx) return 1;
    tg_gradcheck_opts o = tg_gradcheck_defaults();
    tg_gradcheck_result r;
    tg_tensor *leaves[] = {m.x, m.w};
    int ok = 1;
    for (int k = 0; k < 2; k++) {
        m.sw.beta = k ? 1.702 : 1.0; /* SiLU, and the sigmoid approximation of GELU */
        if (tg_gradcheck(ctx, loss_fn, &m, leaves, 2, &o, &r, &err) != TG_OK) {
            fprintf(stderr, "custom_op: %s\n", err.msg);
            return 1;
        }
        printf("swish beta %.3f: %lld elements, max abs %.2e, max rel %.2e: %s\n", m.sw.beta,
               (long long)r.checked, r.max_abs, r.max_rel, r.pass ? "PASS" : "FAIL");
        if (!r.pass) printf("  worst: %s\n", r.worst);
        ok = ok && r.pass;
    }
    tg_ctx_free(ctx);
    tg_params_free(P);
    if (!stdout_ok()) ok = 0;
    return ok ? 0 : 1;
}
