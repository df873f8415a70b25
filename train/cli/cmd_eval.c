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
    tg_dataset ds = {0};
    tg_ids ids = {0}, tids = {0};
    tg_status s = tg_corpus_read_tsv(&corpus, data, NULL, &err);
    size_t too_long = 0;
    const int max_pieces = TG_RUN_MAX_POSITIONS - 2;
    for (size_t i = 0; s == TG_OK && i < corpus.n; i++) {
        s = tg_run_encode(L.bpe, corpus.src[i], &ids, &err);
        if (s == TG_OK) s = tg_run_encode(L.bpe, corpus.tgt[i], &tids, &err);
        if (s != TG_OK) break;
        if ((int)ids.n > max_pieces || (int)tids.n > max_pieces) { too_long++; continue; }
        s = tg_dataset_add(&ds, ids.v, (int32_t)ids.n, tids.v, (int32_t)tids.n, i, &err);
    }
    if (s == TG_OK && ds.n == 0) s = tg_err_set(&err, TG_ERR_ARG, "%s: no pair fits the model", data);
    tg_ctx *ctx = s == TG_OK ? tg_ctx_new(&(tg_ctx_opts){.threads = threads}) : NULL;
    if (s == TG_OK && !ctx) s = tg_err_set(&err, TG_ERR_NOMEM, "cannot create the compute context");
    /* loss */
    double loss = 0, nll = 0;
    int64_t tokens = 0;
    tg_batch_iter *it = NULL;
    tg_batch b = {0};
    if (s == TG_OK) {
        tg_ctx_set_training(ctx, false);
        tg_ctx_set_grad_enabled(ctx, false);
        s = tg_batch_iter_new(&it, &ds, &(tg_batch_opts){.max_tokens = max_tokens, .seed = 1, .shuffle = false}, &err);
    }
    size_t nb = it ? tg_batch_iter_epoch_batches(it) : 0;
    const tg_model_config *mc = L.model ? tg_model_cfg(L.model) : NULL;
    for (size_t k = 0; s == TG_OK && k < nb; k++) {
        tg_tensor *logits = NULL;
        s = tg_batch_iter_next(it, &b, &err);
        if (s == TG_OK) s = tg_model_logits(L.model, ctx, b.src, b.tgt_in, b.B, b.S, b.T, &logits, &err);
        if (s != TG_OK) break;
        tg_tensor *l = tg_cross_entropy(ctx, logits, b.tgt_out, mc->label_smoothing, TG_PAD_ID);
        tg_tensor *n = tg_cross_entropy(ctx, logits, b.tgt_out, 0, TG_PAD_ID);
        if (!l || !n) { s = tg_err_set(&err, tg_ctx_status(ctx), "%s", tg_ctx_errmsg(ctx)); break; }
        loss += (double)l->data[0] * (double)b.n_tgt_tokens;
        nll += (double)n->data[0] * (double)b.n_tgt_tokens;
        tokens += b.n_tgt_tokens;
        tg_ctx_reset(ctx);
    }
    /* translations */
    int32_t **src = calloc(ds.n + 1, sizeof *src);
    int *len = calloc(ds.n + 1, sizeof *len);
    char **hyps = calloc(ds.n + 1, sizeof *hyps);
    const char **refs = calloc(ds.n + 1, sizeof *refs);
    if (s == TG_OK && (!src || !len || !hyps || !refs)) s = tg_err_set(&err, TG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; s == TG_OK && i < ds.n; i++) {
        int sl = ds.src_len[i];
        if (!(src[i] = malloc((size_t)(sl + 1) * sizeof **src))) { s = tg_err_set(&err, TG_ERR_NOMEM, "out of memory"); break; }
        memcpy(src[i], ds.ids + ds.off[i], (size_t)sl * sizeof **src);
        src[i][sl] = TG_EOS_ID;
        len[i] = sl + 1;
        refs[i] = corpus.tgt[ds.index[i]];
    }
    if (s == TG_OK) s = tg_translate_ids(L.model, ctx, L.bpe, (const int32_t *const *)src, len, (int)ds.n, &to, hyps, &err);
    tg_bleu_result br;
    tg_chrf_result cr;
    tg_bleu_opts bo = tg_bleu_opts_default();
    if (!L.bpe) bo.tokenize = TG_BLEU_TOK_NONE;
    if (s == TG_OK) s = tg_bleu_corpus_score((const char *const *)hyps, refs, ds.n, &bo, &br, &err);
    if (s == TG_OK) s = tg_chrf_corpus_score((const char *const *)hyps, refs, ds.n, &(tg_chrf_opts){.char_order = 6, .beta = 2}, &cr, &err);
    if (s == TG_OK) {
        loss /= (double)tokens;
        nll /= (double)tokens;
        if (json) {
            printf("{\"model\": ");
            tg_json_str(stdout, model);
            printf(", \"data\": ");
            tg_json_str(stdout, data);
            printf(", \"pairs\": %zu, \"skipped_too_long\": %zu, \"target_tokens\": %lld, "
                   "\"loss\": %.6f, \"nll\": %.6f, \"ppl\": %.4f, \"decoding\": {\"beam\": %d, \"alpha\": %g}, "
                   "\"bleu\": {\"score\": %.6f, \"bp\": %.6f, \"sys_len\": %lld, \"ref_len\": %lld, \"signature\": ",
                   ds.n, too_long, (long long)tokens, loss, nll, exp(nll), to.decode.beam, to.decode.alpha,
                   br.score, br.bp, (long long)br.sys_len, (long long)br.ref_len);
            tg_json_str(stdout, br.signature);
            printf("}, \"chrf\": {\"score\": %.6f, \"signature\": ", cr.score);
            tg_json_str(stdout, cr.signature);
            printf("}}\n");
        } else {
            printf("pairs       %zu (%zu too long, skipped)\n", ds.n, too_long);
            printf("loss        %.4f (label-smoothed, per target token)\n", loss);
            printf("nll         %.4f\nppl         %.2f\n", nll, exp(nll));
            printf("BLEU        %.2f  (%s, %s %d)\n", br.score, br.signature, to.decode.beam > 1 ? "beam" : "greedy", to.decode.beam);
            printf("chrF2       %.2f  (%s)\n", cr.score, cr.signature);
        }
    } else {
        fprintf(stderr, "tapegrad eval: %s\n", err.msg);
    }
    for (size_t i = 0; i < ds.n; i++) { if (src) free(src[i]); if (hyps) free(hyps[i]); }
    free(src); free(len); free(hyps); free(refs);
    tg_batch_free(&b);
    tg_batch_iter_free(it);
    tg_ctx_free(ctx);
    tg_ids_free(&ids);
    tg_ids_free(&tids);
    tg_dataset_free(&ds);
    tg_corpus_free(&corpus);
    tg_loaded_free(&L);
    return s == TG_OK ? 0 : 1;
}
