/*
 * fuzz-smtp-command - SMTP command, path and content parsers on arbitrary
 * bytes
 *
 * Each input line goes through smtp_parse_command() and, by verb, the
 * HELO, BDAT, MAIL/RCPT path and parameter parsers. The whole input also
 * goes through the DATA and BDAT content decoder, whole and split in two.
 * Besides crashes, the target aborts when an invariant breaks: a parsed
 * address must parse again to itself, and the decoder's result must not
 * depend on where the input was split.
 *
 * make check replays tests/fuzz/corpus-smtp through fuzz-driver.c. For
 * coverage-guided runs, build with tests/fuzz/build-libfuzzer, or by hand
 * from a configured build directory (for config.h):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. \
 *     -I$SRC/core/lib -I$SRC/core -I$SRC/storage \
 *     $SRC/tests/fuzz/fuzz-smtp-command.c $SRC/core/smtp/smtp_parse.c \
 *     $SRC/core/smtp/smtp_data.c $SRC/core/lib/buf.c \
 *     $SRC/core/lib/xalloc.c $SRC/core/lib/log.c -o fuzz-smtp-command
 *   ./fuzz-smtp-command $SRC/tests/fuzz/corpus-smtp -max_total_time=300
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_path(const char *path, size_t len)
{
	static const unsigned flag_sets[] = {
	    0,
	    SMTP_PATH_ALLOW_NULL,
	    SMTP_PATH_ALLOW_POSTMASTER | SMTP_PATH_ALLOW_UTF8,
	};

	for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
		struct smtp_address addr, again;
		char wrapped[SMTP_ADDRESS_MAX + 3];
		size_t n;

		if (smtp_parse_path(path, len, flag_sets[i], &addr) !=
		    SMTP_PATH_OK)
			continue;
		n = strlen(addr.text);
		if (n > SMTP_ADDRESS_MAX || addr.local_len > n)
			abort();
		if (addr.is_null || addr.is_postmaster)
			continue;
		/* The stored form is itself a valid path for the same
		 * mailbox. */
		snprintf(wrapped, sizeof(wrapped), "<%s>", addr.text);
		if (smtp_parse_path(wrapped, n + 2, flag_sets[i], &again) !=
			SMTP_PATH_OK ||
		    strcmp(again.text, addr.text) != 0)
			abort();
	}
}

static void
check_line(const char *line, size_t len)
{
	struct smtp_command cmd;
	struct smtp_path_args args;
	struct smtp_mail_params params;
	uint64_t size;
	bool last;
	size_t bad;

	if (smtp_parse_command(line, len, &cmd) != SMTP_LINE_OK)
		return;
	if (cmd.arg + cmd.arg_len > line + len)
		abort();
	switch (cmd.verb) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		smtp_parse_helo(cmd.arg, cmd.arg_len);
		break;
	case SMTP_VERB_BDAT:
		if (smtp_parse_bdat(cmd.arg, cmd.arg_len, &size, &last) &&
		    size > INT64_MAX)
			abort();
		break;
	case SMTP_VERB_MAIL:
	case SMTP_VERB_RCPT:
		if (smtp_split_path_args(
			cmd.arg, cmd.arg_len,
			cmd.verb == SMTP_VERB_MAIL ? "FROM:" : "TO:", &args) !=
		    SMTP_ARGS_OK)
			break;
		check_path(args.path, args.path_len);
		if (smtp_parse_mail_params(&args, &params, &bad) !=
			SMTP_PARAM_OK &&
		    bad >= args.nparams)
			abort();
		break;
	default:
		smtp_utf8_valid(cmd.arg, cmd.arg_len);
		break;
	}
}

/* Decodes data whole and split at cut; both results must agree. */
static void
check_decoder(const char *data, size_t size, bool dot_stuffed)
{
	struct smtp_data_decoder whole, split;
	struct buf a = BUF_INIT, b = BUF_INIT;
	size_t cut = size / 2, used_a, used_b;

	smtp_data_init(&whole, dot_stuffed, 100);
	used_a = smtp_data_decode(&whole, data, size, &a);
	smtp_data_init(&split, dot_stuffed, 100);
	used_b = smtp_data_decode(&split, data, cut, &b);
	if (used_b == cut && !smtp_data_done(&split))
		used_b += smtp_data_decode(&split, data + cut, size - cut, &b);
	if (used_a > size || used_a != used_b || whole.flaws != split.flaws ||
	    a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		abort();
	if (!dot_stuffed && used_a != size)
		abort();
	smtp_data_finish(&whole, &a);
	/* Without flaws the output is clean CRLF text. */
	if (whole.flaws == 0) {
		for (size_t i = 0; i < a.len; i++) {
			if (a.data[i] == '\0' ||
			    (a.data[i] == '\r' &&
			     (i + 1 == a.len || a.data[i + 1] != '\n')) ||
			    (a.data[i] == '\n' &&
			     (i == 0 || a.data[i - 1] != '\r')))
				abort();
		}
	}
	buf_free(&a);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	size_t start = 0;

	for (size_t i = 0; i <= size; i++) {
		if (i == size || s[i] == '\n') {
			size_t end = i;

			if (end > start && s[end - 1] == '\r')
				end--;
			check_line(s + start, end - start);
			start = i + 1;
		}
	}
	check_decoder(s, size, true);
	check_decoder(s, size, false);
	return 0;
}
