#!/bin/sh
# Creates the hapost resources of a two-node Pacemaker cluster with
# crmsh, for shared storage mode: the same configuration as
# deploy/cluster-pcs.sh, which describes it and the environment variables
# both scripts read. Run it once on one node of a running cluster.
#
# crm configure load update applies the whole file in one commit.
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
	echo "cluster-crm.sh: set FENCE_AGENT: a two-node cluster without" \
		"fencing can run the service on both nodes after a link cut" >&2
	exit 1
fi

# Quotes each name=value word for the crm shell: name="value".
quote_params()
{
	for kv in "$@"; do
		printf ' %s="%s"' "${kv%%=*}" "${kv#*=}"
	done
}

conf=$(mktemp)
trap 'rm -f "$conf"' EXIT
{
	if [ -n "$FENCE_AGENT" ]; then
		# shellcheck disable=SC2086
		echo "primitive hapost-fence stonith:$FENCE_AGENT" \
			"params$(quote_params $FENCE_OPTIONS)" \
			"op monitor interval=60s"
		echo "property cib-bootstrap-options: stonith-enabled=true"
	else
		echo "property cib-bootstrap-options: stonith-enabled=false"
	fi
	echo "rsc_defaults rsc-options: resource-stickiness=$STICKINESS" \
		"migration-threshold=$MIGRATION_THRESHOLD" \
		"failure-timeout=$FAILURE_TIMEOUT"
	echo "primitive hapost-data ocf:heartbeat:Filesystem" \
		"params device=\"$DATA_DEVICE\" directory=\"$DATA_DIR\"" \
		"fstype=\"$DATA_FSTYPE\" options=\"$DATA_OPTIONS\"" \
		"force_unmount=safe" \
		"op monitor interval=20s timeout=40s"
	echo "primitive hapost-ip ocf:heartbeat:IPaddr2" \
		"params ip=\"$VIP\" cidr_netmask=$VIP_CIDR" \
		"op monitor interval=10s timeout=20s"
	params="require_mount=true"
	[ -n "$HAPOST_CONFIG" ] && params="$params config=\"$HAPOST_CONFIG\""
	[ -n "$HAPOST_LOGFILE" ] && params="$params logfile=\"$HAPOST_LOGFILE\""
	[ -n "$HAPOST_BINARY" ] && params="$params binary=\"$HAPOST_BINARY\""
	[ -n "$HAPOSTCTL" ] && params="$params hapostctl=\"$HAPOSTCTL\""
	echo "primitive hapost-mail ocf:hapost:hapost params $params" \
		"op monitor interval=5s timeout=20s"
	echo "group hapost hapost-data hapost-ip hapost-mail"
} >"$conf"
crm configure load update "$conf"
