# The account directory: file backend, name checks and password hashing.
libhapost_a_SOURCES += \
	storage/directory.c storage/directory.h \
	storage/directory_file.h \
	storage/directory_load.c \
	storage/directory_names.c \
	storage/directory_edit.c \
	storage/password.c

check_PROGRAMS += tests/unit/test-directory tests/unit/test-password
TESTS += tests/unit/test-directory tests/unit/test-password
tests_unit_test_directory_SOURCES = tests/unit/test-directory.c
tests_unit_test_directory_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_directory_LDADD = $(TEST_LIBS)
tests_unit_test_password_SOURCES = tests/unit/test-password.c
tests_unit_test_password_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_password_LDADD = $(TEST_LIBS)
