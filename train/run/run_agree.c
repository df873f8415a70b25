/* run_agree.c: the ranks of an MPI run agree before each step (see run.h): every decision to
 * stop, validate or save is then taken alike everywhere, so no rank waits for one that left.
 * Before the first step they check that they train one run: the same settings, data, parameters
 * and optimiser state (tg_run_agree_start). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/kernels/kernels.h"
#include "datasets/shown.h"
#include "train/ckpt/ckpt_file.h"
#include "train/run/dist.h"
#include "train/run/run.h"

enum { AG_SIGNAL, AG_STEP, AG_EPOCH, AG_POS, AG_FAILED, AG_N };

/* The ranks' failed flags (at a[k * stride + at]) told: *s set for a rank that did not fail. */
static tg_status failed_told(const tg_run *r, const double *a, int stride, int at, bool failed, bool *told,
                             const char *when, tg_err *err) {
    int P = tg_dist_size(), first = -1, n = 0;
    for (int k = 0; k < P; k++)
        if (a[(size_t)k * (size_t)stride + (size_t)at]) n++, first = first < 0 ? k : first;
    if (n == 0) return TG_OK;
    tg_dist_end_together();   /* every rank knows: each ends with exit 1, none by MPI_Abort */
    if (failed) return TG_OK;   /* (its own error stands) */
    *told = true;
    char more[48] = "";
    if (n > 1) snprintf(more, sizeof more, " (and %d other rank%s)", n - 1, n == 2 ? "" : "s");
    return tg_err_set(err, TG_ERR_STATE, "rank %d of %d%s failed %s step %lld (its error is in its output)", first,
                      P, more, when, (long long)r->st.step);
}

tg_status tg_run_agree(tg_run *r, int *stop_signal, bool failed, bool *told, tg_err *err) {
    int P = tg_dist_size();
    *told = false;
    if (P == 1) return TG_OK;
    double mine[AG_N] = {*stop_signal, (double)r->st.step, (double)r->st.iter.epoch, (double)r->st.iter.pos, failed};
    double all[AG_N * 64], *a = P <= 64 ? all : NULL;
    double *heap = a ? NULL : malloc((size_t)P * AG_N * sizeof *heap);
    if (!a && !(a = heap)) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    tg_status s = tg_dist_gather(mine, AG_N, a, err);
    *stop_signal = 0;
    if (s == TG_OK) {   /* a rank that failed on its own since the last agreement: no step, no state */
        s = failed_told(r, a, AG_N, AG_FAILED, failed, told, "after", err);
        if (s != TG_OK || failed || tg_dist_together()) {
            free(heap);
            return failed ? TG_OK : s;
        }
    }
    for (int k = 0; s == TG_OK && k < P; k++) {
        const double *o = a + (size_t)k * AG_N;
        if (!*stop_signal) *stop_signal = (int)o[AG_SIGNAL];
        if (o[AG_STEP] != mine[AG_STEP] || o[AG_EPOCH] != mine[AG_EPOCH] || o[AG_POS] != mine[AG_POS])
            s = tg_err_set(err, TG_ERR_ARG, "rank %d is at step %.0f (epoch %.0f, batch %.0f), rank %d at step %.0f "
                           "(epoch %.0f, batch %.0f): the ranks no longer train the same model", k, o[AG_STEP],
                           o[AG_EPOCH] + 1, o[AG_POS], tg_dist_rank(), mine[AG_STEP], mine[AG_EPOCH] + 1,
                           mine[AG_POS]);   /* epochs from 1, as the log counts them */
    }
    free(heap);
    if (s == TG_OK) s = tg_dist_bcast(&r->st, sizeof r->st, err);
    return s;
}

tg_status tg_run_agree_end(const tg_run *r, bool failed, bool *told, tg_err *err) {
    int P = tg_dist_size();
    *told = false;
    if (P == 1) return TG_OK;
    double mine = failed, *a = malloc((size_t)P * sizeof *a);
    if (!a) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    tg_status s = tg_dist_gather(&mine, 1, a, err);
    if (s == TG_OK) s = failed_told(r, a, 1, 0, failed, told, "at the end of the run, at", err);
    free(a);
    return s;
}

/* What the ranks compare before the first step: a hash of each setting's line of config.txt
 * (FP_LINES at most; the rest share the last), then of the data, parameters and optimiser state.
 * Each 64-bit hash travels as two doubles of 32 bits, which tg_dist_gather carries exactly. */
enum { FP_TRAIN, FP_DEV, FP_PARAMS, FP_ADAM, FP_N };
#define FP_LINES 128
#define FP_K (2 * (FP_LINES + FP_N))

static void put_hash(double *d, uint64_t h) {
    d[0] = (double)(h >> 32);
    d[1] = (double)(h & 0xffffffffu);
}

/* Settings a rank may have of its own: its threads (results are the same for any count), the run
 * folder's name (rank 0 alone writes it), and the names of its input files (a copy on each node's
 * own disk: their contents are compared, as the data and the parameters). */
static bool own_setting(const char *line) {
    static const char *const own[] = {"threads = ", "out = ", "train = ", "train-src = ", "train-tgt = ", "dev = ",
                                      "vocab = "};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (!strncmp(line, own[i], strlen(own[i]))) return true;
    return false;
}

tg_status tg_run_agree_start(const tg_run *r, tg_err *err) {
    int P = tg_dist_size();
    if (P == 1) return TG_OK;
    int n = tg_run_config_format(&r->cfg, NULL, 0);
    char *text = malloc((size_t)n + 1);
    double *a = calloc((size_t)FP_K * (size_t)(P + 1), sizeof *a), *mine = a + (size_t)FP_K * (size_t)P;
    if (!text || !a) {
        free(text);
        free(a);
        return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    }
    tg_run_config_format(&r->cfg, text, (size_t)n + 1);
    const char *line[FP_LINES] = {0};
    uint64_t rest = 0;
    int i = 0;
    for (char *p = text, *nl; *p; p = nl + 1, i++) {
        nl = strchr(p, '\n');   /* every line of the format ends in one */
        *nl = '\0';
        uint64_t h = own_setting(p) ? 0 : tg_ckpt_hash64(p, (size_t)(nl - p));
        if (i < FP_LINES - 1) {
            line[i] = p;
            put_hash(mine + 2 * i, h);
        } else {
            rest = tg_run_hash_mix(rest, h);
        }
    }
    put_hash(mine + 2 * (FP_LINES - 1), rest);
    tg_params *W = tg_model_params(r->model);
    size_t bytes = (size_t)tg_params_numel(W) * sizeof(tg_float);
    uint64_t adam = tg_run_hash_mix((uint64_t)tg_adam_step_count(r->adam), tg_ckpt_hash64(tg_adam_m(r->adam), bytes));
    uint64_t fp[FP_N] = {[FP_TRAIN] = tg_run_dataset_hash(&r->train), [FP_DEV] = tg_run_dev_hash(r),
                         [FP_PARAMS] = tg_ckpt_hash64(tg_params_data(W), bytes),
                         [FP_ADAM] = tg_run_hash_mix(adam, tg_ckpt_hash64(tg_adam_v(r->adam), bytes))};
    for (int k = 0; k < FP_N; k++) put_hash(mine + 2 * (FP_LINES + k), fp[k]);
    tg_status s = tg_dist_gather(mine, FP_K, a, err);
    static const char *const what[FP_N][2] = {
        [FP_TRAIN] = {"other training data", "every rank must read the same --train files"},
        [FP_DEV] = {"another dev set", "every rank must read the same --dev file"},
        [FP_PARAMS] = {"other parameters", "on a resume, another copy of last.ckpt: every rank must read the same run"},
        [FP_ADAM] = {"another optimiser state", "on a resume, another copy of last.ckpt: every rank must read the same "
                     "run"}};
    for (int k = 1; s == TG_OK && k < P; k++) {
        const double *o = a + (size_t)k * FP_K, *first = a;
        int j = 0;
        while (j < FP_LINES + FP_N && o[2 * j] == first[2 * j] && o[2 * j + 1] == first[2 * j + 1]) j++;
        if (j == FP_LINES + FP_N) continue;
        if (j >= FP_LINES)
            s = tg_err_set(err, TG_ERR_ARG, "rank %d has %s than rank 0 (%s)", k, what[j - FP_LINES][0],
                           what[j - FP_LINES][1]);
        else if (line[j])
            s = tg_err_set(err, TG_ERR_ARG, "rank %d was given other settings than rank 0: --%.*s differs (rank %d "
                           "has `%s`); give every rank the same flags", k,
                           (int)strcspn(line[j], " "), line[j], tg_dist_rank(),
                           TG_SHOWN_IN(200, line[j]));
        else
            s = tg_err_set(err, TG_ERR_ARG, "rank %d was given other settings than rank 0; give every rank the same "
                           "flags", k);
    }
    /* a difference found in the gathered hashes is every rank's verdict alike (each compares each
     * rank with rank 0): every rank ends with it together, rank 0 printing it */
    if (s == TG_ERR_ARG) tg_dist_end_together();
    free(text);
    free(a);
    return s;
}

/* ---- the command line and the process's knobs, before anything is written ---- */

/* What each rank tells: its verdict on its command line, then each knob's value as this process
 * takes it (so "0300" and "300" agree; an unset variable is its default). */
enum { AA_RC, AA_BUCKET, AA_OVERLAP, AA_NAN_START, AA_NAN_COUNT, AA_KERNELS, AA_NEWS,
       AA_N = AA_NEWS + TG_RUN_NEWS_LINES };

static const struct {
    const char *name;
    int at, n;           /* its values: AA_ indices */
    const char *why;     /* what goes wrong when the ranks differ */
} knobs[] = {
    {"TAPEGRAD_MPI_BUCKET", AA_BUCKET, 1, "every rank must cut the gradient's sum into the same buckets (else the "
                                          "ranks' messages do not match: MPI_ERR_TRUNCATE, or a hang)"},
    {"TAPEGRAD_MPI_OVERLAP", AA_OVERLAP, 1, "every rank must sum the gradient the same way"},
    {"TAPEGRAD_INJECT_NAN", AA_NAN_START, 2, "every rank must skip the same updates (else they part ways)"},
};

static void knob_values(double *v) {
    v[AA_BUCKET] = (double)tg_run_overlap_bucket_elems();   /* (unset: the default's size, as set to it) */
    const char *e = getenv("TAPEGRAD_MPI_OVERLAP");   /* as dist_mpi.c reads it: off at "0" alone */
    v[AA_OVERLAP] = !(e && !strcmp(e, "0"));
    e = getenv("TAPEGRAD_INJECT_NAN");   /* as run_loop.c reads it */
    long start = 0, count = 0;
    if (e && sscanf(e, "%ld:%ld", &start, &count) != 2) start = count = 0;
    v[AA_NAN_START] = (double)start, v[AA_NAN_COUNT] = (double)count;
    v[AA_KERNELS] = (double)tg_k_current();   /* (TAPEGRAD_KERNELS, or the CPU's best) */
}

/* Ranks on other kernels (a cluster of nodes with and without AVX-512, or TAPEGRAD_KERNELS on one)
 * keep the same parameters, as every rank takes the broadcast sum and clip and Adam give the same
 * bits on any kernels; but the shards' gradients are other bits than one process's: said, not
 * refused. */
static void kernels_told(const double *all, int P, char *msg, size_t len) {
    for (int k = 1; k < P; k++) {
        if (all[(size_t)k * AA_N + AA_KERNELS] == all[AA_KERNELS]) continue;
        snprintf(msg, len, "warning: rank %d of %d runs the %s kernels and rank 0 the %s ones: the ranks train one "
                 "model, but not with the numbers of --accum-shards %d in one process (nor of a resume on other "
                 "kernels); for those, set TAPEGRAD_KERNELS alike on every rank (mpirun -x TAPEGRAD_KERNELS=...)", k,
                 P, tg_k_impl_name((tg_k_impl)all[(size_t)k * AA_N + AA_KERNELS]),
                 tg_k_impl_name((tg_k_impl)all[AA_KERNELS]), P);
        return;
    }
}

static const char *knob_text(int knob, const double *v, char *buf, size_t len) {
    const double *x = v + knobs[knob].at;
    if (knobs[knob].at == AA_BUCKET) {
        snprintf(buf, len, "%.0f elements", x[0]);
    } else if (knobs[knob].at == AA_OVERLAP) {
        snprintf(buf, len, "%s", x[0] == 0 ? "0 (off)" : "unset or not 0 (on)");
    } else if (x[0] > 0) {
        snprintf(buf, len, "%.0f:%.0f", x[0], x[1]);
    } else {
        snprintf(buf, len, "unset");
    }
    return buf;
}

int tg_run_agree_args(int rc, void (*news)(void *, uint32_t *), void *news_arg, int *shown, unsigned *own_news,
                      bool *gathered, char *msg, size_t msg_len) {
    int P = tg_dist_size();
    *shown = -1;
    *own_news = 0;
    *gathered = false;
    msg[0] = '\0';
    if (P == 1) return rc;
    double mine[AA_N];
    knob_values(mine);   /* (before news: TAPEGRAD_KERNELS's warning is among them) */
    mine[AA_RC] = rc;
    uint32_t lines[TG_RUN_NEWS_LINES] = {0};
    if (news) news(news_arg, lines);
    for (int j = 0; j < TG_RUN_NEWS_LINES; j++) mine[AA_NEWS + j] = lines[j];
    double *all = malloc((size_t)P * AA_N * sizeof *all);
    tg_err err;
    if (!all || tg_dist_gather(mine, AA_N, all, &err) != TG_OK) {
        snprintf(msg, msg_len, "%s", all ? err.msg : "out of memory");
        free(all);
        return 1;
    }
    *gathered = true;
    int verdict = 0, help = -1;
    for (int k = 0; k < P && verdict == 0; k++) {   /* a refusal first, the lowest rank's */
        int v = (int)all[(size_t)k * AA_N + AA_RC];
        if (v > 0) verdict = v, *shown = k;
        else if (v < 0 && help < 0) help = k;
    }
    for (int j = 0; verdict == 0 && j < (int)(sizeof knobs / sizeof knobs[0]); j++) {
        for (int k = 1; k < P; k++) {
            const double *o = all + (size_t)k * AA_N;
            if (!memcmp(o + knobs[j].at, all + knobs[j].at, (size_t)knobs[j].n * sizeof *o)) continue;
            char a[48], b[48];
            snprintf(msg, msg_len, "%s is %s on rank 0 and %s on rank %d of %d: %s; set it alike on every rank "
                     "(mpirun -x %s), or on none", knobs[j].name, knob_text(j, all, a, sizeof a),
                     knob_text(j, o, b, sizeof b), k, P, knobs[j].why, knobs[j].name);
            verdict = 1;
            break;
        }
    }
    if (verdict == 0 && help >= 0) verdict = -1, *shown = help;
    if (verdict == 0) kernels_told(all, P, msg, msg_len);
    /* going on, a line of a rank's output is its own when no lower rank, 0 included, had the same
     * (a warning every rank printed, beside one rank 1 alone did: that one alone from rank 1) */
    int me = tg_dist_rank();
    for (int j = 0; verdict == 0 && me > 0 && j < TG_RUN_NEWS_LINES; j++) {
        double own = all[(size_t)me * AA_N + AA_NEWS + j];
        bool seen = own == 0;
        for (int k = 0; !seen && k < me; k++)
            for (int i = 0; !seen && i < TG_RUN_NEWS_LINES; i++) seen = all[(size_t)k * AA_N + AA_NEWS + i] == own;
        if (!seen) *own_news |= 1u << j;
    }
    free(all);
    return verdict;
}
