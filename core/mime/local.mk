# sources, programs and tests of core/mime
libhapost_a_SOURCES += \
	core/mime/mime.h core/mime/mime-internal.h \
	core/mime/address.c core/mime/bodystructure.c core/mime/date.c \
	core/mime/decode.c core/mime/envelope.c core/mime/header.c \
	core/mime/imapstr.c core/mime/parse.c core/mime/search.c \
	core/mime/section.c

MIME_TESTS = tests/unit/test-mime tests/unit/test-mime-section \
	tests/unit/test-mime-search tests/unit/test-mime-hostile \
	tests/fuzz/fuzz-driver-mime
check_PROGRAMS += $(MIME_TESTS)
TESTS += $(MIME_TESTS)
MIME_TEST_UTIL = tests/unit/test-mime-util.c
tests_unit_test_mime_SOURCES = tests/unit/test-mime.c $(MIME_TEST_UTIL)
tests_unit_test_mime_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_mime_LDADD = $(TEST_LIBS)
tests_unit_test_mime_section_SOURCES = tests/unit/test-mime-section.c \
	$(MIME_TEST_UTIL)
tests_unit_test_mime_section_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_mime_section_LDADD = $(TEST_LIBS)
tests_unit_test_mime_search_SOURCES = tests/unit/test-mime-search.c \
	$(MIME_TEST_UTIL)
tests_unit_test_mime_search_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_mime_search_LDADD = $(TEST_LIBS)
tests_unit_test_mime_hostile_SOURCES = tests/unit/test-mime-hostile.c
tests_unit_test_mime_hostile_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_mime_hostile_LDADD = $(TEST_LIBS)

# The fuzz target replayed over its committed corpus (see the driver).
tests_fuzz_fuzz_driver_mime_SOURCES = tests/fuzz/fuzz-driver-mime.c \
	tests/fuzz/fuzz-mime.c
tests_fuzz_fuzz_driver_mime_LDADD = $(HAPOST_LIBS)
EXTRA_DIST += tests/fuzz/corpus-mime
