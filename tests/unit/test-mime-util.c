/*
 * test-mime-util - helpers shared by the MIME unit tests
 *
 * Test messages are written with "\n" line ends; crlf() converts them to
 * the CRLF form that a mail store normally keeps.
 */
#include "config.h"

#include <string.h>

#include "xalloc.h"

char *crlf(const char *s);

/* Returns a new copy of s with every bare LF turned into CRLF. */
char *
crlf(const char *s)
{
	size_t n = strlen(s), i, j = 0;
	char *out = xmalloc(2 * n + 1);

	for (i = 0; i < n; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			out[j++] = '\r';
		out[j++] = s[i];
	}
	out[j] = '\0';
	return out;
}
