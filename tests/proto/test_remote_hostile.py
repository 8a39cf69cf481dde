"""Outbound delivery against hostile remote servers and careless setups.

The sending hapostd (hostname mx.example.test) looks its MX hosts up in
the test DNS server (dnsserver.py) and connects to one port (the port
fixture) on 127.0.0.x addresses. The remote servers are HostileServer
instances on 127.0.0.3 and up, each misbehaving as its test sets it up:
endless or huge replies, NUL bytes, replies sent a byte at a time, a
connection dropped after the message, a second reply to the end of
data, garbage in place of a TLS handshake, broken PIPELINING and SIZE
promises. Other tests give the DNS answers that lead nowhere or back to
the sender, run two servers whose aliases forward to each other, and
make an operator's mistakes: a gateway table that exposes a password, a
delete during a transaction.

After each attack the test checks what must always hold: the queue
manager is the same process, nothing the server did not accept is
counted as delivered and nothing is sent twice, and every log line
about a recipient names its queue ID.

The senders retry after an hour only, so each retry in a test comes from
"hapostctl queue flush".
"""

import email
import email.policy
import os
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import (ALICE, ALICE_PASSWORD, BOB, Hapost,
                      ensure_service_user, free_port)
from dnsserver import DNSServer

SLOW_RETRY = {
    "queue_retry_min": "1h",
    "queue_retry_max": "2h",
    "queue_unreachable_retry_min": "1h",
    "queue_unreachable_retry_max": "2h",
    "delay_warning_time": "0",
    "smtp_client_connect_timeout": "2",
    "smtp_client_timeout": "3",
}
EHLO = b"250-hostile.test\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
EHLO_AUTH = b"250-hostile.test\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
# base64 of "\0u\0secret-pw", the AUTH PLAIN response for user u.
AUTH_PLAIN_U = b"AHUAc2VjcmV0LXB3"


def wait_for(predicate, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class HostileServer:
    """An SMTP server on ip:port that misbehaves as the test chooses.

    greeting, ehlo: bytes to send, or a function f(server, conn) that
    sends them itself. starttls="garbage" replies 220 to STARTTLS, then
    sends plain text. after_mail: a function f(server, conn, reader) run
    after the MAIL reply (to break PIPELINING). end_of_data: a function
    f(server, conn, n) for the n-th message (from 0) that replies to
    the end of data itself and returns True when it sent a 2xx, or
    None for the normal "250 2.0.0 queued". rcpt_replies maps an
    address to its RCPT reply (bytes).

    accepted holds (sender, recipients, body) for each message that got
    a 2xx reply to its end of data; connections counts accepted
    connections and max_active the most that were open at once. auth
    holds the AUTH command lines; every AUTH succeeds.
    """

    def __init__(self, ip, port, greeting=b"220 hostile.test ESMTP\r\n",
                 ehlo=EHLO, starttls=None, after_mail=None,
                 end_of_data=None, rcpt_replies=None):
        self.greeting = greeting
        self.ehlo = ehlo
        self.starttls = starttls
        self.after_mail = after_mail
        self.end_of_data = end_of_data
        self.rcpt_replies = {k.lower(): v
                             for k, v in (rcpt_replies or {}).items()}
        self.lock = threading.Lock()
        self.accepted = []
        self.auth = []
        self.bodies_read = 0
        self.connections = 0
        self.active = 0
        self.max_active = 0
        self.stopped = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(64)
        self.threads = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self.threads.append(accept)

    def _accept(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.active += 1
                self.max_active = max(self.max_active, self.active)
            t = threading.Thread(target=self._serve, args=(conn,),
                                 daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn):
        conn.settimeout(30)
        try:
            self._dialogue(conn)
        except OSError:
            pass
        finally:
            with self.lock:
                self.active -= 1
            conn.close()

    @staticmethod
    def _send(conn, what, server):
        if callable(what):
            what(server, conn)
        else:
            conn.sendall(what)

    def _dialogue(self, conn):
        reader = conn.makefile("rb")
        self._send(conn, self.greeting, self)
        sender, rcpts = None, []
        while not self.stopped.is_set():
            line = reader.readline(65536)
            if not line:
                return
            command = line.decode("latin-1").rstrip("\r\n")
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self._send(conn, self.ehlo, self)
            elif verb == "HELO":
                conn.sendall(b"250 hostile.test\r\n")
            elif verb == "STARTTLS" and self.starttls == "garbage":
                conn.sendall(b"220 2.0.0 go ahead\r\n")
                conn.sendall(b"\x16\x03\x01 this is no TLS record\r\n" * 8)
                return
            elif verb == "MAIL":
                sender = command[10:].strip("<>")
                rcpts = []
                conn.sendall(b"250 2.1.0 Ok\r\n")
                if self.after_mail is not None:
                    self.after_mail(self, conn, reader)
            elif verb == "RCPT":
                address = command[8:].strip("<>")
                reply = self.rcpt_replies.get(address.lower(),
                                              b"250 2.1.5 Ok\r\n")
                if reply.startswith(b"2"):
                    rcpts.append(address)
                conn.sendall(reply)
            elif verb == "DATA":
                conn.sendall(b"354 go ahead\r\n")
                body = b""
                while True:
                    data_line = reader.readline(1 << 20)
                    if not data_line:
                        return
                    if data_line == b".\r\n":
                        break
                    body += data_line
                with self.lock:
                    n = self.bodies_read
                    self.bodies_read += 1
                if self._end_of_data(conn, n):
                    with self.lock:
                        self.accepted.append((sender, list(rcpts), body))
            elif verb == "AUTH":
                with self.lock:
                    self.auth.append(line.rstrip(b"\r\n"))
                conn.sendall(b"235 2.7.0 Authentication successful\r\n")
            elif verb == "RSET":
                conn.sendall(b"250 2.0.0 Ok\r\n")
            elif verb == "QUIT":
                conn.sendall(b"221 2.0.0 Bye\r\n")
                return
            else:
                conn.sendall(b"502 5.5.1 not implemented\r\n")

    def _end_of_data(self, conn, n):
        if self.end_of_data is not None:
            done = self.end_of_data(self, conn, n)
            if done is not None:
                return done
        conn.sendall(b"250 2.0.0 queued\r\n")
        return True

    def received(self):
        with self.lock:
            return list(self.accepted)

    def stop(self):
        self.stopped.set()
        # shutdown() wakes the thread blocked in accept(); close() alone
        # would leave the port bound until the next connection.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for t in self.threads[1:]:
            t.join(timeout=5)


@pytest.fixture(scope="module")
def port():
    """The port of every remote server, free on 127.0.0.1 at least."""
    return free_port()


@pytest.fixture(scope="module")
def dns():
    server = DNSServer({}).start()
    yield server
    server.stop()


@pytest.fixture
def servers(port):
    made = []

    def make(ip, **kwargs):
        s = HostileServer(ip, port, **kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def sender(hapost_factory, dns, port):
    """Starts the sending hapostd with the test DNS and the remote port."""
    def make(**extra):
        settings = dict(SLOW_RETRY)
        settings["dns_servers"] = dns.servers
        settings["smtp_client_port"] = str(port)
        settings.update(extra)
        return hapost_factory(**settings)
    return make


def zone(dns, **extra):
    """Sets the DNS table: hostile.test on 127.0.0.3, plus the extras."""
    table = {
        "hostile.test": {"MX": [(10, "mx.hostile.test")]},
        "mx.hostile.test": {"A": ["127.0.0.3"]},
    }
    table.update({k.replace("_", "."): v for k, v in extra.items()})
    dns.set_records(table)


def message_text(rcpts, sender, subject, body, extra_headers=""):
    text = (f"From: {sender or 'MAILER-DAEMON@example.test'}\r\n"
            f"To: {', '.join(rcpts[:3])}\r\n"
            f"Subject: {subject}\r\n"
            f"Message-ID: <{time.time_ns()}@example.test>\r\n"
            f"{extra_headers}"
            f"\r\n{body}")
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def submit(h, rcpts, sender=ALICE, subject="hostile test",
           body="Body of the outbound message.\n"):
    """Sends a message through the sender's submission port as alice."""
    with smtplib.SMTP(h.host, h.submission_port, timeout=30) as s:
        s.login(ALICE, ALICE_PASSWORD)
        refused = s.sendmail(sender, rcpts,
                             message_text(rcpts, sender, subject, body))
    assert refused == {}


def queue_text(h):
    return h.ctl("queue", "list").stdout


def queue_empty(h):
    return queue_text(h) == ""


def queue_ids(h):
    return [line.split()[0] for line in queue_text(h).splitlines()
            if line and not line.startswith(" ")]


def log_lines(h, pattern):
    return [line for line in h.log_text().splitlines()
            if re.search(pattern, line)]


def reports(h, address=ALICE):
    """The delivery status notifications in address's mailbox."""
    found = []
    for path in h.messages(address):
        with open(path, "rb") as f:
            msg = email.message_from_bytes(f.read(),
                                           policy=email.policy.default)
        if msg.get_content_type() == "multipart/report":
            found.append(msg)
    return found


def recipient_blocks(report):
    for part in report.walk():
        if part.get_content_type() == "message/delivery-status":
            return [dict(b.items()) for b in part.get_payload()
                    if "Final-Recipient" in b]
    raise AssertionError("no message/delivery-status part")


def qmgr_pid(h):
    """The pid of the daemon's queue manager (comm "hapostd-qmgr")."""
    def find():
        children = subprocess.run(["pgrep", "-P", str(h.proc.pid)],
                                  capture_output=True, text=True).stdout
        for pid in children.split():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == "hapostd-qmgr":
                        return int(pid)
            except FileNotFoundError:
                continue
        return None
    return wait_for(find, what="the queue manager process")


def assert_sound(h, pid, *addresses):
    """Checks the invariants every attack must leave intact."""
    assert h.proc.poll() is None, "hapostd exited"
    assert qmgr_pid(h) == pid, "the queue manager was restarted"
    text = h.log_text()
    assert "killed by signal" not in text
    assert not re.search(r"exited with status \d+; restarting", text)
    assert "\x00" not in text
    for address in addresses:
        lines = log_lines(h, re.escape(f"<{address}>"))
        assert lines, f"no log line names {address}"
        for line in lines:
            assert re.search(r"qid=[0-9A-F]{16}", line), line


def deferral(h, address):
    return wait_for(lambda: log_lines(h, re.escape(f"to=<{address}>") +
                                      r".*status=deferred"),
                    what=f"the deferral of {address}")[-1]


# Replies that no parser should swallow whole ---------------------------


def endless_ehlo(server, conn):
    """A multi-line EHLO reply that never ends, as fast as it goes."""
    line = b"250-" + b"X" * 60 + b"\r\n"
    for _ in range(100000):
        conn.sendall(line * 64)


def test_endless_multiline_reply(dns, sender, servers):
    zone(dns)
    server = servers("127.0.0.3", ehlo=endless_ehlo)
    a = sender()
    pid = qmgr_pid(a)
    submit(a, ["endless@hostile.test"])
    line = deferral(a, "endless@hostile.test")
    assert "garbled reply" in line
    assert "reply too long" in line
    assert server.received() == []
    assert "endless@hostile.test" in queue_text(a)
    assert_sound(a, pid, "endless@hostile.test")


def test_megabyte_reply_line(dns, sender, servers):
    zone(dns)
    server = servers("127.0.0.3",
                     greeting=b"220 " + b"A" * (2 << 20) + b"\r\n")
    a = sender()
    pid = qmgr_pid(a)
    submit(a, ["huge@hostile.test"])
    line = deferral(a, "huge@hostile.test")
    assert "reply line too long" in line
    assert server.received() == []
    assert_sound(a, pid, "huge@hostile.test")


def test_nul_and_control_bytes_in_replies(dns, sender, servers):
    zone(dns)
    servers("127.0.0.3",
            greeting=b"220 hostile\x00.test ESMTP\r\n",
            ehlo=b"250-hostile\x00.test\r\n250-8BIT\x00MIME\r\n250 SIZE\r\n",
            rcpt_replies={"nobody@hostile.test":
                          b"550 5.1.1 no\x00such\x07user\x1b[2J\r\n"})
    a = sender()
    pid = qmgr_pid(a)
    submit(a, ["nobody@hostile.test"])
    wait_for(lambda: reports(a), what="the bounce")
    block = recipient_blocks(reports(a)[0])[0]
    assert block["Status"].strip() == "5.1.1"
    assert "no?such?user?[2J" in block["Diagnostic-Code"]
    wait_for(lambda: queue_empty(a), what="an empty queue")
    text = a.log_text()
    for byte in ("\x07", "\x1b"):
        assert byte not in text
    assert_sound(a, pid, "nobody@hostile.test")


# Replies that take too long, a byte or a line at a time ----------------


def dribble(data, pause):
    """Returns a sender of data one byte per pause seconds."""
    def send(server, conn):
        for i in range(len(data)):
            if server.stopped.is_set():
                return
            conn.sendall(data[i:i + 1])
            time.sleep(pause)
        server.dribble_done.set()
    return send


def test_reply_timeout_bounds_dribbled_greeting(dns, sender, servers):
    # 60 bytes at 0.5 s each take 30 s; smtp_client_timeout is 3 s.
    greeting = b"220 hostile.test ESMTP " + b"s" * 35 + b"\r\n"
    zone(dns)
    server = servers("127.0.0.3", greeting=dribble(greeting, 0.5))
    server.dribble_done = threading.Event()
    a = sender()
    pid = qmgr_pid(a)
    submit(a, ["slow@hostile.test"])
    line = deferral(a, "slow@hostile.test")
    assert not server.dribble_done.is_set(), \
        "the client waited for the whole dribbled greeting"
    assert "timed out waiting for the reply to greeting" in line
    assert_sound(a, pid, "slow@hostile.test")


def endless_slow_ehlo(server, conn):
    """A multi-line EHLO reply with one more line every 0.5 s, forever."""
    conn.sendall(b"250-hostile.test\r\n")
    for n in range(600):
        if server.stopped.is_set():
            return
        time.sleep(0.5)
        conn.sendall(b"250-X-SLOW-%d\r\n" % n)


def test_reply_timeout_bounds_slow_multiline(dns, sender, servers):
    zone(dns)
    server = servers("127.0.0.3", ehlo=endless_slow_ehlo)
    a = sender()
    pid = qmgr_pid(a)
    submit(a, ["slowlines@hostile.test"])
    line = deferral(a, "slowlines@hostile.test")
    assert "timed out waiting for the reply to EHLO" in line
    assert server.received() == []
    assert_sound(a, pid, "slowlines@hostile.test")


# The end of data -------------------------------------------------------


def test_drop_before_final_reply_is_retried(dns, sender, servers):
    def drop_first(server, conn, n):
        if n == 0:
            conn.shutdown(socket.SHUT_RDWR)
            return False
        return None

    zone(dns)
    server = servers("127.0.0.3", end_of_data=drop_first)
    a = sender()
    pid = qmgr_pid(a)
    submit(a, ["dropped@hostile.test"], subject="dropped once")
    line = deferral(a, "dropped@hostile.test")
    assert "during end of data" in line
    assert server.received() == []
    assert "dropped@hostile.test" in queue_text(a)

    a.ctl("queue", "flush")
    wait_for(lambda: server.received(), what="the retried message")
    wait_for(lambda: queue_empty(a), what="an empty queue")
    assert len(server.received()) == 1
    assert server.bodies_read == 2
    delivered = log_lines(a, r"to=<dropped@hostile\.test>.*"
                             r"status=delivered")
    assert len(delivered) == 1
    assert "attempts=2" in delivered[0]
    assert_sound(a, pid, "dropped@hostile.test")


def test_two_final_replies_at_once(dns, sender, servers):
    def twice(server, conn, n):
        conn.sendall(b"250 2.0.0 queued\r\n250 2.0.0 queued again\r\n")
        return True

    zone(dns)
    server = servers("127.0.0.3", end_of_data=twice)
    a = sender(smtp_client_destination_concurrency="1")
    pid = qmgr_pid(a)
    submit(a, ["one@hostile.test"], subject="first")
    submit(a, ["two@hostile.test"], subject="second")
    wait_for(lambda: queue_empty(a), what="an empty queue")
    got = server.received()
    assert sorted(r for _, rcpts, _ in got for r in rcpts) == \
        ["one@hostile.test", "two@hostile.test"]
    for address in ("one@hostile.test", "two@hostile.test"):
        assert len(log_lines(a, re.escape(f"to=<{address}>") +
                             r".*status=delivered")) == 1
    assert_sound(a, pid, "one@hostile.test", "two@hostile.test")


def test_late_second_final_reply(dns, sender, servers):
    """A stale 250 that arrives during the next transaction."""
    def twice_late(server, conn, n):
        conn.sendall(b"250 2.0.0 queued\r\n")
        time.sleep(0.3)
        conn.sendall(b"250 2.0.0 queued again\r\n")
        return True

    zone(dns)
    server = servers("127.0.0.3", end_of_data=twice_late)
    a = sender(delivery_window=window_excluding_now(),
               smtp_client_destination_concurrency="1")
    rcpts = [f"late{i}@hostile.test" for i in range(4)]
    for rcpt in rcpts:
        submit(a, [rcpt], subject=rcpt)
    wait_for(lambda: len(log_lines(a, "waits for the delivery window")) >= 4,
             what="the messages held by the window")

    # Open the window: one connection carries the messages in a row.
    # Every round gives each pending recipient one result.
    def results():
        return len(log_lines(a, r"to=<late\d@hostile\.test> relay=.*"
                                r"status="))

    a.settings["delivery_window"] = "* 00:00-24:00"
    a.write_config()
    a.reload()
    expected = len(rcpts)
    for _ in range(len(rcpts) + 1):
        wait_for(lambda: results() >= expected, what="a round's results")
        left = len(queue_rcpts(a))
        if left == 0:
            break
        a.ctl("queue", "flush")
        expected += left
    wait_for(lambda: queue_empty(a), what="an empty queue")

    # The server records a message after its late second reply.
    def got():
        return sorted(r for _, r_, _ in server.received() for r in r_)

    wait_for(lambda: len(got()) >= len(rcpts), what="the server's records")
    assert got() == sorted(rcpts), "a message was lost or doubled"
    for rcpt in rcpts:
        assert len(log_lines(a, re.escape(f"to=<{rcpt}>") +
                             r".*status=delivered")) == 1
    assert_sound(a, qmgr_pid(a), *rcpts)


def queue_rcpts(h):
    return re.findall(r"^  <([^>]*)>", queue_text(h), re.M)


def window_excluding_now():
    """A daily window that opens two hours from now (local time)."""
    now = time.localtime()
    start = (now.tm_hour + 2) % 24
    end = (now.tm_hour + 3) % 24
    return f"* {start:02d}:00-{end:02d}:00"


# Broken extensions -----------------------------------------------------


def test_starttls_garbage_falls_back_to_plain(dns, sender, servers):
    zone(dns)
    ehlo = b"250-hostile.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
    server = servers("127.0.0.3", ehlo=ehlo, starttls="garbage")
    a = sender(smtp_client_tls="may")
    pid = qmgr_pid(a)
    submit(a, ["tls@hostile.test"])
    wait_for(lambda: server.received(), what="the message in plain text")
    wait_for(lambda: queue_empty(a), what="an empty queue")
    assert len(server.received()) == 1
    assert log_lines(a, r"TLS handshake failed .*connecting again "
                        r"without TLS")
    assert_sound(a, pid, "tls@hostile.test")


def test_starttls_garbage_with_tls_required(dns, sender, servers):
    zone(dns)
    ehlo = b"250-hostile.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
    server = servers("127.0.0.3", ehlo=ehlo, starttls="garbage")
    a = sender(smtp_client_tls="encrypt")
    pid = qmgr_pid(a)
    submit(a, ["tlsreq@hostile.test"])
    line = deferral(a, "tlsreq@hostile.test")
    assert "dsn=4.7.5" in line
    assert "TLS handshake" in line
    assert server.received() == []
    assert reports(a) == []
    assert_sound(a, pid, "tlsreq@hostile.test")


def test_size_limit_bounces_without_sending(dns, sender, servers):
    zone(dns)
    ehlo = b"250-hostile.test\r\n250-PIPELINING\r\n250 SIZE 10\r\n"
    server = servers("127.0.0.3", ehlo=ehlo)
    a = sender()
    pid = qmgr_pid(a)
    submit(a, ["small@hostile.test"])
    wait_for(lambda: reports(a), what="the bounce")
    block = recipient_blocks(reports(a)[0])[0]
    assert block["Status"].strip() == "5.3.4"
    line = log_lines(a, r"to=<small@hostile\.test>.*status=failed")[0]
    assert "exceeds the maximum of 10 bytes" in line
    assert server.bodies_read == 0
    wait_for(lambda: queue_empty(a), what="an empty queue")
    assert_sound(a, pid, "small@hostile.test")


def test_pipelining_promise_broken(dns, sender, servers):
    """The server offers PIPELINING but drops what follows MAIL."""
    def discard_rest(server, conn, reader):
        if server.broken_once.is_set():
            return
        server.broken_once.set()
        time.sleep(0.2)
        # The RCPT and DATA lines of the group, from the reader's buffer
        # or the socket.
        reader.read1(65536)

    zone(dns)
    ehlo = b"250-hostile.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
    server = servers("127.0.0.3", ehlo=ehlo, after_mail=discard_rest)
    server.broken_once = threading.Event()
    a = sender()
    pid = qmgr_pid(a)
    submit(a, ["piped@hostile.test"])
    line = deferral(a, "piped@hostile.test")
    assert "timed out waiting for the reply" in line
    assert server.received() == []

    a.ctl("queue", "flush")
    wait_for(lambda: server.received(), what="the retried message")
    wait_for(lambda: queue_empty(a), what="an empty queue")
    assert len(server.received()) == 1
    assert_sound(a, pid, "piped@hostile.test")


# DNS -------------------------------------------------------------------


def test_fifty_mx_records_bounded(dns, sender):
    mx = [(i, f"mx{i}.many.test") for i in range(1, 51)]
    extra = {"many_test": {"MX": mx}}
    for _, host in mx:
        extra[host.replace(".", "_")] = {"A": ["127.0.0.9"]}
    zone(dns, **extra)
    a = sender()
    pid = qmgr_pid(a)
    submit(a, ["someone@many.test"])
    line = deferral(a, "someone@many.test")
    assert "connect to" in line
    looked_up = {name for name, qtype in dns.queries
                 if name.endswith(".many.test") and qtype == "A"}
    assert 0 < len(looked_up) <= 10
    connects = log_lines(a, r"connection to mx\d+\.many\.test")
    assert 0 < len(connects) <= 10
    assert_sound(a, pid, "someone@many.test")


def test_addresses_tried_per_round_bounded(dns, sender):
    # Nothing listens there: each address refuses at once. Blackholed
    # addresses would each cost smtp_client_connect_timeout instead.
    addresses = [f"127.0.1.{i}" for i in range(1, 31)]
    zone(dns, wide_test={"MX": [(10, "mx.wide.test")]},
         mx_wide_test={"A": addresses})
    a = sender(smtp_client_address_limit="5")
    pid = qmgr_pid(a)
    submit(a, ["someone@wide.test"])
    line = deferral(a, "someone@wide.test")
    assert "Connection refused" in line
    connects = log_lines(a, r"connection to mx\.wide\.test\[")
    assert len(connects) == 5
    assert_sound(a, pid, "someone@wide.test")


def test_mx_pointing_to_cname(dns, sender, servers):
    zone(dns, cname_test={"MX": [(10, "alias.cname.test")]},
         alias_cname_test={"CNAME": "real.cname.test"},
         real_cname_test={"A": ["127.0.0.3"]})
    server = servers("127.0.0.3")
    a = sender()
    pid = qmgr_pid(a)
    submit(a, ["someone@cname.test"])
    wait_for(lambda: server.received(), what="delivery through the CNAME")
    wait_for(lambda: queue_empty(a), what="an empty queue")
    line = log_lines(a, r"to=<someone@cname\.test>.*status=delivered")[0]
    assert "relay=alias.cname.test[127.0.0.3]" in line
    assert_sound(a, pid, "someone@cname.test")


def test_mx_into_cname_loop(dns, sender):
    zone(dns, spin_test={"MX": [(10, "a.spin.test")]},
         a_spin_test={"CNAME": "b.spin.test"},
         b_spin_test={"CNAME": "a.spin.test"})
    a = sender()
    pid = qmgr_pid(a)
    submit(a, ["someone@spin.test"])
    line = wait_for(lambda: log_lines(a, r"to=<someone@spin\.test>.*"
                                         r"status=(deferred|failed)"),
                    what="the result")[0]
    assert "no MX host of spin.test has an address" in line
    wait_for(lambda: queue_empty(a), what="an empty queue")
    assert_sound(a, pid, "someone@spin.test")


def test_mx_hosts_without_addresses_bounce(dns, sender):
    zone(dns, noaddr_test={"MX": [(10, "gone.noaddr.test"),
                                  (20, "empty.noaddr.test")]},
         gone_noaddr_test="NXDOMAIN",
         empty_noaddr_test={"TXT": ["no address here"]})
    a = sender()
    pid = qmgr_pid(a)
    submit(a, ["someone@noaddr.test"])
    wait_for(lambda: reports(a), what="the bounce")
    block = recipient_blocks(reports(a)[0])[0]
    assert block["Action"].strip() == "failed"
    assert block["Status"].strip().startswith("5.")
    wait_for(lambda: queue_empty(a), what="an empty queue")
    assert_sound(a, pid, "someone@noaddr.test")


def test_mx_to_unspecified_address(dns, port, sender, servers):
    # 0.0.0.0 would reach whatever listens on this host's port.
    zone(dns, zero_test={"MX": [(10, "mx.zero.test")]},
         mx_zero_test={"A": ["0.0.0.0"], "AAAA": ["::"]})
    local = servers("127.0.0.1")
    a = sender()
    pid = qmgr_pid(a)
    submit(a, ["someone@zero.test"])
    wait_for(lambda: log_lines(a, r"to=<someone@zero\.test>.*"
                                  r"status=(failed|deferred)"),
             what="the result")
    assert local.connections == 0
    assert local.received() == []
    assert_sound(a, pid, "someone@zero.test")


# Mail loops ------------------------------------------------------------


def test_mx_on_own_listener_is_a_loop(dns, hapost_factory):
    """An MX host with another name whose address is our own listener."""
    zone(dns, mirror_test={"MX": [(10, "mx.mirror.test")]},
         mx_mirror_test={"A": ["127.0.0.1"]})
    a = Hapost(dict(SLOW_RETRY, dns_servers=dns.servers))
    try:
        a.settings["smtp_client_port"] = str(a.smtp_port)
        a.write_config()
        a.start()
        assert a.settings["smtp_client_port"] == str(a.smtp_port)
        pid = qmgr_pid(a)
        submit(a, ["someone@mirror.test"])
        line = deferral(a, "someone@mirror.test")
        assert "loops back to myself" in line
        assert "dsn=4.4.6" in line
        assert reports(a) == []
        assert_sound(a, pid, "someone@mirror.test")
    finally:
        a.cleanup()


def test_hop_limit_rejects_looping_message(hapost):
    received = "".join(
        f"Received: from hop{i}.test by hop{i + 1}.test; "
        f"Mon, 1 Jan 2024 00:00:00 +0000\r\n" for i in range(100))
    msg = message_text([BOB], ALICE, "looping", "body\n", received)
    with smtplib.SMTP(hapost.host, hapost.smtp_port, timeout=10) as s:
        with pytest.raises(smtplib.SMTPDataError) as err:
            s.sendmail(ALICE, [BOB], msg)
    assert err.value.smtp_code == 554
    assert b"5.4.6" in err.value.smtp_error

    # One hop fewer is still accepted, and so is a body full of them.
    fewer = received.split("\r\n", 1)[1]
    before = len(hapost.messages(BOB))
    msg = message_text([BOB], ALICE, "almost looping", received, fewer)
    with smtplib.SMTP(hapost.host, hapost.smtp_port, timeout=10) as s:
        assert s.sendmail(ALICE, [BOB], msg) == {}
    hapost.wait_for_messages(BOB, before + 1)


def test_forwarding_loop_between_two_servers(dns, hapost_factory):
    """Two servers whose aliases forward to each other for ever."""
    zone(dns, example_test={"MX": [(10, "mx.example.test")]},
         mx_example_test={"A": ["127.0.0.1"]},
         remote_test={"MX": [(10, "mx.remote.test")]},
         mx_remote_test={"A": ["127.0.0.1"]})
    a = Hapost(dict(SLOW_RETRY, dns_servers=dns.servers))
    b = Hapost(dict(SLOW_RETRY, dns_servers=dns.servers,
                    hostname="mx.remote.test"))
    try:
        a.settings["smtp_client_port"] = str(b.smtp_port)
        b.settings["smtp_client_port"] = str(a.smtp_port)
        a.write_config()
        b.write_config()
        # b serves remote.test only, so mail for example.test goes to a.
        b.ctl("alias", "del", "postmaster@example.test", ALICE)
        for account in (ALICE, BOB):
            b.ctl("account", "del", account)
        b.ctl("domain", "del", "example.test")
        b.ctl("domain", "add", "remote.test")
        a.ctl("alias", "add", "loop@example.test", "loop@remote.test")
        b.ctl("alias", "add", "loop@remote.test", "loop@example.test")
        a.start()
        b.start()
        assert a.settings["smtp_client_port"] == str(b.smtp_port)
        assert b.settings["smtp_client_port"] == str(a.smtp_port)
        pids = (qmgr_pid(a), qmgr_pid(b))
        submit(a, ["loop@example.test"], subject="round and round")
        wait_for(lambda: reports(a), timeout=90, what="the loop's bounce")
        wait_for(lambda: queue_empty(a) and queue_empty(b), timeout=30,
                 what="both queues empty")
        got = reports(a)
        assert len(got) == 1
        block = recipient_blocks(got[0])[0]
        assert block["Status"].strip() == "5.4.6"
        hops = len(log_lines(a, r"to=<loop@remote\.test>.*"
                                r"status=delivered")) + \
            len(log_lines(b, r"to=<loop@example\.test>.*status=delivered"))
        assert 90 <= hops <= 110
        time.sleep(1)
        assert len(reports(a)) == 1
        assert (qmgr_pid(a), qmgr_pid(b)) == pids
    finally:
        for h in (a, b):
            h.cleanup()


def test_bounce_to_null_mx_sender_is_dropped(dns, sender, servers):
    zone(dns, nullmx_test={"MX": [(0, ".")]})
    servers("127.0.0.3", rcpt_replies={
        "nobody@hostile.test": b"550 5.1.1 No such user\r\n"})
    a = sender()
    pid = qmgr_pid(a)
    a.ctl("alias", "add", "fwd@example.test", "nobody@hostile.test")
    with smtplib.SMTP(a.host, a.smtp_port, timeout=10) as s:
        s.sendmail("writer@nullmx.test", ["fwd@example.test"],
                   b"Subject: will bounce\r\n\r\nbody\r\n")
    wait_for(lambda: log_lines(a, r"to=<writer@nullmx\.test>.*"
                                  r"status=failed"),
             what="the failed report")
    wait_for(lambda: queue_empty(a), what="an empty queue")
    line = log_lines(a, r"to=<writer@nullmx\.test>.*status=failed")[0]
    assert "null MX" in line
    time.sleep(1)
    assert queue_empty(a)
    assert len(log_lines(a, r"to=<writer@nullmx\.test>")) == 1
    assert reports(a) == []
    assert_sound(a, pid, "writer@nullmx.test", "nobody@hostile.test")


# Load and operations ---------------------------------------------------


def test_many_recipients_one_slow_domain(dns, sender, servers):
    def slow_reply(server, conn, n):
        time.sleep(0.3)
        return None

    zone(dns)
    server = servers("127.0.0.3", end_of_data=slow_reply)
    a = sender(recipient_limit="1000",
               smtp_client_destination_concurrency="3",
               smtp_client_recipients="50")
    pid = qmgr_pid(a)
    rcpts = [f"user{i}@hostile.test" for i in range(2000)]
    submit(a, rcpts[:1000], subject="first thousand")
    submit(a, rcpts[1000:], subject="second thousand")
    wait_for(lambda: server.received(), what="the first transaction")

    # Local mail goes on while the remote run is under way.
    before = len(a.messages(BOB))
    with smtplib.SMTP(a.host, a.smtp_port, timeout=10) as s:
        s.sendmail(ALICE, [BOB], b"Subject: local\r\n\r\nlocal body\r\n")
    a.wait_for_messages(BOB, before + 1, timeout=30)
    done = sum(len(r) for _, r, _ in server.received())
    assert done < len(rcpts), "the local message waited for the remote run"

    wait_for(lambda: queue_empty(a), timeout=180, what="an empty queue")
    got = [r for _, r_, _ in server.received() for r in r_]
    assert len(got) == len(rcpts)
    assert sorted(got) == sorted(rcpts)
    assert server.max_active <= 3
    assert all(len(r) <= 50 for _, r, _ in server.received())
    assert len(a.messages(BOB)) == before + 1
    assert_sound(a, pid, rcpts[0], rcpts[-1])


@pytest.fixture
def gateways():
    d = tempfile.mkdtemp(prefix="hapost-gateways-")
    os.chmod(d, 0o755)
    path = os.path.join(d, "gateways")

    def write(text, mode=0o600):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        shutil.chown(path, user=ensure_service_user())
        return path

    yield write
    shutil.rmtree(d, ignore_errors=True)


def test_world_readable_password_refused(dns, hapost_factory, servers,
                                        gateways):
    zone(dns, routed_test="NXDOMAIN")
    server = servers("127.0.0.3", ehlo=EHLO_AUTH)
    route = "routed.test [127.0.0.3] tls=none user=u password=secret-pw\n"
    table = gateways(route, mode=0o644)
    a = Hapost(dict(SLOW_RETRY, dns_servers=dns.servers,
                    smtp_client_port=server.sock.getsockname()[1],
                    gateway_table=table))
    try:
        check = subprocess.run([a.hapostd, "-t", "-c", a.conf],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 1
        out = check.stderr + check.stdout
        assert f"{table}:1:" in out
        assert "others may read" in out
        assert "secret-pw" not in out
        with pytest.raises(RuntimeError):
            a.start(timeout=5, attempts=1)
        assert "others may read" in a.log_text()
        assert "secret-pw" not in a.log_text()

        # Made private, the table loads and the route works.
        gateways(route)
        a.start()
        submit(a, ["someone@routed.test"])
        wait_for(lambda: server.received(), what="delivery by the route")
        assert server.received()[0][1] == ["someone@routed.test"]
        assert server.auth == [b"AUTH PLAIN " + AUTH_PLAIN_U]
        assert "secret-pw" not in a.log_text()
    finally:
        a.cleanup()


def test_reload_keeps_table_when_password_exposed(dns, sender, servers,
                                                  gateways):
    zone(dns, routed_test="NXDOMAIN")
    server = servers("127.0.0.3")
    table = gateways("routed.test [127.0.0.3]\n")
    a = sender(gateway_table=table)
    wait_for(lambda: log_lines(a, r"gateway table .* loaded: 1 routes"),
             what="the first table load")
    gateways("routed.test [127.0.0.3] user=u password=secret-pw\n",
             mode=0o644)
    a.reload()
    wait_for(lambda: log_lines(a, r"reload failed.*" + re.escape(table)),
             what="the rejected reload")
    assert "secret-pw" not in a.log_text()
    pid = qmgr_pid(a)
    submit(a, ["someone@routed.test"])
    wait_for(lambda: server.received(), what="delivery by the kept table")
    assert server.received()[0][1] == ["someone@routed.test"]
    assert_sound(a, pid, "someone@routed.test")


def test_delete_during_transaction(dns, sender, servers):
    release = threading.Event()
    started = threading.Event()

    def hold(server, conn, n):
        started.set()
        release.wait(30)
        conn.sendall(b"451 4.3.0 try again later\r\n")
        return False

    zone(dns)
    server = servers("127.0.0.3", end_of_data=hold)
    a = sender(smtp_client_timeout="20")
    pid = qmgr_pid(a)
    submit(a, ["held@hostile.test"], subject="deleted in flight")
    assert started.wait(20)
    qid = queue_ids(a)[0]
    a.ctl("queue", "delete", qid)
    wait_for(lambda: log_lines(a, rf"qid={qid} deleted from the queue: "
                                  r"its outbound delivery is cancelled"),
             what="the delete in the queue manager")
    release.set()
    wait_for(lambda: log_lines(a, rf"qid={qid} deleted meanwhile"),
             what="the result of the deleted entry")
    assert queue_empty(a)
    assert not os.path.exists(os.path.join(a.data_dir, "queue", "messages",
                                           qid))
    # Nothing is left to retry: a flush makes no new connection.
    connections = server.connections
    a.ctl("queue", "flush")
    time.sleep(1)
    assert server.connections == connections
    assert reports(a) == []
    assert not log_lines(a, r"recording status=.* failed")
    assert_sound(a, pid, "held@hostile.test")


# Connections -----------------------------------------------------------


def test_close_right_after_ehlo(dns, sender, servers):
    """A close that arrives with the EHLO reply, before any command."""
    def ehlo_then_close(server, conn):
        # Corked, the reply and the FIN leave in one segment.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        conn.sendall(EHLO)
        conn.shutdown(socket.SHUT_WR)

    zone(dns)
    server = servers("127.0.0.3", ehlo=ehlo_then_close)
    a = sender()
    pid = qmgr_pid(a)
    submit(a, ["closing@hostile.test"])
    line = deferral(a, "closing@hostile.test")
    assert server.connections == 1
    assert server.received() == []
    assert_sound(a, pid, "closing@hostile.test")
    assert "connection closed by mx.hostile.test" in line
