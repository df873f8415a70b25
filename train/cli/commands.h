/* commands.h: the subcommands of `tapegrad`. Each takes the arguments after its name
 * (argv[0] is the subcommand's name) and returns the process exit code:
 * 0 success, 1 failure (message on stderr), 2 usage error. */
#ifndef TG_COMMANDS_H
#define TG_COMMANDS_H

#include <stdbool.h>

typedef int (*tg_command_fn)(int argc, char **argv);

typedef struct tg_command {
    const char *name;
    tg_command_fn run;
    const char *summary;   /* one line for `tapegrad --help` */
} tg_command;

int tg_cmd_gradcheck(int argc, char **argv);
int tg_cmd_score(int argc, char **argv);
int tg_cmd_ckpt(int argc, char **argv);
int tg_cmd_vocab(int argc, char **argv);

int tg_cmd_train(int argc, char **argv);
/* train for an experiment's cells (cmd_train.c): the --config file's settings are not checked
 * for ones the run would not use, as the experiment answered for them: a new one checked them
 * against each cell as it will train (its dry run's timed steps leave out the dev set), and a
 * recorded one holds the file's recipe as an earlier build took it. Flags are checked as train's. */
int tg_cmd_train_cell(int argc, char **argv);
int tg_cmd_translate(int argc, char **argv);
int tg_cmd_eval(int argc, char **argv);
int tg_cmd_bench(int argc, char **argv);
int tg_cmd_experiment(int argc, char **argv);
/* `tapegrad ckpt info` and `tapegrad ckpt average` (cmd_ckpt_model.c) */
int tg_ckpt_info(int argc, char **argv);
int tg_ckpt_average(int argc, char **argv);
int tg_ckpt_diagnose(int argc, char **argv);   /* cmd_ckpt_diagnose.c */

/* Flushes stdout and checks it was all written (output.c): on a write error (a full disk, a
 * closed pipe) prints "WHO: cannot write the output: ..." and returns 1 if rc was 0; else rc. */
int tg_cli_output_done(const char *who, int rc);
/* fflush(stdout) midway (progress lines): a failure's reason is kept for tg_cli_output_done. */
void tg_cli_flush(void);

/* An argument as a message shows it, control bytes escaped (\x1B), in a buffer the next call reuses:
 * one argument a message (args.c). */
const char *tg_arg_shown(const char *s);

/* getopt_long with tapegrad's own messages (args.c): an unrecognized, ambiguous or misused option
 * is named escaped (glibc printed it raw, control bytes and all) in "tapegrad WHO: unrecognized
 * option '--x'" (or "option '--model' requires an argument", ...), and '?' returned for either kind
 * of error; the caller prints its usage. shortopts without the leading ':'. */
struct option;
int tg_arg_getopt(const char *who, int argc, char **argv, const char *shortopts, const struct option *opts,
                  int *longindex);

/* A flag's value as a number in [lo, hi] (args.c): the whole text one decimal number, with no
 * blank before and nothing after, in range (no wrapping); false (and *out untouched) if not. */
bool tg_arg_long(const char *s, long lo, long hi, long *out);
bool tg_arg_double(const char *s, double lo, double hi, double *out);   /* finite too */
/* The same for an int or a double flag, printing "tapegrad WHO: FLAG wants ... in [lo, hi], not
 * 'S'" when s is not one. */
bool tg_arg_int(const char *who, const char *flag, const char *s, long lo, long hi, int *out);
bool tg_arg_real(const char *who, const char *flag, const char *s, double lo, double hi, double *out);
/* a and b name one existing file (the same device and inode: a link or another spelling too). */
bool tg_cli_same_file(const char *a, const char *b);
/* -o -: '-' is stdin for every input, so a file named '-' is refused as an output, saying so
 * (and, with to_stdout, that /dev/stdout writes to stdout: not for a checkpoint, which goes to a
 * regular file alone); false (the message printed) if out is "-". */
bool tg_cli_output_name_ok(const char *who, const char *out, bool to_stdout);

#endif /* TG_COMMANDS_H */
