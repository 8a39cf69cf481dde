#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static bool log_stderr = true;
static bool log_debug_on;
static char log_ident[32] = "hapost";

void
log_open(const char *ident, bool to_stderr)
{
	log_stderr = to_stderr;
	log_set_ident(ident);
	if (!to_stderr)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_ident(const char *ident)
{
	snprintf(log_ident, sizeof(log_ident), "%s", ident);
	if (!log_stderr) {
		closelog();
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	}
}

void
log_set_debug(bool on)
{
	log_debug_on = on;
}

bool
log_debug_enabled(void)
{
	return log_debug_on;
}

static const char *
prio_name(int prio)
{
	switch (prio) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

static void
log_vmsg(int prio, const char *fmt, va_list ap)
{
	char line[2048];
	int saved = errno;

	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_stderr) {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s[%ld]: %s: %s\n", stamp,
			ts.tv_nsec / 1000000, log_ident, (long)getpid(),
			prio_name(prio), line);
	} else {
		syslog(prio, "%s: %s", prio_name(prio), line);
	}
	errno = saved;
}

void
log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
}

void
log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

const char *
log_printable(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t i, o = 0;

	if (dstlen == 0)
		return dst;
	for (i = 0; i < srclen && o + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (i < srclen && dstlen >= 4) {
		o = o > dstlen - 4 ? dstlen - 4 : o;
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}
