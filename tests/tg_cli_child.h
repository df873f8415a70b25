/* tg_cli_child.h: running `tapegrad` commands in a forked child, as a user runs them (exit code,
 * stdout and stderr to files), for the end-to-end suites. */
#ifndef TG_CLI_CHILD_H
#define TG_CLI_CHILD_H

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "train/cli/commands.h"

/* Starts `tapegrad <argv...>` (NULL-terminated) with stdout/stderr to files, stdin from in. */
static inline pid_t tg_cli_spawn(const char *out, const char *errf, const char *in, char **argv) {
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), fe = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fo, 1);
        dup2(fe, 2);
        if (in) { int fi = open(in, O_RDONLY); dup2(fi, 0); }
        int argc = 0;
        while (argv[argc]) argc++;
        int rc;
        if (!strcmp(argv[0], "train")) rc = tg_cmd_train(argc, argv);
        else if (!strcmp(argv[0], "translate")) rc = tg_cmd_translate(argc, argv);
        else if (!strcmp(argv[0], "eval")) rc = tg_cmd_eval(argc, argv);
        else if (!strcmp(argv[0], "ckpt")) rc = tg_cmd_ckpt(argc, argv);
        else rc = 99;
        fflush(NULL);
        _exit(rc);
    }
    return pid;
}

static inline int tg_cli_wait(pid_t pid) {
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A whole file as a NUL-terminated string ("" if it cannot be read); the caller frees it. */
static inline char *tg_cli_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    size_t n = 0;
    char *s = NULL;
    if (f && fseek(f, 0, SEEK_END) == 0) {
        long end = ftell(f);
        fseek(f, 0, SEEK_SET);
        s = malloc(end > 0 ? (size_t)end + 1 : 1);
        n = s && end > 0 ? fread(s, 1, (size_t)end, f) : 0;
    }
    if (f) fclose(f);
    if (!s) s = calloc(1, 1);
    ck_assert_ptr_nonnull(s);
    s[n] = '\0';
    if (len) *len = n;
    return s;
}

#endif /* TG_CLI_CHILD_H */
