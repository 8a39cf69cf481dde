# The POP3 server (RFC 1939) run by the protocol workers.
libhapost_a_SOURCES += \
	core/pop3/pop3.c core/pop3/pop3_session.h \
	core/pop3/pop3_parse.c core/pop3/pop3_parse.h \
	core/pop3/pop3_retr.c \
	core/pop3/pop3_apop.c core/pop3/pop3_apop.h

check_PROGRAMS += tests/unit/test-pop3
TESTS += tests/unit/test-pop3
tests_unit_test_pop3_SOURCES = tests/unit/test-pop3.c
tests_unit_test_pop3_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/core/pop3
tests_unit_test_pop3_LDADD = $(TEST_LIBS)
