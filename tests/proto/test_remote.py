"""Outbound delivery: hapostd sends mail for other domains over SMTP.

The sending daemon ("sender", hostname mx.example.test) looks its MX
hosts up in a test DNS server on loopback (dnsserver.py) and connects to
smtp_client_port on 127.0.0.x addresses. The receivers listen on that
port: a second hapostd ("receiver", hostname mx.remote.test, domain
remote.test, with a certificate so it offers STARTTLS) on 127.0.0.1, and
aiosmtpd servers made by the tests on 127.0.0.3 and up, which answer
RCPT TO as a test tells them to. 127.0.0.9 has no listener, so
connections there are refused.

The senders retry after an hour only, so each retry in a test comes from
"hapostctl queue flush".
"""

import asyncio
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
from aiosmtpd.controller import Controller

from conftest import ALICE, ALICE_PASSWORD, Hapost, ensure_service_user
from dnsserver import DNSServer

CAROL = "carol@remote.test"
CAROL_PASSWORD = "carol-secret-3"
DAVE = "dave@remote.test"
DEAD_IP = "127.0.0.9"
SLOW_RETRY = {
    "queue_retry_min": "1h",
    "queue_retry_max": "2h",
    "queue_unreachable_retry_min": "1h",
    "queue_unreachable_retry_max": "2h",
    "delay_warning_time": "0",
    "smtp_client_connect_timeout": "2",
    "smtp_client_timeout": "10",
}


def wait_for(predicate, timeout=15, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Sink:
    """An aiosmtpd server that records what it accepts.

    rcpt_replies maps an address to a list of replies for its RCPT TO,
    used one per attempt; the last one repeats. Other addresses get 250.
    """

    def __init__(self, ip, port, rcpt_replies=None, data_reply=None,
                 data_delay=0):
        self.data_reply = data_reply
        self.data_delay = data_delay
        self.data_started = threading.Event()
        self.messages = []
        self.peers = []  # the client address of each accepted message
        self.rcpt_seen = []
        self.rcpt_replies = {k.lower(): list(v)
                             for k, v in (rcpt_replies or {}).items()}
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname=ip, port=port)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def reply_for(self, address):
        with self.lock:
            self.rcpt_seen.append(address)
            replies = self.rcpt_replies.get(address.lower())
            if not replies:
                return "250 2.1.5 Ok"
            return replies.pop(0) if len(replies) > 1 else replies[0]

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        reply = self.reply_for(address)
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server, session, envelope):
        self.data_started.set()
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply is not None:
            return self.data_reply
        with self.lock:
            self.messages.append((envelope.mail_from,
                                  list(envelope.rcpt_tos),
                                  bytes(envelope.content)))
            self.peers.append(session.peer)
        return "250 2.0.0 Ok: queued"

    def received(self):
        with self.lock:
            return list(self.messages)


class BusyServer:
    """Greets every connection with 421 and closes it."""

    def __init__(self, ip, port):
        self.sock = socket.create_server((ip, port))
        self.sock.settimeout(0.2)
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            with conn:
                conn.sendall(b"421 4.3.2 Too busy, try another host\r\n")

    def stop(self):
        self.running = False
        self.thread.join()
        self.sock.close()


@pytest.fixture(scope="module")
def dns():
    server = DNSServer({}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="hapost-remote-tls-")
    os.chmod(d, 0o755)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", "mx.key", "-out", "mx.pem",
                    "-days", "2", "-subj", "/CN=mx.remote.test",
                    "-addext", "subjectAltName=DNS:mx.remote.test"],
                   cwd=d, check=True, capture_output=True, timeout=60)
    for name in ("mx.key", "mx.pem"):
        os.chmod(os.path.join(d, name), 0o644)
    yield {"cert": os.path.join(d, "mx.pem"), "key": os.path.join(d, "mx.key")}
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def receiver(request, dns, certs):
    """The second hapostd: mx.remote.test on 127.0.0.1:PORT."""
    h = Hapost({"hostname": "mx.remote.test",
                "tls_cert_file": certs["cert"],
                "tls_key_file": certs["key"],
                "dns_servers": dns.servers})
    h.ctl("domain", "add", "remote.test")
    h.ctl("account", "add", CAROL, input=CAROL_PASSWORD + "\n")
    h.ctl("account", "add", DAVE, input="dave-secret-4\n")
    h.start()
    yield h
    if getattr(request.session, "hapost_failed", False):
        print("--- receiver log ---")
        print("\n".join(h.log_text().splitlines()[-60:]))
    h.cleanup()


@pytest.fixture
def sinks(receiver):
    """Starts aiosmtpd servers on 127.0.0.N at the receiver's port."""
    made = []

    def make(ip, rcpt_replies=None, data_reply=None, data_delay=0):
        s = Sink(ip, receiver.smtp_port, rcpt_replies, data_reply,
                 data_delay).start()
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def gateways():
    """Writes a gateway table that only the daemon's user reads."""
    d = tempfile.mkdtemp(prefix="hapost-gateways-")
    os.chmod(d, 0o755)
    path = os.path.join(d, "gateways")

    def write(text):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        shutil.chown(path, user=ensure_service_user())
        return path

    yield write
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def sender(hapost_factory, dns, receiver):
    """Starts the sending hapostd with the test DNS and receiver port."""
    def make(**extra):
        settings = dict(SLOW_RETRY)
        settings["dns_servers"] = dns.servers
        settings["smtp_client_port"] = str(receiver.smtp_port)
        settings.update(extra)
        return hapost_factory(**settings)
    return make


def zone(dns, **extra):
    """Sets the DNS table: remote.test and the names the test adds."""
    table = {
        "remote.test": {"MX": [(10, "mx.remote.test")]},
        "mx.remote.test": {"A": ["127.0.0.1"]},
        "sink.test": {"MX": [(10, "mx.sink.test")]},
        "mx.sink.test": {"A": ["127.0.0.3"]},
        "dead.test": {"MX": [(10, "mx.dead.test")]},
        "mx.dead.test": {"A": [DEAD_IP]},
    }
    table.update({k.replace("_", "."): v for k, v in extra.items()})
    dns.set_records(table)


def submit(h, rcpts, sender=ALICE, subject="outbound test",
           body="Body of the outbound message.\n"):
    """Sends a message through the sender's submission port as alice."""
    msg = (f"From: {sender or 'MAILER-DAEMON@example.test'}\r\n"
           f"To: {', '.join(rcpts)}\r\n"
           f"Subject: {subject}\r\n"
           f"Message-ID: <{time.time_ns()}@example.test>\r\n"
           f"\r\n{body}").replace("\r\n", "\n").replace("\n", "\r\n")
    with smtplib.SMTP(h.host, h.submission_port, timeout=10) as s:
        s.login(ALICE, ALICE_PASSWORD)
        refused = s.sendmail(sender, rcpts, msg.encode())
    assert refused == {}


def queue_text(h):
    return h.ctl("queue", "list").stdout


def queue_empty(h):
    return queue_text(h) == ""


def read_message(path):
    with open(path, "rb") as f:
        return f.read()


def reports(h, address=ALICE):
    """The delivery status notifications in address's mailbox."""
    found = []
    for path in h.messages(address):
        msg = email.message_from_bytes(read_message(path),
                                       policy=email.policy.default)
        if msg.get_content_type() == "multipart/report":
            found.append(msg)
    return found


def status_fields(report):
    """The per-message and per-recipient blocks of a report, as dicts."""
    for part in report.walk():
        if part.get_content_type() == "message/delivery-status":
            blocks = part.get_payload()
            return [dict(b.items()) for b in blocks]
    raise AssertionError("no message/delivery-status part")


def received_headers(data):
    """The Received: fields of a message, newest first, unfolded."""
    found = re.findall(rb"^Received: [^\r\n]*(?:\r\n[ \t][^\r\n]*)*",
                       data, re.M)
    return [re.sub(rb"\r\n[ \t]+", b" ", f) for f in found]


def log_lines(h, pattern):
    return [line for line in h.log_text().splitlines()
            if re.search(pattern, line)]


def test_delivers_to_mx_host(dns, receiver, sender):
    zone(dns)
    a = sender()
    submit(a, [CAROL], subject="to the receiver")
    paths = receiver.wait_for_messages(CAROL, 1)
    data = read_message(paths[-1])
    assert data.startswith(b"Return-Path: <" + ALICE.encode() + b">\r\n")
    assert b"Subject: to the receiver" in data
    assert b"Body of the outbound message." in data
    received = received_headers(data)
    assert len(received) >= 2
    assert b"by mx.remote.test" in received[0]
    assert b"mx.example.test" in received[0]
    wait_for(lambda: queue_empty(a), what="an empty queue")
    line = wait_for(lambda: log_lines(a, r"to=<carol@remote\.test> relay="),
                    what="the delivery log line")[0]
    port = receiver.smtp_port
    assert f"relay=mx.remote.test[127.0.0.1]:{port}" in line
    assert "status=delivered" in line
    assert re.search(r"dsn=2\.\d\.\d", line)
    assert re.search(r"delay=\d+\.\d", line)


def test_forwarding_alias_goes_remote(dns, receiver, sender):
    zone(dns)
    a = sender()
    a.ctl("alias", "add", "fwd@example.test", CAROL)
    before = len(receiver.messages(CAROL))
    with smtplib.SMTP(a.host, a.smtp_port, timeout=10) as s:
        s.sendmail("someone@elsewhere.test", ["fwd@example.test"],
                   b"Subject: forwarded\r\n\r\nforwarded body\r\n")
    paths = receiver.wait_for_messages(CAROL, before + 1)
    assert b"Subject: forwarded" in read_message(paths[-1])


def test_several_recipients_one_transaction(dns, sender, sinks):
    zone(dns)
    sink = sinks("127.0.0.3")
    a = sender()
    rcpts = ["one@sink.test", "two@sink.test", "three@sink.test"]
    submit(a, rcpts, subject="three at once")
    wait_for(lambda: sink.received(), what="the message at the sink")
    wait_for(lambda: queue_empty(a), what="an empty queue")
    got = sink.received()
    assert len(got) == 1
    mail_from, tos, content = got[0]
    assert mail_from == ALICE
    assert sorted(tos) == sorted(rcpts)
    assert b"Subject: three at once" in content


def test_recipient_limit_splits_transactions(dns, sender, sinks):
    zone(dns)
    sink = sinks("127.0.0.3")
    a = sender(smtp_client_recipients="2")
    rcpts = ["one@sink.test", "two@sink.test", "three@sink.test"]
    submit(a, rcpts)
    wait_for(lambda: queue_empty(a), what="an empty queue")
    got = sink.received()
    assert sorted(len(tos) for _, tos, _ in got) == [1, 2]


def test_tempfail_then_success_after_flush(dns, sender, sinks):
    zone(dns)
    sink = sinks("127.0.0.3", {"later@sink.test": [
        "451 4.3.0 Try again later", "250 2.1.5 Ok"]})
    a = sender()
    submit(a, ["later@sink.test"], subject="second try")
    line = wait_for(lambda: log_lines(a, r"to=<later@sink\.test>.*"
                                      r"status=deferred"),
                    what="the deferral")[0]
    assert "dsn=4.3.0" in line
    assert "451 4.3.0 Try again later" in line
    assert sink.received() == []
    assert "later@sink.test" in queue_text(a)

    a.ctl("queue", "flush")
    wait_for(lambda: sink.received(), what="the retried message")
    wait_for(lambda: queue_empty(a), what="an empty queue")
    assert len(sink.received()) == 1
    assert log_lines(a, r"to=<later@sink\.test>.*attempts=2 "
                        r"status=delivered")


def test_permanent_failure_bounces(dns, sender, sinks):
    zone(dns)
    sinks("127.0.0.3", {"nobody@sink.test": [
        "550 5.1.1 <nobody@sink.test>: Recipient address rejected"]})
    a = sender()
    submit(a, ["nobody@sink.test", "ok@sink.test"], subject="half bounced")
    wait_for(lambda: reports(a), what="the bounce in alice's mailbox")
    wait_for(lambda: queue_empty(a), what="an empty queue")
    got = reports(a)
    assert len(got) == 1
    report = got[0]
    assert report.get_param("report-type") == "delivery-status"
    assert report["To"].addresses[0].addr_spec == ALICE
    blocks = status_fields(report)
    rcpts = [b for b in blocks if "Final-Recipient" in b]
    assert len(rcpts) == 1
    block = rcpts[0]
    assert "nobody@sink.test" in block["Final-Recipient"]
    assert block["Action"].strip() == "failed"
    assert block["Status"].strip() == "5.1.1"
    assert "550 5.1.1" in block["Diagnostic-Code"]
    assert block["Diagnostic-Code"].lower().startswith("smtp;")
    assert "mx.sink.test" in block.get("Remote-MTA", "")
    # The original message comes back with the report.
    assert "Subject: half bounced" in report.as_string()
    # A bounce has the null sender.
    with open(a.messages(ALICE)[-1], "rb") as f:
        assert f.readline() == b"Return-Path: <>\r\n"


def test_dead_mx_falls_back(dns, sender, sinks):
    zone(dns, fallback_test={"MX": [(10, "mx.dead.test"),
                                    (20, "mx.sink.test")]})
    sink = sinks("127.0.0.3")
    a = sender()
    submit(a, ["someone@fallback.test"])
    wait_for(lambda: sink.received(), what="the message at the backup MX")
    wait_for(lambda: queue_empty(a), what="an empty queue")
    assert "connection to mx.dead.test" in a.log_text()
    line = log_lines(a, r"to=<someone@fallback\.test>")[-1]
    assert "relay=mx.sink.test[127.0.0.3]" in line


def test_no_mx_uses_address(dns, sender, sinks):
    zone(dns, plain_test={"A": ["127.0.0.3"]})
    sink = sinks("127.0.0.3")
    a = sender()
    submit(a, ["someone@plain.test"])
    wait_for(lambda: sink.received(), what="the message at the A record")
    assert sink.received()[0][1] == ["someone@plain.test"]


def test_nxdomain_bounces(dns, sender):
    zone(dns, gone_test="NXDOMAIN")
    a = sender()
    submit(a, ["someone@gone.test"])
    wait_for(lambda: reports(a), what="the bounce")
    block = [b for b in status_fields(reports(a)[0])
             if "Final-Recipient" in b][0]
    assert block["Action"].strip() == "failed"
    assert block["Status"].strip() == "5.1.2"
    wait_for(lambda: queue_empty(a), what="an empty queue")


def test_servfail_defers(dns, sender):
    zone(dns, broken_test="SERVFAIL")
    a = sender()
    submit(a, ["someone@broken.test"])
    line = wait_for(lambda: log_lines(a, r"to=<someone@broken\.test>.*"
                                      r"status=deferred"),
                    what="the deferral")[0]
    assert "dsn=4.4.3" in line
    assert "relay=none" in line
    assert reports(a) == []
    assert "someone@broken.test" in queue_text(a)


def test_tls_required_but_not_offered(dns, sender, sinks, gateways):
    zone(dns)
    sink = sinks("127.0.0.3")
    table = gateways("sink.test [127.0.0.3] tls=encrypt\n")
    a = sender(gateway_table=table)
    submit(a, ["someone@sink.test"])
    line = wait_for(lambda: log_lines(a, r"to=<someone@sink\.test>.*"
                                      r"status=deferred"),
                    what="the deferral")[0]
    assert "TLS" in line or "STARTTLS" in line
    assert sink.received() == []
    assert reports(a) == []
    listing = queue_text(a)
    assert "route=gateway:sink.test->[127.0.0.3]" in listing


def test_tls_may_uses_starttls(dns, receiver, sender):
    zone(dns)
    a = sender(smtp_client_tls="may")
    before = len(receiver.messages(DAVE))
    submit(a, [DAVE], subject="over tls")
    paths = receiver.wait_for_messages(DAVE, before + 1)
    data = read_message(paths[-1])
    assert b"with ESMTPS" in received_headers(data)[0]


def test_smarthost_with_auth(dns, receiver, sender, gateways):
    zone(dns)
    table = gateways(f"* [127.0.0.1]:{receiver.submission_port} "
                     f"user={CAROL} password={CAROL_PASSWORD}\n")
    before = len(receiver.messages(CAROL))
    # No DNS answer is needed for a bracketed next hop.
    a = sender(gateway_table=table, smtp_client_tls="none")
    submit(a, [CAROL], subject="through the smarthost")
    paths = receiver.wait_for_messages(CAROL, before + 1)
    data = read_message(paths[-1])
    assert b"with ESMTPA" in received_headers(data)[0]
    line = wait_for(lambda: log_lines(a, r"to=<carol@remote\.test>.*"
                                      r"status=delivered"),
                    what="the delivery log line")[-1]
    assert f"[127.0.0.1]:{receiver.submission_port}" in line


def window_excluding_now():
    """A daily window that opens two hours from now (local time)."""
    now = time.localtime()
    start = (now.tm_hour + 2) % 24
    end = (now.tm_hour + 3) % 24
    return f"* {start:02d}:00-{end:02d}:00"


def test_delivery_window_holds_until_open(dns, sender, sinks):
    zone(dns)
    sink = sinks("127.0.0.3")
    a = sender(delivery_window=window_excluding_now())
    submit(a, ["someone@sink.test"], subject="held by the window")
    wait_for(lambda: log_lines(a, r"to=<someone@sink\.test> waits for the "
                                  r"delivery window"),
             what="the window hold")
    a.ctl("queue", "flush")
    time.sleep(1)
    assert sink.received() == []
    show = queue_text(a)
    assert "someone@sink.test" in show
    # The wait is no attempt: nothing recorded yet.
    assert re.search(r"<someone@sink\.test> route=mx:sink\.test next=\S+ "
                     r"error=-", show)

    a.settings["delivery_window"] = "* 00:00-24:00"
    a.write_config()
    a.reload()
    wait_for(lambda: sink.received(), what="delivery after the reload")
    wait_for(lambda: queue_empty(a), what="an empty queue")


def age_entry(h, qid, seconds):
    """Moves an entry's arrival into the past, with the daemon stopped."""
    path = os.path.join(h.data_dir, "queue", "messages", qid)
    with open(path, "rb") as f:
        data = f.read()
    m = re.search(rb"^arrival (\d+)$", data, re.M)
    old = m.group(1)
    new = str(int(old) - seconds).encode()
    assert len(new) == len(old)
    with open(path, "r+b") as f:
        f.write(data[:m.start(1)] + new + data[m.end(1):])


def first_queue_id(h):
    return queue_text(h).split()[0]


def test_lifetime_expiry_bounces(dns, sender):
    zone(dns)
    a = sender(queue_lifetime="1d")
    submit(a, ["someone@dead.test"], subject="never arrives")
    wait_for(lambda: log_lines(a, r"to=<someone@dead\.test>.*"
                                  r"status=deferred"),
             what="the first deferral")
    assert "connect to mx.dead.test" in log_lines(
        a, r"to=<someone@dead\.test>")[-1]
    qid = first_queue_id(a)
    a.stop()
    age_entry(a, qid, 2 * 86400)
    a.start()
    a.ctl("queue", "flush")
    wait_for(lambda: reports(a), what="the expiry bounce")
    block = [b for b in status_fields(reports(a)[0])
             if "Final-Recipient" in b][0]
    assert block["Action"].strip() == "failed"
    assert block["Status"].strip() == "4.4.7"
    wait_for(lambda: queue_empty(a), what="an empty queue")
    assert log_lines(a, r"to=<someone@dead\.test>.*status=failed "
                        r"\(expired after")


def test_delay_warning_sent_once(dns, sender, sinks):
    zone(dns)
    sinks("127.0.0.3", {"slow@sink.test": ["452 4.2.2 Mailbox full"]})
    a = sender(delay_warning_time="2")
    submit(a, ["slow@sink.test"], subject="slow going")
    wait_for(lambda: reports(a), what="the delay warning")
    got = reports(a)
    block = [b for b in status_fields(got[0]) if "Final-Recipient" in b][0]
    assert block["Action"].strip() == "delayed"
    assert block["Status"].strip() == "4.2.2"
    assert "slow@sink.test" in queue_text(a)

    a.ctl("queue", "flush")
    wait_for(lambda: len(log_lines(a, r"to=<slow@sink\.test>.*"
                                      r"status=deferred")) >= 2,
             what="the second deferral")
    time.sleep(0.5)
    assert len(reports(a)) == 1
    show = a.ctl("queue", "show", first_queue_id(a)).stdout
    assert "warned=yes" in show

    # The notice is on disk, so a restart sends no second warning.
    a.stop()
    a.start()
    a.ctl("queue", "flush")
    wait_for(lambda: len(log_lines(a, r"to=<slow@sink\.test>.*"
                                      r"status=deferred")) >= 3,
             what="the deferral after the restart")
    time.sleep(0.5)
    assert len(reports(a)) == 1


def test_null_sender_failure_has_no_bounce(dns, sender, sinks):
    zone(dns)
    sinks("127.0.0.3", {"nobody@sink.test": ["550 5.1.1 No such user"]})
    a = sender()
    submit(a, ["nobody@sink.test"], sender="")
    wait_for(lambda: log_lines(a, r"to=<nobody@sink\.test>.*status=failed"),
             what="the failure")
    wait_for(lambda: queue_empty(a), what="an empty queue")
    time.sleep(0.5)
    assert reports(a) == []
    assert queue_empty(a)


def test_queue_list_shows_retry_details(dns, receiver, sender, sinks):
    zone(dns)
    sinks("127.0.0.3", {"wait@sink.test": ["450 4.2.0 Greylisted"]})
    a = sender()
    submit(a, ["wait@sink.test"])
    wait_for(lambda: log_lines(a, r"to=<wait@sink\.test>.*status=deferred"),
             what="the deferral")
    lines = queue_text(a).splitlines()
    assert len(lines) == 2
    entry, detail = lines
    assert re.match(r"^[0-9A-F]{16} \S+ \d+ <alice@example\.test> "
                    r"wait@sink\.test 450 4\.2\.0 Greylisted", entry)
    m = re.match(r"^  <wait@sink\.test> route=mx:sink\.test "
                 r"next=(\S+) dsn=4\.2\.0 relay=(\S+) error=(.*)$", detail)
    assert m, detail
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", m.group(1))
    assert m.group(2) == f"mx.sink.test[127.0.0.3]:{receiver.smtp_port}"
    assert m.group(3).startswith("450 4.2.0 Greylisted")

    show = a.ctl("queue", "show", entry.split()[0]).stdout
    assert re.search(r"^recipient: <wait@sink\.test> .*route=mx:sink\.test "
                     r".*state=pending attempts=1 next=\S+ error=450",
                     show, re.M)


def test_bad_gateway_table_keeps_old(dns, sender, sinks, gateways):
    zone(dns, routed_test="NXDOMAIN")
    sink = sinks("127.0.0.3")
    table = gateways("routed.test [127.0.0.3]\n")
    a = sender(gateway_table=table)
    # The queue manager reads the table once it runs, after the listeners.
    wait_for(lambda: log_lines(a, r"gateway table .* loaded: 1 routes"),
             what="the first table load")
    gateways("routed.test [127.0.0.3]\nother.test [127.0.0.3] tls=bogus\n")

    check = subprocess.run([a.hapostd, "-t", "-c", a.conf],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 1
    assert f"{table}:2:" in check.stderr + check.stdout

    a.reload()
    wait_for(lambda: log_lines(a, r"reload failed.*" + re.escape(table) +
                                  r":2:"),
             what="the rejected reload")
    submit(a, ["someone@routed.test"])
    wait_for(lambda: sink.received(), what="delivery by the kept table")
    assert sink.received()[0][1] == ["someone@routed.test"]


def test_busy_greeting_moves_to_next_mx(dns, receiver, sender, sinks):
    zone(dns, busy_test={"MX": [(10, "mx.busy.test"), (20, "mx.sink.test")]},
         mx_busy_test={"A": ["127.0.0.4"]})
    busy = BusyServer("127.0.0.4", receiver.smtp_port)
    try:
        sink = sinks("127.0.0.3")
        a = sender()
        submit(a, ["someone@busy.test"])
        wait_for(lambda: sink.received(), what="delivery by the second MX")
        assert busy.connections >= 1
        assert log_lines(a, r"connection to mx\.busy\.test\[127\.0\.0\.4\]"
                            r".* failed during greeting: 421")
    finally:
        busy.stop()


def test_ipv6_refused_then_ipv4(dns, sender, sinks):
    zone(dns, dual_test={"MX": [(10, "mx.dual.test")]},
         mx_dual_test={"AAAA": ["::1"], "A": ["127.0.0.3"]})
    sink = sinks("127.0.0.3")
    a = sender()
    submit(a, ["someone@dual.test"])
    line = wait_for(lambda: log_lines(a, r"to=<someone@dual\.test>.*"
                                      r"status=delivered"),
                    what="the delivery log line")[-1]
    assert "relay=mx.dual.test[127.0.0.3]" in line


def test_own_mx_uses_better_hosts_only(dns, sender, sinks):
    zone(dns, self_test={"MX": [(10, "mx.sink.test"), (20, "mx.example.test"),
                                (30, "mx.dead.test")]},
         mx_example_test={"A": ["127.0.0.1"]})
    sink = sinks("127.0.0.3")
    a = sender()
    submit(a, ["someone@self.test"])
    wait_for(lambda: sink.received(), what="delivery by the better MX")


def test_mx_loop_defers(dns, sender):
    zone(dns, loop_test={"MX": [(10, "mx.example.test"), (20, "mx.dead.test")]},
         mx_example_test={"A": ["127.0.0.1"]})
    a = sender()
    submit(a, ["someone@loop.test"])
    line = wait_for(lambda: log_lines(a, r"to=<someone@loop\.test>.*"
                                      r"status=deferred"),
                    what="the deferral")[0]
    assert "loops back to myself" in line
    assert "dsn=4.4.6" in line
    assert log_lines(a, r"error: mail for loop\.test loops back to myself")
    assert reports(a) == []


def test_data_rejection_bounces_all(dns, sender, sinks):
    zone(dns)
    sinks("127.0.0.3", data_reply="554 5.6.0 Content rejected")
    a = sender()
    submit(a, ["one@sink.test", "two@sink.test"])
    wait_for(lambda: reports(a), what="the bounce")
    blocks = [b for b in status_fields(reports(a)[0])
              if "Final-Recipient" in b]
    assert len(blocks) == 2
    for block in blocks:
        assert block["Status"].strip() == "5.6.0"
        assert "554 5.6.0 Content rejected" in block["Diagnostic-Code"]
    wait_for(lambda: queue_empty(a), what="an empty queue")


def test_bounce_to_remote_sender(dns, sender, sinks):
    zone(dns)
    sink = sinks("127.0.0.3", {"nobody@sink.test": ["550 5.1.1 Unknown"]})
    a = sender()
    a.ctl("alias", "add", "fwd@example.test", "nobody@sink.test")
    with smtplib.SMTP(a.host, a.smtp_port, timeout=10) as s:
        s.sendmail("writer@sink.test", ["fwd@example.test"],
                   b"Subject: will bounce\r\n\r\nbody\r\n")
    wait_for(lambda: sink.received(), what="the bounce at the sender's MX")
    wait_for(lambda: queue_empty(a), what="an empty queue")
    mail_from, tos, content = sink.received()[0]
    # aiosmtpd reports the null sender as "<>".
    assert mail_from == "<>"
    assert tos == ["writer@sink.test"]
    report = email.message_from_bytes(content, policy=email.policy.default)
    assert report.get_content_type() == "multipart/report"


def test_connection_reused_for_next_message(dns, sender, sinks):
    zone(dns)
    sink = sinks("127.0.0.3")
    a = sender(delivery_window=window_excluding_now(),
               smtp_client_destination_concurrency="1")
    submit(a, ["one@sink.test"], subject="first")
    submit(a, ["two@sink.test"], subject="second")
    wait_for(lambda: len(log_lines(a, r"waits for the delivery window")) >= 2,
             what="both messages held")

    # The new queue manager finds both waiting for the same destination.
    a.settings["delivery_window"] = "* 00:00-24:00"
    a.write_config()
    a.reload()
    wait_for(lambda: len(sink.received()) == 2, what="both messages")
    assert len(set(sink.peers)) == 1


def test_stop_waits_for_transaction(dns, sender, sinks):
    zone(dns)
    sink = sinks("127.0.0.3", data_delay=1.5)
    a = sender()
    submit(a, ["someone@sink.test"], subject="in flight at stop")
    assert sink.data_started.wait(15)
    assert a.stop() == 0
    # The reply came after SIGTERM and was recorded before the exit.
    assert log_lines(a, r"to=<someone@sink\.test>.*status=delivered")
    assert log_lines(a, r"waiting for 1 outbound transactions")

    # The next queue manager removes the entry without sending again.
    a.start()
    wait_for(lambda: queue_empty(a), what="an empty queue")
    assert len(sink.received()) == 1
