# Shared setup of the OCF agent tests (sourced): a temporary directory
# with a hapost.conf on free loopback ports, the built agent and the
# OCF_RESKEY_* environment that points the agent at them. Skips (77)
# unless run as root with resource-agents and socat installed. The
# caller's EXIT trap must call agent_env_cleanup.
builddir=${top_builddir:-.}
[ "$(id -u)" = 0 ] || { echo "SKIP: the agent tests need root"; exit 77; }
for need in /usr/lib/ocf/lib/heartbeat/ocf-shellfuncs /usr/sbin/ocf-tester; do
	[ -r "$need" ] || { echo "SKIP: $need missing (resource-agents)"; exit 77; }
done
command -v socat >/dev/null || { echo "SKIP: socat missing"; exit 77; }
[ -x "$builddir/hapostd" ] || { echo "SKIP: $builddir/hapostd not built"; exit 77; }
id hapost >/dev/null 2>&1 ||
	useradd --system --no-create-home --shell /usr/sbin/nologin hapost

tmp=$(mktemp -d /tmp/hapost-agent.XXXXXX)
chmod 755 "$tmp"
# A copy that the user nobody can read, as ocf-tester's permission check
# requires, wherever the build tree is.
install -m 0755 "$builddir/agents/ocf/hapost" "$tmp/agent"
agent=$tmp/agent

# Prints a TCP port on 127.0.0.1 that no socket uses. It lies below
# Linux's default ephemeral range (32768-60999), so a client connection
# of a test running at the same time cannot take it before hapostd
# binds it.
free_port()
{
	while :; do
		p=$(( $(od -An -N2 -tu2 /dev/urandom) % 12000 + 20000 ))
		ss -Htan "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}
smtp_port=$(free_port)
sub_port=$(free_port)
pop3_port=$(free_port)
imap_port=$(free_port)
cat >"$tmp/hapost.conf" <<CONF
data_dir = $tmp/data
run_dir = $tmp/run
hostname = agent-test.example
smtp_listen = 127.0.0.1:$smtp_port
submission_listen = 127.0.0.1:$sub_port
pop3_listen = 127.0.0.1:$pop3_port
imap_listen = 127.0.0.1:$imap_port
shutdown_timeout = 2s
# Probes every second, so that the control socket's report follows a
# change quickly.
cluster_probe_interval = 1s
CONF

OCF_ROOT=/usr/lib/ocf
OCF_RESOURCE_INSTANCE=hapost-test
OCF_RESKEY_binary=$(cd "$builddir" && pwd)/hapostd
OCF_RESKEY_hapostctl=$(cd "$builddir" && pwd)/hapostctl
OCF_RESKEY_config=$tmp/hapost.conf
OCF_RESKEY_logfile=$tmp/hapostd.log
export OCF_ROOT OCF_RESOURCE_INSTANCE OCF_RESKEY_binary OCF_RESKEY_hapostctl
export OCF_RESKEY_config OCF_RESKEY_logfile

agent_env_cleanup()
{
	OCF_RESKEY_CRM_meta_timeout=20000 "$agent" stop >/dev/null 2>&1
	if [ -n "${keep_tmp:-}" ]; then
		echo "kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
