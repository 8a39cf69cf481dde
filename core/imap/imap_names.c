/*
 * imap_names - mailbox names: modified UTF-7 and LIST patterns
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_names.h"
#include "xalloc.h"

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* Validates one shifted run s[0..n) (between '&' and '-'). */
static bool
mutf7_run_valid(const char *s, size_t n)
{
	uint32_t bits = 0;
	int nbits = 0;
	uint16_t high = 0; /* pending high surrogate */
	size_t i;

	for (i = 0; i < n; i++) {
		int v = b64_value((unsigned char)s[i]);

		if (v < 0)
			return false;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits >= 16) {
			uint16_t u = (uint16_t)(bits >> (nbits - 16));

			nbits -= 16;
			bits &= (1u << nbits) - 1;
			if (high != 0) {
				if (u < 0xdc00 || u > 0xdfff)
					return false;
				high = 0;
			} else if (u >= 0xd800 && u <= 0xdbff) {
				high = u;
			} else if (u >= 0xdc00 && u <= 0xdfff) {
				return false;
			} else if (u >= 0x20 && u <= 0x7e) {
				/* Must have been written directly. */
				return false;
			}
		}
	}
	/* Leftover bits are padding: fewer than 6 and all zero. */
	return high == 0 && nbits < 6 && bits == 0;
}

bool
imap_mutf7_valid(const char *name, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c > 0x7e)
			return false;
		if (c != '&') {
			i++;
			continue;
		}
		{
			const char *dash = memchr(name + i + 1, '-',
						  len - i - 1);
			size_t run;

			if (dash == NULL)
				return false;
			run = (size_t)(dash - (name + i + 1));
			if (run > 0 && !mutf7_run_valid(name + i + 1, run))
				return false;
			i += run + 2;
		}
	}
	return true;
}

bool
imap_list_match(const char *pattern, const char *name)
{
	size_t m = strlen(pattern), n = strlen(name), i, j;
	bool *prev, *cur, ok;

	/* prev[j]: pattern[0..i) matches name[0..j). */
	prev = xcalloc(n + 1, sizeof(bool));
	cur = xcalloc(n + 1, sizeof(bool));
	prev[0] = true;
	for (i = 0; i < m; i++) {
		char pc = pattern[i];

		cur[0] = prev[0] && (pc == '*' || pc == '%');
		for (j = 1; j <= n; j++) {
			if (pc == '*')
				cur[j] = prev[j] || cur[j - 1];
			else if (pc == '%')
				cur[j] = prev[j] || (cur[j - 1] &&
						     name[j - 1] !=
							     IMAP_SEPARATOR);
			else
				cur[j] = prev[j - 1] && pc == name[j - 1];
		}
		memcpy(prev, cur, (n + 1) * sizeof(bool));
	}
	ok = prev[n];
	free(prev);
	free(cur);
	return ok;
}

char *
imap_mailbox_canonical(const char *name)
{
	char *out = xstrdup(name);

	if (strncasecmp(name, "INBOX", 5) == 0 &&
	    (name[5] == '\0' || name[5] == IMAP_SEPARATOR))
		memcpy(out, "INBOX", 5);
	return out;
}
