# The mail queue and Maildir delivery (maildir_deliver and its staged
# variant only; the rest of maildir.h is built from storage/maildir.mk).
libhapost_a_SOURCES += \
	storage/queue.c storage/queue.h storage/queue_int.h \
	storage/queue_batch.c \
	storage/queue_format.c storage/queue_format.h \
	storage/maildir_deliver.c \
	storage/repl_write.c storage/repl_write.h

check_PROGRAMS += tests/unit/test-queue
TESTS += tests/unit/test-queue
tests_unit_test_queue_SOURCES = tests/unit/test-queue.c
tests_unit_test_queue_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_queue_LDADD = $(TEST_LIBS)

# The writers in replicated mode, against a fake replicator.
check_PROGRAMS += tests/unit/test-repl-writers
TESTS += tests/unit/test-repl-writers
tests_unit_test_repl_writers_SOURCES = tests/unit/test-repl-writers.c
tests_unit_test_repl_writers_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_repl_writers_LDADD = $(TEST_LIBS)
