# Fuzz targets replayed over their committed corpus by make check.
check_PROGRAMS += tests/fuzz/fuzz-cfg
tests_fuzz_fuzz_cfg_SOURCES = tests/fuzz/fuzz-cfg.c tests/fuzz/fuzz-driver.c
tests_fuzz_fuzz_cfg_LDADD = $(HAPOST_LIBS)
TESTS += tests/fuzz/run-corpus-cfg
dist_noinst_SCRIPTS += tests/fuzz/run-corpus-cfg
EXTRA_DIST += tests/fuzz/corpus-cfg tests/fuzz/README.md \
	tests/fuzz/build-libfuzzer
