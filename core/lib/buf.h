/*
 * buf - growable byte buffer
 *
 * A buf holds bytes in data[0..len). It always keeps one spare byte so
 * buf_cstr() can NUL-terminate without reallocating. Growth uses the x*
 * allocators, so appends never fail. buf_consume() drops bytes from the
 * front by moving the rest down; callers that read a stream consume whole
 * lines or chunks at a time.
 */
#ifndef HAPOST_BUF_H
#define HAPOST_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT {NULL, 0, 0}

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Removes the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Returns data NUL-terminated; the NUL is not counted in len. */
const char *buf_cstr(struct buf *b);
/* Returns the offset of the first LF at or after from, or -1. */
long buf_find_lf(const struct buf *b, size_t from);

#endif
