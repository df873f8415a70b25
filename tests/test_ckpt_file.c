/* test_ckpt_file.c: the checkpoint container (train/ckpt/ckpt_file.h) and `tapegrad ckpt verify`:
 * round trips, refusal of truncated, bit-flipped, foreign and wrong-version files, atomic saves
 * that leave the previous file alone on failure, the payload builder/cursor and the fingerprint. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "optim/optim.h"
#include "train/ckpt/atomic_file.h"
#include "train/ckpt/ckpt_file.h"
#include "train/cli/commands.h"
#include "tests/tg_check.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static char tmpdir[160];

static void setup(void) {
    ck_assert_ptr_nonnull(tg_check_mkdtemp(tmpdir, sizeof tmpdir, "tg_ckpt_test"));
}

/* Removes tmpdir and what the tests put in it (files, and folders one level down). */
static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) remove_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static void teardown(void) { remove_tree(tmpdir); }

static char *tpath(const char *name) {
    static char bufs[4][512];
    static int k;
    char *p = bufs[k++ % 4];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    if (n) ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(sz ? (size_t)sz : 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(fread(p, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return p;
}

/* Entries of tmpdir (or a folder in it) whose name holds ".tmp.": leftovers of a failed save. */
static int count_temp_files(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static uint64_t rng_state;
static uint32_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* Parameter-like floats: random mantissas around small magnitudes, which compress a little. */
static float *random_floats(size_t n, uint64_t seed) {
    rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
    float *v = malloc(n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++) v[i] = ((float)(rng_next() % 2000001) - 1000000.0f) * 1e-7f;
    return v;
}

static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* After editing a header field, recomputes the header CRC the way the format defines it, so the
 * reader gets past the CRC to the check under test. */
static void fix_header_crc(unsigned char *file) {
    uint32_t hlen = get32(file + 16);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, file, 12);
    crc = crc32(crc, file + 16, hlen - 16);
    put32(file + 12, (uint32_t)crc);
}

/* The small checkpoint: five sections, one of them empty, one built from pieces. */
typedef struct small_ckpt {
    float params[256];
    char config[128];
    tg_ckpt_buf state;
} small_ckpt;

static void save_small(const char *path, small_ckpt *sc) {
    float *v = random_floats(256, 7);
    memcpy(sc->params, v, sizeof sc->params);
    free(v);
    snprintf(sc->config, sizeof sc->config, "d_model = 512\nn_layers = 6\nwarmup = 4000\n");
    tg_ckpt_buf_init(&sc->state);
    tg_ckpt_buf_u64(&sc->state, 12345);
    tg_ckpt_buf_f64(&sc->state, 27.3);
    tg_ckpt_buf_str(&sc->state, "en-es");
    tg_err err;
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(tg_ckpt_writer_add(w, "config", sc->config, strlen(sc->config), &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_add(w, "empty", NULL, 0, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_add_ref(w, "params", sc->params, sizeof sc->params, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_begin(w, "vocab", &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_append(w, "<pad>\n<s>\n", 10, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_append_ref(w, "</s>\nhola\n", 10, &err), TG_OK);
    tg_ckpt_buf copy;
    tg_ckpt_buf_init(&copy);
    tg_ckpt_buf_bytes(&copy, sc->state.data, sc->state.len);
    ck_assert_int_eq(tg_ckpt_writer_add_buf(w, "state", &copy, &err), TG_OK);
    ck_assert_ptr_null(copy.data);
    ck_assert_int_eq(tg_ckpt_writer_save(w, path, &err), TG_OK);
    tg_ckpt_writer_free(w);
}

/* Opens path expecting refusal with status st and a message holding the path and `needle`. */
static void expect_refused(const char *path, tg_status st, const char *needle, const char *context) {
    tg_ckpt_reader *r = (tg_ckpt_reader *)1;
    tg_err err;
    err.msg[0] = '\0';
    tg_status got = tg_ckpt_reader_open(path, &r, &err);
    ck_assert_msg(got == st, "%s: expected status %s, got %s (%s)", context, tg_status_str(st), tg_status_str(got),
                  err.msg);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(err.msg, path) != NULL, "%s: message does not name the file: %s", context, err.msg);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "%s: message lacks '%s': %s", context, needle, err.msg);
}

/* ---- round trips -------------------------------------------------------------------------- */

START_TEST(test_roundtrip_small) {
    small_ckpt sc;
    const char *p = tpath("small.ckpt");
    save_small(p, &sc);
    tg_ckpt_reader *r;
    tg_err err;
    ck_assert_msg(tg_ckpt_reader_open(p, &r, &err) == TG_OK, "%s", err.msg);
    ck_assert_int_eq(tg_ckpt_reader_count(r), 5);
    ck_assert_uint_eq(tg_ckpt_reader_version(r), TG_CKPT_VERSION);
    const char *order[] = {"config", "empty", "params", "vocab", "state"};
    for (int i = 0; i < 5; i++) ck_assert_str_eq(tg_ckpt_reader_section(r, i)->name, order[i]);
    ck_assert_ptr_null(tg_ckpt_reader_section(r, 5));
    ck_assert_ptr_null(tg_ckpt_reader_section(r, -1));

    const void *d;
    size_t n;
    ck_assert_int_eq(tg_ckpt_reader_get(r, "config", &d, &n, &err), TG_OK);
    ck_assert_uint_eq(n, strlen(sc.config));
    ck_assert(memcmp(d, sc.config, n) == 0);
    ck_assert_int_eq(tg_ckpt_reader_get(r, "empty", &d, &n, &err), TG_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(tg_ckpt_reader_get(r, "params", &d, &n, &err), TG_OK);
    ck_assert_uint_eq(n, sizeof sc.params);
    ck_assert(memcmp(d, sc.params, n) == 0);
    ck_assert_int_eq(tg_ckpt_reader_get(r, "vocab", &d, &n, &err), TG_OK);
    ck_assert_uint_eq(n, 20);
    ck_assert(memcmp(d, "<pad>\n<s>\n</s>\nhola\n", 20) == 0);
    ck_assert_int_eq(tg_ckpt_reader_get(r, "state", &d, &n, &err), TG_OK);
    tg_ckpt_cur c;
    tg_ckpt_cur_init(&c, d, n, "section 'state'");
    uint64_t step;
    double bleu;
    char pair[16];
    tg_ckpt_cur_u64(&c, &step);
    tg_ckpt_cur_f64(&c, &bleu);
    tg_ckpt_cur_str(&c, pair, sizeof pair);
    ck_assert_int_eq(tg_ckpt_cur_finish(&c, &err), TG_OK);
    ck_assert_uint_eq(step, 12345);
    ck_assert(bleu == 27.3);
    ck_assert_str_eq(pair, "en-es");

    /* Directory entries carry the CRC32 of the uncompressed bytes. */
    const tg_ckpt_section *s = tg_ckpt_reader_find(r, "params");
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->crc, (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)sc.params, sizeof sc.params));
    ck_assert_ptr_null(tg_ckpt_reader_find(r, "adam"));

    ck_assert_int_eq(tg_ckpt_reader_get(r, "adam", &d, &n, &err), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "'adam'"));
    ck_assert_ptr_nonnull(strstr(err.msg, p));
    tg_ckpt_reader_free(r);
    tg_ckpt_buf_free(&sc.state);
}
END_TEST

/* tg_ckpt_reader_open_one: the header and directory checked as ever, the one section read and
 * checked, the others' bytes neither read (get says so) nor checked; a file cut short is
 * refused. */
START_TEST(test_open_one_section) {
    small_ckpt sc;
    const char *p = tpath("one.ckpt");
    save_small(p, &sc);
    tg_ckpt_reader *r;
    tg_err err;
    const void *d;
    size_t n;
    ck_assert_msg(tg_ckpt_reader_open_one(p, "vocab", &r, &err) == TG_OK, "%s", err.msg);
    ck_assert_int_eq(tg_ckpt_reader_count(r), 5);
    ck_assert_ptr_nonnull(tg_ckpt_reader_find(r, "params"));
    ck_assert_int_eq(tg_ckpt_reader_get(r, "vocab", &d, &n, &err), TG_OK);
    ck_assert(n == 20 && !memcmp(d, "<pad>\n<s>\n</s>\nhola\n", 20));
    ck_assert_int_eq(tg_ckpt_reader_get(r, "params", &d, &n, &err), TG_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(err.msg, "'params' was not read"));
    tg_ckpt_reader_free(r);
    /* a byte of params' stream flipped: the whole open refuses it, a look at vocab does not */
    size_t len;
    unsigned char *file = read_all(p, &len);
    tg_ckpt_reader_open(p, &r, &err);
    uint64_t at = tg_ckpt_reader_find(r, "params")->offset + 5;
    tg_ckpt_reader_free(r);
    file[at] ^= 0x40;
    write_file(p, file, len);
    expect_refused(p, TG_ERR_CORRUPT, "params", "params flipped");
    ck_assert_msg(tg_ckpt_reader_open_one(p, "vocab", &r, &err) == TG_OK, "%s", err.msg);
    tg_ckpt_reader_free(r);
    ck_assert_int_eq(tg_ckpt_reader_open_one(p, "params", &r, &err), TG_ERR_CORRUPT);
    ck_assert_ptr_null(r);
    write_file(p, file, len - 1);   /* cut short: the directory's sizes no longer fit */
    ck_assert_int_eq(tg_ckpt_reader_open_one(p, "config", &r, &err), TG_ERR_CORRUPT);
    ck_assert_int_eq(tg_ckpt_reader_open_one(p, NULL, &r, &err), TG_ERR_ARG);
    ck_assert_ptr_null(r);
    free(file);
    tg_ckpt_buf_free(&sc.state);
}
END_TEST

/* A multi-megabyte section (borrowed, bigger than the streaming chunk), one made of pieces of
 * assorted sizes including empty ones, and an empty one; read back byte for byte, and checked
 * again through the verify-only reader, which keeps no bytes. */
START_TEST(test_roundtrip_large) {
    const size_t np = 1500000;   /* 6 MB of floats */
    float *params = random_floats(np, 1);
    float *moments = random_floats(600000, 2);
    unsigned char *zeros = calloc(1, 3000000);   /* compresses ~1000:1, near deflate's limit */
    ck_assert_ptr_nonnull(zeros);
    const char *p = tpath("large.ckpt");
    tg_err err;
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    ck_assert_int_eq(tg_ckpt_writer_add_ref(w, "params", params, np * sizeof *params, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_begin(w, "adam", &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_append_ref(w, moments, 300000 * sizeof *moments, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_append_ref(w, NULL, 0, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_append(w, moments + 300000, 7, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_append_ref(w, (unsigned char *)(moments + 300000) + 7,
                                               300000 * sizeof *moments - 7, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_add_ref(w, "zeros", zeros, 3000000, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_add(w, "nothing", "", 0, &err), TG_OK);
    ck_assert_msg(tg_ckpt_writer_save(w, p, &err) == TG_OK, "%s", err.msg);
    tg_ckpt_writer_free(w);

    tg_ckpt_reader *r;
    ck_assert_msg(tg_ckpt_reader_open(p, &r, &err) == TG_OK, "%s", err.msg);
    const void *d;
    size_t n;
    ck_assert_int_eq(tg_ckpt_reader_get(r, "params", &d, &n, &err), TG_OK);
    ck_assert_uint_eq(n, np * sizeof *params);
    ck_assert(memcmp(d, params, n) == 0);
    ck_assert_int_eq(tg_ckpt_reader_get(r, "adam", &d, &n, &err), TG_OK);
    ck_assert_uint_eq(n, 600000 * sizeof *moments);
    ck_assert(memcmp(d, moments, n) == 0);
    ck_assert_int_eq(tg_ckpt_reader_get(r, "zeros", &d, &n, &err), TG_OK);
    ck_assert_uint_eq(n, 3000000);
    ck_assert(memcmp(d, zeros, n) == 0);
    ck_assert_int_eq(tg_ckpt_reader_get(r, "nothing", &d, &n, &err), TG_OK);
    ck_assert_uint_eq(n, 0);
    const tg_ckpt_section *z = tg_ckpt_reader_find(r, "zeros");
    ck_assert_uint_lt(z->zlen * 100, z->len);
    tg_ckpt_reader_free(r);

    ck_assert_msg(tg_ckpt_reader_verify(p, &r, &err) == TG_OK, "%s", err.msg);
    ck_assert_int_eq(tg_ckpt_reader_count(r), 4);
    ck_assert_uint_eq(tg_ckpt_reader_find(r, "params")->len, np * sizeof *params);
    ck_assert_int_eq(tg_ckpt_reader_get(r, "params", &d, &n, &err), TG_ERR_STATE);
    tg_ckpt_reader_free(r);
    free(params);
    free(moments);
    free(zeros);
}
END_TEST

START_TEST(test_roundtrip_levels_and_no_sections) {
    float *v = random_floats(100000, 3);
    tg_err err;
    size_t sizes[4];
    const int levels[4] = {0, 1, 9, TG_CKPT_Z_FAST};
    for (int k = 0; k < 4; k++) {
        tg_ckpt_writer *w = tg_ckpt_writer_new();
        ck_assert_int_eq(tg_ckpt_writer_set_level(w, levels[k], &err), TG_OK);
        ck_assert_int_eq(tg_ckpt_writer_add_ref(w, "params", v, 400000, &err), TG_OK);
        const char *p = tpath("level.ckpt");
        ck_assert_int_eq(tg_ckpt_writer_save(w, p, &err), TG_OK);
        tg_ckpt_writer_free(w);
        tg_ckpt_reader *r;
        ck_assert_msg(tg_ckpt_reader_open(p, &r, &err) == TG_OK, "%s", err.msg);
        const void *d;
        size_t n;
        ck_assert_int_eq(tg_ckpt_reader_get(r, "params", &d, &n, &err), TG_OK);
        ck_assert(n == 400000 && memcmp(d, v, n) == 0);
        sizes[k] = (size_t)tg_ckpt_reader_file_size(r);
        tg_ckpt_reader_free(r);
    }
    ck_assert_uint_gt(sizes[0], 400000);   /* stored blocks */
    ck_assert_uint_lt(sizes[1], sizes[0]);
    ck_assert_uint_le(sizes[2], sizes[1]);
    ck_assert_uint_lt(sizes[3], sizes[0]);
    free(v);

    /* Zeros at level 9 compress ~1024:1, next to deflate's limit that the reader enforces. */
    unsigned char *zeros = calloc(1, 3000000);
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    ck_assert_int_eq(tg_ckpt_writer_set_level(w, 9, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_add_ref(w, "zeros", zeros, 3000000, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_save(w, tpath("zeros.ckpt"), &err), TG_OK);
    tg_ckpt_writer_free(w);
    tg_ckpt_reader *r;
    ck_assert_msg(tg_ckpt_reader_open(tpath("zeros.ckpt"), &r, &err) == TG_OK, "%s", err.msg);
    ck_assert_uint_gt(tg_ckpt_reader_find(r, "zeros")->len / tg_ckpt_reader_find(r, "zeros")->zlen, 1000);
    tg_ckpt_reader_free(r);
    free(zeros);

    w = tg_ckpt_writer_new();
    ck_assert_int_eq(tg_ckpt_writer_save(w, tpath("none.ckpt"), &err), TG_OK);
    tg_ckpt_writer_free(w);
    ck_assert_int_eq(tg_ckpt_reader_open(tpath("none.ckpt"), &r, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_reader_count(r), 0);
    ck_assert_uint_eq(tg_ckpt_reader_file_size(r), TG_CKPT_HEADER_BYTES);
    tg_ckpt_reader_free(r);
}
END_TEST

START_TEST(test_writer_rejects_bad_use) {
    tg_err err;
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    ck_assert_int_eq(tg_ckpt_writer_append(w, "x", 1, &err), TG_ERR_STATE);
    ck_assert_int_eq(tg_ckpt_writer_add(w, "", "x", 1, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_ckpt_writer_add(w, NULL, "x", 1, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_ckpt_writer_add(w, "has space", "x", 1, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_ckpt_writer_add(w, "caf\xc3\xa9", "x", 1, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_ckpt_writer_add(w, "abcdefghijklmnopqrstuvwxyz012345", "x", 1, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_ckpt_writer_add(w, "abcdefghijklmnopqrstuvwxyz01234", "x", 1, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_add(w, "abcdefghijklmnopqrstuvwxyz01234", "y", 1, &err), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "twice"));
    ck_assert_int_eq(tg_ckpt_writer_append_ref(w, NULL, 5, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_ckpt_writer_set_level(w, 10, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_ckpt_writer_set_level(w, -2, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_ckpt_writer_save(w, "", &err), TG_ERR_ARG);
    /* A failed builder is reported when handed over, and its bytes are released. */
    tg_ckpt_buf b;
    tg_ckpt_buf_init(&b);
    tg_ckpt_buf_u32(&b, 1);
    b.failed = true;
    ck_assert_int_eq(tg_ckpt_writer_add_buf(w, "failed", &b, &err), TG_ERR_NOMEM);
    ck_assert_ptr_null(b.data);
    tg_ckpt_writer_free(w);
}
END_TEST

/* ---- refusing damaged files --------------------------------------------------------------- */

/* Every cut of the small file is refused as truncated; cut 0 is an empty file. */
START_TEST(test_truncated_every_byte) {
    small_ckpt sc;
    const char *p = tpath("small.ckpt");
    save_small(p, &sc);
    tg_ckpt_buf_free(&sc.state);
    size_t n;
    unsigned char *file = read_all(p, &n);
    const char *q = tpath("cut.ckpt");
    for (size_t cut = 0; cut < n; cut++) {
        char ctx[64];
        snprintf(ctx, sizeof ctx, "cut at %zu of %zu", cut, n);
        write_file(q, file, cut);
        if (cut == 0) expect_refused(q, TG_ERR_FORMAT, "empty file", ctx);
        else expect_refused(q, TG_ERR_CORRUPT, "truncated", ctx);
    }
    free(file);
}
END_TEST

/* Each position of the small file, one bit flipped and then the whole byte inverted: always
 * refused, as bad magic in the first 8 bytes and as corruption anywhere else, naming the section
 * whose bytes were hit. */
START_TEST(test_flipped_bits_every_byte) {
    small_ckpt sc;
    const char *p = tpath("small.ckpt");
    save_small(p, &sc);
    tg_ckpt_buf_free(&sc.state);
    tg_ckpt_reader *r;
    tg_err err;
    ck_assert_int_eq(tg_ckpt_reader_verify(p, &r, &err), TG_OK);
    size_t n;
    unsigned char *file = read_all(p, &n);
    const char *q = tpath("flip.ckpt");
    for (size_t pos = 0; pos < n; pos++) {
        const unsigned char masks[2] = {(unsigned char)(1u << (pos % 8)), 0xff};
        for (int m = 0; m < 2; m++) {
            char ctx[64], needle[64];
            snprintf(ctx, sizeof ctx, "byte %zu ^ 0x%02x", pos, masks[m]);
            file[pos] ^= masks[m];
            write_file(q, file, n);
            file[pos] ^= masks[m];
            if (pos < 8) {
                expect_refused(q, TG_ERR_FORMAT, "bad magic", ctx);
                continue;
            }
            expect_refused(q, TG_ERR_CORRUPT, "corrupted", ctx);
            snprintf(needle, sizeof needle, "header");
            for (int i = 0; i < tg_ckpt_reader_count(r); i++) {
                const tg_ckpt_section *s = tg_ckpt_reader_section(r, i);
                if (pos >= s->offset && pos < s->offset + s->zlen)
                    snprintf(needle, sizeof needle, "section '%s': CRC32 mismatch", s->name);
            }
            expect_refused(q, TG_ERR_CORRUPT, needle, ctx);
        }
    }
    tg_ckpt_reader_free(r);
    free(file);
}
END_TEST

/* The large file: cuts at a sample of points (the header, around every section boundary, and
 * spread through the data) and flips at a sample of positions. */
START_TEST(test_large_truncated_and_flipped_sample) {
    float *params = random_floats(1000000, 4);
    float *adam = random_floats(100000, 5);
    tg_err err;
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    ck_assert_int_eq(tg_ckpt_writer_add(w, "config", "a = 1\n", 6, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_add_ref(w, "params", params, 4000000, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_add_ref(w, "adam", adam, 400000, &err), TG_OK);
    const char *p = tpath("large.ckpt");
    ck_assert_int_eq(tg_ckpt_writer_save(w, p, &err), TG_OK);
    tg_ckpt_writer_free(w);
    tg_ckpt_reader *r;
    ck_assert_int_eq(tg_ckpt_reader_verify(p, &r, &err), TG_OK);
    size_t n;
    unsigned char *file = read_all(p, &n);
    ck_assert_uint_eq(n, tg_ckpt_reader_file_size(r));
    const char *q = tpath("damaged.ckpt");

    size_t cuts[128], nc = 0;
    for (size_t c = 1; c < 64; c += 7) cuts[nc++] = c;
    for (int i = 0; i < tg_ckpt_reader_count(r); i++) {
        const tg_ckpt_section *s = tg_ckpt_reader_section(r, i);
        cuts[nc++] = (size_t)s->offset - 1;
        cuts[nc++] = (size_t)s->offset;
        cuts[nc++] = (size_t)s->offset + 1;
        cuts[nc++] = (size_t)(s->offset + s->zlen) - 1;
    }
    for (int k = 1; k < 24; k++) cuts[nc++] = n / 24 * (size_t)k + (size_t)k;
    for (size_t k = 0; k < nc; k++) {
        char ctx[64], needle[64] = "truncated";
        snprintf(ctx, sizeof ctx, "cut at %zu of %zu", cuts[k], n);
        write_file(q, file, cuts[k]);
        for (int i = 0; i < tg_ckpt_reader_count(r); i++) {
            const tg_ckpt_section *s = tg_ckpt_reader_section(r, i);
            if (cuts[k] >= s->offset && cuts[k] < s->offset + s->zlen)
                snprintf(needle, sizeof needle, "truncated: section '%s' needs", s->name);
        }
        expect_refused(q, TG_ERR_CORRUPT, needle, ctx);
    }

    for (int k = 0; k < 40; k++) {
        size_t pos = 8 + (n - 8) / 40 * (size_t)k + (size_t)(k * 13);
        char ctx[64];
        snprintf(ctx, sizeof ctx, "flip at %zu of %zu", pos, n);
        file[pos] ^= (unsigned char)(1u << (k % 8));
        write_file(q, file, n);
        file[pos] ^= (unsigned char)(1u << (k % 8));
        expect_refused(q, TG_ERR_CORRUPT, "corrupted", ctx);
    }
    /* The last byte of the file (the zlib stream's checksum) too. */
    file[n - 1] ^= 0x10;
    write_file(q, file, n);
    expect_refused(q, TG_ERR_CORRUPT, "section 'adam': CRC32 mismatch", "last byte");
    file[n - 1] ^= 0x10;

    /* Extra bytes after the last section. */
    unsigned char *longer = malloc(n + 3);
    memcpy(longer, file, n);
    memcpy(longer + n, "abc", 3);
    write_file(q, longer, n + 3);
    expect_refused(q, TG_ERR_CORRUPT, "3 unexpected bytes after the last section", "trailing bytes");
    free(longer);

    tg_ckpt_reader_free(r);
    free(file);
    free(params);
    free(adam);
}
END_TEST

/* Headers that pass the CRC but say what this build must not accept: a newer version, unknown
 * flags, sizes that contradict the data or claim absurd lengths, repeated names. */
START_TEST(test_wrong_version_and_inconsistent_header) {
    small_ckpt sc;
    const char *p = tpath("small.ckpt");
    save_small(p, &sc);
    tg_ckpt_buf_free(&sc.state);
    size_t n;
    unsigned char *orig = read_all(p, &n);
    unsigned char *f = malloc(n);
    const char *q = tpath("edited.ckpt");
    unsigned char *e2 = f + TG_CKPT_HEADER_BYTES + 2 * TG_CKPT_DIRENT_BYTES;   /* "params" */

    memcpy(f, orig, n);
    put32(f + 8, 7);
    fix_header_crc(f);
    write_file(q, f, n);
    expect_refused(q, TG_ERR_VERSION, "format version 7 is newer than this build reads (1)", "version 7");

    /* Without the CRC fixed, a changed version reads as corruption, not as a version problem. */
    memcpy(f, orig, n);
    put32(f + 8, 2);
    write_file(q, f, n);
    expect_refused(q, TG_ERR_CORRUPT, "header CRC32 mismatch", "version 2, stale CRC");

    /* A newer version whose header is laid out differently (longer) is still recognised. */
    unsigned char *big = calloc(1, n + 100);
    memcpy(big, orig, n);
    put32(big + 8, 2);
    put32(big + 16, (uint32_t)n + 50);
    fix_header_crc(big);
    write_file(q, big, n + 100);
    expect_refused(q, TG_ERR_VERSION, "format version 2 is newer", "version 2 layout");
    free(big);

    memcpy(f, orig, n);
    put32(f + 8, 0);
    fix_header_crc(f);
    write_file(q, f, n);
    expect_refused(q, TG_ERR_FORMAT, "format version 0", "version 0");

    memcpy(f, orig, n);
    put32(f + 20, 4);
    fix_header_crc(f);
    write_file(q, f, n);
    expect_refused(q, TG_ERR_VERSION, "flags 0x4", "unknown flags");

    ck_assert(memcmp(e2, "params", 7) == 0);
    uint64_t len = 1024;
    memcpy(f, orig, n);
    put64(e2 + 48, len + 1);
    fix_header_crc(f);
    write_file(q, f, n);
    expect_refused(q, TG_ERR_CORRUPT, "section 'params' inflates to 1024 bytes, 1025 recorded", "len + 1");

    memcpy(f, orig, n);
    put64(e2 + 48, len - 1);
    fix_header_crc(f);
    write_file(q, f, n);
    expect_refused(q, TG_ERR_CORRUPT, "more than the 1023 bytes recorded", "len - 1");

    memcpy(f, orig, n);
    put64(e2 + 48, (uint64_t)1 << 60);
    fix_header_crc(f);
    write_file(q, f, n);
    expect_refused(q, TG_ERR_CORRUPT, "more than zlib can give", "absurd length");

    memcpy(f, orig, n);
    put32(e2 + 56, get32(e2 + 56) ^ 1);
    fix_header_crc(f);
    write_file(q, f, n);
    expect_refused(q, TG_ERR_CORRUPT, "section 'params': CRC32 mismatch", "stored CRC changed");

    memcpy(f, orig, n);
    put64(e2 + 32, get32(e2 + 32) + 1);
    fix_header_crc(f);
    write_file(q, f, n);
    expect_refused(q, TG_ERR_CORRUPT, "section 'params' starts at", "offset moved");

    memcpy(f, orig, n);
    memcpy(e2, "config", 7);
    fix_header_crc(f);
    write_file(q, f, n);
    expect_refused(q, TG_ERR_CORRUPT, "repeated name", "duplicate name");

    memcpy(f, orig, n);
    e2[3] = ' ';
    fix_header_crc(f);
    write_file(q, f, n);
    expect_refused(q, TG_ERR_CORRUPT, "invalid or repeated name", "space in name");

    free(f);
    free(orig);
}
END_TEST

START_TEST(test_foreign_files) {
    const char *q = tpath("foreign");
    write_file(q, "", 0);
    expect_refused(q, TG_ERR_FORMAT, "empty file", "empty");
    const char *text = "d_model = 512\nn_layers = 6\nthis is a text file, long enough for a header\n";
    write_file(q, text, strlen(text));
    expect_refused(q, TG_ERR_FORMAT, "not a tapegrad checkpoint (bad magic)", "text");
    write_file(q, "hi\n", 3);
    expect_refused(q, TG_ERR_FORMAT, "bad magic", "short text");
    write_file(q, "TAPE", 4);
    expect_refused(q, TG_ERR_CORRUPT, "truncated: header needs 32 bytes, file ends at 4", "magic prefix");

    const char *gzp = tpath("foreign.gz");
    gzFile gz = gzopen(gzp, "wb");
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_gt(gzputs(gz, "TAPEGRAD inside a gzip file, which is not a checkpoint\n"), 0);
    ck_assert_int_eq(gzclose(gz), Z_OK);
    expect_refused(gzp, TG_ERR_FORMAT, "bad magic", "gzip");

    unsigned char zbuf[256];
    uLongf zn = sizeof zbuf;
    ck_assert_int_eq(compress(zbuf, &zn, (const Bytef *)text, (uLong)strlen(text)), Z_OK);
    write_file(q, zbuf, zn);
    expect_refused(q, TG_ERR_FORMAT, "bad magic", "zlib stream");

    expect_refused(tmpdir, TG_ERR_FORMAT, "not a regular file", "folder");
    expect_refused(tpath("does-not-exist.ckpt"), TG_ERR_IO, "cannot open", "missing");
}
END_TEST

/* ---- atomic saves ------------------------------------------------------------------------- */

/* Saving over an existing checkpoint replaces it by rename: a reader that had the old file open
 * still sees the old bytes (the file was not rewritten in place), a new open sees the new ones,
 * and no temporary file is left. */
START_TEST(test_save_replaces_atomically) {
    const char *p = tpath("run.ckpt");
    tg_err err;
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    ck_assert_int_eq(tg_ckpt_writer_add(w, "state", "first", 5, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_save(w, p, &err), TG_OK);
    tg_ckpt_writer_free(w);
    size_t n_old;
    unsigned char *old = read_all(p, &n_old);
    FILE *held = fopen(p, "rb");
    ck_assert_ptr_nonnull(held);

    w = tg_ckpt_writer_new();
    ck_assert_int_eq(tg_ckpt_writer_add(w, "state", "second, longer", 14, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_save(w, p, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_save(w, p, &err), TG_OK);   /* a writer can save again */
    tg_ckpt_writer_free(w);

    unsigned char buf[4096];
    size_t got = fread(buf, 1, sizeof buf, held);
    fclose(held);
    ck_assert_uint_eq(got, n_old);
    ck_assert(memcmp(buf, old, n_old) == 0);
    free(old);

    tg_ckpt_reader *r;
    ck_assert_int_eq(tg_ckpt_reader_open(p, &r, &err), TG_OK);
    const void *d;
    size_t n;
    ck_assert_int_eq(tg_ckpt_reader_get(r, "state", &d, &n, &err), TG_OK);
    ck_assert(n == 14 && memcmp(d, "second, longer", 14) == 0);
    tg_ckpt_reader_free(r);
    ck_assert_int_eq(count_temp_files(tmpdir), 0);

    /* A bare file name saves into the current folder. */
    char cwd[512];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(tmpdir), 0);
    w = tg_ckpt_writer_new();
    ck_assert_int_eq(tg_ckpt_writer_add(w, "state", "x", 1, &err), TG_OK);
    tg_status st = tg_ckpt_writer_save(w, "bare.ckpt", &err);
    tg_ckpt_writer_free(w);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_msg(st == TG_OK, "%s", err.msg);
    ck_assert_int_eq(tg_ckpt_reader_open(tpath("bare.ckpt"), &r, &err), TG_OK);
    tg_ckpt_reader_free(r);
}
END_TEST

/* The target folder is a regular file: refused at the open ("Not a directory"), nothing made. */
START_TEST(test_save_fails_under_regular_file) {
    const char *blocker = tpath("somefile");
    write_file(blocker, "not a folder\n", 13);
    char target[600];
    snprintf(target, sizeof target, "%s/ckpt", blocker);
    tg_err err;
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    ck_assert_int_eq(tg_ckpt_writer_add(w, "state", "x", 1, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_save(w, target, &err), TG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, target));
    ck_assert_ptr_nonnull(strstr(err.msg, "Not a directory"));
    snprintf(target, sizeof target, "%s/no/such/folder/ckpt", tmpdir);
    ck_assert_int_eq(tg_ckpt_writer_save(w, target, &err), TG_ERR_IO);
    tg_ckpt_writer_free(w);
    size_t n;
    unsigned char *b = read_all(blocker, &n);
    ck_assert(n == 13 && memcmp(b, "not a folder\n", 13) == 0);
    free(b);
    ck_assert_int_eq(count_temp_files(tmpdir), 0);
}
END_TEST

/* A write that fails half-way (the file size limit is hit while streaming a large section):
 * the previous checkpoint stays as it was and the temporary file is removed. */
START_TEST(test_save_fails_midway_keeps_previous) {
    small_ckpt sc;
    const char *p = tpath("run.ckpt");
    save_small(p, &sc);
    tg_ckpt_buf_free(&sc.state);
    size_t n_before;
    unsigned char *before = read_all(p, &n_before);

    float *big = random_floats(500000, 6);
    tg_err err;
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    ck_assert_int_eq(tg_ckpt_writer_add_ref(w, "params", big, 2000000, &err), TG_OK);
    struct rlimit old_lim, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old_lim), 0);
    lim = old_lim;
    lim.rlim_cur = 300000;
    void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);   /* EFBIG from write instead of a signal */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    tg_status st = tg_ckpt_writer_save(w, p, &err);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old_lim), 0);
    signal(SIGXFSZ, old_sig);
    tg_ckpt_writer_free(w);
    free(big);

    ck_assert_int_eq(st, TG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, p));
    ck_assert_int_eq(count_temp_files(tmpdir), 0);
    size_t n_after;
    unsigned char *after = read_all(p, &n_after);
    ck_assert(n_after == n_before && memcmp(before, after, n_before) == 0);
    tg_ckpt_reader *r;
    ck_assert_int_eq(tg_ckpt_reader_open(p, &r, &err), TG_OK);
    tg_ckpt_reader_free(r);
    free(before);
    free(after);
}
END_TEST

/* PATH a folder: refused before anything is written (the whole file was written beside it, then
 * the rename failed). And the rename itself failing (the name made a non-empty folder after the
 * open): the fully written temporary is removed. Either way the folder's contents are untouched. */
START_TEST(test_save_fails_at_rename) {
    const char *dir = tpath("occupied");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    char inner[600];
    snprintf(inner, sizeof inner, "%s/keep", dir);
    write_file(inner, "keep", 4);
    tg_err err;
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    ck_assert_int_eq(tg_ckpt_writer_add(w, "state", "x", 1, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_save(w, dir, &err), TG_ERR_IO);
    ck_assert_msg(strstr(err.msg, "names a folder, not a file: nothing written"), "%s", err.msg);
    tg_ckpt_writer_free(w);
    ck_assert_int_eq(count_temp_files(tmpdir), 0);
    const char *late = tpath("late");
    tg_afile f;
    ck_assert_int_eq(tg_afile_open(&f, late, &err), TG_OK);
    ck_assert_int_eq(tg_afile_write(&f, "x", 1, &err), TG_OK);
    ck_assert_int_eq(rename(dir, late), 0);   /* the folder now where the file would go */
    ck_assert_int_eq(tg_afile_commit(&f, &err), TG_ERR_IO);
    ck_assert_msg(strstr(err.msg, "rename"), "%s", err.msg);
    ck_assert_int_eq(count_temp_files(tmpdir), 0);
    snprintf(inner, sizeof inner, "%s/keep", late);
    size_t n;
    unsigned char *b = read_all(inner, &n);
    ck_assert(n == 4 && memcmp(b, "keep", 4) == 0);
    free(b);
}
END_TEST

/* ---- payload builder and cursor ----------------------------------------------------------- */

START_TEST(test_buf_cursor_roundtrip) {
    tg_ckpt_buf b;
    tg_ckpt_buf_init(&b);
    const float fs[4] = {1.5f, -0.0f, 3.4e38f, 1e-45f};
    const double ds[3] = {-2.25, 1e308, 5e-324};
    tg_ckpt_buf_u8(&b, 0xab);
    tg_ckpt_buf_u32(&b, 0x01020304u);
    tg_ckpt_buf_u64(&b, 0x1122334455667788ull);
    tg_ckpt_buf_i64(&b, -42);
    tg_ckpt_buf_f32(&b, 0.1f);
    tg_ckpt_buf_f64(&b, 0.1);
    tg_ckpt_buf_f32s(&b, fs, 4);
    tg_ckpt_buf_f64s(&b, ds, 3);
    tg_ckpt_buf_str(&b, "");
    tg_ckpt_buf_str(&b, NULL);
    tg_ckpt_buf_str(&b, "hello, ñ");
    tg_ckpt_buf_bytes(&b, "raw", 3);
    for (int i = 0; i < 1000; i++) tg_ckpt_buf_u32(&b, (uint32_t)i * 2654435761u);   /* growth */
    ck_assert_int_eq(tg_ckpt_buf_status(&b, NULL), TG_OK);

    /* The byte layout is part of the file format: little-endian. */
    ck_assert_uint_eq(b.data[0], 0xab);
    ck_assert(memcmp(b.data + 1, "\x04\x03\x02\x01", 4) == 0);
    ck_assert(memcmp(b.data + 5, "\x88\x77\x66\x55\x44\x33\x22\x11", 8) == 0);

    tg_ckpt_cur c;
    tg_ckpt_cur_init(&c, b.data, b.len, "test payload");
    uint8_t u8;
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    float f, fs2[4];
    double d, ds2[3];
    char s1[4], s2[4], s3[16];
    const void *raw;
    ck_assert_int_eq(tg_ckpt_cur_u8(&c, &u8), TG_OK);
    ck_assert_int_eq(tg_ckpt_cur_u32(&c, &u32), TG_OK);
    ck_assert_int_eq(tg_ckpt_cur_u64(&c, &u64), TG_OK);
    ck_assert_int_eq(tg_ckpt_cur_i64(&c, &i64), TG_OK);
    ck_assert_int_eq(tg_ckpt_cur_f32(&c, &f), TG_OK);
    ck_assert_int_eq(tg_ckpt_cur_f64(&c, &d), TG_OK);
    ck_assert_int_eq(tg_ckpt_cur_f32s(&c, fs2, 4), TG_OK);
    ck_assert_int_eq(tg_ckpt_cur_f64s(&c, ds2, 3), TG_OK);
    ck_assert_int_eq(tg_ckpt_cur_str(&c, s1, sizeof s1), TG_OK);
    ck_assert_int_eq(tg_ckpt_cur_str(&c, s2, sizeof s2), TG_OK);
    ck_assert_int_eq(tg_ckpt_cur_str(&c, s3, sizeof s3), TG_OK);
    ck_assert_int_eq(tg_ckpt_cur_ref(&c, 3, &raw), TG_OK);
    ck_assert_uint_eq(u8, 0xab);
    ck_assert_uint_eq(u32, 0x01020304u);
    ck_assert_uint_eq(u64, 0x1122334455667788ull);
    ck_assert_int_eq(i64, -42);
    ck_assert(f == 0.1f && d == 0.1);
    ck_assert(memcmp(fs, fs2, sizeof fs) == 0);   /* bit for bit, -0.0 and denormals included */
    ck_assert(memcmp(ds, ds2, sizeof ds) == 0);
    ck_assert_str_eq(s1, "");
    ck_assert_str_eq(s2, "");
    ck_assert_str_eq(s3, "hello, ñ");
    ck_assert(memcmp(raw, "raw", 3) == 0);
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(tg_ckpt_cur_u32(&c, &u32), TG_OK);
        ck_assert_uint_eq(u32, (uint32_t)i * 2654435761u);
    }
    ck_assert_uint_eq(tg_ckpt_cur_left(&c), 0);
    ck_assert_int_eq(tg_ckpt_cur_finish(&c, NULL), TG_OK);
    tg_ckpt_buf_free(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
}
END_TEST

/* Reads past the end fail with a message naming the payload and offset, give zeros, and stay
 * failed; leftovers, overlong strings and embedded NULs are errors too. */
START_TEST(test_cursor_bounds) {
    unsigned char p[10] = {1, 0, 0, 0, 2, 0, 0, 0, 9, 9};
    tg_ckpt_cur c;
    tg_err err;
    uint32_t u32;
    uint64_t u64;
    tg_ckpt_cur_init(&c, p, sizeof p, "section 'state'");
    ck_assert_int_eq(tg_ckpt_cur_u32(&c, &u32), TG_OK);
    ck_assert_int_eq(tg_ckpt_cur_u64(&c, &u64), TG_ERR_CORRUPT);
    ck_assert_uint_eq(u64, 0);
    ck_assert_int_eq(tg_ckpt_cur_u8(&c, (uint8_t[]){0}), TG_ERR_CORRUPT);   /* sticky */
    ck_assert_int_eq(tg_ckpt_cur_finish(&c, &err), TG_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "section 'state'"));
    ck_assert_ptr_nonnull(strstr(err.msg, "u64 needs 8 bytes at offset 4, only 6 left"));

    tg_ckpt_cur_init(&c, p, sizeof p, "s");
    float fs[3] = {1, 2, 3};
    ck_assert_int_eq(tg_ckpt_cur_f32s(&c, fs, 3), TG_ERR_CORRUPT);
    ck_assert(fs[0] == 0 && fs[2] == 0);
    double huge[1];
    tg_ckpt_cur_init(&c, p, sizeof p, "s");
    ck_assert_int_eq(tg_ckpt_cur_f64s(&c, huge, SIZE_MAX / 4), TG_ERR_CORRUPT);   /* no overflow */

    tg_ckpt_cur_init(&c, p, sizeof p, "s");
    ck_assert_int_eq(tg_ckpt_cur_u32(&c, &u32), TG_OK);
    ck_assert_int_eq(tg_ckpt_cur_finish(&c, &err), TG_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "6 unexpected bytes"));

    /* String length 2 with room for 1 character; then a string running past the end. */
    char s[2];
    tg_ckpt_cur_init(&c, p + 4, 6, "s");
    ck_assert_int_eq(tg_ckpt_cur_str(&c, s, sizeof s), TG_ERR_CORRUPT);
    ck_assert_str_eq(s, "");
    unsigned char q[8] = {9, 0, 0, 0, 'a', 'b', 'c', 'd'};
    char s9[16];
    tg_ckpt_cur_init(&c, q, sizeof q, "s");
    ck_assert_int_eq(tg_ckpt_cur_str(&c, s9, sizeof s9), TG_ERR_CORRUPT);
    unsigned char z[6] = {2, 0, 0, 0, 'a', 0};
    tg_ckpt_cur_init(&c, z, sizeof z, "s");
    ck_assert_int_eq(tg_ckpt_cur_str(&c, s9, sizeof s9), TG_ERR_CORRUPT);
    tg_ckpt_cur_finish(&c, &err);
    ck_assert_ptr_nonnull(strstr(err.msg, "NUL"));

    tg_ckpt_cur_init(&c, NULL, 0, "nothing");
    ck_assert_int_eq(tg_ckpt_cur_finish(&c, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_cur_u8(&c, (uint8_t[]){0}), TG_ERR_CORRUPT);
}
END_TEST

/* The sink and source adapters carry optim's Adam state (a stack-built header, then m and v)
 * through a section: bit-identical moments and step; a short section is refused as truncated. */
START_TEST(test_adam_state_through_section) {
    const int64_t n = 50000;   /* m and v are 200 KB each (borrowed), the 40-byte header copied */
    tg_adam_config cfg = tg_adam_config_default();
    tg_adam *a, *b;
    tg_err err;
    ck_assert_int_eq(tg_adam_new(&cfg, n, &a, &err), TG_OK);
    ck_assert_int_eq(tg_adam_new(&cfg, n, &b, &err), TG_OK);
    float *r1 = random_floats((size_t)n, 11), *r2 = random_floats((size_t)n, 12);
    for (int64_t i = 0; i < n; i++) {
        tg_adam_m(a)[i] = (tg_float)r1[i];
        tg_adam_v(a)[i] = (tg_float)r2[i] * (tg_float)r2[i];
    }
    ck_assert_int_eq(tg_adam_set_step_count(a, 17, &err), TG_OK);
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    ck_assert_int_eq(tg_ckpt_writer_begin(w, "adam", &err), TG_OK);
    ck_assert_int_eq(tg_adam_state_write(a, tg_ckpt_writer_sink, w, &err), TG_OK);
    ck_assert_int_eq(tg_ckpt_writer_add(w, "short", "TGADAMST", 8, &err), TG_OK);
    const char *p = tpath("adam.ckpt");
    ck_assert_int_eq(tg_ckpt_writer_save(w, p, &err), TG_OK);
    tg_ckpt_writer_free(w);

    tg_ckpt_reader *r;
    ck_assert_msg(tg_ckpt_reader_open(p, &r, &err) == TG_OK, "%s", err.msg);
    const void *d;
    size_t len;
    ck_assert_int_eq(tg_ckpt_reader_get(r, "adam", &d, &len, &err), TG_OK);
    ck_assert_uint_eq(len, tg_adam_state_size(a));
    tg_ckpt_cur c;
    tg_ckpt_cur_init(&c, d, len, "section 'adam'");
    ck_assert_msg(tg_adam_state_read(b, tg_ckpt_cur_source, &c, &err) == TG_OK, "%s", err.msg);
    ck_assert_int_eq(tg_ckpt_cur_finish(&c, &err), TG_OK);
    ck_assert_int_eq(tg_adam_step_count(b), 17);
    ck_assert(memcmp(tg_adam_m(a), tg_adam_m(b), (size_t)n * sizeof(tg_float)) == 0);
    ck_assert(memcmp(tg_adam_v(a), tg_adam_v(b), (size_t)n * sizeof(tg_float)) == 0);

    ck_assert_int_eq(tg_ckpt_reader_get(r, "short", &d, &len, &err), TG_OK);
    tg_ckpt_cur_init(&c, d, len, "section 'short'");
    ck_assert_int_eq(tg_adam_state_read(b, tg_ckpt_cur_source, &c, &err), TG_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "section 'short'"));
    ck_assert_ptr_nonnull(strstr(err.msg, "truncated"));
    tg_ckpt_reader_free(r);
    tg_adam_free(a);
    tg_adam_free(b);
    free(r1);
    free(r2);
}
END_TEST

/* ---- fingerprint -------------------------------------------------------------------------- */

START_TEST(test_hash64) {
    /* Pinned: `ckpt info` shows these values, so they must not change between builds or releases. */
    ck_assert_uint_eq(tg_ckpt_hash64("", 0), 0x3d3a8d6dc9955a2eull);
    ck_assert_uint_eq(tg_ckpt_hash64("abc", 3), 0x41b36ced146dc62eull);
    unsigned char seq[1000];
    for (int i = 0; i < 1000; i++) seq[i] = (unsigned char)(i * 7 + 3);
    ck_assert_uint_eq(tg_ckpt_hash64(seq, sizeof seq), 0xec56c9cf80f144b9ull);

    /* Independent of alignment. */
    unsigned char shifted[1008];
    for (int off = 1; off < 8; off++) {
        memcpy(shifted + off, seq, sizeof seq);
        ck_assert_uint_eq(tg_ckpt_hash64(shifted + off, sizeof seq), tg_ckpt_hash64(seq, sizeof seq));
    }
    /* Every single-bit change of a 100-byte buffer gives a new value, all 800 of them distinct. */
    uint64_t h[801];
    h[800] = tg_ckpt_hash64(seq, 100);
    for (int bit = 0; bit < 800; bit++) {
        seq[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        h[bit] = tg_ckpt_hash64(seq, 100);
        seq[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    for (int i = 0; i < 801; i++)
        for (int j = i + 1; j < 801; j++) ck_assert_msg(h[i] != h[j], "bits %d and %d collide", i, j);
    /* Runs of zeros of different lengths differ (the length is mixed in). */
    unsigned char zeros[80] = {0};
    for (int a = 0; a <= 80; a++)
        for (int b = a + 1; b <= 80; b++) ck_assert(tg_ckpt_hash64(zeros, (size_t)a) != tg_ckpt_hash64(zeros, (size_t)b));
}
END_TEST

/* ---- tapegrad ckpt verify ----------------------------------------------------------------- */

/* Runs `tapegrad ckpt ARGS` with stdout and stderr captured into out and err. */
static int run_ckpt(int argc, char **argv, char *out, char *errbuf, size_t cap) {
    const char *po = tpath("stdout.txt"), *pe = tpath("stderr.txt");
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    int fo = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0644), fe = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert(so >= 0 && se >= 0 && fo >= 0 && fe >= 0);
    dup2(fo, 1);
    dup2(fe, 2);
    int rc = tg_cmd_ckpt(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    close(fo);
    close(fe);
    char *bufs[2] = {out, errbuf};
    const char *paths[2] = {po, pe};
    for (int k = 0; k < 2; k++) {
        size_t n;
        unsigned char *b = read_all(paths[k], &n);
        if (n >= cap) n = cap - 1;
        memcpy(bufs[k], b, n);
        bufs[k][n] = '\0';
        free(b);
    }
    return rc;
}

/* The uncompressed size that a verify listing shows for a section, -1 if it is not listed. */
static long long listed_bytes(const char *out, const char *name) {
    char key[64];
    snprintf(key, sizeof key, "\n  %s ", name);
    const char *at = strstr(out, key);
    long long n;
    if (!at || sscanf(at + strlen(key), "%lld", &n) != 1) return -1;
    return n;
}

START_TEST(test_cmd_verify) {
    small_ckpt sc;
    char good[512], bad[512];
    snprintf(good, sizeof good, "%s", tpath("good.ckpt"));
    snprintf(bad, sizeof bad, "%s", tpath("bad.ckpt"));
    save_small(good, &sc);
    tg_ckpt_buf_free(&sc.state);
    size_t n;
    unsigned char *f = read_all(good, &n);
    f[n / 2] ^= 4;
    write_file(bad, f, n);
    free(f);
    static char out[8192], errb[8192];

    char *a1[] = {(char[]){"ckpt"}, (char[]){"verify"}, good};
    ck_assert_int_eq(run_ckpt(3, a1, out, errb, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "format version 1, 5 sections"));
    ck_assert_int_eq(listed_bytes(out, "params"), 1024);
    ck_assert_int_eq(listed_bytes(out, "empty"), 0);
    ck_assert_int_eq(listed_bytes(out, "config"), (long long)strlen(sc.config));
    ck_assert_ptr_nonnull(strstr(out, "\nOK\n"));
    ck_assert_str_eq(errb, "");

    char *a2[] = {(char[]){"ckpt"}, (char[]){"verify"}, good, bad};
    ck_assert_int_eq(run_ckpt(4, a2, out, errb, sizeof out), 1);
    ck_assert_ptr_nonnull(strstr(out, "OK"));
    ck_assert_ptr_nonnull(strstr(errb, bad));
    ck_assert_ptr_nonnull(strstr(errb, "CRC32 mismatch (corrupted)"));

    char *a3[] = {(char[]){"ckpt"}, (char[]){"verify"}, (char[]){"/nonexistent/x.ckpt"}};
    ck_assert_int_eq(run_ckpt(3, a3, out, errb, sizeof out), 1);
    ck_assert_ptr_nonnull(strstr(errb, "cannot open"));

    char *a4[] = {(char[]){"ckpt"}, (char[]){"verify"}};
    ck_assert_int_eq(run_ckpt(2, a4, out, errb, sizeof out), 2);
    char *a5[] = {(char[]){"ckpt"}, (char[]){"verify"}, (char[]){"--bogus"}, good};
    ck_assert_int_eq(run_ckpt(4, a5, out, errb, sizeof out), 2);
    char *a6[] = {(char[]){"ckpt"}, (char[]){"verify"}, (char[]){"--help"}};
    ck_assert_int_eq(run_ckpt(3, a6, out, errb, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: tapegrad ckpt verify"));
    char *a7[] = {(char[]){"ckpt"}};
    ck_assert_int_eq(run_ckpt(1, a7, out, errb, sizeof out), 2);
    char *a8[] = {(char[]){"ckpt"}, (char[]){"frobnicate"}};
    ck_assert_int_eq(run_ckpt(2, a8, out, errb, sizeof out), 2);
    ck_assert_ptr_nonnull(strstr(errb, "unknown subcommand 'frobnicate'"));
    char *a9[] = {(char[]){"ckpt"}, (char[]){"--help"}};
    ck_assert_int_eq(run_ckpt(2, a9, out, errb, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "verify"));
    /* After a failed parse, a normal run still works (getopt state is reset). */
    ck_assert_int_eq(run_ckpt(3, a1, out, errb, sizeof out), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ckpt_file");
    TCase *tc = tcase_create("container");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_roundtrip_small);
    tcase_add_test(tc, test_open_one_section);
    tcase_add_test(tc, test_roundtrip_large);
    tcase_add_test(tc, test_roundtrip_levels_and_no_sections);
    tcase_add_test(tc, test_writer_rejects_bad_use);
    tcase_add_test(tc, test_truncated_every_byte);
    tcase_add_test(tc, test_flipped_bits_every_byte);
    tcase_add_test(tc, test_large_truncated_and_flipped_sample);
    tcase_add_test(tc, test_wrong_version_and_inconsistent_header);
    tcase_add_test(tc, test_foreign_files);
    tcase_add_test(tc, test_save_replaces_atomically);
    tcase_add_test(tc, test_save_fails_under_regular_file);
    tcase_add_test(tc, test_save_fails_midway_keeps_previous);
    tcase_add_test(tc, test_save_fails_at_rename);
    tcase_add_test(tc, test_buf_cursor_roundtrip);
    tcase_add_test(tc, test_cursor_bounds);
    tcase_add_test(tc, test_adam_state_through_section);
    tcase_add_test(tc, test_hash64);
    tcase_add_test(tc, test_cmd_verify);
    suite_add_tcase(s, tc);
    int failed = tg_check_run(s);
    return failed ? 1 : 0;
}
