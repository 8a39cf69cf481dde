/*
 * xalloc - allocation that cannot fail
 *
 * The x* wrappers log and exit when memory runs out, so callers never see
 * NULL. Use them for state the process cannot work without; where a
 * failure can be handled (accepting a connection), call malloc directly.
 */
#ifndef HAPOST_XALLOC_H
#define HAPOST_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Formats into a new string, like asprintf(3). */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
