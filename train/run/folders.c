/* folders.c: a run's (or an experiment's) folder: creating it with its parents, as `mkdir -p`,
 * and the lock a run holds on it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/run/run.h"

int tg_mkdir_p(const char *path) {
    char buf[TG_PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) { errno = ENAMETOOLONG; return -1; }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

int tg_run_folder_lock(const char *dir, tg_err *err) {
    char path[TG_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return tg_err_set(err, TG_ERR_IO, "cannot open %s: %s", path, strerror(errno)), -1;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
    int e = errno;
    close(fd);
    if (e == EWOULDBLOCK)
        tg_err_set(err, TG_ERR_STATE, "%s is in use by another tapegrad train (its lock %s is held)", dir, path);
    else
        tg_err_set(err, TG_ERR_IO, "cannot lock %s: %s", path, strerror(e));
    return -1;
}
