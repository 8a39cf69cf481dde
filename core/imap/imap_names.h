/*
 * imap_names - mailbox names: modified UTF-7 and LIST patterns
 *
 * Mailbox names travel in modified UTF-7 (RFC 3501 section 5.1.3) and are
 * stored as they come, so the IMAP layer only validates them. The
 * hierarchy separator is IMAP_SEPARATOR, the one the Maildir++ layout
 * uses on disk.
 */
#ifndef HAPOST_IMAP_NAMES_H
#define HAPOST_IMAP_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define IMAP_SEPARATOR '.'

/*
 * Checks that name (len octets) is valid modified UTF-7: printable
 * US-ASCII with '&' shifts holding base64 (',' for '/') of UTF-16 that
 * encodes no printable US-ASCII character, with well-formed surrogate
 * pairs and zero padding bits, closed by '-'; "&-" stands for '&'.
 */
bool imap_mutf7_valid(const char *name, size_t len);

/*
 * Matches name against a LIST pattern where '*' matches any run of
 * characters and '%' any run without the separator. Runs in
 * O(strlen(name) * strlen(pattern)) time.
 */
bool imap_list_match(const char *pattern, const char *name);

/*
 * Returns name with a leading "INBOX" part (any case) written as "INBOX",
 * in a new string.
 */
char *imap_mailbox_canonical(const char *name);

#endif
