/* cmd_translate.c: `tapegrad translate`: source lines in, translations out, same order. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/cli/commands.h"
#include "train/cli/read_lines.h"
#include "train/run/run.h"
#include "train/run/text_out.h"

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
               "                   output at most A * source length + B tokens, and at least 1\n"
               "                   [1.2, 10]\n"
               "  --threads N      kernel threads (default: TAPEGRAD_THREADS or the cores)\n"
               "  -h, --help       this text\n");
}

/* Lines named one by one when cut to the model's length; the rest are only counted. */
#define MAX_CUT_WARNINGS 10

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The flags of one call. */
typedef struct translate_args {
    const char *model, *input;    /* input NULL: stdin */
    tg_translate_opts to;
    int threads;
} translate_args;

/* argv into a: -1 to go on, else the exit code (0 after --help, 2 for a usage error). */
static int parse_args(int argc, char **argv, translate_args *a) {
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"beam", required_argument, NULL, 'k'},
        {"alpha", required_argument, NULL, 'a'}, {"batch", required_argument, NULL, 'b'},
        {"input", required_argument, NULL, 'i'}, {"max-len-a", required_argument, NULL, 'A'},
        {"max-len-b", required_argument, NULL, 'B'}, {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    *a = (translate_args){.to = {.decode = tg_decode_defaults(), .batch = 64}};
    tg_decode_opts *d = &a->to.decode;
    int c;
    bool alpha = false;   /* given: refused with --beam 1 (tg_run_alpha_check) */
    optind = 0;
    while ((c = tg_arg_getopt("translate", argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'i': a->input = optarg; break;
        case 'k': if (!tg_arg_int("translate", "--beam", optarg, 1, 1000, &d->beam)) return 2; break;
        case 'a': if (!tg_arg_real("translate", "--alpha", optarg, 0, 10, &d->alpha)) return 2; alpha = true; break;
        case 'b': if (!tg_arg_int("translate", "--batch", optarg, 1, 100000, &a->to.batch)) return 2; break;
        case 'A': if (!tg_arg_real("translate", "--max-len-a", optarg, 0, 100, &d->max_len_a)) return 2; break;
        case 'B': if (!tg_arg_int("translate", "--max-len-b", optarg, 0, 10000, &d->max_len_b)) return 2; break;
        case 't': if (!tg_arg_int("translate", "--threads", optarg, 1, 64, &a->threads)) return 2; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        char shown[1024];
        fprintf(stderr, "tapegrad translate: unexpected argument '%s'\n", tg_shown(shown, sizeof shown, argv[optind]));
        return 2;
    }
    if (!a->model) { fprintf(stderr, "tapegrad translate: --model CKPT is required\n"); usage(stderr); return 2; }
    if (!*a->model) { fprintf(stderr, "tapegrad translate: --model '' is an empty path: give a checkpoint file\n"); return 2; }
    tg_err err;
    if (tg_run_alpha_check(d->beam, alpha, &err) != TG_OK) {
        fprintf(stderr, "tapegrad translate: %s\n", err.msg);
        return 2;
    }
    return -1;
}

/* The non-empty lines as sources, each cut to max_pieces (+ eos); which[k] is source k's line.
 * Cut lines are warned about on stderr, the first MAX_CUT_WARNINGS by name. */
static tg_status encode_lines(tg_bpe *bpe, int vocab, const tg_lines *lines, const char *input, int max_pieces,
                              tg_srcs *srcs, int *which, int64_t *in_tokens, tg_err *err) {
    tg_ids ids = {0};
    tg_status s = TG_OK;
    int cut = 0;
    for (size_t i = 0; s == TG_OK && i < lines->n; i++) {
        s = tg_run_encode(bpe, vocab, lines->line[i], &ids, err);
        if (s != TG_OK) {
            tg_err line_err = *err;
            s = tg_err_set(err, s, "%.300s:%zu: %.400s", tg_file_shown(input ? input : "-"), i + 1, line_err.msg);
            break;
        }
        if (ids.n == 0) continue;   /* empty (or blank) line: empty output */
        int k = (int)ids.n < max_pieces ? (int)ids.n : max_pieces;
        char shown[1024];
        if ((int)ids.n > max_pieces && cut++ < MAX_CUT_WARNINGS)
            fprintf(stderr, "tapegrad translate: warning: %s:%zu has %zu pieces, cut to the model's %d\n",
                    tg_shown(shown, sizeof shown, tg_file_shown(input ? input : "-")), i + 1, ids.n, max_pieces);
        if ((s = tg_srcs_add(srcs, ids.v, k, err)) != TG_OK) break;
        *in_tokens += k + 1;
        which[srcs->n - 1] = (int)i;
    }
    if (cut) fprintf(stderr, "tapegrad translate: %d line%s longer than %d pieces cut to fit the model\n", cut,
                     cut == 1 ? "" : "s", max_pieces);
    tg_ids_free(&ids);
    return s;
}

/* Translates srcs and prints one line per input line (n), empty where which[] names no source. */
static tg_status translate_print(const tg_loaded *L, const translate_args *a, const tg_srcs *srcs,
                                 const int *which, size_t n, tg_err *err) {
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = a->threads});
    char **out = calloc((size_t)srcs->n + 1, sizeof *out);
    char **hyps = calloc(n + 1, sizeof *hyps);   /* (n) out[k] at its line, NULL for empty lines */
    tg_status s = !ctx ? tg_err_set(err, TG_ERR_NOMEM, "cannot create the compute context")
                  : out && hyps ? TG_OK : tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    if (s == TG_OK) s = tg_translate_srcs(L->model, ctx, L->bpe, srcs, &a->to, out, err);
    if (s == TG_OK) {
        for (int k = 0; k < srcs->n; k++) hyps[which[k]] = out[k];
        for (size_t i = 0; i < n; i++) puts(hyps[i] ? hyps[i] : "");
    }
    for (int k = 0; out && k < srcs->n; k++) free(out[k]);
    free(out);
    free(hyps);
    tg_ctx_free(ctx);
    return s;
}

int tg_cmd_translate(int argc, char **argv) {
    translate_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    tg_err err;
    tg_loaded L;
    if (tg_run_load_model(a.model, &L, &err) != TG_OK) {
        fprintf(stderr, "tapegrad translate: %s\n", err.msg);
        return 1;
    }
    tg_lines lines;
    if (tg_lines_read(&lines, a.input, &err) != TG_OK) {
        fprintf(stderr, "tapegrad translate: %s\n", err.msg);
        tg_loaded_free(&L);
        return 1;
    }
    double t0 = now_s();
    tg_srcs srcs = {0};
    int *which = calloc(lines.n + 1, sizeof *which);   /* (srcs.n) each source's line */
    int64_t in_tokens = 0;
    const int max_pieces = tg_model_cfg(L.model)->max_len - 1;   /* + eos fills the positions */
    tg_status s = which ? TG_OK : tg_err_set(&err, TG_ERR_NOMEM, "out of memory");
    if (s == TG_OK)
        s = encode_lines(L.bpe, tg_model_cfg(L.model)->vocab, &lines, a.input, max_pieces, &srcs, which, &in_tokens,
                         &err);
    if (s == TG_OK) s = translate_print(&L, &a, &srcs, which, lines.n, &err);
    rc = s == TG_OK ? tg_cli_output_done("tapegrad translate", 0) : 1;   /* no speed line for lost output */
    if (rc == 0) {
        double dt = now_s() - t0;
        fprintf(stderr, "tapegrad translate: %zu sentences (%lld source pieces) in %.2f s: %.1f sentences/s, "
                        "%s %d\n", lines.n, (long long)in_tokens, dt, dt > 0 ? (double)lines.n / dt : 0.0,
                a.to.decode.beam > 1 ? "beam" : "greedy", a.to.decode.beam);
    } else if (s != TG_OK) {
        fprintf(stderr, "tapegrad translate: %s\n", err.msg);
    }
    tg_srcs_free(&srcs);
    free(which);
    tg_lines_free(&lines);
    tg_loaded_free(&L);
    return rc;
}
