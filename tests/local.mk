# Protocol tests: real clients against a real hapostd (tests/proto).
dist_noinst_SCRIPTS += tests/proto/run-pytest
# Listed one by one: a folder in EXTRA_DIST would be copied from the
# build tree, logs included, when the build tree has one too.
EXTRA_DIST += \
	tests/proto/conftest.py \
	tests/proto/dnsserver.py \
	tests/proto/replmanifest.py \
	tests/proto/test_apop.py \
	tests/proto/test_clients.py \
	tests/proto/test_crash.py \
	tests/proto/test_daemon.py \
	tests/proto/test_dns.py \
	tests/proto/test_hapostctl.py \
	tests/proto/test_hostile.py \
	tests/proto/test_imap.py \
	tests/proto/test_imap_view.py \
	tests/proto/test_pop3.py \
	tests/proto/test_queue.py \
	tests/proto/test_remote.py \
	tests/proto/test_remote_hostile.py \
	tests/proto/test_repl_commit_attack.py \
	tests/proto/test_repl_failover.py \
	tests/proto/test_repl_writers.py \
	tests/proto/test_replicator.py \
	tests/proto/test_roles.py \
	tests/proto/test_smtp.py \
	tests/proto/test_smtp_client.py \
	tests/proto/test_sslscan.py \
	tests/proto/test_status.py \
	tests/proto/test_tls.py
TESTS += tests/proto/run-pytest

# Source line widths stay within the 80-column style.
dist_noinst_SCRIPTS += tests/check-line-width
TESTS += tests/check-line-width

# Script tests under folders that nothing else builds into: their logs
# need the folder in a VPATH build (make distcheck).
check_DATA = tests/proto/.dirstamp tests/cluster/.dirstamp
tests/proto/.dirstamp tests/cluster/.dirstamp:
	@$(MKDIR_P) $(@D)
	@: > $@
DISTCLEANFILES = tests/proto/.dirstamp tests/cluster/.dirstamp
