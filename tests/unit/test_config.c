/* Config parsing: defaults, every accepted form, every kind of bad value. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "poolshim/config.h"

/* A fake environment: NAME=VALUE pairs. */
typedef struct fake_env {
    const char *pairs[16][2];
    int rejected;
    char last[512];
} fake_env;

static const char *fake_get(const char *name, void *ctx)
{
    fake_env *e = ctx;
    for (int i = 0; i < 16 && e->pairs[i][0]; i++)
        if (!strcmp(e->pairs[i][0], name))
            return e->pairs[i][1];
    return NULL;
}

static void fake_report(const char *msg, void *ctx)
{
    fake_env *e = ctx;
    e->rejected++;
    snprintf(e->last, sizeof e->last, "%s", msg);
}

/* Parses a one-variable environment NAME=VALUE into CFG; returns the number rejected. */
static int parse_one(ps_config *cfg, const char *name, const char *value, char *msg)
{
    fake_env e = {.pairs = {{name, value}}};
    int bad = ps_config_parse(cfg, fake_get, fake_report, &e);
    cr_assert_eq(bad, e.rejected);
    if (msg)
        strcpy(msg, e.last);
    return bad;
}

Test(config, defaults_match_the_documented_table)
{
    ps_config c;
    fake_env e = {0};
    cr_assert_eq(ps_config_parse(&c, fake_get, fake_report, &e), 0);
    cr_assert_eq(c.disable, 0);
    cr_assert_eq(c.max_per_key, 20);
    cr_assert_eq(c.wait_timeout_ms, 30000);
    cr_assert_eq(c.idle_timeout_ms, 60000);
    cr_assert_eq(c.min_idle, 1);
    cr_assert_eq(c.surplus_idle_ms, 5000);
    cr_assert_eq(c.max_lifetime_ms, 1800000);
    cr_assert_eq(c.validate_idle_ms, 500);
    cr_assert_eq(c.reverify_ms, 1000);
    cr_assert_eq(c.log_level, 1);
    cr_assert_str_empty(c.log_file);
}

Test(config, accepts_valid_values)
{
    ps_config c;
    fake_env e = {.pairs = {{"POOLSHIM_DISABLE", "yes"},
                            {"POOLSHIM_MAX_PER_KEY", "7"},
                            {"POOLSHIM_WAIT_TIMEOUT_MS", "0"},
                            {"POOLSHIM_IDLE_TIMEOUT_MS", "1000"},
                            {"POOLSHIM_MAX_LIFETIME_MS", "0"},
                            {"POOLSHIM_VALIDATE_IDLE_MS", "86400000"},
                            {"POOLSHIM_REVERIFY_MS", "0"},
                            {"POOLSHIM_LOG_LEVEL", "DEBUG"},
                            {"POOLSHIM_LOG_FILE", "/tmp/x.log"}}};
    cr_assert_eq(ps_config_parse(&c, fake_get, fake_report, &e), 0, "%s", e.last);
    cr_assert_eq(c.disable, 1);
    cr_assert_eq(c.max_per_key, 7);
    cr_assert_eq(c.wait_timeout_ms, 0);
    cr_assert_eq(c.idle_timeout_ms, 1000);
    cr_assert_eq(c.max_lifetime_ms, 0);
    cr_assert_eq(c.validate_idle_ms, 86400000);
    cr_assert_eq(c.reverify_ms, 0);
    cr_assert_eq(c.log_level, 3);
    cr_assert_str_eq(c.log_file, "/tmp/x.log");
}

Test(config, booleans_accept_every_documented_word)
{
    const char *on[] = {"1", "true", "TRUE", "yes", "On"};
    const char *off[] = {"0", "false", "no", "OFF"};
    ps_config c;
    for (size_t i = 0; i < sizeof on / sizeof *on; i++) {
        cr_assert_eq(parse_one(&c, "POOLSHIM_DISABLE", on[i], NULL), 0);
        cr_assert_eq(c.disable, 1, "%s", on[i]);
    }
    for (size_t i = 0; i < sizeof off / sizeof *off; i++) {
        cr_assert_eq(parse_one(&c, "POOLSHIM_DISABLE", off[i], NULL), 0);
        cr_assert_eq(c.disable, 0, "%s", off[i]);
    }
}

Test(config, bad_numbers_keep_the_default_and_say_why)
{
    const char *bad[] = {"",    "abc",  "-1",  "+5", " 5",     "5 ",
                         "5ms", "0x10", "1e3", "0",  "100001", "99999999999999999999999",
                         "2.5"};
    ps_config c;
    char msg[512];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(parse_one(&c, "POOLSHIM_MAX_PER_KEY", bad[i], msg), 1, "'%s'", bad[i]);
        cr_assert_eq(c.max_per_key, 20, "'%s'", bad[i]);
        cr_assert(strstr(msg, "POOLSHIM_MAX_PER_KEY") && strstr(msg, "default 20"), "%s", msg);
    }
}

Test(config, every_numeric_variable_is_range_checked)
{
    struct {
        const char *name, *too_small, *too_big;
    } vars[] = {{"POOLSHIM_MAX_PER_KEY", "0", "100001"},
                {"POOLSHIM_WAIT_TIMEOUT_MS", "", "3600001"},
                {"POOLSHIM_IDLE_TIMEOUT_MS", "999", "86400001"},
                {"POOLSHIM_MIN_IDLE", "-1", "100001"},
                {"POOLSHIM_SURPLUS_IDLE_MS", "x", "86400001"},
                {"POOLSHIM_MAX_LIFETIME_MS", "-1", "604800001"},
                {"POOLSHIM_VALIDATE_IDLE_MS", "x", "86400001"},
                {"POOLSHIM_REVERIFY_MS", "-1", "3600001"}};
    ps_config c, d;
    ps_config_defaults(&d);
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        cr_assert_eq(parse_one(&c, vars[i].name, vars[i].too_small, NULL), 1, "%s", vars[i].name);
        cr_assert_eq(parse_one(&c, vars[i].name, vars[i].too_big, NULL), 1, "%s", vars[i].name);
        cr_assert_eq(memcmp(&c, &d, sizeof c), 0, "%s changed despite rejection", vars[i].name);
    }
}

Test(config, bad_booleans_levels_and_strings_are_rejected)
{
    ps_config c;
    char msg[512];
    cr_assert_eq(parse_one(&c, "POOLSHIM_DISABLE", "maybe", msg), 1);
    cr_assert_eq(c.disable, 0);
    cr_assert(strstr(msg, "boolean"), "%s", msg);
    cr_assert_eq(parse_one(&c, "POOLSHIM_LOG_LEVEL", "verbose", msg), 1);
    cr_assert_eq(c.log_level, 1);
    cr_assert(strstr(msg, "error, warn, info, debug"), "%s", msg);
    char long_path[400];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    cr_assert_eq(parse_one(&c, "POOLSHIM_LOG_FILE", long_path, msg), 1);
    cr_assert_str_empty(c.log_file);
}

Test(config, several_bad_values_are_each_reported)
{
    ps_config c;
    fake_env e = {.pairs = {{"POOLSHIM_MAX_PER_KEY", "x"},
                            {"POOLSHIM_LOG_LEVEL", "y"},
                            {"POOLSHIM_IDLE_TIMEOUT_MS", "5000"}}};
    cr_assert_eq(ps_config_parse(&c, fake_get, fake_report, &e), 2);
    cr_assert_eq(c.idle_timeout_ms, 5000);
}

Test(config, a_bad_value_is_reported_on_one_printable_line)
{
    ps_config c;
    char msg[512];
    cr_assert_eq(parse_one(&c, "POOLSHIM_MAX_PER_KEY", "1\nforged\\\xff", msg), 1);
    cr_assert(strstr(msg, "POOLSHIM_MAX_PER_KEY='1\\x0aforged\\x5c\\xff' is not"), "%s", msg);
    for (const char *p = msg; *p; p++)
        cr_assert((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f, "byte %d in %s", *p, msg);
    char long_value[400];
    memset(long_value, '7', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    cr_assert_eq(parse_one(&c, "POOLSHIM_WAIT_TIMEOUT_MS", long_value, msg), 1);
    cr_assert(strstr(msg, "='7777777777777777777777777777777777777777777777777777777777777777...'"),
              "%s", msg);
}

Test(config, auto_is_a_value_of_an_autoint_only)
{
    ps_config c;
    char msg[512];
    const char *autos[] = {"auto", "AUTO", "Auto"};
    for (size_t i = 0; i < sizeof autos / sizeof *autos; i++) {
        cr_assert_eq(parse_one(&c, "POOLSHIM_MAX_PER_KEY", autos[i], NULL), 0, "%s", autos[i]);
        cr_assert_eq(c.max_per_key, 0, "%s", autos[i]);
    }
    cr_assert_eq(parse_one(&c, "POOLSHIM_MAX_PER_KEY", "autox", msg), 1);
    cr_assert(strstr(msg, "or auto") && strstr(msg, "default 20"), "%s", msg);
    ps_config defaults;
    ps_config_defaults(&defaults);
    cr_assert_eq(parse_one(&c, "POOLSHIM_IDLE_TIMEOUT_MS", "auto", msg), 1); /* an MS */
    cr_assert_eq(c.idle_timeout_ms, defaults.idle_timeout_ms);
}
