/*
 * imap_search - SEARCH keys (RFC 3501 section 6.4.4) as a tree
 *
 * imap_parse_search() turns the key list of a SEARCH command into a tree
 * (an implicit AND of the listed keys), and imap_search_match() tests one
 * message against it. Matching reads message content only for keys that
 * need it (BODY, TEXT, HEADER and friends, SENT*), through the
 * search_msg load callback, and tests the cheap keys of an AND first.
 *
 * Dates compare by calendar day in UTC: INTERNALDATE as stored, and the
 * Date: header as an absolute time converted to UTC, so a header written
 * in another zone near midnight may land on the neighbouring day.
 * Nesting deeper than IMAP_SEARCH_MAX_DEPTH is rejected as BAD.
 */
#ifndef HAPOST_IMAP_SEARCH_H
#define HAPOST_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "imap_parse.h"

#define IMAP_SEARCH_MAX_DEPTH 32

struct mime_part;

enum search_op {
	SEARCH_ALL,
	SEARCH_AND, /* children */
	SEARCH_OR,  /* exactly two children */
	SEARCH_NOT, /* one child */
	SEARCH_SEQSET,
	SEARCH_UIDSET,
	SEARCH_FLAG,	/* flag letter set (or clear when negate) */
	SEARCH_KEYWORD, /* keyword set (or clear when negate) */
	SEARCH_RECENT,
	SEARCH_BEFORE,
	SEARCH_ON,
	SEARCH_SINCE,
	SEARCH_SENTBEFORE,
	SEARCH_SENTON,
	SEARCH_SENTSINCE,
	SEARCH_LARGER,
	SEARCH_SMALLER,
	SEARCH_HEADER, /* field and str */
	SEARCH_BODY,
	SEARCH_TEXT,
};

struct search_key {
	enum search_op op;
	bool negate;
	char flag;	   /* SEARCH_FLAG: maildir letter */
	char *field;	   /* SEARCH_HEADER */
	char *str;	   /* string argument or keyword */
	time_t date;	   /* 00:00 UTC of the day */
	uint32_t size;
	struct imap_seqset set;
	struct search_key *child; /* first child */
	struct search_key *next;  /* next sibling */
};

/* The fields of one message that the matcher reads. */
struct search_msg {
	uint32_t seq, uid;
	uint32_t max_seq, max_uid; /* the values of "*" */
	uint64_t size;
	const char *flags; /* maildir letters */
	time_t internal_date;
	bool recent;
	/* Returns the keyword's letter, or 0 if the mailbox has none. */
	char (*keyword_letter)(void *ctx, const char *name);
	/* Fills data, len and mime; returns -1 when the message is gone. */
	int (*load)(struct search_msg *m);
	void *ctx;
	const char *data;
	size_t len;
	struct mime_part *mime;
};

/*
 * Parses search keys separated by single spaces up to the end of the
 * command, allocating from the parser's arena.
 */
int imap_parse_search(struct imap_parser *p, struct search_key **out);
/* Parses one search key. */
int imap_parse_search_key(struct imap_parser *p, struct search_key **out,
			  int depth);
bool imap_search_match(const struct search_key *k, struct search_msg *m);
/* Returns true if matching k needs message content. */
bool imap_search_needs_content(const struct search_key *k);

#endif
