/* atomic_file.h: every file tapegrad writes goes through here, so that a full disk, a crash or a
 * planted symlink never costs the previous file and never writes anywhere else.
 *
 * Replacing a file (checkpoints, vocab.txt, config.txt, metrics.tsv trims, averaged checkpoints):
 * a new temporary PATH.tmp.<pid>.<n> is created beside PATH (a name over 224 bytes gives it its
 * first 223, fewer when that would split a UTF-8 character, and a '~', so that it fits NAME_MAX)
 * with O_CREAT|O_EXCL|O_NOFOLLOW (so a
 * symlink or any file already under that name is never opened), locked (flock, so that a clean-up
 * of killed writers' temporaries knows it is live), written, fsynced, closed and renamed over
 * PATH; the folder is then fsynced. On any failure the temporary is unlinked and PATH is left as
 * it was. From before the temporary is made until it is renamed or removed, the stop signals
 * (SIGINT, SIGTERM, SIGHUP, SIGALRM, SIGUSR1, SIGUSR2, SIGXCPU, SIGPIPE) are held in the calling thread:
 * one that comes meanwhile is taken at the commit or abort, after which no temporary stands, so a
 * stopped command (Ctrl-C, `timeout`, a scheduler's SIGTERM, a CPU time limit) leaves each file the
 * old one or the whole new one and nothing to clean up. Keep a tg_afile open only for the writing: while it is open, Ctrl-C
 * waits. (SIGKILL cannot be held: its temporary is removed by the next write of PATH.)
 * A PATH that is itself not a regular file (a device such as /dev/null, a
 * FIFO), or that is /dev/stdout, /dev/stderr, /dev/fd/N or /proc/self/fd/N, is written directly
 * and never replaced. Any other symlink at PATH is never followed: it is replaced like a file.
 * A regular file another process holds an flock on (a run's or an experiment's lock) is refused,
 * not replaced: a new file there would let a second run take the folder.
 *
 *   tg_afile f;
 *   if (tg_afile_open(&f, "runs/x/vocab.txt", &err) != TG_OK) ... err.msg ...
 *   st = tg_afile_write(&f, bytes, n, &err);           // as many as needed
 *   st = st == TG_OK ? tg_afile_commit(&f, &err) : (tg_afile_abort(&f), st);
 *
 * Appending (train.log, metrics.tsv rows): tg_afile_append_open never follows a symlink at PATH
 * (O_NOFOLLOW), tg_afile_fd_write checks every byte, and tg_afile_fd_sync puts them on disk (a run
 * does before each checkpoint).
 *
 * Reading back (metrics.tsv trims, an experiment folder's files): tg_afile_fopen_regular opens a
 * regular file only, and tg_afile_getline reads its lines up to a bound.
 *
 * Fault injection for tests: TAPEGRAD_FAIL_WRITE=N makes the N-th write of the process through
 * this file (1-based, counting every tg_afile_write, tg_afile_pwrite and tg_afile_fd_write call)
 * fail with ENOSPC, as a full disk would. TAPEGRAD_FAIL_SYNC=N makes the N-th step of a commit
 * fail with EIO (counting, in order, the file's fsync, its close, the rename and the folder's
 * fsync), or the N-th tg_afile_fd_sync: the temporary is removed and the old file left as it was,
 * but at the folder's fsync, which comes after the rename (the new file is whole; the commit still
 * fails). TAPEGRAD_SIGNAL_WRITE=N sends the process a SIGTERM at its N-th write (saying so on
 * stderr), as `kill PID` landing there would. Unset or 0: no fault.
 */
#ifndef TG_ATOMIC_FILE_H
#define TG_ATOMIC_FILE_H

#include <stdbool.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include <stdio.h>

#include "autograd/status.h"

/* The stop signals: those that end a process by default and that a user (Ctrl-C), a closed
 * terminal (SIGHUP), `timeout -s`, a scheduler (SIGTERM, SIGUSR1 as SLURM's --signal warns), a
 * soft CPU time limit (SIGXCPU) or a reader of the output that went away (SIGPIPE: `| head`, a
 * killed `tee`) sends. A save holds them (above); `train` stops on each at its next step with the
 * run saved; `experiment` hands them on to its cells. (needs <signal.h>) */
#define TG_STOP_SIGNALS SIGINT, SIGTERM, SIGHUP, SIGALRM, SIGUSR1, SIGUSR2, SIGXCPU, SIGPIPE
#define TG_N_STOP_SIGNALS 8
/* Unblocks the stop signals in the calling thread, the mask before in *old (to put back with
 * pthread_sigmask(SIG_SETMASK, old, NULL)): a process started with them blocked (a mask inherited
 * through exec from a launcher's thread) would never take one, and a scheduler's SIGTERM would
 * wait for its SIGKILL. */
void tg_stop_signals_unblock(sigset_t *old);

typedef struct tg_afile {
    int fd;
    char *path;      /* the target */
    char *tmp;       /* the temporary; NULL when writing straight to a device or FIFO */
    bool held;       /* this file holds the stop signals (see above) until its commit or abort */
} tg_afile;

tg_status tg_afile_open(tg_afile *f, const char *path, tg_err *err);
/* tg_afile_open, with the bits of a new file (PATH no regular file yet) narrowed to those of the
 * regular file like (NULL: none; a link is not followed), when like is the saver's: a run's new
 * snapshot (step-N.ckpt, best.ckpt) as private as its last.ckpt. Never wider than a plain new
 * file's 0644 less the umask. A file replaced keeps its own bits (owner, ACL) whatever like is. */
tg_status tg_afile_open_like(tg_afile *f, const char *path, const char *like, tg_err *err);
/* PATH is itself a device, FIFO or socket (not a link to one), or a descriptor's link such as
 * /dev/stdout: written in place. */
bool tg_afile_is_special(const char *path);
tg_status tg_afile_write(tg_afile *f, const void *p, size_t n, tg_err *err);
/* At an offset (the checkpoint header goes in last); only for a temporary, not a device. */
tg_status tg_afile_pwrite(tg_afile *f, const void *p, size_t n, off_t at, tg_err *err);
tg_status tg_afile_seek(tg_afile *f, off_t at, tg_err *err);
/* fsync, close, rename over the target, fsync the folder. f is closed whatever happens; on
 * failure before the rename the temporary is gone and the target untouched. */
tg_status tg_afile_commit(tg_afile *f, tg_err *err);
/* Closes and unlinks the temporary (the target is untouched). Safe after a failed open. */
void tg_afile_abort(tg_afile *f);

/* name (a file name, no folder) is a temporary as tg_afile_open makes them, TARGET.tmp.<pid>.<n>
 * with digits to the end (or TARGET.tmp.<pid>, an older release's): the length of TARGET in
 * *target_len and the pid in *pid. A user's "best.ckpt.tmp.before-lr-change" is not one. */
bool tg_afile_temp_name(const char *name, size_t *target_len, long *pid);
/* tg_afile_temp_name, and its writer looks gone: the pid is one Linux can give (<= 2^22; a dated
 * "avg.ckpt.tmp.20261201" is not a pid) and no process here has it, or only a zombie (ended, not
 * yet waited for). A writer in another PID
 * namespace or on another host may still have it: tg_afile_unlink_dead_temp asks the lock. */
bool tg_afile_dead_temp(const char *name, size_t *target_len);
/* Unlinks the temporary name in the folder dir_fd when tg_afile_dead_temp holds, it is a regular
 * file and no writer holds its lock: every writer holds an flock on its temporary from the create
 * to the rename, so a live writer's is kept wherever its pid lives. True when it was removed. */
bool tg_afile_unlink_dead_temp(int dir_fd, const char *name);

/* fopen(path, "rb") of a regular file only, without waiting: a FIFO without a writer would block
 * the open, /dev/zero never ends. NULL with errno set: ENOENT, ELOOP (a symlink, with nofollow),
 * EINVAL when the file is not regular (a device, FIFO or socket), or the open's own errno. */
FILE *tg_afile_fopen_regular(const char *path, bool nofollow);

/* getline(3) with a bound, for every line-by-line read of a file tapegrad wrote or of a stream:
 * the line's length (its '\n' included, NUL-terminated), -1 at the end of f, -2 when the line
 * passes max bytes (its first max bytes in *line, NUL-terminated; the rest is left unread: an
 * endless line from /dev/zero costs max bytes, not all memory), -3 when out of memory. A read error ends the line as the end of f does: the caller
 * checks ferror(f). */
long tg_afile_getline(char **line, size_t *cap, FILE *f, size_t max);
/* Reads the rest of a line (after tg_afile_getline's -2) up to its '\n', byte by byte: memory
 * stays bounded. True when the '\n' was found, false at the end of f; *cr (when not NULL) is set
 * when a '\r' was among the bytes read. */
bool tg_afile_skip_line(FILE *f, bool *cr);

/* open + write + commit of one buffer. */
tg_status tg_afile_save(const char *path, const void *p, size_t n, tg_err *err);
/* open (tg_afile_open_like: like may be NULL) + write + commit of what remains of in (named from
 * in messages), a piece at a time: the copy's size does not bound memory, and its buffer is not
 * on the stack. */
tg_status tg_afile_save_stream(const char *path, FILE *in, const char *from, const char *like, tg_err *err);
/* tg_afile_save of one of tapegrad's own files (a run folder's config.txt, an experiment's
 * report): a FIFO or device in its place was planted, not named by the user as an
 * -o target, so it is refused (TG_ERR_IO, naming it) rather than written in place, where a FIFO
 * would wait for a reader for ever. */
tg_status tg_afile_save_own(const char *path, const void *p, size_t n, tg_err *err);

/* An fd appending to path (created 0644 if absent), a regular file: never through a symlink,
 * never into a FIFO or device (refused without waiting). */
tg_status tg_afile_append_open(const char *path, int *fd, tg_err *err);
/* Writes all n bytes to fd (retrying short writes and EINTR); what names the file in messages. */
tg_status tg_afile_fd_write(int fd, const void *p, size_t n, const char *what, tg_err *err);
/* fsync of an appended file (what: its name for the message), a step TAPEGRAD_FAIL_SYNC counts. */
tg_status tg_afile_fd_sync(int fd, const char *what, tg_err *err);

#endif /* TG_ATOMIC_FILE_H */
