/* cmd_score.c: `tapegrad score`, sacreBLEU-compatible BLEU, chrF2 and chrF2++ of a hypothesis
 * file against a reference file, one segment a line; with --paired-bs, paired bootstrap
 * resampling of BLEU against that file as the baseline (score_paired_bs.c). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/datasets.h"
#include "train/cli/commands.h"
#include "train/cli/score_paired_bs.h"
#include "train/cli/read_lines.h"
#include "train/metrics/metrics.h"
#include "train/metrics/paired_bs.h"
#include "train/metrics/text.h"
#include "train/run/text_out.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: tapegrad score --ref REF --hyp HYP [--tokenize 13a|intl|none] [--lowercase]\n"
            "                      [--smooth exp|none|floor|add-k] [--smooth-value X] [--json]\n"
            "                      [--paired-bs SYSTEM [SYSTEM...] [--paired-bs-n N]\n"
            "                       [--paired-bs-seed S]]\n"
            "\n"
            "Scores HYP against REF (UTF-8, one segment a line, the same number of lines) with\n"
            "corpus BLEU, chrF2 and chrF2++, computed as sacreBLEU %s does, and prints each with\n"
            "sacreBLEU's signature.\n"
            "\n"
            "With --paired-bs, HYP is the baseline and each SYSTEM is compared with it by paired\n"
            "bootstrap resampling of BLEU, the way `sacrebleu --paired-bs` does it: each system's\n"
            "BLEU with the mean and 95%% interval over the resamples, and the p-value of its\n"
            "difference to the baseline (* marks p <= 0.05).\n"
            "\n"
            "  --ref FILE           reference translations\n"
            "  --hyp FILE           system output\n"
            "  --tokenize NAME      BLEU tokenizer: 13a (default), intl or none\n"
            "  --lowercase          case-insensitive BLEU (like sacreBLEU's -lc, chrF stays\n"
            "                       case-sensitive)\n"
            "  --smooth NAME        BLEU smoothing: exp (default), none, floor or add-k\n"
            "  --smooth-value X     value for floor (default 0.1) or add-k (default 1)\n"
            "  --json               print one JSON object: bleu, chrf, chrf_pp (with --paired-bs:\n"
            "                       each system's bleu and diff estimates and p_value)\n"
            "  --paired-bs SYSTEM [SYSTEM...]\n"
            "                       system outputs to compare with the baseline HYP\n"
            "  --paired-bs-n N      bootstrap resamples (default %d, as sacreBLEU)\n"
            "  --paired-bs-seed S   seed of the resampling (default %d, as sacreBLEU); the\n"
            "                       resamples differ from sacreBLEU's (another generator), so\n"
            "                       figures agree with it to Monte Carlo precision\n"
            "  -h, --help           this help\n",
            TG_SACREBLEU_VERSION, TG_PAIRED_BS_N_DEFAULT, TG_PAIRED_BS_SEED_DEFAULT);
}

/* Room for a file name as tg_shown shows it, in a message. */
#define SHOWN_MAX 1024

/* Reads path into l (tg_lines_read: NUL bytes and bad UTF-8 refused, "\r\n" read as "\n", which
 * no score sees since every tokenizer splits on whitespace); on failure prints why (naming
 * the file and line) and returns 1. */
static int read_lines(const char *path, tg_lines *l) {
    tg_err err;
    if (tg_lines_read(l, path, &err) == TG_OK) return 0;
    fprintf(stderr, "tapegrad score: %s\n", err.msg);
    return 1;
}

static void print_json(const tg_bleu_result *b, const tg_chrf_result *c, const tg_chrf_result *cp,
                       size_t segments) {
    printf("{\n  \"segments\": %zu,\n", segments);
    printf("  \"bleu\": {\n    \"name\": \"BLEU\",\n    \"score\": %.17g,\n", b->score);
    printf("    \"counts\": [%lld, %lld, %lld, %lld],\n", (long long)b->counts[0],
           (long long)b->counts[1], (long long)b->counts[2], (long long)b->counts[3]);
    printf("    \"totals\": [%lld, %lld, %lld, %lld],\n", (long long)b->totals[0],
           (long long)b->totals[1], (long long)b->totals[2], (long long)b->totals[3]);
    printf("    \"precisions\": [%.17g, %.17g, %.17g, %.17g],\n", b->precisions[0],
           b->precisions[1], b->precisions[2], b->precisions[3]);
    printf("    \"bp\": %.17g,\n    \"sys_len\": %lld,\n    \"ref_len\": %lld,\n", b->bp,
           (long long)b->sys_len, (long long)b->ref_len);
    printf("    \"signature\": ");
    tg_json_str(stdout, b->signature);
    printf("\n  },\n");
    const tg_chrf_result *cs[2] = {c, cp};
    const char *keys[2] = {"chrf", "chrf_pp"};
    for (int i = 0; i < 2; i++) {
        printf("  \"%s\": {\n    \"name\": ", keys[i]);
        tg_json_str(stdout, cs[i]->name);
        printf(",\n    \"score\": %.17g,\n    \"signature\": ", cs[i]->score);
        tg_json_str(stdout, cs[i]->signature);
        printf("\n  }%s\n", i ? "" : ",");
    }
    printf("}\n");
}

static void print_text(const tg_bleu_result *b, const tg_chrf_result *c, const tg_chrf_result *cp) {
    double ratio = b->ref_len ? (double)b->sys_len / (double)b->ref_len : 0.0;
    printf("BLEU|%s = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %lld ref_len = %lld)\n",
           b->signature, b->score, b->precisions[0], b->precisions[1], b->precisions[2],
           b->precisions[3], b->bp, ratio, (long long)b->sys_len, (long long)b->ref_len);
    printf("%s|%s = %.2f\n", c->name, c->signature, c->score);
    printf("%s|%s = %.2f\n", cp->name, cp->signature, cp->score);
}

/* The flags of one call. */
typedef struct score_opts {
    const char *ref_path, *hyp_path;
    tg_bleu_opts bleu;
    int json;
    const char **systems;   /* --paired-bs files, in the order given */
    size_t n_systems;
    int bs_n;
    uint64_t bs_seed;
    const char *smooth_value, *bs_flag;   /* as given (NULL: not), to refuse them where unused */
} score_opts;

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tapegrad score: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return 2;
}

/* A whole number in [lo, hi], or -1. */
static int parse_count(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *s == '+' || *s == ' ' || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* One option (getopt's c and optarg) into o; 0 or the exit code of a usage error. */
static int score_flag(int c, const char *arg, score_opts *o) {
    long long v;
    switch (c) {
    case 'r': o->ref_path = arg; return 0;
    case 'y': o->hyp_path = arg; return 0;
    case 't':
        if (!strcmp(arg, "13a")) o->bleu.tokenize = TG_BLEU_TOK_13A;
        else if (!strcmp(arg, "intl")) o->bleu.tokenize = TG_BLEU_TOK_INTL;
        else if (!strcmp(arg, "none")) o->bleu.tokenize = TG_BLEU_TOK_NONE;
        else return usage_error("unknown tokenizer '%s' (expected 13a, intl or none)", tg_arg_shown(arg));
        return 0;
    case 'l': o->bleu.lowercase = true; return 0;
    case 's':
        if (!strcmp(arg, "exp")) o->bleu.smooth = TG_BLEU_SMOOTH_EXP;
        else if (!strcmp(arg, "none")) o->bleu.smooth = TG_BLEU_SMOOTH_NONE;
        else if (!strcmp(arg, "floor")) o->bleu.smooth = TG_BLEU_SMOOTH_FLOOR;
        else if (!strcmp(arg, "add-k")) o->bleu.smooth = TG_BLEU_SMOOTH_ADD_K;
        else return usage_error("unknown smoothing '%s' (expected exp, none, floor or add-k)",
                                tg_arg_shown(arg));
        return 0;
    case 'v': {
        char *end;
        errno = 0;
        double x = strtod(arg, &end);
        if (end == arg || *end || errno || !(x >= 0 && x <= 1e9) || strpbrk(arg, "xX") || isspace((unsigned char)*arg))
            return usage_error("--smooth-value '%s': expected a number from 0 to 1e9", tg_arg_shown(arg));
        o->bleu.smooth_value = x;
        o->smooth_value = arg;
        return 0;
    }
    case 'j': o->json = 1; return 0;
    case 'P': o->systems[o->n_systems++] = arg; return 0;
    case 'N':
        if (parse_count(arg, 1, 10000000, &v))
            return usage_error("--paired-bs-n '%s': expected a whole number from 1 to 10000000",
                               tg_arg_shown(arg));
        o->bs_n = (int)v;
        o->bs_flag = "--paired-bs-n";
        return 0;
    case 'S':
        if (parse_count(arg, 0, INT64_MAX, &v))
            return usage_error("--paired-bs-seed '%s': expected a whole number from 0 to %lld", tg_arg_shown(arg),
                               (long long)INT64_MAX);
        o->bs_seed = (uint64_t)v;
        o->bs_flag = "--paired-bs-seed";
        return 0;
    default: usage(stderr); return 2;
    }
}

/* Parses argv into o (o->systems has room for argc entries); 0, or an exit code. */
static int score_parse(int argc, char **argv, score_opts *o, int *help) {
    static const struct option long_opts[] = {
        {"ref", required_argument, NULL, 'r'},
        {"hyp", required_argument, NULL, 'y'},
        {"tokenize", required_argument, NULL, 't'},
        {"lowercase", no_argument, NULL, 'l'},
        {"smooth", required_argument, NULL, 's'},
        {"smooth-value", required_argument, NULL, 'v'},
        {"json", no_argument, NULL, 'j'},
        {"paired-bs", required_argument, NULL, 'P'},
        {"paired-bs-n", required_argument, NULL, 'N'},
        {"paired-bs-seed", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 0;   /* restart getopt: tests call commands more than once in a process */
    while ((c = tg_arg_getopt("score", argc, argv, "h", long_opts, NULL)) != -1) {
        if (c == 'h') {
            *help = 1;
            return 0;
        }
        int rc = score_flag(c, optarg, o);
        if (rc) return rc;
    }
    /* getopt moves the other words to the end, in order: "--paired-bs A B C" leaves B and C. */
    if (optind < argc && !o->n_systems)
        return usage_error("unexpected argument '%s'", tg_arg_shown(argv[optind]));
    while (optind < argc) o->systems[o->n_systems++] = argv[optind++];
    if (!o->ref_path || !o->hyp_path)
        return usage_error("%s", "--ref and --hyp are both required");
    /* stdin is read whole by the first reader: a second "-" would read nothing */
    int stdin_inputs = tg_file_reads_stdin(o->ref_path) + tg_file_reads_stdin(o->hyp_path);
    for (size_t s = 0; s < o->n_systems; s++) stdin_inputs += tg_file_reads_stdin(o->systems[s]);
    if (stdin_inputs > 1)
        return usage_error("%s", "stdin ('-', /dev/stdin) is given for more than one input: give files for the "
                           "others");
    /* flags that would do nothing are refused, not dropped in silence */
    if (o->smooth_value && o->bleu.smooth != TG_BLEU_SMOOTH_FLOOR && o->bleu.smooth != TG_BLEU_SMOOTH_ADD_K)
        return usage_error("--smooth-value %s: only --smooth floor and add-k take a value",
                           tg_arg_shown(o->smooth_value));
    if (o->bs_flag && !o->n_systems)
        return usage_error("%s goes with --paired-bs (it sets the bootstrap's resamples or seed)", o->bs_flag);
    return 0;
}

/* BLEU, chrF and chrF++ of one hypothesis file. */
static int score_one(const score_opts *o, const tg_lines *ref, const tg_lines *hyp) {
    const char *const *h = (const char *const *)hyp->line;
    const char *const *r = (const char *const *)ref->line;
    tg_bleu_result bleu;
    tg_chrf_result chrf, chrf_pp;
    tg_chrf_opts co = tg_chrf_opts_default();
    tg_err err;
    tg_status st = tg_bleu_corpus_score(h, r, hyp->n, &o->bleu, &bleu, &err);
    if (st == TG_OK) st = tg_chrf_corpus_score(h, r, hyp->n, &co, &chrf, &err);
    co.word_order = 2;
    if (st == TG_OK) st = tg_chrf_corpus_score(h, r, hyp->n, &co, &chrf_pp, &err);
    if (st != TG_OK) {
        fprintf(stderr, "tapegrad score: %s: %s\n", tg_status_str(st), err.msg);
        return 1;
    }
    if (o->json) print_json(&bleu, &chrf, &chrf_pp, hyp->n);
    else print_text(&bleu, &chrf, &chrf_pp);
    return 0;   /* a write error is reported once, by tg_cli_output_done */
}

/* Reads every system file into sys[1..] (sys[0] is the baseline, already read), each with the
 * reference's line count, and runs the paired bootstrap. */
static int score_paired(const score_opts *o, const tg_lines *ref, tg_lines *sys) {
    size_t n_sys = o->n_systems + 1;
    const char **names = malloc(n_sys * sizeof *names);
    char ***lines = malloc(n_sys * sizeof *lines);
    int rc = 1;
    if (!names || !lines) {
        fprintf(stderr, "tapegrad score: out of memory\n");
        goto done;
    }
    names[0] = o->hyp_path;
    for (size_t s = 1; s < n_sys; s++) {
        names[s] = o->systems[s - 1];
        if (read_lines(names[s], &sys[s])) goto done;
        if (sys[s].n != ref->n) {
            char sr[SHOWN_MAX], sh[SHOWN_MAX];
            fprintf(stderr, "tapegrad score: %s has %zu lines but %s has %zu: they must match "
                            "line for line\n", tg_shown(sr, sizeof sr, o->ref_path), ref->n,
                    tg_shown(sh, sizeof sh, names[s]), sys[s].n);
            goto done;
        }
    }
    for (size_t s = 0; s < n_sys; s++) lines[s] = sys[s].line;
    tg_score_bs_args a = {.names = names, .hyps = lines, .n_sys = n_sys, .refs = ref->line,
                          .n_seg = ref->n, .bleu = &o->bleu, .n_samples = o->bs_n,
                          .seed = o->bs_seed, .json = o->json != 0};
    rc = tg_score_paired_bs(&a);
done:
    free(names);
    free(lines);
    return rc;
}

int tg_cmd_score(int argc, char **argv) {
    score_opts o = {.bleu = tg_bleu_opts_default(), .bs_n = TG_PAIRED_BS_N_DEFAULT,
                    .bs_seed = TG_PAIRED_BS_SEED_DEFAULT};
    o.systems = malloc((size_t)(argc + 1) * sizeof *o.systems);
    if (!o.systems) {
        fprintf(stderr, "tapegrad score: out of memory\n");
        return 1;
    }
    int help = 0, rc = score_parse(argc, argv, &o, &help);
    if (help) usage(stdout);
    if (rc || help) {
        free(o.systems);
        return rc;
    }
    /* sys[0] is the baseline (--hyp), then the --paired-bs systems. */
    tg_lines ref = {0}, *sys = calloc(o.n_systems + 1, sizeof *sys);
    if (!sys) {
        fprintf(stderr, "tapegrad score: out of memory\n");
        free(o.systems);
        return 1;
    }
    rc = 1;
    if (read_lines(o.ref_path, &ref) || read_lines(o.hyp_path, &sys[0])) goto done;
    if (ref.n != sys[0].n) {
        char sr[SHOWN_MAX], sh[SHOWN_MAX];
        fprintf(stderr, "tapegrad score: %s has %zu lines but %s has %zu: they must match line "
                        "for line\n", tg_shown(sr, sizeof sr, o.ref_path), ref.n,
                tg_shown(sh, sizeof sh, o.hyp_path), sys[0].n);
        goto done;
    }
    rc = o.n_systems ? score_paired(&o, &ref, sys) : score_one(&o, &ref, &sys[0]);
done:
    tg_lines_free(&ref);
    for (size_t s = 0; s <= o.n_systems; s++) tg_lines_free(&sys[s]);
    free(sys);
    free(o.systems);
    return tg_cli_output_done("tapegrad score", rc);
}
