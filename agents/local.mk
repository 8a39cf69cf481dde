# The OCF resource agent, installed as ocf:hapost:hapost. Pacemaker looks
# for agents under /usr/lib/ocf/resource.d, so a cluster node installs
# with --prefix=/usr (or links the provider directory there); the
# directory follows $(prefix) so that "make distcheck" can install it.
ocfagentdir = $(prefix)/lib/ocf/resource.d/hapost
ocfagent_SCRIPTS = agents/ocf/hapost
EXTRA_DIST += agents/hapost
CLEANFILES += agents/ocf/hapost

# The installed agent's defaults point at the configured directories.
agents/ocf/hapost: agents/hapost Makefile
	$(AM_V_GEN)$(MKDIR_P) agents/ocf && \
	sed -e 's|^HAPOST_SBINDIR=.*|HAPOST_SBINDIR=$(sbindir)|' \
	    -e 's|^HAPOST_SYSCONFDIR=.*|HAPOST_SYSCONFDIR=$(sysconfdir)|' \
	    $(srcdir)/agents/hapost >$@.tmp && \
	chmod 755 $@.tmp && mv $@.tmp $@

# The agent's meta-data against the OCF DTD, its actions and exit codes,
# and ocf-tester; the last two run a hapostd on loopback ports. All skip
# where resource-agents is missing.
dist_noinst_SCRIPTS += tests/cluster/test-agent-metadata \
	tests/cluster/test-agent-actions \
	tests/cluster/test-ocf-tester
TESTS += tests/cluster/test-agent-metadata tests/cluster/test-agent-actions \
	tests/cluster/test-ocf-tester
EXTRA_DIST += tests/cluster/agent-env.sh
