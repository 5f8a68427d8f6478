/* The keeper: one background thread that runs a job at the deadlines the job names itself.
 * The pool core installs its job (close the parked connections that are due, outside its
 * lock) so that a connection the program closed goes back to the server on time whether or
 * not the program ever calls the library again. The keeper knows nothing of pools or MySQL;
 * it calls nothing but its job and the log.
 *
 * Lifecycle:
 *   - Started lazily, by the first ps_keeper_wake (the pool's first park): a program that never
 *     parks a connection has no thread. Detached, with every signal blocked, so the program's
 *     signals are never delivered to it.
 *   - Sleeps on a CLOCK_MONOTONIC condition variable until its deadline (pthread_cond_wait when
 *     it has none); ps_keeper_wake with an earlier deadline wakes it. It never polls.
 *   - Fork: the thread does not exist in the child; the child's first wake starts its own.
 *   - Stopped by ps_keeper_stop: before every drain (mysql_library_end: restarted by the next
 *     wake, which the shim makes itself once the library's end has returned when parked
 *     connections were kept) and at exit, for good, from an atexit handler registered when the
 *     thread first starts (so it runs before the shim's exit drain and before the exit handlers
 *     of the libraries initialised by then, such as OpenSSL's). A job already running is
 *     waited for, at most PS_KEEPER_STOP_WAIT_MS: exit never hangs on the keeper.
 *
 * Deadlines are ps_now_ms() times (CLOCK_MONOTONIC milliseconds). Thread-safe. The keeper's
 * lock is never held while the job runs and never taken inside another shim lock's hold by
 * the keeper itself. */
#ifndef POOLSHIM_KEEPER_H
#define POOLSHIM_KEEPER_H

#include <stdbool.h>
#include <stdint.h>

/* How long ps_keeper_stop waits for a job that is running. */
#define PS_KEEPER_STOP_WAIT_MS 2000

/* Does the due work at NOW (called on the keeper thread, with no keeper lock held) and returns
 * the next deadline; INT64_MAX when there is none (the keeper then sleeps until woken). */
typedef int64_t (*ps_keeper_job)(int64_t now);

/* Installs JOB. Until it is installed, ps_keeper_wake does nothing (no thread ever starts). */
void ps_keeper_set_job(ps_keeper_job job);

/* Makes the job run at DEADLINE or earlier: starts the thread when there is none (once per
 * process after a failed start: one warning, then the job only runs when its owner runs it),
 * wakes it when it sleeps past DEADLINE. No system call when it already sleeps until DEADLINE
 * or earlier. Must not be called with a lock held that the job takes. */
void ps_keeper_wake(int64_t deadline);

/* Stops the thread: no job starts after this returns; a job that is running is waited for
 * (at most PS_KEEPER_STOP_WAIT_MS). The next ps_keeper_wake starts a new thread, unless
 * FOR_GOOD (exit). Must not be called with a lock held that the job takes. */
void ps_keeper_stop(bool for_good);

/* pthread_atfork handlers. In the child there is no keeper thread; the state is reset. */
void ps_keeper_before_fork(void);
void ps_keeper_after_fork_parent(void);
void ps_keeper_after_fork_child(void);

#endif
