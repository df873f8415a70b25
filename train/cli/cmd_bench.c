/* cmd_bench.c: `tapegrad bench gemm | step`: GEMM throughput of the kernels, and the training step
 * of the anchor configurations (../shared/bench/torch_reference.py) on random token ids, with a
 * RESULT line shaped like torch_reference.py's so the two can be compared line by line. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "autograd/kernels/kernels.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "train/cli/bench_memory.h"
#include "train/cli/bench_profile.h"
#include "train/cli/commands.h"
#include "train/metrics/order_stats.h"
#include "train/run/text_out.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: tapegrad bench gemm [--sizes N,N,... | --config tiny|base|small] [--threads N]\n"
            "                           [--min-time S] [--json] [--kernels auto|portable|avx2|avx512]\n"
            "                           [--cold MB]\n"
            "       tapegrad bench step --config tiny|base|small [--threads N] [--steps N] [--warmup N]\n"
            "                           [--seed N] [--json] [--kernels auto|portable|avx2|avx512]\n"
            "                           [--memory] [--profile] [--attn-gate none|sigmoid]\n\n"
            "gemm: C = A B (the build's precision) for square n (default 256,512,1024,2048) via the kernel\n"
            "      interface, as ../shared/bench/gemm_peak.py does: one warm-up call, then calls are\n"
            "      timed until at least --min-time seconds (default 1) and 3 calls have passed;\n"
            "      GFLOP/s = 2 n^3 / median call time (best call also shown). With --config: each\n"
            "      GEMM shape of that config's training step (forward and backward, with their\n"
            "      transposes), and the step's total GEMM time at those rates (and at each\n"
            "      shape's best call: on a shared machine the median moves with others' load).\n"
            "step: one training step (forward + label-smoothed loss, backward, Adam with the\n"
            "      inverse-sqrt schedule, zeroing) of the anchor configurations on random ids in\n"
            "      [2, vocab) with no padding, as ../shared/bench/torch_reference.py:\n"
            "        tiny (T): vocab 8000, d_model 256, 4 heads, d_ff 1024, 3+3 layers,\n"
            "                  batch 32 x 32 src x 32 tgt; 20 timed steps after 3 warm-up steps\n"
            "        base (B): vocab 8000, d_model 512, 8 heads, d_ff 2048, 6+6 layers,\n"
            "                  batch 16 x 32 src x 32 tgt; 5 timed steps after 2 warm-up steps\n"
            "        small (S): the sizes of the main job's small recipe (which trains pre-LN): vocab\n"
            "                  8000, d_model 128, 4 heads, d_ff 512, 3+3 layers; batch, steps as tiny\n"
            "      dropout 0.1, label smoothing 0.1, post-LN, ReLU, tied embeddings. Prints each\n"
            "      step, then a RESULT line: mean and median step time, the median forward /\n"
            "      backward / optimiser split, target tokens/s (batch * tgt_len / median step),\n"
            "      peak RSS and the parameter count (the tied matrix counted once).\n\n"
            "  --config C    tiny, base or small (step: which model; gemm: that model's GEMM shapes)\n"
            "  --sizes N,... (gemm) the square sizes n [256,512,1024,2048]\n"
            "  --min-time S  (gemm) seconds each size is timed for at least [1]\n"
            "  --cold MB     (gemm) before each timed call, write MB MiB of another buffer (more\n"
            "                than the last-level cache), so that the call meets its operands out\n"
            "                of the caches, as a training step's GEMMs meet what the op before\n"
            "                made, not as the call before left them [0: warm]\n"
            "  --steps N     (step) timed steps [the config's: 20, or 5 for base]\n"
            "  --warmup N    (step) untimed steps first [the config's: 3, or 2 for base]\n"
            "  --seed N      (step) the parameters' and the batch's seed [1]\n"
            "  --memory      (step) where memory goes: peak RSS (VmHWM), the arena's high-water\n"
            "                mark, parameter / gradient / Adam bytes, and the largest holders at\n"
            "                the last step's arena peak (op, output shape, values, live gradients,\n"
            "                saved for backward); in the RESULT line / JSON too. Notes the tape at\n"
            "                each new arena high, so step times are not comparable with it on\n"
            "  --profile     (step) where time goes, over the timed steps: per op, forward and\n"
            "                backward ms a step, share of the step, GFLOP/s (GEMM ops) or GB/s\n"
            "                (the others: each value read or written once, an estimate); the\n"
            "                step's GEMM rate against the same shapes alone (bench gemm --config,\n"
            "                measured briefly after the steps) and the step's floor at that rate\n"
            "                (every GEMM op at it, the rest as measured); the work split over the\n"
            "                threads: its sections a step, and the time threads waited at a\n"
            "                section's end for its slowest part; in the RESULT line / JSON too\n"
            "  --attn-gate G (step) the model with the study's gate on the heads (train's --attn-gate):\n"
            "                sigmoid(x W_g + b_g) times each attention's heads, before W_O; the\n"
            "                profile's GEMM-alone rate still covers the paper model's shapes only\n"
            "  --threads N   kernel threads (default: TAPEGRAD_THREADS or the cores)\n"
            "  --kernels K   kernel implementation (default: TAPEGRAD_KERNELS, else the best the\n"
            "                CPU supports)\n"
            "  --json        one JSON object instead of lines\n"
            "  -h, --help    this text\n");
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The best (shortest) of n >= 1 call times. */
static double fastest(const double *v, int n) {
    double b = v[0];
    for (int i = 1; i < n; i++) if (v[i] < b) b = v[i];
    return b;
}

/* Minor page faults so far: a first touch of a page (the arena's, a buffer's) costs one. */
static long minor_faults(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static double rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;   /* KiB on Linux */
}

/* splitmix64: the benchmark's data, fixed by --seed. */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static bool parse_long(const char *flag, const char *s, long lo, long hi, long *out) {
    if (!tg_arg_long(s, lo, hi, out)) {
        fprintf(stderr, "tapegrad bench: %s wants %ld..%ld, not '%s'\n", flag, lo, hi, tg_arg_shown(s));
        return false;
    }
    return true;
}

/* ---- bench gemm ------------------------------------------------------------------------- */

/* --cold MB: a buffer written through (a byte a cache line) before each timed call; n = 0: none. */
typedef struct { unsigned char *p; size_t n; } cold_buf;

static void cold_touch(const cold_buf *c) {
    for (size_t i = 0; i < c->n; i += 64) c->p[i]++;
}

static int bench_gemm(const long *sizes, int n_sizes, int threads, double min_time, bool json,
                      const cold_buf *cold) {
    tg_pool *pool = tg_pool_new(threads);
    if (!pool) { fprintf(stderr, "tapegrad bench: cannot start %d threads\n", threads); return 1; }
    int nt = tg_pool_threads(pool);
    const char *kern = tg_k_impl_name(tg_k_current());
    if (json) {
        printf("{\"kernels\": ");
        tg_json_str(stdout, kern);
        printf(", \"precision\": \"%s\", \"threads\": %d, \"gemm\": [", TG_FLOAT_NAME, nt);
    }
    int rc = 0;
    for (int s = 0; s < n_sizes; s++) {
        int64_t n = sizes[s];
        tg_float *A = malloc((size_t)(n * n) * sizeof *A), *B = malloc((size_t)(n * n) * sizeof *B);
        tg_float *C = malloc((size_t)(n * n) * sizeof *C);
        double *times = NULL;
        if (!A || !B || !C) {
            fprintf(stderr, "tapegrad bench: out of memory for n=%lld\n", (long long)n);
            free(A); free(B); free(C);
            rc = 1;
            break;
        }
        uint64_t rng = 1;
        for (int64_t i = 0; i < n * n; i++) {
            A[i] = (tg_float)((double)(next_u64(&rng) >> 11) * 0x1p-52 - 1.0);
            B[i] = (tg_float)((double)(next_u64(&rng) >> 11) * 0x1p-52 - 1.0);
        }
        tg_gemm_args g = {.M = n, .N = n, .K = n, .A = A, .lda = n, .B = B, .ldb = n,
                          .C = C, .ldc = n, .batch = 1};
        tg_k_gemm(pool, &g);   /* warm-up */
        int cap = 64, calls = 0;
        times = malloc((size_t)cap * sizeof *times);
        double start = now_s();
        while (times && (calls < 3 || now_s() - start < min_time)) {
            if (calls == cap) {
                double *t = realloc(times, (size_t)(cap *= 2) * sizeof *times);
                if (!t) { free(times); times = NULL; break; }
                times = t;
            }
            cold_touch(cold);
            double t0 = now_s();
            tg_k_gemm(pool, &g);
            times[calls++] = now_s() - t0;
        }
        if (!times) {
            fprintf(stderr, "tapegrad bench: out of memory\n");
            free(A); free(B); free(C);
            rc = 1;
            break;
        }
        double med = tg_median(times, (size_t)calls), best = fastest(times, calls);
        double flop = 2.0 * (double)n * (double)n * (double)n;
        if (json)
            printf("%s\n  {\"n\": %lld, \"calls\": %d, \"median_s\": %.6g, \"gflops\": %.2f, "
                   "\"best_gflops\": %.2f, \"cold_mb\": %zu}", s ? "," : "", (long long)n, calls,
                   med, flop / med * 1e-9, flop / best * 1e-9, cold->n >> 20);
        else
            printf("GEMM lib=tapegrad kernels=%s threads=%d n=%lld calls=%d median_s=%.6f "
                   "gflops=%.2f best_gflops=%.2f cold_mb=%zu\n", kern, nt, (long long)n, calls, med,
                   flop / med * 1e-9, flop / best * 1e-9, cold->n >> 20);
        tg_cli_flush();
        free(times);
        free(A); free(B); free(C);
    }
    if (json) printf("\n]}\n");
    tg_pool_free(pool);
    return rc;
}

/* The GEMMs of one training step of a config: forward, then the two backward products of each. */
typedef struct gemm_shape {
    const char *what;
    bool ta, tb;
    int64_t batch, M, N, K;
    int count;   /* how many a step makes */
} gemm_shape;

static int model_shapes(int R, int T, int d, int h, int ff, int V, int layers, gemm_shape *out) {
    int64_t dh = d / h, bh = (int64_t)(R / T) * h;
    int L = layers, n = 0;
    /* linear layers: encoder 4 (q k v o), decoder 8 per layer */
    gemm_shape s[] = {
        {"linear d->d  x W^T", false, true, 1, R, d, d, 12 * L},
        {"ffn1  d->ff  x W^T", false, true, 1, R, ff, d, 2 * L},
        {"ffn2  ff->d  x W^T", false, true, 1, R, d, ff, 2 * L},
        {"scores  q k^T", false, true, bh, T, T, dh, 3 * L},
        {"context w v", false, false, bh, T, dh, T, 3 * L},
        {"logits  y E^T", false, true, 1, R, V, d, 1},
        {"d linear dX = dY W", false, false, 1, R, d, d, 12 * L},
        {"d linear dW = dY^T X", true, false, 1, d, d, R, 12 * L},
        {"d ffn1 dX", false, false, 1, R, d, ff, 2 * L},
        {"d ffn1 dW", true, false, 1, ff, d, R, 2 * L},
        {"d ffn2 dX", false, false, 1, R, ff, d, 2 * L},
        {"d ffn2 dW", true, false, 1, d, ff, R, 2 * L},
        {"d scores dq = dS k", false, false, bh, T, dh, T, 3 * L},
        {"d scores dk = dS^T q", true, false, bh, T, dh, T, 3 * L},
        {"d context dw = dC v^T", false, true, bh, T, T, dh, 3 * L},
        {"d context dv = w^T dC", true, false, bh, T, dh, T, 3 * L},
        {"d logits dY = dZ E", false, false, 1, R, d, V, 1},
        {"d logits dE = dZ^T Y", true, false, 1, V, d, R, 1},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) out[n++] = s[i];
    return n;
}

/* The anchor configurations of ../shared/bench (T, B) and the main job's small recipe (S), whose
 * batch is T's. src_len = tgt_len in all: model_shapes assumes it. */
typedef struct step_config {
    const char *name;
    int vocab, d_model, heads, d_ff, layers, batch, src_len, tgt_len, steps, warmup;
} step_config;

static const step_config step_configs[] = {
    {"T", 8000, 256, 4, 1024, 3, 32, 32, 32, 20, 3},
    {"B", 8000, 512, 8, 2048, 6, 16, 32, 32, 5, 2},
    {"S", 8000, 128, 4, 512, 3, 32, 32, 32, 20, 3},
};

/* The median and fastest time of one call of shape s (a call first, untimed; at least 3 calls,
 * or 1 when quick, and for min_time seconds, up to 4096), cold touched before each. 0, or 1 out
 * of memory. */
static int time_shape(tg_pool *pool, const gemm_shape *s, double min_time, bool quick,
                      const cold_buf *cold, double *med, double *best) {
    int64_t na = s->batch * s->M * s->K, nb = s->batch * s->K * s->N, nc = s->batch * s->M * s->N;
    tg_float *A = malloc((size_t)na * sizeof *A), *B = malloc((size_t)nb * sizeof *B);
    tg_float *C = calloc((size_t)nc, sizeof *C);
    double *times = malloc(4096 * sizeof *times);
    int rc = !A || !B || !C || !times;
    if (rc) fprintf(stderr, "tapegrad bench: out of memory\n");
    uint64_t rng = 7;
    for (int64_t k = 0; !rc && k < na; k++) A[k] = (tg_float)((double)(next_u64(&rng) >> 40) * 0x1p-24 - 0.5);
    for (int64_t k = 0; !rc && k < nb; k++) B[k] = (tg_float)((double)(next_u64(&rng) >> 40) * 0x1p-24 - 0.5);
    tg_gemm_args g = {.ta = s->ta, .tb = s->tb, .accumulate = s->ta, .M = s->M, .N = s->N,
                      .K = s->K, .A = A, .lda = s->ta ? s->M : s->K, .strideA = s->M * s->K,
                      .B = B, .ldb = s->tb ? s->K : s->N, .strideB = s->K * s->N,
                      .C = C, .ldc = s->N, .strideC = s->M * s->N, .batch = s->batch};
    if (!rc) {
        int calls = 0, min_calls = quick ? 1 : 3;
        tg_k_gemm(pool, &g);
        double start = now_s();
        while (calls < 4096 && (calls < min_calls || now_s() - start < min_time)) {
            cold_touch(cold);
            double t0 = now_s();
            tg_k_gemm(pool, &g);
            times[calls++] = now_s() - t0;
        }
        *med = tg_median(times, (size_t)calls);
        *best = fastest(times, calls);
    }
    free(A); free(B); free(C); free(times);
    return rc;
}

/* Shape i's line (JSON: its object) of `bench gemm --config`; flop: one call's. */
static void print_shape(int i, const gemm_shape *s, bool json, double flop, double med,
                        double best) {
    if (json)
        printf("%s\n  {\"what\": \"%s\", \"ta\": %s, \"tb\": %s, \"batch\": %lld, "
               "\"M\": %lld, \"N\": %lld, \"K\": %lld, \"per_step\": %d, "
               "\"median_s\": %.6g, \"gflops\": %.2f, \"best_gflops\": %.2f}",
               i ? "," : "", s->what, s->ta ? "true" : "false", s->tb ? "true" : "false",
               (long long)s->batch, (long long)s->M, (long long)s->N, (long long)s->K,
               s->count, med, flop / med * 1e-9, flop / best * 1e-9);
    else
        printf("%-24s %c%c batch=%-4lld M=%-5lld N=%-5lld K=%-5lld x%-3d median_s=%.6f "
               "gflops=%.2f best_gflops=%.2f\n", s->what, s->ta ? 't' : 'n',
               s->tb ? 't' : 'n', (long long)s->batch, (long long)s->M, (long long)s->N, (long long)s->K,
               s->count, med, flop / med * 1e-9, flop / best * 1e-9);
    tg_cli_flush();
}

/* quiet: prints nothing, only *rate (the step's GEMM GFLOP/s at these shapes) is set. */
static int bench_gemm_model(const step_config *sc, int threads, double min_time, bool json, bool quiet,
                            const cold_buf *cold, double *rate) {
    gemm_shape sh[32];
    int n = model_shapes(sc->batch * sc->tgt_len, sc->tgt_len, sc->d_model, sc->heads, sc->d_ff,
                         sc->vocab, sc->layers, sh);
    tg_pool *pool = tg_pool_new(threads);
    if (!pool) { fprintf(stderr, "tapegrad bench: cannot start %d threads\n", threads); return 1; }
    int nt = tg_pool_threads(pool);
    const char *kern = tg_k_impl_name(tg_k_current());
    if (json && !quiet) {
        printf("{\"kernels\": ");
        tg_json_str(stdout, kern);
        printf(", \"threads\": %d, \"config\": \"%s\", \"gemm\": [", nt, sc->name);
    }
    double total_s = 0, total_best_s = 0, total_flop = 0;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const gemm_shape *s = &sh[i];
        double med, best;   /* quiet: a quick reference rate for --profile */
        if ((rc = time_shape(pool, s, min_time, quiet, cold, &med, &best)) != 0) break;
        double flop = 2.0 * (double)s->batch * (double)s->M * (double)s->N * (double)s->K;
        total_s += med * s->count;
        total_best_s += best * s->count;
        total_flop += flop * s->count;
        if (!quiet) print_shape(i, s, json, flop, med, best);
    }
    if (rate) *rate = total_s > 0 ? total_flop / total_s * 1e-9 : 0;
    if (rc == 0 && !quiet) {
        /* the best calls too: on a shared machine the median moves with the neighbours' load */
        if (json)
            printf("\n], \"step_gemm_s\": %.4f, \"step_gflops\": %.2f, \"step_best_gemm_s\": "
                   "%.4f, \"step_best_gflops\": %.2f, \"cold_mb\": %zu}\n", total_s,
                   total_flop / total_s * 1e-9, total_best_s, total_flop / total_best_s * 1e-9,
                   cold->n >> 20);
        else
            printf("one step's GEMMs: %.4f s, %.1f GFLOP, %.2f GFLOP/s (kernels=%s threads=%d%s); "
                   "at each shape's best call: %.4f s, %.2f GFLOP/s\n", total_s, total_flop * 1e-9,
                   total_flop / total_s * 1e-9, kern, nt, cold->n ? " cold" : "", total_best_s,
                   total_flop / total_best_s * 1e-9);
    }
    tg_pool_free(pool);
    return rc;
}

/* ---- bench step ------------------------------------------------------------------------- */

/* A step's batch: ids in [2, vocab), no padding; decoder input = bos + labels[:-1]. */
static void random_batch(const step_config *sc, uint64_t *rng, int32_t *src, int32_t *tin,
                         int32_t *tout) {
    int B = sc->batch, S = sc->src_len, T = sc->tgt_len;
    uint64_t ids = (uint64_t)(sc->vocab - 2);
    for (int k = 0; k < B * S; k++) src[k] = 2 + (int32_t)(next_u64(rng) % ids);
    for (int k = 0; k < B * T; k++) tout[k] = 2 + (int32_t)(next_u64(rng) % ids);
    for (int b = 0; b < B; b++) {
        tin[b * T] = TG_BOS_ID;
        for (int t = 1; t < T; t++) tin[b * T + t] = tout[b * T + t - 1];
    }
}

/* The timed steps' figures: medians of the step and its forward / backward / optimiser parts,
 * the mean and the best step. */
typedef struct {
    double med[4], mean, best;
} step_times;

/* from t_step[4 i + part] of every step (the warm-up's first); false when out of memory */
static bool step_times_of(const double *t_step, const step_config *sc, step_times *st) {
    int n = sc->steps;
    double *col = malloc((size_t)n * sizeof *col);
    if (!col) return false;
    for (int c = 0; c < 4; c++) {
        for (int i = 0; i < n; i++) col[i] = t_step[4 * (sc->warmup + i) + c];
        st->med[c] = tg_median(col, (size_t)n);
    }
    free(col);
    st->mean = 0;
    st->best = INFINITY;
    for (int i = 0; i < n; i++) {
        double t = t_step[4 * (sc->warmup + i)];
        st->mean += t / n;
        if (t < st->best) st->best = t;
    }
    return true;
}

/* What bench step prints at its end: a JSON object, or the summary and its RESULT line; mem and
 * prof NULL when not asked for. */
typedef struct {
    const step_config *sc;
    const char *kern;
    int threads;
    long long params;
    bool gate, json;
    double rss;
    const tg_bench_memory *mem;
    const tg_bench_profile *prof;
} step_report;

static void print_step_result(const step_report *r, const step_times *st) {
    const step_config *sc = r->sc;
    int n = sc->steps;
    const double *med = st->med;
    double tgt_tok = (double)sc->batch * sc->tgt_len / med[0];
    double all_tok = (double)sc->batch * (sc->src_len + sc->tgt_len) / med[0];
    if (r->json) {
        printf("{\"config\": \"%s\", \"impl\": \"tapegrad\", \"precision\": \"%s\", \"kernels\": ",
               sc->name, TG_FLOAT_NAME);
        tg_json_str(stdout, r->kern);
        printf(", \"attn_gate\": %s, \"threads\": %d, \"params\": %lld, \"steps\": %d, "
               "\"step_s\": %.4f, \"median_step_s\": %.4f, \"min_step_s\": %.4f, "
               "\"fwd_s\": %.4f, \"bwd_s\": %.4f, \"opt_s\": %.4f, \"tgt_tok_s\": %.1f, "
               "\"all_tok_s\": %.1f, \"rss_mb\": %.0f",
               r->gate ? "true" : "false", r->threads, r->params, n, st->mean, med[0], st->best,
               med[1], med[2], med[3], tgt_tok, all_tok, r->rss);
        if (r->mem) tg_bench_memory_json(stdout, r->mem);
        if (r->prof) tg_bench_profile_json(stdout, r->prof);
        printf("}\n");
        return;
    }
    if (r->mem) tg_bench_memory_print(stdout, r->mem);
    if (r->prof) tg_bench_profile_print(stdout, r->prof);
    printf("mean step %.4fs (median %.4fs, min %.4fs over %d steps); median forward "
           "%.4fs, backward %.4fs, optimizer %.4fs\n", st->mean, med[0], st->best, n, med[1],
           med[2], med[3]);
    printf("RESULT config=%s impl=tapegrad threads=%d params=%lld steps=%d step_s=%.4f "
           "median_step_s=%.4f fwd_s=%.4f bwd_s=%.4f opt_s=%.4f tgt_tok_s=%.1f "
           "all_tok_s=%.1f rss_mb=%.0f kernels=%s precision=%s attn_gate=%s",
           sc->name, r->threads, r->params, n, st->mean, med[0], med[1], med[2], med[3], tgt_tok,
           all_tok, r->rss, r->kern, TG_FLOAT_NAME, r->gate ? "sigmoid" : "none");
    if (r->mem) tg_bench_memory_result(stdout, r->mem);
    if (r->prof) tg_bench_profile_result(stdout, r->prof);
    printf("\n");
}

/* The model sc names: the paper's, with dropout and label smoothing 0.1 and the given gate. */
static tg_model_config step_model_config(const step_config *sc, tg_attn_gate gate) {
    tg_model_config cfg = tg_model_config_default();
    cfg.attn_gate = gate;
    cfg.vocab = sc->vocab;
    cfg.d_model = sc->d_model;
    cfg.heads = sc->heads;
    cfg.d_ff = sc->d_ff;
    cfg.enc_layers = cfg.dec_layers = sc->layers;
    cfg.max_len = sc->src_len > sc->tgt_len ? sc->src_len : sc->tgt_len;
    cfg.dropout = 0.1;
    cfg.label_smoothing = 0.1;
    return cfg;
}

/* What `bench step` trains with: the model, its optimiser and context, one batch's buffers and
 * the times of every step (forward + backward + update, forward, backward, update). */
typedef struct {
    const step_config *sc;
    tg_model *m;
    tg_params *P;
    int64_t n_par;
    tg_adam *opt;
    tg_ctx *ctx;
    tg_schedule sch;
    int32_t *src, *tin, *tout;          /* [B, S], [B, T], [B, T] */
    double *t_step;                     /* [warmup + steps, 4] */
} step_bench;

static void step_bench_free(step_bench *b) {
    free(b->src); free(b->tin); free(b->tout); free(b->t_step);
    tg_adam_free(b->opt);
    tg_ctx_free(b->ctx);
    tg_model_free(b->m);
}

/* b for sc on threads threads (0: the default), the peak tracked for --memory. 0, or 1 after the
 * message. */
static int step_bench_open(step_bench *b, const step_config *sc, int threads, uint64_t seed,
                           bool memory, tg_attn_gate gate) {
    *b = (step_bench){.sc = sc};
    tg_model_config cfg = step_model_config(sc, gate);
    tg_err err;
    b->m = tg_model_new(&cfg, seed, &err);
    if (!b->m) { fprintf(stderr, "tapegrad bench: %s\n", err.msg); return 1; }
    b->P = tg_model_params(b->m);
    b->n_par = tg_params_numel(b->P);
    tg_adam_config acfg = tg_adam_config_default();
    b->ctx = tg_ctx_new(&(tg_ctx_opts){.threads = threads, .seed = seed});
    size_t B = (size_t)sc->batch, total = (size_t)(sc->warmup + sc->steps);
    b->src = malloc(B * (size_t)sc->src_len * sizeof *b->src);
    b->tin = malloc(B * (size_t)sc->tgt_len * sizeof *b->tin);
    b->tout = malloc(B * (size_t)sc->tgt_len * sizeof *b->tout);
    b->t_step = malloc(total * 4 * sizeof *b->t_step);
    if (!b->ctx || !b->src || !b->tin || !b->tout || !b->t_step ||
        (memory && !tg_ctx_track_peak(b->ctx, true)) ||
        tg_adam_new(&acfg, b->n_par, &b->opt, &err) != TG_OK) {
        fprintf(stderr, "tapegrad bench: %s\n", b->ctx ? "out of memory" : "cannot make a context");
        step_bench_free(b);
        return 1;
    }
    b->sch = tg_schedule_default(TG_SCHEDULE_NOAM);
    b->sch.d_model = sc->d_model;
    return 0;
}

/* Step i (0-based) on b's batch: the forward, the backward, Adam with the gradients cleared in
 * the same pass as train does, the context reset; its times into b->t_step[i] and its loss into
 * *loss_v. 0, or 1 after the message. */
static int step_once(step_bench *b, int i, double *loss_v) {
    const step_config *sc = b->sc;
    tg_err err;
    double t0 = now_s();
    tg_tensor *loss = NULL;
    if (tg_model_loss(b->m, b->ctx, b->src, b->tin, b->tout, sc->batch, sc->src_len, sc->tgt_len,
                      &loss, NULL, &err) != TG_OK) {
        fprintf(stderr, "tapegrad bench: %s\n", err.msg);
        return 1;
    }
    double t1 = now_s();
    tg_status s = tg_backward(b->ctx, loss);
    double t2 = now_s();
    if (s == TG_OK)
        s = tg_adam_step_zero(b->opt, tg_params_data(b->P), tg_params_grad(b->P),
                              tg_schedule_lr(&b->sch, i + 1), tg_ctx_pool(b->ctx), &err);
    else
        tg_err_set(&err, s, "backward: %s", tg_ctx_errmsg(b->ctx));
    *loss_v = loss->data[0];
    tg_ctx_reset(b->ctx);
    double t3 = now_s();
    if (s != TG_OK) { fprintf(stderr, "tapegrad bench: %s\n", err.msg); return 1; }
    double *rec = b->t_step + 4 * i;
    rec[0] = t3 - t0; rec[1] = t1 - t0; rec[2] = t2 - t1; rec[3] = t3 - t2;
    return 0;
}

/* The warmup and timed steps; faults[0], [1]: the first's and the last's minor page faults. The
 * profile (op times, the pool's stats) starts with the first timed step. 0, or 1. */
static int step_all(step_bench *b, uint64_t seed, bool json, bool profile, long faults[2]) {
    const step_config *sc = b->sc;
    int total = sc->warmup + sc->steps;
    uint64_t rng = seed;
    for (int i = 0; i < total; i++) {
        long faults0 = minor_faults();
        random_batch(sc, &rng, b->src, b->tin, b->tout);
        if (profile && i == sc->warmup) {
            if (!tg_ctx_profile(b->ctx, true)) {
                fprintf(stderr, "tapegrad bench: out of memory\n");
                return 1;
            }
            tg_pool_stats_on(tg_ctx_pool(b->ctx), true);
        }
        double loss_v;
        if (step_once(b, i, &loss_v)) return 1;
        if (i == 0) faults[0] = minor_faults() - faults0;
        if (i == total - 1) faults[1] = minor_faults() - faults0;
        const double *rec = b->t_step + 4 * i;
        if (!json)
            printf("step %3d %s loss=%.4f time=%.3fs (fwd %.3f bwd %.3f opt %.3f)\n", i + 1,
                   i >= sc->warmup ? "timed " : "warmup", loss_v, rec[0], rec[1], rec[2], rec[3]);
        tg_cli_flush();
    }
    return 0;
}

static int bench_step(const step_config *sc, int threads, uint64_t seed, bool json, bool memory,
                      bool profile, tg_attn_gate gate) {
    step_bench b;
    if (step_bench_open(&b, sc, threads, seed, memory, gate)) return 1;
    int nt = tg_pool_threads(tg_ctx_pool(b.ctx));
    const char *kern = tg_k_impl_name(tg_k_current());
    if (!json)
        printf("tapegrad (%s, kernels=%s), threads=%d, config=%s%s, parameters=%lld\n",
               TG_FLOAT_NAME, kern, nt, sc->name, gate ? " with the attention gate" : "",
               (long long)tg_model_param_count(b.m));
    long faults[2] = {0, 0};   /* the first step's, the last step's */
    int rc = step_all(&b, seed, json, profile, faults);
    step_times st;
    if (rc == 0 && !step_times_of(b.t_step, sc, &st)) {
        fprintf(stderr, "tapegrad bench: out of memory\n");
        rc = 1;
    }
    if (rc == 0) {
        step_report r = {.sc = sc, .kern = kern, .threads = nt, .gate = gate, .json = json,
                         .params = (long long)tg_model_param_count(b.m),
                         .rss = rss_mb()};   /* before the GEMM measurement below */
        tg_bench_memory mem;
        tg_bench_profile prof;
        if (memory) {
            tg_bench_memory_collect(b.ctx, b.n_par, tg_adam_numel(b.opt), faults, &mem);
            r.mem = &mem;
        }
        if (profile) {   /* the same GEMM shapes alone, briefly: the rate to compare with */
            double gemm_rate = 0;
            bench_gemm_model(sc, threads, 0.05, false, true, &(cold_buf){0}, &gemm_rate);
            tg_bench_profile_collect(b.ctx, st.mean, st.med[1], st.med[2], st.med[3], gemm_rate,
                                     &prof);
            r.prof = &prof;
        }
        print_step_result(&r, &st);
    }
    step_bench_free(&b);
    return rc;
}

/* ---- the command ------------------------------------------------------------------------ */

/* What a bench command asked for. */
typedef struct {
    bool gemm, json, memory, profile;
    long sizes[32];
    int n_sizes, threads, steps, warmup;   /* steps, warmup: -1 for the config's */
    double min_time;
    uint64_t seed;
    const step_config *sc;                 /* --config, or NULL */
    tg_k_impl impl;
    tg_attn_gate gate;
    bool gate_set, sizes_set, min_time_set, seed_set;
    long cold_mb;
} bench_opts;

/* --sizes N,N,...: false, said, for anything but up to 32 sizes 1..16384 */
static bool parse_sizes(const char *arg, bench_opts *o) {
    o->n_sizes = 0;
    for (const char *p = arg; *p;) {
        char *end;
        long n = *p >= '0' && *p <= '9' ? strtol(p, &end, 10) : 0;   /* no blank or sign first */
        if (!n || n > 16384 || (*end && *end != ',') || (*end && !end[1]) || o->n_sizes == 32) {
            fprintf(stderr, "tapegrad bench: --sizes wants up to 32 sizes 1..16384 "
                            "separated by commas, not '%s'\n", tg_arg_shown(arg));
            return false;
        }
        o->sizes[o->n_sizes++] = n;
        p = *end ? end + 1 : end;
    }
    if (o->n_sizes == 0) { fprintf(stderr, "tapegrad bench: --sizes is empty\n"); return false; }
    o->sizes_set = true;
    return true;
}

/* One option into o: 0, 2 (a usage error, said) or -1 (--help printed). */
static int parse_opt(int c, const char *arg, bench_opts *o) {
    long v;
    switch (c) {
    case 'z': return parse_sizes(arg, o) ? 0 : 2;
    case 't':
        if (!parse_long("--threads", arg, 1, 64, &v)) return 2;
        o->threads = (int)v;
        return 0;
    case 'm':
        if (!tg_arg_double(arg, 0, 3600, &o->min_time)) {
            fprintf(stderr, "tapegrad bench: --min-time wants seconds in [0, 3600], not '%s'\n",
                    tg_arg_shown(arg));
            return 2;
        }
        o->min_time_set = true;
        return 0;
    case 'C': return parse_long("--cold", arg, 0, 65536, &o->cold_mb) ? 0 : 2;
    case 'c':
        if (!strcmp(arg, "tiny") || !strcmp(arg, "T")) o->sc = &step_configs[0];
        else if (!strcmp(arg, "base") || !strcmp(arg, "B")) o->sc = &step_configs[1];
        else if (!strcmp(arg, "small") || !strcmp(arg, "S")) o->sc = &step_configs[2];
        else {
            fprintf(stderr, "tapegrad bench: --config wants tiny, base or small, not '%s'\n",
                    tg_arg_shown(arg));
            return 2;
        }
        return 0;
    case 's':
        if (!parse_long("--steps", arg, 1, 100000, &v)) return 2;
        o->steps = (int)v;
        return 0;
    case 'w':
        if (!parse_long("--warmup", arg, 0, 100000, &v)) return 2;
        o->warmup = (int)v;
        return 0;
    case 'S':
        if (!parse_long("--seed", arg, 0, 1L << 30, &v)) return 2;
        o->seed = (uint64_t)v;
        o->seed_set = true;
        return 0;
    case 'k':
        if (!tg_k_impl_parse(arg, &o->impl)) {
            fprintf(stderr, "tapegrad bench: --kernels wants auto, portable, avx2 or avx512, not "
                    "'%s'\n", tg_arg_shown(arg));
            return 2;
        }
        return 0;
    case 'g': {
        tg_err e;
        if (tg_attn_gate_parse(arg, &o->gate, &e) != TG_OK) {
            fprintf(stderr, "tapegrad bench: --attn-gate: %s\n", e.msg);
            return 2;
        }
        o->gate_set = true;
        return 0;
    }
    case 'j': o->json = true; return 0;
    case 'M': o->memory = true; return 0;
    case 'P': o->profile = true; return 0;
    case 'h': usage(stdout); return -1;
    default: usage(stderr); return 2;
    }
}

static int run_gemm(const bench_opts *o) {
    if (o->steps >= 0 || o->warmup >= 0 || o->seed_set || o->memory || o->profile || o->gate_set) {
        fprintf(stderr, "tapegrad bench gemm: --steps, --warmup, --seed, --memory, --profile and "
                        "--attn-gate go with step\n");
        return 2;
    }
    if (o->sizes_set && o->sc) {   /* the usage's alternatives: --config measures its own shapes */
        fprintf(stderr, "tapegrad bench gemm: give --sizes or --config, not both\n");
        return 2;
    }
    cold_buf cold = {.n = (size_t)o->cold_mb << 20};
    if (cold.n && !(cold.p = malloc(cold.n))) {
        fprintf(stderr, "tapegrad bench gemm: out of memory for --cold %ld\n", o->cold_mb);
        return 1;
    }
    if (cold.n) memset(cold.p, 0, cold.n);   /* its pages made now, not in the timed loop */
    int rc = o->sc ? bench_gemm_model(o->sc, o->threads, o->min_time, o->json, false, &cold, NULL)
                   : bench_gemm(o->sizes, o->n_sizes, o->threads, o->min_time, o->json, &cold);
    free(cold.p);
    return rc;
}

static int run_step(const bench_opts *o) {
    if (o->sizes_set || o->min_time_set || o->cold_mb) {   /* they were taken and ignored */
        fprintf(stderr, "tapegrad bench step: --sizes, --min-time and --cold go with gemm\n");
        return 2;
    }
    if (!o->sc) {
        fprintf(stderr, "tapegrad bench step: --config tiny|base|small is required\n");
        return 2;
    }
    step_config run = *o->sc;
    if (o->steps > 0) run.steps = o->steps;
    if (o->warmup >= 0) run.warmup = o->warmup;
    return bench_step(&run, o->threads, o->seed, o->json, o->memory, o->profile, o->gate);
}

int tg_cmd_bench(int argc, char **argv) {
    static const struct option opts[] = {
        {"sizes", required_argument, NULL, 'z'},
        {"threads", required_argument, NULL, 't'},
        {"min-time", required_argument, NULL, 'm'},
        {"cold", required_argument, NULL, 'C'},
        {"config", required_argument, NULL, 'c'},
        {"steps", required_argument, NULL, 's'},
        {"warmup", required_argument, NULL, 'w'},
        {"seed", required_argument, NULL, 'S'},
        {"kernels", required_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},
        {"memory", no_argument, NULL, 'M'},
        {"profile", no_argument, NULL, 'P'},
        {"attn-gate", required_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (argc >= 2 &&
        (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
        usage(stdout);
        return 0;
    }
    if (argc < 2 || (strcmp(argv[1], "gemm") && strcmp(argv[1], "step"))) {
        fprintf(stderr, "tapegrad bench: say what to measure (gemm or step)\n");
        usage(stderr);
        return 2;
    }
    bench_opts o = {.gemm = !strcmp(argv[1], "gemm"), .sizes = {256, 512, 1024, 2048},
                    .n_sizes = 4, .steps = -1, .warmup = -1, .min_time = 1.0, .seed = 1,
                    .impl = TG_K_AUTO, .gate = TG_GATE_NONE};
    int c;
    optind = 1;
    argc--;
    argv++;
    while ((c = tg_arg_getopt("bench", argc, argv, "h", opts, NULL)) != -1) {
        int rc = parse_opt(c, optarg, &o);
        if (rc) return rc < 0 ? 0 : rc;
    }
    if (optind < argc) {
        fprintf(stderr, "tapegrad bench: unexpected argument '%s'\n", tg_arg_shown(argv[optind]));
        usage(stderr);
        return 2;
    }
    tg_k_select(o.impl);
    return o.gemm ? run_gemm(&o) : run_step(&o);
}
