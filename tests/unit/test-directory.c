#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "directory.h"
#include "fsutil.h"
#include "sasl/sasl.h"
#include "sasl/site_key.h"
#include "xalloc.h"

/* Hashes made once: each costs a few milliseconds. */
static char *hash_alice; /* of "pw-alice" */
static char *hash_bob;	 /* of "pw-bob" */

struct fixture {
	char root[64];
	struct directory *d;
};

static int
group_setup(void **state)
{
	hash_alice = password_hash("pw-alice");
	hash_bob = password_hash("pw-bob");
	return hash_alice && hash_bob ? 0 : -1;
}

static int
group_teardown(void **state)
{
	free(hash_alice);
	free(hash_bob);
	return 0;
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	strcpy(fx->root, "/tmp/hapost-test-dir-XXXXXX");
	if (mkdtemp(fx->root) == NULL)
		return -1;
	fx->d = directory_open_file(fx->root);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	directory_close(fx->d);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->root);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	return 0;
}

static char *
table_path(struct fixture *fx, const char *name)
{
	return xasprintf("%s/directory/%s", fx->root, name);
}

/* Replaces a table by rename, as an edit does (new inode). */
static void
put_table(struct fixture *fx, const char *name, const char *text)
{
	char *dir = xasprintf("%s/directory", fx->root);
	char *path = table_path(fx, name);

	assert_int_equal(mkdir_p(dir, 0700), 0);
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0600), 0);
	free(path);
	free(dir);
}

/* Rewrites a table in place (same inode), as an editor might. */
static void
put_table_in_place(struct fixture *fx, const char *name, const void *text,
		   size_t len)
{
	char *path = table_path(fx, name);
	int fd = open(path, O_WRONLY | O_TRUNC);

	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, text, len), 0);
	close(fd);
	free(path);
}

static char *
read_table(struct fixture *fx, const char *name)
{
	char *path = table_path(fx, name);
	struct buf b = BUF_INIT;
	char *text;

	assert_int_equal(read_file(path, &b, 1 << 20), 0);
	text = xstrdup(buf_cstr(&b));
	buf_free(&b);
	free(path);
	return text;
}

/* Writes the standard tables: two local domains, three accounts. */
static void
put_standard_tables(struct fixture *fx)
{
	char *accounts = xasprintf("alice@a.test:%s:\n"
				   "bob@a.test:%s:\n"
				   "bob@b.test:%s:imap=no\n"
				   "carl@foreign.test:%s:\n",
				   hash_alice, hash_bob, hash_bob, hash_bob);

	put_table(fx, "domains", "a.test\nb.test\n");
	put_table(fx, "accounts", accounts);
	free(accounts);
}

/* stderr capture, to check the warnings about corrupt lines. */
static int saved_stderr = -1;
static char capture_path[] = "/tmp/hapost-test-stderr-XXXXXX";

static void
capture_begin(void)
{
	int fd;

	strcpy(capture_path, "/tmp/hapost-test-stderr-XXXXXX");
	fd = mkstemp(capture_path);
	assert_true(fd >= 0);
	fflush(stderr);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

static char *
capture_end(void)
{
	struct buf b = BUF_INIT;
	char *text;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	assert_int_equal(read_file(capture_path, &b, 1 << 20), 0);
	unlink(capture_path);
	text = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return text;
}

static void
assert_contains(const char *text, const char *part)
{
	if (strstr(text, part) == NULL)
		fail_msg("'%s' lacks '%s'", text, part);
}

/* Resolves address and checks the result against want (NULL-ended). */
static void
assert_resolves(struct directory *d, const char *address,
		enum dir_result expect, const char *const *want)
{
	char **out;
	size_t n, nwant = 0;
	enum dir_result r = directory_resolve_rcpt(d, address, &out, &n);

	if (r != expect)
		fail_msg("%s: result %d, expected %d", address, r, expect);
	while (want != NULL && want[nwant] != NULL)
		nwant++;
	if (n != nwant)
		fail_msg("%s: %zu addresses, expected %zu", address, n, nwant);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(out[i], want[i]) != 0)
			fail_msg("%s: address %zu is %s, expected %s", address,
				 i, out[i], want[i]);
	}
	directory_free_list(out, n);
}

/* Name checks */

static void
domain_check_accepts_valid(void **state)
{
	static const char *const good[] = {
	    "example.test", "a.b.c.d.example", "xn--bcher-kva.example",
	    "localhost",    "1st.example",     "a-b.example",
	    "EXAMPLE.Test", "a123.b45",
	};
	char err[160];

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		if (directory_check_domain(good[i], err, sizeof(err)) != 0)
			fail_msg("%s rejected: %s", good[i], err);
	}
}

static void
domain_check_rejects_invalid(void **state)
{
	struct {
		const char *name;
		const char *why;
	} bad[] = {
	    {"", "empty"},
	    {"example.test.", "empty label"},
	    {".example.test", "empty label"},
	    {"a..b", "empty label"},
	    {"-a.test", "hyphen"},
	    {"a-.test", "hyphen"},
	    {"a_b.test", "character '_'"},
	    {"a b.test", "byte 0x20"},
	    {"a\tb.test", "byte 0x09"},
	    {"exa\xc3\xa9mple.test", "byte 0xc3"},
	    {"a@b.test", "character '@'"},
	    {"1.2.3.4", "all digits"},
	    {"[127.0.0.1]", "character '['"},
	};
	char label[80], longname[300];
	char err[160];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (directory_check_domain(bad[i].name, err, sizeof(err)) == 0)
			fail_msg("'%s' accepted", bad[i].name);
		assert_contains(err, bad[i].why);
	}
	memset(label, 'a', 64);
	strcpy(label + 64, ".test");
	assert_int_equal(directory_check_domain(label, err, sizeof(err)), -1);
	assert_contains(err, "longer than 63");
	strcpy(label + 63, ".test");
	assert_int_equal(directory_check_domain(label, err, sizeof(err)), 0);

	/* 4 labels of 63 plus 3 dots is 255 octets; 253 is the maximum. */
	memset(longname, 'a', sizeof(longname));
	for (int i = 63; i < 255; i += 64)
		longname[i] = '.';
	longname[254] = 'z';
	longname[255] = '\0';
	assert_int_equal(directory_check_domain(longname, err, sizeof(err)),
			 -1);
	assert_contains(err, "longer than 253");
	longname[253] = '\0';
	longname[252] = 'z';
	assert_int_equal(directory_check_domain(longname, err, sizeof(err)), 0);
}

static void
address_check_accepts_valid(void **state)
{
	static const char *const good[] = {
	    "alice@example.test",
	    "Alice.Smith@Example.Test",
	    "a+tag@example.test",
	    "o'brien@example.test",
	    "x!#$%&'*+-/=?^_`{|}~@example.test",
	    "1@example.test",
	};
	char err[160];

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		if (directory_check_address(good[i], err, sizeof(err)) != 0)
			fail_msg("%s rejected: %s", good[i], err);
	}
}

static void
address_check_rejects_invalid(void **state)
{
	struct {
		const char *address;
		const char *why;
	} bad[] = {
	    {"alice", "missing '@'"},
	    {"", "missing '@'"},
	    {"@example.test", "empty local part"},
	    {"alice@", "invalid domain name: empty"},
	    {"a@b@example.test", "more than one '@'"},
	    {".alice@example.test", "dot"},
	    {"alice.@example.test", "dot"},
	    {"al..ice@example.test", "dot"},
	    {"\"alice\"@example.test", "quoted"},
	    {"al ice@example.test", "byte 0x20"},
	    {"al:ice@example.test", "character ':'"},
	    {"al,ice@example.test", "character ','"},
	    {"al\rice@example.test", "byte 0x0d"},
	    {"al\nice@example.test", "byte 0x0a"},
	    {"al\x7fice@example.test", "byte 0x7f"},
	    {"j\xc3\xb6rg@example.test", "byte 0xc3"},
	    {"alice@exa_mple.test", "character '_'"},
	    {"alice@example.test.", "empty label"},
	};
	char local[80], longaddr[300];
	char err[160];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (directory_check_address(bad[i].address, err, sizeof(err)) ==
		    0)
			fail_msg("'%s' accepted", bad[i].address);
		assert_contains(err, bad[i].why);
	}
	memset(local, 'l', 65);
	strcpy(local + 65, "@x.test");
	assert_int_equal(directory_check_address(local, err, sizeof(err)), -1);
	assert_contains(err, "longer than 64");
	strcpy(local + 64, "@x.test");
	assert_int_equal(directory_check_address(local, err, sizeof(err)), 0);

	/* 64 + 1 + 190 = 255 octets, one past the maximum of 254. */
	memset(longaddr, 'l', 64);
	longaddr[64] = '@';
	memset(longaddr + 65, 'd', 190);
	longaddr[65 + 60] = '.';
	longaddr[65 + 121] = '.';
	longaddr[65 + 182] = '.';
	longaddr[255] = '\0';
	assert_int_equal(directory_check_address(longaddr, err, sizeof(err)),
			 -1);
	assert_contains(err, "longer than 254");
	longaddr[254] = '\0';
	assert_int_equal(directory_check_address(longaddr, err, sizeof(err)),
			 0);
}

static void
account_address_rejects_slash(void **state)
{
	char err[160];

	assert_int_equal(
	    directory_check_address("a/b@x.test", err, sizeof(err)), 0);
	assert_int_equal(
	    directory_check_account_address("a/b@x.test", err, sizeof(err)),
	    -1);
	assert_contains(err, "'/'");
	assert_int_equal(
	    directory_check_account_address("a.b@x.test", err, sizeof(err)), 0);
}

/* Recipient resolution */

static void
resolve_account_and_case(void **state)
{
	struct fixture *fx = *state;
	static const char *const alice[] = {"alice@a.test", NULL};

	put_standard_tables(fx);
	assert_resolves(fx->d, "alice@a.test", DIR_OK, alice);
	assert_resolves(fx->d, "ALICE@A.Test", DIR_OK, alice);
	assert_resolves(fx->d, "nobody@a.test", DIR_NOT_FOUND, NULL);
	assert_resolves(fx->d, "alice@elsewhere.test", DIR_NOT_LOCAL, NULL);
	assert_resolves(fx->d, "carl@foreign.test", DIR_NOT_LOCAL, NULL);
	assert_resolves(fx->d, "alice", DIR_NOT_FOUND, NULL);
	assert_resolves(fx->d, "@a.test", DIR_NOT_FOUND, NULL);
	assert_resolves(fx->d, "", DIR_NOT_FOUND, NULL);
}

static void
resolve_aliases_dedupe_and_forward(void **state)
{
	struct fixture *fx = *state;
	static const char *const team[] = {"alice@a.test", "bob@a.test",
					   "ext@remote.test", NULL};
	static const char *const post[] = {"alice@a.test", NULL};

	put_standard_tables(fx);
	put_table(fx, "aliases",
		  "# comment line\n"
		  "team@a.test: Alice@a.test, bob@a.test, sales@a.test\n"
		  "sales@a.test: alice@a.test, ext@remote.test\n"
		  "team@a.test: bob@a.test\n"
		  "postmaster@b.test: alice@a.test\n");
	assert_resolves(fx->d, "team@a.test", DIR_OK, team);
	assert_resolves(fx->d, "TEAM@a.test", DIR_OK, team);
	assert_resolves(fx->d, "postmaster@b.test", DIR_OK, post);
}

static void
resolve_loops_terminate(void **state)
{
	struct fixture *fx = *state;
	static const char *const alice[] = {"alice@a.test", NULL};
	static const char *const both[] = {"bob@a.test", "alice@a.test", NULL};

	put_standard_tables(fx);
	put_table(fx, "aliases",
		  "x@a.test: y@a.test\n"
		  "y@a.test: x@a.test, alice@a.test\n"
		  "self@a.test: self@a.test, bob@a.test, alice@a.test\n"
		  "p@a.test: q@a.test\n"
		  "q@a.test: p@a.test\n");
	assert_resolves(fx->d, "x@a.test", DIR_OK, alice);
	assert_resolves(fx->d, "y@a.test", DIR_OK, alice);
	assert_resolves(fx->d, "self@a.test", DIR_OK, both);
	assert_resolves(fx->d, "p@a.test", DIR_NOT_FOUND, NULL);
}

/* Writes a chain l0 -> l1 -> ... -> l(hops-1) -> alice@a.test. */
static void
put_alias_chain(struct fixture *fx, int hops)
{
	struct buf b = BUF_INIT;

	for (int i = 0; i < hops - 1; i++)
		buf_printf(&b, "l%d@a.test: l%d@a.test\n", i, i + 1);
	buf_printf(&b, "l%d@a.test: alice@a.test\n", hops - 1);
	put_table(fx, "aliases", buf_cstr(&b));
	buf_free(&b);
}

static void
resolve_depth_limit_ten(void **state)
{
	struct fixture *fx = *state;
	static const char *const alice[] = {"alice@a.test", NULL};
	char *warnings;

	put_standard_tables(fx);
	put_alias_chain(fx, 10);
	assert_resolves(fx->d, "l0@a.test", DIR_OK, alice);
	put_alias_chain(fx, 11);
	capture_begin();
	assert_resolves(fx->d, "l0@a.test", DIR_NOT_FOUND, NULL);
	assert_resolves(fx->d, "l1@a.test", DIR_OK, alice);
	warnings = capture_end();
	assert_contains(warnings, "more than 10 alias levels below l0@a.test");
	free(warnings);
}

static void
resolve_account_beats_alias(void **state)
{
	struct fixture *fx = *state;
	static const char *const alice[] = {"alice@a.test", NULL};
	static const char *const bob[] = {"bob@a.test", NULL};

	put_standard_tables(fx);
	put_table(fx, "aliases",
		  "alice@a.test: bob@a.test\n"
		  "fwd@a.test: alice@a.test\n");
	assert_resolves(fx->d, "alice@a.test", DIR_OK, alice);
	assert_resolves(fx->d, "fwd@a.test", DIR_OK, alice);
	put_table(fx, "aliases", "x@a.test: bob@a.test\n");
	assert_resolves(fx->d, "x@a.test", DIR_OK, bob);
}

static void
resolve_dangling_target_skipped(void **state)
{
	struct fixture *fx = *state;
	static const char *const alice[] = {"alice@a.test", NULL};
	char *warnings;

	put_standard_tables(fx);
	put_table(fx, "aliases",
		  "list@a.test: gone@a.test, alice@a.test\n"
		  "dead@a.test: gone@a.test\n");
	capture_begin();
	assert_resolves(fx->d, "list@a.test", DIR_OK, alice);
	assert_resolves(fx->d, "dead@a.test", DIR_NOT_FOUND, NULL);
	warnings = capture_end();
	assert_contains(warnings, "gone@a.test");
	free(warnings);
}

/* Accounts and logins */

static void
get_account_fills_fields(void **state)
{
	struct fixture *fx = *state;
	struct account acct;
	char *accounts;
	char *path;

	put_table(fx, "domains", "a.test\n");
	accounts = xasprintf("alice@a.test:%s:imap=no, pop3=yes,quota=5G\n"
			     "bob@a.test:%s:POP3=No,smtp_auth=maybe\n"
			     "dan@a.test:%s\n",
			     hash_alice, hash_bob, hash_bob);
	put_table(fx, "accounts", accounts);
	free(accounts);

	capture_begin();
	assert_int_equal(directory_get_account(fx->d, "Alice@A.test", &acct),
			 DIR_OK);
	free(capture_end());
	assert_string_equal(acct.address, "alice@a.test");
	path = xasprintf("%s/mail/a.test/alice", fx->root);
	assert_string_equal(acct.maildir, path);
	free(path);
	assert_false(acct.imap_enabled);
	assert_true(acct.pop3_enabled);
	assert_true(acct.smtp_auth_enabled);
	account_free(&acct);

	assert_int_equal(directory_get_account(fx->d, "bob@a.test", &acct),
			 DIR_OK);
	assert_true(acct.imap_enabled);
	assert_false(acct.pop3_enabled);
	assert_false(acct.smtp_auth_enabled);
	account_free(&acct);

	assert_int_equal(directory_get_account(fx->d, "dan@a.test", &acct),
			 DIR_OK);
	assert_true(acct.imap_enabled);
	assert_true(acct.pop3_enabled);
	account_free(&acct);

	assert_int_equal(directory_get_account(fx->d, "x@a.test", &acct),
			 DIR_NOT_FOUND);
	assert_null(acct.address);
	assert_int_equal(directory_get_account(fx->d, "x@z.test", &acct),
			 DIR_NOT_LOCAL);
	assert_int_equal(directory_get_account(fx->d, "nodomain", &acct),
			 DIR_NOT_FOUND);
}

static void
authenticate_full_address(void **state)
{
	struct fixture *fx = *state;
	struct account acct;

	put_standard_tables(fx);
	assert_int_equal(
	    directory_authenticate(fx->d, "alice@a.test", "pw-alice", &acct),
	    DIR_OK);
	assert_string_equal(acct.address, "alice@a.test");
	account_free(&acct);
	assert_int_equal(
	    directory_authenticate(fx->d, "ALICE@A.TEST", "pw-alice", &acct),
	    DIR_OK);
	account_free(&acct);
	assert_int_equal(
	    directory_authenticate(fx->d, "alice@a.test", "PW-ALICE", &acct),
	    DIR_NOT_FOUND);
	assert_null(acct.address);
	assert_int_equal(
	    directory_authenticate(fx->d, "alice@a.test", "pw-bob", &acct),
	    DIR_NOT_FOUND);
	assert_int_equal(
	    directory_authenticate(fx->d, "alice@a.test", "", &acct),
	    DIR_NOT_FOUND);
	assert_int_equal(
	    directory_authenticate(fx->d, "nobody@a.test", "pw-alice", &acct),
	    DIR_NOT_FOUND);
	assert_int_equal(
	    directory_authenticate(fx->d, "carl@foreign.test", "pw-bob", &acct),
	    DIR_NOT_FOUND);
	assert_int_equal(directory_authenticate(fx->d, "", "pw-alice", &acct),
			 DIR_NOT_FOUND);
	assert_int_equal(
	    directory_authenticate(fx->d, "@a.test", "pw-alice", &acct),
	    DIR_NOT_FOUND);
}

static void
authenticate_bare_local_part(void **state)
{
	struct fixture *fx = *state;
	struct account acct;

	put_standard_tables(fx);
	/* alice exists in one local domain only. */
	assert_int_equal(
	    directory_authenticate(fx->d, "alice", "pw-alice", &acct), DIR_OK);
	assert_string_equal(acct.address, "alice@a.test");
	account_free(&acct);
	assert_int_equal(
	    directory_authenticate(fx->d, "Alice", "pw-alice", &acct), DIR_OK);
	account_free(&acct);
	/* bob exists in a.test and b.test: ambiguous. */
	assert_int_equal(directory_authenticate(fx->d, "bob", "pw-bob", &acct),
			 DIR_NOT_FOUND);
	/* carl's domain is not local. */
	assert_int_equal(directory_authenticate(fx->d, "carl", "pw-bob", &acct),
			 DIR_NOT_FOUND);
	/* a prefix of a local part does not match. */
	assert_int_equal(
	    directory_authenticate(fx->d, "ali", "pw-alice", &acct),
	    DIR_NOT_FOUND);
	assert_int_equal(
	    directory_authenticate(fx->d, "alice", "pw-bob", &acct),
	    DIR_NOT_FOUND);
}

/* Reloading */

static void
reload_after_rename(void **state)
{
	struct fixture *fx = *state;
	char *accounts;

	put_table(fx, "domains", "a.test\n");
	assert_false(directory_domain_is_local(fx->d, "b.test"));
	put_table(fx, "domains", "a.test\nb.test\n");
	assert_true(directory_domain_is_local(fx->d, "b.test"));
	assert_true(directory_domain_is_local(fx->d, "B.TEST"));

	accounts = xasprintf("new@b.test:%s:\n", hash_alice);
	assert_resolves(fx->d, "new@b.test", DIR_NOT_FOUND, NULL);
	put_table(fx, "accounts", accounts);
	free(accounts);
	{
		static const char *const want[] = {"new@b.test", NULL};

		assert_resolves(fx->d, "new@b.test", DIR_OK, want);
	}
}

static void
reload_after_in_place_write(void **state)
{
	struct fixture *fx = *state;

	put_table(fx, "domains", "a.test\n");
	assert_true(directory_domain_is_local(fx->d, "a.test"));
	put_table_in_place(fx, "domains", "c.test\n", 7);
	assert_false(directory_domain_is_local(fx->d, "a.test"));
	assert_true(directory_domain_is_local(fx->d, "c.test"));
	put_table_in_place(fx, "domains", "cc.test\nd.test\n", 15);
	assert_true(directory_domain_is_local(fx->d, "d.test"));
}

static void
missing_tables_are_empty(void **state)
{
	struct fixture *fx = *state;
	char *path;
	char **list;
	size_t n;

	assert_false(directory_domain_is_local(fx->d, "a.test"));
	assert_resolves(fx->d, "x@a.test", DIR_NOT_LOCAL, NULL);
	assert_int_equal(directory_domain_list(fx->d, &list, &n), 0);
	assert_int_equal(n, 0);
	put_table(fx, "domains", "a.test\n");
	assert_true(directory_domain_is_local(fx->d, "a.test"));
	path = table_path(fx, "domains");
	unlink(path);
	free(path);
	assert_false(directory_domain_is_local(fx->d, "a.test"));
}

static void
unreadable_table_tempfails(void **state)
{
	struct fixture *fx = *state;
	struct account acct;
	char *path = table_path(fx, "accounts");
	char *warnings;
	char **out;
	size_t n;

	put_table(fx, "domains", "a.test\n");
	assert_int_equal(mkdir(path, 0700), 0);
	capture_begin();
	assert_int_equal(directory_resolve_rcpt(fx->d, "x@a.test", &out, &n),
			 DIR_TEMPFAIL);
	assert_int_equal(directory_get_account(fx->d, "x@a.test", &acct),
			 DIR_TEMPFAIL);
	assert_int_equal(directory_authenticate(fx->d, "x@a.test", "pw", &acct),
			 DIR_TEMPFAIL);
	assert_int_equal(directory_account_list(fx->d, NULL, &out, &n), -1);
	warnings = capture_end();
	assert_contains(directory_last_error(fx->d), "not a regular file");
	/* One message for repeated failures of the same kind. */
	assert_contains(warnings, "accounts");
	assert_null(strstr(strstr(warnings, "accounts") + 1, "cannot read"));
	free(warnings);
	rmdir(path);
	free(path);
}

static void
unreadable_table_keeps_copy(void **state)
{
	struct fixture *fx = *state;
	static const char *const alice[] = {"alice@a.test", NULL};
	char *path = table_path(fx, "accounts");
	char *warnings;

	put_standard_tables(fx);
	assert_resolves(fx->d, "alice@a.test", DIR_OK, alice);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	capture_begin();
	assert_resolves(fx->d, "alice@a.test", DIR_OK, alice);
	warnings = capture_end();
	assert_contains(warnings, "still using the copy read before");
	free(warnings);
	rmdir(path);
	free(path);
}

static void
corrupt_lines_skipped_with_warning(void **state)
{
	struct fixture *fx = *state;
	static const char domains[] = "a.test\n"
				      "bad_domain.test\n"
				      "b.t\0st\n"
				      "  C.TEST  \r\n";
	struct buf accounts = BUF_INIT;
	struct account acct;
	char *warnings;

	put_table(fx, "domains", "");
	put_table_in_place(fx, "domains", domains, sizeof(domains) - 1);
	buf_printf(&accounts, "alice@a.test:%s:\n", hash_alice);
	buf_printf(&accounts, "no colon at all\n");
	buf_printf(&accounts, "bad address@a.test:%s:\n", hash_bob);
	buf_printf(&accounts, "empty@a.test::\n");
	buf_printf(&accounts, "sp@a.test:$6$a b:\n");
	buf_printf(&accounts, "a/b@a.test:%s:\n", hash_bob);
	buf_printf(&accounts, "alice@a.test:%s:\n", hash_bob);
	buf_printf(&accounts, "\n# comment\n");
	buf_printf(&accounts, "  bob@c.test : %s : pop3=no \r\n", hash_bob);
	put_table(fx, "accounts", buf_cstr(&accounts));
	buf_free(&accounts);
	put_table(fx, "aliases",
		  "nocolon\n"
		  "x@a.test: bad target, alice@a.test,,\n"
		  "y@a.test: , \n"
		  "bad alias@a.test: alice@a.test\n");

	capture_begin();
	assert_true(directory_domain_is_local(fx->d, "a.test"));
	assert_true(directory_domain_is_local(fx->d, "c.test"));
	assert_false(directory_domain_is_local(fx->d, "bad_domain.test"));
	assert_int_equal(
	    directory_authenticate(fx->d, "alice@a.test", "pw-alice", &acct),
	    DIR_OK);
	account_free(&acct);
	assert_int_equal(
	    directory_authenticate(fx->d, "bob@c.test", "pw-bob", &acct),
	    DIR_OK);
	assert_false(acct.pop3_enabled);
	account_free(&acct);
	{
		static const char *const alice[] = {"alice@a.test", NULL};

		assert_resolves(fx->d, "x@a.test", DIR_OK, alice);
		assert_resolves(fx->d, "y@a.test", DIR_NOT_FOUND, NULL);
	}
	warnings = capture_end();
	assert_contains(warnings, "/directory/domains:2: invalid domain");
	assert_contains(warnings, "/directory/domains:3: NUL byte");
	assert_contains(warnings, "/directory/accounts:2: missing ':'");
	assert_contains(warnings, "/directory/accounts:3: invalid address");
	assert_contains(warnings, "/directory/accounts:4: empty password hash");
	assert_contains(warnings, "/directory/accounts:5: blank inside");
	assert_contains(warnings, "/directory/accounts:6: invalid account");
	assert_contains(warnings, "/directory/accounts:7: account alice@a.test "
				  "repeats line 1");
	assert_contains(warnings, "/directory/aliases:1: missing ':'");
	assert_contains(warnings, "/directory/aliases:2: target skipped");
	assert_contains(warnings, "/directory/aliases:3: no valid target");
	assert_contains(warnings, "/directory/aliases:4: invalid address");
	free(warnings);
}

/* Edits */

static void
edit_domain_add_and_del(void **state)
{
	struct fixture *fx = *state;
	char err[256];
	char *text;
	char **list;
	size_t n;

	assert_int_equal(
	    directory_domain_add(fx->d, "B.Test", err, sizeof(err)), 0);
	assert_int_equal(
	    directory_domain_add(fx->d, "a.test", err, sizeof(err)), 0);
	assert_int_equal(
	    directory_domain_add(fx->d, "a.TEST", err, sizeof(err)), -1);
	assert_contains(err, "already exists");
	assert_int_equal(
	    directory_domain_add(fx->d, "a..test", err, sizeof(err)), -1);
	assert_contains(err, "invalid domain name");
	assert_int_equal(
	    directory_domain_add(fx->d, "a.test.", err, sizeof(err)), -1);
	text = read_table(fx, "domains");
	assert_string_equal(text, "b.test\na.test\n");
	free(text);
	assert_int_equal(directory_domain_list(fx->d, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0], "a.test");
	assert_string_equal(list[1], "b.test");
	directory_free_list(list, n);

	assert_int_equal(
	    directory_domain_del(fx->d, "c.test", err, sizeof(err)), -1);
	assert_contains(err, "not found");
	assert_int_equal(
	    directory_domain_del(fx->d, "B.test", err, sizeof(err)), 0);
	assert_false(directory_domain_is_local(fx->d, "b.test"));
	text = read_table(fx, "domains");
	assert_string_equal(text, "a.test\n");
	free(text);
}

static void
edit_domain_del_refuses_used(void **state)
{
	struct fixture *fx = *state;
	char err[256];

	assert_int_equal(
	    directory_domain_add(fx->d, "a.test", err, sizeof(err)), 0);
	assert_int_equal(directory_account_add(fx->d, "alice@a.test", "pw", err,
					       sizeof(err)),
			 0);
	assert_int_equal(
	    directory_domain_del(fx->d, "a.test", err, sizeof(err)), -1);
	assert_contains(err, "still has 1 account(s)");
	assert_int_equal(
	    directory_account_del(fx->d, "alice@a.test", err, sizeof(err)), 0);
	assert_int_equal(directory_alias_add(fx->d, "pm@a.test",
					     "ext@remote.test", err,
					     sizeof(err)),
			 0);
	assert_int_equal(
	    directory_domain_del(fx->d, "a.test", err, sizeof(err)), -1);
	assert_contains(err, "still has 1 alias(es)");
	assert_int_equal(
	    directory_alias_del(fx->d, "pm@a.test", NULL, err, sizeof(err)), 0);
	assert_int_equal(
	    directory_domain_del(fx->d, "a.test", err, sizeof(err)), 0);
}

static void
edit_account_add_checks(void **state)
{
	struct fixture *fx = *state;
	char err[256];
	char longpw[PASSWORD_MAX_LEN + 2];

	assert_int_equal(
	    directory_domain_add(fx->d, "a.test", err, sizeof(err)), 0);
	assert_int_equal(
	    directory_account_add(fx->d, "x@b.test", "pw", err, sizeof(err)),
	    -1);
	assert_contains(err, "b.test is not a local domain");
	assert_int_equal(
	    directory_account_add(fx->d, "x y@a.test", "pw", err, sizeof(err)),
	    -1);
	assert_contains(err, "invalid address");
	assert_int_equal(
	    directory_account_add(fx->d, "../x@a.test", "pw", err, sizeof(err)),
	    -1);
	assert_int_equal(
	    directory_account_add(fx->d, "x/y@a.test", "pw", err, sizeof(err)),
	    -1);
	assert_contains(err, "'/'");
	assert_int_equal(
	    directory_account_add(fx->d, "x@a.test", "", err, sizeof(err)), -1);
	assert_contains(err, "empty password");
	memset(longpw, 'p', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	assert_int_equal(
	    directory_account_add(fx->d, "x@a.test", longpw, err, sizeof(err)),
	    -1);
	assert_contains(err, "longer than 511");
	assert_int_equal(
	    directory_account_add(fx->d, "x@a.test", "a\nb", err, sizeof(err)),
	    -1);
	assert_contains(err, "line break");

	assert_int_equal(
	    directory_account_add(fx->d, "X@A.test", "pw", err, sizeof(err)),
	    0);
	assert_int_equal(
	    directory_account_add(fx->d, "x@a.test", "pw2", err, sizeof(err)),
	    -1);
	assert_contains(err, "already exists");
	assert_int_equal(directory_alias_add(fx->d, "al@a.test", "x@a.test",
					     err, sizeof(err)),
			 0);
	assert_int_equal(
	    directory_account_add(fx->d, "al@a.test", "pw", err, sizeof(err)),
	    -1);
	assert_contains(err, "an alias with this address exists");
}

static void
edit_account_add_creates_maildir(void **state)
{
	struct fixture *fx = *state;
	static const char *const subdirs[] = {"", "/cur", "/new", "/tmp"};
	struct account acct;
	char err[256];
	struct stat st;

	assert_int_equal(
	    directory_domain_add(fx->d, "a.test", err, sizeof(err)), 0);
	assert_int_equal(directory_account_add(fx->d, "Alice@a.test", "pw-1",
					       err, sizeof(err)),
			 0);
	assert_int_equal(directory_get_account(fx->d, "alice@a.test", &acct),
			 DIR_OK);
	for (size_t i = 0; i < 4; i++) {
		char *path = xasprintf("%s%s", acct.maildir, subdirs[i]);

		assert_int_equal(stat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 0777, 0700);
		free(path);
	}
	account_free(&acct);
	{
		char *path = table_path(fx, "accounts");

		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		free(path);
	}
	assert_int_equal(
	    directory_authenticate(fx->d, "alice@a.test", "pw-1", &acct),
	    DIR_OK);
	account_free(&acct);
}

static void
edit_account_passwd_and_del(void **state)
{
	struct fixture *fx = *state;
	struct account acct;
	char err[256];
	char *text;

	put_table(fx, "domains", "a.test\n");
	text = xasprintf("# people\nalice@a.test:%s:imap=no,quota=1G\n",
			 hash_alice);
	put_table(fx, "accounts", text);
	free(text);

	assert_int_equal(directory_account_passwd(fx->d, "alice@a.test",
						  "new-pw", err, sizeof(err)),
			 0);
	assert_int_equal(
	    directory_authenticate(fx->d, "alice@a.test", "pw-alice", &acct),
	    DIR_NOT_FOUND);
	assert_int_equal(
	    directory_authenticate(fx->d, "alice@a.test", "new-pw", &acct),
	    DIR_OK);
	assert_false(acct.imap_enabled);
	account_free(&acct);
	text = read_table(fx, "accounts");
	assert_contains(text, "# people\nalice@a.test:$6$");
	assert_contains(text, ":imap=no,quota=1G\n");
	assert_null(strstr(text, "new-pw"));
	free(text);

	assert_int_equal(directory_account_passwd(fx->d, "bob@a.test", "x", err,
						  sizeof(err)),
			 -1);
	assert_contains(err, "account not found");
	assert_int_equal(directory_account_passwd(fx->d, "alice@a.test", "",
						  err, sizeof(err)),
			 -1);
	assert_int_equal(
	    directory_account_del(fx->d, "bob@a.test", err, sizeof(err)), -1);
	assert_contains(err, "account not found");
	assert_int_equal(
	    directory_account_del(fx->d, "ALICE@a.test", err, sizeof(err)), 0);
	assert_int_equal(directory_get_account(fx->d, "alice@a.test", &acct),
			 DIR_NOT_FOUND);
	text = read_table(fx, "accounts");
	assert_string_equal(text, "# people\n");
	free(text);
}

static void
edit_alias_add_checks(void **state)
{
	struct fixture *fx = *state;
	char err[256];
	char *text;

	assert_int_equal(
	    directory_domain_add(fx->d, "a.test", err, sizeof(err)), 0);
	assert_int_equal(directory_account_add(fx->d, "alice@a.test", "pw", err,
					       sizeof(err)),
			 0);
	assert_int_equal(directory_alias_add(fx->d, "x@a.test", "x@A.test", err,
					     sizeof(err)),
			 -1);
	assert_contains(err, "itself");
	assert_int_equal(directory_alias_add(fx->d, "alice@a.test",
					     "bob@a.test", err, sizeof(err)),
			 -1);
	assert_contains(err, "an account with this address exists");
	assert_int_equal(directory_alias_add(fx->d, "x@b.test", "alice@a.test",
					     err, sizeof(err)),
			 -1);
	assert_contains(err, "b.test is not a local domain");
	assert_int_equal(directory_alias_add(fx->d, "x@a.test", "bad target",
					     err, sizeof(err)),
			 -1);
	assert_contains(err, "target: invalid address");
	assert_int_equal(
	    directory_alias_add(fx->d, "x", "alice@a.test", err, sizeof(err)),
	    -1);
	assert_contains(err, "missing '@'");

	assert_int_equal(directory_alias_add(fx->d, "team@a.test",
					     "alice@a.test", err, sizeof(err)),
			 0);
	assert_int_equal(directory_alias_add(fx->d, "TEAM@a.test",
					     "ALICE@a.test", err, sizeof(err)),
			 -1);
	assert_contains(err, "already has target alice@a.test");
	assert_int_equal(directory_alias_add(fx->d, "team@a.test",
					     "ext@remote.test", err,
					     sizeof(err)),
			 0);
	text = read_table(fx, "aliases");
	assert_string_equal(text,
			    "team@a.test: alice@a.test, ext@remote.test\n");
	free(text);
}

static void
edit_alias_del_targets(void **state)
{
	struct fixture *fx = *state;
	char err[256];
	char *text;
	char **list;
	size_t n;

	put_table(fx, "domains", "a.test\n");
	put_table(fx, "aliases",
		  "# lists\n"
		  "team@a.test: a@x.test, b@x.test\n"
		  "other@a.test: c@x.test\n"
		  "team@a.test: c@x.test\n");
	assert_int_equal(directory_alias_list(fx->d, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0], "other@a.test: c@x.test");
	assert_string_equal(list[1],
			    "team@a.test: a@x.test, b@x.test, c@x.test");
	directory_free_list(list, n);

	assert_int_equal(
	    directory_alias_del(fx->d, "none@a.test", NULL, err, sizeof(err)),
	    -1);
	assert_contains(err, "alias not found");
	assert_int_equal(directory_alias_del(fx->d, "team@a.test", "z@x.test",
					     err, sizeof(err)),
			 -1);
	assert_contains(err, "no target z@x.test");
	assert_int_equal(directory_alias_del(fx->d, "team@a.test", "B@x.test",
					     err, sizeof(err)),
			 0);
	assert_int_equal(directory_alias_del(fx->d, "team@a.test", "c@x.test",
					     err, sizeof(err)),
			 0);
	text = read_table(fx, "aliases");
	assert_string_equal(text, "# lists\n"
				  "team@a.test: a@x.test\n"
				  "other@a.test: c@x.test\n");
	free(text);
	assert_int_equal(directory_alias_del(fx->d, "team@a.test", "a@x.test",
					     err, sizeof(err)),
			 0);
	assert_int_equal(
	    directory_alias_del(fx->d, "other@a.test", NULL, err, sizeof(err)),
	    0);
	text = read_table(fx, "aliases");
	assert_string_equal(text, "# lists\n");
	free(text);
}

static void
edit_keeps_comments_and_bad_lines(void **state)
{
	struct fixture *fx = *state;
	char err[256];
	char *text;

	put_table(fx, "domains", "# our domains\nbad_one\na.test");
	capture_begin();
	assert_int_equal(
	    directory_domain_add(fx->d, "b.test", err, sizeof(err)), 0);
	free(capture_end());
	text = read_table(fx, "domains");
	assert_string_equal(text, "# our domains\nbad_one\na.test\nb.test\n");
	free(text);
}

static void
edit_concurrent_writers_all_kept(void **state)
{
	struct fixture *fx = *state;
	enum { WRITERS = 6, EACH = 5 };
	pid_t pids[WRITERS];
	char **list;
	size_t n;

	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0) {
			struct directory *d = directory_open_file(fx->root);
			char err[256], name[32];
			int failed = 0;

			for (int i = 0; i < EACH; i++) {
				snprintf(name, sizeof(name), "w%d-%d.test", w,
					 i);
				failed |= directory_domain_add(d, name, err,
							       sizeof(err));
			}
			directory_close(d);
			_exit(failed ? 1 : 0);
		}
	}
	for (int w = 0; w < WRITERS; w++) {
		int status;

		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(directory_domain_list(fx->d, &list, &n), 0);
	assert_int_equal(n, WRITERS * EACH);
	directory_free_list(list, n);
}

static void
account_list_and_show(void **state)
{
	struct fixture *fx = *state;
	struct buf out = BUF_INIT;
	char err[256];
	char **list;
	size_t n;

	put_standard_tables(fx);
	put_table(fx, "aliases",
		  "pm@b.test: alice@a.test\n"
		  "x@a.test: alice@a.test, bob@a.test\n");
	assert_int_equal(directory_account_list(fx->d, NULL, &list, &n), 0);
	assert_int_equal(n, 4);
	directory_free_list(list, n);
	assert_int_equal(directory_account_list(fx->d, "B.test", &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0], "bob@b.test");
	directory_free_list(list, n);
	assert_int_equal(directory_account_list(fx->d, "z.test", &list, &n),
			 -1);
	assert_contains(directory_last_error(fx->d), "domain z.test not found");
	assert_int_equal(directory_account_list(fx->d, "z..test", &list, &n),
			 -1);
	assert_contains(directory_last_error(fx->d), "invalid domain name");

	assert_int_equal(directory_account_show(fx->d, "Alice@a.test", &out,
						err, sizeof(err)),
			 0);
	assert_contains(buf_cstr(&out), "address: alice@a.test\n");
	assert_contains(buf_cstr(&out), "/mail/a.test/alice\n");
	assert_contains(buf_cstr(&out), "imap: yes\n");
	assert_contains(buf_cstr(&out), "aliases: pm@b.test, x@a.test\n");
	assert_null(strstr(buf_cstr(&out), "$6$"));
	buf_reset(&out);
	assert_int_equal(
	    directory_account_show(fx->d, "bob@b.test", &out, err, sizeof(err)),
	    0);
	assert_contains(buf_cstr(&out), "imap: no\n");
	assert_contains(buf_cstr(&out), "options: imap=no\n");
	assert_int_equal(directory_account_show(fx->d, "nobody@a.test", &out,
						err, sizeof(err)),
			 -1);
	assert_contains(err, "account not found");
	assert_int_equal(
	    directory_account_show(fx->d, "x@z.test", &out, err, sizeof(err)),
	    -1);
	assert_contains(err, "not a local domain");
	buf_free(&out);
}

/* RFC 2195's example: "tanstaaftanstaaf" answers this challenge. */
#define CRAM_CHALLENGE "<1896.697170952@postoffice.reston.mci.net>"
#define CRAM_DIGEST "b913a602c7eda7a495b4e6e7334d3890"

static void
legacy_auth_stored_and_dropped(void **state)
{
	struct fixture *fx = *state;
	unsigned char st[DIR_CRAM_STATE_LEN];
	struct account acct;
	struct buf show = BUF_INIT;
	char err[256], *text;

	put_standard_tables(fx);
	assert_int_equal(directory_cram_md5(fx->d, "alice@a.test", st, &acct),
			 DIR_NOT_FOUND);
	assert_int_equal(directory_account_legacy_auth(fx->d, "alice@a.test",
						       "tanstaaftanstaaf", NULL,
						       err, sizeof(err)),
			 0);
	assert_int_equal(directory_cram_md5(fx->d, "ALICE@a.test", st, &acct),
			 DIR_OK);
	assert_string_equal(acct.address, "alice@a.test");
	account_free(&acct);
	assert_true(sasl_cram_md5_verify(st, CRAM_CHALLENGE, CRAM_DIGEST));
	/* The bare local part works as in directory_authenticate. */
	assert_int_equal(directory_cram_md5(fx->d, "alice", st, &acct),
			 DIR_OK);
	account_free(&acct);

	/* Other options survive; show hides the value. */
	text = read_table(fx, "accounts");
	assert_non_null(strstr(text, "bob@b.test:"));
	assert_non_null(strstr(text, ":cram_md5="));
	free(text);
	assert_int_equal(directory_account_show(fx->d, "alice@a.test", &show,
						err, sizeof(err)),
			 0);
	assert_non_null(strstr(buf_cstr(&show), "legacy_auth: yes\n"));
	assert_non_null(strstr(buf_cstr(&show), "cram_md5=(hidden)"));
	buf_free(&show);

	/* The password still works, and passwd drops the stale secret. */
	assert_int_equal(directory_authenticate(fx->d, "alice@a.test",
						"pw-alice", &acct),
			 DIR_OK);
	account_free(&acct);
	assert_int_equal(directory_account_passwd(fx->d, "alice@a.test",
						  "new-pw", err, sizeof(err)),
			 0);
	assert_int_equal(directory_cram_md5(fx->d, "alice@a.test", st, &acct),
			 DIR_NOT_FOUND);
	text = read_table(fx, "accounts");
	assert_null(strstr(text, "cram_md5"));
	free(text);
}

static void
legacy_auth_keeps_other_options(void **state)
{
	struct fixture *fx = *state;
	struct account acct;
	char err[256], *text;

	put_standard_tables(fx);
	assert_int_equal(directory_account_legacy_auth(fx->d, "bob@b.test",
						       "secret", NULL, err,
						       sizeof(err)),
			 0);
	assert_int_equal(directory_account_legacy_auth(fx->d, "bob@b.test",
						       "secret2", NULL, err,
						       sizeof(err)),
			 0);
	text = read_table(fx, "accounts");
	assert_non_null(strstr(text, ":imap=no,cram_md5="));
	/* Set twice, stored once. */
	assert_null(strstr(strstr(text, "cram_md5=") + 1, "cram_md5="));
	free(text);
	assert_int_equal(directory_get_account(fx->d, "bob@b.test", &acct),
			 DIR_OK);
	assert_false(acct.imap_enabled);
	account_free(&acct);
	assert_int_equal(directory_account_legacy_auth(fx->d, "nobody@a.test",
						       "secret", NULL, err,
						       sizeof(err)),
			 -1);
}

static void
legacy_auth_apop_sealed(void **state)
{
	struct fixture *fx = *state;
	struct site_key key, other;
	struct account acct;
	struct buf show = BUF_INIT;
	unsigned char pw[64];
	char err[256], *text, *sealed;

	memset(key.key, 3, sizeof(key.key));
	memset(other.key, 4, sizeof(other.key));
	put_standard_tables(fx);
	assert_int_equal(directory_apop_secret(fx->d, "alice@a.test", &sealed,
					       &acct),
			 DIR_NOT_FOUND);
	assert_null(sealed);
	assert_int_equal(directory_account_legacy_auth(fx->d, "ALICE@a.test",
						       "tanstaaf", &key, err,
						       sizeof(err)),
			 0);
	text = read_table(fx, "accounts");
	assert_non_null(strstr(text, ",apop="));
	assert_null(strstr(text, "tanstaaf"));
	free(text);

	/* The bare local part finds it; the folded address opens it. */
	assert_int_equal(directory_apop_secret(fx->d, "alice", &sealed, &acct),
			 DIR_OK);
	assert_string_equal(acct.address, "alice@a.test");
	assert_int_equal(site_key_open(&key, acct.address, sealed,
				       strlen(sealed), pw, sizeof(pw)),
			 8);
	assert_memory_equal(pw, "tanstaaf", 8);
	assert_int_equal(site_key_open(&other, acct.address, sealed,
				       strlen(sealed), pw, sizeof(pw)),
			 -1);
	free(sealed);
	account_free(&acct);

	assert_int_equal(directory_account_show(fx->d, "alice@a.test", &show,
						err, sizeof(err)),
			 0);
	assert_non_null(strstr(buf_cstr(&show), "cram_md5_secret: yes\n"));
	assert_non_null(strstr(buf_cstr(&show), "apop_secret: yes\n"));
	assert_non_null(strstr(buf_cstr(&show), "apop=(hidden)"));
	buf_free(&show);

	/* Without a site key the old APOP secret goes, CRAM-MD5 stays. */
	assert_int_equal(directory_account_legacy_auth(fx->d, "alice@a.test",
						       "tanstaaf", NULL, err,
						       sizeof(err)),
			 0);
	assert_int_equal(directory_apop_secret(fx->d, "alice@a.test", &sealed,
					       &acct),
			 DIR_NOT_FOUND);
	assert_int_equal(directory_account_show(fx->d, "alice@a.test", &show,
						err, sizeof(err)),
			 0);
	assert_non_null(strstr(buf_cstr(&show), "cram_md5_secret: yes\n"));
	assert_non_null(strstr(buf_cstr(&show), "apop_secret: no\n"));
	buf_free(&show);

	/* passwd drops both secrets. */
	assert_int_equal(directory_account_legacy_auth(fx->d, "alice@a.test",
						       "tanstaaf", &key, err,
						       sizeof(err)),
			 0);
	assert_int_equal(directory_account_passwd(fx->d, "alice@a.test",
						  "new-pw", err, sizeof(err)),
			 0);
	text = read_table(fx, "accounts");
	assert_null(strstr(text, "apop"));
	assert_null(strstr(text, "cram_md5"));
	free(text);
}

static void
legacy_auth_bad_apop_ignored(void **state)
{
	struct fixture *fx = *state;
	struct account acct;
	char *sealed, *log;
	char *accounts = xasprintf("alice@a.test:%s:apop=short\n"
				   "bob@a.test:%s:apop=%s\n",
				   hash_alice, hash_bob,
				   "AAAA*AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");

	put_table(fx, "domains", "a.test\n");
	put_table(fx, "accounts", accounts);
	free(accounts);
	capture_begin();
	assert_int_equal(directory_apop_secret(fx->d, "alice@a.test", &sealed,
					       &acct),
			 DIR_NOT_FOUND);
	log = capture_end();
	assert_non_null(strstr(log, "accounts:1: invalid apop option"));
	assert_non_null(strstr(log, "accounts:2: invalid apop option"));
	free(log);
	assert_int_equal(directory_apop_secret(fx->d, "bob@a.test", &sealed,
					       &acct),
			 DIR_NOT_FOUND);
	/* The password hash still works. */
	assert_int_equal(directory_get_account(fx->d, "bob@a.test", &acct),
			 DIR_OK);
	account_free(&acct);
}

static void
legacy_auth_bad_option_ignored(void **state)
{
	struct fixture *fx = *state;
	unsigned char st[DIR_CRAM_STATE_LEN];
	struct account acct;
	char *accounts = xasprintf("alice@a.test:%s:cram_md5=abc\n"
				   "bob@a.test:%s:cram_md5=%064d\n",
				   hash_alice, hash_bob, 0);

	put_table(fx, "domains", "a.test\n");
	put_table(fx, "accounts", accounts);
	free(accounts);
	capture_begin();
	assert_int_equal(directory_cram_md5(fx->d, "alice@a.test", st, &acct),
			 DIR_NOT_FOUND);
	free(capture_end());
	assert_int_equal(directory_cram_md5(fx->d, "bob@a.test", st, &acct),
			 DIR_OK);
	account_free(&acct);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(domain_check_accepts_valid),
	    cmocka_unit_test(domain_check_rejects_invalid),
	    cmocka_unit_test(address_check_accepts_valid),
	    cmocka_unit_test(address_check_rejects_invalid),
	    cmocka_unit_test(account_address_rejects_slash),
	    T(resolve_account_and_case),
	    T(resolve_aliases_dedupe_and_forward),
	    T(resolve_loops_terminate),
	    T(resolve_depth_limit_ten),
	    T(resolve_account_beats_alias),
	    T(resolve_dangling_target_skipped),
	    T(get_account_fills_fields),
	    T(authenticate_full_address),
	    T(authenticate_bare_local_part),
	    T(reload_after_rename),
	    T(reload_after_in_place_write),
	    T(missing_tables_are_empty),
	    T(unreadable_table_tempfails),
	    T(unreadable_table_keeps_copy),
	    T(corrupt_lines_skipped_with_warning),
	    T(edit_domain_add_and_del),
	    T(edit_domain_del_refuses_used),
	    T(edit_account_add_checks),
	    T(edit_account_add_creates_maildir),
	    T(edit_account_passwd_and_del),
	    T(edit_alias_add_checks),
	    T(edit_alias_del_targets),
	    T(edit_keeps_comments_and_bad_lines),
	    T(edit_concurrent_writers_all_kept),
	    T(account_list_and_show),
	    T(legacy_auth_stored_and_dropped),
	    T(legacy_auth_keeps_other_options),
	    T(legacy_auth_bad_option_ignored),
	    T(legacy_auth_apop_sealed),
	    T(legacy_auth_bad_apop_ignored),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
