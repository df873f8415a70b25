/* tg_check.h: what every Check suite's main shares. */
#ifndef TG_CHECK_H
#define TG_CHECK_H

#include <check.h>

/* Runs the suite (Check frees it) and returns the number of failed tests. */
static inline int tg_check_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}

#endif /* TG_CHECK_H */
