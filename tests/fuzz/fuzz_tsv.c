/* fuzz_tsv.c: the trim of a run folder's metrics.tsv / diagnostics.tsv (tg_tsv_trim), which a
 * resume runs on whatever a crash or a hand left in the file, and the rewrite ckpt diagnose makes
 * of it (tg_tsv_rewrite_open, then a commit).
 * Input: byte 0 picks the table (bit 0: diagnostics, step in column 0; else metrics, column 1);
 * when bits 1-3 are all set, it puts a line longer than the trim reads at a place byte 2 chooses,
 * or with bit 6 at the end without its newline (no row nor header, whatever it holds: dropped and
 * counted, the first line too); bit 4 drops the metrics' valid rows at keep_step too (a resume of a
 * pending validation); bit 5 rewrites instead of trimming. Byte 1 gives keep_step (below 240:
 * byte - 16, so -16..223; from 240 an extreme such as INT64_MAX); the rest is the file.
 * Properties. On 0: the file's first line is the header (alone when no whole line of at most 1 MiB
 * was there); every later line ends with '\n' and is a row
 * (tg_tsv_is_row) with step <= keep_step (and not valid at keep_step with bit 4); the rows are, in
 * order, exactly the input's whole lines of at most 1 MiB that are such rows (the first line without
 * its BOM); the dropped count is the input's lines over 1 MiB, whole or not, and its whole lines
 * after the header's place (the first line of at most 1 MiB) that are neither rows nor blank, with
 * the first one's number; trimming again changes nothing. On -1: msg is filled and the file is as it was. Never a
 * temporary (".tmp.") left in the folder. */
#include <dirent.h>
#include <string.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
#include "train/run/progress.h"

static const char METRICS_HEADER[] =
    "kind\tstep\tepoch\telapsed_s\tlr\tloss\tnll\tppl\ttgt_tok_s\tgrad_norm\tbleu\tchrf\n";
static const char DIAG_HEADER[] = "step\tstack\tlayer\tsublayer\tmetric\tvalue\n";

/* tg_tsv_trim reads lines up to 1 MiB (TSV_LINE_MAX in progress.c), '\n' included: a longer one
 * is no row. */
#define LINE_MAX_BYTES ((size_t)1 << 20)
#define LONG_LINE (LINE_MAX_BYTES + 1)

static int64_t keep_step_of(uint8_t b) {
    static const int64_t extreme[] = {INT64_MAX, INT64_MIN, INT64_MAX - 1, -1, 1000000, 9999999999LL};
    if (b < 240) return (int64_t)b - 16;
    return extreme[(b - 240) % (sizeof extreme / sizeof extreme[0])];
}

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f != NULL);
    size_t cap = 4096, got;
    uint8_t *buf = malloc(cap);
    *n = 0;
    while (buf && (got = fread(buf + *n, 1, cap - *n, f)) > 0) {
        *n += got;
        if (*n == cap) buf = realloc(buf, cap *= 2);
    }
    FUZZ_CHECK(buf != NULL && !ferror(f));
    fclose(f);
    return buf;
}

/* The line of bytes[at..n) as a NUL-terminated copy (for tg_tsv_is_row), its length with the
 * '\n' in *len; NULL past the end. */
static char *next_line(const uint8_t *bytes, size_t n, size_t at, size_t *len) {
    if (at >= n) return NULL;
    const uint8_t *nl = memchr(bytes + at, '\n', n - at);
    *len = nl ? (size_t)(nl - (bytes + at)) + 1 : n - at;
    return fuzz_cstr(bytes + at, *len);
}

static const char *column(const char *line, int col) {
    for (int c = 0; c < col && line; c++) {
        line = strchr(line, '\t');
        if (line) line++;
    }
    return line;
}

/* A whole line that the trim keeps: a row with its step at most keep_step, but with valid a
 * valid row at keep_step. */
static bool kept_row(const char *line, size_t len, int step_col, int64_t keep_step, bool valid) {
    if (!(len > 0 && line[len - 1] == '\n' && tg_tsv_is_row(line, step_col))) return false;
    int64_t step = strtoll(column(line, step_col), NULL, 10);
    return step < keep_step || (step == keep_step && !(valid && !strncmp(line, "valid\t", 6)));
}

static void check_no_temporary(const char *dir) {
    DIR *d = opendir(dir);
    FUZZ_CHECK(d != NULL);
    struct dirent *e;
    while ((e = readdir(d))) FUZZ_CHECK(strstr(e->d_name, ".tmp.") == NULL);
    closedir(d);
}

/* The input's next line from *at (its first without the BOM the trim drops there): a malloc'd
 * copy to free, with *text and *tlen the line as the trim sees it, and *too_long whether the line
 * as it is in the file (a BOM too) passes the trim's bound; NULL past the end. */
static char *input_line(const uint8_t *in, size_t n_in, size_t *at, const char **text, size_t *tlen,
                        bool *too_long) {
    char *line = next_line(in, n_in, *at, tlen);
    if (!line) return NULL;
    *too_long = *tlen > LINE_MAX_BYTES;
    *text = line;
    if (*at == 0 && *tlen >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) *text += 3, *tlen -= 3;
    *at += (size_t)(*text - line) + *tlen;
    return line;
}

/* The properties of a trim that returned 0, given the input bytes in[0..n_in) and the output. */
static void check_trimmed(const uint8_t *in, size_t n_in, const uint8_t *out, size_t n_out, const char *header,
                          int step_col, int64_t keep_step, bool valid) {
    size_t hlen = strlen(header);
    if (n_out == 0) {   /* no whole line of at most 1 MiB was there (the header alone then) */
        size_t at = 0, len;
        for (const uint8_t *nl; at < n_in && (nl = memchr(in + at, '\n', n_in - at)); at += len) {
            len = (size_t)(nl - (in + at)) + 1;
            FUZZ_CHECK(len > LINE_MAX_BYTES);
        }
        return;
    }
    FUZZ_CHECK(n_out >= hlen && memcmp(out, header, hlen) == 0);
    /* each output row is the next input line that is a kept row (none skipped in between), and
     * no kept row follows the last one */
    size_t at_in = 0, at_out = hlen, len_out = 0, tlen;
    const char *text;
    char *row = NULL, *line;
    bool too_long;
    do {
        if (at_out < n_out) {
            row = next_line(out, n_out, at_out, &len_out);
            at_out += len_out;
            FUZZ_CHECK(kept_row(row, len_out, step_col, keep_step, valid));   /* '\n'-ended, a row, step <= keep */
        }
        bool matched = false;
        while (!matched && (line = input_line(in, n_in, &at_in, &text, &tlen, &too_long))) {
            matched = row && !too_long && tlen == len_out && !memcmp(text, row, tlen);
            FUZZ_CHECK(matched || too_long || !kept_row(text, tlen, step_col, keep_step, valid));
            free(line);
        }
        FUZZ_CHECK(matched || !row);
        free(row);
        row = NULL;
    } while (at_out < n_out || at_in < n_in);
}

/* The dropped count the trim must report: the input's lines longer than the bound (no header, row
 * or crash's torn row), its whole lines after the header's place (the first line within the bound)
 * that are not rows and not blank, and a last line without its newline that holds a CR (a file of
 * CR line ends: no crash writes one), and the first one's number. */
static void check_dropped(const uint8_t *in, size_t n_in, int step_col, const tg_tsv_dropped *d) {
    size_t at = 0, tlen;
    const char *text;
    char *line;
    long lineno = 0, lines = 0, first_line = 0;
    bool too_long, place = true;   /* the header's place is still to come */
    while ((line = input_line(in, n_in, &at, &text, &tlen, &too_long))) {
        bool blank = text[0] == '\n' || (text[0] == '\r' && text[1] == '\n');
        bool whole = text[tlen - 1] == '\n', was_place = place;
        lineno++;
        place = place && too_long;
        bool counted = too_long ? true
                       : whole  ? !was_place && !blank && !tg_tsv_is_row(text, step_col)
                                : memchr(text, '\r', tlen) != NULL;   /* (NUL bytes too, as the trim) */
        if (counted && lines++ == 0) first_line = lineno;
        free(line);
    }
    FUZZ_CHECK(d->lines == lines && d->first_line == first_line);
    FUZZ_CHECK(lines > 0 || d->first[0] == '\0');
}

/* tg_tsv_trim, or with rewrite tg_tsv_rewrite_open and its commit, of path. */
static int trim(const char *path, const char *header, int step_col, int64_t keep_step, bool valid, bool rewrite,
                tg_tsv_dropped *dropped, char *msg, size_t len) {
    if (!rewrite) return tg_tsv_trim(path, header, step_col, keep_step, valid ? "valid" : NULL, dropped, msg, len);
    FUZZ_CHECK(!valid);   /* (the rewrite is diagnostics.tsv's: no kinds) */
    tg_afile out;
    tg_err err;
    tg_status st = tg_tsv_rewrite_open(&out, path, header, step_col, keep_step, dropped, &err);
    if (st == TG_OK) st = tg_afile_commit(&out, &err);
    if (st != TG_OK) snprintf(msg, len, "%s", err.msg);
    return st == TG_OK ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    bool diag = data[0] & 1, long_line = ((data[0] >> 1) & 7) == 7, long_torn = long_line && (data[0] & 64);
    bool valid = !diag && (data[0] & 16), rewrite = diag && (data[0] & 32);
    const char *header = diag ? DIAG_HEADER : METRICS_HEADER;
    int step_col = diag ? 0 : 1;
    int64_t keep_step = keep_step_of(data[1]);
    size_t at = size > 3 ? data[2] % (size - 3 + 1) : 0;
    const uint8_t *file = data + 3;
    size_t n = size - 3;

    uint8_t *in = (uint8_t *)file;
    if (long_line) {   /* file[0..at) + a line of LONG_LINE bytes + file[at..n), or file + the line without '\n' */
        if (long_torn) at = n;
        in = malloc(n + LONG_LINE);
        FUZZ_CHECK(in != NULL);
        memcpy(in, file, at);
        memset(in + at, 'x', LONG_LINE - 1);
        in[at + LONG_LINE - 1] = '\n';
        memcpy(in + at + LONG_LINE, file + at, n - at);
        n += LONG_LINE - long_torn;
    }

    const char *dir = fuzz_tmp_dir();
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, diag ? "diagnostics.tsv" : "metrics.tsv");
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f && fwrite(in, 1, n, f) == n && fclose(f) == 0);

    char msg[512] = "";
    tg_tsv_dropped dropped;
    int rc = trim(path, header, step_col, keep_step, valid, rewrite, &dropped, msg, sizeof msg);
    FUZZ_CHECK(rc == 0 || rc == -1);
    check_no_temporary(dir);
    size_t n_out;
    uint8_t *out = read_all(path, &n_out);
    if (rc == -1) {
        FUZZ_CHECK(!long_line);   /* a line past the bound is dropped as no row, the trim goes on */
        FUZZ_CHECK(msg[0] != '\0');
        FUZZ_CHECK(n_out == n && memcmp(out, in, n) == 0);
    } else {
        bool whole = memchr(in, '\n', n) != NULL;
        FUZZ_CHECK(whole || (n_out == strlen(header) && !memcmp(out, header, n_out)));
        check_trimmed(in, n, out, !whole ? 0 : n_out, header, step_col, keep_step, valid);
        check_dropped(in, n, step_col, &dropped);
        /* idempotent, and nothing left to drop */
        FUZZ_CHECK(trim(path, header, step_col, keep_step, valid, rewrite, &dropped, msg, sizeof msg) == 0);
        FUZZ_CHECK(dropped.lines == 0);
        check_no_temporary(dir);
        size_t n_again;
        uint8_t *again = read_all(path, &n_again);
        FUZZ_CHECK(n_again == n_out && memcmp(again, out, n_out) == 0);
        free(again);
    }
    free(out);
    unlink(path);
    if (long_line) free(in);
    return 0;
}
