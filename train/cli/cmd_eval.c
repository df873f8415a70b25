/* cmd_eval.c: `tapegrad eval`: loss, perplexity, BLEU and chrF of a checkpoint on a TSV set. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/cli/commands.h"
#include "train/metrics/metrics.h"
#include "train/run/run.h"
#include "train/run/text_out.h"

static void usage(FILE *f) {
    fprintf(f, "usage: tapegrad eval --model CKPT --data FILE.tsv [--beam K] [--alpha A] [--batch N]\n"
               "                     [--max-tokens N] [--threads N] [--json]\n\n"
               "Scores a checkpoint on pairs `source<TAB>target`: label-smoothed loss and NLL per target\n"
               "token, perplexity exp(NLL), and BLEU / chrF2 (sacreBLEU-compatible, 13a) of its\n"
               "translations against the targets.\n\n"
               "  --model CKPT      checkpoint\n"
               "  --data FILE.tsv   pairs to score\n"
               "  --beam K          beam size for the translations; 1 is greedy [4]\n"
               "  --alpha A         GNMT length penalty [0.6]\n"
               "  --batch N         sentences decoded together [64]\n"
               "  --max-tokens N    token budget of a loss batch [4000]\n"
               "  --threads N       kernel threads\n"
               "  --json            one JSON object on stdout\n"
               "  -h, --help        this text\n");
}

static int bad_num(const char *flag, const char *s) {
    fprintf(stderr, "tapegrad eval: %s: bad value '%s'\n", flag, s);
    return 2;
}

int tg_cmd_eval(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"data", required_argument, NULL, 'd'},
        {"beam", required_argument, NULL, 'k'}, {"alpha", required_argument, NULL, 'a'},
        {"batch", required_argument, NULL, 'b'}, {"max-tokens", required_argument, NULL, 'x'},
        {"threads", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *model = NULL, *data = NULL;
    tg_translate_opts to = {.decode = tg_decode_defaults(), .batch = 64};
    int threads = 0, c, max_tokens = 4000;
    bool json = false;
    char *end;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'd': data = optarg; break;
        case 'k': to.decode.beam = (int)strtol(optarg, &end, 10); if (*end || to.decode.beam < 1) return bad_num("--beam", optarg); break;
        case 'a': to.decode.alpha = strtod(optarg, &end); if (*end || !(to.decode.alpha >= 0)) return bad_num("--alpha", optarg); break;
        case 'b': to.batch = (int)strtol(optarg, &end, 10); if (*end || to.batch < 1) return bad_num("--batch", optarg); break;
        case 'x': max_tokens = (int)strtol(optarg, &end, 10); if (*end || max_tokens < 1) return bad_num("--max-tokens", optarg); break;
        case 't': threads = (int)strtol(optarg, &end, 10); if (*end || threads < 1 || threads > 64) return bad_num("--threads", optarg); break;
        case 'j': json = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) { fprintf(stderr, "tapegrad eval: unexpected argument '%s'\n", argv[optind]); return 2; }
    if (!model || !data) { fprintf(stderr, "tapegrad eval: --model and --data are required\n"); usage(stderr); return 2; }
    tg_err err;
    tg_loaded L;
    if (tg_run_load_model(model, &L, &err) != TG_OK) { fprintf(stderr, "tapegrad eval: %s\n", err.msg); return 1; }
    tg_corpus corpus = {0};
    tg_eval_result r = {0};
    tg_status s = tg_corpus_read_tsv(&corpus, data, NULL, &err);
    tg_eval_opts eo = {.translate = to, .max_tokens = max_tokens, .threads = threads};
    if (s == TG_OK)
        s = tg_eval_texts(L.model, L.bpe, (const char *const *)corpus.src, (const char *const *)corpus.tgt, corpus.n,
                          &eo, &r, &err);
    if (s != TG_OK && strstr(err.msg, "no pair fits")) tg_err_set(&err, s, "%s: no pair fits the model", data);
    const tg_bleu_result br = r.bleu;
    const tg_chrf_result cr = r.chrf;
    const double loss = r.loss, nll = r.nll;
    const size_t too_long = r.too_long;
    const int64_t tokens = r.tokens;
    if (s == TG_OK) {
        if (json) {
            printf("{\"model\": ");
            tg_json_str(stdout, model);
            printf(", \"data\": ");
            tg_json_str(stdout, data);
            printf(", \"pairs\": %zu, \"skipped_too_long\": %zu, \"target_tokens\": %lld, "
                   "\"loss\": %.6f, \"nll\": %.6f, \"ppl\": %.4f, \"decoding\": {\"beam\": %d, \"alpha\": %g}, "
                   "\"bleu\": {\"score\": %.6f, \"bp\": %.6f, \"sys_len\": %lld, \"ref_len\": %lld, \"signature\": ",
                   r.n, too_long, (long long)tokens, loss, nll, exp(nll), to.decode.beam, to.decode.alpha,
                   br.score, br.bp, (long long)br.sys_len, (long long)br.ref_len);
            tg_json_str(stdout, br.signature);
            printf("}, \"chrf\": {\"score\": %.6f, \"signature\": ", cr.score);
            tg_json_str(stdout, cr.signature);
            printf("}}\n");
        } else {
            printf("pairs       %zu (%zu too long, skipped)\n", r.n, too_long);
            printf("loss        %.4f (label-smoothed, per target token)\n", loss);
            printf("nll         %.4f\nppl         %.2f\n", nll, exp(nll));
            printf("BLEU        %.2f  (%s, %s %d)\n", br.score, br.signature, to.decode.beam > 1 ? "beam" : "greedy", to.decode.beam);
            printf("chrF2       %.2f  (%s)\n", cr.score, cr.signature);
        }
    } else {
        fprintf(stderr, "tapegrad eval: %s\n", err.msg);
    }
    tg_eval_result_free(&r);
    tg_corpus_free(&corpus);
    tg_loaded_free(&L);
    return tg_cli_output_done("tapegrad eval", s == TG_OK ? 0 : 1);
}
