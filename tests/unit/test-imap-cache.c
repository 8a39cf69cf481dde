/*
 * Unit tests for the worker's cache of FETCH response data (imap_cache.c).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "imap/imap_cache.h"

static int
reset(void **state)
{
	(void)state;
	imap_cache_set_budget(0);
	imap_cache_set_budget(1 << 20);
	return 0;
}

static struct imap_cache_folder_ref
folder(const char *dir, uint32_t uidvalidity)
{
	struct imap_cache_folder_ref f;

	imap_cache_folder_init(&f, dir, uidvalidity);
	return f;
}

static void
assert_cached(const struct imap_cache_folder_ref *f, uint32_t uid,
	      enum imap_cache_kind kind, const char *want)
{
	size_t len = 0;
	const char *got = imap_cache_get(f, uid, kind, &len);

	assert_non_null(got);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(got, want, len);
}

static void
assert_missing(const struct imap_cache_folder_ref *f, uint32_t uid,
	       enum imap_cache_kind kind)
{
	size_t len = 0;

	assert_null(imap_cache_get(f, uid, kind, &len));
}

static void
cache_returns_stored_bytes(void **state)
{
	struct imap_cache_folder_ref f = folder("/m/a", 7);
	static const char env[] = "(NIL \"x\\0y\" NIL)";

	imap_cache_put(&f, 1, IMAP_CACHE_ENVELOPE, env, sizeof(env));
	{
		size_t len = 0;
		const char *got = imap_cache_get(&f, 1, IMAP_CACHE_ENVELOPE,
						 &len);

		assert_non_null(got);
		assert_int_equal(len, sizeof(env));
		assert_memory_equal(got, env, sizeof(env));
	}
	assert_int_equal(imap_cache_entries(), 1);
	assert_true(imap_cache_bytes() > sizeof(env));
}

static void
cache_keys_folder_uid_kind(void **state)
{
	struct imap_cache_folder_ref a = folder("/m/a", 7);
	struct imap_cache_folder_ref b = folder("/m/b", 7);
	struct imap_cache_folder_ref prefix = folder("/m/", 7);

	imap_cache_put(&a, 1, IMAP_CACHE_ENVELOPE, "A1E", 3);
	imap_cache_put(&a, 1, IMAP_CACHE_BODYSTRUCTURE, "A1S", 3);
	imap_cache_put(&b, 1, IMAP_CACHE_ENVELOPE, "B1E", 3);
	assert_cached(&a, 1, IMAP_CACHE_ENVELOPE, "A1E");
	assert_cached(&a, 1, IMAP_CACHE_BODYSTRUCTURE, "A1S");
	assert_cached(&b, 1, IMAP_CACHE_ENVELOPE, "B1E");
	assert_missing(&a, 1, IMAP_CACHE_BODY);
	assert_missing(&a, 2, IMAP_CACHE_ENVELOPE);
	assert_missing(&b, 1, IMAP_CACHE_BODYSTRUCTURE);
	assert_missing(&prefix, 1, IMAP_CACHE_ENVELOPE);
}

static void
cache_replaces_changed_entry(void **state)
{
	struct imap_cache_folder_ref f = folder("/m/a", 7);

	imap_cache_put(&f, 3, IMAP_CACHE_BODY, "old", 3);
	imap_cache_put(&f, 3, IMAP_CACHE_BODY, "newer", 5);
	assert_cached(&f, 3, IMAP_CACHE_BODY, "newer");
	assert_int_equal(imap_cache_entries(), 1);
}

static void
cache_drops_folder_on_new_uidvalidity(void **state)
{
	struct imap_cache_folder_ref old = folder("/m/a", 7);
	struct imap_cache_folder_ref renewed = folder("/m/a", 8);
	struct imap_cache_folder_ref other = folder("/m/b", 7);

	imap_cache_put(&old, 1, IMAP_CACHE_ENVELOPE, "old1", 4);
	imap_cache_put(&old, 2, IMAP_CACHE_ENVELOPE, "old2", 4);
	imap_cache_put(&other, 1, IMAP_CACHE_ENVELOPE, "other", 5);
	assert_missing(&renewed, 1, IMAP_CACHE_ENVELOPE);
	assert_int_equal(imap_cache_entries(), 1);
	/* The entries under the old UIDVALIDITY are gone for good. */
	assert_missing(&old, 2, IMAP_CACHE_ENVELOPE);
	assert_cached(&other, 1, IMAP_CACHE_ENVELOPE, "other");
	imap_cache_put(&renewed, 1, IMAP_CACHE_ENVELOPE, "new1", 4);
	assert_cached(&renewed, 1, IMAP_CACHE_ENVELOPE, "new1");
	/* A put under the old value drops the new ones in turn. */
	imap_cache_put(&old, 5, IMAP_CACHE_ENVELOPE, "old5", 4);
	assert_missing(&renewed, 1, IMAP_CACHE_ENVELOPE);
}

static void
cache_evicts_least_recently_used(void **state)
{
	struct imap_cache_folder_ref f = folder("/m/a", 7);
	char data[1000];
	uint32_t uid;

	memset(data, 'x', sizeof(data));
	imap_cache_set_budget(16 * 1024);
	for (uid = 1; uid <= 10; uid++)
		imap_cache_put(&f, uid, IMAP_CACHE_ENVELOPE, data,
			       sizeof(data));
	assert_int_equal(imap_cache_entries(), 10);
	/* Touch UID 1 so that UID 2 is now the oldest. */
	assert_non_null(imap_cache_get(&f, 1, IMAP_CACHE_ENVELOPE,
				       &(size_t){0}));
	for (uid = 11; uid <= 16; uid++)
		imap_cache_put(&f, uid, IMAP_CACHE_ENVELOPE, data,
			       sizeof(data));
	assert_true(imap_cache_bytes() <= 16 * 1024);
	assert_non_null(imap_cache_get(&f, 1, IMAP_CACHE_ENVELOPE,
				       &(size_t){0}));
	assert_missing(&f, 2, IMAP_CACHE_ENVELOPE);
	assert_non_null(imap_cache_get(&f, 16, IMAP_CACHE_ENVELOPE,
				       &(size_t){0}));
	/* A smaller budget evicts at once. */
	imap_cache_set_budget(4 * 1024);
	assert_true(imap_cache_bytes() <= 4 * 1024);
	assert_non_null(imap_cache_get(&f, 16, IMAP_CACHE_ENVELOPE,
				       &(size_t){0}));
}

static void
cache_rejects_what_cannot_fit(void **state)
{
	struct imap_cache_folder_ref f = folder("/m/a", 7);
	static char big[8192];

	imap_cache_set_budget(0);
	imap_cache_put(&f, 1, IMAP_CACHE_ENVELOPE, "x", 1);
	assert_int_equal(imap_cache_entries(), 0);
	assert_int_equal(imap_cache_bytes(), 0);
	imap_cache_set_budget(16 * 1024);
	/* One entry may take at most a quarter of the budget. */
	imap_cache_put(&f, 1, IMAP_CACHE_ENVELOPE, big, sizeof(big));
	assert_int_equal(imap_cache_entries(), 0);
	imap_cache_put(&f, 1, IMAP_CACHE_ENVELOPE, "", 0);
	assert_cached(&f, 1, IMAP_CACHE_ENVELOPE, "");
}

static void
cache_holds_many_folders_and_uids(void **state)
{
	char dir[64], data[32];

	for (int d = 0; d < 50; d++) {
		snprintf(dir, sizeof(dir), "/mail/user%d/INBOX", d);
		struct imap_cache_folder_ref f = folder(dir, 100 + d);

		for (uint32_t uid = 1; uid <= 200; uid++) {
			snprintf(data, sizeof(data), "%d:%u", d, uid);
			imap_cache_put(&f, uid, IMAP_CACHE_ENVELOPE, data,
				       strlen(data));
		}
	}
	assert_int_equal(imap_cache_entries(), 50 * 200);
	for (int d = 0; d < 50; d++) {
		snprintf(dir, sizeof(dir), "/mail/user%d/INBOX", d);
		struct imap_cache_folder_ref f = folder(dir, 100 + d);

		for (uint32_t uid = 1; uid <= 200; uid += 37) {
			snprintf(data, sizeof(data), "%d:%u", d, uid);
			assert_cached(&f, uid, IMAP_CACHE_ENVELOPE, data);
		}
	}
	imap_cache_set_budget(0);
	assert_int_equal(imap_cache_entries(), 0);
	assert_int_equal(imap_cache_bytes(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup(fn, reset)
		T(cache_returns_stored_bytes),
		T(cache_keys_folder_uid_kind),
		T(cache_replaces_changed_entry),
		T(cache_drops_folder_on_new_uidvalidity),
		T(cache_evicts_least_recently_used),
		T(cache_rejects_what_cannot_fit),
		T(cache_holds_many_folders_and_uids),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
