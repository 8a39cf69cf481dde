"""Hostile cases of the asynchronous SMTP commit in replicated mode.

An SMTP worker sends a batch of finished messages to the replicator and
serves other sessions until the reply comes. These tests stop the
standby's replicator with SIGSTOP so that a batch stays in flight, and
then kill the active's replicator, close clients, pipeline commands or
signal the worker. Afterwards they check the replies each client got,
that every message with a 250 is stored once, and that queue/tmp/ is
empty.
"""

import contextlib
import os
import signal
import smtplib
import socket
import threading
import time

from conftest import ALICE, BOB
from test_repl_failover import DEADLINE, descendants, pair, process_name, \
    subjects, wait_in_sync, wait_until  # noqa: F401 (pair is a fixture)


def worker_pids(h):
    return [pid for pid in descendants(h.proc.pid)
            if process_name(pid) == "hapostd-worker"]


@contextlib.contextmanager
def stopped_process(pid):
    """Stops pid (SIGSTOP) for the body of the with statement."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def tmp_files(h):
    d = os.path.join(h.data_dir, "queue", "tmp")
    return os.listdir(d) if os.path.isdir(d) else []


def crash_lines(h):
    """Log lines of an assertion or a child that died of a signal; the
    replicator killed by a test is not one."""
    return [line for line in h.log_text().splitlines()
            if "Assertion" in line or "dumped core" in line or
            ("killed by signal" in line and
             "killed by signal 9" not in line)]


class RawSession:
    """One SMTP session on a plain socket, for replies read one by one."""

    def __init__(self, h, timeout=DEADLINE):
        self.sock = socket.create_connection((h.host, h.smtp_port),
                                             timeout=timeout)
        self.file = self.sock.makefile("rb")
        assert self.reply().startswith("220")

    def reply(self):
        """Reads one reply (all its lines); returns '' at EOF."""
        text = ""
        while True:
            line = self.file.readline().decode()
            if not line:
                return text
            text += line
            if len(line) < 4 or line[3] != "-":
                return text

    def command(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def start_data(self, subject):
        assert self.command("EHLO attack.test").startswith("250")
        assert self.command(f"MAIL FROM:<{BOB}>").startswith("250")
        assert self.command(f"RCPT TO:<{ALICE}>").startswith("250")
        assert self.command("DATA").startswith("354")
        return (f"From: {BOB}\r\nMessage-ID: <{subject}@t>\r\n"
                f"Subject: {subject}\r\n\r\n{subject}\r\n.\r\n").encode()

    def close(self):
        self.file.close()
        self.sock.close()


def wait_in_flight(a):
    wait_until(lambda: int(a.repl().get("lag_changes", "0")) > 0,
               "a batch to wait for the standby", log=a.tail)


def settle(a, b):
    wait_in_sync(a, b)
    wait_until(lambda: not tmp_files(a), "queue/tmp/ on a to be empty",
               log=lambda: f"{tmp_files(a)}\n{a.tail()}")


def test_replicator_killed_in_flight(pair):
    """SIGKILL of the active's replicator while a batch waits: the client
    gets 451 and the message is not delivered."""
    a, b = pair(workers="1")
    stopped = b.child("hapostd-repl")
    s = RawSession(a)
    body = s.start_data("killed-repl")

    with stopped_process(stopped):
        s.sock.sendall(body)
        wait_in_flight(a)
        os.kill(a.child("hapostd-repl"), signal.SIGKILL)
        reply = s.reply()

    s.close()
    assert reply.startswith("451"), reply
    settle(a, b)
    assert "killed-repl" not in subjects(a)
    assert "killed-repl" not in subjects(b)
    assert crash_lines(a) == []


def test_client_gone_in_flight(pair):
    """A client that closes right after "." while its batch is in flight,
    and a second one that closes while its message waits for the next
    batch: input is not read while a message waits, so both messages are
    committed (their 250s are lost, as after any connection lost after
    the final dot). Each is delivered once on both nodes, and
    queue/tmp/ ends empty."""
    a, b = pair(workers="1")
    stopped = b.child("hapostd-repl")
    first = RawSession(a)
    body1 = first.start_data("gone-in-flight")
    second = RawSession(a)
    body2 = second.start_data("gone-pending")

    with stopped_process(stopped):
        first.sock.sendall(body1)
        wait_in_flight(a)
        first.close()
        second.sock.sendall(body2)
        wait_until(lambda: len(tmp_files(a)) >= 2,
                   "the second message in queue/tmp/", log=a.tail)
        second.close()
        # The batch in flight cannot land while the standby is stopped.
        time.sleep(0.5)

    settle(a, b)
    for subject in ("gone-in-flight", "gone-pending"):
        for h in (a, b):
            wait_until(lambda: subject in subjects(h),
                       f"{subject} on {h.name}", log=h.tail)
            assert subjects(h).count(subject) == 1
    assert crash_lines(a) == []


def test_pipelined_quit_after_data(pair):
    """The final "." and QUIT in one packet, and BDAT LAST with QUIT,
    while the batch waits: each gets exactly one 250 and then 221."""
    a, b = pair(workers="1")
    stopped = b.child("hapostd-repl")
    s1 = RawSession(a)
    body = s1.start_data("pipelined-data")
    s2 = RawSession(a)
    assert s2.command("EHLO attack.test").startswith("250")
    payload = (f"From: {BOB}\r\nMessage-ID: <pipelined-bdat@t>\r\n"
               f"Subject: pipelined-bdat\r\n\r\npipelined-bdat\r\n").encode()

    with stopped_process(stopped):
        s1.sock.sendall(body + b"QUIT\r\n")
        wait_in_flight(a)
        s2.sock.sendall(f"MAIL FROM:<{BOB}>\r\nRCPT TO:<{ALICE}>\r\n"
                        f"BDAT {len(payload)} LAST\r\n".encode() +
                        payload + b"QUIT\r\n")
        time.sleep(0.5)

    replies1 = [s1.reply(), s1.reply(), s1.reply()]
    replies2 = [s2.reply() for _ in range(5)]
    s1.close()
    s2.close()
    assert replies1[0].startswith("250"), replies1
    assert replies1[1].startswith("221"), replies1
    assert replies1[2] == "", replies1
    assert [r[:3] for r in replies2] == ["250", "250", "250", "221", ""], \
        replies2
    settle(a, b)
    wait_until(lambda: "pipelined-bdat" in subjects(a), "bdat on a")
    assert subjects(a).count("pipelined-data") == 1
    assert subjects(a).count("pipelined-bdat") == 1


def smtp_loader(h, tag, accepted, rejected, stop):
    n = 0
    while not stop.is_set():
        try:
            with smtplib.SMTP(h.host, h.smtp_port, timeout=15) as s:
                while not stop.is_set():
                    n += 1
                    subject = f"{tag}-{n}"
                    try:
                        s.sendmail(BOB, [ALICE],
                                   f"From: {BOB}\r\nMessage-ID: <{subject}"
                                   f"@t>\r\nSubject: {subject}\r\n\r\n"
                                   f"{subject}\r\n".encode())
                    except smtplib.SMTPResponseException as e:
                        rejected.append((subject, e.smtp_code))
                        raise
                    accepted.append(subject)
        except (OSError, smtplib.SMTPException):
            time.sleep(0.05)


def signal_worker_under_load(pair, signum):
    a, b = pair(workers="2")
    stopped = b.child("hapostd-repl")
    accepted, rejected = [], []
    stop = threading.Event()
    threads = [threading.Thread(target=smtp_loader,
                                args=(a, f"load{i}", accepted, rejected,
                                      stop))
               for i in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: len(accepted) > 20, "some accepted messages",
               log=a.tail)

    with stopped_process(stopped):
        wait_in_flight(a)
        time.sleep(0.3)
        for pid in worker_pids(a):
            os.kill(pid, signum)
        time.sleep(0.5)

    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(DEADLINE)
        assert not t.is_alive()
    settle(a, b)
    wait_until(lambda: a.queue_empty(), "a's queue to drain", log=a.tail)
    got = subjects(a)
    print(f"accepted {len(accepted)}, rejected {rejected}")
    missing = [m for m in accepted if m not in got]
    doubled = sorted({m for m in got if got.count(m) > 1})
    return a, b, accepted, rejected, missing, doubled


def test_sigterm_worker_in_flight(pair):
    """SIGTERM to every worker while batches wait, under four clients:
    each message with a 250 is on a once, no worker crashes, and
    queue/tmp/ ends empty."""
    a, b, accepted, rejected, missing, doubled = signal_worker_under_load(
        pair, signal.SIGTERM)
    assert accepted
    assert missing == []
    assert doubled == []
    assert crash_lines(a) == []
    wait_until(lambda: all(m in subjects(b) for m in accepted),
               "every accepted message on b", log=b.tail)


def test_sigusr2_worker_in_flight(pair):
    """SIGUSR2 (retire) to every worker while batches wait, same checks."""
    a, b, accepted, rejected, missing, doubled = signal_worker_under_load(
        pair, signal.SIGUSR2)
    assert accepted
    assert missing == []
    assert doubled == []
    assert crash_lines(a) == []


def test_require_peer_standby_gone(pair):
    """replication_require_peer = yes and the standby killed: new mail
    gets a 4xx reply, never 250."""
    a, b = pair(workers="1", replication_require_peer="yes")
    b.kill_all()
    codes = []
    for i in range(5):
        s = RawSession(a)
        body = s.start_data(f"no-peer-{i}")
        s.sock.sendall(body)
        codes.append(s.reply()[:3])
        s.close()
    assert "250" not in codes, codes
    assert all(c.startswith("4") for c in codes), codes
    assert not any(f"no-peer-{i}" in subjects(a) for i in range(5))
    assert crash_lines(a) == []


def test_sigterm_reply_in_flight(pair):
    """SIGTERM to the worker while a message's batch waits: the message
    is committed anyway, so the client reads its 250 before the 421 (a
    4xx would make it send the message again)."""
    a, b = pair(workers="1")
    stopped = b.child("hapostd-repl")
    s = RawSession(a)
    body = s.start_data("term-in-flight")

    with stopped_process(stopped):
        s.sock.sendall(body)
        wait_in_flight(a)
        os.kill(worker_pids(a)[0], signal.SIGTERM)
        reply = s.reply()
        goodbye = s.reply()

    s.close()
    settle(a, b)
    wait_until(lambda: a.queue_empty(), "a's queue to drain", log=a.tail)
    assert reply.startswith("250"), reply
    assert goodbye.startswith("421"), goodbye
    assert subjects(a).count("term-in-flight") == 1
    assert crash_lines(a) == []


def test_active_replicator_stopped(pair):
    """The active's replicator stopped (SIGSTOP) with a batch in flight:
    the worker gives up after replication_timeout plus a second and
    replies 451, so the standby must not keep the message either."""
    a, b = pair(workers="1")
    replicator = a.child("hapostd-repl")
    s = RawSession(a)
    body = s.start_data("stopped-active-repl")

    with stopped_process(replicator):
        s.sock.sendall(body)
        reply = s.reply()

    s.close()
    assert reply.startswith("451"), reply
    # A later message shows that the replicator works again.
    commit_deadline = time.monotonic() + DEADLINE
    while True:
        try:
            with smtplib.SMTP(a.host, a.smtp_port, timeout=DEADLINE) as c:
                c.sendmail(BOB, [ALICE],
                           f"From: {BOB}\r\nSubject: after\r\n\r\nx\r\n")
            break
        except smtplib.SMTPResponseException:
            assert time.monotonic() < commit_deadline, a.tail()
            time.sleep(0.2)
    settle(a, b)
    wait_until(lambda: a.queue_empty(), "a's queue to drain", log=a.tail)
    b_queue = os.listdir(os.path.join(b.data_dir, "queue", "messages"))
    assert "stopped-active-repl" not in subjects(a)
    assert b_queue == []
