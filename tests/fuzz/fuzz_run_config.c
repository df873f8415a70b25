/* fuzz_run_config.c: the run config parser (config.txt, --config files, a checkpoint's config
 * section). A config that parses is formatted and parsed again: the text this program writes
 * must read back without an error. */
#include "tests/fuzz/fuzz.h"
#include "train/run/options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_cstr(data, size);
    tg_run_config c;
    tg_run_config_default(&c);
    tg_err err;
    if (tg_run_config_parse(&c, text, "fuzz.cfg", &err) == TG_OK) {
        enum { CAP = 64 * 1024 };
        char *out = malloc(CAP);
        if (!out) abort();
        int n = tg_run_config_format(&c, out, CAP);
        FUZZ_CHECK(n >= 0 && n < CAP);
        tg_run_config d;
        tg_run_config_default(&d);
        FUZZ_CHECK(tg_run_config_parse(&d, out, "formatted", &err) == TG_OK);
        free(out);
    } else {
        FUZZ_CHECK(err.msg[0] != '\0');
    }
    free(text);
    return 0;
}
