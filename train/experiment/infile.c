/* infile.c: the experiment's own files read back (experiment.txt, a cell's metrics.tsv and
 * diagnostics.tsv, the evaluation caches). tapegrad writes each of them as a regular file
 * (outfile.c, train's atomic writes), so anything else under one of those names was put there by
 * hand and is refused, naming the file: a symbolic link is not followed (as train does not follow
 * one among a run folder's files: run/folders.c, run/progress.c), a FIFO is not waited on, a
 * device is not read (/dev/zero never ends). Lines are read by tg_afile_getline up to
 * TG_EXP_LINE_MAX bytes: a huge file of one line is refused after that much, not read whole. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/shown.h"
#include "train/ckpt/atomic_file.h"
#include "train/experiment/report.h"

/* The refusal of a file that is not a regular one; errno_ ELOOP: a symbolic link. */
static tg_status refuse(const char *path, int errno_, tg_err *err) {
    if (errno_ == ELOOP)
        return tg_err_set(err, TG_ERR_IO, "%s: is a symbolic link; tapegrad writes a file there and does not "
                          "follow a link in its place: remove it", TG_SHOWN(path));
    return tg_err_set(err, TG_ERR_IO, "%s: not a regular file (a FIFO, device or folder); tapegrad writes a file "
                      "there: remove it", TG_SHOWN(path));
}

tg_status tg_exp_in_open(tg_exp_in *in, const char *path, bool *missing, tg_err *err) {
    memset(in, 0, sizeof *in);
    snprintf(in->path, sizeof in->path, "%s", path);
    in->f = tg_afile_fopen_regular(path, true);
    int e = in->f ? 0 : errno;
    if (missing) *missing = e == ENOENT;
    if (!e) return TG_OK;
    if (e == ELOOP || e == EINVAL) return refuse(path, e, err);
    return tg_err_set(err, TG_ERR_IO, "%s: cannot read: %s", TG_SHOWN(path), strerror(e));
}

bool tg_exp_in_line(tg_exp_in *in, tg_status *st, tg_err *err) {
    *st = TG_OK;
    long n = tg_afile_getline(&in->line, &in->cap, in->f, TG_EXP_LINE_MAX);
    if (n == -2)
        *st = tg_err_set(err, TG_ERR_FORMAT, "%s:%ld: a line longer than %d MiB: not a file tapegrad wrote",
                         TG_SHOWN(in->path), in->lineno + 1, TG_EXP_LINE_MAX >> 20);
    else if (n == -3)
        *st = tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", TG_SHOWN(in->path));
    else if (ferror(in->f))
        *st = tg_err_set(err, TG_ERR_IO, "%s: read error", TG_SHOWN(in->path));
    if (n < 0 || *st != TG_OK) return false;
    in->torn = in->line[n - 1] != '\n';
    in->len = (size_t)n - !in->torn;
    in->line[in->len] = '\0';
    in->lineno++;
    return true;
}

void tg_exp_in_close(tg_exp_in *in) {
    if (in->f) fclose(in->f);
    free(in->line);
    in->f = NULL;
    in->line = NULL;
}

tg_status tg_exp_check_regular(const char *path, tg_err *err) {
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        int e = errno;   /* (kept before the message is made) */
        if (e == ENOENT) return TG_OK;
        return tg_err_set(err, TG_ERR_IO, "%s: %s", TG_SHOWN(path), strerror(e));
    }
    if (S_ISREG(sb.st_mode)) return TG_OK;
    return refuse(path, S_ISLNK(sb.st_mode) ? ELOOP : EINVAL, err);
}
