/* test_ckpt_cmds.c: the `tapegrad ckpt` commands on what a hostile tester gave them, each run as
 * a user runs it: `ckpt diagnose` on checkpoints that are not the run's, on a folder of
 * step-N.ckpt alone, on a rerun that fails midway, on a run whose data moved; `ckpt verify` and
 * `ckpt average` on names with control bytes, `ckpt average` given one file twice, `ckpt info
 * --json` of a run without a dev set. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/tg_check.h"
#include "tests/tg_cli.h"

static bool exists(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* tg_cli_dir/train.tsv and dev.tsv: 200 and 12 pairs of a toy language pair. */
static void write_data(void) {
    static const char *const en[] = {"the", "house", "is", "red", "green", "a", "dog", "runs", "fast", "slow"};
    static const char *const es[] = {"la", "casa", "es", "roja", "verde", "un", "perro", "corre", "rápido", "lento"};
    FILE *ft = fopen(tg_cli_path("train.tsv"), "w"), *fd = fopen(tg_cli_path("dev.tsv"), "w");
    ck_assert(ft && fd);
    srand(11);
    for (int i = 0; i < 212; i++) {
        FILE *f = i < 200 ? ft : fd;
        int n = 2 + rand() % 5, w[8];
        for (int k = 0; k < n; k++) w[k] = rand() % 10;
        for (int k = 0; k < n; k++) fprintf(f, "%s%s", k ? " " : "", en[w[k]]);
        fputc('\t', f);
        for (int k = 0; k < n; k++) fprintf(f, "%s%s", k ? " " : "", es[w[k]]);
        fputc('\n', f);
    }
    ck_assert_int_eq(fclose(ft), 0);
    ck_assert_int_eq(fclose(fd), 0);
}

/* A tiny run on the files into tg_cli_dir/name: steps, a step-N.ckpt every `every` (all kept). */
static void train_run(const char *name, const char *merges, const char *steps, const char *every, bool dev) {
    char *a[] = {"train", "--train", (char *)tg_cli_path("train.tsv"), "--out", (char *)tg_cli_path(name),
                 "--merges", (char *)merges, "--d-model", "16", "--heads", "2", "--d-ff", "32", "--layers", "1",
                 "--max-steps", (char *)steps, "--save-every", (char *)every, "--keep", "100", "--log-every", "100",
                 "--threads", "1", dev ? "--dev" : NULL, (char *)tg_cli_path("dev.tsv"), "--valid-every", "1000",
                 NULL};   /* (--valid-every without --dev is refused: nothing would be validated) */
    tg_cli_run_ok(NULL, a);
}

/* tg_cli_dir/name holds needle, saying nothing (for what must be absent). */
static bool holds(const char *name, const char *needle) {
    char *s = tg_cli_slurp(tg_cli_path(name));
    bool yes = strstr(s, needle) != NULL;
    free(s);
    return yes;
}

/* The file at path holds want, byte for byte. */
static void assert_text(const char *path, const char *want) {
    char *now = tg_cli_slurp(path);
    ck_assert_str_eq(now, want);
    free(now);
}

static void copy_file(const char *from, const char *to) {
    size_t n;
    char *bytes = tg_cli_slurp_n(from, &n);
    FILE *f = fopen(to, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    free(bytes);
}

static int diagnose(const char *dir) {
    char *d[] = {"ckpt", "diagnose", "--threads", "1", (char *)dir, NULL};
    return tg_cli_run(NULL, d);
}

/* A tiny run on the files into tg_cli_dir/name (a step-N.ckpt every 10, all kept), trained to
 * `steps` with --diagnostics `every` ("0": without): a fresh run, or the run resumed when it is
 * there. Returns its path. */
static const char *diag_train(const char *name, const char *steps, const char *every) {
    const char *dir = tg_cli_path(name);
    char last[600];
    snprintf(last, sizeof last, "%s/last.ckpt", dir);
    char *fresh[] = {"train", "--train", (char *)tg_cli_path("train.tsv"), "--dev", (char *)tg_cli_path("dev.tsv"),
                     "--out", (char *)dir, "--merges", "30", "--d-model", "16", "--heads", "2", "--d-ff", "32",
                     "--layers", "1", "--save-every", "10", "--keep", "100", "--valid-every", "1000", "--threads",
                     "1", "--max-steps", (char *)steps, "--diagnostics", (char *)every, NULL};
    char *resume[] = {"train", "--resume", (char *)dir, "--max-steps", (char *)steps, "--diagnostics", (char *)every,
                      "--threads", "1", NULL};
    ck_assert_int_eq(tg_cli_run(NULL, exists(last) ? resume : fresh), 0);
    return dir;
}

/* Another run's checkpoint copied in as step-N.ckpt was diagnosed into the run's
 * diagnostics.tsv, and its own step (5) cut the rows of the run's later steps: now refused,
 * naming it, and the file is left as it was. */
START_TEST(test_diagnose_refuses_foreign_checkpoints) {
    write_data();
    train_run("runA", "30", "30", "10", true);
    train_run("runB", "60", "5", "5", true);   /* another vocabulary, step 5 */
    const char *A = tg_cli_path("runA");
    ck_assert_int_eq(diagnose(A), 0);
    char tsv[600], foreign[600];
    snprintf(tsv, sizeof tsv, "%s/diagnostics.tsv", A);
    char *before = tg_cli_slurp(tsv);
    ck_assert(strstr(before, "\n30\tdec\t"));
    static const char *const as[][2] = {   /* runB's step-5 last.ckpt copied in as */
        {"step-40.ckpt", "runA/step-40.ckpt holds step 5, not 40"},               /* not its name's step */
        {"step-5.ckpt", "runA/step-5.ckpt has another model than the run's"},    /* its step, another model */
    };
    for (int i = 0; i < 2; i++) {
        snprintf(foreign, sizeof foreign, "%s/%s", A, as[i][0]);
        copy_file(tg_cli_path("runB/last.ckpt"), foreign);
        ck_assert_int_eq(diagnose(A), 1);
        ck_assert(tg_cli_has("err.txt", as[i][1]));
        assert_text(tsv, before);
        ck_assert_int_eq(unlink(foreign), 0);
    }
    ck_assert_int_eq(diagnose(A), 0);
    assert_text(tsv, before);
    free(before);
}
END_TEST

/* The help says a folder of step-N.ckpt alone will do: it did not for a run on text ("no
 * vocab.txt"; the checkpoints hold the vocabulary). */
START_TEST(test_diagnose_folder_of_step_ckpts) {
    write_data();
    train_run("runA", "30", "30", "10", true);
    const char *A = tg_cli_path("runA"), *only = tg_cli_path("only");
    ck_assert_int_eq(diagnose(A), 0);
    ck_assert_int_eq(mkdir(only, 0755), 0);
    char from[600], to[600];
    for (int step = 10; step <= 30; step += 10) {
        snprintf(from, sizeof from, "%s/step-%d.ckpt", A, step);
        snprintf(to, sizeof to, "%s/step-%d.ckpt", only, step);
        copy_file(from, to);
    }
    ck_assert_int_eq(diagnose(only), 0);
    snprintf(from, sizeof from, "%s/diagnostics.tsv", A);
    snprintf(to, sizeof to, "%s/diagnostics.tsv", only);
    char *want = tg_cli_slurp(from), *got = tg_cli_slurp(to);
    ck_assert_str_eq(got, want);   /* the run's rows: step-30 is its last */
    free(want);
    free(got);
    const char *esc = tg_cli_path("only\x1b[31m");   /* its line names the folder escaped (the ESC went raw) */
    ck_assert_int_eq(rename(only, esc), 0);
    ck_assert_int_eq(diagnose(esc), 0);
    ck_assert(tg_cli_has("out.txt", "only\\x1B[31m: diagnostics of 3 checkpoints in"));
    ck_assert(!tg_cli_has("out.txt", "\x1b"));
    ck_assert_int_eq(rename(esc, only), 0);
    snprintf(to, sizeof to, "%s/step-20.ckpt", only);   /* a checkpoint that is not one: refused */
    tg_cli_write(to, "not a checkpoint\n");
    ck_assert_int_eq(diagnose(only), 1);
}
END_TEST

/* A run trained without --dev: diagnose recomputed its rows on whatever the training file held
 * now, exit 0 (a resume checks the data and refuses). Now it checks the data as the resume does
 * and refuses, the file left as it was; and its lines say "ckpt diagnose", not "train". */
START_TEST(test_diagnose_checks_the_training_data) {
    write_data();
    train_run("rnd", "30", "10", "5", false);
    const char *R = tg_cli_path("rnd");
    ck_assert_int_eq(diagnose(R), 0);
    ck_assert(tg_cli_has("err.txt", "tapegrad ckpt diagnose: 200 training pairs read"));
    ck_assert(!holds("err.txt", "tapegrad train:"));
    char tsv[600];
    snprintf(tsv, sizeof tsv, "%s/diagnostics.tsv", R);
    char *before = tg_cli_slurp(tsv);
    char *data = tg_cli_slurp(tg_cli_path("train.tsv"));
    for (char *p = data; (p = strstr(p, "dog")); p += 3) memcpy(p, "cat", 3);   /* the file edited */
    tg_cli_write(tg_cli_path("train.tsv"), data);
    free(data);
    ck_assert_int_eq(diagnose(R), 1);
    ck_assert(tg_cli_has("err.txt", "tapegrad ckpt diagnose: "));
    ck_assert(tg_cli_has("err.txt", "last.ckpt was trained on other data than --train reads now"));
    assert_text(tsv, before);
    free(before);
}
END_TEST

/* A rerun trimmed diagnostics.tsv at its oldest checkpoint's step, then appended a checkpoint's
 * rows at a time: stopped midway (a kill, or here a damaged checkpoint) it left the rows of the
 * later steps lost. Now the new file replaces the old one whole, or not at all. */
START_TEST(test_diagnose_rerun_stopped_keeps_file) {
    write_data();
    train_run("runA", "30", "30", "5", true);
    const char *A = tg_cli_path("runA");
    ck_assert_int_eq(diagnose(A), 0);
    char tsv[600], ckpt[600];
    snprintf(tsv, sizeof tsv, "%s/diagnostics.tsv", A);
    char *before = tg_cli_slurp(tsv);
    snprintf(ckpt, sizeof ckpt, "%s/step-20.ckpt", A);
    size_t n;
    char *bytes = tg_cli_slurp_n(ckpt, &n);
    ck_assert_int_eq(truncate(ckpt, (off_t)(n / 2)), 0);
    ck_assert_int_eq(diagnose(A), 1);
    ck_assert(tg_cli_has("err.txt", "step-20.ckpt"));
    assert_text(tsv, before);
    FILE *f = fopen(ckpt, "wb");   /* mended: the same rows again */
    ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(diagnose(A), 0);
    assert_text(tsv, before);
    free(bytes);
    free(before);
}
END_TEST

/* A run trained with --diagnostics, then resumed without: diagnose redid every row from its oldest
 * kept checkpoint on, so training's rows at the steps between checkpoints (15) and its gradient
 * norms (a checkpoint holds no gradient) were lost. Now they are kept: the file is the one training
 * wrote, then the rows of the steps trained without (30), and no gradient norm there. */
START_TEST(test_diagnose_keeps_trainings_rows) {
    write_data();
    const char *A = diag_train("runA", "20", "5");
    diag_train("runA", "30", "0");
    char tsv[600];
    snprintf(tsv, sizeof tsv, "%s/diagnostics.tsv", A);
    char *trained = tg_cli_slurp(tsv);
    ck_assert_ptr_nonnull(strstr(trained, "\n15\tenc\t0\tlayer\trank_resid\t"));
    ck_assert_ptr_nonnull(strstr(trained, "\n10\tdec\t0\tlayer\tgrad_norm\t"));
    ck_assert_ptr_null(strstr(trained, "\n30\t"));
    for (int rerun = 0; rerun < 2; rerun++) {   /* and again: the same bytes */
        ck_assert_int_eq(diagnose(A), 0);
        char *now = tg_cli_slurp(tsv);
        size_t n = strlen(trained);
        ck_assert_int_eq(strncmp(now, trained, n), 0);
        ck_assert_msg(!strncmp(now + n, "30\t", 3), "%s", now + n);
        for (const char *row = now + n; *row; row = strchr(row, '\n') + 1) {   /* step 30's, no grad_norm */
            char text[512];
            snprintf(text, sizeof text, "%.*s", (int)(strchr(row, '\n') - row), row);
            ck_assert_msg(!strncmp(text, "30\t", 3) && !strstr(text, "grad_norm"), "%s", text);
        }
        free(now);
    }
    /* a file edited by hand, step 15's rows moved up before step 10's: no row comes out twice
     * (step 10's are redone once, the moved ones kept once) */
    const char *r15 = strstr(trained, "\n15\t") + 1, *r20 = strstr(trained, "\n20\t") + 1;
    const char *r10 = strchr(trained, '\n') + 1;
    FILE *f = fopen(tsv, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%.*s%.*s%.*s%s", (int)(r10 - trained), trained, (int)(r20 - r15), r15, (int)(r15 - r10), r10, r20);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(diagnose(A), 0);
    char *edited = tg_cli_slurp(tsv);
    for (const char *row = edited; *row; row = strchr(row, '\n') + 1) {
        size_t len = (size_t)(strchr(row, '\n') - row) + 1;
        char text[512];
        snprintf(text, sizeof text, "\n%.*s", (int)len, row);
        ck_assert_msg(!strstr(row + len - 1, text), "twice: %s", text + 1);
    }
    free(edited);
    free(trained);
}
END_TEST

/* A line of diagnostics.tsv over 1 MiB (no row tapegrad writes) was refused by diagnose, 'cannot
 * read it back', exit 1, though a resume's trim drops it: now it is no row, read to its end and
 * skipped. A run trained with --diagnostics throughout is left as it is; one resumed without it
 * has its rows redone, the long line dropped by the rewrite and the rows after it kept. */
START_TEST(test_diagnose_skips_a_line_over_1_mib) {
    write_data();
    const char *A = diag_train("runA", "20", "5");
    char tsv[600];
    snprintf(tsv, sizeof tsv, "%s/diagnostics.tsv", A);
    char *trained = tg_cli_slurp(tsv);
    size_t big = (size_t)2 << 20;
    char *line = malloc(big + 2);
    ck_assert_ptr_nonnull(line);
    memset(line, 'w', big);
    memcpy(line + big, "\n", 2);
    FILE *f = fopen(tsv, "ab");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(line, 1, big + 1, f), big + 1);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(diagnose(A), 0);
    ck_assert(tg_cli_has("out.txt", "left as it is"));
    diag_train("runA", "30", "0");   /* (its trim drops the long line) */
    char *resumed = tg_cli_slurp(tsv);
    ck_assert_str_eq(resumed, trained);
    /* the long line in the middle of the rows, before step 15's: diagnose redoes step 30's */
    const char *r15 = strstr(trained, "\n15\t") + 1;
    f = fopen(tsv, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(trained, 1, (size_t)(r15 - trained), f), (size_t)(r15 - trained));
    ck_assert_uint_eq(fwrite(line, 1, big + 1, f), big + 1);
    fputs(r15, f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(diagnose(A), 0);
    char *now = tg_cli_slurp(tsv);
    ck_assert_int_eq(strncmp(now, trained, strlen(trained)), 0);
    ck_assert_msg(!strncmp(now + strlen(trained), "30\t", 3), "%.80s", now + strlen(trained));
    ck_assert_ptr_null(strstr(now, "www"));
    free(now);
    free(resumed);
    free(line);
    free(trained);
}
END_TEST

/* The rows of text without those whose step is in skip[] (0-ended) and its grad_norm rows at the
 * steps in nograd[] (0-ended): what diagnose keeps of a run trained with --diagnostics throughout. */
static char *rows_without(const char *text, const int *skip, const int *nograd) {
    char *out = malloc(strlen(text) + 1), *o = out;
    ck_assert_ptr_nonnull(out);
    for (const char *row = text; *row;) {
        size_t len = (size_t)(strchr(row, '\n') - row) + 1;
        long step = strtol(row, NULL, 10);
        bool drop = false;
        for (int i = 0; skip[i]; i++) drop |= step == skip[i];
        for (int i = 0; nograd[i]; i++) drop |= step == nograd[i] && strstr(row, "\tgrad_norm\t") < row + len;
        if (!drop) {
            memcpy(o, row, len);
            o += len;
        }
        row += len;
    }
    *o = '\0';
    return out;
}

/* A run trained without --diagnostics, then resumed with it: the checkpoints saved before the
 * resume had no rows, and diagnose left the whole run alone (its last.ckpt was trained with the
 * flag). Now those get their rows and training's are kept: the file is the rows of the same run
 * trained with --diagnostics throughout, but for the steps no checkpoint holds and the gradient
 * norms of the first stretch. A header deleted by hand is put back (the first row was taken for
 * it), and a killed diagnose's temporary is removed. */
START_TEST(test_diagnose_run_resumed_with_diagnostics) {
    write_data();
    const char *A = diag_train("runA", "20", "0"), *B = diag_train("runB", "30", "5");
    diag_train("runA", "30", "5");
    char tsv[600], half[600];
    snprintf(tsv, sizeof tsv, "%s/diagnostics.tsv", B);
    char *throughout = tg_cli_slurp(tsv);
    snprintf(tsv, sizeof tsv, "%s/diagnostics.tsv", A);
    char *trained = tg_cli_slurp(tsv);
    ck_assert_ptr_nonnull(strstr(trained, "\n25\tenc\t0\tlayer\tgrad_norm\t"));
    ck_assert_ptr_null(strstr(trained, "\n20\t"));
    const int gaps[] = {5, 15, 0}, unsaved[] = {10, 20, 0};
    char *want = rows_without(throughout, gaps, unsaved);
    ck_assert_str_ne(want, trained);
    for (int rerun = 0; rerun < 2; rerun++) {   /* and again: the same bytes */
        ck_assert_int_eq(diagnose(A), 0);
        ck_assert(tg_cli_has("out.txt", "diagnostics of 2 checkpoints"));
        assert_text(tsv, want);
    }
    /* the header deleted by hand; a killed diagnose's temporary beside */
    const char *first = strchr(want, '\n') + 1;
    tg_cli_write(tsv, first);
    pid_t gone = fork();
    ck_assert_int_ge(gone, 0);
    if (gone == 0) _exit(0);
    ck_assert_int_eq(tg_cli_wait(gone), 0);
    snprintf(half, sizeof half, "%s/diagnostics.tsv.tmp.%ld.0", A, (long)gone);
    tg_cli_write(half, "10\tenc\t0\tself_at");
    ck_assert_int_eq(diagnose(A), 0);
    assert_text(tsv, want);
    ck_assert(!exists(half));
    ck_assert(tg_cli_has("err.txt", "tapegrad ckpt diagnose: removed "));
    /* a run trained with --diagnostics throughout is left as it is, its header deleted or not */
    ck_assert_int_eq(diagnose(B), 0);
    ck_assert(tg_cli_has("out.txt", "trained with --diagnostics, left as it is"));
    snprintf(tsv, sizeof tsv, "%s/diagnostics.tsv", B);
    assert_text(tsv, throughout);
    free(want);
    free(trained);
    free(throughout);
}
END_TEST

/* A checkpoint saved by a train with --diagnostics N at a step that is no multiple of N has no
 * rows of training's (nor has any when diagnostics.tsv was deleted): diagnose took its config's
 * flag for rows and wrote none there (the run resumed without the flag), or left the whole run
 * with no file at all. Such a checkpoint gets redone rows; training's rows elsewhere are kept. */
START_TEST(test_diagnose_checkpoint_without_trainings_rows) {
    write_data();
    const char *A = diag_train("runA", "20", "7");
    diag_train("runA", "30", "0");
    char tsv[600];
    snprintf(tsv, sizeof tsv, "%s/diagnostics.tsv", A);
    char *trained = tg_cli_slurp(tsv);
    ck_assert_ptr_nonnull(strstr(trained, "\n14\tenc\t0\tlayer\tgrad_norm\t"));
    ck_assert_ptr_null(strstr(trained, "\n10\t"));
    ck_assert_int_eq(diagnose(A), 0);
    ck_assert(tg_cli_has("out.txt", "diagnostics of 3 checkpoints"));
    char *now = tg_cli_slurp(tsv);
    ck_assert_ptr_nonnull(strstr(now, "\n7\tenc\t0\tlayer\tgrad_norm\t"));   /* training's, kept */
    ck_assert_ptr_nonnull(strstr(now, "\n14\tenc\t0\tlayer\tgrad_norm\t"));
    ck_assert_ptr_nonnull(strstr(now, "\n10\tenc\t0\t"));
    ck_assert_ptr_nonnull(strstr(now, "\n20\tenc\t0\t"));
    ck_assert_ptr_nonnull(strstr(now, "\n30\tenc\t0\t"));
    ck_assert_int_eq(diagnose(A), 0);   /* again: the same bytes, the same checkpoints redone */
    ck_assert(tg_cli_has("out.txt", "diagnostics of 3 checkpoints"));
    assert_text(tsv, now);
    free(now);
    /* a run trained with --diagnostics throughout, its diagnostics.tsv deleted: redone, not left */
    const char *B = diag_train("runB", "20", "5");
    snprintf(tsv, sizeof tsv, "%s/diagnostics.tsv", B);
    ck_assert_int_eq(unlink(tsv), 0);
    ck_assert_int_eq(diagnose(B), 0);
    ck_assert(tg_cli_has("out.txt", "diagnostics of 2 checkpoints"));
    now = tg_cli_slurp(tsv);
    ck_assert_ptr_nonnull(strstr(now, "\n10\tenc\t0\t"));
    ck_assert_ptr_nonnull(strstr(now, "\n20\tenc\t0\t"));
    free(now);
    free(trained);
}
END_TEST

/* A metrics.tsv whose header was deleted by hand: a resume took its first row for the header and
 * kept it past the checkpoint's step. The header is put back and the rows trimmed as ever. */
START_TEST(test_resume_puts_back_a_deleted_metrics_header) {
    write_data();
    train_run("runA", "30", "20", "10", true);
    char metrics[600];
    snprintf(metrics, sizeof metrics, "%s/metrics.tsv", tg_cli_path("runA"));
    char *before = tg_cli_slurp(metrics);
    ck_assert(!strncmp(before, "kind\tstep\t", 10));
    const char *rows = strchr(before, '\n') + 1;
    ck_assert(*rows);
    char *edited = malloc(strlen(rows) + 256);
    sprintf(edited, "%sbogus\t99\tafter the run\n", rows);   /* and a row past the run's step */
    tg_cli_write(metrics, edited);
    char *r[] = {"train", "--resume", (char *)tg_cli_path("runA"), "--max-steps", "20", "--threads", "1", NULL};
    tg_cli_run_ok(NULL, r);
    char *after = tg_cli_slurp(metrics);
    ck_assert_msg(!strncmp(after, before, strlen(before)), "%s", after);
    ck_assert_ptr_null(strstr(after, "bogus"));
    /* the header replaced by something else (blanked, edited): tapegrad's header again */
    const char *header = "kind\tstep\tepoch\telapsed_s\tlr\tloss\tnll\tppl\ttgt_tok_s\tgrad_norm\tbleu\tchrf\n";
    ck_assert(!strncmp(before, header, strlen(header)));
    /* ... and so is a header-like line (its step column no number), a header pasted after a blank
     * line (one header kept), a BOM an editor put before the first row (the row kept, BOM gone) */
    static const char *const heads[] = {"\n", "hello world\n", "kind\tstep\tepoch\n", "kind\t1step\tepoch\n",
                                        "\n", "\xEF\xBB\xBF"};
    for (int i = 0; i < 6; i++) {
        sprintf(edited, "%s%s%s", heads[i], i == 4 ? header : "", rows);
        tg_cli_write(metrics, edited);
        tg_cli_run_ok(NULL, r);
        free(after);
        after = tg_cli_slurp(metrics);
        ck_assert_msg(!strncmp(after, before, strlen(before)), "%s", after);
    }
    free(before);
    free(edited);
    free(after);
}
END_TEST

/* Rows a train with --diagnostics wrote past its last save, then lost to a kill, were kept by a
 * resume without the flag (it did not open the file), and diagnose then kept them as training's.
 * The resume trims them as it trims metrics.tsv. */
START_TEST(test_resume_without_diagnostics_trims_lost_rows) {
    write_data();
    const char *A = diag_train("runA", "20", "5");
    char tsv[600];
    snprintf(tsv, sizeof tsv, "%s/diagnostics.tsv", A);
    char *saved = tg_cli_slurp(tsv);
    ck_assert_ptr_nonnull(strstr(saved, "\n20\tenc\t0\t"));
    char *lost = malloc(strlen(saved) + 128);
    sprintf(lost, "%s25\tenc\t0\tlayer\trank_resid\t0.5\n30\tenc\t0\tlayer\tgrad_norm\t1.5\n", saved);
    tg_cli_write(tsv, lost);   /* as a train killed at step 30, its last save at step 20, left it */
    diag_train("runA", "20", "0");
    assert_text(tsv, saved);
    free(saved);
    free(lost);
}
END_TEST

/* diagnose reads the run's data by the names its checkpoint records: one that cannot be opened
 * is named with where the name comes from. */
START_TEST(test_diagnose_names_missing_data_file) {
    write_data();
    train_run("runA", "30", "10", "10", true);
    ck_assert_int_eq(unlink(tg_cli_path("dev.tsv")), 0);
    ck_assert_int_eq(diagnose(tg_cli_path("runA")), 1);
    ck_assert(tg_cli_has("err.txt", "dev.tsv"));
    ck_assert(tg_cli_has("err.txt", "(the run's --dev, as "));
    ck_assert(tg_cli_has("err.txt", "runA/last.ckpt records it; relative paths are read from the current folder)"));
}
END_TEST

/* The run's dev file now holding other pairs (a relative name read from another folder, an
 * edit): diagnose refuses, as a resume does, rather than measure another batch than the run's. */
START_TEST(test_diagnose_refuses_another_dev_set) {
    write_data();
    train_run("runA", "30", "10", "10", true);
    tg_cli_write(tg_cli_path("dev.tsv"), "the dog\tel perro\n");
    ck_assert_int_eq(diagnose(tg_cli_path("runA")), 1);
    ck_assert(tg_cli_has("err.txt", "runA/last.ckpt was validated on another dev set (12 pairs)"));
    ck_assert(!exists(tg_cli_path("runA/diagnostics.tsv")));
}
END_TEST

/* err.txt holds needle, and each of its lines is one of tapegrad's (a line break in a name shown
 * as \x0A, never splitting a message in two). */
static bool one_line_with(const char *needle) {
    char *e = tg_cli_slurp(tg_cli_path("err.txt"));
    bool ok = strstr(e, needle) != NULL;
    for (const char *l = e; ok && *l; l = strchr(l, '\n') + 1)
        ok = !strncmp(l, "tapegrad ", 9) && strchr(l, '\n');
    if (!ok) fprintf(stderr, "--- err.txt is not lines of tapegrad's with '%s':\n%s\n", needle, e);
    free(e);
    return ok;
}

/* ckpt diagnose named its folder, a data file it cannot open and the dev file of another dev
 * set raw in its refusals: a line break in a name split the message in two. */
START_TEST(test_diagnose_refusals_show_names_escaped) {
    write_data();
    const char *empty = tg_cli_path("e\nmpty");
    ck_assert_int_eq(mkdir(empty, 0755), 0);
    ck_assert_int_eq(diagnose(empty), 1);
    ck_assert(one_line_with("e\\x0Ampty: no last.ckpt and no step-N.ckpt: not a run folder"));
    const char *dev = tg_cli_path("d\nev.tsv");
    copy_file(tg_cli_path("dev.tsv"), dev);
    char *a[] = {"train", "--train", (char *)tg_cli_path("train.tsv"), "--dev", (char *)dev,
                 "--out", (char *)tg_cli_path("r\nun"), "--merges", "30", "--d-model", "16",
                 "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-steps", "10",
                 "--save-every", "10", "--keep", "100", "--valid-every", "1000", "--threads", "1",
                 NULL};
    tg_cli_run_ok(NULL, a);
    tg_cli_write(dev, "the dog\tel perro\n");
    ck_assert_int_eq(diagnose(tg_cli_path("r\nun")), 1);
    ck_assert(one_line_with("r\\x0Aun/last.ckpt was validated on another dev set"));
    ck_assert(one_line_with("than --dev "));
    ck_assert(one_line_with("d\\x0Aev.tsv reads now"));
    ck_assert_int_eq(unlink(dev), 0);
    ck_assert_int_eq(diagnose(tg_cli_path("r\nun")), 1);
    ck_assert(one_line_with("d\\x0Aev.tsv: No such file or directory (the run's --dev, as "));
    ck_assert(one_line_with("r\\x0Aun/last.ckpt records it"));
}
END_TEST

/* A run folder's listing and metrics.tsv's rewrite named the folder raw: a line break split the
 * message, and a long name of control bytes (each shown in 4) cut its reason off. */
START_TEST(test_run_folder_reads_show_names_escaped) {
    char lost[1400], part[200];
    memset(part, '\001', 60);
    snprintf(part + 60, sizeof part - 60, "%s", "\xc3\xa9\xc3\xa9/");
    snprintf(lost, sizeof lost, "%s/", tg_cli_dir);
    for (int i = 0; i < 6; i++) strcat(lost, part);
    ck_assert_int_eq(diagnose(lost), 1);
    ck_assert(one_line_with("cannot list ...\\x01"));
    ck_assert(one_line_with("\xc3\xa9/: No such file or directory"));
    ck_assert_int_eq(diagnose(tg_cli_path("x\ny")), 1);
    ck_assert(one_line_with("cannot list "));
    ck_assert(one_line_with("x\\x0Ay: No such file or directory"));
    write_data();
    train_run("q\nr", "30", "2", "10", false);
    char metrics[600];
    snprintf(metrics, sizeof metrics, "%s/metrics.tsv", tg_cli_path("q\nr"));
    ck_assert_int_eq(unlink(metrics), 0);
    ck_assert_int_eq(symlink("elsewhere.tsv", metrics), 0);
    char *r[] = {"train", "--resume", (char *)tg_cli_path("q\nr"), "--max-steps", "3", NULL};
    ck_assert_int_eq(tg_cli_run(NULL, r), 1);
    ck_assert(one_line_with("q\\x0Ar/metrics.tsv: is a symbolic link; refusing to rewrite it"));
}
END_TEST

/* ckpt verify and ckpt average printed file names raw: a name with ESC sent it to the terminal. */
START_TEST(test_ckpt_names_escaped) {
    write_data();
    train_run("runA", "30", "20", "10", false);
    char weird[600];
    snprintf(weird, sizeof weird, "%s/a\033[31mb.ckpt", tg_cli_dir);
    copy_file(tg_cli_path("runA/step-10.ckpt"), weird);
    char *v[] = {"ckpt", "verify", weird, NULL};
    tg_cli_run_ok(NULL, v);
    ck_assert(tg_cli_has("out.txt", "a\\x1B[31mb.ckpt: tapegrad checkpoint"));
    ck_assert(!holds("out.txt", "\033"));
    char out[600];
    snprintf(out, sizeof out, "%s/avg\033[0m.ckpt", tg_cli_dir);
    char *a[] = {"ckpt", "average", weird, (char *)tg_cli_path("runA/step-20.ckpt"), "-o", out, NULL};
    tg_cli_run_ok(NULL, a);
    ck_assert(tg_cli_has("out.txt", "averaged 2 checkpoints into "));
    ck_assert(tg_cli_has("out.txt", "avg\\x1B[0m.ckpt\n"));
    ck_assert(!holds("out.txt", "\033"));
    /* average's refusals named them raw */
    char twin[600], resumable[600];
    snprintf(twin, sizeof twin, "%s/twin\033[32m.ckpt", tg_cli_dir);
    copy_file(weird, twin);
    snprintf(resumable, sizeof resumable, "%s/last\033[33m.ckpt", tg_cli_dir);
    copy_file(tg_cli_path("runA/last.ckpt"), resumable);
    char *refused[][8] = {
        {"ckpt", "average", weird, twin, "-o", out, NULL},    /* the same parameters */
        {"ckpt", "average", weird, weird, "-o", out, NULL},   /* a name given twice */
        {"ckpt", "average", weird, "-o", weird, NULL},        /* -o an input */
        {"ckpt", "average", weird, "-o", resumable, NULL},    /* -o a run's last.ckpt */
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        ck_assert_int_ne(tg_cli_run(NULL, refused[i]), 0);
        ck_assert(tg_cli_has("err.txt", "\\x1B["));
        ck_assert_msg(!holds("err.txt", "\033"), "refusal %zu: an ESC byte on stderr", i);
    }
}
END_TEST

/* ckpt average A A B weighed A twice without a word: a checkpoint given twice, by its name or by
 * another (a link), is refused, naming it, and nothing is written. */
START_TEST(test_average_refuses_input_twice) {
    write_data();
    train_run("runA", "30", "20", "10", false);
    char *s10 = (char *)tg_cli_path("runA/step-10.ckpt"), *s20 = (char *)tg_cli_path("runA/step-20.ckpt");
    const char *out = tg_cli_path("avg.ckpt"), *link_to = tg_cli_path("s10link.ckpt");
    char *a[] = {"ckpt", "average", s10, s10, s20, "-o", (char *)out, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, a), 2);
    ck_assert(tg_cli_has("err.txt", "runA/step-10.ckpt is given twice"));
    ck_assert(!exists(out));
    ck_assert_int_eq(symlink(s10, link_to), 0);
    char *b[] = {"ckpt", "average", s10, s20, (char *)link_to, "-o", (char *)out, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, b), 2);
    ck_assert(tg_cli_has("err.txt", "s10link.ckpt are the same file"));
    ck_assert(!exists(out));
    const char *copy = tg_cli_path("s10copy.ckpt");   /* a copy: the same parameters by another file */
    copy_file(s10, copy);
    char *d[] = {"ckpt", "average", s10, s20, (char *)copy, "-o", (char *)out, NULL};
    ck_assert_int_eq(tg_cli_run(NULL, d), 1);   /* the files' contents, as another model: a failure */
    ck_assert(tg_cli_has("err.txt", "s10copy.ckpt hold the same parameters (checksum "));
    ck_assert(!exists(out));
    ck_assert_int_eq(chdir(tg_cli_dir), 0);   /* -o - wrote a file named '-' */
    char *dash[] = {"ckpt", "average", s10, s20, "--output", "-", NULL};
    ck_assert_int_eq(tg_cli_run(NULL, dash), 2);
    ck_assert(tg_cli_has("err.txt", "-o -: '-' would be a file of that name"));
    ck_assert(!tg_cli_has("err.txt", "/dev/stdout"));   /* (refused: a checkpoint goes to a regular file) */
    ck_assert(!exists("-"));
    char *c[] = {"ckpt", "average", s10, s20, "-o", (char *)out, NULL};
    tg_cli_run_ok(NULL, c);
    ck_assert(exists(out));
}
END_TEST

/* ckpt info --json gave "best_bleu": -1.0000 for a run without a dev set (the text leaves the
 * line out): null. */
START_TEST(test_info_json_without_dev_is_null) {
    write_data();
    train_run("runA", "30", "10", "10", false);
    char *i[] = {"ckpt", "info", "--json", (char *)tg_cli_path("runA/last.ckpt"), NULL};
    tg_cli_run_ok(NULL, i);
    ck_assert(tg_cli_has("out.txt", "\"best_bleu\": null, \"best_step\": null,"));
    char *t[] = {"ckpt", "info", (char *)tg_cli_path("runA/last.ckpt"), NULL};
    tg_cli_run_ok(NULL, t);
    ck_assert(!holds("out.txt", "best dev BLEU"));
}
END_TEST

int main(void) {
    Suite *s = suite_create("ckpt_cmds");
    TCase *tc = tcase_create("ckpt");
    tcase_add_checked_fixture(tc, tg_cli_setup, tg_cli_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_diagnose_refuses_foreign_checkpoints);
    tcase_add_test(tc, test_diagnose_folder_of_step_ckpts);
    tcase_add_test(tc, test_diagnose_rerun_stopped_keeps_file);
    tcase_add_test(tc, test_diagnose_checks_the_training_data);
    tcase_add_test(tc, test_diagnose_keeps_trainings_rows);
    tcase_add_test(tc, test_diagnose_skips_a_line_over_1_mib);
    tcase_add_test(tc, test_diagnose_run_resumed_with_diagnostics);
    tcase_add_test(tc, test_diagnose_checkpoint_without_trainings_rows);
    tcase_add_test(tc, test_resume_puts_back_a_deleted_metrics_header);
    tcase_add_test(tc, test_resume_without_diagnostics_trims_lost_rows);
    tcase_add_test(tc, test_diagnose_names_missing_data_file);
    tcase_add_test(tc, test_diagnose_refuses_another_dev_set);
    tcase_add_test(tc, test_ckpt_names_escaped);
    tcase_add_test(tc, test_diagnose_refusals_show_names_escaped);
    tcase_add_test(tc, test_run_folder_reads_show_names_escaped);
    tcase_add_test(tc, test_average_refuses_input_twice);
    tcase_add_test(tc, test_info_json_without_dev_is_null);
    suite_add_tcase(s, tc);
    return tg_check_run(s) ? 1 : 0;
}
