/* field_probe [--tcp] [--init]
 *
 * Legacy programs read MYSQL fields and getters right after connect. This prints them after a
 * fresh connect, closes, connects again (reused under the shim) and prints them again, then
 * compares. Prints: reused= same= and diff=<first field that differs>. Exit 0 when same. */
#include "app_common.h"

/* Formats the client-visible state of M after connect into OUT. */
static void snapshot(MYSQL *m, char *out, size_t n)
{
    snprintf(out, n,
             "affected_rows=%lld insert_id=%llu server_status=%u warning_count=%u errno=%u "
             "sqlstate=%s error=[%s] info=%s charset=%s db=%s host_info=%s server_info=%s "
             "proto=%u field_count=%u client_flag=%lu capabilities=%lu port=%u host=%s user=%s "
             "server_version=%lu insert_id_fn=%llu affected_fn=%lld warnings_fn=%u",
             (long long)m->affected_rows, m->insert_id, m->server_status, m->warning_count,
             mysql_errno(m), mysql_sqlstate(m), mysql_error(m), mysql_info(m) ? mysql_info(m) : "-",
             mysql_character_set_name(m), m->db ? m->db : "-", mysql_get_host_info(m),
             mysql_get_server_info(m), mysql_get_proto_info(m), mysql_field_count(m),
             m->client_flag, m->server_capabilities, m->port, m->host ? m->host : "-",
             m->user ? m->user : "-", mysql_get_server_version(m),
             (unsigned long long)mysql_insert_id(m), (long long)mysql_affected_rows(m),
             mysql_warning_count(m));
}

/* Connects a new handle (with an init command when INIT). */
static MYSQL *connect_handle(bool tcp, bool init)
{
    MYSQL *m = mysql_init(NULL);
    if (init)
        mysql_options(m, MYSQL_INIT_COMMAND, "SET @probe_init = 1");
    app_dsn d = app_user_dsn(tcp);
    if (!app_connect(m, &d))
        app_die(mysql_errno(m), "connect: %s", app_error(m));
    return m;
}

int main(int argc, char **argv)
{
    bool tcp = false, init = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tcp"))
            tcp = true;
        else if (!strcmp(argv[i], "--init"))
            init = true;
    }
    char first[2048], second[2048];
    MYSQL *a = connect_handle(tcp, init);
    unsigned long id_a = mysql_thread_id(a);
    snapshot(a, first, sizeof first);
    app_query(a, "INSERT INTO items (v) VALUES ('field-probe')"); /* leaves results behind */
    mysql_close(a);
    MYSQL *b = connect_handle(tcp, init);
    snapshot(b, second, sizeof second);
    unsigned long id_b = mysql_thread_id(b);
    mysql_close(b);
    printf("reused=%d\nsame=%d\nfirst=%s\nsecond=%s\n", id_a == id_b, !strcmp(first, second), first,
           second);
    return strcmp(first, second) ? 1 : 0;
}
