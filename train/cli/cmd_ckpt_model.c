/* cmd_ckpt_model.c: the `tapegrad ckpt` subcommands that read a run's sections: info (what a
 * checkpoint holds, with a checksum of its parameters) and average (parameter averaging, as the
 * paper does over its last checkpoints). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "train/ckpt/ckpt_file.h"
#include "train/cli/commands.h"
#include "train/run/run.h"
#include "train/run/text_out.h"

#define SHOWN_MAX 1024   /* a file name in a message, control bytes escaped (tg_shown) */

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
    while ((c = tg_arg_getopt("ckpt info", argc, argv, "h", opts, NULL)) != -1) {
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
        printf("{\"file\": ");
        tg_json_str(stdout, path);
        printf(", \"file_size\": %llu, \"format_version\": %u, \"step\": %lld, \"parameters\": %lld, "
               "\"param_checksum\": \"%016llx\", \"model\": ",
               (unsigned long long)tg_ckpt_reader_file_size(r), tg_ckpt_reader_version(r), (long long)L.st.step,
               (long long)tg_model_param_count(L.model), (unsigned long long)L.param_hash);
        tg_json_str(stdout, model);
        printf(", \"optimizer_state\": %s, \"best_bleu\": ", has_adam ? "true" : "false");
        if (L.st.best_bleu >= 0) printf("%.4f, \"best_step\": %lld", L.st.best_bleu, (long long)L.st.best_step);
        else printf("null, \"best_step\": null");   /* no dev set, or no validation yet: as the text leaves it out */
        printf(", \"train_seconds\": %.1f, \"vocab\": %d}\n", L.st.train_seconds, m->vocab);
    } else {
        printf("file            ");
        tg_fput_shown(stdout, path, strlen(path));
        printf(" (%llu bytes, format version %u)\n",
               (unsigned long long)tg_ckpt_reader_file_size(r), tg_ckpt_reader_version(r));
        printf("step            %lld (%.0f s of training)\n", (long long)L.st.step, L.st.train_seconds);
        printf("parameters      %lld\n", (long long)tg_model_param_count(L.model));
        printf("param checksum  %016llx\n", (unsigned long long)L.param_hash);
        printf("model           ");
        tg_fput_shown(stdout, model, strlen(model));
        printf("\n");
        printf("optimizer       %s\n", has_adam ? "Adam state included (resumable)" : "none (model only)");
        if (L.st.best_bleu >= 0) printf("best dev BLEU   %.2f at step %lld\n", L.st.best_bleu, (long long)L.st.best_step);
        const char *data = L.cfg.task[0] ? L.cfg.task : (L.cfg.train[0] ? L.cfg.train : L.cfg.train_src);
        printf("data            ");
        tg_fput_shown(stdout, data, strlen(data));
        printf("\n");
    }
    tg_ckpt_reader_free(r);
    tg_loaded_free(&L);
    return 0;
}

static void average_usage(FILE *f) {
    fprintf(f, "usage: tapegrad ckpt average A.ckpt B.ckpt [...] -o OUT.ckpt   (-o or --output)\n\n"
               "Averages the parameters of checkpoints of one model (as the paper averages its last\n"
               "checkpoints) into OUT, a model-only checkpoint (no optimiser state) for translate and\n"
               "eval. Every input must have the same model and the same vocabulary (else nothing is\n"
               "written), and no two may hold the same parameters (they would count twice). Config,\n"
               "vocabulary and state (step, best score) come from the last input.\n"
               "OUT may not be an input, a checkpoint with optimiser state (a run's last.ckpt),\n"
               "or a file that is not a checkpoint (a run's config.txt); an empty file may be. A\n"
               "link as OUT is itself replaced, never written through.\n");
}

/* Whether checkpoint b can be averaged with a; prints why not, naming both files. */
static bool averageable(const char *pa, const tg_loaded *a, const char *pb, const tg_loaded *b) {
    char ma[1024], mb[1024], sa[SHOWN_MAX], sb[SHOWN_MAX];
    tg_shown(sa, sizeof sa, pa);
    tg_shown(sb, sizeof sb, pb);
    tg_model_config_str(tg_model_cfg(a->model), ma, sizeof ma);
    tg_model_config_str(tg_model_cfg(b->model), mb, sizeof mb);
    if (strcmp(ma, mb)) {
        fprintf(stderr, "tapegrad ckpt average: %s has another model than %s:\n  %s\n  %s\n", sb, sa, mb, ma);
        return false;
    }
    if (!tg_run_same_vocab(a->bpe, b->bpe)) {
        fprintf(stderr, "tapegrad ckpt average: %s and %s have different vocabularies (the same ids mean "
                        "other pieces): their parameters cannot be averaged\n", sa, sb);
        return false;
    }
    return true;
}

/* Writes the averaged parameters (in first's model) with last's config, vocabulary and state. */
static int write_average(const tg_loaded *first, const tg_loaded *last, const char *out, tg_err *err) {
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    tg_status s = w ? tg_ckpt_write_model(w, &last->cfg, first->model, last->bpe, &last->st, err)
                    : tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    if (s == TG_OK) s = tg_ckpt_writer_save(w, out, err);
    tg_ckpt_writer_free(w);
    if (s != TG_OK) { fprintf(stderr, "tapegrad ckpt average: %s\n", err->msg); return 1; }
    return 0;
}

/* OUT may replace a checkpoint, but not one of the inputs, nor one a run resumes from (one with
 * optimiser state: a run's last.ckpt): the model-only average would leave it unresumable; nor a
 * file that is no checkpoint (a slip for RUN/config.txt left the run unable to resume). */
static bool output_ok(const char *out, char **in, int n) {
    char so[SHOWN_MAX], si[SHOWN_MAX];
    tg_shown(so, sizeof so, out);
    for (int k = 0; k < n; k++)
        if (tg_cli_same_file(out, in[k])) {
            fprintf(stderr, "tapegrad ckpt average: -o %s is the input %s: give another -o\n", so,
                    tg_shown(si, sizeof si, in[k]));
            return false;
        }
    int magic = tg_ckpt_file_magic(out);
    if (magic == TG_CKPT_FILE_UNREADABLE) {   /* what it holds unknown: not replaced unseen */
        fprintf(stderr, "tapegrad ckpt average: -o %s cannot be read (%s), so it is not known to "
                        "be a checkpoint the average may replace; give another -o\n", so,
                        strerror(errno));
        return false;
    }
    if (magic == TG_CKPT_FILE_OTHER) {
        fprintf(stderr, "tapegrad ckpt average: -o %s is not a tapegrad checkpoint: the average "
                        "would replace it; give another -o\n", so);
        return false;
    }
    /* absent, or the writer's to refuse; a link is replaced, never written through, so what it
     * points to is safe whatever it holds */
    struct stat st;
    if (lstat(out, &st) != 0 || !S_ISREG(st.st_mode)) return true;
    tg_ckpt_reader *r;
    tg_err err;
    if (tg_ckpt_reader_open(out, &r, &err) != TG_OK) return true;   /* not a checkpoint */
    bool resumable = tg_ckpt_reader_find(r, "adam") != NULL;
    tg_ckpt_reader_free(r);
    if (resumable)
        fprintf(stderr, "tapegrad ckpt average: -o %s holds a run's optimiser state (it can be resumed); the "
                        "model-only average would replace it: give another -o\n", so);
    return !resumable;
}

/* An input given twice (the same file, by device and inode) would weigh twice in the mean. */
static bool inputs_distinct(char **in, int n) {
    for (int k = 1; k < n; k++)
        for (int j = 0; j < k; j++) {
            bool same_name = !strcmp(in[j], in[k]);
            if (!same_name && !tg_cli_same_file(in[j], in[k])) continue;
            char sj[SHOWN_MAX], sk[SHOWN_MAX];
            tg_shown(sj, sizeof sj, in[j]);
            tg_shown(sk, sizeof sk, in[k]);
            if (same_name) fprintf(stderr, "tapegrad ckpt average: %s is given twice", sk);
            else fprintf(stderr, "tapegrad ckpt average: %s and %s are the same file", sj, sk);
            fprintf(stderr, ": it would count twice in the average; give each checkpoint once\n");
            return false;
        }
    return true;
}

int tg_ckpt_average(int argc, char **argv) {
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL;
    int c;
    optind = 0;
    while ((c = tg_arg_getopt("ckpt average", argc, argv, "ho:", opts, NULL)) != -1) {
        if (c == 'o') out = optarg;
        else if (c == 'h') { average_usage(stdout); return 0; }
        else { average_usage(stderr); return 2; }
    }
    int n = argc - optind;
    if (!out || n < 1) { fprintf(stderr, "tapegrad ckpt average: give input checkpoints and -o OUT\n"); average_usage(stderr); return 2; }
    char **in = argv + optind;
    if (!tg_cli_output_name_ok("tapegrad ckpt average", out, false) || !output_ok(out, in, n) ||
        !inputs_distinct(in, n))
        return 2;
    tg_err err;
    tg_loaded *three = calloc(3, sizeof *three);   /* (20 KiB: not for the stack) */
    if (!three) { fprintf(stderr, "tapegrad ckpt average: out of memory\n"); return 1; }
    tg_loaded *first = &three[0], *last = &three[1], *L = &three[2];
    if (tg_run_load_model(in[0], first, &err) != TG_OK) {
        fprintf(stderr, "tapegrad ckpt average: %s\n", err.msg);
        free(three);
        return 1;
    }
    tg_params *P = tg_model_params(first->model);
    size_t numel = (size_t)tg_params_numel(P);
    double *sum = calloc(numel ? numel : 1, sizeof *sum);
    if (!sum) { fprintf(stderr, "tapegrad ckpt average: out of memory\n"); tg_loaded_free(first); free(three); return 1; }
    for (size_t i = 0; i < numel; i++) sum[i] = tg_params_data(P)[i];
    int rc = 0;
    uint64_t *seen = malloc((size_t)n * sizeof *seen);   /* the inputs' parameter checksums so far */
    if (!seen) { fprintf(stderr, "tapegrad ckpt average: out of memory\n"); rc = 1; }
    else seen[0] = first->param_hash;
    for (int k = 1; k < n && rc == 0; k++) {
        if (tg_run_load_model(in[k], L, &err) != TG_OK) { fprintf(stderr, "tapegrad ckpt average: %s\n", err.msg); rc = 1; break; }
        if (!averageable(in[0], first, in[k], L)) { rc = 1; tg_loaded_free(L); break; }
        for (int j = 0; j < k && rc == 0; j++)   /* a copy (cp, best.ckpt of a kept step) weighs twice */
            if (seen[j] == L->param_hash) {
                char sj[SHOWN_MAX], sk[SHOWN_MAX];
                fprintf(stderr, "tapegrad ckpt average: %s and %s hold the same parameters (checksum %016llx): "
                        "they would count twice in the average; give each model once\n",
                        tg_shown(sj, sizeof sj, in[j]), tg_shown(sk, sizeof sk, in[k]),
                        (unsigned long long)L->param_hash);
                rc = 1;   /* (found in the files' contents, as another model is; a name given twice: 2) */
            }
        seen[k] = L->param_hash;
        if (rc) { tg_loaded_free(L); break; }
        const tg_float *v = tg_params_data(tg_model_params(L->model));
        for (size_t i = 0; i < numel; i++) sum[i] += v[i];
        tg_loaded_free(last);
        *last = *L;
    }
    if (rc == 0) {
        for (size_t i = 0; i < numel; i++) tg_params_data(P)[i] = (tg_float)(sum[i] / n);
        rc = write_average(first, n > 1 ? last : first, out, &err);
        if (rc == 0) {
            printf("averaged %d checkpoint%s into ", n, n == 1 ? "" : "s");
            tg_fput_shown(stdout, out, strlen(out));
            printf("\n");
        }
    }
    free(seen);
    free(sum);
    tg_loaded_free(last);
    tg_loaded_free(first);
    free(three);
    return rc;
}
