/* read_lines.h: every line of a file or stdin, for translate and score-style commands. */
#ifndef TG_READ_LINES_H
#define TG_READ_LINES_H

#include <stddef.h>
#include <stdio.h>

#include "autograd/status.h"

typedef struct tg_lines {
    char **line;     /* (n) NUL-terminated, "\n" and "\r\n" removed */
    size_t n;
    char *buf_;
} tg_lines;

/* Text to translate, score or evaluate: a file over this size (an endless device?) or with more
 * lines is refused. Each line costs pointers and statistics (about 100 bytes a system in
 * `score --paired-bs`), so 256 MiB of empty lines would take gigabytes; test sets are thousands
 * of lines. */
#define TG_LINES_MAX_BYTES ((size_t)256 << 20)
#define TG_LINES_MAX_LINES ((size_t)1 << 22)

/* A carriage return inside a line is refused with this, as the corpus reader does: lines ended by
 * CR alone (old Mac files) would be read as one sentence. */
#define TG_LINES_CR_HINT                                                                          \
    "a carriage return (\\r) inside the line: are its lines ended by \\r alone, as in old Mac "     \
    "files? convert them with tr '\\r' '\\n'"

/* path NULL or "-": stdin. A UTF-8 byte-order mark at the start is dropped. A NUL byte, invalid
 * UTF-8 or a carriage return inside a line (TG_LINES_CR_HINT) is an error naming the line; a
 * gzip file is decompressed (tg_file_read). */
tg_status tg_lines_read(tg_lines *out, const char *path, tg_err *err);
void tg_lines_free(tg_lines *l);

/* A line read from a stream (stdin of `vocab encode|decode`, with tg_afile_getline of
 * train/ckpt/atomic_file.h) may be at most this long. */
#define TG_LINE_MAX_BYTES ((size_t)16 << 20)

#endif /* TG_READ_LINES_H */
