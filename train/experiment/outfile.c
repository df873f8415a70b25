/* outfile.c: the experiment's files (experiment.txt, the evaluation caches, results, report.md,
 * the plots) are printed into memory and saved through the atomic writer (train/ckpt/
 * atomic_file.h): a full disk or a crash leaves the previous file whole, a symlink is never
 * followed, a FIFO or device in a file's place is refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "train/ckpt/atomic_file.h"
#include "train/experiment/report.h"

FILE *tg_exp_out_open(tg_exp_out *o, const char *path, tg_err *err) {
    memset(o, 0, sizeof *o);
    snprintf(o->path, sizeof o->path, "%s", path);
    o->f = open_memstream(&o->buf, &o->len);
    if (!o->f) tg_err_set(err, TG_ERR_NOMEM, "%s: %s", path, strerror(errno));
    return o->f;
}

tg_status tg_exp_out_commit(tg_exp_out *o, tg_err *err) {
    if (!o->f) return tg_err_set(err, TG_ERR_IO, "%s: not open", o->path);
    bool bad = ferror(o->f) != 0;
    bad |= fclose(o->f) != 0;
    o->f = NULL;
    tg_status s = bad ? tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", o->path)
                      : tg_afile_save_own(o->path, o->buf, o->len, err);
    free(o->buf);
    o->buf = NULL;
    return s;
}

void tg_exp_out_abort(tg_exp_out *o) {
    if (o->f) fclose(o->f);
    free(o->buf);
    memset(o, 0, sizeof *o);
}
