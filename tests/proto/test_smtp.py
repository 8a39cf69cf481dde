"""Tests of SMTP and submission against a running hapostd.

The normal paths use smtplib and swaks. Raw sockets send what a real
client never would (bare LF, NUL, overlong lines, pipelined batches, BDAT
chunks) and check the exact order of the replies.
"""

import os
import shutil
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import ALICE, BOB, DOMAIN

SENDER = "sender@remote.example"


class RawSMTP:
    """A line-level SMTP client over a plain socket."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.pending = b""
        self.greeting = self.reply()

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed; pending {self.pending!r}")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """Reads one reply, joining the lines of a multi-line one."""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return "\n".join(lines)

    def cmd(self, text):
        self.send(text.encode() + b"\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True if the server closes the connection within timeout."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except (socket.timeout, ConnectionResetError):
            return False

    def close(self):
        self.sock.close()


def start_transaction(s, rcpt=ALICE):
    assert s.cmd("EHLO client.example").startswith("250-mx.example.test")
    assert s.cmd(f"MAIL FROM:<{SENDER}>") == "250 2.1.0 Ok"
    assert s.cmd(f"RCPT TO:<{rcpt}>") == "250 2.1.5 Ok"


def message_text(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def queue_ids(h):
    d = os.path.join(h.data_dir, "queue", "messages")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def mailbox_has_qid(h, address, qid):
    return any(f"id {qid}" in message_text(p) for p in h.messages(address))


def test_ehlo_lists_extensions(hapost):
    with smtplib.SMTP("127.0.0.1", hapost.smtp_port, timeout=10) as c:
        code, banner = c.ehlo("client.example")
        assert code == 250
        assert banner.startswith(b"mx.example.test")
        for ext in ("pipelining", "8bitmime", "enhancedstatuscodes",
                    "chunking", "smtputf8"):
            assert c.has_extn(ext), ext
        assert c.esmtp_features["size"] == str(25 << 20)
        assert not c.has_extn("vrfy")
        assert not c.has_extn("binarymime")


def test_greeting_names_host(hapost):
    s = RawSMTP(hapost.smtp_port)
    assert s.greeting == "220 mx.example.test ESMTP hapost"
    assert s.cmd("QUIT") == "221 2.0.0 Bye"
    assert s.closed()


def test_smtplib_message_reaches_maildir(hapost):
    before = len(hapost.messages(ALICE))
    msg = (f"From: {SENDER}\r\nTo: {ALICE}\r\nSubject: smtplib test\r\n"
           "\r\nHello Alice.\r\n.leading dot line\r\n")
    with smtplib.SMTP("127.0.0.1", hapost.smtp_port, timeout=10) as c:
        c.ehlo("client.example")
        c.mail(SENDER)
        assert c.rcpt(ALICE) == (250, b"2.1.5 Ok")
        code, text = c.data(msg)
        assert code == 250
        assert text.startswith(b"2.0.0 Ok: queued as ")
        qid = text.decode().rsplit(" ", 1)[1]
    found = hapost.wait_for_messages(ALICE, before + 1)
    texts = [message_text(p) for p in found]
    mine = [t for t in texts if f"id {qid}" in t]
    assert len(mine) == 1
    text = mine[0]
    assert f"Return-Path: <{SENDER}>" in text
    assert "Received: from client.example ([127.0.0.1])" in text
    assert "by mx.example.test (hapost) with ESMTP id " + qid in text
    assert f"for <{ALICE}>;" in text
    assert "Subject: smtplib test" in text
    assert "\r\n.leading dot line\r\n" in text
    assert (f"qid={qid} from=<{SENDER}>" in hapost.log_text())


def test_postmaster_without_domain_accepted(hapost):
    before = len(hapost.messages(ALICE))
    s = RawSMTP(hapost.smtp_port)
    assert s.cmd("EHLO client.example").startswith("250-")
    assert s.cmd("MAIL FROM:<>") == "250 2.1.0 Ok"
    assert s.cmd("RCPT TO:<Postmaster>") == "250 2.1.5 Ok"
    assert s.cmd("DATA").startswith("354 ")
    reply = s.cmd("Subject: to postmaster\r\n\r\nhi\r\n.")
    assert reply.startswith("250 2.0.0 Ok: queued as ")
    s.close()
    hapost.wait_for_messages(ALICE, before + 1)


def test_unknown_user_rejected_550(hapost):
    with smtplib.SMTP("127.0.0.1", hapost.smtp_port, timeout=10) as c:
        c.ehlo("client.example")
        c.mail(SENDER)
        code, text = c.rcpt("nobody@" + DOMAIN)
        assert code == 550
        assert text.startswith(b"5.1.1 ")
    assert 'reject ip=127.0.0.1 reply="550 5.1.1' in hapost.log_text()


def test_relay_denied_554(hapost):
    with smtplib.SMTP("127.0.0.1", hapost.smtp_port, timeout=10) as c:
        c.ehlo("client.example")
        c.mail(SENDER)
        code, text = c.rcpt("someone@elsewhere.example")
        assert code == 554
        assert text.startswith(b"5.7.1 ")


def test_swaks_delivers_to_bob(hapost):
    if shutil.which("swaks") is None:
        pytest.fail("swaks is not installed: apt-get install -y swaks")
    before = len(hapost.messages(BOB))
    res = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(hapost.smtp_port),
         "--helo", "swaks.example", "--from", SENDER, "--to", BOB,
         "--header", "Subject: from swaks", "--body", "swaks body",
         "--pipeline"],
        capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "<-  250 2.0.0 Ok: queued as " in res.stdout
    found = hapost.wait_for_messages(BOB, before + 1)
    assert any("Subject: from swaks" in message_text(p) for p in found)


def test_submission_accepts_local_mail(hapost):
    before = len(hapost.messages(BOB))
    with smtplib.SMTP("127.0.0.1", hapost.submission_port,
                      timeout=10) as c:
        c.ehlo("client.example")
        refused = c.sendmail(ALICE, [BOB],
                             b"Subject: submitted\r\n\r\nvia 587\r\n")
        assert refused == {}
        code, text = c.rcpt("x@elsewhere.example")
        assert code in (503, 554)
    hapost.wait_for_messages(BOB, before + 1)


def test_smtputf8_address_accepted(hapost):
    before = len(hapost.messages(ALICE))
    s = RawSMTP(hapost.smtp_port)
    assert s.cmd("EHLO client.example").startswith("250-")
    assert (s.cmd("MAIL FROM:<jørn@remote.example>")
            == "553 5.6.7 Error: non-ASCII address requires SMTPUTF8")
    assert s.cmd("MAIL FROM:<jørn@remote.example> SMTPUTF8") == "250 2.1.0 Ok"
    assert s.cmd(f"RCPT TO:<{ALICE}>") == "250 2.1.5 Ok"
    assert s.cmd("DATA").startswith("354 ")
    reply = s.cmd("Subject: utf8\r\n\r\nhej\r\n.")
    assert reply.startswith("250 2.0.0 Ok: queued as ")
    qid = reply.rsplit(" ", 1)[1]
    s.close()
    hapost.wait_for_messages(ALICE, before + 1)
    deadline = time.monotonic() + 10
    while not mailbox_has_qid(hapost, ALICE, qid):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    text = [message_text(p) for p in hapost.messages(ALICE)
            if f"id {qid}" in message_text(p)][0]
    assert "with UTF8SMTP id " + qid in text


HOSTILE = [
    # (name, bytes after EHLO, expected reply prefix)
    ("bare LF in command", b"NOOP\n", "500 5.5.2 "),
    ("bare CR in command", b"NO\rOP\r\n", "500 5.5.2 "),
    ("NUL in command", b"NO\x00OP\r\n", "500 5.5.2 "),
    ("overlong command", b"NOOP " + b"x" * 9000 + b"\r\n", "500 5.5.6 "),
    ("unknown command", b"FROB\r\n", "500 5.5.2 "),
    ("RCPT before MAIL", b"RCPT TO:<alice@example.test>\r\n", "503 5.5.1 "),
    ("DATA before MAIL", b"DATA\r\n", "503 5.5.1 "),
    ("MAIL without brackets", b"MAIL FROM:a@b.example\r\n", "501 5.5.4 "),
    ("bad sender address", b"MAIL FROM:<a@@b>\r\n", "501 5.1.7 "),
    ("unknown MAIL parameter", b"MAIL FROM:<> FOO=1\r\n", "555 5.5.4 "),
    ("BINARYMIME", b"MAIL FROM:<> BODY=BINARYMIME\r\n", "555 5.5.4 "),
    ("VRFY disabled", b"VRFY alice\r\n", "502 5.5.1 "),
]


@pytest.mark.parametrize("name,data,expected", HOSTILE,
                         ids=[c[0] for c in HOSTILE])
def test_hostile_command_answered(hapost, name, data, expected):
    s = RawSMTP(hapost.smtp_port)
    assert s.cmd("EHLO client.example").startswith("250-")
    s.send(data)
    assert s.reply().startswith(expected)
    # A second session opened meanwhile is served normally.
    other = RawSMTP(hapost.smtp_port)
    assert other.cmd("NOOP") == "250 2.0.0 Ok"
    other.close()
    # And this session goes on.
    assert s.cmd("NOOP") == "250 2.0.0 Ok"
    s.close()


HOSTILE_DATA = [
    ("bare LF", b"Subject: x\r\n\r\nline one\nline two\r\n.\r\n",
     "550 5.5.2 "),
    ("bare CR", b"Subject: x\r\n\r\nline one\rline two\r\n.\r\n",
     "550 5.5.2 "),
    ("NUL byte", b"Subject: x\r\n\r\nnul \x00 here\r\n.\r\n", "554 5.6.0 "),
    ("overlong line", b"Subject: x\r\n\r\n" + b"y" * 5000 + b"\r\n.\r\n",
     "554 5.6.0 "),
    ("smuggled end", b"Subject: x\r\n\r\nhi\n.\nMAIL FROM:<e@x>\r\n.\r\n",
     "550 5.5.2 "),
]


@pytest.mark.parametrize("name,content,expected", HOSTILE_DATA,
                         ids=[c[0] for c in HOSTILE_DATA])
def test_hostile_data_rejected(hapost_factory, name, content, expected):
    h = hapost_factory()
    s = RawSMTP(h.smtp_port)
    start_transaction(s, BOB)
    assert s.cmd("DATA").startswith("354 ")
    s.send(content)
    assert s.reply().startswith(expected)
    other = RawSMTP(h.smtp_port)
    assert other.cmd("NOOP") == "250 2.0.0 Ok"
    other.close()
    assert s.cmd("NOOP") == "250 2.0.0 Ok"
    s.close()
    # Nothing was stored. A stored message would be in the queue or, once
    # delivered, in the Maildir before the reply was read.
    assert queue_ids(h) == []
    assert h.messages(BOB) == []


def test_pipelined_batch_replies_in_order(hapost):
    before = len(hapost.messages(BOB))
    s = RawSMTP(hapost.smtp_port)
    s.send(b"EHLO client.example\r\n"
           b"MAIL FROM:<sender@remote.example>\r\n"
           b"RCPT TO:<nobody@example.test>\r\n"
           b"RCPT TO:<bob@example.test>\r\n"
           b"DATA\r\n"
           b"Subject: pipelined\r\n\r\nRSET\r\nQUIT\r\n.\r\n"
           b"NOOP\r\nQUIT\r\n")
    assert s.reply().startswith("250-mx.example.test")
    assert s.reply() == "250 2.1.0 Ok"
    assert s.reply().startswith("550 5.1.1 ")
    assert s.reply() == "250 2.1.5 Ok"
    assert s.reply().startswith("354 ")
    assert s.reply().startswith("250 2.0.0 Ok: queued as ")
    assert s.reply() == "250 2.0.0 Ok"
    assert s.reply() == "221 2.0.0 Bye"
    assert s.closed()
    found = hapost.wait_for_messages(BOB, before + 1)
    texts = [message_text(p) for p in found]
    assert any("Subject: pipelined\r\n\r\nRSET\r\nQUIT\r\n" in t
               for t in texts)


def test_bdat_chunks_delivered(hapost):
    before = len(hapost.messages(BOB))
    s = RawSMTP(hapost.smtp_port)
    start_transaction(s, BOB)
    part1 = b"Subject: chunked\r\n\r\n"
    part2 = b".not stuffed\r\nend\r\n"
    s.send(b"BDAT %d\r\n" % len(part1) + part1)
    assert s.reply() == f"250 2.0.0 Ok: {len(part1)} octets received"
    # The second chunk is sent in two pieces.
    s.send(b"BDAT %d LAST\r\n" % len(part2) + part2[:5])
    time.sleep(0.2)
    s.send(part2[5:])
    reply = s.reply()
    assert reply.startswith("250 2.0.0 Ok: queued as ")
    # BDAT without a transaction: the chunk is read, then rejected.
    s.send(b"BDAT 6\r\nQUIT\r\n")
    assert s.reply().startswith("503 5.5.1 ")
    assert s.cmd("NOOP") == "250 2.0.0 Ok"
    s.close()
    found = hapost.wait_for_messages(BOB, before + 1)
    assert any("Subject: chunked\r\n\r\n.not stuffed\r\nend\r\n"
               in message_text(p) for p in found)


def test_size_limits_enforced(hapost_factory):
    h = hapost_factory(message_size_limit="10k")
    with smtplib.SMTP("127.0.0.1", h.smtp_port, timeout=10) as c:
        c.ehlo("client.example")
        assert c.esmtp_features["size"] == "10240"
        code, text = c.mail(SENDER, ["SIZE=20000"])
        assert (code, text[:6]) == (552, b"5.3.4 ")
    s = RawSMTP(h.smtp_port)
    start_transaction(s, BOB)
    assert s.cmd("DATA").startswith("354 ")
    s.send(b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 20 + b".\r\n")
    assert s.reply().startswith("552 5.3.4 ")
    assert s.cmd("NOOP") == "250 2.0.0 Ok"
    # BDAT: the chunks are read in full, the reply comes after LAST.
    assert s.cmd(f"MAIL FROM:<{SENDER}>") == "250 2.1.0 Ok"
    assert s.cmd(f"RCPT TO:<{BOB}>") == "250 2.1.5 Ok"
    chunk = (b"z" * 998 + b"\r\n") * 8
    s.send(b"BDAT %d\r\n" % len(chunk) + chunk)
    assert s.reply().startswith("250 2.0.0 Ok: ")
    s.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
    assert s.reply().startswith("552 5.3.4 ")
    assert s.cmd("NOOP") == "250 2.0.0 Ok"
    s.close()
    assert queue_ids(h) == []
    assert h.messages(BOB) == []


def test_recipient_limit_enforced(hapost_factory):
    h = hapost_factory(recipient_limit="2")
    s = RawSMTP(h.smtp_port)
    start_transaction(s, ALICE)
    assert s.cmd(f"RCPT TO:<{BOB}>") == "250 2.1.5 Ok"
    assert s.cmd(f"RCPT TO:<{BOB}>").startswith("452 4.5.3 ")
    s.close()


def test_idle_timeout_closes_session(hapost_factory):
    h = hapost_factory(smtp_idle_timeout="2")
    s = RawSMTP(h.smtp_port, timeout=10)
    started = time.monotonic()
    assert s.reply() == "421 4.4.2 mx.example.test Error: timeout exceeded"
    assert 1.5 <= time.monotonic() - started < 8
    assert s.closed()


def test_error_limit_closes_session(hapost_factory):
    h = hapost_factory(smtp_error_limit="3")
    s = RawSMTP(h.smtp_port)
    for _ in range(3):
        assert s.cmd("FROB").startswith("500 5.5.2 ")
    s.send(b"FROB\r\n")
    assert s.reply().startswith("500 5.5.2 ")
    assert s.reply().startswith("421 4.7.0 ")
    assert s.closed()


def test_no_250_before_queue_file(hapost):
    """Each 250 after DATA names an entry that is already on disk."""
    for i in range(20):
        s = RawSMTP(hapost.smtp_port)
        start_transaction(s, BOB)
        assert s.cmd("DATA").startswith("354 ")
        reply = s.cmd(f"Subject: durable {i}\r\n\r\nbody\r\n.")
        assert reply.startswith("250 2.0.0 Ok: queued as ")
        qid = reply.rsplit(" ", 1)[1]
        queued = os.path.exists(os.path.join(hapost.data_dir, "queue",
                                              "messages", qid))
        # The queue manager may have delivered it already; then the
        # Maildir copy exists, since delivery comes before removal.
        assert queued or mailbox_has_qid(hapost, BOB, qid), qid
        s.close()


def test_shutdown_aborts_open_transaction(hapost_factory):
    h = hapost_factory()
    s = RawSMTP(h.smtp_port)
    start_transaction(s, BOB)
    assert s.cmd("DATA").startswith("354 ")
    s.send(b"Subject: cut off\r\n\r\npartial\r\n")
    time.sleep(0.2)
    h.stop()
    assert s.reply().startswith("421 4.3.2 ")
    assert s.closed()
    assert queue_ids(h) == []
    assert h.messages(BOB) == []
