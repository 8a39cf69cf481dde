"""hapostd as a process: startup errors, privileges, signals, limits."""

import os
import signal
import smtplib
import socket
import subprocess
import time

from conftest import ALICE, Hapost


def children_of(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


def process_uid(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def greeting(port, timeout=5):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        return s.recv(512).decode(errors="replace")


def wait_until(cond, timeout=10, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return False


def test_bad_config_names_file_and_line():
    h = Hapost()
    try:
        with open(h.conf, "a") as f:
            f.write("recipient_limit = lots\n")
        res = subprocess.run([h.hapostd, "-f", "-c", h.conf],
                             capture_output=True, text=True, timeout=10)
        assert res.returncode == 1
        lines = sum(1 for _ in open(h.conf))
        assert f"{h.conf}:{lines}: recipient_limit: invalid number 'lots'" \
            in res.stderr
    finally:
        h.cleanup()


def test_unknown_key_stops_startup():
    h = Hapost()
    try:
        with open(h.conf, "a") as f:
            f.write("smtp_lisen = 127.0.0.1:2525\n")
        res = subprocess.run([h.hapostd, "-t", "-c", h.conf],
                             capture_output=True, text=True, timeout=10)
        assert res.returncode == 1
        assert "unknown key 'smtp_lisen'" in res.stderr
    finally:
        h.cleanup()


def test_port_in_use_fails_startup():
    h = Hapost()
    blocker = socket.socket()
    try:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", h.imap_port))
        blocker.listen()
        res = subprocess.run([h.hapostd, "-f", "-c", h.conf],
                             capture_output=True, text=True, timeout=10)
        assert res.returncode == 1
        assert f"bind(127.0.0.1:{h.imap_port}) failed" in res.stderr
    finally:
        blocker.close()
        h.cleanup()


def test_children_run_unprivileged(hapost):
    kids = children_of(hapost.proc.pid)
    # workers = 2 in the fixture, the queue manager and the cluster
    # process
    names = sorted(open(f"/proc/{pid}/comm").read().strip() for pid in kids)
    assert names == ["hapostd-cluster", "hapostd-qmgr", "hapostd-worker",
                     "hapostd-worker"]
    if os.geteuid() == 0:
        assert process_uid(hapost.proc.pid) == 0
        for pid in kids:
            assert process_uid(pid) != 0


def test_killed_worker_is_restarted(hapost):
    before = children_of(hapost.proc.pid)
    os.kill(before[0], signal.SIGKILL)
    assert wait_until(lambda: len(children_of(hapost.proc.pid)) == 4
                      and before[0] not in children_of(hapost.proc.pid))
    assert greeting(hapost.smtp_port).startswith("220 ")
    assert wait_until(lambda: "killed by signal 9" in hapost.log_text())


def test_sigterm_stops_within_bound(hapost_factory):
    h = hapost_factory()
    # An SMTP session in the middle of a transaction gets a 421.
    s = socket.create_connection(("127.0.0.1", h.smtp_port), timeout=5)
    s.recv(512)
    s.sendall(b"EHLO client.example\r\n")
    time.sleep(0.2)
    s.recv(4096)
    start = time.monotonic()
    h.proc.send_signal(signal.SIGTERM)
    reply = b""
    while True:
        data = s.recv(4096)
        if not data:
            break
        reply += data
    s.close()
    code = h.proc.wait(timeout=15)
    elapsed = time.monotonic() - start
    h.proc = None
    assert code == 0
    assert reply.startswith(b"421 ")
    assert elapsed < 5 + 2
    assert not os.path.exists(os.path.join(h.run_dir, "hapostd.pid"))


def test_second_instance_refused(hapost):
    res = subprocess.run([hapost.hapostd, "-f", "-c", hapost.conf],
                         capture_output=True, text=True, timeout=10)
    assert res.returncode == 1
    # The listeners are taken, or the pid file names the running master.
    assert ("already running" in res.stderr
            or "failed: Address already in use" in res.stderr)


def test_sighup_reload_applies_new_listener(hapost_factory):
    h = hapost_factory(pop3_listen="")
    assert h.pop3_port not in h.ports()
    old_workers = children_of(h.proc.pid)
    h.settings["pop3_listen"] = f"127.0.0.1:{h.pop3_port}"
    h.write_config()
    h.reload()
    assert wait_until(lambda: "configuration reloaded" in h.log_text())
    assert greeting(h.pop3_port).startswith("+OK")
    assert wait_until(lambda: not set(old_workers)
                      & set(children_of(h.proc.pid)))


def test_sighup_with_bad_config_keeps_running(hapost_factory):
    h = hapost_factory()
    with open(h.conf, "a") as f:
        f.write("recipient_limit = -5\n")
    h.reload()
    assert wait_until(lambda: "reload failed, keeping the running config"
                      in h.log_text())
    assert greeting(h.smtp_port).startswith("220 ")
    assert h.proc.poll() is None


def test_sessions_per_ip_limit(hapost_factory):
    # The cluster process's listener checks (one connection per listener
    # at once) come from 127.0.0.1 too: the limit leaves room for them,
    # the test waits for the first round and the next is an hour away.
    limit = 6
    h = hapost_factory(sessions_per_ip=limit, cluster_probe_interval="1h")
    h.wait_listener_checks()
    held = []
    try:
        for _ in range(limit):
            s = socket.create_connection(("127.0.0.1", h.imap_port),
                                         timeout=5)
            assert s.recv(512).startswith(b"* OK")
            held.append(s)
        extra = socket.create_connection(("127.0.0.1", h.smtp_port),
                                         timeout=5)
        assert extra.recv(512).startswith(b"421 4.7.0")
        extra.close()
    finally:
        for s in held:
            s.close()
    # Closed sessions free their places again.
    assert wait_until(lambda: greeting(h.smtp_port).startswith("220 "))


def test_mail_survives_restart(hapost_factory):
    h = hapost_factory()
    with smtplib.SMTP("127.0.0.1", h.smtp_port, timeout=10) as c:
        c.sendmail("sender@remote.example", [ALICE],
                   b"Subject: restart\r\n\r\nkept across restarts\r\n")
    h.wait_for_messages(ALICE, 1)
    assert h.stop() == 0
    h.start()
    assert len(h.messages(ALICE)) == 1
