/* cells.c: the grid of an experiment: axes and seeds, each cell's name, folder, run config and
 * `train` argv, the check of every cell before training, and where a cell stands. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/ckpt/ckpt_file.h"
#include "train/experiment/experiment.h"
#include "train/run/text_out.h"

void tg_exp_init(tg_experiment *e) { memset(e, 0, sizeof *e); }

void tg_exp_free(tg_experiment *e) {
    for (int i = 0; i < e->n_base; i++) { free(e->base_name[i]); free(e->base_flag[i]); free(e->base_value[i]); }
    free(e->base_name);
    free(e->base_flag);
    free(e->base_value);
    for (int a = 0; a < e->n_axes; a++) {
        tg_exp_axis *ax = &e->axes[a];
        for (int v = 0; v < ax->n; v++) {
            free(ax->values[v]);
            for (int k = 0; ax->n_set && k < ax->n_set[v]; k++) {
                free(ax->bundle_name[v][k]); free(ax->bundle_flag[v][k]); free(ax->bundle_value[v][k]);
            }
            if (ax->n_set) { free(ax->bundle_name[v]); free(ax->bundle_flag[v]); free(ax->bundle_value[v]); }
        }
        free(ax->values);
        free(ax->n_set); free(ax->bundle_name); free(ax->bundle_flag); free(ax->bundle_value);
    }
    free(e->seeds);
    memset(e, 0, sizeof *e);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

tg_status tg_exp_add_base(tg_experiment *e, const char *name, const char *value, tg_err *err) {
    char **n = realloc(e->base_name, (size_t)(e->n_base + 1) * sizeof *n);
    if (n) e->base_name = n;
    char **f = realloc(e->base_flag, (size_t)(e->n_base + 1) * sizeof *f);
    if (f) e->base_flag = f;
    char **v = realloc(e->base_value, (size_t)(e->n_base + 1) * sizeof *v);
    if (v) e->base_value = v;
    if (!n || !f || !v) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    size_t len = strlen(name) + 3;
    e->base_name[e->n_base] = strdup(name);
    e->base_flag[e->n_base] = malloc(len);
    e->base_value[e->n_base] = dup_or_null(value);
    if (e->base_flag[e->n_base]) snprintf(e->base_flag[e->n_base], len, "--%s", name);
    e->n_base++;
    if (!e->base_name[e->n_base - 1] || !e->base_flag[e->n_base - 1] || (value && !e->base_value[e->n_base - 1]))
        return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    return TG_OK;
}

/* Flag names are compared with '_' and '-' the same; the canonical spelling uses '-'. */
static void canonical(const char *name, char *out, size_t len) {
    snprintf(out, len, "%s", name);
    for (char *p = out; *p; p++)
        if (*p == '_') *p = '-';
}

/* The canonical form of value v of train flag key (malloc'd; NULL: out of memory): the default
 * run config with key set to v, as text, so that values train reads alike (0 and 0.0, 90s and
 * 1m30s, true and 1) have one form; a number equal to zero as 0 (-0 would print as -0) unless key
 * takes any text (a path); "=" v when the flag does not take v. */
static char *value_form(const char *key, const char *v) {
    tg_run_config c;
    tg_err e;
    char *end;
    tg_run_config_default(&c);
    bool any_text = tg_run_config_set(&c, key, "x", &e) == TG_OK;
    if (!any_text && *v && strtod(v, &end) == 0 && !*end) v = "0";
    tg_run_config_default(&c);
    if (tg_run_config_set(&c, key, v, &e) != TG_OK) {
        char *f = malloc(strlen(v) + 2);
        if (f) snprintf(f, strlen(v) + 2, "=%s", v);
        return f;
    }
    int n = tg_run_config_format(&c, NULL, 0);
    char *f = malloc((size_t)n + 1);
    if (f) tg_run_config_format(&c, f, (size_t)n + 1);
    return f;
}

bool tg_exp_same_value(const char *key, const char *a, const char *b) {
    if (!strcmp(a, b)) return true;
    char *x = value_form(key, a), *y = value_form(key, b);
    bool same = x && y && !strcmp(x, y);
    free(x);
    free(y);
    return same;
}

typedef char *(*form_fn)(const void *ctx, int i);
typedef struct { uint64_t hash; int i; } form_hash;

static int by_hash(const void *a, const void *b) {
    const form_hash *x = a, *y = b;
    return x->hash != y->hash ? (x->hash < y->hash ? -1 : 1) : x->i - y->i;
}

/* The first item (in order) whose form(ctx, i) (malloc'd) is an earlier item's: its index, and that
 * one's in *earlier; -1 when none, -2 out of memory. Each form is made once for its hash, and again
 * only for a pair whose hashes agree: n items cost about n forms, not n squared. */
static int first_repeat(int n, form_fn form, const void *ctx, int *earlier) {
    form_hash *h = malloc((size_t)n * sizeof *h + 1);
    if (!h) return -2;
    for (int i = 0; i < n; i++) {
        char *f = form(ctx, i);
        if (!f) { free(h); return -2; }
        h[i].hash = tg_ckpt_hash64(f, strlen(f));
        h[i].i = i;
        free(f);
    }
    qsort(h, (size_t)n, sizeof *h, by_hash);
    int best = -1;
    for (int a = 0; a < n; a++)   /* within a hash, by index: the pairs past best are not looked at */
        for (int b = a + 1; b < n && h[b].hash == h[a].hash && (best < 0 || h[b].i < best); b++) {
            char *x = form(ctx, h[a].i), *y = form(ctx, h[b].i);
            if (x && y && !strcmp(x, y)) { best = h[b].i; *earlier = h[a].i; }
            free(x);
            free(y);
        }
    free(h);
    return best;
}

static char *axis_value_form(const void *ax, int i) {
    return value_form(((const tg_exp_axis *)ax)->key, ((const tg_exp_axis *)ax)->values[i]);
}

/* No two values of an ordinary axis are one setting: its cells would train one recipe twice. */
static tg_status distinct_values(const tg_exp_axis *ax, tg_err *err) {
    int w = 0, v = first_repeat(ax->n, axis_value_form, ax, &w);
    if (v == -2) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    if (v < 0) return TG_OK;
    if (!strcmp(ax->values[w], ax->values[v]))
        return tg_err_set(err, TG_ERR_ARG, "--vary %s: value '%s' given twice", ax->key,
                          TG_SHOWN(ax->values[w]));
    return tg_err_set(err, TG_ERR_ARG, "--vary %s: value '%s' given twice (as '%s')", ax->key,
                      TG_SHOWN(ax->values[w]), TG_SHOWN(ax->values[v]));
}

static tg_status axis_values(tg_exp_axis *ax, const char *list, tg_err *err) {
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0)
            return tg_err_set(err, TG_ERR_ARG, "--vary %s: an empty value in '%s'", ax->key,
                              TG_SHOWN(list));
        char **nv = realloc(ax->values, (size_t)(ax->n + 1) * sizeof *nv);
        if (!nv) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
        ax->values = nv;
        ax->values[ax->n] = strndup(p, len);
        if (!ax->values[ax->n]) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
        ax->n++;
        if (!comma) return TG_OK;
        p = comma + 1;
    }
}

tg_status tg_exp_add_vary(tg_experiment *e, const char *spec, tg_err *err) {
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1])
        return tg_err_set(err, TG_ERR_ARG, "--vary '%s': expected KEY=V1,V2,... (KEY a train flag)",
                          TG_SHOWN(spec));
    if (e->n_axes == TG_EXP_MAX_AXES) return tg_err_set(err, TG_ERR_ARG, "at most %d --vary axes", TG_EXP_MAX_AXES);
    tg_exp_axis *ax = &e->axes[e->n_axes];
    memset(ax, 0, sizeof *ax);
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)(eq - spec), spec);
    canonical(key, ax->key, sizeof ax->key);
    memcpy(ax->flag, "--", 2);
    memcpy(ax->flag + 2, ax->key, strlen(ax->key) + 1);
    if (tg_run_config_group(ax->key) < 0)
        return tg_err_set(err, TG_ERR_ARG,
                          "--vary %s: not a train flag (see tapegrad train --help)", TG_SHOWN(key));
    if (!strcmp(ax->key, "out") || !strcmp(ax->key, "seed"))
        return tg_err_set(err, TG_ERR_ARG, "--vary %s: %s", key,
                          !strcmp(ax->key, "out") ? "the cells' folders are DIR/cells/..." : "use --seeds N or --seed-list");
    for (int a = 0; a < e->n_axes; a++)
        if (!strcmp(e->axes[a].key, ax->key)) return tg_err_set(err, TG_ERR_ARG, "--vary %s given twice", ax->key);
    e->n_axes++;   /* counted before the values so tg_exp_free frees them on error */
    return axis_values(ax, eq + 1, err);
}

/* Whether a train flag takes a value (getopt's view; --no-tie-embeddings does not). */
static bool takes_value(const char *name);

/* One KEY[=V] of a variant's bundle into slot k of value v. */
static tg_status bundle_set(tg_exp_axis *ax, int v, const char *item, size_t len, tg_err *err) {
    char text[256], key[256];
    if (len == 0 || len >= sizeof text)
        return tg_err_set(err, TG_ERR_ARG, "--variant %s: an empty or too long setting",
                          TG_SHOWN(ax->values[v]));
    memcpy(text, item, len);
    text[len] = '\0';
    char *eq = strchr(text, '=');
    if (eq) *eq = '\0';
    canonical(text, key, sizeof key);
    if (tg_run_config_group(key) < 0)
        return tg_err_set(err, TG_ERR_ARG, "--variant %s: '%s' is not a train flag",
                          TG_SHOWN(ax->values[v]), TG_SHOWN(key));
    if (!strcmp(key, "out") || !strcmp(key, "seed"))
        return tg_err_set(err, TG_ERR_ARG, "--variant %s: --%s is set per cell",
                          TG_SHOWN(ax->values[v]), key);
    if (takes_value(key) != (eq != NULL))
        return tg_err_set(err, TG_ERR_ARG, "--variant %s: --%s %s", TG_SHOWN(ax->values[v]), key,
                          eq ? "takes no value" : "needs a value (KEY=V)");
    for (int k = 0; k < ax->n_set[v]; k++)
        if (!strcmp(ax->bundle_name[v][k], key))
            return tg_err_set(err, TG_ERR_ARG, "--variant %s: --%s given twice",
                              TG_SHOWN(ax->values[v]), key);
    int k = ax->n_set[v];
    char **n = realloc(ax->bundle_name[v], (size_t)(k + 1) * sizeof *n);
    if (n) ax->bundle_name[v] = n;
    char **f = realloc(ax->bundle_flag[v], (size_t)(k + 1) * sizeof *f);
    if (f) ax->bundle_flag[v] = f;
    char **val = realloc(ax->bundle_value[v], (size_t)(k + 1) * sizeof *val);
    if (val) ax->bundle_value[v] = val;
    if (!n || !f || !val) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    ax->bundle_name[v][k] = strdup(key);
    ax->bundle_flag[v][k] = malloc(strlen(key) + 3);
    ax->bundle_value[v][k] = eq ? strdup(eq + 1) : NULL;
    ax->n_set[v]++;
    if (!ax->bundle_name[v][k] || !ax->bundle_flag[v][k] || (eq && !ax->bundle_value[v][k]))
        return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    snprintf(ax->bundle_flag[v][k], strlen(key) + 3, "--%s", key);
    return TG_OK;
}

/* The variant axis, made on its first --variant. */
static tg_exp_axis *variant_axis(tg_experiment *e, tg_status *s, tg_err *err) {
    for (int a = 0; a < e->n_axes; a++)
        if (e->axes[a].n_set) return &e->axes[a];
    if (e->n_axes == TG_EXP_MAX_AXES) {
        *s = tg_err_set(err, TG_ERR_ARG, "at most %d axes (--vary and --variant)", TG_EXP_MAX_AXES);
        return NULL;
    }
    tg_exp_axis *ax = &e->axes[e->n_axes];
    memset(ax, 0, sizeof *ax);
    snprintf(ax->key, sizeof ax->key, "variant");
    snprintf(ax->flag, sizeof ax->flag, "--variant");
    ax->n_set = calloc(1, sizeof *ax->n_set);   /* non-NULL marks the variant axis */
    if (!ax->n_set) { *s = tg_err_set(err, TG_ERR_NOMEM, "out of memory"); return NULL; }
    e->n_axes++;
    return ax;
}

tg_status tg_exp_add_variant(tg_experiment *e, const char *spec, tg_err *err) {
    const char *colon = strchr(spec, ':');
    size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (nlen == 0 || nlen > 64 || memchr(spec, ',', nlen) || memchr(spec, '=', nlen))
        return tg_err_set(err, TG_ERR_ARG, "--variant '%s': expected NAME[:KEY=V;KEY=V...] "
                          "(NAME without ',' or '=')", TG_SHOWN(spec));   /* (a tab: raw) */
    tg_status st = TG_OK;
    tg_exp_axis *ax = variant_axis(e, &st, err);
    if (!ax) return st;
    for (int i = 0; i < ax->n; i++)
        if (strlen(ax->values[i]) == nlen && !strncmp(ax->values[i], spec, nlen))
            return tg_err_set(err, TG_ERR_ARG, "--variant %s given twice", TG_SHOWN(ax->values[i]));
    int v = ax->n;
    char **nv = realloc(ax->values, (size_t)(v + 1) * sizeof *nv);
    if (nv) ax->values = nv;
    int *ns = realloc(ax->n_set, (size_t)(v + 1) * sizeof *ns);
    if (ns) ax->n_set = ns;
    char ***bn = realloc(ax->bundle_name, (size_t)(v + 1) * sizeof *bn);
    if (bn) ax->bundle_name = bn;
    char ***bf = realloc(ax->bundle_flag, (size_t)(v + 1) * sizeof *bf);
    if (bf) ax->bundle_flag = bf;
    char ***bv = realloc(ax->bundle_value, (size_t)(v + 1) * sizeof *bv);
    if (bv) ax->bundle_value = bv;
    if (!nv || !ns || !bn || !bf || !bv) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    ax->values[v] = strndup(spec, nlen);
    ax->n_set[v] = 0;
    ax->bundle_name[v] = ax->bundle_flag[v] = ax->bundle_value[v] = NULL;
    ax->n++;   /* counted now so tg_exp_free frees what is there on error */
    if (!ax->values[v]) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    for (const char *p = colon ? colon + 1 : ""; *p;) {
        const char *semi = strchr(p, ';');
        size_t len = semi ? (size_t)(semi - p) : strlen(p);
        tg_status s = bundle_set(ax, v, p, len, err);
        if (s != TG_OK) return s;
        p = semi ? semi + 1 : p + len;
    }
    return TG_OK;
}

tg_status tg_exp_add_seeds(tg_experiment *e, const char *spec, bool list, tg_err *err) {
    if (e->n_seeds) return tg_err_set(err, TG_ERR_ARG, "give --seeds or --seed-list once");
    for (const char *p = spec; *p;) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || errno || (*end && *end != ',') || *p == '-' || (!list && (*end || v < 1 || v > 1000)))
            return tg_err_set(err, TG_ERR_ARG,
                              list ? "--seed-list '%s': expected seeds like 1,2,3"
                                   : "--seeds '%s': expected a count from 1 to 1000",
                              TG_SHOWN(spec));
        if (!list) {
            e->seeds = calloc((size_t)v, sizeof *e->seeds);
            if (!e->seeds) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
            for (unsigned long long s = 0; s < v; s++) e->seeds[e->n_seeds++] = s + 1;
            return TG_OK;
        }
        for (int i = 0; i < e->n_seeds; i++)
            if (e->seeds[i] == v) return tg_err_set(err, TG_ERR_ARG, "--seed-list: seed %llu given twice", v);
        uint64_t *ns = realloc(e->seeds, (size_t)(e->n_seeds + 1) * sizeof *ns);
        if (!ns) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
        e->seeds = ns;
        e->seeds[e->n_seeds++] = v;
        p = *end ? end + 1 : end;
    }
    return e->n_seeds ? TG_OK : tg_err_set(err, TG_ERR_ARG, "--seed-list: no seed given");
}

int tg_exp_variant_count(const tg_experiment *e) {
    int n = 1;
    for (int a = 0; a < e->n_axes; a++) n *= e->axes[a].n;
    return n;
}

int tg_exp_cell_count(const tg_experiment *e) { return tg_exp_variant_count(e) * e->n_seeds; }

/* A value as a folder name's part: characters a shell or a file system would mind become '_'. */
static void name_part(char *out, size_t len, const char *v) {
    size_t k = strlen(out);
    for (; *v && k + 1 < len; v++)
        out[k++] = (strchr("/\\ \t\n'\"*?$`&|;<>()", *v) || (unsigned char)*v < 32) ? '_' : *v;
    out[k] = '\0';
}

const char *tg_exp_dir_shown(const tg_experiment *e) {
    static char shown[4 * TG_PATH_MAX];
    return tg_shown(shown, sizeof shown, e->dir);
}

void tg_exp_cell_get(const tg_experiment *e, int index, tg_exp_cell *out) {
    memset(out, 0, sizeof *out);
    out->index = index;
    int nv = tg_exp_variant_count(e), rest = index % nv;
    out->seed = e->seeds[index / nv];
    for (int a = e->n_axes - 1; a >= 0; a--) {   /* the first axis varies slowest */
        out->value[a] = rest % e->axes[a].n;
        rest /= e->axes[a].n;
    }
    for (int a = 0; a < e->n_axes; a++) {
        size_t k = strlen(out->variant);
        snprintf(out->variant + k, sizeof out->variant - k, "%s%s=", a ? "," : "", e->axes[a].key);
        name_part(out->variant, sizeof out->variant, e->axes[a].values[out->value[a]]);
    }
    snprintf(out->name, sizeof out->name, "%s%sseed=%llu", out->variant, e->n_axes ? "," : "",
             (unsigned long long)out->seed);
    snprintf(out->dir, sizeof out->dir, "%s/cells/%s", e->dir, out->name);
}

static bool takes_value(const char *name) {
    for (const struct option *o = tg_run_config_getopt(NULL, 0); o->name; o++)
        if (!strcmp(o->name, name)) return o->has_arg != no_argument;
    return true;
}

tg_status tg_exp_cell_config(const tg_experiment *e, const tg_exp_cell *c, tg_run_config *out, tg_err *err) {
    tg_run_config_default(out);
    tg_status s = e->config[0] ? tg_run_config_load(out, e->config, err) : TG_OK;
    for (int i = 0; s == TG_OK && i < e->n_base; i++)
        s = tg_run_config_set(out, e->base_name[i], e->base_value[i] ? e->base_value[i] : "true", err);
    for (int a = 0; s == TG_OK && c && a < e->n_axes; a++) {
        tg_err e2;
        const tg_exp_axis *ax = &e->axes[a];
        int v = c->value[a];
        for (int k = 0; ax->n_set && k < ax->n_set[v]; k++)
            if (tg_run_config_set(out, ax->bundle_name[v][k], ax->bundle_value[v][k] ? ax->bundle_value[v][k] : "true",
                                  &e2) != TG_OK) {
                s = tg_err_set(err, TG_ERR_ARG, "--variant %s: %s", TG_SHOWN_IN(80, ax->values[v]),
                               e2.msg);
                break;
            }
        if (s != TG_OK || ax->n_set) continue;
        if (tg_run_config_set(out, e->axes[a].key, e->axes[a].values[c->value[a]], &e2) != TG_OK)
            s = tg_err_set(err, TG_ERR_ARG, "--vary %s: %s", e->axes[a].key, e2.msg);
    }
    if (s == TG_OK && c && strlen(c->dir) >= sizeof out->out)
        s = tg_err_set(err, TG_ERR_ARG, "cell folder %s: path too long", TG_SHOWN(c->dir));
    if (s == TG_OK && c) {   /* the seed as train's --seed takes it, so the check before training is train's */
        char seed[32];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
        s = tg_run_config_set(out, "seed", seed, err);
        memcpy(out->out, c->dir, strlen(c->dir) + 1);
    }
    return s;
}

int tg_exp_argv_max(const tg_experiment *e) {
    int n = e->n_base;
    for (int a = 0; a < e->n_axes; a++) {
        int most = 1;
        for (int v = 0; e->axes[a].n_set && v < e->axes[a].n; v++)
            if (e->axes[a].n_set[v] > most) most = e->axes[a].n_set[v];
        n += most;
    }
    return 2 * n + 12;
}

/* Whether train would refuse flag name, given, as doing nothing in the run cfg (a recorded
 * experiment's: a new one was refused for it; or the dry run's, without its dev set). Left out of
 * a cell's argv: the run is the same. */
static bool does_nothing(const tg_run_config *cfg, bool known, const char *name) {
    tg_err err;
    return known && tg_run_config_check_given(cfg, name, &err) != TG_OK;
}

/* without_dev: as the cell's run would be without its dev set (the dry run's timed steps). */
static int cell_argv(const tg_experiment *e, const tg_exp_cell *c, bool resume, bool without_dev, char **argv) {
    static char seed[32], budget[32];
    int k = 0;
    tg_run_config cfg;
    tg_err err;
    bool known = tg_exp_cell_config(e, c, &cfg, &err) == TG_OK;
    if (without_dev) cfg.dev[0] = '\0';
    argv[k++] = "train";
    if (resume) {   /* the checkpoint holds the recipe, and the budget may have been extended since */
        argv[k++] = "--resume";
        argv[k++] = (char *)c->dir;
        if (known) {
            snprintf(budget, sizeof budget, "%lld", (long long)cfg.max_steps);
            argv[k++] = "--max-steps";
            argv[k++] = budget;
        }
        argv[k] = NULL;
        return k;
    }
    if (e->config[0]) { argv[k++] = "--config"; argv[k++] = (char *)e->config; }
    for (int i = 0; i < e->n_base; i++) {
        if (does_nothing(&cfg, known, e->base_name[i])) continue;
        argv[k++] = e->base_flag[i];
        if (e->base_value[i]) argv[k++] = e->base_value[i];
    }
    for (int a = 0; a < e->n_axes; a++) {   /* a flag without a value is given for true only */
        const tg_exp_axis *ax = &e->axes[a];
        if (ax->n_set) {   /* the variant axis: its bundle's flags */
            int v = c->value[a];
            for (int i = 0; i < ax->n_set[v]; i++) {
                if (does_nothing(&cfg, known, ax->bundle_name[v][i])) continue;
                argv[k++] = ax->bundle_flag[v][i];
                if (ax->bundle_value[v][i]) argv[k++] = ax->bundle_value[v][i];
            }
            continue;
        }
        char *v = e->axes[a].values[c->value[a]];
        if (does_nothing(&cfg, known, ax->key)) continue;
        if (takes_value(e->axes[a].key)) { argv[k++] = (char *)e->axes[a].flag; argv[k++] = v; }
        else if (!strcmp(v, "true")) argv[k++] = (char *)e->axes[a].flag;
    }
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    argv[k++] = "--seed";
    argv[k++] = seed;
    argv[k++] = "--out";
    argv[k++] = (char *)c->dir;
    argv[k] = NULL;
    return k;
}

int tg_exp_cell_argv(const tg_experiment *e, const tg_exp_cell *c, bool resume, char **argv) {
    return cell_argv(e, c, resume, false, argv);
}

int tg_exp_cell_argv_without_dev(const tg_experiment *e, const tg_exp_cell *c, char **argv) {
    return cell_argv(e, c, false, true, argv);
}

/* The input files a cell's run reads, by their flags (a path "" when not given). */
typedef struct { const char *flag, *path; } cell_input;
#define N_CELL_INPUTS 5
static void cell_inputs(const tg_run_config *cfg, cell_input in[N_CELL_INPUTS]) {
    in[0] = (cell_input){"train", cfg->train};
    in[1] = (cell_input){"train-src", cfg->train_src};
    in[2] = (cell_input){"train-tgt", cfg->train_tgt};
    in[3] = (cell_input){"dev", cfg->dev};
    in[4] = (cell_input){"vocab", cfg->vocab};
}

/* Standard input can be read once: by one cell, the others getting nothing (or, with --jobs, each
 * a random part of it, silently). */
static bool is_stdin(const char *path) {
    return !strcmp(path, "-") || !strcmp(path, "/dev/stdin") || !strcmp(path, "/dev/fd/0") ||
           !strcmp(path, "/proc/self/fd/0");
}

/* Whether the cells of e differ in --beam (an axis, or a variant's flag). */
static bool varies_beam(const tg_experiment *e) {
    for (int a = 0; a < e->n_axes; a++) {
        const tg_exp_axis *ax = &e->axes[a];
        if (!ax->n_set && !strcmp(ax->key, "beam")) return true;
        for (int v = 0; ax->n_set && v < ax->n; v++)
            for (int k = 0; k < ax->n_set[v]; k++)
                if (!strcmp(ax->bundle_name[v][k], "beam")) return true;
    }
    return false;
}

/* Whether cell c is given train flag key by an axis: a --vary of it, or its variant's bundle. */
static bool cell_given(const tg_experiment *e, const tg_exp_cell *c, const char *key) {
    for (int a = 0; a < e->n_axes; a++) {
        const tg_exp_axis *ax = &e->axes[a];
        if (!ax->n_set && !strcmp(ax->key, key)) return true;
        for (int k = 0; ax->n_set && k < ax->n_set[c->value[a]]; k++)
            if (!strcmp(ax->bundle_name[c->value[a]][k], key)) return true;
    }
    return false;
}

/* A pipe by any name (/dev/./stdin, <(...), a FIFO) can be read once: by one cell, and a dev set
 * not even by that one alone (the report reads it again to score the cell). */
static tg_status check_pipes(const tg_experiment *e, const tg_run_config *cfg, tg_err *err) {
    cell_input in[N_CELL_INPUTS];
    cell_inputs(cfg, in);
    struct stat sb;
    for (int i = 0; i < N_CELL_INPUTS; i++)
        if (is_stdin(in[i].path))
            return tg_err_set(err, TG_ERR_ARG, "--%s %s: every cell reads it, and standard input "
                              "can be read only once: give a file", in[i].flag,
                              TG_SHOWN(in[i].path));
        else if (in[i].path[0] && (tg_exp_cell_count(e) > 1 || !strcmp(in[i].flag, "dev")) &&
                 stat(in[i].path, &sb) == 0 && S_ISFIFO(sb.st_mode))
            return tg_err_set(err, TG_ERR_ARG, "--%s %s: a pipe, which can be read only once, and "
                              "every cell reads it%s: give a file", in[i].flag,
                              TG_SHOWN(in[i].path), strcmp(in[i].flag, "dev") ? "" :
                              ", and the report again to score the cells");
    return TG_OK;
}

/* Flags given that would do nothing, judged as in cell c's recipe: refused when the experiment
 * starts (a recorded one was trained with them by an earlier build, and its cells' argv leave
 * them out: cell_argv). */
static tg_status check_flags_given(const tg_experiment *e, const tg_exp_cell *c,
                                   const tg_run_config *judge, tg_err *err) {
    tg_status s = TG_OK;
    for (int i = 0; s == TG_OK && i < e->n_base; i++)
        s = tg_run_config_check_given(judge, e->base_name[i], err);
    for (int a = 0; s == TG_OK && a < e->n_axes; a++) {   /* an axis, or its variant's flags */
        const tg_exp_axis *ax = &e->axes[a];
        int v = c->value[a];
        if (!ax->n_set) s = tg_run_config_check_given(judge, ax->key, err);
        for (int k = 0; s == TG_OK && ax->n_set && k < ax->n_set[v]; k++)
            s = tg_run_config_check_given(judge, ax->bundle_name[v][k], err);
    }
    return s;
}

/* The --config file's settings, as train's: none that cell c would not use, and none set true
 * that a --vary of a flag without a value turns false in c. file, off: scratch configs. */
static tg_status check_config_file(const tg_experiment *e, const tg_exp_cell *c,
                                   const tg_run_config *judge, tg_run_config *file,
                                   tg_run_config *off, tg_err *err) {
    tg_run_config_lines lines;
    tg_run_config_default(file);
    tg_status s = tg_run_config_load_lines(file, e->config, &lines, err);
    if (s == TG_OK) s = tg_run_config_check_lines(judge, &lines, e->config, err);
    /* a --vary of a flag without a value gives the flag for true only (cell_argv): its false
     * leaves the file's true in place, and the cell would train as the true one, refused after
     * its training as not trained with the recipe */
    for (int a = 0; s == TG_OK && a < e->n_axes; a++) {
        const tg_exp_axis *ax = &e->axes[a];
        if (ax->n_set || takes_value(ax->key) || strcmp(ax->values[c->value[a]], "false")) continue;
        *off = *file;
        char was[64], now[64];
        if (tg_run_config_set(off, ax->key, "false", err) == TG_OK &&
            tg_run_config_first_diff(off, file, TG_OPT_ALL_GROUPS, now, was, sizeof now))
            s = tg_err_set(err, TG_ERR_ARG, "--vary %s=...false...: --config %s sets %s = true, "
                           "and a cell is given --%s for true only (a flag without a value cannot "
                           "say false): remove the line from the file", ax->key,
                           TG_SHOWN(e->config), ax->key, ax->key);
    }
    return s;
}

/* Cell c's folder: with its last.ckpt (resumed), empty, or one a fresh run may take; a folder
 * past a start without a checkpoint starts only from empty (not train's advice, --resume of the
 * cell's folder, which experiment does not take; nor, recorded, another --out, which `report`
 * and `--resume` do not take). */
static tg_status check_cell_folder(const tg_experiment *e, const tg_exp_cell *c,
                                   const tg_run_config *cfg, tg_err *err) {
    char last[sizeof c->dir + 16];
    struct stat sb;
    snprintf(last, sizeof last, "%s/last.ckpt", c->dir);
    if (stat(last, &sb) == 0) return TG_OK;
    char done[sizeof c->dir + 300];
    if (tg_run_folder_started(c->dir, done, sizeof done) > 0) {
        char cell[4 * sizeof c->dir];
        tg_shown(cell, sizeof cell, c->dir);
        if (e->recorded)
            return tg_err_set(err, TG_ERR_STATE, "%s holds the cell's files (%s) but no "
                              "last.ckpt: put its last.ckpt back, or remove %s, which `experiment "
                              "--resume %s` then trains again", cell, done, cell,
                              tg_exp_dir_shown(e));
        return tg_err_set(err, TG_ERR_STATE, "%s holds another run's files (%s) and no last.ckpt: "
                          "give another --out, or remove %s, which this command then trains",
                          cell, done, cell);
    }
    return tg_run_folder_fresh(c->dir, cfg, err);
}

/* The budget in steps, and the model, schedule and optimiser the recipe makes. */
static tg_status check_budget_and_model(const tg_run_config *cfg, tg_err *err) {
    if (cfg->max_steps <= 0)
        return tg_err_set(err, TG_ERR_ARG, "--max-steps is required and must be at least 1 (it "
                          "is %lld): the cells' budgets are matched in steps",
                          (long long)cfg->max_steps);
    if (cfg->max_epochs > 0)
        return tg_err_set(err, TG_ERR_ARG, "--max-epochs: the cells' budgets are matched in steps "
                          "(--max-steps)");
    tg_model_config m;
    tg_schedule sch;
    tg_adam_config ac;
    /* the vocabulary is not known yet: any size checks the rest of the model config */
    int vocab = cfg->task[0] ? cfg->task_vocab + TG_N_SPECIAL : 64;
    tg_status s = tg_run_model_config(cfg, vocab, &m, err);
    if (s == TG_OK) s = tg_run_schedule(cfg, &m, &sch, err);
    if (s == TG_OK) s = tg_run_adam_config(cfg, &ac, err);
    return s;
}

static tg_status check_cell(const tg_experiment *e, const tg_exp_cell *c, tg_err *err) {
    /* the cell's config and three scratch ones, 30 KiB: on the heap (the check goes on deep) */
    struct { tg_run_config cfg, scratch, off, judged; } *h = malloc(sizeof *h);
    if (!h) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    tg_run_config *cfg = &h->cfg;
    tg_err e2;
    tg_status s = tg_exp_cell_config(e, c, cfg, &e2);
    /* --vary beam=1,4 with one --alpha (a flag, a --config line): it is for the cells that search a
     * beam, and a cell of beam 1 leaves it out (cell_argv); so judged as in those (the beam judges
     * no other flag) */
    const tg_run_config *judge = cfg;
    if (s == TG_OK && cfg->beam == 1 && varies_beam(e)) {
        h->judged = *cfg;
        h->judged.beam = 2;
        judge = &h->judged;
        /* but an alpha that differs between cells: those of beam 1 leave it out, and would be the
         * same run under different names (each config.txt saying the default alpha) */
        if (!e->recorded && cell_given(e, c, "alpha"))
            s = tg_err_set(&e2, TG_ERR_ARG, "--alpha is varied and this cell decodes with --beam 1: greedy decoding "
                           "has no length penalty, so those cells would be the same run; vary alpha with beams of 2 "
                           "or more only");
    }
    if (s == TG_OK) s = check_pipes(e, cfg, &e2);
    if (s == TG_OK) s = tg_run_config_check(cfg, &e2);
    if (s == TG_OK) s = tg_run_config_check_limits(cfg, &e2);   /* as train checks a fresh run */
    if (s == TG_OK && !e->recorded) s = check_flags_given(e, c, judge, &e2);
    if (s == TG_OK && !e->recorded && e->config[0])
        s = check_config_file(e, c, judge, &h->scratch, &h->off, &e2);
    if (s == TG_OK) s = check_cell_folder(e, c, cfg, &e2);
    if (s == TG_OK) s = check_budget_and_model(cfg, &e2);
    free(h);
    if (s != TG_OK)   /* (a --config that cannot be read: a failure, as in train; the rest: usage) */
        return tg_err_set(err, s == TG_ERR_IO ? TG_ERR_IO : TG_ERR_ARG, "cell %s: %s",
                          TG_EXP_CELL_SHOWN(c->name), e2.msg);
    return TG_OK;
}

/* Whether train flags a and b set one setting in e: the same flag, or (e new: an earlier build
 * did not refuse it) --layers and --enc-layers or --dec-layers, which --layers sets too. *note:
 * "" or, for the latter, that. */
static bool clash(const tg_experiment *e, const char *a, const char *b, char *note, size_t len) {
    snprintf(note, len, "%s", "");
    if (!strcmp(a, b)) return true;
    const char *other = !strcmp(a, "layers") ? b : !strcmp(b, "layers") ? a : "";
    if (e->recorded || (strcmp(other, "enc-layers") && strcmp(other, "dec-layers"))) return false;
    snprintf(note, len, " (--layers sets --%s too)", other);
    return true;
}

/* The name of the first --variant whose bundle sets train flag key (clash), or NULL; *flag: the
 * bundle's flag. */
static const char *variant_setting(const tg_experiment *e, const char *key, const char **flag, char *note, size_t len) {
    for (int a = 0; a < e->n_axes; a++)
        for (int v = 0; e->axes[a].n_set && v < e->axes[a].n; v++)
            for (int k = 0; k < e->axes[a].n_set[v]; k++)
                if (clash(e, key, *flag = e->axes[a].bundle_name[v][k], note, len)) return e->axes[a].values[v];
    return NULL;
}

/* Two variants whose values differ but whose folder names are the same (name_part maps '/' and
 * others to '_', and truncates) would share their cells' folders: the second would find the
 * first's run done. Refused, naming the values. */
static tg_status distinct_names(const tg_experiment *e, tg_err *err) {
    int nv = tg_exp_variant_count(e);
    tg_exp_cell *c = malloc((size_t)nv * sizeof *c);
    if (!c) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    tg_status s = TG_OK;
    for (int i = 0; s == TG_OK && i < nv; i++) {
        tg_exp_cell_get(e, i, &c[i]);
        for (int j = 0; s == TG_OK && j < i; j++) {
            if (strcmp(c[i].variant, c[j].variant)) continue;
            int a = 0;
            while (c[i].value[a] == c[j].value[a]) a++;   /* the variants differ on some axis */
            const tg_exp_axis *ax = &e->axes[a];
            s = tg_err_set(err, TG_ERR_ARG,
                           "%s%s%s '%s' and '%s' give the same cell folder name '%s': use values "
                           "that differ in more than the characters a folder name replaces by '_'",
                           ax->n_set ? "--variant" : "--vary ", ax->n_set ? "s" : ax->key,
                           ax->n_set ? "" : ":", TG_SHOWN_IN(100, ax->values[c[j].value[a]]),
                           TG_SHOWN_IN(100, ax->values[c[i].value[a]]), c[i].variant);
        }
    }
    free(c);
    return s;
}

typedef struct { const tg_experiment *e; int axis; } variant_ctx;

/* Variant i's recipe (the other axes at their first value) as text; "=" i when it has none (the
 * error is check_cell's). */
static char *variant_form(const void *ctx, int i) {
    const variant_ctx *x = ctx;
    tg_exp_cell c;
    tg_run_config cfg;
    tg_err err;
    tg_exp_cell_get(x->e, 0, &c);
    c.value[x->axis] = i;
    bool ok = tg_exp_cell_config(x->e, &c, &cfg, &err) == TG_OK;
    int n = ok ? tg_run_config_format(&cfg, NULL, 0) : 16;
    char *f = malloc((size_t)n + 1);
    if (f && ok) tg_run_config_format(&cfg, f, (size_t)n + 1);
    else if (f) snprintf(f, (size_t)n + 1, "=%d", i);
    return f;
}

/* No two values of an axis are one setting, no two --variants one recipe (a:dropout=0 and
 * b:dropout=0.0; two without flags): their cells would train one recipe twice. */
static tg_status distinct_settings(const tg_experiment *e, tg_err *err) {
    for (int a = 0; a < e->n_axes; a++) {
        const tg_exp_axis *ax = &e->axes[a];
        if (!ax->n_set) {
            tg_status s = distinct_values(ax, err);
            if (s != TG_OK) return s;
            continue;
        }
        variant_ctx ctx = {e, a};
        int w = 0, v = first_repeat(ax->n, variant_form, &ctx, &w);
        if (v == -2) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
        if (v >= 0)
            return tg_err_set(err, TG_ERR_ARG, "--variant %s and --variant %s give the same recipe: their cells would "
                              "train it twice", TG_SHOWN(ax->values[w]), TG_SHOWN(ax->values[v]));
    }
    return TG_OK;
}

/* The flags of the base, the --vary axes and the variants: none set twice over, a true/false
 * axis only true or false. */
static tg_status validate_flags(const tg_experiment *e, tg_err *err) {
    char note[64];
    const char *flag;
    for (int i = 0; i < e->n_base; i++) {
        if (!strcmp(e->base_name[i], "seed"))
            return tg_err_set(err, TG_ERR_ARG, "--seed is set per cell: give --seeds N or --seed-list 1,2,3");
        for (int a = 0; a < e->n_axes; a++)
            if (!e->axes[a].n_set && clash(e, e->base_name[i], e->axes[a].key, note, sizeof note))
                return tg_err_set(err, TG_ERR_ARG, "--%s is both a base flag and a --vary axis%s%s%s", e->base_name[i],
                                  note[0] ? ", --vary " : "", note[0] ? e->axes[a].key : "", note);
    }
    for (int a = 0; a < e->n_axes; a++)   /* --vary layers=... --vary enc-layers=...: one overrides the other */
        for (int b = 0; b < a; b++)
            if (!e->axes[a].n_set && !e->axes[b].n_set && clash(e, e->axes[b].key, e->axes[a].key, note, sizeof note))
                return tg_err_set(err, TG_ERR_ARG, "--vary %s and --vary %s set one setting%s", e->axes[b].key,
                                  e->axes[a].key, note);
    /* a variant's flag may not also be a base flag or a --vary axis: the bundle would override
     * it, and cells reported as different would train the same recipe */
    for (int i = 0; i < e->n_base; i++) {
        const char *v = variant_setting(e, e->base_name[i], &flag, note, sizeof note);
        if (v)
            return tg_err_set(err, TG_ERR_ARG, "--%s is both a base flag and set by --variant %s%s%s%s",
                              e->base_name[i], TG_SHOWN(v), note[0] ? " as --" : "",
                              note[0] ? flag : "", note);
    }
    for (int a = 0; a < e->n_axes; a++) {
        const char *v = e->axes[a].n_set ? NULL : variant_setting(e, e->axes[a].key, &flag, note, sizeof note);
        if (v)
            return tg_err_set(err, TG_ERR_ARG, "--%s is both a --vary axis and set by --variant %s%s%s%s",
                              e->axes[a].key, TG_SHOWN(v), note[0] ? " as --" : "",
                              note[0] ? flag : "", note);
    }
    for (int a = 0; a < e->n_axes; a++)
        for (int v = 0; !e->axes[a].n_set && !takes_value(e->axes[a].key) && v < e->axes[a].n; v++)
            if (strcmp(e->axes[a].values[v], "true") && strcmp(e->axes[a].values[v], "false"))
                return tg_err_set(err, TG_ERR_ARG, "--vary %s: '%s' is not true or false",
                                  e->axes[a].key, TG_SHOWN(e->axes[a].values[v]));
    return TG_OK;
}

/* The cells' folders: the experiment's cells folder and each cell's a folder or absent (never a
 * link), each cell's name short enough and its folder not another cell's or run's. */
static tg_status validate_cells(const tg_experiment *e, tg_err *err) {
    struct stat sb;
    /* the cells' folder and each cell's are made by the experiment: one that is a link (planted,
     * or left) would have the cells trained in its target, so it is refused, as other run files
     * are, by lstat */
    char cells[sizeof e->dir + 8];
    snprintf(cells, sizeof cells, "%s/cells", e->dir);
    if (lstat(cells, &sb) == 0 && !S_ISDIR(sb.st_mode))
        return tg_err_set(err, TG_ERR_IO, "%s is not a folder (a link, or a file?): the experiment makes it for its "
                          "cells and trains nowhere else: move it away", TG_SHOWN(cells));
    for (int i = 0; i < tg_exp_cell_count(e); i++) {
        tg_exp_cell c;
        tg_exp_cell_get(e, i, &c);
        /* a cell's folder name over NAME_MAX cannot be made: the cells before it trained, then
         * this one failed ("File name too long"), and every report after it with it */
        /* the variant's first 80 bytes, cut before a character (not inside one, shown \xF0...) */
        size_t head = strlen(c.variant) > 80 ? 80 : strlen(c.variant);
        while (c.variant[head] && ((unsigned char)c.variant[head] & 0xC0) == 0x80) head--;
        if (strlen(c.name) > NAME_MAX)
            return tg_err_set(err, TG_ERR_ARG, "variant %.*s%s: its cells' folder name, %zu bytes "
                              "or more, is over the %d bytes a file name may have: give shorter "
                              "values (a file in another folder, or a link to it with a short "
                              "name)",
                              (int)head, c.variant, c.variant[head] ? "..." : "", strlen(c.name),
                              NAME_MAX);
        /* (first: a link to another cell's folder is named as that) */
        tg_status s = check_cell(e, &c, err);
        if (s != TG_OK) return s;
        if (lstat(c.dir, &sb) == 0 && !S_ISDIR(sb.st_mode))
            return tg_err_set(err, TG_ERR_IO, "%s is not a folder (a link, or a file?): it is not the cell's, and the "
                              "cell trains nowhere else: move it away", TG_SHOWN(c.dir));
    }
    return TG_OK;
}

tg_status tg_exp_validate(const tg_experiment *e, tg_err *err) {
    if (!e->dir[0]) return tg_err_set(err, TG_ERR_ARG, "no experiment folder: give --out DIR");
    if (tg_run_folder_usable(e->dir, err) != TG_OK) return TG_ERR_IO;   /* (not "cannot read DIR/cells/...") */
    if (!e->n_seeds) return tg_err_set(err, TG_ERR_ARG, "no seeds: give --seeds N or --seed-list 1,2,3");
    if (tg_exp_args_recordable(e, err) != TG_OK) return TG_ERR_ARG;   /* before the lock and any cell */
    struct stat sb;   /* the --config file is read for each cell, its check and the record */
    if (e->config[0] && (is_stdin(e->config) || (stat(e->config, &sb) == 0 && S_ISFIFO(sb.st_mode))))
        return tg_err_set(err, TG_ERR_ARG, "--config %s: standard input or a pipe, which can be read only once, and "
                          "the experiment reads it for each cell and for its record: give a file",
                          TG_SHOWN(e->config));
    tg_status s = validate_flags(e, err);
    /* (an earlier build let these be) */
    if (s == TG_OK && !e->recorded) s = distinct_settings(e, err);
    if (s == TG_OK) s = distinct_names(e, err);
    return s == TG_OK ? validate_cells(e, err) : s;
}

void tg_exp_note_config_per_cell(const tg_experiment *e, FILE *f) {
    tg_run_config c, d;
    tg_run_config_lines lines;
    tg_err err;
    tg_run_config_default(&c);
    tg_run_config_default(&d);
    if (!e->config[0] || tg_run_config_load_lines(&c, e->config, &lines, &err) != TG_OK) return;
    int at = tg_run_config_line_of(&lines, "seed");
    if (at && c.seed != d.seed)
        fprintf(f, "tapegrad experiment: note: %s:%d: seed = %llu is not used: each cell trains its own seed "
                "(--seeds, --seed-list)\n", TG_SHOWN(e->config), at, (unsigned long long)c.seed);
    at = tg_run_config_line_of(&lines, "out");
    if (at && strcmp(c.out, d.out))
        fprintf(f, "tapegrad experiment: note: %s:%d: out = %s is not used: each cell trains in %s/cells/<cell>\n",
                TG_SHOWN(e->config), at, TG_SHOWN(c.out), tg_exp_dir_shown(e));
}

tg_status tg_exp_check_inputs(const tg_experiment *e, tg_err *err) {
    for (int i = 0; i < tg_exp_cell_count(e); i++) {
        tg_exp_cell c;
        tg_exp_cell_get(e, i, &c);
        tg_run_config cfg;
        tg_exp_status st;
        tg_err e2;
        if (tg_exp_cell_config(e, &c, &cfg, &e2) != TG_OK) continue;   /* (tg_exp_validate's to refuse) */
        /* a cell whose last.ckpt is not the cell's is refused by the run, saying so */
        if (tg_exp_cell_status(e, &c, &st, &e2) == TG_OK && st.state == TG_EXP_DONE) continue;
        cell_input in[N_CELL_INPUTS];
        cell_inputs(&cfg, in);
        for (int k = 0; k < N_CELL_INPUTS; k++) {
            if (!in[k].path[0]) continue;
            /* A FIFO (a named pipe, <(...)) is not opened: its writer, let in by the open, would
             * lose what it wrote to the close (its next write a SIGPIPE), and the cell wait for
             * one that is gone. Whether it may be read is asked instead. */
            struct stat sb;
            int why = stat(in[k].path, &sb) != 0 ? errno : S_ISDIR(sb.st_mode) ? EISDIR : 0;
            if (!why && S_ISFIFO(sb.st_mode)) why = access(in[k].path, R_OK) != 0 ? errno : 0;
            else if (!why) {
                int fd = open(in[k].path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
                why = fd < 0 ? errno : 0;
                if (fd >= 0) close(fd);
            }
            if (why)
                return tg_err_set(err, TG_ERR_IO, "cell %s: --%s %s: cannot open: %s",
                                  TG_EXP_CELL_SHOWN(c.name), in[k].flag, TG_SHOWN(in[k].path),
                                  strerror(why));
        }
    }
    return TG_OK;
}

static bool budget_reached(const tg_run_config *c, const tg_run_state *st) {
    return (c->max_steps > 0 && st->step >= c->max_steps) ||
           (c->time_limit > 0 && st->train_seconds >= c->time_limit) ||
           (c->patience > 0 && st->bad_validations >= c->patience);
}

tg_status tg_exp_cell_status(const tg_experiment *e, const tg_exp_cell *c, tg_exp_status *out, tg_err *err) {
    memset(out, 0, sizeof *out);
    char path[sizeof c->dir + 16];
    snprintf(path, sizeof path, "%s/last.ckpt", c->dir);
    struct stat sb;
    if (stat(path, &sb) != 0) return TG_OK;   /* new */
    /* its config and checkpoint, 13 KiB, on the heap (a cell's train may run below this) */
    struct { tg_run_config cfg; tg_loaded L; } *h = malloc(sizeof *h);
    if (!h) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    tg_status s = tg_exp_cell_config(e, c, &h->cfg, err);
    if (s == TG_OK) s = tg_run_load_model(path, &h->L, err);
    if (s == TG_OK) {   /* (a load that failed freed its own) */
        s = tg_exp_trained_as(&h->cfg, &h->L.cfg, err);
        if (s == TG_OK) {
            out->step = h->L.st.step;
            out->train_seconds = h->L.st.train_seconds;
            /* a cell stopped inside its last validation is not done: its resume runs that validation */
            out->state = budget_reached(&h->cfg, &h->L.st) && !h->L.valid_pending ? TG_EXP_DONE : TG_EXP_PARTIAL;
        }
        tg_loaded_free(&h->L);
    }
    free(h);
    return s;
}
