/* cmd_translate.c: `tapegrad translate`: source lines in, translations out, same order, as they
 * are decoded (a window of batches at a time). */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
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
               "empty line gives an empty line. Speed goes to stderr. Lines are written as they are\n"
               "decoded, 16 batches at a time; Ctrl-C (SIGINT, SIGTERM, SIGHUP) stops between batches\n"
               "with the lines before it written and says where the rest starts, exit 128 + the signal.\n\n"
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
            const char *name = TG_SHOWN(tg_file_shown(input ? input : "-"));
            s = tg_err_set(err, s, "%s:%zu: %.400s", name, i + 1, line_err.msg);
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

/* Sources are decoded a window of WINDOW_BATCHES batches at a time (sorted by length within it, so
 * little of a batch is padding), and the window's lines printed in input order and flushed once it
 * is decoded: the output streams, and a stop signal (taken between batches) or a stdout that
 * failed loses at most the window in flight. */
#define WINDOW_BATCHES 16

static volatile sig_atomic_t g_stop;   /* the stop signal that came, or 0 */

static void on_stop(int sig) { g_stop = sig; }

/* Translates srcs and prints one line per input line (n), empty where which[] names no source;
 * *printed: how many lines were printed, in order. */
static tg_status translate_print(const tg_loaded *L, const translate_args *a, const tg_srcs *srcs,
                                 const int *which, size_t n, size_t *printed, tg_err *err) {
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = a->threads});
    int window = a->to.batch > INT_MAX / WINDOW_BATCHES ? INT_MAX : a->to.batch * WINDOW_BATCHES;
    if (window > srcs->n) window = srcs->n;
    char **out = calloc((size_t)window + 1, sizeof *out);   /* (window) source k0 + k's line at k */
    tg_status s = !ctx ? tg_err_set(err, TG_ERR_NOMEM, "cannot create the compute context")
                  : out ? TG_OK : tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    *printed = 0;
    for (int k0 = 0; s == TG_OK && *printed < n && !ferror(stdout);) {
        int k1 = srcs->n - k0 < window ? srcs->n : k0 + window;
        s = tg_translate_ids(L->model, ctx, L->bpe, (const int32_t *const *)srcs->ids + k0, srcs->len + k0,
                             k1 - k0, &a->to, out, err);
        size_t end = k1 < srcs->n ? (size_t)which[k1] : n;   /* the lines before the next window's first */
        for (int k = k0; s == TG_OK && *printed < end; (*printed)++) {
            bool hyp = k < k1 && (size_t)which[k] == *printed;   /* else an empty line */
            puts(hyp ? out[k - k0] : "");
            if (hyp) {
                free(out[k - k0]);
                out[k++ - k0] = NULL;
            }
        }
        tg_cli_flush();
        k0 = k1;
    }
    for (int k = 0; out && k < window; k++) free(out[k]);   /* a window cut short */
    free(out);
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
    /* a stop signal from here ends the decoding between batches, the lines decoded before it
     * printed; one ignored from the start (nohup's SIGHUP, a background job's SIGINT) stays
     * ignored; a write to a stalled stdout is restarted (SA_RESTART): interrupted, stdio dropped
     * the buffer it held and the output lost a piece from the middle of a line (a second signal
     * kills) */
    static const int stops[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa = {.sa_handler = on_stop, .sa_flags = SA_RESETHAND | SA_RESTART}, old[3];
    sigemptyset(&sa.sa_mask);
    g_stop = 0;
    a.to.stop = &g_stop;
    for (int i = 0; i < 3; i++) {
        sigaction(stops[i], NULL, &old[i]);
        if (old[i].sa_handler != SIG_IGN) sigaction(stops[i], &sa, NULL);
    }
    size_t printed = 0;
    if (s == TG_OK) s = translate_print(&L, &a, &srcs, which, lines.n, &printed, &err);
    for (int i = 0; i < 3; i++) sigaction(stops[i], &old[i], NULL);
    rc = s == TG_OK ? tg_cli_output_done("tapegrad translate", 0) : 1;   /* no speed line for lost output */
    if (s != TG_OK && g_stop) {
        rc = tg_cli_output_done("tapegrad translate", 128 + g_stop);
        fprintf(stderr, "tapegrad translate: stopped by signal %d: the first %zu of %zu lines are written, in "
                "order; the rest was not translated (it starts at line %zu of the input)\n", (int)g_stop, printed,
                lines.n, printed + 1);
    } else if (rc == 0) {
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
