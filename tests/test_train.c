/* test_train.c: the `tapegrad train` family end to end, each command run in a forked child as a
 * user would run it (exit codes, files, messages): settings and config files, exact resume after
 * SIGKILL at random moments (also while a checkpoint is being written), SIGINT, NaN/Inf handling,
 * refused checkpoints, translate, eval, ckpt info/average, and a run on TSV files with BPE. */
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "train/cli/commands.h"
#include "train/run/options.h"
#include "train/run/run.h"
#include "tests/tg_check.h"

static char tmpdir[256];

static void sleep_us(double us) {
    struct timespec ts = {(time_t)(us / 1e6), (long)(fmod(us, 1e6) * 1e3)};
    nanosleep(&ts, NULL);
}

static void setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tg_train_test_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Starts `tapegrad <argv...>` (NULL-terminated) in a child with stdout/stderr to files. */
static pid_t spawn(const char *out, const char *errf, const char *in, char **argv) {
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), fe = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fo, 1);
        dup2(fe, 2);
        if (in) { int fi = open(in, O_RDONLY); dup2(fi, 0); }
        int argc = 0;
        while (argv[argc]) argc++;
        int rc;
        if (!strcmp(argv[0], "train")) rc = tg_cmd_train(argc, argv);
        else if (!strcmp(argv[0], "translate")) rc = tg_cmd_translate(argc, argv);
        else if (!strcmp(argv[0], "eval")) rc = tg_cmd_eval(argc, argv);
        else if (!strcmp(argv[0], "ckpt")) rc = tg_cmd_ckpt(argc, argv);
        else rc = 99;
        fflush(NULL);
        _exit(rc);
    }
    return pid;
}

static int wait_rc(pid_t pid) {
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs a command to completion; its stderr goes to tmpdir/err.txt, stdout to tmpdir/out.txt. */
static int run(const char *in, char **argv) {
    char out[300], errf[300];
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    snprintf(errf, sizeof errf, "%s/err.txt", tmpdir);
    return wait_rc(spawn(out, errf, in, argv));
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

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
    ck_assert_int_eq(tg_run_config_set(&c, "dropout", "1.5", &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_run_config_set(&c, "heads", "four", &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_run_config_set(&c, "layers", "5", &err), TG_OK);
    ck_assert(c.enc_layers == 5 && c.dec_layers == 5);
    double s;
    ck_assert_int_eq(tg_parse_duration("2h", &s, &err), TG_OK);
    ck_assert(s == 7200);
    ck_assert_int_eq(tg_parse_duration("90s", &s, &err), TG_OK);
    ck_assert(s == 90);
    ck_assert_int_ne(tg_parse_duration("10x", &s, &err), TG_OK);
    ck_assert_int_ne(tg_parse_duration("", &s, &err), TG_OK);
}
END_TEST

START_TEST(test_usage_errors) {
    char *a1[] = {"train", "--no-such-flag", NULL};
    ck_assert_int_eq(run(NULL, a1), 2);
    char *a2[] = {"train", "--help", NULL};
    ck_assert_int_eq(run(NULL, a2), 0);
    ck_assert(file_has("out.txt", "--attn-activation"));
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
    char *a6[] = {"translate", "--model", "/nonexistent.ckpt", NULL};
    ck_assert_int_eq(run(NULL, a6), 1);
    char *a7[] = {"translate", "--bogus", NULL};
    ck_assert_int_eq(run(NULL, a7), 2);
    char *a8[] = {"eval", "--help", NULL};
    ck_assert_int_eq(run(NULL, a8), 0);
}
END_TEST

/* ---- exact resume ---- */

START_TEST(test_resume_is_exact_after_sigkill) {
    char ref[300], dir[300], ckpt[320];
    snprintf(ref, sizeof ref, "%s/ref", tmpdir);
    /* 2N = 60 updates in one go (dropout on, so the dropout stream must resume too) */
    char *a[] = {TINY, "--dropout", "0.1", "--save-every", "1", "--max-steps", "60", "--out", ref, NULL};
    ck_assert_int_eq(run(NULL, a), 0);
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", ref);
    uint64_t want = param_hash(ckpt);
    /* the same run killed at random moments (a checkpoint is written every step, so many kills land
     * inside a save), then resumed to 60; saved every step, the run spends most of its time saving */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    snprintf(dir, sizeof dir, "%s/probe", tmpdir);
    a[sizeof a / sizeof a[0] - 2] = dir;
    ck_assert_int_eq(run(NULL, a), 0);
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
            ck_assert_int_eq(run(NULL, a), 0);
        } else {
            char *r[] = {"train", "--resume", dir, NULL};
            ck_assert_int_eq(run(NULL, r), 0);
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
    ck_assert_int_eq(run(NULL, full), 0);
    char *half[] = {TINY, "--max-steps", "20", "--threads", "1", "--out", b1, NULL};
    ck_assert_int_eq(run(NULL, half), 0);
    char *more[] = {"train", "--resume", b1, "--max-steps", "40", "--threads", "2", NULL};
    ck_assert_int_eq(run(NULL, more), 0);
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
    ck_assert_int_eq(run(NULL, same), 0);
    /* a fresh run into a run folder is refused: nothing is overwritten */
    ck_assert_int_eq(run(NULL, full), 1);
    ck_assert(file_has("err.txt", "--resume"));
}
END_TEST

/* --accum-shards 2 (dropout on: each shard's stream must resume too) resumes exactly; the shard
 * count is fixed for a run. */
START_TEST(test_accum_shards_resume_exact) {
    char a1[300], b1[300], p[320];
    snprintf(a1, sizeof a1, "%s/a", tmpdir);
    snprintf(b1, sizeof b1, "%s/b", tmpdir);
    char *full[] = {TINY, "--accum-shards", "2", "--dropout", "0.1", "--max-steps", "30", "--out", a1, NULL};
    ck_assert_int_eq(run(NULL, full), 0);
    char *half[] = {TINY, "--accum-shards", "2", "--dropout", "0.1", "--max-steps", "15", "--out", b1, NULL};
    ck_assert_int_eq(run(NULL, half), 0);
    char *more[] = {"train", "--resume", b1, "--max-steps", "30", "--threads", "1", NULL};
    ck_assert_int_eq(run(NULL, more), 0);
    ck_assert(file_has("err.txt", "resumed at step 15"));
    snprintf(p, sizeof p, "%s/last.ckpt", a1);
    uint64_t ha = param_hash(p);
    snprintf(p, sizeof p, "%s/last.ckpt", b1);
    ck_assert(param_hash(p) == ha);
    char *other[] = {"train", "--resume", b1, "--accum-shards", "3", "--max-steps", "40", NULL};
    ck_assert_int_eq(run(NULL, other), 2);
    ck_assert(file_has("err.txt", "--accum-shards cannot change when resuming (the run has 2)"));
}
END_TEST

START_TEST(test_sigint_saves_and_exits_0) {
    char dir[300], ckpt[320], out[320], errf[320];
    snprintf(dir, sizeof dir, "%s/int", tmpdir);
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", dir);
    snprintf(out, sizeof out, "%s/int.out", tmpdir);
    snprintf(errf, sizeof errf, "%s/int.err", tmpdir);
    char *a[] = {TINY, "--max-steps", "1000000", "--save-every", "0", "--valid-every", "0", "--out", dir, NULL};
    pid_t pid = spawn(out, errf, NULL, a);
    for (int i = 0; i < 400 && !exists(ckpt); i++) sleep_us(10000);   /* the step-0 checkpoint */
    sleep_us(300000);
    kill(pid, SIGINT);
    ck_assert_int_eq(wait_rc(pid), 0);
    ck_assert(file_has("int.err", "resume with: tapegrad train --resume"));
    tg_loaded L;
    tg_err err;
    ck_assert_int_eq(tg_run_load_model(ckpt, &L, &err), TG_OK);
    ck_assert_int_gt(L.st.step, 0);   /* the steps done before the signal are saved */
    tg_loaded_free(&L);
}
END_TEST

START_TEST(test_nan_updates_skipped_then_reload) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/nan", tmpdir);
    /* updates 5 and 6 skipped, then attempts 12..14 in a row: a reload with half the lr */
    setenv("TAPEGRAD_INJECT_NAN", "12:3", 1);
    char *a[] = {TINY, "--max-steps", "30", "--save-every", "5", "--max-bad-steps", "3", "--out", dir, NULL};
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
}
END_TEST

START_TEST(test_bad_checkpoints_refused_intact) {
    char dir[300], ckpt[320];
    snprintf(dir, sizeof dir, "%s/bad", tmpdir);
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", dir);
    char *a[] = {TINY, "--max-steps", "5", "--out", dir, NULL};
    ck_assert_int_eq(run(NULL, a), 0);
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

/* ---- translate, eval, ckpt ---- */

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
    ck_assert_int_eq(run(NULL, a), 0);
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
    ck_assert_int_eq(run(NULL, t2), 0);
    /* eval */
    char *e[] = {"eval", "--model", best, "--data", dev, "--json", "--beam", "1", NULL};
    ck_assert_int_eq(run(NULL, e), 0);
    ck_assert(file_has("out.txt", "\"bleu\": {\"score\": "));
    ck_assert(file_has("out.txt", "\"signature\": \"nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0\""));
    /* ckpt info, verify, average */
    char *i1[] = {"ckpt", "info", ckpt, NULL};
    ck_assert_int_eq(run(NULL, i1), 0);
    ck_assert(file_has("out.txt", "param checksum"));
    ck_assert(file_has("out.txt", "step            30"));
    char avg[320];
    snprintf(avg, sizeof avg, "%s/avg.ckpt", tmpdir);
    char *av[] = {"ckpt", "average", ckpt, best, "-o", avg, NULL};
    ck_assert_int_eq(run(NULL, av), 0);
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
    ck_assert_int_eq(run(NULL, v), 0);
    /* an averaged checkpoint has no optimiser state: it translates but does not resume */
    char *ir[] = {"ckpt", "info", "--json", avg, NULL};
    ck_assert_int_eq(run(NULL, ir), 0);
    ck_assert(file_has("out.txt", "\"optimizer_state\": false"));
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
    ck_assert_int_eq(run(NULL, b), 0);
    ck_assert(file_has("err.txt", "skipped 1 line"));
}
END_TEST

int main(void) {
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("commands");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_config_file_and_flags);
    tcase_add_test(tc, test_usage_errors);
    tcase_add_test(tc, test_resume_is_exact_after_sigkill);
    tcase_add_test(tc, test_resume_extends_max_steps);
    tcase_add_test(tc, test_accum_shards_resume_exact);
    tcase_add_test(tc, test_sigint_saves_and_exits_0);
    tcase_add_test(tc, test_nan_updates_skipped_then_reload);
    tcase_add_test(tc, test_bad_checkpoints_refused_intact);
    tcase_add_test(tc, test_translate_eval_ckpt_on_tsv_files);
    tcase_add_test(tc, test_bad_training_data_message);
    suite_add_tcase(s, tc);
    int failed = tg_check_run(s);
    return failed ? 1 : 0;
}
