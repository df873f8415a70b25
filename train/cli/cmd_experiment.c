/* cmd_experiment.c: `tapegrad experiment`: a base recipe (train flags) crossed with --vary axes
 * and seeds, every cell an ordinary train run under DIR/cells/, trained one after the other (or
 * --jobs N at a time); `--dry-run` lists the cells and the time left. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/cli/commands.h"
#include "train/experiment/experiment.h"
#include "train/experiment/report.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: tapegrad experiment [--config FILE] [train flags...] --vary KEY=V1,V2[,...] [--vary ...]\n"
            "                           --seeds N | --seed-list 1,2,3  --max-steps N --out DIR [--jobs N] [--dry-run]\n"
            "       tapegrad experiment --resume DIR [--max-steps N] [--jobs N] [--dry-run]\n"
            "       tapegrad experiment report DIR [--baseline KEY=V,...]\n\n"
            "Trains every cell of the grid (each --vary axis's values x the seeds) one after the other, or\n"
            "--jobs N at a time. A cell is an ordinary `tapegrad train` run folder DIR/cells/KEY=V,...,seed=S/\n"
            "trained with the base recipe (the train flags and --config FILE given here), the cell's values,\n"
            "--seed S; cells of one seed see the same data and batches. Budgets are matched in steps\n"
            "(--max-steps is required); the training time of each cell is recorded in its checkpoint (cells\n"
            "trained side by side share the cores: compare their times only at the same --jobs). The recipe\n"
            "is recorded in DIR/experiment.txt: the same command again (or --resume DIR) skips finished\n"
            "cells and resumes an interrupted one exactly; another recipe on the same DIR is refused. Every\n"
            "cell's config is checked before anything is trained. Ctrl-C (SIGINT) or SIGTERM: the running\n"
            "cells save, and the experiment stops (exit 1); a failed cell stops it too, with its message\n"
            "(and the other running cells save and stop). Ctrl-Z pauses the running cells with it.\n\n"
            "When every cell is done, and with `report DIR` at any time (over the finished cells): each cell's\n"
            "last.ckpt and best.ckpt are scored on the dev set (loss, NLL, greedy BLEU and chrF2, and eval's\n"
            "teacher-forced token statistics: accuracy, top-5, the NLL of right and of wrong first choices,\n"
            "entropy, confidence; cached in the cell as eval-last.tsv, dev.hyp-last.txt, eval-best.tsv and\n"
            "dev.hyp-best.txt, redone when the checkpoint is newer or the cache fails its checksums; a dev\n"
            "file that now reads other pairs than the cell validated on is refused), and DIR gets results.tsv,\n"
            "results.json, report.md (per variant mean ± sd over seeds; each variant against the baseline by\n"
            "paired bootstrap resampling of the dev set, 1000 resamples, per seed and pooled over seeds; a\n"
            "cell scored on other dev text than the baseline's is named, not paired) and plot-*.svg (dev NLL,\n"
            "dev BLEU, training loss, and diagnostics.tsv's metrics).\n\n"
            "  --vary KEY=V1,V2,...   an axis: KEY is a train flag (e.g. attn-activation=none,relu,gelu;\n"
            "                         a flag without a value is varied as KEY=false,true); repeat for\n"
            "                         more axes\n"
            "  --variant NAME[:KEY=V;KEY=V...]\n"
            "                         one value of the variant axis: a named bundle of train flags, for\n"
            "                         variants that differ in more than one flag (a flag without a value:\n"
            "                         KEY alone); repeat for each variant; the axis comes after --vary's\n"
            "  --seeds N              seeds 1..N\n"
            "  --seed-list S1,S2,...  these seeds\n"
            "  --out DIR              the experiment folder\n"
            "  --config FILE          base settings, `key = value` lines (as train --config)\n"
            "  --dry-run              list the cells (new, partial, done) and estimate the training time\n"
            "                         left from 10 timed steps of each variant (after 1 untimed); writes\n"
            "                         nothing under DIR\n"
            "  --resume DIR           run the command recorded in DIR/experiment.txt again\n"
            "  --resume DIR --max-steps N\n"
            "                         extend every cell's budget to N steps (more than the recorded one):\n"
            "                         each cell resumes from its last.ckpt to N, the record and the report\n"
            "                         follow. By exact resume this is the experiment a fresh run with\n"
            "                         --max-steps N gives. Refused for a cosine schedule (it decays over the\n"
            "                         budget), an old budget off the --valid-every grid, or a cell not\n"
            "                         trained with the recorded recipe. Copy DIR first to keep the shorter\n"
            "                         cells\n"
            "  --jobs N               cells trained at a time, each in its own process, 1 to 64 [1]; each\n"
            "                         uses --threads T: keep N x T within the cores. A cell's result is\n"
            "                         the same for any N (not recorded: a resume may change it); the\n"
            "                         cells' lines are shown marked [cell], and each has its train.log.\n"
            "                         --dry-run's time is that of the cells one after the other\n"
            "  --baseline KEY=V,...   the variant the others are compared with [each axis's first value]\n"
            "  -h, --help             this text\n\n"
            "Every train flag below may be a base flag or a --vary KEY (but --out and --seed).\n");
    tg_run_config_help(f, 0xF);
}

typedef struct {
    bool dry_run;
    const char *jobs;        /* --jobs N as given, or NULL */
    const char *resume;
    int n_vary, n_variant;
    const char **vary, **variant;
    const char *seeds, *seed_list, *baseline;
} exp_flags;

/* A folder or file name for e's buffer of cap bytes: a longer one is refused, as train's --out and
 * --resume are (snprintf cut it, and another path was read: with its end cut to a parent folder,
 * the refusal told to remove that folder); true if refused. */
static bool too_long(const char *cmd, const char *flag, const char *v, size_t cap) {
    if (strlen(v) < cap) return false;
    fprintf(stderr, "tapegrad %s: %s: value too long (at most %zu bytes)\n", cmd, flag, cap - 1);
    return true;
}

/* Parses argv (after "experiment") into e; returns -1 to go on, else the exit code. */
static int parse(int argc, char **argv, tg_experiment *e, exp_flags *fl) {
    static const struct option extra[] = {
        {"config", required_argument, NULL, 'c'}, {"vary", required_argument, NULL, 'v'},
        {"seeds", required_argument, NULL, 'S'}, {"seed-list", required_argument, NULL, 'L'},
        {"dry-run", no_argument, NULL, 'n'}, {"resume", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'}, {"variant", required_argument, NULL, 'V'},
        {"baseline", required_argument, NULL, 'b'}, {"jobs", required_argument, NULL, 'j'},
    };
    const struct option *opts = tg_run_config_getopt(extra, 10);
    fl->vary = calloc((size_t)argc + 1, sizeof *fl->vary);
    fl->variant = calloc((size_t)argc + 1, sizeof *fl->variant);
    if (!fl->vary || !fl->variant) return 1;
    tg_err err;
    int c;
    optind = 0;
    while ((c = tg_arg_getopt("experiment", argc, argv, "h", opts, NULL)) != -1) {
        const char *name = tg_run_config_name(c);
        switch (c) {
        case 'c':
            if (too_long("experiment", "--config", optarg, sizeof e->config)) return 2;
            snprintf(e->config, sizeof e->config, "%s", optarg);
            break;
        case 'v': fl->vary[fl->n_vary++] = optarg; break;
        case 'V': fl->variant[fl->n_variant++] = optarg; break;
        case 'S': fl->seeds = optarg; break;
        case 'L': fl->seed_list = optarg; break;
        case 'n': fl->dry_run = true; break;
        case 'r': fl->resume = optarg; break;
        case 'b': fl->baseline = optarg; break;
        case 'j': fl->jobs = optarg; break;
        case 'h': usage(stdout); return 0;
        default:
            if (!name) { usage(stderr); return 2; }
            if (!strcmp(name, "out")) {
                if (too_long("experiment", "--out", optarg, sizeof e->dir)) return 2;
                snprintf(e->dir, sizeof e->dir, "%s", optarg);
            } else if (tg_exp_add_base(e, name, optarg, &err) != TG_OK) {
                fprintf(stderr, "tapegrad experiment: %s\n", err.msg);
                return 1;
            }
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tapegrad experiment: unexpected argument '%s'\n", tg_arg_shown(argv[optind]));
        return 2;
    }
    tg_status s = TG_OK;
    for (int i = 0; s == TG_OK && i < fl->n_vary; i++) s = tg_exp_add_vary(e, fl->vary[i], &err);
    for (int i = 0; s == TG_OK && i < fl->n_variant; i++) s = tg_exp_add_variant(e, fl->variant[i], &err);
    if (s == TG_OK && fl->seeds && fl->seed_list) s = tg_err_set(&err, TG_ERR_ARG, "give --seeds or --seed-list, not both");
    if (s == TG_OK && (fl->seeds || fl->seed_list))
        s = tg_exp_add_seeds(e, fl->seeds ? fl->seeds : fl->seed_list, fl->seed_list != NULL, &err);
    if (s != TG_OK) {
        fprintf(stderr, "tapegrad experiment: %s\n", err.msg);
        return 2;
    }
    return -1;
}

/* Whether a is the option --name as getopt_long takes it: the name or an abbreviation of it (a
 * prefix; one shared with another option was refused by parse already), alone or with "=VALUE"
 * (*inline_value). */
static bool is_option(const char *a, const char *name, bool *inline_value) {
    if (strncmp(a, "--", 2)) return false;
    size_t n = strcspn(a + 2, "=");
    *inline_value = a[2 + n] == '=';
    return n >= 1 && n <= strlen(name) && !strncmp(a + 2, name, n);
}

/* The recorded command: argv without --dry-run, --baseline (the report's, not the recipe's) and
 * --jobs (how the cells are scheduled, not what they are), however abbreviated. */
static int keep_argv(tg_experiment *e, int argc, char **argv) {
    e->argv = calloc((size_t)argc + 1, sizeof *e->argv);
    if (!e->argv) return 1;
    for (int i = 1; i < argc; i++) {
        bool inline_value;
        if (is_option(argv[i], "baseline", &inline_value) || is_option(argv[i], "jobs", &inline_value))
            i += !inline_value;
        else if (!is_option(argv[i], "dry-run", &inline_value))
            e->argv[e->argc++] = argv[i];
    }
    return 0;
}

/* --jobs N: 1 to TG_EXP_MAX_JOBS, digits only; 1 when not given. Returns 0 when it is bad (the
 * message printed). */
static int jobs_of(const char *v) {
    if (!v) return 1;
    long n = 0;
    bool ok = v[0] && !v[strspn(v, "0123456789")] && strlen(v) <= 3 && (n = strtol(v, NULL, 10)) >= 1 &&
              n <= TG_EXP_MAX_JOBS;
    if (!ok) fprintf(stderr, "tapegrad experiment: --jobs '%s': give a number of cells from 1 to %d\n", tg_arg_shown(v),
                     TG_EXP_MAX_JOBS);
    return ok ? (int)n : 0;
}

static int run(int argc, char **argv, int depth, bool extending);

/* `--resume DIR`: the recorded command, with --dry-run if given now; report: its report, with
 * --baseline SPEC if given; max_steps: with the budget extended to that (`--resume DIR --max-steps N`). */
static int resume(const char *dir, bool dry_run, const char *report, const char *baseline, const char *max_steps,
                  const char *jobs, int depth) {
    int n;
    char **rec;
    tg_err err;
    if (depth > 0) {   /* (a record edited by hand: its argument shown escaped) */
        fprintf(stderr, "tapegrad experiment: --resume in %s/experiment.txt\n", tg_arg_shown(dir));
        return 2;
    }
    /* the folder is the experiment's --out, held in e->dir (and DIR/experiment.txt in a path of
     * TG_PATH_MAX + 32 bytes) */
    if (too_long(report ? "experiment report" : "experiment", report ? "DIR" : "--resume", dir,
                 sizeof ((tg_experiment *)NULL)->dir))
        return 2;
    if (tg_run_folder_usable(dir, &err) != TG_OK || tg_exp_record_argv(dir, &n, &rec, &err) != TG_OK) {
        if (report) fprintf(stderr, "tapegrad experiment report: no experiment to report: %s\n", err.msg);
        else fprintf(stderr, "tapegrad experiment: cannot resume: %s\n", err.msg);
        return 1;
    }
    char **a = calloc((size_t)n + 10, sizeof *a);
    char *budget = max_steps ? malloc(strlen(max_steps) + 16) : NULL;
    int k = 0, rc = 1;
    bool budget_set = false;
    if (a && (budget || !max_steps)) {
        a[k++] = (char *)(report ? "report" : "experiment");
        for (int i = 0; i < n; i++) {   /* the folder where it is now, if it was moved or copied */
            a[k++] = i > 0 && !strcmp(rec[i - 1], "--out") ? (char *)dir : rec[i];
            if (!max_steps) continue;
            if (i > 0 && (!strcmp(rec[i - 1], "--max-steps") || !strcmp(rec[i - 1], "--max_steps")))
                a[k - 1] = (char *)max_steps, budget_set = true;
            else if (!strncmp(rec[i], "--max-steps=", 12) || !strncmp(rec[i], "--max_steps=", 12))
                sprintf(budget, "--max-steps=%s", max_steps), a[k - 1] = budget, budget_set = true;
        }
        if (max_steps && !budget_set) { a[k++] = "--max-steps"; a[k++] = (char *)max_steps; }   /* from --config */
        if (dry_run) a[k++] = "--dry-run";
        if (baseline) { a[k++] = "--baseline"; a[k++] = (char *)baseline; }
        if (jobs) { a[k++] = "--jobs"; a[k++] = (char *)jobs; }
        rc = run(k, a, depth + 1, max_steps != NULL);
    }
    free(budget);
    free(a);
    tg_exp_argv_free(n, rec);
    return rc;
}

/* The experiment of the command recorded in DIR/experiment.txt, as this build parses it (the
 * folder where it is now), in *r; *rec, *n: the recorded argv, which r points into (free after r). */
static bool parse_recorded(const char *dir, tg_experiment *r, char ***rec, int *n) {
    tg_err err;
    *rec = NULL;
    tg_exp_init(r);
    if (tg_exp_record_argv(dir, n, rec, &err) != TG_OK) return false;
    char **a = calloc((size_t)*n + 2, sizeof *a);
    exp_flags fl = {0};
    bool ok = false;
    if (a) {
        a[0] = "experiment";
        for (int i = 0; i < *n; i++) a[i + 1] = i > 0 && !strcmp((*rec)[i - 1], "--out") ? (char *)dir : (*rec)[i];
        ok = parse(*n + 1, a, r, &fl) < 0;
        r->recorded = true;
    }
    free(fl.vary);
    free(fl.variant);
    free(a);
    return ok;
}

/* `--resume DIR --max-steps N`: e is the recorded experiment with only its budget raised. */
static tg_status extension_ok(const tg_experiment *e, tg_err *err) {
    int n = 0;
    char **rec;
    tg_experiment r;
    tg_status s = parse_recorded(e->dir, &r, &rec, &n) ? tg_exp_extend_check(&r, e, err)
                  : tg_err_set(err, TG_ERR_ARG, "%s/experiment.txt: its command cannot be read "
                               "again", TG_SHOWN(e->dir));
    tg_exp_free(&r);
    tg_exp_argv_free(n, rec);
    return s;
}

/* `--resume DIR` with no other flags but --max-steps N (digits, once), --dry-run, --baseline and
 * --jobs: the recorded experiment resumed (or extended to N). The exit code. */
static int resume_flags(const tg_experiment *e, const exp_flags *fl, int depth) {
    const char *budget = e->n_base == 1 && !strcmp(e->base_name[0], "max-steps")
                             ? e->base_value[0] : NULL;
    int budgets = 0;
    for (int i = 0; i < e->n_base; i++) budgets += !strcmp(e->base_name[i], "max-steps");
    if (budgets > 1) {
        fprintf(stderr, "tapegrad experiment: --max-steps is given %d times: give it once\n",
                budgets);
        return 2;
    }
    if (budget && (!budget[0] || budget[strspn(budget, "0123456789")])) {
        fprintf(stderr, "tapegrad experiment: --max-steps '%s': not a number of steps (digits "
                "only)\n", tg_arg_shown(budget));
        return 2;
    }
    if (e->n_base > (budget ? 1 : 0) || fl->n_vary || fl->n_variant || fl->seeds ||
        fl->seed_list || e->config[0] || e->dir[0]) {
        fprintf(stderr, "tapegrad experiment: --resume DIR takes the recipe from "
                "DIR/experiment.txt: give no other flags (but --max-steps, --dry-run, --baseline, "
                "--jobs)\n");
        return 2;
    }
    return resume(fl->resume, fl->dry_run, NULL, fl->baseline, budget, fl->jobs, depth);
}

/* A new --seed-list (NULL: none) is digits separated by commas; false, said, else. A recorded one
 * (taken by builds before 2026-12-05) goes on as it was taken. */
static bool seed_list_ok(const char *list) {
    size_t n = list ? strlen(list) : 0;
    /* an empty seed after a trailing comma (1,2,): refused as --vary's empty value is */
    if (n && list[n - 1] == ',') {
        fprintf(stderr, "tapegrad experiment: --seed-list %s: an empty seed after the last comma: "
                "give seeds like 1,2,3\n", tg_arg_shown(list));
        return false;
    }
    /* and a seed spelled other than in digits (' 2', '+2', ' -2'): strtoull takes ' -2' as
     * 2^64 - 2, where train's --seed refuses it */
    if (n && list[strspn(list, "0123456789,")]) {
        fprintf(stderr, "tapegrad experiment: --seed-list '%s': seeds are digits, separated by "
                "commas (no spaces or signs): give seeds like 1,2,3\n", tg_arg_shown(list));
        return false;
    }
    return true;
}

/* extending: the command of a `--resume DIR --max-steps N`, the recorded one with N for its budget. */
static int run(int argc, char **argv, int depth, bool extending) {
    /* (3.5 KiB, and resume() comes back here: on the heap, so that a cell forked below has the stack) */
    tg_experiment *e = malloc(sizeof *e);
    if (!e) {
        fprintf(stderr, "tapegrad experiment: out of memory\n");
        return 1;
    }
    tg_exp_init(e);
    exp_flags fl = {0};
    tg_err err;
    int rc = parse(argc, argv, e, &fl);
    e->recorded = depth > 0;   /* from resume(): DIR/experiment.txt's command */
    if (rc < 0 && fl.resume) rc = resume_flags(e, &fl, depth);
    if (rc < 0 && depth == 0 && !seed_list_ok(fl.seed_list)) rc = 2;
    int jobs = rc < 0 ? jobs_of(fl.jobs) : 1;
    if (rc < 0 && jobs == 0) rc = 2;
    if (rc < 0) rc = keep_argv(e, argc, argv) ? 1 : -1;
    tg_status vs = rc < 0 ? tg_exp_validate(e, &err) : TG_OK;
    if (vs != TG_OK) {
        fprintf(stderr, "tapegrad experiment: %s\n", err.msg);
        rc = vs == TG_ERR_IO ? 1 : 2;
    }
    if (rc < 0 && extending && extension_ok(e, &err) != TG_OK) {
        fprintf(stderr, "tapegrad experiment: %s\n", err.msg);
        rc = 2;
    }
    bool report_only = !strcmp(argv[0], "report");   /* the recorded command, from `report DIR` */
    if (rc < 0 && !report_only && !e->recorded) tg_exp_note_config_per_cell(e, stderr);
    if (rc < 0 && !report_only && !fl.dry_run && tg_exp_check_inputs(e, &err) != TG_OK) {
        fprintf(stderr, "tapegrad experiment: %s\n", err.msg);
        rc = 1;
    }
    int lock = -1;   /* training: DIR/lock before the record is checked or written */
    if (rc < 0 && !report_only && !fl.dry_run && (lock = tg_exp_lock(e)) < 0) rc = 1;
    if (rc < 0 && tg_exp_record(e, !fl.dry_run, extending, &err) != TG_OK) {
        fprintf(stderr, "tapegrad experiment: %s\n", err.msg);
        rc = 1;
    }
    /* the cells' train takes the --config file as the experiment answered for it: checked against
     * each cell as it will train (a new one; a dry run's timed steps leave out the dev set it was
     * checked with, and the flags that would do nothing without it), or recorded */
    if (rc < 0 && report_only) rc = tg_exp_report(e, fl.baseline);
    else if (rc < 0 && fl.dry_run) rc = tg_exp_dry_run(e, tg_cmd_train_cell);
    else if (rc < 0) {
        rc = tg_exp_run(e, tg_cmd_train_cell, jobs);
        close(lock);
        lock = -1;
        if (rc == 0) rc = tg_exp_report(e, fl.baseline);
    }
    if (lock >= 0) close(lock);
    free(fl.vary);
    free(fl.variant);
    free(e->argv);
    tg_exp_free(e);
    free(e);
    return rc;
}

/* `experiment report DIR [--baseline SPEC]`. As getopt takes them elsewhere: `--baseline=SPEC`,
 * and `--` before a DIR that begins with a dash (`experiment --out -x` made one). */
static int report_cmd(int argc, char **argv) {
    const char *dir = NULL, *baseline = NULL;
    bool operands = false;   /* after `--` */
    for (int i = 1; i < argc; i++) {
        if (!operands && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) { usage(stdout); return 0; }
        if (!operands && !strcmp(argv[i], "--")) operands = true;
        else if (!operands && !strcmp(argv[i], "--baseline") && i + 1 < argc) baseline = argv[++i];
        else if (!operands && !strncmp(argv[i], "--baseline=", 11)) baseline = argv[i] + 11;
        else if ((operands || argv[i][0] != '-') && !dir) dir = argv[i];
        else {
            fprintf(stderr, "tapegrad experiment report: unexpected argument '%s'\n", tg_arg_shown(argv[i]));
            return 2;
        }
    }
    if (!dir) { fprintf(stderr, "tapegrad experiment report: give the experiment folder DIR\n"); return 2; }
    return resume(dir, false, "report", baseline, NULL, NULL, 0);
}

int tg_cmd_experiment(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "report")) return report_cmd(argc - 1, argv + 1);
    if (argc == 2 && !strcmp(argv[1], "help")) { usage(stdout); return 0; }   /* as `tapegrad help` */
    return run(argc, argv, 0, false);
}
