# sources, programs and tests of core/smtp
libhapost_a_SOURCES += \
	core/smtp/smtp.c core/smtp/smtp_auth.c core/smtp/smtp_commit.c \
	core/smtp/smtp_data.c core/smtp/smtp_data.h \
	core/smtp/smtp_parse.c core/smtp/smtp_parse.h \
	core/smtp/smtp_session.h \
	core/smtp/smtp_txn.c

check_PROGRAMS += tests/unit/test-smtp-parse tests/unit/test-smtp-data \
	tests/unit/test-smtp-session
TESTS += tests/unit/test-smtp-parse tests/unit/test-smtp-data \
	tests/unit/test-smtp-session
tests_unit_test_smtp_parse_SOURCES = tests/unit/test-smtp-parse.c
tests_unit_test_smtp_parse_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_smtp_parse_LDADD = $(TEST_LIBS)
tests_unit_test_smtp_data_SOURCES = tests/unit/test-smtp-data.c
tests_unit_test_smtp_data_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_smtp_data_LDADD = $(TEST_LIBS)
# The session test replaces the conn, directory and queue functions with
# its own fakes, so it runs without sockets or a data directory.
tests_unit_test_smtp_session_SOURCES = tests/unit/test-smtp-session.c
tests_unit_test_smtp_session_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_smtp_session_LDADD = $(TEST_LIBS)

# Fuzz target for the command, path and content parsers, replayed over
# its corpus by make check (see tests/fuzz/README.md).
check_PROGRAMS += tests/fuzz/fuzz-smtp-command
tests_fuzz_fuzz_smtp_command_SOURCES = tests/fuzz/fuzz-smtp-command.c \
	tests/fuzz/fuzz-driver.c
tests_fuzz_fuzz_smtp_command_LDADD = $(HAPOST_LIBS)
TESTS += tests/fuzz/run-corpus-smtp
dist_noinst_SCRIPTS += tests/fuzz/run-corpus-smtp
EXTRA_DIST += tests/fuzz/corpus-smtp
