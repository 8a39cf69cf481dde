#!/bin/sh
# Creates the hapost resources of a two-node Pacemaker cluster with pcs,
# for shared storage mode. Run it once on one node of a running cluster;
# deploy/cluster-crm.sh does the same with crmsh.
#
# It edits a copy of the CIB and pushes it in one step, so the cluster
# gets the whole configuration at once:
#   - fencing on (stonith-enabled=true), with the device from FENCE_AGENT
#   - resource defaults: stickiness (no move back after a failover) and
#     migration-threshold (move away after that many local failures)
#   - group "hapost": the shared file system, then the virtual IP, then
#     the mail service; Pacemaker starts them in that order on one node
#     and stops them in reverse.
#
# Environment:
#   VIP                  virtual IP address (required)
#   VIP_CIDR             its prefix length [24]
#   DATA_DEVICE          shared file system device or NFS export (required)
#   DATA_DIR             mount point, the data_dir of hapost.conf [/srv/hapost]
#   DATA_FSTYPE          file system type [ext4]; "none" with options=bind
#                        for a bind mount
#   DATA_OPTIONS         mount options []
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
set -eu
: "${VIP:?set VIP to the virtual IP address}"
: "${DATA_DEVICE:?set DATA_DEVICE to the shared file system}"
VIP_CIDR=${VIP_CIDR:-24}
DATA_DIR=${DATA_DIR:-/srv/hapost}
DATA_FSTYPE=${DATA_FSTYPE:-ext4}
DATA_OPTIONS=${DATA_OPTIONS:-}
HAPOST_CONFIG=${HAPOST_CONFIG:-}
HAPOST_LOGFILE=${HAPOST_LOGFILE:-}
HAPOST_BINARY=${HAPOST_BINARY:-}
HAPOSTCTL=${HAPOSTCTL:-}
FENCE_AGENT=${FENCE_AGENT:-}
FENCE_OPTIONS=${FENCE_OPTIONS:-}
STICKINESS=${STICKINESS:-100}
MIGRATION_THRESHOLD=${MIGRATION_THRESHOLD:-3}
FAILURE_TIMEOUT=${FAILURE_TIMEOUT:-120}

if [ -z "$FENCE_AGENT" ] && [ "${NO_FENCING:-0}" != 1 ]; then
	echo "cluster-pcs.sh: set FENCE_AGENT: a two-node cluster without" \
		"fencing can run the service on both nodes after a link cut" >&2
	exit 1
fi

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

pcs -f "$cib" resource create hapost-data ocf:heartbeat:Filesystem \
	device="$DATA_DEVICE" directory="$DATA_DIR" fstype="$DATA_FSTYPE" \
	options="$DATA_OPTIONS" force_unmount=safe \
	op monitor interval=20s timeout=40s --group hapost
pcs -f "$cib" resource create hapost-ip ocf:heartbeat:IPaddr2 \
	ip="$VIP" cidr_netmask="$VIP_CIDR" \
	op monitor interval=10s timeout=20s --group hapost

set -- require_mount=true
[ -n "$HAPOST_CONFIG" ] && set -- "$@" config="$HAPOST_CONFIG"
[ -n "$HAPOST_LOGFILE" ] && set -- "$@" logfile="$HAPOST_LOGFILE"
[ -n "$HAPOST_BINARY" ] && set -- "$@" binary="$HAPOST_BINARY"
[ -n "$HAPOSTCTL" ] && set -- "$@" hapostctl="$HAPOSTCTL"
pcs -f "$cib" resource create hapost-mail ocf:hapost:hapost "$@" \
	op monitor interval=5s timeout=20s --group hapost

pcs cluster cib-push "$cib" --config
