"""Failover and hostile cases of storage_mode = replicated.

Two hapostd nodes, A and B, run on loopback with their own data_dir,
replicating to each other without corosync; "hapostctl promote" and
"demote" drive the roles. The tests kill nodes with SIGKILL (the master
and every process below it), cut the replication link with SIGSTOP,
send hostile input to the replication port and to RUN_DIR/repl.sock,
and fill the standby's data_dir on a small tmpfs. After each failure
they check that every message, flag change and EXPUNGE that a client
saw acknowledged is still there, exactly once, on the node that serves.

The directory (domain and accounts) is created with hapostctl while the
configuration still says storage_mode = shared, because in replicated
mode hapostctl's changes go through a running replicator.
"""

import email.parser
import imaplib
import json
import os
import random
import shutil
import signal
import smtplib
import socket
import ssl
import stat
import struct
import subprocess
import tempfile
import threading
import time

import pytest

from replmanifest import manifest, manifest_diff
from conftest import ALICE, ALICE_PASSWORD, BOB, Hapost, \
    ensure_service_user, free_port

DEADLINE = 30
TIMEOUT = 2  # replication_timeout of the pairs


def wait_until(predicate, what, timeout=DEADLINE, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    extra = f"\n{log()}" if log is not None else ""
    raise AssertionError(f"timed out after {timeout} s waiting for "
                         f"{what}{extra}")


def descendants(pid):
    """The pids of every process below pid (children, grandchildren)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def process_name(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def process_state(pid):
    """The state letter of pid ("R", "S", "Z", ...), None when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None




def repl_frame(kind, body=b""):
    return struct.pack(">IB", len(body) + 1, ord(kind)) + body


class Node(Hapost):
    """One replicated hapostd, started as standby."""

    def start_standby(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([self.hapostd, "-f", "-c", self.conf],
                                     stdout=log, stderr=log)
        log.close()
        wait_until(lambda: self.repl().get("role") is not None,
                   f"{self.name}'s replicator to answer", log=self.tail)
        return self

    @property
    def name(self):
        return self.settings["node_name"]

    def tail(self, lines=60):
        return (f"--- {self.name} log ---\n" +
                "\n".join(self.log_text().splitlines()[-lines:]))

    def admin(self, request, timeout=10):
        """Sends one request over RUN_DIR/repl.sock; returns the reply."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(os.path.join(self.run_dir, "repl.sock"))
            s.sendall(repl_frame("q", request.encode()))
            data = b""
            while len(data) < 5 or \
                    len(data) < 4 + struct.unpack(">I", data[:4])[0]:
                chunk = s.recv(65536)
                if not chunk:
                    raise OSError("the replicator closed the connection")
                data += chunk
        assert data[4:5] == b"a", data
        return data[5:].decode()

    def repl(self):
        """The replicator's STATUS as a dict, or {} when it is down."""
        try:
            text = self.admin("STATUS")
        except OSError:
            return {}
        return dict(line.split("=", 1) for line in text.splitlines()
                    if "=" in line)

    def report(self):
        res = self.ctl("status", "--json", check=False)
        try:
            return json.loads(res.stdout)
        except ValueError:
            return None

    def serves(self):
        try:
            with socket.create_connection((self.host, self.smtp_port),
                                          timeout=5) as s:
                s.settimeout(10)
                return s.makefile("rb").readline().startswith(b"220")
        except OSError:
            return False

    def wait_serving(self):
        wait_until(self.serves, f"{self.name}'s SMTP greeting",
                   log=self.tail)

    def processes(self):
        if self.proc is None:
            return []
        return [self.proc.pid] + descendants(self.proc.pid)

    def kill_all(self):
        """SIGKILL to the master and every process below it, at once."""
        if self.proc is None:
            return
        pids = self.processes()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.proc = None

        def gone():
            return all(process_state(pid) in (None, "Z") for pid in pids)
        wait_until(gone, f"{self.name}'s processes to die")
        pid_file = os.path.join(self.run_dir, "hapostd.pid")
        if os.path.exists(pid_file):
            os.unlink(pid_file)

    def child(self, name):
        found = [pid for pid in descendants(self.proc.pid)
                 if process_name(pid) == name]
        assert found, f"{self.name} has no {name}"
        return found[0]

    def queue_empty(self):
        for sub in ("messages", "status"):
            d = os.path.join(self.data_dir, "queue", sub)
            if os.path.isdir(d) and os.listdir(d):
                return False
        return True


def in_sync(active, standby):
    return (active.repl().get("state") == "in-sync" and
            standby.repl().get("state") == "in-sync")


def wait_in_sync(active, standby, timeout=DEADLINE):
    wait_until(lambda: in_sync(active, standby),
               f"{standby.name} to be in sync with {active.name}",
               timeout=timeout,
               log=lambda: active.tail() + "\n" + standby.tail())


def write_key(path, text):
    with open(path, "w") as f:
        f.write(text)
    shutil.chown(path, user=ensure_service_user())
    os.chmod(path, 0o600)


def make_nodes(**options):
    """Two unstarted nodes replicating to each other; each has its own
    copy of one key in TMP/replication.key."""
    nodes = [Node({"node_name": "node-a"}), Node({"node_name": "node-b"})]
    text = os.urandom(32).hex() + "\n"
    ports = [free_port(), free_port()]
    for i, h in enumerate(nodes):
        key = os.path.join(h.tmp, "replication.key")
        write_key(key, text)
        h.repl_port = ports[i]
        h.key_file = key
        h.settings.update({
            "storage_mode": "replicated",
            "replication_listen": f"127.0.0.1:{ports[i]}",
            "replication_peer": f"127.0.0.1:{ports[1 - i]}",
            "replication_key_file": key,
            "replication_timeout": str(TIMEOUT),
            "cluster_group": f"hapost-failover-{os.getpid()}",
            "queue_retry_min": "1",
        })
        h.settings.update(options)
        h.write_config()
    return nodes


@pytest.fixture
def pair(request):
    """pair(**options): nodes A and B started as standby; A is promoted
    with --force and B is in sync with it."""
    made = []

    def make(**options):
        nodes = make_nodes(**options)
        made.extend(nodes)
        for h in nodes:
            h.start_standby()
        a, b = nodes
        res = a.promote("--force")
        assert res.returncode == 0, res.stderr + a.tail()
        a.wait_serving()
        wait_in_sync(a, b)
        return a, b
    yield make
    rep = getattr(request.node, "rep_call", None)
    for h in made:
        if rep is not None and rep.failed:
            print(h.tail(120))
        try:
            h.kill_all()
        finally:
            h.cleanup()


# Ledger: what clients saw acknowledged.

class Ledger:
    """Messages that got 250, flag changes and EXPUNGEs that got OK."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accepted = set()   # Message-IDs
        self.flagged = set()    # \Seen \Flagged acknowledged
        self.expunged = set()   # EXPUNGE acknowledged
        self.expunging = set()  # EXPUNGE sent, maybe not acknowledged


def message_id(n, cycle, doomed):
    return f"<{'del' if doomed else 'keep'}-{cycle}-{n}@ledger.test>"


def smtp_writer(h, ledger, cycle, stop):
    """Sends messages to alice until stop is set or the server is gone;
    every fourth message is one that the IMAP writer will expunge."""
    n = 0
    try:
        with smtplib.SMTP(h.host, h.smtp_port, timeout=10) as s:
            while not stop.is_set():
                n += 1
                mid = message_id(n, cycle, n % 4 == 0)
                s.sendmail(BOB, [ALICE],
                           f"From: {BOB}\r\nTo: {ALICE}\r\n"
                           f"Message-ID: {mid}\r\nSubject: {mid}\r\n\r\n"
                           f"ledger {mid}\r\n".encode())
                with ledger.lock:
                    ledger.accepted.add(mid)
    except (OSError, smtplib.SMTPException):
        pass


def imap_writer(h, ledger, stop):
    """Flags kept messages and expunges doomed ones while mail comes in."""
    try:
        m = imaplib.IMAP4(h.host, h.imap_port, timeout=10)
        m.login(ALICE, ALICE_PASSWORD)
        m.select("INBOX")
        while not stop.is_set():
            typ, data = m.fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS "
                                       "(MESSAGE-ID)])")
            found = {}
            if typ == "OK":
                for item in data:
                    if not isinstance(item, tuple):
                        continue
                    uid = item[0].split(b"UID ")[1].split()[0].decode()
                    header = item[1].decode().split(":", 1)
                    if len(header) == 2:
                        found[header[1].strip()] = uid
            with ledger.lock:
                to_flag = [(mid, uid) for mid, uid in found.items()
                           if mid.startswith("<keep-") and
                           mid not in ledger.flagged]
                to_delete = [(mid, uid) for mid, uid in found.items()
                             if mid.startswith("<del-") and
                             mid not in ledger.expunging]
            for mid, uid in to_flag[:3]:
                typ, _ = m.uid("STORE", uid, "+FLAGS", r"(\Seen \Flagged)")
                if typ == "OK":
                    with ledger.lock:
                        ledger.flagged.add(mid)
            if to_delete:
                uids = ",".join(uid for _, uid in to_delete)
                with ledger.lock:
                    ledger.expunging.update(mid for mid, _ in to_delete)
                typ, _ = m.uid("STORE", uids, "+FLAGS", r"(\Deleted)")
                if typ == "OK":
                    typ, _ = m.expunge()
                    if typ == "OK":
                        with ledger.lock:
                            ledger.expunged.update(
                                mid for mid, _ in to_delete)
            time.sleep(0.05)
    except (OSError, imaplib.IMAP4.error, EOFError):
        pass


def mailbox(h, address=ALICE):
    """Maps each Message-ID in the mailbox to the list of its flag
    strings (one per copy)."""
    out = {}
    parser = email.parser.BytesHeaderParser()
    for path in h.messages(address):
        name = os.path.basename(path)
        flags = name.split(":2,", 1)[1] if ":2," in name else ""
        with open(path, "rb") as f:
            mid = parser.parse(f).get("Message-ID")
        out.setdefault(mid, []).append(flags)
    return out


def ledger_problems(h, ledger):
    """Returns what the mailbox of h lacks or contains twice."""
    box = mailbox(h)
    problems = []
    with ledger.lock:
        for mid, copies in box.items():
            if len(copies) > 1:
                problems.append(f"{mid}: {len(copies)} copies")
        for mid in ledger.accepted:
            copies = box.get(mid, [])
            if mid in ledger.expunged:
                if copies:
                    problems.append(f"{mid}: expunged but present")
            elif mid not in ledger.expunging and not copies:
                problems.append(f"{mid}: accepted but missing")
        for mid in ledger.flagged:
            for flags in box.get(mid, [None]):
                if flags is None or "S" not in flags or "F" not in flags:
                    problems.append(f"{mid}: flags {flags}, expected S F")
    return problems


def test_ledger_across_kills(pair):
    """Ten SIGKILLs of the active at random moments under SMTP and IMAP
    writes: the in-sync standby is promoted without force and contains
    every acknowledged change exactly once; the killed node comes back
    as standby and ends with the same data."""
    a, b = pair()
    seed = random.randrange(1 << 30)
    print(f"random seed {seed}")
    rnd = random.Random(seed)
    ledger = Ledger()
    active, standby = a, b
    for cycle in range(10):
        stop = threading.Event()
        threads = [threading.Thread(target=smtp_writer,
                                    args=(active, ledger, cycle, stop)),
                   threading.Thread(target=smtp_writer,
                                    args=(active, ledger, cycle + 100,
                                          stop)),
                   threading.Thread(target=imap_writer,
                                    args=(active, ledger, stop))]
        for t in threads:
            t.start()
        time.sleep(rnd.uniform(0.2, 1.5))
        active.kill_all()
        stop.set()
        for t in threads:
            t.join(timeout=30)
            assert not t.is_alive()

        wait_until(lambda: standby.repl().get("connected") == "0",
                   f"{standby.name} to see the link gone")
        res = standby.promote()
        assert res.returncode == 0, res.stderr + standby.tail()
        standby.wait_serving()
        problems = []

        def delivered():
            nonlocal problems
            problems = ledger_problems(standby, ledger)
            return standby.queue_empty() and not problems
        wait_until(delivered, f"cycle {cycle}: the ledger on "
                   f"{standby.name}", log=lambda: "\n".join(problems))

        active.start_standby()
        wait_in_sync(standby, active)
        diff = []

        def same():
            nonlocal diff
            diff = manifest_diff(manifest(standby.data_dir),
                                 manifest(active.data_dir))
            return not diff
        wait_until(same, f"cycle {cycle}: identical data_dirs",
                   timeout=10, log=lambda: "\n".join(diff))
        print(f"cycle {cycle}: {len(ledger.accepted)} accepted, "
              f"{len(ledger.flagged)} flagged, {len(ledger.expunged)} "
              f"expunged")
        active, standby = standby, active
    assert len(ledger.accepted) > 50
    assert ledger.flagged
    assert ledger.expunged


def send(h, subject, rcpt=ALICE):
    with smtplib.SMTP(h.host, h.smtp_port, timeout=30) as s:
        s.sendmail(BOB, [rcpt], f"From: {BOB}\r\nMessage-ID: <{subject}@t>"
                   f"\r\nSubject: {subject}\r\n\r\n{subject}\r\n".encode())


def subjects(h, address=ALICE):
    parser = email.parser.BytesHeaderParser()
    out = []
    for path in h.messages(address):
        with open(path, "rb") as f:
            out.append(parser.parse(f).get("Subject"))
    return sorted(out)


def stale_pair(pair):
    """A serves degraded after B died, then A dies and B starts alone:
    returns (a, b, the generation A reached)."""
    a, b = pair()
    send(a, "in-sync")
    b.wait_for_messages(ALICE, 1)
    b.kill_all()
    send(a, "degraded")
    a.wait_for_messages(ALICE, 2)
    st = a.repl()
    assert st["state"] == "degraded", st
    a_generation = int(st["generation"])
    a.kill_all()
    b.start_standby()
    assert int(b.repl()["generation"]) < a_generation
    return a, b, a_generation


def test_stale_standby_not_promoted(pair):
    """B died, A took mail alone, then A died and B started alone. B has
    heard nothing of A since it started, so a plain promote is rejected
    and the status reports why."""
    a, b, a_generation = stale_pair(pair)
    wait_until(lambda: (b.report() or {}).get("replication", {})
               .get("role") == "standby", "b's report of its replicator")
    repl = b.report()["replication"]
    assert repl["complete"] is True, repl
    assert repl["promotable"] is False, repl
    assert repl["promotion_score"] == 0, repl
    assert "nothing heard from the peer" in repl["promotion_reason"], repl
    res = b.promote()
    assert res.returncode == 1, res.stdout
    assert "not promotable" in res.stderr, res.stderr
    assert b.report()["role"] == "standby"
    assert not b.serves()


def test_diverged_peer_not_overwritten(pair):
    """After a forced promotion of the stale B, A comes back as standby
    and refuses B's link rather than lose the mail only A holds. Once
    the administrator lets A's data win, B catches up from A."""
    a, b, a_generation = stale_pair(pair)
    res = b.promote("--force")
    assert res.returncode == 0, res.stderr
    b.wait_serving()
    b_generation = int(b.repl()["generation"])
    assert b_generation <= a_generation
    a.start_standby()
    # Both ends check, and the first to see the other's HELLO drops the
    # link; either way A keeps its mail.
    def refused():
        return ("not older than" in b.repl().get("last_error", "") or
                "not above" in a.repl().get("last_error", ""))
    wait_until(refused, "the catch-up of a to be refused",
               log=lambda: a.tail() + b.tail())
    assert "replication/state" in a.log_text() + b.log_text()
    assert subjects(a) == ["degraded", "in-sync"]
    st = a.repl()
    assert st["complete"] == "1", st
    assert int(st["generation"]) == a_generation, st

    # The administrator lets A's data win: demote B, promote A, and B
    # catches up from A. Force, because A may not have seen B's HELLO
    # (the link closes as soon as either end sees the other's), and
    # without it A cannot tell whether B holds newer data.
    assert b.ctl("demote", check=False).returncode == 0
    res = a.promote("--force")
    assert res.returncode == 0, res.stderr + a.tail()
    a.wait_serving()
    wait_in_sync(a, b)
    assert subjects(b) == ["degraded", "in-sync"]


def test_require_peer_refuses_alone(pair):
    """replication_require_peer = yes: with the standby gone, SMTP gets
    451 and IMAP APPEND gets NO, and data_dir does not change; once the
    standby is back in sync, mail is accepted again."""
    a, b = pair(replication_require_peer="yes")
    send(a, "before")
    a.wait_for_messages(ALICE, 1)
    wait_until(a.queue_empty, "a's queue to empty")
    m = imaplib.IMAP4(a.host, a.imap_port, timeout=30)
    m.login(ALICE, ALICE_PASSWORD)
    assert m.select("INBOX")[0] == "OK"

    b.kill_all()
    wait_until(lambda: a.repl().get("state") == "degraded",
               "a to degrade", log=a.tail)
    before = manifest(a.data_dir)
    with pytest.raises(smtplib.SMTPDataError) as exc:
        send(a, "refused")
    assert 400 <= exc.value.smtp_code < 500, exc.value
    typ, data = m.append("INBOX", None, None,
                         b"Subject: appended\r\n\r\nbody\r\n")
    assert typ == "NO", data
    assert data[0].startswith(b"[UNAVAILABLE]"), data
    typ, data = m.store("1", "+FLAGS", r"(\Seen)")
    assert typ == "NO", data
    assert manifest_diff(before, manifest(a.data_dir)) == []

    b.start_standby()
    wait_in_sync(a, b)
    send(a, "after")
    assert m.append("INBOX", None, None,
                    b"Subject: appended\r\n\r\nbody\r\n")[0] == "OK"
    m.logout()
    wait_until(lambda: subjects(b) == ["after", "appended", "before"],
               "the new mail on b", log=lambda: str(subjects(b)))


def test_link_stall_degrades(pair):
    """The standby's replicator stops (SIGSTOP) under load: the active
    degrades after replication_timeout and goes on, nothing acknowledged
    is lost, and the standby never serves. After SIGCONT it catches up."""
    a, b = pair()
    ledger = Ledger()
    stop = threading.Event()
    writers = [threading.Thread(target=smtp_writer,
                                args=(a, ledger, n, stop))
               for n in range(2)]
    for t in writers:
        t.start()
    try:
        wait_until(lambda: len(ledger.accepted) > 10, "mail to flow")
        replicator = b.child("hapostd-repl")
        os.kill(replicator, signal.SIGSTOP)
        try:
            wait_until(lambda: a.repl().get("state") == "degraded",
                       "a to degrade", log=a.tail)
            count = len(ledger.accepted)
            wait_until(lambda: len(ledger.accepted) > count + 10,
                       "mail to flow while degraded")
            assert not b.serves()
            rep = b.report()
            assert rep["role"] == "standby", rep
            assert rep["replication"]["promotion_score"] == 0, rep
        finally:
            os.kill(replicator, signal.SIGCONT)
        wait_until(lambda: b.repl().get("state") == "in-sync",
                   "b to catch up", log=b.tail)
    finally:
        stop.set()
        for t in writers:
            t.join(timeout=30)
    assert "did not acknowledge" in a.log_text() or \
        "did not answer" in a.log_text()
    for h in (a, b):
        problems = []

        def complete():
            nonlocal problems
            problems = ledger_problems(h, ledger)
            return a.queue_empty() and not problems
        wait_until(complete, f"the ledger on {h.name}",
                   log=lambda: "\n".join(problems))
    assert b.report()["role"] == "standby"


def test_worker_serves_while_commit_waits(pair):
    """One worker, the standby's replicator stopped: a message waits for
    its replication reply. Meanwhile a second SMTP session on the same
    worker gets replies to its greeting and EHLO, and an IMAP session
    there flags a message. Both commits end once the active degrades."""
    a, b = pair(workers="1")
    send(a, "first")
    a.wait_for_messages(ALICE, 1)
    replicator = b.child("hapostd-repl")
    outcome = {}

    def slow_sender():
        try:
            send(a, "stalled")
            outcome["ok"] = True
        except (OSError, smtplib.SMTPException) as e:
            outcome["error"] = repr(e)
    m = imaplib.IMAP4(a.host, a.imap_port, timeout=30)
    m.login(ALICE, ALICE_PASSWORD)
    m.select("INBOX")
    os.kill(replicator, signal.SIGSTOP)
    try:
        sender = threading.Thread(target=slow_sender)
        sender.start()
        wait_until(lambda: int(a.repl().get("lag_changes", "0")) > 0,
                   "the message's batch to wait for the standby",
                   log=a.tail)
        with smtplib.SMTP(a.host, a.smtp_port, timeout=1) as s:
            code, _ = s.ehlo()
        still_waiting = sender.is_alive()
        typ, _ = m.store("1", "+FLAGS", r"(\Flagged)")
    finally:
        os.kill(replicator, signal.SIGCONT)
    sender.join(DEADLINE)
    m.logout()
    assert code == 250
    assert still_waiting
    assert typ == "OK"
    assert outcome == {"ok": True}
    wait_until(lambda: "stalled" in subjects(a), "the message on a")
    assert "already waiting" not in a.log_text()


def closed_by_server(sock, timeout=DEADLINE):
    """Reads until the server closes; True when it did before timeout."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        return False
    return True


def commit_works(active, standby, subject):
    send(active, subject)
    wait_until(lambda: subject in subjects(standby),
               f"{subject} on {standby.name}", log=standby.tail)


def test_replication_port_hostile(pair):
    """Garbage, TLS without the key, a wrong key, and idle connections on
    both replication ports: each is dropped, the link and the commits go
    on, and a replicator that reconnects during a flood gets in."""
    a, b = pair()
    pids = {h.name: h.child("hapostd-repl") for h in (a, b)}
    for h in (a, b):
        for payload in (os.urandom(70000), b"GET / HTTP/1.0\r\n\r\n",
                        struct.pack(">IB", 0xFFFFFFF0, ord("H")),
                        b"\x16\x03\x01\xff\xff" + os.urandom(64)):
            with socket.create_connection(("127.0.0.1", h.repl_port)) as s:
                try:
                    s.sendall(payload)
                except (BrokenPipeError, ConnectionResetError):
                    continue
                assert closed_by_server(s), h.name
        # TLS with a certificate-based client: no PSK, no handshake.
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", h.repl_port)) as raw:
            with pytest.raises((ssl.SSLError, ConnectionResetError)):
                with ctx.wrap_socket(raw) as s:
                    s.recv(1)
        # The right identity with a wrong key.
        res = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{h.repl_port}",
             "-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256",
             "-psk_identity", "hapost-replication",
             "-psk", os.urandom(32).hex()],
            input=b"", capture_output=True, timeout=30)
        assert b"handshake failure" in res.stderr or res.returncode != 0, \
            res.stderr
    commit_works(a, b, "after-garbage")

    # Idle connections from another loopback address, opened without
    # pause; the oldest are closed once 64 are open.
    stop = threading.Event()
    opened = [0]

    def flood(port):
        held = []
        while not stop.is_set():
            try:
                s = socket.socket()
                s.bind(("127.0.0.2", 0))
                s.settimeout(1)
                s.connect(("127.0.0.1", port))
                held.append(s)
                opened[0] += 1
            except OSError:
                time.sleep(0.01)
            if len(held) > 64:
                for s in held[:32]:
                    s.close()
                del held[:32]
        for s in held:
            s.close()
    flooders = [threading.Thread(target=flood, args=(h.repl_port,))
                for h in (a, b)]
    for t in flooders:
        t.start()
    try:
        wait_until(lambda: opened[0] > 100, "the flood to run")
        commit_works(a, b, "during-flood")
        # The active's replicator restarts and connects again.
        os.kill(a.child("hapostd-repl"), signal.SIGKILL)
        wait_in_sync(a, b)
        commit_works(a, b, "reconnected-during-flood")
    finally:
        stop.set()
        for t in flooders:
            t.join(timeout=30)
    assert b.child("hapostd-repl") == pids[b.name]
    assert "rejected" in b.log_text()
    assert "handshake" in b.log_text() or "HELLO" in b.log_text()


def local_exchange(h, data, timeout=10):
    """Sends data to RUN_DIR/repl.sock; returns what came back before the
    replicator closed the connection (or the timeout)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(os.path.join(h.run_dir, "repl.sock"))
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            return b""
        got = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return got
                got += chunk
        except ConnectionResetError:
            return got


def test_local_socket_hostile(pair):
    """Garbage, oversized frames and batches, and batches that name files
    outside data_dir on RUN_DIR/repl.sock: the client is dropped or its
    batch refused, and the replicator goes on."""
    a, b = pair()
    pid = a.child("hapostd-repl")
    outside = os.path.join(a.tmp, "outside")
    with open(outside, "w") as f:
        f.write("secret\n")
    big = repl_frame("d", b"\0\0\x01\xa4" + b"x" * (9 << 20))
    cases = [
        os.urandom(100000),
        struct.pack(">I", 0xFFFFFFFF) + b"r" + b"\0" * 1000,
        struct.pack(">I", 0),
        big,
        repl_frame("z", b"unknown type"),
        repl_frame("q", b"X" * 300),
        repl_frame("q", b"STATUS\0"),
        repl_frame("c", b"body"),
        # 72 MB of 6 MB DATA frames: past the 64 MB batch limit.
        repl_frame("d", b"\0\0\x01\xa4x\0" + b"y" * (6 << 20)) * 12,
    ]
    for data in cases:
        assert local_exchange(a, data) == b"", data[:16]
    refused = [
        repl_frame("f", b"queue/x\0" + outside.encode() + b"\0"),
        repl_frame("f", b"queue/x\0" + a.data_dir.encode() +
                   b"/../outside\0"),
        repl_frame("f", b"../x\0" + a.data_dir.encode() +
                   b"/directory/accounts\0"),
        repl_frame("d", b"\0\0\x01\xa4/etc/x\0data"),
        repl_frame("d", b"\0\0\x01\xa4generation\0" + b"99\n"),
        repl_frame("d", b"\0\x01\0\0queue/x\0data"),
        repl_frame("r", os.urandom(64)),
    ]
    for item in refused:
        reply = local_exchange(a, item + repl_frame("c"))
        assert b"refused invalid batch" in reply, (item[:40], reply)
    assert not os.path.exists(os.path.join(b.data_dir, "queue", "x"))
    with open(os.path.join(b.data_dir, "generation")) as f:
        assert f.read() != "99\n"
    # Many idle clients at once.
    idle = []
    for _ in range(200):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(os.path.join(a.run_dir, "repl.sock"))
        s.sendall(struct.pack(">I", 100))
        idle.append(s)
    try:
        commit_works(a, b, "after-local-garbage")
    finally:
        for s in idle:
            s.close()
    assert a.child("hapostd-repl") == pid
    assert a.repl()["state"] == "in-sync"


def test_standby_symlinks_not_followed(pair):
    """Symlinks planted in the standby's data_dir that point outside are
    never written through: the standby ends with real files and
    directories in their place, equal to the active's."""
    a, b = pair()
    send(a, "first")
    with smtplib.SMTP(a.host, a.smtp_port, timeout=30) as s:
        s.sendmail(BOB, [BOB], b"Subject: big\r\n\r\n" +
                   (b"y" * 76 + b"\r\n") * 2000)
    b.wait_for_messages(ALICE, 1)
    [big] = b.wait_for_messages(BOB, 1)
    outside = tempfile.mkdtemp(prefix="hapost-outside-")
    try:
        os.makedirs(os.path.join(outside, "dir"))
        with open(os.path.join(outside, "file"), "w") as f:
            f.write("not yours\n")
        new = os.path.join(b.maildir(ALICE), "new")
        shutil.rmtree(new)
        os.symlink(os.path.join(outside, "dir"), new)
        queue = os.path.join(b.data_dir, "queue", "messages")
        shutil.rmtree(queue)
        os.symlink(os.path.join(outside, "dir"), queue)
        accounts = os.path.join(b.data_dir, "directory", "accounts")
        os.unlink(accounts)
        os.symlink(os.path.join(outside, "file"), accounts)
        # A FIFO where the active has a file large enough for a delta:
        # asking the standby for its signature must not block.
        os.unlink(big)
        os.mkfifo(big)

        send(a, "second")
        send(a, "third", rcpt=BOB)
        a.ctl("account", "add", "carol@example.test",
              input="carol-secret-3\n")
        wait_until(a.queue_empty, "a's queue to empty")
        wait_in_sync(a, b)
        diff = []

        def same():
            nonlocal diff
            diff = manifest_diff(manifest(a.data_dir), manifest(b.data_dir))
            return not diff
        wait_until(same, "identical data_dirs",
                   log=lambda: "\n".join(diff) + b.tail() + a.tail())
        assert os.listdir(os.path.join(outside, "dir")) == []
        with open(os.path.join(outside, "file")) as f:
            assert f.read() == "not yours\n"
        for path in (new, queue, accounts):
            assert not os.path.islink(path), path
        assert stat.S_ISREG(os.lstat(big).st_mode)
        assert subjects(b) == ["first", "second"]
        assert subjects(b, BOB) == ["big", "third"]
    finally:
        shutil.rmtree(outside)


@pytest.fixture
def small_tmpfs():
    """An 8 MB tmpfs mounted on a new directory, unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    root = tempfile.mkdtemp(prefix="hapost-tmpfs-")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755",
                          "hapost-test", root], capture_output=True,
                         text=True)
    if res.returncode != 0:
        os.rmdir(root)
        pytest.skip(f"cannot mount a tmpfs: {res.stderr.strip()}")
    yield root
    subprocess.run(["umount", "-l", root], check=True)
    os.rmdir(root)


def move_data_dir(h, new):
    """Moves h's data_dir (not started yet) to new and reconfigures h."""
    shutil.copytree(h.data_dir, new, symlinks=True)
    for root, dirs, files in os.walk(new):
        for name in [root] + [os.path.join(root, n) for n in dirs + files]:
            shutil.chown(name, user=h.user, group=h.user)
    shutil.rmtree(h.data_dir)
    h.data_dir = new
    h.settings["data_dir"] = new
    h.write_config()


def test_standby_disk_full(small_tmpfs):
    """The standby's data_dir fills up: the active degrades and keeps
    every acknowledged message, the standby never counts as complete
    while it lacks data, and once space is freed it catches up."""
    nodes = make_nodes()
    a, b = nodes
    data = os.path.join(small_tmpfs, "data")
    move_data_dir(b, data)
    filler = os.path.join(small_tmpfs, "filler")
    with open(filler, "wb") as f:
        f.write(b"\0" * (5 << 20))
    try:
        for h in nodes:
            h.start_standby()
        assert a.promote("--force").returncode == 0
        a.wait_serving()
        wait_in_sync(a, b)
        accepted = []
        for n in range(8):
            subject = f"big-{n}"
            with smtplib.SMTP(a.host, a.smtp_port, timeout=30) as s:
                s.sendmail(BOB, [ALICE],
                           f"Subject: {subject}\r\n\r\n".encode() +
                           (b"x" * 76 + b"\r\n") * 6000)
            accepted.append(subject)
        wait_until(lambda: sorted(accepted) == subjects(a),
                   "the big messages on a", log=a.tail)
        wait_until(lambda: b.repl().get("complete") == "0" and
                   a.repl().get("state") != "in-sync",
                   "b to count as incomplete", log=b.tail)
        wait_until(lambda: b.report()["replication"]["complete"] is False,
                   "b's report to show it incomplete")
        rep = b.report()
        assert rep["replication"]["promotable"] is False, rep
        assert "No space left on device" in b.log_text()

        # While the disk stays full the active retries the catch-up.
        # Meanwhile no message on B lacks part of its content, and B
        # never counts as in sync without all of them.
        starts = b.log_text().count("catch-up from")
        problems = []

        def retried():
            st = b.repl()
            if st.get("state") == "in-sync" and st.get("complete") == "1" \
                    and subjects(b) != sorted(accepted):
                problems.append(f"in sync without all mail: {st}")
            for path in b.messages(ALICE):
                twin = os.path.join(a.maildir(ALICE),
                                    os.path.relpath(path, b.maildir(ALICE)))
                with open(path, "rb") as f, open(twin, "rb") as g:
                    if f.read() != g.read():
                        problems.append(f"{path} differs from a's copy")
            assert not problems, problems
            return b.log_text().count("catch-up from") >= starts + 2
        wait_until(retried, "two more catch-up attempts", log=b.tail)

        os.unlink(filler)
        wait_in_sync(a, b, timeout=60)
        assert subjects(b) == sorted(accepted)
        send(a, "after")
        wait_until(lambda: "after" in subjects(b), "new mail on b")
    finally:
        for h in nodes:
            try:
                h.kill_all()
            finally:
                h.cleanup()


@pytest.mark.parametrize("target", ["closed-port", "smtp-port", "itself"])
def test_wrong_peer_address(target):
    """replication_peer names a closed port, a port that is not a
    replicator, or this node itself: the node serves alone (degraded),
    and the status and log say what is wrong."""
    h = make_nodes()[0]
    try:
        peer = {"closed-port": f"127.0.0.1:{free_port()}",
                "smtp-port": f"127.0.0.1:{h.smtp_port}",
                "itself": h.settings["replication_listen"]}[target]
        expected = {"closed-port": "Connection refused",
                    "smtp-port": "TLS handshake",
                    "itself": "own replication_listen"}[target]
        h.settings["replication_peer"] = peer
        h.write_config()
        h.start_standby()
        assert h.promote("--force").returncode == 0
        h.wait_serving()
        send(h, "alone")
        h.wait_for_messages(ALICE, 1)
        wait_until(lambda: expected in h.repl().get("last_error", ""),
                   f"last_error to mention {expected}", log=h.tail)
        st = h.repl()
        assert st["state"] == "degraded", st
        wait_until(lambda: expected in (h.report()["replication"]
                                        ["last_error"] or ""),
                   "the status report to show the error")
        assert "split brain" not in h.log_text()
    finally:
        try:
            h.kill_all()
        finally:
            h.cleanup()


def test_split_brain_refused(pair):
    """Both nodes promoted: neither replicates to the other, both log the
    split brain, and neither's mail is deleted. When B is demoted its
    data still differs, so A does not catch it up until the
    administrator discards B's copy."""
    a, b = pair()
    send(a, "before")
    b.wait_for_messages(ALICE, 1)
    res = b.promote("--force")
    assert res.returncode == 0, res.stderr
    b.wait_serving()
    assert a.serves()
    send(a, "a-only")
    send(b, "b-only")
    for h in (a, b):
        wait_until(lambda: "split brain" in h.repl().get("last_error", ""),
                   f"{h.name} to report the split brain", log=h.tail)
        assert "error: split brain" in h.log_text()
    assert subjects(a) == ["a-only", "before"]
    assert subjects(b) == ["b-only", "before"]

    assert b.ctl("demote", check=False).returncode == 0

    # Both ends check, and the first to see the other's HELLO drops the
    # link; either way B keeps its mail.
    def refused():
        return ("not older than" in a.repl().get("last_error", "") or
                "not above" in b.repl().get("last_error", ""))
    wait_until(refused, "the catch-up of b to be refused",
               log=lambda: a.tail() + b.tail())
    assert subjects(b) == ["b-only", "before"]
    assert "replication/state" in a.log_text() + b.log_text()

    # The administrator discards B's copy as the log says.
    b.kill_all()
    os.unlink(os.path.join(b.data_dir, "replication", "state"))
    b.start_standby()
    wait_in_sync(a, b)
    assert subjects(b) == ["a-only", "before"]


def test_reload_with_new_key(pair):
    """A new key in the same replication_key_file takes effect on
    SIGHUP: the link fails until both nodes have it, then comes back."""
    a, b = pair()
    old = {h.name: h.child("hapostd-repl") for h in (a, b)}
    text = os.urandom(32).hex() + "\n"
    write_key(a.key_file, text)
    a.reload()
    wait_until(lambda: a.repl().get("state") == "degraded",
               "a to lose the link with the new key", log=a.tail)
    assert a.child("hapostd-repl") != old[a.name]
    send(a, "during-rotation")
    assert "during-rotation" not in subjects(b)

    write_key(b.key_file, text)
    b.reload()
    wait_in_sync(a, b)
    assert b.child("hapostd-repl") != old[b.name]
    assert subjects(b) == ["during-rotation"]
    send(a, "after-rotation")
    wait_until(lambda: "after-rotation" in subjects(b), "mail on b")


def test_status_shows_catch_up_progress(pair):
    """hapostctl status on the active shows a catch-up's progress: files
    done of the total and bytes, and the standby that catches up is not
    promotable. The standby's replicator is stopped (SIGSTOP) once the
    active has listed what it lacks, so that the catch-up holds still
    while it is read."""
    a, b = pair()
    b.kill_all()
    body = (b"z" * 76 + b"\r\n") * 26000  # 2 MB
    with smtplib.SMTP(a.host, a.smtp_port, timeout=60) as s:
        for n in range(24):
            s.sendmail(BOB, [ALICE], f"Subject: big-{n}\r\n\r\n".encode() +
                       body)
    a.wait_for_messages(ALICE, 24)
    wait_until(a.queue_empty, "a's queue to empty")

    b.start_standby()
    def listed():
        st = a.repl()
        return st.get("state") == "catching-up" and \
            int(st.get("catch_up_files_total", 0)) >= 24
    wait_until(listed, "a to list what b lacks", timeout=60, log=a.tail)
    replicator = b.child("hapostd-repl")
    os.kill(replicator, signal.SIGSTOP)
    try:
        def reported():
            repl = (a.report() or {}).get("replication") or {}
            return repl.get("state") == "catching-up" and \
                (repl.get("catch_up") or {}).get("files_total", 0) >= 24
        wait_until(reported, "a's report to show the catch-up")
        repl = a.report()["replication"]
        assert repl["state"] == "catching-up", repl
        progress = repl["catch_up"]
        assert progress["files_total"] >= 24, progress
        assert progress["files_done"] <= progress["files_total"], progress
        assert progress["bytes"] > 0, progress
        text = a.ctl("status").stdout
        assert f"of {progress['files_total']}" in text, text
        st = b.report()["replication"]
        assert st["promotable"] is False, st
    finally:
        os.kill(replicator, signal.SIGCONT)
    wait_in_sync(a, b, timeout=60)
    wait_until(lambda: a.report()["replication"]["state"] == "in-sync",
               "a's report to show in-sync")
    repl = a.report()["replication"]
    assert repl["catch_up"]["files_done"] == repl["catch_up"]["files_total"]
    assert repl["promotion_score"] == 100, repl
    wait_until(lambda: b.report()["replication"]["promotion_score"] == 100,
               "b's score 100 in sync")


@pytest.mark.xfail(strict=True, reason="a catch-up waits without limit for "
                   "every local client that got ok to send DONE, so one "
                   "stuck writer keeps the standby from reaching in-sync")
def test_stuck_writer_holds_catch_up(pair):
    """A writer on RUN_DIR/repl.sock gets "ok" for a batch and then
    hangs before its DONE (a stopped worker or hapostctl): the standby
    should still reach in-sync."""
    a, b = pair()
    b.kill_all()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(os.path.join(a.run_dir, "repl.sock"))
        s.sendall(repl_frame("d", b"\0\0\x01\xa4directory/stuck\0x") +
                  repl_frame("c"))
        assert s.recv(100) == repl_frame("a", b"ok")
        b.start_standby()
        wait_in_sync(a, b, timeout=6 * TIMEOUT)
