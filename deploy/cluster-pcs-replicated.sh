#!/bin/sh
# Creates the hapost resources of a two-node Pacemaker cluster with pcs,
# for replicated storage mode (storage_mode = replicated in hapost.conf
# on both nodes). Run it once on one node of a running cluster;
# deploy/cluster-crm-replicated.sh does the same with crmsh.
#
# It edits a copy of the CIB and pushes it in one step:
#   - fencing on (stonith-enabled=true), with the device from FENCE_AGENT
#   - resource defaults: stickiness, migration-threshold, failure-timeout
#   - "hapost", a promotable clone of ocf:hapost:hapost (primitive
#     "hapost-mail") with one instance per node and one Promoted
#     instance: hapostd runs on both nodes, the Promoted one is active
#     and the Unpromoted one is its standby
#   - "hapost-ip", the virtual IP, which runs only where the clone is
#     Promoted (colocation INFINITY) and starts after the promotion
#     (order promote then start; it stops before a demotion)
# There is no file system resource: each node keeps its own data_dir.
#
# Environment:
#   VIP                  virtual IP address (required)
#   VIP_CIDR             its prefix length [24]
#   HAPOST_CONFIG        hapost.conf path [the agent's default]
#   HAPOST_LOGFILE       log file instead of syslog [] (see the agent)
#   HAPOST_BINARY        hapostd path [the agent's default]
#   HAPOSTCTL            hapostctl path [the agent's default]
#   FENCE_AGENT          fencing agent, e.g. fence_ipmilan (required
#                        unless NO_FENCING=1, which only a test may set)
#   FENCE_OPTIONS        its options as name=value words
#   STICKINESS           resource-stickiness [100]
#   MIGRATION_THRESHOLD  failures before moving away [3]
#   FAILURE_TIMEOUT      seconds after which failures are forgotten [120]
#   MONITOR_INTERVAL     seconds between monitors of the Unpromoted
#                        instance [5]; the Promoted one is checked one
#                        second more often, because Pacemaker needs
#                        different intervals for the two roles
set -eu
: "${VIP:?set VIP to the virtual IP address}"
VIP_CIDR=${VIP_CIDR:-24}
HAPOST_CONFIG=${HAPOST_CONFIG:-}
HAPOST_LOGFILE=${HAPOST_LOGFILE:-}
HAPOST_BINARY=${HAPOST_BINARY:-}
HAPOSTCTL=${HAPOSTCTL:-}
FENCE_AGENT=${FENCE_AGENT:-}
FENCE_OPTIONS=${FENCE_OPTIONS:-}
STICKINESS=${STICKINESS:-100}
MIGRATION_THRESHOLD=${MIGRATION_THRESHOLD:-3}
FAILURE_TIMEOUT=${FAILURE_TIMEOUT:-120}
MONITOR_INTERVAL=${MONITOR_INTERVAL:-5}

if [ -z "$FENCE_AGENT" ] && [ "${NO_FENCING:-0}" != 1 ]; then
	echo "cluster-pcs-replicated.sh: set FENCE_AGENT: a two-node cluster" \
		"without fencing can promote both nodes after a link cut" >&2
	exit 1
fi
case $MONITOR_INTERVAL in
'' | *[!0-9]* | 0 | 1)
	echo "cluster-pcs-replicated.sh: MONITOR_INTERVAL=$MONITOR_INTERVAL:" \
		"use a whole number of seconds, at least 2" >&2
	exit 1 ;;
esac

cib=$(mktemp)
trap 'rm -f "$cib"' EXIT
pcs cluster cib "$cib"

if [ -n "$FENCE_AGENT" ]; then
	# shellcheck disable=SC2086
	pcs -f "$cib" stonith create hapost-fence "$FENCE_AGENT" \
		$FENCE_OPTIONS op monitor interval=60s
	pcs -f "$cib" property set stonith-enabled=true
else
	pcs -f "$cib" property set stonith-enabled=false
fi
pcs -f "$cib" resource defaults update \
	resource-stickiness="$STICKINESS" \
	migration-threshold="$MIGRATION_THRESHOLD" \
	failure-timeout="$FAILURE_TIMEOUT"

set --
[ -n "$HAPOST_CONFIG" ] && set -- "$@" config="$HAPOST_CONFIG"
[ -n "$HAPOST_LOGFILE" ] && set -- "$@" logfile="$HAPOST_LOGFILE"
[ -n "$HAPOST_BINARY" ] && set -- "$@" binary="$HAPOST_BINARY"
[ -n "$HAPOSTCTL" ] && set -- "$@" hapostctl="$HAPOSTCTL"
pcs -f "$cib" resource create hapost-mail ocf:hapost:hapost "$@" \
	op monitor interval="${MONITOR_INTERVAL}s" timeout=20s role=Unpromoted \
	op monitor interval="$((MONITOR_INTERVAL - 1))s" timeout=20s \
	role=Promoted \
	op start timeout=60s op stop timeout=60s \
	op promote timeout=60s op demote timeout=60s
pcs -f "$cib" resource promotable hapost-mail hapost \
	promoted-max=1 promoted-node-max=1 clone-max=2 clone-node-max=1 \
	notify=false

pcs -f "$cib" resource create hapost-ip ocf:heartbeat:IPaddr2 \
	ip="$VIP" cidr_netmask="$VIP_CIDR" \
	op monitor interval=10s timeout=20s
pcs -f "$cib" constraint colocation add hapost-ip with Promoted hapost \
	INFINITY id=hapost-ip-with-promoted
pcs -f "$cib" constraint order promote hapost then start hapost-ip \
	id=hapost-ip-after-promote

pcs cluster cib-push "$cib" --config
