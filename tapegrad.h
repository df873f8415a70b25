/* tapegrad.h: the whole public API of libtapegrad in one include (see docs/API.md for a tour).
 *
 *   #include <tapegrad.h>      // cc prog.c $(pkg-config --cflags --libs tapegrad)
 *
 * What each header gives:
 *   autograd/status.h     tg_status codes and tg_err messages (every fallible call)
 *   autograd/autograd.h   contexts (arena, tape, threads), tensors, every op, backward, no-grad
 *                         mode, the parameter store, custom ops
 *   autograd/gradcheck.h  analytic gradients against finite differences
 *   autograd/pool.h       the thread pool
 *   autograd/tokens.h     the special token ids (pad, bos, eos, unk)
 *   nn/blocks.h           layers as building blocks: linear, norm, multi-head attention,
 *                         feed-forward, positions, encoder/decoder layers, initialisation
 *   nn/nn.h               the encoder-decoder Transformer, its loss and decoding
 *   optim/optim.h         Adam/AdamW, gradient clipping, learning-rate schedules
 *   datasets/datasets.h   corpora, BPE vocabularies, batching, synthetic tasks
 *   train/ckpt/ckpt_file.h     the checkpoint container (atomic, zlib, CRC32)
 *   train/ckpt/params_file.h   tg_params_save / tg_params_load
 */
#ifndef TAPEGRAD_H
#define TAPEGRAD_H

#include "autograd/autograd.h"
#include "autograd/gradcheck.h"
#include "autograd/pool.h"
#include "autograd/status.h"
#include "autograd/tokens.h"
#include "datasets/datasets.h"
#include "nn/blocks.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "train/ckpt/ckpt_file.h"
#include "train/ckpt/params_file.h"

#endif /* TAPEGRAD_H */
