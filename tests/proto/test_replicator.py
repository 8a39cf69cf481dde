"""Replicator tests: two replicators on loopback, without the master.

Each test builds nodes with their own data_dir and run_dir in a temporary
folder and runs tests/tools/hapost-replicator on free loopback ports.
tests/tools/repl-commit commits batches through repl.h and publishes them
the way the daemon's writers do; admin requests (STATUS, ROLE) go over
RUN_DIR/repl.sock in the frame format of storage/repl_local.h. No root is
needed.
"""

import os
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from replmanifest import manifest
from conftest import builddir, free_port

TOOLS = os.path.join(builddir(), "tests", "tools")
REPLICATOR = os.path.join(TOOLS, "hapost-replicator")
COMMIT = os.path.join(TOOLS, "repl-commit")


def frame(kind, body=b""):
    return struct.pack(">IB", len(body) + 1, ord(kind)) + body


def read_frame(sock):
    """Returns (type, body) of the next frame, or None at end of stream."""
    head = b""
    while len(head) < 5:
        chunk = sock.recv(5 - len(head))
        if not chunk:
            return None
        head += chunk
    length, kind = struct.unpack(">IB", head)
    body = b""
    while len(body) < length - 1:
        chunk = sock.recv(length - 1 - len(body))
        if not chunk:
            return None
        body += chunk
    return chr(kind), body


def wait_until(predicate, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")




class Node:
    def __init__(self, root, name, key_file, timeout=3, require_peer=False):
        self.name = name
        self.dir = os.path.join(root, name)
        self.data = os.path.join(self.dir, "data")
        self.run = os.path.join(self.dir, "run")
        self.conf = os.path.join(self.dir, "hapost.conf")
        self.log_path = os.path.join(self.dir, "replicator.log")
        # Like an installed node: the queue folders exist on both.
        os.makedirs(os.path.join(self.data, "queue", "tmp"))
        os.makedirs(self.run)
        self.key_file = key_file
        self.timeout = timeout
        self.require_peer = require_peer
        self.port = free_port()
        self.peer_port = None
        self.proc = None

    def configure(self, peer_port):
        self.peer_port = peer_port
        with open(self.conf, "w") as f:
            f.write(f"data_dir = {self.data}\n"
                    f"run_dir = {self.run}\n"
                    "storage_mode = replicated\n"
                    f"replication_listen = 127.0.0.1:{self.port}\n"
                    f"replication_peer = 127.0.0.1:{peer_port}\n"
                    f"replication_key_file = {self.key_file}\n"
                    f"replication_timeout = {self.timeout}\n"
                    "replication_require_peer = "
                    f"{'yes' if self.require_peer else 'no'}\n")

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([REPLICATOR, "-c", self.conf, "-d"],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()

        def answers():
            assert self.proc.poll() is None, \
                f"{self.name} exited:\n{self.log()}"
            try:
                return "role=" in self.admin("STATUS")
            except OSError:
                return False
        wait_until(answers, f"{self.name} to answer STATUS")

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        self.proc.wait(timeout=15)

    def admin(self, request):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(os.path.join(self.run, "repl.sock"))
            s.sendall(frame("q", request.encode()))
            reply = read_frame(s)
        assert reply is not None and reply[0] == "a", reply
        return reply[1].decode()

    def status(self):
        lines = self.admin("STATUS").splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def commit(self, *lines):
        """Runs each line through repl-commit; returns its output lines."""
        r = subprocess.run([COMMIT, "-c", self.conf],
                           input="".join(line + "\n" for line in lines),
                           capture_output=True, text=True, timeout=60)
        return r.stdout.splitlines()

    def writer(self):
        return subprocess.Popen([COMMIT, "-c", self.conf],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, bufsize=1)


@pytest.fixture
def nodes(tmp_path):
    """nodes(**options) returns a new unstarted Node; all are stopped at
    the end."""
    key = tmp_path / "key"
    key.write_text(os.urandom(32).hex() + "\n")
    made = []

    def make(name, key_file=str(key), **options):
        node = Node(str(tmp_path), name, key_file, **options)
        made.append(node)
        return node
    yield make
    for node in made:
        node.stop(signal.SIGKILL)


@pytest.fixture
def pair(nodes):
    """pair(**options): node a (active) and b (standby), in sync."""
    def make(**options):
        a = nodes("a", **options)
        b = nodes("b", **options)
        a.configure(b.port)
        b.configure(a.port)
        b.start()
        a.start()
        assert a.admin("ROLE active force") == "ok"
        wait_until(lambda: a.status()["state"] == "in-sync",
                   "a to be in sync")
        return a, b
    return make


def test_commit_reaches_standby_before_ok(pair):
    a, b = pair()
    st = b.status()
    assert st["role"] == "standby"
    assert st["state"] == "in-sync"
    assert st["complete"] == "1"
    w = a.writer()
    w.stdin.write("put queue/messages/s1 text:hello\n")
    assert w.stdout.readline().strip() == "ok"
    # The answer came after the standby's sync: the file is there now.
    with open(os.path.join(b.data, "queue/messages/s1")) as f:
        assert f.read() == "hello"
    w.stdin.close()
    assert w.wait(timeout=10) == 0
    assert manifest(a.data) == manifest(b.data)


def test_operations_replicate(pair):
    a, b = pair()
    out = a.commit("mkdir mail/example.test/alice/cur",
                   "put mail/example.test/alice/cur/m1 random:300000",
                   "put mail/example.test/alice/cur/m2 text:two",
                   "mv mail/example.test/alice/cur/m2 "
                   "mail/example.test/alice/cur/m3",
                   "del mail/example.test/alice/cur/m1",
                   "put mail/example.test/bob/cur/x text:x",
                   "rmtree mail/example.test/bob",
                   "put queue/messages/empty text:",
                   "put queue/tmp/never text:x")
    assert out[:8] == ["ok"] * 8
    assert out[8].startswith("refused: path may not be replicated")
    assert manifest(a.data) == manifest(b.data)
    assert not os.path.exists(os.path.join(b.data, "mail/example.test/bob"))


def test_concurrent_commits_share_one_sync(pair):
    a, b = pair(timeout=20)
    before = int(a.status()["syncs"])
    standby_before = int(b.status()["syncs"])
    os.kill(b.proc.pid, signal.SIGSTOP)
    writers = []
    try:
        first = a.writer()
        first.stdin.write("put queue/messages/g0 text:0\n")
        first.stdin.flush()
        writers.append(first)
        wait_until(lambda: a.status()["lag_changes"] == "1",
                   "the first batch to be in flight")
        for i in range(1, 10):
            w = a.writer()
            w.stdin.write(f"put queue/messages/g{i} text:{i}\n")
            w.stdin.flush()
            writers.append(w)
        wait_until(lambda: a.status()["waiting_commits"] == "9",
                   "nine batches to wait for the next sync")
    finally:
        os.kill(b.proc.pid, signal.SIGCONT)
    for w in writers:
        assert w.stdout.readline().strip() == "ok"
        w.stdin.close()
        w.wait(timeout=10)
    # One sync for the first batch, one for the nine that came meanwhile.
    assert int(a.status()["syncs"]) - before == 2
    assert int(b.status()["syncs"]) - standby_before == 2
    assert a.status()["state"] == "in-sync"
    for i in range(10):
        assert os.path.exists(os.path.join(b.data, f"queue/messages/g{i}"))


def test_wrong_key_rejected(pair, nodes, tmp_path):
    a, b = pair()
    other = tmp_path / "other-key"
    other.write_text(os.urandom(32).hex() + "\n")
    rogue = nodes("rogue", key_file=str(other))
    rogue.configure(b.port)
    rogue.start()
    assert rogue.admin("ROLE active force") == "ok"
    wait_until(lambda: "rejected" in b.log(),
               "the standby to reject the rogue")
    # The two sides log the failed handshake in their own time.
    wait_until(lambda: "failed in the handshake" in rogue.log(),
               "the rogue to log the failed handshake")
    assert rogue.status()["connected"] == "0"
    assert rogue.status()["state"] == "degraded"
    assert b.status()["connected"] == "1"
    assert a.commit("put queue/messages/k1 text:k") == ["ok"]
    assert a.status()["state"] == "in-sync"
    assert os.path.exists(os.path.join(b.data, "queue/messages/k1"))


def test_short_key_file_fails_start(nodes, tmp_path):
    short = tmp_path / "short-key"
    short.write_text("too short\n")
    n = nodes("n", key_file=str(short))
    n.configure(free_port())
    r = subprocess.run([REPLICATOR, "-c", n.conf], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 1
    assert "at least 32" in r.stderr


def test_standby_lost_degrades(pair):
    a, b = pair()
    generation = int(a.status()["generation"])
    b.stop(signal.SIGKILL)
    wait_until(lambda: a.status()["state"] == "degraded",
               "a to become degraded")
    st = a.status()
    assert int(st["generation"]) == generation + 1
    assert st["connected"] == "0"
    with open(os.path.join(a.data, "generation")) as f:
        assert int(f.read()) == generation + 1
    assert "replication degraded" in a.log()
    assert a.commit("put queue/messages/d1 text:1",
                    "put queue/messages/d2 text:2") == ["ok", "ok"]
    # One bump per entry into degraded, not per commit.
    assert int(a.status()["generation"]) == generation + 1


def test_require_peer_refuses_without_peer(pair):
    a, b = pair(require_peer=True)
    assert a.commit("put queue/messages/p1 text:1") == ["ok"]
    b.stop(signal.SIGKILL)
    wait_until(lambda: a.status()["state"] == "degraded",
               "a to become degraded")
    out = a.commit("put queue/messages/p2 text:2")
    assert len(out) == 1
    assert out[0].startswith("refused:")
    assert "no peer in sync" in out[0]
    assert not os.path.exists(os.path.join(a.data, "queue/messages/p2"))
    b.start()
    wait_until(lambda: a.status()["state"] == "in-sync",
               "a to be in sync again")
    assert a.commit("put queue/messages/p3 text:3") == ["ok"]
    # The refused batch was never sent.
    assert not os.path.exists(os.path.join(b.data, "queue/messages/p2"))
    assert manifest(a.data) == manifest(b.data)


class Writer(threading.Thread):
    """Commits new files (and removes some) until stopped."""

    def __init__(self, node):
        super().__init__(daemon=True)
        self.node = node
        self.stop_flag = threading.Event()
        self.count = 0
        self.failures = []

    def run(self):
        w = self.node.writer()
        i = 0
        while not self.stop_flag.is_set():
            cmd = f"put queue/messages/w{i} random:{1000 + i * 37}"
            if i % 5 == 4:
                cmd = f"del queue/messages/w{i - 2}"
            w.stdin.write(cmd + "\n")
            answer = w.stdout.readline().strip()
            if answer != "ok":
                self.failures.append((cmd, answer))
            self.count += 1
            i += 1
        w.stdin.close()
        w.wait(timeout=20)


def test_catch_up_while_writing(pair, tmp_path):
    a, b = pair()
    lines = [f"put mail/example.test/alice/cur/m{i} random:{5000 + i}"
             for i in range(30)]
    lines.append("put big/blob random:3000000")
    lines.append("put old/tree/x text:x")
    assert a.commit(*lines) == ["ok"] * len(lines)
    assert manifest(a.data) == manifest(b.data)

    b.stop(signal.SIGKILL)
    wait_until(lambda: a.status()["state"] == "degraded",
               "a to become degraded")
    # Changes the standby misses: a big file changed in a few places (a
    # delta), files removed, renamed and added, a tree removed.
    blob = bytearray(open(os.path.join(a.data, "big/blob"), "rb").read())
    for off in (10, 1000000, 2999000):
        blob[off:off + 100] = b"Z" * 100
    changed = tmp_path / "blob"
    changed.write_bytes(bytes(blob))
    out = a.commit(f"put big/blob file:{changed}",
                   "del mail/example.test/alice/cur/m1",
                   "del mail/example.test/alice/cur/m2",
                   "mv mail/example.test/alice/cur/m3 "
                   "mail/example.test/alice/new/m3",
                   "put mail/example.test/alice/cur/n1 text:new",
                   "put mail/example.test/carol/cur/c1 random:70000",
                   "rmtree old")
    assert out == ["ok"] * 7

    writer = Writer(a)
    writer.start()
    try:
        wait_until(lambda: writer.count >= 5, "the writer to commit")
        b.start()
        wait_until(lambda: a.status()["state"] == "in-sync",
                   "a to be in sync after the catch-up", timeout=90)
        count = writer.count
        wait_until(lambda: writer.count >= count + 5,
                   "the writer to commit in sync")
    finally:
        writer.stop_flag.set()
        writer.join(timeout=30)
    assert writer.failures == []

    st = a.status()
    assert int(st["catch_up_deltas"]) >= 1
    assert int(st["catch_up_files_total"]) > 0
    assert st["catch_up_files_done"] == st["catch_up_files_total"]
    assert st["peer_generation"] == st["generation"]
    sb = b.status()
    assert sb["state"] == "in-sync"
    assert sb["complete"] == "1"
    assert sb["generation"] == st["generation"]
    with open(os.path.join(b.data, "replication/state")) as f:
        assert f.read() == "complete\n"
    log = a.log()
    assert "catch-up of" in log
    assert "started" in log
    assert "finished" in log
    assert manifest(a.data) == manifest(b.data)


def test_role_active_refused_when_incomplete(nodes):
    n = nodes("n")
    n.configure(free_port())
    n.start()
    st = n.status()
    assert st["complete"] == "0"
    answer = n.admin("ROLE active")
    assert answer.startswith("error ")
    assert "not complete" in answer
    assert n.status()["role"] == "standby"
    assert n.admin("ROLE active force") == "ok"
    st = n.status()
    assert st["role"] == "active"
    assert st["complete"] == "1"
    assert st["generation"] == "1"
    assert n.admin("ROLE standby") == "ok"
    assert n.status()["role"] == "standby"
    assert n.admin("ROLE bogus").startswith("error ")


def test_standby_promoted_after_active_lost(pair):
    a, b = pair()
    assert a.commit("put queue/messages/f1 text:1") == ["ok"]
    generation = int(b.status()["generation"])
    a.stop(signal.SIGKILL)
    wait_until(lambda: b.status()["state"] == "disconnected",
               "b to notice the lost link")
    assert b.admin("ROLE active") == "ok"
    st = b.status()
    assert st["role"] == "active"
    assert int(st["generation"]) == generation + 1
    assert b.commit("put queue/messages/f2 text:2") == ["ok"]


def test_split_brain_refused(pair):
    a, b = pair()
    assert b.admin("ROLE active force") == "ok"
    wait_until(lambda: "split brain" in a.log() and "split brain" in b.log(),
               "both nodes to report split brain")
    assert a.status()["connected"] == "0"
    assert b.status()["connected"] == "0"


def test_hostile_peer_bytes(pair):
    a, b = pair()
    payloads = [b"\x00" * 64, os.urandom(20000),
                b"GET / HTTP/1.0\r\n\r\n",
                b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",
                b"\x16\x03\x01\xff\xff" + os.urandom(3000)]
    for port in (a.port, b.port):
        for payload in payloads:
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.settimeout(20)
                try:
                    s.sendall(payload)
                    while s.recv(4096):
                        pass
                except (ConnectionResetError, BrokenPipeError):
                    pass
    assert a.proc.poll() is None
    assert b.proc.poll() is None
    assert "rejected" in b.log()
    assert a.commit("put queue/messages/h1 text:h") == ["ok"]
    assert a.status()["state"] == "in-sync"
    assert os.path.exists(os.path.join(b.data, "queue/messages/h1"))


def local_exchange(node, data):
    """Sends data on repl.sock; returns the reply frames until EOF."""
    replies = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(20)
        s.connect(os.path.join(node.run, "repl.sock"))
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            while True:
                f = read_frame(s)
                if f is None:
                    break
                replies.append(f)
        except (ConnectionResetError, BrokenPipeError):
            pass
    return replies


def test_hostile_local_bytes(pair, tmp_path):
    a, b = pair()
    secret = tmp_path / "secret"
    secret.write_text("secret")
    # Invalid frames and requests: the connection is closed.
    for data in [os.urandom(5000), b"\x00\x00\x00\x00\x01",
                 b"\xff\xff\xff\xff\x72", frame("z", b"x"),
                 frame("r", b"\x99garbage"),
                 frame("c") + frame("c"), frame("q", b"STA\x00TUS"),
                 frame("q", b"x" * 300), frame("c", b"body")]:
        assert all(kind == "a" for kind, _ in local_exchange(a, data))
    # Items that may not be replicated are refused, nothing is sent.
    for item in [frame("f", b"queue/messages/x\x00" + str(secret).encode()
                       + b"\x00"),
                 frame("f", b"../x\x00" + a.data.encode() +
                       b"/queue/messages/x\x00"),
                 frame("f", b"queue/messages/x\x00" + a.data.encode() +
                       b"/../secret\x00"),
                 frame("f", b"queue/messages/x"),
                 frame("d", b"\x00\x00\x01\xa4generation\x00data"),
                 frame("d", b"\x00")]:
        replies = local_exchange(a, item + frame("c"))
        assert len(replies) == 1
        assert replies[0][1].startswith(b"refused invalid batch")
    assert not os.path.exists(os.path.join(b.data, "queue/messages/x"))
    assert a.proc.poll() is None
    assert a.commit("put queue/messages/l1 text:l") == ["ok"]
    assert a.status()["state"] == "in-sync"
    assert os.path.exists(os.path.join(b.data, "queue/messages/l1"))


def commit_without_done(node, rel):
    """Commits DATA rel through a raw client that never sends DONE.
    Returns the open socket (closing it counts as done)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(os.path.join(node.run, "repl.sock"))
    s.sendall(frame("d", b"\x00\x00\x01\xa4" + rel.encode() + b"\x00x") +
              frame("c"))
    assert read_frame(s) == ("a", b"ok")
    return s


def hold_catch_up(pair, timeout=60):
    """Returns (a, b, client) with a's catch-up of b waiting for client's
    DONE before its last round."""
    a, b = pair(timeout=timeout)
    b.stop(signal.SIGKILL)
    wait_until(lambda: a.status()["state"] == "degraded",
               "a to become degraded")
    client = commit_without_done(a, "queue/messages/raw1")
    b.start()
    wait_until(lambda: a.status()["catch_up_phase"] == "waiting-for-done",
               "the catch-up to wait for the client's DONE")
    return a, b, client


def test_catch_up_holds_commits_until_done(pair):
    a, b, client = hold_catch_up(pair)
    st = b.status()
    assert st["state"] == "catching-up"
    assert st["complete"] == "0"
    w = a.writer()
    w.stdin.write("put queue/messages/held text:held\n")
    w.stdin.flush()
    wait_until(lambda: a.status()["waiting_commits"] == "1",
               "the new commit to be held")
    assert not os.path.exists(os.path.join(a.data, "queue/messages/held"))
    client.sendall(frame("n"))
    assert w.stdout.readline().strip() == "ok"
    assert a.status()["state"] == "in-sync"
    assert os.path.exists(os.path.join(b.data, "queue/messages/held"))
    w.stdin.close()
    w.wait(timeout=10)
    client.close()
    assert b.status()["complete"] == "1"


def test_held_commit_released_without_done(pair):
    a, b, client = hold_catch_up(pair, timeout=2)
    # The client never says DONE: after half of replication_timeout the
    # held commit gets its reply anyway, as during the catch-up.
    assert a.commit("put queue/messages/late text:late") == ["ok"]
    assert "releasing held commits" in a.log()
    assert a.status()["state"] == "catching-up"
    client.close()
    wait_until(lambda: a.status()["state"] == "in-sync",
               "a to be in sync once the client is gone")
    assert os.path.exists(os.path.join(b.data, "queue/messages/late"))
    assert manifest(a.data) == manifest(b.data)


def test_standby_lost_in_catch_up_incomplete(pair):
    a, b, client = hold_catch_up(pair)
    assert b.status()["complete"] == "0"
    a.stop(signal.SIGKILL)
    client.close()
    wait_until(lambda: b.status()["state"] == "disconnected",
               "b to lose the link")
    assert b.admin("ROLE active").startswith("error ")
    with open(os.path.join(b.data, "replication/state")) as f:
        assert f.read() == "incomplete\n"
    b.stop()
    b.start()
    st = b.status()
    assert st["complete"] == "0"
    assert st["role"] == "standby"
    assert b.admin("ROLE active").startswith("error ")


def test_hung_standby_degrades(pair):
    a, b = pair(timeout=2)
    generation = int(a.status()["generation"])
    os.kill(b.proc.pid, signal.SIGSTOP)
    try:
        assert a.commit("put queue/messages/hung text:1") == ["ok"]
        st = a.status()
        assert st["state"] == "degraded"
        assert int(st["generation"]) == generation + 1
    finally:
        os.kill(b.proc.pid, signal.SIGCONT)
    wait_until(lambda: a.status()["state"] == "in-sync",
               "a to be in sync again")
    assert manifest(a.data) == manifest(b.data)


def test_apply_error_breaks_link(pair):
    a, b = pair()
    generation = int(a.status()["generation"])
    # A directory on the standby where the active commits a file: the
    # standby cannot apply the COMMIT and drops the link.
    os.makedirs(os.path.join(b.data, "queue/messages/conflict/inside"))
    assert a.commit("put queue/messages/conflict text:x") == ["ok"]
    wait_until(lambda: "replication degraded" in a.log(),
               "a to degrade after the failed apply")
    assert "dropped" in b.log()
    assert int(a.status()["generation"]) > generation
    wait_until(lambda: a.status()["state"] == "in-sync",
               "the catch-up to repair the standby")
    assert os.path.isfile(os.path.join(b.data, "queue/messages/conflict"))
    assert manifest(a.data) == manifest(b.data)
