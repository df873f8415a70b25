/* test_optim.c: Adam/AdamW against torch fixtures, schedules, clipping, thread-count identity,
 * the vector (AVX2) update against the scalar one bit for bit, state save/load, and refusal of
 * bad settings. Runs from the repository root. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/kernels/kernels.h"
#include "optim/optim.h"
#include "tests/tg_check.h"

#ifdef TG_DOUBLE
#define FIXTURE_RTOL 1e-9
#else
#define FIXTURE_RTOL 1e-5
#endif

/* ---- fixture reading --------------------------------------------------------------------- */

typedef struct {
    char optimizer[16];
    double beta1, beta2, eps, weight_decay;
    int n, steps;
    double *init;   /* (n) */
    double *lr;     /* (steps) */
    double *grad;   /* (steps, n) */
    double *param;  /* (steps, n) */
    double *m, *v;  /* (n) after the last step */
    int rows, in, out;  /* the least-squares problem: X (rows, in), Y (rows, out) */
    double *x, *y;
} fixture;

static void fixture_free(fixture *f) {
    free(f->init);
    free(f->lr);
    free(f->grad);
    free(f->param);
    free(f->m);
    free(f->v);
    free(f->x);
    free(f->y);
}

/* Reads n numbers after the key on line; fails the test on a short or bad line. */
static void read_numbers(const char *path, int lineno, const char *rest, double *out, int n) {
    char *end;
    for (int i = 0; i < n; i++) {
        out[i] = strtod(rest, &end);
        ck_assert_msg(end != rest, "%s:%d: expected %d numbers, found %d", path, lineno, n, i);
        rest = end;
    }
    while (*rest == ' ' || *rest == '\n') rest++;
    ck_assert_msg(*rest == '\0', "%s:%d: more than %d numbers", path, lineno, n);
}

static fixture fixture_load(const char *path) {
    fixture f = {0};
    FILE *fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "cannot open %s (run from the repository root)", path);
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, step = 0, m_seen = 0, v_seen = 0;
    while (getline(&line, &cap, fp) > 0) {
        lineno++;
        char key[32];
        int used = 0;
        if (line[0] == '#' || sscanf(line, "%31s%n", key, &used) != 1) continue;
        const char *rest = line + used;
        if (strcmp(key, "optimizer") == 0) {
            ck_assert(sscanf(rest, "%15s", f.optimizer) == 1);
        } else if (strcmp(key, "beta1") == 0) {
            read_numbers(path, lineno, rest, &f.beta1, 1);
        } else if (strcmp(key, "beta2") == 0) {
            read_numbers(path, lineno, rest, &f.beta2, 1);
        } else if (strcmp(key, "eps") == 0) {
            read_numbers(path, lineno, rest, &f.eps, 1);
        } else if (strcmp(key, "weight_decay") == 0) {
            read_numbers(path, lineno, rest, &f.weight_decay, 1);
        } else if (strcmp(key, "n") == 0 || strcmp(key, "steps") == 0) {
            int x;
            ck_assert_msg(sscanf(rest, "%d", &x) == 1 && x > 0, "%s:%d: bad count", path, lineno);
            if (key[0] == 'n') f.n = x; else f.steps = x;
            if (f.n && f.steps && !f.init) {
                f.init = calloc((size_t)f.n, sizeof(double));
                f.lr = calloc((size_t)f.steps, sizeof(double));
                f.grad = calloc((size_t)f.n * (size_t)f.steps, sizeof(double));
                f.param = calloc((size_t)f.n * (size_t)f.steps, sizeof(double));
                f.m = calloc((size_t)f.n, sizeof(double));
                f.v = calloc((size_t)f.n, sizeof(double));
            }
        } else {
            ck_assert_msg(f.init != NULL, "%s:%d: '%s' before n and steps", path, lineno, key);
            if (strcmp(key, "init") == 0) {
                read_numbers(path, lineno, rest, f.init, f.n);
            } else if (strcmp(key, "step") == 0) {
                int k;
                int got = sscanf(rest, "%d lr %lf", &k, &f.lr[step]);
                ck_assert_msg(got == 2 && k == step + 1 && k <= f.steps,
                              "%s:%d: expected 'step %d lr X'", path, lineno, step + 1);
                step = k;
            } else if (strcmp(key, "grad") == 0 && step > 0) {
                read_numbers(path, lineno, rest, f.grad + (size_t)(step - 1) * f.n, f.n);
            } else if (strcmp(key, "param") == 0 && step > 0) {
                read_numbers(path, lineno, rest, f.param + (size_t)(step - 1) * f.n, f.n);
            } else if (strcmp(key, "problem") == 0) {
                ck_assert_msg(sscanf(rest, " rows %d in %d out %d", &f.rows, &f.in, &f.out) == 3 &&
                                  f.rows > 0 && f.in > 0 && f.out > 0,
                              "%s:%d: expected 'problem rows R in I out O'", path, lineno);
                f.x = calloc((size_t)f.rows * f.in, sizeof(double));
                f.y = calloc((size_t)f.rows * f.out, sizeof(double));
            } else if (strcmp(key, "x") == 0 && f.x) {
                read_numbers(path, lineno, rest, f.x, f.rows * f.in);
            } else if (strcmp(key, "y") == 0 && f.y) {
                read_numbers(path, lineno, rest, f.y, f.rows * f.out);
            } else if (strcmp(key, "m") == 0) {
                read_numbers(path, lineno, rest, f.m, f.n);
                m_seen = 1;
            } else if (strcmp(key, "v") == 0) {
                read_numbers(path, lineno, rest, f.v, f.n);
                v_seen = 1;
            } else {
                ck_abort_msg("%s:%d: unknown key '%s'", path, lineno, key);
            }
        }
    }
    free(line);
    fclose(fp);
    ck_assert_msg(f.init && step == f.steps && m_seen && v_seen,
                  "%s: incomplete fixture (%d of %d steps)", path, step, f.steps);
    return f;
}

static double rel_err(double got, double want) {
    if (got == want) return 0.0;
    return fabs(got - want) / fabs(want);
}

/* Replays the fixture's gradients and learning rates; every parameter after every step, and the
 * final moments, must match torch to FIXTURE_RTOL relative. */
static void check_fixture(const char *path, const char *want_opt, bool want_wd) {
    fixture f = fixture_load(path);
    ck_assert_str_eq(f.optimizer, want_opt);
    ck_assert_msg((f.weight_decay > 0) == want_wd, "%s: unexpected weight decay", path);
    tg_adam_config cfg = {.beta1 = f.beta1, .beta2 = f.beta2, .eps = f.eps,
                          .weight_decay = f.weight_decay,
                          .decoupled = strcmp(f.optimizer, "adamw") == 0};
    tg_err err = {{0}};
    tg_adam *opt;
    ck_assert_msg(tg_adam_new(&cfg, f.n, &opt, &err) == TG_OK, "%s", err.msg);
    tg_float *p = malloc((size_t)f.n * sizeof *p), *g = malloc((size_t)f.n * sizeof *g);
    for (int i = 0; i < f.n; i++) p[i] = (tg_float)f.init[i];
    double worst = 0.0;
    for (int s = 0; s < f.steps; s++) {
        for (int i = 0; i < f.n; i++) g[i] = (tg_float)f.grad[(size_t)s * f.n + i];
        ck_assert_msg(tg_adam_step(opt, p, g, f.lr[s], NULL, &err) == TG_OK, "%s", err.msg);
        for (int i = 0; i < f.n; i++) {
            double want = f.param[(size_t)s * f.n + i], e = rel_err(p[i], want);
            ck_assert_msg(e <= FIXTURE_RTOL, "%s: step %d param %d: %.17g, torch %.17g (rel %g)",
                          path, s + 1, i, (double)p[i], want, e);
            if (e > worst) worst = e;
        }
    }
    ck_assert_int_eq(tg_adam_step_count(opt), f.steps);
    const tg_float *m = tg_adam_m(opt), *v = tg_adam_v(opt);
    for (int i = 0; i < f.n; i++) {
        double em = rel_err(m[i], f.m[i]), ev = rel_err(v[i], f.v[i]);
        ck_assert_msg(em <= FIXTURE_RTOL && ev <= FIXTURE_RTOL,
                      "%s: moment %d: m %.17g (torch %.17g), v %.17g (torch %.17g)", path, i,
                      (double)m[i], f.m[i], (double)v[i], f.v[i]);
    }
    fprintf(stderr, "%s (%s build): worst parameter relative error %.3g over %d steps\n", path,
            TG_FLOAT_NAME, worst, f.steps);
    free(p);
    free(g);
    tg_adam_free(opt);
    fixture_free(&f);
}

START_TEST(test_fixture_adam) { check_fixture("tests/fixtures/optim/adam.txt", "adam", false); }
END_TEST

START_TEST(test_fixture_adam_l2) {
    check_fixture("tests/fixtures/optim/adam_l2.txt", "adam", true);
}
END_TEST

START_TEST(test_fixture_adamw) { check_fixture("tests/fixtures/optim/adamw.txt", "adamw", true); }
END_TEST

/* The same trajectory with the gradients computed by tapegrad's autograd: the parameters live
 * in a tg_params store (w (out, in), then u (2), unused by the loss) and Adam runs over its flat
 * buffers, as training does. Gradients must match torch's to FIXTURE_RTOL (relative to their
 * norm), parameters after each step to FIXTURE_RTOL. */
static void check_fixture_autograd(const char *path) {
    fixture f = fixture_load(path);
    ck_assert_msg(f.x && f.y && f.n == f.out * f.in + 2, "%s: no least-squares problem", path);
    tg_err err = {{0}};
    tg_params *P = tg_params_new();
    tg_tensor *W = tg_params_add(P, "w", 2, (int[]){f.out, f.in});
    tg_tensor *u = tg_params_add(P, "u", 1, (int[]){2});
    ck_assert(W && u);
    ck_assert_msg(tg_params_alloc(P, &err) == TG_OK, "%s", err.msg);
    ck_assert_int_eq(tg_params_numel(P), f.n);
    tg_float *data = tg_params_data(P), *grad = tg_params_grad(P);
    for (int i = 0; i < f.n; i++) data[i] = (tg_float)f.init[i];
    tg_float *x = malloc((size_t)f.rows * f.in * sizeof *x);
    tg_float *y = malloc((size_t)f.rows * f.out * sizeof *y);
    for (int i = 0; i < f.rows * f.in; i++) x[i] = (tg_float)f.x[i];
    for (int i = 0; i < f.rows * f.out; i++) y[i] = (tg_float)f.y[i];

    tg_adam_config cfg = {.beta1 = f.beta1, .beta2 = f.beta2, .eps = f.eps,
                          .weight_decay = f.weight_decay,
                          .decoupled = strcmp(f.optimizer, "adamw") == 0};
    tg_adam *opt;
    ck_assert(tg_adam_new(&cfg, tg_params_numel(P), &opt, &err) == TG_OK);
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = 2, .seed = 1});
    ck_assert_ptr_nonnull(ctx);
    for (int s = 0; s < f.steps; s++) {
        tg_params_zero_grad(P);
        tg_tensor *X = tg_tensor_from(ctx, 2, (int[]){f.rows, f.in}, x);   /* (rows, in) */
        tg_tensor *Y = tg_tensor_from(ctx, 2, (int[]){f.rows, f.out}, y);  /* (rows, out) */
        tg_tensor *d = tg_sub(ctx, tg_matmul(ctx, X, W, false, true), Y);   /* (rows, out) */
        tg_tensor *loss = tg_scale(ctx, tg_mean(ctx, tg_mul(ctx, d, d)), 0.5);  /* () */
        ck_assert_msg(loss != NULL, "%s", tg_ctx_errmsg(ctx));
        ck_assert(tg_backward(ctx, loss) == TG_OK);
        const double *want_g = f.grad + (size_t)s * f.n;
        double diff = 0, ref = 0;
        for (int i = 0; i < f.n; i++) {
            diff += ((double)grad[i] - want_g[i]) * ((double)grad[i] - want_g[i]);
            ref += want_g[i] * want_g[i];
        }
        ck_assert_msg(sqrt(diff) <= FIXTURE_RTOL * sqrt(ref), "%s: step %d: gradient off by %g",
                      path, s + 1, sqrt(diff / ref));
        ck_assert(tg_adam_step(opt, data, grad, f.lr[s], tg_ctx_pool(ctx), &err) == TG_OK);
        tg_ctx_reset(ctx);
        for (int i = 0; i < f.n; i++) {
            double want = f.param[(size_t)s * f.n + i];
            ck_assert_msg(rel_err(data[i], want) <= FIXTURE_RTOL,
                          "%s: step %d param %d: %.17g, torch %.17g", path, s + 1, i,
                          (double)data[i], want);
        }
    }
    tg_ctx_free(ctx);
    tg_adam_free(opt);
    tg_params_free(P);
    free(x);
    free(y);
    fixture_free(&f);
}

START_TEST(test_fixture_autograd) {
    check_fixture_autograd("tests/fixtures/optim/adam.txt");
    check_fixture_autograd("tests/fixtures/optim/adamw.txt");
}
END_TEST

/* ---- a seeded stream for big buffers ----------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void fill(tg_float *x, size_t n, uint64_t seed, double scale) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++)
        x[i] = (tg_float)(scale * ((double)(rng_next(&s) >> 11) / 9007199254740992.0 - 0.5));
}

/* ---- thread-count identity --------------------------------------------------------------- */

#define BIG_N ((size_t)3000001) /* odd, so the split is uneven */

static void check_threads_identical(bool decoupled) {
    tg_pool *pool1 = tg_pool_new(1), *pool2 = tg_pool_new(2);
    ck_assert(pool1 && pool2);
    ck_assert_int_eq(tg_pool_threads(pool2), 2);
    tg_adam_config cfg = tg_adam_config_default();
    cfg.weight_decay = 0.01;
    cfg.decoupled = decoupled;
    tg_err err = {{0}};
    tg_adam *a, *b;
    ck_assert(tg_adam_new(&cfg, (int64_t)BIG_N, &a, &err) == TG_OK);
    ck_assert(tg_adam_new(&cfg, (int64_t)BIG_N, &b, &err) == TG_OK);
    size_t bytes = BIG_N * sizeof(tg_float);
    tg_float *pa = malloc(bytes), *pb = malloc(bytes), *g = malloc(bytes);
    ck_assert(pa && pb && g);
    fill(pa, BIG_N, 1, 2.0);
    memcpy(pb, pa, bytes);
    for (int s = 1; s <= 3; s++) {
        fill(g, BIG_N, 100 + (uint64_t)s, 0.2);
        ck_assert(tg_adam_step(a, pa, g, 1e-3 * s, pool1, &err) == TG_OK);
        ck_assert(tg_adam_step(b, pb, g, 1e-3 * s, pool2, &err) == TG_OK);
    }
    ck_assert_msg(memcmp(pa, pb, bytes) == 0, "params differ between 1 and 2 threads");
    ck_assert_msg(memcmp(tg_adam_m(a), tg_adam_m(b), bytes) == 0, "m differs");
    ck_assert_msg(memcmp(tg_adam_v(a), tg_adam_v(b), bytes) == 0, "v differs");
    /* and the update did something */
    fill(pb, BIG_N, 1, 2.0);
    ck_assert(memcmp(pa, pb, bytes) != 0);

    /* the gradient norm too */
    double n1 = tg_grad_norm(g, BIG_N, pool1), n2 = tg_grad_norm(g, BIG_N, pool2);
    ck_assert_msg(memcmp(&n1, &n2, sizeof n1) == 0, "norm %.17g vs %.17g", n1, n2);
    free(pa);
    free(pb);
    free(g);
    tg_adam_free(a);
    tg_adam_free(b);
    tg_pool_free(pool1);
    tg_pool_free(pool2);
}

START_TEST(test_threads_adamw) { check_threads_identical(true); }
END_TEST

START_TEST(test_threads_adam_l2) { check_threads_identical(false); }
END_TEST

/* ---- vector update == scalar update ------------------------------------------------------ */

/* Adam, Adam with L2 and AdamW over random buffers of many lengths (vector tails of 1..7, empty,
 * several pool chunks): the AVX2 update (kernels avx2/avx512) on 1, 2 and 3 threads leaves p, m
 * and v with exactly the bits of the scalar update (kernels portable), over four steps with
 * changing learning rates and gradients spanning 1e-4 .. 1e3 with zeros among them; and so does
 * tg_adam_step_zero (2 threads, its 4096-element blocks), which leaves every gradient 0. */
static void check_vector_is_scalar(int mode) {
    static const size_t lens[] = {0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 257, 1001, 4097,
                                  70001};
    tg_k_impl fast = tg_k_select(TG_K_AVX512);   /* the best this CPU has; portable without AVX2 */
    tg_pool *pools[3] = {NULL, tg_pool_new(2), tg_pool_new(3)};
    tg_adam_config cfg = tg_adam_config_default();
    cfg.weight_decay = mode ? 0.05 : 0.0;
    cfg.decoupled = mode == 2;
    cfg.eps = 1e-8;
    tg_err err = {{0}};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t n = lens[li], bytes = (n ? n : 1) * sizeof(tg_float);
        tg_float *p[5], *g = malloc(bytes), *gz = malloc(bytes);
        tg_adam *opt[5];
        ck_assert(g && gz);
        for (int k = 0; k < 5; k++) {   /* 0: scalar; 1..3: vector on 1, 2, 3 threads; 4: zeroing */
            p[k] = malloc(bytes);
            ck_assert_ptr_nonnull(p[k]);
            fill(p[k], n, 7 + li, 4.0);
            ck_assert(tg_adam_new(&cfg, (int64_t)n, &opt[k], &err) == TG_OK);
        }
        for (int s = 1; s <= 4; s++) {
            fill(g, n, 1000 * li + (uint64_t)s, 2.0);
            for (size_t i = 0; i < n; i++) {
                g[i] = (tg_float)(g[i] * pow(10.0, (double)(i % 8) - 4.0));
                if (i % 13 == 5) g[i] = 0;
            }
            for (int k = 0; k < 4; k++) {
                tg_k_select(k ? fast : TG_K_PORTABLE);
                ck_assert(tg_adam_step(opt[k], p[k], g, 1e-3 * s + 1e-4, k ? pools[k - 1] : NULL,
                                       &err) == TG_OK);
            }
            memcpy(gz, g, n * sizeof(tg_float));
            ck_assert(tg_adam_step_zero(opt[4], p[4], gz, 1e-3 * s + 1e-4, pools[1], &err) ==
                      TG_OK);
            for (size_t i = 0; i < n; i++)
                ck_assert_msg(gz[i] == 0 && !signbit(gz[i]), "n %zu: gradient %zu not cleared", n,
                              i);
        }
        for (int k = 1; k < 5; k++) {
            ck_assert_msg(n == 0 || memcmp(p[k], p[0], n * sizeof(tg_float)) == 0,
                          "mode %d n %zu: %s params differ from scalar (%d threads)", mode, n,
                          tg_k_impl_name(fast), k);
            ck_assert_msg(n == 0 || memcmp(tg_adam_m(opt[k]), tg_adam_m(opt[0]),
                                           n * sizeof(tg_float)) == 0, "mode %d n %zu: m", mode, n);
            ck_assert_msg(n == 0 || memcmp(tg_adam_v(opt[k]), tg_adam_v(opt[0]),
                                           n * sizeof(tg_float)) == 0, "mode %d n %zu: v", mode, n);
        }
        for (int k = 0; k < 5; k++) {
            free(p[k]);
            tg_adam_free(opt[k]);
        }
        free(g);
        free(gz);
    }
    tg_k_select(TG_K_AUTO);
    tg_pool_free(pools[1]);
    tg_pool_free(pools[2]);
}

START_TEST(test_vector_adam) { check_vector_is_scalar(0); }
END_TEST

START_TEST(test_vector_adam_l2) { check_vector_is_scalar(1); }
END_TEST

START_TEST(test_vector_adamw) { check_vector_is_scalar(2); }
END_TEST

/* ---- state save / load ------------------------------------------------------------------- */

#define ST_N 1000

typedef struct {
    int calls;
    size_t bytes;
    size_t sizes[8];
} count_sink;

static tg_status counting_sink(void *ctx, const void *bytes, size_t len, tg_err *err) {
    count_sink *c = ctx;
    (void)bytes;
    if (c->calls < 8) c->sizes[c->calls] = len;
    c->calls++;
    c->bytes += len;
    return TG_OK;
}

START_TEST(test_state_roundtrip) {
    tg_adam_config cfg = tg_adam_config_default();
    cfg.weight_decay = 0.02;
    cfg.decoupled = true;
    tg_err err = {{0}};
    tg_adam *a, *b;
    ck_assert(tg_adam_new(&cfg, ST_N, &a, &err) == TG_OK);
    ck_assert(tg_adam_new(&cfg, ST_N, &b, &err) == TG_OK);
    tg_float pa[ST_N], pb[ST_N], g[ST_N];
    fill(pa, ST_N, 7, 1.0);
    for (int s = 1; s <= 5; s++) {
        fill(g, ST_N, (uint64_t)s, 1.0);
        ck_assert(tg_adam_step(a, pa, g, 1e-3, NULL, &err) == TG_OK);
    }
    size_t size = tg_adam_state_size(a);
    ck_assert_uint_eq(size, TG_ADAM_STATE_HEADER_BYTES + 2 * ST_N * sizeof(tg_float));
    unsigned char *buf = malloc(size);
    ck_assert_msg(tg_adam_state_save(a, buf, size, &err) == TG_OK, "%s", err.msg);
    ck_assert_msg(tg_adam_state_load(b, buf, size, &err) == TG_OK, "%s", err.msg);
    ck_assert_int_eq(tg_adam_step_count(b), 5);
    memcpy(pb, pa, sizeof pa);
    for (int s = 6; s <= 10; s++) {
        fill(g, ST_N, (uint64_t)s, 1.0);
        ck_assert(tg_adam_step(a, pa, g, 1e-3, NULL, &err) == TG_OK);
        ck_assert(tg_adam_step(b, pb, g, 1e-3, NULL, &err) == TG_OK);
    }
    ck_assert(memcmp(pa, pb, sizeof pa) == 0);
    ck_assert(memcmp(tg_adam_m(a), tg_adam_m(b), ST_N * sizeof(tg_float)) == 0);
    ck_assert(memcmp(tg_adam_v(a), tg_adam_v(b), ST_N * sizeof(tg_float)) == 0);
    ck_assert_int_eq(tg_adam_step_count(b), 10);

    /* a sink sees the header, then each moment buffer in one piece */
    count_sink c = {0};
    ck_assert(tg_adam_state_write(a, counting_sink, &c, &err) == TG_OK);
    ck_assert_int_eq(c.calls, 3);
    ck_assert_uint_eq(c.sizes[0], TG_ADAM_STATE_HEADER_BYTES);
    ck_assert_uint_eq(c.sizes[1], ST_N * sizeof(tg_float));
    ck_assert_uint_eq(c.sizes[2], ST_N * sizeof(tg_float));
    ck_assert_uint_eq(c.bytes, tg_adam_state_size(a));

    /* the direct accessors agree with what was written: step and moments */
    ck_assert(tg_adam_set_step_count(b, 3, &err) == TG_OK);
    ck_assert_int_eq(tg_adam_step_count(b), 3);
    free(buf);
    tg_adam_free(a);
    tg_adam_free(b);
}
END_TEST

START_TEST(test_state_refused) {
    tg_adam_config cfg = tg_adam_config_default();
    tg_err err = {{0}};
    tg_adam *a, *b, *other;
    ck_assert(tg_adam_new(&cfg, ST_N, &a, &err) == TG_OK);
    ck_assert(tg_adam_new(&cfg, ST_N, &b, &err) == TG_OK);
    ck_assert(tg_adam_new(&cfg, ST_N + 1, &other, &err) == TG_OK);
    tg_float p[ST_N], g[ST_N];
    fill(p, ST_N, 3, 1.0);
    fill(g, ST_N, 4, 1.0);
    ck_assert(tg_adam_step(a, p, g, 1e-3, NULL, &err) == TG_OK);
    ck_assert(tg_adam_step(b, p, g, 1e-3, NULL, &err) == TG_OK);
    ck_assert(tg_adam_step(b, p, g, 1e-3, NULL, &err) == TG_OK);
    size_t size = tg_adam_state_size(a);
    unsigned char *buf = malloc(size + 8), *bad = malloc(size + 8);
    ck_assert(tg_adam_state_save(a, buf, size + 8, &err) == TG_OK);

    /* too small a buffer to save into */
    ck_assert_int_eq(tg_adam_state_save(a, bad, size - 1, &err), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "needed"));

    /* header problems leave the optimiser as it was (b has taken 2 steps) */
    memcpy(bad, buf, size);
    bad[0] = 'X';
    ck_assert_int_eq(tg_adam_state_load(b, bad, size, &err), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "magic"));
    ck_assert_int_eq(tg_adam_step_count(b), 2);

    memcpy(bad, buf, size);
    bad[8] = 2;
    ck_assert_int_eq(tg_adam_state_load(b, bad, size, &err), TG_ERR_VERSION);
    ck_assert_ptr_nonnull(strstr(err.msg, "version 2"));

    memcpy(bad, buf, size);
    bad[12] = sizeof(tg_float) == 4 ? 8 : 4;
    ck_assert_int_eq(tg_adam_state_load(b, bad, size, &err), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "build"));

    ck_assert_int_eq(tg_adam_state_load(other, buf, size, &err), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "elements"));

    ck_assert_int_eq(tg_adam_state_load(b, buf, 10, &err), TG_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "truncated"));
    ck_assert_int_eq(tg_adam_step_count(b), 2);

    /* truncated inside the moments: refused, and b is reset rather than half loaded */
    ck_assert_int_eq(tg_adam_state_load(b, buf, size - 1, &err), TG_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "truncated"));
    ck_assert_int_eq(tg_adam_step_count(b), 0);
    for (int i = 0; i < ST_N; i++) ck_assert(tg_adam_m(b)[i] == 0 && tg_adam_v(b)[i] == 0);

    /* trailing bytes */
    ck_assert_int_eq(tg_adam_state_load(b, buf, size + 8, &err), TG_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "left over"));

    /* and the right bytes still load */
    ck_assert(tg_adam_state_load(b, buf, size, &err) == TG_OK);
    ck_assert_int_eq(tg_adam_step_count(b), 1);
    ck_assert(memcmp(tg_adam_m(a), tg_adam_m(b), ST_N * sizeof(tg_float)) == 0);
    free(buf);
    free(bad);
    tg_adam_free(a);
    tg_adam_free(b);
    tg_adam_free(other);
}
END_TEST

/* ---- bad settings ------------------------------------------------------------------------ */

static void expect_config_refused(tg_adam_config cfg, const char *field) {
    tg_err err = {{0}};
    tg_adam *opt = (tg_adam *)&err;  /* must be set to NULL on failure */
    ck_assert_int_eq(tg_adam_new(&cfg, 10, &opt, &err), TG_ERR_ARG);
    ck_assert_ptr_null(opt);
    ck_assert_msg(strstr(err.msg, field) != NULL, "message '%s' does not name %s", err.msg,
                  field);
}

START_TEST(test_bad_settings) {
    tg_adam_config ok = tg_adam_config_default();
    tg_err err = {{0}};
    ck_assert(tg_adam_config_check(&ok, &err) == TG_OK);
    tg_adam_config c = ok;
    c.beta1 = 1.0;
    expect_config_refused(c, "beta1");
    c.beta1 = -0.1;
    expect_config_refused(c, "beta1");
    c.beta1 = NAN;
    expect_config_refused(c, "beta1");
    c = ok;
    c.beta2 = 1.0;
    expect_config_refused(c, "beta2");
    c.beta2 = -1e-3;
    expect_config_refused(c, "beta2");
    c = ok;
    c.eps = -1e-8;
    expect_config_refused(c, "eps");
    c.eps = 0.0;   /* 0/0 for a parameter whose gradients were all zero */
    expect_config_refused(c, "eps");
    c.eps = 1e-50;   /* 0 as a float */
    if (sizeof(tg_float) == 4) expect_config_refused(c, "eps");
    c = ok;
    c.weight_decay = -0.01;
    expect_config_refused(c, "weight_decay");
    c.weight_decay = INFINITY;
    expect_config_refused(c, "weight_decay");
    /* beta 0 is allowed: [0, 1) */
    c = ok;
    c.beta1 = 0.0;
    ck_assert(tg_adam_config_check(&c, &err) == TG_OK);

    tg_adam *opt;
    ck_assert_int_eq(tg_adam_new(&ok, -1, &opt, &err), TG_ERR_ARG);
    ck_assert(tg_adam_new(&ok, 4, &opt, &err) == TG_OK);
    tg_float p[4] = {1, 2, 3, 4}, g[4] = {1, 1, 1, 1}, p0[4];
    memcpy(p0, p, sizeof p);
    ck_assert_int_eq(tg_adam_step(opt, p, g, -1e-3, NULL, &err), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "learning rate"));
    ck_assert_int_eq(tg_adam_step(opt, p, g, NAN, NULL, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_adam_step(opt, NULL, g, 1e-3, NULL, &err), TG_ERR_ARG);
    ck_assert(memcmp(p, p0, sizeof p) == 0);
    ck_assert_int_eq(tg_adam_step_count(opt), 0);
    ck_assert_int_eq(tg_adam_set_step_count(opt, -5, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_adam_set_step_count(opt, INT64_MAX, &err), TG_ERR_ARG);   /* the next step overflowed */
    ck_assert_int_eq(tg_adam_step_count(opt), 0);
    ck_assert_int_eq(tg_adam_set_step_count(opt, INT64_MAX / 2, &err), TG_OK);
    ck_assert_int_eq(tg_adam_step(opt, p, g, 1e-3, NULL, &err), TG_ERR_STATE);
    ck_assert(memcmp(p, p0, sizeof p) == 0);
    ck_assert_int_eq(tg_adam_set_step_count(opt, 0, &err), TG_OK);
    tg_adam_free(opt);

    /* no elements is fine */
    ck_assert(tg_adam_new(&ok, 0, &opt, &err) == TG_OK);
    ck_assert(tg_adam_step(opt, NULL, NULL, 1e-3, NULL, &err) == TG_OK);
    tg_adam_free(opt);
}
END_TEST

/* ---- schedules --------------------------------------------------------------------------- */

static void ck_close(double got, double want) {
    ck_assert_msg(fabs(got - want) <= 1e-12 * fabs(want), "%.17g, expected %.17g", got, want);
}

START_TEST(test_schedule_noam) {
    tg_err err = {{0}};
    tg_schedule s = tg_schedule_default(TG_SCHEDULE_NOAM);
    ck_assert(s.factor == 1.0 && s.warmup == 4000);
    ck_assert(tg_schedule_check(&s, &err) == TG_OK);
    s.factor = 2.0;
    s.d_model = 256;
    s.warmup = 4000;
    double d = 256, w = 4000;
    /* the paper's formula, branch by branch */
    ck_close(tg_schedule_lr(&s, 1), 2.0 / sqrt(d) * 1.0 * pow(w, -1.5));
    ck_close(tg_schedule_lr(&s, 4000), 2.0 / sqrt(d) / sqrt(w));
    ck_close(tg_schedule_lr(&s, 8000), 2.0 / sqrt(d) / sqrt(2 * w));
    ck_close(tg_schedule_lr(&s, 0), tg_schedule_lr(&s, 1));
    /* rising before the warmup, the peak at it, falling after */
    ck_assert(tg_schedule_lr(&s, 3999) < tg_schedule_lr(&s, 4000));
    ck_assert(tg_schedule_lr(&s, 4001) < tg_schedule_lr(&s, 4000));
}
END_TEST

START_TEST(test_schedule_inverse_sqrt) {
    tg_err err = {{0}};
    tg_schedule s = tg_schedule_default(TG_SCHEDULE_INVERSE_SQRT);
    s.lr = 7e-4;
    s.init_lr = 1e-7;
    s.warmup = 1000;
    ck_assert(tg_schedule_check(&s, &err) == TG_OK);
    ck_close(tg_schedule_lr(&s, 1), 1e-7 + 1.0 * (7e-4 - 1e-7) / 1000);
    ck_close(tg_schedule_lr(&s, 500), 1e-7 + 500.0 * (7e-4 - 1e-7) / 1000);
    ck_close(tg_schedule_lr(&s, 1000), 7e-4);
    ck_close(tg_schedule_lr(&s, 2000), 7e-4 * sqrt(1000.0 / 2000.0));
    ck_close(tg_schedule_lr(&s, 4000), 7e-4 / 2);
}
END_TEST

START_TEST(test_schedule_cosine_constant) {
    tg_err err = {{0}};
    tg_schedule s = tg_schedule_default(TG_SCHEDULE_COSINE);
    s.lr = 1e-3;
    s.init_lr = 0.0;
    s.min_lr = 1e-5;
    s.warmup = 100;
    s.total = 300;
    ck_assert(tg_schedule_check(&s, &err) == TG_OK);
    ck_close(tg_schedule_lr(&s, 1), 1e-3 / 100);
    ck_close(tg_schedule_lr(&s, 100), 1e-3);
    /* halfway through the decay: the midpoint of peak and floor */
    ck_close(tg_schedule_lr(&s, 200), 1e-5 + (1e-3 - 1e-5) * 0.5);
    ck_close(tg_schedule_lr(&s, 150),
             1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + cos(3.14159265358979323846 * 0.25)));
    ck_close(tg_schedule_lr(&s, 300), 1e-5);
    ck_close(tg_schedule_lr(&s, 100000), 1e-5);
    /* no warmup: starts at the peak */
    s.warmup = 0;
    ck_assert(tg_schedule_check(&s, &err) == TG_OK);
    ck_assert(tg_schedule_lr(&s, 1) < 1e-3 && tg_schedule_lr(&s, 1) > 0.9999 * 1e-3);

    tg_schedule c = tg_schedule_default(TG_SCHEDULE_CONSTANT);
    c.lr = 3e-4;
    ck_assert(tg_schedule_check(&c, &err) == TG_OK);
    ck_assert(tg_schedule_lr(&c, 1) == 3e-4 && tg_schedule_lr(&c, 123456) == 3e-4);
}
END_TEST

static void expect_schedule_refused(tg_schedule s, const char *field) {
    tg_err err = {{0}};
    ck_assert_int_eq(tg_schedule_check(&s, &err), TG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, field) != NULL, "message '%s' does not name %s", err.msg,
                  field);
}

START_TEST(test_schedule_refused) {
    tg_schedule s = tg_schedule_default(TG_SCHEDULE_NOAM);
    s.warmup = 0;
    expect_schedule_refused(s, "warmup");
    s = tg_schedule_default(TG_SCHEDULE_NOAM);
    s.factor = -1;
    expect_schedule_refused(s, "factor");
    s = tg_schedule_default(TG_SCHEDULE_NOAM);
    s.d_model = 0;
    expect_schedule_refused(s, "d_model");
    s = tg_schedule_default(TG_SCHEDULE_INVERSE_SQRT);
    s.lr = -1e-3;
    expect_schedule_refused(s, "lr");
    s = tg_schedule_default(TG_SCHEDULE_INVERSE_SQRT);
    s.init_lr = -1e-3;
    expect_schedule_refused(s, "init_lr");
    s = tg_schedule_default(TG_SCHEDULE_COSINE);
    s.total = s.warmup;
    expect_schedule_refused(s, "total");
    s = tg_schedule_default(TG_SCHEDULE_COSINE);
    s.min_lr = 2 * s.lr;
    expect_schedule_refused(s, "min_lr");
    s = tg_schedule_default(TG_SCHEDULE_CONSTANT);
    s.lr = NAN;
    expect_schedule_refused(s, "lr");
    s.kind = (tg_schedule_kind)42;
    expect_schedule_refused(s, "kind");

    tg_err err = {{0}};
    tg_schedule_kind k;
    const char *names[] = {"noam", "inverse-sqrt", "cosine", "constant"};
    for (int i = 0; i < 4; i++) {
        ck_assert(tg_schedule_kind_parse(names[i], &k, &err) == TG_OK);
        ck_assert_int_eq(k, i);
        ck_assert_str_eq(tg_schedule_kind_name(k), names[i]);
    }
    ck_assert(tg_schedule_kind_parse("inverse_sqrt", &k, &err) == TG_OK);
    ck_assert_int_eq(k, TG_SCHEDULE_INVERSE_SQRT);
    ck_assert_int_eq(tg_schedule_kind_parse("linear", &k, &err), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "\"linear\""));
    ck_assert_ptr_nonnull(strstr(err.msg, "noam"));
}
END_TEST

/* ---- clipping and the finite check ------------------------------------------------------- */

#define CL_N 1003

static double norm_ref(const tg_float *g, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

START_TEST(test_clip_scales) {
    tg_float g[CL_N], g0[CL_N];
    fill(g, CL_N, 11, 3.0);
    memcpy(g0, g, sizeof g);
    double want = norm_ref(g, CL_N), norm = -1;
    ck_assert(want > 1.0);
    tg_err err = {{0}};
    double max_norm = want / 4;
    ck_assert(tg_clip_grad_norm(g, CL_N, max_norm, NULL, &norm, &err) == TG_OK);
    ck_assert_msg(fabs(norm - want) <= 1e-12 * want, "norm %.17g, expected %.17g", norm, want);
    /* the new norm is max_norm, up to torch's 1e-6 in the denominator and the rounding of the
     * scaled elements */
    double after = norm_ref(g, CL_N), tol = sizeof(tg_float) == 4 ? 1e-6 : 1e-12;
    ck_assert_msg(fabs(after - max_norm * want / (want + 1e-6)) <= tol * max_norm,
                  "norm after clipping %.17g, expected %.17g", after, max_norm);
    ck_assert(fabs(after - max_norm) <= 1e-6 * max_norm);
    /* every element by the same factor max_norm / (norm + 1e-6) */
    tg_float coef = (tg_float)(max_norm / (norm + 1e-6));
    for (int i = 0; i < CL_N; i++) ck_assert(g[i] == g0[i] * coef);
}
END_TEST

START_TEST(test_clip_leaves_small) {
    tg_float g[CL_N], g0[CL_N];
    fill(g, CL_N, 12, 3.0);
    memcpy(g0, g, sizeof g);
    double want = norm_ref(g, CL_N), norm;
    tg_err err = {{0}};
    ck_assert(tg_clip_grad_norm(g, CL_N, 2 * want, NULL, &norm, &err) == TG_OK);
    ck_assert(fabs(norm - want) <= 1e-12 * want);
    ck_assert(memcmp(g, g0, sizeof g) == 0);
    /* max_norm 0: off, the norm still reported */
    ck_assert(tg_clip_grad_norm(g, CL_N, 0.0, NULL, &norm, &err) == TG_OK);
    ck_assert(fabs(norm - want) <= 1e-12 * want);
    ck_assert(memcmp(g, g0, sizeof g) == 0);
    /* bad max_norm */
    ck_assert_int_eq(tg_clip_grad_norm(g, CL_N, -1.0, NULL, &norm, &err), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "max_norm"));
    ck_assert_int_eq(tg_clip_grad_norm(g, CL_N, NAN, NULL, &norm, &err), TG_ERR_ARG);
    ck_assert(memcmp(g, g0, sizeof g) == 0);
    /* empty buffer: norm 0 */
    ck_assert(tg_clip_grad_norm(NULL, 0, 1.0, NULL, &norm, &err) == TG_OK);
    ck_assert(norm == 0.0);
}
END_TEST

START_TEST(test_nonfinite) {
    tg_float g[CL_N], g0[CL_N];
    fill(g, CL_N, 13, 1.0);
    ck_assert(tg_grad_all_finite(g, CL_N, NULL));
    ck_assert_uint_eq(tg_grad_count_nonfinite(g, CL_N, NULL), 0);
    g[0] = NAN;
    g[500] = INFINITY;
    g[CL_N - 1] = -INFINITY;
    ck_assert(!tg_grad_all_finite(g, CL_N, NULL));
    ck_assert_uint_eq(tg_grad_count_nonfinite(g, CL_N, NULL), 3);
    /* clipping a non-finite gradient: refused, gradients untouched */
    memcpy(g0, g, sizeof g);
    double norm;
    tg_err err = {{0}};
    ck_assert_int_eq(tg_clip_grad_norm(g, CL_N, 1.0, NULL, &norm, &err), TG_ERR_NUMERIC);
    ck_assert(!isfinite(norm));
    ck_assert(memcmp(g, g0, sizeof g) == 0);

    /* the count is the same over threads, in a buffer of many chunks */
    size_t n = 200003;
    tg_float *big = malloc(n * sizeof *big);
    fill(big, n, 14, 1.0);
    big[17] = NAN;
    big[n / 2] = INFINITY;
    big[n - 1] = NAN;
    tg_pool *pool = tg_pool_new(2);
    ck_assert_uint_eq(tg_grad_count_nonfinite(big, n, pool), 3);
    ck_assert_uint_eq(tg_grad_count_nonfinite(big, n, NULL), 3);
    tg_pool_free(pool);
    free(big);
}
END_TEST

int main(void) {
    Suite *s = suite_create("optim");
    TCase *fx = tcase_create("fixtures");
    tcase_add_test(fx, test_fixture_adam);
    tcase_add_test(fx, test_fixture_adam_l2);
    tcase_add_test(fx, test_fixture_adamw);
    tcase_add_test(fx, test_fixture_autograd);
    suite_add_tcase(s, fx);
    TCase *th = tcase_create("threads");
    tcase_add_test(th, test_threads_adamw);
    tcase_add_test(th, test_threads_adam_l2);
    tcase_add_test(th, test_vector_adam);
    tcase_add_test(th, test_vector_adam_l2);
    tcase_add_test(th, test_vector_adamw);
    suite_add_tcase(s, th);
    TCase *st = tcase_create("state");
    tcase_add_test(st, test_state_roundtrip);
    tcase_add_test(st, test_state_refused);
    tcase_add_test(st, test_bad_settings);
    suite_add_tcase(s, st);
    TCase *sc = tcase_create("schedules");
    tcase_add_test(sc, test_schedule_noam);
    tcase_add_test(sc, test_schedule_inverse_sqrt);
    tcase_add_test(sc, test_schedule_cosine_constant);
    tcase_add_test(sc, test_schedule_refused);
    suite_add_tcase(s, sc);
    TCase *cl = tcase_create("clip");
    tcase_add_test(cl, test_clip_scales);
    tcase_add_test(cl, test_clip_leaves_small);
    tcase_add_test(cl, test_nonfinite);
    suite_add_tcase(s, cl);
    int failed = tg_check_run(s);
    return failed ? 1 : 0;
}
