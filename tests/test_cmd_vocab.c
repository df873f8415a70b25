/* test_cmd_vocab.c: `tapegrad vocab learn|encode|decode`: exit codes (0 ok, 1 failure, 2 usage),
 * the files it writes, and encode -> decode through stdin/stdout. Each command runs in a forked
 * child with stdin, stdout and stderr redirected to files in a temporary folder. */
#include <check.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datasets/datasets.h"
#include "train/cli/commands.h"
#include "tests/tg_check.h"

static char tmp_dir[256];

/* tmp_dir/name, in a ring of static slots large enough for every path one test holds. */
static const char *path_of(const char *name) {
    static char paths[128][512];
    static int slot;
    char *p = paths[slot++ % 128];
    snprintf(p, 512, "%s/%s", tmp_dir, name);
    return p;
}

static const char *write_file(const char *name, const char *text) {
    const char *p = path_of(name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Reads a whole file into a static buffer. */
static const char *read_file(const char *name) {
    static char buf[1 << 16];
    FILE *f = fopen(path_of(name), "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* Runs `tapegrad vocab ARGS...` with stdin from `in` (NULL: /dev/null); stdout goes to
 * tmp/out.txt and stderr to tmp/err.txt. Returns the exit code. */
static int run(const char *in, ...) {
    char *argv[32];
    int argc = 0;
    argv[argc++] = "vocab";
    va_list ap;
    va_start(ap, in);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && argc < 31) argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    char out[512], errp[512];
    snprintf(out, sizeof out, "%s/out.txt", tmp_dir);
    snprintf(errp, sizeof errp, "%s/err.txt", tmp_dir);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen(in ? in : "/dev/null", "r", stdin) || !freopen(out, "w", stdout) ||
            !freopen(errp, "w", stderr))
            _exit(99);
        int rc = tg_cmd_vocab(argc, argv);
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}
#define RUN(in, ...) run(in, __VA_ARGS__, (char *)NULL)

static const char corpus[] =
    "The cat sat on the mat.\tEl gato se sentó en la alfombra.\n"
    "The dog sat on the log.\tEl perro se sentó en el tronco.\n"
    "A cat and a dog.\tUn gato y un perro.\n"
    "The cat saw the dog.\tEl gato vio al perro.\n";

START_TEST(test_usage_and_help) {
    ck_assert_int_eq(RUN(NULL, "--help"), 0);
    ck_assert(strstr(read_file("out.txt"), "usage: tapegrad vocab learn") != NULL);
    ck_assert_int_eq(RUN(NULL, "learn", "--help"), 0);
    ck_assert_int_eq(RUN(NULL, "encode", "--help"), 0);
    ck_assert_int_eq(RUN(NULL, "decode", "-h"), 0);
    ck_assert_int_eq(RUN(NULL, "bench", "--help"), 0);
    ck_assert_int_eq(run(NULL, (char *)NULL), 2);
    ck_assert_int_eq(RUN(NULL, "frobnicate"), 2);
    ck_assert_int_eq(RUN(NULL, "learn", "--bogus"), 2);
    ck_assert(strstr(read_file("err.txt"), "unrecognized option '--bogus'") != NULL);
    const char *tsv = write_file("c.tsv", corpus);
    ck_assert_int_eq(RUN(NULL, "learn", "--data", tsv, "-o", path_of("v.txt")), 2); /* no --merges */
    ck_assert_int_eq(RUN(NULL, "learn", "--data", tsv, "--merges", "10"), 2);      /* no -o */
    ck_assert_int_eq(RUN(NULL, "learn", "--data", tsv, "--merges", "-3", "-o", path_of("v.txt")), 2);
    ck_assert_int_eq(RUN(NULL, "learn", "--data", tsv, "--merges", "10", "-o", path_of("v.txt"),
                         "--on-bad-line", "ignore"), 2);
    ck_assert_int_eq(RUN(NULL, "encode", "--vocab", path_of("v.txt"), "--merges", "3"), 2);
    /* the flag named, not its value ("flag '3' does not apply") */
    ck_assert(strstr(read_file("err.txt"), "flag '--merges' does not apply to 'vocab encode'") != NULL);
    ck_assert_int_eq(RUN(NULL, "bench", "--data", tsv, "-o", path_of("v.txt")), 2);
    ck_assert(strstr(read_file("err.txt"), "flag '-o' does not apply to 'vocab bench'") != NULL);
    ck_assert_int_eq(RUN(NULL, "encode", "--vocab"), 2);
    ck_assert_int_eq(RUN(NULL, "encode"), 2); /* no --vocab */
}
END_TEST

START_TEST(test_learn_files) {
    const char *tsv = write_file("c.tsv", corpus);
    const char *voc = path_of("v.txt");
    ck_assert_int_eq(RUN(NULL, "learn", "--data", "/nonexistent/c.tsv", "--merges", "10", "-o", voc), 1);
    ck_assert(strstr(read_file("err.txt"), "/nonexistent/c.tsv") != NULL);
    ck_assert_int_eq(RUN(NULL, "learn", "--data", tsv, "--merges", "10", "-o", voc), 0);
    tg_bpe *b;
    tg_err err;
    ck_assert_int_eq(tg_bpe_load(&b, voc, &err), TG_OK);
    ck_assert_int_eq(tg_bpe_n_merges(b), 10);
    tg_bpe_free(b);
    ck_assert_int_eq(RUN(NULL, "learn", "--data", tsv, "--merges", "10", "-o", "/nonexistent/dir/v.txt"), 1);
    ck_assert(strstr(read_file("err.txt"), "/nonexistent/dir/v.txt") != NULL);
    ck_assert(strstr(read_file("err.txt"), "pairs from") == NULL);   /* said before reading */
    /* -o - wrote a file named '-' (stdin as an input): refused, saying how to write to stdout */
    ck_assert_int_eq(chdir(path_of(".")), 0);
    ck_assert_int_eq(RUN(NULL, "learn", "--data", tsv, "--merges", "10", "-o", "-"), 2);
    ck_assert(strstr(read_file("err.txt"), "-o -: '-' would be a file of that name") != NULL);
    ck_assert(strstr(read_file("err.txt"), "or -o /dev/stdout to write to stdout") != NULL);   /* (which works) */
    ck_assert_int_ne(access("-", F_OK), 0);
    /* file pairs */
    const char *en = write_file("c.en", "The cat sat.\nThe dog sat.\n");
    const char *es = write_file("c.es", "El gato.\nEl perro.\n");
    ck_assert_int_eq(RUN(NULL, "learn", "--src", en, "--tgt", es, "--merges", "5", "-o", voc), 0);
    ck_assert_int_eq(RUN(NULL, "learn", "--src", en, "--merges", "5", "-o", voc), 2);
    const char *es1 = write_file("c1.es", "El gato.\n");
    ck_assert_int_eq(RUN(NULL, "learn", "--src", en, "--tgt", es1, "--merges", "5", "-o", voc), 1);
    ck_assert(strstr(read_file("err.txt"), "c1.es ended first, after line 1") != NULL);
    /* stdin for both sides: the first reads it whole (said before as "<stdin>: file is empty") */
    ck_assert_int_eq(RUN(NULL, "learn", "--src", "-", "--tgt", "-", "--merges", "5", "-o", voc), 1);
    ck_assert(strstr(read_file("err.txt"), "the source and the target side are both stdin ('-', /dev/stdin)") != NULL);
    /* bad lines: an error by default, counted by reason when skipped */
    const char *bad = write_file("bad.tsv", "good line\tbuena\nno tab\nbad \xFF\tmala\nfine\tbien\n");
    ck_assert_int_eq(RUN(NULL, "learn", "--data", bad, "--merges", "5", "-o", voc), 1);
    ck_assert(strstr(read_file("err.txt"), "bad.tsv:2: no tab") != NULL);
    ck_assert_int_eq(RUN(NULL, "learn", "--data", bad, "--merges", "5", "-o", voc, "--on-bad-line", "skip"), 0);
    const char *e = read_file("err.txt");
    ck_assert_msg(strstr(e, "skipped 2 bad lines: 1 invalid UTF-8 (first at line 3), 1 no tab (first at line 2)"),
                  "stderr: %s", e);
}
END_TEST

START_TEST(test_encode_decode) {
    const char *tsv = write_file("c.tsv", corpus);
    const char *voc = path_of("v.txt");
    ck_assert_int_eq(RUN(NULL, "learn", "--data", tsv, "--merges", "40", "-o", voc), 0);
    static const char input[] = "The   cat sat.\r\n\nCamión ▁ «ñandú» 東京 \\x41\n  the dog  \n";
    static const char normalised[] = "The cat sat.\n\nCamión ▁ «ñandú» 東京 \\x41\nthe dog\n";
    const char *in = write_file("in.txt", input);
    ck_assert_int_eq(RUN(in, "encode", "--vocab", voc), 0);
    char pieces[4096];
    snprintf(pieces, sizeof pieces, "%s", read_file("out.txt"));
    ck_assert(strncmp(pieces, "\xE2\x96\x81The \xE2\x96\x81", 8) == 0);
    ck_assert(strstr(pieces, "<0xE6>") != NULL); /* 東 is unseen: byte pieces */
    write_file("pieces.txt", pieces);
    ck_assert_int_eq(RUN(path_of("pieces.txt"), "decode", "--vocab", voc), 0);
    ck_assert_str_eq(read_file("out.txt"), normalised);
    /* the same with ids */
    ck_assert_int_eq(RUN(in, "encode", "--vocab", voc, "--ids"), 0);
    write_file("ids.txt", read_file("out.txt"));
    ck_assert_int_eq(RUN(path_of("ids.txt"), "decode", "--ids", "--vocab", voc), 0);
    ck_assert_str_eq(read_file("out.txt"), normalised);
    /* hand-made line breaks stay inside their line: 2 lines in, 2 out */
    const char *breaks = write_file("breaks.txt", "\xE2\x96\x81The <0x0A> <0x0D>\n\xE2\x96\x81The\n");
    ck_assert_int_eq(RUN(breaks, "decode", "--vocab", voc), 0);
    ck_assert_str_eq(read_file("out.txt"), "The\\x0a\\x0d\nThe\n");
    /* what decode cannot read */
    const char *junk = write_file("junk.txt", "\xE2\x96\x81The\n\xE2\x96\x81The no-such-piece\n");
    ck_assert_int_eq(RUN(junk, "decode", "--vocab", voc), 1);
    ck_assert(strstr(read_file("err.txt"), "<stdin>:2: unknown piece 'no-such-piece'") != NULL);
    junk = write_file("junk.txt", "\xE2\x96\x81The no\x1b[2Jpiece\n");   /* an ESC: escaped */
    ck_assert_int_eq(RUN(junk, "decode", "--vocab", voc), 1);
    ck_assert(strstr(read_file("err.txt"), "<stdin>:1: unknown piece 'no\\x1B[2Jpiece' (expected") !=
              NULL);
    ck_assert(!strchr(read_file("err.txt"), '\x1b'));
    const char *bad_ids = write_file("badids.txt", "5 6\n5 99999\n");
    ck_assert_int_eq(RUN(bad_ids, "decode", "--ids", "--vocab", voc), 1);
    ck_assert(strstr(read_file("err.txt"), "<stdin>:2: unknown id '99999'") != NULL);
    /* stdin that cannot be read (a folder: EISDIR) is an error, not an empty input */
    ck_assert_int_eq(RUN(tmp_dir, "encode", "--vocab", voc), 1);
    ck_assert(strstr(read_file("err.txt"), "<stdin>:1: read error") != NULL);
    ck_assert_int_eq(RUN(tmp_dir, "decode", "--vocab", voc), 1);
    ck_assert(strstr(read_file("err.txt"), "<stdin>:1: read error") != NULL);
    /* a missing or broken vocabulary */
    ck_assert_int_eq(RUN(in, "encode", "--vocab", "/nonexistent/v.txt"), 1);
    const char *broken = write_file("broken.txt", "tapegrad-bpe 1\nspecials <pad> <s> </s> <unk>\n");
    ck_assert_int_eq(RUN(in, "encode", "--vocab", broken), 1);
    ck_assert(strstr(read_file("err.txt"), "broken.txt:3:") != NULL);
}
END_TEST

START_TEST(test_bench) {
    const char *tsv = write_file("c.tsv", corpus);
    ck_assert_int_eq(RUN(NULL, "bench", "--data", tsv, "--merges", "20", "--repeat", "1", "--json"), 0);
    const char *out = read_file("out.txt");
    ck_assert_msg(strstr(out, "\"pairs\": 4") && strstr(out, "\"learn_s\": ") && strstr(out, "\"merges\": 20"),
                  "bench output: %s", out);
}
END_TEST

static void remove_tmp_dir(void) {
    DIR *d = opendir(tmp_dir);
    if (!d) return;
    struct dirent *e;
    char p[768];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", tmp_dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(tmp_dir);
}

int main(void) {
    if (!tg_check_mkdtemp(tmp_dir, sizeof tmp_dir, "tg_cmd_vocab")) {
        perror("mkdtemp");
        return 1;
    }
    Suite *s = suite_create("cmd_vocab");
    TCase *tc = tcase_create("vocab");
    tcase_add_test(tc, test_usage_and_help);
    tcase_add_test(tc, test_learn_files);
    tcase_add_test(tc, test_encode_decode);
    tcase_add_test(tc, test_bench);
    suite_add_tcase(s, tc);
    int failed = tg_check_run(s);
    remove_tmp_dir();
    return failed ? 1 : 0;
}
