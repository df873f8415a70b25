/* text_out.h: text that came from a file or the command line, written out safely.
 *
 * - tg_json_str: one JSON string literal (quotes included), for every --json command: '"', '\',
 *   control characters and bytes that are not UTF-8 are escaped, so any path or name gives
 *   valid JSON ("a\"b" -> "a\\\"b", a stray 0xFF byte -> "\ufffd").
 * - tg_json_num: a number as printf's %.*f (%.*e from 1e9 on, as tg_format_num), or null when
 *   it is NaN or infinite (JSON has no NaN: a diverged evaluation still gives valid JSON).
 * - tg_fput_shown, tg_shown, tg_shown_tail: text shown escaped (train/ckpt/shown.h).
 * Private to train/. */
#ifndef TG_TEXT_OUT_H
#define TG_TEXT_OUT_H

#include <stddef.h>
#include <stdio.h>

#include "datasets/shown.h"

void tg_json_str(FILE *f, const char *s);
void tg_json_num(FILE *f, int decimals, double x);

#endif /* TG_TEXT_OUT_H */
