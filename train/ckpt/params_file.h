/* params_file.h: a parameter store (tg_params) saved to and loaded from a checkpoint file, so any
 * model gets the container's safety: atomic writes (a crash keeps the previous file), zlib, CRC32,
 * a truncated or foreign file refused with its name.
 *
 *   if (tg_params_save(P, "lm.ckpt", &err) != TG_OK) ... err.msg ...
 *   // later, a store declared the same way (names and shapes, in order) and allocated:
 *   if (tg_params_load(P, "lm.ckpt", &err) != TG_OK) ... err.msg: which file, what differs ...
 *
 * To keep more in the same file (optimiser state, step), add the store to a writer of your own
 * with tg_params_write and your sections beside it (ckpt_file.h), and read it back with
 * tg_params_read. Sections: "param_index" (element size, count, then each parameter's name and
 * shape) and "params" (every value, the one contiguous buffer as in memory). A file of the float
 * build loads in the double build and back (values converted).
 */
#ifndef TG_PARAMS_FILE_H
#define TG_PARAMS_FILE_H

#include "autograd/autograd.h"
#include "train/ckpt/ckpt_file.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Adds P's sections to w; P's values are borrowed (not copied) until w is saved or freed.
 * TG_ERR_STATE if P is not allocated; TG_ERR_ARG if w already has such a section. */
tg_status tg_params_write(const tg_params *P, tg_ckpt_writer *w, tg_err *err);
/* Copies the values of r's sections into P after checking that r holds P's parameters: the same
 * count, names and shapes in the same order. TG_ERR_CORRUPT naming the file and the first
 * difference otherwise (P is then unchanged); errors of a missing section as tg_ckpt_reader_get. */
tg_status tg_params_read(tg_params *P, const tg_ckpt_reader *r, tg_err *err);
/* A file holding only P, written atomically (PATH.tmp.<pid>, fsync, rename); TG_ERR_IO naming
 * the path when it cannot be written (the previous file, if any, is then intact). */
tg_status tg_params_save(const tg_params *P, const char *path, tg_err *err);
/* Opens and validates path as tg_ckpt_reader_open does, then tg_params_read. */
tg_status tg_params_load(tg_params *P, const char *path, tg_err *err);

#ifdef __cplusplus
}
#endif

#endif /* TG_PARAMS_FILE_H */
