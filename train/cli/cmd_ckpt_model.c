/* cmd_ckpt_model.c: the `tapegrad ckpt` subcommands that read a run's sections: info (what a
 * checkpoint holds, with a checksum of its parameters) and average (parameter averaging, as the
 * paper does over its last checkpoints). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/ckpt/ckpt_file.h"
#include "train/cli/commands.h"
#include "train/run/run.h"

static void info_usage(FILE *f) {
    fprintf(f, "usage: tapegrad ckpt info [--json] FILE\n\n"
               "Shows a checkpoint's model, step, parameter count, file size and a 64-bit checksum of\n"
               "its parameter bytes (equal checksums: equal parameters), and the best dev BLEU so far.\n");
}

int tg_ckpt_info(int argc, char **argv) {
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool json = false;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j') json = true;
        else if (c == 'h') { info_usage(stdout); return 0; }
        else { info_usage(stderr); return 2; }
    }
    if (optind + 1 != argc) { fprintf(stderr, "tapegrad ckpt info: give one checkpoint file\n"); info_usage(stderr); return 2; }
    const char *path = argv[optind];
    tg_err err;
    tg_loaded L;
    if (tg_run_load_model(path, &L, &err) != TG_OK) { fprintf(stderr, "tapegrad ckpt info: %s\n", err.msg); return 1; }
    tg_ckpt_reader *r;
    if (tg_ckpt_reader_verify(path, &r, &err) != TG_OK) { fprintf(stderr, "tapegrad ckpt info: %s\n", err.msg); tg_loaded_free(&L); return 1; }
    const tg_model_config *m = tg_model_cfg(L.model);
    char model[1024];
    tg_model_config_str(m, model, sizeof model);
    bool has_adam = tg_ckpt_reader_find(r, "adam") != NULL;
    if (json) {
        printf("{\"file\": \"%s\", \"file_size\": %llu, \"format_version\": %u, \"step\": %lld, "
               "\"parameters\": %lld, \"param_checksum\": \"%016llx\", \"model\": \"%s\", \"optimizer_state\": %s, "
               "\"best_bleu\": %.4f, \"best_step\": %lld, \"train_seconds\": %.1f, \"vocab\": %d}\n",
               path, (unsigned long long)tg_ckpt_reader_file_size(r), tg_ckpt_reader_version(r), (long long)L.st.step,
               (long long)tg_model_param_count(L.model), (unsigned long long)L.param_hash, model,
               has_adam ? "true" : "false", L.st.best_bleu, (long long)L.st.best_step, L.st.train_seconds, m->vocab);
    } else {
        printf("file            %s (%llu bytes, format version %u)\n", path,
               (unsigned long long)tg_ckpt_reader_file_size(r), tg_ckpt_reader_version(r));
        printf("step            %lld (%.0f s of training)\n", (long long)L.st.step, L.st.train_seconds);
        printf("parameters      %lld\n", (long long)tg_model_param_count(L.model));
        printf("param checksum  %016llx\n", (unsigned long long)L.param_hash);
        printf("model           %s\n", model);
        printf("optimizer       %s\n", has_adam ? "Adam state included (resumable)" : "none (model only)");
        if (L.st.best_bleu >= 0) printf("best dev BLEU   %.2f at step %lld\n", L.st.best_bleu, (long long)L.st.best_step);
        printf("data            %s\n", L.cfg.task[0] ? L.cfg.task : (L.cfg.train[0] ? L.cfg.train : L.cfg.train_src));
    }
    tg_ckpt_reader_free(r);
    tg_loaded_free(&L);
    return 0;
}

static void average_usage(FILE *f) {
    fprintf(f, "usage: tapegrad ckpt average A.ckpt B.ckpt [...] -o OUT.ckpt\n\n"
               "Averages the parameters of checkpoints of one model (as the paper averages its last\n"
               "checkpoints) into OUT, a model-only checkpoint (no optimiser state) for translate and\n"
               "eval. Config, vocabulary and state come from the last input.\n");
}

int tg_ckpt_average(int argc, char **argv) {
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        if (c == 'o') out = optarg;
        else if (c == 'h') { average_usage(stdout); return 0; }
        else { average_usage(stderr); return 2; }
    }
    int n = argc - optind;
    if (!out || n < 1) { fprintf(stderr, "tapegrad ckpt average: give input checkpoints and -o OUT\n"); average_usage(stderr); return 2; }
    tg_err err;
    tg_loaded first, L;
    if (tg_run_load_model(argv[optind], &first, &err) != TG_OK) { fprintf(stderr, "tapegrad ckpt average: %s\n", err.msg); return 1; }
    tg_params *P = tg_model_params(first.model);
    size_t numel = (size_t)tg_params_numel(P);
    double *sum = calloc(numel ? numel : 1, sizeof *sum);
    if (!sum) { fprintf(stderr, "tapegrad ckpt average: out of memory\n"); tg_loaded_free(&first); return 1; }
    char ref_model[1024], model[1024];
    tg_model_config_str(tg_model_cfg(first.model), ref_model, sizeof ref_model);
    for (size_t i = 0; i < numel; i++) sum[i] = tg_params_data(P)[i];
    int rc = 0;
    tg_run_state st = first.st;
    tg_run_config cfg = first.cfg;
    for (int k = 1; k < n && rc == 0; k++) {
        if (tg_run_load_model(argv[optind + k], &L, &err) != TG_OK) { fprintf(stderr, "tapegrad ckpt average: %s\n", err.msg); rc = 1; break; }
        tg_model_config_str(tg_model_cfg(L.model), model, sizeof model);
        if (strcmp(model, ref_model)) {
            fprintf(stderr, "tapegrad ckpt average: %s has another model than %s:\n  %s\n  %s\n", argv[optind + k],
                    argv[optind], model, ref_model);
            rc = 1;
        } else {
            const tg_float *v = tg_params_data(tg_model_params(L.model));
            for (size_t i = 0; i < numel; i++) sum[i] += v[i];
            st = L.st;
            cfg = L.cfg;
        }
        tg_loaded_free(&L);
    }
    if (rc == 0) {
        for (size_t i = 0; i < numel; i++) tg_params_data(P)[i] = (tg_float)(sum[i] / n);
        tg_ckpt_writer *w = tg_ckpt_writer_new();
        tg_status s = w ? tg_ckpt_write_model(w, &cfg, first.model, first.bpe, &st, &err)
                        : tg_err_set(&err, TG_ERR_NOMEM, "out of memory");
        if (s == TG_OK) s = tg_ckpt_writer_save(w, out, &err);
        tg_ckpt_writer_free(w);
        if (s != TG_OK) { fprintf(stderr, "tapegrad ckpt average: %s\n", err.msg); rc = 1; }
        else printf("averaged %d checkpoint%s into %s\n", n, n == 1 ? "" : "s", out);
    }
    free(sum);
    tg_loaded_free(&first);
    return rc;
}
