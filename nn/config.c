/* config.c: the model configuration: defaults, validation and the text form used by flags,
 * config files and checkpoints. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"

/* Bounds that keep every product of sizes far from overflow and every table allocatable. */
#define TG_NN_MAX_SIZE (1 << 20)
#define TG_NN_MAX_LAYERS 1024
#define TG_NN_MAX_LEN (1 << 16)

/* The one table of numeric bounds: the validator below and tapegrad's flags read it. */
static const tg_model_limit LIMITS[] = {
    {"vocab", 4, TG_NN_MAX_SIZE, false},         /* pad, bos, eos, unk */
    {"d_model", 2, TG_NN_MAX_SIZE, false},
    {"heads", 1, TG_NN_MAX_SIZE, false},
    {"d_ff", 1, TG_NN_MAX_SIZE, false},
    {"enc_layers", 1, TG_NN_MAX_LAYERS, false},
    {"dec_layers", 1, TG_NN_MAX_LAYERS, false},
    {"max_len", 1, TG_NN_MAX_LEN, false},
    {"dropout", 0, 1, true},
    {"label_smoothing", 0, 1, true},
};
#define N_LIMITS (int)(sizeof LIMITS / sizeof LIMITS[0])

const tg_model_limit *tg_model_config_limit(const char *key) {
    for (int i = 0; key && i < N_LIMITS; i++)
        if (!strcmp(LIMITS[i].key, key)) return &LIMITS[i];
    return NULL;
}

bool tg_model_limit_holds(const tg_model_limit *l, double v) {
    return v >= l->lo && (l->hi_open ? v < l->hi : v <= l->hi);
}

tg_model_config tg_model_config_default(void) {
    return (tg_model_config){
        .vocab = 37000, .d_model = 512, .heads = 8, .d_ff = 2048,
        .enc_layers = 6, .dec_layers = 6, .max_len = 1024,
        .dropout = 0.1, .label_smoothing = 0.1,
        .norm = TG_NORM_POST, .ffn_activation = TG_ACT_RELU, .attn_activation = TG_ACT_NONE,
        .attn_activation_at = TG_ATTN_AT_OUT, .attn_gate = TG_GATE_NONE,
        .residual_activation = TG_ACT_NONE, .tie_embeddings = true,
    };
}

/* The value of field `key` of c, as a double (every LIMITS key is a field). */
static double field_value(const tg_model_config *c, const char *key) {
    if (!strcmp(key, "vocab")) return c->vocab;
    if (!strcmp(key, "d_model")) return c->d_model;
    if (!strcmp(key, "heads")) return c->heads;
    if (!strcmp(key, "d_ff")) return c->d_ff;
    if (!strcmp(key, "enc_layers")) return c->enc_layers;
    if (!strcmp(key, "dec_layers")) return c->dec_layers;
    if (!strcmp(key, "max_len")) return c->max_len;
    if (!strcmp(key, "dropout")) return c->dropout;
    return c->label_smoothing;
}

/* Names of each switch's values, indexed by the enum (whose values run 0, 1, ...). */
static const char *const NORM_NAMES[] = {"post", "pre"};
static const char *const ACT_NAMES[] = {"none", "relu", "gelu"};
static const char *const PLACE_NAMES[] = {"out", "heads"};
static const char *const GATE_NAMES[] = {"none", "sigmoid"};
#define N_OF(a) (int)(sizeof a / sizeof a[0])

static const char *enum_name(int v, const char *const *names, int n) {
    return v >= 0 && v < n ? names[v] : "?";
}

/* "a, b or c" from names[lo .. hi) into buf (64 bytes). */
static const char *join_names(const char *const *names, int lo, int hi, char *buf) {
    buf[0] = 0;
    for (int i = lo; i < hi; i++) {
        size_t k = strlen(buf);
        snprintf(buf + k, 64 - k, "%s%s", i == lo ? "" : i == hi - 1 ? " or " : ", ", names[i]);
    }
    return buf;
}

/* A switch of the config must be one of names[lo .. hi) (names has n entries). */
static tg_status check_choice(const char *field, int v, const char *const *names, int n, int lo,
                              int hi, tg_err *err) {
    if (v >= lo && v < hi) return TG_OK;
    char expected[64], value[16];
    snprintf(value, sizeof value, "%d", v);
    return tg_err_set(err, TG_ERR_ARG, "model config: %s = %s, expected %s", field,
                      v >= 0 && v < n ? names[v] : value, join_names(names, lo, hi, expected));
}
#define CHOICE(field, names, lo, hi) check_choice(#field, (int)c->field, names, N_OF(names), lo, hi, err)

/* s -> its index in names; else TG_ERR_ARG "what: 's', expected a, b or c". */
static tg_status enum_parse(const char *s, const char *const *names, int n, const char *what,
                            int *out, tg_err *err) {
    for (int i = 0; s && i < n; i++)
        if (!strcmp(s, names[i])) { *out = i; return TG_OK; }
    char expected[64];
    return tg_err_set(err, TG_ERR_ARG, "%s: '%s', expected %s", what, s ? s : "",
                      join_names(names, 0, n, expected));
}

tg_status tg_model_config_validate(const tg_model_config *c, tg_err *err) {
    if (!c) return tg_err_set(err, TG_ERR_ARG, "model config: NULL");
    tg_status st;
    for (int i = 0; i < N_LIMITS; i++) {
        const tg_model_limit *l = &LIMITS[i];
        double v = field_value(c, l->key);
        if (!tg_model_limit_holds(l, v))
            return tg_err_set(err, TG_ERR_ARG, "model config: %s = %.15g, expected [%.15g, %.15g%c", l->key,
                              v, l->lo, l->hi, l->hi_open ? ')' : ']');
    }
    if (c->d_model % 2)
        return tg_err_set(err, TG_ERR_ARG,
                          "model config: d_model = %d is odd; the sinusoidal positions need "
                          "sin/cos pairs", c->d_model);
    if (c->d_model % c->heads)
        return tg_err_set(err, TG_ERR_ARG,
                          "model config: d_model = %d is not divisible by heads = %d",
                          c->d_model, c->heads);
    /* the activation switches take only some activations: FFN relu|gelu, residual none|relu */
    if ((st = CHOICE(norm, NORM_NAMES, 0, 2)) || (st = CHOICE(ffn_activation, ACT_NAMES, 1, 3)) ||
        (st = CHOICE(attn_activation, ACT_NAMES, 0, 3)) ||
        (st = CHOICE(attn_activation_at, PLACE_NAMES, 0, 2)) ||
        (st = CHOICE(attn_gate, GATE_NAMES, 0, 2)) ||
        (st = CHOICE(residual_activation, ACT_NAMES, 0, 2)))
        return st;
    return TG_OK;
}

const char *tg_norm_place_name(tg_norm_place p) { return enum_name((int)p, NORM_NAMES, N_OF(NORM_NAMES)); }
const char *tg_activation_name(tg_activation a) { return enum_name((int)a, ACT_NAMES, N_OF(ACT_NAMES)); }
const char *tg_attn_place_name(tg_attn_place p) { return enum_name((int)p, PLACE_NAMES, N_OF(PLACE_NAMES)); }
const char *tg_attn_gate_name(tg_attn_gate g) { return enum_name((int)g, GATE_NAMES, N_OF(GATE_NAMES)); }

/* Each enum is parsed through an int, so that a failed parse leaves *out untouched. */
#define TG_ENUM_PARSE(fn, type, names, what)                                          \
    tg_status fn(const char *s, type *out, tg_err *err) {                             \
        int v;                                                                        \
        tg_status st = enum_parse(s, names, N_OF(names), what, &v, err);              \
        if (st == TG_OK) *out = (type)v;                                              \
        return st;                                                                    \
    }
TG_ENUM_PARSE(tg_norm_place_parse, tg_norm_place, NORM_NAMES, "norm")
TG_ENUM_PARSE(tg_activation_parse, tg_activation, ACT_NAMES, "activation")
TG_ENUM_PARSE(tg_attn_place_parse, tg_attn_place, PLACE_NAMES, "attention activation place")
TG_ENUM_PARSE(tg_attn_gate_parse, tg_attn_gate, GATE_NAMES, "attention gate")

static tg_status parse_int(const char *key, const char *v, int *out, tg_err *err) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < INT_MIN || x > INT_MAX)
        return tg_err_set(err, TG_ERR_ARG, "model config: %s = '%s', expected an integer", key,
                          v);
    *out = (int)x;
    return TG_OK;
}

static tg_status parse_double(const char *key, const char *v, double *out, tg_err *err) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end)
        return tg_err_set(err, TG_ERR_ARG, "model config: %s = '%s', expected a number", key, v);
    *out = x;
    return TG_OK;
}

tg_status tg_model_config_set(tg_model_config *c, const char *key, const char *value,
                              tg_err *err) {
    if (!c || !key || !value) return tg_err_set(err, TG_ERR_ARG, "model config: NULL argument");
    struct { const char *name; int *field; } ints[] = {
        {"vocab", &c->vocab}, {"d_model", &c->d_model}, {"heads", &c->heads},
        {"d_ff", &c->d_ff}, {"enc_layers", &c->enc_layers}, {"dec_layers", &c->dec_layers},
        {"max_len", &c->max_len},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (!strcmp(key, ints[i].name)) return parse_int(key, value, ints[i].field, err);
    if (!strcmp(key, "dropout")) return parse_double(key, value, &c->dropout, err);
    if (!strcmp(key, "label_smoothing"))
        return parse_double(key, value, &c->label_smoothing, err);
    if (!strcmp(key, "norm")) return tg_norm_place_parse(value, &c->norm, err);
    if (!strcmp(key, "ffn_activation")) return tg_activation_parse(value, &c->ffn_activation, err);
    if (!strcmp(key, "attn_activation"))
        return tg_activation_parse(value, &c->attn_activation, err);
    if (!strcmp(key, "attn_activation_at"))
        return tg_attn_place_parse(value, &c->attn_activation_at, err);
    if (!strcmp(key, "attn_gate")) return tg_attn_gate_parse(value, &c->attn_gate, err);
    if (!strcmp(key, "residual_activation"))
        return tg_activation_parse(value, &c->residual_activation, err);
    if (!strcmp(key, "tie_embeddings")) {
        if (!strcmp(value, "on")) { c->tie_embeddings = true; return TG_OK; }
        if (!strcmp(value, "off")) { c->tie_embeddings = false; return TG_OK; }
        return tg_err_set(err, TG_ERR_ARG, "model config: tie_embeddings = '%s', expected on or off",
                          value);
    }
    return tg_err_set(err, TG_ERR_ARG, "model config: unknown key '%s'", key);
}

/* The shortest of %.15g and %.17g that reads back as the same double ("0.1", not
 * "0.10000000000000001"). */
static const char *num_str(double x, char buf[32]) {
    snprintf(buf, 32, "%.15g", x);
    if (strtod(buf, NULL) != x) snprintf(buf, 32, "%.17g", x);
    return buf;
}

int tg_model_config_str(const tg_model_config *c, char *buf, size_t len) {
    char dropout[32], ls[32];
    return snprintf(buf, len,
                    "vocab=%d d_model=%d heads=%d d_ff=%d enc_layers=%d dec_layers=%d max_len=%d "
                    "dropout=%s label_smoothing=%s norm=%s ffn_activation=%s "
                    "attn_activation=%s attn_activation_at=%s attn_gate=%s "
                    "residual_activation=%s tie_embeddings=%s",
                    c->vocab, c->d_model, c->heads, c->d_ff, c->enc_layers, c->dec_layers,
                    c->max_len, num_str(c->dropout, dropout), num_str(c->label_smoothing, ls),
                    tg_norm_place_name(c->norm),
                    tg_activation_name(c->ffn_activation), tg_activation_name(c->attn_activation),
                    tg_attn_place_name(c->attn_activation_at), tg_attn_gate_name(c->attn_gate),
                    tg_activation_name(c->residual_activation), c->tie_embeddings ? "on" : "off");
}

/* Must follow what model.c declares: embedding (and an untied output), per attention W_Q, W_K,
 * W_V, W_O with biases (and W_g, b_g with the sigmoid gate), two or three norms a layer, the
 * feed-forward, and the final norms of pre-LN. */
uint64_t tg_model_config_param_count(const tg_model_config *c) {
    uint64_t d = (uint64_t)c->d_model, ff = (uint64_t)c->d_ff, v = (uint64_t)c->vocab;
    uint64_t attn = (c->attn_gate == TG_GATE_SIGMOID ? 5 : 4) * (d * d + d), norm = 2 * d;
    uint64_t ffn = 2 * d * ff + ff + d;
    uint64_t n = v * d * (c->tie_embeddings ? 1 : 2);
    n += (uint64_t)c->enc_layers * (attn + 2 * norm + ffn);
    n += (uint64_t)c->dec_layers * (2 * attn + 3 * norm + ffn);
    return n + (c->norm == TG_NORM_PRE ? 2 * norm : 0);
}
