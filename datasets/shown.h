/* shown.h: text from a file or the command line as a terminal or a message shows it: control
 * characters (C0, DEL, C1) and bytes that are not UTF-8 become \xNN a byte, so a hand-edited
 * checkpoint or a file's name cannot send terminal escapes or break a message's line.
 * - tg_fput_shown: n bytes of s so, onto f.
 * - tg_shown: s so into out (cap bytes, cut at a character), returned for a printf "%s": a file
 *   name or argument in a message or a table.
 * - tg_shown_tail: the same, but a name too long for cap is shown as "..." and its last
 *   characters (cap > 4): where a name sits before the reason in a message of fixed size.
 * In datasets/, the lowest layer whose messages name a file the user gave (the readers, the
 * saves' messages in atomic_file.c): private to the tree, not an installed header. */
#ifndef TG_SHOWN_H
#define TG_SHOWN_H

#include <stddef.h>
#include <stdio.h>

void tg_fput_shown(FILE *f, const char *s, size_t n);
const char *tg_shown(char *out, size_t cap, const char *s);
const char *tg_shown_tail(char *out, size_t cap, const char *s);

/* A name in a message of tg_err's 512 bytes, before its reason: tg_shown_tail into a buffer of
 * the expression's own (160 bytes: two names and the reason fit; a path can hold 4,095 bytes,
 * and a control byte is shown in 4). For a printf "%s" argument. */
#define TG_SHOWN_MAX 160
#define TG_SHOWN(name) TG_SHOWN_IN(TG_SHOWN_MAX, name)
/* The same in cap bytes, where a message holds more than one long part (cap a constant > 4). */
#define TG_SHOWN_IN(cap, name) tg_shown_tail((char[cap]){0}, cap, (name))

#endif /* TG_SHOWN_H */
