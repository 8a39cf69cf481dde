# The two-node lab (deploy/lab) and its cluster tests. They need root,
# network namespaces and several minutes, so they run from
# "make check-cluster" (or tests/cluster/run), never from "make check".
EXTRA_DIST += deploy/lab deploy/lab.d/init \
	deploy/lab.d/broker deploy/lab.d/poweroff deploy/lab.d/paths.mk \
	deploy/corosync.conf.in deploy/cluster-pcs.sh deploy/cluster-crm.sh \
	deploy/cluster-pcs-replicated.sh deploy/cluster-crm-replicated.sh \
	deploy/fence_hapostlab deploy/README.md tests/cluster/run \
	tests/cluster/conftest.py tests/cluster/test_cluster.py \
	tests/cluster/test_status.py tests/cluster/test_switchover.py \
	tests/cluster/test_outbound_failover.py \
	tests/cluster/replicated/repl_lab.py \
	tests/cluster/replicated/test_basics.py \
	tests/cluster/replicated/test_faults.py \
	tests/cluster/replicated/test_ledger.py

check-cluster: all
	BUILDDIR='$(abs_top_builddir)' '$(abs_top_srcdir)/tests/cluster/run'
.PHONY: check-cluster

# The systemd unit for single-node use, with the configured paths.
systemdunitdir = $(prefix)/lib/systemd/system
systemdunit_DATA = deploy/hapost.service
EXTRA_DIST += deploy/hapost.service.in
CLEANFILES += deploy/hapost.service
deploy/hapost.service: deploy/hapost.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) deploy && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' \
	    -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	    -e 's|@docdir[@]|$(docdir)|g' \
	    $(srcdir)/deploy/hapost.service.in >$@.tmp && mv $@.tmp $@
