/* cmd_eval.c: `tapegrad eval`: loss, perplexity, BLEU and chrF of a checkpoint on a TSV set. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/cli/commands.h"
#include "train/cli/read_lines.h"
#include "train/metrics/metrics.h"
#include "train/run/progress.h"
#include "train/run/run.h"
#include "train/run/text_out.h"

static void usage(FILE *f) {
    fprintf(f, "usage: tapegrad eval --model CKPT --data FILE.tsv [--beam K] [--alpha A] [--batch N]\n"
               "                     [--max-tokens N] [--temperature T] [--threads N] [--json]\n\n"
               "Scores a checkpoint on pairs `source<TAB>target`: label-smoothed loss and NLL per target\n"
               "token, perplexity exp(NLL), and BLEU / chrF2 (sacreBLEU-compatible, 13a) of its\n"
               "translations against the targets. Also, with the reference as decoder input (teacher\n"
               "forcing), over the target tokens: the accuracy (how often the most probable next token is\n"
               "the target) and the top-5 accuracy, the NLL of the targets that are the most probable\n"
               "token and of the others, the mean entropy of the next-token distribution (nats) and the\n"
               "mean confidence (the most probable token's probability).\n\n"
               "  --model CKPT      checkpoint\n"
               "  --data FILE.tsv   pairs to score\n"
               "  --beam K          beam size for the translations; 1 is greedy [4]\n"
               "  --alpha A         GNMT length penalty [0.6]\n"
               "  --batch N         sentences decoded together [64]\n"
               "  --max-tokens N    token budget of a loss batch [4000]\n"
               "  --temperature T   those statistics for softmax(logits / T), T in [1e-6, 1e6], with their\n"
               "                    NLL: the T of least NLL calibrates the model (the loss, NLL and\n"
               "                    translations above stay the model's own) [1]\n"
               "  --threads N       kernel threads (default: TAPEGRAD_THREADS or the cores)\n"
               "  --json            one JSON object on stdout\n"
               "  -h, --help        this text\n");
}

/* The range of --temperature: logits / T must stay finite. */
#define TEMPERATURE_MIN 1e-6
#define TEMPERATURE_MAX 1e6

/* The flags of one call. */
typedef struct eval_args {
    const char *model, *data;
    tg_eval_opts eo;
    bool json;
} eval_args;

/* argv into a: -1 to go on, else the exit code (0 after --help, 2 for a usage error). */
static int parse_args(int argc, char **argv, eval_args *a) {
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"data", required_argument, NULL, 'd'},
        {"beam", required_argument, NULL, 'k'}, {"alpha", required_argument, NULL, 'a'},
        {"batch", required_argument, NULL, 'b'}, {"max-tokens", required_argument, NULL, 'x'},
        {"threads", required_argument, NULL, 't'}, {"temperature", required_argument, NULL, 'T'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    *a = (eval_args){.eo = {.translate = {.decode = tg_decode_defaults(), .batch = 64}, .max_tokens = 4000, .token_stats = true, .temperature = 1}};
    tg_translate_opts *to = &a->eo.translate;
    int c;
    bool alpha = false;   /* given: refused with --beam 1 (tg_run_alpha_check) */
    optind = 0;
    while ((c = tg_arg_getopt("eval", argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'd': a->data = optarg; break;
        /* the ranges translate and train take */
        case 'k': if (!tg_arg_int("eval", "--beam", optarg, 1, 1000, &to->decode.beam)) return 2; break;
        case 'a': if (!tg_arg_real("eval", "--alpha", optarg, 0, 10, &to->decode.alpha)) return 2; alpha = true; break;
        case 'b': if (!tg_arg_int("eval", "--batch", optarg, 1, 100000, &to->batch)) return 2; break;
        case 'x': if (!tg_arg_int("eval", "--max-tokens", optarg, 1, 1000000000, &a->eo.max_tokens)) return 2; break;
        case 't': if (!tg_arg_int("eval", "--threads", optarg, 1, 64, &a->eo.threads)) return 2; break;
        case 'T':   /* below 1e-6 logits / T overflow to NaN statistics; above 1e6 all is uniform */
            if (!tg_arg_real("eval", "--temperature", optarg, TEMPERATURE_MIN, TEMPERATURE_MAX, &a->eo.temperature))
                return 2;
            break;
        case 'j': a->json = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        char shown[1024];
        fprintf(stderr, "tapegrad eval: unexpected argument '%s'\n", tg_shown(shown, sizeof shown, argv[optind]));
        return 2;
    }
    if (!a->model || !a->data) { fprintf(stderr, "tapegrad eval: --model and --data are required\n"); usage(stderr); return 2; }
    if (!*a->model) { fprintf(stderr, "tapegrad eval: --model '' is an empty path: give a checkpoint file\n"); return 2; }
    tg_err err;
    if (tg_run_alpha_check(to->decode.beam, alpha, &err) != TG_OK) {
        fprintf(stderr, "tapegrad eval: %s\n", err.msg);
        return 2;
    }
    return -1;
}

/* sum / n, NaN for no tokens (null in JSON) */

static void print_json(const eval_args *a, const tg_eval_result *r) {
    const tg_decode_opts *d = &a->eo.translate.decode;
    printf("{\"model\": ");
    tg_json_str(stdout, a->model);
    printf(", \"data\": ");
    tg_json_str(stdout, a->data);
    printf(", \"pairs\": %zu, \"skipped_too_long\": %zu, \"target_tokens\": %lld, \"loss\": ",
           r->n, r->too_long, (long long)r->tokens);
    tg_json_num(stdout, 6, r->loss);   /* null if the model's loss is not finite */
    printf(", \"nll\": ");
    tg_json_num(stdout, 6, r->nll);
    printf(", \"ppl\": ");
    tg_json_num(stdout, 4, exp(r->nll));
    tg_token_means tm = tg_token_stats_means(&r->stats);
    printf(", \"temperature\": %g, \"stats_nll\": ", a->eo.temperature);   /* the statistics' NLL at it */
    tg_json_num(stdout, 6, tm.nll);
    printf(", \"token_accuracy\": ");
    tg_json_num(stdout, 6, tm.accuracy);
    printf(", \"top5_accuracy\": ");
    tg_json_num(stdout, 6, tm.top5);
    printf(", \"nll_right\": ");   /* the NLL per token of the targets that are the argmax, */
    tg_json_num(stdout, 6, tm.nll_right);
    printf(", \"nll_wrong\": ");   /* and of those that are not */
    tg_json_num(stdout, 6, tm.nll_wrong);
    printf(", \"entropy\": ");
    tg_json_num(stdout, 6, tm.entropy);
    printf(", \"confidence\": ");
    tg_json_num(stdout, 6, tm.confidence);
    printf(", \"decoding\": {\"beam\": %d, \"alpha\": %g}, "
           "\"bleu\": {\"score\": %.6f, \"bp\": %.6f, \"sys_len\": %lld, \"ref_len\": %lld, \"signature\": ",
           d->beam, d->alpha, r->bleu.score, r->bleu.bp, (long long)r->bleu.sys_len, (long long)r->bleu.ref_len);
    tg_json_str(stdout, r->bleu.signature);
    printf("}, \"chrf\": {\"score\": %.6f, \"signature\": ", r->chrf.score);
    tg_json_str(stdout, r->chrf.signature);
    printf("}}\n");
}

/* A mean over no tokens (no target is the most probable token, or each is), or a diverged model's:
 * NaN, shown n/a, as --json's null */
static tg_num_text mean_text(double x, int decimals) {
    if (!isnan(x)) return tg_format_num(x, decimals);
    tg_num_text t = {"n/a"};
    return t;
}

/* Past 1e9 the losses print in exponent form (a tiny --temperature, a diverged model): no
 * 300-digit numbers (tg_format_num). */
static void print_text(const eval_args *a, const tg_eval_result *r) {
    int beam = a->eo.translate.decode.beam;
    printf("pairs       %zu (%zu too long, skipped)\n", r->n, r->too_long);
    printf("loss        %s (label-smoothed, per target token)\n", tg_format_num(r->loss, 4).s);
    printf("nll         %s\nppl         %s\n", tg_format_num(r->nll, 4).s, tg_format_num(exp(r->nll), 2).s);
    tg_token_means tm = tg_token_stats_means(&r->stats);
    if (a->eo.temperature != 1)
        printf("at T = %g   (the statistics below are of softmax(logits / %g))\nnll at T    %s\n", a->eo.temperature,
               a->eo.temperature, tg_format_num(tm.nll, 4).s);
    printf("accuracy    %.2f%%  (teacher-forced: the most probable next token is the target)\n", 100.0 * tm.accuracy);
    printf("top-5       %.2f%%  (the target among the 5 most probable)\n", 100.0 * tm.top5);
    printf("nll right   %s  (of the targets that are the most probable token; %s of the others)\n",
           mean_text(tm.nll_right, 4).s, mean_text(tm.nll_wrong, 4).s);
    printf("entropy     %.4f  (nats, of the next-token distribution, mean over target tokens)\n", tm.entropy);
    printf("confidence  %.4f  (the most probable token's probability, mean)\n", tm.confidence);
    printf("BLEU        %.2f  (%s, %s %d)\n", r->bleu.score, r->bleu.signature, beam > 1 ? "beam" : "greedy", beam);
    printf("chrF2       %.2f  (%s)\n", r->chrf.score, r->chrf.signature);
}

/* The pairs left out for their length, on stderr as translate names the lines it cuts and train
 * counts its too-long dev pairs: the first TG_EVAL_NAMED_TOO_LONG by file and line, then how many
 * (stdout's "too long, skipped" count names no line). */
static void warn_too_long(const eval_args *a, const size_t *line, const tg_eval_result *r) {
    char shown[1024];
    tg_shown(shown, sizeof shown, tg_file_shown(a->data));
    for (size_t k = 0; k < r->too_long && k < TG_EVAL_NAMED_TOO_LONG; k++) {
        const tg_eval_too_long *t = &r->first_too_long[k];
        fprintf(stderr, "tapegrad eval: warning: %s:%zu has %zu source and %zu target pieces, over the model's %d: "
                "skipped\n", shown, line[t->at], t->src, t->tgt, r->max_pieces);
    }
    char named[64] = "";
    if (r->too_long > TG_EVAL_NAMED_TOO_LONG) snprintf(named, sizeof named, " (the first %d named above)", TG_EVAL_NAMED_TOO_LONG);
    if (r->too_long)
        fprintf(stderr, "tapegrad eval: %zu pair%s of %s longer than %d pieces left out of the scores%s\n", r->too_long,
                r->too_long == 1 ? "" : "s", shown, r->max_pieces, named);
}

int tg_cmd_eval(int argc, char **argv) {
    eval_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    tg_err err;
    tg_loaded L;
    if (tg_run_load_model(a.model, &L, &err) != TG_OK) { fprintf(stderr, "tapegrad eval: %s\n", err.msg); return 1; }
    tg_corpus corpus = {0};
    tg_eval_result r = {0};
    /* a test set, held to the limits of a text to translate or score (read_lines.h) */
    tg_corpus_opts co = {.max_file_bytes = TG_LINES_MAX_BYTES, .max_lines = TG_LINES_MAX_LINES};
    tg_status s = tg_corpus_read_tsv(&corpus, a.data, &co, &err);
    a.eo.name = tg_file_shown(a.data);
    a.eo.line = corpus.line;
    if (s == TG_OK)
        s = tg_eval_texts(L.model, L.bpe, (const char *const *)corpus.src, (const char *const *)corpus.tgt, corpus.n,
                          &a.eo, &r, &err);
    if (s != TG_OK && strstr(err.msg, "no pair fits"))
        tg_err_set(&err, s, "%s: no pair fits the model", TG_SHOWN(a.eo.name));
    if (s == TG_OK) warn_too_long(&a, corpus.line, &r);
    if (s == TG_OK && a.json) print_json(&a, &r);
    else if (s == TG_OK) print_text(&a, &r);
    else fprintf(stderr, "tapegrad eval: %s\n", err.msg);
    tg_eval_result_free(&r);
    tg_corpus_free(&corpus);
    tg_loaded_free(&L);
    return tg_cli_output_done("tapegrad eval", s == TG_OK ? 0 : 1);
}
