/* The metrics file (POOLSHIM_METRICS_DIR): each process keeps DIR/poolshim-<pid>.prom, the
 * Prometheus text exposition of its pools' counters and sizes (the rows of metrics.def, read
 * from the core's snapshots), for node_exporter's textfile collector and poolshim-stat. No
 * thread: the shim's own calls refresh it, at most once a second; it is written to a temporary
 * file (mode 0600) renamed over the old one, so a reader never sees half of it; a clean exit
 * removes it. Snapshots are taken under the pool lock, everything else outside every lock. */
#ifndef POOLSHIM_METRICS_H
#define POOLSHIM_METRICS_H

#include <stddef.h>
#include <stdio.h>

#include "poolshim/pool.h"

/* The process-wide values of the file. */
typedef struct ps_metrics_process {
    double start_s; /* when the shim started in this process (Unix time) */
    double now_s;   /* when the file is written (Unix time) */
    long pid;
    const char *program; /* the program's short name */
} ps_metrics_process;

/* Writes the exposition of PROC and of the N key snapshots POOLS to OUT: every metric of
 * metrics.def with its HELP and TYPE lines once, every series labelled pid and program, and per
 * key dsn (the pool's label: no password). Returns 0, or -1 when OUT reported an error. */
int ps_metrics_format(FILE *out, const ps_metrics_process *proc, const ps_pool_snapshot *pools,
                      size_t n);

/* Notes the start time of this process's metrics (at the shim's initialisation). */
void ps_metrics_init(void);

/* Rewrites this process's file when POOLSHIM_METRICS_DIR is set and the last write is a second
 * old or more; returns at once otherwise, and while another thread writes it. The first failure
 * is logged once (pooling goes on; later calls try again). Call it without any lock held. */
void ps_metrics_tick(void);

/* At a clean exit: stops writing and removes the file this process wrote (none: nothing). */
void ps_metrics_remove(void);

/* In a forked child (atfork, no lock taken): a new process, with its own start time and file,
 * written at its first call. */
void ps_metrics_after_fork_child(void);

#endif
