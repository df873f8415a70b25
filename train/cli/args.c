/* args.c: the commands' flag values, checked. Numbers parsed strictly: the whole text one decimal
 * number, no leading blank, no trailing text, no overflow (strtol would wrap 4294967297 to 1
 * through an int cast, and take " 2" or "" as numbers). Paths: whether an output names an input. */
#include "train/cli/commands.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/run/text_out.h"

const char *tg_arg_shown(const char *s) {
    static char buf[1024];
    return s ? tg_shown(buf, sizeof buf, s) : "(null)";
}

/* The long option a typed name (no "--", to '=' or its end) stands for: the exact name, or the one
 * it abbreviates; NULL if none or several. */
static const struct option *long_named(const struct option *opts, const char *name, size_t len, int *n_match) {
    const struct option *hit = NULL;
    *n_match = 0;
    for (const struct option *o = opts; o->name; o++) {
        if (strncmp(o->name, name, len)) continue;
        if (strlen(o->name) == len) { *n_match = 1; return o; }
        hit = o;
        ++*n_match;
    }
    return *n_match == 1 ? hit : NULL;
}

int tg_arg_getopt(const char *who, int argc, char **argv, const char *shortopts, const struct option *opts,
                  int *longindex) {
    char so[64];
    snprintf(so, sizeof so, ":%s", shortopts);   /* ':' : a missing value is told apart */
    opterr = 0;   /* glibc would print the option raw, control bytes and all */
    int c = getopt_long(argc, argv, so, opts, longindex);
    if (c != '?' && c != ':') return c;
    /* a long option's errors leave optind past its word; a short one's not always (-qx: q) */
    const char *word = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    bool dashes = !strncmp(word, "--", 2);
    const char *name = word + (dashes ? 2 : 0), *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int n_match = 0;
    const struct option *o = dashes ? long_named(opts, name, len, &n_match) : NULL;
    bool is_long = dashes && (c == ':' || optopt == 0 || (eq && o && o->val == optopt));
    char typed[1024];
    if (!is_long) snprintf(typed, sizeof typed, "-%c", optopt);
    else if (o) snprintf(typed, sizeof typed, "--%s", o->name);
    else if (n_match > 1) snprintf(typed, sizeof typed, "--%.*s", (int)len, name);
    else snprintf(typed, sizeof typed, "%s", word);   /* (as typed, with any =VALUE, as glibc did) */
    const char *what = c == ':' ? "requires an argument"
                     : is_long && o && optopt ? "doesn't allow an argument"
                     : is_long && n_match > 1 ? "is ambiguous: give more of its name" : NULL;
    if (what) fprintf(stderr, "tapegrad %s: option '%s' %s\n", who, tg_arg_shown(typed), what);
    else fprintf(stderr, "tapegrad %s: unrecognized option '%s'\n", who, tg_arg_shown(typed));
    return '?';
}

bool tg_arg_long(const char *s, long lo, long hi, long *out) {
    if (!s || !*s || isspace((unsigned char)*s) || *s == '+') return false;   /* "+5": no sign but '-' */
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool tg_arg_double(const char *s, double lo, double hi, double *out) {
    /* decimal only: strtod would take hex (0x1p3) and blanks */
    if (!s || !*s || isspace((unsigned char)*s) || strpbrk(s, "xX")) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);   /* (ERANGE: 1e400, or 1e-400 read as 0) */
    if (*end || errno == ERANGE || !isfinite(v) || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

bool tg_arg_int(const char *who, const char *flag, const char *s, long lo, long hi, int *out) {
    long v;
    if (lo >= INT_MIN && hi <= INT_MAX && tg_arg_long(s, lo, hi, &v)) {
        *out = (int)v;
        return true;
    }
    fprintf(stderr, "tapegrad %s: %s wants a whole number in [%ld, %ld], not '%s'\n", who, flag, lo, hi,
            tg_arg_shown(s));
    return false;
}

bool tg_arg_real(const char *who, const char *flag, const char *s, double lo, double hi, double *out) {
    if (tg_arg_double(s, lo, hi, out)) return true;
    fprintf(stderr, "tapegrad %s: %s wants a number in [%g, %g], not '%s'\n", who, flag, lo, hi, tg_arg_shown(s));
    return false;
}

bool tg_cli_output_name_ok(const char *who, const char *out, bool to_stdout) {
    if (strcmp(out, "-")) return true;
    fprintf(stderr, "%s: -o -: '-' would be a file of that name (it is stdin as an input): give a file name%s\n",
            who, to_stdout ? ", or -o /dev/stdout to write to stdout" : "");
    return false;
}

bool tg_cli_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

