/* test_nn.c: the Transformer of nn/ — loss and every gradient against PyTorch (post-LN and pre-LN
 * fixtures), the whole-model gradient check for every switch value, parameter names, count and
 * initialisation, refused configs and inputs, cached decoding against the full forward, beam
 * search against greedy and against exhaustive search, and a copy task that must be learnt. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "nn/layers.h"   /* tg_nn_set_composed */
#include "nn/nn.h"
#include "train/cli/commands.h"
#include "tests/tg_check.h"

#ifdef TG_DOUBLE
#define FIXTURE_RTOL 1e-9   /* the tolerance for the double build */
#define DECODE_TOL 1e-12    /* cached step vs full forward: same maths, different GEMM shapes */
#else
#define FIXTURE_RTOL 1e-4   /* the tolerance for the float build */
#define DECODE_TOL 2e-5
#endif

static tg_ctx *new_ctx(uint64_t seed) {
    return tg_ctx_new(&(tg_ctx_opts){.threads = 2, .arena_bytes = 8u << 20, .seed = seed});
}

static tg_model_config tiny_config(void) {
    tg_model_config c = tg_model_config_default();
    c.vocab = 13;
    c.d_model = 16;
    c.heads = 4;
    c.d_ff = 32;
    c.enc_layers = c.dec_layers = 2;
    c.max_len = 24;
    c.dropout = 0;
    return c;
}

/* ---- PyTorch fixtures ------------------------------------------------------------------- */

typedef struct fixture {
    tg_model_config cfg;
    int B, S, T;
    int32_t *src, *tgt_in, *tgt_out;
    double loss;
    int64_t tokens, torch_params;
    int n_params;
    char (*names)[TG_NAME_MAX];
    int (*shapes)[TG_MAX_DIMS + 1];   /* ndim, dims */
    float **values;
    double **grads;
} fixture;

static void fixture_free(fixture *f) {
    for (int i = 0; i < f->n_params; i++) {
        if (f->values) free(f->values[i]);
        if (f->grads) free(f->grads[i]);
    }
    free(f->values);
    free(f->grads);
    free(f->names);
    free(f->shapes);
    free(f->src);
    free(f->tgt_in);
    free(f->tgt_out);
}

static int32_t *read_ids(char *line, const char *key, int n) {
    size_t k = strlen(key);
    ck_assert_msg(!strncmp(line, key, k) && line[k] == ' ', "fixture: expected '%s'", key);
    int32_t *ids = malloc(sizeof *ids * (size_t)n);
    char *p = line + k;
    for (int i = 0; i < n; i++) ids[i] = (int32_t)strtol(p, &p, 10);
    return ids;
}

/* Format: tests/fixtures/nn/README.md. */
static void fixture_load(fixture *f, const char *path) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s (tests run from the repository root)", path);
    char line[4096];
    ck_assert(fgets(line, sizeof line, fp) && !strcmp(line, "tapegrad-nn-fixture 1\n"));
    ck_assert(fgets(line, sizeof line, fp) && !strncmp(line, "config ", 7));
    f->cfg = tg_model_config_default();
    tg_err err;
    for (char *tok = strtok(line + 7, " \n"); tok; tok = strtok(NULL, " \n")) {
        char *eq = strchr(tok, '=');
        ck_assert(eq != NULL);
        *eq = 0;
        ck_assert_msg(tg_model_config_set(&f->cfg, tok, eq + 1, &err) == TG_OK, "%s", err.msg);
    }
    ck_assert(fgets(line, sizeof line, fp) && sscanf(line, "batch %d %d %d", &f->B, &f->S, &f->T) == 3);
    ck_assert(fgets(line, sizeof line, fp));
    f->src = read_ids(line, "src", f->B * f->S);
    ck_assert(fgets(line, sizeof line, fp));
    f->tgt_in = read_ids(line, "tgt_in", f->B * f->T);
    ck_assert(fgets(line, sizeof line, fp));
    f->tgt_out = read_ids(line, "tgt_out", f->B * f->T);
    long long tokens, tp;
    ck_assert(fgets(line, sizeof line, fp) && sscanf(line, "loss %lf", &f->loss) == 1);
    ck_assert(fgets(line, sizeof line, fp) && sscanf(line, "tokens %lld", &tokens) == 1);
    ck_assert(fgets(line, sizeof line, fp) && sscanf(line, "torch_params %lld", &tp) == 1);
    f->tokens = tokens;
    f->torch_params = tp;
    ck_assert(fgets(line, sizeof line, fp) && sscanf(line, "params %d", &f->n_params) == 1);
    f->names = calloc((size_t)f->n_params, sizeof *f->names);
    f->shapes = calloc((size_t)f->n_params, sizeof *f->shapes);
    f->values = calloc((size_t)f->n_params, sizeof *f->values);
    f->grads = calloc((size_t)f->n_params, sizeof *f->grads);
    for (int i = 0; i < f->n_params; i++) {
        int *s = f->shapes[i];
        ck_assert(fgets(line, sizeof line, fp));
        int got = sscanf(line, "param %63s %d %d %d %d %d", f->names[i], &s[0], &s[1], &s[2],
                         &s[3], &s[4]);
        ck_assert_int_eq(got, 2 + s[0]);
    }
    ck_assert(fgets(line, sizeof line, fp) && !strcmp(line, "data\n"));
    for (int i = 0; i < f->n_params; i++) {
        int64_t n = tg_shape_numel(f->shapes[i][0], f->shapes[i] + 1);
        f->values[i] = malloc(sizeof(float) * (size_t)n);
        ck_assert(fread(f->values[i], sizeof(float), (size_t)n, fp) == (size_t)n);
    }
    for (int i = 0; i < f->n_params; i++) {
        int64_t n = tg_shape_numel(f->shapes[i][0], f->shapes[i] + 1);
        f->grads[i] = malloc(sizeof(double) * (size_t)n);
        ck_assert(fread(f->grads[i], sizeof(double), (size_t)n, fp) == (size_t)n);
    }
    ck_assert(fgetc(fp) == EOF);
    fclose(fp);
}

/* Loads the fixture's weights into a model of its config, runs the loss and backward, and
 * compares with PyTorch: the loss within FIXTURE_RTOL relative; each gradient element a of a
 * parameter with reference r within FIXTURE_RTOL * max(|r|, g), where g is the largest
 * reference gradient magnitude of the whole model (the floor keeps gradients that are zero in
 * exact arithmetic, such as the key bias's, from comparing rounding noise with rounding noise). */
static void check_fixture(const char *path) {
    fixture f;
    fixture_load(&f, path);
    tg_err err;
    tg_model *m = tg_model_new(&f.cfg, 1, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    tg_params *P = tg_model_params(m);
    ck_assert_int_eq(tg_params_len(P), f.n_params);
    ck_assert_int_eq(tg_model_param_count(m), f.torch_params);
    double gmax = 0;
    for (int i = 0; i < f.n_params; i++) {
        tg_tensor *p = tg_params_at(P, i);
        ck_assert_str_eq(p->name, f.names[i]);           /* same names, same order */
        ck_assert_int_eq(p->ndim, f.shapes[i][0]);
        for (int d = 0; d < p->ndim; d++) ck_assert_int_eq(p->shape[d], f.shapes[i][1 + d]);
        for (int64_t j = 0; j < p->n; j++) {
            p->data[j] = (tg_float)f.values[i][j];
            gmax = fmax(gmax, fabs(f.grads[i][j]));
        }
    }
    tg_ctx *ctx = new_ctx(1);
    tg_tensor *loss;
    int64_t ntok;
    ck_assert_msg(tg_model_loss(m, ctx, f.src, f.tgt_in, f.tgt_out, f.B, f.S, f.T, &loss, &ntok,
                                &err) == TG_OK, "%s", err.msg);
    ck_assert_int_eq(ntok, f.tokens);
    double lrel = fabs(loss->data[0] - f.loss) / fabs(f.loss);
    ck_assert_msg(lrel <= FIXTURE_RTOL, "%s: loss %.17g, torch %.17g (rel %.3g)", path,
                  (double)loss->data[0], f.loss, lrel);
    ck_assert(tg_backward(ctx, loss) == TG_OK);
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < f.n_params; i++) {
        tg_tensor *p = tg_params_at(P, i);
        for (int64_t j = 0; j < p->n; j++) {
            double r = f.grads[i][j], e = fabs(p->grad[j] - r) / fmax(fabs(r), gmax);
            if (e > worst) { worst = e; worst_name = f.names[i]; }
            ck_assert_msg(e <= FIXTURE_RTOL, "%s: %s[%lld]: grad %.17g, torch %.17g", path,
                          f.names[i], (long long)j, (double)p->grad[j], r);
        }
    }
    fprintf(stderr, "fixture %s: loss rel diff %.3g, worst gradient rel diff %.3g (%s)\n", path,
            lrel, worst, worst_name);
    tg_ctx_free(ctx);
    tg_model_free(m);
    fixture_free(&f);
}

START_TEST(test_fixture_post_ln) { check_fixture("tests/fixtures/nn/post_ln.fix"); }
END_TEST

START_TEST(test_fixture_pre_ln) { check_fixture("tests/fixtures/nn/pre_ln.fix"); }
END_TEST

/* The nonlinearity switches (ReLU at the heads, sigmoid gate, residual ReLU; GELU after W_O). */
START_TEST(test_fixture_switches_post) { check_fixture("tests/fixtures/nn/switches_post.fix"); }
END_TEST

START_TEST(test_fixture_switches_pre) { check_fixture("tests/fixtures/nn/switches_pre.fix"); }
END_TEST

START_TEST(test_fixture_gelu_out_pre) {
    check_fixture("tests/fixtures/nn/switches_gelu_out_pre.fix");
}
END_TEST

/* ---- parameters, config ----------------------------------------------------------------- */

static int64_t expected_count(const tg_model_config *c) {
    int64_t d = c->d_model, f = c->d_ff, V = c->vocab;
    int64_t attn = (c->attn_gate == TG_GATE_SIGMOID ? 5 : 4) * (d * d + d), ffn = 2 * d * f + f + d, norm = 2 * d;
    int64_t n = V * d + c->enc_layers * (attn + ffn + 2 * norm) +
                c->dec_layers * (2 * attn + ffn + 3 * norm);
    if (!c->tie_embeddings) n += V * d;
    if (c->norm == TG_NORM_PRE) n += 2 * norm;
    return n;
}

START_TEST(test_param_names_and_count) {
    tg_model_config c = tiny_config();
    c.enc_layers = 3;
    c.dec_layers = 2;
    for (int pre = 0; pre < 2; pre++)
        for (int tie = 0; tie < 4; tie++) {   /* bit 1: the sigmoid gate */
            c.norm = pre ? TG_NORM_PRE : TG_NORM_POST;
            c.tie_embeddings = tie & 1;
            c.attn_gate = tie & 2 ? TG_GATE_SIGMOID : TG_GATE_NONE;
            tg_err err;
            tg_model *m = tg_model_new(&c, 3, &err);
            ck_assert_msg(m != NULL, "%s", err.msg);
            tg_params *P = tg_model_params(m);
            ck_assert_int_eq(tg_model_param_count(m), expected_count(&c));
            ck_assert_int_eq(tg_params_numel(P), expected_count(&c));
            struct { const char *name; int ndim, d0, d1; } want[] = {
                {"embedding.weight", 2, 13, 16},
                {"encoder.layers.0.self_attn.w_q", 2, 16, 16},
                {"encoder.layers.2.self_attn.b_o", 1, 16, 0},
                {"encoder.layers.1.ffn.w_1", 2, 32, 16},
                {"encoder.layers.1.ffn.w_2", 2, 16, 32},
                {"encoder.layers.2.norm2.gain", 1, 16, 0},
                {"decoder.layers.1.cross_attn.w_k", 2, 16, 16},
                {"decoder.layers.0.norm3.bias", 1, 16, 0},
            };
            for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
                tg_tensor *t = tg_params_find(P, want[i].name);
                ck_assert_msg(t != NULL, "no parameter %s", want[i].name);
                ck_assert_int_eq(t->ndim, want[i].ndim);
                ck_assert_int_eq(t->shape[0], want[i].d0);
                if (t->ndim == 2) ck_assert_int_eq(t->shape[1], want[i].d1);
            }
            ck_assert_int_eq(tg_params_find(P, "output.weight") != NULL, !(tie & 1));
            ck_assert_int_eq(tg_params_find(P, "decoder.layers.1.cross_attn.w_g") != NULL, tie >> 1);
            ck_assert_int_eq(tg_params_find(P, "encoder.layers.0.self_attn.b_g") != NULL, tie >> 1);
            ck_assert_int_eq(tg_params_find(P, "encoder.norm.gain") != NULL, pre);
            ck_assert_int_eq(tg_params_find(P, "decoder.norm.bias") != NULL, pre);
            ck_assert(tg_params_find(P, "encoder.layers.3.norm1.gain") == NULL);
            ck_assert(tg_params_find(P, "decoder.layers.0.norm4.gain") == NULL);
            /* every parameter lives in the one buffer, in declaration order, back to back */
            tg_float *at = tg_params_data(P);
            for (int i = 0; i < tg_params_len(P); i++) {
                tg_tensor *t = tg_params_at(P, i);
                ck_assert_ptr_eq(t->data, at);
                at += t->n;
            }
            tg_model_free(m);
        }
}
END_TEST

START_TEST(test_init) {
    tg_model_config c = tiny_config();
    c.vocab = 200;
    c.d_model = 64;
    c.d_ff = 128;
    tg_err err;
    tg_model *a = tg_model_new(&c, 7, &err), *b = tg_model_new(&c, 7, &err),
             *d = tg_model_new(&c, 8, &err);
    ck_assert(a && b && d);
    int64_t n = tg_model_param_count(a);
    tg_float *pa = tg_params_data(tg_model_params(a)), *pb = tg_params_data(tg_model_params(b)),
             *pd = tg_params_data(tg_model_params(d));
    ck_assert(memcmp(pa, pb, sizeof(tg_float) * (size_t)n) == 0);   /* same seed, same bits */
    ck_assert(memcmp(pa, pd, sizeof(tg_float) * (size_t)n) != 0);
    tg_params *P = tg_model_params(a);
    tg_tensor *E = tg_params_find(P, "embedding.weight");
    for (int j = 0; j < c.d_model; j++) ck_assert(E->data[j] == 0);   /* pad row */
    double s2 = 0;
    for (int64_t j = c.d_model; j < E->n; j++) s2 += (double)E->data[j] * E->data[j];
    double sd = sqrt(s2 / (double)(E->n - c.d_model));
    ck_assert_msg(fabs(sd - 1 / sqrt(64.0)) < 0.01, "embedding sd %g", sd);
    tg_tensor *W = tg_params_find(P, "decoder.layers.1.ffn.w_1");  /* (128, 64) */
    double bound = sqrt(6.0 / (128 + 64)), mx = 0, m2 = 0;
    for (int64_t j = 0; j < W->n; j++) {
        mx = fmax(mx, fabs(W->data[j]));
        m2 += (double)W->data[j] * W->data[j];
    }
    ck_assert(mx <= bound && mx > 0.95 * bound);
    ck_assert_msg(fabs(sqrt(m2 / W->n) - bound / sqrt(3.0)) < 0.02 * bound, "xavier sd");
    for (int i = 0; i < tg_params_len(P); i++) {
        tg_tensor *t = tg_params_at(P, i);
        if (t->ndim != 1) continue;
        tg_float want = strstr(t->name, ".gain") ? 1 : 0;
        for (int64_t j = 0; j < t->n; j++) ck_assert(t->data[j] == want);
    }
    tg_model_init(d, 7);  /* re-drawing from seed 7 gives the first model again */
    ck_assert(memcmp(pa, pd, sizeof(tg_float) * (size_t)n) == 0);
    tg_model_free(a);
    tg_model_free(b);
    tg_model_free(d);
}
END_TEST

START_TEST(test_invalid_configs) {
    struct { const char *key, *value, *expect; } bad[] = {
        {"d_model", "30", "divisible"}, {"heads", "0", "heads"}, {"heads", "-2", "heads"},
        {"d_model", "0", "d_model"}, {"d_model", "-8", "d_model"}, {"d_ff", "0", "d_ff"},
        {"vocab", "0", "vocab"}, {"vocab", "-5", "vocab"}, {"enc_layers", "0", "enc_layers"},
        {"dec_layers", "-1", "dec_layers"}, {"max_len", "0", "max_len"},
        {"dropout", "1", "dropout"}, {"dropout", "-0.1", "dropout"},
        {"label_smoothing", "1.5", "label_smoothing"}, {"ffn_activation", "none",
                                                        "ffn_activation"},
        {"d_model", "7", "odd"}, {"vocab", "2000000000", "vocab"},
        {"residual_activation", "gelu", "residual_activation"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tg_model_config c = tiny_config();
        tg_err err = {{0}};
        ck_assert(tg_model_config_set(&c, bad[i].key, bad[i].value, &err) == TG_OK);
        ck_assert(tg_model_config_validate(&c, &err) == TG_ERR_ARG);
        ck_assert_msg(strstr(err.msg, bad[i].expect), "%s=%s: '%s'", bad[i].key, bad[i].value,
                      err.msg);
        err.msg[0] = 0;
        ck_assert(tg_model_new(&c, 1, &err) == NULL);
        ck_assert_msg(strstr(err.msg, bad[i].expect), "%s", err.msg);
    }
    /* the blocks' own declares refuse with a message (before: a heads of 0 divided by zero, 3
     * heads of d 16 declared; a name too long gave an empty message) */
    tg_model_config c = tiny_config();
    tg_err err;
    tg_params *P = tg_params_new();
    tg_mha mha;
    for (int heads = -1; heads <= 3; heads += 2) {   /* -1, 1 (declared), 3 */
        c.heads = heads;
        char msg[80];
        snprintf(msg, sizeof msg, "a.attention: d_model 16 does not divide into %d heads", heads);
        ck_assert(tg_mha_declare(&mha, P, "a.", &c) == (heads == 1));
        ck_assert_msg(heads == 1 || strstr(tg_params_errmsg(P), msg), "%s", tg_params_errmsg(P));
    }
    c.heads = 0;
    ck_assert(!tg_mha_declare(&mha, P, "b.", &c));
    char prefix[TG_NAME_MAX + 8];
    memset(prefix, 'p', sizeof prefix - 1);
    prefix[sizeof prefix - 1] = '\0';
    tg_linear lin;
    ck_assert(!tg_linear_declare(&lin, P, prefix, "w", "b", 2, 2));
    ck_assert_msg(strstr(tg_params_errmsg(P), "is empty or too long"), "%s", tg_params_errmsg(P));
    tg_params_free(P);
    /* text that is not a value, and unknown keys */
    c = tiny_config();
    ck_assert(tg_model_config_set(&c, "d_model", "12x", &err) == TG_ERR_ARG);
    ck_assert(tg_model_config_set(&c, "norm", "middle", &err) == TG_ERR_ARG);
    ck_assert(tg_model_config_set(&c, "attn_activation", "tanh", &err) == TG_ERR_ARG);
    ck_assert(tg_model_config_set(&c, "tie_embeddings", "yes", &err) == TG_ERR_ARG);
    ck_assert(tg_model_config_set(&c, "attn_activation_at", "in", &err) == TG_ERR_ARG);
    ck_assert(tg_model_config_set(&c, "attn_gate", "tanh", &err) == TG_ERR_ARG);
    ck_assert(tg_model_config_set(&c, "residual_activation", "elu", &err) == TG_ERR_ARG);
    ck_assert(tg_model_config_set(&c, "colour", "blue", &err) == TG_ERR_ARG);
    ck_assert(strstr(err.msg, "colour"));
    /* the text form reads back into the same config */
    c.norm = TG_NORM_PRE;
    c.attn_activation = TG_ACT_GELU;
    c.tie_embeddings = false;
    c.dropout = 0.3;
    c.attn_activation_at = TG_ATTN_AT_HEADS;
    c.attn_gate = TG_GATE_SIGMOID;
    c.residual_activation = TG_ACT_RELU;
    char buf[512];
    ck_assert_int_lt(tg_model_config_str(&c, buf, sizeof buf), (int)sizeof buf);
    tg_model_config r = tg_model_config_default();
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
        char *eq = strchr(tok, '=');
        *eq = 0;
        ck_assert(tg_model_config_set(&r, tok, eq + 1, &err) == TG_OK);
    }
    char back[512];
    tg_model_config_str(&c, buf, sizeof buf);
    tg_model_config_str(&r, back, sizeof back);
    ck_assert_str_eq(back, buf);
    ck_assert(r.norm == TG_NORM_PRE && r.attn_activation == TG_ACT_GELU && !r.tie_embeddings &&
              r.dropout == 0.3 && r.d_model == c.d_model && r.attn_activation_at == TG_ATTN_AT_HEADS &&
              r.attn_gate == TG_GATE_SIGMOID && r.residual_activation == TG_ACT_RELU);
    ck_assert(tg_model_config_validate(&r, &err) == TG_OK);
}
END_TEST

START_TEST(test_bad_inputs) {
    tg_model_config c = tiny_config();
    c.max_len = 6;
    tg_err err;
    tg_model *m = tg_model_new(&c, 1, &err);
    tg_ctx *ctx = new_ctx(1);
    int32_t src[2 * 3] = {4, 5, 6, 7, 8, 0}, tin[2 * 2] = {1, 5, 1, 6}, tout[2 * 2] = {5, 2, 6, 2};
    tg_tensor *loss;
    ck_assert(tg_model_loss(m, ctx, src, tin, tout, 2, 3, 2, &loss, NULL, &err) == TG_OK);
    tg_ctx_reset(ctx);
    src[4] = 13;   /* == vocab */
    ck_assert(tg_model_loss(m, ctx, src, tin, tout, 2, 3, 2, &loss, NULL, &err) == TG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "source") && strstr(err.msg, "13"), "%s", err.msg);
    ck_assert(loss == NULL);
    src[4] = 8;
    tout[3] = -1;
    ck_assert(tg_model_loss(m, ctx, src, tin, tout, 2, 3, 2, &loss, NULL, &err) == TG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "target"), "%s", err.msg);
    tout[3] = 2;
    int32_t long_src[7] = {4, 4, 4, 4, 4, 4, 4};
    ck_assert(tg_model_loss(m, ctx, long_src, tin, tout, 1, 7, 2, &loss, NULL, &err) == TG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "max_len"), "%s", err.msg);
    ck_assert(tg_model_loss(m, ctx, src, tin, tout, 0, 3, 2, &loss, NULL, &err) == TG_ERR_ARG);

    /* decoding: empty or too long sources, bad ids, bad options */
    const int32_t *srcs[2] = {src, src + 3};
    int lens[2] = {3, 0};
    tg_decode_opts o = tg_decode_defaults();
    tg_decode_out out;
    ck_assert(tg_decode_greedy(m, ctx, srcs, lens, 2, &o, &out, &err) == TG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "sentence 1") || strstr(err.msg, "source 1"), "%s", err.msg);
    lens[1] = 7;
    srcs[1] = long_src;
    ck_assert(tg_decode_beam(m, ctx, srcs, lens, 2, &o, &out, &err) == TG_ERR_ARG);
    lens[1] = 2;
    o.beam = 0;
    ck_assert(tg_decode_beam(m, ctx, srcs, lens, 2, &o, &out, &err) == TG_ERR_ARG);
    o = tg_decode_defaults();
    o.eos_id = 99;
    ck_assert(tg_decode_greedy(m, ctx, srcs, lens, 2, &o, &out, &err) == TG_ERR_ARG);
    o = tg_decode_defaults();
    int32_t bad[2] = {4, 50};
    srcs[1] = bad;
    ck_assert(tg_decode_greedy(m, ctx, srcs, lens, 2, &o, &out, &err) == TG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "50"), "%s", err.msg);
    ck_assert(out.n == 0 && out.ids == NULL);   /* left empty, and freeing it is safe */
    tg_decode_out_free(&out);
    tg_ctx_free(ctx);
    tg_model_free(m);
}
END_TEST

/* Dropout follows the context's training flag and its seeded stream. */
START_TEST(test_dropout_modes) {
    tg_model_config c = tiny_config();
    c.dropout = 0.3;
    tg_err err;
    tg_model *m = tg_model_new(&c, 1, &err);
    tg_ctx *ctx = new_ctx(5);
    int32_t src[4] = {4, 5, 6, 7}, tin[3] = {1, 8, 9}, tout[3] = {8, 9, 2};
    double l[4];
    tg_rng_state r0 = tg_ctx_rng(ctx);
    for (int i = 0; i < 4; i++) {
        if (i == 2) tg_ctx_set_rng(ctx, r0);
        tg_ctx_set_training(ctx, i < 3);
        tg_tensor *loss;
        ck_assert(tg_model_loss(m, ctx, src, tin, tout, 1, 4, 3, &loss, NULL, &err) == TG_OK);
        l[i] = loss->data[0];
        tg_ctx_reset(ctx);
    }
    ck_assert(l[0] != l[1]);   /* a new mask each step */
    ck_assert(l[0] == l[2]);   /* the same stream gives the same masks */
    ck_assert(l[3] != l[0]);   /* evaluation: no dropout */
    tg_ctx_free(ctx);
    tg_model_free(m);
}
END_TEST

/* ---- whole-model gradient check --------------------------------------------------------- */

/* Every combination of the switches (2 norms x 2 ffn x 3 attention x 2 tying = 24), every
 * element of every parameter plus 4 projections. Double: torch's tolerances (eps 1e-6, atol
 * 1e-5, rtol 1e-3). Float: eps 1e-4, atol 5e-3, rtol 5e-2, and only the 8 combinations without
 * ReLU: at float's step some central differences straddle a ReLU kink, so ReLU is checked in
 * the double build only. */
START_TEST(test_model_gradcheck_every_switch) {
    tg_model_gradcheck_opts o = tg_model_gradcheck_defaults();
    int combos = 0, expect = 24;
#ifndef TG_DOUBLE
    expect = 8;
#endif
    for (int norm = 0; norm < 2; norm++)
        for (int ffn = 0; ffn < 2; ffn++)
            for (int attn = 0; attn < 3; attn++)
                for (int tie = 0; tie < 2; tie++) {
                    tg_model_config c = tg_model_gradcheck_config();
                    c.norm = norm ? TG_NORM_PRE : TG_NORM_POST;
                    c.ffn_activation = ffn ? TG_ACT_GELU : TG_ACT_RELU;
                    c.attn_activation = (tg_activation[]){TG_ACT_NONE, TG_ACT_RELU,
                                                          TG_ACT_GELU}[attn];
                    c.tie_embeddings = !tie;
#ifndef TG_DOUBLE
                    if (c.ffn_activation == TG_ACT_RELU || c.attn_activation == TG_ACT_RELU)
                        continue;
#endif
                    tg_model_gradcheck_line lines[128];
                    int failed = -1;
                    tg_err err;
                    int n = tg_model_gradcheck(&c, &o, lines, 128, &failed, &err);
                    ck_assert_msg(n > 0, "%s", err.msg);
                    ck_assert_int_le(n, 128);
                    int64_t checked = 0;
                    for (int i = 0; i < n; i++) {
                        checked += lines[i].r.checked;
                        if (!lines[i].r.pass)
                            fprintf(stderr, "FAIL %s %s %s %s: %s %s: %s\n",
                                    tg_norm_place_name(c.norm),
                                    tg_activation_name(c.ffn_activation),
                                    tg_activation_name(c.attn_activation),
                                    c.tie_embeddings ? "tied" : "untied", lines[i].name,
                                    lines[i].shape, lines[i].r.worst);
                    }
                    ck_assert_int_eq(failed, 0);
                    tg_model *m = tg_model_new(&c, 1, &err);
                    /* one line per parameter, then the projections */
                    ck_assert_int_eq(n, tg_params_len(tg_model_params(m)) + o.projections);
                    if (o.check.max_elems <= 0)
                        ck_assert_int_eq(checked, tg_model_param_count(m) + o.projections);
                    tg_model_free(m);
                    combos++;
                }
    ck_assert_int_eq(combos, expect);
}
END_TEST

/* The nonlinearity switches of issue 10, each value alone and all together, post- and pre-LN
 * (the ReLU ones in the double build only, as above). */
START_TEST(test_model_gradcheck_new_switches) {
    typedef struct { tg_activation act; tg_attn_place at; tg_attn_gate gate; tg_activation res; } sw;
    static const sw variants[] = {
        {TG_ACT_RELU, TG_ATTN_AT_HEADS, TG_GATE_NONE, TG_ACT_NONE},
        {TG_ACT_GELU, TG_ATTN_AT_HEADS, TG_GATE_NONE, TG_ACT_NONE},
        {TG_ACT_NONE, TG_ATTN_AT_OUT, TG_GATE_SIGMOID, TG_ACT_NONE},
        {TG_ACT_NONE, TG_ATTN_AT_OUT, TG_GATE_NONE, TG_ACT_RELU},
        {TG_ACT_GELU, TG_ATTN_AT_HEADS, TG_GATE_SIGMOID, TG_ACT_NONE},
        {TG_ACT_RELU, TG_ATTN_AT_HEADS, TG_GATE_SIGMOID, TG_ACT_RELU},
    };
    tg_model_gradcheck_opts o = tg_model_gradcheck_defaults();
    int checked = 0;
    for (int norm = 0; norm < 2; norm++)
        for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
            tg_model_config c = tg_model_gradcheck_config();
            c.norm = norm ? TG_NORM_PRE : TG_NORM_POST;
            c.ffn_activation = TG_ACT_GELU;
            c.attn_activation = variants[v].act;
            c.attn_activation_at = variants[v].at;
            c.attn_gate = variants[v].gate;
            c.residual_activation = variants[v].res;
#ifndef TG_DOUBLE
            if (c.attn_activation == TG_ACT_RELU || c.residual_activation == TG_ACT_RELU) continue;
#endif
            tg_model_gradcheck_line lines[160];
            int failed = -1;
            tg_err err;
            int n = tg_model_gradcheck(&c, &o, lines, 160, &failed, &err);
            ck_assert_msg(n > 0 && n <= 160, "%s", err.msg);
            for (int i = 0; i < n; i++)
                if (!lines[i].r.pass)
                    fprintf(stderr, "FAIL variant %zu %s: %s: %s\n", v, tg_norm_place_name(c.norm),
                            lines[i].name, lines[i].r.worst);
            ck_assert_int_eq(failed, 0);
            checked++;
        }
#ifdef TG_DOUBLE
    ck_assert_int_eq(checked, 12);
#else
    ck_assert_int_eq(checked, 6);
#endif
}
END_TEST

/* The check must be able to fail: dropout (a function that changes between calls) is refused,
 * and a bad config is reported rather than run. */
START_TEST(test_model_gradcheck_refuses) {
    tg_model_gradcheck_opts o = tg_model_gradcheck_defaults();
    tg_model_config c = tg_model_gradcheck_config();
    c.dropout = 0.1;
    tg_model_gradcheck_line lines[4];
    int failed;
    tg_err err;
    ck_assert_int_eq(tg_model_gradcheck(&c, &o, lines, 4, &failed, &err), -1);
    ck_assert(strstr(err.msg, "dropout"));
    c.dropout = 0;
    c.heads = 3;
    ck_assert_int_eq(tg_model_gradcheck(&c, &o, lines, 4, &failed, &err), -1);
    /* with no tolerance at all, finite differences never match exactly: the check fails */
    c = tg_model_gradcheck_config();
    o.check.atol = o.check.rtol = 0;
    o.check.max_elems = 2;
    o.projections = 1;
    tg_model_gradcheck_line many[128];
    int n = tg_model_gradcheck(&c, &o, many, 128, &failed, &err);
    ck_assert_int_gt(n, 0);
    ck_assert_int_gt(failed, n / 2);
    ck_assert(!many[0].r.pass && many[0].r.failed > 0);
}
END_TEST

/* `tapegrad gradcheck --model` with switches as flags; stdout is silenced. */
static int run_gradcheck_cmd(int argc, const char **argv) {
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    FILE *null = freopen("/dev/null", "w", stdout);
    int rc = tg_cmd_gradcheck(argc, (char **)argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    (void)null;
    return rc;
}

START_TEST(test_cli_gradcheck_model) {
    const char *ok[] = {"gradcheck", "--model", "--norm", "pre", "--ffn-activation", "gelu",
                        "--attn-activation", "gelu", "--tie-embeddings", "off", "--sample", "4",
                        "--projections", "2", "--seed", "3"};
    ck_assert_int_eq(run_gradcheck_cmd(16, ok), 0);
    const char *json[] = {"gradcheck", "--model", "--json", "--sample", "2",
                          "--ffn-activation", "gelu"};
    ck_assert_int_eq(run_gradcheck_cmd(7, json), 0);
    const char *bad_value[] = {"gradcheck", "--model", "--norm", "middle"};
    ck_assert_int_eq(run_gradcheck_cmd(4, bad_value), 2);
    const char *no_model[] = {"gradcheck", "--attn-activation", "relu"};
    ck_assert_int_eq(run_gradcheck_cmd(3, no_model), 2);
    const char *both[] = {"gradcheck", "--model", "--ops"};
    ck_assert_int_eq(run_gradcheck_cmd(3, both), 2);
    const char *bad_sample[] = {"gradcheck", "--model", "--sample", "-1"};
    ck_assert_int_eq(run_gradcheck_cmd(4, bad_sample), 2);
    const char *help[] = {"gradcheck", "--help"};
    ck_assert_int_eq(run_gradcheck_cmd(2, help), 0);
}
END_TEST

/* ---- decoding --------------------------------------------------------------------------- */

/* A model with its parameters spread out a little, so that decoding choices are not flat. */
static tg_model *random_model(const tg_model_config *c, uint64_t seed) {
    tg_err err;
    tg_model *m = tg_model_new(c, seed, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    tg_params *P = tg_model_params(m);
    uint64_t s = seed * 77 + 1;
    for (int i = 0; i < tg_params_len(P); i++) {
        tg_tensor *t = tg_params_at(P, i);
        if (t->ndim != 1) continue;
        for (int64_t j = 0; j < t->n; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            t->data[j] += (tg_float)(0.2 * ((double)(s >> 11) / 9007199254740992.0 - 0.5));
        }
    }
    return m;
}

/* ---- the fused residual op against the composed ops -------------------------------------- */

/* One training step's loss and every parameter gradient (in store order) into loss, grads. */
static void residual_step(tg_model *m, int threads, bool composed, tg_float *loss, tg_float *grads) {
    enum { B = 3, S = 5, T = 4 };
    /* padded rows: source keys and target positions masked */
    int32_t src[B * S] = {4, 5, 6, 7, 8, 9, 10, 0, 0, 0, 11, 12, 3, 4, 0};
    int32_t tin[B * T] = {1, 8, 9, 5, 1, 6, 0, 0, 1, 7, 7, 4};
    int32_t tout[B * T] = {8, 9, 5, 2, 6, 2, 0, 0, 7, 7, 4, 2};
    tg_nn_set_composed(composed);
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = threads, .arena_bytes = 8u << 20, .seed = 9});
    tg_params *P = tg_model_params(m);
    tg_params_zero_grad(P);
    tg_tensor *l;
    tg_err err;
    ck_assert_msg(tg_model_loss(m, ctx, src, tin, tout, B, S, T, &l, NULL, &err) == TG_OK, "%s", err.msg);
    ck_assert(tg_backward(ctx, l) == TG_OK);
    *loss = l->data[0];
    for (int i = 0, off = 0; i < tg_params_len(P); off += (int)tg_params_at(P, i)->n, i++)
        memcpy(grads + off, tg_params_at(P, i)->grad, (size_t)tg_params_at(P, i)->n * sizeof *grads);
    tg_ctx_free(ctx);
    tg_nn_set_composed(false);
}

/* The model's fused ops give the composed ops' bits, dropout on: tg_sublayer_out's residual op
 * (tg_residual_norm in post-LN, tg_residual in pre-LN) against dropout + add (+ layer norm), the
 * heads read in place against split/matmul/merge, the feed-forward's matmul_bias_relu against
 * matmul_bias + relu: the loss and every gradient, fused on 1 and 2 threads. */
START_TEST(test_fused_ops_bits) {
    for (int norm = 0; norm < 2; norm++) {
        tg_model_config c = tiny_config();
        c.dropout = 0.3;
        c.norm = norm ? TG_NORM_PRE : TG_NORM_POST;
        tg_model *m = random_model(&c, 21);
        int64_t n = tg_params_numel(tg_model_params(m));
        tg_float loss[3], *g[3];
        for (int k = 0; k < 3; k++) {
            g[k] = malloc((size_t)n * sizeof *g[k]);
            ck_assert(g[k] != NULL);
            residual_step(m, k == 2 ? 1 : 2, k == 0, &loss[k], g[k]);   /* composed, fused x2 */
        }
        for (int k = 1; k < 3; k++) {
            ck_assert_msg(memcmp(&loss[0], &loss[k], sizeof loss[0]) == 0, "%s loss %.9g vs %.9g",
                          norm ? "pre" : "post", (double)loss[0], (double)loss[k]);
            for (int64_t j = 0; j < n; j++)
                ck_assert_msg(memcmp(&g[0][j], &g[k][j], sizeof g[0][j]) == 0,
                              "%s run %d gradient %lld: %.9g vs %.9g", norm ? "pre" : "post", k,
                              (long long)j, (double)g[0][j], (double)g[k][j]);
        }
        for (int k = 0; k < 3; k++) free(g[k]);
        tg_model_free(m);
    }
}
END_TEST

/* Feeding a fixed target one token at a time through the cache gives the logits of the full
 * forward at every position, also after the rows are permuted (beam reordering). */
static void check_cached_equals_full(tg_model_config c) {
    tg_model *m = random_model(&c, 11);
    tg_ctx *ctx = new_ctx(1);
    tg_ctx_set_training(ctx, false);
    enum { B = 3, S = 6, T = 7 };
    int V = c.vocab;
    int lens[B] = {6, 2, 4};
    int32_t src[B * S] = {0}, tin[B * T];
    for (int b = 0; b < B; b++) {
        for (int s = 0; s < lens[b]; s++) src[b * S + s] = 3 + (b * 5 + s * 3) % (V - 3);
        tin[b * T] = TG_BOS_ID;
        for (int t = 1; t < T; t++) tin[b * T + t] = 3 + (b * 7 + t * 2) % (V - 3);
    }
    tg_err err;
    tg_tensor *full;
    ck_assert(tg_model_logits(m, ctx, src, tin, B, S, T, &full, &err) == TG_OK);
    tg_float *ref = malloc(sizeof(tg_float) * (size_t)full->n);   // (B, T, V)
    memcpy(ref, full->data, sizeof(tg_float) * (size_t)full->n);
    tg_ctx_reset(ctx);

    const int32_t *srcs[B] = {src, src + S, src + 2 * S};
    tg_decoder_state *st;
    ck_assert_msg(tg_decoder_state_new(m, ctx, srcs, lens, B, T, &st, &err) == TG_OK, "%s",
                  err.msg);
    int order[B] = {0, 1, 2};   /* row r holds sentence order[r] */
    tg_float logits[B * 64];
    double worst = 0;
    for (int t = 0; t < T; t++) {
        if (t == 3) {   /* reverse the rows mid-way, as a beam reorder would */
            int rev[B] = {2, 1, 0};
            ck_assert(tg_decoder_state_select(st, rev, B, &err) == TG_OK);
            for (int r = 0; r < B; r++) order[r] = 2 - r;
        }
        int32_t tok[B];
        for (int r = 0; r < B; r++) tok[r] = tin[order[r] * T + t];
        ck_assert(tg_decoder_state_step(st, ctx, tok, logits, &err) == TG_OK);
        ck_assert_int_eq(tg_tape_len(ctx), 0);
        for (int r = 0; r < B; r++)
            for (int v = 0; v < V; v++) {
                double a = logits[r * V + v], e = ref[((size_t)order[r] * T + t) * V + v];
                double d = fabs(a - e) / fmax(1.0, fabs(e));
                worst = fmax(worst, d);
                ck_assert_msg(d <= DECODE_TOL, "row %d step %d id %d: cached %.10g full %.10g",
                              r, t, v, a, e);
            }
    }
    ck_assert_int_eq(tg_decoder_state_steps(st), T);
    ck_assert(tg_decoder_state_step(st, ctx, tin, logits, &err) == TG_ERR_ARG);  /* past cap */
    /* decoding made no gradients and left the context's modes as they were */
    tg_params *P = tg_model_params(m);
    for (int64_t i = 0; i < tg_params_numel(P); i++) ck_assert(tg_params_grad(P)[i] == 0);
    ck_assert(tg_ctx_grad_enabled(ctx));
    ck_assert(!tg_ctx_training(ctx));
    tg_decoder_state_free(st);
    fprintf(stderr, "cached vs full (%s, attn %s): worst rel diff %.3g\n",
            tg_norm_place_name(c.norm), tg_activation_name(c.attn_activation), worst);
    free(ref);
    tg_ctx_free(ctx);
    tg_model_free(m);
}

START_TEST(test_cached_equals_full) {
    tg_model_config c = tiny_config();
    check_cached_equals_full(c);
    c.norm = TG_NORM_PRE;
    c.attn_activation = TG_ACT_GELU;
    c.ffn_activation = TG_ACT_GELU;
    c.tie_embeddings = false;
    check_cached_equals_full(c);
    /* the nonlinearity switches: at the heads, the gate (of the newest token's query-side
     * input when cached) and the residual ReLU */
    c.attn_activation_at = TG_ATTN_AT_HEADS;
    c.attn_gate = TG_GATE_SIGMOID;
    c.residual_activation = TG_ACT_RELU;
    check_cached_equals_full(c);
    c = tiny_config();
    c.attn_activation = TG_ACT_RELU;
    c.attn_activation_at = TG_ATTN_AT_HEADS;
    c.attn_gate = TG_GATE_SIGMOID;
    c.residual_activation = TG_ACT_RELU;
    check_cached_equals_full(c);
}
END_TEST

START_TEST(test_beam1_equals_greedy) {
    for (int pre = 0; pre < 2; pre++) {
        tg_model_config c = tiny_config();
        c.norm = pre ? TG_NORM_PRE : TG_NORM_POST;
        tg_model *m = random_model(&c, 21 + pre);
        tg_ctx *ctx = new_ctx(1);
        enum { N = 6 };
        int32_t buf[N][9];
        const int32_t *srcs[N];
        int lens[N];
        for (int i = 0; i < N; i++) {
            lens[i] = 2 + (i * 5) % 8;
            for (int s = 0; s < lens[i]; s++) buf[i][s] = 3 + (i * 3 + s * 7) % (c.vocab - 3);
            srcs[i] = buf[i];
        }
        tg_decode_opts o = tg_decode_defaults();
        o.beam = 1;
        o.max_len_a = 1.0;
        o.max_len_b = 3;
        tg_decode_out g, b;
        tg_err err;
        ck_assert_msg(tg_decode_greedy(m, ctx, srcs, lens, N, &o, &g, &err) == TG_OK, "%s",
                      err.msg);
        ck_assert_msg(tg_decode_beam(m, ctx, srcs, lens, N, &o, &b, &err) == TG_OK, "%s",
                      err.msg);
        ck_assert_int_eq(g.n, N);
        int ended_by_limit = 0;
        for (int i = 0; i < N; i++) {
            ck_assert_int_eq(g.len[i], b.len[i]);
            for (int k = 0; k < g.len[i]; k++) ck_assert_int_eq(g.ids[i][k], b.ids[i][k]);
            ck_assert(fabs(g.logprob[i] - b.logprob[i]) <= 1e-12 * fabs(g.logprob[i]));
            ck_assert(fabs(g.score[i] - b.score[i]) <= 1e-12 * fabs(g.score[i]));
            ck_assert_int_le(g.len[i], lens[i] + 3);  /* the length limit */
            ended_by_limit += g.len[i] == lens[i] + 3;
        }
        ck_assert_int_gt(ended_by_limit, 0);  /* the random model rarely says eos */
        tg_decode_out_free(&g);
        tg_decode_out_free(&b);
        tg_ctx_free(ctx);
        tg_model_free(m);
    }
}
END_TEST

/* With a beam wide enough to hold every hypothesis, beam search is exhaustive: its result must be
 * the best-scoring sequence over all sequences up to the length limit (scored with the full
 * forward, logprob / ((5 + len) / 6)^alpha, eos counted in len). The probabilities of pad and bos
 * count in the softmax although they are never chosen. */
START_TEST(test_beam_exhaustive) {
    tg_model_config c = tiny_config();
    c.vocab = 5;
    tg_model *m = random_model(&c, 5);
    tg_ctx *ctx = new_ctx(1);
    tg_ctx_set_training(ctx, false);
    enum { L = 3 };
    int32_t src[3] = {3, 4, 3};
    const int32_t *srcs[1] = {src};
    int lens[1] = {3};
    tg_decode_opts o = tg_decode_defaults();
    o.beam = 125;
    o.alpha = 1.0;
    o.max_len_a = 0;
    o.max_len_b = L;
    tg_decode_out out;
    tg_err err;
    ck_assert_msg(tg_decode_beam(m, ctx, srcs, lens, 1, &o, &out, &err) == TG_OK, "%s", err.msg);

    double best = -INFINITY;
    int32_t best_seq[L];
    int best_len = -1;
    /* every sequence y1..yk over the ids decoding may make (eos 2, 3, 4; never pad or bos):
     * k < L ending in eos, or k = L (with or without eos) */
    for (int code = 0; code < 27; code++) {
        int32_t y[L] = {2 + code % 3, 2 + (code / 3) % 3, 2 + code / 9};
        int32_t tin[L] = {TG_BOS_ID, y[0], y[1]};
        tg_tensor *lg;
        ck_assert(tg_model_logits(m, ctx, src, tin, 1, 3, L, &lg, &err) == TG_OK);
        double lp = 0;
        for (int k = 0; k < L; k++) {
            double row[5];
            tg_float lrow[5];
            for (int v = 0; v < 5; v++) lrow[v] = lg->data[k * 5 + v];
            double mx = lrow[0], s = 0;
            for (int v = 1; v < 5; v++) mx = fmax(mx, lrow[v]);
            for (int v = 0; v < 5; v++) s += exp(lrow[v] - mx);
            for (int v = 0; v < 5; v++) row[v] = lrow[v] - mx - log(s);
            lp += row[y[k]];
            bool eos = y[k] == TG_EOS_ID;
            if (eos || k == L - 1) {
                double score = lp / pow((5.0 + k + 1) / 6.0, o.alpha);
                if (score > best) {
                    best = score;
                    best_len = eos ? k : k + 1;
                    memcpy(best_seq, y, sizeof y);
                }
                break;
            }
        }
        tg_ctx_reset(ctx);
    }
    ck_assert_int_eq(out.len[0], best_len);
    for (int k = 0; k < best_len; k++) ck_assert_int_eq(out.ids[0][k], best_seq[k]);
    ck_assert_msg(fabs(out.score[0] - best) <= 1e-4 * fabs(best), "beam %.9g exhaustive %.9g",
                  out.score[0], best);
    tg_decode_out_free(&out);
    tg_ctx_free(ctx);
    tg_model_free(m);
}
END_TEST

/* ---- it learns: the copy task ----------------------------------------------------------- */

static uint64_t copy_rng = 12345;
static int copy_rand(int n) {
    copy_rng = copy_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (int)((copy_rng >> 33) % (uint64_t)n);
}

enum { COPY_B = 32, COPY_MAXLEN = 8, COPY_V = 14 };

/* A batch of random sequences (lengths 2..8 of ids 4..13): source x, decoder input bos x,
 * target x eos, right-padded. */
static void copy_batch(int32_t *src, int32_t *tin, int32_t *tout, int *lens) {
    memset(src, 0, sizeof(int32_t) * COPY_B * COPY_MAXLEN);
    memset(tin, 0, sizeof(int32_t) * COPY_B * (COPY_MAXLEN + 1));
    memset(tout, 0, sizeof(int32_t) * COPY_B * (COPY_MAXLEN + 1));
    for (int b = 0; b < COPY_B; b++) {
        int n = 2 + copy_rand(COPY_MAXLEN - 1);
        lens[b] = n;
        int32_t *s = src + b * COPY_MAXLEN, *ti = tin + b * (COPY_MAXLEN + 1),
                *to = tout + b * (COPY_MAXLEN + 1);
        ti[0] = TG_BOS_ID;
        for (int i = 0; i < n; i++) {
            s[i] = 4 + copy_rand(COPY_V - 4);
            ti[i + 1] = to[i] = s[i];
        }
        to[n] = TG_EOS_ID;
    }
}

START_TEST(test_copy_task_learns) {
    tg_model_config c = tg_model_config_default();
    c.vocab = COPY_V;
    c.d_model = 32;
    c.heads = 4;
    c.d_ff = 64;
    c.enc_layers = c.dec_layers = 1;
    c.max_len = 16;
    c.dropout = 0;
    c.label_smoothing = 0;
    tg_err err;
    tg_model *m = tg_model_new(&c, 1, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    tg_params *P = tg_model_params(m);
    int64_t n = tg_params_numel(P);
    tg_float *w = tg_params_data(P), *g = tg_params_grad(P);
    double *m1 = calloc((size_t)n, sizeof(double)), *m2 = calloc((size_t)n, sizeof(double));
    tg_ctx *ctx = new_ctx(1);
    int32_t src[COPY_B * COPY_MAXLEN], tin[COPY_B * (COPY_MAXLEN + 1)],
        tout[COPY_B * (COPY_MAXLEN + 1)];
    int lens[COPY_B];
    const int steps = 400, T = COPY_MAXLEN + 1;
    double last = 0;
    for (int step = 1; step <= steps; step++) {
        copy_batch(src, tin, tout, lens);
        tg_tensor *loss;
        ck_assert(tg_model_loss(m, ctx, src, tin, tout, COPY_B, COPY_MAXLEN, T, &loss, NULL,
                                &err) == TG_OK);
        last = loss->data[0];
        tg_params_zero_grad(P);
        ck_assert(tg_backward(ctx, loss) == TG_OK);
        tg_ctx_reset(ctx);
        /* Adam (0.9, 0.98, 1e-9); the rate rises linearly to 1e-2 over 30 steps and falls
           linearly to 0 over the second half, which settles the last errors */
        double lr = 1e-2 * fmin(1.0, step / 30.0) * fmin(1.0, 2.0 * (steps - step + 1) / steps);
        double c1 = 1 - pow(0.9, step), c2 = 1 - pow(0.98, step);
        for (int64_t i = 0; i < n; i++) {
            m1[i] = 0.9 * m1[i] + 0.1 * g[i];
            m2[i] = 0.98 * m2[i] + 0.02 * (double)g[i] * g[i];
            w[i] -= (tg_float)(lr * (m1[i] / c1) / (sqrt(m2[i] / c2) + 1e-9));
        }
    }
    /* token accuracy on fresh batches, teacher forced */
    tg_ctx_set_training(ctx, false);
    int64_t right = 0, total = 0;
    for (int k = 0; k < 4; k++) {
        copy_batch(src, tin, tout, lens);
        tg_tensor *lg;
        ck_assert(tg_model_logits(m, ctx, src, tin, COPY_B, COPY_MAXLEN, T, &lg, &err) == TG_OK);
        for (int i = 0; i < COPY_B * T; i++) {
            if (tout[i] == TG_PAD_ID) continue;
            int best = 0;
            for (int v = 1; v < COPY_V; v++)
                if (lg->data[i * COPY_V + v] > lg->data[i * COPY_V + best]) best = v;
            right += best == tout[i];
            total++;
        }
        tg_ctx_reset(ctx);
    }
    double acc = (double)right / (double)total;
    /* and decoding reproduces the sources, greedy and with a beam */
    const int32_t *srcs[COPY_B];
    for (int b = 0; b < COPY_B; b++) srcs[b] = src + b * COPY_MAXLEN;
    int64_t dec_right[2] = {0, 0}, dec_total = 0;
    for (int beam = 0; beam < 2; beam++) {
        tg_decode_opts o = tg_decode_defaults();
        tg_decode_out out;
        ck_assert(((beam ? tg_decode_beam : tg_decode_greedy)(m, ctx, srcs, lens, COPY_B, &o,
                                                                &out, &err)) == TG_OK);
        for (int b = 0; b < COPY_B; b++) {
            for (int i = 0; i < lens[b]; i++) {
                dec_right[beam] += i < out.len[b] && out.ids[b][i] == srcs[b][i];
                dec_total += !beam;
            }
        }
        tg_decode_out_free(&out);
    }
    double g_acc = (double)dec_right[0] / dec_total, b_acc = (double)dec_right[1] / dec_total;
    fprintf(stderr, "copy task: %d steps, last loss %.4f, token accuracy %.4f (%lld tokens), "
            "greedy %.4f, beam 4 %.4f\n", steps, last, acc, (long long)total, g_acc, b_acc);
    ck_assert_msg(acc >= 0.99, "token accuracy %.4f after %d steps", acc, steps);
    ck_assert_msg(g_acc >= 0.99 && b_acc >= 0.99, "decoded copies: greedy %.4f beam %.4f", g_acc,
                  b_acc);
    free(m1);
    free(m2);
    tg_ctx_free(ctx);
    tg_model_free(m);
}
END_TEST

/* ---- diagnostics -------------------------------------------------------------------------- */

static void zero_param(tg_model *m, const char *name, double value) {
    tg_tensor *t = tg_params_find(tg_model_params(m), name);
    ck_assert_msg(t != NULL, "no parameter %s", name);
    for (int64_t j = 0; j < t->n; j++) t->data[j] = (tg_float)value;
}

/* Values known in closed form: with W_q = 0 and b_q = 0 every score of a query is equal, so
 * encoder self-attention is uniform over the sentence's tokens and its entropy is log(length);
 * with W_O = 0 the attention branch is b_O everywhere: b_O = -1 under ReLU after W_O gives
 * exact zeros only (mean 0, rms 0); b_O = 0.5 gives mean = rms = 0.5 and, being constant, a
 * residual dependency of 0. A one-token sentence has no spread: rank_resid 0. */
START_TEST(test_diag_known_values) {
    tg_model_config c = tiny_config();
    c.attn_activation = TG_ACT_RELU;
    tg_model *m = random_model(&c, 5);
    zero_param(m, "encoder.layers.0.self_attn.w_q", 0);
    zero_param(m, "encoder.layers.0.self_attn.b_q", 0);
    zero_param(m, "encoder.layers.1.self_attn.w_o", 0);
    zero_param(m, "encoder.layers.1.self_attn.b_o", -1);
    zero_param(m, "decoder.layers.0.cross_attn.w_o", 0);
    zero_param(m, "decoder.layers.0.cross_attn.b_o", 0.5);
    tg_ctx *ctx = new_ctx(1);
    enum { B = 2, S = 5, T = 4 };
    int32_t src[B * S] = {4, 5, 6, 0, 0, 7, 8, 9, 10, 11};    /* lengths 3 and 5 */
    int32_t tgt[B * T] = {1, 0, 0, 0, 1, 4, 5, 0};              /* lengths 1 and 3 */
    tg_diag_layer enc[2], dec[2];
    tg_err err;
    ck_assert_msg(tg_model_diagnose(m, ctx, src, tgt, B, S, T, enc, dec, &err) == TG_OK, "%s",
                  err.msg);
    double want = (3 * log(3.0) + 5 * log(5.0)) / 8;   /* mean over the 8 token queries */
    ck_assert_msg(fabs(enc[0].sub[TG_DIAG_SELF_ATTN].attn_entropy - want) < 1e-5, "entropy %g vs %g",
                  enc[0].sub[TG_DIAG_SELF_ATTN].attn_entropy, want);
    const tg_diag_sublayer *z = &enc[1].sub[TG_DIAG_SELF_ATTN];
    ck_assert(z->zero_frac == 1 && z->branch_mean == 0 && z->branch_rms == 0);
    const tg_diag_sublayer *h = &dec[0].sub[TG_DIAG_CROSS_ATTN];
    ck_assert(h->present && h->zero_frac == 0);
    ck_assert(fabs(h->branch_mean - 0.5) < 1e-6 && fabs(h->branch_rms - 0.5) < 1e-6);
    ck_assert(fabs(h->resid_dep) < 1e-9);
    for (int i = 0; i < 2; i++) {
        ck_assert(!enc[i].sub[TG_DIAG_CROSS_ATTN].present && enc[i].sub[TG_DIAG_FFN].present);
        ck_assert(isnan(enc[i].sub[TG_DIAG_FFN].zero_frac) && isnan(dec[i].sub[TG_DIAG_FFN].attn_entropy));
        for (int k = 0; k < TG_DIAG_SUBLAYERS; k++) ck_assert(dec[i].sub[k].present);
        ck_assert(enc[i].rank_resid > 0 && enc[i].rank_resid <= 1);
        ck_assert(dec[i].rank_resid > 0 && dec[i].rank_resid <= 1);
        /* entropy of a softmax over at most S keys */
        ck_assert(dec[i].sub[TG_DIAG_CROSS_ATTN].attn_entropy <= log((double)S) + 1e-9);
    }
    /* one sentence of one token: X - 1 xbar^T = 0 */
    int32_t one_src[1] = {4}, one_tgt[1] = {1};
    ck_assert(tg_model_diagnose(m, ctx, one_src, one_tgt, 1, 1, 1, enc, dec, &err) == TG_OK);
    ck_assert(fabs(enc[1].rank_resid) < 1e-6 && fabs(dec[1].rank_resid) < 1e-6);
    tg_model_free(m);
    /* with the gate too, the zeros are counted where the ReLU is (after W_O), not after the gate */
    c.attn_gate = TG_GATE_SIGMOID;
    m = random_model(&c, 5);
    zero_param(m, "encoder.layers.1.self_attn.w_o", 0);
    zero_param(m, "encoder.layers.1.self_attn.b_o", -1);
    ck_assert(tg_model_diagnose(m, ctx, src, tgt, B, S, T, enc, dec, &err) == TG_OK);
    ck_assert(enc[1].sub[TG_DIAG_SELF_ATTN].zero_frac == 1);
    ck_assert(enc[0].sub[TG_DIAG_SELF_ATTN].zero_frac < 1);
    tg_ctx_free(ctx);
    tg_model_free(m);
}
END_TEST

/* Padding is left out (the same sentence with three more pad columns gives the same numbers,
 * although pad rows carry positions and so values of their own), and diagnosing changes
 * nothing: parameters, gradients, the dropout stream and the next training loss are the same
 * bits as without it. */
START_TEST(test_diag_padding_and_no_side_effects) {
    tg_model_config c = tiny_config();
    c.dropout = 0.1;
    c.attn_activation = TG_ACT_GELU;
    c.attn_activation_at = TG_ATTN_AT_HEADS;
    tg_model *m = random_model(&c, 9);
    tg_params *P = tg_model_params(m);
    size_t bytes = sizeof(tg_float) * (size_t)tg_params_numel(P);
    tg_float *before = malloc(bytes);
    memcpy(before, tg_params_data(P), bytes);
    int32_t src[5] = {4, 5, 6, 7, 8}, tin[4] = {1, 9, 10, 11}, tout[4] = {9, 10, 11, 2};
    int32_t src_pad[8] = {4, 5, 6, 7, 8, 0, 0, 0}, tin_pad[7] = {1, 9, 10, 11, 0, 0, 0};
    double loss[2];
    for (int with = 0; with < 2; with++) {
        tg_ctx *ctx = new_ctx(3);
        tg_err err;
        if (with) {
            tg_rng_state r0 = tg_ctx_rng(ctx);
            tg_diag_layer e1[2], d1[2], e2[2], d2[2];
            ck_assert(tg_model_diagnose(m, ctx, src, tin, 1, 5, 4, e1, d1, &err) == TG_OK);
            ck_assert(tg_model_diagnose(m, ctx, src_pad, tin_pad, 1, 8, 7, e2, d2, &err) == TG_OK);
            for (int i = 0; i < 2; i++)
                for (int k = 0; k < TG_DIAG_SUBLAYERS; k++) {
                    const tg_diag_sublayer *a = &d1[i].sub[k], *b = &d2[i].sub[k];
                    ck_assert(fabs(a->branch_mean - b->branch_mean) < 1e-5);
                    ck_assert(fabs(a->branch_rms - b->branch_rms) < 1e-5);
                    ck_assert(fabs(a->resid_dep - b->resid_dep) < 1e-5);
                    ck_assert(k == TG_DIAG_FFN || fabs(a->attn_entropy - b->attn_entropy) < 1e-5);
                    ck_assert(fabs(e1[i].rank_resid - e2[i].rank_resid) < 1e-5);
                    ck_assert(fabs(d1[i].rank_resid - d2[i].rank_resid) < 1e-5);
                }
            tg_rng_state r1 = tg_ctx_rng(ctx);
            ck_assert(r0.seed == r1.seed && r0.counter == r1.counter);
            ck_assert(tg_ctx_training(ctx) && tg_ctx_grad_enabled(ctx));   /* modes restored */
            ck_assert(memcmp(before, tg_params_data(P), bytes) == 0);
        }
        tg_tensor *l;
        ck_assert(tg_model_loss(m, ctx, src, tin, tout, 1, 5, 4, &l, NULL, &err) == TG_OK);
        loss[with] = l->data[0];
        tg_ctx_free(ctx);
    }
    ck_assert(loss[0] == loss[1]);
    free(before);
    tg_model_free(m);
}
END_TEST

/* The layers' gradient norms and the other parameters' (embedding, final norms) make up the
 * whole gradient's norm. */
START_TEST(test_diag_layer_grad_norms) {
    tg_model_config c = tiny_config();
    c.norm = TG_NORM_PRE;
    c.attn_gate = TG_GATE_SIGMOID;
    tg_model *m = random_model(&c, 13);
    tg_ctx *ctx = new_ctx(1);
    int32_t src[4] = {4, 5, 6, 7}, tin[3] = {1, 8, 9}, tout[3] = {8, 9, 2};
    tg_tensor *l;
    tg_err err;
    ck_assert(tg_model_loss(m, ctx, src, tin, tout, 1, 4, 3, &l, NULL, &err) == TG_OK);
    ck_assert(tg_backward(ctx, l) == TG_OK);
    tg_diag_layer enc[2], dec[2];
    tg_model_layer_grad_norms(m, enc, dec);
    tg_params *P = tg_model_params(m);
    double total = 0, rest = 0;
    for (int i = 0; i < tg_params_len(P); i++) {
        tg_tensor *t = tg_params_at(P, i);
        bool layer = !strncmp(t->name, "encoder.layers.", 15) || !strncmp(t->name, "decoder.layers.", 15);
        for (int64_t j = 0; j < t->n; j++) {
            double g2 = (double)t->grad[j] * t->grad[j];
            total += g2;
            if (!layer) rest += g2;
        }
    }
    double sum = rest;
    for (int i = 0; i < 2; i++) {
        ck_assert(enc[i].grad_norm > 0 && dec[i].grad_norm > 0);
        sum += enc[i].grad_norm * enc[i].grad_norm + dec[i].grad_norm * dec[i].grad_norm;
    }
    ck_assert_msg(fabs(sum - total) <= 1e-9 * total, "%g vs %g", sum, total);
    tg_ctx_free(ctx);
    tg_model_free(m);
}
END_TEST

/* ---- token statistics ------------------------------------------------------------------ */

/* Rows of known logits: accuracy (ties to the lowest id), entropy, NLL and confidence from the
 * formulas, an ignored row left out, non-finite logits giving non-finite sums. */
START_TEST(test_token_stats_rows) {
    const tg_float z[4 * 3] = {0, 0, 0,    /* uniform; target 1: the argmax is 0 (tie), wrong */
                               2, 0, 0,    /* target 0: right */
                               9, 9, 9,    /* ignored */
                               0, 1, 3};   /* target 2: right */
    const int32_t t[4] = {1, 0, -1, 2};
    tg_token_stats a = {0};
    tg_token_stats_rows(z, 4, 3, t, -1, 1.0, &a);
    ck_assert_int_eq(a.tokens, 3);
    ck_assert_int_eq(a.correct, 2);
    ck_assert_int_eq(a.top5, 3);   /* V = 3: every target */
    double s1 = exp(2) + 2, s3 = 1 + exp(1) + exp(3);
    double p1[3] = {exp(2) / s1, 1 / s1, 1 / s1}, p3[3] = {1 / s3, exp(1) / s3, exp(3) / s3};
    double h = log(3), nll = log(3) - log(p1[0]) - log(p3[2]), conf = 1.0 / 3 + p1[0] + p3[2];
    for (int v = 0; v < 3; v++) h -= p1[v] * log(p1[v]) + p3[v] * log(p3[v]);
    ck_assert_msg(fabs(a.entropy - h) < 1e-12, "entropy %.15g vs %.15g", a.entropy, h);
    ck_assert_msg(fabs(a.nll - nll) < 1e-12, "nll %.15g vs %.15g", a.nll, nll);
    ck_assert_msg(fabs(a.nll_wrong - log(3)) < 1e-12, "nll_wrong %.15g", a.nll_wrong);   /* row 0's */
    ck_assert_msg(fabs(a.confidence - conf) < 1e-12, "confidence %.15g vs %.15g", a.confidence, conf);
    const tg_float bad[3] = {NAN, 1, (tg_float)INFINITY};
    tg_token_stats b = {0};
    tg_token_stats_rows(bad, 1, 3, (const int32_t[]){1}, -1, 1.0, &b);
    ck_assert_int_eq(b.tokens, 1);
    ck_assert(!isfinite(b.nll) && !isfinite(b.entropy));
    /* at temperature 2, row 3 is softmax(z / 2); the argmax, so the accuracy, stays */
    tg_token_stats c = {0};
    tg_token_stats_rows(z + 9, 1, 3, t + 3, -1, 2.0, &c);
    double s2 = 1 + exp(0.5) + exp(1.5), q[3] = {1 / s2, exp(0.5) / s2, exp(1.5) / s2}, h2 = 0;
    for (int v = 0; v < 3; v++) h2 -= q[v] * log(q[v]);
    ck_assert_int_eq(c.correct, 1);
    /* top 5 of 7: a target with 4 tokens above it (and one tied) is in, with 5 above it is out */
    const tg_float w[2 * 7] = {5, 4, 3, 2, 1, 1, 0,   5, 4, 3, 2, 1.5f, 1, 0};
    tg_token_stats d = {0};
    tg_token_stats_rows(w, 2, 7, (const int32_t[]){4, 5}, -1, 1.0, &d);
    ck_assert_int_eq(d.top5, 1);
    ck_assert_int_eq(d.correct, 0);
    ck_assert_msg(fabs(c.nll + log(q[2])) < 1e-12 && fabs(c.entropy - h2) < 1e-12 && fabs(c.confidence - q[2]) < 1e-12,
                  "T = 2: nll %.15g entropy %.15g confidence %.15g", c.nll, c.entropy, c.confidence);
}
END_TEST

/* On a model's batch (padded rows), the statistics' NLL is the loss path's NLL (fused projection
 * and cross-entropy in chunks), and accuracy counts the argmax of tg_model_logits's rows. */
START_TEST(test_model_token_stats) {
    tg_model_config c = tiny_config();
    tg_model *m = random_model(&c, 17);
    tg_ctx *ctx = new_ctx(1);
    tg_ctx_set_training(ctx, false);
    tg_ctx_set_grad_enabled(ctx, false);
    enum { B = 3, S = 5, T = 4 };
    int32_t src[B * S] = {4, 5, 6, 7, 8, 9, 10, 0, 0, 0, 11, 12, 3, 4, 0};
    int32_t tin[B * T] = {1, 8, 9, 5, 1, 6, 0, 0, 1, 7, 7, 4};
    int32_t tout[B * T] = {8, 9, 5, 2, 6, 2, 0, 0, 7, 7, 4, 2};
    tg_err err;
    tg_tensor *l;
    double nll;
    ck_assert(tg_model_loss_nll(m, ctx, src, tin, tout, B, S, T, &l, &nll, &err) == TG_OK);
    tg_ctx_reset(ctx);
    tg_token_stats a = {0};
    ck_assert_msg(tg_model_token_stats(m, ctx, src, tin, tout, B, S, T, 1.0, &a, &err) == TG_OK, "%s", err.msg);
    tg_ctx_reset(ctx);
    ck_assert_int_eq(a.tokens, 10);
    ck_assert_msg(fabs(a.nll / 10 - nll) < 1e-5 * nll, "%.9g vs %.9g", a.nll / 10, nll);
    ck_assert(a.entropy > 0 && a.entropy < 10 * log(c.vocab) && a.confidence > 0 && a.confidence < 10);
    tg_tensor *lg;
    ck_assert(tg_model_logits(m, ctx, src, tin, B, S, T, &lg, &err) == TG_OK);
    int64_t right = 0, top5 = 0;
    for (int r = 0; r < B * T; r++) {
        if (!tout[r]) continue;
        const tg_float *z = lg->data + r * c.vocab;
        int best = 0, above = 0;
        for (int v = 1; v < c.vocab; v++)
            if (z[v] > z[best]) best = v;
        for (int v = 0; v < c.vocab; v++) above += z[v] > z[tout[r]];
        right += best == tout[r];
        top5 += above < 5;
    }
    ck_assert_int_eq(a.correct, right);
    ck_assert_int_eq(a.top5, top5);
    ck_assert(a.nll_wrong <= a.nll && (a.correct < 10 ? a.nll_wrong > 0 : a.nll_wrong == 0));
    tg_token_stats twice = a;   /* sums: a second batch adds */
    ck_assert(tg_model_token_stats(m, ctx, src, tin, tout, B, S, T, 1.0, &twice, &err) == TG_OK);
    ck_assert_int_eq(twice.tokens, 20);
    ck_assert_int_eq(twice.correct, 2 * a.correct);
    int32_t bad[B * T];
    memcpy(bad, tout, sizeof bad);
    bad[5] = c.vocab;
    tg_token_stats none = {0};
    ck_assert_int_eq(tg_model_token_stats(m, ctx, src, tin, bad, B, S, T, 1.0, &none, &err), TG_ERR_ARG);
    ck_assert_int_eq(none.tokens, 0);
    ck_assert_int_eq(tg_model_token_stats(m, ctx, src, tin, tout, B, S, T, 0.0, &none, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_model_token_stats(m, ctx, src, tin, tout, B, S, T, NAN, &none, &err), TG_ERR_ARG);
    ck_assert_int_eq(none.tokens, 0);
    tg_ctx_free(ctx);
    tg_model_free(m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("nn");
    struct { const char *name; const TTest *tests[8]; } cases[] = {
        {"torch", {test_fixture_post_ln, test_fixture_pre_ln, test_fixture_switches_post,
                   test_fixture_switches_pre, test_fixture_gelu_out_pre}},
        {"model", {test_param_names_and_count, test_init, test_invalid_configs, test_bad_inputs,
                   test_dropout_modes, test_fused_ops_bits}},
        {"gradcheck", {test_model_gradcheck_every_switch, test_model_gradcheck_new_switches,
                       test_model_gradcheck_refuses,
                       test_cli_gradcheck_model}},
        {"decode", {test_cached_equals_full, test_beam1_equals_greedy, test_beam_exhaustive}},
        {"learn", {test_copy_task_learns}},
        {"diagnostics", {test_diag_known_values, test_diag_padding_and_no_side_effects,
                         test_diag_layer_grad_norms}},
        {"token_stats", {test_token_stats_rows, test_model_token_stats}},
    };
    /* one case per area, so that CK_RUN_CASE=decode runs just those */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        for (int k = 0; k < 8 && cases[i].tests[k]; k++) tcase_add_test(tc, cases[i].tests[k]);
        suite_add_tcase(s, tc);
    }
    int failed = tg_check_run(s);
    return failed ? 1 : 0;
}
