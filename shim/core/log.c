/* Logging to stderr or an append-only file, one write(2) per line. */
#include "poolshim/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int log_level = PS_LOG_WARN;
static int log_fd = STDERR_FILENO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* Escapes S for a log line (contract in log.h). */
const char *ps_log_quote(char *out, size_t outlen, const char *s, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0, i = 0;
    for (; s[i] && i < max && n + 5 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '\\') {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        } else {
            out[n++] = (char)c;
        }
    }
    if (s[i] && n + 3 < outlen) /* cut short: say so */
        for (int k = 0; k < 3; k++)
            out[n++] = '.';
    out[n] = '\0';
    return out;
}

/* Opens PATH for appending without blocking (a FIFO with no reader fails with ENXIO instead of
 * hanging the program), then makes writes blocking again; -1 with errno on failure. */
static int open_log_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd >= 0) {
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    }
    return fd;
}

/* Sets the threshold and opens PATH for appending; keeps stderr when PATH can't be opened. */
void ps_log_configure(enum ps_log_level level, const char *path)
{
    log_level = level;
    if (path && *path) {
        int fd = open_log_file(path), err = errno;
        char quoted[512];
        if (fd >= 0)
            log_fd = fd;
        else
            ps_warn(NULL, "cannot open POOLSHIM_LOG_FILE '%s': %s; logging to stderr",
                    ps_log_quote(quoted, sizeof quoted, path, 256), strerror(err));
    }
}

/* True when LEVEL passes the threshold. */
int ps_log_enabled(enum ps_log_level level)
{
    return (int)level <= log_level;
}

/* Formats and writes one line; truncates overlong messages rather than failing. */
void ps_log(enum ps_log_level level, const char *pool_label, const char *fmt, ...)
{
    if (!ps_log_enabled(level))
        return;
    int saved_errno = errno;
    char line[1024];
    int n = snprintf(line, sizeof line, "poolshim[%d]: %s: ", (int)getpid(), level_names[level]);
    if (pool_label && n < (int)sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, "[%s] ", pool_label);
    if (n < (int)sizeof line) {
        va_list ap;
        va_start(ap, fmt);
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
    }
    if (n >= (int)sizeof line - 1)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t ignored = write(log_fd, line, (size_t)n);
    (void)ignored;
    errno = saved_errno;
}
