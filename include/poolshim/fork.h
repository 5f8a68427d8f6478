/* Fork safety: the pthread_atfork handlers of every module, and the take-over of a handle a
 * forked child inherited with its parent's connection. */
#ifndef POOLSHIM_FORK_H
#define POOLSHIM_FORK_H

#include <stdbool.h>

#include "poolshim/client.h"
#include "poolshim/lease.h"

/* pthread_atfork handlers: no lock may be held by another thread across fork; in the child,
 * every pooled connection and lease of the parent is marked inherited. */
void ps_fork_prepare(void);
void ps_fork_parent(void);
void ps_fork_child(void);

/* Gives the handlers the client layer CL (its mute for the handles a parent thread was moving
 * at the fork); called once, before they are registered. */
void ps_fork_init(const ps_client_ops *cl);

/* In a forked child, lets go of the parent's connection held by inherited lease L (MOVING,
 * the caller's) without sending anything on it: the handle becomes a husk and L holds no
 * connection, so the caller renews it with one of this process's own. When the session held
 * state a fresh connection cannot reproduce (a transaction, temporary tables, variables...),
 * the handle gets "server has gone away" and false is returned: the command must fail, like on
 * a lost connection, rather than run silently in another session. */
bool ps_fork_take_over(const ps_client_ops *cl, ps_lease *l);

#endif
