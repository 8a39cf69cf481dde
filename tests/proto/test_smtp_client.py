"""The outbound SMTP client (core/delivery/smtp_client*.c) against real
servers on loopback.

tests/tools/smtp-send drives the client and prints each result as a JSON
line. The servers: Python's aiosmtpd (AUTH, STARTTLS, replies chosen per
test, the received bytes), Postfix's smtp-sink (PIPELINING, commands
rejected or dropped on request), and a small scripted server in this
file for what neither does: withholding replies, never answering, a
broken TLS handshake, garbled replies.
"""

import asyncio
import hmac
import json
import os
import pathlib
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult

from conftest import builddir, free_port

SENDER = "sender@client.test"
USER = "relay-user"
PASSWORD = "relay-secret-7"
SERVER_NAME = "mx.test"


class Outcome:
    """smtp-send's exit status and its JSON lines, by event."""

    def __init__(self, proc):
        self.returncode = proc.returncode
        self.stderr = proc.stderr
        # Under --enable-asan, a memory error or leak shows up here.
        assert "Sanitizer" not in proc.stderr, proc.stderr
        assert "runtime error" not in proc.stderr, proc.stderr
        self.events = [json.loads(line) for line in proc.stdout.splitlines()]
        self.session = self.only("session")
        self.txns = [e for e in self.events if e["event"] == "txn"]
        self.result = self.only("result")["failure"]

    def only(self, event):
        found = [e for e in self.events if e["event"] == event]
        assert len(found) == 1, (event, self.events, self.stderr)
        return found[0]

    def rcpts(self, n=1):
        return {e["rcpt"]: e for e in self.events
                if e["event"] == "rcpt" and e["n"] == n}


def smtp_send(port, files, *options, to=("rcpt@server.test",),
              sender=SENDER, timeout=60):
    tool = os.path.join(builddir(), "tests", "tools", "smtp-send")
    cmd = [tool, "--from", sender]
    for rcpt in to:
        cmd += ["--to", rcpt]
    cmd += [*options, "127.0.0.1:%d" % port, *[str(f) for f in files]]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout)
    return Outcome(proc)


def crlf(text):
    return text.replace("\n", "\r\n").encode()


@pytest.fixture
def message(tmp_path):
    path = tmp_path / "message.eml"
    path.write_bytes(crlf("Subject: client test\n\nHello from the client.\n"))
    return path


def wait_listening(port, deadline=10.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


# aiosmtpd ---------------------------------------------------------------


class Recorder:
    """An aiosmtpd handler that records what it receives.

    mail_reply, rcpt_replies (by address) and data_reply replace the
    normal 250 replies. data_delay delays the end-of-data reply by that
    many seconds.
    """

    def __init__(self, mail_reply=None, rcpt_replies=None, data_reply=None,
                 data_delay=0, ehlo_extra=()):
        self.mail_reply = mail_reply
        self.rcpt_replies = rcpt_replies or {}
        self.data_reply = data_reply
        self.data_delay = data_delay
        self.ehlo_extra = list(ehlo_extra)
        self.lock = threading.Lock()
        self.mails = []     # (peer, address, options)
        self.messages = []  # (peer, sender, recipients, content)
        self.auth = []      # (mechanism, login, success)
        self.rsets = 0

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        return responses[:-1] + ["250-" + x for x in self.ehlo_extra] + \
            responses[-1:]

    async def handle_MAIL(self, server, session, envelope, address,
                          mail_options):
        with self.lock:
            self.mails.append((session.peer, address, list(mail_options)))
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_RSET(self, server, session, envelope):
        with self.lock:
            self.rsets += 1
        return "250 2.0.0 Ok"

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply:
            return self.data_reply
        with self.lock:
            self.messages.append((session.peer, envelope.mail_from,
                                  list(envelope.rcpt_tos),
                                  bytes(envelope.original_content)))
        return "250 2.0.0 Ok: queued"

    async def auth_CRAM__MD5(self, server, args):
        challenge = b"<1896.697170952@mx.test>"
        response = await server.challenge_auth(challenge)
        if response is MISSING:
            return AuthResult(success=False, handled=True)
        login, _, digest = response.decode().partition(" ")
        expected = hmac.new(PASSWORD.encode(), challenge, "md5").hexdigest()
        ok = login == USER and hmac.compare_digest(digest, expected)
        with self.lock:
            self.auth.append(("CRAM-MD5", login, ok))
        # handled=False: aiosmtpd sends the 535 itself.
        return AuthResult(success=ok, handled=False)

    def authenticator(self, server, session, envelope, mechanism, data):
        login = data.login.decode()
        ok = login == USER and data.password.decode() == PASSWORD
        with self.lock:
            self.auth.append((mechanism, login, ok))
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def aiosmtpd_server():
    """aiosmtpd_server(handler, **smtp_kwargs) returns a listening port."""
    controllers = []

    def start(handler, **kwargs):
        kwargs.setdefault("auth_require_tls", False)
        kwargs.setdefault("authenticator", handler.authenticator)
        port = free_port()
        ctl = Controller(handler, hostname="127.0.0.1", port=port,
                         server_hostname=SERVER_NAME, **kwargs)
        ctl.start()
        controllers.append(ctl)
        return port

    yield start
    for ctl in controllers:
        ctl.stop()


@pytest.fixture(scope="module")
def certs():
    """A self-signed certificate for mx.test and its key."""
    d = tempfile.mkdtemp(prefix="hapost-smtpc-")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", "key.pem", "-out", "cert.pem",
                    "-days", "2", "-subj", "/CN=" + SERVER_NAME,
                    "-addext", "subjectAltName=DNS:" + SERVER_NAME],
                   cwd=d, check=True, capture_output=True, timeout=60)
    yield {"cert": os.path.join(d, "cert.pem"),
           "key": os.path.join(d, "key.pem")}
    shutil.rmtree(d, ignore_errors=True)


def server_tls(certs):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs["cert"], certs["key"])
    return ctx


# smtp-sink --------------------------------------------------------------


@pytest.fixture
def smtp_sink():
    """smtp_sink(*options) starts smtp-sink; returns (port, dump folder)."""
    procs = []
    # Run as root, smtp-sink writes as nobody, which cannot enter
    # pytest's private tmp_path.
    top = tempfile.mkdtemp(prefix="hapost-sink-")
    os.chmod(top, 0o755)

    def start(*options):
        dump = pathlib.Path(tempfile.mkdtemp(dir=top))
        os.chmod(dump, 0o777)
        port = free_port()
        cmd = ["/usr/sbin/smtp-sink"]
        if os.geteuid() == 0:
            cmd += ["-u", "nobody"]
        cmd += ["-d", str(dump) + "/%M.", *options,
                "127.0.0.1:%d" % port, "10"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        wait_listening(port)
        return port, dump

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=10)
    shutil.rmtree(top, ignore_errors=True)


def sink_messages(dump):
    """The dump files smtp-sink wrote, with their X-*-Args headers."""
    out = []
    for name in sorted(os.listdir(dump)):
        text = (dump / name).read_text(errors="replace")
        headers = [line for line in text.splitlines()
                   if line.startswith("X-")]
        out.append({"headers": headers, "text": text})
    return out


# scripted server --------------------------------------------------------


class ScriptedSMTP:
    """A small SMTP server on loopback whose misbehaviour a test chooses.

    greeting: the first reply, or None to accept and never answer.
    ehlo: the whole EHLO reply.
    starttls: "garbage" to accept STARTTLS and then send plain bytes.
    hold_until_data: withhold the MAIL and RCPT replies until DATA
    arrives, which only a pipelining client survives.
    mail_replies: replies for successive MAIL commands (then 250).
    connections: the command lines of each connection; bodies: the
    messages as received, dot-stuffing included.
    """

    def __init__(self, greeting="220 scripted ESMTP\r\n",
                 ehlo="250-scripted\r\n250 8BITMIME\r\n", starttls=None,
                 hold_until_data=False, mail_replies=()):
        self.greeting = greeting
        self.ehlo = ehlo
        self.starttls = starttls
        self.hold_until_data = hold_until_data
        self.mail_replies = list(mail_replies)
        self.connections = []
        self.bodies = []
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,),
                                 daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn):
        commands = []
        with self.lock:
            self.connections.append(commands)
        try:
            self._dialogue(conn, commands)
        except OSError:
            pass
        finally:
            conn.close()

    def _dialogue(self, conn, commands):
        reader = conn.makefile("rb")
        if self.greeting is None:
            self.stopped.wait(30)
            return
        conn.sendall(self.greeting.encode())
        held = []
        while True:
            line = reader.readline()
            if not line:
                return
            command = line.decode("latin-1").rstrip("\r\n")
            commands.append(command)
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                conn.sendall(self.ehlo.encode())
            elif verb == "HELO":
                conn.sendall(b"250 scripted\r\n")
            elif verb == "STARTTLS" and self.starttls == "garbage":
                conn.sendall(b"220 2.0.0 go ahead\r\n")
                conn.sendall(b"this is not a TLS record\r\n" * 4)
                return
            elif verb in ("MAIL", "RCPT"):
                reply = "250 2.1.0 Ok\r\n"
                if verb == "MAIL" and self.mail_replies:
                    reply = self.mail_replies.pop(0)
                if self.hold_until_data:
                    held.append(reply)
                else:
                    conn.sendall(reply.encode())
            elif verb == "DATA":
                conn.sendall(("".join(held) + "354 go ahead\r\n").encode())
                held = []
                body = b""
                while True:
                    data_line = reader.readline()
                    if not data_line or data_line == b".\r\n":
                        break
                    body += data_line
                with self.lock:
                    self.bodies.append(body)
                conn.sendall(b"250 2.0.0 queued\r\n")
            elif verb == "RSET":
                conn.sendall(b"250 2.0.0 Ok\r\n")
            elif verb == "QUIT":
                conn.sendall(b"221 2.0.0 Bye\r\n")
                return
            else:
                conn.sendall(b"502 5.5.1 not implemented\r\n")

    def stop(self):
        self.stopped.set()
        self.sock.close()
        for t in self.threads[1:]:
            t.join(timeout=5)


@pytest.fixture
def scripted():
    servers = []

    def start(**kwargs):
        server = ScriptedSMTP(**kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# transactions -----------------------------------------------------------


def test_several_recipients(aiosmtpd_server, message):
    handler = Recorder()
    port = aiosmtpd_server(handler)
    rcpts = ["a@server.test", "b@server.test", "c@server.test"]
    out = smtp_send(port, [message], to=rcpts)
    assert out.returncode == 0, out.events
    assert out.session["failure"] == "ok"
    assert out.result == "ok"
    assert out.txns[0]["stage"] == "end of data"
    assert out.txns[0]["code"] == 250
    assert all(r["code"] == 250 for r in out.rcpts().values())
    assert len(handler.messages) == 1
    _, sender, received_rcpts, content = handler.messages[0]
    assert sender == SENDER
    assert received_rcpts == rcpts
    assert content == message.read_bytes()


def test_several_recipients_smtp_sink(smtp_sink, message):
    port, dump = smtp_sink()
    rcpts = ["a@server.test", "b@server.test"]
    out = smtp_send(port, [message], to=rcpts)
    assert out.result == "ok", out.events
    messages = sink_messages(dump)
    assert len(messages) == 1
    assert "X-Rcpt-Args: <a@server.test>" in messages[0]["headers"]
    assert "X-Rcpt-Args: <b@server.test>" in messages[0]["headers"]
    assert "Hello from the client." in messages[0]["text"]


def test_one_recipient_refused(aiosmtpd_server, message):
    handler = Recorder(rcpt_replies={
        "nobody@server.test": "550 5.1.1 no such user"})
    port = aiosmtpd_server(handler)
    out = smtp_send(port, [message], to=["a@server.test",
                                         "nobody@server.test",
                                         "b@server.test"])
    assert out.txns[0]["failure"] == "ok"
    rcpts = out.rcpts()
    assert rcpts["nobody@server.test"]["code"] == 550
    assert rcpts["nobody@server.test"]["enhanced"] == "5.1.1"
    assert rcpts["nobody@server.test"]["text"] == "no such user"
    assert rcpts["a@server.test"]["code"] == 250
    assert rcpts["b@server.test"]["code"] == 250
    assert handler.messages[0][2] == ["a@server.test", "b@server.test"]


def test_all_recipients_refused(aiosmtpd_server, message):
    handler = Recorder(rcpt_replies={
        "a@server.test": "550 5.1.1 no such user",
        "b@server.test": "452 4.2.2 mailbox full"})
    port = aiosmtpd_server(handler)
    out = smtp_send(port, [message], to=["a@server.test", "b@server.test"])
    txn = out.txns[0]
    assert txn["failure"] == "tempfail"
    assert txn["stage"] == "RCPT TO"
    assert out.rcpts()["a@server.test"]["code"] == 550
    assert out.rcpts()["b@server.test"]["code"] == 452
    assert handler.messages == []


def test_mail_4xx_temporary(aiosmtpd_server, message):
    handler = Recorder(mail_reply="451 4.3.0 try again later")
    port = aiosmtpd_server(handler)
    out = smtp_send(port, [message], to=["a@server.test", "b@server.test"])
    assert out.returncode == 1
    txn = out.txns[0]
    assert txn["failure"] == "tempfail"
    assert txn["stage"] == "MAIL FROM"
    assert txn["code"] == 451
    assert txn["enhanced"] == "4.3.0"
    for r in out.rcpts().values():
        assert r["code"] == 451
    assert out.result == "tempfail"


def test_end_of_data_5xx_permanent(aiosmtpd_server, message):
    handler = Recorder(data_reply="554 5.6.0 content rejected")
    port = aiosmtpd_server(handler)
    out = smtp_send(port, [message])
    txn = out.txns[0]
    assert txn["failure"] == "permfail"
    assert txn["stage"] == "end of data"
    assert txn["code"] == 554
    assert out.rcpts()["rcpt@server.test"]["code"] == 554


def test_data_command_5xx_permanent(smtp_sink, message):
    port, dump = smtp_sink("-f", "DATA")
    out = smtp_send(port, [message])
    txn = out.txns[0]
    assert txn["failure"] == "permfail"
    assert txn["stage"] == "DATA"
    assert txn["code"] == 500
    assert sink_messages(dump) == []


def test_dot_stuffing_round_trip(aiosmtpd_server, tmp_path):
    lines = ["Subject: dots", "", ".starts with a dot", "..two dots", ".",
             " .after a space", "end."]
    body = "\r\n".join(lines) + "\r\n"
    # Make a line start at each 16 KiB boundary, where the client reads
    # the next chunk of the file. Lines stay within aiosmtpd's maximum
    # of 1000 bytes.
    big = body
    while len(big) < 300000:
        gap = (-len(big)) % 16384
        if gap == 1:
            gap += 16384
        while gap > 0:
            n = min(gap, 1000)
            if gap - n == 1:
                n -= 1
            big += "x" * (n - 2) + "\r\n"
            gap -= n
        big += ".line at offset %d\r\n" % len(big)
    small_file = tmp_path / "small.eml"
    big_file = tmp_path / "big.eml"
    small_file.write_bytes(body.encode())
    big_file.write_bytes(big.encode())
    handler = Recorder()
    port = aiosmtpd_server(handler)
    out = smtp_send(port, [small_file, big_file])
    assert out.result == "ok", out.events
    assert [m[3] for m in handler.messages] == [body.encode(), big.encode()]


def test_dot_stuffing_on_the_wire(scripted, tmp_path):
    server = scripted()
    path = tmp_path / "m.eml"
    path.write_bytes(b"Subject: x\r\n\r\n.a\r\n..b\r\n.\r\nc")
    out = smtp_send(server.port, [path])
    assert out.result == "ok", out.events
    # Each leading dot doubled, and CRLF added before the final dot.
    assert server.bodies == [b"Subject: x\r\n\r\n..a\r\n...b\r\n..\r\nc\r\n"]


def test_8bitmime_and_smtputf8_parameters(aiosmtpd_server, message):
    handler = Recorder()
    port = aiosmtpd_server(handler)
    out = smtp_send(port, [message], "--8bit", "--smtputf8",
                    to=["jörg@exämple.test"], sender="søren@client.test")
    assert out.result == "ok", out.events
    _, address, options = handler.mails[0]
    assert address == "søren@client.test"
    assert "BODY=8BITMIME" in options
    assert "SMTPUTF8" in options
    assert "SIZE=%d" % message.stat().st_size in options
    assert handler.messages[0][2] == ["jörg@exämple.test"]


def test_no_body_parameter_without_8bitmime(smtp_sink, message):
    port, dump = smtp_sink("-8")
    out = smtp_send(port, [message], "--8bit")
    assert out.result == "ok", out.events
    headers = sink_messages(dump)[0]["headers"]
    assert "X-Mail-Args: <%s>" % SENDER in headers


def test_smtputf8_not_offered(aiosmtpd_server, message):
    handler = Recorder()
    port = aiosmtpd_server(handler, enable_SMTPUTF8=False)
    out = smtp_send(port, [message], "--smtputf8")
    txn = out.txns[0]
    assert txn["failure"] == "permfail"
    assert txn["code"] == 0
    assert txn["enhanced"] == "5.6.7"
    assert "SMTPUTF8" in txn["text"]
    assert out.rcpts()["rcpt@server.test"]["enhanced"] == "5.6.7"
    assert handler.mails == []


def test_size_over_announced_limit(aiosmtpd_server, tmp_path):
    big = tmp_path / "big.eml"
    big.write_bytes(crlf("Subject: big\n\n" + "y" * 70 + "\n") * 100)
    handler = Recorder()
    port = aiosmtpd_server(handler, data_size_limit=1000)
    out = smtp_send(port, [big])
    assert out.session["max_size"] == 1000
    txn = out.txns[0]
    assert txn["failure"] == "permfail"
    assert txn["code"] == 0
    assert txn["enhanced"] == "5.3.4"
    assert handler.mails == []


def test_pipelining_sends_one_group(scripted, message):
    server = scripted(ehlo="250-scripted\r\n250 PIPELINING\r\n",
                      hold_until_data=True)
    out = smtp_send(server.port, [message], "--timeout", "3",
                    to=["a@server.test", "b@server.test"])
    assert out.result == "ok", out.events
    assert server.connections[0][1:5] == [
        "MAIL FROM:<%s>" % SENDER, "RCPT TO:<a@server.test>",
        "RCPT TO:<b@server.test>", "DATA"]


def test_helo_fallback(scripted, message):
    server = scripted(ehlo="502 5.5.2 EHLO not supported\r\n")
    out = smtp_send(server.port, [message], "--8bit", "--tls", "may")
    assert out.session["failure"] == "ok"
    assert out.session["stage"] == "HELO"
    assert out.result == "ok", out.events
    commands = server.connections[0]
    assert commands[:3] == ["EHLO client.test", "HELO client.test",
                            "MAIL FROM:<%s>" % SENDER]


def test_helo_fallback_smtp_sink(smtp_sink, message):
    port, dump = smtp_sink("-f", "EHLO")
    out = smtp_send(port, [message])
    assert out.session["stage"] == "HELO"
    assert out.result == "ok", out.events
    assert len(sink_messages(dump)) == 1


# connection reuse -------------------------------------------------------


def test_connection_reused(aiosmtpd_server, message, tmp_path):
    second = tmp_path / "second.eml"
    second.write_bytes(crlf("Subject: second\n\nSecond message.\n"))
    handler = Recorder()
    port = aiosmtpd_server(handler)
    out = smtp_send(port, [message, second])
    assert [t["failure"] for t in out.txns] == ["ok", "ok"]
    assert len(handler.messages) == 2
    peers = {m[0] for m in handler.messages}
    assert len(peers) == 1
    assert handler.messages[1][3] == second.read_bytes()


def test_reuse_after_failure_sends_rset(scripted, message):
    server = scripted(mail_replies=["451 4.3.0 busy\r\n"])
    out = smtp_send(server.port, [message, message])
    assert [t["failure"] for t in out.txns] == ["tempfail", "ok"]
    assert len(server.connections) == 1
    commands = server.connections[0]
    verbs = [c.split(" ")[0] for c in commands]
    assert verbs == ["EHLO", "MAIL", "RSET", "MAIL", "RCPT", "DATA", "QUIT"]


def test_quit_after_last_transaction(scripted, message):
    server = scripted()
    out = smtp_send(server.port, [message])
    assert out.result == "ok"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and \
            server.connections[0][-1:] != ["QUIT"]:
        time.sleep(0.05)
    assert server.connections[0][-1] == "QUIT"


# no answer --------------------------------------------------------------


def test_server_never_answers(scripted, message):
    server = scripted(greeting=None)
    out = smtp_send(server.port, [message], "--timeout", "1")
    assert out.session["failure"] == "unreachable"
    assert out.session["stage"] == "greeting"
    assert out.session["code"] == 0
    assert "timed out" in out.session["text"]
    assert out.result == "unreachable"


def test_reply_timeout_at_end_of_data(aiosmtpd_server, message):
    handler = Recorder(data_delay=5)
    port = aiosmtpd_server(handler)
    out = smtp_send(port, [message, message], "--timeout", "1")
    assert len(out.txns) == 1
    txn = out.txns[0]
    assert txn["failure"] == "unreachable"
    assert txn["stage"] == "end of data"
    assert "timed out" in txn["text"]


def test_connect_timeout(message):
    # A listener whose accept queue is full drops further SYNs, so
    # connect() neither succeeds nor fails.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    try:
        out = smtp_send(port, [message], "--connect-timeout", "1")
    finally:
        for s in fillers:
            s.close()
        listener.close()
    assert out.session["failure"] == "unreachable"
    assert out.session["stage"] == "connect"
    assert out.session["enhanced"] == "4.4.1"
    assert "timed out" in out.session["text"]


def test_421_ends_transaction_and_connection(smtp_sink, message):
    port, dump = smtp_sink("-Q", "RCPT")
    out = smtp_send(port, [message, message])
    assert len(out.txns) == 1
    txn = out.txns[0]
    assert txn["failure"] == "tempfail"
    assert txn["code"] == 421
    assert out.rcpts()["rcpt@server.test"]["code"] == 421
    assert out.only("closed")["pending"] == 1
    assert sink_messages(dump) == []


def test_connection_refused(message):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    out = smtp_send(port, [message])
    assert out.session["failure"] == "unreachable"
    assert out.session["stage"] == "connect"
    assert "refused" in out.session["text"]


def test_connection_dropped_at_data(smtp_sink, message):
    # Without PIPELINING, so that the client waits for the DATA reply.
    port, _ = smtp_sink("-p", "-q", "DATA")
    out = smtp_send(port, [message])
    txn = out.txns[0]
    assert txn["failure"] == "unreachable"
    assert txn["stage"] == "DATA"
    assert txn["code"] == 0


def test_garbled_greeting(scripted, message):
    server = scripted(greeting="220-hello\r\n221 changed code\r\n")
    out = smtp_send(server.port, [message])
    assert out.session["failure"] == "unreachable"
    assert "garbled" in out.session["text"]


def test_greeting_554_permanent(scripted, message):
    server = scripted(greeting="554 5.7.1 no service for you\r\n")
    out = smtp_send(server.port, [message])
    assert out.session["failure"] == "permfail"
    assert out.session["code"] == 554
    assert out.session["stage"] == "greeting"


# STARTTLS ---------------------------------------------------------------


def test_tls_may_with_starttls(aiosmtpd_server, certs, message):
    handler = Recorder()
    port = aiosmtpd_server(handler, tls_context=server_tls(certs))
    out = smtp_send(port, [message], "--tls", "may")
    assert out.session["tls"] is True
    assert out.txns[0]["tls"] is True
    assert out.result == "ok", out.events
    assert len(handler.messages) == 1


def test_tls_may_without_starttls(aiosmtpd_server, message):
    handler = Recorder()
    port = aiosmtpd_server(handler)
    out = smtp_send(port, [message], "--tls", "may")
    assert out.session["tls"] is False
    assert out.result == "ok", out.events


def test_tls_may_falls_back_after_failed_handshake(scripted, message):
    server = scripted(ehlo="250-scripted\r\n250 STARTTLS\r\n",
                      starttls="garbage")
    out = smtp_send(server.port, [message], "--tls", "may")
    assert out.result == "ok", out.events
    assert out.session["tls"] is False
    assert len(server.connections) == 2
    assert "STARTTLS" in server.connections[0]
    assert "STARTTLS" not in server.connections[1]
    assert len(server.bodies) == 1


def test_tls_encrypt_failed_handshake(scripted, message):
    server = scripted(ehlo="250-scripted\r\n250 STARTTLS\r\n",
                      starttls="garbage")
    out = smtp_send(server.port, [message], "--tls", "encrypt")
    assert out.session["failure"] == "tempfail"
    assert out.session["enhanced"] == "4.7.5"
    assert "TLS handshake" in out.session["text"]
    assert len(server.connections) == 1


def test_tls_encrypt_not_offered(aiosmtpd_server, message):
    handler = Recorder()
    port = aiosmtpd_server(handler)
    out = smtp_send(port, [message], "--tls", "encrypt")
    assert out.session["failure"] == "tempfail"
    assert out.session["stage"] == "STARTTLS"
    assert out.session["code"] == 0
    assert out.session["enhanced"] == "4.7.4"
    assert "STARTTLS" in out.session["text"]
    assert handler.mails == []


def test_tls_encrypt_self_signed(aiosmtpd_server, certs, message):
    handler = Recorder()
    port = aiosmtpd_server(handler, tls_context=server_tls(certs))
    out = smtp_send(port, [message], "--tls", "encrypt")
    assert out.session["tls"] is True
    assert out.result == "ok", out.events


def test_tls_verify_self_signed_fails(aiosmtpd_server, certs, message):
    handler = Recorder()
    port = aiosmtpd_server(handler, tls_context=server_tls(certs))
    out = smtp_send(port, [message], "--tls", "verify", "--servername",
                    SERVER_NAME)
    assert out.session["failure"] == "tempfail"
    assert out.session["enhanced"] == "4.7.5"
    assert "certificate verification failed" in out.session["text"]
    assert handler.mails == []


def test_tls_verify_with_ca(aiosmtpd_server, certs, message):
    handler = Recorder()
    port = aiosmtpd_server(handler, tls_context=server_tls(certs))
    out = smtp_send(port, [message], "--tls", "verify", "--ca",
                    certs["cert"], "--servername", SERVER_NAME)
    assert out.session["failure"] == "ok", out.events
    assert out.session["tls"] is True
    assert out.result == "ok"


def test_tls_verify_wrong_name(aiosmtpd_server, certs, message):
    handler = Recorder()
    port = aiosmtpd_server(handler, tls_context=server_tls(certs))
    out = smtp_send(port, [message], "--tls", "verify", "--ca",
                    certs["cert"], "--servername", "other.test")
    assert out.session["failure"] == "tempfail"
    assert "certificate verification failed" in out.session["text"]


# AUTH -------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_over_tls(aiosmtpd_server, certs, message, mechanism):
    handler = Recorder()
    others = {"PLAIN", "LOGIN", "CRAM-MD5"} - {mechanism}
    port = aiosmtpd_server(handler, tls_context=server_tls(certs),
                           auth_require_tls=True,
                           auth_exclude_mechanism=sorted(others))
    out = smtp_send(port, [message], "--tls", "may", "--user", USER,
                    "--password", PASSWORD)
    assert out.session["failure"] == "ok", out.events
    assert out.session["stage"] == "AUTH"
    assert out.session["tls"] is True
    assert handler.auth == [(mechanism, USER, True)]
    assert out.result == "ok"


def test_auth_cram_md5_without_tls(aiosmtpd_server, message):
    handler = Recorder()
    port = aiosmtpd_server(handler)
    out = smtp_send(port, [message], "--tls", "may", "--user", USER,
                    "--password", PASSWORD)
    assert out.session["failure"] == "ok", out.events
    assert out.session["tls"] is False
    # PLAIN and LOGIN are offered too, but would expose the password.
    assert handler.auth == [("CRAM-MD5", USER, True)]
    assert out.result == "ok"


def test_auth_refuses_clear_password(aiosmtpd_server, message):
    handler = Recorder()
    port = aiosmtpd_server(handler, auth_exclude_mechanism=["CRAM-MD5"])
    out = smtp_send(port, [message], "--tls", "may", "--user", USER,
                    "--password", PASSWORD)
    assert out.session["failure"] == "tempfail"
    assert out.session["stage"] == "AUTH"
    assert "clear text" in out.session["text"]
    assert handler.auth == []
    assert handler.mails == []


def test_auth_plain_in_clear_with_policy_none(aiosmtpd_server, message):
    handler = Recorder()
    port = aiosmtpd_server(handler, auth_exclude_mechanism=["CRAM-MD5",
                                                            "LOGIN"])
    out = smtp_send(port, [message], "--tls", "none", "--user", USER,
                    "--password", PASSWORD)
    assert out.session["failure"] == "ok", out.events
    assert handler.auth == [("PLAIN", USER, True)]


def test_auth_wrong_password_temporary(aiosmtpd_server, message):
    handler = Recorder()
    port = aiosmtpd_server(handler)
    out = smtp_send(port, [message], "--tls", "may", "--user", USER,
                    "--password", "wrong")
    assert out.session["failure"] == "tempfail"
    assert out.session["code"] == 535
    assert handler.auth == [("CRAM-MD5", USER, False)]


def test_auth_not_offered(smtp_sink, message):
    port, _ = smtp_sink("-a")
    out = smtp_send(port, [message], "--user", USER, "--password", PASSWORD)
    assert out.session["failure"] == "tempfail"
    assert "AUTH" in out.session["text"]
