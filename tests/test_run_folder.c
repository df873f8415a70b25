/* test_run_folder.c: what `tapegrad train` does with its run folder and the flags that name files,
 * each command run as a user runs it: one train at a time in a folder (RUNDIR/lock), a fresh run
 * refused where another run's files would be overwritten, and flags that were silently ignored
 * (a second --config, --dev/--vocab with --task, --out with --resume) refused, a bad
 * TAPEGRAD_KERNELS reported. */
#define _XOPEN_SOURCE 700   /* posix_openpt, grantpt, unlockpt, ptsname: a pty for the bar */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/tg_check.h"
#include "tests/tg_cli.h"
#include "train/run/progress.h"
#include "train/run/run.h"

/* A tiny copy-task run; --out and extra flags follow. */
#define TINY "train", "--task", "copy", "--task-vocab", "12", "--task-size", "200", "--d-model", "16", "--heads", \
             "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "300", "--warmup", "10", "--threads", "1"

static const char METRICS_HEADER[] =
    "kind\tstep\tepoch\telapsed_s\tlr\tloss\tnll\tppl\ttgt_tok_s\tgrad_norm\tbleu\tchrf\n";

/* Every entry of dir, sorted: name, inode, size and a hash of the bytes, one a line (malloc'd), so
 * that any write (an atomic rewrite makes a new inode) changes it. */
static char *folder_state(const char *dir) {
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    ck_assert_int_ge(n, 0);
    size_t cap = 64 + (size_t)n * 400, k = 0;
    char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        struct stat sb;
        ck_assert_int_eq(lstat(path, &sb), 0);
        uint64_t h = 1469598103934665603ull;
        size_t len = 0;
        char *bytes = S_ISREG(sb.st_mode) ? tg_cli_slurp_n(path, &len) : NULL;
        for (size_t j = 0; j < len; j++) h = (h ^ (unsigned char)bytes[j]) * 1099511628211ull;
        free(bytes);
        k += (size_t)snprintf(out + k, cap - k, "%s %llu %lld %016llx\n", names[i]->d_name,
                              (unsigned long long)sb.st_ino, (long long)sb.st_size, (unsigned long long)h);
        free(names[i]);
    }
    free(names);
    return out;
}

static void assert_unchanged(const char *dir, const char *before) {
    char *now = folder_state(dir);
    ck_assert_str_eq(now, before);
    free(now);
}

/* Takes dir/lock as another train would (its own open file, flock): the descriptor. */
static int hold_lock(const char *dir) {
    char path[600];
    snprintf(path, sizeof path, "%s/lock", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    return fd;
}

/* A second train, fresh or --resume, on a folder whose lock is held is refused and writes nothing;
 * once the holder is gone (closed, or SIGKILLed) the run goes on. */
START_TEST(test_lock_one_train_per_folder) {
    const char *dir = tg_cli_path("c2");
    ck_assert_int_eq(mkdir(dir, 0777), 0);
    int fd = hold_lock(dir);
    char *before = folder_state(dir);
    char *fresh[] = {TINY, "--max-steps", "4", "--save-every", "2", "--out", (char *)dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, fresh), 1);
    char want[700];
    snprintf(want, sizeof want, "tapegrad train: %s is in use by another tapegrad train or ckpt diagnose (its lock "
             "%s/lock is held)", dir, dir);
    ck_assert(tg_cli_has("err.txt", want));
    assert_unchanged(dir, before);
    free(before);
    close(fd);
    tg_cli_run_ok(NULL, fresh);

    fd = hold_lock(dir);
    before = folder_state(dir);
    char *resume[] = {"train", "--resume", (char *)dir, "--max-steps", "6", NULL};
    ck_assert_int_eq(tg_cli_run(NULL, resume), 1);
    ck_assert(tg_cli_has("err.txt", want));
    assert_unchanged(dir, before);
    /* ckpt diagnose writes diagnostics.tsv: it takes the lock too (it cut a live train's rows) */
    char *diagnose[] = {"ckpt", "diagnose", (char *)dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, diagnose), 1);
    ck_assert(tg_cli_has("err.txt", "is in use by another tapegrad train or ckpt diagnose"));
    assert_unchanged(dir, before);
    close(fd);

    /* held by a process that is then killed: the kernel lets go, the resume runs */
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t holder = fork();
    ck_assert_int_ge(holder, 0);
    if (holder == 0) {
        hold_lock(dir);
        if (write(ready[1], "x", 1) != 1) _exit(1);
        pause();
        _exit(0);
    }
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    ck_assert_int_eq(tg_cli_run(NULL, resume), 1);
    assert_unchanged(dir, before);
    free(before);
    kill(holder, SIGKILL);
    ck_assert_int_eq(tg_cli_wait(holder), 128 + SIGKILL);
    tg_cli_run_ok(NULL, resume);
    ck_assert(tg_cli_has("err.txt", "resumed at step 4"));
    close(ready[0]);
    close(ready[1]);
}
END_TEST

/* A fresh train into a folder that holds another run's files but no last.ckpt is refused, the
 * files unchanged; a start killed before its first save (config.txt, train.log, the .tsv headers)
 * is run again by the same command. */
START_TEST(test_fresh_run_refuses_another_runs_files) {
    const char *dir = tg_cli_path("d");
    char *first[] = {TINY, "--max-steps", "20", "--valid-every", "10", "--save-every", "5", "--keep", "3",
                     "--out", (char *)dir, NULL};
    tg_cli_run_ok(NULL, first);
    char path[600];
    snprintf(path, sizeof path, "%s/last.ckpt", dir);
    ck_assert_int_eq(unlink(path), 0);
    char *before = folder_state(dir);
    char *again[] = {TINY, "--max-steps", "10", "--valid-every", "5", "--save-every", "5", "--keep", "3",
                     "--seed", "5", "--out", (char *)dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, again), 1);
    ck_assert(tg_cli_has("err.txt", "holds another run's files"));
    ck_assert(tg_cli_has("err.txt", "give another --out"));
    assert_unchanged(dir, before);
    free(before);
    /* each of the files on its own is enough */
    const char *const kinds[] = {"best.ckpt", "step-15.ckpt", "metrics.tsv"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const char *one = tg_cli_path(kinds[i]);
        ck_assert_int_eq(mkdir(one, 0777), 0);
        char from[600], to[600], said[700];
        snprintf(from, sizeof from, "%s/%s", dir, kinds[i]);
        snprintf(to, sizeof to, "%s/%s", one, kinds[i]);
        ck_assert_int_eq(link(from, to), 0);
        again[sizeof again / sizeof again[0] - 2] = (char *)one;
        ck_assert_int_eq(tg_cli_run(NULL, again), 1);
        snprintf(said, sizeof said, "%s holds another run's files (%s)", one, kinds[i]);
        ck_assert(tg_cli_has("err.txt", said));
    }

    /* a FIFO as metrics.tsv is not waited on: refused as another run's */
    const char *fifo = tg_cli_path("fifo");
    ck_assert_int_eq(mkdir(fifo, 0777), 0);
    snprintf(path, sizeof path, "%s/metrics.tsv", fifo);
    ck_assert_int_eq(mkfifo(path, 0644), 0);
    again[sizeof again / sizeof again[0] - 2] = (char *)fifo;
    ck_assert_int_eq(tg_cli_run_bounded(60, again), 1);
    ck_assert(tg_cli_has("err.txt", "holds another run's files"));

    /* a one-line .tsv of the user's (no rows to tell it by) is not replaced with the header */
    const char *const tsvs[] = {"metrics.tsv", "diagnostics.tsv"};
    for (size_t i = 0; i < 2; i++) {
        char own[600];
        snprintf(own, sizeof own, "own%zu", i);
        const char *o = tg_cli_path(own);
        ck_assert_int_eq(mkdir(o, 0777), 0);
        snprintf(path, sizeof path, "%s/%s", o, tsvs[i]);
        tg_cli_write(path, "my notes\n");
        again[sizeof again / sizeof again[0] - 2] = (char *)o;
        ck_assert_int_eq(tg_cli_run(NULL, again), 1);
        ck_assert(tg_cli_has("err.txt", "is not a ") && tg_cli_has("err.txt", "a run wrote (its first line is not"));
        char *kept = tg_cli_slurp(path);
        ck_assert_str_eq(kept, "my notes\n");
        free(kept);
    }

    /* its header after a BOM (an editor's), or a BOM alone: the trim takes them, so does a fresh run */
    const char *bom = tg_cli_path("bom");
    ck_assert_int_eq(mkdir(bom, 0777), 0);
    snprintf(path, sizeof path, "%s/metrics.tsv", bom);
    char with_bom[300];
    snprintf(with_bom, sizeof with_bom, "\xef\xbb\xbf%s", METRICS_HEADER);
    tg_cli_write(path, with_bom);
    again[sizeof again / sizeof again[0] - 2] = (char *)bom;
    tg_cli_run_ok(NULL, again);

    /* an interrupted start: what a run writes before its step-0 last.ckpt */
    const char *start = tg_cli_path("start");
    ck_assert_int_eq(mkdir(start, 0777), 0);
    snprintf(path, sizeof path, "%s/config.txt", dir);
    char *cfg = tg_cli_slurp(path);
    snprintf(path, sizeof path, "%s/config.txt", start);
    tg_cli_write(path, cfg);
    free(cfg);
    snprintf(path, sizeof path, "%s/train.log", start);
    tg_cli_write(path, "[2024-01-01 00:00:00] model: 1 parameters\n");
    snprintf(path, sizeof path, "%s/metrics.tsv", start);
    tg_cli_write(path, METRICS_HEADER);
    again[sizeof again / sizeof again[0] - 2] = (char *)start;
    tg_cli_run_ok(NULL, again);
    snprintf(path, sizeof path, "%s/last.ckpt", start);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);

    /* a link planted as the lock is not followed, and said as one (was "Too many levels of symbolic links") */
    const char *ln = tg_cli_path("ln");
    ck_assert_int_eq(mkdir(ln, 0777), 0);
    snprintf(path, sizeof path, "%s/lock", ln);
    ck_assert_int_eq(symlink(tg_cli_path("target"), path), 0);
    again[sizeof again / sizeof again[0] - 2] = (char *)ln;
    ck_assert_int_eq(tg_cli_run(NULL, again), 1);
    ck_assert(tg_cli_has("err.txt", "lock is a symbolic link; refusing to open it"));
    ck_assert_int_ne(lstat(tg_cli_path("target"), &sb), 0);
}
END_TEST

/* A run folder's name in the lock's message and in "is not a folder": escaped, and "..." and its
 * tail when long, so the message is one line ending in its reason. A line break in the name was
 * printed raw (tg_err_set leaves it), and 200 control bytes, shown in 4 each, pushed the reason
 * out of the 512-byte message (a read-only RUNDIR's "cannot open RUNDIR/lock: Permission denied"
 * alike; root, who runs the tests, opens any file, so a link planted as the lock stands in). */
START_TEST(test_folder_messages_show_the_name_safely) {
    char ctl[201], dir[600], path[700];
    memset(ctl, 1, 200);
    ctl[200] = '\0';
    snprintf(dir, sizeof dir, "%s/r\nx%s", tg_cli_dir, ctl);
    ck_assert_int_eq(mkdir(dir, 0777), 0);
    snprintf(path, sizeof path, "%s/lock", dir);
    ck_assert_int_eq(symlink("nowhere", path), 0);
    char *t[] = {TINY, "--max-steps", "1", "--out", dir, NULL};
    const char *want[] = {"\\x01/lock is a symbolic link; refusing to open it (remove it: a run makes "
                          "its own)\n", "\\x01 is not a folder\n"};
    for (int i = 0; i < 2; i++) {
        if (i == 1) {   /* a file as --out */
            snprintf(dir, sizeof dir, "%s/f\n%s", tg_cli_dir, ctl);
            tg_cli_write(dir, "mine\n");
        }
        ck_assert_int_eq(tg_cli_run(NULL, t), 1);
        char *e = tg_cli_slurp(tg_cli_path("err.txt"));
        const char *end = strstr(e, want[i]);
        ck_assert_msg(end && !end[strlen(want[i])], "not ending in its reason: %s", e);
        ck_assert_msg(strchr(e, '\n') == e + strlen(e) - 1, "not one line: %s", e);
        ck_assert_msg(strstr(e, "tapegrad train: ..."), "%s", e);
        free(e);
    }
}
END_TEST

/* err.txt holds want (with the run folder's name, as shown, for %s) and no raw line break of the
 * name "p\nq". */
static void err_shows(const char *want_fmt, const char *shown) {
    char want[1200];
    snprintf(want, sizeof want, want_fmt, shown);
    char *e = tg_cli_slurp(tg_cli_path("err.txt"));
    ck_assert_msg(strstr(e, want), "no '%s' in: %s", want, e);
    ck_assert_msg(!strstr(e, "p\nq"), "a raw line break: %s", e);
    free(e);
}

/* The progress lines naming the run folder or a checkpoint in it (saved, reloaded, stopped or
 * failed: "resume with ... --resume RUNDIR") and the refusal of a folder that already holds a run
 * printed --out raw: a line break in it split the line in two. Each shows it escaped. */
START_TEST(test_progress_lines_show_the_name_safely) {
    char dir[600], shown[700];
    snprintf(dir, sizeof dir, "%s/p\nq", tg_cli_dir);
    snprintf(shown, sizeof shown, "%s/p\\x0Aq", tg_cli_dir);
    char *fresh[] = {TINY, "--max-steps", "2", "--valid-every", "2", "--out", dir, NULL};
    ck_assert_int_eq(tg_cli_run("TAPEGRAD_STOP_AT_STEP=1", fresh), 0);
    err_shows("saved %s/last.ckpt (step 1, ", shown);
    err_shows("resume with: tapegrad train --resume %s\n", shown);
    char *resume[] = {"train", "--resume", dir, "--max-bad-steps", "1", NULL};
    ck_assert_int_eq(tg_cli_run("TAPEGRAD_INJECT_NAN=1:1", resume), 0);
    err_shows("reloaded %s/last.ckpt (step 1)", shown);
    err_shows("saved %s/best.ckpt\n", shown);
    /* a hand's edit of config.txt, and a killed writer's temporary: warned about, removed */
    char path[700], tmp[700];
    snprintf(path, sizeof path, "%s/config.txt", dir);
    char *config = tg_cli_slurp(path), *at = strstr(config, "save-every = 1000\n");
    ck_assert_ptr_nonnull(at);
    memcpy(at, "save-every = 999\n\n", 18);
    tg_cli_write(path, config);
    free(config);
    pid_t gone = fork();
    ck_assert_int_ge(gone, 0);
    if (gone == 0) _exit(0);
    ck_assert_int_eq(waitpid(gone, NULL, 0), gone);
    snprintf(tmp, sizeof tmp, "%s/last.ckpt.tmp.%ld.0", dir, (long)gone);
    tg_cli_write(tmp, "half");
    char *more[] = {"train", "--resume", dir, "--max-steps", "3", NULL};
    ck_assert_int_eq(tg_cli_run("TAPEGRAD_FAIL_STEP=1", more), 1);
    err_shows("warning: %s/config.txt has save-every = 999", shown);
    err_shows("removed %s/last.ckpt.tmp.", shown);
    err_shows("dealt with, resume with: tapegrad train --resume %s\n", shown);
    ck_assert_int_eq(tg_cli_run(NULL, fresh), 1);
    err_shows("%s already holds a run", shown);
    char *e = tg_cli_slurp(tg_cli_path("err.txt"));
    ck_assert_msg(strchr(e, '\n') == e + strlen(e) - 1, "not one line: %s", e);
    free(e);
}
END_TEST

/* A refusal of a folder that holds a run named the folder three times, each shown in up to 159
 * bytes: a name of control bytes (4 shown a byte) filled the 512-byte message, and its end (what
 * to do: "or give another --out", "continue it with --resume DIR") was cut off. It names the
 * folder twice, and the file by its own name. */
START_TEST(test_folder_refusals_keep_their_end) {
    char dir[600], file[700], ctl[61];
    memset(ctl, '\x1B', 60);
    ctl[60] = '\0';
    snprintf(dir, sizeof dir, "%s/%s\n", tg_cli_dir, ctl);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(file, sizeof file, "%s/last.ckpt", dir);
    tg_cli_write(file, "not read");
    char *fresh[] = {TINY, "--max-steps", "1", "--out", dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, fresh), 1);
    char *e = tg_cli_slurp(tg_cli_path("err.txt"));
    ck_assert_msg(strstr(e, "already holds a run (its last.ckpt)"), "%s", e);
    ck_assert_msg(strstr(e, "\\x0A, or give another --out\n") &&
                  strchr(e, '\n') == e + strlen(e) - 1, "%s", e);
    free(e);
    ck_assert_int_eq(unlink(file), 0);
    snprintf(file, sizeof file, "%s/best.ckpt", dir);
    tg_cli_write(file, "not read");
    ck_assert_int_eq(tg_cli_run(NULL, fresh), 1);
    e = tg_cli_slurp(tg_cli_path("err.txt"));
    ck_assert_msg(strstr(e, "holds another run's files (best.ckpt) and no last.ckpt"), "%s", e);
    ck_assert_msg(strstr(e, "continue it with --resume ...") && strstr(e, "\\x0A\n") &&
                  strchr(e, '\n') == e + strlen(e) - 1, "%s", e);
    free(e);
}
END_TEST

/* A --out of control bytes (4 bytes shown a byte) was shown whole in the progress lines, which
 * hold 2 KiB: "saved DIR/last.ckpt (step N, ...)" lost its end, and "resume with: tapegrad train
 * --resume DIR" its folder's. Such a name is shown as its end, and the line whole. */
START_TEST(test_progress_lines_keep_their_end) {
    char dir[1100], part[250];
    memset(part, '\x01', 240);
    part[240] = '\0';
    snprintf(dir, sizeof dir, "%s/%s", tg_cli_dir, part);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(mkdir(dir, 0755), 0);
        strcat(strcat(dir, "/"), part);
    }
    char *fresh[] = {TINY, "--max-steps", "2", "--out", dir, NULL};
    ck_assert_int_eq(tg_cli_run("TAPEGRAD_STOP_AT_STEP=1", fresh), 0);
    char *e = tg_cli_slurp(tg_cli_path("err.txt"));   /* (too long for a check message) */
    bool ok = strstr(e, "] saved ...\\x01") && strstr(e, "\\x01/last.ckpt (step 1, ") &&
              strstr(e, "resume with: tapegrad train --resume ...\\x01") &&
              strstr(e, "\\x01\\x01\n");
    if (!ok) fprintf(stderr, "--- err.txt:\n%s\n", e);
    free(e);
    ck_assert(ok);
}
END_TEST

/* --resume with a path longer than the run's folder is held in (1,023 bytes, as --out) was cut
 * by an snprintf, and the cut name reported as a folder that cannot be opened: the run there was
 * fine. It is refused as --out's is, by the flag's name. */
START_TEST(test_resume_path_too_long_refused) {
    char dir[600], *resume = malloc(2000);
    ck_assert_ptr_nonnull(resume);
    snprintf(dir, sizeof dir, "%s/run", tg_cli_dir);
    char *fresh[] = {TINY, "--max-steps", "1", "--out", dir, NULL};
    tg_cli_run_ok(NULL, fresh);
    int k = snprintf(resume, 2000, "%s/", tg_cli_dir);
    while (k < 1100) k += snprintf(resume + k, (size_t)(2000 - k), "./");
    snprintf(resume + k, (size_t)(2000 - k), "run");
    char *again[] = {"train", "--resume", resume, "--max-steps", "2", NULL};
    ck_assert_int_eq(tg_cli_run(NULL, again), 2);
    ck_assert(tg_cli_has("err.txt", "tapegrad train: --resume: value too long (at most 1023 "
                                    "bytes)\n"));
    free(resume);
}
END_TEST

/* --config naming the file the run writes (OUT/config.txt, by any path) is refused before
 * anything is written: the user's own file is not replaced. */
START_TEST(test_config_is_not_the_runs_config_txt) {
    const char *dir = tg_cli_path("own");
    ck_assert_int_eq(mkdir(dir, 0777), 0);
    char path[600], dot[600];
    snprintf(path, sizeof path, "%s/config.txt", dir);
    tg_cli_write(path, "# my settings\ntask = copy\ntask-size = 200\nd-model = 16\nheads = 2\nd-ff = 32\n"
                       "layers = 1\nthreads = 1\nmax-steps = 2\n");
    snprintf(dot, sizeof dot, "%s/.", dir);
    char *before = folder_state(dir);
    char *a[] = {"train", "--config", path, "--out", dot, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, a), 2);
    ck_assert(tg_cli_has("err.txt", "which the run writes"));
    assert_unchanged(dir, before);
    free(before);
}
END_TEST

/* `tapegrad experiment` trains a cell without last.ckpt afresh: a cell whose start was killed before
 * its first save is trained again, as a run is. */
START_TEST(test_experiment_restarts_an_interrupted_cell) {
    const char *dir = tg_cli_path("xp");
    char cell[600], path[700];
    snprintf(cell, sizeof cell, "%s/cells", dir);
    ck_assert_int_eq(tg_mkdir_p(cell), 0);
    snprintf(cell, sizeof cell, "%s/cells/norm=post,seed=1", dir);
    ck_assert_int_eq(mkdir(cell, 0777), 0);
    snprintf(path, sizeof path, "%s/train.log", cell);
    tg_cli_write(path, "[2024-01-01 00:00:00] model: 1 parameters\n");
    snprintf(path, sizeof path, "%s/metrics.tsv", cell);
    tg_cli_write(path, METRICS_HEADER);
    char *a[] = {"experiment", "--task", "copy", "--task-size", "200", "--d-model", "16", "--heads", "2", "--d-ff",
                 "32", "--layers", "1", "--threads", "1", "--max-steps", "4", "--vary", "norm=post", "--seeds", "1",
                 "--out", (char *)dir, NULL};
    tg_cli_run_ok(NULL, a);
    ck_assert(tg_cli_has("err.txt", "norm=post,seed=1: finished at step 4"));
    /* a cell whose folder holds another run's file is refused before any cell trains */
    const char *dir2 = tg_cli_path("xp2");
    snprintf(cell, sizeof cell, "%s/cells/norm=pre,seed=1", dir2);
    ck_assert_int_eq(tg_mkdir_p(cell), 0);
    snprintf(path, sizeof path, "%s/best.ckpt", cell);
    tg_cli_write(path, "not ours");
    char *b[] = {"experiment", "--task", "copy", "--task-size", "200", "--d-model", "16", "--heads", "2", "--d-ff",
                 "32", "--layers", "1", "--threads", "1", "--max-steps", "4", "--vary", "norm=post,pre", "--seeds", "1",
                 "--out", (char *)dir2, NULL};
    ck_assert_int_ne(tg_cli_run(NULL, b), 0);
    ck_assert(tg_cli_has("err.txt", "holds another run's files"));
    snprintf(path, sizeof path, "%s/cells/norm=post,seed=1/last.ckpt", dir2);
    struct stat sb;
    ck_assert_msg(stat(path, &sb) != 0, "the first cell trained before the refusal");
}
END_TEST

/* A config.txt or vocab.txt in --out that no run wrote (the user's notes) is not replaced. */
START_TEST(test_users_config_and_vocab_kept) {
    const char *names[] = {"config.txt", "vocab.txt"};
    for (int i = 0; i < 2; i++) {
        char dir[600], path[700];
        snprintf(dir, sizeof dir, "%s", tg_cli_path(i ? "uv" : "uc"));
        ck_assert_int_eq(mkdir(dir, 0777), 0);
        snprintf(path, sizeof path, "%s/lock", dir);   /* the run takes it before it looks */
        tg_cli_write(path, "");
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        tg_cli_write(path, "my notes\n");
        char *before = folder_state(dir);
        char *a[] = {TINY, "--max-steps", "2", "--out", dir, NULL};
        ck_assert_int_eq(tg_cli_run(NULL, a), 1);
        ck_assert(tg_cli_has("err.txt", i ? "is not a vocabulary a run wrote" : "is not a config.txt a run wrote"));
        assert_unchanged(dir, before);
        free(before);
    }
}
END_TEST

/* An input that is a file the run writes in --out is refused, the file unchanged: a corpus named
 * OUT/train.log had the log appended to it (and the run could not resume), as would a --dev that
 * is a link to OUT/metrics.tsv have been cut. */
START_TEST(test_inputs_that_are_outputs_refused) {
    const char *dir = tg_cli_path("io"), *log = tg_cli_path("io/train.log"), *dev = tg_cli_path("dev.tsv");
    ck_assert_int_eq(mkdir(dir, 0777), 0);
    tg_cli_write(log, "one two\tuno dos\nthree four\ttres cuatro\n");
    tg_cli_write(tg_cli_path("io/lock"), "");   /* (train takes it first) */
    char *before = folder_state(dir);
    char *a[] = {"train", "--train", (char *)log, "--merges", "20", "--d-model", "16", "--heads", "2", "--d-ff", "32",
                 "--layers", "1", "--max-steps", "1", "--out", (char *)dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, a), 1);
    char want[700];
    snprintf(want, sizeof want, "--train %s is %s, which the run writes", log, log);
    ck_assert(tg_cli_has("err.txt", want));
    assert_unchanged(dir, before);
    free(before);
    char metrics[600];
    snprintf(metrics, sizeof metrics, "%s/metrics.tsv", dir);
    tg_cli_write(metrics, "kind\tstep\n");   /* a header alone: an interrupted start's */
    ck_assert_int_eq(symlink(metrics, dev), 0);
    ck_assert_int_eq(rename(log, tg_cli_path("train.tsv")), 0);
    char *b[] = {"train", "--train", (char *)tg_cli_path("train.tsv"), "--dev", (char *)dev, "--merges", "20",
                 "--d-model", "16", "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-steps", "1", "--out",
                 (char *)dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, b), 1);
    ck_assert(tg_cli_has("err.txt", "which the run writes"));
    char config[600];   /* not there yet, but written before the data are read */
    snprintf(config, sizeof config, "%s/./config.txt", dir);
    b[4] = config;
    ck_assert_int_eq(tg_cli_run(NULL, b), 1);
    ck_assert(tg_cli_has("err.txt", "config.txt, which the run writes"));
    const char *dangling = tg_cli_path("dangling.tsv");   /* a link to it, relative, through a second link */
    ck_assert_int_eq(symlink("io/config.txt", tg_cli_path("hop.tsv")), 0);
    ck_assert_int_eq(symlink("hop.tsv", dangling), 0);
    b[4] = (char *)dangling;
    ck_assert_int_eq(tg_cli_run(NULL, b), 1);
    ck_assert(tg_cli_has("err.txt", "dangling.tsv is"));
    ck_assert(tg_cli_has("err.txt", "config.txt, which the run writes"));
    /* a link at OUT/config.txt to the corpus is replaced by the run, never written through: allowed */
    const char *fresh = tg_cli_path("io2"), *corpus = tg_cli_path("train.tsv");
    ck_assert_int_eq(mkdir(fresh, 0777), 0);
    char link[600];
    snprintf(link, sizeof link, "%s/config.txt", fresh);
    ck_assert_int_eq(symlink(corpus, link), 0);
    char *c[] = {"train", "--train", (char *)corpus, "--merges", "20", "--d-model", "16", "--heads", "2", "--d-ff",
                 "32", "--layers", "1", "--max-steps", "1", "--out", (char *)fresh, NULL};
    tg_cli_run_ok(NULL, c);
    struct stat sb;
    ck_assert_int_eq(lstat(link, &sb), 0);
    ck_assert(S_ISREG(sb.st_mode));
    char *text = tg_cli_slurp(corpus);
    ck_assert_str_eq(text, "one two\tuno dos\nthree four\ttres cuatro\n");
    free(text);
}
END_TEST

/* A resume reads the run's relative --dev from the current folder: from another folder whose
 * dev.tsv holds other pairs it is refused, saying why and leaving the run as it was (before: it
 * validated on them, exit 0, and a BLEU of the wrong data went into metrics.tsv and best.ckpt);
 * from the run's own folder it goes on. */
START_TEST(test_resume_refuses_another_dev_set) {
    const char *top = tg_cli_path("rel"), *other = tg_cli_path("rel/other");
    ck_assert_int_eq(mkdir(top, 0777), 0);
    ck_assert_int_eq(mkdir(other, 0777), 0);
    const char *pairs = "one two\tuno dos\nthree four\ttres cuatro\nfive six\tcinco seis\n";
    char path[600];
    snprintf(path, sizeof path, "%s/train.tsv", top);
    tg_cli_write(path, pairs);
    snprintf(path, sizeof path, "%s/dev.tsv", top);
    tg_cli_write(path, "one two\tuno dos\n");
    snprintf(path, sizeof path, "%s/train.tsv", other);
    tg_cli_write(path, pairs);
    snprintf(path, sizeof path, "%s/dev.tsv", other);
    tg_cli_write(path, "five six\tcinco seis\n");
    char cwd[600];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(top), 0);
    char *a[] = {"train", "--train", "train.tsv", "--dev", "dev.tsv", "--merges", "20", "--d-model", "16", "--heads",
                 "2", "--d-ff", "32", "--layers", "1", "--max-steps", "2", "--valid-every", "1", "--out", "run", NULL};
    tg_cli_run_ok(NULL, a);
    snprintf(path, sizeof path, "%s/run", top);
    char *before = folder_state(path);
    ck_assert_int_eq(chdir(other), 0);
    char *b[] = {"train", "--resume", "../run", "--max-steps", "4", NULL};
    ck_assert_int_eq(tg_cli_run(NULL, b), 1);
    ck_assert(tg_cli_has("err.txt", "../run/last.ckpt was validated on another dev set (1 pairs) than --dev dev.tsv"));
    ck_assert(tg_cli_has("err.txt", "give the command from the folder the run started in"));
    assert_unchanged(path, before);
    char other_file[600];   /* the same dev set, other training pairs: the iterator's refusal says so too */
    snprintf(other_file, sizeof other_file, "%s/dev.tsv", other);
    tg_cli_write(other_file, "one two\tuno dos\n");
    snprintf(other_file, sizeof other_file, "%s/train.tsv", other);
    tg_cli_write(other_file, "one two\tuno dos\nthree four\ttres cuatro\nfive sux\tcinco seis\n");
    ck_assert_int_eq(tg_cli_run(NULL, b), 1);
    ck_assert(tg_cli_has("err.txt", "the data iterator cannot continue"));
    ck_assert(tg_cli_has("err.txt", "resume from the folder the run started in"));
    assert_unchanged(path, before);
    free(before);
    ck_assert_int_eq(chdir(top), 0);
    b[2] = "run";
    tg_cli_run_ok(NULL, b);
    /* the run's own files named otherwise (an absolute path, ./): the same files, so the resume goes
     * on, config.txt keeping the run's names; a copy of them under another name is refused */
    char abs_train[600];
    snprintf(abs_train, sizeof abs_train, "%s/train.tsv", top);
    char *same[] = {"train", "--resume", "run", "--train", abs_train, "--dev", "./dev.tsv", "--max-steps", "5", NULL};
    tg_cli_run_ok(NULL, same);
    ck_assert(tg_cli_has("err.txt", "resumed at step 4"));
    ck_assert(tg_cli_has("rel/run/config.txt", "train = train.tsv\ntrain-src"));
    ck_assert(tg_cli_has("rel/run/config.txt", "\ndev = dev.tsv\n"));
    char copy[600];
    snprintf(copy, sizeof copy, "%s/copy.tsv", top);
    tg_cli_write(copy, pairs);
    char *copied[] = {"train", "--resume", "run", "--train", copy, "--max-steps", "6", NULL};
    ck_assert_int_eq(tg_cli_run(NULL, copied), 2);
    ck_assert(tg_cli_has("err.txt", "--train cannot change when resuming (the run has train = train.tsv)\n"));
    /* from a folder without the run's relative name: refused, saying where relative names are read */
    ck_assert_int_eq(chdir(tg_cli_dir), 0);
    char *elsewhere[] = {"train", "--resume", "rel/run", "--train", abs_train, "--max-steps", "6", NULL};
    ck_assert_int_eq(tg_cli_run(NULL, elsewhere), 2);
    ck_assert(tg_cli_has("err.txt", "(the run has train = train.tsv); the run's relative names are read from the "
                                    "current folder, where it is not: resume from the folder the run started in"));
    ck_assert_int_eq(chdir(cwd), 0);
}
END_TEST

/* The run's setting that a resume's flag would change is quoted escaped: it went to stderr
 * through fprintf as config.txt holds it, so an ESC (and a tab) of a file's name reached the
 * terminal raw. */
START_TEST(test_resume_refusal_shows_the_runs_setting_escaped) {
    const char *train = tg_cli_path("t\x1b[2J\tx.tsv"), *copy = tg_cli_path("copy.tsv");
    const char *pairs = "one two\tuno dos\nthree four\ttres cuatro\n";
    tg_cli_write(train, pairs);
    tg_cli_write(copy, pairs);
    char *a[] = {"train", "--train", (char *)train, "--merges", "20", "--d-model", "8", "--heads",
                 "2", "--d-ff", "8", "--layers", "1", "--max-steps", "1", "--threads", "1", "--out",
                 (char *)tg_cli_path("run"), NULL};
    tg_cli_run_ok(NULL, a);
    char *b[] = {"train", "--resume", (char *)tg_cli_path("run"), "--train", (char *)copy,
                 "--max-steps", "2", NULL};
    ck_assert_int_eq(tg_cli_run(NULL, b), 2);
    ck_assert(tg_cli_has("err.txt", "/t\\x1B[2J\\x09x.tsv)\n"));
    char *e = tg_cli_slurp(tg_cli_path("err.txt"));
    ck_assert_msg(!strchr(e, '\t') && !strchr(e, 0x1b), "a raw tab or ESC in: %s", e);
    free(e);
    /* a --train of 1,000 bytes: its setting's key and the end of its name are shown (escaped in a
     * buffer of 1,024 bytes from its head, the name's end was lost) */
    char path[1100];
    snprintf(path, sizeof path, "%s", tg_cli_path("long"));
    ck_assert_int_eq(mkdir(path, 0777), 0);
    while (strlen(path) < 990) {
        size_t at = strlen(path), left = 1000 - 6 - at - 1, w = left > 200 ? 200 : left;
        path[at] = '/';
        memset(path + at + 1, 'q', w);
        path[at + 1 + w] = '\0';
        ck_assert_int_eq(mkdir(path, 0777), 0);
    }
    strcat(path, "/s.tsv");
    tg_cli_write(path, pairs);
    a[2] = path;
    a[18] = (char *)tg_cli_path("run2");
    tg_cli_run_ok(NULL, a);
    b[2] = (char *)tg_cli_path("run2");
    ck_assert_int_eq(tg_cli_run(NULL, b), 2);
    ck_assert(tg_cli_has("err.txt", "(the run has train = ...qqqq"));
    ck_assert(tg_cli_has("err.txt", "qqqq/s.tsv)\n"));
}
END_TEST

/* The refusal above with the checkpoint's name and --dev both long and of control bytes, so each
 * is shown at its most (159 bytes): the message filled its 512 bytes and lost the end of its
 * advice. */
START_TEST(test_another_dev_set_refusal_keeps_its_end) {
    char ctl[61], name[100], path[700];
    memset(ctl, '\x01', 60);
    ctl[60] = '\0';
    const char *top = tg_cli_path("ld"), *other = tg_cli_path("ld/other");
    ck_assert_int_eq(mkdir(top, 0777), 0);
    ck_assert_int_eq(mkdir(other, 0777), 0);
    const char *pairs = "one two\tuno dos\nthree four\ttres cuatro\nfive six\tcinco seis\n";
    snprintf(name, sizeof name, "%s.tsv", ctl);
    const char *where[2] = {top, other}, *dev[2] = {"one two\tuno dos\n", "five six\tcinco seis\n"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/train.tsv", where[i]);
        tg_cli_write(path, pairs);
        snprintf(path, sizeof path, "%s/%s", where[i], name);
        tg_cli_write(path, dev[i]);
    }
    char cwd[600];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(top), 0);
    char *a[] = {"train", "--train", "train.tsv", "--dev", name, "--merges", "20", "--d-model",
                 "16", "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-steps", "2",
                 "--valid-every", "1", "--out", ctl, NULL};
    tg_cli_run_ok(NULL, a);
    ck_assert_int_eq(chdir(other), 0);
    snprintf(path, sizeof path, "../%s", ctl);
    char *b[] = {"train", "--resume", path, "--max-steps", "4", NULL};
    ck_assert_int_eq(tg_cli_run(NULL, b), 1);
    ck_assert_int_eq(chdir(cwd), 0);
    char *e = tg_cli_slurp(tg_cli_path("err.txt"));
    const char *m = strstr(e, "was validated on another dev set (1 pairs) than --dev ...\\x01");
    bool ok = m && strstr(m, "\\x01.tsv reads now (1 pairs): ") &&
              strstr(m, "give the command from the folder the run started in\n");
    if (!ok) fprintf(stderr, "--- err.txt:\n%s\n", e);
    free(e);
    ck_assert(ok);
}
END_TEST

/* A bad --dev is found before the vocabulary is learned (minutes on a real corpus): the run
 * stops naming it, with no vocab.txt written. */
START_TEST(test_bad_dev_before_bpe) {
    const char *dir = tg_cli_path("bd"), *train = tg_cli_path("train.tsv");
    tg_cli_write(train, "one two\tuno dos\nthree four\ttres cuatro\n");
    char *a[] = {"train", "--train", (char *)train, "--dev", "/dev/zero", "--merges", "20", "--d-model", "16",
                 "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-steps", "1", "--out", (char *)dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, a), 1);
    ck_assert(tg_cli_has("err.txt", "/dev/zero:1: NUL byte at byte offset 0"));
    ck_assert(!tg_cli_has("err.txt", "learning 20 BPE merges"));
    char vocab[600];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", dir);
    struct stat sb;
    ck_assert_int_ne(stat(vocab, &sb), 0);
}
END_TEST

/* Flags that used to be dropped in silence are refused, nothing written: a second --config, --dev
 * or --vocab with --task, and --resume with an --out naming another folder. */
START_TEST(test_ignored_flags_refused) {
    const char *dir = tg_cli_path("f"), *a = tg_cli_path("a.txt"), *b = tg_cli_path("b.txt");
    tg_cli_write(a, "max-steps = 2\n");
    tg_cli_write(b, "max-steps = 1\n");   /* so that a run that takes them ends */
    char *twice[] = {TINY, "--config", (char *)a, "--config", (char *)b, "--out", (char *)dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, twice), 2);
    ck_assert(tg_cli_has("err.txt", "--config given twice"));
    char *dev[] = {TINY, "--max-steps", "1", "--dev", "/nonexistent/dev.tsv", "--out", (char *)dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, dev), 2);
    ck_assert(tg_cli_has("err.txt", "give it without --dev"));
    char *vocab[] = {TINY, "--max-steps", "1", "--vocab", "/nonexistent/vocab.txt", "--out", (char *)dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, vocab), 2);
    ck_assert(tg_cli_has("err.txt", "give it without --vocab"));
    /* given, but the run would not use them: --merges without BPE to learn, --patience without dev */
    char *merges[] = {TINY, "--max-steps", "1", "--merges", "10", "--out", (char *)dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, merges), 2);
    ck_assert(tg_cli_has("err.txt", "--merges: no BPE is learned with --task"));
    const char *tsv = tg_cli_path("t.tsv");
    tg_cli_write(tsv, "a b\tc d\n");
    char *patience[] = {"train", "--train", (char *)tsv, "--patience", "3", "--max-steps", "1", "--out", (char *)dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, patience), 2);
    ck_assert(tg_cli_has("err.txt", "--patience 3 counts validations, and without --dev there are none"));
    /* a resume: a data flag equal to the run's passes (an older build recorded --merges with
     * --vocab), a loop flag the run would not use is refused */
    const char *learnt = tg_cli_path("learnt"), *withvocab = tg_cli_path("withvocab");
    char *learn[] = {"train", "--train", (char *)tsv, "--merges", "4", "--max-steps", "1", "--out", (char *)learnt, NULL};
    tg_cli_run_ok(NULL, learn);
    char vocab_path[600];
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", learnt);
    char *use[] = {"train", "--train", (char *)tsv, "--vocab", vocab_path, "--max-steps", "1", "--out",
                   (char *)withvocab, NULL};
    tg_cli_run_ok(NULL, use);
    char *again[] = {"train", "--resume", (char *)withvocab, "--max-steps", "2", "--merges", "8000", NULL};
    tg_cli_run_ok(NULL, again);
    char *patient[] = {"train", "--resume", (char *)withvocab, "--max-steps", "3", "--patience", "2", NULL};
    ck_assert_int_eq(tg_cli_run(NULL, patient), 2);
    ck_assert(tg_cli_has("err.txt", "--patience 2 counts validations"));
    struct stat sb;
    ck_assert_int_ne(stat(dir, &sb), 0);

    char *run[] = {TINY, "--max-steps", "2", "--out", (char *)dir, NULL};
    tg_cli_run_ok(NULL, run);
    char *before = folder_state(dir);
    const char *other = tg_cli_path("other");
    char *elsewhere[] = {"train", "--resume", (char *)dir, "--max-steps", "3", "--out", (char *)other, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, elsewhere), 2);
    ck_assert(tg_cli_has("err.txt", "a run is resumed in its own folder"));
    assert_unchanged(dir, before);
    free(before);
    ck_assert_int_ne(stat(other, &sb), 0);
    char same[600];
    snprintf(same, sizeof same, "%s/.", dir);
    elsewhere[sizeof elsewhere / sizeof elsewhere[0] - 2] = same;   /* the same folder by another name */
    tg_cli_run_ok(NULL, elsewhere);
    ck_assert(tg_cli_has("err.txt", "resumed at step 2"));
}
END_TEST

/* More flags given that the run would not use, refused (exit 2, nothing written to --out) where
 * they were taken, recorded in config.txt and ignored: the synthetic task's settings on a run on
 * files, --max-len and --on-bad-line with --task (no corpus is read), and the validation settings
 * on a run on text without --dev (nothing is validated). Where they are used, they still run: a
 * task validates on its own dev set, a text run with --dev. A resume refuses a loop flag of these
 * as a fresh run does, and takes one that its run uses. */
START_TEST(test_unused_task_and_validation_flags_refused) {
    const char *dir = tg_cli_path("u"), *tsv = tg_cli_path("u.tsv"), *dev = tg_cli_path("u-dev.tsv");
    tg_cli_write(tsv, "a b\tc d\nb a\td c\n");
    tg_cli_write(dev, "a b\tc d\n");
#define TEXT "train", "--train", (char *)tsv, "--merges", "4", "--d-model", "16", "--heads", "2", "--d-ff", "32", \
             "--layers", "1", "--threads", "1", "--max-steps", "2"
    static const struct { const char *flag, *value, *message; } cases[] = {
        {"--task-size", "7", "--task-size: only a synthetic task (--task) reads it, and this run trains on files"},
        {"--task-max-len", "5", "--task-max-len: only a synthetic task (--task) reads it"},
        {"--task-min-len", "2", "--task-min-len: only a synthetic task (--task) reads it"},
        {"--task-vocab", "3", "--task-vocab: only a synthetic task (--task) reads it"},
        {"--valid-sentences", "3", "--valid-sentences sets how many dev sentences validation decodes, and without "
                                   "--dev there is no validation: give --dev, or leave --valid-sentences out"},
        {"--beam", "3", "--beam sets how validation decodes, and without --dev there is no validation"},
        {"--beam", "1", "--beam sets how validation decodes"},   /* the default's value, given */
        {"--alpha", "1", "--alpha sets how validation's beam search scores, and without --dev"},
        {"--valid-every", "2", "--valid-every sets how often to validate, and without --dev there is no validation"},
    };
    struct stat sb;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *a[] = {TEXT, (char *)cases[i].flag, (char *)cases[i].value, "--out", (char *)dir, NULL};
        ck_assert_msg(tg_cli_run(NULL, a) == 2, "%s %s: not exit 2", cases[i].flag, cases[i].value);
        ck_assert_msg(tg_cli_has("err.txt", cases[i].message), "%s %s: not '%s'", cases[i].flag, cases[i].value,
                      cases[i].message);
        ck_assert_msg(stat(dir, &sb) != 0, "%s %s: %s was written", cases[i].flag, cases[i].value, dir);
    }
    /* the same on a pair of files (--train-src/--train-tgt) */
    const char *src = tg_cli_path("u.src"), *tgt = tg_cli_path("u.tgt");
    tg_cli_write(src, "a b\nb a\n");
    tg_cli_write(tgt, "c d\nd c\n");
    char *pair[] = {"train", "--train-src", (char *)src, "--train-tgt", (char *)tgt, "--merges", "4", "--task-size",
                    "7", "--max-steps", "1", "--out", (char *)dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, pair), 2);
    ck_assert(tg_cli_has("err.txt", "--task-size: only a synthetic task (--task) reads it"));
    char *max_len[] = {TINY, "--max-steps", "1", "--max-len", "50", "--out", (char *)dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, max_len), 2);
    ck_assert(tg_cli_has("err.txt", "--max-len drops the longer pairs of a corpus, and --task reads none"));
    ck_assert(tg_cli_has("err.txt", "give --task-max-len, or leave --max-len out"));
    char *bad_line[] = {TINY, "--max-steps", "1", "--on-bad-line", "skip", "--out", (char *)dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, bad_line), 2);
    ck_assert(tg_cli_has("err.txt", "--on-bad-line: --task reads no file, so there is no line to skip"));
    ck_assert_int_ne(stat(dir, &sb), 0);

    /* used: a task validates on its own dev set; a text run on its --dev */
    char *task[] = {TINY, "--max-steps", "2", "--valid-every", "1", "--valid-sentences", "3", "--beam", "2",
                    "--alpha", "1", "--task-max-len", "8", "--out", (char *)dir, NULL};
    tg_cli_run_ok(NULL, task);
    char mpath[600];
    snprintf(mpath, sizeof mpath, "%s/metrics.tsv", dir);
    char *m = tg_cli_slurp(mpath);
    ck_assert_msg(strstr(m, "\nvalid\t1\t") && strstr(m, "\nvalid\t2\t"), "%s", m);
    free(m);
    /* a resume: a loop flag its run uses is taken */
    char *task_again[] = {"train", "--resume", (char *)dir, "--max-steps", "3", "--valid-every", "3", NULL};
    tg_cli_run_ok(NULL, task_again);
    const char *text_dir = tg_cli_path("u-text");
    char *text[] = {TEXT, "--dev", (char *)dev, "--valid-every", "1", "--valid-sentences", "1", "--beam", "2",
                    "--alpha", "1", "--max-len", "50", "--on-bad-line", "skip", "--out", (char *)text_dir, NULL};
    tg_cli_run_ok(NULL, text);
    snprintf(mpath, sizeof mpath, "%s/metrics.tsv", text_dir);
    m = tg_cli_slurp(mpath);
    ck_assert_msg(strstr(m, "\nvalid\t1\t") && strstr(m, "\nvalid\t2\t"), "%s", m);
    free(m);
    /* a resume of a text run without --dev: a validation flag refused, the folder as it was */
    const char *nodev = tg_cli_path("u-nodev");
    char *plain[] = {TEXT, "--out", (char *)nodev, NULL};
    tg_cli_run_ok(NULL, plain);
    char *before = folder_state(nodev);
    char *more[] = {"train", "--resume", (char *)nodev, "--max-steps", "3", "--valid-every", "1", NULL};
    ck_assert_int_eq(tg_cli_run(NULL, more), 2);
    ck_assert(tg_cli_has("err.txt", "--valid-every sets how often to validate, and without --dev"));
    assert_unchanged(nodev, before);
    free(before);
    char *off[] = {"train", "--resume", (char *)nodev, "--max-steps", "3", "--valid-every", "0", NULL};
    tg_cli_run_ok(NULL, off);   /* off, as it is: taken */
    char *on[] = {"train", "--resume", (char *)nodev, "--max-steps", "4", NULL};
    tg_cli_run_ok(NULL, on);
#undef TEXT
}
END_TEST

/* --alpha, beam search's length penalty, given with --beam 1 (train's default), whose greedy
 * decoding does not use it, was taken without a word by train (its validation), translate and
 * eval. Refused, exit 2, naming both flags, nothing written: as a flag, a --config line, on a
 * resume; taken with --beam 2, and not given (its default); a run's config.txt serves as a
 * --config still. */
START_TEST(test_alpha_with_greedy_beam_refused) {
    const char *dir = tg_cli_path("ga"), *cfg = tg_cli_path("ga.txt");
    const char *said = "--alpha is beam search's length penalty, and with --beam 1 decoding is greedy and does not "
                       "use it: give --beam 2 or more, or leave --alpha out";
    struct stat sb;
    char *given[] = {TINY, "--max-steps", "1", "--alpha", "0.8", "--out", (char *)dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, given), 2);
    ck_assert(tg_cli_has("err.txt", said));
    char *one[] = {TINY, "--max-steps", "1", "--beam", "1", "--alpha", "0.8", "--out", (char *)dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, one), 2);
    ck_assert(tg_cli_has("err.txt", said));
    tg_cli_write(cfg, "alpha = 1.1\n");
    char *file[] = {TINY, "--config", (char *)cfg, "--max-steps", "1", "--out", (char *)dir, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, file), 2);
    ck_assert(tg_cli_has("err.txt", "ga.txt:1: alpha = 1.1: --alpha is beam search's length penalty"));
    ck_assert_int_ne(stat(dir, &sb), 0);
    char *decodes[][12] = {
        {"translate", "--model", "none.ckpt", "--beam", "1", "--alpha", "0.8", NULL},
        {"eval", "--model", "none.ckpt", "--data", "none.tsv", "--alpha", "0.8", "--beam", "1", NULL},
    };
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(tg_cli_run(NULL, decodes[i]), 2);
        ck_assert(tg_cli_has("err.txt", said));
    }
    /* taken: with a beam, and at its default; a resume given it, of a greedy run, refused */
    char *beam[] = {TINY, "--max-steps", "1", "--beam", "2", "--alpha", "0.8", "--out", (char *)dir, NULL};
    tg_cli_run_ok(NULL, beam);
    const char *greedy = tg_cli_path("ga-greedy");
    char *plain[] = {TINY, "--max-steps", "1", "--out", (char *)greedy, NULL};
    tg_cli_run_ok(NULL, plain);
    char *resume[] = {"train", "--resume", (char *)greedy, "--max-steps", "2", "--alpha", "0.8", NULL};
    ck_assert_int_eq(tg_cli_run(NULL, resume), 2);
    ck_assert(tg_cli_has("err.txt", said));
    char own[600];
    for (int i = 0; i < 2; i++) {
        snprintf(own, sizeof own, "%s/config.txt", i ? greedy : dir);
        char *again[] = {"train", "--config", own, "--out", (char *)tg_cli_path(i ? "ga-c1" : "ga-c0"), NULL};
        tg_cli_run_ok(NULL, again);
    }
}
END_TEST

/* The same settings in a --config file are refused as the flags are (exit 2, the file's line
 * named, nothing written) when set to other than their defaults; a run's own config.txt, which
 * names every setting at its value, is taken as a --config of a new run, text or task. Before, a
 * file's `beam = 4` on a run without --dev did nothing without a word. */
START_TEST(test_unused_settings_in_config_file_refused) {
    const char *tsv = tg_cli_path("f.tsv"), *cfg = tg_cli_path("f.txt"), *dir = tg_cli_path("f");
    tg_cli_write(tsv, "a b\tc d\nb a\td c\n");
    char text[1024];
    static const struct { const char *line, *message; } cases[] = {
        {"beam = 4", ":6: beam = 4: --beam sets how validation decodes, and without --dev there is no validation"},
        {"task-size = 7", ":6: task-size = 7: --task-size: only a synthetic task (--task) reads it"},
        {"valid_every = 5", ":6: valid-every = 5: --valid-every sets how often to validate"},
        {"patience = 2", ":6: patience = 2: --patience 2 counts validations, and without --dev there are none"},
        {"alpha = 1.1", ":6: alpha = 1.1: --alpha sets how validation's beam search scores"},   /* not 1.1000000000000001 */
    };
    struct stat sb;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, "train = %s\nmerges = 4\nd-model = 16\nheads = 2\n# a comment\n%s\nmax-steps = 1\n",
                 tsv, cases[i].line);
        tg_cli_write(cfg, text);
        char *a[] = {"train", "--config", (char *)cfg, "--d-ff", "32", "--layers", "1", "--out", (char *)dir, NULL};
        ck_assert_msg(tg_cli_run(NULL, a) == 2, "%s: not exit 2", cases[i].line);
        ck_assert_msg(tg_cli_has("err.txt", cases[i].message), "%s: not '%s'", cases[i].line, cases[i].message);
        ck_assert_msg(stat(dir, &sb) != 0, "%s: %s was written", cases[i].line, dir);
    }
    ck_assert(tg_cli_has("err.txt", "or give its default, 0.6)"));   /* alpha's, not 0.59999999999999998 */
    /* the defaults' values, or a value the flags make used (a dev set given by flag), are taken */
    snprintf(text, sizeof text, "train = %s\nmerges = 4\nd-model = 16\nheads = 2\nbeam = 1\nvalid-every = 0\n"
             "task-size = 10000\nmax-steps = 1\nd-ff = 32\nlayers = 1\n", tsv);
    tg_cli_write(cfg, text);
    char *dflt[] = {"train", "--config", (char *)cfg, "--out", (char *)dir, NULL};
    tg_cli_run_ok(NULL, dflt);
    snprintf(text, sizeof text, "train = %s\nmerges = 4\nd-model = 16\nheads = 2\nbeam = 2\nmax-steps = 1\n"
             "d-ff = 32\nlayers = 1\n", tsv);
    tg_cli_write(cfg, text);
    char *with_dev[] = {"train", "--config", (char *)cfg, "--dev", (char *)tsv, "--out", (char *)tg_cli_path("fd"), NULL};
    tg_cli_run_ok(NULL, with_dev);
    /* a run's own config.txt as the config of the next, text (without --dev) and task */
    char own[600];
    snprintf(own, sizeof own, "%s/config.txt", dir);
    char *again[] = {"train", "--config", own, "--out", (char *)tg_cli_path("f2"), NULL};
    tg_cli_run_ok(NULL, again);
    const char *task_dir = tg_cli_path("ft");
    char *task[] = {TINY, "--max-steps", "1", "--task-max-len", "8", "--out", (char *)task_dir, NULL};
    tg_cli_run_ok(NULL, task);
    snprintf(own, sizeof own, "%s/config.txt", task_dir);
    char *task_again[] = {"train", "--config", own, "--out", (char *)tg_cli_path("ft2"), NULL};
    tg_cli_run_ok(NULL, task_again);
}
END_TEST

/* The log line's losses, perplexities and norms: fixed decimals, exponent form past 1e9 (a
 * diverging run's perplexity of exp(700) printed 305 digits into train.log). */
START_TEST(test_log_numbers_fit) {
    ck_assert_str_eq(tg_format_num(3.14159, 2).s, "3.14");
    ck_assert_str_eq(tg_format_num(123456789.0, 4).s, "123456789.0000");
    ck_assert_str_eq(tg_format_num(exp(700), 2).s, "1.014e+304");
    ck_assert_str_eq(tg_format_num(-2.5e12, 3).s, "-2.500e+12");
    ck_assert_str_eq(tg_format_num(INFINITY, 2).s, "inf");
    ck_assert_str_eq(tg_format_num(NAN, 2).s, "nan");
}
END_TEST

/* A dev sentence holding terminal escapes (an OSC that sets the window's title, a clear screen)
 * went raw to the terminal and into train.log in each validation's samples; now shown as \xNN,
 * the samples' own line breaks kept. */
START_TEST(test_dev_samples_shown_escaped) {
    tg_cli_write(tg_cli_path("t.tsv"), "one two\tuno dos\nthree four\ttres cuatro\nfive six\tcinco seis\n");
    tg_cli_write(tg_cli_path("d.tsv"), "one \033]0;PWNED\007 \033[2J two\tuno dos\n");
    char *a[] = {"train", "--train", (char *)tg_cli_path("t.tsv"), "--dev", (char *)tg_cli_path("d.tsv"),
                 "--merges", "20", "--d-model", "16", "--heads", "2", "--d-ff", "32", "--layers", "1",
                 "--max-steps", "2", "--valid-every", "2", "--threads", "1", "--out", (char *)tg_cli_path("esc"), NULL};
    tg_cli_run_ok(NULL, a);
    const char *files[] = {"err.txt", "esc/train.log"};
    for (int i = 0; i < 2; i++) {
        char *t = tg_cli_slurp(tg_cli_path(files[i]));
        ck_assert_msg(!strchr(t, '\033') && !strchr(t, '\007'), "%s holds raw control bytes", files[i]);
        ck_assert_msg(strstr(t, "sample 1: one \\x1B]0;PWNED\\x07 \\x1B[2J two\n"), "%s: %s", files[i], t);
        ck_assert_msg(strstr(t, "\n             ref: uno dos\n"), "%s: %s", files[i], t);
        free(t);
    }
}
END_TEST

/* A TAPEGRAD_KERNELS value that names no kernels is reported once (and the run goes on). */
START_TEST(test_bad_kernels_variable_warned) {
    char *a[] = {TINY, "--max-steps", "2", "--out", (char *)tg_cli_path("k"), NULL};
    ck_assert_int_eq(tg_cli_run("TAPEGRAD_KERNELS=avx3", a), 0);
    const char *msg = "TAPEGRAD_KERNELS=avx3 is not one of portable|avx2|avx512|auto";
    char *err = tg_cli_slurp(tg_cli_path("err.txt"));
    const char *at = strstr(err, msg);
    ck_assert_msg(at && !strstr(at + 1, msg), "stderr: %s", err);
    free(err);
}
END_TEST

/* The warnings about a bad TAPEGRAD_KERNELS or TAPEGRAD_THREADS printed its value raw: an ESC
 * sequence in it (a value made by a script) went to the terminal. Shown as \xNN now. */
START_TEST(test_bad_variable_values_shown_escaped) {
    static const char *const bad[] = {"TAPEGRAD_KERNELS=\033]0;t\007", "TAPEGRAD_THREADS=\033[2J"};
    static const char *const shown[] = {"TAPEGRAD_KERNELS=\\x1B]0;t\\x07 is not one of",
                                        "TAPEGRAD_THREADS=\\x1B[2J is not a thread count"};
    for (int i = 0; i < 2; i++) {
        char *a[] = {"train", "--task", "copy", "--task-vocab", "12", "--task-size", "200", "--d-model", "16",
                     "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "300", "--warmup", "10",
                     "--max-steps", "2", "--out", (char *)tg_cli_path(i ? "e1" : "e0"), NULL};   /* no --threads */
        ck_assert_int_eq(tg_cli_run(bad[i], a), 0);
        char *err = tg_cli_slurp(tg_cli_path("err.txt"));
        ck_assert_msg(strstr(err, shown[i]) && !strchr(err, '\033'), "stderr lacks '%s' or holds a raw ESC", shown[i]);
        free(err);
    }
}
END_TEST

/* A bad TAPEGRAD_THREADS was ignored without a word (all cores ran); it is now said, once. */
START_TEST(test_bad_threads_variable_warned) {
    static const char *const bad[] = {"TAPEGRAD_THREADS=abc", "TAPEGRAD_THREADS=2x", "TAPEGRAD_THREADS=-1",
                                      "TAPEGRAD_THREADS=99999", "TAPEGRAD_THREADS= 2"};
    for (int i = 0; i < 5; i++) {
        char name[8];
        snprintf(name, sizeof name, "t%d", i);
        char *a[] = {"train", "--task", "copy", "--task-vocab", "12", "--task-size", "200", "--d-model", "16",
                     "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-tokens", "300", "--warmup", "10",
                     "--max-steps", "2", "--out", (char *)tg_cli_path(name), NULL};
        ck_assert_int_eq(tg_cli_run(bad[i], a), 0);
        char msg[96];
        snprintf(msg, sizeof msg, "%s is not a thread count in 1..", bad[i]);
        char *err = tg_cli_slurp(tg_cli_path("err.txt"));
        const char *at = strstr(err, msg);
        ck_assert_msg(at && !strstr(at + 1, msg), "stderr: %s", err);
        free(err);
    }
}
END_TEST

/* What a short run writes on a terminal (a pty on its stderr) with TERM set to term (NULL: unset),
 * read to its end (malloc'd). */
static char *run_on_a_terminal(const char *term, const char *out) {
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    ck_assert_int_ge(master, 0);
    ck_assert_int_eq(grantpt(master), 0);
    ck_assert_int_eq(unlockpt(master), 0);
    char slave_name[128];
    ck_assert_ptr_nonnull(ptsname(master));
    snprintf(slave_name, sizeof slave_name, "%s", ptsname(master));
    char *a[] = {TINY, "--max-steps", "30", "--log-every", "1000", "--valid-every", "0", "--out",
                 (char *)tg_cli_path(out), NULL};
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int slave = open(slave_name, O_RDWR | O_NOCTTY);
        if (slave < 0) _exit(99);
        close(master);
        dup2(slave, 2);
        close(slave);
        if (term) setenv("TERM", term, 1);
        else unsetenv("TERM");
        _exit(tg_cli_dispatch((int)(sizeof a / sizeof a[0]) - 1, a));
    }
    size_t cap = 1 << 16, len = 0;
    char *got = malloc(cap + 1);
    ck_assert_ptr_nonnull(got);
    for (;;) {   /* EIO once the child's end is closed */
        ssize_t r = read(master, got + len, cap - len);
        if (r > 0 && (len += (size_t)r) == cap) break;
        if (r <= 0 && !(r < 0 && errno == EINTR)) break;
    }
    got[len] = '\0';
    close(master);
    ck_assert_int_eq(tg_cli_wait(pid), 0);
    return got;
}

/* The bar (redrawn with \r and ESC[K) was drawn on any terminal, one whose TERM is dumb (Emacs'
 * shell, an editor's or a CI runner's pty) or unset too, which shows the redraws as junk: there,
 * the log lines alone. (The pty turns each line's \n into \r\n.) */
START_TEST(test_no_bar_on_a_dumb_terminal) {
    const char *terms[] = {"xterm", "dumb", "", NULL};
    for (int i = 0; i < 4; i++) {
        char out[8];
        snprintf(out, sizeof out, "pty%d", i);
        char *got = run_on_a_terminal(terms[i], out);
        ck_assert_msg(strstr(got, "done: reached --max-steps"), "TERM=%s: %s", terms[i] ? terms[i] : "(unset)", got);
        bool redrawn = strstr(got, "\033[K") != NULL;
        for (const char *r = got; !redrawn && (r = strchr(r, '\r')); r++) redrawn = r[1] != '\n';
        ck_assert_msg(redrawn == (i == 0), "TERM=%s: the bar %sdrawn", terms[i] ? terms[i] : "(unset)",
                      redrawn ? "" : "not ");
        free(got);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("run_folder");
    TCase *tc = tcase_create("train");
    tcase_add_checked_fixture(tc, tg_cli_setup, tg_cli_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_lock_one_train_per_folder);
    tcase_add_test(tc, test_fresh_run_refuses_another_runs_files);
    tcase_add_test(tc, test_folder_messages_show_the_name_safely);
    tcase_add_test(tc, test_progress_lines_show_the_name_safely);
    tcase_add_test(tc, test_folder_refusals_keep_their_end);
    tcase_add_test(tc, test_resume_refusal_shows_the_runs_setting_escaped);
    tcase_add_test(tc, test_progress_lines_keep_their_end);
    tcase_add_test(tc, test_resume_path_too_long_refused);
    tcase_add_test(tc, test_config_is_not_the_runs_config_txt);
    tcase_add_test(tc, test_experiment_restarts_an_interrupted_cell);
    tcase_add_test(tc, test_users_config_and_vocab_kept);
    tcase_add_test(tc, test_ignored_flags_refused);
    tcase_add_test(tc, test_unused_task_and_validation_flags_refused);
    tcase_add_test(tc, test_unused_settings_in_config_file_refused);
    tcase_add_test(tc, test_alpha_with_greedy_beam_refused);
    tcase_add_test(tc, test_bad_dev_before_bpe);
    tcase_add_test(tc, test_inputs_that_are_outputs_refused);
    tcase_add_test(tc, test_resume_refuses_another_dev_set);
    tcase_add_test(tc, test_another_dev_set_refusal_keeps_its_end);
    tcase_add_test(tc, test_log_numbers_fit);
    tcase_add_test(tc, test_dev_samples_shown_escaped);
    tcase_add_test(tc, test_bad_kernels_variable_warned);
    tcase_add_test(tc, test_bad_threads_variable_warned);
    tcase_add_test(tc, test_bad_variable_values_shown_escaped);
    suite_add_tcase(s, tc);
    TCase *tty = tcase_create("terminal");
    tcase_add_checked_fixture(tty, tg_cli_setup, tg_cli_teardown);
    tcase_set_timeout(tty, 300);
    tcase_add_test(tty, test_no_bar_on_a_dumb_terminal);
    suite_add_tcase(s, tty);
    return tg_check_run(s) ? 1 : 0;
}
