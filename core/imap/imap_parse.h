/*
 * imap_parse - the IMAP4rev1 command grammar (RFC 3501 section 9)
 *
 * A parser walks one complete command as imap_frame delivered it (the
 * final line end removed, literals inline as "{N}\r\n" plus N octets).
 * Each function reads one grammar element at the cursor and returns 0,
 * or -1 with a static message in p->error and the cursor unspecified;
 * the caller then replies BAD with that message. Results are allocated
 * from the parser's arena and stay valid until imap_parser_free().
 *
 * Strings come back NUL-terminated with their length, because a literal
 * may hold NUL octets. Quoted strings and atoms may not hold NUL, CR, LF
 * or 8-bit octets (RFC 3501 allows those only in literals). Numbers are
 * 32-bit unsigned; anything above 4294967295 is an error.
 */
#ifndef HAPOST_IMAP_PARSE_H
#define HAPOST_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct imap_arena_block;

struct imap_parser {
	const char *start;
	const char *p;
	const char *end;
	const char *error;
	struct imap_arena_block *arena;
};

struct imap_string {
	char *data; /* NUL-terminated copy */
	size_t len;
	bool literal;
};

/* One range of a sequence set; 0 stands for "*" (the highest number). */
struct imap_range {
	uint32_t lo, hi;
};

struct imap_seqset {
	struct imap_range *v;
	size_t n;
};

void imap_parser_init(struct imap_parser *p, const char *data, size_t len);
void imap_parser_free(struct imap_parser *p);
/* Returns zeroed memory that lives as long as the parser. */
void *imap_parser_alloc(struct imap_parser *p, size_t size);
char *imap_parser_strdup(struct imap_parser *p, const char *s, size_t len);

bool imap_at_end(const struct imap_parser *p);
/* Fails unless the whole command has been read. */
int imap_parse_end(struct imap_parser *p);
/* Reads exactly one space. */
int imap_parse_sp(struct imap_parser *p);
/* Returns the next byte without consuming it, or -1 at the end. */
int imap_peek(const struct imap_parser *p);
/* Consumes c if it is next; returns whether it was. */
bool imap_accept(struct imap_parser *p, char c);

int imap_parse_tag(struct imap_parser *p, char **out);
int imap_parse_atom(struct imap_parser *p, char **out);
int imap_parse_astring(struct imap_parser *p, struct imap_string *out);
/* quoted or literal */
int imap_parse_string(struct imap_parser *p, struct imap_string *out);
/* A literal whose octets may include NUL (APPEND message data). Not
 * copied: out->data points into the command and is not NUL-terminated. */
int imap_parse_literal_data(struct imap_parser *p, struct imap_string *out);
/* A list-mailbox: atom characters plus '%', '*' and ']', or a string. */
int imap_parse_list_mailbox(struct imap_parser *p, struct imap_string *out);
int imap_parse_number(struct imap_parser *p, uint32_t *out);
int imap_parse_nz_number(struct imap_parser *p, uint32_t *out);
int imap_parse_seqset(struct imap_parser *p, struct imap_seqset *out);
/* A flag: "\Word" (system or extension flag) or a keyword atom. */
int imap_parse_flag(struct imap_parser *p, char **out);
/* "(" [flag *(SP flag)] ")" */
int imap_parse_flag_list(struct imap_parser *p, char ***flags, size_t *n);
/* date: d-Mon-yyyy, optionally quoted; *out is 00:00:00 UTC that day. */
int imap_parse_date(struct imap_parser *p, time_t *out);
/* date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" as an absolute time. */
int imap_parse_date_time(struct imap_parser *p, time_t *out);

/* Checks whether n is in the set; star is the value of "*". */
bool imap_seqset_contains(const struct imap_seqset *s, uint32_t n,
			  uint32_t star);
/* Returns the highest explicit number in the set (ignoring "*"). */
uint32_t imap_seqset_max(const struct imap_seqset *s);
/*
 * Resolves "*" to star, orders each range, sorts and merges the ranges
 * into out (n ranges, caller frees out). Returns the count.
 */
size_t imap_seqset_resolve(const struct imap_seqset *s, uint32_t star,
			   struct imap_range **out);

/* Atom characters: CHAR except atom-specials. */
bool imap_is_atom_char(unsigned char c);

#endif
