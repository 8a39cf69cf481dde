# The cluster process: node health, CPG heartbeats, the control socket.
AM_CPPFLAGS += -I$(top_srcdir)/cluster

libhapost_a_SOURCES += \
	cluster/cluster.c cluster/cluster.h cluster/cluster_int.h \
	cluster/cluster_actions.c \
	cluster/control.c cluster/control.h \
	cluster/cpg_link.c cluster/cpg_link.h \
	cluster/heartbeat.c cluster/heartbeat.h \
	cluster/listener_probe.c cluster/listener_probe.h \
	cluster/local_checks.c cluster/local_checks.h \
	cluster/membership.c cluster/membership.h \
	cluster/promotion.c cluster/promotion.h \
	cluster/repl_poll.c cluster/repl_poll.h \
	cluster/report.c cluster/report.h

check_PROGRAMS += tests/unit/test-cluster-heartbeat \
	tests/unit/test-cluster-control tests/unit/test-cluster-report \
	tests/unit/test-cluster-checks tests/unit/test-cluster-membership \
	tests/unit/test-cluster-promotion
TESTS += tests/unit/test-cluster-heartbeat \
	tests/unit/test-cluster-control tests/unit/test-cluster-report \
	tests/unit/test-cluster-checks tests/unit/test-cluster-membership \
	tests/unit/test-cluster-promotion
tests_unit_test_cluster_heartbeat_SOURCES = tests/unit/test-cluster-heartbeat.c
tests_unit_test_cluster_heartbeat_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cluster_heartbeat_LDADD = $(TEST_LIBS)
tests_unit_test_cluster_control_SOURCES = tests/unit/test-cluster-control.c
tests_unit_test_cluster_control_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cluster_control_LDADD = $(TEST_LIBS)
tests_unit_test_cluster_report_SOURCES = tests/unit/test-cluster-report.c
tests_unit_test_cluster_report_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cluster_report_LDADD = $(TEST_LIBS)
tests_unit_test_cluster_checks_SOURCES = tests/unit/test-cluster-checks.c
tests_unit_test_cluster_checks_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cluster_checks_LDADD = $(TEST_LIBS)

tests_unit_test_cluster_membership_SOURCES = \
	tests/unit/test-cluster-membership.c
tests_unit_test_cluster_membership_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cluster_membership_LDADD = $(TEST_LIBS)

tests_unit_test_cluster_promotion_SOURCES = \
	tests/unit/test-cluster-promotion.c
tests_unit_test_cluster_promotion_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cluster_promotion_LDADD = $(TEST_LIBS)
