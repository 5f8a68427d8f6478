/* The keeper thread (see keeper.h). */
#include "poolshim/keeper.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "poolshim/log.h"

/* The thread's states. Each move is made under K.LOCK and broadcast on K.SETTLED.
 *   NONE     -> STARTING  first wake (ps_keeper_wake)
 *   STARTING -> SLEEPING  the thread reached its loop
 *   STARTING -> NONE      pthread_create failed (never retried in this process)
 *   SLEEPING -> WORKING   a deadline came, nothing holds it back
 *   WORKING  -> SLEEPING  the job returned
 *   any      -> NONE      fork, in the child (the thread is the parent's)
 * The thread never exits on its own: a stop only holds it asleep, so that no thread is ever
 * being created, running a job or being torn down when the process forks (a sanitizer's
 * allocator lock held by such a thread at fork hangs the child). */
typedef enum { KT_NONE, KT_STARTING, KT_SLEEPING, KT_WORKING } keeper_state;

/* Everything under K.LOCK. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;    /* the thread sleeps on it until wake_at */
    pthread_cond_t settled; /* the thread changed state (fork and stop wait on it) */
    ps_keeper_job job;
    keeper_state state;
    bool failed;     /* a start failed: never retried in this process */
    bool paused;     /* ps_keeper_stop(false): no job until the next wake */
    bool stopped;    /* for good (exit): no job ever again */
    bool forking;    /* between fork's prepare and parent handlers: no job starts */
    int64_t wake_at; /* when the thread runs the job next; INT64_MAX: when woken */
} k = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake_at = INT64_MAX};

static pthread_once_t exit_hook_once = PTHREAD_ONCE_INIT;

/* CLOCK_MONOTONIC milliseconds (ps_now_ms's clock). */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* MS (now_ms time) as an absolute CLOCK_MONOTONIC time. */
static struct timespec abs_time(int64_t ms)
{
    return (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
}

/* (Re)initialises the condition variables on the monotonic clock. Caller holds the lock. */
static void init_conds(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&k.wake, &attr);
    pthread_cond_init(&k.settled, &attr);
    pthread_condattr_destroy(&attr);
}

/* Moves the thread to TO and tells the waiters. Caller holds the lock. */
static void set_state(keeper_state to)
{
    k.state = to;
    pthread_cond_broadcast(&k.settled);
}

/* Waits until the thread is neither starting nor working (NONE or SLEEPING). Caller holds the
 * lock; the thread needs it to move, so this never waits on a thread that cannot. */
static void wait_settled(void)
{
    while (k.state == KT_STARTING || k.state == KT_WORKING)
        pthread_cond_wait(&k.settled, &k.lock);
}

void ps_keeper_set_job(ps_keeper_job job)
{
    pthread_mutex_lock(&k.lock);
    if (!k.job)
        init_conds();
    k.job = job;
    pthread_mutex_unlock(&k.lock);
}

/* True when the job may run now. Caller holds the lock. */
static bool job_due(int64_t now)
{
    return !k.paused && !k.stopped && !k.forking && now >= k.wake_at;
}

/* Runs the job once at NOW with the lock released; takes the next deadline (a wake during the
 * run may have asked for an earlier one). Caller holds the lock. */
static void run_job(int64_t now)
{
    ps_keeper_job job = k.job;
    k.wake_at = INT64_MAX; /* the job names the next deadline */
    set_state(KT_WORKING);
    pthread_mutex_unlock(&k.lock);
    int64_t next = job(now);
    pthread_mutex_lock(&k.lock);
    if (next < k.wake_at)
        k.wake_at = next;
    set_state(KT_SLEEPING);
}

/* The thread: sleeps until wake_at, runs the job when it is due, for the process's life. */
static void *keeper_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "poolshim-keeper"); /* as ps and top show it */
    pthread_mutex_lock(&k.lock);
    set_state(KT_SLEEPING);
    for (;;) {
        int64_t now = now_ms();
        if (job_due(now)) {
            run_job(now);
        } else if (k.wake_at == INT64_MAX || k.paused || k.stopped || k.forking) {
            pthread_cond_wait(&k.wake, &k.lock);
        } else {
            struct timespec until = abs_time(k.wake_at);
            pthread_cond_timedwait(&k.wake, &k.lock, &until);
        }
    }
    return NULL; /* not reached */
}

/* atexit handler: registered at the first start, so it runs before the exit handlers
 * registered earlier (the shim's drain, the libraries initialised before the first park). */
static void stop_at_exit(void)
{
    ps_keeper_stop(true);
}

/* Registers stop_at_exit (once per process; a fork child inherits it). */
static void register_exit_hook(void)
{
    atexit(stop_at_exit);
}

/* Creates the detached thread with every signal blocked; on failure marks the keeper failed
 * and says so once. Called without the lock, with the state STARTING. */
static void start_thread(void)
{
    pthread_once(&exit_hook_once, register_exit_hook);
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the new thread inherits the mask */
    int err = pthread_create(&t, &attr, keeper_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (!err)
        return;
    pthread_mutex_lock(&k.lock);
    k.failed = true;
    set_state(KT_NONE);
    pthread_mutex_unlock(&k.lock);
    ps_warn(NULL,
            "cannot start the housekeeping thread (%s); parked connections are closed only "
            "when the program calls the client library",
            strerrordesc_np(err));
}

void ps_keeper_wake(int64_t deadline)
{
    pthread_mutex_lock(&k.lock);
    bool start = false;
    if (k.job && !k.stopped && !k.failed) {
        bool sooner = deadline < k.wake_at || k.paused; /* a paused thread sleeps untimed */
        k.paused = false;
        if (deadline < k.wake_at)
            k.wake_at = deadline;
        if (k.state == KT_NONE) {
            set_state(KT_STARTING);
            start = true;
        } else if (sooner) {
            /* it recomputes its sleep (a working one takes wake_at when its job returns); a
             * thread already due by DEADLINE is left asleep: no system call, no switch */
            pthread_cond_signal(&k.wake);
        }
    }
    pthread_mutex_unlock(&k.lock);
    if (start)
        start_thread();
}

void ps_keeper_stop(bool for_good)
{
    pthread_mutex_lock(&k.lock);
    if (for_good)
        k.stopped = true;
    else
        k.paused = true;
    struct timespec until = abs_time(now_ms() + PS_KEEPER_STOP_WAIT_MS);
    while (k.state == KT_WORKING &&
           pthread_cond_timedwait(&k.settled, &k.lock, &until) != ETIMEDOUT)
        continue;
    pthread_mutex_unlock(&k.lock);
}

void ps_keeper_before_fork(void)
{
    pthread_mutex_lock(&k.lock);
    k.forking = true; /* no job starts now; one that is running, or a start, is waited for */
    wait_settled();
}

void ps_keeper_after_fork_parent(void)
{
    k.forking = false;
    if (k.state == KT_SLEEPING)
        pthread_cond_signal(&k.wake); /* a deadline may have passed while it was held back */
    pthread_mutex_unlock(&k.lock);
}

void ps_keeper_after_fork_child(void)
{
    /* The thread is the parent's; its condition variables may hold the parent's waiters: new
     * ones. A stop for good is kept (the child exits like its parent); a pause is the child's
     * too, until its first park. */
    k.forking = false;
    k.state = KT_NONE;
    k.failed = false;
    k.wake_at = INT64_MAX;
    if (k.job)
        init_conds();
    pthread_mutex_unlock(&k.lock);
}
