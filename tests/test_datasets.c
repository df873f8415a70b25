/* test_datasets.c: corpus readers (one test per bad-input case), normalisation, BPE
 * (learn/save/load/encode/decode, byte fallback, determinism, bad vocabulary files), the
 * round-trip on every line of both shared corpora, datasets, batches, the resumable iterator and
 * the synthetic tasks. Files are written into a temporary folder made by main(). */
#include <check.h>
#include <zlib.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/datasets.h"
#include "tests/tg_check.h"

static char tmp_dir[256];

/* Writes bytes to tmp_dir/name; returns the path (a static slot, 32 kept at a time). */
static const char *write_file(const char *name, const char *bytes, size_t len) {
    static char paths[32][512];
    static int slot;
    char *p = paths[slot++ % 32];
    snprintf(p, 512, "%s/%s", tmp_dir, name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
    return p;
}
#define WRITE(name, lit) write_file(name, lit, sizeof(lit) - 1)

/* For hot loops: Check's ck_assert records every passing check through the parent process, which
 * costs a system call each; REQUIRE only calls into Check when it fails. */
#define REQUIRE(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)
#define REQUIRE_CMP(a, op, b) \
    REQUIRE((a) op (b), "%s %s %s failed: %lld vs %lld", #a, #op, #b, (long long)(a), (long long)(b))
#define REQUIRE_EQ(a, b) REQUIRE_CMP(a, ==, b)
#define REQUIRE_MEM(a, b, n) REQUIRE(memcmp((a), (b), (n)) == 0, "%s and %s differ", #a, #b)

#define ck_assert_msg_has(err, s) \
    ck_assert_msg(strstr((err).msg, (s)) != NULL, "message '%s' lacks '%s'", (err).msg, (s))

static void tg_ds_str_append_for_test(tg_str *t, const char *s, size_t n) {
    if (t->n + n + 1 > t->cap) {
        t->cap = (t->n + n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        ck_assert_ptr_nonnull(t->s);
    }
    memcpy(t->s + t->n, s, n);
    t->n += n;
    t->s[t->n] = '\0';
}

/* Small helper the detok test uses (tg_ids has no public push). */
static bool tg_ids_push_for_test(tg_ids *ids, int32_t v) {
    if (ids->n == ids->cap) {
        size_t nc = ids->cap ? ids->cap * 2 : 16;
        int32_t *q = realloc(ids->v, nc * sizeof *q);
        if (!q) return false;
        ids->v = q;
        ids->cap = nc;
    }
    ids->v[ids->n++] = v;
    return true;
}

/* ---- readers ---------------------------------------------------------------------------- */

/* A gzip-compressed corpus (the bundled one) reads like the plain file; a truncated or corrupted
 * one is refused with a message naming it. */
START_TEST(test_gzip_corpus) {
    static const char text[] = "Hello world\tHola mundo\nGood  night\tBuenas noches\n";
    char gz[512];
    snprintf(gz, sizeof gz, "%s/small.tsv.gz", tmp_dir);
    gzFile g = gzopen(gz, "wb9");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, text, sizeof text - 1), (int)(sizeof text - 1));
    ck_assert_int_eq(gzclose(g), Z_OK);
    tg_corpus a = {0}, b = {0};
    tg_err err;
    ck_assert_int_eq(tg_corpus_read_tsv(&a, WRITE("small.tsv", text), NULL, &err), TG_OK);
    ck_assert_int_eq(tg_corpus_read_tsv(&b, gz, NULL, &err), TG_OK);
    ck_assert_uint_eq(a.n, 2);
    ck_assert_uint_eq(b.n, 2);
    for (size_t i = 0; i < a.n; i++) {
        ck_assert_str_eq(a.src[i], b.src[i]);
        ck_assert_str_eq(a.tgt[i], b.tgt[i]);
    }
    tg_corpus_free(&a);
    tg_corpus_free(&b);
    /* cut it short */
    FILE *f = fopen(gz, "rb");
    unsigned char bytes[256];
    size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    const char *cut = write_file("cut.tsv.gz", (const char *)bytes, n - 6);
    ck_assert_int_eq(tg_corpus_read_tsv(&a, cut, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "cut.tsv.gz");
    ck_assert_msg_has(err, "truncated");
    /* corrupt the deflate data */
    bytes[12] ^= 0xFF;
    bytes[13] ^= 0x55;
    const char *bad = write_file("bad.tsv.gz", (const char *)bytes, n);
    ck_assert_int_ne(tg_corpus_read_tsv(&a, bad, NULL, &err), TG_OK);
    ck_assert_msg_has(err, "bad.tsv.gz");
}
END_TEST

/* Appends one gzip member holding text to path (mode "wb" starts the file, "ab" appends). */
static void gz_member(const char *path, const char *mode, const char *text) {
    gzFile g = gzopen(path, mode);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, text, (unsigned)strlen(text)), (int)strlen(text));
    ck_assert_int_eq(gzclose(g), Z_OK);
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static unsigned char bytes[4096];
    *n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    return bytes;
}

/* Issue 9, item 7: a multi-member gzip (as `cat a.gz b.gz` makes) is read whole; a damaged second
 * member, bytes after the last member and a cut second member are errors naming the file, where
 * zlib's gzread stopped quietly after the first member (1 of 3 pairs, exit 0). */
START_TEST(test_gzip_multi_member) {
    char gz[512];
    snprintf(gz, sizeof gz, "%s/multi.tsv.gz", tmp_dir);
    gz_member(gz, "wb", "one\tuno\n");
    size_t first_len;
    read_all(gz, &first_len);
    gz_member(gz, "ab", "two\tdos\nthree\ttres\n");
    tg_corpus c = {0};
    tg_err err;
    ck_assert_int_eq(tg_corpus_read_tsv(&c, gz, NULL, &err), TG_OK);
    ck_assert_uint_eq(c.n, 3);
    ck_assert_str_eq(c.tgt[2], "tres");
    tg_corpus_free(&c);
    size_t n;
    unsigned char *bytes = read_all(gz, &n);
    /* the second member's magic damaged: gzread took it for trailing garbage */
    bytes[first_len] ^= 0x40;
    const char *bad = write_file("bad2.tsv.gz", (const char *)bytes, n);
    ck_assert_int_eq(tg_corpus_read_tsv(&c, bad, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "bad2.tsv.gz: ");
    ck_assert_msg_has(err, "after gzip member 1");
    bytes[first_len] ^= 0x40;
    /* the second member's deflate data damaged */
    bytes[first_len + 12] ^= 0xFF;
    bad = write_file("bad3.tsv.gz", (const char *)bytes, n);
    ck_assert_int_eq(tg_corpus_read_tsv(&c, bad, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "bad3.tsv.gz: gzip member 2");
    bytes[first_len + 12] ^= 0xFF;
    /* the second member cut short, and a stray byte after the last member */
    bad = write_file("cut2.tsv.gz", (const char *)bytes, n - 3);
    ck_assert_int_eq(tg_corpus_read_pair(&c, bad, bad, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "cut2.tsv.gz: gzip member 2 is truncated");
    bytes[n] = '\n';
    bad = write_file("tail.tsv.gz", (const char *)bytes, n + 1);
    ck_assert_int_eq(tg_corpus_read_tsv(&c, bad, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "tail.tsv.gz: 1 byte after gzip member 2");
}
END_TEST

/* Issue 9, item 11: a file over the reader's size limit (an endless device, a decompression
 * bomb) is refused once the limit is reached, not read until memory runs out. */
START_TEST(test_file_size_limit) {
    tg_corpus c = {0};
    tg_err err;
    tg_corpus_opts o = {.max_file_bytes = 1000};
    ck_assert_int_eq(tg_corpus_read_tsv(&c, "/dev/zero", &o, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "/dev/zero: larger than 1000 bytes");
    char big[2001];
    memset(big, 'a', 2000);
    big[2000] = '\0';
    char gz[512];
    snprintf(gz, sizeof gz, "%s/bomb.tsv.gz", tmp_dir);
    gz_member(gz, "wb", big);
    ck_assert_int_eq(tg_corpus_read_tsv(&c, gz, &o, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "bomb.tsv.gz: larger than 1000 bytes");
    char *buf;
    size_t n;
    ck_assert_int_eq(tg_file_read(gz, 2000, &buf, &n, &err), TG_OK);
    ck_assert_uint_eq(n, 2000);
    ck_assert_int_eq(buf[n], '\0');
    free(buf);
}
END_TEST

/* A NUL byte is no text either: /dev/zero, and /dev/urandom (whose line ends kept every run short)
 * were read up to the 8 GiB corpus limit before their first line was looked at. Refused as soon
 * as the NUL is read, plain or gzip, naming the line and the byte. */
START_TEST(test_file_nul_refused_early) {
    tg_corpus c = {0};
    tg_err err;
    ck_assert_int_eq(tg_corpus_read_tsv(&c, "/dev/zero", NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "/dev/zero:1: NUL byte at byte offset 0 of the line: not a text file");
    ck_assert_int_eq(tg_corpus_read_tsv(&c, "/dev/urandom", NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "/dev/urandom:");
    /* 1 time in 65,536 its first bytes are gzip's magic: then refused as a damaged member */
    ck_assert_msg(strstr(err.msg, ": NUL byte at byte offset") || strstr(err.msg, ": gzip member 1 is "), "%s",
                  err.msg);
    char gz[512];
    snprintf(gz, sizeof gz, "%s/nul.tsv.gz", tmp_dir);
    gz_member(gz, "wb", "a\tb\nc\td\n");
    gzFile f = gzopen(gz, "ab");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(gzwrite(f, "ef\0g\th\n", 8), 8);
    ck_assert_int_eq(gzclose(f), Z_OK);
    ck_assert_int_eq(tg_corpus_read_tsv(&c, gz, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "nul.tsv.gz:3: NUL byte at byte offset 2 of the line");
}
END_TEST

/* A text file's run without a line end is bounded too: /dev/zero under the default 8 GiB corpus
 * limit was read to the limit before its first line was looked at; a binary the same. Refused
 * once TG_FILE_MAX_LINE_RUN bytes pass without a '\n', plain or gzip, naming the line. */
START_TEST(test_file_line_run_limit) {
    tg_corpus c = {0};
    tg_err err;
    size_t n = TG_FILE_MAX_LINE_RUN + 1;
    char *big = malloc(n + 32);   /* 8 bytes of two lines, n, 3 */
    ck_assert_ptr_nonnull(big);
    strcpy(big, "a\tb\nc\td\n");
    memset(big + 8, 'x', n);
    big[8 + n] = '\0';
    char gz[512];
    snprintf(gz, sizeof gz, "%s/run.tsv.gz", tmp_dir);
    gz_member(gz, "wb", big);
    ck_assert_int_eq(tg_corpus_read_tsv(&c, gz, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "run.tsv.gz:3: a line of more than 16777216 bytes");
    big[8 + n - 1] = '\n'; /* exactly the limit, then a line end: still text */
    const char *plain = write_file("run.txt", big, 8 + n);
    char *buf;
    size_t len;
    ck_assert_int_eq(tg_file_read(plain, TG_CORPUS_MAX_FILE_BYTES, &buf, &len, &err), TG_OK);
    ck_assert_uint_eq(len, 8 + n);
    free(buf);
    memset(big + 8, 'x', n);
    plain = write_file("run2.txt", big, 8 + n);
    ck_assert_int_eq(tg_file_read(plain, TG_CORPUS_MAX_FILE_BYTES, &buf, &len, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "run2.txt:3: a line of more than 16777216 bytes");
    memcpy(big + 8 + n, "\nz\n", 3); /* one byte over, with its line end in the same read */
    plain = write_file("run3.txt", big, 8 + n + 3);
    ck_assert_int_eq(tg_file_read(plain, TG_CORPUS_MAX_FILE_BYTES, &buf, &len, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "run3.txt:3: a line of more than 16777216 bytes: not a text file, refused");
    free(big);
}
END_TEST

START_TEST(test_tsv_normalises) {
    const char *p = WRITE("ok.tsv", "\xEF\xBB\xBF  Hello   there \tHola \x0B amigo \r\n"
                                    "a\xC2\xA0" "b\tc\xE3\x80\x80" "d\xEF\xBB\xBF" "e\n"
                                    "last\tline");
    tg_corpus c;
    tg_err err;
    ck_assert_int_eq(tg_corpus_read_tsv(&c, p, NULL, &err), TG_OK);
    ck_assert_uint_eq(c.n, 3);
    ck_assert_str_eq(c.src[0], "Hello there");
    ck_assert_str_eq(c.tgt[0], "Hola amigo");
    ck_assert_str_eq(c.src[1], "a b");                   /* no-break space folded */
    ck_assert_str_eq(c.tgt[1], "c d\xEF\xBB\xBF" "e");   /* ideographic space folded; U+FEFF kept */
    ck_assert_str_eq(c.src[2], "last");
    ck_assert_str_eq(c.tgt[2], "line");
    ck_assert_uint_eq(c.line[2], 3);
    ck_assert_uint_eq(c.stats.lines, 3);
    ck_assert_uint_eq(c.stats.kept, 3);
    tg_corpus_free(&c);
}
END_TEST

START_TEST(test_normalize) {
    char s[] = " \t a\xE2\x80\x83\xE2\x80\x83" "b\xC2\x85" "c \xFF  d\r\n";
    size_t n = tg_corpus_normalize(s, sizeof s - 1);
    ck_assert_uint_eq(n, 9);
    ck_assert_mem_eq(s, "a b c \xFF d", 9);
    char e[] = "  \t ";
    ck_assert_uint_eq(tg_corpus_normalize(e, 4), 0);
}
END_TEST

START_TEST(test_utf8) {
    size_t bad = 99;
    ck_assert(tg_utf8_valid("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 10, &bad));
    const char *cases[] = {"\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\x80", "\xE2\x82", "\xFE"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[8] = "xy";
        strcpy(buf + 2, cases[i]);
        ck_assert_msg(!tg_utf8_valid(buf, strlen(buf), &bad), "case %zu accepted", i);
        ck_assert_uint_eq(bad, 2);
    }
    uint32_t cp;
    ck_assert_int_eq(tg_utf8_next("\xF0\x9F\x98\x80", 4, &cp), 4);
    ck_assert_uint_eq(cp, 0x1F600);
    ck_assert_uint_eq(tg_utf8_space_len("\xE3\x80\x80", 3), 3);
    ck_assert_uint_eq(tg_utf8_space_len("\xEF\xBB\xBF", 3), 0);
}
END_TEST

START_TEST(test_tsv_invalid_utf8) {
    const char *p = WRITE("utf8.tsv", "ok\tfine\nbad \xC3\x28 here\tx\n");
    tg_corpus c;
    tg_err err;
    ck_assert_int_eq(tg_corpus_read_tsv(&c, p, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "utf8.tsv:2:");
    ck_assert_msg_has(err, "invalid UTF-8 at byte offset 4 of the line");
    ck_assert_msg_has(err, "offset 12 in the file");
    ck_assert_uint_eq(c.n, 0);
    ck_assert_ptr_null(c.src);
}
END_TEST

START_TEST(test_tsv_no_tab) {
    const char *p = WRITE("notab.tsv", "a\tb\nno tab here\n");
    tg_corpus c;
    tg_err err;
    ck_assert_int_eq(tg_corpus_read_tsv(&c, p, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "notab.tsv:2: no tab");
    ck_assert_msg_has(err, "source<TAB>target");
    p = WRITE("blank.tsv", "a\tb\n\nc\td\n");
    ck_assert_int_eq(tg_corpus_read_tsv(&c, p, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "blank.tsv:2: empty line");
}
END_TEST

START_TEST(test_tsv_extra_tab) {
    const char *p = WRITE("tabs.tsv", "a\tb\tc\n");
    tg_corpus c;
    tg_err err;
    ck_assert_int_eq(tg_corpus_read_tsv(&c, p, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "tabs.tsv:1: 2 tabs");
    ck_assert(!strstr(err.msg, "carriage return"));
    /* lines ended by CR alone (old Mac files) read as one line: the message says why */
    p = WRITE("cr.tsv", "a\tb\rc\td\r");
    ck_assert_int_eq(tg_corpus_read_tsv(&c, p, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "cr.tsv:1: 2 tabs");
    ck_assert_msg_has(err, "its lines end in a carriage return alone");
    p = WRITE("crlf.tsv", "a\tb\tc\r\n");   /* a CRLF line's own CR is not that */
    ck_assert_int_eq(tg_corpus_read_tsv(&c, p, NULL, &err), TG_ERR_FORMAT);
    ck_assert(!strstr(err.msg, "carriage return"));
}
END_TEST

START_TEST(test_pair_lengths_differ) {
    const char *en = WRITE("t.en", "one\ntwo\nthree\n");
    const char *es = WRITE("t.es", "uno\ndos\n");
    tg_corpus c;
    tg_err err;
    ck_assert_int_eq(tg_corpus_read_pair(&c, en, es, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "t.es ended first, after line 2");
    ck_assert_msg_has(err, "t.en goes on to line 3");
    /* the other way round, and under the skip policy too */
    tg_corpus_opts o = {.on_bad_line = TG_BAD_LINE_SKIP};
    ck_assert_int_eq(tg_corpus_read_pair(&c, es, en, &o, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "t.es ended first, after line 2");
    /* a missing final newline is not a missing line */
    const char *es3 = WRITE("t3.es", "uno\ndos\ntres");
    ck_assert_int_eq(tg_corpus_read_pair(&c, en, es3, NULL, &err), TG_OK);
    ck_assert_uint_eq(c.n, 3);
    ck_assert_str_eq(c.src[2], "three");
    ck_assert_str_eq(c.tgt[2], "tres");
    tg_corpus_free(&c);
}
END_TEST

START_TEST(test_empty_file) {
    const char *p = write_file("empty.tsv", "", 0);
    tg_corpus c;
    tg_err err;
    ck_assert_int_eq(tg_corpus_read_tsv(&c, p, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "empty.tsv: file is empty");
    p = WRITE("bom.tsv", "\xEF\xBB\xBF");
    ck_assert_int_eq(tg_corpus_read_tsv(&c, p, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "bom.tsv: file is empty");
    const char *en = WRITE("e.en", "hello\n");
    const char *es = write_file("e.es", "", 0);
    ck_assert_int_eq(tg_corpus_read_pair(&c, en, es, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "e.es: file is empty");
}
END_TEST

START_TEST(test_nul_byte) {
    const char *p = write_file("nul.tsv", "a\tb\nx\0y\tz\n", 10);
    tg_corpus c;
    tg_err err;
    ck_assert_int_eq(tg_corpus_read_tsv(&c, p, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "nul.tsv:2: NUL byte at byte offset 1");
    const char *en = write_file("n.en", "ok\nfine\0\n", 9);
    const char *es = WRITE("n.es", "si\nbien\n");
    ck_assert_int_eq(tg_corpus_read_pair(&c, en, es, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "n.en:2: NUL byte");
}
END_TEST

START_TEST(test_empty_side) {
    tg_corpus c;
    tg_err err;
    const char *p = WRITE("es1.tsv", "a\tb\n \t b\n");
    ck_assert_int_eq(tg_corpus_read_tsv(&c, p, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "es1.tsv:2: empty source");
    p = WRITE("es2.tsv", "a\t \r\n");
    ck_assert_int_eq(tg_corpus_read_tsv(&c, p, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "es2.tsv:1: empty target");
    const char *en = WRITE("s.en", "one\ntwo\n");
    const char *es = WRITE("s.es", "uno\n \t\n");
    ck_assert_int_eq(tg_corpus_read_pair(&c, en, es, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "s.es:2: empty line");
    ck_assert_msg_has(err, "s.en:2");
}
END_TEST

START_TEST(test_line_too_long) {
    const char *p = WRITE("long.tsv", "short\tok\nthis line is long\tyes\n");
    tg_corpus c;
    tg_err err;
    tg_corpus_opts o = {.max_line_bytes = 10};
    ck_assert_int_eq(tg_corpus_read_tsv(&c, p, &o, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "long.tsv:2: line is 21 bytes long, over the limit of 10 bytes");
    /* the default limit lets the same file through */
    ck_assert_int_eq(tg_corpus_read_tsv(&c, p, NULL, &err), TG_OK);
    ck_assert_uint_eq(c.n, 2);
    tg_corpus_free(&c);
}
END_TEST

START_TEST(test_missing_file) {
    tg_corpus c;
    tg_err err;
    ck_assert_int_eq(tg_corpus_read_tsv(&c, "/nonexistent/x.tsv", NULL, &err), TG_ERR_IO);
    ck_assert_msg_has(err, "/nonexistent/x.tsv");
}
END_TEST

START_TEST(test_skip_policy) {
    static const char text[] =
        "good\tbueno\n"            /* 1 */
        "bad\xFF\tmalo\n"          /* 2 utf8 */
        "no tab\n"                 /* 3 no tab */
        "a\tb\tc\n"                /* 4 extra tab */
        "nul\0\tx\n"               /* 5 NUL */
        "\tempty\n"                /* 6 empty side */
        "0123456789012345678901234567890\tlong\n" /* 7 too long */
        "fine\tbien\n"             /* 8 */
        "another\n"                /* 9 no tab */
        "\n";                      /* 10 empty line: no tab */
    const char *p = write_file("skip.tsv", text, sizeof text - 1);
    tg_corpus c;
    tg_err err;
    tg_corpus_opts o = {.on_bad_line = TG_BAD_LINE_SKIP, .max_line_bytes = 30};
    ck_assert_int_eq(tg_corpus_read_tsv(&c, p, &o, &err), TG_OK);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_str_eq(c.src[0], "good");
    ck_assert_str_eq(c.tgt[1], "bien");
    ck_assert_uint_eq(c.line[1], 8);
    ck_assert_uint_eq(c.stats.lines, 10);
    ck_assert_uint_eq(c.stats.kept, 2);
    ck_assert_uint_eq(c.stats.skipped[TG_BAD_UTF8], 1);
    ck_assert_uint_eq(c.stats.skipped[TG_BAD_NO_TAB], 3);
    ck_assert_uint_eq(c.stats.skipped[TG_BAD_EXTRA_TAB], 1);
    ck_assert_uint_eq(c.stats.skipped[TG_BAD_NUL], 1);
    ck_assert_uint_eq(c.stats.skipped[TG_BAD_EMPTY_SIDE], 1);
    ck_assert_uint_eq(c.stats.skipped[TG_BAD_TOO_LONG], 1);
    ck_assert_uint_eq(c.stats.first_line[TG_BAD_NO_TAB], 3);
    ck_assert_uint_eq(c.stats.first_line[TG_BAD_TOO_LONG], 7);
    ck_assert_str_eq(tg_bad_reason_str(TG_BAD_UTF8), "invalid UTF-8");
    tg_corpus_free(&c);

    /* file pairs: a bad line on either side drops the pair */
    const char *en = WRITE("k.en", "one\ntw\xC3o\nthree\n\n");
    const char *es = WRITE("k.es", "uno\ndos\n\ntres\n");
    ck_assert_int_eq(tg_corpus_read_pair(&c, en, es, &o, &err), TG_OK);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_uint_eq(c.stats.skipped[TG_BAD_UTF8], 1);
    ck_assert_uint_eq(c.stats.skipped[TG_BAD_EMPTY_SIDE], 2);
    tg_corpus_free(&c);

    /* nothing left is still an error */
    p = WRITE("allbad.tsv", "x\ny\n");
    ck_assert_int_eq(tg_corpus_read_tsv(&c, p, &o, &err), TG_ERR_FORMAT);
    ck_assert_msg_has(err, "no usable pairs");
}
END_TEST

/* ---- BPE -------------------------------------------------------------------------------- */

static tg_bpe *learn_lines(const char *const *lines, size_t n, int32_t merges) {
    tg_bpe *b;
    tg_err err;
    tg_status st = tg_bpe_learn_lines(&b, lines, n, &(tg_bpe_learn_opts){.merges = merges}, &err);
    ck_assert_msg(st == TG_OK, "learn: %s", err.msg);
    return b;
}

static char *merges_section(const tg_bpe *b, tg_str *t) {
    tg_err err;
    ck_assert_int_eq(tg_bpe_save_text(b, t, &err), TG_OK);
    char *m = strstr(t->s, "\nmerges ");
    ck_assert_ptr_nonnull(m);
    return strchr(m + 1, '\n') + 1;
}

START_TEST(test_bpe_learn_small) {
    /* low x5, lower x2, newest x6, widest x3 (Sennrich et al.'s example). Counts: (e,s) 9 and
     * (s,t) 9 tie, the smaller ids win (e is the most frequent character); then (es,t) 9; then
     * three pairs at 7 whose ids order them ▁l, ow, ▁l+ow. */
    const char *lines[] = {"low low low low low", "lower lower", "newest newest newest",
                           "newest newest newest", "widest widest widest"};
    tg_bpe *b = learn_lines(lines, 5, 5);
    tg_str t = {0};
    ck_assert_str_eq(merges_section(b, &t), "e s\nes t\n\xE2\x96\x81 l\no w\n\xE2\x96\x81l ow\n");
    ck_assert_int_eq(tg_bpe_n_chars(b), 11);
    ck_assert_int_eq(tg_bpe_vocab_size(b), TG_BPE_FIRST_CHAR + 11 + 5);
    tg_ids ids = {0};
    tg_err err;
    ck_assert_int_eq(tg_bpe_encode(b, "lowest", 6, &ids, &err), TG_OK);
    ck_assert_uint_eq(ids.n, 2);
    ck_assert_int_eq(tg_bpe_piece_str(b, ids.v[0], &t, &err), TG_OK);
    ck_assert_str_eq(t.s, "\xE2\x96\x81low");
    ck_assert_int_eq(tg_bpe_piece_str(b, ids.v[1], &t, &err), TG_OK);
    ck_assert_str_eq(t.s, "est");
    /* asking for more merges than pairs occurring twice stops early */
    tg_bpe *b2 = learn_lines(lines, 5, 1000);
    ck_assert_int_lt(tg_bpe_n_merges(b2), 1000);
    tg_bpe_free(b2);
    tg_ids_free(&ids);
    tg_str_free(&t);
    tg_bpe_free(b);
}
END_TEST

START_TEST(test_bpe_matches_reference) {
    /* The fast learner against a naive one that recounts every pair after every merge
     * (tests/fixtures/bpe_reference.py, which wrote these files): 400 merges on each dev set. */
    static const char *const cases[2][2] = {
        {"data/bible_en_es/dev.tsv.gz", "tests/fixtures/bpe_bible_dev_400.txt"},
        {"../shared/data/gettext_en_de/dev.tsv", "tests/fixtures/bpe_gettext_dev_400.txt"}};
    for (int k = 0; k < 2; k++) {
        tg_corpus c;
        tg_err err;
        ck_assert_int_eq(tg_corpus_read_tsv(&c, cases[k][0], NULL, &err), TG_OK);
        tg_bpe *b;
        ck_assert_int_eq(tg_bpe_learn(&b, &c, &(tg_bpe_learn_opts){.merges = 400}, &err), TG_OK);
        tg_str t = {0};
        ck_assert_int_eq(tg_bpe_save_text(b, &t, &err), TG_OK);
        FILE *f = fopen(cases[k][1], "rb");
        ck_assert_ptr_nonnull(f);
        char *want = malloc(t.n + 2);
        size_t n = fread(want, 1, t.n + 1, f);
        fclose(f);
        ck_assert_uint_eq(n, t.n);
        ck_assert_mem_eq(want, t.s, n);
        free(want);
        tg_str_free(&t);
        tg_bpe_free(b);
        tg_corpus_free(&c);
    }
}
END_TEST

START_TEST(test_bpe_deterministic) {
    enum { N = 400 };
    static char buf[N][64];
    const char *fwd[N], *rev[N];
    tg_data_rng r;
    tg_data_rng_seed(&r, 7, 0);
    for (int i = 0; i < N; i++) {
        int len = 0;
        for (int w = 0; w < 6; w++) {
            int wl = 1 + (int)tg_data_rng_below(&r, 5);
            for (int k = 0; k < wl; k++) buf[i][len++] = (char)('a' + tg_data_rng_below(&r, 4));
            buf[i][len++] = ' ';
        }
        buf[i][len - 1] = '\0';
        fwd[i] = buf[i];
        rev[N - 1 - i] = buf[i];
    }
    tg_bpe *a = learn_lines(fwd, N, 200), *b = learn_lines(fwd, N, 200), *c = learn_lines(rev, N, 200);
    tg_str ta = {0}, tb = {0}, tc = {0};
    tg_err err;
    ck_assert_int_eq(tg_bpe_save_text(a, &ta, &err), TG_OK);
    ck_assert_int_eq(tg_bpe_save_text(b, &tb, &err), TG_OK);
    ck_assert_int_eq(tg_bpe_save_text(c, &tc, &err), TG_OK);
    ck_assert_int_gt(tg_bpe_n_merges(a), 50);
    ck_assert_str_eq(ta.s, tb.s);
    ck_assert_str_eq(ta.s, tc.s); /* the line order does not matter, only the word counts */
    tg_str_free(&ta);
    tg_str_free(&tb);
    tg_str_free(&tc);
    tg_bpe_free(a);
    tg_bpe_free(b);
    tg_bpe_free(c);
}
END_TEST

/* decode(encode(s)) == s for a normalised s; returns the number of byte pieces used. */
static size_t check_roundtrip(tg_bpe *b, const char *s, tg_ids *ids, tg_str *t) {
    tg_err err;
    ids->n = 0;
    REQUIRE_EQ(tg_bpe_encode(b, s, strlen(s), ids, &err), TG_OK);
    REQUIRE_EQ(tg_bpe_decode(b, ids->v, ids->n, t, &err), TG_OK);
    REQUIRE(t->n == strlen(s) && memcmp(t->s, s, t->n) == 0, "round trip: '%s' -> '%s'", s, t->s);
    size_t bytes = 0;
    for (size_t i = 0; i < ids->n; i++) {
        REQUIRE_CMP(ids->v[i], >=, TG_BPE_FIRST_BYTE);
        REQUIRE_CMP(ids->v[i], <, tg_bpe_vocab_size(b));
        bytes += ids->v[i] < TG_BPE_FIRST_CHAR;
    }
    return bytes;
}

START_TEST(test_bpe_roundtrip_corpora) {
    /* Every line of both sides of train and dev of both corpora must round-trip, under two
     * vocabularies, each saved and loaded first: one from a subset (2000 pairs of each corpus,
     * 2000 merges), where characters outside the subset go through byte fallback, and the
     * benchmark's one (8000 merges on all of bible train). */
    static const char *const files[4] = {
        "data/bible_en_es/train.tsv.gz", "../shared/data/gettext_en_de/train.tsv",
        "data/bible_en_es/dev.tsv.gz", "../shared/data/gettext_en_de/dev.tsv"};
    tg_corpus c[4];
    tg_err err;
    for (int f = 0; f < 4; f++) {
        tg_status st = tg_corpus_read_tsv(&c[f], files[f], NULL, &err);
        ck_assert_msg(st == TG_OK, "%s", err.msg);
        ck_assert_uint_eq(c[f].stats.lines, c[f].n); /* both corpora are clean */
    }
    ck_assert_uint_eq(c[0].n, 28279);
    ck_assert_uint_eq(c[1].n, 116765);
    size_t n_sub = 0;
    const char **sub = malloc(8000 * sizeof *sub);
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < 2000; i++) {
            sub[n_sub++] = c[f].src[i];
            sub[n_sub++] = c[f].tgt[i];
        }
    tg_bpe *learned[2];
    learned[0] = learn_lines(sub, n_sub, 2000);
    free(sub);
    ck_assert_int_eq(tg_bpe_n_merges(learned[0]), 2000);
    ck_assert_int_eq(tg_bpe_learn(&learned[1], &c[0], &(tg_bpe_learn_opts){.merges = 8000}, &err), TG_OK);
    ck_assert_int_eq(tg_bpe_n_merges(learned[1]), 8000);
    for (int v = 0; v < 2; v++) {
        tg_str saved = {0};
        ck_assert_int_eq(tg_bpe_save_text(learned[v], &saved, &err), TG_OK);
        tg_bpe_free(learned[v]);
        tg_bpe *b;
        ck_assert_int_eq(tg_bpe_load_text(&b, saved.s, saved.n, "mem", &err), TG_OK);
        tg_str_free(&saved);
        tg_ids ids = {0};
        tg_str t = {0};
        size_t lines = 0, byte_pieces = 0;
        for (int f = 0; f < 4; f++) {
            for (size_t i = 0; i < c[f].n; i++) {
                byte_pieces += check_roundtrip(b, c[f].src[i], &ids, &t);
                byte_pieces += check_roundtrip(b, c[f].tgt[i], &ids, &t);
                lines += 2;
            }
        }
        ck_assert_uint_eq(lines, 2 * (28279 + 116765 + 1000 + 1000));
        ck_assert_uint_gt(byte_pieces, 0); /* the fallback was exercised (gettext has characters bible lacks) */
        tg_ids_free(&ids);
        tg_str_free(&t);
        tg_bpe_free(b);
    }
    for (int f = 0; f < 4; f++) tg_corpus_free(&c[f]);
}
END_TEST

START_TEST(test_bpe_byte_fallback) {
    const char *lines[] = {"aaa bbb aab", "bba abab"};
    tg_bpe *b = learn_lines(lines, 2, 10);
    tg_ids ids = {0};
    tg_str t = {0};
    tg_err err;
    /* é, €, an emoji and a byte that is not UTF-8: all representable */
    static const char s[] = "a\xC3\xA9 \xE2\x82\xAC\xF0\x9F\x98\x80 b\xFF" "a";
    ck_assert_int_eq(tg_bpe_encode(b, s, sizeof s - 1, &ids, &err), TG_OK);
    static const int32_t bytes[] = {0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0xFF};
    size_t k = 0;
    for (size_t i = 0; i < ids.n; i++) {
        if (ids.v[i] >= TG_BPE_FIRST_CHAR) continue;
        ck_assert_uint_lt(k, 10);
        ck_assert_int_eq(ids.v[i], TG_BPE_FIRST_BYTE + bytes[k++]);
    }
    ck_assert_uint_eq(k, 10);
    ck_assert_int_eq(tg_bpe_decode(b, ids.v, ids.n, &t, &err), TG_OK);
    ck_assert_uint_eq(t.n, sizeof s - 1);
    ck_assert_mem_eq(t.s, s, t.n);
    ck_assert_int_eq(tg_bpe_piece_str(b, TG_BPE_FIRST_BYTE + 0xC3, &t, &err), TG_OK);
    ck_assert_str_eq(t.s, "<0xC3>");
    ck_assert_int_eq(tg_bpe_piece_id(b, "<0xC3>", 6), TG_BPE_FIRST_BYTE + 0xC3);
    /* ids outside the vocabulary are refused by decode */
    int32_t badid = tg_bpe_vocab_size(b);
    ck_assert_int_eq(tg_bpe_decode(b, &badid, 1, &t, &err), TG_ERR_ARG);
    ck_assert_msg_has(err, "outside the vocabulary");
    /* specials: pad/bos/eos vanish, unk is printed as ⁇ */
    int32_t sp[] = {TG_BOS_ID, TG_UNK_ID, TG_EOS_ID, TG_PAD_ID};
    ck_assert_int_eq(tg_bpe_decode(b, sp, 4, &t, &err), TG_OK);
    ck_assert_str_eq(t.s, "\xE2\x81\x87");
    tg_ids_free(&ids);
    tg_str_free(&t);
    tg_bpe_free(b);
}
END_TEST

START_TEST(test_bpe_escapes) {
    /* Text holding the marker character itself, backslashes, things that look like special or
     * byte pieces and a control character, often enough to be merged into pieces. */
    const char *lines[] = {
        "\xE2\x96\x81x \xE2\x96\x81x a\\b a\\b <0x41> <0x41> <s> <s> </s> <pad> bell\x07 bell\x07",
        "\xE2\x96\x81x a\\b <0x41> <s> </s> <pad> <unk> <unk> bell\x07 x\xE2\x96\x81 x\xE2\x96\x81",
        /* "<s>" and "<0x41>" inside words, so that they become pieces without the marker */
        "a<s> b<s> c<s> d<s> e<s> f<0x41> g<0x41> h<0x41> i<0x41> j<0x41> k<0x41>",
    };
    tg_bpe *b = learn_lines(lines, 3, 80);
    tg_str saved = {0}, t = {0};
    tg_err err;
    REQUIRE_EQ(tg_bpe_save_text(b, &saved, &err), TG_OK);
    ck_assert_ptr_null(strchr(saved.s, '\x07')); /* control bytes are escaped in the file */
    tg_bpe *c;
    REQUIRE_EQ(tg_bpe_load_text(&c, saved.s, saved.n, "mem", &err), TG_OK);
    REQUIRE_EQ(tg_bpe_vocab_size(c), tg_bpe_vocab_size(b));
    /* every printed piece reads back as itself, and none is ambiguous */
    for (int32_t id = 0; id < tg_bpe_vocab_size(c); id++) {
        REQUIRE_EQ(tg_bpe_piece_str(c, id, &t, &err), TG_OK);
        ck_assert_ptr_null(strchr(t.s, ' '));
        REQUIRE(tg_bpe_piece_id(c, t.s, t.n) == id, "piece '%s' (id %d) reads back as %d", t.s, (int)id,
                      (int)tg_bpe_piece_id(c, t.s, t.n));
    }
    tg_ids ids = {0};
    for (int i = 0; i < 3; i++) {
        char *s = strdup(lines[i]);
        s[tg_corpus_normalize(s, strlen(s))] = '\0';
        check_roundtrip(c, s, &ids, &t);
        free(s);
    }
    /* pieces that would print like a special or a byte piece get their '<' escaped */
    int32_t lt_s = tg_bpe_piece_id(c, "\\x3Cs>", 6), lt_41 = tg_bpe_piece_id(c, "\\x3C0x41>", 9);
    REQUIRE(lt_s >= TG_BPE_FIRST_CHAR && lt_41 >= TG_BPE_FIRST_CHAR, "escaped pieces %d %d", (int)lt_s, (int)lt_41);
    REQUIRE_EQ(tg_bpe_piece_id(c, "<s>", 3), TG_BOS_ID);
    REQUIRE_EQ(tg_bpe_piece_id(c, "<0x41>", 6), TG_BPE_FIRST_BYTE + 0x41);
    ids.n = 0;
    REQUIRE_EQ(tg_bpe_encode(c, "z<s>", 4, &ids, &err), TG_OK);
    REQUIRE(ids.n >= 2 && ids.v[ids.n - 1] == lt_s, "'z<s>' does not end in the piece <s>");
    /* a literal U+2581 is a piece of its own, printed escaped, apart from the marker */
    REQUIRE(tg_bpe_piece_id(c, "\xE2\x96\x81\\xE2\\x96\\x81x", 16) >= TG_BPE_FIRST_CHAR, "'▁▁x' missing");
    REQUIRE_EQ(tg_bpe_piece_id(c, "nonsense-piece", 14), -1);
    tg_ids_free(&ids);
    tg_str_free(&saved);
    tg_str_free(&t);
    tg_bpe_free(b);
    tg_bpe_free(c);
}
END_TEST

START_TEST(test_bpe_save_load_file) {
    const char *lines[] = {"the cat sat on the mat", "the dog sat on the log", "a cat and a dog"};
    tg_bpe *b = learn_lines(lines, 3, 20);
    char path[512];
    snprintf(path, sizeof path, "%s/vocab.txt", tmp_dir);
    tg_err err;
    ck_assert_int_eq(tg_bpe_save(b, path, &err), TG_OK);
    tg_bpe *c;
    ck_assert_int_eq(tg_bpe_load(&c, path, &err), TG_OK);
    tg_str ta = {0}, tb = {0};
    ck_assert_int_eq(tg_bpe_save_text(b, &ta, &err), TG_OK);
    ck_assert_int_eq(tg_bpe_save_text(c, &tb, &err), TG_OK);
    ck_assert_str_eq(ta.s, tb.s);
    ck_assert(strncmp(ta.s, "tapegrad-bpe 1\nspecials <pad> <s> </s> <unk>\nbytes 256\nchars ", 61) == 0);
    tg_ids x = {0}, y = {0};
    for (int i = 0; i < 3; i++) {
        x.n = y.n = 0;
        ck_assert_int_eq(tg_bpe_encode(b, lines[i], strlen(lines[i]), &x, &err), TG_OK);
        ck_assert_int_eq(tg_bpe_encode(c, lines[i], strlen(lines[i]), &y, &err), TG_OK);
        ck_assert_uint_eq(x.n, y.n);
        ck_assert_mem_eq(x.v, y.v, x.n * sizeof *x.v);
    }
    tg_bpe_free(c);
    ck_assert_int_eq(tg_bpe_load(&c, "/nonexistent/vocab.txt", &err), TG_ERR_IO);
    ck_assert_ptr_null(c);
    tg_ids_free(&x);
    tg_ids_free(&y);
    tg_str_free(&ta);
    tg_str_free(&tb);
    tg_bpe_free(b);
}
END_TEST

/* Loads text as a vocabulary and checks the failure. */
static void load_fails(const char *text, size_t len, tg_status want, const char *msg_part) {
    tg_bpe *b;
    tg_err err;
    tg_status st = tg_bpe_load_text(&b, text, len, "v.txt", &err);
    ck_assert_msg(st == want, "status %s for '%s' (%s)", tg_status_str(st), msg_part, err.msg);
    ck_assert_ptr_null(b);
    ck_assert_msg_has(err, msg_part);
}

START_TEST(test_bpe_load_errors) {
    const char *lines[] = {"abab abab cdcd cdcd abcd abcd"};
    tg_bpe *b = learn_lines(lines, 1, 6);
    tg_str t = {0};
    tg_err err;
    ck_assert_int_eq(tg_bpe_save_text(b, &t, &err), TG_OK);
    ck_assert_int_eq(tg_bpe_n_merges(b), 6);
    /* truncated at a line boundary inside the merges, and in the middle of a line */
    char *last = t.s + t.n - 1;
    while (last[-1] != '\n') last--;
    size_t cut = (size_t)(last - t.s);
    load_fails(t.s, cut, TG_ERR_CORRUPT, "file ends after 5 of 6 merges");
    load_fails(t.s, cut + 1, TG_ERR_CORRUPT, "last line has no newline");
    load_fails(t.s, 30, TG_ERR_CORRUPT, "v.txt:2: last line has no newline");
    load_fails(t.s, 0, TG_ERR_CORRUPT, "v.txt:1: file ends");
    load_fails("hello\n", 6, TG_ERR_FORMAT, "v.txt:1: not a tapegrad BPE vocabulary");
    load_fails("tapegrad-bpe 2\n", 15, TG_ERR_VERSION, "v.txt:1:");
    /* issue 9, item 11: CRLF line ends (a Windows editor) read like LF, not as a version error */
    tg_str crlf = {0};
    for (size_t i = 0; i < t.n; i++) {
        if (t.s[i] == '\n') tg_ds_str_append_for_test(&crlf, "\r", 1);
        tg_ds_str_append_for_test(&crlf, t.s + i, 1);
    }
    tg_bpe *from_crlf;
    ck_assert_msg(tg_bpe_load_text(&from_crlf, crlf.s, crlf.n, "v.txt", &err) == TG_OK, "%s", err.msg);
    ck_assert_int_eq(tg_bpe_n_merges(from_crlf), 6);
    ck_assert_int_eq(tg_bpe_vocab_size(from_crlf), tg_bpe_vocab_size(b));
    tg_bpe_free(from_crlf);
    tg_str_free(&crlf);
    load_fails("tapegrad-bpe 1\r\nspecials\r\n", 26, TG_ERR_FORMAT, "v.txt:2: expected 'specials");
    /* hand-made files */
    const char *head = "tapegrad-bpe 1\nspecials <pad> <s> </s> <unk>\nbytes 256\n";
    char buf[512];
    snprintf(buf, sizeof buf, "%schars 2\n\xE2\x96\x81\na\nmerges 1\n\xE2\x96\x81 q\n", head);
    load_fails(buf, strlen(buf), TG_ERR_FORMAT, "v.txt:8: 'q' is not a character or an earlier merge's piece");
    /* issue 9, item 11: text from the file in a message is shown without its terminal escapes */
    snprintf(buf, sizeof buf, "%schars 2\n\xE2\x96\x81\na\nmerges 1\n\xE2\x96\x81 q\x1b[2J\xc2\x9b\n", head);
    load_fails(buf, strlen(buf), TG_ERR_FORMAT,
               "v.txt:8: 'q\\x1B[2J\\xC2\\x9B' is not a character");
    /* a tab too (tg_err passes one: the piece and the header's format were quoted raw) */
    snprintf(buf, sizeof buf, "%schars 2\n\xE2\x96\x81\na\nmerges 1\n\xE2\x96\x81 q\tz\n", head);
    load_fails(buf, strlen(buf), TG_ERR_FORMAT, "v.txt:8: 'q\\x09z' is not a character");
    load_fails("tapegrad-bpe 2\t\x1b[2J\n", 20, TG_ERR_VERSION,
               "v.txt:1: format 'tapegrad-bpe 2\\x09\\x1B[2J', this build reads 'tapegrad-bpe 1'");
    snprintf(buf, sizeof buf, "%schars 2\n\xE2\x96\x81\n\\q\nmerges 0\n", head);
    load_fails(buf, strlen(buf), TG_ERR_FORMAT, "v.txt:6: bad escape");
    snprintf(buf, sizeof buf, "%schars 2\n\xE2\x96\x81\nab\nmerges 0\n", head);
    load_fails(buf, strlen(buf), TG_ERR_FORMAT, "v.txt:6: expected one character");
    snprintf(buf, sizeof buf, "%schars 2\na\na\nmerges 0\n", head);
    load_fails(buf, strlen(buf), TG_ERR_FORMAT, "v.txt:6: character listed twice");
    snprintf(buf, sizeof buf, "%schars 1\na\nmerges 0\n", head);
    load_fails(buf, strlen(buf), TG_ERR_FORMAT, "lacks the word marker");
    snprintf(buf, sizeof buf, "%schars x\n", head);
    load_fails(buf, strlen(buf), TG_ERR_FORMAT, "v.txt:4: expected 'chars N'");
    snprintf(buf, sizeof buf, "%schars 2\n\xE2\x96\x81\na\nmerges 2\n\xE2\x96\x81 a\n\xE2\x96\x81 a\n", head);
    load_fails(buf, strlen(buf), TG_ERR_FORMAT, "v.txt:9: merge listed twice");
    snprintf(buf, sizeof buf, "%schars 2\n\xE2\x96\x81\na\nmerges 1\n\xE2\x96\x81" "a\n", head);
    load_fails(buf, strlen(buf), TG_ERR_FORMAT, "v.txt:8: expected a merge 'LEFT RIGHT'");
    snprintf(buf, sizeof buf, "%schars 2\n\xE2\x96\x81\na\nmerges 1\n\xE2\x96\x81 a\nextra\n", head);
    load_fails(buf, strlen(buf), TG_ERR_FORMAT, "v.txt:9: unexpected line");
    snprintf(buf, sizeof buf, "%schars 2\n\xE2\x96\x81\na\nmerges 1\n\xE2\x96\x81 a\n", head);
    tg_bpe *ok;
    ck_assert_int_eq(tg_bpe_load_text(&ok, buf, strlen(buf), "v.txt", &err), TG_OK);
    ck_assert_int_eq(tg_bpe_vocab_size(ok), TG_BPE_FIRST_CHAR + 3);
    tg_bpe_free(ok);
    /* two merges with the same result ("ab"+"c" and "a"+"bc") share one id */
    snprintf(buf, sizeof buf, "%schars 4\n\xE2\x96\x81\na\nb\nc\nmerges 4\na b\nb c\nab c\na bc\n", head);
    ck_assert_int_eq(tg_bpe_load_text(&ok, buf, strlen(buf), "v.txt", &err), TG_OK);
    ck_assert_int_eq(tg_bpe_n_merges(ok), 4);
    ck_assert_int_eq(tg_bpe_vocab_size(ok), TG_BPE_FIRST_CHAR + 4 + 3);
    tg_ids ids = {0};
    tg_str dec = {0};
    ck_assert_int_eq(tg_bpe_encode(ok, "abc cabc", 8, &ids, &err), TG_OK);
    ck_assert_int_eq(tg_bpe_decode(ok, ids.v, ids.n, &dec, &err), TG_OK);
    ck_assert_str_eq(dec.s, "abc cabc");
    ck_assert_int_eq(ids.v[1], tg_bpe_piece_id(ok, "abc", 3));
    tg_ids_free(&ids);
    tg_str_free(&dec);
    tg_bpe_free(ok);
    tg_str_free(&t);
    tg_bpe_free(b);
}
END_TEST

START_TEST(test_bpe_detok) {
    const char *lines[] = {"hello world", "hello there world"};
    tg_bpe *b = learn_lines(lines, 2, 30);
    tg_ids ids = {0};
    tg_str t = {0};
    tg_err err;
    ck_assert(tg_ids_push_for_test(&ids, TG_BOS_ID));
    ck_assert_int_eq(tg_bpe_encode(b, "hello world", 11, &ids, &err), TG_OK);
    size_t n1 = ids.n;
    ck_assert(tg_ids_push_for_test(&ids, TG_EOS_ID));
    ck_assert_int_eq(tg_bpe_encode(b, "there", 5, &ids, &err), TG_OK);
    ck_assert_int_eq(tg_bpe_detok(b, ids.v, ids.n, &t, &err), TG_OK);
    ck_assert_str_eq(t.s, "hello world");
    /* a lone continuation byte and a truncated character become U+FFFD; pad is skipped */
    int32_t odd[] = {TG_PAD_ID, ids.v[1], TG_BPE_FIRST_BYTE + 0x80, TG_BPE_FIRST_BYTE + 0xC3, 99999};
    ck_assert_int_eq(tg_bpe_detok(b, odd, 5, &t, &err), TG_OK);
    ck_assert_uint_gt(n1, 1);
    ck_assert(strstr(t.s, "\xEF\xBF\xBD\xEF\xBF\xBD\xE2\x81\x87") != NULL);
    /* a control character (ESC, BEL, DEL, NUL, U+009B) made by byte pieces is replaced too:
     * translate wrote it raw to the terminal; white space (a line break, U+0085) is a space */
    int32_t ctl[] = {TG_BPE_FIRST_BYTE + 'a', TG_BPE_FIRST_BYTE + 0x1B, TG_BPE_FIRST_BYTE + '[',
                     TG_BPE_FIRST_BYTE + 0x07, TG_BPE_FIRST_BYTE + 0x7F, TG_BPE_FIRST_BYTE + 0x00,
                     TG_BPE_FIRST_BYTE + 0xC2, TG_BPE_FIRST_BYTE + 0x9B, TG_BPE_FIRST_BYTE + '\n',
                     TG_BPE_FIRST_BYTE + 0xC2, TG_BPE_FIRST_BYTE + 0x85, TG_BPE_FIRST_BYTE + 'x'};
    ck_assert_int_eq(tg_bpe_detok(b, ctl, sizeof ctl / sizeof *ctl, &t, &err), TG_OK);
    const char *want = "a\xEF\xBF\xBD[\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD x";
    ck_assert_msg(!strcmp(t.s, want), "detok gave '%s' (%zu bytes)", t.s, t.n);
    tg_ids_free(&ids);
    tg_str_free(&t);
    tg_bpe_free(b);
}
END_TEST

/* ---- robustness ------------------------------------------------------------------------ */

/* Random bytes, biased towards the characters the parsers care about. */
static void random_bytes(tg_data_rng *r, char *buf, size_t n) {
    static const char pick[] = "\t\n\r \\<>x\xE2\x96\x81\xC3\xA9\xFF\x80";
    for (size_t i = 0; i < n; i++) {
        uint64_t k = tg_data_rng_below(r, 4);
        buf[i] = k == 0 ? (char)tg_data_rng_below(r, 256) : pick[tg_data_rng_below(r, sizeof pick - 1)];
    }
}

START_TEST(test_random_input) {
    /* Readers, the vocabulary loader and the encoder on garbage: a status, never a crash, and
     * encode/decode still round-trips whatever the bytes. */
    tg_data_rng r;
    tg_data_rng_seed(&r, 77, 0);
    const char *lines[] = {"abc abd \xC3\xA9t\xC3\xA9 <x> x\\y", "abc abd abe"};
    tg_bpe *b = learn_lines(lines, 2, 20);
    tg_str saved = {0}, t = {0};
    tg_ids ids = {0};
    tg_err err;
    REQUIRE_EQ(tg_bpe_save_text(b, &saved, &err), TG_OK);
    char buf[400], norm[400];
    for (int round = 0; round < 300; round++) {
        size_t n = (size_t)tg_data_rng_below(&r, sizeof buf);
        random_bytes(&r, buf, n);
        const char *p = write_file("rand.tsv", buf, n);
        tg_corpus c;
        for (int pol = 0; pol < 2; pol++) {
            tg_corpus_opts o = {.on_bad_line = (tg_bad_line_policy)pol, .max_line_bytes = 50};
            tg_status st = tg_corpus_read_tsv(&c, p, &o, &err);
            REQUIRE(st == TG_OK || st == TG_ERR_FORMAT, "read: %s", tg_status_str(st));
            if (st == TG_OK) {
                for (size_t i = 0; i < c.n; i++)
                    REQUIRE(tg_utf8_valid(c.src[i], strlen(c.src[i]), NULL) && c.src[i][0] && c.tgt[i][0],
                            "bad pair kept");
                tg_corpus_free(&c);
            }
        }
        const char *q = write_file("rand.es", buf, n / 2);
        tg_status st = tg_corpus_read_pair(&c, p, q, &(tg_corpus_opts){.on_bad_line = TG_BAD_LINE_SKIP}, &err);
        REQUIRE(st == TG_OK || st == TG_ERR_FORMAT, "read pair: %s", tg_status_str(st));
        if (st == TG_OK) tg_corpus_free(&c);
        /* encode/decode of arbitrary bytes equals their normalisation */
        memcpy(norm, buf, n);
        size_t nn = tg_corpus_normalize(norm, n);
        ids.n = 0;
        REQUIRE_EQ(tg_bpe_encode(b, buf, n, &ids, &err), TG_OK);
        REQUIRE_EQ(tg_bpe_decode(b, ids.v, ids.n, &t, &err), TG_OK);
        REQUIRE(t.n == nn && memcmp(t.s, norm, nn) == 0, "round %d: round trip of random bytes", round);
        REQUIRE_EQ(tg_bpe_detok(b, ids.v, ids.n, &t, &err), TG_OK);
        REQUIRE(tg_utf8_valid(t.s, t.n, NULL), "detok gave invalid UTF-8");
        /* a vocabulary file with a few bytes changed, or cut short */
        char *mut = malloc(saved.n + 1);
        memcpy(mut, saved.s, saved.n);
        for (int k = 0; k < 3; k++) random_bytes(&r, mut + tg_data_rng_below(&r, saved.n), 1);
        size_t len = round % 3 == 0 ? (size_t)tg_data_rng_below(&r, saved.n) : saved.n;
        tg_bpe *v;
        st = tg_bpe_load_text(&v, mut, len, "m", &err);
        REQUIRE(st == TG_OK || st == TG_ERR_FORMAT || st == TG_ERR_CORRUPT || st == TG_ERR_VERSION,
                "load: %s", tg_status_str(st));
        if (st == TG_OK) {
            ids.n = 0;
            REQUIRE_EQ(tg_bpe_encode(v, buf, n, &ids, &err), TG_OK);
            REQUIRE_EQ(tg_bpe_decode(v, ids.v, ids.n, &t, &err), TG_OK);
            REQUIRE(t.n == nn && memcmp(t.s, norm, nn) == 0, "round trip with a changed vocabulary");
            tg_bpe_free(v);
        }
        free(mut);
    }
    tg_ids_free(&ids);
    tg_str_free(&t);
    tg_str_free(&saved);
    tg_bpe_free(b);
}
END_TEST

/* ---- datasets and batches ------------------------------------------------------------- */

/* A dataset from the first n pairs of bible train, with a small vocabulary. */
static void bible_dataset(tg_dataset *ds, size_t n, int32_t max_len, tg_bpe **bpe_out) {
    tg_corpus c;
    tg_err err;
    ck_assert_int_eq(tg_corpus_read_tsv(&c, "data/bible_en_es/train.tsv.gz", NULL, &err), TG_OK);
    c.n = n; /* only the first n pairs (the rest stay owned by c and are freed with it) */
    tg_bpe *b;
    ck_assert_int_eq(tg_bpe_learn(&b, &c, &(tg_bpe_learn_opts){.merges = 500}, &err), TG_OK);
    memset(ds, 0, sizeof *ds);
    ck_assert_int_eq(tg_dataset_from_corpus(ds, &c, b, max_len, &err), TG_OK);
    tg_corpus_free(&c);
    if (bpe_out) *bpe_out = b;
    else tg_bpe_free(b);
}

START_TEST(test_dataset_filter) {
    tg_corpus c;
    tg_err err;
    REQUIRE_EQ(tg_corpus_read_tsv(&c, "data/bible_en_es/dev.tsv.gz", NULL, &err), TG_OK);
    tg_bpe *b;
    REQUIRE_EQ(tg_bpe_learn(&b, &c, &(tg_bpe_learn_opts){.merges = 300}, &err), TG_OK);
    size_t want_drop = 0;
    tg_ids s = {0}, t = {0};
    for (size_t i = 0; i < c.n; i++) {
        s.n = t.n = 0;
        tg_bpe_encode(b, c.src[i], strlen(c.src[i]), &s, &err);
        tg_bpe_encode(b, c.tgt[i], strlen(c.tgt[i]), &t, &err);
        want_drop += s.n > 40 || t.n > 40;
    }
    REQUIRE_CMP(want_drop, >, 0);
    tg_dataset ds = {0};
    REQUIRE_EQ(tg_dataset_from_corpus(&ds, &c, b, 40, &err), TG_OK);
    REQUIRE_EQ(ds.n_filtered, want_drop);
    REQUIRE_EQ(ds.n + ds.n_filtered, c.n);
    for (size_t i = 0; i < ds.n; i++) {
        REQUIRE_CMP(ds.src_len[i], <=, 40);
        REQUIRE_CMP(ds.tgt_len[i], <=, 40);
        if (i) REQUIRE_CMP(ds.index[i], >, ds.index[i - 1]);
    }
    /* the kept pairs hold their encodings */
    size_t k = ds.n / 2, ci = ds.index[k];
    s.n = 0;
    tg_bpe_encode(b, c.src[ci], strlen(c.src[ci]), &s, &err);
    REQUIRE_EQ(s.n, (size_t)ds.src_len[k]);
    REQUIRE_MEM(ds.ids + ds.off[k], s.v, s.n * sizeof *s.v);
    tg_dataset_free(&ds);
    tg_ids_free(&s);
    tg_ids_free(&t);
    tg_bpe_free(b);
    tg_corpus_free(&c);
}
END_TEST

/* Checks one batch against the dataset: shapes, budget, padding, bos/eos, contents. */
static void check_batch(const tg_batch *b, const tg_dataset *ds, int64_t budget, size_t *pos_of_index) {
    REQUIRE_CMP(b->B, >, 0);
    REQUIRE_CMP((int64_t)b->B * (b->S + b->T), <=, budget);
    int32_t ms = 0, mt = 0;
    int64_t ns_tot = 0, nt_tot = 0;
    for (int32_t r = 0; r < b->B; r++) {
        size_t p = pos_of_index[b->index[r]];
        int32_t ns = ds->src_len[p], nt = ds->tgt_len[p];
        const int32_t *s = ds->ids + ds->off[p], *t = s + ns;
        const int32_t *src = b->src + (size_t)r * b->S, *tin = b->tgt_in + (size_t)r * b->T,
                      *tout = b->tgt_out + (size_t)r * b->T;
        REQUIRE_EQ(b->src_len[r], ns + 1);
        REQUIRE_EQ(b->tgt_len[r], nt + 1);
        REQUIRE_MEM(src, s, (size_t)ns * sizeof *s);
        REQUIRE_EQ(src[ns], TG_EOS_ID);
        for (int32_t j = ns + 1; j < b->S; j++) REQUIRE_EQ(src[j], TG_PAD_ID);
        REQUIRE_EQ(tin[0], TG_BOS_ID);
        REQUIRE_MEM(tin + 1, t, (size_t)nt * sizeof *t);
        REQUIRE_MEM(tout, t, (size_t)nt * sizeof *t);
        REQUIRE_EQ(tout[nt], TG_EOS_ID);
        for (int32_t j = nt + 1; j < b->T; j++) {
            REQUIRE_EQ(tin[j], TG_PAD_ID);
            REQUIRE_EQ(tout[j], TG_PAD_ID);
        }
        if (ns + 1 > ms) ms = ns + 1;
        if (nt + 1 > mt) mt = nt + 1;
        ns_tot += ns + 1;
        nt_tot += nt + 1;
    }
    REQUIRE_EQ(b->S, ms);
    REQUIRE_EQ(b->T, mt);
    REQUIRE_EQ(b->n_src_tokens, ns_tot);
    REQUIRE_EQ(b->n_tgt_tokens, nt_tot);
}

START_TEST(test_batches_budget_and_epochs) {
    tg_dataset ds;
    bible_dataset(&ds, 3000, 100, NULL);
    REQUIRE_CMP(ds.n, >, 2500);
    size_t *pos_of = malloc(3000 * sizeof *pos_of), *seen = calloc(ds.n, sizeof *seen);
    for (size_t i = 0; i < ds.n; i++) pos_of[ds.index[i]] = i;
    tg_batch_iter *it;
    tg_err err;
    const int64_t budget = 1200;
    tg_batch_opts o = {.max_tokens = budget, .seed = 3, .shuffle = true};
    ck_assert_int_eq(tg_batch_iter_new(&it, &ds, &o, &err), TG_OK);
    size_t nb = tg_batch_iter_epoch_batches(it);
    REQUIRE_CMP(nb, >, 10);
    tg_batch b = {0};
    size_t first_order[64] = {0};
    int64_t real = 0, padded = 0;
    for (uint64_t e = 0; e < 3; e++) {
        for (size_t k = 0; k < nb; k++) {
            REQUIRE_EQ(tg_batch_iter_next(it, &b, &err), TG_OK);
            REQUIRE_EQ(b.epoch, e);
            REQUIRE_EQ(b.pos, k);
            check_batch(&b, &ds, budget, pos_of);
            for (int32_t r = 0; r < b.B; r++) seen[pos_of[b.index[r]]]++;
            if (k < 64 && e == 0) first_order[k] = b.index[0];
            if (k < 64 && e == 1 && first_order[k] != b.index[0]) first_order[0] = (size_t)-1; /* order changed */
            real += b.n_src_tokens + b.n_tgt_tokens;
            padded += (int64_t)b.B * (b.S + b.T);
        }
        for (size_t i = 0; i < ds.n; i++) REQUIRE_EQ(seen[i], e + 1); /* once per epoch */
    }
    REQUIRE_EQ(first_order[0], (size_t)-1); /* epochs are shuffled differently */
    REQUIRE_CMP(padded - real, <, real / 10);   /* length sorting keeps padding small */
    tg_batch_free(&b);
    tg_batch_iter_free(it);
    /* a budget below the longest pair is refused up front */
    REQUIRE_EQ(tg_batch_iter_new(&it, &ds, &(tg_batch_opts){.max_tokens = 50, .seed = 3}, &err), TG_ERR_ARG);
    ck_assert_msg_has(err, "over the batch budget of 50 tokens");
    tg_dataset empty = {0};
    REQUIRE_EQ(tg_batch_iter_new(&it, &empty, &(tg_batch_opts){.max_tokens = 500}, &err), TG_ERR_ARG);
    free(pos_of);
    free(seen);
    tg_dataset_free(&ds);
}
END_TEST

START_TEST(test_batches_eval_order) {
    tg_dataset ds;
    bible_dataset(&ds, 800, 0, NULL);
    tg_batch_iter *it;
    tg_err err;
    REQUIRE_EQ(tg_batch_iter_new(&it, &ds, &(tg_batch_opts){.max_tokens = 4000, .shuffle = false}, &err), TG_OK);
    size_t nb = tg_batch_iter_epoch_batches(it);
    tg_batch b = {0};
    int32_t prev_s = 0;
    size_t first[2] = {0, 0};
    for (int e = 0; e < 2; e++) {
        for (size_t k = 0; k < nb; k++) {
            REQUIRE_EQ(tg_batch_iter_next(it, &b, &err), TG_OK);
            if (k == 0) first[e] = b.index[0];
            if (k == 0) prev_s = 0;
            REQUIRE_CMP(b.src_len[0], >=, prev_s); /* ascending length */
            prev_s = b.src_len[b.B - 1];
        }
    }
    REQUIRE_EQ(first[0], first[1]); /* the same every epoch */
    tg_batch_free(&b);
    tg_batch_iter_free(it);
    tg_dataset_free(&ds);
}
END_TEST

/* A batch's identity: epoch, position and the corpus indices of its rows. */
static uint64_t batch_sig(const tg_batch *b) {
    uint64_t h = 1469598103934665603ull;
    h = (h ^ b->epoch) * 1099511628211ull;
    h = (h ^ b->pos) * 1099511628211ull;
    for (int32_t r = 0; r < b->B; r++) h = (h ^ b->index[r]) * 1099511628211ull;
    for (size_t i = 0; i < (size_t)b->B * b->T; i++) h = (h ^ (uint64_t)b->tgt_out[i]) * 1099511628211ull;
    return h;
}

START_TEST(test_iterator_resume) {
    tg_dataset ds;
    bible_dataset(&ds, 1500, 80, NULL);
    tg_batch_opts o = {.max_tokens = 1500, .seed = 42, .shuffle = true};
    tg_err err;
    tg_batch_iter *it;
    REQUIRE_EQ(tg_batch_iter_new(&it, &ds, &o, &err), TG_OK);
    size_t nb = tg_batch_iter_epoch_batches(it), total = 3 * nb + nb / 2;
    uint64_t *ref = malloc(total * sizeof *ref);
    tg_batch b = {0};
    for (size_t k = 0; k < total; k++) {
        REQUIRE_EQ(tg_batch_iter_next(it, &b, &err), TG_OK);
        ref[k] = batch_sig(&b);
    }
    tg_batch_iter_free(it);
    /* interrupt at random points (and at the epoch edges), save the state as bytes as a
     * checkpoint would, restore it into a fresh iterator and compare the rest */
    tg_data_rng r;
    tg_data_rng_seed(&r, 2024, 0);
    size_t points[8] = {0, nb - 1, nb, 2 * nb};
    for (int i = 4; i < 8; i++) points[i] = (size_t)tg_data_rng_below(&r, total);
    for (int i = 0; i < 8; i++) {
        size_t cut = points[i];
        REQUIRE_EQ(tg_batch_iter_new(&it, &ds, &o, &err), TG_OK);
        for (size_t k = 0; k < cut; k++) {
            REQUIRE_EQ(tg_batch_iter_next(it, &b, &err), TG_OK);
            REQUIRE_EQ(batch_sig(&b), ref[k]);
        }
        tg_batch_iter_state st = tg_batch_iter_get_state(it);
        unsigned char saved[sizeof st];
        memcpy(saved, &st, sizeof st);
        tg_batch_iter_free(it);
        tg_batch_free(&b);
        tg_batch_opts o2 = o;
        o2.seed = 999; /* the seed comes back from the state */
        REQUIRE_EQ(tg_batch_iter_new(&it, &ds, &o2, &err), TG_OK);
        tg_batch_iter_state back;
        memcpy(&back, saved, sizeof back);
        REQUIRE_EQ(tg_batch_iter_set_state(it, &back, &err), TG_OK);
        for (size_t k = cut; k < total; k++) {
            REQUIRE_EQ(tg_batch_iter_next(it, &b, &err), TG_OK);
            REQUIRE(batch_sig(&b) == ref[k], "cut at %zu: batch %zu differs", cut, k);
        }
        tg_batch_iter_free(it);
    }
    /* a state from other data or another budget is refused */
    REQUIRE_EQ(tg_batch_iter_new(&it, &ds, &o, &err), TG_OK);
    tg_batch_iter_state st = tg_batch_iter_get_state(it);
    tg_batch_iter_free(it);
    o.max_tokens = 1600;
    REQUIRE_EQ(tg_batch_iter_new(&it, &ds, &o, &err), TG_OK);
    REQUIRE_EQ(tg_batch_iter_set_state(it, &st, &err), TG_ERR_STATE);
    ck_assert_msg_has(err, "other data or another batch budget");
    st = tg_batch_iter_get_state(it);
    st.pos = nb + 5;
    REQUIRE_EQ(tg_batch_iter_set_state(it, &st, &err), TG_ERR_STATE);
    tg_batch_iter_free(it);
    /* the same lengths with one piece changed (a typo fixed in the corpus) is other data too */
    o.max_tokens = 1500;
    REQUIRE_EQ(tg_batch_iter_new(&it, &ds, &o, &err), TG_OK);
    st = tg_batch_iter_get_state(it);
    tg_batch_iter_free(it);
    ds.ids[ds.off[ds.n / 2]] ^= 1;
    REQUIRE_EQ(tg_batch_iter_new(&it, &ds, &o, &err), TG_OK);
    REQUIRE_EQ(tg_batch_iter_set_state(it, &st, &err), TG_ERR_STATE);
    ck_assert_msg_has(err, "other data or another batch budget");
    /* a checkpoint from before the pieces were hashed holds FNV-1a of the options and lengths only */
    uint64_t h = 0xCBF29CE484222325ull;
    uint64_t legacy[3] = {ds.n, (uint64_t)o.max_tokens, o.shuffle};
    for (int i = 0; i < 3; i++) h = (h ^ legacy[i]) * 0x100000001B3ull;
    for (size_t i = 0; i < ds.n; i++) {
        h = (h ^ (uint64_t)ds.src_len[i]) * 0x100000001B3ull;
        h = (h ^ (uint64_t)ds.tgt_len[i]) * 0x100000001B3ull;
    }
    st.fingerprint = h;
    st.pos = 0;
    REQUIRE_EQ(tg_batch_iter_set_state(it, &st, &err), TG_OK);
    st.fingerprint = h ^ 1;
    REQUIRE_EQ(tg_batch_iter_set_state(it, &st, &err), TG_ERR_STATE);
    tg_batch_iter_free(it);
    tg_batch_free(&b);
    free(ref);
    tg_dataset_free(&ds);
}
END_TEST

/* ---- synthetic tasks and the RNG ------------------------------------------------------- */

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

START_TEST(test_synthetic) {
    for (int task = 0; task < TG_SYNTH_TASK_COUNT; task++) {
        tg_synth_opts o = {.task = (tg_synth_task)task, .vocab = 20, .min_len = 3, .max_len = 9, .seed = 5};
        tg_dataset a = {0}, b = {0}, c = {0};
        tg_err err;
        REQUIRE_EQ(tg_synth_dataset(&a, &o, 300, &err), TG_OK);
        REQUIRE_EQ(tg_synth_dataset(&b, &o, 300, &err), TG_OK);
        o.seed = 6;
        REQUIRE_EQ(tg_synth_dataset(&c, &o, 300, &err), TG_OK);
        REQUIRE_EQ(a.n, 300);
        size_t n_ids = a.off[a.n - 1] + (size_t)a.src_len[a.n - 1] + (size_t)a.tgt_len[a.n - 1];
        REQUIRE_MEM(a.ids, b.ids, n_ids * sizeof *a.ids);                           /* seeded */
        REQUIRE(memcmp(a.ids, c.ids, n_ids * sizeof *a.ids) != 0, "seed not used"); /* and the seed matters */
        bool saw_min = false, saw_max = false;
        for (size_t i = 0; i < a.n; i++) {
            int32_t n = a.src_len[i];
            REQUIRE_EQ(a.tgt_len[i], n);
            REQUIRE(n >= 3 && n <= 9, "n >= 3 && n <= 9");
            saw_min |= n == 3;
            saw_max |= n == 9;
            const int32_t *s = a.ids + a.off[i], *t = s + n;
            int32_t want[9];
            for (int32_t j = 0; j < n; j++) {
                REQUIRE(s[j] >= TG_N_SPECIAL && s[j] < 20, "s[j] >= TG_N_SPECIAL && s[j] < 20");
                want[j] = task == TG_SYNTH_REVERSE ? s[n - 1 - j] : s[j];
            }
            if (task == TG_SYNTH_SORT) qsort(want, (size_t)n, sizeof *want, cmp_i32);
            REQUIRE_MEM(t, want, (size_t)n * sizeof *t);
            REQUIRE_EQ(a.index[i], i);
        }
        REQUIRE(saw_min && saw_max, "saw_min && saw_max");
        /* they batch like any dataset */
        tg_batch_iter *it;
        tg_batch_opts bo = {.max_tokens = 200, .seed = 1, .shuffle = true};
        ck_assert_int_eq(tg_batch_iter_new(&it, &a, &bo, &err), TG_OK);
        tg_batch bt = {0};
        REQUIRE_EQ(tg_batch_iter_next(it, &bt, &err), TG_OK);
        REQUIRE_EQ(bt.tgt_in[0], TG_BOS_ID);
        tg_batch_free(&bt);
        tg_batch_iter_free(it);
        tg_dataset_free(&a);
        tg_dataset_free(&b);
        tg_dataset_free(&c);
    }
    tg_synth_task t;
    tg_err err;
    REQUIRE_EQ(tg_synth_task_parse("reverse", &t, &err), TG_OK);
    REQUIRE_EQ(t, TG_SYNTH_REVERSE);
    ck_assert_str_eq(tg_synth_task_str(TG_SYNTH_SORT), "sort");
    REQUIRE_EQ(tg_synth_task_parse("shuffle", &t, &err), TG_ERR_ARG);
    tg_dataset d = {0};
    const tg_synth_opts bad[3] = {{.vocab = 4, .min_len = 1, .max_len = 2},  /* no token beside the specials */
                                  {.vocab = 10, .min_len = 3, .max_len = 2}, /* min > max */
                                  {.vocab = 10, .min_len = 0, .max_len = 2}}; /* empty sequences */
    for (int i = 0; i < 3; i++) REQUIRE_EQ(tg_synth_dataset(&d, &bad[i], 5, &err), TG_ERR_ARG);
    REQUIRE_EQ(d.n, 0);
}
END_TEST

START_TEST(test_rng) {
    tg_data_rng a, b, c, d;
    tg_data_rng_seed(&d, 9, 0);
    tg_data_rng_seed(&a, 1, 0);
    tg_data_rng_seed(&b, 1, 0);
    tg_data_rng_seed(&c, 1, 1);
    int same_c = 0;
    int hist[7] = {0};
    for (int i = 0; i < 7000; i++) {
        uint64_t x = tg_data_rng_next(&a);
        REQUIRE_EQ(x, tg_data_rng_next(&b));
        same_c += x == tg_data_rng_next(&c);
        uint64_t v = tg_data_rng_below(&d, 7);
        REQUIRE_CMP(v, <, 7);
        hist[v]++;
    }
    REQUIRE_EQ(same_c, 0);
    for (int k = 0; k < 7; k++) REQUIRE(hist[k] > 800 && hist[k] < 1200, "hist[k] > 800 && hist[k] < 1200");
    tg_data_rng_seed(&a, 123, 4);
    REQUIRE_EQ(tg_data_rng_below(&a, 1), 0);
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
    if (!tg_check_mkdtemp(tmp_dir, sizeof tmp_dir, "tg_datasets")) {
        perror("mkdtemp");
        return 1;
    }
    Suite *s = suite_create("datasets");
    TCase *rd = tcase_create("readers");
    tcase_add_test(rd, test_tsv_normalises);
    tcase_add_test(rd, test_normalize);
    tcase_add_test(rd, test_utf8);
    tcase_add_test(rd, test_tsv_invalid_utf8);
    tcase_add_test(rd, test_tsv_no_tab);
    tcase_add_test(rd, test_tsv_extra_tab);
    tcase_add_test(rd, test_pair_lengths_differ);
    tcase_add_test(rd, test_empty_file);
    tcase_add_test(rd, test_nul_byte);
    tcase_add_test(rd, test_empty_side);
    tcase_add_test(rd, test_line_too_long);
    tcase_add_test(rd, test_missing_file);
    tcase_add_test(rd, test_skip_policy);
    tcase_add_test(rd, test_gzip_corpus);
    tcase_add_test(rd, test_gzip_multi_member);
    tcase_add_test(rd, test_file_size_limit);
    tcase_add_test(rd, test_file_nul_refused_early);
    tcase_add_test(rd, test_file_line_run_limit);
    suite_add_tcase(s, rd);
    TCase *bp = tcase_create("bpe");
    tcase_add_test(bp, test_bpe_learn_small);
    tcase_add_test(bp, test_bpe_matches_reference);
    tcase_add_test(bp, test_bpe_deterministic);
    tcase_add_test(bp, test_bpe_roundtrip_corpora);
    tcase_add_test(bp, test_bpe_byte_fallback);
    tcase_add_test(bp, test_bpe_escapes);
    tcase_add_test(bp, test_bpe_save_load_file);
    tcase_add_test(bp, test_bpe_load_errors);
    tcase_add_test(bp, test_bpe_detok);
    tcase_add_test(bp, test_random_input);
    suite_add_tcase(s, bp);
    TCase *bt = tcase_create("batches");
    tcase_add_test(bt, test_dataset_filter);
    tcase_add_test(bt, test_batches_budget_and_epochs);
    tcase_add_test(bt, test_batches_eval_order);
    tcase_add_test(bt, test_iterator_resume);
    tcase_add_test(bt, test_synthetic);
    tcase_add_test(bt, test_rng);
    suite_add_tcase(s, bt);
    int failed = tg_check_run(s);
    remove_tmp_dir();
    return failed ? 1 : 0;
}
