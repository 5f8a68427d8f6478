/* Leak reports: where each handle was connected (a backtrace per connect call site, cached),
 * and one warning per handle held past POOLSHIM_LEAK_WARN_MS that cannot be reclaimed. */
#ifndef POOLSHIM_LEAK_H
#define POOLSHIM_LEAK_H

#include "poolshim/lease.h"

/* Fills T with where the program's current call was made (cached per call site: unwinding
 * the stack on every connect costs microseconds). Empty when leak warnings are off. */
void ps_trace_capture(ps_trace *t);

/* Fills T with where the program sent STATEMENT (redacted), which pinned the session of a
 * handle connected at SITE: the current stack, cached per thread, statement and connect site
 * (a program that pins every session with the same code unwinds its stack once per thread:
 * unwinding costs about as much as the rest of a short request). */
void ps_trace_pin(ps_trace *t, const ps_trace *site, const char *statement);

/* Warns once about each lease held and idle longer than POOLSHIM_LEAK_WARN_MS whose session
 * cannot be reclaimed, naming the reason, where it was connected and, when known, the statement
 * that made its session unreclaimable and where the program sent it. Formats and logs outside
 * every lock. */
void ps_leak_report_due(void);

/* pthread_atfork handlers for the call-site cache (parent and child alike after fork). */
void ps_leak_before_fork(void);
void ps_leak_after_fork(void);

#endif
