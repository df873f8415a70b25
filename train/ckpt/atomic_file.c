/* atomic_file.c: temporary + fsync + rename for every file tapegrad replaces, checked appends,
 * and the TAPEGRAD_FAIL_WRITE fault hook (see atomic_file.h). */
#include "train/ckpt/atomic_file.h"
#include "datasets/shown.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* Tries at most this many temporary names: only another process's leftovers can be in the way. */
#define MAX_TMP_TRIES 100
/* A target's name longer than this gives its temporaries its first TEMP_NAME_KEEP - 1 bytes (or
 * up to 3 fewer: temp_head) and a '~': ".tmp.<pid>.<n>" adds at most 15 (a pid <= 2^22, n <
 * MAX_TMP_TRIES), so a temporary of any name a file system takes (NAME_MAX 255) fits, and the '~'
 * tells it from a name that is the head. */
#define TEMP_NAME_KEEP 224
_Static_assert(TEMP_NAME_KEEP + sizeof ".tmp.4194304.99" - 1 <= 255, "a temporary's name must fit NAME_MAX");

/* True when this call is the one the variable var names; *count counts the calls (per process;
 * tests fork a child per command, so it starts from 0 each time). */
static bool inject(const char *var, long *count) {
    const char *v = getenv(var);
    if (!v || !*v) return false;
    long n = strtol(v, NULL, 10);
    return n > 0 && ++*count == n;
}

/* TAPEGRAD_FAIL_WRITE: this write fails (ENOSPC). */
static bool inject_fault(void) {
    static long count = 0;
    return inject("TAPEGRAD_FAIL_WRITE", &count);
}

/* TAPEGRAD_FAIL_SYNC: this step of a save after its writes (the file's fsync, its close, the
 * rename, the folder's fsync) fails (EIO), as a failing disk or a lost network mount would. */
static bool inject_sync_fault(void) {
    static long count = 0;
    if (!inject("TAPEGRAD_FAIL_SYNC", &count)) return false;
    errno = EIO;
    return true;
}
#define SYNC_NOTE(injected) ((injected) ? " (TAPEGRAD_FAIL_SYNC)" : "")

/* TAPEGRAD_SIGNAL_WRITE: a SIGTERM sent to the process at this write, as `kill PID` would, said on
 * stderr so that a test knows the write came. */
static void inject_signal(void) {
    static long count = 0;
    if (!inject("TAPEGRAD_SIGNAL_WRITE", &count)) return;
    fprintf(stderr, "TAPEGRAD_SIGNAL_WRITE: SIGTERM sent at write %ld\n", count);
    kill(getpid(), SIGTERM);
}

/* The signals that stop a process by default and that a user, `timeout` or a job's scheduler
 * sends (SIGXCPU: a soft CPU time limit, ulimit -S -t or a scheduler's, whose hard limit's SIGKILL
 * comes later; SIGPIPE, a pipe's reader gone, sent by a write to it: here only a save to
 * -o /dev/stdout, whose write then fails with EPIPE): held (blocked) while a temporary stands, so that one landing in a save is taken
 * after it, with the file whole under its name and no temporary left. Per thread, and nested: a
 * save inside a save releases nothing. The other threads block them for good (autograd/threads.h),
 * so the kernel cannot hand one to a thread that would die with it mid-save. */
static _Thread_local int held_depth;
static _Thread_local sigset_t held_old;

static void stop_signal_set(sigset_t *s) {
    sigemptyset(s);
    static const int stops[] = {TG_STOP_SIGNALS};
    _Static_assert(sizeof stops / sizeof stops[0] == TG_N_STOP_SIGNALS, "TG_N_STOP_SIGNALS counts TG_STOP_SIGNALS");
    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) sigaddset(s, stops[i]);
}

static void hold_stop_signals(void) {
    if (held_depth++ > 0) return;
    sigset_t s;
    stop_signal_set(&s);
    pthread_sigmask(SIG_BLOCK, &s, &held_old);
}

void tg_stop_signals_unblock(sigset_t *old) {
    sigset_t s;
    stop_signal_set(&s);
    pthread_sigmask(SIG_UNBLOCK, &s, old);
}

/* The mask from before the first hold: a signal that came meanwhile is taken now. */
static void release_stop_signals(void) {
    if (--held_depth == 0) pthread_sigmask(SIG_SETMASK, &held_old, NULL);
}

#define SHOWN TG_SHOWN   /* a name before its reason in a message (shown.h) */

tg_status tg_afile_fd_write(int fd, const void *p, size_t n, const char *what, tg_err *err) {
    inject_signal();
    if (inject_fault()) {
        errno = ENOSPC;
        return tg_err_set(err, TG_ERR_IO, "%s: write failed: %s (TAPEGRAD_FAIL_WRITE)", SHOWN(what), strerror(errno));
    }
    const unsigned char *b = p;
    while (n > 0) {
        ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            if (k == 0) errno = EIO;
            return tg_err_set(err, TG_ERR_IO, "%s: write failed: %s", SHOWN(what), strerror(errno));
        }
        b += k;
        n -= (size_t)k;
    }
    return TG_OK;
}

/* The descriptor N a path names through the process's descriptor links, or -1: /dev/stdout (a
 * link to /proc/self/fd/1, however spelled: /dev//stdout, /dev/./stdout), /dev/fd/N and
 * /proc/self/fd/N (in a folder that resolves to /proc/<this pid>/fd). A user names these on
 * purpose and nobody plants them. They are written through a dup of N, which keeps the shell's
 * redirection (its offset, `>>`'s append, a socket): opening the path again would not, and
 * renaming over one would replace it for every process. */
static int fd_named(const char *path) {
    char buf[64];   /* "/proc/self/fd/N" fits: a longer target, cut, is not one */
    long n = -1;
    char *end;
    ssize_t k = readlink(path, buf, sizeof buf);
    if (k > 0 && k < (ssize_t)sizeof buf) {
        buf[k] = '\0';
        if (!strncmp(buf, "/proc/self/fd/", 14) && buf[14]) n = strtol(buf + 14, &end, 10);
        if (n >= 0 && !*end) return n <= INT_MAX ? (int)n : -1;
        n = -1;
    }
    const char *slash = strrchr(path, '/');
    if (!slash || !slash[1]) return -1;
    char *dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
    struct stat d, fds;   /* the folder is this process's descriptor folder (/dev/fd is a link to it) */
    if (dir && stat(dir, &d) == 0 && stat("/proc/self/fd", &fds) == 0 && d.st_dev == fds.st_dev &&
        d.st_ino == fds.st_ino)
        n = strtol(slash + 1, &end, 10);
    free(dir);
    return n >= 0 && n <= INT_MAX && !*end ? (int)n : -1;
}

/* A target that is itself a device, FIFO or socket is written in place: renaming over /dev/null
 * would replace the device with a file. A symbolic link is never followed for writing (one planted
 * as a run folder's config.txt would write into the device or FIFO it names, or hang): it is
 * replaced like a regular file. Only a descriptor's link is written through (fd_named). */
bool tg_afile_is_special(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return false;
    if (fd_named(path) >= 0) return !S_ISDIR(sb.st_mode);
    return !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode) && !S_ISLNK(sb.st_mode);
}

/* Skips a run of digits at *s; false if there is none or it is too long to be a number. */
static bool skip_digits(const char **s) {
    size_t n = strspn(*s, "0123456789");
    *s += n;
    return n > 0 && n < 19;
}

bool tg_afile_temp_name(const char *name, size_t *target_len, long *pid) {
    for (const char *at = strstr(name, ".tmp."); at; at = strstr(at + 1, ".tmp.")) {
        const char *p = at + 5, *digits = p;
        if (at == name || !skip_digits(&p)) continue;
        if (*p == '.') {
            p++;
            if (!skip_digits(&p)) continue;
        }
        if (*p) continue;
        *target_len = (size_t)(at - name);
        *pid = strtol(digits, NULL, 10);
        return true;
    }
    return false;
}

/* A process that has ended but has not been waited for (a zombie): kill() still finds it, but it
 * writes nothing more. A train killed by SIGKILL is one until its parent reaps it, and for good
 * when it is an orphan under a PID 1 that never reaps (a container's `sleep infinity`). */
static bool is_zombie(long pid) {
    char path[40], buf[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *name_end = strrchr(buf, ')');   /* "pid (comm) state ...", comm any 16 bytes */
    return name_end && name_end[1] == ' ' && (name_end[2] == 'Z' || name_end[2] == 'X');
}

bool tg_afile_dead_temp(const char *name, size_t *target_len) {
    long pid;
    return tg_afile_temp_name(name, target_len, &pid) && pid > 0 && pid <= (1L << 22) &&
           ((kill((pid_t)pid, 0) == -1 && errno == ESRCH) || is_zombie(pid));
}

bool tg_afile_unlink_dead_temp(int dir_fd, const char *name) {
    size_t n;
    if (!tg_afile_dead_temp(name, &n)) return false;
    struct stat sb;   /* tapegrad's temporaries are regular files: a device is never opened */
    if (fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode)) return false;
    /* For writing if it can: NFS emulates flock with a write lock, which a read-only file refuses. */
    int fd = openat(dir_fd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat now;   /* the file checked above, not a device or FIFO put in its place since */
    if (fstat(fd, &now) != 0 || !S_ISREG(now.st_mode) || now.st_dev != sb.st_dev || now.st_ino != sb.st_ino) {
        close(fd);
        return false;
    }
    /* Held while unlinking: a writer that takes the lock after this sees its name gone (hold_temp). */
    bool gone = flock(fd, LOCK_EX | LOCK_NB) == 0 && unlinkat(dir_fd, name, 0) == 0;
    close(fd);
    return gone;
}

/* Takes the lock that marks fd's temporary (tmp) as a live writer's, then checks that tmp still
 * names fd's file: false when a clean-up removed it between the create and the lock (the caller
 * tries the next name). A file system without flock (EINVAL, ENOLCK, EOPNOTSUPP) leaves the pid
 * alone to speak for the writer, as before the lock. */
static bool hold_temp(int fd, const char *tmp) {
    while (flock(fd, LOCK_EX) != 0)
        if (errno != EINTR) return true;
    struct stat a, b;
    return fstat(fd, &a) == 0 && lstat(tmp, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* The bytes of a base longer than TEMP_NAME_KEEP that its temporaries keep: its first
 * TEMP_NAME_KEEP - 1, less those of a UTF-8 character the cut would split (the continuation bytes,
 * 10xxxxxx, of one begun before it), so that the temporary's name is text where the name is. */
static size_t temp_head(const char *base) {
    size_t n = TEMP_NAME_KEEP - 1;
    for (int i = 0; i < 3 && ((unsigned char)base[n] & 0xC0) == 0x80; i++) n--;
    return n;
}

/* Whether name's target (its first n bytes, tg_afile_temp_name) is base: the whole name, or the
 * head and '~' that a long base's temporaries carry (an older build's head: TEMP_NAME_KEEP - 1
 * bytes, a character split or not). */
static bool temp_of(const char *name, size_t n, const char *base) {
    size_t len = strlen(base);
    if (n == len && !strncmp(name, base, n)) return true;   /* (also an older build's of a long one) */
    return len > TEMP_NAME_KEEP && (n == temp_head(base) + 1 || n == TEMP_NAME_KEEP) &&
           !strncmp(name, base, n - 1) && name[n - 1] == '~';
}

/* Unlinks path's temporaries left by writers that were killed (PATH.tmp.<pid>.<n> whose pid no
 * longer exists and whose lock is free), so an interrupted `ckpt average -o OUT` does not leave
 * one for ever. Another live writer's temporary, and any other name, is left alone. */
static void remove_dead_temps(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    DIR *d = dir ? opendir(dir) : NULL;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t n;
        long pid;
        if (tg_afile_temp_name(e->d_name, &n, &pid) && temp_of(e->d_name, n, base))
            tg_afile_unlink_dead_temp(dirfd(d), e->d_name);
    }
    if (d) closedir(d);
    free(dir);
}

FILE *tg_afile_fopen_regular(const char *path, bool nofollow) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
    if (fd < 0) return NULL;
    struct stat sb;
    int e = fstat(fd, &sb) != 0 ? errno : !S_ISREG(sb.st_mode) ? EINVAL : 0;
    FILE *f = NULL;
    if (!e && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == 0) f = fdopen(fd, "rb");
    if (!f) {
        if (!e) e = errno;
        close(fd);
        errno = e;
    }
    return f;
}

long tg_afile_getline(char **line, size_t *cap, FILE *f, size_t max) {
    size_t n = 0;
    int c = EOF;
    while ((c = getc(f)) != EOF) {
        if (n >= max) {   /* (its first max bytes stay readable: cap > n, see below) */
            if (*line) (*line)[n] = '\0';
            ungetc(c, f);
            return -2;
        }
        if (n + 2 > *cap) {
            size_t want = *cap ? 2 * *cap : 256;
            char *p = realloc(*line, want);
            if (!p) return -3;
            *line = p;
            *cap = want;
        }
        (*line)[n++] = (char)c;
        if (c == '\n') break;
    }
    if (n == 0) return -1;
    (*line)[n] = '\0';
    return (long)n;
}

bool tg_afile_skip_line(FILE *f, bool *cr) {
    for (int c; (c = getc(f)) != EOF;) {
        if (c == '\n') return true;
        if (c == '\r' && cr) *cr = true;
    }
    return false;
}

#define ACL_XATTR "system.posix_acl_access"

/* At the commit, the temporary takes what the regular file it replaces had (a checkpoint chmod
 * 600'd, a config 640'd for a group, an ACL: not widened to 0644 less the umask): its owner and
 * group, its permission bits, its access ACL. Never wider than before: bits meant for a group the
 * file can no longer have (a user saving a file of a group they are not in) are dropped, and so
 * are the group bits of an ACL that cannot be copied (they are its mask); a file no longer its
 * old owner's (a user saving another's) is the saver's, which can read it back. Until then the
 * temporary was 0600 (tg_afile_open): no one else could open it while it was written. Best
 * effort: where chown, chmod or ACLs mean nothing (vfat), the save goes on. */
static void keep_meta(int fd, const char *path) {
    struct stat sb, now;
    if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || fstat(fd, &now) != 0) return;
    bool owner = now.st_uid == sb.st_uid, group = now.st_gid == sb.st_gid;
    if ((!owner || !group) && fchown(fd, sb.st_uid, sb.st_gid) == 0) owner = group = true;
    if (!group && fchown(fd, (uid_t)-1, sb.st_gid) == 0) group = true;   /* its owner, in that group */
    mode_t mode = sb.st_mode & 0777;
    if (!group) mode &= ~(mode_t)070;
    if (!owner) mode |= 0600;
    ssize_t n = lgetxattr(path, ACL_XATTR, NULL, 0);
    char *acl = n > 0 ? malloc((size_t)n) : NULL;
    bool copied = acl && owner && group && lgetxattr(path, ACL_XATTR, acl, (size_t)n) == n;
    if (n > 0 && !copied) mode &= ~(mode_t)070;
    (void)fremovexattr(fd, ACL_XATTR);   /* one the folder's default ACL gave it: not the old file's */
    (void)fchmod(fd, mode);
    if (copied) (void)fsetxattr(fd, ACL_XATTR, acl, (size_t)n, 0);
    free(acl);
}

/* A file another process holds an flock on: a run's or an experiment's lock (`ckpt average -o
 * RUN/lock` swapped a new file in under the running train's lock, and a second train then took
 * the new one and trained in the same folder), or a temporary just renamed by another writer of
 * the same name. Checked when the save opens (before its writing) and again at its commit, where
 * the shared lock taken is held over the rename: a train that opened the old file meanwhile cannot
 * lock it until it is replaced. Returns that descriptor (-1: none); *locked: another holds it. Not
 * opened when it cannot be read; a FIFO swapped in is not waited on. */
static int hold_replaced(const char *path, bool *locked) {
    *locked = false;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 || flock(fd, LOCK_SH | LOCK_NB) == 0) return fd;
    *locked = errno == EWOULDBLOCK;
    close(fd);
    return -1;
}

static tg_status locked_error(const char *path, tg_err *err) {
    return tg_err_set(err, TG_ERR_STATE, "%s is locked by a running process (a run's or an experiment's lock "
                      "file?): not replaced", SHOWN(path));
}

tg_status tg_afile_open(tg_afile *f, const char *path, tg_err *err) {
    return tg_afile_open_like(f, path, NULL, err);
}

/* The bits of a new file (0644, less the umask when it is made), narrowed to those of like when
 * like is a regular file (not followed) of the saver's: a new checkpoint of a run whose last.ckpt
 * was chmod 600'd is 0600 too. Never wider than a plain new file: a 0664 like does not make new
 * files group-writable past the umask. Another's like (root resuming a user's run) is left out:
 * its bits, given to a file of root's, would lock its owner out of it. A like with a POSIX access
 * ACL has its mask in its group bits, and the new file (made without the ACL) would give those to
 * its owning group, which may have had nothing: no group bits then (never wider). */
static mode_t new_file_mode(const char *like) {
    struct stat sb;
    if (!like || lstat(like, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid()) return 0644;
    mode_t mode = 0644 & sb.st_mode;
    if (lgetxattr(like, "system.posix_acl_access", NULL, 0) > 0) mode &= ~(mode_t)S_IRWXG;
    return mode;
}

/* A device, FIFO or descriptor name (tg_afile_is_special): written in place. */
static tg_status open_special(tg_afile *f, const char *path, tg_err *err) {
    int n = fd_named(path);
    /* O_NOFOLLOW: a link swapped in since the check is refused, not followed */
    f->fd = n >= 0 ? fcntl(n, F_DUPFD_CLOEXEC, 3) : open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (f->fd >= 0) return TG_OK;
    tg_status st = tg_err_set(err, TG_ERR_IO, "%s: cannot open for writing: %s", SHOWN(path), strerror(errno));
    tg_afile_abort(f);
    return st;
}

/* Whether path can be saved to, before anything is made: *replaces, a regular file is there (the
 * temporary is private until the commit gives it the file's own bits). On an error f is
 * aborted. */
static tg_status check_target(tg_afile *f, const char *path, bool *replaces, tg_err *err) {
    /* a folder's name: the rename would fail only after the whole file was written beside it */
    struct stat old_sb;
    bool exists = lstat(path, &old_sb) == 0;
    int why = exists ? 0 : errno;
    tg_status st = TG_OK;
    /* a name over NAME_MAX (or a path over PATH_MAX): its temporary, the name cut to fit, was
     * written whole before the rename failed with ENAMETOOLONG; said now. And a name below a file
     * (t/ or t/x, t a file: ENOTDIR), which the check below called a folder's. */
    if (why == ENAMETOOLONG || why == ENOTDIR)
        st = tg_err_set(err, TG_ERR_IO, "%s: cannot open for writing: %s", SHOWN(path),
                        strerror(why));
    else if (path[strlen(path) - 1] == '/' || (exists && S_ISDIR(old_sb.st_mode)))
        st = tg_err_set(err, TG_ERR_IO, "%s: names a folder, not a file: nothing written",
                        SHOWN(path));
    *replaces = exists && S_ISREG(old_sb.st_mode);
    bool locked = false;
    int old = st == TG_OK && *replaces ? hold_replaced(path, &locked) : -1;
    if (old >= 0) close(old);
    if (locked) st = locked_error(path, err);
    if (st != TG_OK) tg_afile_abort(f);
    return st;
}

/* The temporary beside path, made with mode and held (hold_temp); the stop signals are held from
 * here to its rename or removal. On an error f is aborted. */
static tg_status make_temp(tg_afile *f, const char *path, mode_t mode, tg_err *err) {
    hold_stop_signals();
    f->held = true;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    bool cut = strlen(base) > TEMP_NAME_KEEP;   /* the folder, and the name or its head and '~' */
    int keep = (int)((size_t)(base - path) + (cut ? temp_head(base) : strlen(base)));
    size_t len = strlen(path) + 48;
    f->tmp = malloc(len);
    if (!f->tmp) {
        tg_afile_abort(f);
        return tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", SHOWN(path));
    }
    for (int i = 0; i < MAX_TMP_TRIES && f->fd < 0; i++) {
        snprintf(f->tmp, len, "%.*s%s.tmp.%ld.%d", keep, path, cut ? "~" : "", (long)getpid(), i);
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (f->fd >= 0 && !hold_temp(f->fd, f->tmp)) {
            close(f->fd);   /* removed by a clean-up before the lock: not ours any more */
            f->fd = -1;
            errno = EEXIST;
        }
        if (f->fd < 0 && errno != EEXIST) break;
    }
    if (f->fd >= 0) return TG_OK;
    int e = errno;   /* the reason before the names, which can be long enough to cut the message */
    tg_status st = tg_err_set(err, TG_ERR_IO, "cannot create a temporary file beside %s: %s (%s)", SHOWN(path),
                              strerror(e), SHOWN(f->tmp));
    free(f->tmp);
    f->tmp = NULL;   /* not ours: never unlink it */
    tg_afile_abort(f);
    return st;
}

tg_status tg_afile_open_like(tg_afile *f, const char *path, const char *like, tg_err *err) {
    f->fd = -1;
    f->tmp = NULL;
    f->held = false;
    f->path = path && path[0] ? strdup(path) : NULL;
    if (!f->path) return tg_err_set(err, path && path[0] ? TG_ERR_NOMEM : TG_ERR_ARG, "cannot write: empty path");
    if (tg_afile_is_special(path)) return open_special(f, path, err);
    bool replaces;
    tg_status st = check_target(f, path, &replaces, err);
    if (st != TG_OK) return st;
    remove_dead_temps(path);
    /* (a new file is made with its bits, which are never wider than its end's) */
    return make_temp(f, path, replaces ? 0600 : new_file_mode(like), err);
}

tg_status tg_afile_write(tg_afile *f, const void *p, size_t n, tg_err *err) {
    return tg_afile_fd_write(f->fd, p, n, f->path, err);   /* the target, not its temporary */
}

tg_status tg_afile_pwrite(tg_afile *f, const void *p, size_t n, off_t at, tg_err *err) {
    inject_signal();
    if (inject_fault()) {
        errno = ENOSPC;
        return tg_err_set(err, TG_ERR_IO, "%s: write failed: %s (TAPEGRAD_FAIL_WRITE)",
                          SHOWN(f->path), strerror(errno));
    }
    const unsigned char *b = p;
    while (n > 0) {
        ssize_t k = pwrite(f->fd, b, n, at);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            if (k == 0) errno = EIO;
            return tg_err_set(err, TG_ERR_IO, "%s: write failed: %s", SHOWN(f->path),
                              strerror(errno));
        }
        b += k;
        n -= (size_t)k;
        at += k;
    }
    return TG_OK;
}

tg_status tg_afile_seek(tg_afile *f, off_t at, tg_err *err) {
    if (lseek(f->fd, at, SEEK_SET) < 0)
        return tg_err_set(err, TG_ERR_IO, "%s: cannot seek: %s", SHOWN(f->path), strerror(errno));
    return TG_OK;
}

void tg_afile_abort(tg_afile *f) {
    if (f->fd >= 0) close(f->fd);
    if (f->tmp) unlink(f->tmp);
    free(f->tmp);
    free(f->path);
    f->fd = -1;
    f->tmp = f->path = NULL;
    if (f->held) release_stop_signals();
    f->held = false;
}

/* The folder holding path ("." for a bare name), fsynced so the rename itself is durable. */
static tg_status sync_folder(const char *path, tg_err *err) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", SHOWN(path));
    tg_status st = TG_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool injected = fd >= 0 && inject_sync_fault();
    if (fd < 0 || injected || (fsync(fd) != 0 && errno != EINVAL))   /* EINVAL: the file system cannot sync folders */
        st = tg_err_set(err, TG_ERR_IO, "%s: saved, but its folder could not be synced: %s%s", SHOWN(path),
                        strerror(errno), SYNC_NOTE(injected));
    if (fd >= 0) close(fd);
    free(dir);
    return st;
}

tg_status tg_afile_fd_sync(int fd, const char *what, tg_err *err) {
    bool injected = inject_sync_fault();
    if (injected || fsync(fd) != 0)
        return tg_err_set(err, TG_ERR_IO, "%s: cannot sync: %s%s", SHOWN(what), strerror(errno), SYNC_NOTE(injected));
    return TG_OK;
}

tg_status tg_afile_commit(tg_afile *f, tg_err *err) {
    tg_status st = TG_OK;
    const char *what = f->path;   /* the target, not its temporary (removed when this fails) */
    if (f->tmp) keep_meta(f->fd, f->path);   /* (before the sync, which then covers it) */
    /* A device or FIFO cannot be synced (EINVAL/EROFS): only its close counts. */
    bool injected = inject_sync_fault();
    if (injected || (fsync(f->fd) != 0 && (f->tmp || (errno != EINVAL && errno != EROFS))))
        st = tg_err_set(err, TG_ERR_IO, "%s: cannot sync: %s%s", SHOWN(what), strerror(errno), SYNC_NOTE(injected));
    int fd = f->fd, lock = f->tmp ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;   /* the temporary's lock, to the rename */
    f->fd = -1;
    if (close(fd) != 0 && st == TG_OK) st = tg_err_set(err, TG_ERR_IO, "%s: cannot close: %s", SHOWN(what), strerror(errno));
    else if (st == TG_OK && (injected = inject_sync_fault()))
        st = tg_err_set(err, TG_ERR_IO, "%s: cannot close: %s%s", SHOWN(what), strerror(errno), SYNC_NOTE(injected));
    bool locked = false;
    int old = st == TG_OK && f->tmp ? hold_replaced(f->path, &locked) : -1;   /* (held over the rename) */
    if (locked) st = locked_error(f->path, err);
    if (st == TG_OK && f->tmp && ((injected = inject_sync_fault()) || rename(f->tmp, f->path) != 0))
        st = tg_err_set(err, TG_ERR_IO, "%s: cannot rename %s over it: %s%s", SHOWN(f->path), SHOWN(f->tmp),
                        strerror(errno), SYNC_NOTE(injected));
    if (old >= 0) close(old);
    if (lock >= 0) close(lock);
    if (st != TG_OK) {
        tg_afile_abort(f);
        return st;
    }
    if (f->tmp) {
        free(f->tmp);   /* renamed: nothing left to unlink */
        f->tmp = NULL;
        st = sync_folder(f->path, err);
    }
    tg_afile_abort(f);
    return st;
}

tg_status tg_afile_save(const char *path, const void *p, size_t n, tg_err *err) {
    tg_afile f;
    tg_status st = tg_afile_open(&f, path, err);
    if (st != TG_OK) return st;
    st = tg_afile_write(&f, p, n, err);
    if (st != TG_OK) {
        tg_afile_abort(&f);
        return st;
    }
    return tg_afile_commit(&f, err);
}

tg_status tg_afile_save_stream(const char *path, FILE *in, const char *from, const char *like, tg_err *err) {
    enum { PIECE = 64 * 1024 };
    char *buf = malloc(PIECE);
    if (!buf) return tg_err_set(err, TG_ERR_NOMEM, "out of memory copying %s", SHOWN(from));
    tg_afile out;
    tg_status st = tg_afile_open_like(&out, path, like, err);
    size_t n;
    while (st == TG_OK && (n = fread(buf, 1, PIECE, in)) > 0) st = tg_afile_write(&out, buf, n, err);
    free(buf);
    if (st == TG_OK && ferror(in)) st = tg_err_set(err, TG_ERR_IO, "cannot read %s", SHOWN(from));
    if (st == TG_OK) return tg_afile_commit(&out, err);
    tg_afile_abort(&out);   /* (nothing left to undo after a failed open) */
    return st;
}

tg_status tg_afile_save_own(const char *path, const void *p, size_t n, tg_err *err) {
    if (tg_afile_is_special(path))
        return tg_err_set(err, TG_ERR_IO, "%s: not a regular file (a FIFO, socket or device); tapegrad writes a file there: "
                          "remove it", SHOWN(path));
    return tg_afile_save(path, p, n, err);
}

tg_status tg_afile_append_open(const char *path, int *fd, tg_err *err) {
    /* O_NONBLOCK: a FIFO there is refused (ENXIO without a reader), not waited on for ever */
    *fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
    int e = *fd < 0 ? errno : 0;
    struct stat sb;
    if (!e && fstat(*fd, &sb) != 0) e = errno;
    else if (!e && !S_ISREG(sb.st_mode)) e = ENXIO;
    else if (!e && fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) & ~O_NONBLOCK) != 0) e = errno;
    if (!e) return TG_OK;
    if (*fd >= 0) close(*fd);
    *fd = -1;
    if (e == ELOOP)
        return tg_err_set(err, TG_ERR_IO, "%s: is a symbolic link; refusing to append through it", SHOWN(path));
    if (e == ENXIO)
        return tg_err_set(err, TG_ERR_IO, "%s: not a regular file (a FIFO, socket or device); refusing to append to it", SHOWN(path));
    return tg_err_set(err, TG_ERR_IO, "%s: cannot open for appending: %s", SHOWN(path), strerror(e));
}
