/*
 * imap_flags - IMAP flags to and from Maildir flag letters
 *
 * System flags map to the standard Maildir letters: \Answered R,
 * \Deleted T, \Draft D, \Flagged F, \Seen S. The keyword $Forwarded maps
 * to P (Maildir "passed"), as other Maildir servers do. Other keywords
 * take the letters a-z through the folder's keyword table, so a folder
 * has at most 26 distinct keywords; a 27th is rejected with NO.
 * \Recent is a session property and cannot be stored.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "imap_session.h"

static const struct {
	const char *name;
	char letter;
} system_flags[] = {
	{"\\Draft", 'D'}, {"\\Flagged", 'F'}, {"$Forwarded", 'P'},
	{"\\Answered", 'R'}, {"\\Seen", 'S'}, {"\\Deleted", 'T'},
};

#define NSYSTEM (sizeof(system_flags) / sizeof(system_flags[0]))

void
imap_flags_format(struct buf *out, const struct mailbox *mb,
		  const char *letters, bool recent)
{
	bool first = true;
	const char *p;
	size_t i;

	buf_putc(out, '(');
	for (p = letters; *p != '\0'; p++) {
		const char *name = NULL;

		for (i = 0; i < NSYSTEM; i++)
			if (system_flags[i].letter == *p)
				name = system_flags[i].name;
		if (*p >= 'a' && *p <= 'z' && mb != NULL)
			name = mb->keywords[*p - 'a'];
		if (name == NULL)
			continue;
		if (!first)
			buf_putc(out, ' ');
		buf_puts(out, name);
		first = false;
	}
	if (recent) {
		if (!first)
			buf_putc(out, ' ');
		buf_puts(out, "\\Recent");
	}
	buf_putc(out, ')');
}

static void
letters_add(bool set[128], char c)
{
	set[(unsigned char)c] = true;
}

static void
letters_out(const bool set[128], char out[48])
{
	size_t n = 0;
	int c;

	for (c = 'A'; c <= 'z' && n < 47; c++) {
		bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');

		if (set[c] && letter)
			out[n++] = (char)c;
	}
	out[n] = '\0';
}

int
imap_flags_parse(struct mailbox *mb, char **flags, size_t n, bool create,
		 char out[48], const char **msg, bool *bad)
{
	bool set[128] = {false};
	size_t i, k;

	*bad = false;
	for (i = 0; i < n; i++) {
		const char *f = flags[i];
		char letter = 0;

		for (k = 0; k < NSYSTEM; k++)
			if (strcasecmp(f, system_flags[k].name) == 0)
				letter = system_flags[k].letter;
		if (letter == 0 && f[0] == '\\') {
			*msg = strcasecmp(f, "\\Recent") == 0
				       ? "The \\Recent flag cannot be stored"
				       : "Unknown system flag";
			*bad = true;
			return -1;
		}
		if (letter == 0 && mb != NULL) {
			letter = mailbox_keyword_letter(mb, f, create);
			if (letter == 0 && create) {
				*msg = "[LIMIT] Too many keywords in this "
				       "mailbox";
				return -1;
			}
		}
		if (letter != 0)
			letters_add(set, letter);
	}
	letters_out(set, out);
	return 0;
}

void
imap_flags_apply(const char *old, const char *change, char op, char out[48])
{
	bool set[128] = {false};
	const char *p;

	if (op != '=')
		for (p = old; *p != '\0'; p++)
			letters_add(set, *p);
	for (p = change; *p != '\0'; p++)
		set[(unsigned char)*p] = op != '-';
	letters_out(set, out);
}

char
imap_keyword_letter(void *mb, const char *name)
{
	size_t k;

	for (k = 0; k < NSYSTEM; k++)
		if (strcasecmp(name, system_flags[k].name) == 0)
			return system_flags[k].letter;
	return mailbox_keyword_letter(mb, name, false);
}
