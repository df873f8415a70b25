/* test_text_inputs.c: the text read by translate, score, eval and vocab encode|decode, run as a
 * user runs them: size limits (lines as well as bytes), a byte-order mark, line ends, messages
 * that name the file and line, and what is written back. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/tg_check.h"
#include "tests/tg_cli.h"
#include "datasets/datasets.h"
#include "train/cli/commands.h"
#include "train/run/text_out.h"

/* The documented line limit of a text to translate, score or evaluate (docs/RELIABILITY.md). */
#define MAX_LINES ((size_t)4194304)

/* Runs a command with stdin from in (NULL: /dev/null); stdout to out.txt, stderr to err.txt. */
static int run_in(const char *in, char **argv) {
    return tg_cli_run_to(NULL, in ? in : "/dev/null", NULL, argv);
}

static int run(char **argv) { return run_in(NULL, argv); }

/* tg_cli_dir/name does not hold needle (else prints what it holds, for the failure). */
static bool lacks(const char *name, const char *needle) {
    char *s = tg_cli_slurp(tg_cli_path(name));
    bool no = strstr(s, needle) == NULL;
    if (!no) fprintf(stderr, "--- %s contains '%s':\n%s\n", name, needle, s);
    free(s);
    return no;
}

/* tg_cli_dir/name with n copies of line (each with its "\n"). */
static const char *write_lines(const char *name, const char *line, size_t n) {
    const char *p = tg_cli_path(name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < n; i++) fputs(line, f);
    ck_assert_int_eq(fclose(f), 0);
    return p;
}

/* A tiny English-Spanish model trained in tg_cli_dir/run; returns its last.ckpt. */
static const char *tiny_model(void) {
    const char *train = tg_cli_path("train.tsv");
    tg_cli_write(train, "the red house\tla casa roja\na green dog\tun perro verde\nthe dog runs\tel perro corre\n"
                        "a slow house\tuna casa lenta\n");
    char *a[] = {"train", "--train", (char *)train, "--out", (char *)tg_cli_path("run"), "--merges", "10",
                 "--d-model", "8", "--heads", "2", "--d-ff", "8", "--layers", "1", "--max-steps", "2",
                 "--threads", "1", NULL};
    ck_assert_int_eq(run(a), 0);
    return tg_cli_path("run/last.ckpt");
}

/* More lines than MAX_LINES (each costs pointers and statistics: 256 MiB of empty lines
 * took gigabytes) are refused by translate, score and eval, naming the file and the limit; the
 * limit itself is read. */
START_TEST(test_line_limit) {
    const char *model = tiny_model();
    const char *at = write_lines("at.txt", "\n", MAX_LINES);
    const char *over = write_lines("over.txt", "\n", MAX_LINES + 1);
    const char *tsv = write_lines("over.tsv", "a\tb\n", MAX_LINES + 1);
    char *t[] = {"translate", "--model", (char *)model, "--input", (char *)over, NULL};
    ck_assert_int_eq(run(t), 1);
    ck_assert(tg_cli_has("err.txt", "over.txt: 4194305 lines, over the limit of 4194304 lines"));
    char *s[] = {"score", "--ref", (char *)at, "--hyp", (char *)over, NULL};
    ck_assert_int_eq(run(s), 1);
    ck_assert(tg_cli_has("err.txt", "over.txt: 4194305 lines, over the limit of 4194304 lines"));
    char *bs[] = {"score", "--ref", (char *)at, "--hyp", (char *)at, "--paired-bs", (char *)over, NULL};
    ck_assert_int_eq(run(bs), 1);
    ck_assert(tg_cli_has("err.txt", "over.txt: 4194305 lines, over the limit of 4194304 lines"));
    char *e[] = {"eval", "--model", (char *)model, "--data", (char *)tsv, NULL};
    ck_assert_int_eq(run(e), 1);
    ck_assert(tg_cli_has("err.txt", "over.tsv: 4194305 lines, over the limit of 4194304 lines"));
    char *ok[] = {"translate", "--model", (char *)model, "--input", (char *)at, NULL};
    ck_assert_int_eq(run(ok), 0);
    char *sok[] = {"score", "--ref", (char *)at, "--hyp", (char *)at, NULL};
    ck_assert_int_eq(run(sok), 0);
}
END_TEST

/* A UTF-8 byte-order mark at the start is dropped by translate, score and vocab encode|decode, as
 * the corpus reader drops it (it was translated, scored and encoded as <0xEF> <0xBB> <0xBF>). */
START_TEST(test_bom_dropped) {
    const char *model = tiny_model();
    const char *plain = tg_cli_path("plain.txt"), *bom = tg_cli_path("bom.txt");
    tg_cli_write(plain, "the red house is a big house\nthe dog\n");
    tg_cli_write(bom, "\xEF\xBB\xBFthe red house is a big house\nthe dog\n");
    char *t1[] = {"translate", "--model", (char *)model, "--input", (char *)plain, NULL};
    ck_assert_int_eq(run(t1), 0);
    char *want = tg_cli_slurp(tg_cli_path("out.txt"));
    char *t2[] = {"translate", "--model", (char *)model, "--input", (char *)bom, NULL};
    ck_assert_int_eq(run(t2), 0);
    char *got = tg_cli_slurp(tg_cli_path("out.txt"));
    ck_assert_str_eq(got, want);
    free(got);
    free(want);
    char *s[] = {"score", "--ref", (char *)bom, "--hyp", (char *)plain, "--tokenize", "none", NULL};
    ck_assert_int_eq(run(s), 0);
    ck_assert(tg_cli_has("out.txt", "= 100.00 100.0/100.0/100.0/100.0"));
    char *e[] = {"vocab", "encode", "--vocab", (char *)tg_cli_path("run/vocab.txt"), NULL};
    ck_assert_int_eq(run_in(bom, e), 0);
    ck_assert(lacks("out.txt", "<0xEF>"));
    char *o = tg_cli_slurp(tg_cli_path("out.txt"));
    tg_cli_write(tg_cli_path("pieces.txt"), "\xEF\xBB\xBF");
    FILE *f = fopen(tg_cli_path("pieces.txt"), "ab");
    fputs(o, f);
    fclose(f);
    free(o);
    char *d[] = {"vocab", "decode", "--vocab", (char *)tg_cli_path("run/vocab.txt"), NULL};
    ck_assert_int_eq(run_in(tg_cli_path("pieces.txt"), d), 0);
    ck_assert(tg_cli_has("out.txt", "the red house is a big house\nthe dog\n"));
}
END_TEST

/* Lines ended by a carriage return alone (old Mac files) are refused by translate, score and vocab
 * encode|decode, naming the file and line with how to convert them (translate read them as one
 * sentence and gave one line out, exit 0); "\r\n" still ends a line. */
START_TEST(test_cr_line_ends_refused) {
    const char *model = tiny_model();
    const char *cr = tg_cli_path("cr.txt"), *crlf = tg_cli_path("crlf.txt");
    tg_cli_write(cr, "the dog\rthe red house\ra dog\r");
    tg_cli_write(crlf, "the dog\r\nthe red house\r\n");
    const char *hint = "cr.txt:1: a carriage return (\\r) inside the line: are its lines ended by \\r alone, as in "
                       "old Mac files? convert them with tr '\\r' '\\n'";
    char *t[] = {"translate", "--model", (char *)model, "--input", (char *)cr, NULL};
    ck_assert_int_eq(run(t), 1);
    ck_assert(tg_cli_has("err.txt", hint));
    char *s[] = {"score", "--ref", (char *)crlf, "--hyp", (char *)cr, NULL};
    ck_assert_int_eq(run(s), 1);
    ck_assert(tg_cli_has("err.txt", hint));
    char *vocab = (char *)tg_cli_path("run/vocab.txt");
    char *e[] = {"vocab", "encode", "--vocab", vocab, NULL};
    ck_assert_int_eq(run_in(cr, e), 1);
    ck_assert(tg_cli_has("err.txt", "<stdin>:1: a carriage return"));
    char *d[] = {"vocab", "decode", "--vocab", vocab, NULL};
    ck_assert_int_eq(run_in(cr, d), 1);
    ck_assert(tg_cli_has("err.txt", "<stdin>:1: a carriage return"));
    char *t2[] = {"translate", "--model", (char *)model, "--input", (char *)crlf, NULL};
    ck_assert_int_eq(run(t2), 0);
    char *o = tg_cli_slurp(tg_cli_path("out.txt"));
    int lines = 0;
    for (char *q = o; *q; q++) lines += *q == '\n';
    ck_assert_int_eq(lines, 2);
    free(o);
    ck_assert_int_eq(run_in(crlf, e), 0);
    ck_assert(lacks("err.txt", "carriage"));
}
END_TEST

/* Bad input to translate, eval and vocab encode is named by file and line: an id outside a task
 * model's vocabulary (was "decode: sentence 0: source: sentence 0, position 0", a batch place),
 * text given to a task model, a pair over eval's --max-tokens (was "pair 0 (corpus index 0)") and
 * a line over the stdin limit. */
START_TEST(test_input_errors_name_file_and_line) {
    char *task[] = {"train", "--task", "copy", "--task-size", "100", "--out", (char *)tg_cli_path("task"),
                    "--d-model", "16", "--heads", "2", "--d-ff", "32", "--layers", "1", "--max-steps", "2",
                    "--threads", "1", NULL};
    ck_assert_int_eq(run(task), 0);
    char *tmodel = (char *)tg_cli_path("task/last.ckpt");
    const char *ids = tg_cli_path("ids.txt"), *ids_tsv = tg_cli_path("ids.tsv"), *text = tg_cli_path("text.tsv");
    tg_cli_write(ids, "5 6\n7 8\n99\n");
    tg_cli_write(ids_tsv, "5 6\t5 6\n7\t8\n9\t99\n");
    tg_cli_write(text, "5 6\t5 6\nhouse run small\tcasa\n");
    char *t[] = {"translate", "--model", tmodel, "--input", (char *)ids, NULL};
    ck_assert_int_eq(run(t), 1);
    ck_assert(tg_cli_has("err.txt", "ids.txt:3: id 99 outside the model's vocabulary [0, "));
    const char *special = tg_cli_path("special.txt");   /* a task's tokens are 4 to V-1 */
    tg_cli_write(special, "5 6\n7 0 8\n");
    char *ts[] = {"translate", "--model", tmodel, "--input", (char *)special, NULL};
    ck_assert_int_eq(run(ts), 1);
    ck_assert(tg_cli_has("err.txt", "special.txt:2: id 0 is a special id (0 pad, 1 bos, 2 eos, 3 unk): a task's "
                                    "tokens are 4 to "));
    /* "0x6" was id 0 then "x6", refused as a special id; "+6" was taken; the line, cut, tore a
     * character */
    tg_cli_write(special, "5 6\n7 0x6\n");
    ck_assert_int_eq(run(ts), 1);
    ck_assert(tg_cli_has("err.txt", "special.txt:2: '7 0x6' is not a list of token ids"));
    tg_cli_write(special, "7 +6\n");
    ck_assert_int_eq(run(ts), 1);
    ck_assert(tg_cli_has("err.txt", "special.txt:1: '7 +6' is not a list of token ids"));
    tg_cli_write(special, "5 a\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
                          "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
                          "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\n");
    ck_assert_int_eq(run(ts), 1);
    char *said = tg_cli_slurp(tg_cli_path("err.txt"));
    ck_assert_msg(tg_utf8_valid(said, strlen(said), NULL), "a character torn: %s", said);
    free(said);
    char *e[] = {"eval", "--model", tmodel, "--data", (char *)ids_tsv, NULL};
    ck_assert_int_eq(run(e), 1);
    ck_assert(tg_cli_has("err.txt", "ids.tsv:3: target: id 99 outside the model's vocabulary [0, "));
    char *e2[] = {"eval", "--model", tmodel, "--data", (char *)text, NULL};
    ck_assert_int_eq(run(e2), 1);
    ck_assert(tg_cli_has("err.txt", "text.tsv:2: source: 'house run small' is not a list of token ids"));
    char *e3[] = {"eval", "--model", tmodel, "--data", (char *)ids_tsv, "--max-tokens", "5", NULL};
    ck_assert_int_eq(run(e3), 1);
    ck_assert(tg_cli_has("err.txt", "ids.tsv:1: needs 6 tokens (source 2 + eos, target 2 + bos/eos), over the "
                                    "loss batch's budget of 5 tokens (eval --max-tokens)"));
    const char *big = tg_cli_path("big.txt");
    FILE *f = fopen(big, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("a b\n", f);
    for (size_t i = 0; i <= ((size_t)16 << 20); i++) fputc('a', f);
    fputc('\n', f);
    ck_assert_int_eq(fclose(f), 0);
    tiny_model();
    char *v[] = {"vocab", "encode", "--vocab", (char *)tg_cli_path("run/vocab.txt"), NULL};
    ck_assert_int_eq(run_in(big, v), 1);
    ck_assert(tg_cli_has("err.txt", "<stdin>:2: a line longer than 16777216 bytes"));
}
END_TEST

/* eval --temperature is refused outside [1e-6, 1e6], saying the range (1e-308 gave -nan statistics,
 * exit 0); a JSON number from 1e9 on is in exponent form, as the text output's (1e-300 printed
 * 300-digit numbers). */
START_TEST(test_temperature_range_and_json_numbers) {
    const char *model = tiny_model();
    char *data = (char *)tg_cli_path("train.tsv");
    const char *bad[] = {"1e-308", "9.9e-7", "1.1e6"};
    for (int i = 0; i < 3; i++) {
        char *e[] = {"eval", "--model", (char *)model, "--data", data, "--beam", "1", "--temperature", (char *)bad[i],
                     NULL};
        ck_assert_int_eq(run(e), 2);
        ck_assert(tg_cli_has("err.txt", "--temperature wants a number in [1e-06, 1e+06], not '"));
    }
    char *e[] = {"eval", "--model", (char *)model, "--data", data, "--beam", "1", "--temperature", "1e-6", NULL};
    ck_assert_int_eq(run(e), 0);   /* one-hot at the least T: numbers, not -nan */
    ck_assert(lacks("out.txt", "-nan"));
    ck_assert(tg_cli_has("out.txt", "entropy     0.0000") && tg_cli_has("out.txt", "confidence  1.0000"));
    FILE *f = fopen(tg_cli_path("num.txt"), "wb");
    ck_assert_ptr_nonnull(f);
    tg_json_num(f, 6, 1e300);
    fputc(' ', f);
    tg_json_num(f, 6, -2.5e9);
    fputc(' ', f);
    tg_json_num(f, 4, 999999999.5);
    ck_assert_int_eq(fclose(f), 0);
    char *s = tg_cli_slurp(tg_cli_path("num.txt"));
    ck_assert_str_eq(s, "1.000000e+300 -2.500000e+09 999999999.5000");
    free(s);
}
END_TEST

/* A file name or argument with control bytes is shown escaped (\xNN) by vocab learn, score (its line
 * count message, the --paired-bs table and differences) and translate's argument error, as the
 * rest of the program shows them; vocab decode shows what hand-made byte pieces make of a control
 * character or a byte that is no UTF-8 as \xNN (a NUL or ESC was written raw into the line). */
START_TEST(test_control_bytes_shown_escaped) {
    tiny_model();
    char g[300];
    snprintf(g, sizeof g, "%s/x\x1B]0;pwn\x07", tg_cli_dir);
    char tsv[320], hyp[320], vocab[320];
    snprintf(tsv, sizeof tsv, "%s.tsv", g);
    snprintf(hyp, sizeof hyp, "%s.hyp", g);
    snprintf(vocab, sizeof vocab, "%s.vocab", g);
    tg_cli_write(tsv, "the red house\tla casa roja\na dog\tun perro\n");
    tg_cli_write(hyp, "the red house\na dog\nthe dog\n");
    const char *ref = tg_cli_path("ref.txt");
    tg_cli_write(ref, "the red house\na dog\n");
    const char *shown = "x\\x1B]0;pwn\\x07";
    char *l[] = {"vocab", "learn", "--data", tsv, "--merges", "3", "-o", vocab, NULL};
    ck_assert_int_eq(run(l), 0);
    ck_assert(tg_cli_has("err.txt", shown) && lacks("err.txt", "\x1B"));
    /* train's "vocabulary ... saved to RUNDIR/vocab.txt" wrote --out raw */
    char rundir[320], *tr[] = {"train", "--train", tsv, "--out", rundir, "--merges", "3",
                               "--d-model", "8", "--heads", "2", "--d-ff", "8", "--layers", "1",
                               "--max-steps", "1", "--threads", "1", NULL};
    snprintf(rundir, sizeof rundir, "%s.run", g);
    ck_assert_int_eq(run(tr), 0);
    ck_assert(tg_cli_has("err.txt", "x\\x1B]0;pwn\\x07.run/vocab.txt\n"));
    ck_assert(lacks("err.txt", "\x1B"));
    char *s[] = {"score", "--ref", (char *)ref, "--hyp", hyp, NULL};
    ck_assert_int_eq(run(s), 1);
    ck_assert(tg_cli_has("err.txt", shown) && lacks("err.txt", "\x1B"));
    tg_cli_write(hyp, "the red house\na dog\n");
    char *bs[] = {"score", "--ref", (char *)ref, "--hyp", (char *)ref, "--paired-bs", hyp, "--paired-bs-n", "10", NULL};
    ck_assert_int_eq(run(bs), 0);
    ck_assert(tg_cli_has("out.txt", shown) && lacks("out.txt", "\x1B"));
    char *t[] = {"translate", "--model", (char *)tg_cli_path("run/last.ckpt"), g, NULL};
    ck_assert_int_eq(run(t), 2);
    ck_assert(tg_cli_has("err.txt", shown) && lacks("err.txt", "\x1B"));
    /* a flag's value or an unknown word, refused (exit 2): the strict number parser and these
     * commands' own refusals wrote it raw */
    char *m = (char *)tg_cli_path("run/last.ckpt");
    char *refused[][10] = {
        {"translate", "--model", m, "--beam", g, NULL},
        {"eval", "--model", m, "--data", tsv, "--batch", g, NULL},
        {"ckpt", g, NULL},
        {"bench", "gemm", "--sizes", g, NULL},
        {"bench", "step", "--config", g, NULL},
        {"gradcheck", "--model", "--seed", g, NULL},
        {"score", "--ref", (char *)ref, "--hyp", (char *)ref, "--tokenize", g, NULL},
        {"experiment", "--jobs", g, "--out", g, NULL},
        {"experiment", "report", (char *)tg_cli_dir, g, NULL},
        {"train", "--task", "copy", "--out", (char *)tg_cli_path("q"), g, NULL},
        {"train", "--config", g, "--config", g, NULL},
        {"train", "--resume", (char *)tg_cli_path("run"), "--out", g, NULL},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        ck_assert_int_eq(run(refused[i]), 2);
        ck_assert_msg(tg_cli_has("err.txt", shown) && lacks("err.txt", "\x1B"), "%s %s", refused[i][0],
                      refused[i][1]);
    }
    /* an --out that is a file, or below one: "is not a folder" showed a control byte as a bare
     * '?', "cannot create" wrote it raw */
    tg_cli_write(g, "a file\n");
    char below[320];
    snprintf(below, sizeof below, "%s/run", g);
    char *not_folder[] = {"train", "--task", "copy", "--max-steps", "1", "--out", g, NULL};
    char *not_made[] = {"train", "--task", "copy", "--max-steps", "1", "--out", below, NULL};
    ck_assert_int_eq(run(not_folder), 1);
    ck_assert(tg_cli_has("err.txt", "x\\x1B]0;pwn\\x07 is not a folder"));
    ck_assert(lacks("err.txt", "\x1B"));
    ck_assert_int_eq(run(not_made), 1);
    ck_assert(tg_cli_has("err.txt", "x\\x1B]0;pwn\\x07/run: ") && lacks("err.txt", "\x1B"));
    const char *pieces = tg_cli_path("pieces.txt");
    tg_cli_write(pieces, "<0x41> <0x00> <0x1B> <0xFF> <0xC3> <0xA9>\n");
    char *d[] = {"vocab", "decode", "--vocab", (char *)tg_cli_path("run/vocab.txt"), NULL};
    ck_assert_int_eq(run_in(pieces, d), 0);
    size_t n;
    char *o = tg_cli_slurp_n(tg_cli_path("out.txt"), &n);
    ck_assert_uint_eq(n, strlen(o));   /* no NUL */
    ck_assert_str_eq(o, "A\\x00\\x1b\\xff\xC3\xA9\n");
    free(o);
}
END_TEST

/* tg_err_set shows a control byte as the commands show names, \xNN (it made it a bare '?', so
 * ESC, BEL and C1's CSI all read alike); a message too long for its buffer is cut before an
 * escape, never inside one; tab and newline are kept. */
START_TEST(test_err_set_escapes) {
    tg_err e;
    const char *bad = "q\x1b[2J\xc2\x9b\x7f\x07\tz\xc3\xa9";
    ck_assert_int_eq(tg_err_set(&e, TG_ERR_FORMAT, "'%s' at %d", bad, 3), TG_ERR_FORMAT);
    ck_assert_str_eq(e.msg, "'q\\x1B[2J\\xC2\\x9B\\x7F\\x07\tz\xc3\xa9' at 3");
    ck_assert_int_eq(tg_err_set(NULL, TG_ERR_IO, "%s", bad), TG_ERR_IO);
    char big[600];
    memset(big, 'a', sizeof big);
    big[sizeof big - 1] = '\0';
    big[509] = '\x1b';   /* its escape would end past the 511 bytes msg holds: cut before it */
    tg_err_set(&e, TG_ERR_ARG, "%s", big);
    ck_assert_uint_eq(strlen(e.msg), 509);
    ck_assert_ptr_null(strchr(e.msg, '\\'));
    big[509] = 'a';
    big[507] = '\x1b';   /* its escape ends at the last byte: kept whole */
    tg_err_set(&e, TG_ERR_ARG, "%s", big);
    ck_assert_uint_eq(strlen(e.msg), 511);
    ck_assert_str_eq(e.msg + 507, "\\x1B");
}
END_TEST

/* A message cut short ends on a whole escape and a whole character: one quoting another's
 * (options.c's "%s:%d: %s" around a value's message) was cut by vsnprintf inside the inner
 * "\x1B" ("...\x1B\x"), and a line of 'é' or a C1 split by the cut ended on a lone lead byte.
 * A byte that is not UTF-8 is shown as tg_shown shows it: 0x9B alone (8-bit CSI) reached the
 * terminal as it stood. */
START_TEST(test_err_set_cut_whole) {
    char big[700];
    tg_err in, e;
    tg_err_set(&e, TG_ERR_FORMAT, "'%s'", "a\x9b" "2J\xff\xc3(\xed\xa0\x80\xe2\x82\xac");
    ck_assert_str_eq(e.msg, "'a\\x9B2J\\xFF\\xC3(\\xED\\xA0\\x80\xe2\x82\xac'");
    for (int pre = 0; pre < 4; pre++) {   /* every phase of the outer cut against "\x1B" */
        memset(big, '\x1b', 300);
        big[300] = '\0';
        tg_err_set(&in, TG_ERR_ARG, "unknown setting '%s'", big);
        tg_err_set(&e, TG_ERR_FORMAT, "%.*sc.txt:1: %s", pre, "xyz", in.msg);
        size_t n = strlen(e.msg);
        const char *bs = strrchr(e.msg, '\\');
        ck_assert_ptr_nonnull(bs);
        ck_assert_uint_eq((size_t)(e.msg + n - bs), 4);   /* the last escape whole: \x1B */
        ck_assert_str_eq(bs, "\\x1B");
    }
    for (int pre = 0; pre < 2; pre++) {   /* 'é' (2 bytes) cut after either byte */
        size_t k = 0;
        for (; k + 2 < sizeof big; k += 2) memcpy(big + k, "\xc3\xa9", 2);
        big[k] = '\0';
        tg_err_set(&e, TG_ERR_FORMAT, "%.*s%s", pre, "a", big);
        size_t n = strlen(e.msg);
        ck_assert_uint_eq(n % 2, (size_t)pre);
        ck_assert_int_eq((unsigned char)e.msg[n - 1], 0xa9);
    }
    memset(big, 'a', 510);   /* the cut between C1's two bytes: no lone 0xC2 */
    strcpy(big + 510, "\xc2\x9b");
    tg_err_set(&e, TG_ERR_FORMAT, "%s", big);
    ck_assert_uint_eq(strlen(e.msg), 510);
    for (size_t k = 0; k < 500; k += 2) memcpy(big + k, "\xc3\xa9", 2);
    big[500] = '\0';   /* an escape makes the 509 bytes 512: the copy's cut after a whole 'é' */
    tg_err_set(&e, TG_ERR_FORMAT, "12345678\x1b%s", big);
    ck_assert_uint_eq(strlen(e.msg), 510);
    ck_assert_str_eq(e.msg + 508, "\xc3\xa9");
}
END_TEST

/* The smaller edges: stdin given for two inputs is refused (it was read twice, the second time
 * empty); vocab encode reads a line of exactly its 16 MiB limit (it refused it as "longer than"
 * the limit); a whole number with a '+' and a --sizes list ending in ',' are refused as the other
 * malformed numbers; score's range messages give the range. */
/* Stdin by another name (/dev/stdin, /proc/self/fd/0) counts as stdin when it is a stream, which a
 * second reader finds empty (score --ref - --hyp /dev/stdin said "- has 1 lines but /dev/stdin has
 * 0"); stdin redirected from a regular file is opened again from its start, and is not refused. */
START_TEST(test_stdin_by_other_names) {
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    int saved = dup(0);
    ck_assert_int_eq(dup2(p[0], 0), 0);
    ck_assert(tg_file_reads_stdin("-") && tg_file_reads_stdin("/dev/stdin") && tg_file_reads_stdin("/proc/self/fd/0"));
    ck_assert(!tg_file_reads_stdin("/dev/null"));
    /* a corpus's two sides both stdin, by any names: refused (the second found it empty) */
    tg_corpus c;
    tg_err err;
    ck_assert_int_eq(tg_corpus_read_pair(&c, "/dev/stdin", "-", NULL, &err), TG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "both stdin"), "%s", err.msg);
    const char *file = tg_cli_path("stdin.txt");
    tg_cli_write(file, "a\n");
    int fd = open(file, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(dup2(fd, 0), 0);
    ck_assert(!tg_file_reads_stdin("/dev/stdin") && !tg_file_reads_stdin(file) && tg_file_reads_stdin("-"));
    ck_assert_int_eq(dup2(saved, 0), 0);
    close(fd);
    close(p[0]);
    close(p[1]);
    close(saved);
}
END_TEST

START_TEST(test_small_edges) {
    tiny_model();
    char *vocab = (char *)tg_cli_path("run/vocab.txt");
    const char *ref = tg_cli_path("ref.txt");
    tg_cli_write(ref, "the red house\na dog\n");
    char *e[] = {"vocab", "encode", "--vocab", "-", NULL};
    ck_assert_int_eq(run_in(ref, e), 2);
    ck_assert(tg_cli_has("err.txt", "--vocab -: stdin is the text"));
    char *s[] = {"score", "--ref", "-", "--hyp", "-", NULL};
    ck_assert_int_eq(run_in(ref, s), 2);
    ck_assert(tg_cli_has("err.txt", "stdin ('-', /dev/stdin) is given for more than one input"));
    char *s2[] = {"score", "--ref", (char *)ref, "--hyp", "-", "--paired-bs", "-", NULL};
    ck_assert_int_eq(run_in(ref, s2), 2);
    /* /dev/null named twice while stdin is /dev/null: each read gives all it has (nothing), not stdin's */
    char *nul[] = {"score", "--ref", "/dev/null", "--hyp", "/dev/null", NULL};
    ck_assert_int_eq(run_in("/dev/null", nul), 0);
    const char *big = tg_cli_path("big.txt");
    FILE *f = fopen(big, "wb");
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < ((size_t)16 << 20); i++) fputc('a', f);
    fputs("\r\n", f);
    ck_assert_int_eq(fclose(f), 0);
    char *e2[] = {"vocab", "encode", "--vocab", vocab, NULL};
    ck_assert_int_eq(run_in(big, e2), 0);
    char *l[] = {"vocab", "learn", "--data", (char *)tg_cli_path("train.tsv"), "--merges", "+5", "-o",
                 (char *)tg_cli_path("v.txt"), NULL};
    ck_assert_int_eq(run(l), 2);
    const char *plus = tg_cli_path("plus.txt");
    tg_cli_write(plus, "+5\n");
    char *d[] = {"vocab", "decode", "--ids", "--vocab", vocab, NULL};
    ck_assert_int_eq(run_in(plus, d), 1);
    ck_assert(tg_cli_has("err.txt", "unknown id '+5'"));
    char *b[] = {"bench", "gemm", "--sizes", "8,", "--min-time", "0", NULL};
    ck_assert_int_eq(run(b), 2);
    char *sv[] = {"score", "--ref", (char *)ref, "--hyp", (char *)ref, "--smooth", "floor", "--smooth-value", "1e308",
                  NULL};
    ck_assert_int_eq(run(sv), 2);
    ck_assert(tg_cli_has("err.txt", "expected a number from 0 to 1e9"));
    char *ss[] = {"score", "--ref", (char *)ref, "--hyp", (char *)ref, "--paired-bs", (char *)ref, "--paired-bs-seed",
                  "18446744073709551615", NULL};
    ck_assert_int_eq(run(ss), 2);
    ck_assert(tg_cli_has("err.txt", "expected a whole number from 0 to 9223372036854775807"));
}
END_TEST

/* err.txt is one line (its one '\n' at its end) holding needle: a message that names a file with
 * a line break in its name shows it as \x0A, never split in two. */
static bool one_line_with(const char *needle) {
    char *e = tg_cli_slurp(tg_cli_path("err.txt"));
    bool ok = strstr(e, needle) && strchr(e, '\n') == e + strlen(e) - 1;
    if (!ok) fprintf(stderr, "--- err.txt is not one line with '%s':\n%s\n", needle, e);
    free(e);
    return ok;
}

/* The readers' own reasons (a corpus's bad line, a text's invalid UTF-8, a file that cannot be
 * opened, a vocabulary that does not parse) named the file raw: a line break in the name split
 * the message in two. */
START_TEST(test_reader_errors_show_the_name_safely) {
    const char *model = tiny_model();
    const char *tsv = tg_cli_path("a\nb.tsv"), *text = tg_cli_path("i\nn.txt");
    const char *gone = tg_cli_path("no\nref"), *vocab = tg_cli_path("v\nx.txt");
    tg_cli_write(tsv, "the dog\tel perro\nno tab here\n");
    tg_cli_write(text, "the dog\n\xFF\n");
    tg_cli_write(vocab, "not a vocabulary\n");
    char *tr[] = {"train", "--train", (char *)tsv, "--out", (char *)tg_cli_path("r1"), NULL};
    ck_assert_int_eq(run(tr), 1);
    ck_assert(one_line_with("a\\x0Ab.tsv:2: no tab"));
    char *ev[] = {"eval", "--model", (char *)model, "--data", (char *)tsv, NULL};
    ck_assert_int_eq(run(ev), 1);
    ck_assert(one_line_with("a\\x0Ab.tsv:2: no tab"));
    char *sc[] = {"score", "--ref", (char *)gone, "--hyp", (char *)text, NULL};
    ck_assert_int_eq(run(sc), 1);
    ck_assert(one_line_with("cannot open "));
    ck_assert(one_line_with("no\\x0Aref: No such file"));
    char *tl[] = {"translate", "--model", (char *)model, "--input", (char *)text, NULL};
    ck_assert_int_eq(run(tl), 1);
    ck_assert(one_line_with("i\\x0An.txt:2: invalid UTF-8"));
    char *vo[] = {"train", "--train", (char *)tg_cli_path("train.tsv"), "--vocab", (char *)vocab,
                  "--out", (char *)tg_cli_path("r2"), NULL};
    ck_assert_int_eq(run(vo), 1);
    ck_assert(lacks("err.txt", "\nx.txt") && tg_cli_has("err.txt", "v\\x0Ax.txt:1: "));
}
END_TEST

/* A config file's reasons (--config, and a run folder's config.txt that a fresh start refuses
 * to replace: its reason quoted inside the refusal) named the file raw. */
START_TEST(test_config_errors_show_the_name_safely) {
    const char *config = tg_cli_path("c\nd.txt"), *train = tg_cli_path("train.tsv");
    tg_cli_write(config, "bogus = 1\n");
    tg_cli_write(train, "the dog\tel perro\n");
    char *bad[] = {"train", "--config", (char *)config, "--train", (char *)train, "--out",
                   (char *)tg_cli_path("r1"), NULL};
    ck_assert_int_eq(run(bad), 2);
    ck_assert(one_line_with("c\\x0Ad.txt:1: unknown setting 'bogus'"));
    const char *out = tg_cli_path("r\nun");
    ck_assert_int_eq(mkdir(out, 0755), 0);
    char theirs[600];
    snprintf(theirs, sizeof theirs, "%s/config.txt", out);
    tg_cli_write(theirs, "bogus = 1\n");
    char *fresh[] = {"train", "--train", (char *)train, "--out", (char *)out, NULL};
    ck_assert_int_eq(run(fresh), 1);
    ck_assert(one_line_with("r\\x0Aun/config.txt:1: unknown setting 'bogus'): move it"));
}
END_TEST

/* A checkpoint's reasons (truncated, bad magic, a section that does not check) named the file
 * raw, in ckpt info and verify and in each command that loads a model. */
START_TEST(test_ckpt_errors_show_the_name_safely) {
    const char *model = tiny_model();
    size_t n;
    char *bytes = tg_cli_slurp_n(model, &n);
    const char *cut = tg_cli_path("k\nl.ckpt");
    FILE *f = fopen(cut, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, 100, f), 100);   /* the header, not its directory */
    ck_assert_int_eq(fclose(f), 0);
    free(bytes);
    tg_cli_write(tg_cli_path("in.txt"), "the dog\n");
    char *cmds[][8] = {
        {"ckpt", "info", (char *)cut, NULL},
        {"ckpt", "verify", (char *)cut, NULL},
        {"translate", "--model", (char *)cut, "--input", (char *)tg_cli_path("in.txt"), NULL},
        {"eval", "--model", (char *)cut, "--data", (char *)tg_cli_path("train.tsv"), NULL},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        ck_assert_int_eq(run(cmds[i]), 1);
        ck_assert_msg(one_line_with("k\\x0Al.ckpt: truncated: "), "%s %s", cmds[i][0], cmds[i][1]);
    }
    /* a section that does not check, past the container's own checks (run_ckpt.c's messages) */
    const char *odd = tg_cli_path("s\nt.ckpt");
    tg_cli_rewrite_section(model, odd, "model", "d_model", 7);
    char *info[] = {"ckpt", "info", (char *)odd, NULL};
    ck_assert_int_eq(run(info), 1);
    ck_assert(one_line_with("s\\x0At.ckpt: section 'model': "));
}
END_TEST

/* A checkpoint's own text quoted in a reason is escaped: a 'model' entry and a parameter's name
 * were quoted raw, and tg_err passes a tab (ckpt info printed one). */
START_TEST(test_ckpt_text_shown_escaped) {
    const char *model = tiny_model();
    const char *odd = tg_cli_path("odd.ckpt");
    static const char entry[] = "d_\tmodel\x1b[2J";
    tg_cli_rewrite_section(model, odd, "model", entry, sizeof entry - 1);
    char *info[] = {"ckpt", "info", (char *)odd, NULL};
    ck_assert_int_eq(run(info), 1);
    ck_assert(one_line_with("odd.ckpt: section 'model': 'd_\\x09model\\x1B[2J' is not key=value"));
    /* param_index: u32 element size, u32 count, then each name as u32 length and bytes */
    tg_ckpt_reader *r;
    tg_err err;
    const void *p;
    size_t n;
    ck_assert_msg(tg_ckpt_reader_open(model, &r, &err) == TG_OK, "%s", err.msg);
    ck_assert_int_eq(tg_ckpt_reader_get(r, "param_index", &p, &n, &err), TG_OK);
    unsigned char *index = malloc(n);
    ck_assert_ptr_nonnull(index);
    memcpy(index, p, n);
    tg_ckpt_reader_free(r);
    ck_assert_uint_ge(index[8], 3);   /* (the first name's length: 3 bytes or more) */
    index[13] = '\t';
    index[14] = 0x1b;
    tg_cli_rewrite_section(model, odd, "param_index", index, n);
    free(index);
    char *tr[] = {"translate", "--model", (char *)odd, "--input", (char *)tg_cli_path("in.txt"),
                  NULL};
    tg_cli_write(tg_cli_path("in.txt"), "the dog\n");
    ck_assert_int_eq(run(tr), 1);
    ck_assert(one_line_with("odd.ckpt: parameter 0 is '"));
    char *e = tg_cli_slurp(tg_cli_path("err.txt"));
    ck_assert_msg(strstr(e, "\\x09\\x1B") && !strchr(e, '\t') && !strchr(e, 0x1b), "%s", e);
    free(e);
}
END_TEST

int main(void) {
    Suite *s = suite_create("text_inputs");
    TCase *tc = tcase_create("commands");
    tcase_add_checked_fixture(tc, tg_cli_setup, tg_cli_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_line_limit);
    tcase_add_test(tc, test_bom_dropped);
    tcase_add_test(tc, test_cr_line_ends_refused);
    tcase_add_test(tc, test_input_errors_name_file_and_line);
    tcase_add_test(tc, test_temperature_range_and_json_numbers);
    tcase_add_test(tc, test_control_bytes_shown_escaped);
    tcase_add_test(tc, test_reader_errors_show_the_name_safely);
    tcase_add_test(tc, test_config_errors_show_the_name_safely);
    tcase_add_test(tc, test_ckpt_errors_show_the_name_safely);
    tcase_add_test(tc, test_ckpt_text_shown_escaped);
    tcase_add_test(tc, test_err_set_escapes);
    tcase_add_test(tc, test_err_set_cut_whole);
    tcase_add_test(tc, test_small_edges);
    tcase_add_test(tc, test_stdin_by_other_names);
    suite_add_tcase(s, tc);
    return tg_check_run(s) ? 1 : 0;
}
