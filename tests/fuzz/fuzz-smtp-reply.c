/*
 * fuzz-smtp-reply - the SMTP client's reply and EHLO parsers on arbitrary
 * bytes
 *
 * The input is fed as a server's byte stream: whole, then in pieces cut
 * at byte counts taken from the input itself, as a socket would deliver
 * them. Besides crashes, the target aborts when an invariant breaks.
 * Both feeds must yield the same sequence of replies (code, enhanced
 * code, text) and end the same way. Every reply text must be printable
 * ASCII and NUL-terminated, and an enhanced code must start with the
 * reply code's class. The parser must never claim more bytes than it
 * got.
 *
 * make check replays tests/fuzz/corpus-smtp-reply through fuzz-driver.c.
 * For coverage-guided runs see tests/fuzz/README.md; by hand, from a
 * configured build directory:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. \
 *     -I$SRC/core/lib -I$SRC/core -I$SRC/storage \
 *     $SRC/tests/fuzz/fuzz-smtp-reply.c $SRC/core/delivery/smtp_reply.c \
 *     $SRC/core/lib/buf.c $SRC/core/lib/xalloc.c $SRC/core/lib/log.c \
 *     $(pkg-config --cflags openssl) -o fuzz-smtp-reply
 *   ./fuzz-smtp-reply $SRC/tests/fuzz/corpus-smtp-reply -max_total_time=300
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "delivery/smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A digest of the replies one feed produced, to compare two feeds. */
struct trace {
	struct buf replies;
	enum smtp_reply_status last;
};

static void
check_reply(const struct smtp_reply_parser *p)
{
	const struct smtp_client_reply *r = &p->reply;
	size_t len = strnlen(r->text, sizeof(r->text));
	struct smtp_ehlo e;

	if (len == sizeof(r->text) || r->code < 200 || r->code > 559)
		abort();
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)r->text[i] < 0x20 ||
		    (unsigned char)r->text[i] > 0x7e)
			abort();
	if (r->enhanced[0] != '\0' && r->enhanced[0] != '0' + r->code / 100)
		abort();
	smtp_ehlo_parse(p, &e);
	if (e.size_max > 0 && !e.size)
		abort();
}

/* Feeds data in pieces of the given sizes (cycled), 0 meaning all. */
static void
feed(const char *data, size_t size, const uint8_t *cuts, size_t ncuts,
     struct trace *t)
{
	struct smtp_reply_parser p;
	struct buf in = BUF_INIT;
	size_t pos = 0, k = 0;

	smtp_reply_init(&p);
	t->last = SMTP_REPLY_INCOMPLETE;
	while (pos < size || in.len > 0) {
		size_t piece = size - pos, used;

		if (ncuts > 0 && cuts[k % ncuts] != 0 &&
		    cuts[k % ncuts] < piece)
			piece = cuts[k % ncuts];
		k++;
		buf_append(&in, data + pos, piece);
		pos += piece;
		for (;;) {
			size_t before = in.len;

			t->last = smtp_reply_parse(&p, in.data, in.len, &used);
			if (used > before)
				abort();
			if (t->last == SMTP_REPLY_GARBLED)
				goto out;
			buf_consume(&in, used);
			if (t->last != SMTP_REPLY_COMPLETE)
				break;
			check_reply(&p);
			buf_printf(&t->replies, "%d|%s|%s\n", p.reply.code,
				   p.reply.enhanced, p.reply.text);
		}
		if (pos == size)
			break;
	}
out:
	buf_free(&in);
	smtp_reply_free(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace whole = {BUF_INIT, SMTP_REPLY_INCOMPLETE};
	struct trace split = {BUF_INIT, SMTP_REPLY_INCOMPLETE};
	size_t ncuts = size < 8 ? size : 8;

	feed((const char *)data, size, NULL, 0, &whole);
	/* The first bytes double as piece sizes for the split feed. */
	feed((const char *)data, size, data, ncuts, &split);
	if (whole.last != split.last || whole.replies.len != split.replies.len)
		abort();
	if (whole.replies.len > 0 &&
	    memcmp(whole.replies.data, split.replies.data,
		   whole.replies.len) != 0)
		abort();
	buf_free(&whole.replies);
	buf_free(&split.replies);
	return 0;
}
