/* test_train.c: the `tapegrad train` family end to end, each command run in a forked child as a
 * user would run it (exit codes, files, messages): settings and config files, exact resume after
 * SIGKILL at random moments (also while a checkpoint is being written), SIGINT, NaN/Inf handling,
 * refused checkpoints, translate, eval, ckpt info/average, and a run on TSV files with BPE. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "train/cli/commands.h"
#include "train/ckpt/ckpt_file.h"
#include "train/run/options.h"
#include "train/run/run.h"
#include "tests/tg_check.h"
#include "tests/tg_cli.h"

static char tmpdir[256];

static void sleep_us(double us) {
    struct timespec ts = {(time_t)(us / 1e6), (long)(fmod(us, 1e6) * 1e3)};
    nanosleep(&ts, NULL);
}

static void setup(void) {
    ck_assert_ptr_nonnull(tg_check_mkdtemp(tmpdir, sizeof tmpdir, "tg_train_test"));
}

static void teardown(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Starts `tapegrad <argv...>` (NULL-terminated) in a child with stdout/stderr to files. */
static pid_t spawn(const char *out, const char *errf, const char *in, char **argv) {
    return tg_cli_spawn(NULL, in, out, errf, argv);
}

static int wait_rc(pid_t pid) { return tg_cli_wait(pid); }

/* Runs a command to completion; its stderr goes to tmpdir/err.txt, stdout to tmpdir/out.txt. */
static int run(const char *in, char **argv) {
    char out[300], errf[300];
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    snprintf(errf, sizeof errf, "%s/err.txt", tmpdir);
    return wait_rc(spawn(out, errf, in, argv));
}

/* run to exit 0, else the test fails quoting the command's stderr. */
static void run_ok_at(const char *in, char **argv, const char *file, int line) {
    char errf[300];
    snprintf(errf, sizeof errf, "%s/err.txt", tmpdir);
    tg_cli_assert_ok(run(in, argv), errf, argv, file, line);
}
#define run_ok(in, argv) run_ok_at(in, argv, __FILE__, __LINE__)

static char *slurp(const char *path) { return tg_cli_slurp(path); }

static bool file_has(const char *name, const char *needle) {
    char path[300];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    char *s = slurp(path);
    bool yes = strstr(s, needle) != NULL;
    if (!yes) fprintf(stderr, "--- %s does not contain '%s':\n%s\n", name, needle, s);
    free(s);
    return yes;
}

static uint64_t param_hash(const char *ckpt) {
    tg_loaded L;
    tg_err err;
    ck_assert_msg(tg_run_load_model(ckpt, &L, &err) == TG_OK, "%s", err.msg);
    uint64_t h = L.param_hash;
    tg_loaded_free(&L);
    return h;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* A tiny copy-task run; extra flags follow. */
#define TINY "train", "--task", "copy", "--task-vocab", "12", "--task-size", "400", "--d-model", "16", "--heads", \
             "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "300", "--lr", "3e-3", "--warmup", "20",   \
             "--log-every", "10", "--valid-every", "25", "--threads", "2"

/* ---- settings ---- */

/* The flags and nn read one table of bounds: at each bound and just past it, a flag is taken
 * exactly when nn's validator takes the same value, and a cross-field error names the flags. */
START_TEST(test_model_flags_agree_with_nn_limits) {
    static const char *const flags[] = {"d-model", "heads", "d-ff", "enc-layers", "dec-layers",
                                        "dropout", "label-smoothing"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        char key[32];
        snprintf(key, sizeof key, "%s", flags[i]);
        for (char *p = key; *p; p++)
            if (*p == '-') *p = '_';
        const tg_model_limit *l = tg_model_config_limit(key);
        ck_assert_msg(l, "no limit for %s", key);
        bool is_int = strcmp(key, "dropout") && strcmp(key, "label_smoothing");
        double step = is_int ? 1 : 1e-9;
        double probes[] = {l->lo - step, l->lo, l->hi - step, l->hi, l->hi + step};
        for (size_t k = 0; k < sizeof probes / sizeof probes[0]; k++) {
            char value[64];
            snprintf(value, sizeof value, is_int ? "%.0f" : "%.17g", probes[k]);
            tg_model_config m = tg_model_config_default();
            m.vocab = 100;
            m.d_model = 64, m.heads = 1;   /* even and divisible: only the probed field decides */
            tg_err e1, e2;
            ck_assert_int_eq(tg_model_config_set(&m, key, value, &e1), TG_OK);
            /* nn's verdict on the range alone (d_model odd or not divisible is a cross-field rule) */
            bool nn_ok = tg_model_config_validate(&m, &e1) == TG_OK || !strstr(e1.msg, "expected [");
            tg_run_config c;
            tg_run_config_default(&c);
            c.d_model = 64, c.heads = 1;
            bool flag_ok = tg_run_config_set(&c, flags[i], value, &e2) == TG_OK;
            ck_assert_msg(nn_ok == flag_ok, "--%s %s: flag %d, nn %d (%s / %s)", flags[i], value,
                          flag_ok, nn_ok, e2.msg, e1.msg);
            if (!flag_ok) ck_assert_msg(strstr(e2.msg, flags[i]), "%s", e2.msg);
        }
    }
    /* what passes each flag but not the model: the message names the flags */
    tg_run_config c;
    tg_run_config_default(&c);
    snprintf(c.task, sizeof c.task, "copy");
    snprintf(c.out, sizeof c.out, "x");
    tg_err err;
    ck_assert_int_eq(tg_run_config_check(&c, &err), TG_OK);
    c.d_model = 30;
    ck_assert_int_eq(tg_run_config_check(&c, &err), TG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "--d-model 30") && strstr(err.msg, "--heads 4"), "%s", err.msg);
    c.d_model = 255, c.heads = 5;
    ck_assert_int_eq(tg_run_config_check(&c, &err), TG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "--d-model 255") && strstr(err.msg, "odd"), "%s", err.msg);
}
END_TEST

START_TEST(test_config_file_and_flags) {
    char path[300];
    snprintf(path, sizeof path, "%s/run.cfg", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("# a comment\nd_model = 64\nheads = 8   # trailing comment\n\ntime-limit = 1h30m\nnorm = pre\n", f);
    fclose(f);
    tg_run_config c;
    tg_run_config_default(&c);
    tg_err err;
    ck_assert_int_eq(tg_run_config_load(&c, path, &err), TG_OK);
    ck_assert_int_eq(c.d_model, 64);
    ck_assert_int_eq(c.heads, 8);
    ck_assert(c.time_limit == 5400);
    ck_assert_str_eq(c.norm, "pre");
    /* round trip through the checkpoint's text form */
    char text[64 * 1024];
    tg_run_config_format(&c, text, sizeof text);
    tg_run_config d;
    tg_run_config_default(&d);
    ck_assert_int_eq(tg_run_config_parse(&d, text, "x", &err), TG_OK);
    ck_assert(memcmp(&c, &d, sizeof c) == 0);
    /* errors name the file and line */
    f = fopen(path, "w");
    fputs("d_model = 64\nnorm = sideways\n", f);
    fclose(f);
    ck_assert_int_eq(tg_run_config_load(&c, path, &err), TG_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "run.cfg:2") && strstr(err.msg, "sideways") && strstr(err.msg, "post|pre"), "%s", err.msg);
    f = fopen(path, "w");
    fputs("d_model 64\n", f);
    fclose(f);
    ck_assert_int_eq(tg_run_config_load(&c, path, &err), TG_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "run.cfg:1") && strstr(err.msg, "key = value"), "%s", err.msg);
    f = fopen(path, "w");
    fputs("no_such_thing = 1\n", f);
    fclose(f);
    ck_assert_int_eq(tg_run_config_load(&c, path, &err), TG_ERR_FORMAT);
    ck_assert(strstr(err.msg, "unknown setting 'no_such_thing'"));
    /* a key set twice in one file (the last used to win without a word); an alias is another key */
    ck_assert_int_eq(tg_run_config_parse(&c, "lr = 0.001\nheads = 2\nlr = 0.002\n", "dup.cfg", &err), TG_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "dup.cfg:3: lr is set twice (first on line 1)"), "%s", err.msg);
    ck_assert_int_eq(tg_run_config_parse(&c, "d_model = 8\nd-model = 16\n", "dup.cfg", &err), TG_ERR_FORMAT);
    ck_assert_int_eq(tg_run_config_parse(&c, "layers = 2\nenc-layers = 3\n", "ok.cfg", &err), TG_OK);
    ck_assert(c.enc_layers == 3 && c.dec_layers == 2);
    ck_assert_int_eq(tg_run_config_set(&c, "dropout", "1.5", &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_run_config_set(&c, "heads", "four", &err), TG_ERR_ARG);
    /* a number as typed, digits only around it: strtoll/strtod took leading blanks (" 60") */
    const char *blank[][2] = {{"max-steps", " 60"}, {"max-steps", "\t60"}, {"seed", " 1"}, {"lr", " 0.001"},
                              {"max-steps", "60 "}};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(tg_run_config_set(&c, blank[i][0], blank[i][1], &err), TG_ERR_ARG);
        ck_assert_msg(strstr(err.msg, "is not a"), "%s", err.msg);
    }
    ck_assert_int_eq(tg_run_config_set(&c, "layers", "5", &err), TG_OK);
    ck_assert(c.enc_layers == 5 && c.dec_layers == 5);
    double s;
    ck_assert_int_eq(tg_parse_duration("2h", &s, &err), TG_OK);
    ck_assert(s == 7200);
    ck_assert_int_eq(tg_parse_duration("90s", &s, &err), TG_OK);
    ck_assert(s == 90);
    ck_assert_int_ne(tg_parse_duration("10x", &s, &err), TG_OK);
    ck_assert_int_ne(tg_parse_duration("", &s, &err), TG_OK);
    /* the forms scripts/recipe.sh's `seconds` reads alike (tests/recipe_test.sh) */
    ck_assert_int_eq(tg_parse_duration("1e5", &s, &err), TG_OK);
    ck_assert(s == 100000);
    ck_assert_int_eq(tg_parse_duration(".5m1.5s", &s, &err), TG_OK);
    ck_assert(s == 31.5);
    const char *bad[] = {" 30m", "+30m", "-1s", "0x10", "inf", "nan", "30m ", "1h-5m", ".m",
                         /* a unit twice or out of order was summed: 1h1h 7200 s, 1h2m3s4h 18123 s */
                         "1h1h", "1h2m3s4h", "1m2h", "5s1m", "90s5", "1m1m"};
    for (int i = 0; i < 15; i++) {
        ck_assert_msg(tg_parse_duration(bad[i], &s, &err) != TG_OK, "'%s' was taken", bad[i]);
        if (i >= 9) ck_assert_msg(strstr(err.msg, "each unit once, in the order h, m, s"), "%s", err.msg);
    }
    ck_assert_int_eq(tg_parse_duration("1h2m3s", &s, &err), TG_OK);
    ck_assert(s == 3723);
    ck_assert_int_eq(tg_parse_duration("1h30", &s, &err), TG_OK);   /* a bare number last: seconds */
    ck_assert(s == 3630);
    /* decimal numbers only, as every command's number flags: hex (strtod's 0x10, 0x1p-10) was
     * taken by --lr and a --config's lr, refused by translate --alpha */
    const char *not_numbers[] = {"0x10", "0x1p-10", "0X1P3", "inf", "nan", "-inf"};
    for (int i = 0; i < 6; i++) {
        ck_assert_msg(tg_run_config_set(&c, "lr", not_numbers[i], &err) == TG_ERR_ARG, "'%s' was taken",
                      not_numbers[i]);
        ck_assert_msg(strstr(err.msg, "is not a number"), "%s", err.msg);
    }
    ck_assert_int_ne(tg_run_config_parse(&c, "lr = 0x10\n", "hex.cfg", &err), TG_OK);
    ck_assert_msg(strstr(err.msg, "hex.cfg:1: --lr: '0x10' is not a number"), "%s", err.msg);
    /* beyond a double, or below its smallest normal: out of range, not "not a number" */
    ck_assert_int_eq(tg_run_config_set(&c, "lr", "1e400", &err), TG_ERR_ARG);
    ck_assert_str_eq(err.msg, "--lr: 1e400 is outside [0, 1e+06]");
    const char *tiny[] = {"1e-320", "1e-400"};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(tg_run_config_set(&c, "lr", tiny[i], &err), TG_ERR_ARG);
        ck_assert_msg(strstr(err.msg, "is out of range: too small for a double"), "%s", err.msg);
    }
    ck_assert_int_eq(tg_run_config_set(&c, "lr", "1e-300", &err), TG_OK);
    double x;
    ck_assert(!tg_arg_double("1e-400", 0, 1, &x) && !tg_arg_double("1e400", 0, INFINITY, &x));
    ck_assert(tg_arg_double("0.5", 0, 1, &x) && x == 0.5);
}
END_TEST

/* A resume rewrites config.txt from the checkpoint's recipe: a hand's edit there was undone without
 * a word. An edit of a setting a resume cannot change is refused, the file kept as edited and the
 * run untrained; a loop setting (which a flag changes) is warned about and written again; a line
 * that does not parse is refused naming it; the run's own config.txt passes without a word. */
START_TEST(test_resume_checks_edited_config_txt) {
    char dir[300], cfg[320], ckpt[320];
    snprintf(dir, sizeof dir, "%s/ec", tmpdir);
    snprintf(cfg, sizeof cfg, "%s/config.txt", dir);
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", dir);
    char *a[] = {TINY, "--max-steps", "3", "--out", dir, NULL};
    run_ok(NULL, a);
    char *orig = slurp(cfg);
    uint64_t h = param_hash(ckpt);
    char *edited = malloc(strlen(orig) + 64);
    const char *at = strstr(orig, "\ndropout = ");
    ck_assert_ptr_nonnull(at);
    sprintf(edited, "%.*s\ndropout = 0.3%s", (int)(at - orig), orig, strchr(at + 1, '\n'));
    tg_cli_write(cfg, edited);
    char *r[] = {"train", "--resume", dir, "--max-steps", "4", NULL};
    ck_assert_int_eq(run(NULL, r), 2);
    ck_assert(file_has("err.txt", "config.txt has dropout = 0.3, and the run dropout = 0.1 (last.ckpt)"));
    char *now = slurp(cfg);
    ck_assert_str_eq(now, edited);   /* the edit kept */
    free(now);
    ck_assert(param_hash(ckpt) == h);   /* nothing trained */
    /* a line that is no setting */
    char *junk = malloc(strlen(orig) + 16);
    sprintf(junk, "%sjunk\n", orig);
    tg_cli_write(cfg, junk);
    ck_assert_int_eq(run(NULL, r), 2);
    ck_assert(file_has("err.txt", "config.txt:") && file_has("err.txt", "got 'junk'"));
    now = slurp(cfg);
    ck_assert_str_eq(now, junk);
    free(now);
    /* the run's own: no word */
    tg_cli_write(cfg, orig);
    run_ok(NULL, r);
    ck_assert(!file_has("err.txt", "config.txt"));
    /* a loop setting edited, given by no flag: warned, and written again */
    now = slurp(cfg);
    at = strstr(now, "\nmax-steps = 4\n");
    ck_assert_ptr_nonnull(at);
    sprintf(edited, "%.*s\nmax-steps = 9%s", (int)(at - now), now, strchr(at + 1, '\n'));
    tg_cli_write(cfg, edited);
    char *r2[] = {"train", "--resume", dir, NULL};
    run_ok(NULL, r2);
    ck_assert(file_has("err.txt", "warning: ") && file_has("err.txt", "config.txt has max-steps = 9, and the run "
                                                         "max-steps = 4 (last.ckpt)"));
    char *again = slurp(cfg);
    ck_assert_str_eq(again, now);
    free(again);
    /* the same given by the flag: no word */
    tg_cli_write(cfg, edited);
    char *r3[] = {"train", "--resume", dir, "--max-steps", "9", NULL};
    run_ok(NULL, r3);
    ck_assert(!file_has("err.txt", "config.txt"));
    /* --fit-steps sets --max-steps once training has begun, after config.txt was written: its 0
     * there is no edit */
    char fit[300];
    snprintf(fit, sizeof fit, "%s/fit", tmpdir);
    char *f1[] = {TINY, "--schedule", "cosine", "--fit-steps", "--time-limit", "2s", "--out", fit,
                  NULL};
    run_ok(NULL, f1);
    char *f2[] = {"train", "--resume", fit, "--time-limit", "3s", NULL};
    run_ok(NULL, f2);
    ck_assert(!file_has("err.txt", "config.txt"));
    /* emptied (no setting, a comment): nothing to keep, written again without a word */
    tg_cli_write(cfg, "# emptied\n");
    char *r4[] = {"train", "--resume", dir, "--max-steps", "10", NULL};
    run_ok(NULL, r4);
    ck_assert(!file_has("err.txt", "config.txt"));
    again = slurp(cfg);
    ck_assert_ptr_nonnull(strstr(again, "\nmax-steps = 10\n"));
    free(again);
    free(now);
    free(junk);
    free(edited);
    free(orig);
}
END_TEST

/* A config.txt that cannot be read (another user's, mode 000) may hold an edit: the resume used to
 * skip the check and write the file again, undoing the edit without a word (exit 0). It is a
 * failure, exit 1, naming the file and why, the file kept and nothing trained. Run as nobody when
 * root (who reads any file). */
START_TEST(test_resume_refuses_unreadable_config_txt) {
    char dir[300], cfg[320], ckpt[320], errf[320], cmd[700];
    snprintf(dir, sizeof dir, "%s/unread", tmpdir);
    snprintf(cfg, sizeof cfg, "%s/config.txt", dir);
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", dir);
    snprintf(errf, sizeof errf, "%s/err.txt", tmpdir);
    char *a[] = {TINY, "--max-steps", "3", "--out", dir, NULL};
    run_ok(NULL, a);
    char *orig = slurp(cfg), *edited = malloc(strlen(orig) + 64);
    const char *at = strstr(orig, "\ndropout = ");
    ck_assert_ptr_nonnull(at);
    sprintf(edited, "%.*s\ndropout = 0.3%s", (int)(at - orig), orig, strchr(at + 1, '\n'));
    tg_cli_write(cfg, edited);
    uint64_t h = param_hash(ckpt);
    bool root = geteuid() == 0;
    if (root) {   /* the run folder nobody's, its config.txt unreadable even to its owner */
        snprintf(cmd, sizeof cmd, "chmod 711 '%s' && chown -R 65534 '%s'", tmpdir, dir);
        ck_assert_int_eq(system(cmd), 0);
    }
    ck_assert_int_eq(chmod(cfg, 0), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fe = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644), fo = open("/dev/null", O_WRONLY);
        dup2(fo, 1);
        dup2(fe, 2);
        if (root && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(99);
        char *r[] = {"train", "--resume", dir, "--max-steps", "4", NULL};
        int rc = tg_cli_dispatch(5, r);
        fflush(NULL);
        _exit(rc);
    }
    ck_assert_int_eq(wait_rc(pid), 1);
    ck_assert(file_has("err.txt", "config.txt: cannot read: Permission denied"));
    ck_assert_int_eq(chmod(cfg, 0644), 0);
    char *now = slurp(cfg);
    ck_assert_str_eq(now, edited);   /* the edit kept */
    ck_assert(param_hash(ckpt) == h);   /* nothing trained */
    free(now);
    free(edited);
    free(orig);
}
END_TEST

START_TEST(test_usage_errors) {
    char *a1[] = {"train", "--no-such-flag", NULL};
    ck_assert_int_eq(run(NULL, a1), 2);
    char *a2[] = {"train", "--help", NULL};
    run_ok(NULL, a2);
    ck_assert(file_has("out.txt", "--attn-activation"));
    const char *flags[] = {"--attn-activation-at out|heads", "--attn-gate none|sigmoid",
                           "--residual-activation none|relu", "--diagnostics N"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) ck_assert(file_has("out.txt", flags[i]));
    char *bad_gate[] = {"train", "--task", "copy", "--out", "x", "--attn-gate", "tanh", NULL};
    ck_assert_int_eq(run(NULL, bad_gate), 2);
    ck_assert(file_has("err.txt", "--attn-gate: 'tanh' is not one of none|sigmoid"));
    char *bad_diag[] = {"train", "--task", "copy", "--out", "x", "--diagnostics", "-1", NULL};
    ck_assert_int_eq(run(NULL, bad_diag), 2);
    char *a3[] = {"train", "--task", "copy", NULL};   /* no --out */
    ck_assert_int_eq(run(NULL, a3), 2);
    ck_assert(file_has("err.txt", "--out"));
    char out[300];
    snprintf(out, sizeof out, "%s/r", tmpdir);
    char *a4[] = {"train", "--task", "copy", "--out", out, "--d-model", "30", "--heads", "4", NULL};
    ck_assert_int_eq(run(NULL, a4), 2);
    ck_assert(file_has("err.txt", "not divisible"));
    char *a5[] = {"train", "--train", "/nonexistent/x.tsv", "--out", out, NULL};
    ck_assert_int_eq(run(NULL, a5), 1);
    ck_assert(file_has("err.txt", "/nonexistent/x.tsv"));
    /* a bad setting in a --config file is the flag's usage error; a file that cannot be read is
     * a failure, as a --train that cannot be */
    char cfg[320];
    snprintf(cfg, sizeof cfg, "%s/bad.cfg", tmpdir);
    const char *bad_cfg[] = {"d_model = abc\n", "no_such_setting = 1\n", "d_model 64\n"};
    for (int i = 0; i < 3; i++) {
        FILE *f = fopen(cfg, "w");
        fputs(bad_cfg[i], f);
        fclose(f);
        char *c1[] = {"train", "--task", "copy", "--config", cfg, "--out", out, NULL};
        ck_assert_int_eq(run(NULL, c1), 2);
        ck_assert(file_has("err.txt", "bad.cfg:1: "));
    }
    char *c2[] = {"train", "--task", "copy", "--config", "/nonexistent.cfg", "--out", out, NULL};
    ck_assert_int_eq(run(NULL, c2), 1);
    ck_assert(file_has("err.txt", "/nonexistent.cfg: cannot open"));
    char *c3[] = {"train", "--task", "copy", "--config", tmpdir, "--out", out, NULL};
    ck_assert_int_eq(run(NULL, c3), 1);
    ck_assert(file_has("err.txt", "cannot read: Is a directory"));
    char *a6[] = {"translate", "--model", "/nonexistent.ckpt", NULL};
    ck_assert_int_eq(run(NULL, a6), 1);
    char *a7[] = {"translate", "--bogus", NULL};
    ck_assert_int_eq(run(NULL, a7), 2);
    char *a8[] = {"eval", "--help", NULL};
    run_ok(NULL, a8);
}
END_TEST

/* ---- exact resume ---- */

START_TEST(test_resume_is_exact_after_sigkill) {
    char ref[300], dir[300], ckpt[320];
    snprintf(ref, sizeof ref, "%s/ref", tmpdir);
    /* 2N = 60 updates in one go (dropout on, so the dropout stream must resume too) */
    char *a[] = {TINY, "--dropout", "0.1", "--save-every", "1", "--max-steps", "60", "--out", ref, NULL};
    run_ok(NULL, a);
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", ref);
    uint64_t want = param_hash(ckpt);
    /* the same run killed at random moments (a checkpoint is written every step, so many kills land
     * inside a save), then resumed to 60; saved every step, the run spends most of its time saving */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    snprintf(dir, sizeof dir, "%s/probe", tmpdir);
    a[sizeof a / sizeof a[0] - 2] = dir;
    run_ok(NULL, a);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double full_us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
    srand(12345);
    int kills = 0, mid_save = 0;
    for (int trial = 0; trial < 6; trial++) {
        snprintf(dir, sizeof dir, "%s/k%d", tmpdir, trial);
        a[sizeof a / sizeof a[0] - 2] = dir;
        char out[320], errf[320];
        snprintf(out, sizeof out, "%s.out", dir);
        snprintf(errf, sizeof errf, "%s.err", dir);
        pid_t pid = spawn(out, errf, NULL, a);
        sleep_us(full_us * (0.15 + 0.7 * rand() / (double)RAND_MAX));
        kill(pid, SIGKILL);
        int rc = wait_rc(pid);
        if (rc == 128 + SIGKILL) kills++;
        /* a save cut short leaves its temporary file: the resume must not mind */
        char cmd[400];
        snprintf(cmd, sizeof cmd, "ls '%s' | grep -q '\\.tmp\\.'", dir);
        mid_save += system(cmd) == 0;
        snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", dir);
        if (!exists(ckpt)) {   /* killed before the first save: start again, as a user would */
            char rm[400];
            snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
            ck_assert_int_eq(system(rm), 0);
            run_ok(NULL, a);
        } else {
            char *r[] = {"train", "--resume", dir, NULL};
            run_ok(NULL, r);
        }
        ck_assert_msg(param_hash(ckpt) == want, "trial %d: resumed parameters differ from the uninterrupted run", trial);
    }
    ck_assert_int_ge(kills, 4);   /* the kills did land while training */
    fprintf(stderr, "resume test: %d of 6 runs killed mid-run, %d of them inside a checkpoint save\n", kills, mid_save);
}
END_TEST

START_TEST(test_resume_extends_max_steps) {
    char a1[300], b1[300], p[320];
    snprintf(a1, sizeof a1, "%s/a", tmpdir);
    snprintf(b1, sizeof b1, "%s/b", tmpdir);
    char *full[] = {TINY, "--max-steps", "40", "--out", a1, NULL};
    run_ok(NULL, full);
    char *half[] = {TINY, "--max-steps", "20", "--threads", "1", "--out", b1, NULL};
    run_ok(NULL, half);
    char *more[] = {"train", "--resume", b1, "--max-steps", "40", "--threads", "2", NULL};
    run_ok(NULL, more);
    ck_assert(file_has("err.txt", "resumed at step 20"));
    snprintf(p, sizeof p, "%s/last.ckpt", a1);
    uint64_t ha = param_hash(p);
    snprintf(p, sizeof p, "%s/last.ckpt", b1);
    ck_assert(param_hash(p) == ha);
    /* an architecture flag cannot change on resume; the same value may be repeated */
    char *bad[] = {"train", "--resume", b1, "--d-model", "32", NULL};
    ck_assert_int_eq(run(NULL, bad), 2);
    ck_assert(file_has("err.txt", "cannot change when resuming"));
    char *same[] = {"train", "--resume", b1, "--d-model", "16", "--max-steps", "40", NULL};
    run_ok(NULL, same);
    /* a fresh run into a run folder is refused: nothing is overwritten */
    ck_assert_int_eq(run(NULL, full), 1);
    ck_assert(file_has("err.txt", "--resume"));
}
END_TEST

/* The train rows of a metrics.tsv as "step epoch lr loss nll ppl grad_norm" lines: the columns a
 * run's bits decide (all but the timings elapsed_s and tgt_tok_s). */
static char *train_rows(const char *metrics) {
    char *text = slurp(metrics), *out = calloc(strlen(text) + 1, 1), *o = out;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char f[10][64] = {{0}};
        int k = sscanf(line, "%63[^\t]\t%63[^\t]\t%63[^\t]\t%63[^\t]\t%63[^\t]\t%63[^\t]\t%63[^\t]\t%63[^\t]\t"
                       "%63[^\t]\t%63[^\t]", f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9]);
        if (k == 10 && !strcmp(f[0], "train"))
            o += sprintf(o, "%s %s %s %s %s %s %s\n", f[1], f[2], f[4], f[5], f[6], f[7], f[9]);
    }
    free(text);
    return out;
}

/* --fit-steps fits the cosine schedule's length to --time-limit during the warmup: the run equals
 * the one given that --max-steps (the same rates and losses at every logged step, the same
 * parameters when it ended there); misuse is refused before anything runs. */
START_TEST(test_fit_steps_equals_max_steps) {
    char a[300], b[300], p[320], n_text[32];
    snprintf(a, sizeof a, "%s/a", tmpdir);
    snprintf(b, sizeof b, "%s/b", tmpdir);
    char *fit[] = {TINY, "--schedule", "cosine", "--fit-steps", "--time-limit", "3s", "--valid-every", "0",
                   "--out", a, NULL};
    run_ok(NULL, fit);
    ck_assert(file_has("err.txt", "--fit-steps: "));
    ck_assert(file_has("err.txt", "over steps 5-20,"));   /* at the warmup's end, its first fifth left out */
    snprintf(p, sizeof p, "%s/last.ckpt", a);
    tg_loaded L;
    tg_err err;
    ck_assert_msg(tg_run_load_model(p, &L, &err) == TG_OK, "%s", err.msg);
    int64_t n = L.cfg.max_steps, stopped = L.st.step;
    tg_loaded_free(&L);
    ck_assert_msg(n > 20 && stopped > 20 && stopped <= n, "fitted %lld, stopped at %lld", (long long)n,
                  (long long)stopped);
    snprintf(n_text, sizeof n_text, "%lld", (long long)n);
    char *fixed[] = {TINY, "--schedule", "cosine", "--max-steps", n_text, "--valid-every", "0", "--out", b, NULL};
    run_ok(NULL, fixed);
    snprintf(p, sizeof p, "%s/metrics.tsv", a);
    char *rows_a = train_rows(p);
    snprintf(p, sizeof p, "%s/metrics.tsv", b);
    char *rows_b = train_rows(p);
    ck_assert(strlen(rows_a) > 0 && !strncmp(rows_a, rows_b, strlen(rows_a)));
    free(rows_a);
    free(rows_b);
    if (stopped == n) {   /* the usual case: the fitted length ended the run before the time limit */
        snprintf(p, sizeof p, "%s/last.ckpt", a);
        uint64_t ha = param_hash(p);
        snprintf(p, sizeof p, "%s/last.ckpt", b);
        ck_assert(param_hash(p) == ha);
        /* a resume with a longer time limit has nothing to do, and says why */
        char *longer[] = {"train", "--resume", a, "--time-limit", "1h", NULL};
        run_ok(NULL, longer);
        ck_assert(file_has("err.txt", "nothing to do: reached --max-steps"));
        ck_assert(file_has("err.txt", "a longer --time-limit does not extend the run"));
        snprintf(p, sizeof p, "%s/last.ckpt", a);
        ck_assert(param_hash(p) == ha);
    }
    /* a longer warmup: the fit is still made at its end (not at step 200), from steps 61-300 */
    char d[300];
    snprintf(d, sizeof d, "%s/d", tmpdir);
    char *long_warmup[] = {TINY, "--schedule", "cosine", "--fit-steps", "--time-limit", "60s", "--warmup", "300",
                           "--task-size", "8000", "--max-epochs", "1", "--valid-every", "0", "--out", d, NULL};
    run_ok(NULL, long_warmup);
    ck_assert(file_has("err.txt", "over steps 61-300,"));
    /* a limit that ends the run inside the warmup is said: the fit, and so the decay, never came */
    char e[300];
    snprintf(e, sizeof e, "%s/e", tmpdir);
    char *short_run[] = {TINY, "--schedule", "cosine", "--fit-steps", "--time-limit", "60s", "--warmup", "300",
                         "--max-epochs", "1", "--valid-every", "0", "--out", e, NULL};
    run_ok(NULL, short_run);
    ck_assert(file_has("err.txt", "before its fit at step 300"));
    char c[300];
    snprintf(c, sizeof c, "%s/c", tmpdir);
    char *no_limit[] = {TINY, "--schedule", "cosine", "--fit-steps", "--out", c, NULL};
    char *not_cosine[] = {TINY, "--fit-steps", "--time-limit", "3s", "--out", c, NULL};
    char *both[] = {TINY, "--schedule", "cosine", "--fit-steps", "--time-limit", "3s", "--max-steps", "50", "--out", c, NULL};
    char *short_warmup[] = {TINY, "--schedule", "cosine", "--fit-steps", "--time-limit", "3s", "--warmup", "5",
                            "--out", c, NULL};
    char **bad[] = {no_limit, not_cosine, both, short_warmup};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(run(NULL, bad[i]), 2);
        ck_assert(file_has("err.txt", "--fit-steps"));
        ck_assert(!exists(c));
    }
}
END_TEST

/* The schedule's settings are checked with the other flags: exit 2 naming them, before the run
 * folder is made (before: exit 1 once config.txt and lock were written), and on a resume before
 * config.txt is written again. */
START_TEST(test_schedule_flags_refused_before_writing) {
    char c[300];
    snprintf(c, sizeof c, "%s/sched", tmpdir);
#define SMALL "train", "--task", "copy", "--task-vocab", "12", "--task-size", "200", "--d-model", "8", "--heads", \
              "2", "--d-ff", "8", "--layers", "1", "--threads", "1", "--out", c
    char *no_warmup[] = {SMALL, "--warmup", "0", NULL};
    char *noam_zero[] = {SMALL, "--schedule", "noam", "--lr", "0", NULL};
    char *long_warmup[] = {SMALL, "--schedule", "cosine", "--warmup", "20", "--max-steps", "10", NULL};
    char *no_length[] = {SMALL, "--schedule", "cosine", NULL};
    char *high_floor[] = {SMALL, "--schedule", "cosine", "--max-steps", "10", "--warmup", "2", "--lr", "0.1",
                          "--min-lr", "1", NULL};
    char **bad[] = {no_warmup, noam_zero, long_warmup, no_length, high_floor};
    const char *says[] = {"--warmup 0: --schedule inverse-sqrt", "--lr 0: --schedule noam",
                          "--warmup 20, --max-steps 10", "give --max-steps", "--min-lr 1 is above --lr 0.1"};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(run(NULL, bad[i]), 2);
        ck_assert_msg(file_has("err.txt", says[i]), "case %d", i);
        ck_assert(!exists(c));
    }
    /* a resume whose --max-steps leaves no decay after the warmup: refused, config.txt as it was */
    char *ok[] = {SMALL, "--schedule", "cosine", "--warmup", "3", "--max-steps", "6", NULL};
    run_ok(NULL, ok);
    char cfg[340];
    snprintf(cfg, sizeof cfg, "%s/config.txt", c);
    char *before = tg_cli_slurp(cfg);
    char *r[] = {"train", "--resume", c, "--max-steps", "3", NULL};
    ck_assert_int_eq(run(NULL, r), 2);
    ck_assert(file_has("err.txt", "--warmup 3, --max-steps 3"));
    char *after = tg_cli_slurp(cfg);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
#undef SMALL
}
END_TEST

/* --accum-shards 2 (dropout on: each shard's stream must resume too) resumes exactly; the shard
 * count is fixed for a run. */
START_TEST(test_accum_shards_resume_exact) {
    char a1[300], b1[300], p[320];
    snprintf(a1, sizeof a1, "%s/a", tmpdir);
    snprintf(b1, sizeof b1, "%s/b", tmpdir);
    char *full[] = {TINY, "--accum-shards", "2", "--dropout", "0.1", "--max-steps", "30", "--out", a1, NULL};
    run_ok(NULL, full);
    char *half[] = {TINY, "--accum-shards", "2", "--dropout", "0.1", "--max-steps", "15", "--out", b1, NULL};
    run_ok(NULL, half);
    char *more[] = {"train", "--resume", b1, "--max-steps", "30", "--threads", "1", NULL};
    run_ok(NULL, more);
    ck_assert(file_has("err.txt", "resumed at step 15"));
    snprintf(p, sizeof p, "%s/last.ckpt", a1);
    uint64_t ha = param_hash(p);
    snprintf(p, sizeof p, "%s/last.ckpt", b1);
    ck_assert(param_hash(p) == ha);
    char *other[] = {"train", "--resume", b1, "--accum-shards", "3", "--max-steps", "40", NULL};
    ck_assert_int_eq(run(NULL, other), 2);
    ck_assert(file_has("err.txt", "--accum-shards cannot change when resuming (the run has accum-shards = 2)"));
    /* a number is named as the user gave it, not as config.txt's exact %.17g (0.10000000000000001) */
    char *drop[] = {"train", "--resume", b1, "--dropout", "0.3", NULL};
    ck_assert_int_eq(run(NULL, drop), 2);
    ck_assert(file_has("err.txt", "--dropout cannot change when resuming (the run has dropout = 0.1)\n"));
    char *ls[] = {"train", "--resume", b1, "--label-smoothing", "0.2", NULL};
    ck_assert_int_eq(run(NULL, ls), 2);
    ck_assert(file_has("err.txt", "(the run has label-smoothing = 0.1)\n"));
}
END_TEST

/* A run given stop signal sig after its first save (and ignore_first, if not 0, ignored from the
 * start, as nohup does SIGHUP, sent first): it stops saved, exit 0, past step 0. */
/* blocked: sig is blocked in the mask the run starts with (inherited through exec from a
 * launcher's thread), as it would be by fork */
static void stopped_saved(int sig, int ignore_first, bool blocked) {
    char dir[300], ckpt[320], out[320], errf[320], said[64];
    snprintf(dir, sizeof dir, "%s/int%d", tmpdir, sig);
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", dir);
    snprintf(out, sizeof out, "%s/int.out", tmpdir);
    snprintf(errf, sizeof errf, "%s/int.err", tmpdir);
    char *a[] = {TINY, "--max-steps", "1000000", "--save-every", "0", "--valid-every", "0", "--out", dir, NULL};
    void (*was)(int) = ignore_first ? signal(ignore_first, SIG_IGN) : SIG_DFL;
    sigset_t block, mask;
    sigemptyset(&block);
    if (blocked) sigaddset(&block, sig);
    sigprocmask(SIG_BLOCK, &block, &mask);
    pid_t pid = spawn(out, errf, NULL, a);
    sigprocmask(SIG_SETMASK, &mask, NULL);
    if (ignore_first) signal(ignore_first, was);
    for (int i = 0; i < 400 && !exists(ckpt); i++) sleep_us(10000);   /* the step-0 checkpoint */
    sleep_us(300000);
    if (ignore_first) {
        kill(pid, ignore_first);
        sleep_us(200000);   /* (a run it stopped would have ended by now) */
    }
    kill(pid, sig);
    ck_assert_int_eq(tg_cli_wait_bounded(pid, 60), 0);   /* -1: still training a minute after it */
    snprintf(said, sizeof said, "stopped by signal %d at step", sig);
    ck_assert(file_has("int.err", said));
    ck_assert(file_has("int.err", "resume with: tapegrad train --resume"));
    tg_loaded L;
    tg_err err;
    ck_assert_int_eq(tg_run_load_model(ckpt, &L, &err), TG_OK);
    ck_assert_int_gt(L.st.step, 0);   /* the steps done before the signal are saved */
    tg_loaded_free(&L);
}

/* Ctrl-C, and every other stop signal (atomic_file.h: a closed terminal's SIGHUP, SLURM's SIGUSR1
 * before its time limit, a soft CPU limit's SIGXCPU), which ended the run where it was, losing the
 * steps since its last save; under nohup, SIGHUP stays ignored. */
START_TEST(test_sigint_saves_and_exits_0) {
    stopped_saved(SIGINT, 0, false);
    stopped_saved(SIGHUP, 0, false);
    stopped_saved(SIGUSR1, 0, false);
    stopped_saved(SIGXCPU, 0, false);
    stopped_saved(SIGTERM, SIGHUP, false);
}
END_TEST

/* A run started with SIGTERM blocked (a mask inherited through exec, e.g. from a launcher's
 * thread that blocks signals) installed its handler but never took the signal: a scheduler's
 * SIGTERM left it training until the SIGKILL, the steps since its last save lost (before the fix,
 * still training a minute after the signal: killed, exit -1). The run unblocks the stop signals
 * it handles. */
START_TEST(test_stop_signal_taken_when_started_blocked) {
    stopped_saved(SIGTERM, 0, true);
    stopped_saved(SIGINT, 0, true);
}
END_TEST

/* A stop signal while train's log line waited on a full stderr pipe (a reader behind: `| less`, a
 * slow `tee`, a scheduler's log relay) cut that write short with EINTR, and the line of the step
 * being logged was lost from stderr (train.log kept it). The handlers now restart the write. */
/* Starts a TINY run into dir, logging every step, with no saves but its first and last, its stderr
 * a pipe (a FIFO) whose read end, non-blocking, is returned in *rd. */
static pid_t spawn_logging_to_a_pipe(const char *dir, int *rd) {
    char out[320], fifo[320];
    snprintf(out, sizeof out, "%s.out", dir);
    snprintf(fifo, sizeof fifo, "%s.err", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    char *a[] = {TINY, "--log-every", "1", "--max-steps", "1000000", "--save-every", "0", "--valid-every", "0",
                 "--threads", "1", "--out", (char *)dir, NULL};
    pid_t pid = spawn(out, fifo, NULL, a);
    *rd = open(fifo, O_RDONLY | O_NONBLOCK);   /* lets the child's open of the write end through */
    ck_assert_int_ge(*rd, 0);
    return pid;
}

START_TEST(test_stop_signal_keeps_a_blocked_log_line) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/pipe", tmpdir);
    int rd;
    pid_t pid = spawn_logging_to_a_pipe(dir, &rd);
    tg_cli_wait_pipe_full(rd);
    kill(pid, SIGUSR1);
    sleep_us(200000);   /* (the handler has run: the write it interrupted restarts, or fails) */
    size_t len = 0, cap = 1 << 20;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    for (int idle = 0; idle < 3000;) {   /* to the end of the file: train has exited */
        ssize_t n = read(rd, text + len, cap - 1 - len);
        if (n > 0) len += (size_t)n, idle = 0;
        else if (n == 0) break;
        else idle++, sleep_us(10000);
        ck_assert_uint_lt(len, cap - 1);
    }
    text[len] = '\0';
    close(rd);
    ck_assert_int_eq(wait_rc(pid), 0);
    const char *stop = strstr(text, "stopped by signal 10 at step ");
    ck_assert_msg(stop, "no stop said:\n%s", text + (len > 600 ? len - 600 : 0));
    long last = atol(stop + 29), seen = 0;
    for (const char *p = text; (p = strstr(p, "] step ")); p++) {
        long step = atol(p + 7);
        ck_assert_msg(step == seen + 1, "the line of step %ld is missing (next: step %ld)", seen + 1, step);
        seen = step;
    }
    ck_assert_int_gt(last, 400);   /* the stop came after the pipe filled */
    ck_assert_int_eq(seen, last);   /* the stopping step's line too */
    free(text);
}
END_TEST

/* ... but a reader that does not read at all (a stalled log relay, `|& less` left scrolled) kept a
 * run blocked in its log line from stopping on SIGTERM: the write restarted, and the scheduler's
 * SIGKILL that follows would lose every step since the last save. Stopping, stderr gets 2 s. */
START_TEST(test_stop_signal_with_a_stalled_console) {
    char dir[300], ckpt[320], log[320];
    snprintf(dir, sizeof dir, "%s/stalled", tmpdir);
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", dir);
    snprintf(log, sizeof log, "%s/train.log", dir);
    int rd;
    pid_t pid = spawn_logging_to_a_pipe(dir, &rd);
    tg_cli_wait_pipe_full(rd);
    kill(pid, SIGTERM);
    ck_assert_int_eq(tg_cli_wait_bounded(pid, 30), 0);
    close(rd);
    char *text = slurp(log);
    const char *stop = strstr(text, "stopped by signal 15 at step ");
    ck_assert_msg(stop && strstr(text, "stderr took nothing for 2 s while the run was stopping: the rest of this log "
                                       "is in train.log only"), "%s", text + (strlen(text) > 600 ? strlen(text) - 600 : 0));
    tg_loaded L;
    tg_err err;
    ck_assert_int_eq(tg_run_load_model(ckpt, &L, &err), TG_OK);
    ck_assert_int_eq(L.st.step, atol(stop + 29));
    ck_assert_int_gt(L.st.step, 400);
    tg_loaded_free(&L);
    free(text);
}
END_TEST

/* A run whose stderr's reader went away (`train | head`, a `tee` killed, a log relay's restart) was
 * killed by SIGPIPE at its next log line, the steps since its last save lost. It stops saved, as
 * on the other stop signals, exit 0, train.log saying why. */
START_TEST(test_broken_pipe_stops_saved) {
    char dir[300], ckpt[320];
    snprintf(dir, sizeof dir, "%s/broken", tmpdir);
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", dir);
    int rd;
    pid_t pid = spawn_logging_to_a_pipe(dir, &rd);
    char buf[4096];
    size_t got = 0;
    for (int i = 0; i < 6000 && got < 20000; i++) {   /* some steps' lines, then the reader goes */
        ssize_t n = read(rd, buf, sizeof buf);
        if (n > 0) got += (size_t)n;
        else sleep_us(10000);
    }
    ck_assert_uint_ge(got, 20000);
    close(rd);
    ck_assert_int_eq(wait_rc(pid), 0);
    char log[320];
    snprintf(log, sizeof log, "%s/train.log", dir);
    char *text = slurp(log);
    const char *stop = strstr(text, "stopped by signal 13 at step ");
    ck_assert_msg(stop && strstr(stop, "(SIGPIPE: the reader of this output went away); resume with"), "%s",
                  text + (strlen(text) > 600 ? strlen(text) - 600 : 0));
    tg_loaded L;
    tg_err err;
    ck_assert_int_eq(tg_run_load_model(ckpt, &L, &err), TG_OK);
    ck_assert_int_eq(L.st.step, atol(stop + 29));   /* the steps done before it are saved */
    ck_assert_int_gt(L.st.step, 100);
    tg_loaded_free(&L);
    free(text);
}
END_TEST

/* A run stopped (Ctrl-Z, SIGSTOP) and continued counted the wait in the step it landed in as
 * training time: a --time-limit run ended early (by hand: "after 6s of training" for a 3 s limit
 * paused 5 s), its --fit-steps fit and tok/s were off. Two pauses of 2.5 s in a 1.5 s budget: the
 * training time stays the budget's, and the run trains it all. */
START_TEST(test_pause_is_not_training_time) {
    char dir[300], ckpt[320], out[320], errf[320];
    snprintf(dir, sizeof dir, "%s/paused", tmpdir);
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", dir);
    snprintf(out, sizeof out, "%s/paused.out", tmpdir);
    snprintf(errf, sizeof errf, "%s/paused.err", tmpdir);
    char *a[] = {TINY, "--max-steps", "100000000", "--time-limit", "1.5s", "--save-every", "0", "--valid-every", "0",
                 "--log-every", "1000000", "--threads", "1", "--out", dir, NULL};
    pid_t pid = spawn(out, errf, NULL, a);
    for (int i = 0; i < 400 && !exists(ckpt); i++) sleep_us(10000);   /* the step-0 checkpoint */
    for (int i = 0; i < 500; i++) {   /* a SIGCONT without a stop (a scheduler's, before its SIGTERM) */
        kill(pid, SIGCONT);
        sleep_us(200);
    }
    for (int k = 0; k < 2; k++) {
        sleep_us(300000);
        kill(pid, SIGSTOP);
        sleep_us(2500000);
        kill(pid, SIGCONT);
    }
    ck_assert_int_eq(wait_rc(pid), 0);
    ck_assert(file_has("paused.err", "done: reached --time-limit"));
    char *said = slurp(errf);   /* the two pauses at most, not the SIGCONTs without one */
    int pauses = 0;
    for (const char *q = said; (q = strstr(q, "stopped and continued within it")); q++) pauses++;
    ck_assert_int_le(pauses, 2);
    free(said);
    tg_loaded L;
    tg_err err;
    ck_assert_int_eq(tg_run_load_model(ckpt, &L, &err), TG_OK);
    ck_assert_msg(L.st.train_seconds >= 1.5 && L.st.train_seconds < 2.0, "%.3f s of training", L.st.train_seconds);
    tg_loaded_free(&L);
}
END_TEST

/* The name of a temporary of dir/last.ckpt in dir, if there is one (into name). */
static bool last_ckpt_temp(const char *dir, char *name, size_t len) {
    DIR *d = opendir(dir);
    bool found = false;
    for (struct dirent *e; d && !found && (e = readdir(d));)
        if (!strncmp(e->d_name, "last.ckpt.tmp.", 14)) found = snprintf(name, len, "%s", e->d_name) > 0;
    if (d) closedir(d);
    return found;
}

/* SIGTERM during the run's first save (an experiment stops its other cells so when one fails)
 * killed the process mid-write, its last.ckpt temporary left behind: the handlers were installed
 * after that save. Now the save finishes and the run stops there, exit 0, nothing half-written. */
START_TEST(test_sigterm_in_first_save) {
    char dir[300], out[320], errf[320], temp[300];
    snprintf(dir, sizeof dir, "%s/first", tmpdir);
    snprintf(out, sizeof out, "%s/first.out", tmpdir);
    snprintf(errf, sizeof errf, "%s/first.err", tmpdir);
    /* (a model of 5.5 M parameters: its first checkpoint takes a good part of a second to write) */
    char *a[] = {"train", "--task", "copy", "--task-vocab", "12", "--task-size", "400", "--d-model", "256",
                 "--heads", "4", "--d-ff", "1024", "--layers", "3", "--max-tokens", "300", "--max-steps", "1000000",
                 "--save-every", "0", "--valid-every", "0", "--threads", "1", "--out", dir, NULL};
    pid_t pid = spawn(out, errf, NULL, a);
    bool seen = false;
    for (int i = 0; i < 600000 && !seen; i++)   /* up to a minute */
        if (!(seen = last_ckpt_temp(dir, temp, sizeof temp))) sleep_us(100);
    ck_assert_msg(seen, "the first save's temporary was never seen");
    kill(pid, SIGTERM);
    ck_assert_int_eq(wait_rc(pid), 0);
    ck_assert_msg(!last_ckpt_temp(dir, temp, sizeof temp), "%s left behind", temp);
    ck_assert(file_has("first.err", "resume with: tapegrad train --resume"));
    char ckpt[320];
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", dir);
    tg_loaded L;
    tg_err err;
    ck_assert_msg(tg_run_load_model(ckpt, &L, &err) == TG_OK, "%s", err.msg);
    ck_assert_int_eq(L.st.step, 0);
    tg_loaded_free(&L);
}
END_TEST

/* A cosine run resumed with another --max-steps: the schedule stretches (its rate rises again), said. */
START_TEST(test_cosine_resume_longer_warned) {
    char d[300];
    snprintf(d, sizeof d, "%s/cos", tmpdir);
    char *a[] = {TINY, "--schedule", "cosine", "--warmup", "4", "--max-steps", "10", "--valid-every", "0", "--out", d,
                 NULL};
    run_ok(NULL, a);
    char *same[] = {"train", "--resume", d, "--max-steps", "10", NULL};
    run_ok(NULL, same);
    char errf[320];
    snprintf(errf, sizeof errf, "%s/err.txt", tmpdir);
    char *e = slurp(errf);
    ck_assert(strstr(e, "nothing to do") && !strstr(e, "changes the cosine schedule"));
    free(e);
    char *longer[] = {"train", "--resume", d, "--max-steps", "14", NULL};
    run_ok(NULL, longer);
    ck_assert(file_has("err.txt", "warning: --max-steps 14 changes the cosine schedule of this run (at step 10 of "
                                  "10): the learning rate now decays over 14 steps, so it rises from here"));
    /* a --fit-steps run stopped before its fit has no length yet: nothing to warn about */
    char f[300], out[320], errf2[320];
    snprintf(f, sizeof f, "%s/fit", tmpdir);
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    snprintf(errf2, sizeof errf2, "%s/err.txt", tmpdir);
    char *fit[] = {TINY, "--schedule", "cosine", "--fit-steps", "--time-limit", "60s", "--warmup", "50",
                   "--valid-every", "0", "--out", f, NULL};
    ck_assert_int_eq(tg_cli_wait(tg_cli_spawn("TAPEGRAD_STOP_AT_STEP=5", NULL, out, errf2, fit)), 0);
    ck_assert(file_has("err.txt", "stopped by signal 15 at step 5"));
    char *fixed[] = {"train", "--resume", f, "--max-steps", "60", NULL};
    run_ok(NULL, fixed);
    e = slurp(errf);
    ck_assert(strstr(e, "resumed at step 5") && !strstr(e, "changes the cosine schedule"));
    free(e);
}
END_TEST

/* A run that validated at its end off the --valid-every grid, extended: that validation counts for
 * best.ckpt and --patience, where a run trained to the new budget at once never validated there
 * (the hostile pass: a fresh run stopped by patience at step 9, the extended one at 6), said. */
START_TEST(test_extension_off_the_grid_warned) {
    char d[300], errf[320];
    snprintf(d, sizeof d, "%s/grid", tmpdir);
    snprintf(errf, sizeof errf, "%s/err.txt", tmpdir);
    char *a[] = {TINY, "--max-steps", "4", "--valid-every", "3", "--patience", "2", "--out", d, NULL};
    run_ok(NULL, a);
    char *longer[] = {"train", "--resume", d, "--max-steps", "6", NULL};
    run_ok(NULL, longer);
    ck_assert(file_has("err.txt", "warning: this run validated at its end, step 4, off the --valid-every grid (3): "
                                  "that validation counts for best.ckpt and --patience, so the run extended to 6 "
                                  "steps is not the run trained to 6 at once"));
    char *again[] = {"train", "--resume", d, "--max-steps", "9", NULL};   /* step 6: on the grid */
    run_ok(NULL, again);
    char *e = slurp(errf);
    ck_assert_msg(strstr(e, "resumed at step 6") && !strstr(e, "off the --valid-every grid"), "%s", e);
    free(e);
}
END_TEST

/* metrics.tsv's valid rows of run folder dir without their times: kind, step, loss, nll, BLEU, chrF. */
static char *valid_rows(const char *dir) {
    char path[320];
    snprintf(path, sizeof path, "%s/metrics.tsv", dir);
    char *all = slurp(path), *out = calloc(strlen(all) + 1, 1), *save = NULL;
    ck_assert_ptr_nonnull(out);
    for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "valid\t", 6)) continue;
        char *f[12] = {0}, *fs = NULL;
        int n = 0;
        for (char *t = strtok_r(line, "\t", &fs); t && n < 12; t = strtok_r(NULL, "\t", &fs)) f[n++] = t;
        ck_assert_int_ge(n, 8);
        sprintf(out + strlen(out), "%s %s %s %s %s %s|", f[0], f[1], f[5], f[6], f[n - 2], f[n - 1]);
    }
    free(all);
    return out;
}

/* Copies checkpoint `from` to `to` with section valid_pending naming `step` (version 1). */
static void set_pending_step(const char *from, const char *to, int64_t step) {
    unsigned char pending[12] = {1};
    for (int b = 0; b < 8; b++) pending[4 + b] = (unsigned char)((uint64_t)step >> (8 * b));
    tg_cli_rewrite_section(from, to, "valid_pending", pending, sizeof pending);
}

/* Whether checkpoint path holds section valid_pending; its step in *step (NULL: not wanted). */
static bool pending_in(const char *path, int64_t *step) {
    tg_loaded L;
    tg_err err;
    ck_assert_msg(tg_run_load_model(path, &L, &err) == TG_OK, "%s", err.msg);
    bool pending = L.valid_pending;
    if (step) *step = L.st.step;
    tg_loaded_free(&L);
    return pending;
}

/* A stop signal inside a validation stops at once: the run saves its step with the validation
 * pending, and the resume runs that validation first; a stop during the last update leaves the
 * end's validation pending too. Injected (TAPEGRAD_STOP_IN_VALIDATION=N: the N-th validation;
 * TAPEGRAD_STOP_AT_STEP=N: after update N) at the validation of step 8 (in the loop), the final
 * one at step 14 (after it) and during update 14: each resumed gives the uninterrupted run's
 * last.ckpt, best.ckpt (neither pending) and validation rows, also when a kill had left the
 * pending validation's row written before its save. */
START_TEST(test_stop_inside_validation_resumes_exact) {
    char a[300], b[300], p[320], q[320];
    snprintf(a, sizeof a, "%s/a", tmpdir);
    char *full[] = {TINY, "--max-steps", "14", "--valid-every", "4", "--beam", "2", "--out", a, NULL};
    run_ok(NULL, full);
    char *want_rows = valid_rows(a);
    ck_assert_ptr_nonnull(strstr(want_rows, "valid 14 "));
    static const char *const inject[] = {"TAPEGRAD_STOP_IN_VALIDATION=2", "TAPEGRAD_STOP_IN_VALIDATION=4",
                                         "TAPEGRAD_STOP_AT_STEP=14"};
    static const int at[] = {8, 14, 14};
    for (int k = 0; k < 3; k++) {
        snprintf(b, sizeof b, "%s/b%d", tmpdir, k);
        char *cut[] = {TINY, "--max-steps", "14", "--valid-every", "4", "--beam", "2", "--out", b, NULL};
        char out[320], errf[320];
        snprintf(out, sizeof out, "%s/out.txt", tmpdir);
        snprintf(errf, sizeof errf, "%s/err.txt", tmpdir);
        ck_assert_int_eq(tg_cli_wait(tg_cli_spawn(inject[k], NULL, out, errf, cut)), 0);
        char want[160];
        snprintf(want, sizeof want, "the validation of step %d is left for the resume", at[k]);
        if (k < 2) ck_assert(file_has("err.txt", want));
        snprintf(want, sizeof want, "stopped by signal 15 at step %d", at[k]);
        ck_assert(file_has("err.txt", want));
        snprintf(p, sizeof p, "%s/last.ckpt", b);
        int64_t step;
        ck_assert(pending_in(p, &step));
        ck_assert_int_eq(step, at[k]);
        if (k == 0) {   /* a pending validation of another step than the state's is refused */
            char c[300], cmd[700];
            snprintf(c, sizeof c, "%s/c", tmpdir);
            snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", b, c);
            ck_assert_int_eq(system(cmd), 0);
            snprintf(q, sizeof q, "%s/last.ckpt", c);
            set_pending_step(p, q, 9);
            char *bad[] = {"train", "--resume", c, NULL};
            ck_assert_int_eq(run(NULL, bad), 1);
            ck_assert(file_has("err.txt", "section 'valid_pending': step = 9, the state's is 8"));
            set_pending_step(p, q, 8);   /* the bytes the run wrote: taken */
            run_ok(NULL, bad);
        }
        if (k == 1) {   /* a kill after the resume wrote the validation's row, before its save */
            char cmd[1000];
            snprintf(cmd, sizeof cmd, "grep '^valid\t14\t' '%s/metrics.tsv' >> '%s/metrics.tsv'", a, b);
            ck_assert_int_eq(system(cmd), 0);
        }
        char *more[] = {"train", "--resume", b, NULL};
        run_ok(NULL, more);
        snprintf(want, sizeof want, "valid step %d |", at[k]);
        ck_assert(file_has("err.txt", want));
        if (k) ck_assert(file_has("err.txt", "done: reached --max-steps at step 14"));
        snprintf(p, sizeof p, "%s/last.ckpt", a);
        snprintf(q, sizeof q, "%s/last.ckpt", b);
        ck_assert(param_hash(p) == param_hash(q) && !pending_in(q, NULL));
        snprintf(p, sizeof p, "%s/best.ckpt", a);
        snprintf(q, sizeof q, "%s/best.ckpt", b);
        ck_assert(param_hash(p) == param_hash(q) && !pending_in(q, NULL));
        char *got_rows = valid_rows(b);
        ck_assert_msg(!strcmp(got_rows, want_rows), "case %d: valid rows\n%s\nagainst\n%s", k, got_rows, want_rows);
        free(got_rows);
    }
    free(want_rows);
}
END_TEST

START_TEST(test_nan_updates_skipped_then_reload) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/nan", tmpdir);
    /* updates 5 and 6 skipped, then attempts 12..14 in a row: a reload with half the lr */
    setenv("TAPEGRAD_INJECT_NAN", "12:3", 1);
    char *a[] = {TINY, "--max-steps", "30", "--save-every", "5", "--max-bad-steps", "3", "--diagnostics", "1",
                 "--out", dir, NULL};
    int rc = run(NULL, a);
    unsetenv("TAPEGRAD_INJECT_NAN");
    ck_assert_int_eq(rc, 0);
    ck_assert(file_has("err.txt", "non-finite gradient, update skipped (1 in a row"));
    ck_assert(file_has("err.txt", "update skipped (3 in a row"));
    ck_assert(file_has("err.txt", "diverged: 3 non-finite updates in a row; reloaded"));
    ck_assert(file_has("err.txt", "0.5 x the schedule"));
    char ckpt[320];
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", dir);
    tg_loaded L;
    tg_err err;
    ck_assert_int_eq(tg_run_load_model(ckpt, &L, &err), TG_OK);
    ck_assert_int_eq(L.st.step, 30);
    ck_assert(L.st.lr_scale == 0.5);
    ck_assert_int_eq(L.st.reloads, 1);
    ck_assert_int_eq(L.st.skipped_steps, 3);
    tg_loaded_free(&L);
    /* step 11 ran twice (before the reload to step 10 and after): its diagnostics rows once */
    char path[330];
    snprintf(path, sizeof path, "%s/diagnostics.tsv", dir);
    char *s = slurp(path);
    int n11 = 0, n30 = 0;
    for (const char *p = s; (p = strstr(p, "\n11\tdec\t0\tlayer\trank_resid\t")); p++) n11++;
    for (const char *p = s; (p = strstr(p, "\n30\tdec\t0\tlayer\trank_resid\t")); p++) n30++;
    ck_assert_int_eq(n11, 1);
    ck_assert_int_eq(n30, 1);
    free(s);
}
END_TEST

/* A step that failed before its update (out of memory for a longer batch than any before), or a
 * validation that failed (its decoding out of memory), ended the run with exit 1 and every step
 * since the last save lost (up to --save-every's 1,000). The run is saved at the last step (the
 * validation pending), and resumes to the uninterrupted run's bits and validation rows; dropout on,
 * so that its stream's state counts too. */
START_TEST(test_failed_step_saves_the_steps_before) {
    char full[300], cut[300], ckpt[320];
    snprintf(full, sizeof full, "%s/full", tmpdir);
    snprintf(cut, sizeof cut, "%s/cut", tmpdir);
    char *a[] = {TINY, "--max-steps", "60", "--save-every", "0", "--dropout", "0.1", "--out", full, NULL};
    run_ok(NULL, a);
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", full);
    uint64_t want = param_hash(ckpt);
    char *b[] = {TINY, "--max-steps", "60", "--save-every", "0", "--dropout", "0.1", "--out", cut, NULL};
    char *more[] = {"train", "--resume", cut, NULL};
    tg_loaded L;
    tg_err err;
    int rc;
    /* after its backward, and in the making of its batch (before: exit 1, not saved) */
    static const char *const fail[][2] = {{"37", "error: backward: out of memory (TAPEGRAD_FAIL_STEP)"},
                                          {"37:batch", "error: out of memory for a batch (TAPEGRAD_FAIL_STEP)"}};
    for (int w = 0; w < 2; w++) {
        snprintf(cut, sizeof cut, "%s/cut%d", tmpdir, w);
        setenv("TAPEGRAD_FAIL_STEP", fail[w][0], 1);
        rc = run(NULL, b);
        unsetenv("TAPEGRAD_FAIL_STEP");
        ck_assert_int_eq(rc, 1);
        ck_assert(file_has("err.txt", "step 37 failed before its update (below); last.ckpt holds step 36: once the "
                                      "cause is dealt with, resume with: tapegrad train --resume"));
        ck_assert(file_has("err.txt", fail[w][1]));
        snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", cut);
        ck_assert_int_eq(tg_run_load_model(ckpt, &L, &err), TG_OK);
        ck_assert_int_eq(L.st.step, 36);
        tg_loaded_free(&L);
        run_ok(NULL, more);
        ck_assert(param_hash(ckpt) == want);
    }
    /* the second validation (step 50) fails, then the run's last, at its end (step 60) */
    char *want_rows = valid_rows(full);
    for (int k = 2; k <= 3; k++) {
        char nth[8], said[128];
        snprintf(nth, sizeof nth, "%d", k);
        snprintf(cut, sizeof cut, "%s/cutv%d", tmpdir, k);
        setenv("TAPEGRAD_FAIL_IN_VALIDATION", nth, 1);
        rc = run(NULL, b);
        unsetenv("TAPEGRAD_FAIL_IN_VALIDATION");
        ck_assert_int_eq(rc, 1);
        int64_t at = k == 2 ? 50 : 60;
        snprintf(said, sizeof said, "the validation of step %lld failed (below); last.ckpt holds step %lld, the "
                 "validation left for the resume", (long long)at, (long long)at);
        ck_assert(file_has("err.txt", said));
        snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", cut);
        ck_assert_int_eq(tg_run_load_model(ckpt, &L, &err), TG_OK);
        ck_assert_int_eq(L.st.step, at);
        tg_loaded_free(&L);
        run_ok(NULL, more);
        ck_assert(param_hash(ckpt) == want);
        char *got_rows = valid_rows(cut);
        ck_assert_str_eq(got_rows, want_rows);
        free(got_rows);
    }
    free(want_rows);
}
END_TEST

START_TEST(test_bad_checkpoints_refused_intact) {
    char dir[300], ckpt[320];
    snprintf(dir, sizeof dir, "%s/bad", tmpdir);
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", dir);
    char *a[] = {TINY, "--max-steps", "5", "--out", dir, NULL};
    run_ok(NULL, a);
    /* truncate it */
    char *orig = slurp(ckpt);
    struct stat st;
    stat(ckpt, &st);
    ck_assert_int_eq(truncate(ckpt, st.st_size / 2), 0);
    char *r[] = {"train", "--resume", dir, NULL};
    ck_assert_int_eq(run(NULL, r), 1);
    ck_assert(file_has("err.txt", "truncated"));
    stat(ckpt, &st);
    ck_assert_int_gt(st.st_size, 0);   /* left as it was */
    char *t[] = {"translate", "--model", ckpt, NULL};
    ck_assert_int_eq(run(NULL, t), 1);
    /* a foreign file */
    FILE *f = fopen(ckpt, "w");
    fputs("hello, I am not a checkpoint\n", f);
    fclose(f);
    ck_assert_int_eq(run(NULL, r), 1);
    ck_assert(file_has("err.txt", "not a tapegrad checkpoint"));
    free(orig);
}
END_TEST

/* Drops from text every line (config) or space-separated entry (model) that starts with one of
 * the keys: what a checkpoint written before those keys existed holds. */
static size_t drop_keys(char *text, size_t n, char sep, const char *const *keys, int nkeys) {
    size_t w = 0;
    for (size_t r = 0; r < n;) {
        size_t e = r;
        while (e < n && text[e] != sep) e++;
        if (e < n) e++;                                   /* the separator goes with it */
        bool drop = false;
        for (int k = 0; k < nkeys; k++)
            drop |= !strncmp(text + r, keys[k], strlen(keys[k]));
        if (!drop) { memmove(text + w, text + r, e - r); w += e - r; }
        r = e;
    }
    return w;
}

/* Rewrites ckpt, section by section, as an older build wrote it: without section `drop` (NULL:
 * none, else it must be there), and, when `switches`, as the version before the nonlinearity
 * switches (no switch keys in the config and model sections). */
static void write_old_style(const char *ckpt, const char *drop, bool switches) {
    static const char *const model_keys[] = {"attn_activation_at=", "attn_gate=",
                                             "residual_activation="};
    static const char *const cfg_keys[] = {"attn-activation-at =", "attn-gate =",
                                           "residual-activation ="};
    tg_err err;
    tg_ckpt_reader *rd;
    ck_assert_msg(tg_ckpt_reader_open(ckpt, &rd, &err) == TG_OK, "%s", err.msg);
    ck_assert(!drop || tg_ckpt_reader_find(rd, drop));
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    for (int i = 0; i < tg_ckpt_reader_count(rd); i++) {
        const char *name = tg_ckpt_reader_section(rd, i)->name;
        const void *p;
        size_t n;
        if (drop && !strcmp(name, drop)) continue;
        ck_assert(tg_ckpt_reader_get(rd, name, &p, &n, &err) == TG_OK);
        char *copy = malloc(n + 1);
        memcpy(copy, p, n);
        size_t m = n;
        bool is_model = !strcmp(name, "model");
        if (switches && (is_model || !strcmp(name, "config"))) {
            m = is_model ? drop_keys(copy, n, ' ', model_keys, 3) : drop_keys(copy, n, '\n', cfg_keys, 3);
            ck_assert_uint_lt(m, n);
        }
        ck_assert(tg_ckpt_writer_add(w, name, copy, m, &err) == TG_OK);
        free(copy);
    }
    tg_ckpt_reader_free(rd);
    ck_assert_msg(tg_ckpt_writer_save(w, ckpt, &err) == TG_OK, "%s", err.msg);
    tg_ckpt_writer_free(w);
}

/* `tapegrad ckpt diagnose` on a run trained without --diagnostics gives, at each kept
 * checkpoint's step, the rows the run would have written with --diagnostics (but grad_norm, which
 * a checkpoint cannot hold); run again, it writes the same bytes. */
START_TEST(test_ckpt_diagnose_equals_training_diagnostics) {
    char plain[300], diag[300], path[340];
    snprintf(plain, sizeof plain, "%s/dplain", tmpdir);
    snprintf(diag, sizeof diag, "%s/ddiag", tmpdir);
    char *a[] = {TINY, "--max-steps", "30", "--save-every", "10", "--keep", "10", "--out", plain, NULL};
    char *b[] = {TINY, "--max-steps", "30", "--diagnostics", "5", "--out", diag, NULL};
    run_ok(NULL, a);
    run_ok(NULL, b);
    char *d[] = {"ckpt", "diagnose", "--threads", "1", plain, NULL};
    run_ok(NULL, d);
    snprintf(path, sizeof path, "%s/diagnostics.tsv", plain);
    char *got = slurp(path);
    snprintf(path, sizeof path, "%s/diagnostics.tsv", diag);
    char *all = slurp(path);
    /* the training run's rows at the steps of plain's checkpoints, without grad_norm */
    size_t n = strlen(all), k = 0;
    char *want = malloc(n + 1);
    int steps_seen[64] = {0};
    for (char *line = all; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line + 1) : strlen(line);
        long step = strtol(line, NULL, 10);
        bool header = line == all;
        char name[400], text[256];
        snprintf(name, sizeof name, "%s/step-%ld.ckpt", plain, step);
        snprintf(text, sizeof text, "%.*s", (int)len, line);
        if (header || (step > 0 && exists(name) && !strstr(text, "\tgrad_norm\t"))) {
            memcpy(want + k, line, len);
            k += len;
            if (!header && step < 64) steps_seen[step] = 1;
        }
        line += len;
    }
    want[k] = '\0';
    ck_assert(steps_seen[10] && steps_seen[20] && steps_seen[30]);
    ck_assert_str_eq(got, want);
    run_ok(NULL, d);   /* again: the same rows, not twice */
    snprintf(path, sizeof path, "%s/diagnostics.tsv", plain);
    char *again = slurp(path);
    ck_assert_str_eq(again, got);
    /* a folder of kept step-N.ckpt alone (the task is synthetic: no vocab.txt), no last.ckpt: the same rows */
    char only[300], from[400], to[400];
    snprintf(only, sizeof only, "%s/donly", tmpdir);
    ck_assert_int_eq(mkdir(only, 0755), 0);
    int linked = 0;
    for (int step = 1; step <= 30; step++) {   /* every step-N.ckpt plain kept */
        snprintf(from, sizeof from, "%s/step-%d.ckpt", plain, step);
        snprintf(to, sizeof to, "%s/step-%d.ckpt", only, step);
        if (!exists(from)) continue;
        ck_assert_int_eq(link(from, to), 0);
        linked++;
    }
    ck_assert_int_ge(linked, 3);
    char *o[] = {"ckpt", "diagnose", "--threads", "1", only, NULL};
    run_ok(NULL, o);
    snprintf(path, sizeof path, "%s/diagnostics.tsv", only);
    char *from_kept = slurp(path);
    ck_assert_str_eq(from_kept, got);
    free(from_kept);
    snprintf(to, sizeof to, "%s/last.ckpt", only);   /* a last.ckpt that is not a checkpoint: refused */
    FILE *bad = fopen(to, "w");
    ck_assert_ptr_nonnull(bad);
    fputs("not a checkpoint\n", bad);
    fclose(bad);
    ck_assert_int_eq(run(NULL, o), 1);
    char *e[] = {"ckpt", "diagnose", diag, NULL};   /* a run with its own is left alone */
    snprintf(path, sizeof path, "%s/lock", diag);   /* even while a train holds its folder: it writes nothing */
    int lock = open(path, O_RDWR | O_CREAT, 0644);
    ck_assert(lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) == 0);
    run_ok(NULL, e);
    close(lock);
    snprintf(path, sizeof path, "%s/diagnostics.tsv", diag);
    char *kept = slurp(path);
    ck_assert_str_eq(kept, all);
    char *f[] = {"ckpt", "diagnose", tmpdir, NULL};   /* not a run folder */
    ck_assert_int_eq(run(NULL, f), 1);
    free(got);
    free(all);
    free(want);
    free(again);
    free(kept);
}
END_TEST

/* Checkpoints record every nonlinearity switch; one written before the switches existed loads
 * with the paper's values and resumes. */
START_TEST(test_switches_recorded_old_checkpoints_load) {
    char dir[300], ckpt[320];
    snprintf(dir, sizeof dir, "%s/sw", tmpdir);
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", dir);
    char *a[] = {TINY, "--max-steps", "3", "--attn-activation", "gelu", "--attn-activation-at",
                 "heads", "--attn-gate", "sigmoid", "--residual-activation", "relu", "--out", dir,
                 NULL};
    run_ok(NULL, a);
    tg_loaded L;
    tg_err err;
    ck_assert_msg(tg_run_load_model(ckpt, &L, &err) == TG_OK, "%s", err.msg);
    const tg_model_config *c = tg_model_cfg(L.model);
    ck_assert(c->attn_activation == TG_ACT_GELU && c->attn_activation_at == TG_ATTN_AT_HEADS &&
              c->attn_gate == TG_GATE_SIGMOID && c->residual_activation == TG_ACT_RELU);
    ck_assert_str_eq(L.cfg.attn_gate, "sigmoid");
    tg_loaded_free(&L);

    snprintf(dir, sizeof dir, "%s/old", tmpdir);
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", dir);
    char *b[] = {TINY, "--max-steps", "3", "--out", dir, NULL};
    run_ok(NULL, b);
    uint64_t h = param_hash(ckpt);
    write_old_style(ckpt, NULL, true);
    ck_assert_msg(tg_run_load_model(ckpt, &L, &err) == TG_OK, "%s", err.msg);
    c = tg_model_cfg(L.model);
    ck_assert(c->attn_activation == TG_ACT_NONE && c->attn_activation_at == TG_ATTN_AT_OUT &&
              c->attn_gate == TG_GATE_NONE && c->residual_activation == TG_ACT_NONE);
    ck_assert_uint_eq(L.param_hash, h);
    tg_loaded_free(&L);
    char *r[] = {"train", "--resume", dir, "--max-steps", "5", NULL};
    run_ok(NULL, r);
    ck_assert(tg_run_load_model(ckpt, &L, &err) == TG_OK);
    ck_assert_int_eq(L.st.step, 5);
    tg_loaded_free(&L);
}
END_TEST

/* The train rows of the uninterrupted run the resume tests compare with: TINY to step 50 in
 * tmpdir/a (rows every 10); the parameter hash of its last.ckpt in *hash. */
static char *uninterrupted_rows(uint64_t *hash) {
    char a[300], p[340];
    snprintf(a, sizeof a, "%s/a", tmpdir);
    char *full[] = {TINY, "--max-steps", "50", "--out", a, NULL};
    run_ok(NULL, full);
    snprintf(p, sizeof p, "%s/last.ckpt", a);
    *hash = param_hash(p);
    snprintf(p, sizeof p, "%s/metrics.tsv", a);
    char *rows = train_rows(p);
    ck_assert_msg(strstr(rows, "\n30 ") && strstr(rows, "\n50 "), "%s", rows);
    return rows;
}

/* That run stopped mid-interval, at step 23, in tmpdir/name; its last.ckpt without section
 * `drop` (NULL: as written); then resumed to step 50 on `threads`. Its train rows, and the
 * parameter hash in *hash. */
static char *stopped_and_resumed(const char *name, const char *drop, char *threads, uint64_t *hash) {
    char dir[300], p[340];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    char *part[] = {TINY, "--max-steps", "23", "--out", dir, NULL};
    run_ok(NULL, part);
    snprintf(p, sizeof p, "%s/last.ckpt", dir);
    if (drop) write_old_style(p, drop, false);
    char *more[] = {"train", "--resume", dir, "--max-steps", "50", "--threads", threads, NULL};
    run_ok(NULL, more);
    ck_assert(file_has("err.txt", "resumed at step 23"));
    *hash = param_hash(p);
    snprintf(p, sizeof p, "%s/metrics.tsv", dir);
    return train_rows(p);
}

/* A resumed run's metrics rows equal an uninterrupted run's in every column its bits decide: the
 * checkpoint holds the sums of the interval since the last row, so the first row after a resume
 * averages the same updates (before, only those since the resume). Stopped mid-interval at a
 * run's end and resumed on 1 thread; and rolled back to a periodic save (step-28.ckpt as
 * last.ckpt, what a kill after that save leaves) and resumed on 2. */
START_TEST(test_resume_metrics_rows_equal) {
    uint64_t h, h2;
    char *want = uninterrupted_rows(&h), *got = stopped_and_resumed("b", NULL, "1", &h2);
    ck_assert_str_eq(got, want);
    ck_assert(h2 == h);
    free(got);
    char c[300], p[340], q[340];
    snprintf(c, sizeof c, "%s/c", tmpdir);
    char *saving[] = {TINY, "--max-steps", "50", "--save-every", "7", "--keep", "10", "--out", c, NULL};
    run_ok(NULL, saving);
    snprintf(p, sizeof p, "%s/step-28.ckpt", c);
    snprintf(q, sizeof q, "%s/last.ckpt", c);
    ck_assert_int_eq(rename(p, q), 0);
    char *back[] = {"train", "--resume", c, NULL};
    run_ok(NULL, back);
    ck_assert(file_has("err.txt", "resumed at step 28"));
    snprintf(p, sizeof p, "%s/metrics.tsv", c);
    got = train_rows(p);
    ck_assert_str_eq(got, want);
    free(got);
    free(want);
}
END_TEST

/* A checkpoint of a build from before the interval was saved (no section 'interval') resumes
 * exactly, its interval starting empty: the same parameters as an uninterrupted run, and the
 * same rows but the first after the resume. (An older build passes over the section: readers
 * look sections up by name.) */
START_TEST(test_checkpoint_without_interval_resumes) {
    uint64_t h, h2;
    char *want = uninterrupted_rows(&h), *got = stopped_and_resumed("o", "interval", "2", &h2);
    ck_assert(h2 == h);
    int rows = 0;
    for (char *line = strtok(want, "\n"); line; line = strtok(NULL, "\n"), rows++) {
        bool first_after = !strncmp(line, "30 ", 3);   /* averages steps 24-30 alone, as before */
        ck_assert_msg(first_after == !strstr(got, line), "row '%s' in\n%s", line, got);
    }
    ck_assert_int_eq(rows, 5);
    free(want);
    free(got);
}
END_TEST

/* Epochs count from 1, as fairseq's and as the progress line always did: metrics.tsv's epoch
 * column (train and valid rows) and the resume's line say 2 for a step in the second epoch (they
 * said 1, counting from 0). */
START_TEST(test_epochs_count_from_1) {
    char dir[300], p[340];
    snprintf(dir, sizeof dir, "%s/ep", tmpdir);
    char *a[] = {TINY, "--max-steps", "30", "--out", dir, NULL};
    run_ok(NULL, a);
    snprintf(p, sizeof p, "%s/err.txt", tmpdir);
    char *log = slurp(p), *at = strstr(log, " batches an epoch");
    ck_assert_ptr_nonnull(at);
    while (at > log && at[-1] >= '0' && at[-1] <= '9') at--;
    long nb = strtol(at, NULL, 10);
    free(log);
    ck_assert_msg(nb >= 10 && nb < 30, "%ld batches an epoch", nb);   /* rows at 10 and 30 in epochs 1 and 2 */
    snprintf(p, sizeof p, "%s/metrics.tsv", dir);
    char *text = slurp(p);
    int rows = 0, second = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char kind[16];
        long long step, epoch;
        if (sscanf(line, "%15[^\t]\t%lld\t%lld\t", kind, &step, &epoch) != 3) continue;   /* the header */
        ck_assert_msg(epoch == (step - 1) / nb + 1, "%s row at step %lld: epoch %lld", kind, step, epoch);
        rows++;
        second += epoch == 2;
    }
    free(text);
    ck_assert_int_ge(rows, 4);
    ck_assert_int_ge(second, 1);
    ck_assert(file_has("err.txt", "step 30 | epoch 2 |"));
    char *r[] = {"train", "--resume", dir, "--max-steps", "31", NULL};
    run_ok(NULL, r);
    ck_assert(file_has("err.txt", "resumed at step 30 (epoch 2,"));
}
END_TEST

/* --diagnostics: it changes nothing in training (same parameters bit for bit), writes the long
 * format with every metric, and survives a resume: rows a crash left past the checkpoint (and a
 * torn last line) are dropped, so the resumed file equals the uninterrupted one byte for byte;
 * and 1 thread gives the bytes of 2. */
START_TEST(test_diagnostics_no_effect_and_resume) {
    char plain[300], diag[300], res[300], path[340];
    snprintf(plain, sizeof plain, "%s/plain", tmpdir);
    snprintf(diag, sizeof diag, "%s/diag", tmpdir);
    snprintf(res, sizeof res, "%s/res", tmpdir);
    char *a[] = {TINY, "--max-steps", "30", "--out", plain, NULL};
    char *b[] = {TINY, "--max-steps", "30", "--diagnostics", "5", "--out", diag, NULL};
    char *c[] = {TINY, "--max-steps", "20", "--diagnostics", "5", "--out", res, NULL};
    run_ok(NULL, a);
    run_ok(NULL, b);
    run_ok(NULL, c);
    snprintf(path, sizeof path, "%s/last.ckpt", plain);
    uint64_t h_plain = param_hash(path);
    snprintf(path, sizeof path, "%s/last.ckpt", diag);
    ck_assert_uint_eq(param_hash(path), h_plain);
    snprintf(path, sizeof path, "%s/diagnostics.tsv", plain);
    ck_assert(!exists(path));
    ck_assert(file_has("diag/diagnostics.tsv", "step\tstack\tlayer\tsublayer\tmetric\tvalue\n5\tenc\t0\tself_attn\tzero_frac\t0\n"));
    const char *metrics[] = {"\t0\tself_attn\tbranch_mean\t", "\t0\tffn\tbranch_rms\t", "\t0\tffn\tresid_dep\t",
                             "\t0\tcross_attn\tattn_entropy\t", "\t0\tlayer\trank_resid\t", "30\tdec\t0\tlayer\tgrad_norm\t"};
    for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++) ck_assert(file_has("diag/diagnostics.tsv", metrics[i]));
    /* what a crash after step 25's rows and before its checkpoint leaves, then a torn row */
    snprintf(path, sizeof path, "%s/diagnostics.tsv", res);
    FILE *f = fopen(path, "a");
    fputs("25\tenc\t0\tself_attn\tzero_frac\t0\n25\tenc\t0\tself_attn\tbranch_m", f);
    fclose(f);
    char *r[] = {"train", "--resume", res, "--max-steps", "30", NULL};
    run_ok(NULL, r);
    char dpath[340];
    snprintf(dpath, sizeof dpath, "%s/diagnostics.tsv", diag);
    char *want = slurp(dpath), *got = slurp(path);
    ck_assert_str_eq(got, want);
    free(got);
    /* one thread writes the same bytes as two */
    char one[300];
    snprintf(one, sizeof one, "%s/one", tmpdir);
    char *d[] = {TINY, "--max-steps", "30", "--diagnostics", "5", "--threads", "1", "--out", one, NULL};
    run_ok(NULL, d);
    snprintf(path, sizeof path, "%s/diagnostics.tsv", one);
    got = slurp(path);
    ck_assert_str_eq(got, want);
    free(want);
    free(got);
}
END_TEST

/* ---- translate, eval, ckpt ---- */

/* Lines in a file of this test's folder: n lines of 1..8 of words[0..9], every 5th one empty. */
static const char *sentences_file(const char *name, int n, const char *const *words) {
    static char path[300];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    srand(11);
    for (int i = 0; i < n; i++) {
        int k = i % 5 == 4 ? 0 : 1 + rand() % 8;
        for (int j = 0; j < k; j++) fprintf(f, "%s%s", j ? " " : "", words[rand() % 10]);
        fputc('\n', f);
    }
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* translate decodes a window of 16 batches at a time and prints it in input order: the same lines
 * whatever the batch (so the window), empty lines at the windows' edges included; and a SIGINT
 * while it decodes stops it between batches with the lines decoded before written, whole and in
 * order (before, it died with nothing written). */
static void translate_windows(const char *ckpt, const char *const *words) {
    char in[300], out[300], errf[300];
    snprintf(in, sizeof in, "%s", sentences_file("window.txt", 500, words));
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    snprintf(errf, sizeof errf, "%s/err.txt", tmpdir);
    char *whole = NULL;
    const char *batches[] = {"100000", "2", "1", "7"};   /* one window (the whole input sorted), then many */
    for (int b = 0; b < 4; b++) {
        char *t[] = {"translate", "--model", (char *)ckpt, "--input", in, "--beam", "2", "--batch",
                     (char *)batches[b], NULL};
        run_ok(NULL, t);
        char *o = slurp(out);
        ck_assert_int_eq(count_lines(o), 500);
        if (!whole) whole = o;
        else {
            ck_assert_msg(!strcmp(o, whole), "--batch %s translates otherwise than one window", batches[b]);
            free(o);
        }
    }
    /* a SIGINT as soon as the first window is out: exit 130, a prefix of the whole output */
    int n = 20000;
    snprintf(in, sizeof in, "%s", sentences_file("many.txt", n, words));
    char *t[] = {"translate", "--model", (char *)ckpt, "--input", in, "--beam", "1", "--batch", "1", NULL};
    unlink(out);   /* (the last command's would be taken for this one's first lines) */
    pid_t pid = spawn(out, errf, NULL, t);
    struct stat st = {0};
    for (int i = 0; i < 60000 && (stat(out, &st) != 0 || st.st_size == 0); i++) sleep_us(1000);
    ck_assert_int_gt(st.st_size, 0);
    kill(pid, SIGINT);
    ck_assert_int_eq(wait_rc(pid), 130);
    char *o = slurp(out);
    int p = count_lines(o);
    ck_assert_int_ge(p, 16);
    ck_assert_int_lt(p, n);
    ck_assert(o[strlen(o) - 1] == '\n');   /* whole lines */
    char said[200];
    snprintf(said, sizeof said, "stopped by signal 2: the first %d of %d lines are written, in order; the rest was "
             "not translated (it starts at line %d of the input)", p, n, p + 1);
    ck_assert(file_has("err.txt", said));
    /* the same lines as a run to the end gives */
    char *t1[] = {"translate", "--model", (char *)ckpt, "--input", in, "--beam", "1", NULL};
    char *prefix = o;
    o = NULL;
    run_ok(NULL, t1);
    o = slurp(out);
    ck_assert_int_eq(count_lines(o), n);
    ck_assert(!strncmp(o, prefix, strlen(prefix)));
    /* a SIGHUP ignored from the start (nohup) stays ignored: the same run goes to the end */
    unlink(out);
    fflush(NULL);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGHUP, SIG_IGN);
        dup2(open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), 1);
        dup2(open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644), 2);
        _exit(tg_cli_dispatch(7, t1));
    }
    for (int i = 0; i < 60000 && (stat(out, &st) != 0 || st.st_size == 0); i++) sleep_us(1000);
    kill(pid, SIGHUP);
    ck_assert_int_eq(wait_rc(pid), 0);
    char *hup = slurp(out);
    ck_assert(!strcmp(hup, o));
    free(hup);
    /* a SIGTERM while the write to a stalled reader waits: the write goes on once the reader
     * reads, then the stop; it was interrupted, and stdio dropped what it held (a piece from the
     * middle of a line lost, "cannot write the output: write error", exit 1) */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        dup2(open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644), 2);
        _exit(tg_cli_dispatch(7, t1));
    }
    close(fds[1]);
    /* in its write: Linux names the wait (/proc/PID/wchan); a kernel that hides it says "0", and
     * then the pipe holding the same bytes for a second (nobody reads them) stands for it */
    char wchan_path[64], wchan[64] = "";
    snprintf(wchan_path, sizeof wchan_path, "/proc/%d/wchan", (int)pid);
    int queued = 0, same = 0;
    for (int i = 0; i < 6000 && !strstr(wchan, "pipe_write"); i++) {
        sleep_us(10000);
        FILE *w = fopen(wchan_path, "r");
        size_t got = w ? fread(wchan, 1, sizeof wchan - 1, w) : 0;
        wchan[got] = '\0';
        if (w) fclose(w);
        int now = 0;
        ioctl(fds[0], FIONREAD, &now);
        same = now > 0 && now == queued ? same + 1 : 0;
        queued = now;
        if ((!strcmp(wchan, "0") || !*wchan) && same >= 100) break;
    }
    ck_assert_msg(strstr(wchan, "pipe_write") || same >= 100,
                  "translate never waited in its write to the pipe (%s, %d bytes in it)", wchan,
                  queued);
    kill(pid, SIGTERM);
    sleep_us(100000);   /* taken in the write */
    FILE *r = fdopen(fds[0], "r");
    char *piped = calloc(strlen(o) + 1, 1);
    size_t got = fread(piped, 1, strlen(o), r);
    fclose(r);
    ck_assert_int_eq(wait_rc(pid), 143);
    ck_assert_uint_gt(got, 0);
    ck_assert_uint_lt(got, strlen(o));
    ck_assert(piped[got - 1] == '\n' && !strncmp(piped, o, got));   /* whole lines, the run's own */
    ck_assert(file_has("err.txt", "stopped by signal 15: the first "));
    free(piped);
    free(o);
    free(prefix);
    free(whole);
}

START_TEST(test_translate_eval_ckpt_on_tsv_files) {
    char train[300], dev[300], dir[300], ckpt[320], best[320], in[300];
    snprintf(train, sizeof train, "%s/train.tsv", tmpdir);
    snprintf(dev, sizeof dev, "%s/dev.tsv", tmpdir);
    snprintf(dir, sizeof dir, "%s/tsv", tmpdir);
    const char *words[] = {"the", "house", "is", "red", "green", "a", "dog", "runs", "fast", "slow"};
    const char *palabras[] = {"la", "casa", "es", "roja", "verde", "un", "perro", "corre", "rápido", "lento"};
    FILE *ft = fopen(train, "w"), *fd = fopen(dev, "w");
    srand(7);
    for (int i = 0; i < 300; i++) {
        int n = 2 + rand() % 5;
        int w[8];
        for (int k = 0; k < n; k++) w[k] = rand() % 10;
        FILE *f = i < 280 ? ft : fd;
        for (int k = 0; k < n; k++) fprintf(f, "%s%s", k ? " " : "", words[w[k]]);
        fputc('\t', f);
        for (int k = 0; k < n; k++) fprintf(f, "%s%s", k ? " " : "", palabras[w[k]]);
        fputc('\n', f);
    }
    fclose(ft);
    fclose(fd);
    char *a[] = {"train", "--train", train, "--dev", dev, "--out", dir, "--merges", "30", "--d-model", "16",
                 "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-steps", "30", "--valid-every", "15",
                 "--log-every", "10", "--threads", "2", NULL};
    run_ok(NULL, a);
    char p[320];
    snprintf(p, sizeof p, "%s/vocab.txt", dir);
    ck_assert(exists(p));
    snprintf(best, sizeof best, "%s/best.ckpt", dir);
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", dir);
    ck_assert(exists(best));
    ck_assert(file_has("err.txt", "valid step 30"));
    ck_assert(file_has("tsv/metrics.tsv", "kind\tstep\tepoch"));
    ck_assert(file_has("tsv/metrics.tsv", "valid\t15\t"));
    ck_assert(file_has("tsv/metrics.tsv", "train\t30\t"));
    /* translate: same number of lines, an empty line stays empty, order kept */
    snprintf(in, sizeof in, "%s/in.txt", tmpdir);
    FILE *fi = fopen(in, "w");
    fputs("the house is red\n\nthe dog runs\n   \nüñíçødé text never seen\n", fi);
    fclose(fi);
    char *t[] = {"translate", "--model", ckpt, "--beam", "2", NULL};
    ck_assert_int_eq(run(in, t), 0);
    char path[320];
    snprintf(path, sizeof path, "%s/out.txt", tmpdir);
    char *o = slurp(path);
    int lines = 0;
    for (char *q = o; *q; q++) lines += *q == '\n';
    ck_assert_int_eq(lines, 5);
    char *second = strchr(o, '\n') + 1;
    ck_assert(second[0] == '\n');   /* the empty line */
    free(o);
    ck_assert(file_has("err.txt", "sentences/s"));
    /* greedy and --input give the same number of lines */
    char *t2[] = {"translate", "--model", ckpt, "--input", in, "--beam", "1", NULL};
    run_ok(NULL, t2);
    translate_windows(ckpt, words);
    /* eval */
    char *e[] = {"eval", "--model", best, "--data", dev, "--json", "--beam", "1", NULL};
    run_ok(NULL, e);
    ck_assert(file_has("out.txt", "\"bleu\": {\"score\": "));
    ck_assert(file_has("out.txt", "\"token_accuracy\": 0.") && file_has("out.txt", "\"confidence\": 0."));
    ck_assert(file_has("out.txt", "\"temperature\": 1, \"stats_nll\": "));
    ck_assert(file_has("out.txt", "\"signature\": \"nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0\""));
    char *et[] = {"eval", "--model", best, "--data", dev, "--beam", "1", "--temperature", "1.5", NULL};
    run_ok(NULL, et);
    ck_assert(file_has("out.txt", "at T = 1.5") && file_has("out.txt", "nll at T"));
    char *tiny[] = {"eval", "--model", best, "--data", dev, "--beam", "1", "--temperature", "1e-6", NULL};
    run_ok(NULL, tiny);   /* the least T: finite statistics */
    /* one-hot at the least T: numbers, not the -nan of 1e-308 ("nan" alone: no token of that kind) */
    ck_assert(file_has("out.txt", "nll at T    ") && !file_has("out.txt", "-nan"));
    ck_assert(file_has("out.txt", "entropy     0.0000") && file_has("out.txt", "confidence  1.0000"));
    char *e0[] = {"eval", "--model", best, "--data", dev, "--temperature", "0", NULL};
    ck_assert_int_eq(run(NULL, e0), 2);
    ck_assert(file_has("err.txt", "--temperature wants a number in [1e-06, 1e+06], not '0'"));
    /* ckpt info, verify, average */
    char *i1[] = {"ckpt", "info", ckpt, NULL};
    run_ok(NULL, i1);
    ck_assert(file_has("out.txt", "param checksum"));
    ck_assert(file_has("out.txt", "step            30"));
    char avg[320];
    snprintf(avg, sizeof avg, "%s/avg.ckpt", tmpdir);
    char *av[] = {"ckpt", "average", ckpt, best, "-o", avg, NULL};
    run_ok(NULL, av);
    tg_loaded A, B, C;
    tg_err err;
    ck_assert_int_eq(tg_run_load_model(ckpt, &A, &err), TG_OK);
    ck_assert_int_eq(tg_run_load_model(best, &B, &err), TG_OK);
    ck_assert_int_eq(tg_run_load_model(avg, &C, &err), TG_OK);
    tg_params *pa = tg_model_params(A.model), *pb = tg_model_params(B.model), *pc = tg_model_params(C.model);
    for (int64_t k = 0; k < tg_params_numel(pa); k++) {
        double want = ((double)tg_params_data(pa)[k] + (double)tg_params_data(pb)[k]) / 2;
        ck_assert(fabs(tg_params_data(pc)[k] - want) <= 1e-6 * fabs(want) + 1e-12);
    }
    tg_loaded_free(&A);
    tg_loaded_free(&B);
    tg_loaded_free(&C);
    char *v[] = {"ckpt", "verify", avg, NULL};
    run_ok(NULL, v);
    /* an averaged checkpoint has no optimiser state: it translates but does not resume */
    char *ir[] = {"ckpt", "info", "--json", avg, NULL};
    run_ok(NULL, ir);
    ck_assert(file_has("out.txt", "\"optimizer_state\": false"));
    /* without a dev set, diagnostics look at the first training pairs */
    char nodev[300];
    snprintf(nodev, sizeof nodev, "%s/nodev", tmpdir);
    char *nd[] = {"train", "--train", train, "--out", nodev, "--merges", "30", "--d-model", "16", "--heads", "2",
                  "--d-ff", "32", "--layers", "1", "--max-steps", "2", "--diagnostics", "1", "--threads", "2", NULL};
    run_ok(NULL, nd);
    ck_assert(file_has("nodev/diagnostics.tsv", "\n2\tdec\t0\tlayer\tgrad_norm\t"));
}
END_TEST

START_TEST(test_bad_training_data_message) {
    char train[300], dir[300];
    snprintf(train, sizeof train, "%s/bad.tsv", tmpdir);
    snprintf(dir, sizeof dir, "%s/r", tmpdir);
    FILE *f = fopen(train, "w");
    fputs("one\tuno\ntwo dos\nthree\ttres\n", f);
    fclose(f);
    char *a[] = {"train", "--train", train, "--out", dir, "--max-steps", "1", NULL};
    ck_assert_int_eq(run(NULL, a), 1);
    ck_assert(file_has("err.txt", "bad.tsv:2"));
    char *b[] = {"train", "--train", train, "--out", dir, "--max-steps", "1", "--on-bad-line", "skip",
                 "--merges", "5", "--d-model", "8", "--heads", "2", "--d-ff", "8", "--layers", "1", NULL};
    run_ok(NULL, b);
    ck_assert(file_has("err.txt", "skipped 1 line"));
}
END_TEST

/* Neither a tab nor an ESC of a value in err.txt: each quoted as \x09, \x1B. */
static bool no_raw_bytes(void) {
    char path[300];
    snprintf(path, sizeof path, "%s/err.txt", tmpdir);
    char *s = slurp(path);
    bool none = !strchr(s, '\t') && !strchr(s, '\x1b');
    if (!none) fprintf(stderr, "--- a raw tab or ESC in err.txt:\n%s\n", s);
    free(s);
    return none;
}

/* A flag's value with a tab or an ESC is quoted in its refusal escaped (\x09, \x1B): the choices',
 * the numbers' and the duration's refusals quoted it raw, and tg_err passes a tab, so 'po<TAB>st'
 * reached stderr with its tab. */
START_TEST(test_flag_values_shown_escaped) {
    static const struct { const char *flag, *value, *message; } cases[] = {
        {"--norm", "po\tst\x1b[31m", "--norm: 'po\\x09st\\x1B[31m' is not one of post|pre\n"},
        {"--lr", "1\t\x1b[31m", "--lr: '1\\x09\\x1B[31m' is not a number\n"},
        {"--max-steps", "5\t\x1b[31m", "--max-steps: '5\\x09\\x1B[31m' is not a whole number\n"},
        {"--time-limit", "1h\t\x1b[31m", "--time-limit: bad duration '1h\\x09\\x1B[31m' (e.g. 30m"},
    };
    char out[300];
    snprintf(out, sizeof out, "%s/r", tmpdir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *a[] = {"train", "--task", "copy", "--out", out, (char *)cases[i].flag,
                     (char *)cases[i].value, NULL};
        ck_assert_int_eq(run(NULL, a), 2);
        ck_assert(file_has("err.txt", cases[i].message));
        ck_assert(no_raw_bytes());
        ck_assert(!exists(out));
    }
}
END_TEST

/* A --config file's line, key or value with a tab or an ESC is quoted in its refusal escaped. */
START_TEST(test_config_lines_shown_escaped) {
    static const struct { const char *text, *message; } cases[] = {
        {"lr = \"1\t\x1b[31m\"\n", "c.cfg:1: --lr: '1\\x09\\x1B[31m' is not a number\n"},
        {"a\tb\x1b[31m\n", "c.cfg:1: expected 'key = value', got 'a\\x09b\\x1B[31m'\n"},
        {"no\tsuch\x1b[31m = 1\n", "c.cfg:1: unknown setting 'no\\x09such\\x1B[31m'\n"},
        {"x\ty\x1b[31m = \"1\n",
         "c.cfg:1: x\\x09y\\x1B[31m: unterminated or malformed quoted value\n"},
        {"no-tie-embeddings = ye\ts\x1b[31m\n",
         "c.cfg:1: --no-tie-embeddings: 'ye\\x09s\\x1B[31m' is not true or false\n"},
    };
    char out[300], cfg[300];
    snprintf(out, sizeof out, "%s/r", tmpdir);
    snprintf(cfg, sizeof cfg, "%s/c.cfg", tmpdir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_cli_write(cfg, cases[i].text);
        char *a[] = {"train", "--task", "copy", "--out", out, "--config", cfg, NULL};
        ck_assert_int_eq(run(NULL, a), 2);
        ck_assert(file_has("err.txt", cases[i].message));
        ck_assert(no_raw_bytes());
        ck_assert(!exists(out));
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("commands");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_schedule_flags_refused_before_writing);
    tcase_add_test(tc, test_config_file_and_flags);
    tcase_add_test(tc, test_resume_checks_edited_config_txt);
    tcase_add_test(tc, test_resume_refuses_unreadable_config_txt);
    tcase_add_test(tc, test_model_flags_agree_with_nn_limits);
    tcase_add_test(tc, test_usage_errors);
    tcase_add_test(tc, test_resume_is_exact_after_sigkill);
    tcase_add_test(tc, test_resume_extends_max_steps);
    tcase_add_test(tc, test_fit_steps_equals_max_steps);
    tcase_add_test(tc, test_accum_shards_resume_exact);
    tcase_add_test(tc, test_sigint_saves_and_exits_0);
    tcase_add_test(tc, test_stop_signal_taken_when_started_blocked);
    tcase_add_test(tc, test_stop_signal_keeps_a_blocked_log_line);
    tcase_add_test(tc, test_stop_signal_with_a_stalled_console);
    tcase_add_test(tc, test_broken_pipe_stops_saved);
    tcase_add_test(tc, test_pause_is_not_training_time);
    tcase_add_test(tc, test_sigterm_in_first_save);
    tcase_add_test(tc, test_stop_inside_validation_resumes_exact);
    tcase_add_test(tc, test_cosine_resume_longer_warned);
    tcase_add_test(tc, test_extension_off_the_grid_warned);
    tcase_add_test(tc, test_nan_updates_skipped_then_reload);
    tcase_add_test(tc, test_failed_step_saves_the_steps_before);
    tcase_add_test(tc, test_bad_checkpoints_refused_intact);
    tcase_add_test(tc, test_switches_recorded_old_checkpoints_load);
    tcase_add_test(tc, test_resume_metrics_rows_equal);
    tcase_add_test(tc, test_checkpoint_without_interval_resumes);
    tcase_add_test(tc, test_epochs_count_from_1);
    tcase_add_test(tc, test_diagnostics_no_effect_and_resume);
    tcase_add_test(tc, test_ckpt_diagnose_equals_training_diagnostics);
    tcase_add_test(tc, test_translate_eval_ckpt_on_tsv_files);
    tcase_add_test(tc, test_bad_training_data_message);
    tcase_add_test(tc, test_flag_values_shown_escaped);
    tcase_add_test(tc, test_config_lines_shown_escaped);
    suite_add_tcase(s, tc);
    int failed = tg_check_run(s);
    return failed ? 1 : 0;
}
