/* datasets.h: parallel corpora, the BPE tokenizer, token-budget batches and synthetic tasks.
 *
 * - Readers for TSV (`source<TAB>target`) and Moses-style file pairs (train.en + train.es), with
 *   UTF-8 checks, whitespace normalisation and a bad-line policy (error, or skip and count).
 * - A joint source+target BPE vocabulary: learned from word counts, saved as readable text,
 *   encoded with a per-word cache, decoded losslessly; byte fallback for unseen characters.
 * - Tokenized datasets with a max-length filter, and a batch iterator: length-sorted batches
 *   sized by a token budget that counts padding, shuffled per epoch by a seeded RNG, whose whole
 *   state is a small struct of integers that a checkpoint saves and restores.
 * - Synthetic tasks (copy, reverse, sort) that give the same datasets and batches.
 *
 *   tg_err err;
 *   tg_corpus c;
 *   if (tg_corpus_read_tsv(&c, "train.tsv", NULL, &err) != TG_OK) { puts(err.msg); ... }
 *   tg_bpe *bpe;
 *   tg_bpe_learn(&bpe, &c, &(tg_bpe_learn_opts){.merges = 8000}, &err);
 *   tg_bpe_save(bpe, "vocab.txt", &err);
 *   tg_dataset ds = {0};
 *   tg_dataset_from_corpus(&ds, &c, bpe, 128, &err);           // drops pairs over 128 pieces
 *   tg_batch_iter *it;
 *   tg_batch_iter_new(&it, &ds, &(tg_batch_opts){.max_tokens = 2500, .seed = 1, .shuffle = true}, &err);
 *   tg_batch b = {0};
 *   while (training) {
 *       tg_batch_iter_next(it, &b, &err);       // b.src (B, S), b.tgt_in (B, T), b.tgt_out (B, T)
 *       ...
 *       tg_batch_iter_state st = tg_batch_iter_get_state(it);   // into the checkpoint
 *   }
 *   tg_batch_free(&b); tg_batch_iter_free(it); tg_dataset_free(&ds); tg_bpe_free(bpe);
 *   tg_corpus_free(&c);
 *
 * Nothing here prints or exits; every failure is a tg_status with a message in tg_err naming the
 * file and line of bad input. Token ids are int32_t; the special ids are fixed (TG_PAD_ID...).
 * Objects are not thread-safe (the BPE encoder fills a cache); use one per thread.
 */
#ifndef TG_DATASETS_H
#define TG_DATASETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/status.h"
#include "autograd/tokens.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The special token ids (TG_PAD_ID, TG_BOS_ID, TG_EOS_ID, TG_UNK_ID, TG_N_SPECIAL) are in
 * autograd/tokens.h, shared with the model. */

/* Growable arrays the library fills (appends to or overwrites, as each function says).
 * Zero-initialise before first use; free with tg_ids_free / tg_str_free. */
typedef struct tg_ids {
    int32_t *v;
    size_t n, cap;
} tg_ids;

typedef struct tg_str {
    char *s; /* NUL-terminated after every library call that writes it */
    size_t n, cap;
} tg_str;

void tg_ids_free(tg_ids *ids);
void tg_str_free(tg_str *t);

/* ---- UTF-8 and normalisation ------------------------------------------------------------- */

/* Length (1..4) of the well-formed UTF-8 character at s (n bytes available) and its code point,
 * or 0 if the bytes there are not valid UTF-8 (overlong forms, surrogates and values above
 * U+10FFFF are invalid). */
int tg_utf8_next(const char *s, size_t n, uint32_t *cp);

/* True if s[0..n) is valid UTF-8; otherwise false and *bad_at (if given) is the byte offset of
 * the first invalid sequence. */
bool tg_utf8_valid(const char *s, size_t n, size_t *bad_at);

/* Byte length of the whitespace character at s, or 0. Whitespace is ASCII space, \t \n \v \f \r
 * and Unicode's White_Space characters (U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029,
 * U+202F, U+205F, U+3000). Words are the runs between whitespace, for normalisation and BPE.
 * This is deliberately not Python's str.isspace() (train/metrics' tg_uni_is_space, which
 * sacreBLEU's word splitting needs): that one adds U+001C..U+001F, control characters that a
 * corpus should keep as text rather than split on. */
size_t tg_utf8_space_len(const char *s, size_t n);

/* The normalisation the corpus readers apply (and BPE encoding implies), for other input such
 * as text to translate. Normalises s[0..n) in place: every run of whitespace becomes one ASCII
 * space, leading and trailing whitespace are removed. Returns the new length (<= n); writes no terminator.
 * Bytes that are not valid UTF-8 pass through unchanged. */
size_t tg_corpus_normalize(char *s, size_t n);

/* ---- whole files --------------------------------------------------------------------------- */

/* Reads a whole file ("-" = stdin, named <stdin> in messages) into *out (malloc'd, NUL-terminated after *out_len bytes).
 * A gzip file is decompressed, every member of a multi-member file in turn; a damaged or
 * truncated member, or bytes after the last member, are an error naming the file. More than
 * max_bytes (after decompression; max_bytes < SIZE_MAX) is refused without reading further, so
 * an endless device or a decompression bomb costs at most that much memory. A NUL byte, or a run
 * of more than TG_FILE_MAX_LINE_RUN bytes without a '\n', is refused as soon as it is read, naming
 * the line: every caller reads text, and /dev/zero, /dev/urandom or a binary would otherwise be
 * read up to max_bytes (8 GiB for a corpus) before its first line was looked at. */
#define TG_FILE_MAX_LINE_RUN ((size_t)16 << 20)
tg_status tg_file_read(const char *path, size_t max_bytes, char **out, size_t *out_len, tg_err *err);
/* How messages name path: "<stdin>" for "-", else path itself. */
const char *tg_file_shown(const char *path);
/* path reads the stream on stdin: "-", or a name of it (/dev/stdin, /proc/self/fd/0, the FIFO) when
 * stdin is no regular file (a regular one is opened again from its start: a second reader works). */
bool tg_file_reads_stdin(const char *path);
/* The same, with NUL bytes let through when nul_ok: for a corpus read under the skip policy, whose
 * lines holding a NUL are skipped and counted (a binary stream is then read up to max_bytes). */
tg_status tg_file_read_nul_ok(const char *path, size_t max_bytes, bool nul_ok, char **out, size_t *out_len,
                              tg_err *err);

/* ---- corpora ----------------------------------------------------------------------------- */

/* What to do with a bad line: stop with an error naming it (default), or skip it and count. */
typedef enum tg_bad_line_policy {
    TG_BAD_LINE_ERROR = 0,
    TG_BAD_LINE_SKIP,
} tg_bad_line_policy;

/* Why a line was bad (the checks run in this order; a line is counted under the first). */
typedef enum tg_bad_reason {
    TG_BAD_TOO_LONG = 0, /* longer than the byte limit */
    TG_BAD_NUL,          /* holds a NUL byte */
    TG_BAD_UTF8,         /* not valid UTF-8 */
    TG_BAD_NO_TAB,       /* TSV line without a tab (includes empty lines) */
    TG_BAD_EXTRA_TAB,    /* TSV line with more than one tab */
    TG_BAD_EMPTY_SIDE,   /* source or target empty after normalisation */
    TG_BAD_REASON_COUNT
} tg_bad_reason;

/* Short name of a reason, e.g. "invalid UTF-8". */
const char *tg_bad_reason_str(tg_bad_reason r);

/* Reader options; all-zero (or a NULL pointer) means the defaults. */
typedef struct tg_corpus_opts {
    tg_bad_line_policy on_bad_line;
    size_t max_line_bytes; /* 0 = TG_CORPUS_MAX_LINE_BYTES; counted without the line end */
    size_t max_file_bytes; /* 0 = TG_CORPUS_MAX_FILE_BYTES; a file's size after decompression */
    size_t max_lines;      /* 0 = no limit; a file with more lines is refused before any is kept */
} tg_corpus_opts;

#define TG_CORPUS_MAX_LINE_BYTES 65536
/* Far above any corpus this program trains on in memory (WMT14 en-de is 1.4 GB), far below
 * what /dev/zero or a gzip bomb would make it allocate. */
#define TG_CORPUS_MAX_FILE_BYTES ((size_t)8 << 30)

typedef struct tg_corpus_stats {
    size_t lines;                             /* lines read (line pairs, for file pairs) */
    size_t kept;                              /* pairs kept (= tg_corpus.n) */
    size_t skipped[TG_BAD_REASON_COUNT];      /* lines skipped, by reason */
    size_t first_line[TG_BAD_REASON_COUNT];   /* 1-based line of the first skip per reason, 0 if none */
} tg_corpus_stats;

/* A parallel corpus, normalised. src[i] and tgt[i] are NUL-terminated strings owned by the
 * corpus; line[i] is the 1-based line each pair came from (for messages). */
typedef struct tg_corpus {
    size_t n;
    char **src;    /* (n) */
    char **tgt;    /* (n) */
    size_t *line;  /* (n) */
    tg_corpus_stats stats;
    char *buf_[2]; /* private: the file contents the strings point into */
} tg_corpus;

/* Reads `source<TAB>target` lines ("-" reads stdin). A UTF-8 byte-order mark at the start is
 * dropped, a trailing "\n" or "\r\n" ends a line, the last line needs no newline. Fails (and
 * leaves *c empty) on a missing or empty file, on the first bad line under the error policy, or
 * when skipping leaves no pair. Messages read "FILE:LINE: what is wrong (what was expected)". */
tg_status tg_corpus_read_tsv(tg_corpus *c, const char *path, const tg_corpus_opts *opts,
                             tg_err *err);

/* Reads line-aligned file pairs (Moses style). Files with different line counts are always an
 * error (saying which ended first, at which line), whatever the policy; the per-line checks are
 * those of TSV but tabs are ordinary whitespace. */
tg_status tg_corpus_read_pair(tg_corpus *c, const char *src_path, const char *tgt_path,
                              const tg_corpus_opts *opts, tg_err *err);

void tg_corpus_free(tg_corpus *c);

/* ---- BPE vocabulary ---------------------------------------------------------------------- */

/* Id layout: 0..3 the specials (<pad> <s> </s> <unk>), 4..259 the byte pieces <0x00>..<0xFF>
 * (byte fallback), then the alphabet (every character seen in training, most frequent first),
 * then one piece per merge in merge order (a merge whose result equals an earlier piece reuses
 * its id). A word-initial piece starts with the marker U+2581 "▁" (as in sentencepiece); it is
 * kept internally as a separate symbol, so text that itself holds "▁" still round-trips. */
#define TG_BPE_FIRST_BYTE TG_N_SPECIAL
#define TG_BPE_FIRST_CHAR (TG_BPE_FIRST_BYTE + 256)

typedef struct tg_bpe tg_bpe;

typedef struct tg_bpe_learn_opts {
    int32_t merges;          /* how many merges to learn (fewer if pairs run out) */
    int64_t min_pair_count;  /* stop when the best pair occurs fewer times; 0 = 2 */
    int64_t min_char_count;  /* characters rarer than this go to bytes; 0 = 1 (keep all) */
} tg_bpe_learn_opts;

/* Learns a joint vocabulary from both sides of a corpus. Words are counted first (the line order
 * does not matter); the most frequent adjacent pair is merged each step, ties broken by the
 * smaller (left id, right id), so the result is a function of the word counts alone. */
tg_status tg_bpe_learn(tg_bpe **out, const tg_corpus *c, const tg_bpe_learn_opts *opts,
                       tg_err *err);

/* The same from any set of lines (each split into words at whitespace). */
tg_status tg_bpe_learn_lines(tg_bpe **out, const char *const *lines, size_t n,
                             const tg_bpe_learn_opts *opts, tg_err *err);

void tg_bpe_free(tg_bpe *bpe);

/* The vocabulary as text: "tapegrad-bpe 1", the specials, the alphabet one character a line,
 * then one merge a line ("left right", in order). Pieces are written with "▁" for the marker and
 * \xNN escapes for backslash, control bytes and a literal U+2581. Loading checks every line and
 * reports "FILE:LINE: ..." for a bad, unknown-version or truncated file. Lines may end in "\r\n".
 * A file over TG_BPE_MAX_FILE_BYTES (a 32k-merge vocabulary is about 300 KB) is refused. */
#define TG_BPE_MAX_FILE_BYTES ((size_t)256 << 20)
tg_status tg_bpe_save(const tg_bpe *bpe, const char *path, tg_err *err);
tg_status tg_bpe_load(tg_bpe **out, const char *path, tg_err *err);
/* In-memory forms (for checkpoints). save_text overwrites *out; name is used in messages. */
tg_status tg_bpe_save_text(const tg_bpe *bpe, tg_str *out, tg_err *err);
tg_status tg_bpe_load_text(tg_bpe **out, const char *text, size_t len, const char *name,
                           tg_err *err);

int32_t tg_bpe_vocab_size(const tg_bpe *bpe);
int32_t tg_bpe_n_chars(const tg_bpe *bpe);
int32_t tg_bpe_n_merges(const tg_bpe *bpe);

/* Appends the ids of text[0..len) to out: the text is split into words at whitespace (so it is
 * normalised on the way), each word segmented with the merges (cached per word). Never fails on
 * content: characters outside the alphabet, and bytes that are not UTF-8, become byte pieces. */
tg_status tg_bpe_encode(tg_bpe *bpe, const char *text, size_t len, tg_ids *out, tg_err *err);

/* Overwrites out with the text of ids: the exact inverse of encode, so
 * decode(encode(s)) == normalise(s) byte for byte. pad, bos and eos are skipped, unk becomes
 * U+2047 "⁇". An id outside the vocabulary is TG_ERR_ARG. */
tg_status tg_bpe_decode(const tg_bpe *bpe, const int32_t *ids, size_t n, tg_str *out,
                        tg_err *err);

/* Decoding for model output (translate): stops at the first eos, skips pad and bos, replaces
 * byte sequences that are not UTF-8 and control characters (NUL, ESC, DEL, C1; not white space)
 * by U+FFFD and normalises whitespace. Ids outside the
 * vocabulary become "⁇" too: output never fails on content. */
tg_status tg_bpe_detok(const tg_bpe *bpe, const int32_t *ids, size_t n, tg_str *out,
                       tg_err *err);

/* A piece as printed by `tapegrad vocab encode` and in the vocabulary file ("▁the", "<0xE4>",
 * "</s>"). Overwrites out. */
tg_status tg_bpe_piece_str(const tg_bpe *bpe, int32_t id, tg_str *out, tg_err *err);

/* The id of a printed piece (the inverse of tg_bpe_piece_str), or -1 if there is none. */
int32_t tg_bpe_piece_id(const tg_bpe *bpe, const char *s, size_t len);

/* ---- tokenized datasets ------------------------------------------------------------------ */

/* Pairs of id sequences (pieces only: no bos/eos). Zero-initialise, then fill with
 * tg_dataset_from_corpus, tg_synth_dataset or tg_dataset_add. */
typedef struct tg_dataset {
    size_t n;             /* pairs */
    int32_t *ids;         /* every pair's source then target pieces, back to back */
    size_t *off;          /* (n) where pair i's source starts in ids; its target follows */
    int32_t *src_len;     /* (n) source pieces */
    int32_t *tgt_len;     /* (n) target pieces */
    size_t *index;        /* (n) the pair's index in the corpus it came from */
    size_t n_filtered;    /* pairs dropped for being longer than max_len */
    size_t n_ids_, cap_ids_, cap_; /* private */
} tg_dataset;

/* Appends one pair (copies the ids). */
tg_status tg_dataset_add(tg_dataset *ds, const int32_t *src, int32_t src_len,
                         const int32_t *tgt, int32_t tgt_len, size_t index, tg_err *err);

/* Encodes every pair of c and appends those whose sides both have at most max_len pieces
 * (max_len <= 0: no limit); the others are counted in ds->n_filtered. */
tg_status tg_dataset_from_corpus(tg_dataset *ds, const tg_corpus *c, tg_bpe *bpe,
                                 int32_t max_len, tg_err *err);

void tg_dataset_free(tg_dataset *ds);

/* ---- the seeded RNG ---------------------------------------------------------------------- */

/* xoshiro256** seeded through splitmix64: small, fast, and its state is four plain integers. */
typedef struct tg_data_rng {
    uint64_t s[4];
} tg_data_rng;

/* Seeds from (seed, stream): distinct streams (e.g. epochs) give unrelated sequences. */
void tg_data_rng_seed(tg_data_rng *r, uint64_t seed, uint64_t stream);
uint64_t tg_data_rng_next(tg_data_rng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t tg_data_rng_below(tg_data_rng *r, uint64_t n);

/* ---- batches ----------------------------------------------------------------------------- */

/* One batch, ready for the model: padded with TG_PAD_ID, row r is dataset pair index[r].
 * Zero-initialise; the buffers are reused from call to call; free with tg_batch_free. */
typedef struct tg_batch {
    int32_t B, S, T;        /* sentences; S = longest source + 1 (eos); T = longest target + 1 */
    int32_t *src;           /* (B, S) source pieces + eos */
    int32_t *tgt_in;        /* (B, T) bos + target pieces: the decoder input */
    int32_t *tgt_out;       /* (B, T) target pieces + eos: the labels */
    int32_t *src_len;       /* (B) real tokens in each src row (pieces + 1) */
    int32_t *tgt_len;       /* (B) real tokens in each tgt_in / tgt_out row (pieces + 1) */
    size_t *index;          /* (B) each sentence's corpus index (tg_dataset.index) */
    int64_t n_src_tokens;   /* sum of src_len */
    int64_t n_tgt_tokens;   /* sum of tgt_len: the non-pad labels */
    uint64_t epoch, pos;    /* where this batch sits: epoch, and its place in the epoch order */
    size_t cap_rows_, cap_src_, cap_tgt_; /* private */
} tg_batch;

void tg_batch_free(tg_batch *b);

typedef struct tg_batch_opts {
    /* Token budget per batch counting padding and eos/bos, over both sides:
     * B * (S + T) <= max_tokens (the PyTorch reference's rule, fairseq's --max-tokens idea). */
    int64_t max_tokens;
    uint64_t seed;
    /* true (training): each epoch shuffles the pairs, stable-sorts them by (source, target)
     * length, cuts batches greedily and shuffles the batch order. false (evaluation): one fixed
     * order, sorted by length, the same every epoch. */
    bool shuffle;
} tg_batch_opts;

typedef struct tg_batch_iter tg_batch_iter;

/* The iterator's whole state, for checkpoints: four integers.
 * - seed: the RNG's state. Each epoch's shuffles come from a generator seeded by (seed, epoch),
 *   so the seed and the epoch determine the epoch's batches completely.
 * - epoch: the epoch of the next batch (0-based).
 * - pos: the place of the next batch in that epoch's batch order (0-based; may equal the
 *   number of batches, meaning the epoch is done).
 * - fingerprint: a hash of the options and the dataset's pairs (lengths and pieces), so that
 *   restoring into an iterator over other data or another budget is refused instead of silently
 *   diverging (a lengths-only hash, as saved before the pieces were hashed, is accepted too). */
typedef struct tg_batch_iter_state {
    uint64_t seed, epoch, pos, fingerprint;
} tg_batch_iter_state;

/* Fails if the dataset is empty or a single pair does not fit the budget (the message gives
 * the pair and its size). The iterator keeps a pointer to ds, which must outlive it. */
tg_status tg_batch_iter_new(tg_batch_iter **out, const tg_dataset *ds, const tg_batch_opts *opts,
                            tg_err *err);
void tg_batch_iter_free(tg_batch_iter *it);

/* Fills b with the next batch and advances; after an epoch's last batch the next epoch starts. */
tg_status tg_batch_iter_next(tg_batch_iter *it, tg_batch *b, tg_err *err);

/* Batches in one epoch (the same every epoch for a given dataset and budget). */
size_t tg_batch_iter_epoch_batches(const tg_batch_iter *it);

tg_batch_iter_state tg_batch_iter_get_state(const tg_batch_iter *it);
/* Continues exactly where the state was taken: the next batch is the one that followed it. */
tg_status tg_batch_iter_set_state(tg_batch_iter *it, const tg_batch_iter_state *st, tg_err *err);

/* ---- synthetic tasks --------------------------------------------------------------------- */

typedef enum tg_synth_task {
    TG_SYNTH_COPY = 0, /* target = source */
    TG_SYNTH_REVERSE,  /* target = source reversed */
    TG_SYNTH_SORT,     /* target = source sorted ascending */
    TG_SYNTH_TASK_COUNT
} tg_synth_task;

typedef struct tg_synth_opts {
    tg_synth_task task;
    int32_t vocab;            /* V: tokens are drawn uniformly from TG_N_SPECIAL..V-1 */
    int32_t min_len, max_len; /* source length, uniform in [min_len, max_len], min_len >= 1 */
    uint64_t seed;
} tg_synth_opts;

/* "copy", "reverse", "sort" <-> the task. parse returns TG_ERR_ARG for another name. */
const char *tg_synth_task_str(tg_synth_task t);
tg_status tg_synth_task_parse(const char *name, tg_synth_task *out, tg_err *err);

/* Appends n pairs (index 0..n-1) drawn from the seeded RNG: the same opts give the same data. */
tg_status tg_synth_dataset(tg_dataset *ds, const tg_synth_opts *opts, size_t n, tg_err *err);

#ifdef __cplusplus
}
#endif

#endif /* TG_DATASETS_H */
