/*
 * Tests of the MIME parser, BODY/BODYSTRUCTURE and ENVELOPE output.
 * Expected strings follow the RFC 3501 grammar; the first BODYSTRUCTURE
 * case is the message and result of Dovecot 2.3's
 * src/lib-imap/test-imap-bodystructure.c (its sizes count CRLF line ends,
 * so the message is converted to CRLF here).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "mime/mime.h"
#include "xalloc.h"

/* From test-mime-util.c: s with bare LF turned into CRLF, malloc()ed. */
char *crlf(const char *s);

struct structure_case {
	const char *name;
	const char *msg;
	bool to_crlf;
	const char *body;      /* BODY, or NULL to skip */
	const char *structure; /* BODYSTRUCTURE */
};

static const char dovecot_msg[] =
    "From: user@domain.org\n"
    "Date: Sat, 24 Mar 2007 23:00:00 +0200\n"
    "Mime-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"foo\n"
    " bar\"\n"
    "\n"
    "Root MIME prologue\n"
    "\n"
    "--foo bar\n"
    "Content-Type: text/x-myown; charset=us-ascii; "
    "foo=\"quoted\\\"string\"\n"
    "Content-ID: <foo@example.com>\n"
    "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
    "Content-Disposition: inline; foo=bar\n"
    "Content-Description: hellodescription\n"
    "Content-Language: en, fi, se\n"
    "Content-Location: http://example.com/test.txt\n"
    "\n"
    "hello\n"
    "\n"
    "--foo bar\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "From: sub@domain.org\n"
    "To: sub-to1@domain.org, sub-to2@domain.org\n"
    "Date: Sun, 12 Aug 2012 12:34:56 +0300\n"
    "Subject: submsg\n"
    "Content-Type: multipart/alternative; boundary=\"sub1\"\n"
    "\n"
    "Sub MIME prologue\n"
    "--sub1\n"
    "Content-Type: text/html\n"
    "Content-Transfer-Encoding: 8bit\n"
    "\n"
    "<p>Hello world</p>\n"
    "\n"
    "--sub1\n"
    "Content-Type: text/plain\n"
    "Content-Transfer-Encoding: ?invalid\n"
    "\n"
    "Hello another world\n"
    "\n"
    "--sub1--\n"
    "Sub MIME epilogue\n"
    "\n"
    "--foo bar--\n"
    "Root MIME epilogue\n";

static const char dovecot_structure[] =
    "((\"text\" \"x-myown\" (\"charset\" \"us-ascii\" \"foo\" "
    "\"quoted\\\"string\") \"<foo@example.com>\" \"hellodescription\" "
    "\"7bit\" 7 1 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"inline\" (\"foo\" "
    "\"bar\")) (\"en\" \"fi\" \"se\") \"http://example.com/test.txt\")"
    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 412 (\"Sun, 12 Aug 2012 "
    "12:34:56 +0300\" \"submsg\" ((NIL NIL \"sub\" \"domain.org\")) ((NIL "
    "NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) ((NIL "
    "NIL \"sub-to1\" \"domain.org\")(NIL NIL \"sub-to2\" \"domain.org\")) "
    "NIL NIL NIL NIL) ((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL "
    "NIL \"8bit\" 20 1 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" "
    "\"us-ascii\") NIL NIL \"7bit\" 21 1 NIL NIL NIL NIL) \"alternative\" "
    "(\"boundary\" \"sub1\") NIL NIL NIL) 21 NIL NIL NIL NIL) \"mixed\" "
    "(\"boundary\" \"foo bar\") NIL NIL NIL)";

static const char dovecot_body[] =
    "((\"text\" \"x-myown\" (\"charset\" \"us-ascii\" \"foo\" "
    "\"quoted\\\"string\") \"<foo@example.com>\" \"hellodescription\" "
    "\"7bit\" 7 1)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 412 "
    "(\"Sun, 12 Aug 2012 12:34:56 +0300\" \"submsg\" ((NIL NIL \"sub\" "
    "\"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" "
    "\"domain.org\")) ((NIL NIL \"sub-to1\" \"domain.org\")(NIL NIL "
    "\"sub-to2\" \"domain.org\")) NIL NIL NIL NIL) ((\"text\" \"html\" "
    "(\"charset\" \"us-ascii\") NIL NIL \"8bit\" 20 1)(\"text\" \"plain\" "
    "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 21 1) \"alternative\") 21) "
    "\"mixed\")";

#define PLAIN_ASCII "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL"

static const struct structure_case structure_cases[] = {
    {"dovecot reference message", dovecot_msg, true, dovecot_body,
     dovecot_structure},
    {"rfc3501 text plain",
     "Subject: x\nContent-Type: TEXT/PLAIN; "
     "CHARSET=US-ASCII\n\nbody\n",
     true,
     "(\"text\" \"plain\" (\"charset\" \"US-ASCII\") NIL NIL \"7bit\" 6 "
     "1)",
     "(\"text\" \"plain\" (\"charset\" \"US-ASCII\") NIL NIL \"7bit\" 6 "
     "1 NIL NIL NIL NIL)"},
    {"no content type lf only", "Subject: x\n\nline1\nline2\n", false,
     "(" PLAIN_ASCII " \"7bit\" 12 2)",
     "(" PLAIN_ASCII " \"7bit\" 12 2 NIL NIL NIL NIL)"},
    {"no header at all", "", false, "(" PLAIN_ASCII " \"7bit\" 0 0)", NULL},
    {"header without blank line", "Subject: x\nFrom: a@b", false,
     "(" PLAIN_ASCII " \"7bit\" 0 0)", NULL},
    {"body without final newline", "Subject: x\n\nabc", false,
     "(" PLAIN_ASCII " \"7bit\" 3 0)", NULL},
    {"multipart missing boundary", "Content-Type: multipart/mixed\n\nfoo\n",
     true, "((" PLAIN_ASCII " \"7bit\" 0 0) \"mixed\")",
     "((" PLAIN_ASCII " \"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" NIL NIL "
     "NIL NIL)"},
    {"multipart boundary never seen",
     "Content-Type: multipart/mixed; boundary=zz\n\nfoo\n--z\n", true,
     "((" PLAIN_ASCII " \"7bit\" 0 0) \"mixed\")", NULL},
    {"multipart unterminated",
     "Content-Type: multipart/mixed; boundary=b\n\npreamble\n--b\n\none\n"
     "--b\nContent-Type: text/html\n\ntwo\n",
     true,
     "((" PLAIN_ASCII " \"7bit\" 3 0)(\"text\" \"html\" (\"charset\" "
     "\"us-ascii\") NIL NIL \"7bit\" 5 1) \"mixed\")",
     "((" PLAIN_ASCII " \"7bit\" 3 0 NIL NIL NIL NIL)(\"text\" \"html\" "
     "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL) "
     "\"mixed\" (\"boundary\" \"b\") NIL NIL NIL)"},
    {"nested boundaries share prefix",
     "Content-Type: multipart/mixed; boundary=\"abc\"\n\n--abc\n"
     "Content-Type: multipart/alternative; boundary=\"abcdef\"\n\n"
     "--abcdef\nContent-Type: text/plain\n\ninner1\n--abcdef\n"
     "Content-Type: text/html\n\ninner2\n--abcdef--\n--abc\n"
     "Content-Type: text/plain\n\nouter2\n--abc--\n",
     true,
     "(((" PLAIN_ASCII " \"7bit\" 6 0)(\"text\" \"html\" (\"charset\" "
     "\"us-ascii\") NIL NIL \"7bit\" 6 0) \"alternative\")(" PLAIN_ASCII
     " \"7bit\" 6 0) \"mixed\")",
     NULL},
    {"boundary with trailing garbage is no boundary",
     "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--bx\ny\n"
     "--b  \t\n\nz\n--b--   \nepilogue\n",
     true,
     "((" PLAIN_ASCII " \"7bit\" 10 2)(" PLAIN_ASCII
     " \"7bit\" 1 0) \"mixed\")",
     NULL},
    {"multipart lf only with epilogue",
     "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\n"
     "two\n\n--b--\nepilogue\n--b\n\nlost\n",
     false,
     "((" PLAIN_ASCII " \"7bit\" 3 0)(" PLAIN_ASCII " \"7bit\" 4 1) \"mixed\")",
     NULL},
    {"empty part between boundaries",
     "Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n\nx\n--b--\n",
     true,
     "((" PLAIN_ASCII " \"7bit\" 0 0)(" PLAIN_ASCII " \"7bit\" 1 0) \"mixed\")",
     NULL},
    {"digest defaults to message rfc822",
     "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: "
     "in\n\nhi\n--d--\n",
     true,
     "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 17 (NIL \"in\" NIL NIL "
     "NIL NIL NIL NIL NIL NIL) (" PLAIN_ASCII " \"7bit\" 2 0) 2) "
     "\"digest\")",
     NULL},
    {"extension fields single part",
     "Content-Type: application/pdf; name=\"r\xc3\xa9sum\xc3\xa9.pdf\"\n"
     "Content-Transfer-Encoding: BASE64\n"
     "Content-Disposition: attachment;\n filename=\"a b.pdf\"; "
     "size=3 (comment)\n"
     "Content-Language: de\n"
     "Content-Location: http://x.test/a\n"
     "Content-MD5: abc=\n"
     "Content-ID: <id@x>\n"
     "Content-Description: the \"report\"\n\nQUJD\n",
     true,
     "(\"application\" \"pdf\" (\"name\" {12}\r\nr\xc3\xa9sum\xc3\xa9.pdf) "
     "\"<id@x>\" \"the \\\"report\\\"\" \"BASE64\" 6)",
     "(\"application\" \"pdf\" (\"name\" {12}\r\nr\xc3\xa9sum\xc3\xa9.pdf) "
     "\"<id@x>\" \"the \\\"report\\\"\" \"BASE64\" 6 \"abc=\" "
     "(\"attachment\" (\"filename\" \"a b.pdf\" \"size\" \"3\")) (\"de\") "
     "\"http://x.test/a\")"},
    {"disposition without params",
     "Content-Type: text/plain; charset=utf-8\nContent-Disposition: "
     "INLINE\n\nx\n",
     true, NULL,
     "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 3 1 NIL "
     "(\"inline\" NIL) NIL NIL)"},
    {"invalid content type uses default", "Content-Type: garbage\n\nx\n", true,
     "(" PLAIN_ASCII " \"7bit\" 3 1)", NULL},
    {"content type with comments",
     "Content-Type: (c) text (d) / (e) html (f) ; (g) charset (h) = "
     "\"utf-8\" (i)\n\nx\n",
     true, "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 3 1)",
     NULL},
    {"message rfc822 not multipart",
     "Content-Type: message/rfc822\n\nFrom: A <a@b.c>\nSubject: s\n\n"
     "inner\n",
     true,
     "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 38 (NIL \"s\" ((\"A\" "
     "NIL \"a\" \"b.c\")) ((\"A\" NIL \"a\" \"b.c\")) ((\"A\" NIL \"a\" "
     "\"b.c\")) NIL NIL NIL NIL NIL) (" PLAIN_ASCII " \"7bit\" 7 1) 4)",
     NULL},
    {"eight bit and nul bytes in body",
     "Content-Type: text/plain; charset=iso-8859-1\n"
     "Content-Transfer-Encoding: 8bit\n\ncaf\xe9\n",
     true,
     "(\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"8bit\" 6 "
     "1)",
     NULL},
};

static void
bodystructure_table_cases(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(structure_cases) / sizeof(structure_cases[0]);
	     i++) {
		const struct structure_case *c = &structure_cases[i];
		char *msg = c->to_crlf ? crlf(c->msg) : xstrdup(c->msg);
		size_t len = strlen(msg);
		struct mime_part *root = mime_parse(msg, len);
		struct buf out = BUF_INIT;

		print_message("case: %s\n", c->name);
		if (c->body != NULL) {
			imap_bodystructure(&out, msg, root, false);
			assert_string_equal(buf_cstr(&out), c->body);
		}
		if (c->structure != NULL) {
			buf_reset(&out);
			imap_bodystructure(&out, msg, root, true);
			assert_string_equal(buf_cstr(&out), c->structure);
		}
		buf_free(&out);
		mime_free(root);
		free(msg);
	}
}

static void
bodystructure_nul_in_body(void **state)
{
	static const char msg[] = "Subject: x\r\n\r\na\0b\r\n";
	struct mime_part *root = mime_parse(msg, sizeof(msg) - 1);
	struct buf out = BUF_INIT;

	imap_bodystructure(&out, msg, root, false);
	assert_string_equal(buf_cstr(&out), "(" PLAIN_ASCII " \"7bit\" 5 1)");
	buf_free(&out);
	mime_free(root);
}

static void
parse_tree_offsets(void **state)
{
	char *msg = crlf("Subject: t\n"
			 "Content-Type: multipart/mixed; boundary=b\n"
			 "\n"
			 "pre\n"
			 "--b\n"
			 "Content-Type: text/plain\n"
			 "\n"
			 "one\n"
			 "--b--\n");
	struct mime_part *root = mime_parse(msg, strlen(msg));
	const struct mime_part *c;

	size_t blank = (size_t)(strstr(msg, "\r\n\r\n") - msg) + 2;

	assert_int_equal(root->header_start, 0);
	assert_int_equal(root->header_end, blank);
	assert_int_equal(root->body_start, blank + 2);
	assert_int_equal(root->body_end, strlen(msg));
	assert_string_equal(root->type, "multipart");
	assert_string_equal(root->subtype, "mixed");
	assert_int_equal(root->nchildren, 1);
	c = &root->children[0];
	assert_int_equal(c->header_start, strstr(msg, "--b\r\n") - msg + 5);
	assert_memory_equal(msg + c->header_start, "Content-Type", 12);
	assert_int_equal(c->body_end - c->body_start, 3);
	assert_memory_equal(msg + c->body_start, "one", 3);
	assert_null(c->children);
	assert_null(c->message);
	mime_free(root);
	free(msg);
}

static void
parse_params_lowercase_unquoted(void **state)
{
	static const char msg[] = "Content-Type: Text/HTML; CharSet=\"UTF-8\"; "
				  "X=\"a\\\\b\\\"c\"; Y = z\n\n";
	struct mime_part *root = mime_parse(msg, sizeof(msg) - 1);

	assert_string_equal(root->type, "text");
	assert_string_equal(root->subtype, "html");
	assert_int_equal(root->nparams, 3);
	assert_string_equal(root->params[0].name, "charset");
	assert_string_equal(root->params[0].value, "UTF-8");
	assert_string_equal(root->params[1].name, "x");
	assert_string_equal(root->params[1].value, "a\\b\"c");
	assert_string_equal(root->params[2].name, "y");
	assert_string_equal(root->params[2].value, "z");
	mime_free(root);
}

static void
parse_raw_content_fields(void **state)
{
	static const char msg[] =
	    "Content-ID:  <a@b>  \n"
	    "Content-Description: two\n  lines\n"
	    "Content-Transfer-Encoding: Quoted-Printable\n"
	    "content-id: <second@b>\n\n";
	struct mime_part *root = mime_parse(msg, sizeof(msg) - 1);

	assert_string_equal(root->id, "<a@b>");
	assert_string_equal(root->description, "two  lines");
	assert_string_equal(root->encoding, "Quoted-Printable");
	assert_null(root->disposition);
	assert_null(root->language);
	assert_null(root->location);
	assert_null(root->md5);
	mime_free(root);
}

static void
parse_null_empty_message(void **state)
{
	struct mime_part *root = mime_parse(NULL, 0);
	struct buf out = BUF_INIT;

	assert_string_equal(root->type, "text");
	assert_int_equal(root->body_end, 0);
	imap_bodystructure(&out, NULL, root, false);
	assert_string_equal(buf_cstr(&out), "(" PLAIN_ASCII " \"7bit\" 0 0)");
	buf_reset(&out);
	imap_envelope(&out, NULL, 0, 0);
	assert_string_equal(buf_cstr(&out),
			    "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	buf_reset(&out);
	assert_int_equal(imap_section_fetch(&out, NULL, 0, root, ""), 0);
	assert_int_equal(imap_section_fetch(&out, NULL, 0, root, "1"), 0);
	assert_int_equal(out.len, 0);
	assert_false(mime_header_contains(NULL, 0, "subject", ""));
	assert_false(mime_body_contains(NULL, 0, root, "x"));
	assert_false(mime_text_contains(NULL, 0, root, "x"));
	assert_int_equal(mime_date_header(NULL, 0), -1);
	buf_free(&out);
	mime_free(root);
}

struct envelope_case {
	const char *name;
	const char *header;
	const char *envelope;
};

#define NIL7 "NIL NIL NIL NIL NIL NIL NIL"

static const struct envelope_case envelope_cases[] = {
    {"rfc3501 example",
     "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\n"
     "From: Terry Gray <gray@cac.washington.edu>\n"
     "Subject: IMAP4rev1 WG mtg summary and minutes\n"
     "To: imap@cac.washington.edu\n"
     "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\n"
     "Message-Id: <B27397-0100000@cac.washington.edu>\n"
     "MIME-Version: 1.0\n"
     "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n",
     "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg "
     "summary and minutes\" ((\"Terry Gray\" NIL \"gray\" "
     "\"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" "
     "\"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" "
     "\"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) "
     "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL "
     "\"KLENSIN\" \"MIT.EDU\")) NIL NIL "
     "\"<B27397-0100000@cac.washington.edu>\")"},
    {"empty header", "", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"},
    {"group with members",
     "To: A Group:Ed Jones <c@a.test>,joe@where.test,John "
     "<jdoe@one.test>;\nCc: Undisclosed recipients:;\n",
     "(NIL NIL NIL NIL NIL ((NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" "
     "\"a.test\")(NIL NIL \"joe\" \"where.test\")(\"John\" NIL \"jdoe\" "
     "\"one.test\")(NIL NIL NIL NIL)) ((NIL NIL \"Undisclosed recipients\" "
     "NIL)(NIL NIL NIL NIL)) NIL NIL NIL)"},
    {"comments and folding",
     "From: Pete(A nice \\) chap) <pete(his account)@silly.test(his "
     "host)>\n"
     "To:A Group(Some people)\n"
     "     :Chris Jones <c@(Chris's host.)public.example>,\n"
     "         joe@example.org,\n"
     "  John <jdoe@one.test> (my dear friend); (the end of the group)\n",
     "(NIL NIL ((\"Pete\" NIL \"pete\" \"silly.test\")) ((\"Pete\" NIL "
     "\"pete\" \"silly.test\")) ((\"Pete\" NIL \"pete\" \"silly.test\")) "
     "((NIL NIL \"A Group\" NIL)(\"Chris Jones\" NIL \"c\" "
     "\"public.example\")(NIL NIL \"joe\" \"example.org\")(\"John\" NIL "
     "\"jdoe\" \"one.test\")(NIL NIL NIL NIL)) NIL NIL NIL NIL)"},
    {"obsolete route", "To: <@route1.test,@route2.test:joe@example.com>\n",
     "(NIL NIL NIL NIL NIL ((NIL \"@route1.test,@route2.test\" \"joe\" "
     "\"example.com\")) NIL NIL NIL NIL)"},
    {"quoted local part and display name",
     "From: \"Doe, John\" <jd@x.org>\n"
     "To: \"john doe\"@example.com, \"plain\"@example.com\n",
     "(NIL NIL ((\"Doe, John\" NIL \"jd\" \"x.org\")) ((\"Doe, John\" NIL "
     "\"jd\" \"x.org\")) ((\"Doe, John\" NIL \"jd\" \"x.org\")) ((NIL NIL "
     "\"\\\"john doe\\\"\" \"example.com\")(NIL NIL \"plain\" "
     "\"example.com\")) NIL NIL NIL NIL)"},
    {"obsolete phrase with dots", "From: John Q. Public <jqp@x.test>\n",
     "(NIL NIL ((\"John Q. Public\" NIL \"jqp\" \"x.test\")) ((\"John Q. "
     "Public\" NIL \"jqp\" \"x.test\")) ((\"John Q. Public\" NIL \"jqp\" "
     "\"x.test\")) NIL NIL NIL NIL NIL)"},
    {"missing domain and mailbox",
     "To: undisclosed-recipients\nCc: <@only.domain>\n",
     "(NIL NIL NIL NIL NIL ((NIL NIL \"undisclosed-recipients\" "
     "\"MISSING_DOMAIN\")) ((NIL NIL \"MISSING_MAILBOX\" \"only.domain\")) "
     "NIL NIL NIL)"},
    {"null reverse path", "To: <>\n",
     "(NIL NIL NIL NIL NIL ((NIL NIL \"\" \"\")) NIL NIL NIL NIL)"},
    {"sender and reply to fall back",
     "From: a@b.c\nSender:\nReply-To: (nobody)\nBcc: d@e.f\n"
     "In-Reply-To: <x@y>\n",
     "(NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL "
     "\"a\" \"b.c\")) NIL NIL ((NIL NIL \"d\" \"e.f\")) \"<x@y>\" NIL)"},
    {"sender kept when present",
     "From: a@b.c\nSender: s@b.c\nReply-To: r@b.c\n",
     "(NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"s\" \"b.c\")) ((NIL "
     "NIL \"r\" \"b.c\")) NIL NIL NIL NIL NIL)"},
    {"subject folded and escaped", "Subject: say \"hi\"\n \\o/\n",
     "(NIL \"say \\\"hi\\\" \\\\o/\" " NIL7 " NIL)"},
    {"eight bit subject as literal", "Subject: caf\xc3\xa9\n",
     "(NIL {5}\r\ncaf\xc3\xa9 " NIL7 " NIL)"},
    {"encoded words kept raw",
     "Subject: =?utf-8?q?caf=C3=A9?=\nFrom: =?utf-8?b?w6k=?= <e@x.y>\n",
     "(NIL \"=?utf-8?q?caf=C3=A9?=\" ((\"=?utf-8?b?w6k=?=\" NIL \"e\" "
     "\"x.y\")) ((\"=?utf-8?b?w6k=?=\" NIL \"e\" \"x.y\")) "
     "((\"=?utf-8?b?w6k=?=\" NIL \"e\" \"x.y\")) NIL NIL NIL NIL NIL)"},
    {"first of duplicate fields", "Subject: one\nSubject: two\n",
     "(NIL \"one\" " NIL7 " NIL)"},
    {"domain literal and missing comma", "To: a@[127.0.0.1] b@c.d\n",
     "(NIL NIL NIL NIL NIL ((NIL NIL \"a\" \"[127.0.0.1]\")(NIL NIL \"b\" "
     "\"c.d\")) NIL NIL NIL NIL)"},
    {"garbage addresses", "To: ,,, <<>> ;; ) @ \\ :\n",
     "(NIL NIL NIL NIL NIL ((NIL NIL \"MISSING_MAILBOX\" "
     "\"MISSING_DOMAIN\")(NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")"
     "(NIL NIL \"\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL NIL)"},
    {"unterminated quote and comment", "From: \"abc <a@b>\nTo: (open <x@y>\n",
     "(NIL NIL ((NIL NIL \"abc <a@b>\" \"MISSING_DOMAIN\")) ((NIL NIL "
     "\"abc <a@b>\" \"MISSING_DOMAIN\")) ((NIL NIL \"abc <a@b>\" "
     "\"MISSING_DOMAIN\")) NIL NIL NIL NIL NIL)"},
};

static void
envelope_table_cases(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(envelope_cases) / sizeof(envelope_cases[0]);
	     i++) {
		const struct envelope_case *c = &envelope_cases[i];
		char *msg = crlf(c->header);
		struct buf out = BUF_INIT;

		print_message("case: %s\n", c->name);
		imap_envelope(&out, msg, 0, strlen(msg));
		assert_string_equal(buf_cstr(&out), c->envelope);
		buf_free(&out);
		free(msg);
	}
}

static void
envelope_nul_in_subject(void **state)
{
	static const char msg[] = "Subject: a\0b\r\n\r\n";
	struct buf out = BUF_INIT;

	imap_envelope(&out, msg, 0, sizeof(msg) - 1);
	assert_int_equal(out.len, strlen("(NIL {3}\r\na?b " NIL7 " NIL)"));
	assert_memory_equal(out.data, "(NIL {3}\r\na\0b " NIL7 " NIL)",
			    out.len);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(bodystructure_table_cases),
	    cmocka_unit_test(bodystructure_nul_in_body),
	    cmocka_unit_test(parse_tree_offsets),
	    cmocka_unit_test(parse_params_lowercase_unquoted),
	    cmocka_unit_test(parse_raw_content_fields),
	    cmocka_unit_test(parse_null_empty_message),
	    cmocka_unit_test(envelope_table_cases),
	    cmocka_unit_test(envelope_nul_in_subject),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
