/* Logging: one line per event, prefixed "poolshim[pid]: level:" and, where a pool is involved,
 * the pool's label (user@host:port/db, never a password). */
#ifndef POOLSHIM_LOG_H
#define POOLSHIM_LOG_H

#include <stddef.h>

enum ps_log_level { PS_LOG_ERROR = 0, PS_LOG_WARN, PS_LOG_INFO, PS_LOG_DEBUG };

/* Sets the threshold and the destination (NULL or "" = stderr). Called once from init. */
void ps_log_configure(enum ps_log_level level, const char *path);

/* Copies at most MAX bytes of S into OUT (OUTLEN bytes, always NUL-terminated) so that it can be
 * quoted in a log line: control characters, backslashes and non-ASCII bytes become \xNN, so a
 * value can neither break the line nor forge another; "..." marks a cut. Returns OUT. */
const char *ps_log_quote(char *out, size_t outlen, const char *s, size_t max);

/* True when a message at LEVEL would be written; use it to skip costly formatting. */
int ps_log_enabled(enum ps_log_level level);

/* Writes one line (atomic write(2)) when LEVEL passes the threshold. POOL_LABEL may be NULL. */
void ps_log(enum ps_log_level level, const char *pool_label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ps_error(label, ...) ps_log(PS_LOG_ERROR, label, __VA_ARGS__)
#define ps_warn(label, ...)  ps_log(PS_LOG_WARN, label, __VA_ARGS__)
#define ps_info(label, ...)  ps_log(PS_LOG_INFO, label, __VA_ARGS__)
#define ps_debug(label, ...)                                                                       \
    do {                                                                                           \
        if (ps_log_enabled(PS_LOG_DEBUG))                                                          \
            ps_log(PS_LOG_DEBUG, label, __VA_ARGS__);                                              \
    } while (0)

#endif
