/* ckpt_file.h: the checkpoint file container. One file holds named sections (config, vocab,
 * params, adam, state, ...), each zlib-compressed and checked by CRC32; what goes inside a section
 * is the caller's business (byte builder and bounds-checked cursor below). Saving is atomic:
 * a new temporary PATH.tmp.<pid>.<n> (atomic_file.h) is written, fsynced and renamed over PATH,
 * so a crash or a failed write leaves the previous PATH as it was. Opening validates the whole
 * file before anything is handed out.
 *
 *   tg_ckpt_writer *w = tg_ckpt_writer_new();
 *   tg_ckpt_buf b; tg_ckpt_buf_init(&b);
 *   tg_ckpt_buf_u64(&b, step); tg_ckpt_buf_f64(&b, best_bleu);
 *   tg_ckpt_writer_add_buf(w, "state", &b, &err);               // takes b's bytes, no copy
 *   tg_ckpt_writer_add_ref(w, "params", values, nbytes, &err);   // borrowed until save returns
 *   if (tg_ckpt_writer_save(w, "runs/x/last.ckpt", &err) != TG_OK) ... err.msg ...
 *   tg_ckpt_writer_free(w);
 *
 *   tg_ckpt_reader *r;
 *   if (tg_ckpt_reader_open("runs/x/last.ckpt", &r, &err) != TG_OK) ... refused: err.msg ...
 *   const void *p; size_t n;
 *   tg_ckpt_reader_get(r, "state", &p, &n, &err);
 *   tg_ckpt_cur c; tg_ckpt_cur_init(&c, p, n, "section 'state'");
 *   tg_ckpt_cur_u64(&c, &step); tg_ckpt_cur_f64(&c, &best_bleu);
 *   if (tg_ckpt_cur_finish(&c, &err) != TG_OK) ... short or overlong payload ...
 *   tg_ckpt_reader_free(r);                                      // frees every section's bytes
 *
 * File format, version 1 (all integers little-endian):
 *   offset  0  magic "TAPEGRAD" (8 bytes)
 *           8  u32 format version
 *          12  u32 CRC32 of bytes [0, header_len) except these 4
 *          16  u32 header_len = 32 + 64 * n_sections (header plus directory)
 *          20  u32 flags (none defined in version 1: must be 0)
 *          24  u32 n_sections
 *          28  u32 reserved, 0
 *          32  directory: n_sections entries of 64 bytes
 *                char name[32]   1..31 printable ASCII characters, no spaces, NUL-padded, unique
 *                u64  offset     where the compressed bytes start
 *                u64  zlen       compressed length
 *                u64  len        uncompressed length
 *                u32  crc        CRC32 of the uncompressed bytes
 *                u32  zcrc       CRC32 of the compressed bytes
 *   header_len  the sections' zlib streams, back to back in directory order; the file ends with the
 *               last one.
 * The first 20 bytes keep their meaning in every later version (and header_len stays at most
 * TG_CKPT_MAX_HEADER_BYTES), so a newer file is recognised, and its header CRC checked, before its
 * version is refused.
 *
 * Payload portability: the builder and cursor write and read little-endian. A float buffer added
 * with tg_ckpt_writer_add_ref is stored as its in-memory bytes, which are little-endian floats on
 * every machine tapegrad targets (x86-64, AArch64).
 */
#ifndef TG_CKPT_FILE_H
#define TG_CKPT_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TG_CKPT_MAGIC "TAPEGRAD"
#define TG_CKPT_VERSION 1u          /* the format version this build writes and reads */
#define TG_CKPT_NAME_MAX 32         /* bytes for a section name, NUL included */
#define TG_CKPT_MAX_SECTIONS 4096u
#define TG_CKPT_HEADER_BYTES 32u
#define TG_CKPT_DIRENT_BYTES 64u
#define TG_CKPT_MAX_HEADER_BYTES (16u << 20)

/* ---- writing ------------------------------------------------------------------------------ */

typedef struct tg_ckpt_writer tg_ckpt_writer;
typedef struct tg_ckpt_buf tg_ckpt_buf;

tg_ckpt_writer *tg_ckpt_writer_new(void);   /* NULL when out of memory */
void tg_ckpt_writer_free(tg_ckpt_writer *w);
/* How sections are deflated. TG_CKPT_Z_FAST, the default, is zlib's run-length strategy (Z_RLE:
 * Huffman codes plus repeats of the previous byte, no general match search). Parameter and moment
 * floats have almost no repeated strings to find, so it is ~3x faster than zlib level 1 and as
 * small (about 7% under raw), while runs of zeros still shrink ~1000:1. 0..9 are zlib's levels with
 * the usual match search, worth it only for files that are mostly text. Any of them reads back. */
#define TG_CKPT_Z_FAST (-1)
tg_status tg_ckpt_writer_set_level(tg_ckpt_writer *w, int level, tg_err *err);

/* A section is a name and the concatenation of its pieces. Names are 1..31 printable ASCII
 * characters without spaces, unique in a file. add = begin + one copied piece; add_ref = begin + one borrowed piece;
 * add_buf = begin + b's bytes, taken over without a copy (b is left empty and reusable).
 * Borrowed bytes must stay alive and unchanged until tg_ckpt_writer_save returns. */
tg_status tg_ckpt_writer_add(tg_ckpt_writer *w, const char *name, const void *data, size_t len,
                             tg_err *err);
tg_status tg_ckpt_writer_add_ref(tg_ckpt_writer *w, const char *name, const void *data, size_t len,
                                 tg_err *err);
tg_status tg_ckpt_writer_add_buf(tg_ckpt_writer *w, const char *name, tg_ckpt_buf *b, tg_err *err);
/* Starts a section built from several pieces, appended in order until the next begin or add. */
tg_status tg_ckpt_writer_begin(tg_ckpt_writer *w, const char *name, tg_err *err);
tg_status tg_ckpt_writer_append(tg_ckpt_writer *w, const void *data, size_t len, tg_err *err);
tg_status tg_ckpt_writer_append_ref(tg_ckpt_writer *w, const void *data, size_t len, tg_err *err);
tg_status tg_ckpt_writer_append_buf(tg_ckpt_writer *w, tg_ckpt_buf *b, tg_err *err);

/* Appends to the current section with the signature of optim's tg_byte_sink (optim/optim.h), so
 * state writers that emit their bytes in pieces fill a section directly:
 *   tg_ckpt_writer_begin(w, "adam", &err);
 *   tg_adam_state_write(opt, tg_ckpt_writer_sink, w, &err);   // header copied, m and v borrowed
 * Pieces under TG_CKPT_SINK_COPY_MAX bytes are copied (headers that state writers build on their
 * stack); larger ones are borrowed, so they must stay alive and unchanged until save returns. */
#define TG_CKPT_SINK_COPY_MAX ((size_t)64 * 1024)
tg_status tg_ckpt_writer_sink(void *w, const void *bytes, size_t len, tg_err *err);

/* Writes PATH.tmp.<pid>.<n> beside PATH (never through a symlink), fsyncs it, renames it over
 * PATH and fsyncs the folder. PATH must be a regular file or absent (the header goes in last).
 * Sections are deflated in chunks straight from their pieces (no second copy of a large section).
 * On failure the temporary file is removed and PATH is left as it was (the one exception is a
 * failed fsync of the folder after the rename, reported as such). The writer stays usable.
 * While the temporary stands, the calling thread holds SIGINT, SIGTERM, SIGHUP, SIGALRM, SIGUSR1,
 * SIGUSR2, SIGXCPU and SIGPIPE (blocked; one that comes is taken after the rename), so a stopped program leaves no
 * half-written file. A program with threads of its own should block those signals in them, as
 * tapegrad's do: the kernel hands a process's signal to any thread that has it unblocked. */
tg_status tg_ckpt_writer_save(const tg_ckpt_writer *w, const char *path, tg_err *err);
/* tg_ckpt_writer_save, a new PATH made with the bits of the file like (tg_afile_open_like). */
tg_status tg_ckpt_writer_save_like(const tg_ckpt_writer *w, const char *path, const char *like, tg_err *err);

/* ---- reading ------------------------------------------------------------------------------ */

typedef struct tg_ckpt_section {
    char name[TG_CKPT_NAME_MAX];
    uint64_t offset;   /* of the compressed bytes in the file */
    uint64_t zlen;     /* compressed length */
    uint64_t len;      /* uncompressed length */
    uint32_t crc;      /* CRC32 of the uncompressed bytes */
    uint32_t zcrc;     /* CRC32 of the compressed bytes */
} tg_ckpt_section;

typedef struct tg_ckpt_reader tg_ckpt_reader;

/* What tg_ckpt_file_magic finds at a path: what an output flag must not replace by text (vocab
 * learn -o), nor take for a text file's name (ckpt average -o), and must not replace unseen. */
enum {
    TG_CKPT_FILE_UNREADABLE = -1,   /* a non-empty regular file that cannot be read (errno: why) */
    TG_CKPT_FILE_NONE = 0,          /* absent, empty, or no regular file (a link, device, FIFO) */
    TG_CKPT_FILE_CKPT = 1,          /* a regular file that starts with the checkpoint magic */
    TG_CKPT_FILE_OTHER = 2,         /* a non-empty regular file of other bytes */
};
/* One of TG_CKPT_FILE_*, from one lstat and at most 8 bytes read. */
int tg_ckpt_file_magic(const char *path);

/* Reads and checks the whole file: magic, version, header CRC, directory, every section's sizes
 * and both CRCs after inflating it. Any fault refuses the file with a message naming it and what
 * is wrong: TG_ERR_IO (cannot open/read), TG_ERR_FORMAT (not a checkpoint), TG_ERR_VERSION (newer
 * format or unknown flags), TG_ERR_CORRUPT (truncated, CRC mismatch, inconsistent sizes),
 * TG_ERR_NOMEM. *out is NULL on failure. */
tg_status tg_ckpt_reader_open(const char *path, tg_ckpt_reader **out, tg_err *err);
/* The header and directory, checked as above, and section name alone, read and checked: the
 * others' bytes are not read (tg_ckpt_reader_get fails for them with TG_ERR_STATE). For a look at
 * one small section of a large file (--keep reading a snapshot's step). */
tg_status tg_ckpt_reader_open_one(const char *path, const char *name, tg_ckpt_reader **out,
                                  tg_err *err);
/* The same checks, streaming each section through a small buffer and keeping only the directory:
 * for `ckpt verify` on files bigger than memory should hold. tg_ckpt_reader_get then fails. */
tg_status tg_ckpt_reader_verify(const char *path, tg_ckpt_reader **out, tg_err *err);
void tg_ckpt_reader_free(tg_ckpt_reader *r);

const char *tg_ckpt_reader_path(const tg_ckpt_reader *r);
/* The path as the reader's messages show it: control bytes (a line break, ESC) as \xNN, a long
 * name as "..." and its last characters. For a message that names the file. */
const char *tg_ckpt_reader_shown(const tg_ckpt_reader *r);
uint32_t tg_ckpt_reader_version(const tg_ckpt_reader *r);
uint64_t tg_ckpt_reader_file_size(const tg_ckpt_reader *r);
int tg_ckpt_reader_count(const tg_ckpt_reader *r);
const tg_ckpt_section *tg_ckpt_reader_section(const tg_ckpt_reader *r, int i); /* NULL if out of range */
const tg_ckpt_section *tg_ckpt_reader_find(const tg_ckpt_reader *r, const char *name); /* NULL if absent */
/* The section's bytes (owned by the reader, valid until it is freed). A missing section is
 * TG_ERR_FORMAT with a message naming it and the file. An empty section gives a non-NULL pointer. */
tg_status tg_ckpt_reader_get(const tg_ckpt_reader *r, const char *name, const void **data,
                             size_t *len, tg_err *err);

/* ---- payloads: byte builder ----------------------------------------------------------------- */

/* A growing byte buffer. Appends never fail loudly: running out of memory sets `failed`, later
 * appends do nothing, and tg_ckpt_buf_status (or tg_ckpt_writer_add_buf) reports it once. */
struct tg_ckpt_buf {
    unsigned char *data;
    size_t len, cap;
    bool failed;
};

void tg_ckpt_buf_init(tg_ckpt_buf *b);
void tg_ckpt_buf_free(tg_ckpt_buf *b);     /* back to the empty state */
tg_status tg_ckpt_buf_status(const tg_ckpt_buf *b, tg_err *err);
void tg_ckpt_buf_bytes(tg_ckpt_buf *b, const void *p, size_t n);
void tg_ckpt_buf_u8(tg_ckpt_buf *b, uint8_t v);
void tg_ckpt_buf_u32(tg_ckpt_buf *b, uint32_t v);
void tg_ckpt_buf_u64(tg_ckpt_buf *b, uint64_t v);
void tg_ckpt_buf_i64(tg_ckpt_buf *b, int64_t v);
void tg_ckpt_buf_f32(tg_ckpt_buf *b, float v);
void tg_ckpt_buf_f64(tg_ckpt_buf *b, double v);
void tg_ckpt_buf_f32s(tg_ckpt_buf *b, const float *v, size_t n);
void tg_ckpt_buf_f64s(tg_ckpt_buf *b, const double *v, size_t n);
/* u32 byte length, then the bytes (no NUL). NULL is written as "". */
void tg_ckpt_buf_str(tg_ckpt_buf *b, const char *s);

/* ---- payloads: bounds-checked cursor -------------------------------------------------------- */

/* Reads what the builder wrote. The first read past the end (or bad string) records an error
 * naming `what` and the offset; it and every later read return that status and give zeros, so a
 * run of reads can be checked once with tg_ckpt_cur_finish. */
typedef struct tg_ckpt_cur {
    const unsigned char *p;
    size_t len, pos;
    const char *what;      /* e.g. "section 'state'", for messages; not copied */
    tg_status st;
    tg_err err;
} tg_ckpt_cur;

void tg_ckpt_cur_init(tg_ckpt_cur *c, const void *data, size_t len, const char *what);
size_t tg_ckpt_cur_left(const tg_ckpt_cur *c);
tg_status tg_ckpt_cur_bytes(tg_ckpt_cur *c, void *out, size_t n);
/* Points *out at the next n bytes inside the payload (no copy). */
tg_status tg_ckpt_cur_ref(tg_ckpt_cur *c, size_t n, const void **out);
tg_status tg_ckpt_cur_u8(tg_ckpt_cur *c, uint8_t *out);
tg_status tg_ckpt_cur_u32(tg_ckpt_cur *c, uint32_t *out);
tg_status tg_ckpt_cur_u64(tg_ckpt_cur *c, uint64_t *out);
tg_status tg_ckpt_cur_i64(tg_ckpt_cur *c, int64_t *out);
tg_status tg_ckpt_cur_f32(tg_ckpt_cur *c, float *out);
tg_status tg_ckpt_cur_f64(tg_ckpt_cur *c, double *out);
tg_status tg_ckpt_cur_f32s(tg_ckpt_cur *c, float *out, size_t n);
tg_status tg_ckpt_cur_f64s(tg_ckpt_cur *c, double *out, size_t n);
/* A string into out[cap] with its NUL; longer than cap-1 bytes or holding a NUL is an error. */
tg_status tg_ckpt_cur_str(tg_ckpt_cur *c, char *out, size_t cap);
/* Reads len bytes from cursor `cur` with the signature of optim's tg_byte_source, so state readers
 * take their bytes straight from a section: tg_adam_state_read(opt, tg_ckpt_cur_source, &c, &err).
 * Running short is TG_ERR_CORRUPT with a "truncated" message naming the cursor's payload. */
tg_status tg_ckpt_cur_source(void *cur, void *bytes, size_t len, tg_err *err);
/* The cursor's status; also an error if bytes are left over (the payload is longer than its
 * reader expects, i.e. written by something else). Copies the message into err. */
tg_status tg_ckpt_cur_finish(const tg_ckpt_cur *c, tg_err *err);

/* ---- fingerprints ------------------------------------------------------------------------- */

/* A fast 64-bit hash of bytes (tapegrad's own, about a multiply per 8 bytes on 4 independent
 * lanes; not cryptographic) so `ckpt info` can show a parameter fingerprint and two checkpoints
 * compare at a glance. Same value on every build and machine for the same bytes. */
uint64_t tg_ckpt_hash64(const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* TG_CKPT_FILE_H */
