# IMAP4rev1 server (imap_ops), its parser tests and its fuzz target.
libhapost_a_SOURCES += \
	core/imap/imap_frame.c core/imap/imap_frame.h \
	core/imap/imap_parse.c core/imap/imap_parse.h \
	core/imap/imap_search_parse.c core/imap/imap_search.c \
	core/imap/imap_search.h \
	core/imap/imap_names.c core/imap/imap_names.h \
	core/imap/imap_notify.c core/imap/imap_notify.h \
	core/imap/imap_session.c core/imap/imap_session.h \
	core/imap/imap_flags.c \
	core/imap/imap_cache.c core/imap/imap_cache.h \
	core/imap/imap_cmd_auth.c core/imap/imap_cmd_mailbox.c \
	core/imap/imap_cmd_list.c core/imap/imap_fetch.c \
	core/imap/imap_cmd_search.c core/imap/imap_cmd_store.c \
	core/imap/imap_cmd_copy.c core/imap/imap_cmd_append.c \
	core/imap/imap_idle.c core/imap/imap_authenticate.c

IMAP_UNIT_TESTS = tests/unit/test-imap-parse tests/unit/test-imap-frame \
	tests/unit/test-imap-search tests/unit/test-imap-flags \
	tests/unit/test-imap-cache
check_PROGRAMS += $(IMAP_UNIT_TESTS)
TESTS += $(IMAP_UNIT_TESTS)
tests_unit_test_imap_parse_SOURCES = tests/unit/test-imap-parse.c
tests_unit_test_imap_parse_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_imap_parse_LDADD = $(TEST_LIBS)
tests_unit_test_imap_frame_SOURCES = tests/unit/test-imap-frame.c
tests_unit_test_imap_frame_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_imap_frame_LDADD = $(TEST_LIBS)
tests_unit_test_imap_search_SOURCES = tests/unit/test-imap-search.c
tests_unit_test_imap_search_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_imap_search_LDADD = $(TEST_LIBS)
tests_unit_test_imap_flags_SOURCES = tests/unit/test-imap-flags.c
tests_unit_test_imap_flags_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_imap_flags_LDADD = $(TEST_LIBS)
tests_unit_test_imap_cache_SOURCES = tests/unit/test-imap-cache.c
tests_unit_test_imap_cache_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_imap_cache_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/fuzz/fuzz-imap-command
tests_fuzz_fuzz_imap_command_SOURCES = tests/fuzz/fuzz-imap-command.c \
	tests/fuzz/fuzz-driver.c
tests_fuzz_fuzz_imap_command_LDADD = $(HAPOST_LIBS)
TESTS += tests/fuzz/run-corpus-imap
dist_noinst_SCRIPTS += tests/fuzz/run-corpus-imap
EXTRA_DIST += tests/fuzz/corpus-imap
