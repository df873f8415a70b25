/* output.c: the last step of every command that writes to stdout: what was written must have
 * reached it (a full disk or a closed pipe is a failure, not a silent exit 0). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "train/cli/commands.h"

int tg_cli_output_done(const char *who, int rc) {
    errno = 0;
    int flushed = fflush(stdout);
    if (flushed == 0 && !ferror(stdout)) return rc;
    fprintf(stderr, "%s: cannot write the output: %s\n", who, errno ? strerror(errno) : "write error");
    clearerr(stdout);   /* reported once, not again by main */
    return rc ? rc : 1;
}
