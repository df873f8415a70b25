/* ckpt_file.c: the checkpoint container: the writer (collect sections, deflate them in chunks
 * into a temporary beside the target through atomic_file.h, fsync, rename) and the reader
 * (validate everything, then hand out bytes).
 * The format is described in ckpt_file.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "datasets/shown.h"
#include "train/ckpt/atomic_file.h"
#include "train/ckpt/ckpt_file.h"
#include "train/ckpt/ckpt_le.h"

/* Input and output chunk of the streaming deflate/inflate: big enough that zlib's per-call cost
 * vanishes, small enough that a 200 MB section needs no second copy. */
#define CHUNK ((size_t)256 * 1024)
/* Deflate never expands by more than this ratio the other way round: 258 bytes of output per
 * ~2 bits of input at best. A directory claiming more is refused before anything is allocated. */
#define MAX_INFLATE_RATIO 1032u

/* zlib's length arguments are uInt; everything is fed in pieces no bigger than CHUNK anyway. */
static uint32_t crc_update(uint32_t crc, const unsigned char *p, size_t n) {
    while (n > 0) {
        uInt k = n > CHUNK ? (uInt)CHUNK : (uInt)n;
        crc = (uint32_t)crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
}

static bool name_char_ok(unsigned char c) { return c > 0x20 && c < 0x7f; }

/* 1..31 printable ASCII characters without spaces: names end up in messages and listings. */
static bool name_ok(const char *name) {
    if (!name || !name[0]) return false;
    size_t n = 0;
    for (; name[n]; n++)
        if (n >= TG_CKPT_NAME_MAX - 1 || !name_char_ok((unsigned char)name[n])) return false;
    return true;
}

/* ---- writer ------------------------------------------------------------------------------- */

typedef struct piece {
    const unsigned char *p;
    size_t len;
    unsigned char *owned;   /* freed with the writer; NULL for borrowed bytes */
} piece;

typedef struct wsection {
    char name[TG_CKPT_NAME_MAX];
    size_t first, count;    /* its pieces: pieces[first .. first+count) */
} wsection;

struct tg_ckpt_writer {
    int level;
    wsection *secs;
    size_t n_secs, cap_secs;
    piece *pieces;
    size_t n_pieces, cap_pieces;
};

tg_ckpt_writer *tg_ckpt_writer_new(void) {
    tg_ckpt_writer *w = calloc(1, sizeof *w);
    if (w) w->level = TG_CKPT_Z_FAST;
    return w;
}

void tg_ckpt_writer_free(tg_ckpt_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_pieces; i++) free(w->pieces[i].owned);
    free(w->pieces);
    free(w->secs);
    free(w);
}

tg_status tg_ckpt_writer_set_level(tg_ckpt_writer *w, int level, tg_err *err) {
    if (level < TG_CKPT_Z_FAST || level > 9)
        return tg_err_set(err, TG_ERR_ARG, "checkpoint: compression level %d is not TG_CKPT_Z_FAST or 0..9", level);
    w->level = level;
    return TG_OK;
}

tg_status tg_ckpt_writer_begin(tg_ckpt_writer *w, const char *name, tg_err *err) {
    if (!name_ok(name))
        return tg_err_set(err, TG_ERR_ARG,
                          "checkpoint: section name '%.40s' is not 1..%d printable ASCII characters without spaces",
                          name ? name : "(null)", TG_CKPT_NAME_MAX - 1);
    for (size_t i = 0; i < w->n_secs; i++)
        if (!strcmp(w->secs[i].name, name))
            return tg_err_set(err, TG_ERR_ARG, "checkpoint: section '%s' added twice", name);
    if (w->n_secs >= TG_CKPT_MAX_SECTIONS)
        return tg_err_set(err, TG_ERR_ARG, "checkpoint: more than %u sections", TG_CKPT_MAX_SECTIONS);
    if (w->n_secs == w->cap_secs) {
        size_t cap = w->cap_secs ? 2 * w->cap_secs : 8;
        wsection *s = realloc(w->secs, cap * sizeof *s);
        if (!s) return tg_err_set(err, TG_ERR_NOMEM, "checkpoint: out of memory adding section '%s'", name);
        w->secs = s;
        w->cap_secs = cap;
    }
    wsection *s = &w->secs[w->n_secs++];
    memset(s->name, 0, sizeof s->name);
    memcpy(s->name, name, strlen(name));
    s->first = w->n_pieces;
    s->count = 0;
    return TG_OK;
}

static tg_status add_piece(tg_ckpt_writer *w, const void *data, size_t len, unsigned char *owned, tg_err *err) {
    if (w->n_secs == 0) {
        free(owned);
        return tg_err_set(err, TG_ERR_STATE, "checkpoint: bytes appended before any section was begun");
    }
    if (len > 0 && !data) {
        free(owned);
        return tg_err_set(err, TG_ERR_ARG, "checkpoint: section '%s': NULL data of length %zu",
                          w->secs[w->n_secs - 1].name, len);
    }
    if (w->n_pieces == w->cap_pieces) {
        size_t cap = w->cap_pieces ? 2 * w->cap_pieces : 16;
        piece *p = realloc(w->pieces, cap * sizeof *p);
        if (!p) {
            free(owned);
            return tg_err_set(err, TG_ERR_NOMEM, "checkpoint: out of memory");
        }
        w->pieces = p;
        w->cap_pieces = cap;
    }
    w->pieces[w->n_pieces++] = (piece){.p = data, .len = len, .owned = owned};
    w->secs[w->n_secs - 1].count++;
    return TG_OK;
}

tg_status tg_ckpt_writer_append_ref(tg_ckpt_writer *w, const void *data, size_t len, tg_err *err) {
    return add_piece(w, data, len, NULL, err);
}

tg_status tg_ckpt_writer_append(tg_ckpt_writer *w, const void *data, size_t len, tg_err *err) {
    if (len == 0) return add_piece(w, NULL, 0, NULL, err);
    if (!data) return add_piece(w, NULL, len, NULL, err);   /* reports the NULL */
    unsigned char *copy = malloc(len);
    if (!copy) return tg_err_set(err, TG_ERR_NOMEM, "checkpoint: out of memory copying %zu bytes", len);
    memcpy(copy, data, len);
    return add_piece(w, copy, len, copy, err);
}

tg_status tg_ckpt_writer_append_buf(tg_ckpt_writer *w, tg_ckpt_buf *b, tg_err *err) {
    tg_status st = tg_ckpt_buf_status(b, err);
    if (st != TG_OK) {
        tg_ckpt_buf_free(b);
        return st;
    }
    unsigned char *d = b->data;
    size_t n = b->len;
    tg_ckpt_buf_init(b);   /* the writer owns the bytes now, whatever add_piece says */
    return add_piece(w, d, n, d, err);
}

tg_status tg_ckpt_writer_sink(void *w, const void *bytes, size_t len, tg_err *err) {
    return len < TG_CKPT_SINK_COPY_MAX ? tg_ckpt_writer_append(w, bytes, len, err)
                                       : tg_ckpt_writer_append_ref(w, bytes, len, err);
}

tg_status tg_ckpt_writer_add(tg_ckpt_writer *w, const char *name, const void *data, size_t len, tg_err *err) {
    tg_status st = tg_ckpt_writer_begin(w, name, err);
    return st != TG_OK ? st : tg_ckpt_writer_append(w, data, len, err);
}

tg_status tg_ckpt_writer_add_ref(tg_ckpt_writer *w, const char *name, const void *data, size_t len, tg_err *err) {
    tg_status st = tg_ckpt_writer_begin(w, name, err);
    return st != TG_OK ? st : tg_ckpt_writer_append_ref(w, data, len, err);
}

tg_status tg_ckpt_writer_add_buf(tg_ckpt_writer *w, const char *name, tg_ckpt_buf *b, tg_err *err) {
    tg_status st = tg_ckpt_writer_begin(w, name, err);
    return st != TG_OK ? st : tg_ckpt_writer_append_buf(w, b, err);
}

/* State of one save, so the section streamer can report failures in one place. */
typedef struct saver {
    const char *path;       /* as the messages show it (tg_shown_tail) */
    tg_afile file;
    z_stream z;
    unsigned char *out;     /* CHUNK bytes of deflate output */
    uint64_t offset;        /* next write position in the file */
    tg_err *err;
} saver;

/* Writes the deflate output that has accumulated in s->out. */
static tg_status flush_out(saver *s, uint64_t *zlen, uint32_t *zcrc) {
    size_t n = CHUNK - s->z.avail_out;
    if (n == 0) return TG_OK;
    tg_status st = tg_afile_write(&s->file, s->out, n, s->err);
    if (st != TG_OK) return st;
    *zcrc = crc_update(*zcrc, s->out, n);
    *zlen += n;
    s->z.next_out = s->out;
    s->z.avail_out = (uInt)CHUNK;
    return TG_OK;
}

/* Deflates one section's pieces into the file at s->offset and fills its directory entry. */
static tg_status stream_section(saver *s, const tg_ckpt_writer *w, const wsection *sec, tg_ckpt_section *ent) {
    int zst = w->level == TG_CKPT_Z_FAST ? deflateInit2(&s->z, 1, Z_DEFLATED, 15, 8, Z_RLE)
                                         : deflateInit(&s->z, w->level);
    if (zst != Z_OK)
        return tg_err_set(s->err, zst == Z_MEM_ERROR ? TG_ERR_NOMEM : TG_ERR_ARG, "%s: zlib deflateInit failed (%d)",
                          s->path, zst);
    uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0), zcrc = crc;
    uint64_t len = 0, zlen = 0;
    tg_status st = TG_OK;
    s->z.next_out = s->out;
    s->z.avail_out = (uInt)CHUNK;
    for (size_t i = 0; i < sec->count && st == TG_OK; i++) {
        const piece *pc = &w->pieces[sec->first + i];
        for (size_t done = 0; done < pc->len && st == TG_OK;) {
            size_t k = pc->len - done > CHUNK ? CHUNK : pc->len - done;
            crc = crc_update(crc, pc->p + done, k);
            s->z.next_in = (Bytef *)(uintptr_t)(pc->p + done);   /* zlib does not write input */
            s->z.avail_in = (uInt)k;
            while (s->z.avail_in > 0 && st == TG_OK) {
                deflate(&s->z, Z_NO_FLUSH);   /* cannot fail with input and output space */
                if (s->z.avail_out == 0) st = flush_out(s, &zlen, &zcrc);
            }
            done += k;
            len += k;
        }
    }
    while (st == TG_OK) {
        zst = deflate(&s->z, Z_FINISH);
        if (zst != Z_OK && zst != Z_STREAM_END && zst != Z_BUF_ERROR) {
            st = tg_err_set(s->err, TG_ERR_IO, "%s: zlib deflate failed (%d)", s->path, zst);
            break;
        }
        st = flush_out(s, &zlen, &zcrc);
        if (zst == Z_STREAM_END) break;
    }
    deflateEnd(&s->z);
    if (st != TG_OK) return st;
    memcpy(ent->name, sec->name, TG_CKPT_NAME_MAX);
    ent->offset = s->offset;
    ent->zlen = zlen;
    ent->len = len;
    ent->crc = crc;
    ent->zcrc = zcrc;
    s->offset += zlen;
    return TG_OK;
}

static void encode_header(unsigned char *h, const tg_ckpt_section *ents, uint32_t n) {
    uint32_t hlen = TG_CKPT_HEADER_BYTES + TG_CKPT_DIRENT_BYTES * n;
    memset(h, 0, hlen);
    memcpy(h, TG_CKPT_MAGIC, 8);
    tg_le_put32(h + 8, TG_CKPT_VERSION);
    tg_le_put32(h + 16, hlen);
    tg_le_put32(h + 20, 0);   /* flags */
    tg_le_put32(h + 24, n);
    for (uint32_t i = 0; i < n; i++) {
        unsigned char *e = h + TG_CKPT_HEADER_BYTES + TG_CKPT_DIRENT_BYTES * i;
        memcpy(e, ents[i].name, TG_CKPT_NAME_MAX);
        tg_le_put64(e + 32, ents[i].offset);
        tg_le_put64(e + 40, ents[i].zlen);
        tg_le_put64(e + 48, ents[i].len);
        tg_le_put32(e + 56, ents[i].crc);
        tg_le_put32(e + 60, ents[i].zcrc);
    }
    uint32_t crc = crc_update((uint32_t)crc32(0L, Z_NULL, 0), h, 12);
    tg_le_put32(h + 12, crc_update(crc, h + 16, hlen - 16));
}

tg_status tg_ckpt_writer_save(const tg_ckpt_writer *w, const char *path, tg_err *err) {
    return tg_ckpt_writer_save_like(w, path, NULL, err);
}

tg_status tg_ckpt_writer_save_like(const tg_ckpt_writer *w, const char *path, const char *like, tg_err *err) {
    if (!path || !path[0]) return tg_err_set(err, TG_ERR_ARG, "checkpoint: empty path");
    uint32_t n = (uint32_t)w->n_secs;
    size_t hlen = TG_CKPT_HEADER_BYTES + (size_t)TG_CKPT_DIRENT_BYTES * n;
    tg_ckpt_section *ents = calloc(n ? n : 1, sizeof *ents);
    unsigned char *out = malloc(CHUNK);
    unsigned char *head = malloc(hlen);
    char shown[TG_SHOWN_MAX];
    saver s = {.path = tg_shown_tail(shown, sizeof shown, path), .out = out, .offset = hlen,
               .err = err};
    tg_status st = TG_OK;
    if (!ents || !out || !head) {
        st = tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory preparing the checkpoint", s.path);
        goto done;
    }
    if (tg_afile_is_special(path)) {   /* the header is written last, at offset 0: a device cannot take that */
        st = tg_err_set(err, TG_ERR_ARG, "%s: not a regular file; a checkpoint goes to a file",
                        s.path);
        goto done;
    }
    st = tg_afile_open_like(&s.file, path, like, err);
    if (st != TG_OK) goto done;
    /* The header goes in last, once the compressed sizes are known; its bytes are a hole until then. */
    st = tg_afile_seek(&s.file, (off_t)hlen, err);
    for (uint32_t i = 0; i < n && st == TG_OK; i++) st = stream_section(&s, w, &w->secs[i], &ents[i]);
    if (st == TG_OK) {
        encode_header(head, ents, n);
        st = tg_afile_pwrite(&s.file, head, hlen, 0, err);
    }
    if (st == TG_OK) st = tg_afile_commit(&s.file, err);
    else tg_afile_abort(&s.file);
done:
    free(head);
    free(out);
    free(ents);
    return st;
}

/* ---- reader ------------------------------------------------------------------------------- */

struct tg_ckpt_reader {
    char *path;
    char shown[TG_SHOWN_MAX];   /* path as its messages show it: a line break or ESC escaped */
    uint32_t version;
    uint64_t size;
    uint32_t n;
    tg_ckpt_section *secs;
    unsigned char **data;   /* NULL when opened by tg_ckpt_reader_verify */
};

void tg_ckpt_reader_free(tg_ckpt_reader *r) {
    if (!r) return;
    if (r->data)
        for (uint32_t i = 0; i < r->n; i++) free(r->data[i]);
    free(r->data);
    free(r->secs);
    free(r->path);
    free(r);
}

/* Reads exactly n bytes; a short read means the file changed under us or the device failed. */
static tg_status read_exact(FILE *f, unsigned char *p, size_t n, const char *path, uint64_t at, tg_err *err) {
    if (fread(p, 1, n, f) == n) return TG_OK;
    if (ferror(f))
        return tg_err_set(err, TG_ERR_IO, "%s: read failed at offset %llu: %s", path, (unsigned long long)at,
                          strerror(errno));
    return tg_err_set(err, TG_ERR_CORRUPT, "%s: truncated: file ended at offset %llu while reading (did it change?)",
                      path, (unsigned long long)at);
}

/* The fields of the fixed header (TG_CKPT_HEADER_BYTES). */
typedef struct ckpt_fixed {
    uint32_t version, hcrc, hlen, flags, n, reserved;
} ckpt_fixed;

/* The header length, checked before it is trusted for a read. */
static tg_status check_hlen(const ckpt_fixed *h, const char *path, unsigned long long size, tg_err *err) {
    if (h->version == TG_CKPT_VERSION) {
        /* It must agree with n, so one flipped bit in either reads as corruption, not as a
         * truncated file. */
        if (h->n > TG_CKPT_MAX_SECTIONS || h->hlen != TG_CKPT_HEADER_BYTES + TG_CKPT_DIRENT_BYTES * h->n)
            return tg_err_set(err, TG_ERR_CORRUPT, "%s: header corrupted (header length %u does not fit %u sections)",
                              path, h->hlen, h->n);
        if (h->hlen > size)
            return tg_err_set(err, TG_ERR_CORRUPT,
                              "%s: truncated: section directory needs %u bytes, file ends at %llu", path, h->hlen, size);
    } else if (h->hlen < TG_CKPT_HEADER_BYTES || h->hlen > size || h->hlen > TG_CKPT_MAX_HEADER_BYTES) {
        return tg_err_set(err, TG_ERR_CORRUPT,
                          "%s: header corrupted or truncated (format version %u, header length %u, file ends at %llu)",
                          path, h->version, h->hlen, size);
    }
    return TG_OK;
}

/* After the header CRC matched: a version and flags this build reads. */
static tg_status check_version(const ckpt_fixed *h, const char *path, tg_err *err) {
    if (h->version > TG_CKPT_VERSION)
        return tg_err_set(err, TG_ERR_VERSION, "%s: format version %u is newer than this build reads (%u)", path,
                          h->version, TG_CKPT_VERSION);
    if (h->version != TG_CKPT_VERSION)
        return tg_err_set(err, TG_ERR_FORMAT, "%s: format version %u is not a valid tapegrad version", path,
                          h->version);
    if (h->flags != 0 || h->reserved != 0)
        return tg_err_set(err, TG_ERR_VERSION,
                          "%s: header uses flags 0x%x / reserved 0x%x that this build does not know (format version %u)",
                          path, h->flags, h->reserved, h->version);
    return TG_OK;
}

/* Directory entry i (e, TG_CKPT_DIRENT_BYTES) into r->secs[i], checked: a valid name not seen
 * before, starting at *expect (sections lie back to back), inside the file, with a plausible
 * inflated size. *expect moves to where the next section must start. */
static tg_status read_dirent(tg_ckpt_reader *r, const unsigned char *e, uint32_t i, uint64_t *expect, tg_err *err) {
    const char *path = r->shown;
    unsigned long long size = r->size;
    tg_ckpt_section *s = &r->secs[i];
    size_t nl = 0;
    while (nl < TG_CKPT_NAME_MAX && e[nl]) nl++;
    bool ok = nl > 0 && nl < TG_CKPT_NAME_MAX;
    for (size_t k = 0; k < TG_CKPT_NAME_MAX && ok; k++) ok = k < nl ? name_char_ok(e[k]) : e[k] == 0;
    for (uint32_t j = 0; j < i && ok; j++) ok = strcmp(r->secs[j].name, (const char *)e) != 0;
    if (!ok) return tg_err_set(err, TG_ERR_CORRUPT, "%s: section %u has an invalid or repeated name (corrupted)", path, i);
    memcpy(s->name, e, TG_CKPT_NAME_MAX);
    s->offset = tg_le_get64(e + 32);
    s->zlen = tg_le_get64(e + 40);
    s->len = tg_le_get64(e + 48);
    s->crc = tg_le_get32(e + 56);
    s->zcrc = tg_le_get32(e + 60);
    if (s->offset != *expect)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section '%s' starts at %llu, expected %llu (corrupted)", path,
                          s->name, (unsigned long long)s->offset, (unsigned long long)*expect);
    if (s->zlen > size - s->offset)
        return tg_err_set(err, TG_ERR_CORRUPT,
                          "%s: truncated: section '%s' needs %llu bytes (offset %llu to %llu), file ends at %llu",
                          path, s->name, (unsigned long long)s->zlen, (unsigned long long)s->offset,
                          (unsigned long long)(s->offset + s->zlen), size);
    if (s->len / MAX_INFLATE_RATIO > s->zlen)
        return tg_err_set(err, TG_ERR_CORRUPT,
                          "%s: section '%s' claims %llu bytes from %llu compressed, more than zlib can give (corrupted)",
                          path, s->name, (unsigned long long)s->len, (unsigned long long)s->zlen);
    *expect = s->offset + s->zlen;
    return TG_OK;
}

/* Magic, header, directory: everything up to the first section, checked; fills r. */
static tg_status read_header(FILE *f, tg_ckpt_reader *r, tg_err *err) {
    const char *path = r->shown;
    unsigned long long size = r->size;
    unsigned char fixed[TG_CKPT_HEADER_BYTES];
    size_t first = size < TG_CKPT_HEADER_BYTES ? (size_t)size : TG_CKPT_HEADER_BYTES;
    tg_status st = read_exact(f, fixed, first, path, 0, err);
    if (st != TG_OK) return st;
    if (memcmp(fixed, TG_CKPT_MAGIC, first < 8 ? first : 8) != 0)
        return tg_err_set(err, TG_ERR_FORMAT, "%s: not a tapegrad checkpoint (bad magic)", path);
    if (size < TG_CKPT_HEADER_BYTES)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: truncated: header needs %u bytes, file ends at %llu", path,
                          TG_CKPT_HEADER_BYTES, size);
    ckpt_fixed h = {tg_le_get32(fixed + 8),  tg_le_get32(fixed + 12), tg_le_get32(fixed + 16),
                    tg_le_get32(fixed + 20), tg_le_get32(fixed + 24), tg_le_get32(fixed + 28)};
    if ((st = check_hlen(&h, path, size, err)) != TG_OK) return st;
    unsigned char *head = malloc(h.hlen);
    if (!head) return tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory for a %u-byte header", path, h.hlen);
    memcpy(head, fixed, TG_CKPT_HEADER_BYTES);
    st = read_exact(f, head + TG_CKPT_HEADER_BYTES, h.hlen - TG_CKPT_HEADER_BYTES, path, TG_CKPT_HEADER_BYTES, err);
    if (st != TG_OK) goto out;
    uint32_t crc = crc_update((uint32_t)crc32(0L, Z_NULL, 0), head, 12);
    if (crc_update(crc, head + 16, h.hlen - 16) != h.hcrc) {
        st = tg_err_set(err, TG_ERR_CORRUPT, "%s: header CRC32 mismatch (corrupted)", path);
        goto out;
    }
    if ((st = check_version(&h, path, err)) != TG_OK) goto out;
    r->version = h.version;
    r->n = h.n;
    r->secs = calloc(h.n ? h.n : 1, sizeof *r->secs);
    if (!r->secs) {
        st = tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory for %u sections", path, h.n);
        goto out;
    }
    uint64_t expect = h.hlen;   /* the first section right after the directory */
    for (uint32_t i = 0; st == TG_OK && i < h.n; i++)
        st = read_dirent(r, head + TG_CKPT_HEADER_BYTES + TG_CKPT_DIRENT_BYTES * i, i, &expect, err);
    if (st == TG_OK && expect != size)
        st = tg_err_set(err, TG_ERR_CORRUPT, "%s: %llu unexpected bytes after the last section (corrupted)", path,
                        size - (unsigned long long)expect);
out:
    free(head);
    return st;
}

int tg_ckpt_file_magic(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return TG_CKPT_FILE_NONE;
    /* the name may have changed since: a link is not followed, a FIFO not waited on */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ELOOP || errno == ENOENT || errno == ENOTDIR ? TG_CKPT_FILE_NONE
                                                                     : TG_CKPT_FILE_UNREADABLE;
    char magic[8];
    ssize_t got = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, magic, sizeof magic) : -2;
    int why = errno;
    close(fd);
    errno = why;   /* for the caller's message when unreadable */
    if (got == -2) return TG_CKPT_FILE_NONE;
    if (got < 0) return TG_CKPT_FILE_UNREADABLE;
    return got == (ssize_t)sizeof magic && !memcmp(magic, TG_CKPT_MAGIC, sizeof magic)
               ? TG_CKPT_FILE_CKPT : TG_CKPT_FILE_OTHER;
}

/* Inflates section s (the file positioned at its first byte) and checks sizes and CRCs. With
 * dst, the bytes land there (s->len of room); without, they pass through scratch and are dropped.
 * The compressed bytes are always read to the end, so a corrupted stream is reported by its CRC
 * rather than by whatever zlib trips over first. */
static tg_status inflate_section(FILE *f, const char *path, const tg_ckpt_section *s, unsigned char *dst,
                                 unsigned char *in, unsigned char *scratch, tg_err *err) {
    z_stream z;
    memset(&z, 0, sizeof z);
    int zinit = inflateInit(&z);
    if (zinit != Z_OK) return tg_err_set(err, TG_ERR_NOMEM, "%s: zlib inflateInit failed (%d)", path, zinit);
    uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0), zcrc = crc;
    uint64_t zleft = s->zlen, produced = 0;
    bool ended = false, overflow = false, trailing = false;
    const char *zerr = NULL;
    tg_status st = TG_OK;
    for (;;) {
        if (z.avail_in == 0 && zleft > 0) {
            size_t k = zleft > CHUNK ? CHUNK : (size_t)zleft;
            st = read_exact(f, in, k, path, s->offset + (s->zlen - zleft), err);
            if (st != TG_OK) break;
            zcrc = crc_update(zcrc, in, k);
            zleft -= k;
            z.next_in = in;
            z.avail_in = (uInt)k;
        }
        if (zerr || overflow || trailing) {   /* drain the rest, for its CRC */
            z.avail_in = 0;
            if (zleft == 0) break;
            continue;
        }
        if (ended) {
            if (z.avail_in == 0) break;
            trailing = true;
            continue;
        }
        unsigned char *to = scratch;   /* also where a stream running past s->len is caught */
        size_t room = CHUNK;
        if (dst && produced < s->len) {
            to = dst + produced;
            room = s->len - produced > CHUNK ? CHUNK : (size_t)(s->len - produced);
        }
        z.next_out = to;
        z.avail_out = (uInt)room;
        int zst = inflate(&z, Z_NO_FLUSH);
        size_t got = room - z.avail_out;
        if (produced + got > s->len) overflow = true;
        else crc = crc_update(crc, to, got);
        produced += got;
        if (zst == Z_STREAM_END) ended = true;
        else if (zst == Z_BUF_ERROR) {   /* no progress possible: out of input */
            if (z.avail_in == 0 && zleft == 0) break;
        } else if (zst == Z_NEED_DICT) zerr = "needs a preset dictionary";
        else if (zst != Z_OK) zerr = z.msg ? z.msg : "inflate failed";
    }
    inflateEnd(&z);
    if (st != TG_OK) return st;
    const char *nm = s->name;
    if (zcrc != s->zcrc) return tg_err_set(err, TG_ERR_CORRUPT, "%s: section '%s': CRC32 mismatch (corrupted)", path, nm);
    if (zerr)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section '%s': invalid compressed data, zlib: %s (corrupted)", path,
                          nm, zerr);
    if (overflow)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section '%s' inflates to more than the %llu bytes recorded (corrupted)",
                          path, nm, (unsigned long long)s->len);
    if (trailing)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section '%s' has bytes after its compressed stream (corrupted)",
                          path, nm);
    if (!ended || produced != s->len)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section '%s' inflates to %llu bytes, %llu recorded (corrupted)", path,
                          nm, (unsigned long long)produced, (unsigned long long)s->len);
    if (crc != s->crc) return tg_err_set(err, TG_ERR_CORRUPT, "%s: section '%s': CRC32 mismatch (corrupted)", path, nm);
    return TG_OK;
}

/* keep: the sections' bytes are kept for tg_ckpt_reader_get; only (with keep): that section alone
 * is read (the others' bytes are neither read nor checked). */
static tg_status load(const char *file, bool keep, const char *only, tg_ckpt_reader **out,
                      tg_err *err) {
    *out = NULL;
    if (!file) return tg_err_set(err, TG_ERR_ARG, "checkpoint: no path given");
    if (!*file)   /* (was ": cannot open") */
        return tg_err_set(err, TG_ERR_ARG, "'': an empty path, not a checkpoint file");
    char shown[TG_SHOWN_MAX];
    const char *path = tg_shown_tail(shown, sizeof shown, file);   /* in the messages */
    /* never waiting on a FIFO without a writer (see tg_afile_fopen_regular) */
    FILE *f = tg_afile_fopen_regular(file, false);
    if (!f && errno == EINVAL)
        return tg_err_set(err, TG_ERR_FORMAT, "%s: not a regular file, not a tapegrad checkpoint", path);
    if (!f) return tg_err_set(err, TG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        tg_status e = tg_err_set(err, TG_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        fclose(f);
        return e;
    }
    tg_status st = TG_OK;
    tg_ckpt_reader *r = NULL;
    unsigned char *in = NULL, *scratch = NULL;
    if (sb.st_size == 0) {
        st = tg_err_set(err, TG_ERR_FORMAT, "%s: empty file, not a tapegrad checkpoint", path);
        goto out;
    }
    r = calloc(1, sizeof *r);
    if (r) {
        r->path = strdup(file);
        memcpy(r->shown, shown, sizeof shown);
    }
    in = malloc(CHUNK);
    scratch = malloc(CHUNK);
    if (!r || !r->path || !in || !scratch) {
        st = tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    r->size = (uint64_t)sb.st_size;
    st = read_header(f, r, err);
    if (st != TG_OK) goto out;
    if (keep) {
        r->data = calloc(r->n ? r->n : 1, sizeof *r->data);
        if (!r->data) {
            st = tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
    }
    for (uint32_t i = 0; i < r->n && st == TG_OK; i++) {
        const tg_ckpt_section *s = &r->secs[i];
        unsigned char *dst = NULL;
        if (only && strcmp(s->name, only) != 0) continue;
        if (only && fseeko(f, (off_t)s->offset, SEEK_SET) != 0) {
            st = tg_err_set(err, TG_ERR_IO, "%s: cannot seek to section '%s': %s", path, s->name,
                            strerror(errno));
            break;
        }
        if (keep) {
            if (s->len > SIZE_MAX - 1 || !(dst = r->data[i] = malloc(s->len ? (size_t)s->len : 1))) {
                st = tg_err_set(err, TG_ERR_NOMEM, "%s: section '%s': out of memory for %llu bytes", path, s->name,
                                (unsigned long long)s->len);
                break;
            }
        }
        st = inflate_section(f, path, s, dst, in, scratch, err);
    }
out:
    free(in);
    free(scratch);
    fclose(f);
    if (st != TG_OK) tg_ckpt_reader_free(r);
    else *out = r;
    return st;
}

tg_status tg_ckpt_reader_open(const char *path, tg_ckpt_reader **out, tg_err *err) {
    return load(path, true, NULL, out, err);
}

tg_status tg_ckpt_reader_open_one(const char *path, const char *name, tg_ckpt_reader **out,
                                  tg_err *err) {
    if (!name) {
        *out = NULL;
        return tg_err_set(err, TG_ERR_ARG, "%s: no section named to read", path ? path : "(null)");
    }
    return load(path, true, name, out, err);
}

tg_status tg_ckpt_reader_verify(const char *path, tg_ckpt_reader **out, tg_err *err) {
    return load(path, false, NULL, out, err);
}

const char *tg_ckpt_reader_path(const tg_ckpt_reader *r) { return r->path; }
const char *tg_ckpt_reader_shown(const tg_ckpt_reader *r) { return r->shown; }
uint32_t tg_ckpt_reader_version(const tg_ckpt_reader *r) { return r->version; }
uint64_t tg_ckpt_reader_file_size(const tg_ckpt_reader *r) { return r->size; }
int tg_ckpt_reader_count(const tg_ckpt_reader *r) { return (int)r->n; }

const tg_ckpt_section *tg_ckpt_reader_section(const tg_ckpt_reader *r, int i) {
    return i >= 0 && (uint32_t)i < r->n ? &r->secs[i] : NULL;
}

static int find_index(const tg_ckpt_reader *r, const char *name) {
    for (uint32_t i = 0; name && i < r->n; i++)
        if (!strcmp(r->secs[i].name, name)) return (int)i;
    return -1;
}

const tg_ckpt_section *tg_ckpt_reader_find(const tg_ckpt_reader *r, const char *name) {
    int i = find_index(r, name);
    return i < 0 ? NULL : &r->secs[i];
}

tg_status tg_ckpt_reader_get(const tg_ckpt_reader *r, const char *name, const void **data, size_t *len, tg_err *err) {
    *data = NULL;
    *len = 0;
    int i = find_index(r, name);
    if (i < 0)
        return tg_err_set(err, TG_ERR_FORMAT, "%s: no section '%s' in this checkpoint", r->shown,
                          name ? name : "(null)");
    if (!r->data)
        return tg_err_set(err, TG_ERR_STATE, "%s: opened for verification only, section bytes were "
                          "not kept", r->shown);
    if (!r->data[i])
        return tg_err_set(err, TG_ERR_STATE, "%s: opened for another section alone, '%s' was not "
                          "read", r->shown, name);
    *data = r->data[i];
    *len = (size_t)r->secs[i].len;
    return TG_OK;
}
