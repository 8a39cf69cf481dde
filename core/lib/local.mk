libhapost_a_SOURCES += \
	core/lib/buf.c core/lib/buf.h \
	core/lib/cfg.c core/lib/cfg.h \
	core/lib/fsutil.c core/lib/fsutil.h \
	core/lib/log.c core/lib/log.h \
	core/lib/xalloc.c core/lib/xalloc.h

check_PROGRAMS += tests/unit/test-cfg tests/unit/test-buf
TESTS += tests/unit/test-cfg tests/unit/test-buf
tests_unit_test_cfg_SOURCES = tests/unit/test-cfg.c
tests_unit_test_cfg_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cfg_LDADD = $(TEST_LIBS)
tests_unit_test_buf_SOURCES = tests/unit/test-buf.c
tests_unit_test_buf_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_buf_LDADD = $(TEST_LIBS)

libhapost_a_SOURCES += \
	core/lib/conn.c core/lib/conn.h core/lib/conn_private.h \
	core/lib/dns.c core/lib/dns.h \
	core/lib/ipcount.c core/lib/ipcount.h \
	core/lib/mutf7.c core/lib/mutf7.h \
	core/lib/tls.c core/lib/tls.h \
	core/lib/worker.h

check_PROGRAMS += tests/unit/test-tls-client
TESTS += tests/unit/test-tls-client
tests_unit_test_tls_client_SOURCES = tests/unit/test-tls-client.c
tests_unit_test_tls_client_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_tls_client_LDADD = $(TEST_LIBS)
