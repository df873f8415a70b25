/* vocab.c: the BPE vocabulary object: special and byte pieces, the alphabet, merges, printed
 * forms of pieces, and the text file format (save and load). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/bpe.h"
#include "datasets/shown.h"

static const char *const special_names[TG_N_SPECIAL] = {"<pad>", "<s>", "</s>", "<unk>"};
static const char marker_utf8[] = "\xE2\x96\x81"; /* U+2581, how the marker is printed */

tg_bpe *tg_bpe_new_empty(void) {
    tg_bpe *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    for (int i = 0; i < 128; i++) b->ascii_id[i] = -1;
    return b;
}

void tg_bpe_free(tg_bpe *b) {
    if (!b) return;
    tg_ds_strtab_free(&b->pieces);
    free(b->merge_left);
    free(b->merge_right);
    free(b->merge_result);
    tg_ds_u64map_free(&b->merge_rank);
    tg_ds_u64map_free(&b->char_id);
    tg_ds_strtab_free(&b->cache);
    free(b->cache_off);
    tg_ids_free(&b->cache_ids);
    free(b->sym);
    free(b->prev);
    free(b->next);
    free(b->heap);
    free(b);
}

static uint64_t char_key(const char *s, size_t n) {
    uint64_t k = (uint64_t)n << 32;
    for (size_t i = 0; i < n; i++) k |= (uint64_t)(unsigned char)s[i] << (8 * i);
    return k;
}

int32_t tg_bpe_char_lookup(const tg_bpe *b, const char *s, size_t n) {
    if (n == 1 && (unsigned char)s[0] < 128) return b->ascii_id[(unsigned char)s[0]];
    int64_t *v = tg_ds_u64map_get(&b->char_id, char_key(s, n));
    return v ? (int32_t)*v : -1;
}

size_t tg_bpe_word_chars(const tg_bpe *b, const char *w, size_t n, int32_t *out) {
    size_t k = 0;
    out[k++] = tg_bpe_char_lookup(b, " ", 1);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int len = tg_utf8_next(w + i, n - i, &cp);
        int32_t id = len > 0 ? tg_bpe_char_lookup(b, w + i, (size_t)len) : -1;
        if (id >= 0) {
            out[k++] = id;
            i += (size_t)len;
        } else {
            /* byte fallback: an unseen character's bytes, or a single byte that is not UTF-8 */
            int nb = len > 0 ? len : 1;
            for (int j = 0; j < nb; j++) out[k++] = TG_BPE_FIRST_BYTE + (unsigned char)w[i + j];
            i += (size_t)nb;
        }
    }
    return k;
}

int32_t tg_bpe_add_char(tg_bpe *b, const char *s, size_t n, bool *dup) {
    *dup = false;
    if (b->n_merges > 0 || n == 0 || n > 4) return -1;
    bool added;
    int64_t i = tg_ds_strtab_intern(&b->pieces, s, n, &added);
    if (i < 0) return -1;
    if (!added) { *dup = true; return -1; }
    int32_t id = tg_bpe_id_of_piece((size_t)i);
    if (n == 1 && (unsigned char)s[0] < 128) b->ascii_id[(unsigned char)s[0]] = id;
    else if (!tg_ds_u64map_put(&b->char_id, char_key(s, n), id)) return -1;
    b->n_chars++;
    return id;
}

int32_t tg_bpe_add_merge(tg_bpe *b, int32_t left, int32_t right) {
    size_t nl = tg_bpe_piece_len(b, left), nr = tg_bpe_piece_len(b, right);
    char small[256];
    char *cat = nl + nr <= sizeof small ? small : malloc(nl + nr);
    if (!cat) return -1;
    memcpy(cat, tg_bpe_piece_bytes(b, left), nl);
    memcpy(cat + nl, tg_bpe_piece_bytes(b, right), nr);
    int64_t i = tg_ds_strtab_intern(&b->pieces, cat, nl + nr, NULL);
    if (cat != small) free(cat);
    if (i < 0) return -1;
    int32_t id = tg_bpe_id_of_piece((size_t)i);
    size_t c1 = b->merge_cap, c2 = b->merge_cap, c3 = b->merge_cap;
    size_t need = (size_t)b->n_merges + 1;
    if (!tg_ds_grow((void **)&b->merge_left, &c1, need, sizeof(int32_t)) ||
        !tg_ds_grow((void **)&b->merge_right, &c2, need, sizeof(int32_t)) ||
        !tg_ds_grow((void **)&b->merge_result, &c3, need, sizeof(int32_t)))
        return -1;
    b->merge_cap = c1 < c2 ? (c1 < c3 ? c1 : c3) : (c2 < c3 ? c2 : c3);
    if (!tg_ds_u64map_put(&b->merge_rank, tg_bpe_pair_key(left, right), b->n_merges)) return -1;
    b->merge_left[b->n_merges] = left;
    b->merge_right[b->n_merges] = right;
    b->merge_result[b->n_merges] = id;
    b->n_merges++;
    return id;
}

int32_t tg_bpe_vocab_size(const tg_bpe *b) { return TG_BPE_FIRST_CHAR + (int32_t)b->pieces.n; }
int32_t tg_bpe_n_chars(const tg_bpe *b) { return b->n_chars; }
int32_t tg_bpe_n_merges(const tg_bpe *b) { return b->n_merges; }

/* ---- printed forms ---- */

static bool is_byte_name(const char *s, size_t n, int *byte) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return false;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return false;
        v = v * 16 + d;
    }
    if (byte) *byte = v;
    return true;
}

static int special_of(const char *s, size_t n) {
    for (int i = 0; i < TG_N_SPECIAL; i++)
        if (strlen(special_names[i]) == n && memcmp(special_names[i], s, n) == 0) return i;
    return -1;
}

bool tg_bpe_escape(const char *s, size_t n, tg_str *out) {
    size_t start = out->n;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok;
        if (c == TG_BPE_MARKER) {
            ok = tg_ds_str_append(out, marker_utf8, 3);
        } else if (c < 0x20 || c == 0x7F || c == '\\' ||
                   (c == 0xE2 && i + 2 < n && memcmp(s + i, marker_utf8, 3) == 0)) {
            /* A literal U+2581 is escaped byte by byte so that "▁" always means the marker. */
            size_t k = c == 0xE2 ? 3 : 1;
            ok = true;
            for (size_t j = 0; j < k && ok; j++) {
                char e[5];
                snprintf(e, sizeof e, "\\x%02X", (unsigned char)s[i + j]);
                ok = tg_ds_str_append(out, e, 4);
            }
            i += k - 1;
        } else {
            ok = tg_ds_str_append(out, s + i, 1);
        }
        if (!ok) return false;
    }
    /* A piece whose printed form would read as a special or byte piece gets its '<' escaped. */
    const char *p = out->s ? out->s + start : "";
    size_t pn = out->n - start;
    if (special_of(p, pn) >= 0 || is_byte_name(p, pn, NULL)) {
        out->n = start;
        if (!tg_ds_str_append(out, "\\x3C", 4) || !tg_ds_str_append(out, s + 1, n - 1)) return false;
    }
    return true;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

bool tg_bpe_unescape(const char *s, size_t n, tg_str *out, bool *oom) {
    *oom = false;
    for (size_t i = 0; i < n;) {
        bool ok;
        if (i + 3 <= n && memcmp(s + i, marker_utf8, 3) == 0) {
            char m = TG_BPE_MARKER;
            ok = tg_ds_str_append(out, &m, 1);
            i += 3;
        } else if (s[i] == '\\') {
            if (i + 4 > n || s[i + 1] != 'x' || hexval(s[i + 2]) < 0 || hexval(s[i + 3]) < 0) return false;
            char c = (char)(hexval(s[i + 2]) * 16 + hexval(s[i + 3]));
            ok = tg_ds_str_append(out, &c, 1);
            i += 4;
        } else {
            ok = tg_ds_str_append(out, s + i, 1);
            i++;
        }
        if (!ok) { *oom = true; return false; }
    }
    return true;
}

tg_status tg_bpe_piece_str(const tg_bpe *b, int32_t id, tg_str *out, tg_err *err) {
    out->n = 0;
    if (!tg_ds_str_append(out, "", 0)) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    if (id < 0 || id >= tg_bpe_vocab_size(b))
        return tg_err_set(err, TG_ERR_ARG, "piece id %d outside the vocabulary (0..%d)", (int)id,
                          (int)tg_bpe_vocab_size(b) - 1);
    bool ok;
    if (id < TG_N_SPECIAL) {
        ok = tg_ds_str_append(out, special_names[id], strlen(special_names[id]));
    } else if (id < TG_BPE_FIRST_CHAR) {
        char e[8];
        snprintf(e, sizeof e, "<0x%02X>", (unsigned)(id - TG_BPE_FIRST_BYTE));
        ok = tg_ds_str_append(out, e, 6);
    } else {
        ok = tg_bpe_escape(tg_bpe_piece_bytes(b, id), tg_bpe_piece_len(b, id), out);
    }
    return ok ? TG_OK : tg_err_set(err, TG_ERR_NOMEM, "out of memory");
}

int32_t tg_bpe_piece_id(const tg_bpe *b, const char *s, size_t n) {
    int sp = special_of(s, n);
    if (sp >= 0) return sp;
    int byte;
    if (is_byte_name(s, n, &byte)) return TG_BPE_FIRST_BYTE + byte;
    tg_str t = {0};
    bool oom;
    int32_t id = -1;
    if (tg_bpe_unescape(s, n, &t, &oom) && t.n > 0) {
        int64_t i = tg_ds_strtab_find(&b->pieces, t.s, t.n);
        if (i >= 0) id = tg_bpe_id_of_piece((size_t)i);
    }
    tg_str_free(&t);
    return id;
}

/* ---- the file format ---- */

tg_status tg_bpe_save_text(const tg_bpe *b, tg_str *out, tg_err *err) {
    out->n = 0;
    char line[128];
    snprintf(line, sizeof line, "%s %d\nspecials", TG_BPE_FORMAT_NAME, TG_BPE_FORMAT_VERSION);
    bool ok = tg_ds_str_append(out, line, strlen(line));
    for (int i = 0; i < TG_N_SPECIAL && ok; i++) {
        ok = tg_ds_str_append(out, " ", 1) && tg_ds_str_append(out, special_names[i], strlen(special_names[i]));
    }
    snprintf(line, sizeof line, "\nbytes 256\nchars %d\n", (int)b->n_chars);
    ok = ok && tg_ds_str_append(out, line, strlen(line));
    for (int32_t i = 0; i < b->n_chars && ok; i++) {
        int32_t id = TG_BPE_FIRST_CHAR + i;
        ok = tg_bpe_escape(tg_bpe_piece_bytes(b, id), tg_bpe_piece_len(b, id), out) &&
             tg_ds_str_append(out, "\n", 1);
    }
    snprintf(line, sizeof line, "merges %d\n", (int)b->n_merges);
    ok = ok && tg_ds_str_append(out, line, strlen(line));
    for (int32_t r = 0; r < b->n_merges && ok; r++) {
        int32_t l = b->merge_left[r], rt = b->merge_right[r];
        ok = tg_bpe_escape(tg_bpe_piece_bytes(b, l), tg_bpe_piece_len(b, l), out) &&
             tg_ds_str_append(out, " ", 1) &&
             tg_bpe_escape(tg_bpe_piece_bytes(b, rt), tg_bpe_piece_len(b, rt), out) &&
             tg_ds_str_append(out, "\n", 1);
    }
    return ok ? TG_OK : tg_err_set(err, TG_ERR_NOMEM, "out of memory writing the vocabulary");
}

tg_status tg_bpe_save(const tg_bpe *b, const char *path, tg_err *err) {
    tg_str t = {0};
    tg_status st = tg_bpe_save_text(b, &t, err);
    if (st != TG_OK) { tg_str_free(&t); return st; }
    FILE *f = fopen(path, "wb");
    if (!f) {
        st = tg_err_set(err, TG_ERR_IO, "cannot create %s: %s", TG_SHOWN(path), strerror(errno));
    } else {
        bool ok = fwrite(t.s, 1, t.n, f) == t.n;
        ok = (fclose(f) == 0) && ok;
        if (!ok)
            st = tg_err_set(err, TG_ERR_IO, "cannot write %s: %s", TG_SHOWN(path), strerror(errno));
    }
    tg_str_free(&t);
    return st;
}

typedef struct reader {
    const char *s, *name;
    size_t n, pos, line_no;
} reader;

/* The next line (tg_ds_line_next: the format escapes every control byte, so a piece never
 * ends in a raw '\r'). 0: a line; 1: end of text; 2: a last line without newline. */
static int next_line(reader *r, const char **line, size_t *len) {
    size_t at = r->pos;
    int k = tg_ds_line_next(r->s, r->n, &r->pos, len);
    if (k == 0) return 1;
    r->line_no++;
    *line = r->s + at;
    return k == 1 ? 0 : 2;
}

/* Reads the line that must come next; a missing line or newline is a truncated file. */
static tg_status expect_line(reader *r, const char **line, size_t *len, const char *what, tg_err *err) {
    int k = next_line(r, line, len);
    if (k == 1)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s:%zu: file ends where %s was expected (truncated?)",
                          r->name, r->line_no + 1, what);
    if (k == 2)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s:%zu: last line has no newline (truncated file?)",
                          r->name, r->line_no);
    return TG_OK;
}

/* "KEYWORD N" with 0 <= N <= max. */
static tg_status parse_count(reader *r, const char *line, size_t len, const char *key, long max,
                             long *out, tg_err *err) {
    size_t kl = strlen(key);
    char buf[32];
    if (len <= kl + 1 || len - kl - 1 >= sizeof buf || memcmp(line, key, kl) != 0 || line[kl] != ' ')
        return tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: expected '%s N'", r->name, r->line_no, key);
    memcpy(buf, line + kl + 1, len - kl - 1);
    buf[len - kl - 1] = '\0';
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno || *end || end == buf || v < 0 || v > max || buf[0] == '+' || buf[0] == ' ')
        return tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: expected '%s N' with N a count from 0 to %ld",
                          r->name, r->line_no, key, max);
    *out = v;
    return TG_OK;
}

/* The head of a line's n bytes (at most 80) as a message quotes it: escaped, so that a tab or an
 * ESC in a hand-edited file reaches no terminal raw. */
#define TEXT_SHOWN_MAX (4 * 80 + 1)
static const char *text_shown(char out[TEXT_SHOWN_MAX], const char *s, size_t n) {
    char head[81];
    snprintf(head, sizeof head, "%.*s", (int)(n < 80 ? n : 80), s);
    return tg_shown(out, TEXT_SHOWN_MAX, head);
}

/* The three fixed lines: format name and version, the specials, the 256 bytes. */
static tg_status load_preamble(reader *r, tg_err *err) {
    const char *line;
    size_t len;
    tg_status st;
    char expect[128], shown[TEXT_SHOWN_MAX];
    snprintf(expect, sizeof expect, "%s %d", TG_BPE_FORMAT_NAME, TG_BPE_FORMAT_VERSION);
    if ((st = expect_line(r, &line, &len, "the header line", err)) != TG_OK) return st;
    size_t nl = strlen(TG_BPE_FORMAT_NAME);
    if (len > nl + 1 && memcmp(line, TG_BPE_FORMAT_NAME " ", nl + 1) == 0 &&
        !(len == strlen(expect) && memcmp(line, expect, len) == 0))
        return tg_err_set(err, TG_ERR_VERSION, "%s:1: format '%s', this build reads '%s'", r->name,
                          text_shown(shown, line, len < 40 ? len : 40), expect);
    if (len != strlen(expect) || memcmp(line, expect, len) != 0)
        return tg_err_set(err, TG_ERR_FORMAT, "%s:1: not a tapegrad BPE vocabulary (expected '%s')",
                          r->name, expect);

    if ((st = expect_line(r, &line, &len, "the specials line", err)) != TG_OK) return st;
    const char *specials = "specials <pad> <s> </s> <unk>";
    if (len != strlen(specials) || memcmp(line, specials, len) != 0)
        return tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: expected '%s'", r->name, r->line_no, specials);
    if ((st = expect_line(r, &line, &len, "the bytes line", err)) != TG_OK) return st;
    if (len != 9 || memcmp(line, "bytes 256", 9) != 0)
        return tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: expected 'bytes 256'", r->name, r->line_no);
    return TG_OK;
}

/* 'chars N' and the N characters of the alphabet, one a line (escaped), into b. */
static tg_status load_chars(tg_bpe *b, reader *r, tg_err *err) {
    const char *line;
    size_t len;
    tg_status st;
    long n_chars;
    if ((st = expect_line(r, &line, &len, "'chars N'", err)) != TG_OK) return st;
    if ((st = parse_count(r, line, len, "chars", 2000000, &n_chars, err)) != TG_OK) return st;
    tg_str t = {0};
    for (long i = 0; i < n_chars; i++) {
        char what[64];
        snprintf(what, sizeof what, "character %ld of %ld", i + 1, n_chars);
        if ((st = expect_line(r, &line, &len, what, err)) != TG_OK) goto done;
        t.n = 0;
        bool oom;
        if (!tg_bpe_unescape(line, len, &t, &oom)) {
            st = oom ? tg_err_set(err, TG_ERR_NOMEM, "out of memory")
                     : tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: bad escape (expected \\xNN)", r->name, r->line_no);
            goto done;
        }
        uint32_t cp;
        bool one_char = t.n == 1 && t.s[0] == TG_BPE_MARKER;
        if (!one_char && t.n > 0 && tg_utf8_next(t.s, t.n, &cp) == (int)t.n &&
            tg_utf8_space_len(t.s, t.n) == 0)
            one_char = true;
        if (!one_char) {
            st = tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: expected one character (not whitespace) a line",
                            r->name, r->line_no);
            goto done;
        }
        bool dup;
        if (tg_bpe_add_char(b, t.s, t.n, &dup) < 0) {
            st = dup ? tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: character listed twice", r->name, r->line_no)
                     : tg_err_set(err, TG_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    if (tg_bpe_char_lookup(b, " ", 1) < 0) {
        st = tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: the alphabet lacks the word marker '\xE2\x96\x81'",
                        r->name, r->line_no);
        goto done;
    }
done:
    tg_str_free(&t);
    return st;
}

/* Merge m (0-based) of n: a line 'LEFT RIGHT' of two known pieces, not listed before, into b. */
static tg_status load_merge(tg_bpe *b, reader *r, long m, long n, tg_err *err) {
    const char *line;
    size_t len;
    int k = next_line(r, &line, &len);
    if (k == 1)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s:%zu: file ends after %ld of %ld merges (truncated?)", r->name,
                          r->line_no + 1, m, n);
    if (k == 2)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s:%zu: last line has no newline, after %ld of %ld merges (truncated?)",
                          r->name, r->line_no, m, n);
    const char *sp = memchr(line, ' ', len);
    if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - line)))
        return tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: expected a merge 'LEFT RIGHT' (two pieces, one space)",
                          r->name, r->line_no);
    const char *p[2] = {line, sp + 1};
    size_t w[2] = {(size_t)(sp - line), len - (size_t)(sp + 1 - line)};
    int32_t ids[2];
    for (int s = 0; s < 2; s++) {
        ids[s] = tg_bpe_piece_id(b, p[s], w[s]);
        char shown[TEXT_SHOWN_MAX];
        if (ids[s] < TG_BPE_FIRST_CHAR)
            return tg_err_set(err, TG_ERR_FORMAT,
                              "%s:%zu: '%s' is not a character or an earlier merge's piece",
                              r->name, r->line_no, text_shown(shown, p[s], w[s]));
    }
    if (tg_ds_u64map_get(&b->merge_rank, tg_bpe_pair_key(ids[0], ids[1])))
        return tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: merge listed twice", r->name, r->line_no);
    if (tg_bpe_add_merge(b, ids[0], ids[1]) < 0) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    return TG_OK;
}

/* 'merges N' and the N merges into b; then the end of the text. */
static tg_status load_merges(tg_bpe *b, reader *r, tg_err *err) {
    const char *line;
    size_t len;
    long n_merges;
    tg_status st = expect_line(r, &line, &len, "'merges N'", err);
    if (st == TG_OK) st = parse_count(r, line, len, "merges", 10000000, &n_merges, err);
    for (long m = 0; st == TG_OK && m < n_merges; m++) st = load_merge(b, r, m, n_merges, err);
    if (st == TG_OK && next_line(r, &line, &len) != 1)
        st = tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: unexpected line after the last of %ld merges",
                        r->name, r->line_no, n_merges);
    return st;
}

static tg_status load_body(tg_bpe *b, reader *r, tg_err *err) {
    tg_status st = load_preamble(r, err);
    if (st == TG_OK) st = load_chars(b, r, err);
    if (st == TG_OK) st = load_merges(b, r, err);
    return st;
}

tg_status tg_bpe_load_text(tg_bpe **out, const char *text, size_t len, const char *name, tg_err *err) {
    *out = NULL;
    tg_bpe *b = tg_bpe_new_empty();
    if (!b) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    char shown[TG_SHOWN_MAX];   /* the name escaped: its messages stay on one line */
    reader r = {text, tg_shown_tail(shown, sizeof shown, name), len, 0, 0};
    tg_status st = load_body(b, &r, err);
    if (st != TG_OK) { tg_bpe_free(b); return st; }
    *out = b;
    return TG_OK;
}

tg_status tg_bpe_load(tg_bpe **out, const char *path, tg_err *err) {
    *out = NULL;
    char *text;
    size_t n;
    tg_status st = tg_file_read(path, TG_BPE_MAX_FILE_BYTES, &text, &n, err);
    if (st != TG_OK) return st;
    st = tg_bpe_load_text(out, text, n, path, err);
    free(text);
    return st;
}
