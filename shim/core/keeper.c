/* The keeper thread (see keeper.h). */
#include "poolshim/keeper.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "poolshim/log.h"

/* Everything under K.LOCK. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the thread sleeps on it until wake_at */
    pthread_cond_t done; /* a job run ended (ps_keeper_stop waits for it) */
    ps_keeper_job job;
    unsigned gen;    /* the current thread's generation: a thread of another one exits */
    bool running;    /* a thread of generation gen exists or is being started */
    bool failed;     /* a start failed: never retried in this process */
    bool stopped;    /* for good (exit): never started again */
    int jobs;        /* job runs in progress (outside the lock) */
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
    pthread_cond_init(&k.done, &attr);
    pthread_condattr_destroy(&attr);
}

void ps_keeper_set_job(ps_keeper_job job)
{
    pthread_mutex_lock(&k.lock);
    if (!k.job)
        init_conds();
    k.job = job;
    pthread_mutex_unlock(&k.lock);
}

/* Runs the job once at NOW with the lock released; takes the next deadline (a wake during the
 * run may have asked for an earlier one). Caller holds the lock. */
static void run_job(int64_t now)
{
    ps_keeper_job job = k.job;
    k.wake_at = INT64_MAX; /* the job names the next deadline */
    k.jobs++;
    pthread_mutex_unlock(&k.lock);
    int64_t next = job(now);
    pthread_mutex_lock(&k.lock);
    k.jobs--;
    if (next < k.wake_at)
        k.wake_at = next;
    pthread_cond_broadcast(&k.done);
}

/* The thread: sleeps until wake_at, runs the job, until its generation is over. */
static void *keeper_main(void *arg)
{
    unsigned gen = (unsigned)(uintptr_t)arg;
    pthread_setname_np(pthread_self(), "poolshim-keeper"); /* as ps and top show it */
    pthread_mutex_lock(&k.lock);
    while (gen == k.gen) {
        int64_t now = now_ms();
        if (now >= k.wake_at) {
            run_job(now);
        } else if (k.wake_at == INT64_MAX) {
            pthread_cond_wait(&k.wake, &k.lock);
        } else {
            struct timespec until = abs_time(k.wake_at);
            pthread_cond_timedwait(&k.wake, &k.lock, &until);
        }
    }
    pthread_mutex_unlock(&k.lock);
    return NULL;
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

/* Creates the detached thread of generation GEN with every signal blocked; on failure marks
 * the keeper failed and says so once. Called without the lock. */
static void start_thread(unsigned gen)
{
    pthread_once(&exit_hook_once, register_exit_hook);
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the new thread inherits the mask */
    int err = pthread_create(&t, &attr, keeper_main, (void *)(uintptr_t)gen);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (!err)
        return;
    pthread_mutex_lock(&k.lock);
    if (k.gen == gen)
        k.running = false;
    k.failed = true;
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
    unsigned gen = k.gen;
    if (k.job && !k.stopped && !k.failed) {
        if (deadline < k.wake_at) {
            k.wake_at = deadline;
            if (k.running)
                pthread_cond_signal(&k.wake);
        }
        start = !k.running;
        k.running = true;
    }
    pthread_mutex_unlock(&k.lock);
    if (start)
        start_thread(gen);
}

void ps_keeper_stop(bool for_good)
{
    pthread_mutex_lock(&k.lock);
    if (for_good)
        k.stopped = true;
    if (k.job && k.running) {
        k.running = false;
        k.gen++; /* the thread exits when it next looks */
        pthread_cond_broadcast(&k.wake);
    }
    struct timespec until = abs_time(now_ms() + PS_KEEPER_STOP_WAIT_MS);
    while (k.jobs > 0 && pthread_cond_timedwait(&k.done, &k.lock, &until) != ETIMEDOUT)
        continue;
    pthread_mutex_unlock(&k.lock);
}

void ps_keeper_before_fork(void)
{
    pthread_mutex_lock(&k.lock);
}

void ps_keeper_after_fork_parent(void)
{
    pthread_mutex_unlock(&k.lock);
}

void ps_keeper_after_fork_child(void)
{
    /* The thread and any job it ran are the parent's; its condition variables may hold the
     * parent's waiters: new ones. */
    k.gen++;
    k.running = k.failed = false;
    k.jobs = 0;
    k.wake_at = INT64_MAX;
    if (k.job)
        init_conds();
    pthread_mutex_unlock(&k.lock);
}
