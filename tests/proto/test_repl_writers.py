"""The writers of a replicated hapostd: every change reaches the standby.

One hapostd runs with storage_mode = replicated and is promoted with
"hapostctl promote --force"; its peer is a standby replicator alone
(tests/tools/hapost-replicator) with an empty data_dir of its own. Once
the standby is in sync, the tests deliver mail over SMTP, change
mailboxes over IMAP and POP3 and add an account with hapostctl. Then
they compare the two data_dirs file by file: type, mode, size,
modification time and SHA-256, without the paths that are not
replicated. With
replication_require_peer = yes and the standby stopped, every change is
refused with the protocol's temporary error and nothing changes locally.

The directory (domain and accounts) is created while the configuration
still says storage_mode = shared, because in replicated mode hapostctl's
changes go through a running replicator; the standby receives it in
its first catch-up.
"""

import imaplib
import os
import poplib
import shutil
import signal
import smtplib
import socket
import struct
import subprocess
import time

import pytest

from replmanifest import manifest, manifest_diff
from conftest import ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD, Hapost, \
    builddir, free_port

REPLICATOR = os.path.join(builddir(), "tests", "tools", "hapost-replicator")
DEADLINE = 30

pytestmark = pytest.mark.skipif(
    not os.access(REPLICATOR, os.X_OK),
    reason=f"{REPLICATOR} is not built (make check builds it)")


def wait_until(predicate, what, timeout=DEADLINE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def admin(run_dir, request):
    """Sends one admin request over RUN_DIR/repl.sock; returns the reply
    (frames of storage/repl_local.h: length, type byte, body)."""
    body = request.encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(os.path.join(run_dir, "repl.sock"))
        s.sendall(struct.pack(">IB", len(body) + 1, ord("q")) + body)
        data = b""
        while len(data) < 5 or len(data) < 4 + struct.unpack(
                ">I", data[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("the replicator closed the connection")
            data += chunk
    length, kind = struct.unpack(">IB", data[:5])
    assert chr(kind) == "a", data
    return data[5:4 + length].decode()


def repl_status(run_dir):
    try:
        text = admin(run_dir, "STATUS")
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in text.splitlines()
                if "=" in line)




class Standby:
    """A replicator alone, in standby role, with an empty data_dir."""

    def __init__(self, root, key_file, peer_port, require_peer):
        self.dir = os.path.join(root, "standby")
        self.data_dir = os.path.join(self.dir, "data")
        self.run_dir = os.path.join(self.dir, "run")
        self.conf = os.path.join(self.dir, "hapost.conf")
        self.log_path = os.path.join(self.dir, "replicator.log")
        os.makedirs(self.data_dir)
        os.makedirs(self.run_dir)
        self.port = free_port()
        self.proc = None
        with open(self.conf, "w") as f:
            f.write(f"data_dir = {self.data_dir}\n"
                    f"run_dir = {self.run_dir}\n"
                    "storage_mode = replicated\n"
                    f"replication_listen = 127.0.0.1:{self.port}\n"
                    f"replication_peer = 127.0.0.1:{peer_port}\n"
                    f"replication_key_file = {key_file}\n"
                    "replication_timeout = 5\n"
                    "replication_require_peer = "
                    f"{'yes' if require_peer else 'no'}\n")

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([REPLICATOR, "-c", self.conf],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_until(lambda: "role" in repl_status(self.run_dir),
                   "the standby replicator to answer STATUS")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def start_active(h):
    """Starts hapostd (it comes up as standby), promotes it and waits
    for its listeners."""
    log = open(h.log_path, "a")
    h.proc = subprocess.Popen([h.hapostd, "-f", "-c", h.conf],
                              stdout=log, stderr=log)
    log.close()
    wait_until(lambda: "role" in repl_status(h.run_dir),
               "the active node's replicator to answer STATUS")
    res = h.promote("--force")
    assert res.returncode == 0, res.stdout + res.stderr + h.log_text()

    def greets():
        try:
            with socket.create_connection(("127.0.0.1", h.smtp_port),
                                          timeout=5) as s:
                s.settimeout(10)
                return s.makefile("rb").readline().startswith(b"220")
        except OSError:
            return False
    wait_until(greets, "the SMTP greeting after the promotion")


def make_pair(request, require_peer):
    h = Hapost({"node_name": "node-a",
                "cluster_group": f"hapost-repl-writers-{os.getpid()}"})
    key = os.path.join(h.tmp, "replication.key")
    with open(key, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    if os.geteuid() == 0:
        shutil.chown(key, user=h.user)
    os.chmod(key, 0o600)
    active_port = free_port()
    standby = Standby(h.tmp, key, active_port, require_peer)
    h.settings.update({
        "storage_mode": "replicated",
        "replication_listen": f"127.0.0.1:{active_port}",
        "replication_peer": f"127.0.0.1:{standby.port}",
        "replication_key_file": key,
        "replication_timeout": "5",
        "replication_require_peer": "yes" if require_peer else "no",
    })
    h.write_config()

    def finish():
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(f"--- last lines of {h.log_path} ---")
            print("\n".join(h.log_text().splitlines()[-80:]))
            print(f"--- last lines of {standby.log_path} ---")
            print("\n".join(standby.log_text().splitlines()[-40:]))
        h.stop()
        standby.stop()
        h.cleanup()
    request.addfinalizer(finish)

    standby.start()
    start_active(h)
    wait_until(lambda: repl_status(h.run_dir).get("state") == "in-sync",
               "the active node to be in sync")
    return h, standby


@pytest.fixture
def pair(request):
    return make_pair(request, require_peer=False)


@pytest.fixture
def strict_pair(request):
    return make_pair(request, require_peer=True)


def send(h, rcpts, subject):
    with smtplib.SMTP(h.host, h.smtp_port, timeout=30) as s:
        s.sendmail("sender@example.org", rcpts,
                   f"From: sender@example.org\r\nSubject: {subject}\r\n"
                   f"\r\nbody of {subject}\r\n")


def queue_empty(h):
    for sub in ("messages", "status"):
        d = os.path.join(h.data_dir, "queue", sub)
        if os.path.isdir(d) and os.listdir(d):
            return False
    return True


def imap_login(h, user=ALICE, password=ALICE_PASSWORD):
    m = imaplib.IMAP4(h.host, h.imap_port)
    m.login(user, password)
    return m


def test_changes_reach_standby(pair):
    h, standby = pair

    # SMTP: queue entries, status records and removals, Maildir copies.
    send(h, [ALICE, BOB], "one")
    send(h, [ALICE], "two")
    send(h, [ALICE, BOB], "three")
    h.wait_for_messages(ALICE, 3)
    h.wait_for_messages(BOB, 2)
    wait_until(lambda: queue_empty(h), "the queue to empty")

    # IMAP: APPEND, the moves to cur/ and the uidlist, flags, a keyword,
    # EXPUNGE, folders, COPY and subscriptions.
    m = imap_login(h)
    typ, _ = m.append("INBOX", r"(\Flagged)", None,
                      b"Subject: appended\r\n\r\nappended body\r\n")
    assert typ == "OK"
    typ, data = m.select("INBOX")
    assert typ == "OK"
    assert int(data[0]) == 4
    assert m.store("1", "+FLAGS", r"(\Seen $Important)")[0] == "OK"
    assert m.store("2", "+FLAGS", r"(\Deleted)")[0] == "OK"
    assert m.expunge()[0] == "OK"
    assert m.create("Archive")[0] == "OK"
    assert m.create("Tmp")[0] == "OK"
    assert m.rename("Tmp", "Projects")[0] == "OK"
    assert m.copy("1:2", "Projects")[0] == "OK"
    assert m.delete("Archive")[0] == "OK"
    assert m.subscribe("Projects")[0] == "OK"
    m.logout()

    # POP3: DELE takes effect at QUIT.
    p = poplib.POP3(h.host, h.pop3_port, timeout=30)
    p.user(BOB)
    p.pass_(BOB_PASSWORD)
    assert len(p.list()[1]) == 2
    p.dele(1)
    assert p.quit().startswith(b"+OK")

    # hapostctl: the accounts table and a new Maildir.
    h.ctl("account", "add", "carol@example.test", input="carol-secret-3\n")

    assert len(h.messages(ALICE)) == 3
    assert len(h.messages(ALICE, "Projects")) == 2
    assert len(h.messages(BOB)) == 1
    assert os.path.isdir(h.maildir("carol@example.test"))
    assert not os.path.exists(h.maildir(ALICE, "Archive"))
    assert os.path.exists(os.path.join(h.maildir(ALICE), "hapost-keywords"))

    # Every commit above returned after the standby synced it, so the
    # copies match now. The wait only covers a queue manager pass that
    # may still be finishing.
    diff = []

    def same():
        nonlocal diff
        diff = manifest_diff(manifest(h.data_dir),
                             manifest(standby.data_dir))
        return not diff
    try:
        wait_until(same, "the two data_dirs to match", timeout=10)
    except AssertionError:
        raise AssertionError("data_dirs differ:\n" + "\n".join(diff))
    st = repl_status(h.run_dir)
    assert st.get("state") == "in-sync", st
    assert st.get("lag_changes") == "0", st

    # The comparison covered the changes themselves.
    copy = manifest(standby.data_dir)
    alice = "mail/example.test/alice"
    assert copy["mail/example.test/carol/cur"][0] == "dir"
    assert copy[f"{alice}/.Projects/hapost-uidlist"][0] == "file"
    assert copy[f"{alice}/hapost-keywords"][0] == "file"
    assert copy[f"{alice}/subscriptions"][0] == "file"
    assert f"{alice}/.Archive" not in copy
    assert sum(1 for p in copy if p.startswith(f"{alice}/cur/")) == 3
    assert sum(1 for p in copy if p.startswith(f"{alice}/.Projects/cur/")) \
        == 2
    assert sum(1 for p in copy
               if p.startswith("mail/example.test/bob/cur/")) == 1
    assert not any(p.startswith("queue/messages/") for p in copy)
    with open(os.path.join(standby.data_dir, "directory", "accounts")) as f:
        assert "carol@example.test:" in f.read()


def test_refused_changes_publish_nothing(strict_pair):
    h, standby = strict_pair
    send(h, [ALICE], "before")
    h.wait_for_messages(ALICE, 1)
    wait_until(lambda: queue_empty(h), "the queue to empty")
    m = imap_login(h)
    assert m.select("INBOX")[0] == "OK"

    standby.stop()
    wait_until(lambda: repl_status(h.run_dir).get("state") not in
               (None, "in-sync"), "the active node to leave in-sync")

    # SMTP: 451 4.3.0 and no queue entry.
    with pytest.raises(smtplib.SMTPDataError) as exc:
        send(h, [ALICE], "refused")
    assert exc.value.smtp_code == 451
    assert b"4.3.0" in exc.value.smtp_error
    assert b"replication" in exc.value.smtp_error
    assert queue_empty(h)

    # IMAP: NO [UNAVAILABLE], and the message is not stored.
    typ, data = m.append("INBOX", None, None,
                         b"Subject: refused\r\n\r\nbody\r\n")
    assert typ == "NO"
    assert data[0].startswith(b"[UNAVAILABLE]")
    typ, data = m.create("Refused")
    assert typ == "NO"
    assert data[0].startswith(b"[UNAVAILABLE]")
    assert not os.path.exists(h.maildir(ALICE, "Refused"))
    typ, data = m.store("1", "+FLAGS", r"(\Seen)")
    assert typ == "NO"
    assert data[0].startswith(b"[UNAVAILABLE]")
    m.logout()
    assert len(h.messages(ALICE)) == 1
    assert not any(name.endswith(",S") for name in h.messages(ALICE))

    # POP3: the deletion is refused at QUIT with [SYS/TEMP].
    p = poplib.POP3(h.host, h.pop3_port, timeout=30)
    p.user(ALICE)
    p.pass_(ALICE_PASSWORD)
    p.dele(1)
    with pytest.raises(poplib.error_proto, match=r"\[SYS/TEMP\]"):
        p.quit()
    assert len(h.messages(ALICE)) == 1

    # hapostctl: an error and a non-zero exit, and no account.
    res = h.ctl("account", "add", "dave@example.test",
                input="dave-secret-4\n", check=False)
    assert res.returncode != 0
    assert "replication" in res.stderr
    assert not os.path.exists(h.maildir("dave@example.test"))
    assert "dave@example.test" not in h.ctl("account", "list").stdout
