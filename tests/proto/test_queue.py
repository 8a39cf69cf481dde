"""hapostctl queue list/show/delete/flush against a running hapostd.

A temporary delivery failure is made by replacing the recipient's
Maildir new/ directory with a plain file, so the message stays queued.
These daemons retry only after an hour, so only "queue flush" makes the
queue manager try again within the test.
"""

import os
import pwd
import re
import shutil
import smtplib
import time
from email.message import EmailMessage

import pytest

from conftest import ALICE, BOB, Hapost

SENDER = "sender@remote.example"
QUEUE_ID = re.compile(r"^[0-9A-F]{16}$")
SLOW_RETRY = {"queue_retry_min": "1h", "queue_retry_max": "2h"}


def send(h, rcpts, subject="queue test"):
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["To"] = ", ".join(rcpts)
    msg["Subject"] = subject
    msg.set_content("Body of the queued message.\n")
    with smtplib.SMTP(h.host, h.smtp_port, timeout=10) as s:
        refused = s.send_message(msg, from_addr=SENDER, to_addrs=rcpts)
    assert refused == {}


def block_delivery(h, address):
    """Replaces new/ with a file so delivery to address fails for now."""
    new = os.path.join(h.maildir(address), "new")
    os.rename(new, new + ".saved")
    with open(new, "w"):
        pass


def unblock_delivery(h, address):
    new = os.path.join(h.maildir(address), "new")
    os.unlink(new)
    os.rename(new + ".saved", new)


def queue_lines(h):
    """The entry lines of queue list, without the indented recipients."""
    res = h.ctl("queue", "list")
    return [line for line in res.stdout.splitlines()
            if line and not line.startswith(" ")]


def wait_for(predicate, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_for_deferral(h, address):
    """Waits until the one queued entry has a recorded error; returns it."""
    def deferred():
        lines = queue_lines(h)
        if len(lines) == 1 and not lines[0].endswith(" -"):
            return lines[0]
        return None
    return wait_for(deferred, what=f"a deferred entry for {address}")


@pytest.fixture
def slow(hapost_factory):
    return hapost_factory(**SLOW_RETRY)


def test_delivered_mail_leaves_queue(hapost):
    send(hapost, [BOB], subject="straight through")
    paths = hapost.wait_for_messages(BOB, 1)
    with open(paths[-1], "rb") as f:
        data = f.read()
    assert data.startswith(b"Return-Path: <" + SENDER.encode() + b">\r\n"
                           b"Delivered-To: " + BOB.encode() + b"\r\n")
    assert b"Subject: straight through" in data
    wait_for(lambda: queue_lines(hapost) == [], what="an empty queue")
    assert re.search(r"to=<" + re.escape(BOB) + r"> status=delivered",
                     hapost.log_text())


def test_list_and_show_deferred(slow):
    block_delivery(slow, BOB)
    send(slow, [ALICE, BOB], subject="held back")
    slow.wait_for_messages(ALICE, 1)
    line = wait_for_deferral(slow, BOB)

    fields = line.split(" ", 5)
    assert QUEUE_ID.match(fields[0])
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", fields[1])
    assert int(fields[2]) > 0
    assert fields[3] == f"<{SENDER}>"
    assert fields[4] == BOB
    assert "Not a directory" in fields[5]

    show = slow.ctl("queue", "show", fields[0]).stdout
    assert f"id: {fields[0]}\n" in show
    assert f"sender: <{SENDER}>\n" in show
    assert f"size: {fields[2]}\n" in show
    assert re.search(r"^recipient: <" + re.escape(ALICE) +
                     r"> .*state=delivered", show, re.M)
    assert re.search(r"^recipient: <" + re.escape(BOB) +
                     r"> .*state=pending attempts=1 next=\S+ error=",
                     show, re.M)
    assert "\nSubject: held back\n" in show
    assert "Body of the queued message" not in show


def test_flush_retries_now(slow):
    block_delivery(slow, BOB)
    send(slow, [BOB], subject="flushed")
    wait_for_deferral(slow, BOB)
    unblock_delivery(slow, BOB)
    time.sleep(0.5)
    assert slow.messages(BOB) == []

    res = slow.ctl("queue", "flush")
    assert res.returncode == 0
    slow.wait_for_messages(BOB, 1)
    wait_for(lambda: queue_lines(slow) == [], what="an empty queue")
    assert len(slow.messages(BOB)) == 1


def test_delete_removes_entry(slow):
    block_delivery(slow, BOB)
    send(slow, [BOB], subject="deleted")
    qid = wait_for_deferral(slow, BOB).split(" ")[0]

    res = slow.ctl("queue", "delete", qid)
    assert res.returncode == 0
    assert queue_lines(slow) == []
    assert not os.path.exists(os.path.join(slow.data_dir, "queue",
                                           "messages", qid))
    assert not os.path.exists(os.path.join(slow.data_dir, "queue",
                                           "status", qid))
    assert f"qid={qid} deleted" in res.stderr

    again = slow.ctl("queue", "delete", qid, check=False)
    assert again.returncode == 1
    assert "not found" in again.stderr

    unblock_delivery(slow, BOB)
    slow.ctl("queue", "flush")
    time.sleep(1)
    assert slow.messages(BOB) == []


def test_show_missing_entry_fails(hapost):
    res = hapost.ctl("queue", "show", "0123456789ABCDEF", check=False)
    assert res.returncode == 1
    assert "not found" in res.stderr


@pytest.mark.parametrize("args", [
    ["queue"],
    ["queue", "bogus"],
    ["queue", "list", "extra"],
    ["queue", "show"],
    ["queue", "show", "0123456789abcdef"],
    ["queue", "delete", "../../etc/passwd"],
    ["queue", "flush", "now"],
])
def test_usage_errors(hapost, args):
    res = hapost.ctl(*args, check=False)
    assert res.returncode == 2
    assert res.stderr.startswith("hapostctl: ")


def test_flush_without_daemon():
    h = Hapost()
    try:
        res = h.ctl("queue", "flush", check=False)
        assert res.returncode == 1
        assert "not running" in res.stderr
        # list works on the files alone.
        assert h.ctl("queue", "list").stdout == ""
    finally:
        shutil.rmtree(h.tmp, ignore_errors=True)


def write_entry(h, qid, arrival, rcpt, body):
    """Writes a committed queue entry by hand, in the documented format."""
    header = (f"hapost-queue 1\nid {qid}\narrival {arrival}\n"
              f"sender {SENDER}\nclient-ip 192.0.2.9\nhelo test\n"
              f"body-8bit 0\nsmtputf8 0\nrcpt {rcpt} {rcpt}\n"
              f"size {len(body):020d}\nend\n\n").encode()
    messages = os.path.join(h.data_dir, "queue", "messages")
    os.makedirs(messages, exist_ok=True)
    for sub in ("queue", "queue/messages"):
        os.chown(os.path.join(h.data_dir, sub),
                 pwd.getpwnam(h.user).pw_uid, -1)
    with open(os.path.join(messages, qid), "wb") as f:
        f.write(header + body)


def earlier_copy_name(h, qid, arrival, rcpt, body):
    """The Maildir name local delivery gives recipient 0 of an entry."""
    prefix = (f"Return-Path: <{SENDER}>\r\n"
              f"Delivered-To: {rcpt}\r\n").encode()
    return (f"{arrival}.Q{qid}_R0.{h.settings['hostname']},"
            f"S={len(prefix) + len(body)}")


def test_startup_finds_earlier_copy():
    """A crash after the Maildir write but before the status record."""
    h = Hapost()
    try:
        body = b"Subject: crash\r\n\r\nstored once\r\n"
        arrival = int(time.time()) - 5
        crashed, fresh = "0000000000000A01", "0000000000000A02"
        write_entry(h, crashed, arrival, BOB, body)
        write_entry(h, fresh, arrival, ALICE, body)
        name = earlier_copy_name(h, crashed, arrival, BOB, body)
        # A reader already moved the copy to cur/ and marked it seen.
        with open(os.path.join(h.maildir(BOB), "cur", name + ":2,S"),
                  "wb") as f:
            f.write(b"earlier copy")

        h.start()
        h.wait_for_messages(ALICE, 1)
        wait_for(lambda: queue_lines(h) == [], what="an empty queue")
        assert len(h.messages(BOB)) == 1
        assert len(h.messages(ALICE)) == 1
        assert "stored in mailbox by an earlier attempt" in h.log_text()
    finally:
        h.cleanup()


def test_corrupt_entry_stays_queued():
    h = Hapost()
    try:
        body = b"Subject: cut\r\n\r\nshort\r\n"
        write_entry(h, "0000000000000B01", int(time.time()), BOB, body)
        path = os.path.join(h.data_dir, "queue", "messages",
                            "0000000000000B01")
        os.truncate(path, os.path.getsize(path) - 3)

        h.start()
        send(h, [ALICE], subject="still flowing")
        h.wait_for_messages(ALICE, 1)
        assert h.messages(BOB) == []
        assert os.path.exists(path)
        assert "0000000000000B01" in h.log_text()

        res = h.ctl("queue", "list", check=False)
        assert res.returncode == 1
        assert "truncated" in res.stderr
    finally:
        h.cleanup()
