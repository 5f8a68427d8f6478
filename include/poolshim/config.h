/* Configuration from POOLSHIM_* environment variables, read once and immutable afterwards. */
#ifndef POOLSHIM_CONFIG_H
#define POOLSHIM_CONFIG_H

#include <stdint.h>

/* The words of the BOOL and LEVEL types of config.def, shared by the parser (config.c) and the
 * README table (tools/defgen.c); initialiser lists, use as {PS_CFG_LEVEL_NAMES}. The level
 * names are in enum ps_log_level order. */
#define PS_CFG_BOOL_YES    "1", "true", "yes", "on"
#define PS_CFG_BOOL_NO     "0", "false", "no", "off"
#define PS_CFG_LEVEL_NAMES "error", "warn", "info", "debug"
#define PS_CFG_AUTO        "auto" /* the word an AUTOINT takes besides a number (stored as 0) */

typedef struct ps_config {
#define PS_CFG_FIELD_BOOL(f)                           int f;
#define PS_CFG_FIELD_INT(f)                            int64_t f;
#define PS_CFG_FIELD_AUTOINT(f)                        int64_t f; /* 0: auto */
#define PS_CFG_FIELD_MS(f)                             int64_t f;
#define PS_CFG_FIELD_LEVEL(f)                          int f;
#define PS_CFG_FIELD_STR(f)                            char f[256];
#define PS_CFG(NAME, type, field, dflt, min, max, doc) PS_CFG_FIELD_##type(field)
#include "poolshim/config.def"
#undef PS_CFG
} ps_config;

/* Reads a variable by its full name (e.g. "POOLSHIM_MAX_PER_KEY"); returns NULL when unset. */
typedef const char *(*ps_config_getter)(const char *name, void *ctx);

/* Receives one human-readable line per rejected value (the default is used instead). */
typedef void (*ps_config_reporter)(const char *message, void *ctx);

/* Fills CFG with defaults, then with every valid value GET returns. Each invalid value is
 * reported once through REPORT and replaced by its default. Returns the number of invalid
 * values. Never fails otherwise. */
int ps_config_parse(ps_config *cfg, ps_config_getter get, ps_config_reporter report, void *ctx);

/* Fills CFG with the defaults only. */
void ps_config_defaults(ps_config *cfg);

/* The process-wide configuration (valid after ps_config_load). */
extern ps_config ps_cfg;

/* Loads ps_cfg from the environment once; ignores the environment in setuid/secure-exec
 * processes (AT_SECURE), logging that at info level. */
void ps_config_load(void);

#endif
