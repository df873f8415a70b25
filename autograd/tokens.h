/* tokens.h: the special token ids, the same in the data pipeline (datasets/) and the model (nn/):
 * defined once here, header-only like status.h, so that neither folder depends on the other.
 * They are the PyTorch reference's ids. The model feeds source = pieces + eos, decoder input =
 * bos + target, labels = target + eos; padding is 0 everywhere (never attended to, ignored by
 * the loss, the embedding's zero row). */
#ifndef TG_TOKENS_H
#define TG_TOKENS_H

enum {
    TG_PAD_ID = 0,     /* padding */
    TG_BOS_ID = 1,     /* beginning of a decoder input */
    TG_EOS_ID = 2,     /* end of a sentence */
    TG_UNK_ID = 3,     /* a piece the vocabulary does not have */
    TG_N_SPECIAL = 4,  /* ids below this are special */
};

#endif /* TG_TOKENS_H */
