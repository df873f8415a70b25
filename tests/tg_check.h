/* tg_check.h: what every Check suite's main shares. */
#ifndef TG_CHECK_H
#define TG_CHECK_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

/* The folder tests write in: $TMPDIR, or /tmp when it is unset or empty. scripts/test.sh gives
 * ctest a TMPDIR of its own and fails when a test leaves files there. */
static inline const char *tg_check_tmp_base(void) {
    const char *base = getenv("TMPDIR");
    return base && *base ? base : "/tmp";
}

/* Makes a fresh folder tg_check_tmp_base()/NAME_XXXXXX in buf and returns buf, or NULL. */
static inline char *tg_check_mkdtemp(char *buf, size_t cap, const char *name) {
    int n = snprintf(buf, cap, "%s/%s_XXXXXX", tg_check_tmp_base(), name);
    if (n < 0 || (size_t)n >= cap) return NULL;
    return mkdtemp(buf);
}

/* Runs the suite (Check frees it) and returns the number of failed tests. */
static inline int tg_check_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}

#endif /* TG_CHECK_H */
