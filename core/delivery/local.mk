# The queue manager and local delivery.
libhapost_a_SOURCES += \
	core/delivery/qmgr.c core/delivery/qmgr.h \
	core/delivery/job.c core/delivery/job.h \
	core/delivery/batch.c core/delivery/batch.h \
	core/delivery/local.c core/delivery/local.h \
	core/delivery/window.c core/delivery/window.h \
	core/delivery/route.c core/delivery/route.h \
	core/delivery/dsn.c core/delivery/dsn.h

check_PROGRAMS += tests/unit/test-qmgr
TESTS += tests/unit/test-qmgr
tests_unit_test_qmgr_SOURCES = tests/unit/test-qmgr.c
tests_unit_test_qmgr_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/core/delivery
tests_unit_test_qmgr_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/unit/test-window
TESTS += tests/unit/test-window
tests_unit_test_window_SOURCES = tests/unit/test-window.c
tests_unit_test_window_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/core/delivery
tests_unit_test_window_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/unit/test-route
TESTS += tests/unit/test-route
tests_unit_test_route_SOURCES = tests/unit/test-route.c
tests_unit_test_route_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/core/delivery
tests_unit_test_route_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/unit/test-dsn
TESTS += tests/unit/test-dsn
tests_unit_test_dsn_SOURCES = tests/unit/test-dsn.c
tests_unit_test_dsn_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/core/delivery
tests_unit_test_dsn_LDADD = $(TEST_LIBS)

# The window and gateway table parsers' fuzz targets, replayed over their
# corpora by make check (see tests/fuzz/README.md).
check_PROGRAMS += tests/fuzz/fuzz-route
tests_fuzz_fuzz_route_SOURCES = tests/fuzz/fuzz-route.c \
	tests/fuzz/fuzz-driver.c
tests_fuzz_fuzz_route_LDADD = $(HAPOST_LIBS)
TESTS += tests/fuzz/run-corpus-route
dist_noinst_SCRIPTS += tests/fuzz/run-corpus-route
EXTRA_DIST += tests/fuzz/corpus-route

check_PROGRAMS += tests/fuzz/fuzz-window
tests_fuzz_fuzz_window_SOURCES = tests/fuzz/fuzz-window.c \
	tests/fuzz/fuzz-driver.c
tests_fuzz_fuzz_window_LDADD = $(HAPOST_LIBS)
TESTS += tests/fuzz/run-corpus-window
dist_noinst_SCRIPTS += tests/fuzz/run-corpus-window
EXTRA_DIST += tests/fuzz/corpus-window

# The outbound SMTP client and its reply parser.
libhapost_a_SOURCES += \
	core/delivery/smtp_client.c core/delivery/smtp_client.h \
	core/delivery/smtp_client_auth.c core/delivery/smtp_client_int.h \
	core/delivery/smtp_client_io.c core/delivery/smtp_client_txn.c \
	core/delivery/smtp_reply.c core/delivery/smtp_reply.h

check_PROGRAMS += tests/unit/test-smtp-reply
TESTS += tests/unit/test-smtp-reply
tests_unit_test_smtp_reply_SOURCES = tests/unit/test-smtp-reply.c
tests_unit_test_smtp_reply_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/core/delivery
tests_unit_test_smtp_reply_LDADD = $(TEST_LIBS)

# The reply parser's fuzz target, replayed over its corpus by make check.
check_PROGRAMS += tests/fuzz/fuzz-smtp-reply
tests_fuzz_fuzz_smtp_reply_SOURCES = tests/fuzz/fuzz-smtp-reply.c \
	tests/fuzz/fuzz-driver.c
tests_fuzz_fuzz_smtp_reply_LDADD = $(HAPOST_LIBS)
TESTS += tests/fuzz/run-corpus-smtp-reply
dist_noinst_SCRIPTS += tests/fuzz/run-corpus-smtp-reply
EXTRA_DIST += tests/fuzz/corpus-smtp-reply

# Outbound delivery: the scheduler, its results and the sender reports.
libhapost_a_SOURCES += \
	core/delivery/remote.c core/delivery/remote.h \
	core/delivery/remote_int.h core/delivery/remote_result.c \
	core/delivery/remote_session.c \
	core/delivery/bounce.c core/delivery/bounce.h

check_PROGRAMS += tests/unit/test-remote
TESTS += tests/unit/test-remote
tests_unit_test_remote_SOURCES = tests/unit/test-remote.c
tests_unit_test_remote_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/core/delivery
tests_unit_test_remote_LDADD = $(TEST_LIBS)
