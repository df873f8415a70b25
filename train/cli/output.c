/* output.c: the last step of every command that writes to stdout: what was written must have
 * reached it (a full disk or a closed pipe is a failure, not a silent exit 0). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "train/cli/commands.h"

static int first_errno;   /* of the first failed tg_cli_flush: a later flush has nothing to write */

void tg_cli_flush(void) {
    errno = 0;
    if ((fflush(stdout) != 0 || ferror(stdout)) && !first_errno) first_errno = errno;
}

int tg_cli_output_done(const char *who, int rc) {
    errno = 0;
    int flushed = fflush(stdout);
    int e = errno ? errno : first_errno;
    first_errno = 0;
    if (flushed == 0 && !ferror(stdout)) return rc;
    fprintf(stderr, "%s: cannot write the output: %s\n", who, e ? strerror(e) : "write error");
    clearerr(stdout);   /* reported once, not again by main */
    return rc ? rc : 1;
}
