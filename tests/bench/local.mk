# Benchmarks against Postfix and Dovecot: make bench (not part of make
# check). tests/bench/README.md has the figures and the commands.
EXTRA_DIST += tests/bench/README.md tests/bench/bench.py \
	tests/bench/clients.py tests/bench/failover.py \
	tests/bench/mailgen.py tests/bench/refservers.py \
	tests/bench/tlsbench.py tests/bench/testssl.py \
	tests/bench/replbench.py
dist_noinst_SCRIPTS += tests/bench/run

.PHONY: bench
bench: all
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
		$(SHELL) '$(abs_top_srcdir)/tests/bench/run' $(BENCH_ARGS)

# testssl.sh against one implicit-TLS listener; fails on a HIGH or
# CRITICAL finding. Not part of make check: a scan takes minutes.
.PHONY: check-testssl
check-testssl: all
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
		PYTHONDONTWRITEBYTECODE=1 \
		/usr/bin/python3 '$(abs_top_srcdir)/tests/bench/testssl.py'
