# Protocol tests: real clients against a real hapostd (tests/proto).
dist_noinst_SCRIPTS += tests/proto/run-pytest
EXTRA_DIST += tests/proto
TESTS += tests/proto/run-pytest

# Source line widths stay within the 80-column style.
dist_noinst_SCRIPTS += tests/check-line-width
TESTS += tests/check-line-width
