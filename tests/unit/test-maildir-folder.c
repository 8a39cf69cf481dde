#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "maildir.h"
#include "maildir_testutil.h"

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

static void
folder_names_validated(void **state)
{
	static const struct {
		const char *name;
		bool valid;
	} cases[] = {
		{"Sent", true},
		{"Archive.2024", true},
		{"a.b.c.d", true},
		{"&AOQ-rger", true},	    /* U+00E4 */
		{"Entw&APw-rfe", true},	    /* U+00FC */
		{"a&-b", true},		    /* a literal '&' */
		{"&2D3eAA-", true},	    /* U+1F600, a surrogate pair */
		{"Inbox2", true},
		{"with space", true},
		{"", false},
		{".", false},
		{".a", false},
		{"a.", false},
		{"a..b", false},
		{"..", false},
		{"../x", false},
		{"a/b", false},
		{"/abs", false},
		{"a*", false},
		{"a%b", false},
		{"tab\there", false},
		{"nl\n", false},
		{"del\x7f", false},
		{"caf\xc3\xa9", false},	    /* raw UTF-8, not mUTF-7 */
		{"&", false},		    /* unterminated shift */
		{"&AOQ", false},	    /* unterminated shift */
		{"&AGE-", false},	    /* encodes ASCII 'a' */
		{"&AOQ=-", false},	    /* '=' is not modified BASE64 */
		{"&AOR-", false},	    /* nonzero padding bits */
		{"&2D0-", false},	    /* a lone high surrogate */
		{"&3gA-", false},	    /* a lone low surrogate */
		{"INBOX.child", false},
		{"inbox.child", false},
	};
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *dir = maildir_folder_dir("/r", cases[i].name);

		if (cases[i].valid) {
			if (dir == NULL)
				fail_msg("\"%s\" should be valid",
					 cases[i].name);
		} else if (dir != NULL) {
			fail_msg("\"%s\" should be invalid", cases[i].name);
		}
		free(dir);
	}
	/* A rejected create reports the reason. */
	assert_int_equal(maildir_folder_create("/nonexistent", "a..b", err,
					       sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "empty part"));
}

static void
folder_dir_maps_names(void **state)
{
	char *dir;
	char longname[300];

	dir = maildir_folder_dir("/m", "INBOX");
	assert_string_equal(dir, "/m");
	free(dir);
	dir = maildir_folder_dir("/m", "iNbOx");
	assert_string_equal(dir, "/m");
	free(dir);
	dir = maildir_folder_dir("/m", "Archive.2024");
	assert_string_equal(dir, "/m/.Archive.2024");
	free(dir);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_null(maildir_folder_dir("/m", longname));
	longname[240] = '\0';
	dir = maildir_folder_dir("/m", longname);
	assert_non_null(dir);
	free(dir);
}

static void
folder_create_and_list(void **state)
{
	const char *root = *state;
	char **names;
	size_t n;
	char err[512] = "";

	assert_int_equal(maildir_folder_create(root, "Sent", err, sizeof(err)),
			 0);
	assert_int_equal(maildir_folder_create(root, "Archive.2024", err,
					       sizeof(err)),
			 0);
	assert_int_equal(maildir_folder_create(root, "&AOQ-rger", err,
					       sizeof(err)),
			 0);
	assert_true(testutil_exists(root, ".Sent/maildirfolder"));
	assert_true(testutil_exists(root, ".Sent/cur"));
	assert_true(testutil_exists(root, ".Sent/new"));
	assert_true(testutil_exists(root, ".Sent/tmp"));
	assert_true(testutil_exists(root, ".Sent/hapost-uidlist"));

	assert_int_equal(maildir_folder_create(root, "Sent", err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "already exists"));
	assert_int_equal(maildir_folder_create(root, "inbox", err,
					       sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "already exists"));

	assert_int_equal(maildir_folder_list(root, &names, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(names[0], "INBOX");
	assert_string_equal(names[1], "&AOQ-rger");
	assert_string_equal(names[2], "Archive.2024");
	assert_string_equal(names[3], "Sent");
	testutil_free_list(names, n);
}

static void
folder_create_makes_missing_root(void **state)
{
	const char *root = *state;
	char sub[4096], err[512];
	char **names;
	size_t n;

	snprintf(sub, sizeof(sub), "%s/fresh/user", root);
	assert_int_equal(maildir_folder_create(sub, "Drafts", err,
					       sizeof(err)),
			 0);
	assert_int_equal(maildir_folder_list(sub, &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[1], "Drafts");
	testutil_free_list(names, n);
}

static void
folder_delete_rules(void **state)
{
	const char *root = *state;
	char **names;
	size_t n;
	char err[512] = "";

	assert_int_equal(maildir_folder_create(root, "Trash", err,
					       sizeof(err)),
			 0);
	assert_int_equal(maildir_folder_delete(root, "INBOX", err,
					       sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "INBOX"));
	assert_int_equal(maildir_folder_delete(root, "Missing", err,
					       sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "does not exist"));
	assert_int_equal(maildir_folder_delete(root, "..", err, sizeof(err)),
			 -1);
	assert_int_equal(testutil_put(root, ".Trash/cur", "1.x,S=1:2,S", "x",
				      0),
			 0);
	assert_int_equal(maildir_folder_delete(root, "Trash", err,
					       sizeof(err)),
			 0);
	assert_false(testutil_exists(root, ".Trash"));
	assert_int_equal(maildir_folder_list(root, &names, &n), 0);
	assert_int_equal(n, 1);
	testutil_free_list(names, n);
}

static void
recreated_folder_new_uidvalidity(void **state)
{
	const char *root = *state;
	struct mailbox *mb;
	uint32_t first;
	char err[512];

	assert_int_equal(maildir_folder_create(root, "Box", err, sizeof(err)),
			 0);
	assert_int_equal(mailbox_open(root, "Box", true, &mb, err,
				      sizeof(err)),
			 0);
	first = mb->uidvalidity;
	mailbox_close(mb);
	assert_int_equal(maildir_folder_delete(root, "Box", err, sizeof(err)),
			 0);
	assert_int_equal(maildir_folder_create(root, "Box", err, sizeof(err)),
			 0);
	assert_int_equal(mailbox_open(root, "Box", true, &mb, err,
				      sizeof(err)),
			 0);
	assert_true(mb->uidvalidity > first);
	mailbox_close(mb);
}

static void
folder_rename_moves_children(void **state)
{
	const char *root = *state;
	struct mailbox *mb;
	uint32_t validity, uid, old_validity;
	char **names;
	size_t n;
	char err[512] = "";

	assert_int_equal(maildir_folder_create(root, "Work", err, sizeof(err)),
			 0);
	assert_int_equal(maildir_folder_create(root, "Work.2024", err,
					       sizeof(err)),
			 0);
	assert_int_equal(maildir_folder_create(root, "Workshop", err,
					       sizeof(err)),
			 0);
	assert_int_equal(mailbox_append(root, "Work.2024", "x", 1, "S", 0,
					&validity, &uid, err, sizeof(err)),
			 0);
	old_validity = validity;

	assert_int_equal(maildir_folder_rename(root, "Work", "Old", err,
					       sizeof(err)),
			 0);
	assert_int_equal(maildir_folder_list(root, &names, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(names[1], "Old");
	assert_string_equal(names[2], "Old.2024");
	assert_string_equal(names[3], "Workshop");
	testutil_free_list(names, n);

	assert_int_equal(mailbox_open(root, "Old.2024", true, &mb, err,
				      sizeof(err)),
			 0);
	assert_int_equal(mb->count, 1);
	assert_int_equal(mb->msgs[0].uid, uid);
	assert_true(mb->uidvalidity > old_validity);
	mailbox_close(mb);
}

static void
folder_rename_rejects_bad_pairs(void **state)
{
	const char *root = *state;
	char err[512] = "";

	assert_int_equal(maildir_folder_create(root, "A", err, sizeof(err)),
			 0);
	assert_int_equal(maildir_folder_create(root, "B", err, sizeof(err)),
			 0);
	assert_int_equal(maildir_folder_create(root, "A.x", err, sizeof(err)),
			 0);
	assert_int_equal(maildir_folder_create(root, "C.x", err, sizeof(err)),
			 0);
	assert_int_equal(maildir_folder_rename(root, "A", "B", err,
					       sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "already exists"));
	/* A's child would land on the existing C.x: nothing moves. */
	assert_int_equal(maildir_folder_rename(root, "A", "C", err,
					       sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "C.x"));
	assert_true(testutil_exists(root, ".A"));
	assert_false(testutil_exists(root, ".C"));
	assert_int_equal(maildir_folder_rename(root, "INBOX", "Z", err,
					       sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "INBOX"));
	assert_int_equal(maildir_folder_rename(root, "A", "inbox", err,
					       sizeof(err)),
			 -1);
	assert_int_equal(maildir_folder_rename(root, "Nope", "Z", err,
					       sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "does not exist"));
	assert_int_equal(maildir_folder_rename(root, "A", "../Z", err,
					       sizeof(err)),
			 -1);
	assert_int_equal(maildir_folder_rename(root, "A", "A", err,
					       sizeof(err)),
			 -1);
}

static void
subscriptions_add_and_remove(void **state)
{
	const char *root = *state;
	char **names;
	size_t n;
	char err[512] = "";

	assert_int_equal(maildir_subscriptions(root, &names, &n), 0);
	assert_int_equal(n, 0);
	free(names);
	assert_int_equal(maildir_subscribe(root, "Sent", true, err,
					   sizeof(err)),
			 0);
	assert_int_equal(maildir_subscribe(root, "inbox", true, err,
					   sizeof(err)),
			 0);
	assert_int_equal(maildir_subscribe(root, "Sent", true, err,
					   sizeof(err)),
			 0);
	assert_int_equal(maildir_subscribe(root, "Not.There", true, err,
					   sizeof(err)),
			 0);
	assert_int_equal(maildir_subscribe(root, "a..b", true, err,
					   sizeof(err)),
			 -1);
	assert_int_equal(maildir_subscriptions(root, &names, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(names[0], "Sent");
	assert_string_equal(names[1], "INBOX");
	assert_string_equal(names[2], "Not.There");
	testutil_free_list(names, n);

	assert_int_equal(maildir_subscribe(root, "Sent", false, err,
					   sizeof(err)),
			 0);
	assert_int_equal(maildir_subscribe(root, "Never", false, err,
					   sizeof(err)),
			 0);
	assert_int_equal(maildir_subscriptions(root, &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "INBOX");
	assert_string_equal(names[1], "Not.There");
	testutil_free_list(names, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_root, teardown_root)
		cmocka_unit_test(folder_names_validated),
		cmocka_unit_test(folder_dir_maps_names),
		T(folder_create_and_list),
		T(folder_create_makes_missing_root),
		T(folder_delete_rules),
		T(recreated_folder_new_uidvalidity),
		T(folder_rename_moves_children),
		T(folder_rename_rejects_bad_pairs),
		T(subscriptions_add_and_remove),
#undef T
	};

	log_open("test-maildir-folder", true);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
