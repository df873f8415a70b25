/* fuzz_run_config.c: the run config parser (config.txt, --config files, a checkpoint's config
 * section). A config that parses is formatted and parsed again: the text this program writes
 * must read back without an error. Its check of a --config file's unused settings refuses with
 * the file and a line the input has, and never refuses the text of a run's config.txt (the config
 * with what a run would not use at its defaults, as train keeps it): that text serves as a config. */
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "train/run/options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_cstr(data, size);
    tg_run_config c;
    tg_run_config_default(&c);
    tg_err err;
    tg_run_config_lines lines;
    if (tg_run_config_parse_lines(&c, text, "fuzz.cfg", &lines, &err) == TG_OK) {
        enum { CAP = 64 * 1024 };
        char *out = malloc(CAP);
        if (!out) abort();
        int n = tg_run_config_format(&c, out, CAP);
        FUZZ_CHECK(n >= 0 && n < CAP);
        tg_run_config d;
        tg_run_config_default(&d);
        FUZZ_CHECK(tg_run_config_parse(&d, out, "formatted", &err) == TG_OK);
        long n_lines = 1, at;
        for (const char *p = text; (p = strchr(p, '\n')); p++) n_lines++;
        tg_status s = tg_run_config_check_lines(&c, &lines, "fuzz.cfg", &err);
        FUZZ_CHECK(s == TG_OK || (s == TG_ERR_ARG && !strncmp(err.msg, "fuzz.cfg:", 9) &&
                                  (at = strtol(err.msg + 9, NULL, 10)) >= 1 && at <= n_lines));
        tg_run_config_unused_to_defaults(&c);   /* as a run keeps it (train refuses the rest) */
        n = tg_run_config_format(&c, out, CAP);
        FUZZ_CHECK(n >= 0 && n < CAP);
        tg_run_config_default(&d);
        FUZZ_CHECK(tg_run_config_parse_lines(&d, out, "config.txt", &lines, &err) == TG_OK);
        FUZZ_CHECK(tg_run_config_check_lines(&d, &lines, "config.txt", &err) == TG_OK);
        free(out);
    } else {
        FUZZ_CHECK(err.msg[0] != '\0');
    }
    free(text);
    return 0;
}
