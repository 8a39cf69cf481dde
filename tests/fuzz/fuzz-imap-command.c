/*
 * fuzz-imap-command - IMAP framing and command grammar on arbitrary bytes
 *
 * The input is framed with small limits and fed in uneven chunks. Each
 * complete command is parsed as tag and command name. Its arguments are
 * then parsed as each grammar element in turn: sequence set, search
 * keys, flag list, strings, dates, mailbox names and LIST patterns. Besides
 * crashes, the target aborts when an invariant breaks: the framer must
 * use every byte it is given unless it stops at a command boundary, a
 * command must fit the limits, and a resolved sequence set must be
 * sorted and disjoint.
 *
 * make check replays tests/fuzz/corpus-imap through fuzz-driver.c; see
 * tests/fuzz/README.md for coverage-guided runs.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap/imap_frame.h"
#include "imap/imap_names.h"
#include "imap/imap_parse.h"
#include "imap/imap_search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct imap_frame_limits limits = {.line_max = 512,
						.literal_max = 2048};

static void
check_seqset(struct imap_parser *p)
{
	struct imap_seqset set;
	struct imap_range *r;
	size_t n, i;

	if (imap_parse_seqset(p, &set) < 0)
		return;
	n = imap_seqset_resolve(&set, 17, &r);
	for (i = 0; i < n; i++) {
		if (r[i].lo > r[i].hi)
			abort();
		if (i > 0 && (uint64_t)r[i - 1].hi + 1 >= r[i].lo)
			abort();
		if (!imap_seqset_contains(&set, r[i].lo, 17))
			abort();
	}
	free(r);
}

/* Runs one grammar element over the arguments after the command name. */
static void
parse_args(const char *args, size_t len, int element)
{
	struct imap_parser p;
	struct imap_string s;
	struct search_key *k;
	char **flags;
	size_t n;
	time_t t;

	imap_parser_init(&p, args, len);
	switch (element) {
	case 0:
		check_seqset(&p);
		break;
	case 1:
		imap_parse_search(&p, &k);
		break;
	case 2:
		imap_parse_flag_list(&p, &flags, &n);
		break;
	case 3:
		while (imap_parse_astring(&p, &s) == 0 &&
		       imap_parse_sp(&p) == 0) {
			imap_mutf7_valid(s.data, s.len);
			imap_list_match(s.data, "INBOX.a.b");
		}
		break;
	case 4:
		imap_parse_date_time(&p, &t);
		break;
	case 5:
		imap_parse_date(&p, &t);
		break;
	case 6:
		imap_parse_list_mailbox(&p, &s);
		break;
	default:
		imap_parse_literal_data(&p, &s);
		break;
	}
	if (p.p > p.end)
		abort();
	imap_parser_free(&p);
}

static void
parse_command(const char *cmd, size_t len)
{
	struct imap_parser p;
	char *tag, *name;
	int element;

	while (len > 0 && (cmd[len - 1] == '\n' || cmd[len - 1] == '\r'))
		len--;
	imap_parser_init(&p, cmd, len);
	if (imap_parse_tag(&p, &tag) == 0 && imap_parse_sp(&p) == 0 &&
	    imap_parse_atom(&p, &name) == 0 && imap_accept(&p, ' ')) {
		for (element = 0; element < 8; element++)
			parse_args(p.p, (size_t)(p.end - p.p), element);
	}
	imap_parser_free(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	size_t pos = 0, chunk = 1;

	imap_frame_init(&f);
	while (pos < size) {
		size_t len = size - pos < chunk ? size - pos : chunk, used = 0;
		enum imap_frame_result r;

		r = imap_frame_feed(&f, &cmd, s + pos, len, &limits, &used);
		if (used > len || (r == IMAP_FRAME_MORE && used != len))
			abort();
		if (cmd.len > limits.line_max + limits.literal_max)
			abort();
		pos += used;
		if (r == IMAP_FRAME_COMMAND)
			parse_command(cmd.data, cmd.len);
		if (r == IMAP_FRAME_COMMAND || r == IMAP_FRAME_REJECT)
			buf_reset(&cmd);
		chunk = chunk * 3 % 61 + 1;
	}
	buf_free(&cmd);
	return 0;
}
