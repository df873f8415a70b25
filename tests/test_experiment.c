/* test_experiment.c: `tapegrad experiment` end to end on a 2x2x2 grid (attn-activation none,relu
 * x norm post,pre x seeds 1,2) of a tiny copy-task model: the cells are trained, a second run
 * skips them, a run killed in the middle (SIGKILL of the experiment and with it its cell) resumes
 * to the parameters of an uninterrupted grid bit for bit, --dry-run lists the cells and writes
 * nothing, bad axes and another recipe on the same folder are refused; the report (results.tsv,
 * results.json, report.md, SVG plots, diagnostics plots, cached and redone when stale); and the
 * batches a cell trains on depend on the seed and the data, not on the model switches. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "train/ckpt/ckpt_file.h"
#include "train/cli/commands.h"
#include "train/experiment/experiment.h"
#include "tests/tg_check.h"
#include "tests/tg_cli.h"

static char tmpdir[256];

static void setup(void) {
    ck_assert_ptr_nonnull(tg_check_mkdtemp(tmpdir, sizeof tmpdir, "tg_exp_test"));
}

static void teardown(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* `tapegrad ARGS` in a child, stdout/stderr to tmpdir/out.txt and err.txt. */
static pid_t spawn(char **argv) {
    char out[300], errf[300];
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    snprintf(errf, sizeof errf, "%s/err.txt", tmpdir);
    return tg_cli_spawn(NULL, NULL, out, errf, argv);
}

static int run(char **argv) { return tg_cli_wait(spawn(argv)); }

/* run to exit 0, else the test fails quoting the command's stderr. */
static void run_ok_at(char **argv, const char *file, int line) {
    char errf[300];
    snprintf(errf, sizeof errf, "%s/err.txt", tmpdir);
    tg_cli_assert_ok(run(argv), errf, argv, file, line);
}
#define run_ok(argv) run_ok_at(argv, __FILE__, __LINE__)

/* Occurrences of needle in tmpdir/name. */
static int count_in(const char *name, const char *needle) {
    char path[300];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    char *s = tg_cli_slurp(path);
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    if (!n) fprintf(stderr, "--- %s does not contain '%s':\n%s\n", name, needle, s);
    free(s);
    return n;
}

/* tmpdir/ccc...c (n bytes of c), made, into out: a folder whose name makes a path long. */
static void long_folder(char *out, size_t cap, char c, int n) {
    char part[256];
    ck_assert_int_lt(n, (int)sizeof part);
    memset(part, c, (size_t)n);
    part[n] = '\0';
    snprintf(out, cap, "%s/%s", tmpdir, part);
    ck_assert_int_eq(mkdir(out, 0755), 0);
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- checks of the report's files ---- */

/* A JSON value (RFC 8259 grammar, no semantics) at *p; advances past it. */
static bool json_value(const char **p);

static void json_ws(const char **p) {
    while (**p == ' ' || **p == '\n' || **p == '\t' || **p == '\r') (*p)++;
}

static bool json_string_ok(const char **p) {
    if (**p != '"') return false;
    for ((*p)++; **p && **p != '"'; (*p)++) {
        if ((unsigned char)**p < 0x20) return false;
        if (**p == '\\' && !*++(*p)) return false;
    }
    return **p == '"' ? ((*p)++, true) : false;
}

static bool json_seq(const char **p, char close, bool object) {
    (*p)++;
    json_ws(p);
    if (**p == close) return (*p)++, true;
    for (;;) {
        json_ws(p);
        if (object) {
            if (!json_string_ok(p)) return false;
            json_ws(p);
            if (*(*p)++ != ':') return false;
        }
        if (!json_value(p)) return false;
        json_ws(p);
        if (**p == close) return (*p)++, true;
        if (*(*p)++ != ',') return false;
    }
}

static bool json_value(const char **p) {
    json_ws(p);
    if (**p == '{') return json_seq(p, '}', true);
    if (**p == '[') return json_seq(p, ']', false);
    if (**p == '"') return json_string_ok(p);
    for (const char *lit[] = {"true", "false", "null"}, **l = lit; l < lit + 3; l++)
        if (!strncmp(*p, *l, strlen(*l))) return *p += strlen(*l), true;
    char *end;
    strtod(*p, &end);
    if (end == *p || !strchr("-0123456789", **p)) return false;
    *p = end;
    return true;
}

static bool json_valid(const char *text) {
    const char *p = text;
    if (!json_value(&p)) return false;
    json_ws(&p);
    return *p == '\0';
}

/* Well-formed XML for what the SVG writer uses: every element closed in order, quoted
 * attributes; returns the elements' count (-1 if not well-formed). */
static int xml_elements(const char *text) {
    char stack[64][32];
    int depth = 0, n = 0;
    const char *p = strstr(text, "<svg");
    if (!p) return -1;
    while ((p = strchr(p, '<'))) {
        const char *end = strchr(p, '>');
        if (!end) return -1;
        for (const char *q = p, *eq; (eq = memchr(q, '=', (size_t)(end - q))); q = strchr(eq + 2, '"') + 1)
            if (eq[1] != '"' || !strchr(eq + 2, '"') || strchr(eq + 2, '"') > end) return -1;
        if (p[1] == '/') {
            size_t len = strcspn(p + 2, " >");
            if (!depth || strlen(stack[depth - 1]) != len || strncmp(stack[--depth], p + 2, len)) return -1;
        } else if (end[-1] != '/') {
            if (depth == 64) return -1;
            snprintf(stack[depth++], sizeof stack[0], "%.*s", (int)strcspn(p + 1, " >"), p + 1);
            n++;
        } else {
            n++;
        }
        p = end + 1;
    }
    return depth == 0 ? n : -1;
}

/* DIR/name is a well-formed SVG with one line path per variant. */
static void check_svg(const char *dir, const char *name, int lines) {
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *s = tg_cli_slurp(path);
    ck_assert_msg(xml_elements(s) > 0, "%s is not well-formed", name);
    int n = 0;
    for (const char *p = s; (p = strstr(p, "<path class=\"series\"")); p++) n++;
    ck_assert_msg(n == lines, "%s: %d lines, expected %d", name, n, lines);
    free(s);
}

static int lines_of(const char *path) {
    char *s = tg_cli_slurp(path);
    int n = 0;
    for (const char *p = s; *p; p++) n += *p == '\n';
    free(s);
    return n;
}

#define MAX_STEPS "60"
#define GRID "experiment", "--task", "copy", "--task-vocab", "12", "--task-size", "300", "--d-model", "16", \
             "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "300", "--lr", "3e-3",          \
             "--warmup", "20", "--log-every", "20", "--valid-every", "30", "--save-every", "10",               \
             "--threads", "2", "--dropout", "0.1", "--max-steps", MAX_STEPS, "--vary",                       \
             "attn-activation=none,relu", "--vary", "norm=post,pre", "--seeds", "2", "--out"

static const char *CELLS[8] = {
    "attn-activation=none,norm=post,seed=1", "attn-activation=none,norm=pre,seed=1",
    "attn-activation=relu,norm=post,seed=1", "attn-activation=relu,norm=pre,seed=1",
    "attn-activation=none,norm=post,seed=2", "attn-activation=none,norm=pre,seed=2",
    "attn-activation=relu,norm=post,seed=2", "attn-activation=relu,norm=pre,seed=2",
};

static void write_diagnostics(const char *dir, int cell) {
    char path[600];
    snprintf(path, sizeof path, "%s/cells/%s/diagnostics.tsv", dir, CELLS[cell]);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "step\tstack\tlayer\tsublayer\tmetric\tvalue\n");
    for (int step = 20; step <= 60; step += 20)
        for (int layer = 0; layer < 2; layer++) {
            fprintf(f, "%d\tenc\t%d\tself_attn\tzero_frac\t%g\n", step, layer, 0.1 * layer + 0.001 * step + cell);
            fprintf(f, "%d\tdec\t%d\tffn\tmetric_from_the_future\t%g\n", step, layer, 1.0 / step);
        }
    fclose(f);
}

/* DIR/cells/NAME/last.ckpt: step and parameter fingerprint; false if it cannot be read (yet). */
static bool named_cell_state(const char *dir, const char *name, int64_t *step, uint64_t *hash) {
    char path[600];
    snprintf(path, sizeof path, "%s/cells/%s/last.ckpt", dir, name);
    tg_loaded L;
    tg_err err;
    if (!exists(path) || tg_run_load_model(path, &L, &err) != TG_OK) return false;
    *step = L.st.step;
    *hash = L.param_hash;
    tg_loaded_free(&L);
    return true;
}

static bool cell_state(const char *dir, int cell, int64_t *step, uint64_t *hash) {
    return named_cell_state(dir, CELLS[cell], step, hash);
}

/* Waits until no process holds DIR/lock (the killed experiment's cell is gone too). */
static void wait_unlocked(const char *dir) {
    char path[400];
    snprintf(path, sizeof path, "%s/lock", dir);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    int i = 0;
    for (; i < 500 && flock(fd, LOCK_EX | LOCK_NB) != 0; i++) sleep_ms(10);
    ck_assert_int_lt(i, 500);
    flock(fd, LOCK_UN);
    close(fd);
}

START_TEST(test_grid_trains_skips_and_resumes_exactly) {
    char a[300], b[300];
    snprintf(a, sizeof a, "%s/a", tmpdir);
    snprintf(b, sizeof b, "%s/b", tmpdir);
    char *ga[] = {GRID, a, NULL}, *gb[] = {GRID, b, NULL};
    /* the uninterrupted grid: 8 cells, each at its budget */
    run_ok(ga);
    ck_assert_int_eq(count_in("err.txt", ": starting |"), 8);
    uint64_t want[8];
    for (int i = 0; i < 8; i++) {
        int64_t step;
        ck_assert(cell_state(a, i, &step, &want[i]));
        ck_assert_int_eq(step, atoi(MAX_STEPS));
    }
    for (int i = 1; i < 4; i++) ck_assert(want[i] != want[0]);   /* the switches did change the model */
    /* the report: 8 cells x {last, best} evaluated, a row each; plots with a line per variant.
     * A best.ckpt at last.ckpt's step is not decoded again: last's scores are copied */
    int copied = count_in("err.txt", "at last.ckpt's step, copied the scores of ");
    ck_assert_int_ge(copied, 1);
    ck_assert_int_eq(count_in("err.txt", "evaluated ") + copied, 16);
    char path[400];
    snprintf(path, sizeof path, "%s/results.tsv", a);
    ck_assert_int_eq(lines_of(path), 1 + 16);
    snprintf(path, sizeof path, "%s/results.json", a);
    char *json = tg_cli_slurp(path);
    ck_assert_msg(json_valid(json), "results.json is not valid JSON:\n%s", json);
    int rows = 0;
    for (const char *p = json; (p = strstr(p, "\"checkpoint\": ")); p++) rows++;
    ck_assert_int_eq(rows, 16);
    free(json);
    /* its rows: in the two variant tables and the two token-statistics tables (2 seeds), the two
     * bootstrap tables (seed 2) and the two token tables against the baseline (2 seeds paired) */
    ck_assert_int_eq(count_in("a/report.md", "| attn-activation=relu,norm=pre | 2 | "), 8);
    ck_assert_int_eq(count_in("a/report.md", "| attn-activation=relu,norm=pre | **pooled (2 seeds)** | "), 2);
    snprintf(path, sizeof path, "%s/report.md", a);
    char *md = tg_cli_slurp(path);
    ck_assert_msg(!strstr(md, "± +") && !strstr(md, "± -"), "an sd printed with a sign:\n%s", md);
    free(md);
    ck_assert_int_eq(count_in("a/report.md", "](plot-dev-bleu.svg)"), 1);
    check_svg(a, "plot-dev-nll.svg", 4);
    check_svg(a, "plot-dev-bleu.svg", 4);
    check_svg(a, "plot-train-loss.svg", 4);
    /* the same command again: every cell skipped, nothing trained (the logs do not grow) */
    char log[600];
    snprintf(log, sizeof log, "%s/cells/%s/train.log", a, CELLS[5]);
    char *before = tg_cli_slurp(log);
    run_ok(ga);
    ck_assert_int_eq(count_in("err.txt", "done already"), 8);
    ck_assert_int_eq(count_in("err.txt", "(0 trained now"), 1);
    ck_assert_int_eq(count_in("err.txt", "evaluated "), 0);   /* the evaluations were cached */
    char *after = tg_cli_slurp(log);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    /* killed (SIGKILL, the experiment and so its cell) in the middle of the third cell */
    pid_t pid = spawn(gb);
    int64_t step = 0;
    uint64_t h;
    for (int i = 0; i < 3000 && !(cell_state(b, 2, &step, &h) && step >= 10); i++) sleep_ms(2);
    kill(pid, SIGKILL);
    ck_assert_int_eq(tg_cli_wait(pid), 128 + SIGKILL);
    wait_unlocked(b);
    ck_assert(cell_state(b, 2, &step, &h));
    ck_assert_msg(step < atoi(MAX_STEPS), "the kill came too late (step %lld)", (long long)step);
    ck_assert(!cell_state(b, 3, &step, &h));
    /* the same command resumes it: two cells skipped, one resumed, five trained */
    run_ok(gb);
    ck_assert_int_eq(count_in("err.txt", "done already"), 2);
    ck_assert_int_eq(count_in("err.txt", ": resuming at step"), 1);
    ck_assert_int_eq(count_in("err.txt", ": starting |"), 5);
    for (int i = 0; i < 8; i++) {
        ck_assert(cell_state(b, i, &step, &h));
        ck_assert_msg(h == want[i], "cell %s: parameters differ from the uninterrupted grid", CELLS[i]);
    }
    /* --resume DIR runs the recorded command: all done */
    char *res[] = {"experiment", "--resume", b, NULL};
    run_ok(res);
    ck_assert_int_eq(count_in("err.txt", "done already"), 8);
}
END_TEST

/* `report DIR`: a stale cache is redone, diagnostics are plotted (unknown metrics too), another
 * baseline, and usage errors. */
START_TEST(test_report_cache_diagnostics_baseline) {
    char d[300], ckpt[600];
    snprintf(d, sizeof d, "%s/r", tmpdir);
    char *g[] = {"experiment", "--task", "copy", "--task-size", "200", "--d-model", "8", "--heads", "2", "--d-ff", "8",
                 "--layers", "1", "--max-steps", "20", "--valid-every", "10", "--log-every", "5", "--vary",
                 "attn-activation=none,relu", "--vary", "norm=post,pre", "--seeds", "2", "--out", d, NULL};
    run_ok(g);
    ck_assert_int_eq(count_in("err.txt", "evaluated ") + count_in("err.txt", "copied the scores of "), 16);
    /* a checkpoint newer than its evaluation: that one is redone */
    snprintf(ckpt, sizeof ckpt, "%s/cells/%s/last.ckpt", d, CELLS[3]);
    struct timespec later[2] = {{time(NULL) + 5, 0}, {time(NULL) + 5, 0}};
    ck_assert_int_eq(utimensat(AT_FDCWD, ckpt, later, 0), 0);
    for (int i = 0; i < 8; i += 3) write_diagnostics(d, i);
    char *rep[] = {"experiment", "report", d, NULL};
    run_ok(rep);
    ck_assert_int_eq(count_in("err.txt", "evaluated "), 1);
    ck_assert_int_eq(count_in("err.txt", "evaluated attn-activation=relu,norm=pre,seed=1/last.ckpt"), 1);
    /* cells 0, 3 and 6: variants none/post (2 seeds), relu/pre and relu/post */
    check_svg(d, "plot-diag-zero_frac.svg", 3);
    check_svg(d, "plot-diag-metric_from_the_future.svg", 3);
    ck_assert_int_eq(count_in("r/report.md", "](plot-diag-zero_frac.svg)"), 1);
    char *base[] = {"experiment", "report", d, "--baseline", "attn-activation=relu", NULL};
    run_ok(base);
    ck_assert_int_eq(count_in("r/report.md", "## Against the baseline (attn-activation=relu,norm=post)"), 1);
    /* a full disk at the report's first, second, third write: the files before are whole, no temporary left */
    char md[400], tsv[400], cmd[500];
    snprintf(md, sizeof md, "%s/report.md", d);
    snprintf(tsv, sizeof tsv, "%s/results.tsv", d);
    char *md0 = tg_cli_slurp(md), *tsv0 = tg_cli_slurp(tsv);
    for (int n = 1; n <= 3; n++) {
        char env[64], out[300], errf[300];
        snprintf(env, sizeof env, "TAPEGRAD_FAIL_WRITE=%d", n);
        snprintf(out, sizeof out, "%s/out.txt", tmpdir);
        snprintf(errf, sizeof errf, "%s/err.txt", tmpdir);
        ck_assert_int_eq(tg_cli_wait(tg_cli_spawn(env, NULL, out, errf, base)), 1);
        ck_assert_int_ge(count_in("err.txt", "No space left on device"), 1);
        char *md1 = tg_cli_slurp(md), *tsv1 = tg_cli_slurp(tsv);
        ck_assert_str_eq(md0, md1);
        ck_assert_str_eq(tsv0, tsv1);
        free(md1);
        free(tsv1);
        snprintf(cmd, sizeof cmd, "ls '%s' | grep -q '\\.tmp\\.'", d);
        ck_assert_int_ne(system(cmd), 0);
    }
    free(md0);
    free(tsv0);
    char *bad[] = {"experiment", "report", d, "--baseline", "attn-activation=tanh", NULL};
    ck_assert_int_eq(run(bad), 2);
    ck_assert_int_ge(count_in("err.txt", "--baseline 'attn-activation=tanh'"), 1);
    char *none[] = {"experiment", "report", tmpdir, NULL};
    ck_assert_int_eq(run(none), 1);
    ck_assert_int_ge(count_in("err.txt", "experiment.txt: cannot read"), 1);
}
END_TEST

START_TEST(test_dry_run_lists_cells_and_writes_nothing) {
    char d[300];
    snprintf(d, sizeof d, "%s/dry", tmpdir);
    char *g[] = {GRID, d, "--dry-run", NULL};
    run_ok(g);
    ck_assert_int_eq(count_in("out.txt", " new "), 8);
    for (int i = 0; i < 8; i++) ck_assert_int_eq(count_in("out.txt", CELLS[i]), 1);
    ck_assert_int_eq(count_in("out.txt", "estimated training time left: ~"), 1);
    ck_assert_int_eq(count_in("out.txt", "(10 steps timed per variant now, after 1 untimed;"), 1);
    ck_assert(!exists(d));
    /* no scratch folder for the timed steps: said so, and still nothing written */
    const char *tmp = getenv("TMPDIR");
    char *saved = tmp ? strdup(tmp) : NULL;
    setenv("TMPDIR", "/nonexistent-tapegrad-tmp", 1);
    int rc = run(g);
    if (saved) setenv("TMPDIR", saved, 1);
    else unsetenv("TMPDIR");
    free(saved);
    ck_assert_int_eq(rc, 1);
    ck_assert_int_eq(count_in("err.txt", "cannot make a scratch folder for the timed steps"), 1);
    ck_assert(!exists(d));
}
END_TEST

/* A signal to a dry run while it times a variant's steps (Ctrl-C, as SIGUSR1 here) is handed on to
 * the timed run, which stops saved: the dry run stops, exit 1, saying so; it said the timed steps
 * failed and to run tapegrad train to see why. The scratch folder goes, and nothing is written. */
START_TEST(test_dry_run_stopped_by_a_signal) {
    char d[300], scratch[300];
    snprintf(d, sizeof d, "%s/drysig", tmpdir);
    snprintf(scratch, sizeof scratch, "%s/scratch", tmpdir);
    ck_assert_int_eq(mkdir(scratch, 0755), 0);
    /* steps slow enough (a tenth of a second or more) that the signal comes before the last */
    char *g[] = {"experiment", "--task", "copy", "--task-size", "200", "--d-model", "256", "--heads", "4", "--d-ff",
                 "1024", "--layers", "3", "--threads", "1", "--max-steps", "100", "--vary", "norm=post", "--seeds",
                 "1", "--out", d, "--dry-run", NULL};
    const char *tmp = getenv("TMPDIR");
    char *saved = tmp ? strdup(tmp) : NULL;
    setenv("TMPDIR", scratch, 1);
    pid_t pid = spawn(g);
    if (saved) setenv("TMPDIR", saved, 1);
    else unsetenv("TMPDIR");
    free(saved);
    char cmd[400];   /* the timed run's step-0 checkpoint: its handlers are set */
    snprintf(cmd, sizeof cmd, "ls '%s'/tapegrad-estimate-*/run/last.ckpt >/dev/null 2>&1", scratch);
    for (int i = 0; i < 3000 && system(cmd) != 0; i++) sleep_ms(5);
    kill(pid, SIGUSR1);
    ck_assert_int_eq(tg_cli_wait(pid), 1);
    ck_assert_int_eq(count_in("err.txt", "cell norm=post,seed=1: stopped by signal 10"), 1);
    snprintf(cmd, sizeof cmd, "rmdir '%s'", scratch);   /* empty: the scratch folder removed */
    ck_assert_int_eq(system(cmd), 0);
    ck_assert(!exists(d));
}
END_TEST

/* The dry run times a cell's steps without its dev set: a run on text given validation flags
 * (--patience, --valid-every, --valid-sentences, --beam, --alpha) is timed without them, which
 * train refuses without --dev (the timed steps failed for --patience, exit 1). */
START_TEST(test_dry_run_of_text_cells_with_validation_flags) {
    char d[300], tsv[400], dev[400];
    snprintf(tsv, sizeof tsv, "%s/dry.tsv", tmpdir);
    tg_cli_write(tsv, "a b c\td e f\nb c\te f\n");
    snprintf(dev, sizeof dev, "%s/dry-dev.tsv", tmpdir);
    tg_cli_write(dev, "a b\td e\n");
    snprintf(d, sizeof d, "%s/dry-text", tmpdir);
    char *g[] = {"experiment", "--train", tsv, "--dev", dev, "--merges", "4", "--d-model", "8", "--heads", "2",
                 "--d-ff", "8", "--layers", "1", "--max-steps", "3", "--threads", "1", "--patience", "2",
                 "--valid-every", "2", "--valid-sentences", "1", "--beam", "2", "--alpha", "1", "--vary",
                 "norm=post,pre", "--seeds", "1", "--out", d, "--dry-run", NULL};
    run_ok(g);
    ck_assert_int_eq(count_in("out.txt", " new "), 2);
    ck_assert_int_eq(count_in("out.txt", "estimated training time left: ~"), 1);
    ck_assert(!exists(d));
    /* the same settings in a --config file (checked against each cell, with its dev set): the
     * timed steps take the file as checked (before, train refused its `beam = 2` without the dev
     * set: "the timed steps failed", exit 1) */
    char cfg[400], text[1200];
    snprintf(cfg, sizeof cfg, "%s/dry.cfg", tmpdir);
    snprintf(text, sizeof text, "train = %s\ndev = %s\nmerges = 4\npatience = 2\nvalid-every = 2\n"
             "valid-sentences = 1\nbeam = 2\nalpha = 1\n", tsv, dev);
    tg_cli_write(cfg, text);
    char *f[] = {"experiment", "--config", cfg, "--d-model", "8", "--heads", "2", "--d-ff", "8", "--layers", "1",
                 "--max-steps", "3", "--threads", "1", "--vary", "norm=post,pre", "--seeds", "1", "--out", d,
                 "--dry-run", NULL};
    run_ok(f);
    ck_assert_int_eq(count_in("out.txt", " new "), 2);
    ck_assert_int_eq(count_in("out.txt", "estimated training time left: ~"), 1);
    ck_assert(!exists(d));
}
END_TEST

/* `--resume DIR --max-steps N` extends every cell's budget: the cells resumed to N are, bit for
 * bit, the cells of a fresh experiment with --max-steps N (exact resume, a schedule that does not
 * depend on the budget); the record follows; --dry-run writes nothing; a budget not larger, a
 * cosine schedule (which decays over the budget) and other flags are refused. */
#define SHORT "experiment", "--task", "copy", "--task-vocab", "12", "--task-size", "300", "--d-model", "16", \
              "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "300", "--lr", "3e-3",          \
              "--warmup", "20", "--log-every", "20", "--valid-every", "30", "--save-every", "10",               \
              "--threads", "1", "--vary", "attn-activation=none,relu", "--seeds", "1"

/* The notes on a --config's settings that a cell does not take (seed, out) printed the file's
 * name and its out value raw: an ESC in either reached the terminal. */
START_TEST(test_config_notes_show_names_escaped) {
    char d[300], cfg[400];
    snprintf(cfg, sizeof cfg, "%s/c\033[31m.cfg", tmpdir);
    tg_cli_write(cfg, "seed = 7\nout = o\033[32mx\n");
    snprintf(d, sizeof d, "%s/note", tmpdir);
    char *g[] = {"experiment", "--config", cfg, "--task", "copy", "--d-model", "8", "--heads",
                 "2", "--d-ff", "8", "--layers", "1", "--max-steps", "1", "--threads", "1",
                 "--vary", "norm=post,pre", "--seeds", "1", "--out", d, "--dry-run", NULL};
    run_ok(g);
    ck_assert_int_eq(count_in("err.txt", "c\\x1B[31m.cfg:1: seed = 7 is not used"), 1);
    ck_assert_int_eq(count_in("err.txt", "c\\x1B[31m.cfg:2: out = o\\x1B[32mx is not used"), 1);
    ck_assert_int_eq(count_in("err.txt", "\033"), 0);
}
END_TEST

/* The experiment's own readers (infile.c, record.c) named a file raw: a tab in the folder's name
 * reached the message as it was (tg_err_set leaves a line break and a tab), and a long name cut
 * the message's end. Each name is shown escaped, as its tail. */
START_TEST(test_record_errors_show_names_escaped) {
    char d[300], rec[1100], deep[1000];
    snprintf(d, sizeof d, "%s/a\tb", tmpdir);
    ck_assert_int_eq(mkdir(d, 0755), 0);
    snprintf(rec, sizeof rec, "%s/experiment.txt", d);
    ck_assert_int_eq(symlink("/etc/passwd", rec), 0);
    char *g[] = {"experiment", "--task", "copy", "--d-model", "8", "--heads", "2", "--d-ff", "8",
                 "--layers", "1", "--max-steps", "1", "--threads", "1", "--vary", "norm=post,pre",
                 "--seeds", "1", "--out", d, "--dry-run", NULL};
    ck_assert_int_eq(run(g), 1);
    const char *link_end = ": is a symbolic link; tapegrad writes a file there and does not "
                           "follow a link in its place: remove it\n";
    char want[300];
    snprintf(want, sizeof want, "a\\x09b/experiment.txt%s", link_end);
    ck_assert_int_eq(count_in("err.txt", want), 1);
    ck_assert_int_eq(count_in("err.txt", "\t"), 0);
    ck_assert_int_eq(unlink(rec), 0);
    FILE *f = fopen(rec, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite("arg: x\n\0\n", 1, 9, f), 9);
    ck_assert_int_eq(fclose(f), 0);
    char *r[] = {"experiment", "--resume", d, NULL};
    ck_assert_int_eq(run(r), 1);
    ck_assert_int_eq(count_in("err.txt", "a\\x09b/experiment.txt:2: a NUL byte: not a record "
                              "tapegrad wrote\n"), 1);
    ck_assert_int_eq(count_in("err.txt", "\t"), 0);
    /* a folder of three 240-byte parts: its name shown as its end, the message whole */
    int k = snprintf(deep, sizeof deep, "%s", d);
    for (int i = 0; i < 3; i++) {
        k += snprintf(deep + k, sizeof deep - (size_t)k, "/%0240d", i);
        ck_assert_int_eq(mkdir(deep, 0755), 0);
    }
    snprintf(rec, sizeof rec, "%s/experiment.txt", deep);
    ck_assert_int_eq(symlink("/etc/passwd", rec), 0);
    g[20] = deep;
    ck_assert_int_eq(run(g), 1);
    ck_assert_int_eq(count_in("err.txt", "tapegrad experiment: ...00000"), 1);
    snprintf(want, sizeof want, "02/experiment.txt%s", link_end);
    ck_assert_int_eq(count_in("err.txt", want), 1);
}
END_TEST

static uint64_t cell_hash(const char *dir, const char *cell, int64_t want_step) {
    char path[600];
    snprintf(path, sizeof path, "%s/cells/%s/last.ckpt", dir, cell);
    tg_loaded L;
    tg_err err;
    ck_assert_int_eq(tg_run_load_model(path, &L, &err), TG_OK);
    ck_assert_int_eq(L.st.step, want_step);
    uint64_t h = L.param_hash;
    tg_loaded_free(&L);
    return h;
}

START_TEST(test_resume_extends_budget_exactly) {
    char x[300], y[300], c[300], rec[400];
    snprintf(x, sizeof x, "%s/x", tmpdir);
    snprintf(y, sizeof y, "%s/y", tmpdir);
    snprintf(c, sizeof c, "%s/c", tmpdir);
    snprintf(rec, sizeof rec, "%s/experiment.txt", x);
    char *short_run[] = {SHORT, "--max-steps", "30", "--out", x, NULL};
    char *long_run[] = {SHORT, "--max-steps", "60", "--out", y, NULL};
    run_ok(short_run);
    run_ok(long_run);
    const char *cells[2] = {"attn-activation=none,seed=1", "attn-activation=relu,seed=1"};
    char *before = tg_cli_slurp(rec);
    char *dry[] = {"experiment", "--resume", x, "--max-steps", "60", "--dry-run", NULL};
    run_ok(dry);
    ck_assert_int_eq(count_in("out.txt", "partial step 30/60"), 2);
    char *after = tg_cli_slurp(rec);
    ck_assert_str_eq(before, after);   /* a dry run writes nothing */
    free(after);
    for (int i = 0; i < 2; i++) cell_hash(x, cells[i], 30);
    char *extend[] = {"experiment", "--resume", x, "--max-steps", "60", NULL};
    run_ok(extend);
    ck_assert_int_eq(count_in("err.txt", ": resuming at step 30"), 2);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(cell_hash(x, cells[i], 60) == cell_hash(y, cells[i], 60),
                      "cell %s extended to 60 steps differs from the fresh 60-step cell", cells[i]);
    ck_assert_int_eq(count_in("x/experiment.txt", "--max-steps 60 --out"), 1);
    ck_assert_int_eq(count_in("x/experiment.txt", "max-steps = 60\n"), 1);
    char *again[] = {"experiment", "--resume", x, NULL};
    run_ok(again);
    ck_assert_int_eq(count_in("err.txt", "done already"), 2);
    /* refused: not larger, other flags, a cosine schedule; the record is left as it was */
    free(before);
    before = tg_cli_slurp(rec);
    ck_assert_int_eq(run(extend), 2);   /* (the same command again, as after an extension that stopped) */
    ck_assert_int_eq(count_in("err.txt", "so it must be larger (an extension to it that stopped midway is "
                                         "finished by `tapegrad experiment --resume DIR` alone)"), 1);
    extend[4] = "40";
    ck_assert_int_eq(run(extend), 2);
    ck_assert_int_eq(count_in("err.txt", "so it must be larger\n"), 1);
    char *flags[] = {"experiment", "--resume", x, "--max-steps", "90", "--threads", "2", NULL};
    ck_assert_int_eq(run(flags), 2);
    ck_assert_int_eq(count_in("err.txt", "give no other flags (but --max-steps"), 1);
    char *twice[] = {"experiment", "--resume", x, "--max-steps", "90", "--max-steps", "120", NULL};
    ck_assert_int_eq(run(twice), 2);
    ck_assert_int_eq(count_in("err.txt", "--max-steps is given 2 times: give it once"), 1);
    const char *not_steps[] = {" 90", "90 ", "+90", "9e1", ""};
    for (int i = 0; i < 5; i++) {
        char *odd[] = {"experiment", "--resume", x, "--max-steps", (char *)not_steps[i], NULL};
        ck_assert_int_eq(run(odd), 2);
        ck_assert_int_eq(count_in("err.txt", "not a number of steps (digits only)"), 1);
    }
    char *zero[] = {"experiment", "--resume", x, "--max-steps", "0", NULL};
    ck_assert_int_eq(run(zero), 2);
    ck_assert_int_ge(count_in("err.txt", "--max-steps is required and must be at least 1 (it is 0)"), 1);
    after = tg_cli_slurp(rec);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    char *cosine[] = {SHORT, "--schedule", "cosine", "--max-steps", "30", "--out", c, NULL};
    run_ok(cosine);
    char *cosine_extend[] = {"experiment", "--resume", c, "--max-steps", "60", NULL};
    ck_assert_int_eq(run(cosine_extend), 2);
    ck_assert_int_eq(count_in("err.txt", "decays over their budget"), 1);
    cell_hash(c, cells[0], 30);
}
END_TEST

/* --jobs 2: cells side by side give the cells of one at a time, bit for bit; their lines come
 * marked with the cell's name; --jobs is not recorded. A cell that fails stops the other running
 * cell (it saves); SIGTERM stops both (they save); each time the same command with --jobs resumes
 * them exactly. */
#define JOBS_GRID "experiment", "--task", "copy", "--task-vocab", "12", "--task-size", "300", "--d-model", \
                  "16", "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "300", "--lr",    \
                  "3e-3", "--warmup", "20", "--log-every", "20", "--valid-every", "30", "--save-every",   \
                  "10", "--threads", "1", "--vary", "attn-activation=none,relu", "--seeds", "2"
static const char *JOB_CELLS[4] = {"attn-activation=none,seed=1", "attn-activation=relu,seed=1",
                                   "attn-activation=none,seed=2", "attn-activation=relu,seed=2"};

/* The cell's last.ckpt step, -1 if it cannot be read (yet). */
static int64_t job_cell_step(const char *dir, int cell) {
    int64_t step;
    uint64_t hash;
    return named_cell_state(dir, JOB_CELLS[cell], &step, &hash) ? step : -1;
}

/* A cell stopped inside its last validation (injected: TAPEGRAD_STOP_IN_VALIDATION=1 reaches the
 * cells' train) has reached its steps but not run that validation: it is not done. The experiment
 * stops (exit 1) and the same command resumes the cell, which validates; both cells then hold
 * a best.ckpt and their end's valid row. */
START_TEST(test_cell_stopped_in_last_validation_not_done) {
    char d[300], out[320], errf[320];
    snprintf(d, sizeof d, "%s/lv", tmpdir);
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    snprintf(errf, sizeof errf, "%s/err.txt", tmpdir);
    char *g[] = {"experiment", "--task", "copy", "--task-vocab", "12", "--task-size", "200", "--d-model", "16",
                 "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "300", "--threads", "1",
                 "--max-steps", "4", "--valid-every", "0", "--vary", "dropout=0,0.2", "--seeds", "1", "--out", d,
                 NULL};
    ck_assert_int_eq(tg_cli_wait(tg_cli_spawn("TAPEGRAD_STOP_IN_VALIDATION=1", NULL, out, errf, g)), 1);
    ck_assert_int_eq(count_in("err.txt", "cell dropout=0,seed=1 stopped at step 4, before its budget"), 1);
    char *again[] = {"experiment", "--resume", d, NULL};
    run_ok(again);
    ck_assert_int_eq(count_in("err.txt", "dropout=0,seed=1: resuming at step 4"), 1);
    static const char *const cells[] = {"dropout=0,seed=1", "dropout=0.2,seed=1"};
    for (int i = 0; i < 2; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/cells/%s/best.ckpt", d, cells[i]);
        ck_assert_msg(exists(path), "%s has no best.ckpt", cells[i]);
        snprintf(path, sizeof path, "lv/cells/%s/metrics.tsv", cells[i]);
        ck_assert_int_eq(count_in(path, "\nvalid\t4\t"), 1);
    }
}
END_TEST

START_TEST(test_jobs_side_by_side_exact) {
    char one[300], two[300], fail[300], sig[300], planted[700];
    snprintf(one, sizeof one, "%s/one", tmpdir);
    snprintf(two, sizeof two, "%s/two", tmpdir);
    snprintf(fail, sizeof fail, "%s/fail", tmpdir);
    snprintf(sig, sizeof sig, "%s/sig", tmpdir);
    char *seq[] = {JOBS_GRID, "--max-steps", "600", "--out", one, NULL};
    char *par[] = {JOBS_GRID, "--max-steps", "600", "--out", two, "--jobs", "2", NULL};
    run_ok(seq);
    run_ok(par);
    ck_assert_int_eq(count_in("err.txt", "; up to 2 trained at a time"), 1);
    ck_assert_int_eq(count_in("err.txt", ": starting |"), 4);
    ck_assert_int_eq(count_in("err.txt", "all 4 cells done (4 trained now"), 1);
    ck_assert_int_ge(count_in("err.txt", "\n[attn-activation=relu,seed=2] ["), 2);   /* its log lines, marked */
    ck_assert_int_eq(count_in("two/experiment.txt", "--jobs"), 0);
    uint64_t want[4];
    for (int i = 0; i < 4; i++) {
        want[i] = cell_hash(one, JOB_CELLS[i], 600);
        ck_assert_msg(cell_hash(two, JOB_CELLS[i], 600) == want[i], "cell %s differs with --jobs 2", JOB_CELLS[i]);
    }
    /* a cell that cannot start (its train.log a folder) stops the other, which saves */
    snprintf(planted, sizeof planted, "%s/cells/%s/train.log", fail, JOB_CELLS[1]);
    ck_assert_int_eq(tg_mkdir_p(planted), 0);
    char *f[] = {JOBS_GRID, "--max-steps", "600", "--out", fail, "--jobs", "2", NULL};
    ck_assert_int_eq(run(f), 1);
    ck_assert_int_eq(count_in("err.txt", "cannot open for appending: Is a directory"), 1);
    ck_assert_int_eq(count_in("err.txt", "cell attn-activation=relu,seed=1 failed (exit 1); stopping"), 1);
    /* the other cell: stopped (600 steps take ~100 times longer than the failure takes to be seen) */
    ck_assert_int_eq(count_in("err.txt", "cell attn-activation=none,seed=1 stopped at step"), 1);
    ck_assert_int_eq(count_in("err.txt", ", as the experiment stopped at cell attn-activation=relu,seed=1 (above)"), 1);
    ck_assert_int_lt(job_cell_step(fail, 0), 600);
    ck_assert_int_eq(count_in("err.txt", ": starting |"), 2);   /* no more cells started */
    ck_assert_int_lt(job_cell_step(fail, 2), 0);
    ck_assert_int_eq(rmdir(planted), 0);
    char *f_again[] = {"experiment", "--resume", fail, "--jobs", "2", NULL};
    run_ok(f_again);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(cell_hash(fail, JOB_CELLS[i], 600) == want[i], "cell %s differs after the failure", JOB_CELLS[i]);
    /* SIGTERM in the middle of the first two cells: both save and stop. (Abbreviated, as getopt
     * takes them, --jobs and --baseline are still not recorded.) */
    char *s2[] = {JOBS_GRID, "--max-steps", "600", "--out", sig, "--job", "2", "--bas=attn-activation=relu", NULL};
    pid_t pid = spawn(s2);
    for (int i = 0; i < 5000 && !(job_cell_step(sig, 0) >= 10 && job_cell_step(sig, 1) >= 10); i++) sleep_ms(2);
    kill(pid, SIGTERM);
    ck_assert_int_eq(tg_cli_wait(pid), 1);
    ck_assert_int_eq(count_in("err.txt", "stopped by signal 15 in cell attn-activation="), 2);
    for (int i = 0; i < 2; i++) {
        int64_t step = job_cell_step(sig, i);
        ck_assert_msg(step >= 10 && step < 600, "cell %s: the signal came too late (step %lld)", JOB_CELLS[i],
                      (long long)step);
    }
    ck_assert_int_lt(job_cell_step(sig, 2), 0);
    ck_assert_int_eq(count_in("sig/experiment.txt", "--job"), 0);
    ck_assert_int_eq(count_in("sig/experiment.txt", "--bas"), 0);
    char *s_again[] = {"experiment", "--resume", sig, "--jobs", "3", NULL};
    run_ok(s_again);
    ck_assert_int_eq(count_in("err.txt", ": resuming at step"), 2);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(cell_hash(sig, JOB_CELLS[i], 600) == want[i], "cell %s differs after SIGTERM", JOB_CELLS[i]);
    /* bad values refused before anything is written */
    const char *bad[] = {"0", "65", "-1", "x", " 2", ""};
    for (int i = 0; i < 6; i++) {
        char *b[] = {"experiment", "--resume", sig, "--jobs", (char *)bad[i], NULL};
        ck_assert_int_eq(run(b), 2);
        ck_assert_int_eq(count_in("err.txt", "give a number of cells from 1 to 64"), 1);
    }
}
END_TEST

/* Starts JOBS_GRID (600 steps) into d, --jobs 2, and returns once both of its first cells are past
 * step 10 (up to 10 s). */
static pid_t spawn_two_cells(const char *d) {
    char *g[] = {JOBS_GRID, "--max-steps", "600", "--out", (char *)d, "--jobs", "2", NULL};
    pid_t pid = spawn(g);
    for (int i = 0; i < 5000 && !(job_cell_step(d, 0) >= 10 && job_cell_step(d, 1) >= 10); i++) sleep_ms(2);
    return pid;
}

/* A SIGHUP to the experiment (its terminal closed), as SIGALRM or SIGUSR1: handed on to the running
 * cells as SIGINT and SIGTERM are, so each ends as a train given it ends (after a save it lands in,
 * atomic_file.h), and the experiment stops (exit 1). Before, the signal ended the experiment and
 * its cells were SIGKILLed (PR_SET_PDEATHSIG) wherever they were, a save's temporary left. */
/* An experiment started with SIGTERM blocked (a mask inherited through exec from a launcher's
 * thread) never handed it on: its cells trained on (each in a process group of its own, so a
 * signal to the experiment's group does not reach them) until a SIGKILL. */
START_TEST(test_stop_signal_taken_when_started_blocked) {
    char d[300];
    snprintf(d, sizeof d, "%s/blocked", tmpdir);
    char *g[] = {JOBS_GRID, "--max-steps", "100000", "--out", d, NULL};
    sigset_t block, mask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &mask);
    pid_t pid = spawn(g);
    sigprocmask(SIG_SETMASK, &mask, NULL);
    for (int i = 0; i < 5000 && job_cell_step(d, 0) < 10; i++) sleep_ms(2);
    kill(pid, SIGTERM);
    ck_assert_int_eq(tg_cli_wait_bounded(pid, 60), 1);   /* -1: still training a minute after it */
    ck_assert_int_eq(count_in("err.txt", "stopped by signal 15 in cell attn-activation=none,seed=1"), 1);
}
END_TEST

START_TEST(test_hangup_reaches_the_cells) {
    const int sigs[] = {SIGHUP, SIGUSR1};
    for (int k = 0; k < 2; k++) {
        char d[300], line[64];
        snprintf(d, sizeof d, "%s/hup%d", tmpdir, k);
        pid_t pid = spawn_two_cells(d);
        kill(pid, sigs[k]);
        ck_assert_int_eq(tg_cli_wait(pid), 1);
        snprintf(line, sizeof line, "stopped by signal %d in cell attn-activation=", sigs[k]);
        ck_assert_int_eq(count_in("err.txt", line), 2);
        char cmd[400];
        snprintf(cmd, sizeof cmd, "test -z \"$(find '%s' -name '*.tmp.*')\"", d);
        ck_assert_int_eq(system(cmd), 0);
        char *again[] = {"experiment", "--resume", d, "--jobs", "2", NULL};
        run_ok(again);
    }
    /* ... but under nohup (SIGHUP ignored from the start) it stays ignored, by the experiment and
     * its cells: the terminal closing leaves them training */
    char d[300];
    snprintf(d, sizeof d, "%s/nohup", tmpdir);
    char *g[] = {JOBS_GRID, "--max-steps", "600", "--out", d, "--jobs", "2", NULL};
    void (*was)(int) = signal(SIGHUP, SIG_IGN);
    pid_t pid = spawn(g);
    signal(SIGHUP, was);
    for (int i = 0; i < 5000 && !(job_cell_step(d, 0) >= 10 && job_cell_step(d, 1) >= 10); i++) sleep_ms(2);
    kill(pid, SIGHUP);
    ck_assert_int_eq(tg_cli_wait(pid), 0);
    ck_assert_int_eq(count_in("err.txt", "all 4 cells done (4 trained now"), 1);
}
END_TEST

/* The child processes of parent (an experiment's running cells), from /proc: how many there are,
 * how many are stopped (state T), and one of them in *first (0 if none). */
static int children_of(pid_t parent, int *stopped, pid_t *first) {
    DIR *d = opendir("/proc");
    ck_assert_ptr_nonnull(d);
    int n_children = 0;
    *stopped = 0;
    *first = 0;
    for (struct dirent *e; (e = readdir(d));) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = e->d_name[0] >= '1' && e->d_name[0] <= '9' ? fopen(path, "r") : NULL;
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f) fclose(f);
        buf[n] = '\0';
        const char *close_paren = strrchr(buf, ')');   /* pid (comm) state ppid ... */
        char state;
        int ppid;
        if (close_paren && sscanf(close_paren + 1, " %c %d", &state, &ppid) == 2 && ppid == parent) {
            n_children++;
            *stopped += state == 'T';
            if (!*first) *first = (pid_t)atoi(e->d_name);
        }
    }
    closedir(d);
    return n_children;
}

/* A stop signal to an experiment whose stderr is stalled (a reader that does not read): its cells
 * stopped saved, but it waited in its write for ever, the cells unreaped, until a SIGKILL. Stopping,
 * stderr gets 2 s, as train gives it. */
START_TEST(test_stop_with_a_stalled_console) {
    char d[300], out[320], fifo[320];
    snprintf(d, sizeof d, "%s/stalled", tmpdir);
    snprintf(out, sizeof out, "%s/stalled.out", tmpdir);
    snprintf(fifo, sizeof fifo, "%s/stalled.err", tmpdir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    char *g[] = {"experiment", "--task", "copy", "--task-vocab", "12", "--task-size", "300", "--d-model", "16",
                 "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "300", "--log-every", "1",
                 "--valid-every", "0", "--save-every", "0", "--threads", "1", "--vary", "dropout=0.1,0.2", "--seeds",
                 "1", "--max-steps", "10000000", "--out", d, "--jobs", "2", NULL};
    pid_t pid = tg_cli_spawn(NULL, NULL, out, fifo, g);
    int rd = open(fifo, O_RDONLY | O_NONBLOCK);
    ck_assert_int_ge(rd, 0);
    tg_cli_wait_pipe_full(rd);   /* the experiment blocked in its write */
    kill(pid, SIGTERM);
    ck_assert_int_eq(tg_cli_wait_bounded(pid, 30), 1);
    close(rd);
    for (int c = 0; c < 2; c++) {
        char ckpt[400];
        snprintf(ckpt, sizeof ckpt, "%s/cells/dropout=0.%d,seed=1/last.ckpt", d, c + 1);
        tg_loaded L;
        tg_err err;
        ck_assert_msg(tg_run_load_model(ckpt, &L, &err) == TG_OK, "%s", err.msg);
        ck_assert_int_gt(L.st.step, 0);
        tg_loaded_free(&L);
    }
}
END_TEST

/* A child process of parent (one of an experiment's running cells); 0 if none. */
static pid_t child_of(pid_t parent) {
    int stopped;
    pid_t first;
    children_of(parent, &stopped, &first);
    return first;
}

/* The state letter of process pid (R, S, T, ...), from /proc; '?' if it cannot be read; its parent in
 * *parent (0 then) unless NULL. */
static char state_of(pid_t pid, pid_t *parent) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    const char *close_paren = strrchr(buf, ')');
    char state = '?';
    int ppid = 0;
    bool read = close_paren && sscanf(close_paren + 1, " %c %d", &state, &ppid) == 2;
    if (parent) *parent = read ? (pid_t)ppid : 0;
    return read ? state : '?';
}

/* Ctrl-Z (SIGTSTP) reached the experiment alone: the cells, in process groups of their own, went on
 * training while it stood stopped. Now they stop with it, and go on when it is continued. */
START_TEST(test_ctrl_z_stops_the_cells) {
    char d[300];
    snprintf(d, sizeof d, "%s/tstp", tmpdir);
    pid_t pid = spawn_two_cells(d);
    kill(pid, SIGTSTP);
    int n = 0, stopped = 0;
    pid_t first;
    for (int i = 0; i < 1000 && !(state_of(pid, NULL) == 'T' && n == 2 && stopped == 2); i++) {
        sleep_ms(2);
        n = children_of(pid, &stopped, &first);
    }
    ck_assert_int_eq(state_of(pid, NULL), 'T');
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(stopped, 2);
    kill(pid, SIGCONT);
    for (int i = 0; i < 1000 && (state_of(pid, NULL) == 'T' || stopped > 0); i++) {
        sleep_ms(2);
        children_of(pid, &stopped, &first);
    }
    ck_assert_int_eq(stopped, 0);
    ck_assert_int_eq(tg_cli_wait(pid), 0);
    ck_assert_int_eq(count_in("err.txt", "all 4 cells done (4 trained now"), 1);
    /* in a session of its own (setsid: no parent in the session) the kernel drops a SIGTSTP, and the
     * experiment is not stopped: its cells, stopped by it, must go on too, not wait for ever */
    snprintf(d, sizeof d, "%s/tstp_setsid", tmpdir);
    char *g[] = {JOBS_GRID, "--max-steps", "600", "--out", d, "--jobs", "2", NULL};
    fflush(NULL);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setsid();
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        _exit(tg_cli_dispatch((int)(sizeof g / sizeof g[0]) - 1, g));
    }
    for (int i = 0; i < 5000 && !(job_cell_step(d, 0) >= 10 && job_cell_step(d, 1) >= 10); i++) sleep_ms(2);
    kill(pid, SIGTSTP);
    sleep_ms(500);
    children_of(pid, &stopped, &first);
    ck_assert_int_eq(stopped, 0);
    ck_assert_int_eq(tg_cli_wait_bounded(pid, 120), 0);
}
END_TEST

/* A cell that stops on a signal of its own (sent to it alone: a scheduler's, a CPU limit's
 * SIGXCPU) stops the experiment, and the other running cell says after which cell, not that
 * "another cell failed": none did. */
START_TEST(test_cell_stopped_on_its_own_named) {
    char d[300];
    snprintf(d, sizeof d, "%s/own", tmpdir);
    pid_t pid = spawn_two_cells(d);
    pid_t cell = child_of(pid);
    ck_assert_int_gt(cell, 0);
    kill(cell, SIGUSR1);
    ck_assert_int_eq(tg_cli_wait(pid), 1);
    ck_assert_int_eq(count_in("err.txt", "before its budget; run the same command again"), 1);
    ck_assert_int_eq(count_in("err.txt", ", as the experiment stopped at cell attn-activation="), 1);
    ck_assert_int_eq(count_in("err.txt", "another cell failed"), 0);
    char *again[] = {"experiment", "--resume", d, "--jobs", "2", NULL};
    run_ok(again);
}
END_TEST

/* An extension is refused when some cell would not continue exactly: cosine as a --vary axis (the
 * base schedule is not cosine), or a budget off the --valid-every grid, where the short cells
 * validated at their end (a fresh longer run does not: with --patience 2 the extended cells
 * stopped at step 50, the fresh ones at 75). Nothing is trained, the record is left as it was. */
START_TEST(test_extension_refused_per_cell_and_off_grid) {
    char v[300], g[300], rec[400];
    snprintf(v, sizeof v, "%s/vcos", tmpdir);
    snprintf(g, sizeof g, "%s/grid", tmpdir);
    char *vcos[] = {"experiment", "--task", "copy", "--task-vocab", "12", "--task-size", "300", "--d-model", "16",
                    "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "300", "--lr", "3e-3",
                    "--warmup", "20", "--valid-every", "30", "--threads", "1", "--vary", "schedule=constant,cosine",
                    "--seeds", "1", "--max-steps", "30", "--out", v, NULL};
    run_ok(vcos);
    snprintf(rec, sizeof rec, "%s/experiment.txt", v);
    char *before = tg_cli_slurp(rec);
    char *extend[] = {"experiment", "--resume", v, "--max-steps", "60", NULL};
    ck_assert_int_eq(run(extend), 2);
    ck_assert_int_eq(count_in("err.txt", "decays over their budget"), 1);
    cell_hash(v, "schedule=cosine,seed=1", 30);
    char *after = tg_cli_slurp(rec);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    char *offgrid[] = {"experiment", "--task", "copy", "--task-vocab", "12", "--task-size", "300", "--d-model", "16",
                       "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "300", "--lr", "1e-1",
                       "--schedule", "constant", "--warmup", "5", "--valid-every", "25", "--patience", "2",
                       "--threads", "1", "--vary", "attn-activation=none,relu", "--seeds", "1", "--max-steps", "30",
                       "--out", g, NULL};
    run_ok(offgrid);
    extend[2] = g;
    extend[4] = "100";
    ck_assert_int_eq(run(extend), 2);
    ck_assert_int_eq(count_in("err.txt", "not a multiple of --valid-every 25"), 1);
    cell_hash(g, "attn-activation=none,seed=1", 30);
    /* validated only at the end (--valid-every 0): said so (it read 'not a multiple of --valid-every 0') */
    char end_only[400];
    snprintf(end_only, sizeof end_only, "%s/end-only", tmpdir);
    char *at_end[] = {"experiment", "--task", "copy", "--task-size", "50", "--d-model", "8", "--heads", "2", "--d-ff",
                      "8", "--layers", "1", "--max-steps", "2", "--valid-every", "0", "--threads", "1", "--seeds", "1",
                      "--out", end_only, NULL};
    run_ok(at_end);
    extend[2] = end_only;
    extend[4] = "4";
    ck_assert_int_eq(run(extend), 2);
    ck_assert_int_eq(count_in("err.txt", "the cells validated at the end of their budget, step 2, and only there "
                                         "(--valid-every 0), in seed=1: a fresh run"), 1);
}
END_TEST

/* A record that does not say how the cells were trained (an argument edited by hand) is not
 * extended: the cells resume from their checkpoints, which hold their own recipe, and the record
 * rewritten with the new budget would claim the edited one. A record with a NUL byte or CRLF line
 * ends is refused, naming the line. */
START_TEST(test_extension_refuses_record_unlike_cells) {
    char t[300], rec[400];
    snprintf(t, sizeof t, "%s/edited", tmpdir);
    snprintf(rec, sizeof rec, "%s/experiment.txt", t);
    char *short_run[] = {SHORT, "--max-steps", "30", "--out", t, NULL};
    run_ok(short_run);
    char *text = tg_cli_slurp(rec);
    char *at = strstr(text, "arg: 3e-3\n");
    ck_assert_ptr_nonnull(at);
    at[5] = '5';   /* arg: 5e-3 */
    FILE *f = fopen(rec, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    char *extend[] = {"experiment", "--resume", t, "--max-steps", "60", NULL};
    ck_assert_int_eq(run(extend), 2);
    ck_assert_int_eq(count_in("err.txt", "was not trained with the recorded recipe"), 1);
    char *after = tg_cli_slurp(rec);
    ck_assert_str_eq(text, after);
    cell_hash(t, "attn-activation=relu,seed=1", 30);
    /* a NUL byte in the record would end its text there: refused, naming the line */
    f = fopen(rec, "w");
    ck_assert_ptr_nonnull(f);
    at[5] = '3';
    fwrite(text, 1, (size_t)(at - text) + 9, f);
    fputc('\0', f);
    fputs(at + 9, f);
    fclose(f);
    char *again[] = {"experiment", "--resume", t, "--dry-run", NULL};
    ck_assert_int_eq(run(again), 1);
    ck_assert_int_eq(count_in("err.txt", ": a NUL byte: not a record tapegrad wrote"), 1);
    /* CRLF line ends (a record converted on another system): refused naming the line, not an
     * "unrecognized option" of an argument ending in CR */
    f = fopen(rec, "w");
    ck_assert_ptr_nonnull(f);
    for (const char *p = text; *p; p++) {
        if (*p == '\n') fputc('\r', f);
        fputc(*p, f);
    }
    fclose(f);
    ck_assert_int_eq(run(again), 1);
    ck_assert_int_eq(count_in("err.txt", "experiment.txt:1: a CR before the line end"), 1);
    free(text);
    free(after);
}
END_TEST

START_TEST(test_bad_axes_and_other_recipe_refused) {
    char d[300];
    snprintf(d, sizeof d, "%s/bad", tmpdir);
    struct { const char *vary, *message; } bad[] = {
        {"no-such-flag=1,2", "not a train flag"},
        {"norm=post,middle", "'middle' is not one of post|pre"},
        {"d-model=16,17", "--d-model 17 is odd"},
        {"attn-activation=gelu", "--vary attn-activation given twice"},
        {"no-tie-embeddings=yes", "'yes' is not true or false"},
        {"seed=1,2", "--seeds"},
        {"norm", "expected KEY=V1,V2"},
        {"norm=post,,pre", "an empty value"},
        {"norm=post,post", "given twice"},
        {"dropout=0,0.1,0.0", "--vary dropout: value '0' given twice (as '0.0')"},
        {"time-limit=90s,1m30s", "--vary time-limit: value '90s' given twice (as '1m30s')"},
        {"dropout=0,0.1,-0", "--vary dropout: value '0' given twice (as '-0')"},   /* equal as numbers */
        {"heads=2,4", "both a base flag and a --vary axis"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *g[] = {"experiment", "--task", "copy", "--heads", "2", "--max-steps", "2", "--seeds", "1",
                     "--vary", "attn-activation=none,relu", "--vary", (char *)bad[i].vary, "--out", d, NULL};
        ck_assert_int_eq(run(g), 2);
        ck_assert_int_ge(count_in("err.txt", bad[i].message), 1);
        ck_assert(!exists(d));   /* refused before anything is written */
    }
    char *no_budget[] = {"experiment", "--task", "copy", "--vary", "norm=post,pre", "--seeds", "1", "--out", d, NULL};
    ck_assert_int_eq(run(no_budget), 2);
    ck_assert_int_ge(count_in("err.txt", "--max-steps is required"), 1);
    /* another recipe on a folder that holds an experiment */
    char *small[] = {"experiment", "--task", "copy", "--d-model", "8", "--heads", "2", "--d-ff", "8", "--layers", "1",
                     "--task-size", "50", "--max-steps", "2", "--valid-every", "0", "--vary", "norm=post,pre",
                     "--seed-list", "7", "--out", d, NULL};
    run_ok(small);
    char rec[400];
    snprintf(rec, sizeof rec, "%s/experiment.txt", d);
    char *kept = tg_cli_slurp(rec);
    small[4] = "16";
    ck_assert_int_eq(run(small), 1);
    ck_assert_int_ge(count_in("err.txt", "holds another experiment (its recipe has 'd-model = 8', this command "
                                         "'d-model = 16')"), 1);
    char *now = tg_cli_slurp(rec);
    ck_assert_str_eq(kept, now);
    free(now);
    /* a record written by an older build (its recipe lacks a setting added since) holds the same
     * command: accepted, the cells are done, nothing is trained; the record is left as it was */
    small[4] = "8";
    char *line = strstr(kept, "\nlabel-smoothing = ");
    ck_assert_ptr_nonnull(line);
    char *end = strchr(line + 1, '\n');
    memmove(line, end, strlen(end) + 1);
    FILE *f = fopen(rec, "w");
    fputs(kept, f);
    fclose(f);
    run_ok(small);
    ck_assert_int_ge(count_in("err.txt", "all 2 cells done (0 trained now"), 1);
    now = tg_cli_slurp(rec);
    ck_assert_str_eq(kept, now);
    free(now);
    /* a copied folder: report works on the copy, where it is now */
    char cp[700], copy[300];
    snprintf(copy, sizeof copy, "%s/copied", tmpdir);
    snprintf(cp, sizeof cp, "cp -r '%s' '%s'", d, copy);
    ck_assert_int_eq(system(cp), 0);
    char *rep[] = {"experiment", "report", copy, NULL};
    run_ok(rep);
    snprintf(cp, sizeof cp, "--out %s\n", copy);
    ck_assert_int_eq(count_in("copied/report.md", cp), 1);
    free(kept);
    /* a --variant whose bundle changed under the same name is another recipe too */
    char v[300];
    snprintf(v, sizeof v, "%s/bundles", tmpdir);
    char *bundles[] = {"experiment", "--task", "copy", "--d-model", "8", "--heads", "2", "--d-ff", "8", "--layers", "1",
                       "--task-size", "50", "--max-steps", "2", "--valid-every", "0", "--variant", "paper",
                       "--variant", "pre:norm=pre", "--seed-list", "7", "--out", v, NULL};
    run_ok(bundles);
    bundles[20] = "pre:norm=pre;dropout=0.3";
    ck_assert_int_eq(run(bundles), 1);
    ck_assert_int_ge(count_in("err.txt", "this command 'variant pre = --norm pre --dropout 0.3'"), 1);
}
END_TEST

/* --variant bundles: each variant's flags reach its cell's config (and only its cell's), the
 * cells are named by the variant, and bad bundles are refused before anything is written. */
START_TEST(test_variant_bundles) {
    char d[300];
    snprintf(d, sizeof d, "%s/var", tmpdir);
    char *g[] = {"experiment", "--task", "copy", "--task-size", "50", "--d-model", "8", "--heads", "2", "--d-ff",
                 "8", "--layers", "1", "--max-steps", "2", "--valid-every", "0", "--threads", "1",
                 "--variant", "paper", "--variant", "relu-heads:attn-activation=relu;attn-activation-at=heads",
                 "--variant", "untied:no-tie-embeddings", "--seeds", "1", "--out", d, NULL};
    run_ok(g);
    const char *want[3][2] = {{"variant=paper,seed=1", "attn-activation = none\nattn-activation-at = out"},
                              {"variant=relu-heads,seed=1", "attn-activation = relu\nattn-activation-at = heads"},
                              {"variant=untied,seed=1", "no-tie-embeddings = true"}};
    for (int i = 0; i < 3; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/cells/%s/config.txt", d, want[i][0]);
        char *cfg = tg_cli_slurp(path);
        ck_assert_msg(strstr(cfg, want[i][1]), "%s lacks '%s'", path, want[i][1]);
        if (i != 2) ck_assert_ptr_nonnull(strstr(cfg, "no-tie-embeddings = false"));
        free(cfg);
    }
    snprintf(d, sizeof d, "%s/var_bad", tmpdir);
    struct { const char *variant, *message; } bad[] = {
        {"x:no-such=1", "'no-such' is not a train flag"},
        {"x:attn-activation", "needs a value"},
        {"x:no-tie-embeddings=1", "takes no value"},
        {"x:norm=pre;norm=post", "--norm given twice"},
        {"x:seed=3", "set per cell"},
        {"x:heads=4", "both a base flag and set by --variant x"},
        {"x:norm=middle", "'middle' is not one of post|pre"},
        {"a,b", "expected NAME"},
        {"paper", "--variant paper given twice"},
        {"x", "--variant paper and --variant x give the same recipe"},   /* neither sets a flag */
        {"x:dropout=0.1", "--variant paper and --variant x give the same recipe"},   /* the default */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *b[] = {"experiment", "--task", "copy", "--heads", "2", "--max-steps", "2", "--seeds", "1",
                     "--variant", "paper", "--variant", (char *)bad[i].variant, "--out", d, NULL};
        ck_assert_int_eq(run(b), 2);
        ck_assert_int_ge(count_in("err.txt", bad[i].message), 1);
        ck_assert(!exists(d));
    }
}
END_TEST

/* ---- checks before anything is trained (a case of their own: `CK_RUN_CASE=checks`) ---- */

#define TINY "experiment", "--task", "copy", "--task-size", "50", "--d-model", "8", "--heads", "2", "--d-ff", "8", \
             "--layers", "1", "--max-steps", "2", "--valid-every", "0", "--threads", "1"

/* argv is refused with exit 2 and message, and nothing is written under dir. */
static void refused(char **argv, const char *message, const char *dir) {
    ck_assert_int_eq(run(argv), 2);
    ck_assert_int_ge(count_in("err.txt", message), 1);
    ck_assert_msg(!exists(dir), "%s was written", dir);
}

/* A cell folder name over NAME_MAX: the cells before it trained, then it failed with "File name
 * too long", naming a folder never made, and every report and resume after it did too. Now it is
 * refused up front (--dry-run too), nothing written, naming the variant and the limit. And a
 * DIR/cells or cell folder that is a link was followed (the cells trained in its target): refused. */
START_TEST(test_cell_folder_name_too_long_or_a_link) {
    char d[300], longv[400], vary[500];
    snprintf(d, sizeof d, "%s/toolong", tmpdir);
    snprintf(longv, sizeof longv, "0.1%0250d1", 0);   /* 0.1000...0001: a number, 254 bytes */
    snprintf(vary, sizeof vary, "label-smoothing=0.2,%s", longv);
    char *a[] = {TINY, "--vary", vary, "--seeds", "1", "--out", d, NULL};
    refused(a, "its cells' folder name, 277 bytes or more, is over the 255 bytes a file name may have", d);
    ck_assert_int_ge(count_in("err.txt", "variant label-smoothing=0.1000"), 1);
    char *dry[] = {TINY, "--vary", vary, "--seeds", "1", "--out", d, "--dry-run", NULL};
    refused(dry, "is over the 255 bytes a file name may have", d);
    int k = snprintf(vary, sizeof vary, "norm=post,x");   /* its 80 bytes end inside a character */
    for (int i = 0; i < 70; i++)
        k += snprintf(vary + k, sizeof vary - (size_t)k, "\xF0\x9F\x98\x80");
    refused(dry, "variant norm=x\xF0\x9F\x98\x80", d);
    ck_assert_int_eq(count_in("err.txt", "\xF0\x9F\x98\x80...: its cells' folder name, 293"), 1);
    char *tab[] = {TINY, "--variant", "a\tb,c:norm=pre", "--seeds", "1", "--out", d, "--dry-run",
                   NULL};
    refused(tab, "--variant 'a\\x09b,c:norm=pre': expected NAME", d);

    char l[300], target[300], cells[340], cell[400];
    snprintf(l, sizeof l, "%s/linked", tmpdir);
    snprintf(target, sizeof target, "%s/elsewhere", tmpdir);
    snprintf(cells, sizeof cells, "%s/cells", l);
    ck_assert_int_eq(mkdir(l, 0755), 0);
    ck_assert_int_eq(mkdir(target, 0755), 0);
    ck_assert_int_eq(symlink(target, cells), 0);
    char *b[] = {TINY, "--vary", "label-smoothing=0,0.1", "--seeds", "1", "--out", l, NULL};
    ck_assert_int_eq(run(b), 1);
    ck_assert_int_ge(count_in("err.txt", "/linked/cells is not a folder (a link, or a file?)"), 1);
    ck_assert_int_eq(rmdir(target), 0);   /* nothing made there */
    ck_assert_int_eq(mkdir(target, 0755), 0);
    ck_assert_int_eq(unlink(cells), 0);
    ck_assert_int_eq(mkdir(cells, 0755), 0);
    snprintf(cell, sizeof cell, "%s/label-smoothing=0,seed=1", cells);
    ck_assert_int_eq(symlink(target, cell), 0);
    ck_assert_int_eq(run(b), 1);
    ck_assert_int_ge(count_in("err.txt", "label-smoothing=0,seed=1 is not a folder (a link, or a file?)"), 1);
    ck_assert_int_eq(rmdir(target), 0);
}
END_TEST

/* A folder or --config name over the 1,023 bytes the experiment holds is refused (exit 2): it was
 * cut by an snprintf, and another path read: with its end cut to a parent folder, --resume and
 * report told to remove that folder as "not a regular file". And a record's nested --resume is
 * named escaped. */
START_TEST(test_names_too_long_refused_not_cut) {
    char d[300], deep[1200], rec[400];
    snprintf(d, sizeof d, "%s/ex", tmpdir);
    int k = snprintf(deep, sizeof deep, "%s", d);
    while (k < 1100) k += snprintf(deep + k, sizeof deep - (size_t)k, "/.");   /* the folder d */
    char *out[] = {TINY, "--vary", "norm=post,pre", "--seeds", "1", "--out", deep, NULL};
    refused(out, "tapegrad experiment: --out: value too long (at most 1023 bytes)\n", d);
    ck_assert_int_eq(mkdir(d, 0755), 0);
    char *r[] = {"experiment", "--resume", deep, NULL};
    ck_assert_int_eq(run(r), 2);
    ck_assert_int_eq(count_in("err.txt", "tapegrad experiment: --resume: value too long (at most "
                              "1023 bytes)\n"), 1);
    ck_assert_int_eq(count_in("err.txt", "remove it"), 0);
    char *rep[] = {"experiment", "report", deep, NULL};
    ck_assert_int_eq(run(rep), 2);
    ck_assert_int_eq(count_in("err.txt", "tapegrad experiment report: DIR: value too long (at most "
                              "1023 bytes)\n"), 1);
    char *cfg[] = {TINY, "--vary", "norm=post,pre", "--seeds", "1", "--config", deep, "--out", d,
                   "--dry-run", NULL};
    ck_assert_int_eq(run(cfg), 2);
    ck_assert_int_eq(count_in("err.txt", "tapegrad experiment: --config: value too long (at most "
                              "1023 bytes)\n"), 1);
    snprintf(rec, sizeof rec, "%s/experiment.txt", d);
    FILE *f = fopen(rec, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("arg: --resume\narg: a\tb\033[31m\n[recipe]\n", f);
    ck_assert_int_eq(fclose(f), 0);
    r[2] = d;
    ck_assert_int_eq(run(r), 2);
    ck_assert_int_eq(count_in("err.txt", "--resume in a\\x09b\\x1B[31m/experiment.txt\n"), 1);
    ck_assert_int_eq(count_in("err.txt", "\033"), 0);
}
END_TEST

/* The refusals of an edited recipe keep their advice at the end, with a --config file and a
 * dev set of long names (two names of 159 bytes and two lines of 256 cut it), and show a tab
 * in a line's file name escaped (it reached stderr raw). */
START_TEST(test_recipe_refusals_keep_their_end) {
    char d[300], long_dir[700], cfg[800], train[300], dev[2][600], text[700];
    snprintf(d, sizeof d, "%s/ex", tmpdir);
    long_folder(long_dir, sizeof long_dir, 'c', 200);
    char part[201];
    snprintf(part, sizeof part, "%s", long_dir + strlen(tmpdir) + 1);
    size_t n = strlen(long_dir);
    snprintf(long_dir + n, sizeof long_dir - n, "/%s", part);
    ck_assert_int_eq(mkdir(long_dir, 0755), 0);
    snprintf(cfg, sizeof cfg, "%s/co\tnf.txt", long_dir);
    snprintf(train, sizeof train, "%s/train.tsv", tmpdir);
    tg_cli_write(train, "a b c\td e f\nb c\te f\n");
    for (int i = 0; i < 2; i++) {
        snprintf(dev[i], sizeof dev[i], "%s/%0220d\t%d.tsv", tmpdir, 0, i);
        tg_cli_write(dev[i], "a b\td e\n");
    }
    snprintf(text, sizeof text, "dev = %s\n", dev[0]);
    tg_cli_write(cfg, text);
    char *a[] = {"experiment", "--config", cfg, "--train", train, "--merges", "20",
                 "--d-model", "8", "--heads", "2", "--d-ff", "8", "--layers", "1", "--threads", "1",
                 "--valid-every", "0", "--vary", "norm=post,pre", "--seeds", "1",
                 "--max-steps", "1", "--out", d, NULL};
    run_ok(a);
    snprintf(text, sizeof text, "dev = %s\n", dev[1]);
    tg_cli_write(cfg, text);
    char *r[] = {"experiment", "--resume", d, NULL};
    ck_assert_int_eq(run(r), 1);
    ck_assert_int_eq(count_in("err.txt", "experiment.txt: its arg: lines with --config ..."), 1);
    ck_assert_int_eq(count_in("err.txt", "\\x090.tsv': that file or the record was edited"), 1);
    ck_assert_int_eq(count_in("err.txt", "as it is now give 'dev = ...0"), 1);   /* the key kept */
    ck_assert_int_eq(count_in("err.txt", "its [recipe] has 'dev = ...0"), 1);
    ck_assert_int_eq(count_in("err.txt", "put it back, or give another --out\n"), 1);
    ck_assert_int_eq(count_in("err.txt", "\t"), 0);
    ck_assert_int_eq(run(a), 1);
    ck_assert_int_eq(count_in("err.txt", "\\x091.tsv'): give another --out, or the same command\n"),
                     1);
    ck_assert_int_eq(count_in("err.txt", "(its recipe has 'dev = ...0"), 1);
    ck_assert_int_eq(count_in("err.txt", "\t"), 0);
}
END_TEST

/* A recipe line longer than a path (an axis of many values) is shown as its own tail: both lines
 * were copied into buffers of 1,088 bytes, so two that differ after that were shown alike, each
 * cut inside a value. */
START_TEST(test_recipe_refusal_shows_a_long_lines_tail) {
    char d[300], rec[400], vals[2][2000], vary[2100], *text, *out, *p;
    snprintf(d, sizeof d, "%s/long-axis", tmpdir);
    for (int v = 0; v < 2; v++) {
        int k = 0;
        for (int i = 1; i <= 200; i++)
            k += snprintf(vals[v] + k, sizeof vals[v] - (size_t)k, "%s0.%06d", i > 1 ? "," : "",
                          i < 200 || !v ? i : 209);
    }
    char *first[] = {TINY, "--vary", "norm=post,pre", "--seeds", "1", "--out", d, NULL};
    run_ok(first);
    snprintf(rec, sizeof rec, "%s/experiment.txt", d);
    text = tg_cli_slurp(rec);   /* the record of `--vary lr=vals[1]`, by hand */
    ck_assert_ptr_nonnull(text);
    out = malloc(strlen(text) + 4096);
    ck_assert_ptr_nonnull(out);
    char *arg = strstr(text, "arg: norm=post,pre\n");
    char *axis = strstr(text, "vary norm = post,pre\n");
    ck_assert_ptr_nonnull(arg);
    ck_assert_ptr_nonnull(axis);
    *arg = *axis = '\0';
    p = out + sprintf(out, "%sarg: lr=%s\n", text, vals[1]);
    sprintf(p, "%svary lr = %s\n%s", arg + 19, vals[1], axis + 21);
    tg_cli_write(rec, out);
    free(out);
    free(text);
    snprintf(vary, sizeof vary, "lr=%s", vals[0]);
    char *g[] = {TINY, "--vary", vary, "--seeds", "1", "--out", d, NULL};
    ck_assert_int_eq(run(g), 1);
    ck_assert_int_eq(count_in("err.txt", "(its recipe has 'vary lr = ..."), 1);
    ck_assert_int_eq(count_in("err.txt", ",0.000199,0.000209', this command 'vary lr = ..."), 1);
    ck_assert_int_eq(count_in("err.txt", ",0.000199,0.000200'): give another --out, or the same "
                              "command\n"), 1);
}
END_TEST

/* Values that differ only in characters a folder name replaces ('/' -> '_') would share a cell
 * folder: the second cell would be "done already" with the first's model. */
START_TEST(test_cell_folder_names_distinct) {
    char d[300], w[300], t1[400], t2[400], cmd[1400], vary[900];
    snprintf(d, sizeof d, "%s/names", tmpdir);
    snprintf(w, sizeof w, "%s/W", tmpdir);
    snprintf(t1, sizeof t1, "%s/sub/train.tsv", w);
    snprintf(t2, sizeof t2, "%s/sub_train.tsv", w);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/sub' && printf 'a b\\tc d\\n' | tee '%s' > '%s'", w, t1, t2);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(vary, sizeof vary, "train=%s,%s", t1, t2);
    char *files[] = {"experiment", "--max-steps", "2", "--vary", vary, "--seeds", "1", "--out", d, NULL};
    refused(files, "--vary train: '", d);
    ck_assert_int_ge(count_in("err.txt", "sub/train.tsv' and '"), 1);
    ck_assert_int_ge(count_in("err.txt", "sub_train.tsv' give the same cell folder name"), 1);
    char *variants[] = {TINY, "--variant", "a/b:norm=pre", "--variant", "a_b", "--seeds", "1", "--out", d, NULL};
    refused(variants, "--variants 'a/b' and 'a_b' give the same cell folder name 'variant=a_b'", d);
}
END_TEST

/* A --variant bundle that sets a --vary axis's flag would override the axis: both cells would
 * train the bundle's value and be reported as two variants. */
START_TEST(test_variant_and_vary_same_key_refused) {
    char d[300];
    snprintf(d, sizeof d, "%s/overlap", tmpdir);
    char *g[] = {TINY, "--vary", "label-smoothing=0,0.1", "--variant", "v:label-smoothing=0.3", "--seeds", "1",
                 "--out", d, NULL};
    refused(g, "--label-smoothing is both a --vary axis and set by --variant v", d);
    char *spelled[] = {TINY, "--vary", "label_smoothing=0,0.1", "--variant", "w", "--variant", "v:label_smoothing=0.3",
                       "--seeds", "1", "--out", d, NULL};
    refused(spelled, "--label-smoothing is both a --vary axis and set by --variant v", d);
    char *twice[] = {TINY, "--vary", "label-smoothing=0", "--vary", "label_smoothing=0.1", "--seeds", "1", "--out", d,
                     NULL};
    refused(twice, "--vary label-smoothing given twice", d);
    /* --layers sets --enc-layers and --dec-layers: the one would override the other (before the
     * fix the base --enc-layers 3 was silently dropped for the axis's values) */
    char *base_enc[] = {"experiment", "--task", "copy", "--max-steps", "2", "--enc-layers", "3", "--vary", "layers=1,2", "--seeds", "1", "--out", d, NULL};
    refused(base_enc, "--enc-layers is both a base flag and a --vary axis, --vary layers (--layers sets --enc-layers too)", d);
    char *base_layers[] = {TINY, "--vary", "dec-layers=1,2", "--seeds", "1", "--out", d, NULL};   /* TINY has --layers */
    refused(base_layers, "--layers is both a base flag and a --vary axis, --vary dec-layers", d);
    char *variant[] = {"experiment", "--task", "copy", "--max-steps", "2", "--dec-layers", "2", "--variant", "a",
                       "--variant", "x:layers=2", "--seeds", "1", "--out", d, NULL};
    refused(variant, "--dec-layers is both a base flag and set by --variant x as --layers", d);
    char *axes[] = {"experiment", "--task", "copy", "--max-steps", "2", "--vary", "layers=1,2", "--vary", "enc-layers=3,4", "--seeds", "1", "--out", d, NULL};
    refused(axes, "--vary layers and --vary enc-layers set one setting", d);
}
END_TEST

/* Every cell's config is checked as train checks a fresh run: a cell that train would refuse
 * stops the experiment before the first cell is trained. */
START_TEST(test_precheck_is_trains_check) {
    char d[300];
    snprintf(d, sizeof d, "%s/pre", tmpdir);
    char *long_task[] = {TINY, "--vary", "task-max-len=12,2000", "--seeds", "1", "--out", d, NULL};
    refused(long_task, "cell task-max-len=2000,seed=1: --task-max-len 2000: the model has", d);
    /* standard input: every cell would read it (one all of it, or with --jobs each a part) */
    char *dev_stdin[] = {TINY, "--dev", "-", "--vary", "norm=post,pre", "--seeds", "1", "--out", d, NULL};
    refused(dev_stdin, "--dev -: every cell reads it, and standard input can be read only once", d);
    char *vocab_stdin[] = {TINY, "--vocab", "/dev/stdin", "--vary", "norm=post,pre", "--seeds", "1", "--out", d, NULL};
    refused(vocab_stdin, "--vocab /dev/stdin: every cell reads it", d);
    /* a flag the cells would not use, as train refuses it: a base flag, an axis */
    char *merges[] = {TINY, "--merges", "10", "--vary", "norm=post,pre", "--seeds", "1", "--out", d, NULL};
    refused(merges, "--merges: no BPE is learned with --task", d);
    char *merges_axis[] = {TINY, "--vary", "merges=10,20", "--seeds", "1", "--out", d, NULL};
    refused(merges_axis, "--merges: no BPE is learned with --task", d);
    char *max_len[] = {TINY, "--max-len", "50", "--vary", "norm=post,pre", "--seeds", "1", "--out", d, NULL};
    refused(max_len, "--max-len drops the longer pairs of a corpus, and --task reads none", d);
    char *bad_line_axis[] = {TINY, "--vary", "on-bad-line=error,skip", "--seeds", "1", "--out", d, NULL};
    refused(bad_line_axis, "--on-bad-line: --task reads no file", d);
    /* a run on text without --dev validates nothing: a base flag, an axis, a variant's flag */
    char tsv[400];
    snprintf(tsv, sizeof tsv, "%s/pre.tsv", tmpdir);
    tg_cli_write(tsv, "a b\tc d\n");
#define TEXT_EXP "experiment", "--train", tsv, "--merges", "4", "--d-model", "8", "--heads", "2", "--d-ff", "8", \
                 "--layers", "1", "--max-steps", "2", "--threads", "1"
    char *beam[] = {TEXT_EXP, "--beam", "2", "--vary", "norm=post,pre", "--seeds", "1", "--out", d, NULL};
    refused(beam, "--beam sets how validation decodes, and without --dev there is no validation", d);
    char *every_axis[] = {TEXT_EXP, "--vary", "valid-every=1,2", "--seeds", "1", "--out", d, NULL};
    refused(every_axis, "--valid-every sets how often to validate, and without --dev", d);
    char *variant[] = {TEXT_EXP, "--variant", "a:norm=pre", "--variant", "b:valid-sentences=1", "--seeds", "1",
                       "--out", d, NULL};
    refused(variant, "--valid-sentences sets how many dev sentences validation decodes", d);
    char *task_size[] = {TEXT_EXP, "--task-size", "7", "--vary", "norm=post,pre", "--seeds", "1", "--out", d, NULL};
    refused(task_size, "--task-size: only a synthetic task (--task) reads it", d);
#undef TEXT_EXP
    /* the seed: train takes the whole unsigned 64-bit range, and nothing beyond it */
    tg_run_config cfg;
    tg_run_config_default(&cfg);
    tg_err err;
    ck_assert_msg(tg_run_config_set(&cfg, "seed", "18446744073709551615", &err) == TG_OK, "%s", err.msg);
    ck_assert(cfg.seed == UINT64_MAX);
    ck_assert(tg_run_config_set(&cfg, "seed", "18446744073709551616", &err) != TG_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "from 0 to 18446744073709551615"));
    ck_assert(tg_run_config_set(&cfg, "seed", "-1", &err) != TG_OK);
    ck_assert(cfg.seed == UINT64_MAX);
    char *big[] = {TINY, "--vary", "norm=post", "--seed-list", "18446744073709551615", "--out", d, NULL};
    run_ok(big);
    char path[500];
    snprintf(path, sizeof path, "%s/cells/norm=post,seed=18446744073709551615/config.txt", d);
    char *c = tg_cli_slurp(path);
    ck_assert_ptr_nonnull(strstr(c, "seed = 18446744073709551615\n"));
    free(c);
}
END_TEST

/* A --train typo (or a --config, --dev, --vocab that cannot be opened) used to record the
 * experiment, fail its first cell, and refuse the corrected command as another experiment. Now
 * refused (exit 1, a failure as in train) before anything is written; a bad line of the --config
 * file stays a usage error (exit 2). An experiment whose cells are done needs no inputs. */
START_TEST(test_missing_inputs_refused_before_the_record) {
    char d[300], t[300], bad[300];
    snprintf(d, sizeof d, "%s/inputs", tmpdir);
    snprintf(t, sizeof t, "%s/in.tsv", tmpdir);
    snprintf(bad, sizeof bad, "%s/bad.cfg", tmpdir);
    tg_cli_write(t, "a b\tc d\ne f\tg h\n");
    tg_cli_write(bad, "d_model = abc\n");
#define TEXT "experiment", "--d-model", "8", "--heads", "2", "--d-ff", "8", "--layers", "1", "--max-steps", "2", \
             "--threads", "1", "--seeds", "1", "--out", d
    char *typo[] = {TEXT, "--train", "/nonexistent/in.tsv", NULL};
    ck_assert_int_eq(run(typo), 1);
    ck_assert_int_ge(count_in("err.txt", "cell seed=1: --train /nonexistent/in.tsv: cannot open: No such file"), 1);
    ck_assert_msg(!exists(d), "%s was written", d);
    char *folder[] = {TEXT, "--train", t, "--dev", tmpdir, NULL};
    ck_assert_int_eq(run(folder), 1);
    ck_assert_int_ge(count_in("err.txt", ": cannot open: Is a directory"), 1);
    char *config[] = {TEXT, "--train", t, "--config", "/nonexistent.cfg", NULL};
    ck_assert_int_eq(run(config), 1);
    ck_assert_int_ge(count_in("err.txt", "/nonexistent.cfg: cannot open"), 1);
    char *bad_config[] = {TEXT, "--train", t, "--config", bad, NULL};
    ck_assert_int_eq(run(bad_config), 2);
    ck_assert_int_ge(count_in("err.txt", "bad.cfg:1: --d-model: 'abc' is not a whole number"), 1);
    ck_assert_msg(!exists(d), "%s was written", d);
    tg_cli_write(bad, "# no dev set\nbeam = 4\n");   /* a setting no cell would use, as train refuses it */
    ck_assert_int_eq(run(bad_config), 2);
    ck_assert_int_ge(count_in("err.txt", "bad.cfg:2: beam = 4: --beam sets how validation decodes"), 1);
    ck_assert_msg(!exists(d), "%s was written", d);
    /* a config on a pipe: read by the check, the record and each cell, so refused (the cell read
     * an empty stream: "no training data", after the record) */
    char *piped[] = {TEXT, "--train", t, "--config", "/dev/stdin", NULL};
    ck_assert_int_eq(run(piped), 2);
    ck_assert_int_ge(count_in("err.txt", "--config /dev/stdin: standard input or a pipe, which can be read only once"), 1);
    ck_assert_msg(!exists(d), "%s was written", d);
    char *right[] = {TEXT, "--train", t, NULL};   /* the corrected command */
    run_ok(right);
    /* done: the same command again (the report) needs no training file */
    char moved[320];
    snprintf(moved, sizeof moved, "%s.moved", t);
    ck_assert_int_eq(rename(t, moved), 0);
    run_ok(right);
    char *longer[] = {"experiment", "--resume", d, "--max-steps", "3", NULL};   /* to train: it needs it */
    ck_assert_int_eq(run(longer), 1);
    ck_assert_int_ge(count_in("err.txt", "in.tsv: cannot open: No such file"), 1);
    ck_assert_int_eq(rename(moved, t), 0);
#undef TEXT
}
END_TEST

/* experiment.txt records an argument a line, and its reader refuses a line ending in a CR (a file
 * converted to CRLF): a --train named "in.tsv\r" was trained and reported, exit 0, then every
 * --resume and report of the folder failed ("experiment.txt:6: a CR before the line end"). Such an
 * argument, and one holding a line break, is refused before anything is written, naming it. */
START_TEST(test_argument_the_record_cannot_hold_refused) {
    char d[300], t[300], cr[300], nl[300];
    snprintf(d, sizeof d, "%s/crargs", tmpdir);
    snprintf(t, sizeof t, "%s/in\r\t.tsv", tmpdir);
    snprintf(cr, sizeof cr, "%s/in.tsv\r", tmpdir);
    snprintf(nl, sizeof nl, "%s/in\n.tsv", tmpdir);
    tg_cli_write(t, "a b\tc d\ne f\tg h\n");
    tg_cli_write(cr, "a b\tc d\ne f\tg h\n");
    tg_cli_write(nl, "a b\tc d\ne f\tg h\n");
#define TEXT "experiment", "--d-model", "8", "--heads", "2", "--d-ff", "8", "--layers", "1", "--max-steps", "2", \
             "--threads", "1", "--seeds", "1", "--out", d
    char *with_cr[] = {TEXT, "--train", cr, NULL};
    ck_assert_int_eq(run(with_cr), 2);
    ck_assert_int_ge(count_in("err.txt", "in.tsv\\x0D' ends in a carriage return"), 1);
    ck_assert_msg(!exists(d), "%s was written", d);
    char *with_nl[] = {TEXT, "--train", nl, NULL};
    ck_assert_int_eq(run(with_nl), 2);
    ck_assert_int_ge(count_in("err.txt", "in\\x0A.tsv' holds a line break"), 1);
    ck_assert_msg(!exists(d), "%s was written", d);
    char *in_middle[] = {TEXT, "--train", t, "--dev", t, NULL};   /* a tab or CR inside is recorded */
    run_ok(in_middle);
    char *again[] = {"experiment", "--resume", d, NULL};
    run_ok(again);
#undef TEXT
}
END_TEST

/* `experiment --out -x` (getopt takes the value) made a folder that `experiment report` could not
 * name: "unexpected argument '-x'", and `report -- -x` "unexpected argument '--'"; nor did report
 * take `--baseline=SPEC`, which the experiment itself takes. */
START_TEST(test_report_takes_what_getopt_takes) {
    ck_assert_int_eq(chdir(tmpdir), 0);
    tg_cli_write("in.tsv", "a b\tc d\ne f\tg h\n");
    char *g[] = {"experiment", "--d-model", "8", "--heads", "2", "--d-ff", "8", "--layers", "1", "--max-steps", "2",
                 "--threads", "1", "--seeds", "1", "--vary", "dropout=0,0.1", "--train", "in.tsv", "--out", "-x", NULL};
    run_ok(g);
    char *dashed[] = {"experiment", "report", "--", "-x", NULL};
    run_ok(dashed);
    char *base[] = {"experiment", "report", "--baseline=dropout=0.1", "--", "-x", NULL};
    run_ok(base);
    char *unknown[] = {"experiment", "report", "-x", NULL};   /* a flag it does not know, as before */
    ck_assert_int_eq(run(unknown), 2);
}
END_TEST

/* `report` of a folder that holds no experiment said "cannot resume", a command not given. */
START_TEST(test_report_of_no_experiment_said_as_report) {
    char *none[] = {"experiment", "report", tmpdir, NULL};
    ck_assert_int_eq(run(none), 1);
    ck_assert_int_eq(count_in("err.txt", "tapegrad experiment report: no experiment to report: "), 1);
    ck_assert_int_eq(count_in("err.txt", "experiment.txt: cannot read"), 1);
    ck_assert_int_eq(count_in("err.txt", "resume"), 0);
}
END_TEST

/* `report` (or --resume) of a cell trained, its last.ckpt deleted, advised "give another --out",
 * which neither takes: it says what is true, and removing the folder has the cell trained again. */
START_TEST(test_cell_without_its_checkpoint_advised_as_report) {
    ck_assert_int_eq(chdir(tmpdir), 0);
    tg_cli_write("in.tsv", "a b\tc d\ne f\tg h\n");
    char *g[] = {"experiment", "--d-model", "8", "--heads", "2", "--d-ff", "8", "--layers", "1", "--max-steps", "2",
                 "--threads", "1", "--log-every", "1", "--seeds", "1", "--vary", "dropout=0,0.1", "--train", "in.tsv",
                 "--out", "x", NULL};   /* (--log-every 1: metrics.tsv rows, a cell past its start) */
    run_ok(g);
    ck_assert_int_eq(remove("x/cells/dropout=0,seed=1/last.ckpt"), 0);
    char *report[] = {"experiment", "report", "x", NULL}, *again[] = {"experiment", "--resume", "x", NULL};
    char **cmds[] = {report, again};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(run(cmds[i]), 2);
        ck_assert_int_eq(count_in("err.txt", "x/cells/dropout=0,seed=1 holds the cell's files"), 1);
        ck_assert_int_eq(count_in("err.txt", "put its last.ckpt back, or remove x/cells/dropout=0,seed=1, which "
                                             "`experiment --resume x` then trains again"), 1);
        char *e = tg_cli_slurp("err.txt");
        ck_assert(!strstr(e, "--out"));
        free(e);
    }
    ck_assert_int_eq(system("rm -r 'x/cells/dropout=0,seed=1'"), 0);
    run_ok(again);
    ck_assert(exists("x/cells/dropout=0,seed=1/last.ckpt"));
    run_ok(report);
    /* a new experiment whose cell's folder holds such files was given train's advice, --resume of
     * the cell's folder, which experiment does not take */
    ck_assert_int_eq(system("mkdir -p 'y/cells/dropout=0,seed=1' && cp "
                            "'x/cells/dropout=0,seed=1/metrics.tsv' 'y/cells/dropout=0,seed=1/'"),
                     0);
    g[sizeof g / sizeof *g - 2] = "y";
    ck_assert_int_eq(run(g), 2);
    ck_assert_int_eq(count_in("err.txt", "y/cells/dropout=0,seed=1 holds another run's files"), 1);
    ck_assert_int_eq(count_in("err.txt", "give another --out, or remove y/cells/dropout=0,seed=1, "
                              "which this command then trains"),
                     1);
    char *e = tg_cli_slurp("err.txt");
    ck_assert(!strstr(e, "--resume"));
    free(e);
    ck_assert_int_eq(system("rm -r 'y/cells/dropout=0,seed=1'"), 0);
    run_ok(g);
}
END_TEST

/* Started with SIGCHLD ignored (SIG_IGN is inherited through exec: a launcher that reaps nothing),
 * the kernel reaped the cells at their exit and waitpid found none: a cell that had finished was
 * "failed (exit 1)" and the experiment stopped, exit 1; with --jobs 2 it waited for ever. */
START_TEST(test_cells_reaped_when_sigchld_ignored) {
    char t[300];
    snprintf(t, sizeof t, "%s/in.tsv", tmpdir);
    tg_cli_write(t, "a b\tc d\ne f\tg h\n");
    for (int jobs = 1; jobs <= 2; jobs++) {
        char d[300], j[8];
        snprintf(d, sizeof d, "%s/chld%d", tmpdir, jobs);
        snprintf(j, sizeof j, "%d", jobs);
        char *g[] = {"experiment", "--d-model", "8", "--heads", "2", "--d-ff", "8", "--layers", "1", "--max-steps",
                     "2", "--threads", "1", "--seeds", "1", "--vary", "dropout=0,0.1", "--train", t, "--out", d,
                     "--jobs", j, NULL};
        void (*was)(int) = signal(SIGCHLD, SIG_IGN);   /* inherited by the experiment, not kept here */
        pid_t pid = spawn(g);
        signal(SIGCHLD, was);
        ck_assert_int_eq(tg_cli_wait_bounded(pid, 60), 0);   /* -1: still waiting a minute on */
        ck_assert_int_eq(count_in("err.txt", "failed"), 0);
    }
}
END_TEST

/* A --train that is a FIFO, its writer waiting for a reader: the input check before the record
 * opened it (so the writer wrote) and closed it (so what it wrote was lost, its next write a
 * SIGPIPE), and the cell then waited for a writer forever (before the fix: the writer killed, the
 * experiment still running after 60 s). One cell reads it, as from a file; more than one cell
 * is refused. */
START_TEST(test_fifo_input_left_to_its_cell) {
    char d[300], fifo[300];
    snprintf(d, sizeof d, "%s/fifo_exp", tmpdir);
    snprintf(fifo, sizeof fifo, "%s/train.fifo", tmpdir);
    ck_assert_int_eq(mkfifo(fifo, 0644), 0);
    /* read by two cells: the first would take it all, the second wait for a writer for ever (as
     * /dev/./stdin or <(...) would give it nothing): refused before anything is written */
    char *two[] = {"experiment", "--train", fifo, "--merges", "5", "--d-model", "8", "--heads", "2", "--d-ff", "8",
                   "--layers", "1", "--max-steps", "2", "--threads", "1", "--seeds", "2", "--out", d, NULL};
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(two), 60), 2);
    ck_assert_int_ge(count_in("err.txt", "train.fifo: a pipe, which can be read only once, and every cell reads it"),
                     1);
    ck_assert_msg(!exists(d), "%s was written", d);
    /* a dev set is read again by the report, to score the cell: a pipe even for one cell (the
     * cell trained, then the report failed, exit 1, 'file is empty') */
    char train[300];
    snprintf(train, sizeof train, "%s/train.tsv", tmpdir);
    tg_cli_write(train, "a b\tc d\ne f\tg h\n");
    char *dev[] = {"experiment", "--train", train, "--dev", fifo, "--merges", "5", "--d-model", "8", "--heads", "2",
                   "--d-ff", "8", "--layers", "1", "--max-steps", "2", "--threads", "1", "--seeds", "1", "--out", d,
                   NULL};
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(dev), 60), 2);
    ck_assert_int_ge(count_in("err.txt", "and the report again to score the cells: give a file"), 1);
    ck_assert_msg(!exists(d), "%s was written", d);
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t writer = fork();
    ck_assert_int_ge(writer, 0);
    if (writer == 0) {   /* the writer: all of its pairs taken, or exit 1 */
        signal(SIGPIPE, SIG_IGN);
        alarm(120);
        close(ready[0]);
        close(ready[1]);   /* (just before it waits in the open) */
        int fd = open(fifo, O_WRONLY);
        static const char pairs[] = "a b\tc d\ne f\tg h\na c\tb d\n";
        _exit(fd >= 0 && write(fd, pairs, sizeof pairs - 1) == (ssize_t)(sizeof pairs - 1) && close(fd) == 0 ? 0 : 1);
    }
    char *g[] = {"experiment", "--train", fifo, "--merges", "5", "--d-model", "8", "--heads", "2", "--d-ff", "8",
                 "--layers", "1", "--max-steps", "2", "--threads", "1", "--seeds", "1", "--out", d, NULL};
    close(ready[1]);
    char byte;
    ck_assert_int_eq(read(ready[0], &byte, 1), 0);
    close(ready[0]);
    sleep_ms(300);   /* the writer waits in its open */
    pid_t pid = spawn(g);
    int status = 0, waited = 0;
    pid_t got = 0;
    while ((got = waitpid(pid, &status, WNOHANG)) == 0 && waited++ < 600) sleep_ms(100);
    if (got == 0) {   /* still waiting for a writer: end it and the writer */
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        kill(writer, SIGKILL);
    }
    int wstatus = 0;
    waitpid(writer, &wstatus, 0);
    ck_assert_msg(got == pid, "the experiment was still running after 60 s (waiting for the FIFO's writer)");
    ck_assert_msg(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "the FIFO's writer lost its pairs (status %d)",
                  wstatus);
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_int_eq(count_in("err.txt", "seed=1: finished at step 2"), 1);
}
END_TEST

/* Removes experiment d's cell `name` (as if not started yet), resumes d and checks the cell was
 * trained to step 2 and the report made. */
static void train_again_unstarted(const char *d, const char *name) {
    char cell[500], cmd[700], done[300];
    snprintf(cell, sizeof cell, "%s/cells/%s", d, name);
    snprintf(cmd, sizeof cmd, "rm -r '%s'", cell);
    ck_assert_int_eq(system(cmd), 0);
    char *resume[] = {"experiment", "--resume", (char *)d, NULL};
    run_ok(resume);
    snprintf(done, sizeof done, "%s: finished at step 2", name);
    ck_assert_int_eq(count_in("err.txt", done), 1);
    char *rep[] = {"experiment", "report", (char *)d, NULL};
    run_ok(rep);
}

/* An experiment recorded by a build that took a flag which does nothing (--merges with --task,
 * --max-len with --task: refused since, when an experiment starts) is resumed, extended and
 * reported (before the fix
 * all three were refused, "no BPE is learned with --task"); a cell not started yet is trained
 * without the flag. */
START_TEST(test_recorded_flags_doing_nothing_carry_on) {
    char d[300], rec[400], cmd[700];
    snprintf(d, sizeof d, "%s/old", tmpdir);
    snprintf(rec, sizeof rec, "%s/experiment.txt", d);
    char *g[] = {"experiment", "--task", "copy", "--task-size", "50", "--d-model", "8", "--heads", "2", "--d-ff", "8",
                 "--layers", "1", "--max-steps", "2", "--valid-every", "2", "--threads", "1", "--vary",
                 "norm=post,pre", "--seeds", "1", "--out", d, NULL};
    run_ok(g);
    /* as the older build recorded `--merges 100`: its arguments, and its recipe */
    char *text = tg_cli_slurp(rec), *args = strstr(text, "arg: --task\n"), *m = strstr(text, "\nmerges = 8000\n");
    ck_assert(args && m && args < m);
    char *old = malloc(strlen(text) + 64);
    snprintf(old, strlen(text) + 64, "%.*sarg: --merges\narg: 100\n%.*s\nmerges = 100\n%s", (int)(args - text), text,
             (int)(m - args), args, m + strlen("\nmerges = 8000\n"));
    /* and `--max-len 50` (refused with --task since session 33) */
    char *ml = strstr(old, "\nmax-len = 128\n");
    args = strstr(old, "arg: --task\n");
    ck_assert(args && ml && args < ml);
    free(text);
    text = old;
    old = malloc(strlen(text) + 64);
    snprintf(old, strlen(text) + 64, "%.*sarg: --max-len\narg: 50\n%.*s\nmax-len = 50\n%s", (int)(args - text), text,
             (int)(ml - args), args, ml + strlen("\nmax-len = 128\n"));
    tg_cli_write(rec, old);
    train_again_unstarted(d, "norm=pre,seed=1");
    char *extend[] = {"experiment", "--resume", d, "--max-steps", "4", NULL};
    run_ok(extend);
    ck_assert_int_eq(count_in("err.txt", "norm=post,seed=1: finished at step 4"), 1);
    ck_assert_int_eq(count_in("old/experiment.txt", "\nmerges = 100\n"), 1);
    /* a new experiment with it is refused still */
    snprintf(cmd, sizeof cmd, "%s/new", tmpdir);
    char *again[] = {"experiment", "--task", "copy", "--merges", "100", "--max-steps", "2", "--vary", "norm=post,pre",
                     "--seeds", "1", "--out", cmd, NULL};
    refused(again, "--merges: no BPE is learned with --task", cmd);
    char *again_len[] = {"experiment", "--task", "copy", "--max-len", "50", "--max-steps", "2", "--vary",
                         "norm=post,pre", "--seeds", "1", "--out", cmd, NULL};
    refused(again_len, "--max-len drops the longer pairs of a corpus", cmd);
    free(text);
    free(old);
}
END_TEST

/* --seed-list 1,2, (an empty seed after its last comma) is refused as --vary's empty value is, exit
 * 2 and nothing written (it was taken as 1,2); an experiment recorded with it goes on. */
START_TEST(test_seed_list_trailing_comma) {
    char d[300], rec[400];
    snprintf(d, sizeof d, "%s/comma", tmpdir);
    snprintf(rec, sizeof rec, "%s/experiment.txt", d);
    char *trailing[] = {TINY, "--seed-list", "1,2,", "--out", d, NULL};
    refused(trailing, "--seed-list 1,2,: an empty seed after the last comma", d);
    char *g[] = {TINY, "--seed-list", "1,2", "--out", d, NULL};
    run_ok(g);
    char *text = tg_cli_slurp(rec), *at = strstr(text, "\narg: 1,2\n"), *old = malloc(strlen(text) + 2);
    ck_assert_ptr_nonnull(at);
    snprintf(old, strlen(text) + 2, "%.*s\narg: 1,2,\n%s", (int)(at - text), text, at + strlen("\narg: 1,2\n"));
    tg_cli_write(rec, old);   /* as an earlier build recorded it */
    train_again_unstarted(d, "seed=2");
    free(text);
    free(old);
}
END_TEST

/* A seed spelled other than in digits: strtoull took ' -2' as 2^64 - 2 (train's --seed refuses it),
 * and ' 2', '+2' as 2. Refused for a new experiment, exit 2, nothing written. */
START_TEST(test_seed_list_spelled_in_digits) {
    char d[300];
    snprintf(d, sizeof d, "%s/signs", tmpdir);
    const char *bad[] = {"1, -2", "1, 2", "+1", " 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *g[] = {TINY, "--seed-list", (char *)bad[i], "--out", d, NULL};
        refused(g, "seeds are digits, separated by commas", d);
    }
}
END_TEST

/* A reason wrapped as "cell NAME: REASON" with a long cell name (a --vary of paths, 220 bytes)
 * lost its end in tg_err's 512 bytes ("No such file or direct"): the name is shown as its end. */
START_TEST(test_cell_reasons_keep_their_end) {
    char d[300], dir[600], train[300], vary[1400];
    snprintf(d, sizeof d, "%s/cr", tmpdir);
    /* a cell name ("dev=" + the path, '/' as '_', + ",seed=1") of 245 bytes whatever tmpdir's
     * length: a file name may have 255 */
    int n = 223 - (int)strlen(tmpdir);
    ck_assert_int_ge(n, 100);
    long_folder(dir, sizeof dir, 'd', n);
    snprintf(train, sizeof train, "%s/tr.tsv", tmpdir);
    tg_cli_write(train, "a b\tc d\ne f\tg h\n");
    snprintf(vary, sizeof vary, "%s/dev1.tsv", dir);
    tg_cli_write(vary, "a b\tc d\n");
    snprintf(vary, sizeof vary, "dev=%s/dev1.tsv,%s/nodev.tsv", dir, dir);
    char *g[] = {"experiment", "--train", train, "--merges", "10", "--d-model", "8", "--heads", "2",
                 "--d-ff", "8", "--layers", "1", "--max-steps", "1", "--valid-every", "0",
                 "--threads", "1", "--vary", vary, "--seeds", "1", "--out", d, NULL};
    ck_assert_int_ne(run(g), 0);
    ck_assert_int_eq(count_in("err.txt", "tapegrad experiment: cell ...dd"), 1);
    ck_assert_int_eq(count_in("err.txt", "d/nodev.tsv: cannot open: No such file or "
                              "directory\n"), 1);
}
END_TEST

/* --vary FLAG=true,false for a flag without a value, with a --config file setting it true: the
 * false cell is given no flag (a flag cannot say false), so it trained as the true one and the
 * experiment failed after its training, exit 1, blaming a hand's edit. Refused before anything
 * is written, naming the file; a file setting it false is taken. */
START_TEST(test_vary_false_against_config_true_refused) {
    char d[300], c[300];
    snprintf(d, sizeof d, "%s/tieoff", tmpdir);
    snprintf(c, sizeof c, "%s/tie.cfg", tmpdir);
    tg_cli_write(c, "no-tie-embeddings = true\n");
    char *g[] = {TINY, "--config", c, "--vary", "no-tie-embeddings=true,false", "--seeds", "1", "--out", d, NULL};
    refused(g, "sets no-tie-embeddings = true, and a cell is given --no-tie-embeddings for true only", d);
    char *dry[] = {TINY, "--config", c, "--vary", "no-tie-embeddings=true,false", "--seeds", "1", "--out", d,
                   "--dry-run", NULL};
    refused(dry, "sets no-tie-embeddings = true", d);
    char tab[300];   /* the file's name shown escaped: a tab reached the message raw */
    snprintf(tab, sizeof tab, "%s/t\tie.cfg", tmpdir);
    tg_cli_write(tab, "no-tie-embeddings = true\n");
    dry[20] = tab;
    refused(dry, "--config ", d);
    ck_assert_int_eq(count_in("err.txt", "/t\\x09ie.cfg sets no-tie-embeddings = true"), 1);
    ck_assert_int_eq(count_in("err.txt", "\t"), 0);
    tg_cli_write(c, "no-tie-embeddings = false\n");
    run_ok(g);
}
END_TEST

/* A --config file with a setting no cell uses (`beam = 4` on text without --dev), recorded by an
 * older build: its cells not yet started train (train takes the file as recorded), where a new
 * experiment with it is refused before its record, naming the file's line. */
START_TEST(test_recorded_config_setting_doing_nothing_carries_on) {
    char d[300], t[300], c[300], rec[400], cmd[700];
    snprintf(d, sizeof d, "%s/oldc", tmpdir);
    snprintf(t, sizeof t, "%s/oc.tsv", tmpdir);
    snprintf(c, sizeof c, "%s/oc.cfg", tmpdir);
    snprintf(rec, sizeof rec, "%s/experiment.txt", d);
    tg_cli_write(t, "a b\tc d\ne f\tg h\n");
    tg_cli_write(c, "# the recipe\n");
    char *g[] = {"experiment", "--train", t, "--config", c, "--merges", "4", "--d-model", "8", "--heads", "2",
                 "--d-ff", "8", "--layers", "1", "--max-steps", "2", "--threads", "1", "--seeds", "2", "--out", d, NULL};
    run_ok(g);
    /* as the older build recorded the file with `beam = 4` */
    tg_cli_write(c, "# the recipe\nbeam = 4\n");
    char *text = tg_cli_slurp(rec), *b = strstr(text, "\nbeam = 1\n");
    ck_assert_ptr_nonnull(b);
    b[strlen("\nbeam = ")] = '4';
    ck_assert_ptr_null(strstr(text, "\nbeam = 1\n"));   /* (one recipe) */
    tg_cli_write(rec, text);
    free(text);
    train_again_unstarted(d, "seed=2");
    /* a new experiment with the file is refused, nothing written */
    snprintf(cmd, sizeof cmd, "%s/newc", tmpdir);
    char *again[] = {"experiment", "--train", t, "--config", c, "--max-steps", "2", "--seeds", "1", "--out", cmd, NULL};
    refused(again, "oc.cfg:2: beam = 4: --beam sets how validation decodes", cmd);
    /* the file edited since: the resume names it (it blamed an edit of the record alone) */
    tg_cli_write(c, "# the recipe\nbeam = 4\nlr = 0.002\n");
    char *resume[] = {"experiment", "--resume", d, NULL};
    ck_assert_int_eq(run(resume), 1);
    ck_assert_int_ge(count_in("err.txt", "with --config "), 1);
    ck_assert_int_ge(count_in("err.txt", "oc.cfg as it is now give 'lr = 0.002', its [recipe] has 'lr = "), 1);
    ck_assert_int_ge(count_in("err.txt", "that file or the record was edited since the experiment started"), 1);
}
END_TEST

/* Each of the three commands (report, --resume, --dry-run) exits with rc and, when message is
 * given, says it. */
static void each_command(char **cmds[3], int rc, const char *message) {
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(run(cmds[i]) == rc, "command %d: not exit %d", i, rc);
        if (message) ck_assert_int_ge(count_in("err.txt", message), 1);
    }
}

/* A cell whose last.ckpt is another cell's (copied, or the folder a link to another cell's), or
 * a record whose arg: lines were edited (its cells trained with its [recipe]), is refused by
 * report, --resume and --dry-run, naming the cell and the setting (before the fix the report
 * labelled the other cell's model with this cell's values, and --resume took the cell for done). */
/* The checkpoint refusal shows the differing lines as their key and their value's tail,
 * escaped: with two --dev paths of 100 bytes shown whole the message lost its advice, and a tab
 * in them reached stderr raw. */
START_TEST(test_cell_checkpoint_refusal_shows_the_lines_tails) {
    char d[300], long_dir[500], train[300], dev[2][600], vary[1300], cmd[1200];
    snprintf(d, sizeof d, "%s/swap-dev", tmpdir);
    long_folder(long_dir, sizeof long_dir, 'p', 20);
    snprintf(train, sizeof train, "%s/sw.tsv", tmpdir);
    tg_cli_write(train, "a b c\td e f\nb c\te f\n");
    for (int i = 0; i < 2; i++) {
        snprintf(dev[i], sizeof dev[i], "%s/%050d\t%c.tsv", long_dir, 0, 'A' + i);
        tg_cli_write(dev[i], "a b\td e\n");
    }
    snprintf(vary, sizeof vary, "dev=%s,%s", dev[0], dev[1]);
    char *a[] = {"experiment", "--train", train, "--merges", "20", "--d-model", "8", "--heads", "2",
                 "--d-ff", "8", "--layers", "1", "--threads", "1", "--valid-every", "0",
                 "--vary", vary, "--seeds", "1", "--max-steps", "1", "--out", d, NULL};
    run_ok(a);
    snprintf(cmd, sizeof cmd, "cd '%s/cells' && cp dev=*A.tsv,seed=1/last.ckpt dev=*B.tsv,seed=1",
             d);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(run(a), 1);
    ck_assert_int_eq(count_in("err.txt", "(the cell's 'dev = ..."), 1);
    ck_assert_int_eq(count_in("err.txt", "0\\x09B.tsv', its last.ckpt's 'dev = ..."), 1);
    ck_assert_int_eq(count_in("err.txt", "0\\x09A.tsv'): another cell's checkpoint"), 1);
    ck_assert_int_eq(count_in("err.txt", "remove the cell's folder to train it again\n"), 1);
    ck_assert_int_eq(count_in("err.txt", "\t"), 0);
}
END_TEST

START_TEST(test_cell_checkpoint_must_be_the_cells) {
    char d[300], rec[400], cmd[2400];
    snprintf(d, sizeof d, "%s/swap", tmpdir);
    snprintf(rec, sizeof rec, "%s/experiment.txt", d);
    char *g[] = {TINY, "--vary", "dropout=0,0.1", "--seeds", "2", "--out", d, NULL};
    run_ok(g);
    char *rep[] = {"experiment", "report", d, NULL}, *resume[] = {"experiment", "--resume", d, NULL},
         *dry[] = {"experiment", "--resume", d, "--dry-run", NULL};
    char **cmds[] = {rep, resume, dry};
    const char *swaps[] = {"cp '%s/cells/dropout=0.1,seed=1/last.ckpt' '%s/cells/dropout=0,seed=1/last.ckpt'",
                           "mv '%s/cells/dropout=0,seed=1' '%s/kept' && ln -s 'dropout=0,seed=2' "
                           "'%s/cells/dropout=0,seed=1'"};
    const char *diff[] = {"cell dropout=0,seed=1: its last.ckpt was not trained with the recorded recipe (the cell's "
                          "'dropout = 0', its last.ckpt's 'dropout = 0.1')",   /* (shortened) */
                          /* a cell folder that is a link is not the cell's (cells.c, by lstat) */
                          "cells/dropout=0,seed=1 is not a folder (a link, or a file?): it is not the cell's"};
    snprintf(cmd, sizeof cmd, "cp '%s/cells/dropout=0,seed=1/last.ckpt' '%s/saved.ckpt'", d, tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, swaps[k], d, d, d);
        ck_assert_int_eq(system(cmd), 0);
        each_command(cmds, 1, diff[k]);
    }
    snprintf(cmd, sizeof cmd, "rm '%s/cells/dropout=0,seed=1' && mv '%s/kept' '%s/cells/dropout=0,seed=1' && "
             "cp '%s/saved.ckpt' '%s/cells/dropout=0,seed=1/last.ckpt'", d, d, d, tmpdir, d);
    ck_assert_int_eq(system(cmd), 0);
    run_ok(rep);
    /* a cell resumed by hand with other bookkeeping (logging, saving, keeping checkpoints) is
     * still the cell: its experiment goes on; with settings that choose its end or its best.ckpt
     * (patience, validation, decoding, the NaN reloads, a time limit) it is not, and is refused */
    char cell[400];
    snprintf(cell, sizeof cell, "%s/cells/dropout=0,seed=1", d);
    char *by_hand[] = {"train", "--resume", cell, "--max-steps", "3", "--log-every", "1", "--save-every", "1",
                       "--keep", "2", NULL};
    run_ok(by_hand);
    each_command(cmds, 0, NULL);
    char *other[] = {"train", "--resume", cell, "--max-steps", "4", "--valid-every", "1", NULL};
    run_ok(other);
    each_command(cmds, 1, "(the cell's 'valid-every = 0', its last.ckpt's 'valid-every = 1')");
    ck_assert_int_ge(count_in("err.txt", "remove the cell's folder to train it again"), 1);
    snprintf(cmd, sizeof cmd, "cp '%s/saved.ckpt' '%s/last.ckpt'", tmpdir, cell);
    ck_assert_int_eq(system(cmd), 0);
    /* the record's arguments edited: they are not its recipe, nor its cells' */
    char *text = tg_cli_slurp(rec), *at = strstr(text, "arg: --d-model\narg: 8\n");
    ck_assert_ptr_nonnull(at);
    at[strlen("arg: --d-model\narg: ")] = '4';
    tg_cli_write(rec, text);
    each_command(cmds, 1, "experiment.txt: its arg: lines give 'd-model = 4', its [recipe] has 'd-model = 8'");
    free(text);
}
END_TEST

/* DIR/lock is taken before DIR/experiment.txt is checked or written: an experiment that finds
 * DIR locked by another (here: this test) writes no record, so two started at once cannot leave
 * the record of one and the cells of the other. */
START_TEST(test_lock_before_record) {
    char d[300], lock[400], rec[400];
    snprintf(d, sizeof d, "%s/locked", tmpdir);
    snprintf(lock, sizeof lock, "%s/lock", d);
    snprintf(rec, sizeof rec, "%s/experiment.txt", d);
    ck_assert_int_eq(mkdir(d, 0755), 0);
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    char *g[] = {TINY, "--vary", "norm=post,pre", "--seeds", "1", "--out", d, NULL};
    ck_assert_int_eq(run(g), 1);
    ck_assert_int_ge(count_in("err.txt", "is being trained by another process"), 1);
    ck_assert_msg(!exists(rec), "experiment.txt written while another process held the lock");
    char *dry[] = {TINY, "--vary", "norm=post,pre", "--seeds", "1", "--out", d, "--dry-run", NULL};
    run_ok(dry);   /* a dry run writes nothing, and needs no lock */
    close(fd);
    run_ok(g);
    ck_assert(exists(rec));
}
END_TEST

/* Writes n tab-separated pairs of words to path; words from offset on. */
static void write_pairs(const char *path, int n, int offset) {
    const char *w[] = {"the", "house", "is", "red", "green", "a", "dog", "runs"};
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s %s\t%s %s\n", w[(i + offset) % 8], w[(i * 3 + offset) % 8], w[(i * 5 + offset) % 8],
                w[(i + 1 + offset) % 8]);
    fclose(f);
}

/* A cell that translates its dev set perfectly: BLEU, exp of the mean log precision, comes out a few
 * ulps above 100 (100.00000000000004), and its eval cache, which took no score above 100, could not
 * be read back after its writing: the experiment and every report of it ended in exit 1. */
START_TEST(test_perfect_bleu_reported) {
    char d[300], train[300], dev[300];
    snprintf(d, sizeof d, "%s/perfect", tmpdir);
    snprintf(train, sizeof train, "%s/one.tsv", tmpdir);
    snprintf(dev, sizeof dev, "%s/one-dev.tsv", tmpdir);
    FILE *f = fopen(train, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 50; i++) fputs("a b c d e\tv w x y z\n", f);   /* one pair, learnt by heart */
    fclose(f);
    f = fopen(dev, "w");
    ck_assert_ptr_nonnull(f);
    fputs("a b c d e\tv w x y z\n", f);
    fclose(f);
    char *g[] = {"experiment", "--train", train, "--dev", dev, "--merges", "10", "--d-model", "8", "--heads", "1",
                 "--d-ff", "8", "--layers", "1", "--max-steps", "200", "--lr", "2e-2", "--warmup", "5",
                 "--valid-every", "0", "--threads", "1", "--vary", "norm=post", "--seeds", "1", "--out", d, NULL};
    run_ok(g);
    ck_assert_int_ge(count_in("err.txt", "BLEU 100.00"), 1);
    char *rep[] = {"experiment", "report", d, NULL};
    run_ok(rep);
}
END_TEST

/* A dev file rewritten with other text (as many lines, no checkpoint newer), or read from another
 * folder, is not the dev set the cells validated on: the report refuses it (the checkpoints record
 * their dev set) rather than score them on it; before the checkpoints did, the cache was redone on
 * the new text, and before that its scores were kept. A cache without the dev hash counts as stale. */
START_TEST(test_eval_cache_follows_dev_text) {
    char d[300], train[300], dev[300], tsv[600];
    snprintf(d, sizeof d, "%s/devhash", tmpdir);
    snprintf(train, sizeof train, "%s/train.tsv", tmpdir);
    snprintf(dev, sizeof dev, "%s/dev.tsv", tmpdir);
    write_pairs(train, 120, 0);
    write_pairs(dev, 10, 0);
    char *g[] = {"experiment", "--train", train, "--dev", dev, "--merges", "10", "--d-model", "8", "--heads", "2",
                 "--d-ff", "8", "--layers", "1", "--max-steps", "2", "--valid-every", "0", "--threads", "1",
                 "--vary", "norm=post", "--seeds", "1", "--out", d, NULL};
    run_ok(g);
    char *rep[] = {"experiment", "report", d, NULL};
    run_ok(rep);
    ck_assert_int_eq(count_in("err.txt", "evaluated "), 0);   /* cached */
    char results[600];
    snprintf(results, sizeof results, "%s/results.tsv", d);
    char *before = tg_cli_slurp(results);
    write_pairs(dev, 10, 3);   /* other text, as many lines */
    ck_assert_int_eq(run(rep), 1);
    ck_assert_int_ge(count_in("err.txt", "last.ckpt was validated on another dev set (10 pairs)"), 1);
    char *now = tg_cli_slurp(results);
    ck_assert_str_eq(now, before);
    free(now);
    free(before);
    write_pairs(dev, 10, 0);   /* restored */
    run_ok(rep);
    ck_assert_int_eq(count_in("err.txt", "evaluated "), 0);
    /* a cache from before the hash was recorded: redone */
    snprintf(tsv, sizeof tsv, "%s/cells/norm=post,seed=1/eval-last.tsv", d);
    char *t = tg_cli_slurp(tsv), *line = strstr(t, "\ndev\t");
    ck_assert_ptr_nonnull(line);
    memmove(line, strchr(line + 1, '\n'), strlen(strchr(line + 1, '\n')) + 1);
    FILE *f = fopen(tsv, "w");
    fputs(t, f);
    fclose(f);
    free(t);
    run_ok(rep);
    ck_assert_int_ge(count_in("err.txt", "evaluated norm=post,seed=1/last.ckpt"), 1);
}
END_TEST

/* The number after "key": in text, from the first occurrence of anchor on. */
static double json_num_after(const char *text, const char *anchor, const char *key) {
    const char *p = strstr(text, anchor);
    ck_assert_msg(p != NULL, "no '%s' in:\n%s", anchor, text);
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\": ", key);
    p = strstr(p, needle);
    ck_assert_msg(p != NULL, "no %s after '%s' in:\n%s", key, anchor, text);
    return strtod(p + strlen(needle), NULL);
}

/* The report carries the teacher-forced token statistics: each cell's in results.json are what
 * `tapegrad eval --json` prints for its checkpoint on the same dev file; results.tsv has their
 * columns; report.md their tables, with the variant against the baseline; a cache from a build
 * without them counts as stale and is redone. */
START_TEST(test_report_token_stats_are_evals) {
    char d[300], train[300], dev[300], ckpt[600], path[600];
    snprintf(d, sizeof d, "%s/ts", tmpdir);
    snprintf(train, sizeof train, "%s/train.tsv", tmpdir);
    snprintf(dev, sizeof dev, "%s/dev.tsv", tmpdir);
    write_pairs(train, 120, 0);
    write_pairs(dev, 10, 0);
    char *g[] = {"experiment", "--train", train, "--dev", dev, "--merges", "10", "--d-model", "8", "--heads", "2",
                 "--d-ff", "8", "--layers", "1", "--max-steps", "40", "--lr", "0.02", "--warmup", "5", "--valid-every",
                 "0", "--threads", "1", "--vary", "norm=post,pre", "--seeds", "1", "--out", d, NULL};
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(g), 300), 0);
    snprintf(path, sizeof path, "%s/results.json", d);
    char *json = tg_cli_slurp(path);
    ck_assert(json_valid(json));
    static const char *const keys[] = {"token_accuracy", "top5_accuracy", "nll_right", "nll_wrong", "entropy",
                                       "confidence"};
    double acc[2];
    static const char *const cells[] = {"norm=post,seed=1", "norm=pre,seed=1"};
    for (int c = 0; c < 2; c++) {
        snprintf(ckpt, sizeof ckpt, "%s/cells/%s/last.ckpt", d, cells[c]);
        char *ev[] = {"eval", "--model", ckpt, "--data", dev, "--beam", "1", "--threads", "2", "--json", NULL};
        run_ok(ev);
        snprintf(path, sizeof path, "%s/out.txt", tmpdir);
        char *out = tg_cli_slurp(path), anchor[64];
        snprintf(anchor, sizeof anchor, "\"cell\": \"%s\"", cells[c]);
        for (int k = 0; k < 6; k++) {
            double want = json_num_after(out, "{", keys[k]), got = json_num_after(json, anchor, keys[k]);
            ck_assert_msg(want == got, "%s %s: report %.6f, eval %.6f", cells[c], keys[k], got, want);
        }
        ck_assert(json_num_after(out, "{", "nll") == json_num_after(json, anchor, "dev_nll"));
        acc[c] = json_num_after(out, "{", "token_accuracy");
        ck_assert_msg(acc[c] > 0 && acc[c] < 1, "%s: accuracy %g: not a test of the split into right and wrong",
                      cells[c], acc[c]);
        free(out);
    }
    free(json);
    ck_assert_int_eq(count_in("ts/results.tsv", "\ttoken_accuracy\ttop5_accuracy\tnll_right\tnll_wrong\tentropy\t"
                                                "confidence\n"), 1);
    ck_assert_int_eq(count_in("ts/report.md", "## Teacher-forced token statistics"), 1);
    /* per checkpoint: the variant table, the bootstrap's seed-1 row, the token means, the token Δ */
    ck_assert_int_eq(count_in("ts/report.md", "| norm=pre | 1 | "), 8);
    ck_assert_int_eq(count_in("ts/report.md", acc[1] < acc[0] ? " | 1 of 1 | " : " | 0 of 1 | "), 2);
    /* a cache without the statistics (an older build's): redone, then cached */
    snprintf(path, sizeof path, "%s/cells/norm=pre,seed=1/eval-last.tsv", d);
    char *t = tg_cli_slurp(path), *line = strstr(t, "\ntokens\t");
    ck_assert_ptr_nonnull(line);
    memmove(line, strchr(line + 1, '\n'), strlen(strchr(line + 1, '\n')) + 1);
    tg_cli_write(path, t);
    free(t);
    char *rep[] = {"experiment", "report", d, NULL};
    run_ok(rep);
    ck_assert_int_eq(count_in("err.txt", "evaluated norm=pre,seed=1/last.ckpt"), 1);
    run_ok(rep);
    ck_assert_int_eq(count_in("err.txt", "evaluated "), 0);
}
END_TEST

/* Variants given dev sets of one length but other sentences (b) are not paired with the baseline
 * segment by segment: no bootstrap row, per seed or pooled, a note naming the cells in report.md
 * and a warning on stderr (before the fix their rows compared other sentences). A variant given
 * the baseline's dev text under another file name (c) is paired as before. */
START_TEST(test_report_pairs_only_the_same_dev_text) {
    char d[300], train[300], dev[3][300], cp[700];
    snprintf(d, sizeof d, "%s/devs", tmpdir);
    snprintf(train, sizeof train, "%s/train.tsv", tmpdir);
    write_pairs(train, 120, 0);
    for (int i = 0; i < 3; i++) snprintf(dev[i], sizeof dev[i], "%s/dev-%c.tsv", tmpdir, 'a' + i);
    write_pairs(dev[0], 10, 0);
    write_pairs(dev[1], 10, 3);   /* as many lines, other text */
    snprintf(cp, sizeof cp, "cp '%s' '%s'", dev[0], dev[2]);
    ck_assert_int_eq(system(cp), 0);
    char va[400], vb[400], vc[400];
    snprintf(va, sizeof va, "a:dev=%s", dev[0]);
    snprintf(vb, sizeof vb, "b:dev=%s", dev[1]);
    snprintf(vc, sizeof vc, "c:dev=%s", dev[2]);
    char *g[] = {"experiment", "--train", train, "--merges", "10", "--d-model", "8", "--heads", "2", "--d-ff", "8",
                 "--layers", "1", "--max-steps", "2", "--valid-every", "0", "--threads", "1", "--variant", va,
                 "--variant", vb, "--variant", vc, "--seed-list", "1,3", "--out", d, NULL};
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(g), 300), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/report.md", d);
    char *md = tg_cli_slurp(path);
    const char *none[] = {"| variant=b | 1 | ", "| variant=b | 3 | ", "| variant=b | **pooled"};
    for (int i = 0; i < 3; i++) ck_assert_msg(!strstr(md, none[i]), "report.md pairs b with the baseline: '%s'", none[i]);
    free(md);
    ck_assert_int_eq(count_in("err.txt", "warning: variant=b,seed=1 was scored on other dev text than the "
                                         "baseline's variant=a,seed=1"), 1);
    ck_assert_int_eq(count_in("err.txt", "warning: variant=b,seed=3 was scored on other dev text"), 1);
    ck_assert_int_eq(count_in("err.txt", "warning: "), 2);
    ck_assert_int_eq(count_in("devs/report.md", "**Not compared with the baseline**"), 1);
    ck_assert_int_eq(count_in("devs/report.md", "their own dev set): `variant=b,seed=1`, `variant=b,seed=3`."), 1);
    ck_assert_int_ge(count_in("devs/report.md", "| variant=c | 1 | "), 1);
    ck_assert_int_ge(count_in("devs/report.md", "| variant=c | 3 | "), 1);
    ck_assert_int_ge(count_in("devs/report.md", "| variant=c | **pooled (2 seeds)** | "), 1);
}
END_TEST

/* A cell's metrics.tsv whose header puts kind and step after the value column, with short rows:
 * skipped (before the fix a row of fewer fields used the header's field pointers, into a line
 * buffer since reallocated: a use after free under the sanitizer, and a row whose second field
 * lay where the header's `kind` had been was read as a train row, "not a number"). */
START_TEST(test_short_metrics_rows_skipped) {
    char d[300], path[600];
    snprintf(d, sizeof d, "%s/short", tmpdir);
    char *g[] = {TINY, "--vary", "norm=post,pre", "--seeds", "1", "--out", d, NULL};
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(g), 120), 0);
    snprintf(path, sizeof path, "%s/cells/norm=pre,seed=1/metrics.tsv", d);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "loss\tstep\tkind\tnll\tbleu\n0.5\t123456train\n");
    for (int i = 0; i < 600; i++) fputc('A', f);
    fputc('\n', f);
    ck_assert_int_eq(fclose(f), 0);
    char *rep[] = {"experiment", "report", d, NULL};
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(rep), 60), 0);
}
END_TEST

/* Rows of a cell's metrics.tsv or diagnostics.tsv cut short by hand are left out of the plots with
 * a warning naming the file, the first such line and how many (before: exit 0, nothing said, two
 * points fewer in plot-train-loss.svg); blank lines and a torn last line (a run killed, or still
 * writing) stay quiet. A row with a non-number is refused, naming its line (not changed). */
START_TEST(test_short_rows_warned) {
    char d[300], path[600], want[900];
    snprintf(d, sizeof d, "%s/cut", tmpdir);
    char *g[] = {TINY, "--vary", "dropout=0,0.1", "--seeds", "1", "--max-steps", "4", "--log-every", "1", "--out", d, NULL};
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(g), 120), 0);
    snprintf(path, sizeof path, "%s/cells/dropout=0.1,seed=1/metrics.tsv", d);
    char *m = tg_cli_slurp(path);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    int line = 1, tabs = 0;
    for (const char *p = m; *p; p++) {   /* lines 3 and 4 (train rows of steps 2 and 3) cut to 5 fields */
        if (*p == '\n') line++, tabs = 0;
        else if (*p == '\t') tabs++;
        if ((line == 3 || line == 4) && tabs >= 5 && *p != '\n') continue;
        fputc(*p, f);
    }
    fputs("trian\t4\t1\t0\t0\t9\t9\t9\t0\t0\t\t\n\x1b]0;x\t4\t1\t0\t0\t9\t9\t9\t0\t0\t\t\n", f);   /* kinds */
    fputs("\n\r\ntrain\t5\t1", f);   /* blank lines, then a torn last line */
    ck_assert_int_eq(fclose(f), 0);
    free(m);
    snprintf(path, sizeof path, "%s/cells/dropout=0,seed=1/diagnostics.tsv", d);
    tg_cli_write(path, "step\tstack\tlayer\tsublayer\tmetric\tvalue\n1\tenc\t0\tffn\tzero_frac\t0.5\n"
                       "2\tenc\t0\tffn\n\n2\tenc\t0");
    char *rep[] = {"experiment", "report", d, NULL};
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(rep), 60), 0);
    snprintf(want, sizeof want, "tapegrad experiment: warning: %s/cells/dropout=0.1,seed=1/metrics.tsv:3: a row of 5 "
             "fields where 6 are needed: left out of plot-train-loss.svg, with 1 other such row\n", d);
    ck_assert_int_eq(count_in("err.txt", want), 1);
    snprintf(want, sizeof want, "tapegrad experiment: warning: %s/cells/dropout=0,seed=1/diagnostics.tsv:3: a row of 4 "
             "fields where 6 are needed: left out of the diagnostics plots\n", d);
    ck_assert_int_eq(count_in("err.txt", want), 1);
    /* rows of a kind train never writes (misspelt; escapes shown, not obeyed): once per plot */
    snprintf(want, sizeof want, "tapegrad experiment: warning: %s/cells/dropout=0.1,seed=1/metrics.tsv:7: a row of kind "
             "'trian', which is neither train nor valid: left out of plot-train-loss.svg, with 1 other such row\n", d);
    ck_assert_int_eq(count_in("err.txt", want), 1);
    ck_assert_int_eq(count_in("err.txt", "\x1b"), 0);
    int kinds = count_in("err.txt", "which is neither train nor valid");
    ck_assert_int_ge(kinds, 2);   /* the train plot's and the dev plots' */
    ck_assert_int_eq(count_in("err.txt", "warning: "), 2 + kinds);
    ck_assert_int_eq(count_in("err.txt", "wrote "), 1);
    /* CR line ends (an editor's): the whole file one torn line, its rows all left out: said */
    snprintf(path, sizeof path, "%s/cells/dropout=0,seed=1/metrics.tsv", d);
    m = tg_cli_slurp(path);
    for (char *p = m; *p; p++)
        if (*p == '\n') *p = '\r';
    tg_cli_write(path, m);
    free(m);
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(rep), 60), 0);
    snprintf(want, sizeof want, "tapegrad experiment: warning: %s/cells/dropout=0,seed=1/metrics.tsv:1: a last line "
             "without a newline, holding CRs (a file of CR line ends, which tapegrad does not write): its rows are left "
             "out of plot-train-loss.svg\n", d);
    ck_assert_int_eq(count_in("err.txt", want), 1);
    /* a row of the right width with no step was plotted at step 0: refused as a value that is not
     * a number is */
    tg_cli_write(path, "kind\tstep\tepoch\telapsed_s\tlr\tloss\tnll\tppl\ttgt_tok_s\tgrad_norm\tbleu\tchrf\n"
                       "train\t\t1\t0\t0\t9\t9\t9\t0\t0\t\t\n");
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(rep), 60), 1);
    ck_assert_int_eq(count_in("err.txt", "dropout=0,seed=1/metrics.tsv:2: not a number"), 1);
}
END_TEST

/* A cell's last.ckpt replaced by another run's checkpoint of another step, older by its time
 * stamp: the cached scores are redone (before the fix the cache, newer than the checkpoint, was
 * kept: the report showed step 2's scores for a step-3 checkpoint). */
START_TEST(test_eval_cache_follows_checkpoint) {
    char d[300], d3[300], cmd[1200];
    snprintf(d, sizeof d, "%s/c2", tmpdir);
    snprintf(d3, sizeof d3, "%s/c3", tmpdir);
    char *g[] = {TINY, "--vary", "norm=post", "--seeds", "1", "--out", d, NULL};
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(g), 120), 0);
    char *g3[] = {TINY, "--vary", "norm=post", "--seeds", "1", "--max-steps", "3", "--out", d3, NULL};
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(g3), 120), 0);
    snprintf(cmd, sizeof cmd, "cp '%s/cells/norm=post,seed=1/last.ckpt' '%s/cells/norm=post,seed=1/last.ckpt' && "
             "touch -d 2000-01-01 '%s/cells/norm=post,seed=1/last.ckpt'", d3, d, d);
    ck_assert_int_eq(system(cmd), 0);
    char *rep[] = {"experiment", "report", d, NULL};
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(rep), 60), 0);
    ck_assert_int_eq(count_in("err.txt", "evaluated norm=post,seed=1/last.ckpt"), 1);
    ck_assert_int_eq(count_in("c2/results.tsv", "\tlast\t3\t"), 1);
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(rep), 60), 0);
    ck_assert_int_eq(count_in("err.txt", "evaluated "), 0);   /* cached again */
}
END_TEST

/* The checksum an eval-WHICH.tsv ends with, of text's lines but its sum line: each line's hash
 * chained, written here from the format's description. */
static uint64_t cache_sum(const char *text) {
    uint64_t h = 0;
    for (const char *p = text, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        ck_assert_ptr_nonnull(nl);
        if (strncmp(p, "sum\t", 4)) {
            uint64_t pair[2] = {h, tg_ckpt_hash64(p, (size_t)(nl - p))};
            h = tg_ckpt_hash64(pair, sizeof pair);
        }
    }
    return h;
}

/* Sets key's value in an eval-WHICH.tsv (the file rewritten, so newer than its checkpoint), with
 * its checksum made to match (resign) or left as it was (an edit by hand). */
static void set_cache_value_as(const char *tsv, const char *key, const char *value, bool resign) {
    char *t = tg_cli_slurp(tsv), needle[64], out[8192];
    snprintf(needle, sizeof needle, "\n%s\t", key);
    char *at = strstr(t, needle);
    ck_assert_ptr_nonnull(at);
    at += strlen(needle);
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - t), t, value, strchr(at, '\n'));
    char *sum = strstr(out, "\nsum\t");
    ck_assert_ptr_nonnull(sum);
    if (resign) snprintf(sum, sizeof out - (size_t)(sum - out), "\nsum\t%016llx\n", (unsigned long long)cache_sum(out));
    tg_cli_write(tsv, out);
    free(t);
}

static void set_cache_value(const char *tsv, const char *key, const char *value) {
    set_cache_value_as(tsv, key, value, true);
}

/* results.tsv: a row has the header's fields when a --variant name holds a tab (its axis
 * value was written as it stood: 19 fields under a header of 18); the tab is a space there. */
START_TEST(test_results_tsv_variant_tab) {
    char d[300], path[400];
    snprintf(d, sizeof d, "%s/tab", tmpdir);
    char *g[] = {TINY, "--variant", "a\tb:norm=pre", "--variant", "paper", "--seeds", "1",
                 "--out", d, NULL};
    run_ok(g);
    snprintf(path, sizeof path, "%s/results.tsv", d);
    char *r = tg_cli_slurp(path);
    size_t tabs = 0, head = 0, rows = 0;
    for (const char *p = r; *p; p++) {
        if (*p == '\t') tabs++;
        if (*p != '\n') continue;
        if (!rows++) head = tabs;
        else ck_assert_msg(tabs == head, "row %zu: %zu tabs, the header %zu:\n%s", rows, tabs,
                           head, r);
        tabs = 0;
    }
    ck_assert_uint_eq(rows, 5);
    ck_assert_ptr_nonnull(strstr(r, "\ta b\tlast\t"));
    free(r);
}
END_TEST

/* A cache holding a value not finite or out of range (bleu nan, loss -inf, train_seconds 1e999,
 * bleu 300) is redone, and a dev.hyp-*.txt cut short too (before the fix the values were taken,
 * results.json held bare nan/inf; a cut translation file was a hard error); results.json writes
 * null for a number not finite (dev_ppl of a huge dev_nll). */
START_TEST(test_eval_cache_values_checked) {
    char d[300], tsv[600], hyp[600], json[600];
    snprintf(d, sizeof d, "%s/v", tmpdir);
    char *g[] = {TINY, "--vary", "norm=post", "--seeds", "1", "--out", d, NULL};
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(g), 120), 0);
    snprintf(tsv, sizeof tsv, "%s/cells/norm=post,seed=1/eval-last.tsv", d);
    snprintf(hyp, sizeof hyp, "%s/cells/norm=post,seed=1/dev.hyp-last.txt", d);
    snprintf(json, sizeof json, "%s/results.json", d);
    char *rep[] = {"experiment", "report", d, NULL};
    static const char *const bad[][2] = {{"bleu", "nan"}, {"loss", "-inf"}, {"train_seconds", "1e999"},
                                         {"bleu", "300"}, {"nll", "-1"}, {"correct", "1000000000"},
                                         {"top5", "-1"}, {"nll_wrong", "1e300"}, {"entropy", "nan"},
                                         {"confidence", "1e300"}, {"tokens", "0"}, {"tokens", "999999999x"},
                                         {"tokens", "99999999999999999999"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        set_cache_value(tsv, bad[i][0], bad[i][1]);
        ck_assert_int_eq(tg_cli_wait_bounded(spawn(rep), 60), 0);
        ck_assert_msg(count_in("err.txt", "evaluated norm=post,seed=1/last.ckpt") == 1, "%s %s", bad[i][0], bad[i][1]);
        char *j = tg_cli_slurp(json);
        ck_assert_msg(json_valid(j), "results.json with %s %s:\n%s", bad[i][0], bad[i][1], j);
        free(j);
    }
    tg_cli_write(hyp, "");   /* cut short, older than its cache */
    ck_assert_int_eq(system("sleep 0.01"), 0);
    set_cache_value(tsv, "decoding", "greedy");
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(rep), 60), 0);
    ck_assert_int_eq(count_in("err.txt", "evaluated norm=post,seed=1/last.ckpt"), 1);
    set_cache_value(tsv, "nll", "1000");   /* finite, but its perplexity is not */
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(rep), 60), 0);
    ck_assert_int_eq(count_in("err.txt", "evaluated "), 0);
    char *j = tg_cli_slurp(json);
    ck_assert_msg(json_valid(j) && strstr(j, "\"dev_ppl\": null"), "results.json:\n%s", j);
    free(j);
    /* results.tsv: an empty field there (it printed inf, and nan for nll_right with no target
     * right), each row's fields as many as the header's */
    ck_assert_int_eq(count_in("v/results.tsv", "\t1000.000000\t\t"), 1);
    char rpath[320];
    snprintf(rpath, sizeof rpath, "%s/v/results.tsv", tmpdir);
    char *r = tg_cli_slurp(rpath);
    ck_assert_msg(!strstr(r, "inf") && !strstr(r, "nan"), "results.tsv:\n%s", r);
    size_t tabs[2] = {0, 0}, line = 0;
    for (const char *p = r; *p; p++) {
        if (*p == '\t') tabs[line < 1 ? 0 : 1]++;
        if (*p == '\n' && ++line > 1) break;
    }
    ck_assert_uint_eq(tabs[0], tabs[1]);
    free(r);
}
END_TEST

/* A cache edited by hand to valid values, or its translations edited (before the fix both were
 * reported as they stood: `bleu 50` became the cell's score), is redone; the checksums a cache
 * ends with are what tell; a cache as written is not redone. */
START_TEST(test_eval_cache_edits_redone) {
    char d[300], tsv[600], hyp[600];
    snprintf(d, sizeof d, "%s/e", tmpdir);
    char *g[] = {TINY, "--vary", "norm=post", "--seeds", "1", "--out", d, NULL};
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(g), 120), 0);
    snprintf(tsv, sizeof tsv, "%s/cells/norm=post,seed=1/eval-last.tsv", d);
    snprintf(hyp, sizeof hyp, "%s/cells/norm=post,seed=1/dev.hyp-last.txt", d);
    char *t = tg_cli_slurp(tsv);
    ck_assert_ptr_nonnull(strstr(t, "\nhyps\t"));
    char want[40];
    snprintf(want, sizeof want, "\nsum\t%016llx\n", (unsigned long long)cache_sum(t));
    ck_assert_msg(strstr(t, want), "%s has no %s", tsv, want + 1);
    free(t);
    char *rep[] = {"experiment", "report", d, NULL};
    set_cache_value_as(tsv, "bleu", "50", false);
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(rep), 60), 0);
    ck_assert_int_eq(count_in("err.txt", "evaluated norm=post,seed=1/last.ckpt"), 1);
    ck_assert_int_eq(count_in("e/results.tsv", "\t50\t"), 0);
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(rep), 60), 0);
    ck_assert_int_eq(count_in("err.txt", "evaluated "), 0);   /* as written: cached */
    t = tg_cli_slurp(hyp);   /* a word of the first translation changed, the line count kept */
    char *edited = malloc(strlen(t) + 8);
    ck_assert_ptr_nonnull(edited);
    snprintf(edited, strlen(t) + 8, "zz%s", t);
    tg_cli_write(hyp, edited);
    free(edited);
    free(t);
    ck_assert_int_eq(system("sleep 0.01"), 0);
    set_cache_value(tsv, "decoding", "greedy");   /* the cache newer than its translations again */
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(rep), 60), 0);
    ck_assert_int_eq(count_in("err.txt", "evaluated norm=post,seed=1/last.ckpt"), 1);
}
END_TEST

/* tmpdir/base, trained: the grid norm=post,pre of one seed, for report's --baseline. */
static void norm_grid(char *d, size_t cap) {
    snprintf(d, cap, "%s/base", tmpdir);
    char *g[] = {TINY, "--vary", "norm=post,pre", "--seeds", "1", "--out", d, NULL};
    run_ok(g);
}

/* --baseline names each axis once. */
START_TEST(test_baseline_key_twice_refused) {
    char d[300];
    norm_grid(d, sizeof d);
    char *twice[] = {"experiment", "report", d, "--baseline", "norm=pre,norm=post", NULL};
    ck_assert_int_eq(run(twice), 2);
    ck_assert_int_ge(count_in("err.txt", "--baseline 'norm=pre,norm=post': norm given twice"), 1);
    char *once[] = {"experiment", "report", d, "--baseline", "norm=pre", NULL};
    run_ok(once);
}
END_TEST

/* --baseline's value is matched as --vary's repeats are (0.10 and 1e-1 are the value 0.1), and a
 * value the axis does not have is refused listing its values (before the fix: "expected
 * KEY=VALUE"). A repeat among 3,000 --vary values is found (each value's form is made once; the
 * time that takes is not asserted: before, pairs were formatted, and 3,000 values took 105 s). */
START_TEST(test_baseline_and_repeats_as_train_reads) {
    char d[300], many[40000];
    snprintf(d, sizeof d, "%s/num", tmpdir);
    char *g[] = {TINY, "--vary", "dropout=0,0.1", "--seeds", "1", "--out", d, NULL};
    run_ok(g);
    const char *same[] = {"dropout=0.10", "dropout=1e-1", "dropout=.1"};
    for (int i = 0; i < 3; i++) {
        char *rep[] = {"experiment", "report", d, "--baseline", (char *)same[i], NULL};
        ck_assert_msg(run(rep) == 0, "%s", same[i]);
        ck_assert_int_eq(count_in("num/report.md", "| dropout=0.1 (baseline) |"), 4);
    }
    char *other[] = {"experiment", "report", d, "--baseline", "dropout=0.2", NULL};
    ck_assert_int_eq(run(other), 2);
    ck_assert_int_eq(count_in("err.txt", "--baseline 'dropout=0.2': dropout has no value 0.2 (its values: 0, 0.1)"), 1);
    int k = snprintf(many, sizeof many, "warmup=");
    for (int v = 1; v <= 3000; v++) k += snprintf(many + k, sizeof many - (size_t)k, "%d,", v);
    snprintf(many + k, sizeof many - (size_t)k, "0%d", 2999);
    snprintf(d, sizeof d, "%s/many", tmpdir);
    char *m[] = {TINY, "--vary", many, "--seeds", "1", "--out", d, NULL};
    ck_assert_int_eq(run(m), 2);
    ck_assert_int_eq(count_in("err.txt", "--vary warmup: value '2999' given twice (as '02999')"), 1);
}
END_TEST

/* Batches drawn by a cell's run: the same for every model switch of one seed, another seed's
 * differ. */
static uint64_t batch_fingerprint(const tg_experiment *e, int cell) {
    tg_exp_cell c;
    tg_exp_cell_get(e, cell, &c);
    tg_run_config cfg;
    tg_err err;
    ck_assert_msg(tg_exp_cell_config(e, &c, &cfg, &err) == TG_OK, "%s", err.msg);
    tg_run r;
    ck_assert_msg(tg_run_open(&r, &cfg, NULL, &err) == TG_OK, "%s", err.msg);
    tg_batch b = {0};
    uint64_t h = 1469598103934665603ull;
    for (int k = 0; k < 12; k++) {
        ck_assert(tg_batch_iter_next(r.iter, &b, &err) == TG_OK);
        for (int i = 0; i < b.B * b.S; i++) h = (h ^ (uint64_t)(uint32_t)b.src[i]) * 1099511628211ull;
        for (int i = 0; i < b.B * b.T; i++) h = (h ^ (uint64_t)(uint32_t)b.tgt_out[i]) * 1099511628211ull;
    }
    tg_batch_free(&b);
    tg_run_close(&r);
    return h;
}

START_TEST(test_batches_depend_on_seed_and_data_only) {
    tg_experiment e;
    tg_exp_init(&e);
    tg_err err;
    snprintf(e.dir, sizeof e.dir, "%s/batches", tmpdir);
    const char *base[][2] = {{"task", "copy"}, {"task-size", "300"}, {"d-model", "16"}, {"heads", "2"},
                             {"d-ff", "32"}, {"layers", "1"}, {"max-tokens", "200"}, {"max-steps", "10"}};
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
        ck_assert(tg_exp_add_base(&e, base[i][0], base[i][1], &err) == TG_OK);
    ck_assert(tg_exp_add_vary(&e, "attn-activation=none,relu,gelu", &err) == TG_OK);
    ck_assert(tg_exp_add_vary(&e, "norm=post,pre", &err) == TG_OK);
    ck_assert(tg_exp_add_vary(&e, "dropout=0,0.3", &err) == TG_OK);
    ck_assert(tg_exp_add_variant(&e, "paper", &err) == TG_OK);
    ck_assert(tg_exp_add_variant(&e, "gate:attn-gate=sigmoid;residual-activation=relu", &err) == TG_OK);
    ck_assert(tg_exp_add_seeds(&e, "1,2", true, &err) == TG_OK);
    ck_assert_msg(tg_exp_validate(&e, &err) == TG_OK, "%s", err.msg);
    int nv = tg_exp_variant_count(&e);
    ck_assert_int_eq(nv, 24);
    uint64_t first = batch_fingerprint(&e, 0);
    for (int v = 1; v < nv; v++) ck_assert_msg(batch_fingerprint(&e, v) == first, "variant %d", v);
    ck_assert(batch_fingerprint(&e, nv) != first);   /* seed 2 */
    for (int v = nv + 1; v < 2 * nv; v++) ck_assert(batch_fingerprint(&e, v) == batch_fingerprint(&e, nv));
    tg_exp_free(&e);
}
END_TEST

static char g_edited_config[400];   /* the --config file train_then_edit edits */

/* A cell's train that, once the cell is trained, edits the experiment's --config file: a hand
 * preparing the next experiment while this one runs. */
static int train_then_edit(int argc, char **argv) {
    int rc = tg_cmd_train_cell(argc, argv);
    tg_cli_write(g_edited_config, "# the recipe\nlr = 0.003\n");   /* (written %.17g: 0.0030000000000000001) */
    return rc;
}

/* fork(), the child's stderr to tmpdir/err.txt and SIGINT and SIGTERM at their defaults, as a command
 * starts (Check's handlers would end the whole test): the child's pid, or 0 in the child. */
static pid_t fork_to_err_txt(void) {
    char errf[300];
    snprintf(errf, sizeof errf, "%s/err.txt", tmpdir);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        int fe = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fe, 2);
        if (fe > 2) close(fe);
    }
    return pid;
}

/* tg_exp_run(e, train, jobs) in a child, its stderr to tmpdir/err.txt: its exit code. */
static int exp_run_in_child(const tg_experiment *e, tg_exp_train_fn train, int jobs) {
    pid_t pid = fork_to_err_txt();
    if (pid == 0) {
        int rc = tg_exp_run(e, train, jobs);
        fflush(NULL);
        _exit(rc);
    }
    return tg_cli_wait(pid);
}

/* e: a recorded experiment in tmpdir/name of 2-step cells (a tiny copy task), one a seed of seeds,
 * with the --config file config (NULL: none). */
static void tiny_experiment(tg_experiment *e, const char *name, const char *config, const char *seeds) {
    tg_exp_init(e);
    tg_err err;
    snprintf(e->dir, sizeof e->dir, "%s/%s", tmpdir, name);
    if (config) snprintf(e->config, sizeof e->config, "%s", config);
    const char *base[][2] = {{"task", "copy"}, {"task-size", "50"}, {"d-model", "8"}, {"heads", "2"}, {"d-ff", "8"},
                             {"layers", "1"}, {"max-steps", "2"}, {"valid-every", "0"}, {"threads", "1"}};
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
        ck_assert(tg_exp_add_base(e, base[i][0], base[i][1], &err) == TG_OK);
    ck_assert(tg_exp_add_seeds(e, seeds, true, &err) == TG_OK);
    ck_assert_msg(tg_exp_validate(e, &err) == TG_OK, "%s", err.msg);
    ck_assert_msg(tg_exp_record(e, true, false, &err) == TG_OK, "%s", err.msg);
}

/* The --config file edited while the experiment runs: the cells still to start would read it
 * (and the cell just trained be checked against it, refused after its training as 'not trained
 * with the recorded recipe'). The experiment stops naming the file and the line, the cells done
 * kept; with the file put back it goes on, the done cell not trained again. One cell at a time
 * and two. */
START_TEST(test_config_edited_while_running) {
    for (int jobs = 1; jobs <= 2; jobs++) {
        tg_experiment e;
        char name[16];
        snprintf(name, sizeof name, "edited-%d", jobs);
        snprintf(g_edited_config, sizeof g_edited_config, "%s/ed-%d.cfg", tmpdir, jobs);
        tg_cli_write(g_edited_config, "# the recipe\nlr = 0.001\n");
        tiny_experiment(&e, name, g_edited_config, jobs == 1 ? "1,2" : "1,2,3");
        ck_assert_int_eq(exp_run_in_child(&e, train_then_edit, jobs), 1);
        ck_assert_int_ge(count_in("err.txt", "was edited since the experiment started: it now gives 'lr = 0.003', "
                                             "where the recipe has 'lr = 0.001'"), 1);
        ck_assert_int_eq(count_in("err.txt", "not trained with the recorded recipe"), 0);
        char last[sizeof e.dir + 64];
        snprintf(last, sizeof last, "%s/cells/seed=%d/last.ckpt", e.dir, jobs == 1 ? 2 : 3);
        ck_assert_msg(!exists(last), "%s was trained", last);
        tg_cli_write(g_edited_config, "# the recipe\nlr = 0.001\n");   /* put back */
        ck_assert_int_eq(exp_run_in_child(&e, tg_cmd_train_cell, jobs), 0);
        ck_assert_int_eq(count_in("err.txt", "seed=1: starting"), 0);   /* done: kept */
        ck_assert_int_eq(count_in("err.txt", jobs == 1 ? "seed=2: finished at step 2" : "seed=3: finished at step 2"), 1);
        tg_exp_free(&e);
    }
}
END_TEST

/* A --config file's seed and out (a run's own config.txt names both): each cell sets them for
 * itself, which a new experiment says, naming the line; the cell trains its own seed in its own
 * folder, and the resume says nothing more. */
START_TEST(test_config_seed_and_out_noted) {
    char d[300], cfg[300], away[300], cell_cfg[400], body[700];
    snprintf(d, sizeof d, "%s/noted", tmpdir);
    snprintf(cfg, sizeof cfg, "%s/noted.cfg", tmpdir);
    snprintf(away, sizeof away, "%s/away", tmpdir);
    snprintf(body, sizeof body, "lr = 0.002\nseed = 9\nout = %s\n", away);
    tg_cli_write(cfg, body);
    char *g[] = {TINY, "--config", cfg, "--seeds", "1", "--out", d, NULL};
    run_ok(g);
    snprintf(body, sizeof body, "noted.cfg:2: seed = 9 is not used: each cell trains its own seed");
    ck_assert_int_eq(count_in("err.txt", body), 1);
    snprintf(body, sizeof body, "noted.cfg:3: out = %s is not used: each cell trains in %s/cells/<cell>", away, d);
    ck_assert_int_eq(count_in("err.txt", body), 1);
    ck_assert(!exists(away));
    snprintf(cell_cfg, sizeof cell_cfg, "%s/cells/seed=1/config.txt", d);
    char *text = tg_cli_slurp(cell_cfg);
    ck_assert_msg(strstr(text, "\nseed = 1\n") && strstr(text, "lr = 0.002"), "%s", text);
    free(text);
    char *r[] = {"experiment", "--resume", d, NULL};
    run_ok(r);
    ck_assert_int_eq(count_in("err.txt", "is not used"), 0);
}
END_TEST

/* DIR/lock planted as a link: refused, nothing created where it points (before the fix O_CREAT
 * made the file there); an output planted as a link to a FIFO without a reader is replaced by a
 * file (before the fix `experiment report` blocked on it for ever), the FIFO kept. */
START_TEST(test_planted_lock_and_outputs) {
    char d[300], lock[350], victim[350], fifo[350], report[350];
    snprintf(d, sizeof d, "%s/e", tmpdir);
    snprintf(lock, sizeof lock, "%s/lock", d);
    snprintf(victim, sizeof victim, "%s/victim", tmpdir);
    snprintf(fifo, sizeof fifo, "%s/fifo", tmpdir);
    snprintf(report, sizeof report, "%s/report.md", d);
    ck_assert_int_eq(mkdir(d, 0755), 0);
    ck_assert_int_eq(symlink(victim, lock), 0);
    char *g[] = {"experiment", "--task", "copy", "--task-size", "50", "--d-model", "8", "--heads", "2", "--d-ff", "8",
                 "--layers", "1", "--max-steps", "2", "--valid-every", "0", "--vary", "norm=post,pre", "--seeds", "1",
                 "--out", d, NULL};
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(g), 120), 1);
    ck_assert_int_eq(count_in("err.txt", "lock: is a symbolic link"), 1);
    struct stat sb;
    ck_assert_int_ne(lstat(victim, &sb), 0);
    ck_assert_int_eq(unlink(lock), 0);
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(g), 300), 0);
    ck_assert_int_eq(mkfifo(fifo, 0644), 0);
    ck_assert_int_eq(unlink(report), 0);
    ck_assert_int_eq(symlink(fifo, report), 0);
    char *rep[] = {"experiment", "report", d, NULL};
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(rep), 120), 0);
    ck_assert(lstat(report, &sb) == 0 && S_ISREG(sb.st_mode));
    ck_assert(lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode));
}
END_TEST

/* A file of the folder planted as a FIFO or a link: refused, naming it, exit 1, within `seconds`. */
static void refused_at_once(char **argv, int seconds, const char *file, const char *why) {
    int rc = tg_cli_wait_bounded(spawn(argv), seconds);
    ck_assert_msg(rc == 1, "%s %s with %s planted: exit %d (-1: still waiting or reading)", argv[0], argv[1], file, rc);
    char needle[200];
    snprintf(needle, sizeof needle, "%s: %s", file, why);
    ck_assert_int_ge(count_in("err.txt", needle), 1);
}

/* path becomes a sparse file of size bytes (NUL bytes), one line; its old content is lost. */
static void sparse_file(const char *path, off_t size) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, size), 0);
    close(fd);
}

/* The folder's own files that `report` and `--resume` read back (experiment.txt, a cell's
 * metrics.tsv, diagnostics.tsv and evaluation caches), each replaced in turn by a FIFO and by a
 * link to /dev/zero: refused at once, naming the file (before the fix a FIFO was waited on for
 * ever and /dev/zero read for ever, or the link silently replaced). A line of 16 MiB or more, and
 * an experiment.txt over 64 MiB, are refused after reading that much (before, a metrics.tsv with a
 * 4 GiB line was read whole, half a minute, and plotted as if sound; a cached translation's line
 * and experiment.txt were read whole into memory). */
START_TEST(test_planted_fifos_and_devices_refused) {
    char d[300], path[600], aside[700];
    snprintf(d, sizeof d, "%s/p", tmpdir);
    char *g[] = {TINY, "--vary", "norm=post,pre", "--seeds", "1", "--out", d, NULL};
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(g), 120), 0);
    char *rep[] = {"experiment", "report", d, NULL}, *res[] = {"experiment", "--resume", d, NULL};
    static const char *const files[] = {"experiment.txt", "metrics.tsv", "diagnostics.tsv", "eval-last.tsv",
                                        "dev.hyp-last.txt", "eval-best.tsv", "dev.hyp-best.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s%s", d, i ? "cells/norm=pre,seed=1/" : "", files[i]);
        snprintf(aside, sizeof aside, "%s.aside", path);
        bool had = rename(path, aside) == 0;   /* no diagnostics.tsv without --diagnostics */
        for (int link = 0; link < 2; link++) {
            ck_assert_int_eq(link ? symlink("/dev/zero", path) : mkfifo(path, 0644), 0);
            const char *why = link ? "is a symbolic link" : "not a regular file";
            refused_at_once(rep, 30, files[i], why);
            refused_at_once(res, 30, files[i], why);
            ck_assert_int_eq(unlink(path), 0);
        }
        if (had) ck_assert_int_eq(rename(aside, path), 0);
    }
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(rep), 60), 0);
    ck_assert_int_eq(count_in("err.txt", "evaluated "), 0);   /* the caches were put back whole */

    /* huge regular files: a metrics.tsv whose second line is 4 GiB (sparse), a cached translation
     * of 17 MiB (as old as its cache, so it is not redone), an experiment.txt of 65 MiB */
    snprintf(path, sizeof path, "%s/cells/norm=pre,seed=1/metrics.tsv", d);
    char *metrics = tg_cli_slurp(path);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%.*s", (int)(strchr(metrics, '\n') + 1 - metrics), metrics);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(truncate(path, (off_t)4 << 30), 0);
    refused_at_once(rep, 60, "metrics.tsv:2", "a line longer than 16 MiB");
    tg_cli_write(path, metrics);
    free(metrics);
    snprintf(path, sizeof path, "%s/cells/norm=pre,seed=1/dev.hyp-last.txt", d);
    snprintf(aside, sizeof aside, "%s/cells/norm=pre,seed=1/eval-last.tsv", d);
    struct stat sb;
    ck_assert_int_eq(stat(aside, &sb), 0);
    sparse_file(path, (off_t)17 << 20);
    ck_assert_int_eq(utimensat(AT_FDCWD, path, (struct timespec[2]){sb.st_atim, sb.st_mtim}, 0), 0);
    refused_at_once(rep, 60, "dev.hyp-last.txt:1", "a line longer than 16 MiB");
    snprintf(path, sizeof path, "%s/experiment.txt", d);
    sparse_file(path, (off_t)65 << 20);
    refused_at_once(rep, 60, "experiment.txt", "larger than 64 MiB");
}
END_TEST

/* The report's outputs (report.md, results.tsv, results.json, a plot), each a FIFO in turn:
 * refused at once naming it, the FIFO left (before the fix the atomic writer, which writes a FIFO
 * in place, waited for a reader for ever). */
START_TEST(test_fifo_outputs_refused) {
    char d[300], path[600];
    snprintf(d, sizeof d, "%s/o", tmpdir);
    char *g[] = {TINY, "--vary", "norm=post,pre", "--seeds", "1", "--out", d, NULL};
    ck_assert_int_eq(tg_cli_wait_bounded(spawn(g), 120), 0);
    char *rep[] = {"experiment", "report", d, NULL};
    static const char *const files[] = {"report.md", "results.tsv", "results.json", "plot-dev-nll.svg"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", d, files[i]);
        ck_assert_int_eq(unlink(path), 0);
        ck_assert_int_eq(mkfifo(path, 0644), 0);
        refused_at_once(rep, 30, files[i], "not a regular file");
        struct stat sb;
        ck_assert(lstat(path, &sb) == 0 && S_ISFIFO(sb.st_mode));
        ck_assert_int_eq(unlink(path), 0);
        ck_assert_int_eq(tg_cli_wait_bounded(spawn(rep), 60), 0);
    }
}
END_TEST

/* A cell about to be trained holds a FIFO as train.log: the cell fails with the reason and the
 * experiment stops (before the fix its train waited for a reader for ever, and so did the
 * experiment; a resumed cell the same). */
START_TEST(test_fifo_train_log_refused) {
    char d[300], mk[800];
    snprintf(d, sizeof d, "%s/t", tmpdir);
    snprintf(mk, sizeof mk, "mkdir -p '%s/cells/norm=pre,seed=1' && mkfifo '%s/cells/norm=pre,seed=1/train.log'", d, d);
    ck_assert_int_eq(system(mk), 0);
    char *g[] = {TINY, "--vary", "norm=post,pre", "--seeds", "1", "--out", d, NULL};
    refused_at_once(g, 120, "train.log", "not a regular file");
}
END_TEST

/* `tapegrad ARGS` in a child holding only descriptors 0-2 (none of the test's) under RLIMIT_NOFILE
 * limit: its exit code, its stderr in tmpdir/err.txt. */
static int run_with_fd_limit(int limit, char **argv) {
    pid_t pid = fork_to_err_txt();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        for (int fd = 3; fd < 1024; fd++) close(fd);
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = (rlim_t)limit;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(98);
        int argc = 0;
        while (argv[argc]) argc++;
        int rc = tg_cli_dispatch(argc, argv);
        fflush(NULL);
        _exit(rc);
    }
    return tg_cli_wait(pid);
}

/* A cell held the experiment's own descriptors (forked, not exec'd): with --jobs 2 each cell held
 * the read ends of the cells' output pipes, so `ulimit -n 8` failed a cell where train alone needs
 * 7 (and the experiment's DIR/lock, which its cells hold on purpose, 1 more). */
START_TEST(test_cells_hold_only_their_own_descriptors) {
    char d[300], r[300];
    snprintf(r, sizeof r, "%s/alone", tmpdir);
    char *t[] = {"train", "--task", "copy", "--task-vocab", "12", "--task-size", "300", "--d-model", "16", "--heads",
                 "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "300", "--threads", "1", "--max-steps", "20",
                 "--save-every", "10", "--valid-every", "10", "--out", r, NULL};
    ck_assert_int_eq(run_with_fd_limit(7, t), 0);   /* what train alone needs */
    for (int jobs = 1; jobs <= 2; jobs++) {
        char j[8];
        snprintf(d, sizeof d, "%s/fds%d", tmpdir, jobs);
        snprintf(j, sizeof j, "%d", jobs);
        char *g[] = {"experiment", "--task", "copy", "--task-vocab", "12", "--task-size", "300", "--d-model", "16",
                     "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "300", "--threads", "1",
                     "--max-steps", "20", "--save-every", "10", "--valid-every", "10", "--vary",
                     "attn-activation=none,relu", "--seeds", "1", "--out", d, "--jobs", j, NULL};
        int rc = run_with_fd_limit(8, g);
        ck_assert_msg(rc == 0, "--jobs %d under ulimit -n 8: exit %d", jobs, rc);
        ck_assert_int_eq(count_in("err.txt", "all 2 cells done (2 trained now"), 1);
    }
}
END_TEST

/* `experiment --jobs 3` under `ulimit -n 7`: the third cell's output pipe cannot be made. It said
 * "cannot make a pipe: Too many open files" and nothing of what to do; it names the cell, the limit
 * and the two ways out, exit 1, the cells running stopped, and the same command with --jobs 2
 * goes on. */
START_TEST(test_out_of_descriptors_for_jobs_said) {
    char d[300];
    snprintf(d, sizeof d, "%s/fdjobs", tmpdir);
    char *g[] = {"experiment", "--task", "copy", "--task-vocab", "12", "--task-size", "300", "--d-model", "16",
                 "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "300", "--threads", "1",
                 "--max-steps", "20", "--save-every", "10", "--valid-every", "10", "--vary",
                 "attn-activation=none,relu,gelu", "--seeds", "1", "--out", d, "--jobs", "3", NULL};
    ck_assert_int_eq(run_with_fd_limit(7, g), 1);
    ck_assert_int_eq(count_in("err.txt", "cell attn-activation=gelu,seed=1 not started: cannot make a pipe for its "
                              "output: Too many open files (ulimit -n is 7, with 2 cells running)"), 1);
    ck_assert_int_eq(count_in("err.txt", "run the same command again with --jobs 2 or lower, or with ulimit -n "
                              "raised"), 1);
    char *again[] = {"experiment", "--resume", d, "--jobs", "2", NULL};
    ck_assert_int_eq(run_with_fd_limit(8, again), 0);
    ck_assert_int_eq(count_in("err.txt", "all 3 cells done"), 1);
}
END_TEST

/* A stop signal while the report is made (`experiment report DIR`, and an experiment's closing
 * report) ended the process at the default, exit 143 (141 for a SIGPIPE) and no word. At each of
 * its writes in turn (the cells' eval caches, results, report.md, the plots), a SIGTERM now ends it
 * with exit 1, saying so, that nothing is lost and what to run; no temporary is left; the report
 * command then makes the report. A stderr whose reader went (SIGPIPE at its first line): the report
 * made all the same (it was not), then exit 1. */
START_TEST(test_stop_signal_in_the_report) {
    char d[300], cmd[1400];
    snprintf(d, sizeof d, "%s/rep", tmpdir);
    char *g[] = {"experiment", "--task", "copy", "--task-vocab", "12", "--task-size", "300", "--d-model", "16",
                 "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "300", "--threads", "1",
                 "--max-steps", "20", "--save-every", "10", "--valid-every", "10", "--vary",
                 "attn-activation=none,relu", "--seeds", "1", "--out", d, NULL};
    run_ok(g);
    char *report[] = {"experiment", "report", d, NULL};
    char *resume[] = {"experiment", "--resume", d, NULL};
    char said[600];
    snprintf(said, sizeof said, "tapegrad experiment: stopped by signal %d while writing the report; nothing is lost "
             "(the cells are saved, and each file is the old one or the whole new one): run `tapegrad experiment "
             "report %s` to make the report again\n", SIGTERM, d);
    for (int closing = 0; closing <= 1; closing++) {
        snprintf(cmd, sizeof cmd, "rm -f '%s'/cells/*/eval-*.tsv", d);   /* the evaluations written again too */
        ck_assert_int_eq(system(cmd), 0);
        int n = 1, rc = 1;
        for (; n < 40 && rc != 0; n++) {
            char v[16];
            snprintf(v, sizeof v, "%d", n);
            setenv("TAPEGRAD_SIGNAL_WRITE", v, 1);
            rc = run(closing ? resume : report);
            unsetenv("TAPEGRAD_SIGNAL_WRITE");
            ck_assert_msg(rc == 0 || rc == 1, "%s, SIGTERM at write %d: exit %d", closing ? "--resume" : "report", n,
                          rc);
            if (rc == 1) ck_assert_int_eq(count_in("err.txt", said), 1);
            snprintf(cmd, sizeof cmd, "test -z \"$(find '%s' -name '*.tmp.*')\"", d);
            ck_assert_int_eq(system(cmd), 0);
        }
        ck_assert_msg(n > 6, "only %d writes", n - 1);   /* 4 caches, results, report.md... */
        ck_assert_int_eq(count_in("err.txt", "wrote"), 1);
    }
    /* (`report DIR 2>&1 | head -1`) it ended at the first line, before any file was made: the
     * report is made whole, then it ends quietly with exit 1, whether
     * SIGPIPE kills (its default) or is ignored (inherited so: the writes fail, EPIPE; it exited 0);
     * and so does `--resume DIR 2>&1 | head -1` of the finished experiment (it stopped in its
     * cells phase, taking the SIGPIPE as a stop, no report made) */
    for (int k = 0; k < 4; k++) {
        int ign = k % 2;
        char **argv = k < 2 ? report : resume;
        snprintf(cmd, sizeof cmd, "rm -f '%s'/cells/*/eval-*.tsv '%s'/report.md '%s'/results.* '%s'/plot-*.svg", d, d, d, d);
        ck_assert_int_eq(system(cmd), 0);
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        close(fds[0]);   /* stderr's reader gone */
        fflush(NULL);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            signal(SIGPIPE, ign ? SIG_IGN : SIG_DFL);
            dup2(fds[1], 2);
            _exit(tg_cli_dispatch(3, argv));
        }
        close(fds[1]);
        ck_assert_msg(tg_cli_wait(pid) == 1, "%s %s, SIGPIPE %s: not exit 1", argv[1], d, ign ? "ignored" : "default");
        const char *made[] = {"report.md", "results.tsv", "results.json", "plot-dev-bleu.svg"};
        for (int i = 0; i < 4; i++) {
            char path[400];
            snprintf(path, sizeof path, "%s/%s", d, made[i]);
            ck_assert_msg(exists(path), "%s %s: %s not made", argv[1], d, made[i]);
        }
        snprintf(cmd, sizeof cmd, "test -z \"$(find '%s' -name '*.tmp.*')\"", d);
        ck_assert_int_eq(system(cmd), 0);
    }
}
END_TEST

/* An --out holding control bytes: the experiment's own lines (the cells' count, the report's "wrote")
 * show it escaped, as every other message does (they printed it raw, an ESC reaching the terminal). */
START_TEST(test_out_shown_escaped) {
    char d[300];
    snprintf(d, sizeof d, "%s/e\x1b[31m", tmpdir);
    char *g[] = {"experiment", "--task", "copy", "--task-vocab", "12", "--task-size", "100", "--d-model", "16",
                 "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "200", "--threads", "1",
                 "--max-steps", "2", "--save-every", "2", "--valid-every", "2", "--seeds", "1", "--out", d, NULL};
    run_ok(g);
    char shown[320];
    snprintf(shown, sizeof shown, "%s/e\\x1B[31m", tmpdir);
    ck_assert_int_eq(count_in("err.txt", "\x1b"), 0);
    ck_assert_int_ge(count_in("err.txt", shown), 2);   /* N cells ... in DIR; wrote DIR/report.md ... */
}
END_TEST

/* `--vary beam=1,2 --alpha A` (or A in its --config file): train refuses --alpha with --beam 1,
 * where greedy decoding does not use it, and the experiment gives the one A to the cells that
 * search a beam. Its cells run (the beam-1 cell without --alpha, at its default), resume and
 * extend; a --vary of alpha alone, with --beam 1 for all, is refused, nothing written. */
START_TEST(test_vary_beam_with_one_alpha) {
    char d[300], cfg[300], path[400];
    snprintf(cfg, sizeof cfg, "%s/alpha.txt", tmpdir);
    FILE *f = fopen(cfg, "w");
    ck_assert_ptr_nonnull(f);
    fputs("alpha = 0.8\n", f);
    fclose(f);
    for (int file = 0; file <= 1; file++) {
        snprintf(d, sizeof d, "%s/beams%d", tmpdir, file);
        char *g[] = {"experiment", "--task", "copy", "--task-vocab", "12", "--task-size", "300", "--d-model", "16",
                     "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "300", "--threads", "1",
                     "--max-steps", "10", "--save-every", "10", "--valid-every", "10", "--vary", "beam=1,2",
                     "--seeds", "1", "--out", d, file ? "--config" : "--alpha", file ? cfg : "0.8", NULL};
        run_ok(g);
        ck_assert_int_eq(count_in("err.txt", "all 2 cells done (2 trained now"), 1);
        for (int beam = 1; beam <= 2; beam++) {   /* and each cell's config.txt serves as a --config */
            snprintf(path, sizeof path, "%s/cells/beam=%d,seed=1/config.txt", d, beam);
            char *text = tg_cli_slurp(path);
            ck_assert_msg(strstr(text, beam == 1 ? "\nalpha = 0.59999999999999998\n" : "\nalpha = 0.8000000000000000"),
                          "%s", path);
            free(text);
            char out[400];
            snprintf(out, sizeof out, "%s/again%d_%d", tmpdir, file, beam);
            char *again[] = {"train", "--config", path, "--max-steps", "1", "--out", out, NULL};
            run_ok(again);
        }
        char *more[] = {"experiment", "--resume", d, "--max-steps", "20", NULL};
        run_ok(more);
        ck_assert_int_eq(count_in("err.txt", "all 2 cells done (2 trained now"), 1);
    }
    snprintf(d, sizeof d, "%s/alphas", tmpdir);
    char *alphas[] = {"experiment", "--task", "copy", "--task-vocab", "12", "--task-size", "300", "--d-model", "16",
                      "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "300", "--threads", "1",
                      "--max-steps", "10", "--vary", "alpha=0.6,1", "--seeds", "1", "--out", d, NULL};
    ck_assert_int_eq(run(alphas), 2);
    ck_assert_int_eq(count_in("err.txt", "--alpha is beam search's length penalty, and with --beam 1"), 1);
    ck_assert(!exists(d));
}
END_TEST

/* --vary beam=1,2 --vary alpha=0.6,1.0: the beam-1 cells leave --alpha out, so beam=1,alpha=1.0
 * trained as beam=1,alpha=0.6 (its config.txt said 0.6), a duplicate under another name. Refused
 * before anything is written, exit 2, as is alpha in a variant's bundle with a cell of beam 1 (and
 * --dry-run too); --vary beam=1,2 with one --alpha still runs (test_vary_beam_with_one_alpha). */
START_TEST(test_vary_alpha_with_beam_one_refused) {
    char d[300];
    snprintf(d, sizeof d, "%s/x5", tmpdir);
    for (int form = 0; form < 3; form++) {
        char *g[] = {"experiment", "--task", "copy", "--d-model", "16", "--heads", "2", "--d-ff", "32", "--layers",
                     "1", "--vary", "beam=1,2", "--seeds", "1", "--max-steps", "2", "--out", d,
                     form == 1 ? "--variant" : "--vary", form == 1 ? "a:alpha=0.6" : "alpha=0.6,1.0",
                     form == 1 ? "--variant" : form == 2 ? "--dry-run" : NULL, form == 1 ? "b:alpha=1.0" : NULL,
                     NULL};
        ck_assert_int_eq(run(g), 2);
        ck_assert_int_eq(count_in("err.txt", "greedy decoding has no length penalty, so those cells would be the "
                                  "same run; vary alpha with beams of 2 or more only"), 1);
        ck_assert(!exists(d));
    }
}
END_TEST

/* The stopped experiment of JOBS_GRID in d left no temporary, and `experiment --resume d --jobs j`
 * trains its 4 cells to the end. */
static void resume_4_cells(const char *d, const char *j) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test -z \"$(find '%s' -name '*.tmp.*')\"", d);
    ck_assert_int_eq(system(cmd), 0);
    char *again[] = {"experiment", "--resume", (char *)d, "--jobs", (char *)j, NULL};
    run_ok(again);
    ck_assert_int_eq(count_in("err.txt", "all 4 cells done"), 1);
}

/* `experiment ... 2>&1 | head`: the reader of its stderr gone once its first cells saved. With
 * --jobs 1 the cell stopped saved (train takes SIGPIPE as a stop signal), then the experiment was
 * killed by the SIGPIPE of its own next line (exit 141); with --jobs 2 it ended with exit 1. Both
 * now end as a stop signal ends them: exit 1, the cells saved, and the same command resumes. */
START_TEST(test_broken_stderr_stops_saved) {
    for (int jobs = 1; jobs <= 2; jobs++) {
        char d[300], out[320], fifo[320], j[8];
        snprintf(d, sizeof d, "%s/broken%d", tmpdir, jobs);
        snprintf(out, sizeof out, "%s/broken%d.out", tmpdir, jobs);
        snprintf(fifo, sizeof fifo, "%s/broken%d.err", tmpdir, jobs);
        snprintf(j, sizeof j, "%d", jobs);
        ck_assert_int_eq(mkfifo(fifo, 0600), 0);
        char *g[] = {JOBS_GRID, "--max-steps", "600", "--out", d, "--jobs", j, NULL};
        pid_t pid = tg_cli_spawn(NULL, "/dev/null", out, fifo, g);
        int rd = open(fifo, O_RDONLY | O_NONBLOCK);
        ck_assert_int_ge(rd, 0);
        char buf[4096];
        for (int i = 0; i < 5000 && !(job_cell_step(d, 0) >= 10 && (jobs == 1 || job_cell_step(d, 1) >= 10)); i++)
            if (read(rd, buf, sizeof buf) <= 0) sleep_ms(2);
        close(rd);   /* the reader goes */
        ck_assert_int_eq(tg_cli_wait_bounded(pid, 60), 1);
        ck_assert_int_ge(job_cell_step(d, 0), 10);
        ck_assert_int_lt(job_cell_step(d, 0), 600);
        resume_4_cells(d, j);
        ck_assert_int_ge(count_in("err.txt", ": resuming at step"), 1);
    }
}
END_TEST

static pid_t g_test_pid;   /* the test's process, whose child the experiment of train_then_signal_between is */

/* A cell's train (tg_cmd_train_cell) after which, for the cell seed=1, once the experiment has
 * reaped the cell (it is gone), a SIGTERM is sent to the experiment: it lands between two cells. */
static int train_then_signal_between(int argc, char **argv) {
    pid_t experiment = getppid();   /* (a cell starts only under its experiment) */
    bool first = false;
    for (int i = 0; i + 1 < argc; i++) first |= !strcmp(argv[i], "--out") && strstr(argv[i + 1], "/seed=1");
    int rc = tg_cmd_train_cell(argc, argv);
    pid_t cell = getpid();
    fflush(NULL);
    if (first && fork() == 0) {
        for (long i = 0; i < 100000000L && kill(cell, 0) == 0; i++) {}   /* spun: the window is short */
        pid_t parent;
        state_of(experiment, &parent);
        if (parent == g_test_pid) kill(experiment, SIGTERM);   /* never another process */
        _exit(0);
    }
    return rc;
}

/* A stop signal between two cells (the one before ended, the next not started) killed the
 * experiment where it was, exit 143 and no word (its stop-signal handlers were in force only
 * while a cell ran); now it stops as in a cell: said, exit 1, nothing left, and it resumes. */
START_TEST(test_stop_signal_between_cells) {
    int between = 0;
    for (int round = 0; round < 4; round++) {   /* the window is about a millisecond: before, 143 in half the rounds */
        tg_experiment e;
        char name[16];
        snprintf(name, sizeof name, "between%d", round);
        tiny_experiment(&e, name, NULL, "1,2,3");
        g_test_pid = getpid();
        ck_assert_int_eq(exp_run_in_child(&e, train_then_signal_between, 1), 1);
        /* between, or in cell 2 (whose train then says its own "[time] stopped by signal 15 at step N",
         * as it did under load in a full ctest -j2 of session 40: this counted that line too) */
        ck_assert_int_eq(count_in("err.txt", "tapegrad experiment: stopped by signal 15 "), 1);
        ck_assert_int_eq(count_in("err.txt", "run the same command again to resume"), 1);
        char errf[300];
        snprintf(errf, sizeof errf, "%s/err.txt", tmpdir);
        char *said = tg_cli_slurp(errf);
        between += strstr(said, "stopped by signal 15 between cells") != NULL;
        free(said);
        int64_t step;
        uint64_t hash;
        ck_assert(named_cell_state(e.dir, "seed=1", &step, &hash));
        ck_assert_int_eq(step, 2);
        char cmd[sizeof e.dir + 64];
        snprintf(cmd, sizeof cmd, "test -z \"$(find '%s' -name '*.tmp.*')\"", e.dir);
        ck_assert_int_eq(system(cmd), 0);
        ck_assert_int_eq(exp_run_in_child(&e, tg_cmd_train_cell, 1), 0);
        ck_assert_int_eq(count_in("err.txt", "seed=1: done already"), 1);
        ck_assert_int_eq(count_in("err.txt", "all 3 cells done"), 1);
        tg_exp_free(&e);
    }
    fprintf(stderr, "test_stop_signal_between_cells: %d of 4 signals landed between the cells\n", between);
}
END_TEST

/* A fork that failed (a process limit: ulimit -u, a container's pids.max) was told as the cell's
 * failure, "Its folder: DIR/cells/NAME", a folder never made (train makes it, in the child). Now the
 * cell is said not started, nothing is made for it, and the same command goes on. One cell at a
 * time and two (the other, running, then stops saved). */
START_TEST(test_failed_fork_names_no_folder) {
    for (int jobs = 1; jobs <= 2; jobs++) {
        char d[300], j[8], cell2[400];
        snprintf(d, sizeof d, "%s/nofork%d", tmpdir, jobs);
        snprintf(j, sizeof j, "%d", jobs);
        snprintf(cell2, sizeof cell2, "%s/cells/%s", d, JOB_CELLS[1]);
        char *g[] = {JOBS_GRID, "--max-steps", "30", "--out", d, "--jobs", j, NULL};
        char out[320], errf[320];
        snprintf(out, sizeof out, "%s/out.txt", tmpdir);
        snprintf(errf, sizeof errf, "%s/err.txt", tmpdir);
        ck_assert_int_eq(tg_cli_wait(tg_cli_spawn("TAPEGRAD_FAIL_FORK=2", NULL, out, errf, g)), 1);   /* the second cell's */
        ck_assert_int_eq(count_in("err.txt", "cell attn-activation=relu,seed=1 not started: cannot fork: "), 1);
        char *said = tg_cli_slurp(errf);
        ck_assert_msg(!strstr(said, "Its folder"), "%s", said);
        free(said);
        ck_assert_msg(!exists(cell2), "%s was made", cell2);
        resume_4_cells(d, j);
    }
}
END_TEST

/* ---- values quoted escaped ---- */

/* Neither a tab nor an ESC of a command's value in err.txt: each quoted as \x09, \x1B. */
static void no_raw_bytes(void) {
    char path[300];
    snprintf(path, sizeof path, "%s/err.txt", tmpdir);
    char *s = tg_cli_slurp(path);
    ck_assert_msg(!strchr(s, '\t') && !strchr(s, '\x1b'), "a raw tab or ESC in:\n%s", s);
    free(s);
}

/* A --vary or --variant value, key or list with a tab or an ESC is quoted in its refusal escaped
 * (\x09, \x1B): a value refused by train's flag ('po<TAB>st' is not one of post|pre), and the
 * experiment's own refusals (not a train flag, given twice, an empty value, not true or false),
 * quoted it raw, so the tab reached stderr and, where the message went out unescaped, the ESC. */
START_TEST(test_vary_values_shown_escaped) {
    char d[300];
    snprintf(d, sizeof d, "%s/shown", tmpdir);
    static const struct { const char *flag, *value, *message; } cases[] = {
        {"--vary", "norm=pre,po\tst\x1b[31m",
         "--norm: 'po\\x09st\\x1B[31m' is not one of post|pre"},
        {"--vary", "label-smoothing=0.1,x\t\x1b[31m",
         "--label-smoothing: 'x\\x09\\x1B[31m' is not a number"},
        {"--vary", "no\tkey\x1b[31m=1,2", "--vary no\\x09key\\x1B[31m: not a train flag"},
        {"--vary", "no-tie-embeddings=true,ye\ts\x1b[31m",
         "--vary no-tie-embeddings: 'ye\\x09s\\x1B[31m' is not true or false"},
        {"--vary", "label-smoothing=a\t\x1b[31m,a\t\x1b[31m",
         "--vary label-smoothing: value 'a\\x09\\x1B[31m' given twice"},
        {"--vary", "norm=pre,,x\t\x1b[31m",
         "--vary norm: an empty value in 'pre,,x\\x09\\x1B[31m'"},
        {"--vary", "\t\x1b[31m", "--vary '\\x09\\x1B[31m': expected KEY=V1,V2,..."},
        {"--variant", "a\tb\x1b[31m:no\tflag=1",
         "--variant a\\x09b\\x1B[31m: 'no\\x09flag' is not a train flag"},
        {"--variant", "a\tb\x1b[31m:norm=pr\te",
         "--variant a\\x09b\\x1B[31m: --norm: 'pr\\x09e' is not one of post|pre"},
        {"--seeds", "1\t\x1b[31m", "--seeds '1\\x09\\x1B[31m': expected a count from 1 to 1000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool seeds = !strcmp(cases[i].flag, "--seeds");
        char *a[] = {TINY, (char *)cases[i].flag, (char *)cases[i].value,
                     seeds ? "--vary" : "--seeds", seeds ? "norm=pre,post" : "1", "--out", d,
                     "--dry-run", NULL};
        refused(a, cases[i].message, d);
        no_raw_bytes();
    }
    char *twice[] = {TINY, "--variant", "a\tb\x1b[31m:norm=pre", "--variant",
                     "a\tb\x1b[31m:norm=post", "--seeds", "1", "--out", d, "--dry-run", NULL};
    refused(twice, "--variant a\\x09b\\x1B[31m given twice", d);
    no_raw_bytes();
    char *same[] = {TINY, "--variant", "a\tb\x1b[31m:norm=pre", "--variant", "c:norm=pre",
                    "--seeds", "1", "--out", d, "--dry-run", NULL};
    refused(same, "--variant a\\x09b\\x1B[31m and --variant c give the same recipe", d);
    no_raw_bytes();
    char *base[] = {TINY, "--variant", "a\tb\x1b[31m:label-smoothing=0.1", "--label-smoothing",
                    "0.2", "--seeds", "1", "--out", d, "--dry-run", NULL};
    refused(base, "--label-smoothing is both a base flag and set by --variant a\\x09b\\x1B[31m", d);
    no_raw_bytes();
}
END_TEST

/* report's --baseline quotes its value, and the axis' values it lists, escaped. */
START_TEST(test_baseline_shown_escaped) {
    char d[300];
    norm_grid(d, sizeof d);
    static const struct { const char *value, *message; } cases[] = {
        {"n\t\x1b[31m", "--baseline 'n\\x09\\x1B[31m': expected KEY=VALUE"},
        {"norm=p\t\x1b[31m",
         "--baseline 'norm=p\\x09\\x1B[31m': norm has no value p\\x09\\x1B[31m (its values: "
         "post, pre)"},
        {"norm=pre,norm=post,\t\x1b[31m",
         "--baseline 'norm=pre,norm=post,\\x09\\x1B[31m': norm given twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *r[] = {"experiment", "report", d, "--baseline", (char *)cases[i].value, NULL};
        ck_assert_int_eq(run(r), 2);
        ck_assert_int_eq(count_in("err.txt", cases[i].message), 1);
        no_raw_bytes();
    }
}
END_TEST

/* An extension whose recipe differs in more than the budget names the first differing lines
 * whole (their key and their value's tail) and escaped: they were cut at 255 bytes (a long
 * path's differing end lost) and quoted raw (a tab reached stderr as it was). */
START_TEST(test_extension_recipes_shown_escaped) {
    char dev[2][600], long_dir[500];
    long_folder(long_dir, sizeof long_dir, 'q', 200);
    tg_experiment old, now;
    tg_exp_init(&old);
    tg_exp_init(&now);
    tg_err err;
    for (int i = 0; i < 2; i++) {
        tg_experiment *e = i ? &now : &old;
        snprintf(dev[i], sizeof dev[i], "%s/d\t%c\x1b[31m.tsv", long_dir, 'A' + i);
        snprintf(e->dir, sizeof e->dir, "%s/x", tmpdir);
        ck_assert_int_eq(tg_exp_add_base(e, "task", "copy", &err), TG_OK);
        ck_assert_int_eq(tg_exp_add_base(e, "dev", dev[i], &err), TG_OK);
        ck_assert_int_eq(tg_exp_add_base(e, "max-steps", i ? "4" : "2", &err), TG_OK);
    }
    ck_assert_int_eq(tg_exp_extend_check(&old, &now, &err), TG_ERR_ARG);
    const char *want = "qqq/d\\x09B\\x1B[31m.tsv' against 'dev = ...";
    ck_assert_msg(strstr(err.msg, "but the recipes differ in more ('dev = ..."), "%s", err.msg);
    ck_assert_msg(strstr(err.msg, want), "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "qqq/d\\x09A\\x1B[31m.tsv')"), "%s", err.msg);
    ck_assert_msg(!strchr(err.msg, '\t'), "%s", err.msg);
    tg_exp_free(&old);
    tg_exp_free(&now);
}
END_TEST

int main(void) {
    Suite *s = suite_create("experiment");
    TCase *tc = tcase_create("grid");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_grid_trains_skips_and_resumes_exactly);
    tcase_add_test(tc, test_report_cache_diagnostics_baseline);
    tcase_add_test(tc, test_dry_run_lists_cells_and_writes_nothing);
    tcase_add_test(tc, test_dry_run_of_text_cells_with_validation_flags);
    tcase_add_test(tc, test_config_notes_show_names_escaped);
    tcase_add_test(tc, test_record_errors_show_names_escaped);
    tcase_add_test(tc, test_names_too_long_refused_not_cut);
    tcase_add_test(tc, test_recipe_refusals_keep_their_end);
    tcase_add_test(tc, test_recipe_refusal_shows_a_long_lines_tail);
    tcase_add_test(tc, test_cell_checkpoint_refusal_shows_the_lines_tails);
    tcase_add_test(tc, test_resume_extends_budget_exactly);
    tcase_add_test(tc, test_cell_stopped_in_last_validation_not_done);
    tcase_add_test(tc, test_jobs_side_by_side_exact);
    tcase_add_test(tc, test_hangup_reaches_the_cells);
    tcase_add_test(tc, test_stop_signal_taken_when_started_blocked);
    tcase_add_test(tc, test_cell_stopped_on_its_own_named);
    tcase_add_test(tc, test_ctrl_z_stops_the_cells);
    tcase_add_test(tc, test_stop_with_a_stalled_console);
    tcase_add_test(tc, test_extension_refused_per_cell_and_off_grid);
    tcase_add_test(tc, test_extension_refuses_record_unlike_cells);
    tcase_add_test(tc, test_bad_axes_and_other_recipe_refused);
    tcase_add_test(tc, test_variant_bundles);
    tcase_add_test(tc, test_batches_depend_on_seed_and_data_only);
    suite_add_tcase(s, tc);
    TCase *io = tcase_create("io");
    tcase_add_checked_fixture(io, setup, teardown);
    tcase_set_timeout(io, 600);
    tcase_add_test(io, test_planted_lock_and_outputs);
    tcase_add_test(io, test_planted_fifos_and_devices_refused);
    tcase_add_test(io, test_fifo_train_log_refused);
    tcase_add_test(io, test_fifo_outputs_refused);
    suite_add_tcase(s, io);
    TCase *checks = tcase_create("checks");
    tcase_add_checked_fixture(checks, setup, teardown);
    tcase_set_timeout(checks, 300);
    tcase_add_test(checks, test_cell_folder_name_too_long_or_a_link);
    tcase_add_test(checks, test_cell_folder_names_distinct);
    tcase_add_test(checks, test_variant_and_vary_same_key_refused);
    tcase_add_test(checks, test_precheck_is_trains_check);
    tcase_add_test(checks, test_missing_inputs_refused_before_the_record);
    tcase_add_test(checks, test_argument_the_record_cannot_hold_refused);
    tcase_add_test(checks, test_report_takes_what_getopt_takes);
    tcase_add_test(checks, test_report_of_no_experiment_said_as_report);
    tcase_add_test(checks, test_cell_without_its_checkpoint_advised_as_report);
    tcase_add_test(checks, test_cells_reaped_when_sigchld_ignored);
    tcase_add_test(checks, test_fifo_input_left_to_its_cell);
    tcase_add_test(checks, test_recorded_flags_doing_nothing_carry_on);
    tcase_add_test(checks, test_recorded_config_setting_doing_nothing_carries_on);
    tcase_add_test(checks, test_vary_beam_with_one_alpha);
    tcase_add_test(checks, test_vary_alpha_with_beam_one_refused);
    tcase_add_test(checks, test_seed_list_trailing_comma);
    tcase_add_test(checks, test_config_edited_while_running);
    tcase_add_test(checks, test_config_seed_and_out_noted);
    tcase_add_test(checks, test_seed_list_spelled_in_digits);
    tcase_add_test(checks, test_vary_false_against_config_true_refused);
    tcase_add_test(checks, test_cell_reasons_keep_their_end);
    tcase_add_test(checks, test_cell_checkpoint_must_be_the_cells);
    tcase_add_test(checks, test_lock_before_record);
    tcase_add_test(checks, test_eval_cache_follows_dev_text);
    tcase_add_test(checks, test_perfect_bleu_reported);
    tcase_add_test(checks, test_dry_run_stopped_by_a_signal);
    tcase_add_test(checks, test_report_token_stats_are_evals);
    tcase_add_test(checks, test_report_pairs_only_the_same_dev_text);
    tcase_add_test(checks, test_baseline_key_twice_refused);
    tcase_add_test(checks, test_baseline_and_repeats_as_train_reads);
    suite_add_tcase(s, checks);
    TCase *reads = tcase_create("reads");   /* what report reads back from a cell's folder */
    tcase_add_checked_fixture(reads, setup, teardown);
    tcase_set_timeout(reads, 300);
    tcase_add_test(reads, test_short_metrics_rows_skipped);
    tcase_add_test(reads, test_short_rows_warned);
    tcase_add_test(reads, test_eval_cache_follows_checkpoint);
    tcase_add_test(reads, test_eval_cache_values_checked);
    tcase_add_test(reads, test_results_tsv_variant_tab);
    tcase_add_test(reads, test_eval_cache_edits_redone);
    suite_add_tcase(s, reads);
    TCase *env = tcase_create("process");   /* descriptors, forks, a broken output, signals between cells */
    tcase_add_checked_fixture(env, setup, teardown);
    tcase_set_timeout(env, 300);
    tcase_add_test(env, test_cells_hold_only_their_own_descriptors);
    tcase_add_test(env, test_out_of_descriptors_for_jobs_said);
    tcase_add_test(env, test_stop_signal_in_the_report);
    tcase_add_test(env, test_out_shown_escaped);
    tcase_add_test(env, test_broken_stderr_stops_saved);
    tcase_add_test(env, test_stop_signal_between_cells);
    tcase_add_test(env, test_failed_fork_names_no_folder);
    suite_add_tcase(s, env);
    TCase *shown = tcase_create("shown");   /* values quoted escaped in the refusals */
    tcase_add_checked_fixture(shown, setup, teardown);
    tcase_set_timeout(shown, 300);
    tcase_add_test(shown, test_vary_values_shown_escaped);
    tcase_add_test(shown, test_baseline_shown_escaped);
    tcase_add_test(shown, test_extension_recipes_shown_escaped);
    suite_add_tcase(s, shown);
    return tg_check_run(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
