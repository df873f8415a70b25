/* estimate.c: `tapegrad experiment --dry-run`: the cells, where each stands, and the time left.
 * The time of a step is measured, not guessed: each variant (model config) trains 1 + 10 steps in a
 * scratch folder under $TMPDIR (removed after; nothing is written under DIR); the 10 steps after
 * the first (which plans the arena and touches its pages: several steps' time), read from the
 * scratch run's metrics.tsv, are scaled to the steps its cells have left. Validation time is not
 * counted. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/experiment/experiment.h"
#include "train/experiment/report.h"
#include "train/run/progress.h"

#define WARM_STEPS 1    /* not timed */
#define TIMED_STEPS 10

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char path[sizeof ((tg_exp_cell *)0)->dir + 300];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        remove(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Seconds a training step of cell c's variant takes, or a negative number if it could not run
 * (why in why[]). */
static double time_variant(const tg_experiment *e, const tg_exp_cell *c, tg_exp_train_fn train, char *why,
                           size_t why_size) {
    const char *tmp = getenv("TMPDIR");
    char dir[TG_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/tapegrad-estimate-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    snprintf(why, why_size, "the timed steps failed (run it with tapegrad train to see why)");
    if (!mkdtemp(dir)) {
        snprintf(why, why_size, "cannot make a scratch folder for the timed steps (%s): %s", dir, strerror(errno));
        return -1;
    }
    /* the scratch cell and its config, 9 KiB, on the heap: the timed run's train runs below here */
    struct { tg_exp_cell scratch; tg_run_config cfg; } *h = malloc(sizeof *h);
    int max = tg_exp_argv_max(e) + 16, k;
    char **argv = calloc((size_t)max, sizeof *argv);
    if (!argv || !h) { free(argv); free(h); rmdir(dir); return -1; }
    tg_exp_cell *scratch = &h->scratch;
    *scratch = *c;
    snprintf(scratch->dir, sizeof scratch->dir, "%s/run", dir);
    k = tg_exp_cell_argv_without_dev(e, scratch, argv);
    /* later flags win: a short run, no dev set, no periodic saves; a task validates on its own dev
     * set, once at the end and on one sentence (validation flags of a run on text without its dev
     * set would do nothing, and train refuses them) */
    char run_steps[16];
    snprintf(run_steps, sizeof run_steps, "%d", WARM_STEPS + TIMED_STEPS);
    char *extra[] = {"--max-steps", run_steps, "--log-every", "1", "--save-every", "0", "--dev", "", "--keep", "0", NULL};
    char *task_extra[] = {"--valid-every", "0", "--valid-sentences", "1", NULL};
    tg_err cfg_err;
    bool task = tg_exp_cell_config(e, c, &h->cfg, &cfg_err) == TG_OK && h->cfg.task[0];
    for (int i = 0; extra[i]; i++) argv[k++] = extra[i];
    for (int i = 0; task && task_extra[i]; i++) argv[k++] = task_extra[i];
    argv[k] = NULL;
    int sig = 0, rc = tg_exp_fork_train(train, argv, true, &sig);
    free(argv);
    /* handed on to the timed run, which stopped saved: no failure to look into */
    if (sig) snprintf(why, why_size, "stopped by signal %d while its steps were timed", sig);
    if (rc < 0) snprintf(why, why_size, "the timed steps could not start (above)");
    double per_step = -1;
    if (rc == 0 && !sig) {   /* elapsed_s is the run's training time after each step */
        char path[sizeof scratch->dir + 16];
        snprintf(path, sizeof path, "%s/metrics.tsv", scratch->dir);
        tg_exp_curve t = {0};
        tg_err err;
        if (tg_exp_read_metrics(path, "train", "elapsed_s", &t, NULL, &err) == TG_OK && t.n == WARM_STEPS + TIMED_STEPS &&
            t.x[WARM_STEPS - 1] == WARM_STEPS && t.x[t.n - 1] == WARM_STEPS + TIMED_STEPS)
            per_step = fmax(t.y[t.n - 1] - t.y[WARM_STEPS - 1], 0.0) / TIMED_STEPS;
        tg_exp_curve_free(&t);
    }
    remove_dir(scratch->dir);
    free(h);
    rmdir(dir);
    return per_step;
}

static const char *state_name(tg_exp_cell_state s) {
    return s == TG_EXP_DONE ? "done" : s == TG_EXP_PARTIAL ? "partial" : "new";
}

int tg_exp_dry_run(const tg_experiment *e, tg_exp_train_fn train) {
    int n = tg_exp_cell_count(e), nv = tg_exp_variant_count(e);
    double *step_s = calloc((size_t)nv, sizeof *step_s);
    if (!step_s) { fprintf(stderr, "tapegrad experiment: out of memory\n"); return 1; }
    double total = 0;
    int rc = 0;
    printf("%d cells (%d variants x %d seeds) in %s:\n", n, nv, e->n_seeds, tg_exp_dir_shown(e));
    /* a cell and its config, 9 KiB, on the heap: each variant's timed run trains below here */
    struct { tg_exp_cell c; tg_run_config cfg; } *h = malloc(sizeof *h);
    if (!h) { fprintf(stderr, "tapegrad experiment: out of memory\n"); free(step_s); return 1; }
    tg_exp_cell *c = &h->c;
    for (int i = 0; i < n && rc == 0; i++) {
        tg_exp_status st;
        tg_err err;
        tg_exp_cell_get(e, i, c);
        if (tg_exp_cell_status(e, c, &st, &err) != TG_OK || tg_exp_cell_config(e, c, &h->cfg, &err) != TG_OK) {
            fprintf(stderr, "tapegrad experiment: cell %s: %s\n", c->name, err.msg);
            rc = 1;
            break;
        }
        int64_t left = st.state == TG_EXP_DONE ? 0 : h->cfg.max_steps - st.step;
        int v = i % nv;
        if (left > 0 && step_s[v] == 0) {
            char why[TG_PATH_MAX + 200];
            step_s[v] = time_variant(e, c, train, why, sizeof why);
            if (step_s[v] < 0) {
                fprintf(stderr, "tapegrad experiment: cell %s: %s\n", c->name, why);
                rc = 1;
                break;
            }
        }
        char est[32] = "-";
        if (left > 0) tg_format_duration(step_s[v] * (double)left, est, sizeof est);
        total += left > 0 ? step_s[v] * (double)left : 0;
        printf("  %3d  %-60s %-7s step %lld/%lld  left ~%s\n", i + 1, c->name, state_name(st.state),
               (long long)st.step, (long long)h->cfg.max_steps, est);
    }
    free(h);
    if (rc == 0) {
        char t[32];
        tg_format_duration(total, t, sizeof t);
        printf("estimated training time left: ~%s (%d steps timed per variant now, after %d untimed; "
               "validation not counted)\n", t, TIMED_STEPS, WARM_STEPS);
    }
    free(step_s);
    return rc;
}
