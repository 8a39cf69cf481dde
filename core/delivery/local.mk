# The queue manager and local delivery.
libhapost_a_SOURCES += \
	core/delivery/qmgr.c core/delivery/qmgr.h \
	core/delivery/job.c core/delivery/job.h \
	core/delivery/batch.c core/delivery/batch.h \
	core/delivery/local.c core/delivery/local.h

check_PROGRAMS += tests/unit/test-qmgr
TESTS += tests/unit/test-qmgr
tests_unit_test_qmgr_SOURCES = tests/unit/test-qmgr.c
tests_unit_test_qmgr_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/core/delivery
tests_unit_test_qmgr_LDADD = $(TEST_LIBS)
