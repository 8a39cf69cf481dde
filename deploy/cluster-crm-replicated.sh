#!/bin/sh
# Creates the hapost resources of a two-node Pacemaker cluster with
# crmsh, for replicated storage mode: the same configuration as
# deploy/cluster-pcs-replicated.sh, which describes it and the
# environment variables both scripts read. Run it once on one node of a
# running cluster.
#
# crm configure load update applies the whole file in one commit.
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
	echo "cluster-crm-replicated.sh: set FENCE_AGENT: a two-node cluster" \
		"without fencing can promote both nodes after a link cut" >&2
	exit 1
fi
case $MONITOR_INTERVAL in
'' | *[!0-9]* | 0 | 1)
	echo "cluster-crm-replicated.sh: MONITOR_INTERVAL=$MONITOR_INTERVAL:" \
		"use a whole number of seconds, at least 2" >&2
	exit 1 ;;
esac

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
	params=
	[ -n "$HAPOST_CONFIG" ] && params="$params config=\"$HAPOST_CONFIG\""
	[ -n "$HAPOST_LOGFILE" ] && params="$params logfile=\"$HAPOST_LOGFILE\""
	[ -n "$HAPOST_BINARY" ] && params="$params binary=\"$HAPOST_BINARY\""
	[ -n "$HAPOSTCTL" ] && params="$params hapostctl=\"$HAPOSTCTL\""
	[ -n "$params" ] && params="params$params"
	echo "primitive hapost-mail ocf:hapost:hapost $params" \
		"op monitor interval=${MONITOR_INTERVAL}s timeout=20s" \
		"role=Unpromoted" \
		"op monitor interval=$((MONITOR_INTERVAL - 1))s timeout=20s" \
		"role=Promoted" \
		"op start timeout=60s interval=0s" \
		"op stop timeout=60s interval=0s" \
		"op promote timeout=60s interval=0s" \
		"op demote timeout=60s interval=0s"
	echo "clone hapost hapost-mail meta promotable=true promoted-max=1" \
		"promoted-node-max=1 clone-max=2 clone-node-max=1 notify=false"
	echo "primitive hapost-ip ocf:heartbeat:IPaddr2" \
		"params ip=\"$VIP\" cidr_netmask=$VIP_CIDR" \
		"op monitor interval=10s timeout=20s"
	echo "colocation hapost-ip-with-promoted inf: hapost-ip hapost:Promoted"
	echo "order hapost-ip-after-promote Mandatory: hapost:promote" \
		"hapost-ip:start"
} >"$conf"
crm configure load update "$conf"
