"""Tests of STARTTLS, STLS, implicit TLS, plain-text login rules and SASL.

A throw-away CA and server certificates are made with `openssl req` in a
temporary directory once per test session, so no key is ever committed:

    mx.example.test           the default certificate (tls_cert_file)
    other.example.test        served by tls_sni for that exact name
    *.wild.example.test       served by tls_sni for names under it

The module's daemon has TLS, the three implicit-TLS listeners and
allow_plaintext_auth_on_loopback = no, so a password is accepted only
inside TLS even from 127.0.0.1. Clients: smtplib, poplib, imaplib, swaks,
curl and openssl s_client, plus raw sockets for the STARTTLS command
injection checks.
"""

import base64
import hmac
import imaplib
import os
import poplib
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from conftest import (ALICE, ALICE_PASSWORD, Hapost, free_port,
                      print_log_tail)

MX = "mx.example.test"
OTHER = "other.example.test"
WILD = "a.wild.example.test"
SENDER = "sender@remote.example"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   capture_output=True, timeout=60)


def make_cert(d, name, cn, san):
    """Makes name.pem and name.key for cn, signed by the test CA."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN={cn}", "-addext", f"subjectAltName={san}",
            "-CA", "ca.pem", "-CAkey", "ca.key", cwd=d)
    return os.path.join(d, f"{name}.pem"), os.path.join(d, f"{name}.key")


@pytest.fixture(scope="session")
def certs():
    d = tempfile.mkdtemp(prefix="hapost-tls-")
    os.chmod(d, 0o755)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=hapost test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    out = {"dir": d, "ca": os.path.join(d, "ca.pem")}
    out["mx"] = make_cert(d, "mx", MX, f"DNS:{MX}")
    out["other"] = make_cert(d, "other", OTHER, f"DNS:{OTHER}")
    out["wild"] = make_cert(d, "wild", "*.wild.example.test",
                            "DNS:*.wild.example.test")
    yield out
    shutil.rmtree(d, ignore_errors=True)


def tls_settings(certs, **extra):
    cert, key = certs["mx"]
    other = "{}:{}:{}".format(OTHER, *certs["other"])
    wild = "{}:{}:{}".format("*.wild.example.test", *certs["wild"])
    settings = {
        "tls_cert_file": cert,
        "tls_key_file": key,
        "tls_sni": f"{other}, {wild}",
        "submissions_listen": f"127.0.0.1:{free_port()}",
        "pop3s_listen": f"127.0.0.1:{free_port()}",
        "imaps_listen": f"127.0.0.1:{free_port()}",
        "allow_plaintext_auth_on_loopback": "no",
    }
    settings.update(extra)
    return settings


def start_tls(certs, **extra):
    """Starts a daemon with TLS settings. A port that free_port() picked
    can be taken by another socket before hapostd binds it, so a bind
    failure is retried with new ports."""
    for attempt in range(3):
        h = Hapost(tls_settings(certs, **extra))
        try:
            return h.start()
        except RuntimeError as e:
            h.cleanup()
            if "Address already in use" not in str(e) or attempt == 2:
                raise
    raise AssertionError("not reached")


@pytest.fixture
def tls_factory(request, certs):
    made = []

    def make(**extra):
        h = start_tls(certs, **extra)
        made.append(h)
        return h

    yield make
    rep = getattr(request.node, "rep_call", None)
    for h in made:
        if rep is not None and rep.failed:
            print_log_tail(h, request.node.name)
        h.cleanup()


def port_of(h, key):
    return int(h.settings[key].rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def tls(request, certs):
    h = start_tls(certs)
    yield h
    if getattr(request.session, "hapost_failed", False):
        print_log_tail(h, "TLS hapostd")
    h.cleanup()


def client_context(certs, check_hostname=False):
    """A context that trusts only the test CA. The stdlib clients below
    connect to 127.0.0.1, not to a name in the certificate, so the name
    check is off unless a test asks for it."""
    ctx = ssl.create_default_context(cafile=certs["ca"])
    ctx.check_hostname = check_hostname
    return ctx


# --- SMTP -------------------------------------------------------------

def test_smtp_starttls_advertised_and_reset(tls, certs):
    with smtplib.SMTP("127.0.0.1", tls.smtp_port, timeout=10) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        s.starttls(context=client_context(certs))
        code, _ = s.ehlo()
        assert code == 250
        assert not s.has_extn("starttls")
        code, reply = s.docmd("STARTTLS")
        assert code == 503, reply


def test_smtp_starttls_received_esmtps(tls, certs):
    before = len(tls.messages(ALICE))
    with smtplib.SMTP("127.0.0.1", tls.smtp_port, timeout=10) as s:
        s.starttls(context=client_context(certs))
        s.sendmail(SENDER, [ALICE], b"Subject: tls\r\n\r\nover TLS\r\n")
    path = tls.wait_for_messages(ALICE, before + 1)[-1]
    with open(path, "rb") as f:
        head = f.read(2000)
    assert b"with ESMTPS" in head


def test_smtp_mail_before_ehlo_after_starttls(tls, certs):
    with smtplib.SMTP("127.0.0.1", tls.smtp_port, timeout=10) as s:
        s.ehlo()
        s.starttls(context=client_context(certs))
        code, _ = s.docmd("MAIL FROM:<%s>" % SENDER)
        assert code == 503


def test_submissions_implicit_tls(tls, certs):
    before = len(tls.messages(ALICE))
    port = port_of(tls, "submissions_listen")
    with smtplib.SMTP_SSL("127.0.0.1", port, timeout=10,
                          context=client_context(certs)) as s:
        code, _ = s.ehlo()
        assert code == 250
        assert not s.has_extn("starttls")
        s.sendmail(SENDER, [ALICE], b"Subject: 465\r\n\r\nimplicit\r\n")
    tls.wait_for_messages(ALICE, before + 1)


def test_swaks_starttls(tls):
    res = subprocess.run(["swaks", "--server", "127.0.0.1", "--port",
                          str(tls.smtp_port), "--from", SENDER, "--to",
                          ALICE, "--tls"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "TLS started" in res.stdout


def test_swaks_tls_on_connect(tls):
    res = subprocess.run(["swaks", "--server", "127.0.0.1", "--port",
                          str(port_of(tls, "submissions_listen")),
                          "--from", SENDER, "--to", ALICE, "--tlsc"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "TLS started" in res.stdout


# --- POP3 -------------------------------------------------------------

def test_pop3_capa_before_tls(tls):
    p = poplib.POP3("127.0.0.1", tls.pop3_port, timeout=10)
    caps = p.capa()
    p.quit()
    assert "STLS" in caps
    assert "USER" not in caps


def test_pop3_user_rejected_before_tls(tls):
    p = poplib.POP3("127.0.0.1", tls.pop3_port, timeout=10)
    with pytest.raises(poplib.error_proto) as e:
        p.user(ALICE)
    p.quit()
    assert b"[AUTH]" in e.value.args[0]


def test_pop3_stls_then_login(tls, certs):
    p = poplib.POP3("127.0.0.1", tls.pop3_port, timeout=10)
    p.stls(context=client_context(certs))
    caps = p.capa()
    assert "USER" in caps
    assert "STLS" not in caps
    p.user(ALICE)
    p.pass_(ALICE_PASSWORD)
    p.stat()
    p.quit()


def test_pop3s_implicit_tls(tls, certs):
    p = poplib.POP3_SSL("127.0.0.1", port_of(tls, "pop3s_listen"),
                        timeout=10, context=client_context(certs))
    assert "STLS" not in p.capa()
    p.user(ALICE)
    p.pass_(ALICE_PASSWORD)
    p.stat()
    p.quit()


# --- IMAP -------------------------------------------------------------

def test_imap_capability_before_tls(tls):
    m = imaplib.IMAP4("127.0.0.1", tls.imap_port, timeout=10)
    assert "STARTTLS" in m.capabilities
    assert "LOGINDISABLED" in m.capabilities
    # imaplib.login would refuse on LOGINDISABLED without asking.
    typ, data = m._simple_command("LOGIN", ALICE, ALICE_PASSWORD)
    m.logout()
    assert typ == "NO"
    assert b"[PRIVACYREQUIRED]" in data[-1]


def test_imap_starttls_then_login(tls, certs):
    m = imaplib.IMAP4("127.0.0.1", tls.imap_port, timeout=10)
    m.starttls(ssl_context=client_context(certs))
    # imaplib asks CAPABILITY again after the handshake.
    assert "STARTTLS" not in m.capabilities
    assert "LOGINDISABLED" not in m.capabilities
    typ, _ = m.login(ALICE, ALICE_PASSWORD)
    assert typ == "OK"
    typ, _ = m.select("INBOX")
    assert typ == "OK"
    m.logout()


def test_imaps_implicit_tls(tls, certs):
    m = imaplib.IMAP4_SSL("127.0.0.1", port_of(tls, "imaps_listen"),
                          ssl_context=client_context(certs), timeout=10)
    assert "STARTTLS" not in m.capabilities
    typ, _ = m.login(ALICE, ALICE_PASSWORD)
    assert typ == "OK"
    m.logout()


# --- curl and openssl s_client ----------------------------------------

def curl(certs, port, url_path, *args):
    return subprocess.run(["curl", "-sS", "--ssl-reqd", "--cacert",
                           certs["ca"], "--resolve", f"{MX}:{port}:127.0.0.1",
                           "--max-time", "20", *args,
                           url_path.format(host=f"{MX}:{port}")],
                          capture_output=True, text=True, timeout=30)


def test_curl_smtp_starttls(tls, certs, tmp_path):
    msg = tmp_path / "msg.txt"
    msg.write_text("Subject: curl\r\n\r\nsent by curl\r\n")
    res = curl(certs, tls.smtp_port, "smtp://{host}", "--mail-from",
               SENDER, "--mail-rcpt", ALICE, "-T", str(msg))
    assert res.returncode == 0, res.stderr


def test_curl_pop3_stls(tls, certs):
    res = curl(certs, tls.pop3_port, "pop3://{host}/", "-u",
               f"{ALICE}:{ALICE_PASSWORD}")
    assert res.returncode == 0, res.stderr


def test_curl_imap_starttls(tls, certs):
    # curl 7.88 keeps LOGINDISABLED from before STARTTLS, so this needs
    # AUTHENTICATE PLAIN inside TLS.
    res = curl(certs, tls.imap_port, "imap://{host}/", "-u",
               f"{ALICE}:{ALICE_PASSWORD}")
    assert res.returncode == 0, res.stderr
    assert "INBOX" in res.stdout


def test_curl_imaps_implicit(tls, certs):
    port = port_of(tls, "imaps_listen")
    res = curl(certs, port, "imaps://{host}/", "-u",
               f"{ALICE}:{ALICE_PASSWORD}")
    assert res.returncode == 0, res.stderr
    assert "INBOX" in res.stdout


def s_client(port, *args, data=b"", timeout=20):
    """Runs s_client with data as input; with data it waits for the server
    to close, so send a command that ends the session."""
    if data:
        args = ("-ign_eof", *args)
    return subprocess.run(["openssl", "s_client", "-connect",
                           f"127.0.0.1:{port}", *args],
                          input=data, capture_output=True, timeout=timeout)


@pytest.mark.parametrize("proto", ["smtp", "pop3", "imap"])
def test_openssl_s_client_starttls(tls, certs, proto):
    port = {"smtp": tls.smtp_port, "pop3": tls.pop3_port,
            "imap": tls.imap_port}[proto]
    res = s_client(port, "-starttls", proto, "-CAfile", certs["ca"],
                   "-verify_hostname", MX, "-verify_return_error",
                   "-brief")
    out = res.stdout.decode(errors="replace") + \
        res.stderr.decode(errors="replace")
    assert "Verification: OK" in out, out
    assert "Protocol version: TLSv1.3" in out, out


# --- pipelined commands after STARTTLS ---------------------------------

class Raw:
    """A line reader over a socket that can be switched to TLS."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.pending = b""

    def line(self):
        while b"\r\n" not in self.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"closed; pending {self.pending!r}")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def starttls(self, certs):
        assert self.pending == b"", self.pending
        ctx = client_context(certs, check_hostname=True)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=MX)

    def send(self, data):
        self.sock.sendall(data)


def test_smtp_injection_after_starttls_dropped(tls, certs):
    r = Raw(tls.smtp_port)
    assert r.line().startswith("220 ")
    r.send(b"EHLO client.example\r\n")
    while not r.line().startswith("250 "):
        pass
    r.send(b"STARTTLS\r\nHELP\r\n")
    assert r.line().startswith("220 ")
    r.starttls(certs)
    r.send(b"NOOP\r\n")
    first = r.line()
    assert first.startswith("250 "), first
    r.send(b"QUIT\r\n")
    assert r.line().startswith("221 ")


def test_pop3_injection_after_stls_dropped(tls, certs):
    r = Raw(tls.pop3_port)
    assert r.line().startswith("+OK")
    r.send(b"STLS\r\nCAPA\r\n")
    assert r.line().startswith("+OK")
    r.starttls(certs)
    r.send(b"QUIT\r\n")
    first = r.line()
    assert first == "+OK bye", first


def test_imap_injection_after_starttls_dropped(tls, certs):
    r = Raw(tls.imap_port)
    assert r.line().startswith("* OK")
    r.send(b"a STARTTLS\r\nb CAPABILITY\r\n")
    assert r.line().startswith("a OK")
    r.starttls(certs)
    r.send(b"c NOOP\r\n")
    first = r.line()
    assert first.startswith("c OK"), first


def test_injection_logged_as_discarded(tls, certs):
    test_imap_injection_after_starttls_dropped(tls, certs)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if "sent after STARTTLS" in tls.log_text():
            return
        time.sleep(0.05)
    raise AssertionError("no log line about discarded bytes")


# --- versions, SNI, timeouts --------------------------------------------

@pytest.mark.parametrize("flag", ["-tls1", "-tls1_1"])
def test_old_tls_versions_rejected(tls, flag):
    res = s_client(port_of(tls, "imaps_listen"), flag, "-cipher",
                   "DEFAULT@SECLEVEL=0")
    assert res.returncode != 0
    assert b"IMAP4rev1" not in res.stdout


def test_tls12_accepted(tls, certs):
    res = s_client(port_of(tls, "imaps_listen"), "-tls1_2", "-brief",
                   "-CAfile", certs["ca"], data=b"a LOGOUT\r\n")
    out = res.stdout + res.stderr
    assert b"Protocol version: TLSv1.2" in out, out
    assert b"IMAP4rev1" in res.stdout


def test_old_version_allowed_when_configured(tls_factory):
    h = tls_factory(
        tls_min_version="TLSv1.1",
        tls_ciphers="ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256")
    res = s_client(port_of(h, "imaps_listen"), "-tls1_1", "-brief",
                   "-cipher", "DEFAULT@SECLEVEL=0", data=b"a LOGOUT\r\n")
    out = res.stdout + res.stderr
    assert b"Protocol version: TLSv1.1" in out, out
    assert b"IMAP4rev1" in res.stdout


@pytest.mark.parametrize("name", [MX, OTHER, WILD])
def test_sni_selects_certificate(tls, certs, name):
    # The client checks the certificate against name, so a handshake
    # that succeeds proves which certificate the server chose.
    ctx = client_context(certs, check_hostname=True)
    with socket.create_connection(("127.0.0.1", port_of(tls,
                                   "imaps_listen")), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            subject = dict(x[0] for x in s.getpeercert()["subject"])
            assert s.recv(100).startswith(b"* OK")
    expected = "*.wild.example.test" if name == WILD else name
    assert subject["commonName"] == expected


def test_sni_unknown_name_gets_default(tls, certs):
    ctx = client_context(certs)
    with socket.create_connection(("127.0.0.1", port_of(tls,
                                   "imaps_listen")), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="unknown.test") as s:
            subject = dict(x[0] for x in s.getpeercert()["subject"])
    assert subject["commonName"] == MX


def test_handshake_timeout_closes(tls_factory):
    h = tls_factory(tls_handshake_timeout="1")
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port_of(h, "imaps_listen")),
                                  timeout=10) as s:
        assert s.recv(100) == b""
    assert time.monotonic() - start < 5
    assert "TLS handshake timed out" in h.log_text()


def test_garbage_handshake_closes(tls):
    with socket.create_connection(("127.0.0.1", port_of(tls,
                                   "pop3s_listen")), timeout=10) as s:
        s.sendall(b"USER alice\r\nPASS secret\r\n")
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
    assert b"+OK" not in data


# --- without a certificate ------------------------------------------------

def test_no_cert_no_starttls(hapost):
    with smtplib.SMTP("127.0.0.1", hapost.smtp_port, timeout=10) as s:
        s.ehlo()
        assert not s.has_extn("starttls")
        code, _ = s.docmd("STARTTLS")
        assert code == 502
    p = poplib.POP3("127.0.0.1", hapost.pop3_port, timeout=10)
    assert "STLS" not in p.capa()
    p.quit()
    m = imaplib.IMAP4("127.0.0.1", hapost.imap_port, timeout=10)
    assert "STARTTLS" not in m.capabilities
    m.logout()


def test_implicit_listener_needs_cert():
    h = Hapost()
    h.settings["imaps_listen"] = f"127.0.0.1:{free_port()}"
    h.write_config()
    try:
        res = subprocess.run([h.hapostd, "-t", "-c", h.conf],
                             capture_output=True, text=True, timeout=10)
        assert res.returncode != 0
        assert "imaps_listen needs a certificate" in res.stderr
    finally:
        h.cleanup()


def test_bad_key_refuses_start(certs):
    h = Hapost(tls_settings(certs, tls_key_file=certs["other"][1]))
    try:
        with pytest.raises(RuntimeError):
            h.start(timeout=3)
        log = h.log_text()
        assert f"key {certs['other'][1]}" in log
        assert "key values mismatch" in log
    finally:
        h.cleanup()


def serial_of(port, certs, name=MX):
    ctx = client_context(certs, check_hostname=True)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            return s.getpeercert()["serialNumber"]


def test_reload_reads_new_certificate(tls_factory, certs, tmp_path):
    cert, key = certs["mx"]
    live_cert, live_key = tmp_path / "live.pem", tmp_path / "live.key"
    shutil.copy(cert, live_cert)
    shutil.copy(key, live_key)
    os.chmod(tmp_path, 0o755)
    h = tls_factory(tls_cert_file=live_cert, tls_key_file=live_key)
    port = port_of(h, "imaps_listen")
    old = serial_of(port, certs)
    new_cert, new_key = make_cert(certs["dir"], "mx2", MX, f"DNS:{MX}")
    shutil.copy(new_cert, live_cert)
    shutil.copy(new_key, live_key)
    h.reload()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if serial_of(port, certs) != old:
            return
        time.sleep(0.1)
    raise AssertionError("the old certificate is still served")


# --- SASL: SMTP AUTH, IMAP AUTHENTICATE, POP3 AUTH -------------------------

def b64(text):
    return base64.b64encode(text.encode()).decode()


PLAIN_ALICE = b64(f"\0{ALICE}\0{ALICE_PASSWORD}")


def test_submission_auth_then_relay(tls, certs):
    with smtplib.SMTP("127.0.0.1", tls.submission_port, timeout=10) as s:
        s.ehlo()
        assert not s.has_extn("auth")
        code, _ = s.docmd("AUTH", "PLAIN " + PLAIN_ALICE)
        assert code == 538
        s.starttls(context=client_context(certs))
        s.ehlo()
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            s.sendmail(ALICE, ["friend@elsewhere.example"], b"x\r\n")
        s.rset()
        s.login(ALICE, ALICE_PASSWORD)
        refused = s.sendmail(ALICE, ["friend@elsewhere.example"],
                             b"Subject: relay\r\n\r\nrelayed\r\n")
        assert refused == {}
    assert f"smtp login ip=127.0.0.1 user={ALICE} tls=yes" in tls.log_text()


def test_submission_auth_login_mechanism(tls, certs):
    with smtplib.SMTP("127.0.0.1", tls.submission_port, timeout=10) as s:
        s.starttls(context=client_context(certs))
        s.ehlo()
        code, reply = s.docmd("AUTH", "LOGIN")
        assert (code, reply) == (334, b"VXNlcm5hbWU6")
        code, reply = s.docmd(b64(ALICE))
        assert (code, reply) == (334, b"UGFzc3dvcmQ6")
        code, _ = s.docmd(b64(ALICE_PASSWORD))
        assert code == 235


def test_submission_auth_wrong_password(tls, certs):
    with smtplib.SMTP("127.0.0.1", tls.submission_port, timeout=10) as s:
        s.starttls(context=client_context(certs))
        s.ehlo()
        start = time.monotonic()
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login(ALICE, "wrong-password-123")
        assert e.value.smtp_code == 535
        assert time.monotonic() - start >= 0.15
    log = tls.log_text()
    assert f"smtp login failed ip=127.0.0.1 user={ALICE}" in log
    assert "wrong-password-123" not in log
    assert b64(f"\0{ALICE}\0wrong-password-123") not in log


def test_submission_auth_cancel(tls, certs):
    with smtplib.SMTP("127.0.0.1", tls.submission_port, timeout=10) as s:
        s.starttls(context=client_context(certs))
        s.ehlo()
        code, _ = s.docmd("AUTH", "PLAIN")
        assert code == 334
        code, _ = s.docmd("*")
        assert code == 501
        code, _ = s.docmd("NOOP")
        assert code == 250


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_submission_auth(tls, mech):
    res = subprocess.run(["swaks", "--server", "127.0.0.1", "--port",
                          str(tls.submission_port), "--tls",
                          "--auth", mech, "--auth-user", ALICE,
                          "--auth-password", ALICE_PASSWORD,
                          "--from", ALICE, "--to", "bob@elsewhere.example"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "235 2.7.0" in res.stdout


def test_port25_auth_off_by_default(tls, certs):
    with smtplib.SMTP("127.0.0.1", tls.smtp_port, timeout=10) as s:
        s.starttls(context=client_context(certs))
        s.ehlo()
        assert not s.has_extn("auth")
        code, _ = s.docmd("AUTH", "PLAIN " + PLAIN_ALICE)
        assert code == 502


def test_port25_auth_when_enabled(tls_factory, certs):
    h = tls_factory(smtp_auth_on_port25="yes")
    with smtplib.SMTP("127.0.0.1", h.smtp_port, timeout=10) as s:
        s.starttls(context=client_context(certs))
        s.ehlo()
        assert s.has_extn("auth")
        s.login(ALICE, ALICE_PASSWORD)
        assert s.sendmail(ALICE, ["x@elsewhere.example"], b"x\r\n") == {}


def test_imap_authenticate_plain(tls, certs):
    m = imaplib.IMAP4("127.0.0.1", tls.imap_port, timeout=10)
    assert "AUTH=PLAIN" not in m.capabilities
    m.starttls(ssl_context=client_context(certs))
    assert "AUTH=PLAIN" in m.capabilities
    assert "SASL-IR" in m.capabilities
    typ, _ = m.authenticate(
        "PLAIN", lambda _: f"\0{ALICE}\0{ALICE_PASSWORD}".encode())
    assert typ == "OK"
    assert m.state == "AUTH"
    m.logout()


def imaps_raw(tls, certs):
    r = Raw(port_of(tls, "imaps_listen"))
    r.starttls(certs)
    assert r.line().startswith("* OK")
    return r


def test_imap_sasl_ir_and_cancel(tls, certs):
    r = imaps_raw(tls, certs)
    r.send(b"a AUTHENTICATE PLAIN\r\n")
    assert r.line() == "+ "
    r.send(b"*\r\n")
    assert r.line().startswith("a BAD")
    r.send(b"b AUTHENTICATE PLAIN !!!!\r\n")
    assert r.line().startswith("b BAD")
    r.send(b"c AUTHENTICATE PLAIN " + PLAIN_ALICE.encode() + b"\r\n")
    assert r.line().startswith("c OK [CAPABILITY")
    r.send(b"d SELECT INBOX\r\n")
    while True:
        line = r.line()
        if line.startswith("d "):
            break
    assert line.startswith("d OK")


def test_imap_authenticate_wrong_password(tls, certs):
    r = imaps_raw(tls, certs)
    bad = b64(f"\0{ALICE}\0not-the-password")
    r.send(b"a AUTHENTICATE PLAIN " + bad.encode() + b"\r\n")
    assert r.line() == "a NO [AUTHENTICATIONFAILED] Authentication failed"
    assert "not-the-password" not in tls.log_text()


def test_imap_authenticate_needs_tls(tls):
    m = imaplib.IMAP4("127.0.0.1", tls.imap_port, timeout=10)
    typ, data = m._simple_command("AUTHENTICATE", "PLAIN", PLAIN_ALICE)
    m.logout()
    assert typ == "NO"
    assert b"[PRIVACYREQUIRED]" in data[-1]


def test_pop3_auth_plain(tls, certs):
    p = poplib.POP3_SSL("127.0.0.1", port_of(tls, "pop3s_listen"),
                        timeout=10, context=client_context(certs))
    assert p.capa()["SASL"] == ["PLAIN", "LOGIN"]
    resp = p._shortcmd("AUTH PLAIN " + PLAIN_ALICE)
    assert resp.startswith(b"+OK maildrop")
    p.stat()
    p.quit()


def test_pop3_auth_login_and_cancel(tls, certs):
    p = poplib.POP3_SSL("127.0.0.1", port_of(tls, "pop3s_listen"),
                        timeout=10, context=client_context(certs))
    p._putcmd("AUTH PLAIN")
    assert p._getline()[0] == b"+ "
    with pytest.raises(poplib.error_proto):
        p._shortcmd("*")
    p._putcmd("AUTH LOGIN")
    assert p._getline()[0] == b"+ VXNlcm5hbWU6"
    p._putcmd(b64(ALICE))
    assert p._getline()[0] == b"+ UGFzc3dvcmQ6"
    assert p._shortcmd(b64(ALICE_PASSWORD)).startswith(b"+OK")
    p.quit()


def test_pop3_auth_needs_tls(tls):
    p = poplib.POP3("127.0.0.1", tls.pop3_port, timeout=10)
    assert "SASL" not in p.capa()
    with pytest.raises(poplib.error_proto) as e:
        p._shortcmd("AUTH PLAIN " + PLAIN_ALICE)
    p.quit()
    assert b"[AUTH]" in e.value.args[0]


def test_curl_pop3_sasl(tls, certs):
    res = curl(certs, tls.pop3_port, "pop3://{host}/", "-u",
               f"{ALICE}:{ALICE_PASSWORD}", "--login-options", "AUTH=PLAIN")
    assert res.returncode == 0, res.stderr


# --- CRAM-MD5 and the stored legacy secret ---------------------------------

@pytest.fixture(scope="module")
def cram(request, certs):
    h = start_tls(certs, sasl_cram_md5="yes")
    h.ctl("account", "passwd", ALICE, "--legacy-auth",
          input=ALICE_PASSWORD + "\n")
    yield h
    if getattr(request.session, "hapost_failed", False):
        print_log_tail(h, "CRAM-MD5 hapostd")
    h.cleanup()


def test_account_show_legacy_auth(cram):
    out = cram.ctl("account", "show", ALICE).stdout
    assert "legacy_auth: yes" in out
    assert "cram_md5=(hidden)" in out
    with open(os.path.join(cram.data_dir, "directory", "accounts")) as f:
        stored = f.read()
    secret = stored.split("cram_md5=")[1][:64]
    assert secret not in out
    out = cram.ctl("account", "show", "bob@example.test").stdout
    assert "legacy_auth: no" in out


def test_passwd_without_flag_drops_secret(cram):
    bob = "bob@example.test"
    cram.ctl("account", "passwd", bob, "--legacy-auth", input="bob-new\n")
    assert "legacy_auth: yes" in cram.ctl("account", "show", bob).stdout
    cram.ctl("account", "passwd", bob, input="bob-newer\n")
    assert "legacy_auth: no" in cram.ctl("account", "show", bob).stdout


def test_legacy_auth_bad_option(cram):
    res = cram.ctl("account", "passwd", ALICE, "--legacy", check=False,
                   input="x\n")
    assert res.returncode == 2
    assert "expected --legacy-auth" in res.stderr


def test_smtp_cram_md5_without_tls(cram):
    with smtplib.SMTP("127.0.0.1", cram.submission_port, timeout=10) as s:
        s.ehlo()
        assert s.esmtp_features["auth"].split() == ["CRAM-MD5"]
        code, _ = s.login(ALICE, ALICE_PASSWORD)
        assert code == 235
    assert "smtp login ip=127.0.0.1 user=" + ALICE in cram.log_text()


def test_smtp_cram_md5_wrong_password(cram):
    with smtplib.SMTP("127.0.0.1", cram.submission_port, timeout=10) as s:
        s.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login(ALICE, "not-" + ALICE_PASSWORD)


def test_smtp_cram_md5_needs_secret(cram):
    with smtplib.SMTP("127.0.0.1", cram.submission_port, timeout=10) as s:
        s.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login("bob@example.test", "bob-newer")
    assert "no CRAM-MD5 secret" in cram.log_text()


def test_imap_cram_md5(cram):
    m = imaplib.IMAP4("127.0.0.1", cram.imap_port, timeout=10)
    assert "AUTH=CRAM-MD5" in m.capabilities
    assert "AUTH=PLAIN" not in m.capabilities
    typ, _ = m.login_cram_md5(ALICE, ALICE_PASSWORD)
    assert typ == "OK"
    m.logout()


def test_pop3_cram_md5(cram):
    p = poplib.POP3("127.0.0.1", cram.pop3_port, timeout=10)
    assert p.capa()["SASL"] == ["CRAM-MD5"]
    p._putcmd("AUTH CRAM-MD5")
    line = p._getline()[0]
    assert line.startswith(b"+ ")
    challenge = base64.b64decode(line[2:])
    digest = hmac.new(ALICE_PASSWORD.encode(), challenge, "md5").hexdigest()
    resp = p._shortcmd(b64(f"{ALICE} {digest}"))
    assert resp.startswith(b"+OK maildrop")
    p.quit()


def test_cram_md5_not_offered_by_default(tls):
    with smtplib.SMTP("127.0.0.1", tls.submission_port, timeout=10) as s:
        s.ehlo()
        code, _ = s.docmd("AUTH", "CRAM-MD5")
        assert code == 504


def test_large_message_over_tls(tls, certs):
    # Several MB cross the TLS layer in both directions, so partial
    # SSL_write calls and buffered SSL_read data are exercised.
    body = b"".join(b"line %06d %s\r\n" % (i, b"x" * 60)
                    for i in range(40000))
    msg = b"Subject: big\r\n\r\n" + body
    m = imaplib.IMAP4_SSL("127.0.0.1", port_of(tls, "imaps_listen"),
                          ssl_context=client_context(certs), timeout=30)
    m.login(ALICE, ALICE_PASSWORD)
    typ, _ = m.append("INBOX", None, None, msg)
    assert typ == "OK"
    m.select("INBOX")
    typ, data = m.search(None, "SUBJECT", "big")
    num = data[0].split()[-1]
    typ, data = m.fetch(num, "(BODY.PEEK[])")
    assert typ == "OK"
    assert data[0][1] == msg
    m.logout()
    p = poplib.POP3_SSL("127.0.0.1", port_of(tls, "pop3s_listen"),
                        timeout=30, context=client_context(certs))
    p.user(ALICE)
    p.pass_(ALICE_PASSWORD)
    count, _ = p.stat()
    sizes = [int(x.split()[1]) for x in p.list()[1]]
    big = sizes.index(len(msg)) + 1
    lines = p.retr(big)[1]
    assert b"\r\n".join(lines) + b"\r\n" == msg
    p.quit()


def test_reload_with_bad_certificate_refused(tls_factory, certs, tmp_path):
    cert, key = certs["mx"]
    live_cert = tmp_path / "live.pem"
    shutil.copy(cert, live_cert)
    os.chmod(tmp_path, 0o755)
    h = tls_factory(tls_cert_file=live_cert)
    port = port_of(h, "imaps_listen")
    old = serial_of(port, certs)
    live_cert.write_text("not a certificate\n")
    h.reload()
    deadline = time.monotonic() + 10
    while "reload failed" not in h.log_text():
        assert time.monotonic() < deadline, h.log_text()
        time.sleep(0.05)
    assert f"certificate {live_cert}" in h.log_text()
    assert serial_of(port, certs) == old
