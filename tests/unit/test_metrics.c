/* The metrics exposition (ps_metrics_format): every metrics.def row once per key, HELP and TYPE
 * once per name, label values escaped (a DSN or program name may hold any byte). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poolshim/config.h"
#include "poolshim/metrics.h"

/* How many times NEEDLE occurs in HAY. */
static int occurrences(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* The exposition of PROC and the N snapshots POOLS (malloc'd). */
static char *format(const ps_metrics_process *proc, const ps_pool_snapshot *pools, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    cr_assert_eq(ps_metrics_format(out, proc, pools, n), 0);
    fclose(out);
    return buf;
}

Test(metrics, rows_help_type_and_values)
{
    ps_config_defaults(&ps_cfg);
    ps_pool_snapshot pools[2] = {{.label = "a@h:3306/db", .idle = 2, .leased = 3, .cap = 20},
                                 {.label = "b@localhost/", .connecting = 1, .cap = 20}};
    pools[0].st.connects = 5;
    pools[0].st.max_wait_ms = 1500;
    pools[0].st.unreclaimable[PS_HOLD_LOCK] = 7;
    ps_metrics_process proc = {100.5, 200.25, 42, "prog"};
    char *text = format(&proc, pools, 2);
    cr_expect_eq(occurrences(text, "# TYPE poolshim_handles_unreclaimable_total counter\n"), 1);
    cr_expect_eq(occurrences(text, "# HELP poolshim_handles_unreclaimable_total "), 1);
    cr_expect_eq(occurrences(text, "poolshim_handles_unreclaimable_total{"), 18, "9 reasons x 2");
    cr_expect_eq(occurrences(text, "# TYPE poolshim_connections_active gauge\n"), 1);
    cr_expect_not_null(strstr(text,
                              "poolshim_connections_created_total{pid=\"42\",program=\"prog\","
                              "dsn=\"a@h:3306/db\"} 5\n"));
    cr_expect_not_null(strstr(text, "poolshim_connections_active{pid=\"42\",program=\"prog\","
                                    "dsn=\"a@h:3306/db\"} 3\n"));
    cr_expect_not_null(strstr(text, "poolshim_client_maxwait_seconds{pid=\"42\",program=\"prog\","
                                    "dsn=\"a@h:3306/db\"} 1.5\n"));
    cr_expect_not_null(strstr(text, "dsn=\"a@h:3306/db\",reason=\"lock\"} 7\n"));
    cr_expect_not_null(strstr(text, "poolshim_connections_connecting{pid=\"42\",program=\"prog\","
                                    "dsn=\"b@localhost/\"} 1\n"));
    cr_expect_not_null(
        strstr(text, "poolshim_process_start_time_seconds{pid=\"42\",program=\"prog\"} 100.5\n"));
    cr_expect_not_null(strstr(
        text, "poolshim_connections_max{pid=\"42\",program=\"prog\",dsn=\"b@localhost/\"} 20\n"));
    /* every line is a comment or a sample, and every family is one block */
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        cr_expect(!strncmp(line, "# HELP poolshim_", 16) ||
                      !strncmp(line, "# TYPE poolshim_", 16) || !strncmp(line, "poolshim_", 9),
                  "%s", line);
    free(text);
}

Test(metrics, label_values_are_escaped)
{
    ps_config_defaults(&ps_cfg);
    ps_pool_snapshot pool = {.label = "u\"x\\y\nz@h/"};
    ps_metrics_process proc = {0, 0, 7, "a\"b"};
    char *text = format(&proc, &pool, 1);
    cr_expect_not_null(strstr(text, "{pid=\"7\",program=\"a\\\"b\",dsn=\"u\\\"x\\\\y\\nz@h/\"}"),
                       "%s", text);
    cr_expect_eq(occurrences(text, "\nz@h"), 0, "no raw line break");
    free(text);
}

Test(metrics, no_keys_still_a_valid_file)
{
    ps_config_defaults(&ps_cfg);
    ps_metrics_process proc = {1, 2, 9, "p"};
    char *text = format(&proc, NULL, 0);
    cr_expect_not_null(
        strstr(text, "poolshim_metrics_updated_time_seconds{pid=\"9\",program=\"p\"} 2\n"));
    cr_expect_eq(occurrences(text, "dsn="), 0);
    free(text);
}
