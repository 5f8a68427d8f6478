/* connect_loop [--tcp] [--stack] [--n N] [--threads T] [--alternate-users] [--autocommit]
 *              [--same-db-charset]
 *
 * The connect-per-request legacy pattern: N times per thread, mysql_init + mysql_real_connect
 * + "SELECT CONNECTION_ID(), CURRENT_USER()" + mysql_close. With --alternate-users every other
 * request connects as PSTEST_USER2. Checks that each request runs as the user it asked for and
 * that no server connection id is ever seen under two users. With --autocommit each request
 * also calls mysql_autocommit(1) right after connecting (as drivers do), and checks it worked;
 * with --same-db-charset mysql_select_db of the connect's database and mysql_set_character_set
 * of the handle's own character set, checked the same way.
 * Prints: requests= errors= wrong_user= shared_ids= distinct_ids= first_error= */
#include <pthread.h>

#include "app_common.h"

#define MAX_IDS 65536

static bool use_tcp, use_stack, alternate, autocommit_on, same_db_charset;
static long per_thread = 1000;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long ids[MAX_IDS];
static unsigned char id_users[MAX_IDS]; /* bit 0: seen as user 1, bit 1: as user 2 */
static long requests, errors, wrong_user, n_ids;
static char first_error[300];

/* Records that connection ID served USER_BIT; counts ids seen under both users. */
static void note_id(unsigned long id, int user_bit)
{
    pthread_mutex_lock(&lock);
    long i = 0;
    while (i < n_ids && ids[i] != id)
        i++;
    if (i == n_ids && n_ids < MAX_IDS)
        ids[n_ids++] = id;
    if (i < MAX_IDS)
        id_users[i] |= (unsigned char)user_bit;
    pthread_mutex_unlock(&lock);
}

/* Counts a failed request, keeping the first error text. */
static void note_error(MYSQL *m)
{
    pthread_mutex_lock(&lock);
    if (!errors++)
        snprintf(first_error, sizeof first_error, "%u: %s", mysql_errno(m), app_error(m));
    pthread_mutex_unlock(&lock);
}

/* One request as user 1 or 2. */
static void one_request(int user)
{
    MYSQL storage, *m = mysql_init(use_stack ? &storage : NULL);
    app_dsn d = app_user_dsn(use_tcp);
    if (user == 2) {
        d.user = app_env("PSTEST_USER2");
        d.password = app_env("PSTEST_PASSWORD2");
    }
    if (!app_connect(m, &d) || (autocommit_on && mysql_autocommit(m, 1)) ||
        (autocommit_on && !(m->server_status & SERVER_STATUS_AUTOCOMMIT)) ||
        (same_db_charset && (mysql_select_db(m, d.db) || strcmp(m->db, d.db))) ||
        (same_db_charset && mysql_set_character_set(m, mysql_character_set_name(m))) ||
        mysql_query(m, "SELECT CONNECTION_ID(), CURRENT_USER()")) {
        note_error(m);
        mysql_close(m);
        return;
    }
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (!row) {
        note_error(m);
    } else {
        size_t ulen = strlen(d.user);
        bool same = !strncmp(row[1], d.user, ulen) && row[1][ulen] == '@';
        note_id(strtoul(row[0], NULL, 10), user);
        if (!same)
            __atomic_add_fetch(&wrong_user, 1, __ATOMIC_SEQ_CST);
    }
    mysql_free_result(r);
    mysql_close(m);
    __atomic_add_fetch(&requests, 1, __ATOMIC_SEQ_CST);
}

static void *worker(void *arg)
{
    (void)arg;
    for (long i = 0; i < per_thread; i++)
        one_request(alternate && (i % 2) ? 2 : 1);
    mysql_thread_end();
    return NULL;
}

int main(int argc, char **argv)
{
    long threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tcp"))
            use_tcp = true;
        else if (!strcmp(argv[i], "--stack"))
            use_stack = true;
        else if (!strcmp(argv[i], "--alternate-users"))
            alternate = true;
        else if (!strcmp(argv[i], "--autocommit"))
            autocommit_on = true;
        else if (!strcmp(argv[i], "--same-db-charset"))
            same_db_charset = true;
        else if (!strcmp(argv[i], "--n") && i + 1 < argc)
            per_thread = app_long_arg("--n", argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = app_long_arg("--threads", argv[++i]);
        else
            app_die(0, "unknown argument %s", argv[i]);
    }
    mysql_library_init(0, NULL, NULL);
    pthread_t t[256];
    threads = threads < 1 ? 1 : threads > 256 ? 256 : threads;
    for (long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (long i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    long shared = 0;
    for (long i = 0; i < n_ids; i++)
        shared += id_users[i] == 3;
    printf("requests=%ld\nerrors=%ld\nwrong_user=%ld\nshared_ids=%ld\ndistinct_ids=%ld\n"
           "first_error=%s\n",
           requests, errors, wrong_user, shared, n_ids, errors ? first_error : "none");
    mysql_library_end();
    return errors || wrong_user || shared ? 1 : 0;
}
