# Maildir++ folders with IMAP UIDs (everything in maildir.h except
# maildir_deliver, which storage/queue.mk builds).
libhapost_a_SOURCES += \
	storage/maildir.c storage/maildir.h storage/maildir_int.h \
	storage/maildir_name.c storage/maildir_msg.c \
	storage/maildir_keywords.c storage/maildir_append.c \
	storage/maildir_snap.c storage/uidlist.c storage/folder.c

check_PROGRAMS += tests/unit/test-maildir tests/unit/test-maildir-folder \
	tests/unit/test-maildir-snap
TESTS += tests/unit/test-maildir tests/unit/test-maildir-folder \
	tests/unit/test-maildir-snap
tests_unit_test_maildir_SOURCES = tests/unit/test-maildir.c \
	tests/unit/maildir_testutil.h
tests_unit_test_maildir_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_maildir_LDADD = $(TEST_LIBS)
tests_unit_test_maildir_folder_SOURCES = tests/unit/test-maildir-folder.c \
	tests/unit/maildir_testutil.h
tests_unit_test_maildir_folder_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_maildir_folder_LDADD = $(TEST_LIBS)
tests_unit_test_maildir_snap_SOURCES = tests/unit/test-maildir-snap.c \
	tests/unit/maildir_testutil.h
tests_unit_test_maildir_snap_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_maildir_snap_LDADD = $(TEST_LIBS)
