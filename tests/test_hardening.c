/* test_hardening.c: issue 9 (part B) end to end, each command run as a user runs it: ckpt average
 * refuses other vocabularies and takes config and state from the last input, a checkpoint that
 * lost its vocabulary is refused, text from a checkpoint is shown escaped, --json output is valid
 * for awkward paths, and --keep leaves exactly the K newest step-N.ckpt (a resume writing the one
 * a kill left unwritten). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/tg_check.h"
#include "tests/tg_cli.h"
#include "train/ckpt/ckpt_file.h"
#include "train/run/run.h"

static char tmpdir[256];

static void setup(void) {
    ck_assert_ptr_nonnull(tg_check_mkdtemp(tmpdir, sizeof tmpdir, "tg_hardening"));
}

static void teardown(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Runs a command; stdout to tmpdir/out.txt, stderr to tmpdir/err.txt. */
static int run(char **argv) {
    char out[300], errf[300];
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    snprintf(errf, sizeof errf, "%s/err.txt", tmpdir);
    return tg_cli_wait(tg_cli_spawn(NULL, NULL, out, errf, argv));
}

static char *slurp_tmp(const char *name, size_t *len) {
    char path[300];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return tg_cli_slurp_n(path, len);
}

static bool file_has(const char *name, const char *needle) {
    char *s = slurp_tmp(name, NULL);
    bool yes = strstr(s, needle) != NULL;
    if (!yes) fprintf(stderr, "--- %s does not contain '%s':\n%s\n", name, needle, s);
    free(s);
    return yes;
}

/* tmpdir/name holds an ESC byte: text a terminal would obey, not shown escaped */
static bool has_raw_escape(const char *name) {
    size_t n;
    char *s = slurp_tmp(name, &n);
    bool yes = memchr(s, 0x1b, n) != NULL;
    free(s);
    return yes;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* argv run as nobody when root (who reads any file), else as the user: its exit code. */
static int run_as_nobody(char **argv) {
    char out[300], errf[300];
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    snprintf(errf, sizeof errf, "%s/err.txt", tmpdir);
    return tg_cli_wait(tg_cli_spawn_as(true, NULL, NULL, out, errf, argv));
}

static char *tmp_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", tmpdir, name);
    return buf;
}

/* tmpdir/name, written with text; its path in buf */
static char *tmp_file(char *buf, size_t cap, const char *name, const char *text) {
    FILE *f = fopen(tmp_path(buf, cap, name), "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    return buf;
}

/* A tiny English-Spanish TSV run in tmpdir/NAME: 4 updates, checkpoints step-2 and step-4. */
static void tsv_run(const char *name) {
    char train[300], dir[300];
    tmp_file(train, sizeof train, "train.tsv", "the red house\tla casa roja\na green dog\tun perro verde\n"
             "the dog runs\tel perro corre\na slow house\tuna casa lenta\n");
    tmp_path(dir, sizeof dir, name);
    char *a[] = {"train", "--train", train, "--out", dir, "--merges", "10", "--d-model", "8", "--heads", "2",
                 "--d-ff", "8", "--layers", "1", "--max-steps", "4", "--save-every", "2", "--keep", "2",
                 "--threads", "1", NULL};
    ck_assert_int_eq(run(a), 0);
}

/* The vocab section of ckpt with two characters' lines swapped: as valid and as large, but the
 * same ids now mean other pieces. */
static char *swapped_vocab(const char *ckpt, size_t *len) {
    tg_ckpt_reader *r;
    tg_err err;
    ck_assert_int_eq(tg_ckpt_reader_open(ckpt, &r, &err), TG_OK);
    const void *p;
    ck_assert_int_eq(tg_ckpt_reader_get(r, "vocab", &p, len, &err), TG_OK);
    char *v = malloc(*len + 1);
    memcpy(v, p, *len);
    v[*len] = '\0';
    tg_ckpt_reader_free(r);
    char *a = strstr(v, "\nchars ");
    ck_assert_ptr_nonnull(a);
    a = strchr(a + 1, '\n') + 1;            /* the first character's line: the word marker */
    a = strchr(a, '\n') + 1;                /* the second's */
    char *b = strchr(a, '\n') + 1;          /* the third's */
    char *e = strchr(b, '\n');
    ck_assert(b - a == 2 && e - b == 1);   /* two one-byte characters ("e\n", "r\n") */
    char t = a[0];
    a[0] = b[0];
    b[0] = t;
    return v;
}

/* Issue 9, item 8. */
START_TEST(test_average_refuses_other_vocab_and_takes_last) {
    tsv_run("r");
    char s2[300], s4[300], other[300], out[300];
    tmp_path(s2, sizeof s2, "r/step-2.ckpt");
    tmp_path(s4, sizeof s4, "r/step-4.ckpt");
    tmp_path(other, sizeof other, "other.ckpt");
    tmp_path(out, sizeof out, "avg.ckpt");
    size_t vlen;
    char *v = swapped_vocab(s4, &vlen);
    tg_cli_rewrite_section(s4, other, "vocab", v, vlen);
    free(v);
    char *a[] = {"ckpt", "average", s2, other, "-o", out, NULL};
    ck_assert_int_eq(run(a), 1);
    ck_assert(file_has("err.txt", "different vocabularies"));
    ck_assert(file_has("err.txt", "r/step-2.ckpt"));
    ck_assert(file_has("err.txt", "other.ckpt"));
    ck_assert(!exists(out));
    /* the help says config, vocabulary and state come from the last input: so they do */
    char *h[] = {"ckpt", "average", "--help", NULL};
    ck_assert_int_eq(run(h), 0);
    ck_assert(file_has("out.txt", "from the last input"));
    int64_t want[2] = {4, 2};
    char *order[2][2] = {{s2, s4}, {s4, s2}};
    for (int k = 0; k < 2; k++) {
        char *b[] = {"ckpt", "average", order[k][0], order[k][1], "-o", out, NULL};
        ck_assert_int_eq(run(b), 0);
        tg_loaded L;
        tg_err err;
        ck_assert_int_eq(tg_run_load_model(out, &L, &err), TG_OK);
        ck_assert_int_eq(L.st.step, want[k]);
        ck_assert_ptr_nonnull(L.bpe);
        tg_loaded_free(&L);
    }
}
END_TEST

/* Issue 9, item 11: a text run's checkpoint without its vocab section is refused, not read as
 * a synthetic task's ids. */
START_TEST(test_checkpoint_without_vocab_refused) {
    tsv_run("r");
    char last[300], cut[300];
    tmp_path(last, sizeof last, "r/last.ckpt");
    tmp_path(cut, sizeof cut, "novocab.ckpt");
    tg_cli_rewrite_section(last, cut, "vocab", NULL, 0);
    char *t[] = {"translate", "--model", cut, NULL};
    ck_assert_int_eq(run(t), 1);
    ck_assert(file_has("err.txt", "novocab.ckpt: section 'vocab' is missing"));
    char *i[] = {"ckpt", "info", cut, NULL};
    ck_assert_int_eq(run(i), 1);
    /* one whose vocab section is damaged: its line is the embedded vocabulary's, which the
     * message says (it read "badvocab.ckpt:3:", a line of no text in the file) */
    tg_ckpt_reader *r;
    tg_err err;
    ck_assert_int_eq(tg_ckpt_reader_open(last, &r, &err), TG_OK);
    const void *p;
    size_t n;
    ck_assert_int_eq(tg_ckpt_reader_get(r, "vocab", &p, &n, &err), TG_OK);
    char *v = malloc(n + 1);
    memcpy(v, p, n);
    v[n] = '\0';
    tg_ckpt_reader_free(r);
    char *bytes = strstr(v, "\nbytes 256\n");
    ck_assert_ptr_nonnull(bytes);
    bytes[7] = 'x';   /* line 3: "bytes x56" */
    tmp_path(cut, sizeof cut, "badvocab.ckpt");
    tg_cli_rewrite_section(last, cut, "vocab", v, n);
    free(v);
    ck_assert_int_eq(run(t), 1);
    ck_assert(file_has("err.txt", "badvocab.ckpt's embedded vocabulary:3: expected 'bytes 256'"));
}
END_TEST

/* Issue 9, item 11: the kernels name is the file's text: shown with its control bytes escaped. */
START_TEST(test_checkpoint_text_shown_escaped) {
    tsv_run("r");
    char last[300];
    tmp_path(last, sizeof last, "r/last.ckpt");
    static const char evil[] = "fast\x1b]0;owned\x07\x1b[2J";
    tg_cli_rewrite_section(last, last, "kernels", evil, sizeof evil - 1);
    char dir[300];
    char *r[] = {"train", "--resume", tmp_path(dir, sizeof dir, "r"), "--max-steps", "5", NULL};
    ck_assert_int_eq(run(r), 0);
    ck_assert(file_has("err.txt", "'fast\\x1B]0;owned\\x07\\x1B[2J' kernels"));
    ck_assert(!has_raw_escape("err.txt"));
}
END_TEST

/* Issue 9, item 11: --json output escapes paths (quotes, backslashes, control characters). */
START_TEST(test_json_escapes_paths) {
    tsv_run("r");
    char last[300], odd[300], data[300], odd_data[300];
    tmp_path(last, sizeof last, "r/last.ckpt");
    tmp_path(odd, sizeof odd, "we\"ird\\na\tme.ckpt");
    tg_cli_rewrite_section(last, odd, "none", NULL, 0);
    char *i[] = {"ckpt", "info", "--json", odd, NULL};
    ck_assert_int_eq(run(i), 0);
    ck_assert(file_has("out.txt", "we\\\"ird\\\\na\\tme.ckpt\", \"file_size\""));
    tmp_path(data, sizeof data, "train.tsv");
    tmp_path(odd_data, sizeof odd_data, "d\"\x01.tsv");
    ck_assert_int_eq(rename(data, odd_data), 0);
    char *e[] = {"eval", "--model", odd, "--data", odd_data, "--json", "--beam", "1", NULL};
    ck_assert_int_eq(run(e), 0);
    ck_assert(file_has("out.txt", "\"data\": \"") && file_has("out.txt", "d\\\"\\u0001.tsv\", \"pairs\""));
}
END_TEST

/* The params section of ckpt with every value set to v (float checkpoints; a copy the caller frees). */
static float *params_all(const char *ckpt, float v, size_t *len) {
    tg_ckpt_reader *r;
    tg_err err;
    ck_assert_int_eq(tg_ckpt_reader_open(ckpt, &r, &err), TG_OK);
    const void *p;
    ck_assert_int_eq(tg_ckpt_reader_get(r, "params", &p, len, &err), TG_OK);
    tg_ckpt_reader_free(r);
    float *x = malloc(*len);
    for (size_t i = 0; i < *len / sizeof *x; i++) x[i] = v;
    return x;
}

/* A checkpoint holding an infinite parameter is refused by name (translate, eval, resume), and
 * --adam-eps 0 (0/0 for a parameter whose gradients were all zero) is refused before training. A
 * model whose finite parameters overflow gives a NaN loss, which eval --json writes as null. */
START_TEST(test_non_finite_models_refused) {
    if (sizeof(tg_float) != 4) return;   /* the sections below are written as floats */
    tsv_run("r");
    char last[300], inf_ck[300], big[300], data[300];
    tmp_path(last, sizeof last, "r/last.ckpt");
    tmp_path(inf_ck, sizeof inf_ck, "inf.ckpt");
    tmp_path(big, sizeof big, "big.ckpt");
    tmp_path(data, sizeof data, "train.tsv");
    size_t n;
    float *x = params_all(last, INFINITY, &n);
    tg_cli_rewrite_section(last, inf_ck, "params", x, n);
    free(x);
    char *e[] = {"eval", "--model", inf_ck, "--data", data, "--json", NULL};
    ck_assert_int_eq(run(e), 1);
    ck_assert(file_has("err.txt", "inf.ckpt: parameter '") && file_has("err.txt", "' holds inf at element 0"));
    char *t[] = {"translate", "--model", inf_ck, "--input", data, NULL};
    ck_assert_int_ne(run(t), 0);
    ck_assert(file_has("err.txt", "holds inf at element 0"));
    x = params_all(last, 1e30f, &n);
    tg_cli_rewrite_section(last, big, "params", x, n);
    free(x);
    char *j[] = {"eval", "--model", big, "--data", data, "--json", NULL};
    ck_assert_int_eq(run(j), 0);
    ck_assert(file_has("out.txt", "\"loss\": null, \"nll\": null, \"ppl\": null"));
    char dir[300];
    tmp_path(dir, sizeof dir, "eps0");
    char *a[] = {"train", "--train", data, "--out", dir, "--adam-eps", "0", "--max-steps", "2", NULL};
    ck_assert_int_eq(run(a), 2);
    ck_assert(file_has("err.txt", "--adam-eps: 0 is outside"));
    ck_assert(!exists(dir));
}
END_TEST

/* eval's text said "nll right   nan" when no target is the most probable token (JSON: null): n/a. A
 * model of zeros gives every token the same probability, the first (a special, never a target) its
 * argmax. */
START_TEST(test_eval_nll_right_of_no_target_na) {
    if (sizeof(tg_float) != 4) return;   /* the section below is written as floats */
    tsv_run("r");
    char last[300], zero[300], data[300];
    tmp_path(last, sizeof last, "r/last.ckpt");
    tmp_path(zero, sizeof zero, "zero.ckpt");
    tmp_path(data, sizeof data, "train.tsv");
    size_t n;
    float *x = params_all(last, 0, &n);
    tg_cli_rewrite_section(last, zero, "params", x, n);
    free(x);
    char *e[] = {"eval", "--model", zero, "--data", data, "--beam", "1", NULL};
    ck_assert_int_eq(run(e), 0);
    ck_assert(file_has("out.txt", "accuracy    0.00%"));
    ck_assert(file_has("out.txt", "nll right   n/a  (of the targets that are the most probable token; "));
    char *s = slurp_tmp("out.txt", NULL);
    ck_assert_ptr_null(strstr(s, "nan"));
    free(s);
    char *j[] = {"eval", "--model", zero, "--data", data, "--beam", "1", "--json", NULL};
    ck_assert_int_eq(run(j), 0);
    ck_assert(file_has("out.txt", "\"nll_right\": null, \"nll_wrong\": "));
}
END_TEST

/* A tiny copy-task run with periodic checkpoints; extra flags follow. */
#define KEEP_RUN "train", "--task", "copy", "--task-vocab", "12", "--task-size", "200", "--d-model", "8", \
                 "--heads", "2", "--d-ff", "8", "--layers", "1", "--max-tokens", "200", "--threads", "1", \
                 "--save-every", "4"

/* The step-N.ckpt files of dir, oldest first, each followed by a space. */
static char *periodic_list(const char *dir) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "cd '%s' && ls step-*.ckpt | sort -t- -k2 -n | tr '\\n' ' ' > ../ls.txt", dir);
    ck_assert_int_eq(system(cmd), 0);
    return slurp_tmp("ls.txt", NULL);
}

/* dir's step-N.ckpt files are exactly want ("step-4.ckpt step-8.ckpt ", oldest first). */
static void assert_periodic(const char *dir, const char *want) {
    char *s = periodic_list(dir);
    ck_assert_str_eq(s, want);
    free(s);
}

/* The mean loss a token of the interval a checkpoint carries (section 'interval': u32 version, i64
 * steps, i64 tokens, f64 loss sum, ...). */
static double interval_mean_loss(const char *ckpt) {
    tg_ckpt_reader *r;
    tg_err err;
    ck_assert_msg(tg_ckpt_reader_open(ckpt, &r, &err) == TG_OK, "%s", err.msg);
    const unsigned char *p;
    size_t n;
    ck_assert_int_eq(tg_ckpt_reader_get(r, "interval", (const void **)&p, &n, &err), TG_OK);
    ck_assert_uint_ge(n, 28);
    int64_t tokens;
    double loss;
    memcpy(&tokens, p + 12, 8);
    memcpy(&loss, p + 20, 8);
    tg_ckpt_reader_free(r);
    return tokens > 0 ? loss / (double)tokens : 0;
}

/* A run diverging (lr 30) sums losses of hundreds of nats a token into the interval its
 * checkpoints carry; the loader refused a mean above 700 as corrupt, so the run's own last.ckpt
 * could not be resumed (nor reloaded after skipped updates). It now resumes. */
START_TEST(test_diverging_run_resumes) {
    char train[300], dir[300], last[320];
    tsv_run("d0");   /* writes train.tsv */
    tmp_path(train, sizeof train, "train.tsv");
    tmp_path(dir, sizeof dir, "d");
    char *a[] = {"train", "--train", train, "--out", dir, "--merges", "10", "--d-model", "8", "--heads", "2",
                 "--d-ff", "8", "--layers", "1", "--max-steps", "12", "--save-every", "6", "--log-every", "5",
                 "--lr", "30", "--schedule", "constant", "--warmup", "1", "--threads", "1", NULL};
    ck_assert_int_eq(run(a), 0);
    snprintf(last, sizeof last, "%s/last.ckpt", dir);
    double mean = interval_mean_loss(last);   /* steps 11-12, as the old loader met them */
    ck_assert_msg(mean > 700, "the run did not diverge enough to test the bound: %g a token", mean);
    char *log = slurp_tmp("err.txt", NULL);   /* no dev set: no "best dev BLEU -1.00 at step 0" */
    ck_assert(strstr(log, "done: reached --max-steps at step 12 after") && !strstr(log, "best dev BLEU"));
    free(log);
    char *b[] = {"train", "--resume", dir, "--max-steps", "16", NULL};
    ck_assert_int_eq(run(b), 0);
    ck_assert(file_has("err.txt", "step 16"));
}
END_TEST

/* Number flags are whole decimal numbers in range: eval took (int)strtol, so 4294967297 became 1
 * (--beam 4294967297 ran greedy) and 99999999999 a beam of 1215752191; " 2" and "" passed; translate
 * took --beam 2.5 as 2 and hex. Each is now a usage error naming the flag, before any file is read. */
START_TEST(test_number_flags_strict) {
    static const char *const bad[][4] = {
        {"eval", "--beam", "4294967297"}, {"eval", "--beam", "99999999999"}, {"eval", "--beam", " 2"},
        {"eval", "--beam", "1001"},       {"eval", "--threads", "4294967297"}, {"eval", "--alpha", ""},
        {"eval", "--max-tokens", "4294967297"}, {"eval", "--batch", "2x"}, {"eval", "--alpha", "11"},
        {"translate", "--beam", "2.5"},   {"translate", "--alpha", "0x1p1"}, {"translate", "--threads", "65"},
        {"translate", "--max-len-b", "-1"}, {"gradcheck", "--threads", "4294967297"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *a[] = {(char *)bad[i][0], (char *)bad[i][1], (char *)bad[i][2], "--model", "m.ckpt", "--data",
                     "d.tsv", NULL};
        if (strcmp(bad[i][0], "eval")) a[5] = NULL;   /* translate reads stdin; gradcheck takes neither */
        if (!strcmp(bad[i][0], "gradcheck")) a[3] = NULL;
        ck_assert_msg(run(a) == 2, "%s %s '%s' was taken", bad[i][0], bad[i][1], bad[i][2]);
        char want[64];
        snprintf(want, sizeof want, "%s wants ", bad[i][1]);
        ck_assert(file_has("err.txt", want));
    }
    static const char *const bench[][2] = {{"--min-time", "0x0"}, {"--min-time", " 0"}, {"--sizes", " 8"},
                                           {"--sizes", "8, 16"}, {"--sizes", "-8"}};
    for (int i = 0; i < 5; i++) {
        char *b[] = {"bench", "gemm", (char *)bench[i][0], (char *)bench[i][1], NULL};
        ck_assert_msg(run(b) == 2, "bench gemm %s '%s' was taken", bench[i][0], bench[i][1]);
    }
    char *d[] = {"ckpt", "diagnose", "--threads", "4294967297", "somewhere", NULL};
    ck_assert_int_eq(run(d), 2);
    ck_assert(file_has("err.txt", "--threads wants a whole number in [0, 64], not '4294967297'"));
    char *d65[] = {"ckpt", "diagnose", "--threads", "65", "somewhere", NULL};   /* as train's, 64 at most */
    ck_assert_int_eq(run(d65), 2);
    ck_assert(file_has("err.txt", "--threads wants a whole number in [0, 64], not '65'"));
}
END_TEST

/* glibc's getopt printed a bad option raw ("train: unrecognized option '--x\e[31m'", the terminal
 * obeying it): each command names it escaped, as "tapegrad CMD: ...", and exits 2. */
START_TEST(test_option_errors_shown_escaped) {
    static const char *const cmds[][3] = {   /* the command, its action, the name its messages give */
        {"train", NULL, "train"}, {"translate", NULL, "translate"}, {"eval", NULL, "eval"},
        {"score", NULL, "score"}, {"gradcheck", NULL, "gradcheck"}, {"bench", "gemm", "bench"},
        {"experiment", NULL, "experiment"}, {"ckpt", "verify", "ckpt verify"}, {"ckpt", "info", "ckpt info"},
        {"ckpt", "average", "ckpt average"}, {"ckpt", "diagnose", "ckpt diagnose"}, {"vocab", "learn", "vocab"},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char *a[] = {(char *)cmds[i][0], (char *)cmds[i][1], "--x\x1b[31m", NULL};
        if (!cmds[i][1]) a[1] = a[2], a[2] = NULL;
        ck_assert_msg(run(a) == 2, "%s", cmds[i][2]);
        char want[128];
        snprintf(want, sizeof want, "tapegrad %s: unrecognized option '--x\\x1B[31m'\n", cmds[i][2]);
        ck_assert(file_has("err.txt", want));
        ck_assert(file_has("err.txt", "usage: tapegrad"));
        ck_assert(!has_raw_escape("err.txt"));
    }
    static const char *const other[][4] = {   /* the other errors getopt reported, worded as glibc's */
        {"translate", "--model", NULL, "tapegrad translate: option '--model' requires an argument"},
        {"translate", "--mod", NULL, "tapegrad translate: option '--model' requires an argument"},
        {"eval", "--json=\x1b", NULL, "tapegrad eval: option '--json' doesn't allow an argument"},
        {"score", "--s", "x", "tapegrad score: option '--s' is ambiguous"},
        {"ckpt", "average", "-o", "tapegrad ckpt average: option '-o' requires an argument"},
        {"ckpt", "average", "-q\x1b", "tapegrad ckpt average: unrecognized option '-q'"},
        {"score", "-\x1b", NULL, "tapegrad score: unrecognized option '-\\x1B'"},
        {"vocab", "learn", "--merges", "tapegrad vocab: option '--merges' requires an argument"},
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        char *a[] = {(char *)other[i][0], (char *)other[i][1], (char *)other[i][2], NULL};
        ck_assert_msg(run(a) == 2, "%s %s", other[i][0], other[i][1]);
        ck_assert(file_has("err.txt", other[i][3]));
        ck_assert(!has_raw_escape("err.txt"));
    }
}
END_TEST

/* --out FILE (a file, not a folder) said "cannot open FILE/lock: Not a directory" (train) or
 * "cannot read FILE/cells/...: Not a directory" (experiment): each names it as not a folder, exit 1,
 * the file as it was; --resume FILE and `experiment report FILE` too. */
START_TEST(test_out_file_is_not_a_folder) {
    char train[300], file[300];
    tmp_file(train, sizeof train, "train.tsv", "the red house\tla casa roja\na green dog\tun perro verde\n");
    tmp_file(file, sizeof file, "notes", "mine\n");
    char *t[] = {"train", "--train", train, "--out", file, "--max-steps", "1", NULL};
    char *x[] = {"experiment", "--train", train, "--out", file, "--max-steps", "1", "--vary", "norm=pre,post",
                 "--seeds", "1", NULL};
    char *xd[] = {"experiment", "--train", train, "--out", file, "--max-steps", "1", "--vary", "norm=pre,post",
                  "--seeds", "1", "--dry-run", NULL};
    char *tr[] = {"train", "--resume", file, NULL};
    char *xr[] = {"experiment", "--resume", file, NULL};
    char *rp[] = {"experiment", "report", file, NULL};
    char **cmds[] = {t, x, xd, tr, xr, rp};
    char want[400];
    snprintf(want, sizeof want, "%s is not a folder\n", file);
    for (int i = 0; i < 6; i++) {
        ck_assert_msg(run(cmds[i]) == 1, "%s %s", cmds[i][0], cmds[i][1]);
        ck_assert(file_has("err.txt", want));
        char *e = slurp_tmp("err.txt", NULL), *kept = slurp_tmp("notes", NULL);
        ck_assert(!strstr(e, "Not a directory"));
        ck_assert_str_eq(kept, "mine\n");
        free(e);
        free(kept);
    }
}
END_TEST

/* An empty path said ": cannot open" (translate --model ''), or was read as /last.ckpt (train
 * --resume ''): each says the path is empty. */
START_TEST(test_empty_paths_named) {
    static const char *const cmds[][5] = {
        {"translate", "--model", "", NULL, "tapegrad translate: --model '' is an empty path: give a checkpoint file"},
        {"eval", "--model", "", "--data=d.tsv", "tapegrad eval: --model '' is an empty path: give a checkpoint file"},
        {"ckpt", "info", "", NULL, "tapegrad ckpt info: '': an empty path, not a checkpoint file"},
        {"train", "--resume", "", NULL, "tapegrad train: cannot resume: '': an empty path, not a folder"},
        {"experiment", "--resume", "", NULL, "tapegrad experiment: cannot resume: '': an empty path, not a folder"},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char *a[] = {(char *)cmds[i][0], (char *)cmds[i][1], (char *)cmds[i][2], (char *)cmds[i][3], NULL};
        ck_assert_int_ne(run(a), 0);
        ck_assert(file_has("err.txt", cmds[i][4]));
    }
}
END_TEST

/* An output that names an input: `ckpt average X -o X` replaced a run's last.ckpt with a model-only
 * file (the run could no longer resume), and `vocab learn --data C -o C` replaced the corpus. Both
 * are refused, as is an average over a resumable checkpoint that is not an input; files intact. */
START_TEST(test_outputs_that_name_inputs_refused) {
    tsv_run("r");
    char last[300], alias[300], step2[300], avg[300], train[300], src[300];
    tmp_path(last, sizeof last, "r/last.ckpt");
    tmp_path(alias, sizeof alias, "r/./last.ckpt");
    tmp_path(step2, sizeof step2, "r/step-2.ckpt");
    tmp_path(avg, sizeof avg, "avg.ckpt");
    tmp_path(train, sizeof train, "train.tsv");
    tmp_path(src, sizeof src, "src.txt");
    size_t n0, n1;
    char *before = tg_cli_slurp_n(last, &n0);
    char *self[] = {"ckpt", "average", last, "-o", alias, NULL};
    ck_assert_int_eq(run(self), 2);
    ck_assert(file_has("err.txt", "is the input"));
    char *over[] = {"ckpt", "average", step2, "-o", last, NULL};
    ck_assert_int_eq(run(over), 2);
    ck_assert(file_has("err.txt", "holds a run's optimiser state"));
    /* a link to it is replaced by the average, the run's file kept (it was refused as the file) */
    char link[300];
    tmp_path(link, sizeof link, "r/latest.ckpt");
    ck_assert_int_eq(symlink("last.ckpt", link), 0);
    char *via[] = {"ckpt", "average", step2, "-o", link, NULL};
    ck_assert_int_eq(run(via), 0);
    struct stat ls;
    ck_assert(lstat(link, &ls) == 0 && S_ISREG(ls.st_mode));
    char *after = tg_cli_slurp_n(last, &n1);
    ck_assert(n0 == n1 && n0 > 0 && !memcmp(before, after, n0));
    free(before);
    free(after);
    char *resume[] = {"train", "--resume", (char *)tmp_path(src, sizeof src, "r"), "--max-steps", "5", NULL};
    ck_assert_int_eq(run(resume), 0);
    char *a1[] = {"ckpt", "average", last, "-o", avg, NULL};   /* a model-only output is replaced */
    ck_assert_int_eq(run(a1), 0);
    ck_assert_int_eq(run(a1), 0);
    /* ckpt average -o r/config.txt (a slip for a .ckpt) replaced the run's recipe by a checkpoint,
     * exit 0: the resume then refused its config.txt; an empty file is still taken */
    char cfg[300], empty[300];
    tmp_path(cfg, sizeof cfg, "r/config.txt");
    tmp_path(empty, sizeof empty, "empty.ckpt");
    before = tg_cli_slurp_n(cfg, &n0);
    char *a2[] = {"ckpt", "average", last, "-o", cfg, NULL};
    ck_assert_int_eq(run(a2), 2);
    ck_assert(file_has("err.txt",
                       "config.txt is not a tapegrad checkpoint: the average would replace it"));
    after = tg_cli_slurp_n(cfg, &n1);
    ck_assert(n0 == n1 && n0 > 0 && !memcmp(before, after, n0));
    free(before);
    free(after);
    tg_cli_write(empty, "");
    char *a3[] = {"ckpt", "average", last, "-o", empty, NULL};
    ck_assert_int_eq(run(a3), 0);
    /* an -o that cannot be read (here the average just made, a checkpoint) was said to be no
     * checkpoint: its reader cannot tell what it holds, and it is not replaced unseen */
    ck_assert_int_eq(chmod(tmpdir, 0711), 0);   /* nobody passes through, reads nothing */
    ck_assert_int_eq(chmod(empty, 0), 0);
    before = tg_cli_slurp_n(empty, &n0);
    ck_assert_int_eq(run_as_nobody(a3), 2);
    ck_assert(file_has("err.txt", "empty.ckpt cannot be read (Permission denied), so it is not "
                                  "known to be a checkpoint the average may replace"));
    /* vocab learn replaced such a file, in a folder it may write, exit 0 */
    char open_dir[300], hidden[340];
    tmp_path(open_dir, sizeof open_dir, "open");
    snprintf(hidden, sizeof hidden, "%s/hidden.ckpt", open_dir);
    ck_assert_int_eq(mkdir(open_dir, 0777), 0);
    ck_assert_int_eq(chmod(open_dir, 0777), 0);   /* (past the umask) */
    FILE *h = fopen(hidden, "wb");
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(fwrite(before, 1, n0, h), n0);
    ck_assert_int_eq(fclose(h), 0);
    ck_assert_int_eq(chmod(hidden, 0), 0);
    char *v0[] = {"vocab", "learn", "--data", train, "--merges", "5", "-o", hidden, NULL};
    ck_assert_int_eq(run_as_nobody(v0), 2);
    ck_assert(file_has("err.txt", "hidden.ckpt cannot be read (Permission denied): it may be a "
                                  "checkpoint, which the vocabulary would replace"));
    char *kept = tg_cli_slurp_n(hidden, &n1);
    ck_assert(n0 == n1 && !memcmp(before, kept, n0));
    free(kept);
    after = tg_cli_slurp_n(empty, &n1);
    ck_assert(n0 == n1 && n0 > 0 && !memcmp(before, after, n0));
    free(before);
    free(after);
    /* vocab learn -o a checkpoint (a slip for r/vocab.txt) replaced it with the vocabulary's text,
     * exit 0: the run could not resume, the average not translate */
    const char *ckpts[] = {last, avg};
    for (int k = 0; k < 2; k++) {
        before = tg_cli_slurp_n(ckpts[k], &n0);
        char *vc[] = {"vocab", "learn", "--data", train, "--merges", "5", "-o", (char *)ckpts[k],
                      NULL};
        ck_assert_int_eq(run(vc), 2);
        ck_assert(file_has("err.txt",
                           ".ckpt is a tapegrad checkpoint: the vocabulary would replace it"));
        after = tg_cli_slurp_n(ckpts[k], &n1);
        ck_assert(n0 == n1 && !memcmp(before, after, n0));
        free(before);
        free(after);
    }
    before = tg_cli_slurp_n(train, &n0);
    char *v1[] = {"vocab", "learn", "--data", train, "--merges", "5", "-o", train, NULL};
    ck_assert_int_eq(run(v1), 2);
    ck_assert(file_has("err.txt", "is the corpus"));
    tmp_path(src, sizeof src, "src.txt");
    FILE *f = fopen(src, "w");
    ck_assert_ptr_nonnull(f);
    fputs("the red house\na green dog\nthe dog runs\na slow house\n", f);
    fclose(f);
    char *v2[] = {"vocab", "learn", "--src", src, "--tgt", src, "--merges", "5", "-o", src, NULL};
    ck_assert_int_eq(run(v2), 2);
    after = tg_cli_slurp_n(train, &n1);
    ck_assert(n0 == n1 && !memcmp(before, after, n0));
    ck_assert(file_has("src.txt", "a slow house\n"));
    free(before);
    free(after);
}
END_TEST

/* A fresh run replaced a valid vocab.txt or config.txt the user had put in --out (only files that
 * did not parse were kept). What an interrupted start leaves (config.txt as a run formats it, then
 * vocab.txt) is still replaced; a vocab.txt without config.txt, or a config.txt with other text, is
 * the user's and the run refuses the folder, files intact. */
START_TEST(test_users_files_in_out_kept) {
    tsv_run("r");   /* writes train.tsv; r/config.txt and r/vocab.txt are a run's */
    char train[300], u[300], v[300], w[300], path[320];
    tmp_path(train, sizeof train, "train.tsv");
    tmp_path(u, sizeof u, "u");
    tmp_path(v, sizeof v, "v");
    tmp_path(w, sizeof w, "w");
    ck_assert_int_eq(mkdir(u, 0755), 0);
    snprintf(path, sizeof path, "%s/vocab.txt", u);
    char *learn[] = {"vocab", "learn", "--data", train, "--merges", "12", "-o", path, NULL};
    ck_assert_int_eq(run(learn), 0);
    size_t n0, n1;
    char *before = tg_cli_slurp_n(path, &n0);
    char *a[] = {"train", "--train", train, "--out", u, "--merges", "10", "--d-model", "8", "--heads", "2",
                 "--d-ff", "8", "--layers", "1", "--max-steps", "2", "--threads", "1", NULL};
    ck_assert_int_eq(run(a), 1);
    ck_assert(file_has("err.txt", "is a vocabulary no run wrote there"));
    char *with[] = {"train", "--train", train, "--out", u, "--vocab", path, "--d-model", "8", "--heads", "2",
                    "--d-ff", "8", "--layers", "1", "--max-steps", "2", "--threads", "1", NULL};
    ck_assert_int_eq(run(with), 0);   /* trained with it: the run writes no vocab.txt of its own */
    char *after = tg_cli_slurp_n(path, &n1);
    ck_assert(n0 == n1 && !memcmp(before, after, n0));
    free(before);
    free(after);
    ck_assert_int_eq(mkdir(v, 0755), 0);
    snprintf(path, sizeof path, "%s/config.txt", v);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("# mine\nd-model = 32\n", f);
    fclose(f);
    a[4] = v;
    ck_assert_int_eq(run(a), 1);
    ck_assert(file_has("err.txt", "differs from the text a run writes"));
    char *mine = tg_cli_slurp(path);
    ck_assert_str_eq(mine, "# mine\nd-model = 32\n");
    free(mine);
    /* an interrupted start: the run's config.txt and vocab.txt alone; the same command runs again */
    a[4] = w;
    ck_assert_int_eq(run(a), 0);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cd '%s' && find . -type f ! -name config.txt ! -name vocab.txt -delete", w);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(run(a), 0);
}
END_TEST

/* Issue 9, item 12: saves at validations fall between the periodic ones; --keep 2 still leaves
 * exactly the 2 newest step-N.ckpt, and best/last. */
START_TEST(test_keep_leaves_k_newest) {
    char dir[300];
    tmp_path(dir, sizeof dir, "k");
    char *a[] = {KEEP_RUN, "--valid-every", "10", "--keep", "2", "--max-steps", "24", "--out", dir, NULL};
    ck_assert_int_eq(run(a), 0);
    assert_periodic(dir, "step-20.ckpt step-24.ckpt ");
    char p[320];
    snprintf(p, sizeof p, "%s/last.ckpt", dir);
    ck_assert(exists(p));
    snprintf(p, sizeof p, "%s/best.ckpt", dir);
    ck_assert(exists(p));
}
END_TEST

/* A kill between a save's last.ckpt and its step-N.ckpt (save_last writes them in turn) left that
 * snapshot unwritten for good: the resume went on from last.ckpt. Now a resume with --keep writes
 * it, the bytes of last.ckpt (what the save writes), then keeps the K newest. */
START_TEST(test_keep_rewrites_a_missing_snapshot) {
    char dir[300], last[340], snap[340];
    tmp_path(dir, sizeof dir, "km");
    snprintf(last, sizeof last, "%s/last.ckpt", dir);
    snprintf(snap, sizeof snap, "%s/step-10.ckpt", dir);
    char *a[] = {KEEP_RUN, "--keep", "2", "--max-steps", "10", "--out", dir, NULL};
    ck_assert_int_eq(run(a), 0);
    ck_assert_int_eq(remove(snap), 0);   /* what the kill leaves */
    char *r[] = {"train", "--resume", dir, NULL};   /* nothing to train: only the snapshot */
    ck_assert_int_eq(run(r), 0);
    ck_assert(exists(snap));
    ck_assert(file_has("err.txt", "step-10.ckpt was missing"));
    size_t nl, ns;
    char *bl = tg_cli_slurp_n(last, &nl), *bs = tg_cli_slurp_n(snap, &ns);
    ck_assert(nl == ns && !memcmp(bl, bs, nl));
    free(bl);
    free(bs);
    assert_periodic(dir, "step-8.ckpt step-10.ckpt ");
    ck_assert_int_eq(run(r), 0);   /* there: left alone */
    char *s = slurp_tmp("err.txt", NULL);
    ck_assert(!strstr(s, "was missing"));
    free(s);
    ck_assert_int_eq(remove(snap), 0);   /* with --keep 1, the keep policy follows */
    char *r1[] = {"train", "--resume", dir, "--keep", "1", NULL};
    ck_assert_int_eq(run(r1), 0);
    assert_periodic(dir, "step-10.ckpt ");
}
END_TEST

/* A step-N.ckpt with N beyond the run's step is not one the run wrote (here `ckpt average -o
 * step-99.ckpt` made it): --keep neither counts nor removes it, and says so once (before: it
 * counted as the newest and the run's own step-12.ckpt was removed). */
START_TEST(test_keep_leaves_a_later_step_alone) {
    char dir[300], p8[340], p10[340], p99[340];
    tmp_path(dir, sizeof dir, "kf");
    snprintf(p8, sizeof p8, "%s/step-8.ckpt", dir);
    snprintf(p10, sizeof p10, "%s/step-10.ckpt", dir);
    snprintf(p99, sizeof p99, "%s/step-99.ckpt", dir);
    char *a[] = {KEEP_RUN, "--save-every", "2", "--keep", "2", "--max-steps", "10", "--out", dir, NULL};
    ck_assert_int_eq(run(a), 0);
    char *avg[] = {"ckpt", "average", p8, p10, "-o", p99, NULL};
    ck_assert_int_eq(run(avg), 0);
    char *r[] = {"train", "--resume", dir, "--max-steps", "14", "--keep", "2", NULL};
    ck_assert_int_eq(run(r), 0);
    assert_periodic(dir, "step-12.ckpt step-14.ckpt step-99.ckpt ");
    char *e = slurp_tmp("err.txt", NULL);
    const char *said = strstr(e, "step-99.ckpt: beyond the run's step 10");
    ck_assert_msg(said && strstr(said, "left alone and not counted by --keep"), "%s", e);
    ck_assert(!strstr(said + 1, "step-99.ckpt: beyond"));   /* once */
    free(e);
}
END_TEST

/* A step-N.ckpt at or below the run's step that the run did not write (an average put there, a copy
 * of another step, a damaged file) was counted among --keep's K, pushing a snapshot of the run out,
 * and then removed: each is now read (its state and directory alone) and left alone, said once. */
START_TEST(test_keep_leaves_files_it_did_not_write) {
    char dir[300], p[4][340];
    tmp_path(dir, sizeof dir, "kw");
    const int at[4] = {1, 3, 5, 8};
    for (int k = 0; k < 4; k++) snprintf(p[k], sizeof p[k], "%s/step-%d.ckpt", dir, at[k]);
    char *a[] = {KEEP_RUN, "--save-every", "2", "--keep", "2", "--max-steps", "8", "--out", dir,
                 NULL};
    ck_assert_int_eq(run(a), 0);
    assert_periodic(dir, "step-6.ckpt step-8.ckpt ");
    char six[340];
    snprintf(six, sizeof six, "%s/step-6.ckpt", dir);
    char *avg[] = {"ckpt", "average", six, p[3], "-o", p[0], NULL};   /* no optimiser state */
    ck_assert_int_eq(run(avg), 0);
    size_t n8, n3;
    char *eight = tg_cli_slurp_n(p[3], &n8);
    FILE *f = fopen(p[1], "wb");   /* step 8's bytes under the name of step 3 */
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(eight, 1, n8, f), n8);
    fclose(f);
    f = fopen(p[2], "wb");   /* the first 100 bytes of a checkpoint: its directory does not read */
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(eight, 1, 100, f), 100);
    fclose(f);
    char *r[] = {"train", "--resume", dir, "--max-steps", "12", "--keep", "2", NULL};
    ck_assert_int_eq(run(r), 0);
    assert_periodic(dir, "step-1.ckpt step-3.ckpt step-5.ckpt step-10.ckpt step-12.ckpt ");
    char *three = tg_cli_slurp_n(p[1], &n3);
    ck_assert(n3 == n8 && !memcmp(three, eight, n8));
    free(three);
    free(eight);
    char *e = slurp_tmp("err.txt", NULL);
    const char *said = strstr(e, "step-5.ckpt (and others): not a snapshot of this run");
    ck_assert_msg(said && strstr(said, "left alone and not counted by --keep"), "%s", e);
    ck_assert_msg(!strstr(said + 1, "step-5.ckpt (and others): not a"), "%s", e);   /* once */
    free(e);
}
END_TEST

/* --keep-every E: the step-N.ckpt at multiples of E are saved (off the --save-every grid too) and
 * kept for good, outside --keep's K; with --keep 0 they are the only ones; a resume that changes
 * --keep leaves them, and one that changes E so that --keep would remove them is refused. */
START_TEST(test_keep_every_keeps_multiples_for_good) {
    char dir[300];
    tmp_path(dir, sizeof dir, "ke");
    /* saves at 4 8 12 16 20 24 (--save-every 4), 10 20 (validations), 6 12 18 24 (--keep-every 6) */
    char *a[] = {KEEP_RUN, "--valid-every", "10", "--keep", "2", "--keep-every", "6", "--max-steps", "24",
                 "--out", dir, NULL};
    ck_assert_int_eq(run(a), 0);
    assert_periodic(dir, "step-6.ckpt step-12.ckpt step-16.ckpt step-18.ckpt step-20.ckpt step-24.ckpt ");
    /* another E with --keep K would remove the multiples of 6 it does not share: refused */
    char *other[] = {"train", "--resume", dir, "--keep-every", "5", "--max-steps", "28", NULL};
    ck_assert_int_eq(run(other), 2);
    ck_assert(file_has("err.txt", "would remove those that are not multiples of 5"));
    other[4] = "0";
    ck_assert_int_eq(run(other), 2);
    assert_periodic(dir, "step-6.ckpt step-12.ckpt step-16.ckpt step-18.ckpt step-20.ckpt step-24.ckpt ");
    char *r[] = {"train", "--resume", dir, "--keep", "1", "--max-steps", "28", NULL};
    ck_assert_int_eq(run(r), 0);
    assert_periodic(dir, "step-6.ckpt step-12.ckpt step-18.ckpt step-24.ckpt step-28.ckpt ");

    char only[300];
    tmp_path(only, sizeof only, "ke0");
    char *b[] = {KEEP_RUN, "--keep-every", "5", "--max-steps", "12", "--out", only, NULL};
    ck_assert_int_eq(run(b), 0);
    assert_periodic(only, "step-5.ckpt step-10.ckpt ");
}
END_TEST

/* A kill between last.ckpt and the step-N.ckpt of a multiple of --keep-every left it unwritten:
 * a resume with --keep 0 writes it from last.ckpt, and removes nothing (no K to keep); one of
 * another step is not a snapshot the run owes. */
START_TEST(test_keep_every_rewrites_a_missing_snapshot) {
    char dir[300], snap[340];
    tmp_path(dir, sizeof dir, "kem");
    snprintf(snap, sizeof snap, "%s/step-10.ckpt", dir);
    char *a[] = {KEEP_RUN, "--keep", "3", "--keep-every", "5", "--max-steps", "10", "--out", dir, NULL};
    ck_assert_int_eq(run(a), 0);
    assert_periodic(dir, "step-4.ckpt step-5.ckpt step-8.ckpt step-10.ckpt ");
    ck_assert_int_eq(remove(snap), 0);
    char *r[] = {"train", "--resume", dir, "--keep", "0", NULL};
    ck_assert_int_eq(run(r), 0);
    ck_assert(file_has("err.txt", "step-10.ckpt was missing"));
    assert_periodic(dir, "step-4.ckpt step-5.ckpt step-8.ckpt step-10.ckpt ");
    ck_assert_int_eq(remove(snap), 0);   /* 10 is not a multiple of 4: nothing owed */
    char *r4[] = {"train", "--resume", dir, "--keep", "0", "--keep-every", "4", NULL};
    ck_assert_int_eq(run(r4), 0);
    char *s = slurp_tmp("err.txt", NULL);
    ck_assert(!strstr(s, "was missing"));
    free(s);
    assert_periodic(dir, "step-4.ckpt step-5.ckpt step-8.ckpt ");
}
END_TEST

int main(void) {
    Suite *s = suite_create("hardening");
    TCase *tc = tcase_create("commands");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_average_refuses_other_vocab_and_takes_last);
    tcase_add_test(tc, test_checkpoint_without_vocab_refused);
    tcase_add_test(tc, test_checkpoint_text_shown_escaped);
    tcase_add_test(tc, test_json_escapes_paths);
    tcase_add_test(tc, test_non_finite_models_refused);
    tcase_add_test(tc, test_eval_nll_right_of_no_target_na);
    tcase_add_test(tc, test_diverging_run_resumes);
    tcase_add_test(tc, test_number_flags_strict);
    tcase_add_test(tc, test_option_errors_shown_escaped);
    tcase_add_test(tc, test_out_file_is_not_a_folder);
    tcase_add_test(tc, test_empty_paths_named);
    tcase_add_test(tc, test_outputs_that_name_inputs_refused);
    tcase_add_test(tc, test_users_files_in_out_kept);
    tcase_add_test(tc, test_keep_leaves_k_newest);
    tcase_add_test(tc, test_keep_leaves_a_later_step_alone);
    tcase_add_test(tc, test_keep_leaves_files_it_did_not_write);
    tcase_add_test(tc, test_keep_rewrites_a_missing_snapshot);
    tcase_add_test(tc, test_keep_every_keeps_multiples_for_good);
    tcase_add_test(tc, test_keep_every_rewrites_a_missing_snapshot);
    suite_add_tcase(s, tc);
    return tg_check_run(s) ? 1 : 0;
}
