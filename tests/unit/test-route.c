/*
 * Unit tests for the gateway table: every next-hop form and option, the
 * most specific match whatever the line order, and case-insensitive
 * matching. Hostile input covers long lines, NUL bytes, control
 * characters, bad quotes, duplicate patterns, bad ports and bad IP
 * literals. The last tests check the permission rules for passwords and
 * the example file conf/gateways with its examples uncommented.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "fsutil.h"
#include "route.h"
#include "window.h"

static struct route_table *
parse_ok(const char *text)
{
	struct route_table *t = NULL;
	char err[512] = "";

	if (route_table_parse(text, strlen(text), "gw", &t, err,
			      sizeof(err)) != 0)
		fail_msg("table rejected: %s", err);
	assert_non_null(t);
	return t;
}

/* Parses text, expects a failure and returns the error in err. */
static void
parse_bad(const char *text, size_t len, char *err, size_t errlen)
{
	struct route_table *t = (void *)1;

	err[0] = '\0';
	if (route_table_parse(text, len, "gw", &t, err, errlen) == 0)
		fail_msg("table accepted: '%s'", text);
	assert_null(t);
}

static const char *
hop_of(const struct route_table *t, const char *address)
{
	const struct route *r = route_lookup(t, address);

	return r != NULL ? r->host : "(none)";
}

static void
route_next_hop_forms(void **state)
{
	struct route_table *t = parse_ok("a.example mx.Relay.example\n"
					 "b.example relay.example:2525\n"
					 "c.example [relay.example]\n"
					 "d.example [relay.example]:587\n"
					 "e.example [192.0.2.1]\n"
					 "f.example [192.0.2.1]:26\n"
					 "g.example [IPv6:2001:DB8::1]\n"
					 "h.example [ipv6:2001:db8::2]:2526\n"
					 "i.example [2001:db8::3]\n");
	static const struct {
		const char *host;
		unsigned port;
		bool mx;
	} want[] = {
		{"mx.relay.example", 0, true}, {"relay.example", 2525, true},
		{"relay.example", 0, false},   {"relay.example", 587, false},
		{"192.0.2.1", 0, false},       {"192.0.2.1", 26, false},
		{"2001:db8::1", 0, false},     {"2001:db8::2", 2526, false},
		{"2001:db8::3", 0, false},
	};

	assert_int_equal(route_table_count(t), 9);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct route *r = route_table_get(t, i);

		assert_non_null(r);
		assert_string_equal(r->host, want[i].host);
		assert_int_equal(r->port, want[i].port);
		assert_int_equal(r->mx_lookup, want[i].mx);
		assert_int_equal(r->line, i + 1);
		assert_false(r->tls_set);
		assert_null(r->user);
		assert_null(r->password);
		assert_null(r->window);
	}
	assert_null(route_table_get(t, 9));
	route_table_free(t);
}

static void
route_options_parse(void **state)
{
	struct route_table *t = parse_ok(
		"# comment line\n"
		"\n"
		"   \t  # indented comment\n"
		"a.example h1 tls=none\n"
		"b.example h2 tls=may\n"
		"c.example h3 tls=encrypt\n"
		"d.example h4 tls=required\n"
		"e.example h5 tls=verify user=mx1 password=s3cr#t  # note\n"
		"f.example h6 window=\"Mon-Fri 08:00-18:00, Sat 09:00-12:00\"\n"
		"g.example h7 user=\"a b\" "
		"password=\"q \\\"x\\\" \\\\ #y\"\r\n");
	const struct route *r;

	assert_int_equal(route_table_count(t), 7);
	r = route_table_get(t, 0);
	assert_int_equal(r->line, 4);
	assert_true(r->tls_set);
	assert_int_equal(r->tls, SMTPC_TLS_NONE);
	assert_int_equal(route_table_get(t, 1)->tls, SMTPC_TLS_MAY);
	assert_int_equal(route_table_get(t, 2)->tls, SMTPC_TLS_ENCRYPT);
	assert_int_equal(route_table_get(t, 3)->tls, SMTPC_TLS_ENCRYPT);
	r = route_table_get(t, 4);
	assert_int_equal(r->tls, SMTPC_TLS_VERIFY);
	assert_string_equal(r->user, "mx1");
	assert_string_equal(r->password, "s3cr#t");
	r = route_table_get(t, 5);
	assert_false(r->tls_set);
	assert_non_null(r->window);
	assert_string_equal(delivery_window_text(r->window),
			    "Mon-Fri 08:00-18:00, Sat 09:00-12:00");
	r = route_table_get(t, 6);
	assert_string_equal(r->user, "a b");
	assert_string_equal(r->password, "q \"x\" \\ #y");
	assert_int_equal(r->line, 10);
	route_table_free(t);
}

static void
route_most_specific_wins(void **state)
{
	/* Least specific first, so line order cannot decide. */
	struct route_table *t = parse_ok("*                    smarthost\n"
					 ".example.org         sub-hop\n"
					 ".b.example.org       deep-hop\n"
					 "example.org          domain-hop\n"
					 "bob@example.org      bob-hop\n"
					 "bob@c.b.example.org  deep-bob-hop\n"
					 ".org                 org-hop\n");

	assert_string_equal(hop_of(t, "bob@example.org"), "bob-hop");
	assert_string_equal(hop_of(t, "alice@example.org"), "domain-hop");
	assert_string_equal(hop_of(t, "bob@a.example.org"), "sub-hop");
	assert_string_equal(hop_of(t, "x@b.example.org"), "sub-hop");
	assert_string_equal(hop_of(t, "x@c.b.example.org"), "deep-hop");
	assert_string_equal(hop_of(t, "x@d.c.b.example.org"), "deep-hop");
	assert_string_equal(hop_of(t, "bob@c.b.example.org"),
			    "deep-bob-hop");
	assert_string_equal(hop_of(t, "x@example2.org"), "org-hop");
	assert_string_equal(hop_of(t, "x@example.net"), "smarthost");
	assert_string_equal(hop_of(t, "x@org"), "smarthost");
	/* A subdomain pattern's own domain is not its subdomain. */
	assert_string_equal(hop_of(t, "x@b.example.org"), "sub-hop");
	/* Neither suffix nor domain matches inside a label. */
	assert_string_equal(hop_of(t, "x@notexample.org"), "org-hop");
	/* No domain at all: only "*". */
	assert_string_equal(hop_of(t, "postmaster"), "smarthost");
	assert_string_equal(hop_of(t, ""), "smarthost");
	assert_string_equal(hop_of(t, "x@"), "smarthost");
	assert_string_equal(hop_of(t, "x@.example.org"), "smarthost");
	/* The last '@' separates the domain. */
	assert_string_equal(hop_of(t, "\"a@b\"@example.org"), "domain-hop");
	route_table_free(t);
}

static void
route_match_ignores_case(void **state)
{
	struct route_table *t = parse_ok("Bob@Example.ORG  bob-hop\n"
					 "EXAMPLE.org      domain-hop\n"
					 ".Sub.Example.Org sub-hop\n");

	assert_string_equal(route_table_get(t, 0)->pattern,
			    "bob@example.org");
	assert_string_equal(hop_of(t, "BOB@example.org"), "bob-hop");
	assert_string_equal(hop_of(t, "bob@EXAMPLE.ORG"), "bob-hop");
	assert_string_equal(hop_of(t, "carol@Example.Org"), "domain-hop");
	assert_string_equal(hop_of(t, "x@A.SUB.example.ORG"), "sub-hop");
	/* A trailing dot on the domain is the same domain. */
	assert_string_equal(hop_of(t, "carol@example.org."), "domain-hop");
	assert_string_equal(hop_of(t, "bob@example.org."), "bob-hop");
	/* No "*": unmatched addresses get MX routing. */
	assert_null(route_lookup(t, "x@example.net"));
	assert_null(route_lookup(t, "nobody"));
	route_table_free(t);
}

static void
route_empty_table(void **state)
{
	struct route_table *t = parse_ok("# nothing here\n\n   \n");

	assert_int_equal(route_table_count(t), 0);
	assert_null(route_lookup(t, "x@example.org"));
	route_table_free(t);
	t = parse_ok("");
	assert_int_equal(route_table_count(t), 0);
	route_table_free(t);
	assert_null(route_lookup(NULL, "x@example.org"));
	assert_int_equal(route_table_count(NULL), 0);
	route_table_free(NULL);
}

struct bad_case {
	const char *text;
	const char *expect; /* substring of the error */
};

static const struct bad_case bad_cases[] = {
	/* Patterns. */
	{"example.org", "gw:1: pattern 'example.org' lacks a next hop"},
	{"*.example.org h", "invalid pattern '*.example.org'"},
	{"ex_ample.org h", "invalid pattern 'ex_ample.org'"},
	{"-x.example h", "invalid pattern"},
	{"x-.example h", "invalid pattern"},
	{"x..example h", "invalid pattern"},
	{"example.org. h", "invalid pattern"},
	{". h", "invalid pattern '.'"},
	{"..example.org h", "invalid pattern"},
	{"** h", "invalid pattern"},
	{"user@ h", "invalid pattern 'user@'"},
	{"@example.org h", "invalid address pattern '@example.org'"},
	{"a@b@example.org h", "invalid address pattern"},
	{".a@example.org h", "invalid address pattern"},
	{"a..b@example.org h", "invalid address pattern"},
	{"a(b)@example.org h", "invalid address pattern"},
	{"b\xc3\xbc" "cher.example h", "is not ASCII"},
	{"[192.0.2.1] h", "invalid pattern"},
	{"\"x\"@example.org h", "a quote may only start an option value"},
	{"a=\"b\" h", "quotes are allowed only in option values"},
	/* Next hops. */
	{"* host:0", "invalid port '0'"},
	{"* host:65536", "invalid port '65536'"},
	{"* host:", "invalid port ''"},
	{"* host:x25", "invalid port 'x25'"},
	{"* host:-1", "invalid port '-1'"},
	{"* host:+25", "invalid port '+25'"},
	{"* host:25x", "invalid port '25x'"},
	{"* host:1234567", "invalid port '1234567'"},
	{"* [host]:99999", "invalid port '99999'"},
	{"* [host]x", "unexpected 'x' after the next hop's host"},
	{"* [host]:", "invalid port ''"},
	{"* [IPv6:2001:db8::zz]", "invalid IPv6 address"},
	{"* [IPv6:2001:db8::1", "lacks the closing ']'"},
	{"* [IPv6:]", "invalid IPv6 address"},
	{"* [IPv6:192.0.2.1]", "invalid IPv6 address"},
	{"* [IPv6:fe80::1%eth0]", "invalid IPv6 address"},
	{"* [2001:db8:::1]", "write [IPv6:2001:db8::1]"},
	{"* 2001:db8::1", "write an IPv6 address in brackets"},
	{"* [300.1.1.1]", "invalid IPv4 address"},
	{"* [192.0.2]", "invalid IPv4 address"},
	{"* 192.0.2.1", "write an IP address in brackets, as [192.0.2.1]"},
	{"* 192.0.2.1:25", "as [192.0.2.1]"},
	{"* 1.2.3", "invalid host name"},
	{"* []", "invalid host name"},
	{"* [a_b.example]", "invalid host name"},
	{"* a_b.example", "invalid host name"},
	{"* h\"x\"", "a quote may only start an option value"},
	{"* h=\"x\"", "quotes are allowed only in option values"},
	/* Options. */
	{"* h tls", "option 'tls' needs a value: tls=..."},
	{"* h secret", "field 3 is not an option (key=value)"},
	{"* h foo=bar", "unknown option 'foo'"},
	{"* h tls=may tls=none", "option 'tls' is given twice"},
	{"* h tls=", "option 'tls' has an empty value"},
	{"* h tls=bogus", "unknown tls policy 'bogus'"},
	{"* h tls=MAY", "unknown tls policy 'MAY'"},
	{"* h password=x", "password needs user= as well"},
	{"* h user=u", "user= needs password= or password_file="},
	{"* h user=u password=x password_file=/nonexistent",
	 "give password= or password_file=, not both"},
	{"* h user=u password_file=relative",
	 "password_file 'relative' is not an absolute path"},
	{"* h user=u password_file=/nonexistent/x",
	 "password_file '/nonexistent/x': No such file or directory"},
	{"* h window=\"Mon-Fry 08:00-18:00\"",
	 "gw:1: window: 'Mon-Fry': unknown day 'Fry'"},
	{"* h window=Mon", "gw:1: window: 'Mon': missing the time range"},
	/* Quotes. */
	{"* h window=\"Mon 08:00-18:00", "missing the closing quote"},
	{"* h window=\"Mon 08:00-18:00\"x", "unexpected text after the"},
	{"* h user=a\"b\"", "a quote may only start an option value"},
	{"* h \"user\"=a", "a quote may only start an option value"},
	{"* h user=\"a\\nb\"", "invalid escape in quotes"},
	/* Bytes. */
	{"* h\x01", "gw:1: invalid control character 0x01"},
	{"* h\rx", "invalid control character 0x0d"},
	{"* h\x7f", "invalid control character 0x7f"},
	{"* h a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9 j=10 k=11 l=12 m=13 n=14 "
	 "o=15",
	 "more than 16 fields"},
	/* The error names the right line. */
	{"# one\n\n* h\nexample.org\n", "gw:4: pattern 'example.org'"},
};

static void
route_bad_input_rejected(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		char err[512];

		parse_bad(bad_cases[i].text, strlen(bad_cases[i].text), err,
			  sizeof(err));
		if (strstr(err, bad_cases[i].expect) == NULL)
			fail_msg("'%s': error '%s' lacks '%s'",
				 bad_cases[i].text, err, bad_cases[i].expect);
		if (strncmp(err, "gw:", 3) != 0)
			fail_msg("'%s': error '%s' does not name the file",
				 bad_cases[i].text, err);
	}
}

static void
route_duplicate_names_both_lines(void **state)
{
	char err[512];
	const char *text = "example.org a\n"
			   "# comment\n"
			   ".example.org b\n"
			   "EXAMPLE.org c\n";

	parse_bad(text, strlen(text), err, sizeof(err));
	assert_string_equal(err,
			    "gw:4: pattern 'example.org' is already on line 1");
	text = "* a\nbob@x.example b\nBob@X.Example c\n";
	parse_bad(text, strlen(text), err, sizeof(err));
	assert_string_equal(
		err, "gw:3: pattern 'bob@x.example' is already on line 2");
	text = "* a\n\n\n* b\n";
	parse_bad(text, strlen(text), err, sizeof(err));
	assert_string_equal(err, "gw:4: pattern '*' is already on line 1");
}

static void
route_nul_byte_rejected(void **state)
{
	static const char text[] = "* h\nexample.org h\0x\n";
	char err[512];

	parse_bad(text, sizeof(text) - 1, err, sizeof(err));
	assert_string_equal(err, "gw:2: contains a NUL byte");
}

static void
route_long_lines(void **state)
{
	size_t n = ROUTE_LINE_MAX + 1;
	char *text = malloc(n + 8), err[512];
	struct route_table *t;

	/* A line of exactly ROUTE_LINE_MAX bytes is fine. */
	memset(text, ' ', n);
	memcpy(text, "* h #", 5);
	text[ROUTE_LINE_MAX] = '\n';
	text[ROUTE_LINE_MAX + 1] = '\0';
	t = parse_ok(text);
	assert_int_equal(route_table_count(t), 1);
	route_table_free(t);
	/* Its CR does not count either. */
	memcpy(text + ROUTE_LINE_MAX, "\r\n", 3);
	t = parse_ok(text);
	route_table_free(t);
	/* One byte more fails. */
	memset(text, ' ', n);
	memcpy(text, "* h #", 5);
	memcpy(text + n, "\n", 2);
	parse_bad(text, strlen(text), err, sizeof(err));
	assert_string_equal(err, "gw:1: line longer than 4096 bytes");
	/* So does a long pattern, with a short quote in the error. */
	memset(text, 'a', 4000);
	memcpy(text + 4000, " h", 3);
	parse_bad(text, strlen(text), err, sizeof(err));
	assert_non_null(strstr(err, "invalid pattern 'aaaa"));
	assert_non_null(strstr(err, "...'"));
	assert_true(strlen(err) < 200);
	free(text);
}

static void
route_error_hides_password(void **state)
{
	static const char *const texts[] = {
		"* h user=u password=s3cret tls=bogus",
		"* h password=s3cret",
		"* h user=u s3cret",
		"* h user=u password=\"s3cret",
		"* h user=u password=s3cret password_file=/x",
		"* h user=u password=s3cret x=s3cret",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char err[512];

		parse_bad(texts[i], strlen(texts[i]), err, sizeof(err));
		if (strstr(err, "s3cret") != NULL)
			fail_msg("error '%s' shows the password", err);
	}
}

static void
route_many_routes(void **state)
{
	struct buf text = BUF_INIT;
	struct route_table *t;

	for (int i = 0; i < 5000; i++)
		buf_printf(&text,
			   "d%d.example hop%d\n.s%d.example sub%d\n"
			   "u%d@x.example user%d\n",
			   i, i, i, i, i, i);
	t = parse_ok(buf_cstr(&text));
	assert_int_equal(route_table_count(t), 15000);
	for (int i = 0; i < 5000; i += 7) {
		char address[64], want[32];

		snprintf(address, sizeof(address), "x@D%d.example", i);
		snprintf(want, sizeof(want), "hop%d", i);
		assert_string_equal(hop_of(t, address), want);
		snprintf(address, sizeof(address), "x@a.s%d.example", i);
		snprintf(want, sizeof(want), "sub%d", i);
		assert_string_equal(hop_of(t, address), want);
		snprintf(address, sizeof(address), "u%d@x.example", i);
		snprintf(want, sizeof(want), "user%d", i);
		assert_string_equal(hop_of(t, address), want);
	}
	assert_null(route_lookup(t, "x@d5000.example"));
	assert_null(route_lookup(t, "u1@y.example"));
	route_table_free(t);
	buf_free(&text);
}

struct files {
	char dir[64];
	char table[96];
	char secret[96];
};

static int
files_setup(void **state)
{
	struct files *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/hapost-test-route-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->table, sizeof(f->table), "%s/gateways", f->dir);
	snprintf(f->secret, sizeof(f->secret), "%s/secret", f->dir);
	*state = f;
	return 0;
}

static int
files_teardown(void **state)
{
	struct files *f = *state;

	unlink(f->table);
	unlink(f->secret);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
write_mode(const char *path, const char *text, mode_t mode)
{
	assert_int_equal(write_file_atomic(path, text, strlen(text), mode), 0);
	/* The umask must not decide what the test checks. */
	assert_int_equal(chmod(path, mode), 0);
}

static void
route_load_checks_modes(void **state)
{
	struct files *f = *state;
	struct route_table *t;
	char err[512], text[256];

	/* password= in a table others may read. */
	write_mode(f->table, "# x\n* h user=u password=pw\n", 0644);
	assert_int_equal(route_table_load(f->table, &t, err, sizeof(err)), -1);
	assert_null(t);
	assert_non_null(strstr(err, ":2: password= in a table that others "
				    "may read: run chmod o-r"));
	assert_int_equal(strncmp(err, f->table, strlen(f->table)), 0);
	assert_int_equal(route_table_check(f->table, err, sizeof(err)), -1);

	/* The same table closed to others loads. */
	write_mode(f->table, "# x\n* h user=u password=pw\n", 0640);
	assert_int_equal(route_table_load(f->table, &t, err, sizeof(err)), 0);
	assert_string_equal(route_table_get(t, 0)->password, "pw");
	route_table_free(t);
	assert_int_equal(route_table_check(f->table, err, sizeof(err)), 0);

	/* route_table_parse() does not know the mode. */
	t = parse_ok("* h user=u password=pw\n");
	route_table_free(t);

	/* A world-readable table without secrets is fine. */
	snprintf(text, sizeof(text), "* h user=u password_file=%s\n",
		 f->secret);
	write_mode(f->table, text, 0644);
	write_mode(f->secret, "first line\r\nsecond\n", 0600);
	assert_int_equal(route_table_load(f->table, &t, err, sizeof(err)), 0);
	assert_string_equal(route_table_get(t, 0)->password, "first line");
	route_table_free(t);

	/* A password file others may read is rejected. */
	write_mode(f->secret, "pw\n", 0604);
	assert_int_equal(route_table_load(f->table, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":1: password_file '"));
	assert_non_null(strstr(err, "is readable by others"));

	/* An empty password file, or one with an empty first line. */
	write_mode(f->secret, "", 0600);
	assert_int_equal(route_table_load(f->table, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "has no password on its first line"));
	write_mode(f->secret, "\npw\n", 0600);
	assert_int_equal(route_table_load(f->table, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "has no password on its first line"));

	/* No final newline is fine. */
	write_mode(f->secret, "pw", 0600);
	assert_int_equal(route_table_load(f->table, &t, err, sizeof(err)), 0);
	assert_string_equal(route_table_get(t, 0)->password, "pw");
	route_table_free(t);

	/* A directory is not a password file. */
	snprintf(text, sizeof(text), "* h user=u password_file=%s\n", f->dir);
	write_mode(f->table, text, 0644);
	assert_int_equal(route_table_load(f->table, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not a regular file"));
}

static void
route_load_missing_file(void **state)
{
	struct files *f = *state;
	struct route_table *t;
	char err[512], want[256];

	assert_int_equal(route_table_load(f->table, &t, err, sizeof(err)), -1);
	assert_null(t);
	snprintf(want, sizeof(want), "%s: No such file or directory",
		 f->table);
	assert_string_equal(err, want);
	assert_int_equal(route_table_load(f->dir, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
}

/*
 * Removes the '#' from example lines ("#" followed by a pattern) and
 * points password_file at secret.
 */
static void
uncomment_examples(const char *in, const char *secret, struct buf *out)
{
	const char *line = in;

	while (*line != '\0') {
		const char *nl = strchr(line, '\n');
		size_t len = strcspn(line, "\n") + (nl != NULL);
		const char *pf;

		if (line[0] == '#' && len > 1 && line[1] != ' ' &&
		    line[1] != '\n' && line[1] != '#') {
			line++;
			len--;
		}
		pf = strstr(line, "password_file=");
		if (pf != NULL && pf < line + len) {
			const char *end = strpbrk(pf, " \t\n");

			buf_append(out, line, (size_t)(pf - line));
			buf_printf(out, "password_file=%s", secret);
			len -= (size_t)(end - line);
			line = end;
		}
		buf_append(out, line, len);
		line += len;
	}
}

static void
route_example_file_parses(void **state)
{
	struct files *f = *state;
	const char *top = getenv("top_srcdir");
	struct buf text = BUF_INIT, examples = BUF_INIT;
	struct route_table *t;
	char path[512], err[512];

	snprintf(path, sizeof(path), "%s/conf/gateways",
		 top != NULL ? top : ".");
	assert_int_equal(read_file(path, &text, 1 << 20), 0);
	/* As shipped, every line is a comment. */
	assert_int_equal(route_table_load(path, &t, err, sizeof(err)), 0);
	assert_int_equal(route_table_count(t), 0);
	route_table_free(t);

	write_mode(f->secret, "pw\n", 0600);
	uncomment_examples(buf_cstr(&text), f->secret, &examples);
	if (route_table_parse(examples.data, examples.len, "examples", &t, err,
			      sizeof(err)) != 0)
		fail_msg("examples rejected: %s", err);
	assert_int_equal(route_table_count(t), 4);
	assert_string_equal(hop_of(t, "x@anywhere.example"),
			    "smtp.provider.example");
	assert_string_equal(route_lookup(t, "x@y")->password, "pw");
	assert_string_equal(hop_of(t, "x@partner.example"),
			    "mx.partner.example");
	assert_non_null(route_lookup(t, "x@partner.example")->window);
	assert_string_equal(hop_of(t, "x@a.corp.example"), "hub.corp.example");
	assert_string_equal(hop_of(t, "archive@corp.example"), "2001:db8::25");
	route_table_free(t);
	buf_free(&text);
	buf_free(&examples);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(route_next_hop_forms),
		cmocka_unit_test(route_options_parse),
		cmocka_unit_test(route_most_specific_wins),
		cmocka_unit_test(route_match_ignores_case),
		cmocka_unit_test(route_empty_table),
		cmocka_unit_test(route_bad_input_rejected),
		cmocka_unit_test(route_duplicate_names_both_lines),
		cmocka_unit_test(route_nul_byte_rejected),
		cmocka_unit_test(route_long_lines),
		cmocka_unit_test(route_error_hides_password),
		cmocka_unit_test(route_many_routes),
		cmocka_unit_test_setup_teardown(route_load_checks_modes,
						files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(route_load_missing_file,
						files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(route_example_file_parses,
						files_setup, files_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
