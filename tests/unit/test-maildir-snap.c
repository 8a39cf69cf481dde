/*
 * Unit tests for the message arrays that the open mailboxes of one
 * process share (maildir_snap.c) and for the compact message records.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "maildir.h"
#include "maildir_int.h"
#include "maildir_testutil.h"

#define BODY "hello"
#define BASE1 "1000.M1P1Q1.test,S=5"
#define BASE2 "1001.M1P1Q2.test,S=5"

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
open_inbox(const char *root)
{
	struct mailbox *mb = NULL;
	char err[512] = "";

	if (mailbox_open(root, "INBOX", false, &mb, err, sizeof(err)) < 0)
		fail_msg("mailbox_open: %s", err);
	return mb;
}

static void
sync_ok(struct mailbox *mb, struct mailbox_changes *ch)
{
	char err[512] = "";

	if (mailbox_sync(mb, ch, err, sizeof(err)) < 0)
		fail_msg("mailbox_sync: %s", err);
}

static void
snap_two_opens_share_array(void **state)
{
	const char *root = *state;
	struct mailbox *a, *b;

	assert_int_equal(testutil_put(root, "cur", BASE1 ":2,S", BODY, 1000),
			 0);
	assert_int_equal(testutil_put(root, "cur", BASE2 ":2,", BODY, 2000),
			 0);
	a = open_inbox(root);
	b = open_inbox(root);
	assert_ptr_equal(a->msgs, b->msgs);
	assert_int_equal(maildir_snap_refs(a), 2);
	mailbox_close(b);
	assert_int_equal(maildir_snap_refs(a), 1);
	mailbox_close(a);
}

static void
snap_flag_change_copies_array(void **state)
{
	const char *root = *state;
	struct mailbox_changes ch;
	struct mailbox *a, *b;
	char err[512] = "";

	assert_int_equal(testutil_put(root, "cur", BASE1 ":2,", BODY, 1000),
			 0);
	a = open_inbox(root);
	b = open_inbox(root);
	assert_int_equal(mailbox_set_flags(a, 0, "F", err, sizeof(err)), 0);
	assert_ptr_not_equal(a->msgs, b->msgs);
	assert_int_equal(maildir_snap_refs(a), 1);
	assert_int_equal(maildir_snap_refs(b), 1);
	assert_string_equal(a->msgs[0].flags, "F");
	/* b keeps its view until it syncs, then learns of the change. */
	assert_string_equal(b->msgs[0].flags, "");
	sync_ok(b, &ch);
	assert_int_equal(ch.nflag_changed, 1);
	assert_int_equal(ch.flag_changed[0], 0);
	assert_string_equal(b->msgs[0].flags, "F");
	mailbox_changes_free(&ch);
	/* Both views are equal again, so the next sync shares them. */
	sync_ok(a, NULL);
	assert_ptr_equal(a->msgs, b->msgs);
	assert_int_equal(maildir_snap_refs(a), 2);
	mailbox_close(a);
	mailbox_close(b);
}

static void
snap_expunge_leaves_other_view(void **state)
{
	const char *root = *state;
	struct mailbox_changes ch;
	struct mailbox *a, *b;
	char err[512] = "";
	size_t first = 0;

	assert_int_equal(testutil_put(root, "cur", BASE1 ":2,", BODY, 1000),
			 0);
	assert_int_equal(testutil_put(root, "cur", BASE2 ":2,", BODY, 2000),
			 0);
	a = open_inbox(root);
	b = open_inbox(root);
	assert_int_equal(mailbox_expunge_msgs(a, &first, 1, err, sizeof(err)),
			 0);
	sync_ok(a, &ch);
	assert_int_equal(ch.nexpunged, 1);
	mailbox_changes_free(&ch);
	assert_int_equal(a->count, 1);
	assert_int_equal(b->count, 2);
	assert_int_equal(b->msgs[0].uid, 1);
	sync_ok(b, &ch);
	assert_int_equal(ch.nexpunged, 1);
	assert_int_equal(ch.expunged[0], 0);
	assert_int_equal(b->count, 1);
	assert_int_equal(b->msgs[0].uid, 2);
	mailbox_changes_free(&ch);
	mailbox_close(a);
	mailbox_close(b);
}

static void
snap_recent_stays_with_first_sync(void **state)
{
	const char *root = *state;
	struct mailbox *a, *b;

	a = open_inbox(root);
	b = open_inbox(root);
	assert_int_equal(testutil_put(root, "new", BASE1, BODY, 1000), 0);
	sync_ok(a, NULL);
	sync_ok(b, NULL);
	assert_int_equal(a->count, 1);
	assert_int_equal(b->count, 1);
	assert_true(mailbox_msg_recent(a, 0));
	assert_false(mailbox_msg_recent(b, 0));
	assert_int_equal(mailbox_recent_count(a), 1);
	assert_int_equal(mailbox_recent_count(b), 0);
	assert_false(mailbox_msg_recent(a, 1));
	/* Shared array, separate \Recent. */
	assert_ptr_equal(a->msgs, b->msgs);
	sync_ok(a, NULL);
	assert_true(mailbox_msg_recent(a, 0));
	mailbox_close(a);
	mailbox_close(b);
}

static void
snap_folders_never_share(void **state)
{
	const char *root = *state;
	struct mailbox *a, *b;
	char err[512] = "";

	assert_int_equal(maildir_folder_create(root, "Other", err,
					       sizeof(err)),
			 0);
	a = open_inbox(root);
	if (mailbox_open(root, "Other", false, &b, err, sizeof(err)) < 0)
		fail_msg("mailbox_open: %s", err);
	assert_int_equal(maildir_snap_refs(a), 1);
	assert_int_equal(maildir_snap_refs(b), 1);
	mailbox_close(a);
	mailbox_close(b);
}

/* Records keep the file name's suffix as it is and the flags in order. */
static void
record_normalizes_flags(void **state)
{
	static const struct {
		const char *suffix;
		const char *flags;
	} cases[] = {
		{"", ""},
		{":2,", ""},
		{":2,S", "S"},
		{":2,SF", "FS"},
		{":2,aFS", "FSa"},
		{":2,S,x", "Sx"},
		{":1,foo", ""},
	};
	(void)state;

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct maildir_msg m = {0};

		maildir_msg_set_name(&m, "base,S=5xyz", 8, cases[k].suffix);
		assert_string_equal(m.base, "base,S=5");
		assert_string_equal(maildir_msg_suffix(&m), cases[k].suffix);
		assert_string_equal(m.flags, cases[k].flags);
		/* Renaming onto itself reads from the old allocation. */
		maildir_msg_set_name(&m, m.base, strlen(m.base), ":2,T");
		assert_string_equal(m.base, "base,S=5");
		assert_string_equal(m.flags, "T");
		free(m.base);
	}
}

static void
record_path_is_relative(void **state)
{
	const char *root = *state;
	struct mailbox *mb;
	char path[64];

	assert_int_equal(testutil_put(root, "cur", BASE1 ":2,S", BODY, 1000),
			 0);
	mb = open_inbox(root);
	assert_true(mailbox_msg_path(mb, 0, path, sizeof(path)));
	assert_string_equal(path, "cur/" BASE1 ":2,S");
	assert_false(mailbox_msg_path(mb, 0, path, 8));
	assert_false(mailbox_msg_path(mb, 1, path, sizeof(path)));
	mailbox_close(mb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_root, teardown_root)
		T(snap_two_opens_share_array),
		T(snap_flag_change_copies_array),
		T(snap_expunge_leaves_other_view),
		T(snap_recent_stays_with_first_sync),
		T(snap_folders_never_share),
		cmocka_unit_test(record_normalizes_flags),
		T(record_path_is_relative),
#undef T
	};

	log_open("test-maildir-snap", true);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
