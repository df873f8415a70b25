/* test_params_file.c: tg_params_save / tg_params_load — a store round-trips bit for bit; a file
 * of another store, a foreign or missing file is refused by name and leaves the store as it was. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "autograd/autograd.h"
#include "tests/tg_check.h"
#include "train/ckpt/params_file.h"

/* A store "a" (2, 3), then b_name (shape b_dim), values i * 0.25 + k. */
static tg_params *store(const char *b_name, int b_dim, double k) {
    tg_params *P = tg_params_new();
    ck_assert_ptr_nonnull(tg_params_add(P, "a", 2, (int[]){2, 3}));
    ck_assert_ptr_nonnull(tg_params_add(P, b_name, 1, (int[]){b_dim}));
    ck_assert_int_eq(tg_params_alloc(P, NULL), TG_OK);
    for (int64_t i = 0; i < tg_params_numel(P); i++)
        tg_params_data(P)[i] = (tg_float)(i * 0.25 + k);
    return P;
}

static char path[256];
static void setup(void) {
    snprintf(path, sizeof path, "%s/tg_params_%d.ckpt", tg_check_tmp_base(), (int)getpid());
}
static void teardown(void) { remove(path); }

START_TEST(test_params_round_trip) {
    tg_params *P = store("b", 4, 1), *Q = store("b", 4, 9);
    tg_err err;
    ck_assert_int_eq(tg_params_save(P, path, &err), TG_OK);
    ck_assert_int_eq(tg_params_load(Q, path, &err), TG_OK);
    ck_assert(!memcmp(tg_params_data(P), tg_params_data(Q), 10 * sizeof(tg_float)));
    tg_params_free(P);
    tg_params_free(Q);
}
END_TEST

START_TEST(test_params_mismatch_refused) {
    tg_params *P = store("b", 4, 1);
    tg_err err;
    ck_assert_int_eq(tg_params_save(P, path, &err), TG_OK);
    struct {
        const char *name;
        int dim;
        const char *msg;
    } cases[] = {
        {"c", 4, "parameter 1 is 'b' (4), the model expects 'c' (4)"},
        {"b", 5, "parameter 1 is 'b' (4), the model expects 'b' (5)"},
    };
    for (int i = 0; i < 2; i++) {
        tg_params *Q = store(cases[i].name, cases[i].dim, 9);
        ck_assert_int_eq(tg_params_load(Q, path, &err), TG_ERR_CORRUPT);
        ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, cases[i].msg), "%s", err.msg);
        ck_assert(tg_params_data(Q)[0] == 9); /* untouched */
        tg_params_free(Q);
    }
    tg_params *Q = store("b", 4, 9);
    ck_assert_int_eq(tg_params_load(Q, "README.md", &err), TG_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "README.md: not a tapegrad checkpoint"), "%s", err.msg);
    ck_assert_int_eq(tg_params_load(Q, "/nonexistent/x.ckpt", &err), TG_ERR_IO);
    ck_assert(strstr(err.msg, "/nonexistent/x.ckpt"));
    ck_assert(tg_params_data(Q)[0] == 9);
    tg_params *R = tg_params_new(); /* not allocated */
    ck_assert_int_eq(tg_params_save(R, path, &err), TG_ERR_STATE);
    ck_assert_int_eq(tg_params_load(P, path, &err), TG_OK); /* the file was kept */
    tg_params_free(R);
    tg_params_free(Q);
    tg_params_free(P);
}
END_TEST

/* A diverged store is not saved; a file holding a NaN (here: a store changed between the
 * section's reference and the write) is refused by name and leaves the store as it was. */
START_TEST(test_params_non_finite_refused) {
    tg_params *P = store("b", 4, 1), *Q = store("b", 4, 9);
    tg_err err;
    tg_params_data(P)[7] = (tg_float)NAN;
    ck_assert_int_eq(tg_params_save(P, path, &err), TG_ERR_NUMERIC);
    ck_assert_msg(strstr(err.msg, "parameter 'b' holds nan at element 1"), "%s", err.msg);
    ck_assert_int_ne(access(path, F_OK), 0);
    tg_params_data(P)[7] = 1;
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    ck_assert_int_eq(tg_params_write(P, w, &err), TG_OK);   /* 'params' refers to P's buffer */
    tg_params_data(P)[2] = (tg_float)INFINITY;
    ck_assert_int_eq(tg_ckpt_writer_save(w, path, &err), TG_OK);
    tg_ckpt_writer_free(w);
    ck_assert_int_eq(tg_params_load(Q, path, &err), TG_ERR_NUMERIC);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "parameter 'a' holds inf at element 2"), "%s", err.msg);
    for (int64_t i = 0; i < tg_params_numel(Q); i++) ck_assert(tg_params_data(Q)[i] == (tg_float)(i * 0.25 + 9));
    tg_params_free(P);
    tg_params_free(Q);
}
END_TEST

int main(void) {
    Suite *s = suite_create("params_file");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_params_round_trip);
    tcase_add_test(tc, test_params_mismatch_refused);
    tcase_add_test(tc, test_params_non_finite_refused);
    suite_add_tcase(s, tc);
    return tg_check_run(s) ? 1 : 0;
}
