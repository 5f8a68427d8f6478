/* Configuration parsing: strict, bounded, never fatal. A bad value is reported and replaced by
 * its default. */
#include "poolshim/config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>

#include "poolshim/log.h"

ps_config ps_cfg;

static const char *const level_names[] = {PS_CFG_LEVEL_NAMES};

/* Parses an unsigned decimal made of digits only into *OUT; false on anything else/overflow. */
static bool parse_decimal(const char *s, int64_t *out)
{
    if (!*s)
        return false;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return true;
}

/* Parses a boolean word into *OUT. */
static bool parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {PS_CFG_BOOL_YES};
    static const char *const no[] = {PS_CFG_BOOL_NO};
    _Static_assert(sizeof yes == sizeof no, "PS_CFG_BOOL_YES and PS_CFG_BOOL_NO pair up");
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (!strcasecmp(s, yes[i]))
            return *out = 1, true;
        if (!strcasecmp(s, no[i]))
            return *out = 0, true;
    }
    return false;
}

/* Parses a log level name into *OUT. */
static bool parse_level(const char *s, int *out)
{
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(s, level_names[i]))
            return *out = i, true;
    return false;
}

/* Reports one rejected value. */
static void reject(ps_config_reporter report, void *ctx, const char *name, const char *value,
                   const char *expected, const char *dflt)
{
    char msg[512], quoted[300];
    snprintf(msg, sizeof msg, "POOLSHIM_%s='%s' is not %s; using the default %s", name,
             ps_log_quote(quoted, sizeof quoted, value, 64), expected, dflt);
    if (report)
        report(msg, ctx);
}

/* Fills CFG with the defaults of config.def. */
void ps_config_defaults(ps_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
#define PS_CFG_DEFAULT_STR(f, d)
#define PS_CFG_DEFAULT_NUM(f, d)                       cfg->f = (d);
#define PS_CFG_DEFAULT_BOOL                            PS_CFG_DEFAULT_NUM
#define PS_CFG_DEFAULT_INT                             PS_CFG_DEFAULT_NUM
#define PS_CFG_DEFAULT_AUTOINT                         PS_CFG_DEFAULT_NUM
#define PS_CFG_DEFAULT_MS                              PS_CFG_DEFAULT_NUM
#define PS_CFG_DEFAULT_LEVEL                           PS_CFG_DEFAULT_NUM
#define PS_CFG(NAME, type, field, dflt, min, max, doc) PS_CFG_DEFAULT_##type(field, dflt)
#include "poolshim/config.def"
#undef PS_CFG
}

/* Applies one number within [MIN, MAX], else reports. Returns 1 when rejected. */
static int apply_number(int64_t *field, const char *name, const char *v, int64_t min, int64_t max,
                        ps_config_reporter report, void *ctx)
{
    int64_t n;
    if (parse_decimal(v, &n) && n >= min && n <= max) {
        *field = n;
        return 0;
    }
    char expected[96], dflt[32];
    snprintf(expected, sizeof expected, "a whole number from %lld to %lld", (long long)min,
             (long long)max);
    snprintf(dflt, sizeof dflt, "%lld", (long long)*field);
    reject(report, ctx, name, v, expected, dflt);
    return 1;
}

/* Applies a number within [MIN, MAX] or "auto" (0), else reports. Returns 1 when rejected. */
static int apply_auto(int64_t *field, const char *name, const char *v, int64_t min, int64_t max,
                      ps_config_reporter report, void *ctx)
{
    int64_t n;
    if (!strcasecmp(v, PS_CFG_AUTO) || (parse_decimal(v, &n) && n >= min && n <= max)) {
        *field = strcasecmp(v, PS_CFG_AUTO) ? n : 0;
        return 0;
    }
    char expected[96], dflt[32];
    snprintf(expected, sizeof expected, "a whole number from %lld to %lld or %s", (long long)min,
             (long long)max, PS_CFG_AUTO);
    snprintf(dflt, sizeof dflt, "%lld", (long long)*field);
    reject(report, ctx, name, v, expected, dflt);
    return 1;
}

/* Applies a boolean, else reports. Returns 1 when rejected. */
static int apply_bool(int *field, const char *name, const char *v, ps_config_reporter report,
                      void *ctx)
{
    if (parse_bool(v, field))
        return 0;
    reject(report, ctx, name, v, "a boolean (0/1, true/false, yes/no, on/off)", *field ? "1" : "0");
    return 1;
}

/* Applies a log level, else reports. Returns 1 when rejected. */
static int apply_level(int *field, const char *name, const char *v, ps_config_reporter report,
                       void *ctx)
{
    if (parse_level(v, field))
        return 0;
    reject(report, ctx, name, v, "one of error, warn, info, debug", level_names[*field]);
    return 1;
}

/* Applies a string that must fit the field, else reports. Returns 1 when rejected. */
static int apply_str(char *field, size_t size, const char *name, const char *v,
                     ps_config_reporter report, void *ctx)
{
    if (strlen(v) < size) {
        strcpy(field, v);
        return 0;
    }
    reject(report, ctx, name, v, "shorter than 256 bytes", "(unset)");
    return 1;
}

int ps_config_parse(ps_config *cfg, ps_config_getter get, ps_config_reporter report, void *ctx)
{
    int bad = 0;
    const char *v;
    ps_config_defaults(cfg);
#define PS_CFG_APPLY_BOOL(NAME, f, min, max)  bad += apply_bool(&cfg->f, #NAME, v, report, ctx);
#define PS_CFG_APPLY_LEVEL(NAME, f, min, max) bad += apply_level(&cfg->f, #NAME, v, report, ctx);
#define PS_CFG_APPLY_INT(NAME, f, min, max)                                                        \
    bad += apply_number(&cfg->f, #NAME, v, min, max, report, ctx);
#define PS_CFG_APPLY_MS PS_CFG_APPLY_INT
#define PS_CFG_APPLY_AUTOINT(NAME, f, min, max)                                                    \
    bad += apply_auto(&cfg->f, #NAME, v, min, max, report, ctx);
#define PS_CFG_APPLY_STR(NAME, f, min, max)                                                        \
    bad += apply_str(cfg->f, sizeof cfg->f, #NAME, v, report, ctx);
#define PS_CFG(NAME, type, field, dflt, min, max, doc)                                             \
    if ((v = get("POOLSHIM_" #NAME, ctx)) != NULL) {                                               \
        PS_CFG_APPLY_##type(NAME, field, min, max)                                                 \
    }
#include "poolshim/config.def"
#undef PS_CFG
    return bad;
}

/* Getter over the process environment. */
static const char *env_getter(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

/* Getter for secure-exec processes: the environment is not trusted. */
static const char *no_getter(const char *name, void *ctx)
{
    (void)name;
    (void)ctx;
    return NULL;
}

/* Collects rejection messages until the log is configured. */
typedef struct pending_reports {
    char lines[16][512];
    int n;
} pending_reports;

/* Stores one rejection message for logging after ps_log_configure. */
static void collect_report(const char *message, void *ctx)
{
    pending_reports *p = ctx;
    if (p->n < 16)
        snprintf(p->lines[p->n++], sizeof p->lines[0], "%s", message);
}

void ps_config_load(void)
{
    pending_reports reports = {.n = 0};
    bool secure = getauxval(AT_SECURE) != 0;
    ps_config_parse(&ps_cfg, secure ? no_getter : env_getter, collect_report, &reports);
    ps_log_configure((enum ps_log_level)ps_cfg.log_level, ps_cfg.log_file);
    for (int i = 0; i < reports.n; i++)
        ps_warn(NULL, "%s", reports.lines[i]);
    if (secure)
        ps_info(NULL, "setuid/secure-exec process: POOLSHIM_* variables ignored, defaults used");
}
