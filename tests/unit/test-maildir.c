#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "log.h"
#include "maildir.h"
#include "maildir_testutil.h"

#define BODY "hello"
#define BASE1 "1000.M1P1Q1.test,S=5"
#define BASE2 "1001.M1P1Q2.test,S=5"
#define BASE3 "1002.M1P1Q3.test,S=5"

static int
setup_root(void **state)
{
	*state = testutil_root();
	return *state == NULL ? -1 : 0;
}

static int
teardown_root(void **state)
{
	testutil_root_free(*state);
	return 0;
}

static struct mailbox *
open_inbox(const char *root, bool readonly)
{
	struct mailbox *mb = NULL;
	char err[512] = "";

	if (mailbox_open(root, "INBOX", readonly, &mb, err, sizeof(err)) < 0)
		fail_msg("mailbox_open: %s", err);
	return mb;
}

/* Returns message i's relative path (a static buffer). */
static const char *
msg_path(const struct mailbox *mb, size_t i)
{
	static char path[1024];

	assert_true(mailbox_msg_path(mb, i, path, sizeof(path)));
	return path;
}

static void
uids_follow_arrival_order(void **state)
{
	const char *root = *state;
	struct mailbox *mb;

	/* Names sort the other way round from arrival (mtime). */
	assert_int_equal(testutil_put(root, "new", BASE3, BODY, 1000), 0);
	assert_int_equal(testutil_put(root, "new", BASE2, BODY, 2000), 0);
	assert_int_equal(testutil_put(root, "new", BASE1, BODY, 3000), 0);
	mb = open_inbox(root, false);
	assert_int_equal(mb->count, 3);
	assert_string_equal(mb->msgs[0].base, BASE3);
	assert_string_equal(mb->msgs[1].base, BASE2);
	assert_string_equal(mb->msgs[2].base, BASE1);
	assert_int_equal(mb->msgs[0].uid, 1);
	assert_int_equal(mb->msgs[1].uid, 2);
	assert_int_equal(mb->msgs[2].uid, 3);
	assert_int_equal(mb->uidnext, 4);
	assert_true(mb->uidvalidity > 0);
	assert_true(mailbox_msg_recent(mb, 0));
	assert_int_equal(mb->msgs[0].size, 5);
	assert_int_equal(mb->msgs[0].internal_date, 1000);
	assert_string_equal(mb->msgs[0].flags, "");
	mailbox_close(mb);
}

static void
writable_open_moves_new_to_cur(void **state)
{
	const char *root = *state;
	struct mailbox *mb;

	assert_int_equal(testutil_put(root, "new", BASE1, BODY, 0), 0);
	mb = open_inbox(root, true);
	assert_string_equal(msg_path(mb, 0), "new/" BASE1);
	mailbox_close(mb);
	assert_true(testutil_exists(root, "new/" BASE1));

	mb = open_inbox(root, false);
	assert_string_equal(msg_path(mb, 0), "cur/" BASE1 ":2,");
	assert_int_equal(mb->msgs[0].uid, 1);
	mailbox_close(mb);
	assert_false(testutil_exists(root, "new/" BASE1));
	assert_true(testutil_exists(root, "cur/" BASE1 ":2,"));
}

static void
uids_persist_across_opens(void **state)
{
	const char *root = *state;
	struct mailbox *a, *b;

	assert_int_equal(testutil_put(root, "new", BASE1, BODY, 1000), 0);
	assert_int_equal(testutil_put(root, "cur", BASE2 ":2,S", BODY, 2000),
			 0);
	a = open_inbox(root, false);
	b = open_inbox(root, false);
	assert_int_equal(a->uidvalidity, b->uidvalidity);
	assert_int_equal(b->count, 2);
	assert_int_equal(a->msgs[0].uid, b->msgs[0].uid);
	assert_int_equal(a->msgs[1].uid, b->msgs[1].uid);
	assert_string_equal(b->msgs[1].flags, "S");
	assert_false(mailbox_msg_recent(b, 0));
	assert_int_equal(b->msgs[0].internal_date, 1000);
	mailbox_close(a);
	mailbox_close(b);
}

static void
moved_file_keeps_uid(void **state)
{
	const char *root = *state;
	struct mailbox_changes ch;
	struct mailbox *mb;
	char from[4096], to[4096], err[512];

	assert_int_equal(testutil_put(root, "new", BASE1, BODY, 1000), 0);
	assert_int_equal(testutil_put(root, "new", BASE2, BODY, 2000), 0);
	mb = open_inbox(root, true);
	assert_int_equal(mb->msgs[1].uid, 2);

	/* Another program (a MUA) moves and flags the second message. */
	snprintf(from, sizeof(from), "%s/new/%s", root, BASE2);
	snprintf(to, sizeof(to), "%s/cur/%s:2,RS", root, BASE2);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(mailbox_sync(mb, &ch, err, sizeof(err)), 0);
	assert_int_equal(mb->count, 2);
	assert_int_equal(mb->msgs[1].uid, 2);
	assert_string_equal(mb->msgs[1].flags, "RS");
	assert_string_equal(msg_path(mb, 1), "cur/" BASE2 ":2,RS");
	assert_int_equal(ch.nexpunged, 0);
	assert_int_equal(ch.nnew, 0);
	assert_int_equal(ch.nflag_changed, 1);
	assert_int_equal(ch.flag_changed[0], 1);
	mailbox_changes_free(&ch);
	mailbox_close(mb);
}

static void
set_flags_renames_file(void **state)
{
	const char *root = *state;
	struct mailbox *mb;
	char err[512];

	assert_int_equal(testutil_put(root, "new", BASE1, BODY, 1000), 0);
	mb = open_inbox(root, false);
	assert_int_equal(mailbox_set_flags(mb, 0, "SFa", err, sizeof(err)),
			 0);
	assert_string_equal(mb->msgs[0].flags, "FSa");
	assert_string_equal(msg_path(mb, 0), "cur/" BASE1 ":2,FSa");
	assert_true(testutil_exists(root, "cur/" BASE1 ":2,FSa"));
	assert_false(testutil_exists(root, "cur/" BASE1 ":2,"));
	assert_int_equal(mailbox_set_flags(mb, 0, "", err, sizeof(err)), 0);
	assert_true(testutil_exists(root, "cur/" BASE1 ":2,"));
	assert_int_equal(mailbox_set_flags(mb, 0, "S1", err, sizeof(err)),
			 -1);
	assert_int_equal(mailbox_set_flags(mb, 5, "S", err, sizeof(err)),
			 -1);
	mailbox_close(mb);

	mb = open_inbox(root, true);
	assert_int_equal(mailbox_set_flags(mb, 0, "S", err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "read-only"));
	mailbox_close(mb);
}

static void
set_flags_follows_renamed_file(void **state)
{
	const char *root = *state;
	struct mailbox *mb;
	char from[4096], to[4096], err[512];

	assert_int_equal(testutil_put(root, "cur", BASE1 ":2,", BODY, 0), 0);
	mb = open_inbox(root, false);
	snprintf(from, sizeof(from), "%s/cur/%s:2,", root, BASE1);
	snprintf(to, sizeof(to), "%s/cur/%s:2,T", root, BASE1);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(mailbox_set_flags(mb, 0, "S", err, sizeof(err)), 0);
	assert_true(testutil_exists(root, "cur/" BASE1 ":2,S"));
	assert_false(testutil_exists(root, "cur/" BASE1 ":2,T"));
	mailbox_close(mb);
}

static void
expunge_reports_descending(void **state)
{
	const char *root = *state;
	struct mailbox_changes ch;
	struct mailbox *mb;
	size_t gone[] = {1, 3};
	char name[64], err[512];

	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "%d.M1P1Q1.test,S=5", 1000 + i);
		assert_int_equal(testutil_put(root, "new", name, BODY,
					      1000 + i),
				 0);
	}
	mb = open_inbox(root, false);
	assert_int_equal(mb->count, 5);
	assert_int_equal(mailbox_expunge_msgs(mb, gone, 2, err, sizeof(err)),
			 0);
	assert_int_equal(mailbox_sync(mb, &ch, err, sizeof(err)), 0);
	assert_int_equal(ch.nexpunged, 2);
	assert_int_equal(ch.expunged[0], 3);
	assert_int_equal(ch.expunged[1], 1);
	assert_int_equal(mb->count, 3);
	assert_int_equal(mb->msgs[0].uid, 1);
	assert_int_equal(mb->msgs[1].uid, 3);
	assert_int_equal(mb->msgs[2].uid, 5);
	mailbox_changes_free(&ch);
	mailbox_close(mb);
}

static void
expunged_uid_never_reused(void **state)
{
	const char *root = *state;
	struct mailbox_changes ch;
	struct mailbox *mb;
	size_t last = 1;
	char err[512];

	assert_int_equal(testutil_put(root, "new", BASE1, BODY, 1000), 0);
	assert_int_equal(testutil_put(root, "new", BASE2, BODY, 2000), 0);
	mb = open_inbox(root, false);
	assert_int_equal(mailbox_expunge_msgs(mb, &last, 1, err, sizeof(err)),
			 0);
	assert_int_equal(mailbox_sync(mb, NULL, err, sizeof(err)), 0);
	mailbox_close(mb);

	mb = open_inbox(root, false);
	assert_int_equal(mb->count, 1);
	assert_int_equal(mb->uidnext, 3);
	assert_int_equal(testutil_put(root, "new", BASE3, BODY, 3000), 0);
	assert_int_equal(mailbox_sync(mb, &ch, err, sizeof(err)), 0);
	assert_int_equal(ch.nnew, 1);
	assert_int_equal(mb->count, 2);
	assert_int_equal(mb->msgs[1].uid, 3);
	assert_true(mailbox_msg_recent(mb, 1));
	assert_int_equal(mailbox_find_uid(mb, 3), 1);
	assert_int_equal(mailbox_find_uid(mb, 2), -1);
	assert_int_equal(mailbox_find_uid(mb, 1), 0);
	mailbox_changes_free(&ch);
	mailbox_close(mb);
}

static void
append_stores_durable_message(void **state)
{
	const char *root = *state;
	const char msg[] = "Subject: hi\r\n\r\nbody\r\n";
	uint32_t validity = 0, uid = 0;
	struct mailbox *mb;
	char err[512], got[64];
	ssize_t n;
	int fd;

	assert_int_equal(testutil_put(root, "new", BASE1, BODY, 1000), 0);
	assert_int_equal(mailbox_append(root, "inbox", msg, strlen(msg), "SD",
					123456789, &validity, &uid, err,
					sizeof(err)),
			 0);
	assert_int_equal(uid, 2);
	mb = open_inbox(root, false);
	assert_int_equal(validity, mb->uidvalidity);
	assert_int_equal(mb->count, 2);
	assert_int_equal(mb->msgs[1].uid, 2);
	assert_string_equal(mb->msgs[1].flags, "DS");
	assert_int_equal(mb->msgs[1].size, strlen(msg));
	assert_int_equal(mb->msgs[1].internal_date, 123456789);
	fd = mailbox_open_msg(mb, 1, err, sizeof(err));
	assert_true(fd >= 0);
	n = read(fd, got, sizeof(got));
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(msg));
	assert_memory_equal(got, msg, strlen(msg));
	mailbox_close(mb);
}

static void
append_rejects_bad_target(void **state)
{
	const char *root = *state;
	uint32_t validity, uid;
	char err[512] = "";

	assert_int_equal(mailbox_append(root, "Missing", "x", 1, "", 0,
					&validity, &uid, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "does not exist"));
	assert_int_equal(mailbox_append(root, "a..b", "x", 1, "", 0,
					&validity, &uid, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "invalid"));
	assert_int_equal(mailbox_append(root, "INBOX", "x", 1, "S\\", 0,
					&validity, &uid, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "flag"));
}

static void
open_missing_folder_fails(void **state)
{
	const char *root = *state;
	struct mailbox *mb = NULL;
	char err[512] = "";

	assert_int_equal(mailbox_open(root, "Nope", false, &mb, err,
				      sizeof(err)),
			 -1);
	assert_null(mb);
	assert_non_null(strstr(err, "does not exist"));
	assert_int_equal(mailbox_open(root, "../etc", false, &mb, err,
				      sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "invalid"));
}

static void
write_uidlist(const char *root, const char *text, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/hapost-uidlist", root);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
corrupt_uidlist_rebuilt(void **state)
{
	static const struct {
		const char *text;
		size_t len;
	} cases[] = {
		{"", 0},
		{"garbage\n", 8},
		{"V1 100 5\n1 " BASE1, 11 + sizeof(BASE1) - 1},
		{"V1 100 5\n2 " BASE1 "\n1 " BASE2 "\n", 0},
		{"V1 100 3\n7 " BASE1 "\n", 0},
		{"V1 100 5\n1 .hidden\n", 0},
		{"V1 0 5\n", 0},
		{"V1 100 5\n1 a\0b\n", 15},
		{"V2 100 5\n", 0},
		{"V1 100 5\n01 " BASE1 "\n", 0},
		{"V1 100 5\n1 " BASE1 " x\n", 0},
		{"V1 100 99999999999\n", 0},
	};
	const char *root = *state;

	assert_int_equal(testutil_put(root, "cur", BASE1 ":2,S", BODY, 1000),
			 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len
					  : strlen(cases[i].text);
		struct mailbox *mb;

		write_uidlist(root, cases[i].text, len);
		mb = open_inbox(root, false);
		assert_int_equal(mb->count, 1);
		assert_int_equal(mb->msgs[0].uid, 1);
		assert_string_equal(mb->msgs[0].flags, "S");
		assert_int_not_equal(mb->uidvalidity, 100);
		mailbox_close(mb);
	}
}

static void
corrupt_uidlist_changes_uidvalidity(void **state)
{
	const char *root = *state;
	struct mailbox *a, *b;
	uint32_t old;
	char err[512];

	assert_int_equal(testutil_put(root, "cur", BASE1 ":2,", BODY, 1000),
			 0);
	a = open_inbox(root, false);
	old = a->uidvalidity;
	write_uidlist(root, "junk", 4);
	b = open_inbox(root, false);
	assert_int_not_equal(b->uidvalidity, old);
	assert_true(b->uidvalidity > old);
	/* The session with the old view must get an error. */
	assert_int_equal(mailbox_sync(a, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "UIDVALIDITY"));
	assert_int_equal(a->uidvalidity, old);
	assert_int_equal(a->count, 1);
	mailbox_close(a);
	mailbox_close(b);
}

static void
uidlist_without_mtime_accepted(void **state)
{
	const char *root = *state;
	struct mailbox *mb;

	assert_int_equal(testutil_put(root, "cur", BASE1 ":2,", BODY, 4242),
			 0);
	write_uidlist(root, "V1 77 9\n8 " BASE1 "\n",
		      strlen("V1 77 9\n8 " BASE1 "\n"));
	mb = open_inbox(root, false);
	assert_int_equal(mb->uidvalidity, 77);
	assert_int_equal(mb->msgs[0].uid, 8);
	assert_int_equal(mb->msgs[0].internal_date, 4242);
	assert_int_equal(mb->uidnext, 9);
	mailbox_close(mb);
}

static void
odd_files_ignored_or_sized(void **state)
{
	const char *root = *state;
	struct mailbox *mb;

	assert_int_equal(testutil_put(root, "cur", ".hidden", BODY, 0), 0);
	assert_int_equal(testutil_put(root, "cur", "with space", BODY, 0), 0);
	assert_int_equal(testutil_put(root, "new", "nosize", "123456789", 0),
			 0);
	/* One BASE in new/ and cur/: the cur/ file wins. */
	assert_int_equal(testutil_put(root, "new", BASE1, BODY, 0), 0);
	assert_int_equal(testutil_put(root, "cur", BASE1 ":2,F", BODY, 0), 0);
	mb = open_inbox(root, true);
	assert_int_equal(mb->count, 2);
	for (size_t i = 0; i < mb->count; i++) {
		if (strcmp(mb->msgs[i].base, "nosize") == 0) {
			assert_int_equal(mb->msgs[i].size, 9);
		} else {
			assert_string_equal(mb->msgs[i].base, BASE1);
			assert_string_equal(mb->msgs[i].flags, "F");
		}
	}
	mailbox_close(mb);
}

static void
open_msg_follows_rename(void **state)
{
	const char *root = *state;
	struct mailbox *mb;
	char from[4096], to[4096], err[512];
	int fd;

	assert_int_equal(testutil_put(root, "new", BASE1, BODY, 0), 0);
	mb = open_inbox(root, true);
	snprintf(from, sizeof(from), "%s/new/%s", root, BASE1);
	snprintf(to, sizeof(to), "%s/cur/%s:2,S", root, BASE1);
	assert_int_equal(rename(from, to), 0);
	fd = mailbox_open_msg(mb, 0, err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
	assert_string_equal(msg_path(mb, 0), "cur/" BASE1 ":2,S");
	assert_int_equal(unlink(to), 0);
	assert_int_equal(mailbox_open_msg(mb, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "expunged"));
	assert_int_equal(mailbox_open_msg(mb, 9, err, sizeof(err)), -1);
	mailbox_close(mb);
}

static void
keywords_get_letters(void **state)
{
	const char *root = *state;
	struct mailbox *mb;
	char name[32];

	mb = open_inbox(root, false);
	assert_int_equal(mailbox_keyword_letter(mb, "$Junk", false), 0);
	assert_int_equal(mailbox_keyword_letter(mb, "$Junk", true), 'a');
	assert_int_equal(mailbox_keyword_letter(mb, "Work", true), 'b');
	assert_int_equal(mailbox_keyword_letter(mb, "$junk", true), 'a');
	assert_int_equal(mailbox_keyword_letter(mb, "", true), 0);
	assert_int_equal(mailbox_keyword_letter(mb, "two words", true), 0);
	assert_int_equal(mailbox_keyword_letter(mb, "\\Seen", true), 0);
	assert_int_equal(mailbox_keyword_letter(mb, "a(b", true), 0);
	assert_int_equal(mailbox_keyword_letter(mb, "caf\xc3\xa9", true), 0);
	for (int i = 0; i < 24; i++) {
		snprintf(name, sizeof(name), "kw%d", i);
		assert_int_equal(mailbox_keyword_letter(mb, name, true),
				 'c' + i);
	}
	assert_int_equal(mailbox_keyword_letter(mb, "one-too-many", true), 0);
	mailbox_close(mb);

	mb = open_inbox(root, true);
	assert_string_equal(mb->keywords[0], "$Junk");
	assert_string_equal(mb->keywords[1], "Work");
	assert_int_equal(mailbox_keyword_letter(mb, "WORK", false), 'b');
	mailbox_close(mb);
}

static void
copy_keeps_flags_and_keywords(void **state)
{
	const char *root = *state;
	struct mailbox *mb, *dst;
	uint32_t validity = 0, uids[2] = {0, 0};
	size_t idx[2] = {0, 1};
	char err[512];

	assert_int_equal(testutil_put(root, "new", BASE1, BODY, 1000), 0);
	assert_int_equal(testutil_put(root, "new", BASE2, BODY, 2000), 0);
	assert_int_equal(maildir_folder_create(root, "Copy", err, sizeof(err)),
			 0);
	mb = open_inbox(root, false);
	assert_int_equal(mailbox_keyword_letter(mb, "first", true), 'a');
	assert_int_equal(mailbox_keyword_letter(mb, "second", true), 'b');
	assert_int_equal(mailbox_set_flags(mb, 0, "Sb", err, sizeof(err)), 0);
	assert_int_equal(mailbox_copy_msgs(mb, idx, 2, "Copy", &validity, uids,
					   err, sizeof(err)),
			 0);
	assert_int_equal(uids[0], 1);
	assert_int_equal(uids[1], 2);
	assert_int_equal(mailbox_copy_msgs(mb, idx, 1, "Nope", &validity, uids,
					   err, sizeof(err)),
			 -1);
	mailbox_close(mb);

	assert_int_equal(mailbox_open(root, "Copy", true, &dst, err,
				      sizeof(err)),
			 0);
	assert_int_equal(dst->uidvalidity, validity);
	assert_int_equal(dst->count, 2);
	assert_string_equal(dst->keywords[0], "second");
	assert_string_equal(dst->msgs[0].flags, "Sa");
	assert_string_equal(dst->msgs[1].flags, "");
	assert_int_equal(dst->msgs[0].internal_date, 1000);
	assert_int_equal(dst->msgs[0].size, 5);
	mailbox_close(dst);
}

static void
pop3_lock_excludes_second(void **state)
{
	const char *root = *state;
	char err[512];
	int a, b;

	a = maildir_pop3_lock(root, err, sizeof(err));
	assert_true(a >= 0);
	b = maildir_pop3_lock(root, err, sizeof(err));
	assert_int_equal(b, -2);
	close(a);
	b = maildir_pop3_lock(root, err, sizeof(err));
	assert_true(b >= 0);
	close(b);
}

/*
 * Runs in a child: delivers count messages tagged with tag into new/,
 * syncing a long-lived mailbox after each, and checks that no UID seen
 * for a BASE ever changes. Exits 0 when all held.
 */
static void
concurrent_child(const char *root, int tag, int count)
{
	struct mailbox *mb;
	uint32_t *seen = calloc((size_t)count, sizeof(*seen));
	char err[512], name[128];

	if (mailbox_open(root, "INBOX", false, &mb, err, sizeof(err)) < 0)
		_exit(2);
	for (int i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "%d.M%dP%dQ%d.test,S=5", 5000 + i,
			 tag, tag, i);
		if (testutil_put(root, "new", name, BODY, 0) < 0)
			_exit(3);
		if (mailbox_sync(mb, NULL, err, sizeof(err)) < 0)
			_exit(4);
		for (size_t k = 0; k < mb->count; k++) {
			int q, t;

			if (sscanf(mb->msgs[k].base, "%*d.M%dP%*dQ%d", &t,
				   &q) != 2 ||
			    t != tag)
				continue;
			if (seen[q] == 0)
				seen[q] = mb->msgs[k].uid;
			else if (seen[q] != mb->msgs[k].uid)
				_exit(5);
		}
		if (i % 10 == 0 && mailbox_set_flags(mb, mb->count - 1, "S",
						     err, sizeof(err)) < 0)
			_exit(6);
	}
	mailbox_close(mb);
	_exit(0);
}

static void
concurrent_sync_keeps_uids(void **state)
{
	const char *root = *state;
	const int per_child = 150;
	struct mailbox *mb;
	pid_t pids[2];

	for (int c = 0; c < 2; c++) {
		pids[c] = fork();
		assert_true(pids[c] >= 0);
		if (pids[c] == 0)
			concurrent_child(root, c + 1, per_child);
	}
	for (int c = 0; c < 2; c++) {
		int status = -1;

		assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	mb = open_inbox(root, false);
	assert_int_equal(mb->count, 2 * per_child);
	assert_int_equal(mb->uidnext, 2 * per_child + 1);
	for (size_t i = 0; i < mb->count; i++)
		assert_int_equal(mb->msgs[i].uid, i + 1);
	mailbox_close(mb);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void
large_folder_opens_whole(void **state)
{
	const char *root = *state;
	const int count = 10000;
	struct mailbox *mb;
	char name[128];
	double t0, ms;

	for (int i = 0; i < count; i++) {
		snprintf(name, sizeof(name),
			 "%d.M%06dP1Q%d.host.example.org,S=5:2,S", 1000000 + i,
			 i, i);
		assert_int_equal(testutil_put(root, "cur", name, BODY, 0), 0);
	}
	mb = open_inbox(root, false);
	assert_int_equal(mb->count, (size_t)count);
	mailbox_close(mb);

	t0 = now_ms();
	mb = open_inbox(root, false);
	ms = now_ms() - t0;
	print_message("open of %d messages took %.1f ms\n", count, ms);
	assert_int_equal(mb->count, (size_t)count);
	assert_int_equal(mb->msgs[count - 1].uid, (uint32_t)count);
	mailbox_close(mb);
	/* The time is printed, not asserted: speed belongs to make bench,
	 * where it is compared with a reference run. */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_root, teardown_root)
		T(uids_follow_arrival_order),
		T(writable_open_moves_new_to_cur),
		T(uids_persist_across_opens),
		T(moved_file_keeps_uid),
		T(set_flags_renames_file),
		T(set_flags_follows_renamed_file),
		T(expunge_reports_descending),
		T(expunged_uid_never_reused),
		T(append_stores_durable_message),
		T(append_rejects_bad_target),
		T(open_missing_folder_fails),
		T(corrupt_uidlist_rebuilt),
		T(corrupt_uidlist_changes_uidvalidity),
		T(uidlist_without_mtime_accepted),
		T(odd_files_ignored_or_sized),
		T(open_msg_follows_rename),
		T(keywords_get_letters),
		T(copy_keeps_flags_and_keywords),
		T(pop3_lock_excludes_second),
		T(concurrent_sync_keeps_uids),
		T(large_folder_opens_whole),
#undef T
	};

	log_open("test-maildir", true);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
