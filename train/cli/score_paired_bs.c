/* score_paired_bs.c: `tapegrad score --paired-bs`: per-segment BLEU statistics of every system,
 * paired bootstrap resampling (train/metrics/paired_bs.h), and the result in sacreBLEU's
 * layout (its fancy_grid table, one decimal, p-values to four) or as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/cli/score_paired_bs.h"
#include "train/metrics/paired_bs.h"
#include "train/run/text_out.h"

#define CELL_MAX 96

/* Characters as a terminal shows them: UTF-8 continuation bytes do not count. */
static size_t display_len(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void repeat(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) fputs(s, stdout);
}

/* One cell padded to width w: right-aligned, or centred with the odd space on the right (as
 * Python's format "^" does). */
static void cell(const char *s, size_t w, bool centre) {
    size_t len = display_len(s), pad = w > len ? w - len : 0;
    size_t left = centre ? pad / 2 : pad;
    repeat(" ", left);
    fputs(s, stdout);
    repeat(" ", pad - left);
}

static void rule(const char *l, const char *fill, const char *mid, const char *r, size_t w1,
                 size_t w2) {
    fputs(l, stdout);
    repeat(fill, w1 + 2);
    fputs(mid, stdout);
    repeat(fill, w2 + 2);
    printf("%s\n", r);
}

static void row(const char *c1, const char *c2, size_t w1, size_t w2) {
    fputs("│ ", stdout);
    cell(c1, w1, false);
    fputs(" │ ", stdout);
    cell(c2, w2, true);
    fputs(" │\n", stdout);
}

/* The signature as sacreBLEU prints it in paired mode: bs and seed after nrefs. */
static void bs_signature(const tg_score_bs_args *a, char *out, size_t cap) {
    tg_bleu_stats none = {0};
    tg_bleu_result r;
    tg_bleu_stats_score(&none, a->bleu, &r, NULL);
    const char *rest = strchr(r.signature, '|');
    snprintf(out, cap, "nrefs:1|bs:%d|seed:%llu%s", a->n_samples, (unsigned long long)a->seed,
             rest ? rest : "");
}

static void print_table(const tg_score_bs_args *a, const tg_paired_bs_system *res) {
    const char *h1 = "System", *h2 = "BLEU (μ ± 95% CI)";
    /* tabulate's widths: the header plus 2, or the widest cell. */
    size_t w1 = display_len(h1) + 2, w2 = display_len(h2) + 2;
    char (*score)[CELL_MAX] = calloc(a->n_sys, sizeof *score);
    char (*pval)[CELL_MAX] = calloc(a->n_sys, sizeof *pval);
    char (*name)[CELL_MAX * 4] = calloc(a->n_sys, sizeof *name);
    if (!score || !pval || !name) {
        free(score), free(pval), free(name);
        fprintf(stderr, "tapegrad score: out of memory printing the table\n");
        return;
    }
    for (size_t s = 0; s < a->n_sys; s++) {
        const tg_bs_estimate *b = &res[s].bleu;
        char shown[CELL_MAX * 4 - 16];   /* control bytes of a file name as \xNN */
        snprintf(name[s], sizeof name[s], "%s%s", s ? "" : "Baseline: ", tg_shown(shown, sizeof shown, a->names[s]));
        snprintf(score[s], sizeof score[s], "%.1f (%.1f ± %.1f)", b->score, b->mean, b->ci);
        /* sacreBLEU stars p <= 0.05 (and colours the others red on a terminal). */
        if (s) snprintf(pval[s], sizeof pval[s], "(p = %.4f)%s", res[s].p_value,
                        res[s].p_value <= 0.05 ? "*" : "");
        size_t l1 = display_len(name[s]), l2 = display_len(score[s]), l3 = display_len(pval[s]);
        if (l1 > w1) w1 = l1;
        if (l2 > w2) w2 = l2;
        if (l3 > w2) w2 = l3;
    }
    rule("╒", "═", "╤", "╕", w1, w2);
    row(h1, h2, w1, w2);
    rule("╞", "═", "╪", "╡", w1, w2);
    for (size_t s = 0; s < a->n_sys; s++) {
        if (s) rule("├", "─", "┼", "┤", w1, w2);
        row(name[s], score[s], w1, w2);
        if (s) row("", pval[s], w1, w2);
    }
    rule("╘", "═", "╧", "╛", w1, w2);
    free(score), free(pval), free(name);
}

static void print_text(const tg_score_bs_args *a, const tg_paired_bs_system *res) {
    print_table(a, res);
    char sig[TG_METRICS_SIGNATURE_MAX + 48];
    bs_signature(a, sig, sizeof sig);
    printf("\nBLEU|%s\n", sig);
    if (a->n_sys < 2) return;
    printf("\nDifference to the baseline (system - baseline on the same resamples, "
           "μ ± 95%% CI):\n");
    for (size_t s = 1; s < a->n_sys; s++) {
        char shown[CELL_MAX * 4];
        printf("  %s: %+.1f (%+.1f ± %.1f)\n", tg_shown(shown, sizeof shown, a->names[s]), res[s].diff.score,
               res[s].diff.mean, res[s].diff.ci);
    }
}

static void json_estimate(const char *key, const tg_bs_estimate *e) {
    printf("\"%s\": {\"score\": %.17g, \"mean\": %.17g, \"ci\": %.17g}", key, e->score, e->mean,
           e->ci);
}

static void print_json(const tg_score_bs_args *a, const tg_paired_bs_system *res) {
    char sig[TG_METRICS_SIGNATURE_MAX + 48];
    bs_signature(a, sig, sizeof sig);
    printf("{\n  \"test\": \"paired-bs\",\n  \"segments\": %zu,\n  \"paired_bs_n\": %d,\n"
           "  \"paired_bs_seed\": %llu,\n  \"signature\": \"%s\",\n  \"systems\": [\n",
           a->n_seg, a->n_samples, (unsigned long long)a->seed, sig);
    for (size_t s = 0; s < a->n_sys; s++) {
        printf("    {\"name\": ");
        tg_json_str(stdout, a->names[s]);
        printf(", \"baseline\": %s,\n     ", s ? "false" : "true");
        json_estimate("bleu", &res[s].bleu);
        printf(",\n     ");
        json_estimate("diff", &res[s].diff);
        if (s) printf(",\n     \"p_value\": %.17g}", res[s].p_value);
        else printf(",\n     \"p_value\": null}");
        printf("%s\n", s + 1 < a->n_sys ? "," : "");
    }
    printf("  ]\n}\n");
}

/* seg[s][i]: the BLEU statistics of line i of system s. */
static int segment_stats(const tg_score_bs_args *a, tg_bleu_stats **seg) {
    for (size_t s = 0; s < a->n_sys; s++) {
        for (size_t i = 0; i < a->n_seg; i++) {
            tg_err err;
            tg_status st = tg_bleu_stats_add(&seg[s][i], a->hyps[s][i], a->refs[i], a->bleu, &err);
            if (st != TG_OK) {
                char shown[CELL_MAX * 4];
                fprintf(stderr, "tapegrad score: %s:%zu: %s\n", tg_shown(shown, sizeof shown, a->names[s]), i + 1,
                        err.msg);
                return 1;
            }
        }
    }
    return 0;
}

int tg_score_paired_bs(const tg_score_bs_args *a) {
    tg_bleu_stats **seg = calloc(a->n_sys, sizeof *seg);
    tg_paired_bs_system *res = calloc(a->n_sys, sizeof *res);
    int rc = 1;
    if (!seg || !res) goto oom;
    for (size_t s = 0; s < a->n_sys; s++)
        if (!(seg[s] = calloc(a->n_seg ? a->n_seg : 1, sizeof **seg))) goto oom;
    if (segment_stats(a, seg)) goto done;
    tg_err err;
    tg_status st = tg_paired_bs((const tg_bleu_stats *const *)seg, a->n_sys, a->n_seg,
                                a->n_samples, a->seed, a->bleu, res, &err);
    if (st != TG_OK) {
        fprintf(stderr, "tapegrad score: %s: %s\n", tg_status_str(st), err.msg);
        goto done;
    }
    if (a->json) print_json(a, res);
    else print_text(a, res);
    rc = 0;   /* a write error is reported once, by tg_cli_output_done */
    goto done;
oom:
    fprintf(stderr, "tapegrad score: out of memory for the segment statistics\n");
done:
    for (size_t s = 0; seg && s < a->n_sys; s++) free(seg[s]);
    free(seg);
    free(res);
    return rc;
}
