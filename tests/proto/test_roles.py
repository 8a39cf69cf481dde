"""The active and standby roles of storage_mode = replicated.

Each test starts two hapostd instances on loopback, A and B, replicating
to each other with one shared key file and no corosync. Both start as
standby: no listener answers and the status reports the role standby.
"hapostctl promote" makes one active, "demote" makes it standby again,
and the status shows the replication state on both. Some tests stop the
workers with SIGSTOP to hold a demotion open, kill the replicator, or
send SIGHUP and SIGUSR1 to the master.

The directory (domain and accounts) is created with hapostctl while the
configuration still says storage_mode = shared, because in replicated
mode hapostctl's changes go through a running replicator.
"""

import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import ALICE, BOB, Hapost, free_port

DEADLINE = 30


def status(h, *args):
    """Runs hapostctl status with h's config; returns the result."""
    return subprocess.run([h.hapostctl, "-c", h.conf, "status", *args],
                          capture_output=True, text=True, timeout=60)


def report(h):
    """Returns (exit status, JSON report) or (exit status, None)."""
    res = status(h, "--json")
    if res.returncode in (0, 1) and res.stdout:
        return res.returncode, json.loads(res.stdout)
    return res.returncode, None


def wait_report(h, predicate, what, timeout=DEADLINE):
    """Polls status --json until predicate(rc, report) holds."""
    deadline = time.monotonic() + timeout
    rc, rep = None, None
    while time.monotonic() < deadline:
        rc, rep = report(h)
        if rep is not None and predicate(rc, rep):
            return rep
        time.sleep(0.1)
    raise AssertionError(f"{h.settings['node_name']}: {what} never "
                         f"happened; last status rc={rc}: "
                         f"{json.dumps(rep, indent=1)}\nlog:\n"
                         f"{h.log_text()[-4000:]}")


def replication_state(rep):
    repl = rep.get("replication") or {}
    return repl.get("state")


def connect_refused(port):
    """True when nothing accepts on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


def greeting(port):
    """Returns the first line a listener sends, or None when refused."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.settimeout(10)
            return s.makefile("rb").readline().decode()
    except ConnectionRefusedError:
        return None


def wait_greeting(h, timeout=DEADLINE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = greeting(h.smtp_port)
        if line is not None and line.startswith("220"):
            return line
        time.sleep(0.05)
    raise AssertionError(f"no SMTP greeting on {h.smtp_port}; log:\n"
                         f"{h.log_text()[-4000:]}")


def control_exchange(h, request, timeout=30):
    """Sends one raw request to the control socket; returns the answer."""
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


def start_standby(h):
    """Starts hapostd and waits until its replicator answers."""
    log = open(h.log_path, "a")
    h.proc = subprocess.Popen([h.hapostd, "-f", "-c", h.conf],
                              stdout=log, stderr=log)
    log.close()
    wait_report(h, lambda rc, r: replication_state(r) not in (None,
                                                              "unknown"),
                "the replicator answering")
    return h


@pytest.fixture
def pair(request):
    """Two replicated nodes, A and B, both started as standby."""
    nodes = [Hapost({"node_name": "node-a"}), Hapost({"node_name": "node-b"})]
    key = os.path.join(nodes[0].tmp, "replication.key")
    with open(key, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    if os.geteuid() == 0:
        shutil.chown(key, user=nodes[0].user)
    os.chmod(key, 0o600)
    ports = [free_port(), free_port()]
    for i, h in enumerate(nodes):
        h.settings.update({
            "storage_mode": "replicated",
            "replication_listen": f"127.0.0.1:{ports[i]}",
            "replication_peer": f"127.0.0.1:{ports[1 - i]}",
            "replication_key_file": key,
            "replication_timeout": "5",
            "cluster_group": f"hapost-roles-{os.getpid()}",
        })
        h.write_config()
    try:
        for h in nodes:
            start_standby(h)
        yield nodes
    finally:
        rep = getattr(request.node, "rep_call", None)
        for h in nodes:
            if rep is not None and rep.failed:
                print(f"--- {h.settings['node_name']}: last lines of "
                      f"{h.log_path} ---")
                print("\n".join(h.log_text().splitlines()[-80:]))
            h.cleanup()


def promote(h, *args):
    return h.promote(*args)


def wait_in_sync(active, standby):
    wait_report(standby, lambda rc, r: replication_state(r) == "in-sync",
                "in-sync on the standby")
    return wait_report(active,
                       lambda rc, r: replication_state(r) == "in-sync",
                       "in-sync on the active")


def test_both_start_standby(pair):
    for h in pair:
        rc, rep = report(h)
        assert rc == 0, rep
        assert rep["role"] == "standby"
        assert rep["healthy"] is True
        assert rep["listeners"] == []
        assert rep["qmgr_alive"] is False
        assert rep["qmgr_pid"] is None
        for port in h.ports():
            assert connect_refused(port), port
        with open(os.path.join(h.run_dir, "role")) as f:
            assert f.read() == "standby\n"
        text = status(h)
        assert text.returncode == 0, text.stderr
        assert "role:           standby\n" in text.stdout
        assert "listeners:      none (standby)\n" in text.stdout
        assert "\nReplication\n" in text.stdout
        assert "promotion:      NOT promotable, score 0" in text.stdout


def test_standby_start_never_unhealthy(pair):
    """Until the replicator answers its first status, a starting standby
    is "unchecked", never "unhealthy"."""
    b = pair[1]
    b.stop()
    path = os.path.join(b.run_dir, "control.sock")
    log = open(b.log_path, "a")
    b.proc = subprocess.Popen([b.hapostd, "-f", "-c", b.conf],
                              stdout=log, stderr=log)
    log.close()
    headers = []
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            reply = control_exchange(b, b"status json\n")
        except OSError:
            time.sleep(0.001)
            continue
        header, body = reply.decode().split("\n", 1)
        headers.append(header)
        if header == "+OK unchecked":
            assert json.loads(body)["healthy"] is None
        if header == "+OK healthy":
            break
    assert headers, "the control socket never answered"
    assert headers[-1] == "+OK healthy", headers
    assert "+OK unhealthy" not in headers, headers


def test_status_replication_fields_typed(pair):
    rc, rep = report(pair[0])
    repl = rep["replication"]
    assert repl["state"] in ("disconnected", "catching-up", "in-sync")
    assert repl["role"] == "standby"
    assert isinstance(repl["connected"], bool)
    assert repl["peer"] == pair[0].settings["replication_peer"]
    assert isinstance(repl["lag_changes"], int)
    assert isinstance(repl["lag_seconds"], (int, float))
    assert isinstance(repl["generation"], int)
    assert isinstance(repl["peer_generation"], int)
    assert repl["complete"] is False
    assert repl["promotable"] is False
    assert repl["promotion_score"] == 0
    assert "not complete" in repl["promotion_reason"]
    assert set(repl["catch_up"]) == {"files_total", "files_done", "bytes"}
    assert all(isinstance(v, int) for v in repl["catch_up"].values())
    assert isinstance(repl["since"], (int, float))
    assert repl["last_error"] is None or isinstance(repl["last_error"], str)
    assert isinstance(repl["replicator_pid"], int)


def test_promote_incomplete_needs_force(pair):
    a, b = pair
    res = promote(a)
    assert res.returncode == 1, res.stdout
    assert "not promotable" in res.stderr, res.stderr
    assert "not complete" in res.stderr, res.stderr
    assert report(a)[1]["role"] == "standby"
    assert connect_refused(a.smtp_port)

    res = promote(a, "--force")
    assert res.returncode == 0, res.stderr
    assert "active" in res.stdout
    wait_greeting(a)
    rep = wait_report(a, lambda rc, r: rc == 0 and r["role"] == "active",
                      "a healthy active")
    assert rep["qmgr_alive"] is True
    assert [l["healthy"] for l in rep["listeners"]] == [True] * 4
    with open(os.path.join(a.run_dir, "role")) as f:
        assert f.read() == "active\n"
    # Promoting again changes nothing.
    res = promote(a)
    assert res.returncode == 0, res.stderr
    assert "already active" in res.stdout

    rep_a = wait_in_sync(a, b)
    assert rep_a["replication"]["role"] == "active"
    assert rep_a["replication"]["connected"] is True
    assert rep_a["replication"]["promotion_score"] == 100
    rep_b = wait_report(b, lambda rc, r: r["replication"]["complete"],
                        "b complete")
    assert rep_b["role"] == "standby"
    assert rep_b["replication"]["promotable"] is True
    assert rep_b["replication"]["promotion_score"] == 100
    assert rep_b["replication"]["generation"] == \
        rep_a["replication"]["generation"]
    # The top-level generation is read from the file the replicator
    # writes before it reports the generation, so it is never behind.
    rep_b = report(b)[1]
    assert rep_b["generation"] >= rep_b["replication"]["generation"]
    assert rep_b["generation"] == rep_a["replication"]["generation"]
    assert connect_refused(b.smtp_port)

    # Mail accepted by A reaches B's data_dir.
    with smtplib.SMTP("127.0.0.1", a.smtp_port, timeout=30) as c:
        c.sendmail(BOB, [ALICE], b"Subject: replicated\r\n\r\nhello\r\n")
    a.wait_for_messages(ALICE, 1, timeout=DEADLINE)
    b.wait_for_messages(ALICE, 1, timeout=DEADLINE)


def test_demote_closes_sessions_with_421(pair):
    a, b = pair
    assert promote(a, "--force").returncode == 0
    wait_greeting(a)
    wait_in_sync(a, b)

    session = socket.create_connection(("127.0.0.1", a.smtp_port),
                                       timeout=30)
    lines = session.makefile("rb")
    assert lines.readline().startswith(b"220")
    res = a.ctl("demote", check=False)
    assert res.returncode == 0, res.stderr
    assert "standby" in res.stdout
    assert lines.readline().startswith(b"421")
    session.close()
    assert connect_refused(a.smtp_port)
    rep = wait_report(a, lambda rc, r: r["role"] == "standby",
                      "a standby")
    assert rep["qmgr_alive"] is False
    assert rep["listeners"] == []
    with open(os.path.join(a.run_dir, "role")) as f:
        assert f.read() == "standby\n"
    res = a.ctl("demote", check=False)
    assert res.returncode == 0, res.stderr
    assert "already standby" in res.stdout

    # B was in sync, so it is complete: no force needed.
    wait_report(b, lambda rc, r: r["replication"]["promotable"],
                "b promotable")
    res = promote(b)
    assert res.returncode == 0, res.stderr
    wait_greeting(b)
    wait_report(b, lambda rc, r: rc == 0 and r["role"] == "active",
                "b a healthy active")
    assert connect_refused(a.smtp_port)


def test_announce_without_corosync(pair):
    a = pair[0]
    rep = report(a)[1]
    if rep["cluster"]["connected"]:
        pytest.skip("corosync runs here: the announce would succeed")
    assert control_exchange(a, b"announce\n") == \
        b"-ERR cluster unavailable\n"
    assert control_exchange(a, b"announce now\n").startswith(
        b"-ERR invalid argument")


def test_role_survives_replicator_restart(pair):
    a, b = pair
    assert promote(a, "--force").returncode == 0
    wait_greeting(a)
    old = report(a)[1]["replication"]["replicator_pid"]
    os.kill(old, 9)
    rep = wait_report(a, lambda rc, r: rc == 0 and
                      r["replication"]["replicator_pid"] not in (None, old)
                      and r["replication"]["role"] == "active",
                      "the restarted replicator active again")
    assert rep["role"] == "active"
    wait_greeting(a)



def children_named(h, name):
    """The pids of h's master's children whose process name is name."""
    out = subprocess.run(["pgrep", "-P", str(h.proc.pid)],
                         capture_output=True, text=True).stdout
    pids = []
    for pid in out.split():
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == name:
                    pids.append(int(pid))
        except FileNotFoundError:
            pass
    return pids


def test_demote_refuses_new_connections_at_once(pair):
    """While stopped workers hold up a demotion, the port already
    refuses connections instead of queueing them for nobody."""
    a, b = pair
    assert promote(a, "--force").returncode == 0
    wait_greeting(a)
    workers = children_named(a, "hapostd-worker")
    assert workers
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    try:
        demote = subprocess.Popen([a.hapostctl, "-c", a.conf, "demote"],
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        wait_report(a, lambda rc, r: r["role"] == "standby", "a demoting")
        assert demote.poll() is None, "the demotion did not wait"
        assert connect_refused(a.smtp_port)
        # One role change at a time.
        res = promote(a, "--force")
        assert res.returncode == 1
        assert "busy" in res.stderr, res.stderr
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
    out, err = demote.communicate(timeout=60)
    assert demote.returncode == 0, err
    assert "standby" in out


def test_reload_keeps_role_and_replicator(pair):
    a, b = pair
    repl_b = report(b)[1]["replication"]["replicator_pid"]
    b.reload()
    wait_report(b, lambda rc, r: "configuration reloaded" in b.log_text(),
                "b's reload")
    assert children_named(b, "hapostd-worker") == []
    assert children_named(b, "hapostd-qmgr") == []
    assert connect_refused(b.smtp_port)
    assert report(b)[1]["replication"]["replicator_pid"] == repl_b

    assert promote(a, "--force").returncode == 0
    wait_greeting(a)
    repl_a = report(a)[1]["replication"]["replicator_pid"]
    old_workers = set(children_named(a, "hapostd-worker"))
    a.reload()
    wait_report(a, lambda rc, r: rc == 0 and r["role"] == "active" and
                "configuration reloaded" in a.log_text(), "a's reload")
    assert set(children_named(a, "hapostd-worker")) - old_workers
    assert report(a)[1]["replication"]["replicator_pid"] == repl_a
    wait_greeting(a)


def test_sigusr1_rereads_role_file(pair):
    a = pair[0]
    role = os.path.join(a.run_dir, "role")
    with open(role, "w") as f:
        f.write("active force\n")
    a.proc.send_signal(signal.SIGUSR1)
    wait_greeting(a)
    wait_report(a, lambda rc, r: r["role"] == "active", "a active")
    with open(role) as f:
        assert f.read() == "active\n"
    # An invalid request changes nothing; the master writes the role back.
    with open(role, "w") as f:
        f.write("primary\n")
    a.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        with open(role) as f:
            if f.read() == "active\n":
                break
        time.sleep(0.05)
    assert "role change failed" in a.log_text()
    assert report(a)[1]["role"] == "active"
    wait_greeting(a)
