/*
 * imap_frame - split an IMAP input stream into whole commands
 *
 * See imap_frame.h for the rules. The framer is a four-state machine:
 * reading a line, reading literal octets, and the two skipping states
 * that drop a rejected command without buffering it.
 */
#include "config.h"

#include <string.h>

#include "imap_frame.h"

void
imap_frame_init(struct imap_frame *f)
{
	memset(f, 0, sizeof(*f));
	f->state = IMAP_FS_LINE;
}

/* Prepares for the next command; the reject reason stays readable. */
static void
frame_reset(struct imap_frame *f)
{
	enum imap_frame_reject reject = f->reject;

	imap_frame_init(f);
	f->reject = reject;
}

int
imap_literal_suffix(const char *line, size_t len, uint64_t *size, bool *plus)
{
	size_t end, start, i;
	uint64_t n = 0;
	bool overflow = false;

	if (len < 3 || line[len - 1] != '}')
		return 0;
	end = len - 1;
	*plus = false;
	if (line[end - 1] == '+') {
		*plus = true;
		end--;
	}
	start = end;
	while (start > 0 && line[start - 1] >= '0' && line[start - 1] <= '9')
		start--;
	if (start == end || start == 0 || line[start - 1] != '{')
		return 0;
	for (i = start; i < end; i++) {
		unsigned d = (unsigned)(line[i] - '0');

		if (n > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			n = n * 10 + d;
	}
	*size = overflow ? UINT64_MAX : n;
	return 1;
}

/* Starts skipping the command; keeps its first bytes for the tag. */
static void
frame_start_skip(struct imap_frame *f, struct buf *cmd,
		 enum imap_frame_reject why, enum imap_frame_state state)
{
	f->reject = why;
	f->state = state;
	f->tail_len = 0;
	if (cmd->len > IMAP_FRAME_KEEP)
		cmd->len = IMAP_FRAME_KEEP;
}

/* Remembers the last bytes of a skipped line to find a literal there. */
static void
frame_keep_tail(struct imap_frame *f, const char *p, size_t n)
{
	size_t cap = sizeof(f->tail);

	if (n >= cap) {
		memcpy(f->tail, p + n - cap, cap);
		f->tail_len = cap;
		return;
	}
	if (f->tail_len + n > cap) {
		size_t drop = f->tail_len + n - cap;

		memmove(f->tail, f->tail + drop, f->tail_len - drop);
		f->tail_len -= drop;
	}
	memcpy(f->tail + f->tail_len, p, n);
	f->tail_len += n;
}

/* Strips the line end from a line of n bytes ending in LF. */
static size_t
line_body_len(const char *line, size_t n)
{
	if (n > 0 && line[n - 1] == '\n')
		n--;
	if (n > 0 && line[n - 1] == '\r')
		n--;
	return n;
}

/*
 * Handles a complete line now at the end of cmd. Returns the result to
 * report, or -1 to keep reading (a LITERAL+ literal follows).
 */
static int
frame_line_done(struct imap_frame *f, struct buf *cmd,
		const struct imap_frame_limits *lim)
{
	const char *line = cmd->data + f->line_start;
	size_t n = cmd->len - f->line_start;
	uint64_t size;
	bool plus;

	f->line_total += n;
	if (!imap_literal_suffix(line, line_body_len(line, n), &size, &plus))
		return IMAP_FRAME_COMMAND;
	if (size > lim->literal_max ||
	    f->literal_total + size > lim->literal_max) {
		if (!plus) {
			f->reject = IMAP_REJECT_LITERAL_TOO_BIG;
			return IMAP_FRAME_REJECT;
		}
		frame_start_skip(f, cmd, IMAP_REJECT_LITERAL_PLUS_TOO_BIG,
				 IMAP_FS_SKIP_LITERAL);
		f->literal_left = size;
		return -1;
	}
	f->literal_total += size;
	f->literal_left = size;
	f->state = IMAP_FS_LITERAL;
	if (size == 0 && plus) {
		f->state = IMAP_FS_LINE;
		f->line_start = cmd->len;
	}
	return plus ? -1 : IMAP_FRAME_CONTINUE;
}

enum imap_frame_result
imap_frame_feed(struct imap_frame *f, struct buf *cmd, const char *data,
		size_t len, const struct imap_frame_limits *lim,
		size_t *consumed)
{
	size_t pos = 0;

	/* While skipping, the reason found earlier must survive. */
	if (f->state == IMAP_FS_LINE || f->state == IMAP_FS_LITERAL)
		f->reject = IMAP_REJECT_NONE;
	while (pos < len) {
		const char *lf;
		size_t take;
		int r;

		switch (f->state) {
		case IMAP_FS_LINE:
			lf = memchr(data + pos, '\n', len - pos);
			take = lf ? (size_t)(lf - (data + pos)) + 1 : len - pos;
			if (f->line_total + (cmd->len - f->line_start) + take >
			    lim->line_max) {
				size_t room = 0;

				if (cmd->len < IMAP_FRAME_KEEP)
					room = IMAP_FRAME_KEEP - cmd->len;

				buf_append(cmd, data + pos,
					   take < room ? take : room);
				frame_start_skip(f, cmd,
						 IMAP_REJECT_LINE_TOO_LONG,
						 IMAP_FS_SKIP_LINE);
				continue;
			}
			buf_append(cmd, data + pos, take);
			pos += take;
			if (lf == NULL)
				break;
			r = frame_line_done(f, cmd, lim);
			if (r < 0)
				continue;
			*consumed = pos;
			if (r != IMAP_FRAME_CONTINUE)
				frame_reset(f);
			return (enum imap_frame_result)r;
		case IMAP_FS_LITERAL:
		case IMAP_FS_SKIP_LITERAL:
			take = len - pos;
			if (take > f->literal_left)
				take = (size_t)f->literal_left;
			if (f->state == IMAP_FS_LITERAL)
				buf_append(cmd, data + pos, take);
			pos += take;
			f->literal_left -= take;
			if (f->literal_left > 0)
				break;
			if (f->state == IMAP_FS_LITERAL) {
				f->state = IMAP_FS_LINE;
				f->line_start = cmd->len;
			} else {
				f->state = IMAP_FS_SKIP_LINE;
				f->tail_len = 0;
			}
			continue;
		case IMAP_FS_SKIP_LINE: {
			uint64_t size;
			size_t body;
			bool plus;

			lf = memchr(data + pos, '\n', len - pos);
			take = lf ? (size_t)(lf - (data + pos)) + 1 : len - pos;
			frame_keep_tail(f, data + pos, take);
			pos += take;
			if (lf == NULL)
				break;
			body = line_body_len(f->tail, f->tail_len);
			if (imap_literal_suffix(f->tail, body, &size, &plus) &&
			    plus && size > 0) {
				f->state = IMAP_FS_SKIP_LITERAL;
				f->literal_left = size;
				continue;
			}
			*consumed = pos;
			frame_reset(f);
			return IMAP_FRAME_REJECT;
		}
		}
	}
	*consumed = pos;
	return IMAP_FRAME_MORE;
}
