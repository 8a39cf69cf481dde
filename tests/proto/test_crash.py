"""Crash safety: kill -9 hapostd while messages stream in.

Every message that got a 250 must be in the Maildir exactly once after a
restart, and no message may be delivered twice. A message in flight at
the kill may or may not have been stored; its client never saw a 250, so
it sends the message again under a new sequence number, as a real client
would retry (RFC 5321 section 6.1 accepts the resulting duplicate).
"""

import os
import re
import signal
import smtplib
import subprocess
import threading
import time

import pytest

from conftest import ALICE, BOB

TOTAL = 1000
SENDERS = 4
# Messages queued while the queue manager is stopped: 400 recipients,
# so several delivery batches of up to 64.
BACKLOG = 200


def queue_entries(h):
    d = os.path.join(h.data_dir, "queue", "messages")
    return os.listdir(d) if os.path.isdir(d) else []


def seqs_in_mailbox(h, address):
    counts = {}
    for path in h.messages(address):
        with open(path, "rb") as f:
            head = f.read(4096)
        m = re.search(rb"\r?\nX-Test-Seq: (\d+)\r?\n", head)
        assert m, f"{path} has no X-Test-Seq header"
        seq = int(m.group(1))
        counts[seq] = counts.get(seq, 0) + 1
    return counts


def queue_manager_pid(h):
    out = subprocess.run(["pgrep", "-P", str(h.proc.pid)],
                         capture_output=True, text=True).stdout
    for pid in out.split():
        with open(f"/proc/{pid}/comm") as f:
            if f.read().strip() == "hapostd-qmgr":
                return int(pid)
    raise AssertionError("hapostd has no hapostd-qmgr child")


def wait_for_empty_queue(h, timeout=120):
    deadline = time.monotonic() + timeout
    while queue_entries(h) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert queue_entries(h) == []


def assert_exactly_once(h, acked):
    for address in (ALICE, BOB):
        counts = seqs_in_mailbox(h, address)
        doubled = sorted(s for s, n in counts.items() if n > 1)
        missing = sorted(acked - set(counts))
        assert doubled == [], f"{address}: delivered twice: {doubled[:20]}"
        assert missing == [], f"{address}: lost: {missing[:20]}"


def sender(h, seqs, acked, lock, stop):
    conn = None
    for seq in seqs:
        if stop.is_set():
            break
        body = (f"From: crash@remote.example\r\n"
                f"To: {ALICE}\r\n"
                f"Subject: crash test {seq}\r\n"
                f"X-Test-Seq: {seq}\r\n\r\n" + "line of text\r\n" * 20)
        try:
            if conn is None:
                conn = smtplib.SMTP("127.0.0.1", h.smtp_port, timeout=10)
            conn.sendmail("crash@remote.example", [ALICE, BOB],
                          body.encode())
        except (smtplib.SMTPException, OSError):
            conn = None
            continue
        with lock:
            acked.add(seq)
    if conn is not None:
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            pass


def stream(h, seqs, acked, stop=None):
    stop = stop or threading.Event()
    lock = threading.Lock()
    threads = [threading.Thread(target=sender,
                                args=(h, seqs[i::SENDERS], acked, lock,
                                      stop))
               for i in range(SENDERS)]
    for t in threads:
        t.start()
    return threads


def test_kill9_during_stream_loses_and_doubles_nothing(hapost_factory):
    h = hapost_factory(workers=2)
    acked = set()
    stop = threading.Event()
    threads = stream(h, list(range(TOTAL)), acked, stop)
    deadline = time.monotonic() + 60
    while len(acked) < TOTAL // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(acked) >= TOTAL // 3, "too few messages accepted to test"
    h.kill9()
    stop.set()
    for t in threads:
        t.join()
    acked_before = set(acked)

    # Restart and send again, as new messages, those never acknowledged.
    h.start()
    rest = [TOTAL + s for s in range(TOTAL) if s not in acked_before]
    threads = stream(h, rest, acked)
    for t in threads:
        t.join()
    assert acked == acked_before | set(rest)

    wait_for_empty_queue(h)
    assert_exactly_once(h, acked)


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.02, 0.05])
def test_kill9_during_delivery_batches(hapost_factory, delay):
    """A backlog builds while the queue manager is stopped (SIGSTOP), so
    the kill -9 shortly after SIGCONT lands while it delivers the backlog
    in batches, at a different step for each delay."""
    h = hapost_factory(workers=2)
    qmgr = queue_manager_pid(h)
    os.kill(qmgr, signal.SIGSTOP)
    acked = set()
    try:
        for t in stream(h, list(range(BACKLOG)), acked):
            t.join()
    finally:
        os.kill(qmgr, signal.SIGCONT)
    time.sleep(delay)
    h.kill9()
    assert acked == set(range(BACKLOG))

    h.start()
    wait_for_empty_queue(h)
    assert_exactly_once(h, acked)
