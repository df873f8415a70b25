/* cmd_score.c: `tapegrad score`, sacreBLEU-compatible BLEU, chrF2 and chrF2++ of a hypothesis
 * file against a reference file, one segment a line. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/datasets.h"
#include "train/cli/commands.h"
#include "train/cli/read_lines.h"
#include "train/metrics/metrics.h"
#include "train/metrics/text.h"
#include "train/run/text_out.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: tapegrad score --ref REF --hyp HYP [--tokenize 13a|intl|none] [--lowercase]\n"
            "                      [--smooth exp|none|floor|add-k] [--smooth-value X] [--json]\n"
            "\n"
            "Scores HYP against REF (UTF-8, one segment a line, the same number of lines) with\n"
            "corpus BLEU, chrF2 and chrF2++, computed as sacreBLEU %s does, and prints each with\n"
            "sacreBLEU's signature.\n"
            "\n"
            "  --ref FILE           reference translations\n"
            "  --hyp FILE           system output\n"
            "  --tokenize NAME      BLEU tokenizer: 13a (default), intl or none\n"
            "  --lowercase          case-insensitive BLEU (like sacreBLEU's -lc, chrF stays\n"
            "                       case-sensitive)\n"
            "  --smooth NAME        BLEU smoothing: exp (default), none, floor or add-k\n"
            "  --smooth-value X     value for floor (default 0.1) or add-k (default 1)\n"
            "  --json               print one JSON object: bleu, chrf, chrf_pp\n"
            "  -h, --help           this help\n",
            TG_SACREBLEU_VERSION);
}

/* A file's lines: the '\n' of each replaced by '\0' in buf. */
typedef struct score_lines {
    char *buf;
    char **line;
    size_t n;
} score_lines;

static void lines_free(score_lines *l) {
    free(l->buf);
    free(l->line);
    *l = (score_lines){0};
}

/* Reads path into l; on failure prints why (naming the file and line) and returns 1. */
static int read_lines(const char *path, score_lines *l) {
    char *buf;
    size_t len;
    tg_err err;
    if (tg_file_read(path, TG_LINES_MAX_BYTES, &buf, &len, &err) != TG_OK) {
        fprintf(stderr, "tapegrad score: %s\n", err.msg);
        return 1;
    }
    /* A last line without its newline still counts, as Python's readlines() has it. */
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\n') n++;
    if (len > 0 && buf[len - 1] != '\n') n++;
    char **line = malloc((n ? n : 1) * sizeof *line);
    if (!line) {
        fprintf(stderr, "tapegrad score: out of memory reading %s\n", path);
        free(buf);
        return 1;
    }
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= len && k < n; i++) {
        if (i == len || buf[i] == '\n') {
            buf[i] = '\0';
            size_t ll = i - start;
            if (memchr(buf + start, '\0', ll)) {
                fprintf(stderr, "tapegrad score: %s:%zu: contains a NUL byte (expected UTF-8 text)\n",
                        path, k + 1);
                free(buf);
                free(line);
                return 1;
            }
            size_t bad = tg_utf8_check(buf + start, ll);
            if (bad < ll) {
                fprintf(stderr, "tapegrad score: %s:%zu: not valid UTF-8 (byte %zu of the line)\n",
                        path, k + 1, bad + 1);
                free(buf);
                free(line);
                return 1;
            }
            line[k++] = buf + start;
            start = i + 1;
        }
    }
    l->buf = buf;
    l->line = line;
    l->n = n;
    return 0;
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

int tg_cmd_score(int argc, char **argv) {
    static const struct option long_opts[] = {
        {"ref", required_argument, NULL, 'r'},
        {"hyp", required_argument, NULL, 'y'},
        {"tokenize", required_argument, NULL, 't'},
        {"lowercase", no_argument, NULL, 'l'},
        {"smooth", required_argument, NULL, 's'},
        {"smooth-value", required_argument, NULL, 'v'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *ref_path = NULL, *hyp_path = NULL;
    tg_bleu_opts bo = tg_bleu_opts_default();
    int json = 0, c;
    optind = 0;   /* restart getopt: tests call commands more than once in a process */
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'r': ref_path = optarg; break;
        case 'y': hyp_path = optarg; break;
        case 't':
            if (!strcmp(optarg, "13a")) bo.tokenize = TG_BLEU_TOK_13A;
            else if (!strcmp(optarg, "intl")) bo.tokenize = TG_BLEU_TOK_INTL;
            else if (!strcmp(optarg, "none")) bo.tokenize = TG_BLEU_TOK_NONE;
            else {
                fprintf(stderr, "tapegrad score: unknown tokenizer '%s' (expected 13a, intl or none)\n\n",
                        optarg);
                usage(stderr);
                return 2;
            }
            break;
        case 'l': bo.lowercase = true; break;
        case 's':
            if (!strcmp(optarg, "exp")) bo.smooth = TG_BLEU_SMOOTH_EXP;
            else if (!strcmp(optarg, "none")) bo.smooth = TG_BLEU_SMOOTH_NONE;
            else if (!strcmp(optarg, "floor")) bo.smooth = TG_BLEU_SMOOTH_FLOOR;
            else if (!strcmp(optarg, "add-k")) bo.smooth = TG_BLEU_SMOOTH_ADD_K;
            else {
                fprintf(stderr, "tapegrad score: unknown smoothing '%s' "
                                "(expected exp, none, floor or add-k)\n\n", optarg);
                usage(stderr);
                return 2;
            }
            break;
        case 'v': {
            char *end;
            errno = 0;
            double v = strtod(optarg, &end);
            if (end == optarg || *end || errno || !(v >= 0 && v <= 1e9)) {
                fprintf(stderr, "tapegrad score: --smooth-value '%s': expected a number >= 0\n\n",
                        optarg);
                usage(stderr);
                return 2;
            }
            bo.smooth_value = v;
            break;
        }
        case 'j': json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tapegrad score: unexpected argument '%s'\n\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!ref_path || !hyp_path) {
        fprintf(stderr, "tapegrad score: --ref and --hyp are both required\n\n");
        usage(stderr);
        return 2;
    }

    score_lines ref = {0}, hyp = {0};
    if (read_lines(ref_path, &ref)) return 1;
    if (read_lines(hyp_path, &hyp)) {
        lines_free(&ref);
        return 1;
    }
    int rc = 0;
    if (ref.n != hyp.n) {
        fprintf(stderr, "tapegrad score: %s has %zu lines but %s has %zu: they must match line "
                        "for line\n", ref_path, ref.n, hyp_path, hyp.n);
        rc = 1;
        goto done;
    }
    const char *const *h = (const char *const *)hyp.line, *const *r = (const char *const *)ref.line;
    tg_bleu_result bleu;
    tg_chrf_result chrf, chrf_pp;
    tg_chrf_opts co = tg_chrf_opts_default();
    tg_err err;
    tg_status st = tg_bleu_corpus_score(h, r, hyp.n, &bo, &bleu, &err);
    if (st == TG_OK) st = tg_chrf_corpus_score(h, r, hyp.n, &co, &chrf, &err);
    co.word_order = 2;
    if (st == TG_OK) st = tg_chrf_corpus_score(h, r, hyp.n, &co, &chrf_pp, &err);
    if (st != TG_OK) {
        fprintf(stderr, "tapegrad score: %s: %s\n", tg_status_str(st), err.msg);
        rc = 1;
        goto done;
    }
    if (json) print_json(&bleu, &chrf, &chrf_pp, hyp.n);
    else print_text(&bleu, &chrf, &chrf_pp);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "tapegrad score: cannot write the output: %s\n", strerror(errno));
        rc = 1;
    }
done:
    lines_free(&ref);
    lines_free(&hyp);
    return rc;
}
