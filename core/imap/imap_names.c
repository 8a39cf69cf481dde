/*
 * imap_names - mailbox names: modified UTF-7 and LIST patterns
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_names.h"
#include "mutf7.h"
#include "xalloc.h"

bool
imap_mutf7_valid(const char *name, size_t len)
{
	return mutf7_valid(name, len);
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
