# Replicated storage: the writers' client library and the admin requests.
libhapost_a_SOURCES += \
	storage/repl.c storage/repl.h \
	storage/repl_admin.c storage/repl_admin.h \
	storage/repl_local.c storage/repl_local.h

# The replication stream: frames and records, applying them on the
# standby, manifests and librsync deltas.
libhapost_a_SOURCES += \
	storage/repl_wire.c storage/repl_wire.h \
	storage/repl_apply.c storage/repl_delta.c storage/repl_manifest.c

check_PROGRAMS += tests/unit/test-repl-wire tests/unit/test-repl-apply \
	tests/unit/test-repl-delta tests/unit/test-repl-manifest
TESTS += tests/unit/test-repl-wire tests/unit/test-repl-apply \
	tests/unit/test-repl-delta tests/unit/test-repl-manifest
tests_unit_test_repl_wire_SOURCES = tests/unit/test-repl-wire.c
tests_unit_test_repl_wire_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_repl_wire_LDADD = $(TEST_LIBS)
tests_unit_test_repl_apply_SOURCES = tests/unit/test-repl-apply.c
tests_unit_test_repl_apply_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_repl_apply_LDADD = $(TEST_LIBS)
tests_unit_test_repl_delta_SOURCES = tests/unit/test-repl-delta.c
tests_unit_test_repl_delta_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_repl_delta_LDADD = $(TEST_LIBS)
tests_unit_test_repl_manifest_SOURCES = tests/unit/test-repl-manifest.c
tests_unit_test_repl_manifest_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_repl_manifest_LDADD = $(TEST_LIBS)

# Fuzz targets for the record and manifest decoders, replayed over their
# committed corpus by make check (see tests/fuzz/README.md).
check_PROGRAMS += tests/fuzz/fuzz-repl-wire tests/fuzz/fuzz-repl-manifest
tests_fuzz_fuzz_repl_wire_SOURCES = tests/fuzz/fuzz-repl-wire.c \
	tests/fuzz/fuzz-driver.c
tests_fuzz_fuzz_repl_wire_LDADD = $(HAPOST_LIBS)
tests_fuzz_fuzz_repl_manifest_SOURCES = tests/fuzz/fuzz-repl-manifest.c \
	tests/fuzz/fuzz-driver.c
tests_fuzz_fuzz_repl_manifest_LDADD = $(HAPOST_LIBS)
TESTS += tests/fuzz/run-corpus-repl-wire tests/fuzz/run-corpus-repl-manifest
dist_noinst_SCRIPTS += tests/fuzz/run-corpus-repl-wire \
	tests/fuzz/run-corpus-repl-manifest
EXTRA_DIST += tests/fuzz/corpus-repl-wire tests/fuzz/corpus-repl-manifest

# The replicator process (replicator_main) and its parts.
libhapost_a_SOURCES += \
	storage/replicator.c storage/replicator.h storage/replicator_int.h \
	storage/repl_active.c storage/repl_catchup.c storage/repl_clients.c \
	storage/repl_link.c storage/repl_link.h \
	storage/repl_standby.c storage/repl_state.c

# Test programs: the replicator without the master, and a committer.
check_PROGRAMS += tests/tools/hapost-replicator tests/tools/repl-commit
tests_tools_hapost_replicator_SOURCES = tests/tools/hapost-replicator.c
tests_tools_hapost_replicator_LDADD = $(HAPOST_LIBS)
tests_tools_repl_commit_SOURCES = tests/tools/repl-commit.c
tests_tools_repl_commit_LDADD = $(HAPOST_LIBS)
