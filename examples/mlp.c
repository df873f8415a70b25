/* mlp.c: a two-layer perceptron learns XOR on the plane (label: x*y > 0) with the autograd, a
 * parameter store and Adam. Prints the loss; exits 1 unless it fell below a quarter.
 *   build/examples/example_mlp [steps]        (default 300) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>

#define N 256 /* points */
#define H 32  /* hidden units */

static double uniform(uint64_t *s) { /* splitmix64 in [0, 1) */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

/* Output that cannot be written (a full disk, a closed pipe) is a failure, not a success. */
static int stdout_ok(void) {
    int ok = !ferror(stdout);
    if (fclose(stdout) != 0) ok = 0;
    if (!ok) fprintf(stderr, "mlp: cannot write the output (stdout)\n");
    return ok;
}

int main(int argc, char **argv) {
    char *end = NULL;
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: %s [steps]: a two-layer perceptron learns XOR (default 300 steps)\n", argv[0]);
        return 0;
    }
    long steps = argc > 1 ? strtol(argv[1], &end, 10) : 300;
    if (argc > 2 || (argc > 1 && (end == argv[1] || *end || steps < 1 || steps > 1000000))) {
        fprintf(stderr, "usage: %s [steps]   (a whole number from 1 to 1000000; default 300)\n", argv[0]);
        return 2;
    }
    tg_float xy[N * 2];
    int32_t label[N];
    uint64_t rng = 7;
    for (int i = 0; i < N; i++) {
        xy[2 * i] = (tg_float)(2 * uniform(&rng) - 1);
        xy[2 * i + 1] = (tg_float)(2 * uniform(&rng) - 1);
        label[i] = xy[2 * i] * xy[2 * i + 1] > 0;
    }
    tg_err err;
    tg_params *P = tg_params_new(); /* W1 (H, 2), b1 (H), W2 (2, H), b2 (2) */
    tg_linear l1, l2;
    if (!tg_linear_declare(&l1, P, "l1.", "w", "b", 2, H) ||
        !tg_linear_declare(&l2, P, "l2.", "w", "b", H, 2) || tg_params_alloc(P, &err) != TG_OK) {
        fprintf(stderr, "mlp: %s\n", tg_params_errmsg(P));
        return 1;
    }
    tg_nn_init_params(P, NULL, 1); /* Xavier-uniform weights, zero biases */
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 1, .seed = 1});
    tg_adam_config acfg = tg_adam_config_default();
    tg_adam *opt;
    if (!ctx || tg_adam_new(&acfg, tg_params_numel(P), &opt, &err) != TG_OK) return 1;
    double first = 0, loss_v = 0;
    for (int step = 1; step <= steps; step++) {
        tg_tensor *x = tg_tensor_from(ctx, 2, (int[]){N, 2}, xy);        // (N, 2)
        tg_tensor *h = tg_relu(ctx, tg_linear_forward(ctx, &l1, x));     // (N, H)
        tg_tensor *logits = tg_linear_forward(ctx, &l2, h);              // (N, 2)
        tg_tensor *loss = tg_cross_entropy(ctx, logits, label, 0.0, -1); // ()
        if (tg_backward(ctx, loss) != TG_OK) {
            fprintf(stderr, "mlp: %s\n", tg_ctx_errmsg(ctx));
            return 1;
        }
        loss_v = loss->data[0];
        if (step == 1) first = loss_v;
        if (step == 1 || step % 50 == 0) printf("step %d loss %.4f\n", step, loss_v);
        tg_adam_step(opt, tg_params_data(P), tg_params_grad(P), 0.01, tg_ctx_pool(ctx), &err);
        tg_params_zero_grad(P);
        tg_ctx_reset(ctx); /* frees the step's activations and tape */
    }
    int ok = loss_v < first / 4;
    printf("loss %.4f -> %.4f: %s\n", first, loss_v, ok ? "went down" : "did NOT go down");
    tg_adam_free(opt);
    tg_ctx_free(ctx);
    tg_params_free(P);
    if (!stdout_ok()) ok = 0;
    return ok ? 0 : 1;
}
