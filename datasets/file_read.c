/* file_read.c: a whole file (or stdin) into memory, gzip decompressed, with a size limit.
 *
 * zlib's gzread is not used: it stops quietly at the first bytes after a gzip member that do
 * not start another member, so a damaged second member read as a clean end of the corpus
 * (1 of 1001 pairs, exit 0, where zcat fails). Here every member is inflated in turn and any
 * byte that is not part of a complete member is an error naming the file. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "datasets/internal.h"
#include "datasets/shown.h"

enum { CHUNK = 1 << 16 };

typedef struct src {
    int fd;
    const char *path;
    unsigned char *in;    /* (CHUNK) raw bytes read, not yet consumed */
    size_t in_n, in_pos;
    bool eof;
} src;

/* Makes at least `need` unconsumed bytes available unless the file ends first. */
static tg_status src_fill(src *s, size_t need, tg_err *err) {
    while (!s->eof && s->in_n - s->in_pos < need) {
        if (s->in_pos > 0) {
            memmove(s->in, s->in + s->in_pos, s->in_n - s->in_pos);
            s->in_n -= s->in_pos;
            s->in_pos = 0;
        }
        ssize_t got = read(s->fd, s->in + s->in_n, CHUNK - s->in_n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return tg_err_set(err, TG_ERR_IO, "cannot read %s: %s", s->path, strerror(errno));
        if (got == 0) s->eof = true;
        s->in_n += (size_t)got;
    }
    return TG_OK;
}

typedef struct dst {
    char *buf;
    size_t len, cap, max;
    size_t run;   /* bytes since the last '\n' */
    bool nul_ok;  /* NUL bytes are let through, for a caller that skips the lines holding them */
} dst;

/* Room for more output: returns how many bytes may be written at buf + len, one past the limit
 * at most (so that reaching it is seen), 0 when out of memory. */
static size_t dst_room(dst *d) {
    if (d->cap - d->len < CHUNK + 1 && !tg_ds_grow((void **)&d->buf, &d->cap, d->len + CHUNK + 1, 1)) return 0;
    size_t room = d->cap - d->len - 1, left = d->max + 1 - d->len;
    return room < left ? room : left;
}

static tg_status over_limit(const src *s, const dst *d, tg_err *err) {
    return tg_err_set(err, TG_ERR_FORMAT, "%s: larger than %zu bytes%s, the limit for this kind of file: refused",
                      s->path, d->max, s->eof ? "" : " (an endless device?)");
}

/* The line number (1-based) of the byte at q. */
static size_t line_of(const dst *d, const char *q) {
    size_t line = 1;
    for (const char *p = d->buf; (p = memchr(p, '\n', (size_t)(q - p))) != NULL; p++) line++;
    return line;
}

/* After bytes were appended at buf + from: they hold no NUL byte, and every line in them, and the
 * run since the last line end, stays within TG_FILE_MAX_LINE_RUN bytes. A file with a NUL or no
 * line end that long is no text (/dev/zero, /dev/urandom, a binary): refused as soon as it is read,
 * not at the size limit. */
static tg_status check_text(const src *s, dst *d, size_t from, tg_err *err) {
    const char *nul = d->nul_ok ? NULL : memchr(d->buf + from, '\0', d->len - from);
    if (nul) {
        const char *bol = nul;
        while (bol > d->buf && bol[-1] != '\n') bol--;
        return tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: NUL byte at byte offset %zu of the line: not a text file, "
                          "refused", s->path, line_of(d, nul), (size_t)(nul - bol));
    }
    const char *p = d->buf + from, *end = d->buf + d->len;
    size_t run = d->run;
    for (const char *nl; (nl = memchr(p, '\n', (size_t)(end - p))) != NULL; p = nl + 1) {
        run += (size_t)(nl - p);
        if (run > TG_FILE_MAX_LINE_RUN) break;
        run = 0;
    }
    if (run <= TG_FILE_MAX_LINE_RUN) run += (size_t)(end - p);
    d->run = run;
    if (run <= TG_FILE_MAX_LINE_RUN) return TG_OK;
    return tg_err_set(err, TG_ERR_FORMAT, "%s:%zu: a line of more than %zu bytes: not a text file, refused",
                      s->path, line_of(d, p), (size_t)TG_FILE_MAX_LINE_RUN);
}

static tg_status out_of_memory(const src *s, const dst *d, tg_err *err) {
    return tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory after %zu bytes", s->path, d->len);
}

static tg_status read_plain(src *s, dst *d, tg_err *err) {
    for (;;) {
        size_t have = s->in_n - s->in_pos;
        while (have > 0) {
            size_t room = dst_room(d);
            if (room == 0) return out_of_memory(s, d, err);
            size_t k = have < room ? have : room;
            memcpy(d->buf + d->len, s->in + s->in_pos, k);
            d->len += k;
            s->in_pos += k;
            have -= k;
            if (d->len > d->max) return over_limit(s, d, err);
            tg_status st = check_text(s, d, d->len - k, err);
            if (st != TG_OK) return st;
        }
        if (s->eof) return TG_OK;
        tg_status st = src_fill(s, 1, err);
        if (st != TG_OK) return st;
    }
}

/* Inflates one gzip member that starts at the current input. */
static tg_status inflate_member(src *s, dst *d, z_stream *z, int member, tg_err *err) {
    for (;;) {
        tg_status st = src_fill(s, 1, err);
        if (st != TG_OK) return st;
        size_t room = dst_room(d);
        if (room == 0) return out_of_memory(s, d, err);
        z->next_in = s->in + s->in_pos;
        z->avail_in = (uInt)(s->in_n - s->in_pos);
        z->next_out = (Bytef *)d->buf + d->len;
        z->avail_out = (uInt)(room < (1u << 30) ? room : (1u << 30));
        uInt before_out = z->avail_out;
        int rc = inflate(z, Z_NO_FLUSH);
        s->in_pos = s->in_n - z->avail_in;
        d->len += before_out - z->avail_out;
        if (d->len > d->max) return over_limit(s, d, err);
        st = check_text(s, d, d->len - (before_out - z->avail_out), err);
        if (st != TG_OK) return st;
        if (rc == Z_STREAM_END) return TG_OK;
        if (rc == Z_BUF_ERROR && s->eof && s->in_pos == s->in_n)
            return tg_err_set(err, TG_ERR_FORMAT, "%s: gzip member %d is truncated (the file ends inside it)",
                              s->path, member);
        if (rc == Z_MEM_ERROR) return out_of_memory(s, d, err);
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return tg_err_set(err, TG_ERR_FORMAT, "%s: gzip member %d is damaged: %s", s->path, member,
                              z->msg ? z->msg : "bad compressed data");
    }
}

/* Every member in turn; after the last one the file must end. */
static tg_status read_gzip(src *s, dst *d, tg_err *err) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return out_of_memory(s, d, err);
    tg_status st = TG_OK;
    for (int member = 1; st == TG_OK; member++) {
        st = inflate_member(s, d, &z, member, err);
        if (st == TG_OK) st = src_fill(s, 2, err);
        if (st != TG_OK || s->in_pos == s->in_n) break;
        if (s->in_n - s->in_pos < 2 || s->in[s->in_pos] != 0x1f || s->in[s->in_pos + 1] != 0x8b) {
            st = tg_err_set(err, TG_ERR_FORMAT, "%s: %zu byte%s after gzip member %d that are not another gzip "
                            "member (damaged or trailing data)", s->path, s->in_n - s->in_pos,
                            s->in_n - s->in_pos == 1 ? "" : "s (or more)", member);
            break;
        }
        inflateReset(&z);
    }
    inflateEnd(&z);
    return st;
}

tg_status tg_file_read_nul_ok(const char *path, size_t max_bytes, bool nul_ok, char **out, size_t *out_len,
                              tg_err *err) {
    *out = NULL;
    *out_len = 0;
    bool is_stdin = strcmp(path, "-") == 0;
    char shown[TG_SHOWN_MAX];   /* a name with a line break or ESC: one line, nothing obeyed */
    src s = {.fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY),
             .path = tg_shown_tail(shown, sizeof shown, tg_file_shown(path)), .in = malloc(CHUNK)};
    if (s.fd < 0) {
        int e = errno;
        free(s.in);
        return tg_err_set(err, TG_ERR_IO, "cannot open %s: %s", s.path, strerror(e));
    }
    dst d = {.max = max_bytes, .nul_ok = nul_ok};
    tg_status st = s.in ? src_fill(&s, 2, err) : out_of_memory(&s, &d, err);
    if (st == TG_OK) {
        bool gz = s.in_n >= 2 && s.in[0] == 0x1f && s.in[1] == 0x8b;
        st = gz ? read_gzip(&s, &d, err) : read_plain(&s, &d, err);
    }
    if (st == TG_OK && !d.buf && !tg_ds_grow((void **)&d.buf, &d.cap, 1, 1)) st = out_of_memory(&s, &d, err);
    if (!is_stdin) close(s.fd);
    free(s.in);
    if (st != TG_OK) { free(d.buf); return st; }
    d.buf[d.len] = '\0';
    *out = d.buf;
    *out_len = d.len;
    return TG_OK;
}

bool tg_file_reads_stdin(const char *path) {
    if (!strcmp(path, "-")) return true;
    struct stat sp, s0;   /* /dev/stdin, /dev/fd/0, /proc/self/fd/0 or a FIFO's own name */
    /* (a device other than a terminal, /dev/null say, gives each reader all it has: not taken) */
    return stat(path, &sp) == 0 && fstat(0, &s0) == 0 && sp.st_dev == s0.st_dev && sp.st_ino == s0.st_ino &&
           !S_ISREG(s0.st_mode) && !S_ISDIR(s0.st_mode) && !(S_ISCHR(s0.st_mode) && !isatty(0));
}

const char *tg_file_shown(const char *path) {
    return strcmp(path, "-") ? path : "<stdin>";
}

tg_status tg_file_read(const char *path, size_t max_bytes, char **out, size_t *out_len, tg_err *err) {
    return tg_file_read_nul_ok(path, max_bytes, false, out, out_len, err);
}
