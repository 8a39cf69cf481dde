/*
 * pop3_parse - POP3 command lines (RFC 1939) and the dot-stuffed message
 * encoder
 *
 * A line is a keyword of 3 or 4 letters, then optionally one space and
 * the arguments. PASS takes the rest of the line as the password, spaces
 * included, as RFC 1939 allows. Numeric arguments are strict: digits
 * only, single spaces, no sign.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "pop3_parse.h"

static const struct {
	const char *keyword;
	enum pop3_cmd_id id;
} keywords[] = {
	{"USER", POP3_CMD_USER}, {"PASS", POP3_CMD_PASS},
	{"QUIT", POP3_CMD_QUIT}, {"STAT", POP3_CMD_STAT},
	{"LIST", POP3_CMD_LIST}, {"RETR", POP3_CMD_RETR},
	{"DELE", POP3_CMD_DELE}, {"NOOP", POP3_CMD_NOOP},
	{"RSET", POP3_CMD_RSET}, {"TOP", POP3_CMD_TOP},
	{"UIDL", POP3_CMD_UIDL}, {"CAPA", POP3_CMD_CAPA},
	{"APOP", POP3_CMD_APOP}, {"AUTH", POP3_CMD_AUTH},
	{"STLS", POP3_CMD_STLS},
};

bool
pop3_parse_line(const char *line, size_t len, struct pop3_cmd *cmd,
		const char **why)
{
	size_t k = 0;

	memset(cmd, 0, sizeof(*cmd));
	cmd->arg = "";
	if (memchr(line, '\0', len) != NULL) {
		*why = "command line contains a NUL byte";
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char u = (unsigned char)line[i];

		if ((u < 0x20 && u != '\t') || u == 0x7f) {
			*why = "command line contains a control character";
			return false;
		}
	}
	while (k < len && k < 5 && isalpha((unsigned char)line[k]))
		k++;
	if (k < 3 || k > 4 || (k < len && line[k] != ' ')) {
		*why = len == 0 ? "empty command line" : "invalid command";
		return false;
	}
	for (size_t i = 0; i < k; i++)
		cmd->keyword[i] = (char)toupper((unsigned char)line[i]);
	cmd->keyword[k] = '\0';
	cmd->id = POP3_CMD_UNKNOWN;
	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		if (strcmp(keywords[i].keyword, cmd->keyword) == 0) {
			cmd->id = keywords[i].id;
			break;
		}
	}
	if (k < len) {
		cmd->has_arg = true;
		cmd->arg = line + k + 1;
		cmd->arglen = len - k - 1;
	}
	return true;
}

int
pop3_parse_numbers(const char *arg, size_t len, int nmin, int nmax,
		   uint64_t *out)
{
	size_t i = 0;
	int n = 0;

	if (len == 0)
		return nmin == 0 ? 0 : -1;
	while (i < len) {
		uint64_t v = 0;
		size_t digits = 0;

		if (n == nmax)
			return -1;
		while (i < len && arg[i] >= '0' && arg[i] <= '9') {
			if (++digits > 10)
				return -1;
			v = v * 10 + (uint64_t)(arg[i] - '0');
			i++;
		}
		if (digits == 0)
			return -1;
		out[n++] = v;
		if (i < len) {
			if (arg[i] != ' ' || i + 1 == len)
				return -1;
			i++;
		}
	}
	return n >= nmin ? n : -1;
}

void
pop3_stuffer_init(struct pop3_stuffer *st, bool limited, uint64_t body_lines)
{
	memset(st, 0, sizeof(*st));
	st->at_line_start = true;
	st->in_header = true;
	st->limited = limited;
	st->body_lines_left = body_lines;
}

/* Accounts for a line that just ended; sets done at the TOP limit. */
static void
line_ended(struct pop3_stuffer *st)
{
	if (st->in_header) {
		if (st->line_len == 0) {
			st->in_header = false;
			if (st->limited && st->body_lines_left == 0)
				st->done = true;
		}
	} else if (st->limited) {
		if (st->body_lines_left > 0)
			st->body_lines_left--;
		if (st->body_lines_left == 0)
			st->done = true;
	}
	st->line_len = 0;
}

size_t
pop3_stuff(struct pop3_stuffer *st, const char *in, size_t n,
	   struct buf *out)
{
	size_t i;

	buf_reserve(out, n + n / 8 + 8);
	for (i = 0; i < n && !st->done; i++) {
		char b = in[i];

		if (st->at_line_start && b == '.')
			buf_putc(out, '.');
		if (b == '\n') {
			if (!st->prev_cr)
				buf_putc(out, '\r');
			buf_putc(out, '\n');
			line_ended(st);
		} else {
			buf_putc(out, b);
			if (b != '\r')
				st->line_len++;
		}
		st->prev_cr = (b == '\r');
		st->at_line_start = (b == '\n');
	}
	return i;
}

void
pop3_stuff_end(struct pop3_stuffer *st, struct buf *out)
{
	if (!st->at_line_start) {
		if (!st->prev_cr)
			buf_putc(out, '\r');
		buf_putc(out, '\n');
	}
	buf_puts(out, ".\r\n");
}
