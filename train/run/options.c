/* options.c: the table of a training run's settings (see options.h). */
#include "train/run/options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/shown.h"
#include "nn/nn.h"
#include "train/run/run.h"

typedef enum { T_INT, T_I64, T_U64, T_DOUBLE, T_STR, T_FLAG, T_DURATION } opt_type;

typedef struct {
    const char *name;
    opt_type type;
    size_t offset, size;     /* size: for strings, the buffer's */
    tg_opt_group group;
    const char *def;         /* default, as text */
    const char *help;
    double lo, hi;           /* numeric range; lo > hi: none */
    const char *choices;     /* strings: "a|b|c", or NULL */
} opt_def;

#define F(field) offsetof(tg_run_config, field), sizeof(((tg_run_config *)0)->field)
#define NONE 1, 0
#define TEXT_OF(x) #x
#define TEXT_OF_VALUE(x) TEXT_OF(x)
#define FIT_AT_TEXT TEXT_OF_VALUE(TG_FIT_AT)   /* the help names the constant the loop runs by */

static const opt_def OPTS[] = {
    /* data */
    {"train", T_STR, F(train), TG_OPT_DATA, "", "training pairs, TSV (source<TAB>target)", NONE, NULL},
    {"train-src", T_STR, F(train_src), TG_OPT_DATA, "", "training sources, one a line (with --train-tgt)", NONE, NULL},
    {"train-tgt", T_STR, F(train_tgt), TG_OPT_DATA, "", "training targets, line-aligned with --train-src", NONE, NULL},
    {"dev", T_STR, F(dev), TG_OPT_DATA, "", "dev pairs, TSV, for validation loss and BLEU", NONE, NULL},
    {"out", T_STR, F(out), TG_OPT_DATA, "", "run folder: checkpoints, vocabulary, metrics.tsv, log", NONE, NULL},
    {"vocab", T_STR, F(vocab), TG_OPT_DATA, "", "BPE vocabulary to use (default: learn one into the run folder)", NONE, NULL},
    {"task", T_STR, F(task), TG_OPT_DATA, "", "synthetic task instead of files", NONE, "|copy|reverse|sort"},
    {"task-vocab", T_INT, F(task_vocab), TG_OPT_DATA, "20", "synthetic task: symbols (besides pad/bos/eos/unk)", 1, 1e6, NULL},
    {"task-min-len", T_INT, F(task_min_len), TG_OPT_DATA, "3", "synthetic task: shortest sequence", 1, 1e4, NULL},
    {"task-max-len", T_INT, F(task_max_len), TG_OPT_DATA, "12", "synthetic task: longest sequence (at most 1023: the model's positions)", 1, 1e4, NULL},
    {"task-size", T_INT, F(task_size), TG_OPT_DATA, "10000", "synthetic task: training pairs", 1, 1e8, NULL},
    {"merges", T_INT, F(merges), TG_OPT_DATA, "8000", "BPE merges to learn", 0, 1e6, NULL},
    {"max-len", T_INT, F(max_len), TG_OPT_DATA, "128", "longest side in BPE pieces (at most 1023: the model's positions); longer pairs are dropped", 1, 1e5, NULL},
    {"on-bad-line", T_STR, F(on_bad_line), TG_OPT_DATA, "error", "a malformed input line stops the run, or is skipped", NONE, "error|skip"},
    /* model */
    {"d-model", T_INT, F(d_model), TG_OPT_MODEL, "256", "model width", NONE, NULL},
    {"heads", T_INT, F(heads), TG_OPT_MODEL, "4", "attention heads (must divide d-model)", NONE, NULL},
    {"d-ff", T_INT, F(d_ff), TG_OPT_MODEL, "1024", "feed-forward inner width", NONE, NULL},
    {"layers", T_INT, F(enc_layers), TG_OPT_MODEL, NULL, "encoder and decoder layers (sets both)", NONE, NULL},
    {"enc-layers", T_INT, F(enc_layers), TG_OPT_MODEL, "3", "encoder layers", NONE, NULL},
    {"dec-layers", T_INT, F(dec_layers), TG_OPT_MODEL, "3", "decoder layers", NONE, NULL},
    {"dropout", T_DOUBLE, F(dropout), TG_OPT_MODEL, "0.1", "dropout probability", NONE, NULL},
    {"label-smoothing", T_DOUBLE, F(label_smoothing), TG_OPT_MODEL, "0.1", "label smoothing epsilon", NONE, NULL},
    {"norm", T_STR, F(norm), TG_OPT_MODEL, "post", "layer norm after (post, the paper) or before (pre) each sub-layer", NONE, "post|pre"},
    {"ffn-activation", T_STR, F(ffn_activation), TG_OPT_MODEL, "relu", "feed-forward activation", NONE, "relu|gelu"},
    {"attn-activation", T_STR, F(attn_activation), TG_OPT_MODEL, "none", "activation in every attention, at --attn-activation-at", NONE, "none|relu|gelu"},
    {"attn-activation-at", T_STR, F(attn_activation_at), TG_OPT_MODEL, "out", "where: after the output projection W_O (out) or on each head's output before W_O (heads)", NONE, "out|heads"},
    {"attn-gate", T_STR, F(attn_gate), TG_OPT_MODEL, "none", "sigmoid: gate each head's output by sigmoid(X W_g + b_g) before W_O (Qiu et al. 2025)", NONE, "none|sigmoid"},
    {"residual-activation", T_STR, F(residual_activation), TG_OPT_MODEL, "none", "activation after each residual add (post-LN: LN(relu(x + f(x))); pre-LN: relu(x + f(LN(x))))", NONE, "none|relu"},
    {"no-tie-embeddings", T_FLAG, F(no_tie_embeddings), TG_OPT_MODEL, "false", "separate output projection (default: tied to the embedding)", NONE, NULL},
    /* optimiser */
    {"optimizer", T_STR, F(optimizer), TG_OPT_OPTIM, "adam", "optimiser", NONE, "adam|adamw"},
    {"schedule", T_STR, F(schedule), TG_OPT_OPTIM, "inverse-sqrt", "learning-rate schedule", NONE, "noam|inverse-sqrt|cosine|constant"},
    {"lr", T_DOUBLE, F(lr), TG_OPT_OPTIM, "0.001", "peak learning rate (noam: the factor)", 0, 1e6, NULL},
    {"init-lr", T_DOUBLE, F(init_lr), TG_OPT_OPTIM, "0", "inverse-sqrt: learning rate at step 0 of the warmup", 0, 1e6, NULL},
    {"min-lr", T_DOUBLE, F(min_lr), TG_OPT_OPTIM, "0", "cosine: the floor", 0, 1e6, NULL},
    {"warmup", T_INT, F(warmup), TG_OPT_OPTIM, "500", "warmup steps", 0, 1e9, NULL},
    {"fit-steps", T_FLAG, F(fit_steps), TG_OPT_OPTIM, "false", "cosine with --time-limit: at the end of the warmup (step min(--warmup, " FIT_AT_TEXT ")) set --max-steps to the steps that fit in the time left at the speed measured so far (logged; --max-steps N repeats the run exactly)", NONE, NULL},
    {"beta1", T_DOUBLE, F(beta1), TG_OPT_OPTIM, "0.9", "Adam beta1", 0, 0.999999, NULL},
    {"beta2", T_DOUBLE, F(beta2), TG_OPT_OPTIM, "0.98", "Adam beta2", 0, 0.999999, NULL},
    {"adam-eps", T_DOUBLE, F(adam_eps), TG_OPT_OPTIM, "1e-9", "Adam epsilon (> 0: with 0 a parameter whose gradients were all zero gets 0/0)", 1e-30, 1, NULL},
    {"weight-decay", T_DOUBLE, F(weight_decay), TG_OPT_OPTIM, "0", "weight decay (adamw: decoupled)", 0, 1e3, NULL},
    {"clip-norm", T_DOUBLE, F(clip_norm), TG_OPT_OPTIM, "0", "clip gradients to this global norm (0: off)", 0, 1e9, NULL},
    /* the loop */
    {"max-steps", T_I64, F(max_steps), TG_OPT_LOOP, "0", "stop after this many updates (0: no limit)", 0, 1e15, NULL},
    {"max-epochs", T_INT, F(max_epochs), TG_OPT_LOOP, "0", "stop after this many epochs (0: no limit)", 0, 1e9, NULL},
    {"time-limit", T_DURATION, F(time_limit), TG_OPT_LOOP, "0", "stop after this much training time (30m, 1h30m, 90s)", 0, 1e12, NULL},
    {"max-tokens", T_INT, F(max_tokens), TG_OPT_DATA, "2500", "tokens a batch, source and target, counting padding", 1, 1e9, NULL},
    {"accum-shards", T_INT, F(accum_shards), TG_OPT_DATA, "0", "split each batch into N shards whose gradients are summed in order (as N MPI ranks do; 0: the ranks, else 1)", 0, 1e6, NULL},
    {"threads", T_INT, F(threads), TG_OPT_LOOP, "0", "kernel threads (0: TAPEGRAD_THREADS, else the cores)", 0, 64, NULL},
    {"seed", T_U64, F(seed), TG_OPT_DATA, "1", "seed of initialisation, batches and dropout, 0 to 2^64-1", 0, 18446744073709551615.0, NULL},
    {"log-every", T_INT, F(log_every), TG_OPT_LOOP, "50", "a progress line every N steps", 1, 1e9, NULL},
    {"valid-every", T_INT, F(valid_every), TG_OPT_LOOP, "1000", "validate every N steps (0: only at the end)", 0, 1e9, NULL},
    {"save-every", T_INT, F(save_every), TG_OPT_LOOP, "1000", "write last.ckpt every N steps, at validations, at --keep-every's multiples and at the end (0: only there)", 0, 1e9, NULL},
    {"keep", T_INT, F(keep), TG_OPT_LOOP, "0", "also save step-S.ckpt at each save of last.ckpt and keep the N newest (those of --keep-every aside)", 0, 1e6, NULL},
    {"keep-every", T_INT, F(keep_every), TG_OPT_LOOP, "0", "also save step-S.ckpt at each multiple S of N, kept for good (not among --keep's N)", 0, 1e9, NULL},
    {"patience", T_INT, F(patience), TG_OPT_LOOP, "0", "stop after N validations without a better BLEU (0: never)", 0, 1e6, NULL},
    {"valid-sentences", T_INT, F(valid_sentences), TG_OPT_LOOP, "0", "dev sentences decoded for BLEU (0: all)", 0, 1e9, NULL},
    {"beam", T_INT, F(beam), TG_OPT_LOOP, "1", "beam size for validation BLEU (1: greedy)", 1, 1000, NULL},
    {"alpha", T_DOUBLE, F(alpha), TG_OPT_LOOP, "0.6", "GNMT length penalty for beam search", 0, 10, NULL},
    {"diagnostics", T_INT, F(diagnostics), TG_OPT_LOOP, "0", "every N steps, per-layer statistics of a fixed dev batch and the step's gradient norms to RUNDIR/diagnostics.tsv (0: off)", 0, 1e9, NULL},
    {"max-bad-steps", T_INT, F(max_bad_steps), TG_OPT_LOOP, "5", "NaN/Inf updates in a row before reloading the last checkpoint with half the lr", 1, 1e6, NULL},
};
#define N_OPTS (int)(sizeof OPTS / sizeof OPTS[0])
_Static_assert(sizeof OPTS / sizeof OPTS[0] <= TG_RUN_CONFIG_MAX_SETTINGS, "tg_run_config_lines holds a line for each setting");

/* Flag names: '-' and '_' are the same. */
static bool same_name(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a == '_' ? '-' : *a, y = *b == '_' ? '-' : *b;
        if (x != y) return false;
    }
    return *a == *b;
}

static const opt_def *find(const char *name) {
    for (int i = 0; i < N_OPTS; i++)
        if (same_name(OPTS[i].name, name)) return &OPTS[i];
    return NULL;
}

int tg_run_config_line_of(const tg_run_config_lines *lines, const char *name) {
    const opt_def *o = find(name);
    return o ? lines->at[o - OPTS] : 0;
}

int tg_run_config_group(const char *name) {
    const opt_def *o = find(name);
    return o ? (int)o->group : -1;
}

static bool in_choices(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *p = choices;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n)) return true;
        if (!bar) return false;
        p = bar + 1;
    }
}

tg_status tg_parse_duration(const char *s, double *seconds, tg_err *err) {
    double total = 0;
    const char *p = s;
    int last_rank = 0;   /* the units in order, each once: h (1), m (2), s or none (3) */
    if (!*p) return tg_err_set(err, TG_ERR_ARG, "empty duration");
    while (*p) {
        char *end;
        errno = 0;
        /* a plain decimal (90, 1.5, .5, 1e5): strtod alone would also take spaces, signs, hex,
         * inf and nan, which scripts/recipe.sh's reading of TIME_LIMIT refuses */
        int plain = isdigit((unsigned char)p[0]) || (p[0] == '.' && isdigit((unsigned char)p[1]));
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) plain = 0;
        double v = plain ? strtod(p, &end) : 0;
        if (!plain || end == p || errno || !(v >= 0) || isinf(v))
            return tg_err_set(err, TG_ERR_ARG, "bad duration '%s' (e.g. 30m, 1h30m, 90s, 45)",
                              TG_SHOWN(s));
        double unit = 1;
        int rank = 3;   /* a bare number: seconds */
        switch (*end) {
        case 'h': unit = 3600, rank = 1; end++; break;
        case 'm': unit = 60, rank = 2; end++; break;
        case 's': unit = 1, rank = 3; end++; break;
        case '\0': break;
        default:
            return tg_err_set(err, TG_ERR_ARG, "bad duration '%s' (units h, m, s)", TG_SHOWN(s));
        }
        if (rank <= last_rank)   /* 1h1h, 1h2m3s4h: a slip, not a sum to guess */
            return tg_err_set(err, TG_ERR_ARG, "bad duration '%s' (each unit once, in the order h, m, s: e.g. 1h30m)",
                              TG_SHOWN(s));
        last_rank = rank;
        total += v * unit;
        p = end;
    }
    *seconds = total;
    return TG_OK;
}

/* The model config field a model flag sets: "d-model" -> "d_model"; --layers sets both layer
 * counts, bounded as enc_layers. */
static const char *model_key(const char *flag, char key[32]) {
    if (!strcmp(flag, "layers")) flag = "enc-layers";
    snprintf(key, 32, "%s", flag);
    for (char *p = key; *p; p++)
        if (*p == '-') *p = '_';
    return key;
}

/* nn's "model config: d_model = 30 is not divisible by heads = 4" in the words of the flags:
 * "--d-model 30 is not divisible by --heads 4". */
static tg_status model_error(const char *msg, tg_err *err) {
    static const char prefix[] = "model config: ";
    char out[sizeof err->msg];
    size_t n = 0;
    if (!strncmp(msg, prefix, sizeof prefix - 1)) msg += sizeof prefix - 1;
    while (*msg && n + 3 < sizeof out) {
        size_t w = strspn(msg, "abcdefghijklmnopqrstuvwxyz_");
        if (w && !strncmp(msg + w, " = ", 3) && (n == 0 || out[n - 1] == ' ') && n + w + 4 < sizeof out) {
            out[n++] = '-'; out[n++] = '-';
            for (size_t i = 0; i < w; i++) out[n++] = msg[i] == '_' ? '-' : msg[i];
            out[n++] = ' ';
            msg += w + 3;
        } else if (w) {
            size_t k = w < sizeof out - 1 - n ? w : sizeof out - 1 - n;
            memcpy(out + n, msg, k);
            n += k;
            msg += w;
        } else {
            out[n++] = *msg++;
        }
    }
    out[n] = '\0';
    return tg_err_set(err, TG_ERR_ARG, "%s", out);
}

static tg_status set_one(tg_run_config *c, const opt_def *o, const char *value, tg_err *err) {
    char *field = (char *)c + o->offset;
    char *end;
    double num = 0;
    errno = 0;
    switch (o->type) {
    case T_STR:
        if (o->choices && !in_choices(o->choices, value))
            return tg_err_set(err, TG_ERR_ARG, "--%s: '%s' is not one of %s", o->name,
                              TG_SHOWN_IN(100, value),
                              o->choices[0] == '|' ? o->choices + 1 : o->choices);
        if (strlen(value) >= o->size)
            return tg_err_set(err, TG_ERR_ARG, "--%s: value too long (at most %zu bytes)", o->name, o->size - 1);
        memcpy(field, value, strlen(value) + 1);
        return TG_OK;
    case T_FLAG:
        if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes") || !*value) *(bool *)field = true;
        else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no")) *(bool *)field = false;
        else return tg_err_set(err, TG_ERR_ARG, "--%s: '%s' is not true or false", o->name,
                            TG_SHOWN(value));
        return TG_OK;
    case T_DURATION: {
        tg_err e2;
        if (tg_parse_duration(value, &num, &e2) != TG_OK)
            return tg_err_set(err, TG_ERR_ARG, "--%s: %s", o->name, e2.msg);
        break;
    }
    case T_INT: case T_I64: case T_U64:   /* a T_U64 (the seed) takes the whole unsigned range */
        num = o->type == T_U64 ? (double)strtoull(value, &end, 10) : (double)strtoll(value, &end, 10);
        if (end == value || *end || errno || isspace((unsigned char)value[0]) || (o->type == T_U64 && strchr(value, '-')))
            return tg_err_set(err, TG_ERR_ARG, "--%s: '%s' is not a whole number%s", o->name,
                              TG_SHOWN(value),
                              o->type == T_U64 ? " from 0 to 18446744073709551615" : "");
        break;
    case T_DOUBLE:
        /* decimal only, as the other commands' number flags (tg_arg_double): strtod would also
         * take hex (0x10, 0x1p-10), inf and nan */
        num = strtod(value, &end);
        if (end == value || *end || isnan(num) || (isinf(num) && !errno) || isspace((unsigned char)value[0]) ||
            strpbrk(value, "xX"))
            return tg_err_set(err, TG_ERR_ARG, "--%s: '%s' is not a number", o->name,
                              TG_SHOWN(value));
        if (errno == ERANGE && (isinf(num) || fabs(num) > 1)) {   /* beyond a double (1e400) */
            if (o->lo <= o->hi)
                return tg_err_set(err, TG_ERR_ARG, "--%s: %s is outside [%g, %g]", o->name, value, o->lo, o->hi);
            return tg_err_set(err, TG_ERR_ARG, "--%s: %s is out of range: too large for a double", o->name, value);
        }
        if (errno == ERANGE)   /* below a double's smallest normal (1e-320), or read as 0 (1e-400) */
            return tg_err_set(err, TG_ERR_ARG, "--%s: %s is out of range: too small for a double (give 0, or a "
                              "number from 1e-307)", o->name, value);
        break;
    }
    if (o->lo <= o->hi && (num < o->lo || num > o->hi))
        return tg_err_set(err, TG_ERR_ARG, "--%s: %s is outside [%g, %g]", o->name, value, o->lo, o->hi);
    char key[32];
    const tg_model_limit *l = o->group == TG_OPT_MODEL ? tg_model_config_limit(model_key(o->name, key)) : NULL;
    if (l && !tg_model_limit_holds(l, num))
        return tg_err_set(err, TG_ERR_ARG, "--%s: %s is outside [%.15g, %.15g%c", o->name, value, l->lo, l->hi,
                          l->hi_open ? ')' : ']');
    switch (o->type) {
    case T_INT: *(int *)field = (int)num; break;
    case T_I64: *(int64_t *)field = (int64_t)strtoll(value, NULL, 10); break;
    case T_U64: *(uint64_t *)field = (uint64_t)strtoull(value, NULL, 10); break;
    default: *(double *)field = num; break;
    }
    if (!strcmp(o->name, "layers")) c->dec_layers = c->enc_layers;   /* --layers sets both */
    return TG_OK;
}

tg_status tg_run_config_set(tg_run_config *c, const char *name, const char *value, tg_err *err) {
    const opt_def *o = find(name);
    if (!o) return tg_err_set(err, TG_ERR_ARG, "unknown setting '%s'", TG_SHOWN(name));
    return set_one(c, o, value, err);
}

void tg_run_config_default(tg_run_config *c) {
    memset(c, 0, sizeof *c);
    for (int i = 0; i < N_OPTS; i++)
        if (OPTS[i].def) set_one(c, &OPTS[i], OPTS[i].def, NULL);
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

/* A value that would not read back as itself unquoted: a comment sign, a quote or backslash
 * (the escape), or spaces at either end (trimmed). */
static bool needs_quotes(const char *v) {
    size_t n = strlen(v);
    return strpbrk(v, "#\"\\\n\r") || (n && (isspace((unsigned char)v[0]) || isspace((unsigned char)v[n - 1])));
}

/* "..." with \\ \" \n \r escapes, into out (at least 2 * strlen(v) + 3 bytes). */
static void quote(const char *v, char *out) {
    char *o = out;
    *o++ = '"';
    for (; *v; v++) {
        char e = *v == '"' ? '"' : *v == '\\' ? '\\' : *v == '\n' ? 'n' : *v == '\r' ? 'r' : 0;
        if (e) { *o++ = '\\'; *o++ = e; }
        else *o++ = *v;
    }
    *o++ = '"';
    *o = '\0';
}

/* Reads a quoted value at s (s[0] == '"') in place; after the closing quote only blanks or a
 * # comment may follow. NULL if malformed. */
static char *unquote(char *s) {
    char *o = s, *p = s + 1;
    for (; *p && *p != '"'; p++) {
        if (*p != '\\') { *o++ = *p; continue; }
        p++;
        if (*p == '"' || *p == '\\') *o++ = *p;
        else if (*p == 'n') *o++ = '\n';
        else if (*p == 'r') *o++ = '\r';
        else return NULL;
    }
    if (*p != '"') return NULL;
    for (p++; isspace((unsigned char)*p); p++) {}
    if (*p && *p != '#') return NULL;
    *o = '\0';
    return s;
}

/* One `key = value` line (comment, blank, or setting) of a config text into c. */
/* seen[i]: the line that set OPTS[i] (0: none yet), so that a key set twice is refused. */
static tg_status parse_line(tg_run_config *c, char *line, const char *origin, int lineno, int *seen, tg_err *err) {
    char *s = line;
    while (isspace((unsigned char)*s)) s++;
    char *eq = strchr(s, '='), *hash = strchr(s, '#');
    if (hash && (!eq || hash < eq)) *hash = '\0';   /* a comment before any '=' */
    s = trim(s);
    if (!*s) return TG_OK;
    if (!eq || (hash && hash < eq))
        return tg_err_set(err, TG_ERR_FORMAT, "%s:%d: expected 'key = value', got '%s'", origin,
                          lineno, TG_SHOWN(s));
    *eq = '\0';
    char *key = trim(s), *value = eq + 1;
    while (isspace((unsigned char)*value)) value++;
    if (*value == '"') {
        if (!unquote(value))
            return tg_err_set(err, TG_ERR_FORMAT, "%s:%d: %s: unterminated or malformed quoted value", origin, lineno,
                              TG_SHOWN(key));
    } else {
        char *h = strchr(value, '#');   /* unquoted (older files): # starts a comment */
        if (h) *h = '\0';
        value = trim(value);
    }
    if (!strcmp(key, "config") || !strcmp(key, "resume"))
        return tg_err_set(err, TG_ERR_FORMAT, "%s:%d: '%s' cannot be set in a config file", origin, lineno, key);
    const opt_def *o = find(key);
    if (o && seen[o - OPTS])
        return tg_err_set(err, TG_ERR_FORMAT, "%s:%d: %s is set twice (first on line %d): keep one (builds before "
                          "2026-12-05 took the last)", origin, lineno, key, seen[o - OPTS]);
    if (o) seen[o - OPTS] = lineno;
    tg_err e2;
    if (tg_run_config_set(c, key, value, &e2) != TG_OK)
        return tg_err_set(err, TG_ERR_FORMAT, "%s:%d: %s", origin, lineno, e2.msg);
    return TG_OK;
}

/* seen: the line each setting is on (0: none), filled as parse_line does. */
static tg_status parse_text(tg_run_config *c, const char *text, const char *origin, int *seen, tg_err *err) {
    int lineno = 0;
    const char *p = text;
    if (!strncmp(p, "\xEF\xBB\xBF", 3)) p += 3;   /* a UTF-8 byte order mark, as some editors write */
    char line[4 * TG_PATH_MAX];
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        if (len >= sizeof line)
            return tg_err_set(err, TG_ERR_FORMAT, "%s:%d: line too long", origin, lineno);
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl ? nl + 1 : p + len;
        tg_status st = parse_line(c, line, origin, lineno, seen, err);
        if (st != TG_OK) return st;
    }
    return TG_OK;
}

tg_status tg_run_config_parse(tg_run_config *c, const char *text, const char *origin, tg_err *err) {
    return tg_run_config_parse_lines(c, text, origin, NULL, err);
}

tg_status tg_run_config_parse_lines(tg_run_config *c, const char *text, const char *origin, tg_run_config_lines *lines,
                                    tg_err *err) {
    tg_run_config_lines none;
    if (!lines) lines = &none;
    memset(lines, 0, sizeof *lines);
    char shown[TG_SHOWN_MAX];   /* a checkpoint's name: its messages stay on one line */
    return parse_text(c, text, tg_shown_tail(shown, sizeof shown, origin), lines->at, err);
}

/* tg_run_config_read, the line of each setting in seen. */
static tg_status read_file(tg_run_config *c, FILE *f, const char *path, int *seen, tg_err *err) {
    char shown[TG_SHOWN_MAX];   /* a name with a line break: its messages stay on one line */
    path = tg_shown_tail(shown, sizeof shown, path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 8192;
            if (cap > (64u << 20)) { free(buf); fclose(f); return tg_err_set(err, TG_ERR_FORMAT, "%s: too large for a config file", path); }
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); return tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", path); }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got < 4096) break;
    }
    int bad = ferror(f) ? errno : 0;
    fclose(f);
    if (bad) { free(buf); return tg_err_set(err, TG_ERR_IO, "%s: cannot read: %s", path, strerror(bad)); }
    buf[len] = '\0';
    if (strlen(buf) != len) { free(buf); return tg_err_set(err, TG_ERR_FORMAT, "%s: contains a NUL byte", path); }
    tg_status st = parse_text(c, buf, path, seen, err);
    free(buf);
    return st;
}

tg_status tg_run_config_read(tg_run_config *c, FILE *f, const char *path, tg_err *err) {
    int seen[N_OPTS] = {0};
    return read_file(c, f, path, seen, err);
}

tg_status tg_run_config_load_lines(tg_run_config *c, const char *path, tg_run_config_lines *lines, tg_err *err) {
    tg_run_config_lines none;
    if (!lines) lines = &none;
    memset(lines, 0, sizeof *lines);
    FILE *f = fopen(path, "rb");
    if (!f)
        return tg_err_set(err, TG_ERR_IO, "%s: cannot open: %s", TG_SHOWN(path), strerror(errno));
    return read_file(c, f, path, lines->at, err);
}

tg_status tg_run_config_load(tg_run_config *c, const char *path, tg_err *err) {
    return tg_run_config_load_lines(c, path, NULL, err);
}

tg_status tg_run_config_check(const tg_run_config *c, tg_err *err) {
    bool files = c->train[0] || c->train_src[0] || c->train_tgt[0];
    if (!files && !c->task[0])
        return tg_err_set(err, TG_ERR_ARG, "no training data: give --train FILE.tsv, --train-src/--train-tgt, or --task");
    if (files && c->task[0])
        return tg_err_set(err, TG_ERR_ARG, "--task trains on a synthetic task: give it without training files");
    if (c->task[0] && (c->dev[0] || c->vocab[0]))
        return tg_err_set(err, TG_ERR_ARG, "--task trains and validates on a synthetic task (its own dev set, ids "
                          "for words): give it without --%s", c->dev[0] ? "dev" : "vocab");
    if (c->train[0] && (c->train_src[0] || c->train_tgt[0]))
        return tg_err_set(err, TG_ERR_ARG, "give --train or --train-src/--train-tgt, not both");
    if (!c->train[0] && !c->task[0] && !(c->train_src[0] && c->train_tgt[0]))
        return tg_err_set(err, TG_ERR_ARG, "--train-src and --train-tgt go together");
    if (!c->out[0]) return tg_err_set(err, TG_ERR_ARG, "no run folder: give --out RUNDIR");
    tg_model_config m;   /* the model flags together, as nn checks them (the vocabulary comes later) */
    tg_err e2;
    if (tg_run_model_config(c, (int)tg_model_config_limit("vocab")->lo, &m, &e2) != TG_OK) return model_error(e2.msg, err);
    tg_schedule sched;   /* and the schedule's flags, before a folder is made */
    if (tg_run_schedule(c, &m, &sched, &e2) != TG_OK) return tg_err_set(err, TG_ERR_ARG, "%s", e2.msg);
    if (c->fit_steps && (strcmp(c->schedule, "cosine") || c->time_limit <= 0 || c->warmup < TG_FIT_MIN_WARMUP))
        return tg_err_set(err, TG_ERR_ARG, "--fit-steps fits --schedule cosine to --time-limit: give both, and "
                          "--warmup %d or more (the fit is made during the warmup)", TG_FIT_MIN_WARMUP);
    if (c->task_min_len > c->task_max_len)
        return tg_err_set(err, TG_ERR_ARG, "--task-min-len %d is above --task-max-len %d", c->task_min_len, c->task_max_len);
    return TG_OK;
}

/* Setting o's value in c as config.txt writes it. */
static void format_value(const tg_run_config *c, const opt_def *o, char *v, size_t len) {
    const char *field = (const char *)c + o->offset;
    switch (o->type) {
    case T_STR:
        if (needs_quotes(field)) quote(field, v);
        else snprintf(v, len, "%s", field);
        break;
    case T_FLAG: snprintf(v, len, "%s", *(const bool *)field ? "true" : "false"); break;
    case T_INT: snprintf(v, len, "%d", *(const int *)field); break;
    case T_I64: snprintf(v, len, "%lld", (long long)*(const int64_t *)field); break;
    case T_U64: snprintf(v, len, "%llu", (unsigned long long)*(const uint64_t *)field); break;
    case T_DOUBLE: case T_DURATION: snprintf(v, len, "%.17g", *(const double *)field); break;
    }
}

tg_status tg_run_config_check_given(const tg_run_config *c, const char *name, tg_err *err) {
    const opt_def *o = find(name);   /* (its canonical name: '_' and '-' alike) */
    const char *key = o ? o->name : "";
    if (!strcmp(key, "merges") && (c->task[0] || c->vocab[0]))
        return tg_err_set(err, TG_ERR_ARG, "--merges: no BPE is learned with --%s (the vocabulary is %s): leave it out",
                          c->task[0] ? "task" : "vocab", c->task[0] ? "the task's" : "that file's");
    if (!strcmp(key, "patience") && c->patience > 0 && !c->dev[0] && !c->task[0])
        return tg_err_set(err, TG_ERR_ARG, "--patience %d counts validations, and without --dev there are none: "
                          "give --dev, or leave --patience out", c->patience);
    /* the synthetic task's settings (run_setup.c: synth_opts, synth_dev) */
    if (!strncmp(key, "task-", 5) && !c->task[0])
        return tg_err_set(err, TG_ERR_ARG, "--%s: only a synthetic task (--task) reads it, and this run trains on "
                          "files: leave it out", key);
    /* a task's pairs are made within --task-max-len and the model's positions (run_setup.c: file_data
     * alone cuts a corpus at --max-len); no file is read, so there is no line to be bad */
    if (!strcmp(key, "max-len") && c->task[0])
        return tg_err_set(err, TG_ERR_ARG, "--max-len drops the longer pairs of a corpus, and --task reads none (its "
                          "pairs are --task-min-len to --task-max-len symbols): give --task-max-len, or leave "
                          "--max-len out");
    if (!strcmp(key, "on-bad-line") && c->task[0])
        return tg_err_set(err, TG_ERR_ARG, "--on-bad-line: --task reads no file, so there is no line to skip: "
                          "leave it out");
    /* validation runs on a dev set: a text run without --dev has none (run_loop.c: validate); to
     * turn it off (--valid-every 0) says what is so, and is taken */
    static const struct { const char *key, *what; } valid[] = {
        {"valid-every", "how often to validate"}, {"valid-sentences", "how many dev sentences validation decodes"},
        {"beam", "how validation decodes"}, {"alpha", "how validation's beam search scores"}};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
        if (!strcmp(key, valid[i].key) && !c->dev[0] && !c->task[0] && !(i == 0 && c->valid_every == 0))
            return tg_err_set(err, TG_ERR_ARG, "--%s sets %s, and without --dev there is no validation: give "
                              "--dev, or leave --%s out", key, valid[i].what, key);
    if (!strcmp(key, "alpha")) return tg_run_alpha_check(c->beam, true, err);
    return TG_OK;
}

void tg_run_config_unused_to_defaults(tg_run_config *c) {
    tg_err e;
    for (int i = 0; i < N_OPTS; i++)   /* (what decides: task, dev, vocab; none is reset here) */
        if (OPTS[i].def && tg_run_config_check_given(c, OPTS[i].name, &e) != TG_OK)
            tg_run_config_set(c, OPTS[i].name, OPTS[i].def, &e);
}

tg_status tg_run_alpha_check(int beam, bool alpha_given, tg_err *err) {
    if (alpha_given && beam == 1)
        return tg_err_set(err, TG_ERR_ARG, "--alpha is beam search's length penalty, and with --beam 1 decoding is "
                          "greedy and does not use it: give --beam 2 or more, or leave --alpha out");
    return TG_OK;
}

void tg_run_config_shorten(char *line, size_t len) {
    char *v = strstr(line, " = "), *end;
    if (!v || !v[3]) return;
    v += 3;
    double x = strtod(v, &end);
    if (*end) return;   /* (not a number: text, a flag) */
    char s[32];
    snprintf(s, sizeof s, "%.15g", x);
    if (strtod(s, NULL) == x && (size_t)(v - line) + strlen(s) < len) strcpy(v, s);
}

const char *tg_run_config_line_shown(char *out, size_t cap, const char *line) {
    const char *eq = strstr(line, " = ");
    size_t k = eq ? (size_t)(eq - line) + 3 : 0;
    char key[64];
    if (!eq || k >= sizeof key || k > cap / 2) return tg_shown_tail(out, cap, line);
    memcpy(key, line, k);
    key[k] = '\0';
    size_t n = strlen(tg_shown(out, cap / 2, key));
    if (n != k) return tg_shown_tail(out, cap, line);   /* a key escaped: a hand's edit */
    tg_shown_tail(out + n, cap - n, eq + 3);
    return out;
}

bool tg_run_config_first_difference(const char *a, const char *b, char sep, char *a_out, char *b_out, size_t len) {
    const char stop[2] = {sep, '\0'};
    size_t na = 0, nb = 0;
    bool differ = false;
    while (!differ && (*a || *b)) {
        na = strcspn(a, stop);
        nb = strcspn(b, stop);
        differ = na != nb || memcmp(a, b, na);
        if (!differ) {
            a += na + (a[na] == sep);
            b += nb + (b[nb] == sep);
        }
    }
    if (!differ) na = nb = 0;
    snprintf(a_out, len, "%.*s", (int)na, a);
    tg_run_config_shorten(a_out, len);   /* lr = 0.003, not 0.0030000000000000001 */
    if (b_out) {
        snprintf(b_out, len, "%.*s", (int)nb, b);
        tg_run_config_shorten(b_out, len);
    }
    return differ;
}

tg_status tg_run_config_check_lines(const tg_run_config *c, const tg_run_config_lines *lines, const char *path,
                                    tg_err *err) {
    /* the defaults and four values, 15 KiB: on the heap (train and each experiment cell check a
     * --config file here, deep in their stack) */
    struct { tg_run_config d; char v[2 * TG_PATH_MAX + 32], dv[2 * TG_PATH_MAX + 32], line[2 * TG_PATH_MAX + 96],
             def[2 * TG_PATH_MAX + 96]; } *h = malloc(sizeof *h);
    if (!h) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    tg_run_config_default(&h->d);
    tg_err e2;
    tg_status s = TG_OK;
    for (int i = 0; s == TG_OK && i < N_OPTS; i++) {   /* (aliases, without a default, set settings that have one) */
        if (!lines->at[i] || !OPTS[i].def) continue;
        format_value(c, &OPTS[i], h->v, sizeof h->v);
        format_value(&h->d, &OPTS[i], h->dv, sizeof h->dv);
        if (strcmp(h->v, h->dv) && tg_run_config_check_given(c, OPTS[i].name, &e2) != TG_OK) {
            snprintf(h->line, sizeof h->line, "%s = %s", OPTS[i].name, h->v);
            snprintf(h->def, sizeof h->def, "%s = %s", OPTS[i].name, h->dv[0] ? h->dv : "\"\"");
            if (OPTS[i].type == T_DOUBLE) {   /* alpha = 1.1, not 1.1000000000000001 */
                tg_run_config_shorten(h->line, sizeof h->line);
                tg_run_config_shorten(h->def, sizeof h->def);
            }
            s = tg_err_set(err, TG_ERR_ARG, "%s:%d: %s: %s (here: remove the line, or give its default, %s)",
                           path, lines->at[i], h->line, e2.msg, h->def + strlen(OPTS[i].name) + 3);
        }
    }
    free(h);
    return s;
}

int tg_run_config_format(const tg_run_config *c, char *buf, size_t len) {
    size_t k = 0;
    for (int i = 0; i < N_OPTS; i++) {
        const opt_def *o = &OPTS[i];
        if (!o->def) continue;   /* aliases (layers) are written through their fields */
        char v[2 * TG_PATH_MAX + 32];
        format_value(c, o, v, sizeof v);
        int w = snprintf(k < len ? buf + k : NULL, k < len ? len - k : 0, "%s = %s\n", o->name, v);
        k += (size_t)w;
    }
    return (int)k;
}

bool tg_run_config_first_diff(const tg_run_config *a, const tg_run_config *b, unsigned groups, char *a_text,
                              char *b_text, size_t len) {
    for (int i = 0; i < N_OPTS; i++) {
        const opt_def *o = &OPTS[i];
        if (!o->def || !(groups & (1u << o->group))) continue;
        char va[2 * TG_PATH_MAX + 32], vb[2 * TG_PATH_MAX + 32];
        format_value(a, o, va, sizeof va);
        format_value(b, o, vb, sizeof vb);
        if (!strcmp(va, vb)) continue;
        snprintf(a_text, len, "%s = %s", o->name, va);
        snprintf(b_text, len, "%s = %s", o->name, vb);
        return true;
    }
    return false;
}

void tg_run_config_help(FILE *f, unsigned groups) {
    static const char *titles[] = {"data", "model", "optimiser", "training loop"};
    for (int g = 0; g < 4; g++) {
        if (!(groups & (1u << g))) continue;
        fprintf(f, "\n%s:\n", titles[g]);
        for (int i = 0; i < N_OPTS; i++) {
            const opt_def *o = &OPTS[i];
            if ((int)o->group != g) continue;
            char flag[64];
            snprintf(flag, sizeof flag, "--%s%s", o->name,
                     o->type == T_FLAG ? "" : o->type == T_STR ? (o->choices ? " X" : " PATH") : " N");
            if (o->choices && o->type == T_STR)
                snprintf(flag, sizeof flag, "--%s %s", o->name, o->choices[0] == '|' ? o->choices + 1 : o->choices);
            fprintf(f, "  %-34s %s", flag, o->help);
            if (o->def && *o->def && o->type != T_FLAG) fprintf(f, " [%s]", o->def);
            fputc('\n', f);
        }
    }
}

const struct option *tg_run_config_getopt(const struct option *extra, int n_extra) {
    static struct option all[N_OPTS + 32];
    int k = 0;
    for (int i = 0; i < N_OPTS; i++)
        all[k++] = (struct option){OPTS[i].name, OPTS[i].type == T_FLAG ? no_argument : required_argument,
                                   NULL, 1000 + i};
    for (int i = 0; i < n_extra && i < 31; i++) all[k++] = extra[i];
    all[k] = (struct option){0};
    return all;
}

const char *tg_run_config_name(int val) {
    return val >= 1000 && val < 1000 + N_OPTS ? OPTS[val - 1000].name : NULL;
}
