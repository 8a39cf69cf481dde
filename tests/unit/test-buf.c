#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

static void
buf_append_and_consume(void **state)
{
	struct buf b = BUF_INIT;

	buf_puts(&b, "hello ");
	buf_printf(&b, "%s %d", "world", 42);
	assert_string_equal(buf_cstr(&b), "hello world 42");
	buf_consume(&b, 6);
	assert_string_equal(buf_cstr(&b), "world 42");
	assert_int_equal(b.len, 8);
	buf_consume(&b, 100);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void
buf_printf_grows_past_first_guess(void **state)
{
	struct buf b = BUF_INIT;
	char big[5000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_printf(&b, "<%s>", big);
	assert_int_equal(b.len, sizeof(big) + 1);
	assert_int_equal(buf_cstr(&b)[0], '<');
	assert_int_equal(buf_cstr(&b)[b.len - 1], '>');
	buf_free(&b);
}

static void
buf_find_lf_offsets(void **state)
{
	struct buf b = BUF_INIT;

	buf_puts(&b, "ab\ncd\n");
	assert_int_equal(buf_find_lf(&b, 0), 2);
	assert_int_equal(buf_find_lf(&b, 3), 5);
	assert_int_equal(buf_find_lf(&b, 6), -1);
	buf_free(&b);
	assert_int_equal(buf_find_lf(&b, 0), -1);
}

static void
buf_binary_data_kept(void **state)
{
	struct buf b = BUF_INIT;

	buf_append(&b, "a\0b", 3);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b", 3);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(buf_append_and_consume),
		cmocka_unit_test(buf_printf_grows_past_first_guess),
		cmocka_unit_test(buf_find_lf_offsets),
		cmocka_unit_test(buf_binary_data_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
