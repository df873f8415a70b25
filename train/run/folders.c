/* folders.c: creating a run's (or an experiment's) folder with its parents, as `mkdir -p`. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

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
