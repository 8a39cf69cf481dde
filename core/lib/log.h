/*
 * log - process logging to syslog (facility mail) or stderr
 *
 * Levels follow syslog: error for failures that lose service or data,
 * warning for a problem handled (a repaired file, a deferred delivery),
 * notice for service starts and stops and node changes, info for one line
 * per session or message event, debug only when the verbose switch is on.
 * Client-supplied text must go through log_printable() first.
 */
#ifndef HAPOST_LOG_H
#define HAPOST_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

/* Opens the log. With to_stderr the lines go to stderr with a timestamp. */
void log_open(const char *ident, bool to_stderr);
void log_set_debug(bool on);
bool log_debug_enabled(void);
/* Changes the ident shown in each line (a child names its role). */
void log_set_ident(const char *ident);

void log_msg(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                         \
	do {                                                                   \
		if (log_debug_enabled())                                       \
			log_msg(LOG_DEBUG, __VA_ARGS__);                       \
	} while (0)

/*
 * Copies at most srclen bytes of client text into dst (size dstlen),
 * replacing control and non-ASCII bytes with '?', truncating with "..."
 * when it does not fit. Returns dst.
 */
const char *log_printable(char *dst, size_t dstlen, const char *src,
			  size_t srclen);

#endif
