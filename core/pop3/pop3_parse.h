/*
 * pop3_parse - POP3 command lines and the dot-stuffed message encoder
 *
 * Pure functions with no I/O, shared by the session code and the unit
 * tests.
 */
#ifndef HAPOST_POP3_PARSE_H
#define HAPOST_POP3_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* RFC 2449: a command line is at most 255 octets including CRLF. */
#define POP3_LINE_MAX 255

enum pop3_cmd_id {
	POP3_CMD_UNKNOWN,
	POP3_CMD_USER,
	POP3_CMD_PASS,
	POP3_CMD_QUIT,
	POP3_CMD_STAT,
	POP3_CMD_LIST,
	POP3_CMD_RETR,
	POP3_CMD_DELE,
	POP3_CMD_NOOP,
	POP3_CMD_RSET,
	POP3_CMD_TOP,
	POP3_CMD_UIDL,
	POP3_CMD_CAPA,
	POP3_CMD_APOP,
	POP3_CMD_AUTH,
	POP3_CMD_STLS,
};

struct pop3_cmd {
	enum pop3_cmd_id id;
	char keyword[5];	      /* as sent, upper-cased; "" if invalid */
	const char *arg;	      /* everything after "KEYWORD ", or "" */
	size_t arglen;
	bool has_arg;
};

/*
 * Parses one command line (without its CRLF or LF) of len bytes. The
 * keyword is matched case-insensitively; cmd->arg points into line.
 * Returns false with *why set for a line that is no command at all (NUL
 * byte, control character, empty, keyword not 3-4 letters).
 */
bool pop3_parse_line(const char *line, size_t len, struct pop3_cmd *cmd,
		     const char **why);

/*
 * Parses arguments that must be decimal numbers: exactly nmin to nmax of
 * them, separated by single spaces, each at most 10 digits. Returns the
 * count parsed, or -1.
 */
int pop3_parse_numbers(const char *arg, size_t len, int nmin, int nmax,
		       uint64_t *out);

/*
 * Dot-stuffing encoder for RETR and TOP. It copies message bytes to out,
 * doubling a '.' at the start of a line and turning a bare LF into CRLF.
 * With a TOP limit it stops after the header, the blank line and
 * body_lines lines of body.
 */
struct pop3_stuffer {
	bool at_line_start;
	bool prev_cr;
	bool in_header;
	bool limited;
	bool done;	  /* the TOP limit was reached */
	size_t line_len;  /* bytes of the current line, CR and LF excluded */
	uint64_t body_lines_left;
};

void pop3_stuffer_init(struct pop3_stuffer *st, bool limited,
		       uint64_t body_lines);
/* Encodes up to n bytes; returns how many were used (less than n only
 * when st->done became true). */
size_t pop3_stuff(struct pop3_stuffer *st, const char *in, size_t n,
		  struct buf *out);
/* Ends the response: CRLF if the last line was not ended, then ".CRLF". */
void pop3_stuff_end(struct pop3_stuffer *st, struct buf *out);

#endif
