"""hapostctl status and the control socket against a running hapostd.

Most tests run a single node without corosync, so the cluster is
reported unavailable and the role is standalone. The last test starts a
private corosync in network and mount namespaces of its own (root
only), configured with a second node that never comes up, runs hapostd
inside them and checks that the cluster process joins the CPG group,
reports the role active and shows the second node as an offline peer;
it is skipped when corosync is not installed.
"""

import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import Hapost


def status(h, *args):
    """Runs hapostctl status with h's config; returns the result."""
    return subprocess.run([h.hapostctl, "-c", h.conf, "status", *args],
                          capture_output=True, text=True, timeout=30)


def wait_status(h, predicate, timeout=10):
    """Polls status --json until predicate(rc, report) holds.

    A status without a report (the cluster process is restarting) counts
    as no match.
    """
    deadline = time.monotonic() + timeout
    while True:
        res = status(h, "--json")
        if res.returncode in (0, 1) and res.stdout:
            rc, report = res.returncode, json.loads(res.stdout)
            if predicate(rc, report):
                return rc, report
        if time.monotonic() > deadline:
            raise AssertionError(f"status never matched; last rc="
                                 f"{res.returncode}: {res.stdout}"
                                 f"{res.stderr}")
        time.sleep(0.05)


def wait_healthy(h, timeout=10):
    return wait_status(h, lambda rc, r: rc == 0, timeout)[1]


def control_exchange(h, request, timeout=10):
    """Sends raw bytes to the control socket; returns all it gets back."""
    path = os.path.join(h.run_dir, "control.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


def test_status_text_report(hapost):
    wait_healthy(hapost)
    res = status(hapost)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "This node\n" in out
    assert "role:           standalone\n" in out
    assert "health:         healthy\n" in out
    for port in hapost.ports():
        assert f"127.0.0.1:{port}" in out
    assert f"data_dir:       {hapost.data_dir} writable" in out
    assert "queue manager:  running (pid " in out
    assert "queue:          0 messages\n" in out
    assert "Peer\n  none seen\n" in out
    assert "corosync:       unavailable (" in out


def test_status_json_fields(hapost):
    report = wait_healthy(hapost)
    assert isinstance(report["node"], str) and report["node"]
    assert report["role"] == "standalone"
    assert report["healthy"] is True
    assert isinstance(report["generation"], int)
    assert report["generation"] >= 1
    assert report["data_dir_writable"] is True
    assert report["qmgr_alive"] is True
    assert isinstance(report["qmgr_pid"], int)
    assert report["queue"] == {"size": 0, "oldest_age": None}
    assert report["peer"] is None
    cluster = report["cluster"]
    assert cluster["connected"] is False
    assert cluster["members"] == 0
    assert cluster["group"] == "hapost"
    assert cluster["reason"]
    services = [(l["service"], l["address"], l["healthy"])
                for l in report["listeners"]]
    assert services == [
        ("smtp", f"127.0.0.1:{hapost.smtp_port}", True),
        ("submission", f"127.0.0.1:{hapost.submission_port}", True),
        ("pop3", f"127.0.0.1:{hapost.pop3_port}", True),
        ("imap", f"127.0.0.1:{hapost.imap_port}", True),
    ]


def test_status_startup_never_unhealthy(hapost_factory):
    """From the first response of the control socket on, the status is
    "unchecked" or "healthy", never "unhealthy", because listener probes
    that have not finished yet are no failure."""
    h = hapost_factory()
    h.stop()
    path = os.path.join(h.run_dir, "control.sock")
    log = open(h.log_path, "a")
    h.proc = subprocess.Popen([h.hapostd, "-f", "-c", h.conf],
                              stdout=log, stderr=log)
    log.close()

    headers = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(path)
                s.sendall(b"status json\n")
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            time.sleep(0.001)
            continue
        header, body = data.decode().split("\n", 1)
        headers.append(header)
        report = json.loads(body)
        if header == "+OK unchecked":
            assert report["healthy"] is None, report
            assert any(l["healthy"] is None for l in report["listeners"])
            assert all(l["error"] is None for l in report["listeners"]
                       if l["healthy"] is None)
        if header == "+OK healthy":
            break

    assert headers, "the control socket never answered"
    assert headers[-1] == "+OK healthy", headers
    assert "+OK unhealthy" not in headers, headers


def test_status_replication_null_in_shared_mode(hapost):
    report = wait_healthy(hapost)
    assert "replication" in report
    assert report["replication"] is None
    assert "Replication" not in status(hapost).stdout


def test_role_change_refused_in_shared_mode(hapost):
    wait_healthy(hapost)
    for args in (["promote"], ["promote", "--force"], ["demote"]):
        res = hapost.ctl(*args, check=False)
        assert res.returncode == 1, (args, res.stdout, res.stderr)
        assert "storage_mode is shared" in res.stderr, res.stderr
    # Still serving, and still healthy.
    assert wait_healthy(hapost)["role"] == "standalone"
    res = hapost.ctl("promote", "--now", check=False)
    assert res.returncode == 2
    assert "unknown argument --now" in res.stderr
    res = hapost.ctl("demote", "--force", check=False)
    assert res.returncode == 2


def test_status_generation_file(hapost):
    report = wait_healthy(hapost)
    with open(os.path.join(hapost.data_dir, "generation")) as f:
        assert int(f.read()) == report["generation"]


def test_status_usage_error(hapost):
    res = status(hapost, "--bogus")
    assert res.returncode == 2
    assert "unknown argument --bogus" in res.stderr


def test_control_socket_permissions(hapost):
    st = os.stat(os.path.join(hapost.run_dir, "control.sock"))
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert pwd.getpwuid(st.st_uid).pw_name == hapost.user


def test_control_socket_raw_requests(hapost):
    wait_healthy(hapost)
    reply = control_exchange(hapost, b"status json\r\n").decode()
    header, body = reply.split("\n", 1)
    assert header == "+OK healthy"
    assert json.loads(body)["role"] == "standalone"
    reply = control_exchange(hapost, b"shutdown\n")
    assert reply == (b"-ERR unknown command: send status, status json, "
                     b"promote, promote force, demote or announce\n")
    reply = control_exchange(hapost, b"status xml\n")
    assert reply.startswith(b"-ERR invalid argument")
    # Without corosync an announce fails at once.
    assert control_exchange(hapost, b"announce\n") == \
        b"-ERR cluster unavailable\n"
    reply = control_exchange(hapost, b"s" * 5000)
    assert reply == b"-ERR request too long\n"
    reply = control_exchange(hapost, b"status\0json\n")
    assert reply.startswith(b"-ERR invalid request")


def test_control_socket_drops_silent_client(hapost):
    path = os.path.join(hapost.run_dir, "control.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(15)
        s.connect(path)
        s.sendall(b"stat")
        start = time.monotonic()
        assert s.recv(100) == b""
        assert 3 < time.monotonic() - start < 12
    # The server still serves other clients afterwards.
    assert status(hapost).returncode == 0


def test_status_listener_off_not_listed(hapost_factory):
    h = hapost_factory(pop3_listen="", node_name="mx-test1")
    report = wait_healthy(h)
    assert report["node"] == "mx-test1"
    services = [l["service"] for l in report["listeners"]]
    assert services == ["smtp", "submission", "imap"]


def test_status_follows_reload(hapost_factory):
    h = hapost_factory()
    wait_healthy(h)
    h.settings["imap_listen"] = ""
    h.write_config()
    h.reload()
    # The master starts a new cluster process with the new listeners.
    report = wait_status(
        h, lambda rc, r: rc == 0 and
        [l["service"] for l in r["listeners"]] == ["smtp", "submission",
                                                   "pop3"], 15)[1]
    assert report["role"] == "standalone"


def test_status_stopped_qmgr_unhealthy(hapost_factory):
    h = hapost_factory()
    report = wait_healthy(h)
    old = report["qmgr_pid"]
    # The master restarts the queue manager after at least a second,
    # which leaves a window in which status must report it missing.
    os.kill(old, signal.SIGKILL)
    rc, report = wait_status(h, lambda rc, r: not r["qmgr_alive"], 5)
    assert rc == 1
    assert report["healthy"] is False
    assert report["qmgr_pid"] is None
    # Once restarted, the node is healthy again with a new queue manager.
    report = wait_healthy(h, 15)
    assert report["qmgr_pid"] != old


def test_status_unwritable_data_dir(hapost_factory):
    # The daemon never runs as root, so the mode binds it.
    h = hapost_factory(cluster_probe_interval="1s")
    wait_healthy(h)
    os.chmod(h.data_dir, 0o500)
    try:
        rc, report = wait_status(
            h, lambda rc, r: not r["data_dir_writable"], 10)
        assert rc == 1
        assert "Permission denied" in report["data_dir_error"]
    finally:
        os.chmod(h.data_dir, 0o750)
    report = wait_healthy(h)
    assert report["data_dir_error"] is None


def test_status_exit_3_when_stopped(hapost_factory):
    h = hapost_factory()
    wait_healthy(h)
    assert h.stop() == 0
    assert not os.path.exists(os.path.join(h.run_dir, "control.sock"))
    res = status(h)
    assert res.returncode == 3
    assert "hapostd is not running" in res.stderr
    # promote and demote know only success (0) and failure (1).
    for args in (["promote"], ["demote"]):
        res = h.ctl(*args, check=False)
        assert res.returncode == 1, args
        assert "hapostd is not running" in res.stderr, res.stderr


def test_status_exit_3_after_crash(hapost_factory):
    h = hapost_factory()
    wait_healthy(h)
    h.kill9()
    # The socket file stays behind, but no process listens on it.
    assert os.path.exists(os.path.join(h.run_dir, "control.sock"))
    res = status(h)
    assert res.returncode == 3
    assert "hapostd is not running" in res.stderr


COROSYNC_CONF = """\
totem {{
	version: 2
	cluster_name: hapost-test
	transport: knet
	token: 1000
	crypto_cipher: none
	crypto_hash: none
}}
nodelist {{
	node {{
		name: node1
		nodeid: 1
		ring0_addr: 127.0.0.1
	}}
	node {{
		name: node2
		nodeid: 2
		ring0_addr: 127.0.0.2
	}}
}}
quorum {{
	provider: corosync_votequorum
}}
logging {{
	to_stderr: yes
	to_logfile: no
	to_syslog: no
	timestamp: on
}}
uidgid {{
	uid: {user}
}}
"""

# Runs as the namespace's first process: loopback up, private /run,
# /dev/shm and corosync directories, then corosync in the foreground.
NAMESPACE_INIT = """\
set -e
ip link set lo up
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
mkdir -p /etc/corosync /var/lib/corosync
mount --bind "$1/etc" /etc/corosync
mount --bind "$1/lib" /var/lib/corosync
exec corosync -f
"""


class Corosync:
    """A single-node corosync in private network and mount namespaces."""

    def __init__(self, tmp, user):
        self.tmp = tmp
        for sub in ("etc", "lib"):
            os.makedirs(os.path.join(tmp, sub), exist_ok=True)
        with open(os.path.join(tmp, "etc", "corosync.conf"), "w") as f:
            f.write(COROSYNC_CONF.format(user=user))
        self.log_path = os.path.join(tmp, "corosync.log")
        self.proc = None

    def start(self, ns_pid=None):
        """Starts corosync, in new namespaces or in those of ns_pid."""
        log = open(self.log_path, "a")
        if ns_pid is None:
            argv = ["unshare", "--net", "--mount", "--propagation",
                    "private", "sh", "-c", NAMESPACE_INIT, "init",
                    self.tmp]
        else:
            argv = ["nsenter", "-t", str(ns_pid), "-n", "-m",
                    "corosync", "-f"]
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("corosync exited:\n" + self.log())
            res = self.run_in("corosync-cfgtool", "-s")
            if res.returncode == 0:
                return
            time.sleep(0.1)
        raise AssertionError("corosync did not answer:\n" + self.log())

    def run_in(self, *argv):
        return subprocess.run(["nsenter", "-t", str(self.proc.pid), "-n",
                               "-m", *argv], capture_output=True,
                              text=True, timeout=30)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


def test_status_cpg_with_corosync(request):
    if shutil.which("corosync") is None:
        pytest.skip("corosync is not installed (Debian package corosync)")
    if os.geteuid() != 0:
        pytest.skip("starting corosync in private namespaces needs root")
    tmp = tempfile.mkdtemp(prefix="hapost-corosync-")
    h = Hapost({"node_name": "node1", "cluster_probe_interval": "1s"})
    coro = Corosync(tmp, h.user)
    try:
        coro.start()
        # hapostd runs inside corosync's namespaces; its unix sockets
        # live in the shared temporary directory, so hapostctl works
        # from outside.
        wrapper = os.path.join(h.tmp, "hapostd-in-ns")
        with open(wrapper, "w") as f:
            f.write(f"#!/bin/sh\nexec nsenter -t {coro.proc.pid} -n -m "
                    f"{h.hapostd} \"$@\"\n")
        os.chmod(wrapper, 0o755)
        log = open(h.log_path, "a")
        h.proc = subprocess.Popen([wrapper, "-f", "-c", h.conf],
                                  stdout=log, stderr=log)
        log.close()
        ns_pid = h.proc.pid

        rc, report = wait_status(
            h, lambda rc, r: rc == 0 and r["cluster"]["connected"], 20)
        cluster = report["cluster"]
        assert cluster["members"] == 1
        assert cluster["nodes"] == 1
        assert cluster["nodeid"] == 1
        assert cluster["group"] == "hapost"
        assert cluster["reason"] is None
        assert report["node"] == "node1"
        # A hapostd joined to the cluster serves: it is the active node.
        assert report["role"] == "active"
        # node2 is configured but never started: an offline peer that
        # runs no hapostd and has sent no heartbeat.
        peer = report["peer"]
        assert peer is not None
        assert peer["node"] == "node2"
        assert peer["nodeid"] == 2
        assert peer["ring"] == "offline"
        assert peer["hapost_running"] is False
        assert peer["state"] == "none"
        assert peer["healthy"] is None
        assert peer["listeners"] == []
        text = status(h).stdout
        assert ("corosync:       connected, group hapost, node id 1, "
                "1 members, 1 nodes") in text
        assert "role:           active\n" in text
        assert ("Peer\n  name:           node2 (node id 2)\n"
                "  ring:           offline\n"
                "  hapost:         not running (node offline)\n") in text
        log_text = h.log_text()
        assert "joined CPG group hapost as node id 1" in log_text
        assert "role changed from standalone to active" not in log_text
        # An announce's heartbeat comes back through CPG.
        assert control_exchange(h, b"announce\n") == b"+OK announced\n"

        # corosync stops: the cluster process notices and reports why.
        coro.stop()
        rc, report = wait_status(
            h, lambda rc, r: not r["cluster"]["connected"], 15)
        assert rc == 0
        assert report["cluster"]["members"] == 0
        assert report["cluster"]["reason"]
        assert report["role"] == "standalone"
        # The peer stays known, but its ring state is unknown now.
        assert report["peer"]["nodeid"] == 2
        assert report["peer"]["ring"] is None
        assert report["peer"]["hapost_running"] is None
        log_text = h.log_text()
        assert "left CPG group hapost" in log_text
        assert "role changed from active to standalone" in log_text
        assert control_exchange(h, b"announce\n") == \
            b"-ERR cluster unavailable\n"

        # corosync is back: the cluster process joins again by itself.
        coro.start(ns_pid=ns_pid)
        rc, report = wait_status(
            h, lambda rc, r: r["cluster"]["connected"] and
            r["peer"]["ring"] is not None, 20)
        assert report["role"] == "active"
        assert report["peer"]["ring"] == "offline"
        assert h.log_text().count("joined CPG group hapost") == 2
    except BaseException:
        print("--- hapostd log ---\n" + h.log_text())
        print("--- corosync log ---\n" + coro.log())
        raise
    finally:
        h.cleanup()
        coro.stop()
        shutil.rmtree(tmp, ignore_errors=True)
