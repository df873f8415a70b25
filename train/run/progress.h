/* progress.h: what a run tells its user: log lines on stderr (and RUNDIR/train.log), a live
 * progress bar when stderr is a terminal, and RUNDIR/metrics.tsv (a row per log step and per
 * validation). Private to train/. */
#ifndef TG_PROGRESS_H
#define TG_PROGRESS_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "train/ckpt/atomic_file.h"

typedef struct tg_progress {
    int log_fd;         /* RUNDIR/train.log, appended (-1: closed) */
    int metrics_fd;     /* RUNDIR/metrics.tsv, appended */
    char *log_path, *metrics_path;   /* (malloc'd: the loop's frame holds this, under its saves) */
    bool failed;        /* a log or metrics line could not be written: the run must stop */
    char error[512];    /* why */
    bool tty;           /* stderr is a terminal that redraws (TERM set, not dumb): draw the bar */
    bool quiet;         /* no rundir (MPI ranks but rank 0): no files, no lines, no bar */
    bool bar_shown;
    double bar_time;    /* when the bar was last drawn */
    /* set by the training loop: nonzero once a stop signal came (NULL: never). Stopping, a line
     * waits at most 2 s for stderr to take it: a reader that does not read (a stalled pipe) must not
     * keep the run from saving before its scheduler's SIGKILL. */
    const volatile sig_atomic_t *stopping;
    bool console_lost;  /* stderr took nothing for 2 s while stopping: /dev/null holds it from then */
} tg_progress;

/* Opens the run's log and metrics files, never through a symlink (rundir NULL: a quiet progress
 * that writes nothing). On resume, metrics rows past `keep_step` (written by
 * the part of the run that a crash lost) are dropped so the file matches the checkpoint, and with
 * valid_pending the valid rows at keep_step too (the validation the resume runs first). */
int tg_progress_open(tg_progress *p, const char *rundir, int64_t keep_step, bool valid_pending, char *msg,
                     size_t msg_len);
void tg_progress_close(tg_progress *p);
/* metrics.tsv and train.log on disk (fsync), before a checkpoint is saved past their lines: after
 * a crash of the machine the resume trims them to the checkpoint and must find every line before
 * it. A line that could not be written is the error (p->failed). */
tg_status tg_progress_sync(tg_progress *p, tg_err *err);

/* What a trim of a run's TSV file dropped that is neither a crash's doing (a torn last line, rows
 * past the checkpoint) nor the header's place (the first line): whole lines that are not rows, as
 * a hand leaves them (a header pasted again, a row whose step was edited to " 5"), and any line
 * longer than 1 MiB (no header, row or torn row tapegrad writes: the first or the last line too).
 * Blank lines are dropped without a count. */
typedef struct tg_tsv_dropped {
    long lines;        /* how many */
    long first_line;   /* the first one's line number, from 1 (0: none) */
    char first[48];    /* its first 40 bytes, "..." when longer */
    bool first_torn;   /* it is a last line without its newline, holding a CR (a file of CR line ends) */
    bool first_long;   /* it is longer than 1 MiB (the trim's bound), which no row tapegrad writes is */
} tg_tsv_dropped;

/* The safe way to a run's TSV file (metrics.tsv, diagnostics.tsv): drops the rows whose step
 * (column step_col, 0-based) is past keep_step, written by the part of a run that a crash lost,
 * a torn last line and the lines *dropped counts (atomic rewrite), then opens it for appending and writes header (with its
 * newline) when the file is new, or put back before the first row when it was deleted by hand. 0 with
 * *fd open for appending (write with tg_afile_fd_write: a full disk is caught, and TAPEGRAD_FAIL_WRITE
 * reaches it), or -1 with msg filled. */
int tg_tsv_open(const char *path, const char *header, int step_col, int64_t keep_step, tg_tsv_dropped *dropped,
                int *fd, char *msg, size_t msg_len);

/* tg_tsv_open's trim alone, and with drop_at_keep (NULL: none) the rows of that kind (first
 * column) at keep_step too: 0, or -1 with msg filled. An absent path stays absent; one that kept
 * no line (empty, or only a line over 1 MiB or a torn one) is left with header, as tg_tsv_open
 * leaves it. */
int tg_tsv_trim(const char *path, const char *header, int step_col, int64_t keep_step, const char *drop_at_keep,
                tg_tsv_dropped *dropped, char *msg, size_t msg_len);

/* The warning a trim that dropped lines owes its user (path, the first line's number and start,
 * how many) in buf: 1, or 0 when nothing was dropped. */
int tg_tsv_dropped_text(const char *path, const tg_tsv_dropped *d, char *buf, size_t len);

/* A first line without the UTF-8 BOM an editor may have put before it (*n shortened to match). */
char *tg_tsv_skip_bom(char *line, long *n);

/* Whether a line of such a file is a row: its step (column step_col) is a whole number, followed
 * by a tab or the line's end (LF or CRLF). The header's "step" is not, nor is a line without that
 * column, nor "12\rjunk" (a stray CR). */
bool tg_tsv_is_row(const char *line, int step_col);

/* The atomic way to rewrite a run's TSV file whole (ckpt diagnose): out is opened over path (a
 * temporary, atomic_file.h) holding path's header and rows whose step (column step_col) is at most
 * keep_step, or header alone when path is absent. The caller writes the new rows and commits
 * (path replaced) or aborts (path as it was, whatever happens in between, a kill included). */
tg_status tg_tsv_rewrite_open(tg_afile *out, const char *path, const char *header, int step_col,
                              int64_t keep_step, tg_tsv_dropped *dropped, tg_err *err);

/* Stopping, stderr gets 2 s to take output (poll): if it takes none (a reader that does not read),
 * /dev/null is put in its place, so that no write, waiting or to come, waits on it; true then.
 * Async-signal-safe (experiment's forwarding handler calls it). */
bool tg_console_drop_if_stalled(void);

/* A line to stderr and the log, prefixed by the time of day. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void tg_progress_log(tg_progress *p, const char *fmt, ...);

/* Redraws the bar: done of total (total 0: no bar, only the text). */
void tg_progress_bar(tg_progress *p, double done, double total, const char *text);

/* One metrics row; NaN fields are left empty. */
typedef struct tg_metrics_row {
    const char *kind;   /* "train" | "valid" */
    int64_t step;
    int64_t epoch;      /* 1-based, as the log shows it */
    double elapsed_s, lr, loss, nll, ppl, tgt_tok_s, grad_norm, bleu, chrf;
} tg_metrics_row;
void tg_progress_metrics(tg_progress *p, const tg_metrics_row *r);

/* "1h02m03s" / "4m05s" / "7s" */
void tg_format_duration(double seconds, char *buf, size_t len);

/* x with `decimals` decimals ("3.1416"), or in exponent form once it passes 1e9 ("1.234e+18"),
 * so that a diverging run's losses, perplexities and norms fit a log line. */
typedef struct { char s[32]; } tg_num_text;
tg_num_text tg_format_num(double x, int decimals);

#endif /* TG_PROGRESS_H */
