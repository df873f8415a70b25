/* cmd_translate.c: `tapegrad translate`: source lines in, translations out, same order. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/cli/commands.h"
#include "train/cli/read_lines.h"
#include "train/run/run.h"

static void usage(FILE *f) {
    fprintf(f, "usage: tapegrad translate --model CKPT [--beam K] [--alpha A] [--batch N] [--input FILE]\n"
               "                          [--max-len-a A] [--max-len-b B] [--threads N]\n\n"
               "Translates one sentence a line from stdin (or --input) to stdout, in the same order; an\n"
               "empty line gives an empty line. Speed goes to stderr.\n\n"
               "  --model CKPT     a checkpoint (best.ckpt, last.ckpt or an averaged one)\n"
               "  --beam K         beam size; 1 is greedy [4]\n"
               "  --alpha A        GNMT length penalty ((5 + len) / 6)^A [0.6]\n"
               "  --batch N        sentences decoded together [64]\n"
               "  --input FILE     read FILE instead of stdin\n"
               "  --max-len-a A, --max-len-b B\n"
               "                   output at most A * source length + B tokens [1.2, 10]\n"
               "  --threads N      kernel threads (default: TAPEGRAD_THREADS or the cores)\n"
               "  -h, --help       this text\n");
}

static bool parse_num(const char *flag, const char *s, double lo, double hi, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "tapegrad translate: %s wants a number in [%g, %g], not '%s'\n", flag, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

/* Lines named one by one when cut to the model's length; the rest are only counted. */
#define MAX_CUT_WARNINGS 10

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int tg_cmd_translate(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"beam", required_argument, NULL, 'k'},
        {"alpha", required_argument, NULL, 'a'}, {"batch", required_argument, NULL, 'b'},
        {"input", required_argument, NULL, 'i'}, {"max-len-a", required_argument, NULL, 'A'},
        {"max-len-b", required_argument, NULL, 'B'}, {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *model = NULL, *input = NULL;
    tg_translate_opts to = {.decode = tg_decode_defaults(), .batch = 64};
    double v;
    int threads = 0, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'i': input = optarg; break;
        case 'k': if (!parse_num("--beam", optarg, 1, 1000, &v)) return 2; to.decode.beam = (int)v; break;
        case 'a': if (!parse_num("--alpha", optarg, 0, 10, &v)) return 2; to.decode.alpha = v; break;
        case 'b': if (!parse_num("--batch", optarg, 1, 100000, &v)) return 2; to.batch = (int)v; break;
        case 'A': if (!parse_num("--max-len-a", optarg, 0, 100, &v)) return 2; to.decode.max_len_a = v; break;
        case 'B': if (!parse_num("--max-len-b", optarg, 0, 10000, &v)) return 2; to.decode.max_len_b = (int)v; break;
        case 't': if (!parse_num("--threads", optarg, 1, 64, &v)) return 2; threads = (int)v; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) { fprintf(stderr, "tapegrad translate: unexpected argument '%s'\n", argv[optind]); return 2; }
    if (!model) { fprintf(stderr, "tapegrad translate: --model CKPT is required\n"); usage(stderr); return 2; }
    tg_err err;
    tg_loaded L;
    if (tg_run_load_model(model, &L, &err) != TG_OK) {
        fprintf(stderr, "tapegrad translate: %s\n", err.msg);
        return 1;
    }
    tg_lines lines;
    if (tg_lines_read(&lines, input, &err) != TG_OK) {
        fprintf(stderr, "tapegrad translate: %s\n", err.msg);
        tg_loaded_free(&L);
        return 1;
    }
    double t0 = now_s();
    size_t n = lines.n;
    int32_t **src = calloc(n + 1, sizeof *src);
    int *len = calloc(n + 1, sizeof *len);
    int *which = calloc(n + 1, sizeof *which);   /* non-empty lines, in order */
    char **hyps = calloc(n + 1, sizeof *hyps);
    tg_ids ids = {0};
    tg_status s = src && len && which && hyps ? TG_OK : tg_err_set(&err, TG_ERR_NOMEM, "out of memory");
    int m = 0, cut = 0;
    int64_t in_tokens = 0;
    const int max_pieces = tg_model_cfg(L.model)->max_len - 1;   /* + eos fills the positions */
    for (size_t i = 0; s == TG_OK && i < n; i++) {
        s = tg_run_encode(L.bpe, lines.line[i], &ids, &err);
        if (s != TG_OK) {
            tg_err line_err = err;
            snprintf(err.msg, sizeof err.msg, "line %zu: %.400s", i + 1, line_err.msg);
            break;
        }
        if (ids.n == 0) continue;   /* empty (or blank) line: empty output */
        int k = (int)ids.n < max_pieces ? (int)ids.n : max_pieces;
        if ((int)ids.n > max_pieces && cut++ < MAX_CUT_WARNINGS)
            fprintf(stderr, "tapegrad translate: warning: %s:%zu has %zu pieces, cut to the model's %d\n",
                    input ? input : "stdin", i + 1, ids.n, max_pieces);
        src[m] = malloc((size_t)(k + 1) * sizeof **src);
        if (!src[m]) { s = tg_err_set(&err, TG_ERR_NOMEM, "out of memory"); break; }
        memcpy(src[m], ids.v, (size_t)k * sizeof **src);
        src[m][k] = TG_EOS_ID;
        len[m] = k + 1;
        in_tokens += k + 1;
        which[m++] = (int)i;
    }
    if (cut) fprintf(stderr, "tapegrad translate: %d line%s longer than %d pieces cut to fit the model\n", cut,
                     cut == 1 ? "" : "s", max_pieces);
    tg_ctx *ctx = s == TG_OK ? tg_ctx_new(&(tg_ctx_opts){.threads = threads}) : NULL;
    if (s == TG_OK && !ctx) s = tg_err_set(&err, TG_ERR_NOMEM, "cannot create the compute context");
    char **out = calloc((size_t)m + 1, sizeof *out);
    if (s == TG_OK && !out) s = tg_err_set(&err, TG_ERR_NOMEM, "out of memory");
    if (s == TG_OK) s = tg_translate_ids(L.model, ctx, L.bpe, (const int32_t *const *)src, len, m, &to, out, &err);
    int rc = s == TG_OK ? 0 : 1;
    if (s == TG_OK) {
        for (int k = 0; k < m; k++) hyps[which[k]] = out[k];
        for (size_t i = 0; i < n; i++) puts(hyps[i] ? hyps[i] : "");
        rc = tg_cli_output_done("tapegrad translate", 0);   /* no speed line for lost output */
    }
    if (rc == 0) {
        double dt = now_s() - t0;
        fprintf(stderr, "tapegrad translate: %zu sentences (%lld source pieces) in %.2f s: %.1f sentences/s, "
                        "%s %d\n", n, (long long)in_tokens, dt, dt > 0 ? (double)n / dt : 0.0,
                to.decode.beam > 1 ? "beam" : "greedy", to.decode.beam);
    } else if (s != TG_OK) {
        fprintf(stderr, "tapegrad translate: %s\n", err.msg);
        for (int k = 0; out && k < m; k++) free(out[k]);
    }
    for (size_t i = 0; i < n; i++) { if (hyps) free(hyps[i]); }
    for (int k = 0; k < m; k++) free(src[k]);
    free(out);
    free(src);
    free(len);
    free(which);
    free(hyps);
    tg_ids_free(&ids);
    tg_ctx_free(ctx);
    tg_lines_free(&lines);
    tg_loaded_free(&L);
    return rc;
}
