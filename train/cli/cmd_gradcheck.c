/* cmd_gradcheck.c: `tapegrad gradcheck --ops | --model [switches]`: every op's analytic gradient,
 * or the whole Transformer's (one line per parameter, then random projections), against finite
 * differences; a summary, exit 1 on any failure. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/gradcheck.h"
#include "nn/nn.h"
#include "train/cli/commands.h"
#include "train/run/text_out.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: tapegrad gradcheck --ops [--json] [--threads N]\n"
            "       tapegrad gradcheck --model [--norm post|pre] [--ffn-activation relu|gelu]\n"
            "                          [--attn-activation none|relu|gelu] [--attn-activation-at out|heads]\n"
            "                          [--attn-gate none|sigmoid] [--residual-activation none|relu]\n"
            "                          [--tie-embeddings on|off]\n"
            "                          [--sample N] [--projections N] [--seed N] [--json] [--threads N]\n\n"
            "Checks analytic gradients against central finite differences.\n\n"
            "  --ops         every op of the op table, on several shapes (sizes 1, 7, 33), with\n"
            "                masks and broadcasting where the op has them\n"
            "  --model       the whole Transformer: a tiny model (vocab 11, d_model 8, 2 heads,\n"
            "                d_ff 16, 2+2 layers, dropout 0, label smoothing 0.1) on a padded batch;\n"
            "                one line per parameter, then random projections over all parameters\n"
            "                (torch's fast mode); the switches (as in `tapegrad train --help`)\n"
            "                default to the paper's (post, relu, none, out, none, none, on)\n"
            "  --sample N    check N random elements of each parameter; 0 (the default) checks\n"
            "                every element, as does an N at or over a parameter's size\n"
            "  --projections N  random directions over all parameters (default 4)\n"
            "  --seed N      model initialisation, batch and samples (default 1)\n"
            "  --json        one JSON object instead of lines\n"
            "  --threads N   threads for the kernels (default: TAPEGRAD_THREADS or the cores;\n"
            "                --model: 1)\n"
            "  -h, --help    this text\n\n"
            "Tolerances (%s build): eps %g, atol %g, rtol %g; |analytic - numeric| <= atol + rtol |numeric|.\n"
            "--model in this build: eps %g. The double build (build-double/tapegrad) uses\n"
            "torch.autograd.gradcheck's defaults; in the float build ReLU's kinks can fail a few\n"
            "elements of --model, so check ReLU models in the double build.\n",
            TG_FLOAT_NAME, tg_gradcheck_defaults().eps, tg_gradcheck_defaults().atol,
            tg_gradcheck_defaults().rtol, tg_model_gradcheck_defaults().check.eps);
}

/* One check as a JSON object ("op"/"shapes" or "param"/"shape") or as a text line; the same for
 * --ops and --model. */
static void json_check(int i, const char *key, const char *name, const char *shape_key, const char *shape,
                       const tg_gradcheck_result *r) {
    printf("%s\n  {\"%s\": ", i ? "," : "", key);
    tg_json_str(stdout, name);
    printf(", \"%s\": ", shape_key);
    tg_json_str(stdout, shape);
    printf(", \"checked\": %lld, \"max_abs_err\": %.3e, \"max_rel_err\": %.3e, \"pass\": %s",
           (long long)r->checked, r->max_abs, r->max_rel, r->pass ? "true" : "false");
    if (!r->pass) { printf(", \"detail\": "); tg_json_str(stdout, r->worst); }
    printf("}");
}

static void text_check(int name_w, const char *name, int shape_w, const char *shape, const tg_gradcheck_result *r) {
    printf("%-*s %-*s %8lld %11.3e %11.3e  %s", name_w, name, shape_w, shape, (long long)r->checked, r->max_abs,
           r->max_rel, r->pass ? "PASS" : "FAIL");
    if (!r->pass) printf("  (%s)", r->worst);
    putchar('\n');
}

static void summary(bool json, int n, int failed, const tg_gradcheck_opts *o) {
    if (json) printf("\n], \"total\": %d, \"failed\": %d, \"pass\": %s}\n", n, failed, failed ? "false" : "true");
    else printf("%d checks, %d passed, %d failed (%s build: eps %g, atol %g, rtol %g)\n", n, n - failed, failed,
                TG_FLOAT_NAME, o->eps, o->atol, o->rtol);
}

static int run_ops(bool json, int threads) {
    enum { CAP = 256 };
    tg_opcheck_line *lines = calloc(CAP, sizeof *lines);
    if (!lines) { fprintf(stderr, "tapegrad gradcheck: out of memory\n"); return 1; }
    int failed = 0;
    int n = tg_opcheck_all(threads, lines, CAP, &failed);
    if (n > CAP) n = CAP;
    tg_gradcheck_opts o = tg_gradcheck_defaults();
    if (json) {
        printf("{\"precision\": \"%s\", \"eps\": %g, \"atol\": %g, \"rtol\": %g, \"checks\": [",
               TG_FLOAT_NAME, o.eps, o.atol, o.rtol);
        for (int i = 0; i < n; i++) json_check(i, "op", lines[i].name, "shapes", lines[i].shapes, &lines[i].r);
    } else {
        printf("%-28s %-30s %8s %11s %11s  %s\n", "op", "shapes", "checked", "max_abs", "max_rel", "result");
        for (int i = 0; i < n; i++) text_check(28, lines[i].name, 30, lines[i].shapes, &lines[i].r);
    }
    summary(json, n, failed, &o);
    free(lines);
    return failed ? 1 : 0;
}

static int run_model(const tg_model_config *cfg, const tg_model_gradcheck_opts *o, bool json) {
    enum { CAP = 512 };
    tg_model_gradcheck_line *lines = calloc(CAP, sizeof *lines);
    if (!lines) { fprintf(stderr, "tapegrad gradcheck: out of memory\n"); return 1; }
    int failed = 0;
    tg_err err;
    int n = tg_model_gradcheck(cfg, o, lines, CAP, &failed, &err);
    if (n < 0) {
        fprintf(stderr, "tapegrad gradcheck: %s\n", err.msg);
        free(lines);
        return 1;
    }
    if (n > CAP) n = CAP;
    char model[512];
    tg_model_config_str(cfg, model, sizeof model);
    if (json) {
        printf("{\"precision\": \"%s\", \"eps\": %g, \"atol\": %g, \"rtol\": %g, \"model\": ",
               TG_FLOAT_NAME, o->check.eps, o->check.atol, o->check.rtol);
        tg_json_str(stdout, model);
        printf(", \"checks\": [");
        for (int i = 0; i < n; i++) json_check(i, "param", lines[i].name, "shape", lines[i].shape, &lines[i].r);
    } else {
        printf("model: %s\n", model);
        printf("%-40s %-18s %8s %11s %11s  %s\n", "parameter", "shape", "checked", "max_abs", "max_rel",
               "result");
        for (int i = 0; i < n; i++) text_check(40, lines[i].name, 18, lines[i].shape, &lines[i].r);
    }
    summary(json, n, failed, &o->check);
    free(lines);
    return failed ? 1 : 0;
}

static bool parse_count(const char *flag, const char *s, long lo, long hi, long *out) {
    if (tg_arg_long(s, lo, hi, out)) return true;
    fprintf(stderr, "tapegrad gradcheck: %s wants %ld..%ld, not '%s'\n", flag, lo, hi, tg_arg_shown(s));
    return false;
}

/* What the command line asked for. */
typedef struct {
    bool ops, model, json;
    bool model_flags;                   /* a switch that goes with --model alone was given */
    int threads;                        /* 0: the default */
    tg_model_config cfg;
    tg_model_gradcheck_opts mo;
} gc_args;

/* The model switch of option c into a->cfg. 0, or the exit code 2 after the message. */
static int take_switch(int c, const char *value, gc_args *a) {
    const char *key = c == 'N' ? "norm" : c == 'F' ? "ffn_activation"
                    : c == 'A' ? "attn_activation" : c == 'a' ? "attn_activation_at"
                    : c == 'G' ? "attn_gate" : c == 'R' ? "residual_activation"
                    : "tie_embeddings";
    tg_err err;
    if (tg_model_config_set(&a->cfg, key, value, &err) != TG_OK) {
        fprintf(stderr, "tapegrad gradcheck: %s\n", err.msg);
        return 2;
    }
    return 0;
}

/* One option c into a. -1 to go on, else the command's exit code (--help: 0). */
static int take_option(int c, const char *value, gc_args *a) {
    long n;
    switch (c) {
    case 'o': a->ops = true; return -1;
    case 'm': a->model = true; return -1;
    case 'j': a->json = true; return -1;
    case 't': return tg_arg_int("gradcheck", "--threads", value, 1, 64, &a->threads) ? -1 : 2;
    case 'h': usage(stdout); return 0;
    case 'N': case 'F': case 'A': case 'a': case 'G': case 'R': case 'E':
        if (take_switch(c, value, a)) return 2;
        break;
    case 'S':
        if (!parse_count("--sample", value, 0, 1L << 30, &n)) return 2;
        a->mo.check.max_elems = n;
        break;
    case 'P':
        if (!parse_count("--projections", value, 0, 1000, &n)) return 2;
        a->mo.projections = (int)n;
        break;
    case 's':
        if (!parse_count("--seed", value, 0, 1L << 30, &n)) return 2;
        a->mo.seed = (uint64_t)n;
        break;
    default: usage(stderr); return 2;
    }
    a->model_flags = true;              /* the cases that break: --model's switches */
    return -1;
}

/* The whole command line into a. -1 to go on, else the command's exit code. */
static int parse_args(int argc, char **argv, gc_args *a) {
    static const struct option opts[] = {
        {"ops", no_argument, NULL, 'o'},
        {"model", no_argument, NULL, 'm'},
        {"norm", required_argument, NULL, 'N'},
        {"ffn-activation", required_argument, NULL, 'F'},
        {"attn-activation", required_argument, NULL, 'A'},
        {"attn-activation-at", required_argument, NULL, 'a'},
        {"attn-gate", required_argument, NULL, 'G'},
        {"residual-activation", required_argument, NULL, 'R'},
        {"tie-embeddings", required_argument, NULL, 'E'},
        {"sample", required_argument, NULL, 'S'},
        {"projections", required_argument, NULL, 'P'},
        {"seed", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    optind = 1;
    while ((c = tg_arg_getopt("gradcheck", argc, argv, "h", opts, NULL)) != -1)
        if ((rc = take_option(c, optarg, a)) >= 0) return rc;
    if (optind < argc) {
        fprintf(stderr, "tapegrad gradcheck: unexpected argument '%s'\n", tg_arg_shown(argv[optind]));
        usage(stderr);
        return 2;
    }
    if (a->ops == a->model) {
        fprintf(stderr, "tapegrad gradcheck: say what to check (--ops or --model)\n");
        usage(stderr);
        return 2;
    }
    if (a->model_flags && !a->model) {
        fprintf(stderr, "tapegrad gradcheck: the model switches and --sample, --projections, "
                        "--seed go with --model\n");
        return 2;
    }
    return -1;
}

int tg_cmd_gradcheck(int argc, char **argv) {
    gc_args a = {.cfg = tg_model_gradcheck_config(), .mo = tg_model_gradcheck_defaults()};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    if (!a.model) return run_ops(a.json, a.threads);
    tg_err err;
    if (tg_model_config_validate(&a.cfg, &err) != TG_OK) {
        fprintf(stderr, "tapegrad gradcheck: %s\n", err.msg);
        return 2;
    }
    a.mo.threads = a.threads > 0 ? a.threads : 1;
    return run_model(&a.cfg, &a.mo, a.json);
}
