/* threads.h: the threads tapegrad starts (the pool's workers, the MPI summing thread) take no
 * asynchronous signal. Not part of the public API.
 *
 * The kernel gives a signal sent to the process (kill PID, Ctrl-C, `timeout`) to any thread that
 * has it unblocked. The main thread holds the stop signals over a save (atomic_file.h) and takes
 * them after it; a helper thread taking one would end the process in the save's middle, leaving
 * its temporary. So helper threads start with every asynchronous signal blocked. */
#ifndef TG_THREADS_H
#define TG_THREADS_H

#include <pthread.h>
#include <signal.h>

/* pthread_create of a thread that starts with every asynchronous signal blocked, on a stack of its
 * own size (2 MiB), whatever RLIMIT_STACK says. */
int tg_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);
/* Blocks every asynchronous signal in the calling thread (a fault's own, SIGSEGV, SIGFPE, ..., are
 * left), its mask before in *old, for pthread_sigmask(SIG_SETMASK, old, NULL) once the threads are
 * made: around a library's start that makes threads of its own (MPI_Init). */
void tg_thread_block_signals(sigset_t *old);

#endif /* TG_THREADS_H */
