/*
 * smtp_parse - SMTP command lines, paths and MAIL parameters
 *
 * Pure functions over one command line, without sockets or state, so they
 * are unit-tested and fuzzed on their own. The grammar is RFC 5321
 * section 4.1 with the RFC 6531 (SMTPUTF8) additions for UTF-8 local parts
 * and domains.
 *
 * Input is a line without its CRLF and is not NUL-terminated. Results
 * point into the line or are copied into fixed-size fields, so nothing is
 * allocated. Every function reports bad input through its return value.
 *
 * Known limits: a quoted local part is kept quoted unless its content is
 * a valid dot-string. Domains are checked for LDH syntax but U-labels are
 * not checked against IDNA2008. A General-address-literal such as
 * [x400:...] is accepted as syntax and never matches a local domain.
 */
#ifndef HAPOST_SMTP_PARSE_H
#define HAPOST_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 section 4.5.3.1: octet limits of the parts of a path. */
#define SMTP_LOCAL_PART_MAX 64
#define SMTP_DOMAIN_MAX 255
#define SMTP_ADDRESS_MAX (SMTP_LOCAL_PART_MAX + 1 + SMTP_DOMAIN_MAX)
/* More parameters than this on one MAIL or RCPT is a syntax error. */
#define SMTP_PARAMS_MAX 16

enum smtp_verb {
	SMTP_VERB_UNKNOWN,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_HELP,
	/* Recognised but not offered: replied to with 502 5.5.1. */
	SMTP_VERB_EXPN,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_ETRN,
	SMTP_VERB_TURN,
};

enum smtp_line_status {
	SMTP_LINE_OK,
	SMTP_LINE_EMPTY,   /* nothing but spaces */
	SMTP_LINE_NUL,	   /* a NUL byte */
	SMTP_LINE_BARE_CR, /* a CR not followed by LF */
	SMTP_LINE_CONTROL, /* another control character in the verb */
};

struct smtp_command {
	enum smtp_verb verb;
	const char *verb_text; /* as sent, for logs */
	size_t verb_len;
	const char
	    *arg; /* after the verb and its spaces, trailing spaces cut */
	size_t arg_len;
};

/*
 * Splits a command line (without CRLF) into verb and argument. The verb
 * is matched case-insensitively and must be followed by a space or the
 * end of the line. An unknown verb is SMTP_LINE_OK with SMTP_VERB_UNKNOWN.
 */
enum smtp_line_status smtp_parse_command(const char *line, size_t len,
					 struct smtp_command *cmd);

/* Returns the verb's canonical upper-case name ("UNKNOWN" for none). */
const char *smtp_verb_name(enum smtp_verb verb);

/*
 * Checks a HELO/EHLO argument: one word of visible ASCII (a domain, an
 * address literal, or what broken clients send instead), at most
 * SMTP_DOMAIN_MAX octets. Returns false for an empty or bad argument.
 */
bool smtp_parse_helo(const char *arg, size_t len);

/*
 * Parses the BDAT argument "chunk-size [LAST]". chunk-size is decimal
 * digits and must fit in 63 bits. Returns false on bad syntax.
 */
bool smtp_parse_bdat(const char *arg, size_t len, uint64_t *size, bool *last);

struct smtp_param {
	const char *keyword;
	size_t keyword_len;
	const char *value; /* NULL when the parameter has no "=value" */
	size_t value_len;
};

struct smtp_path_args {
	const char *path; /* "<...>", brackets included */
	size_t path_len;
	struct smtp_param params[SMTP_PARAMS_MAX];
	size_t nparams;
};

enum smtp_args_status {
	SMTP_ARGS_OK,
	SMTP_ARGS_NO_PREFIX, /* "FROM:" or "TO:" missing */
	SMTP_ARGS_NO_PATH,   /* no "<...>" after the prefix */
	SMTP_ARGS_BAD_PARAM, /* a parameter is not keyword[=value] */
	SMTP_ARGS_TOO_MANY,  /* more than SMTP_PARAMS_MAX parameters */
};

/*
 * Splits a MAIL or RCPT argument into the path and its parameters.
 * prefix is "FROM:" or "TO:", matched case-insensitively; spaces after
 * the colon are tolerated. The path ends at the first '>' outside a
 * quoted string.
 */
enum smtp_args_status smtp_split_path_args(const char *arg, size_t len,
					   const char *prefix,
					   struct smtp_path_args *out);

/* Flags for smtp_parse_path(). */
#define SMTP_PATH_ALLOW_NULL 0x1       /* "<>" (the MAIL null sender) */
#define SMTP_PATH_ALLOW_POSTMASTER 0x2 /* "<postmaster>" without domain */
#define SMTP_PATH_ALLOW_UTF8 0x4       /* SMTPUTF8 was requested */

enum smtp_path_status {
	SMTP_PATH_OK,
	SMTP_PATH_SYNTAX,     /* not a valid path */
	SMTP_PATH_TOO_LONG,   /* local part or domain over the RFC limits */
	SMTP_PATH_NEEDS_UTF8, /* valid only with SMTPUTF8 */
};

struct smtp_address {
	/* "local@domain", or "" for <>, or "postmaster" alone. A quoted
	 * local part whose content is a dot-string is stored unquoted. */
	char text[SMTP_ADDRESS_MAX + 1];
	size_t local_len; /* octets of text before the '@' */
	bool is_null;
	bool is_postmaster; /* "postmaster" without a domain */
	bool is_utf8;	    /* contains non-ASCII octets */
};

/*
 * Parses a path "<[@route,...:]mailbox>" as RFC 5321 Path and
 * Reverse-path define it. A source route is accepted and dropped, as
 * RFC 5321 section 4.1.1.3 permits.
 */
enum smtp_path_status smtp_parse_path(const char *path, size_t len,
				      unsigned flags, struct smtp_address *out);

/* Returns true if s[0..len) is well-formed UTF-8 (no overlongs, no
 * surrogates, nothing past U+10FFFF). */
bool smtp_utf8_valid(const char *s, size_t len);

enum smtp_body_type {
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
};

struct smtp_mail_params {
	bool has_size;
	uint64_t size;		  /* SIZE=, RFC 1870 */
	enum smtp_body_type body; /* BODY=, RFC 6152 */
	bool smtputf8;		  /* SMTPUTF8, RFC 6531 */
};

enum smtp_param_status {
	SMTP_PARAM_OK,
	SMTP_PARAM_SYNTAX,	/* bad value or repeated keyword: 501 */
	SMTP_PARAM_UNSUPPORTED, /* unknown keyword or BODY value: 555 */
};

/*
 * Interprets the MAIL parameters. Keywords are case-insensitive. On an
 * error *bad is the index of the offending parameter.
 */
enum smtp_param_status smtp_parse_mail_params(const struct smtp_path_args *a,
					      struct smtp_mail_params *out,
					      size_t *bad);

#endif
