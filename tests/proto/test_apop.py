"""Tests of POP3 APOP and the site key that seals its secrets.

The module's daemon has pop3_apop = yes, a site_key_file in its temporary
directory and allow_plaintext_auth_on_loopback = no, so USER/PASS is
refused without TLS while APOP, which never sends the password, works.
alice@example.test has APOP and CRAM-MD5 secrets (hapostctl account passwd
--legacy-auth, which also creates the site key); bob@example.test has
none. Clients: poplib's apop() and raw sockets for hostile arguments.
"""

import hashlib
import os
import poplib
import re
import socket
import stat
import time

import pytest

from conftest import (ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD, DOMAIN,
                      Hapost, print_log_tail)

TIMESTAMP = re.compile(rb"<\d+\.[0-9a-f]{16}\.\d+@mx\.example\.test>")
CAROL = "carol@" + DOMAIN
CAROL_PASSWORD = "carol-secret-3"


def apop_daemon(tmp=None, start=True, **extra):
    """Makes a daemon with APOP on and a legacy secret for alice."""
    settings = {"pop3_apop": "yes",
                "allow_plaintext_auth_on_loopback": "no"}
    h = Hapost(settings)
    h.settings["site_key_file"] = os.path.join(h.tmp, "site.key")
    h.settings.update(extra)
    h.write_config()
    h.ctl("account", "passwd", ALICE, "--legacy-auth",
          input=ALICE_PASSWORD + "\n")
    if start:
        h.start()
    return h


@pytest.fixture(scope="module")
def apop(request):
    h = apop_daemon()
    yield h
    if getattr(request.session, "hapost_failed", False):
        print_log_tail(h, "APOP hapostd")
    h.cleanup()


@pytest.fixture
def own_daemon(request):
    made = []
    yield made
    rep = getattr(request.node, "rep_call", None)
    for h in made:
        if rep is not None and rep.failed:
            print_log_tail(h, request.node.name)
        h.cleanup()


class Raw:
    """A line-level POP3 client for arguments poplib will not send."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.greeting = self.readline()

    def readline(self):
        return self.file.readline()

    def command(self, data):
        self.sock.sendall(data + b"\r\n")
        return self.readline()

    def quit(self):
        """Sends QUIT and reads to the end, so the maildrop lock is free
        when it returns (the server frees it before closing)."""
        reply = self.command(b"QUIT")
        while self.readline():
            pass
        self.close()
        return reply

    def close(self):
        self.file.close()
        self.sock.close()


def quit_fully(p):
    """poplib's quit(), then waits for the server to close (see Raw.quit)."""
    p._shortcmd("QUIT")
    while p.file.readline():
        pass
    p.close()


def digest(greeting, password):
    ts = TIMESTAMP.search(greeting).group(0)
    return hashlib.md5(ts + password.encode()).hexdigest()


def test_greeting_has_timestamp(apop):
    a = poplib.POP3("127.0.0.1", apop.pop3_port, timeout=10)
    b = poplib.POP3("127.0.0.1", apop.pop3_port, timeout=10)
    assert TIMESTAMP.search(a.getwelcome())
    assert TIMESTAMP.search(b.getwelcome())
    assert a.timestamp.search(a.getwelcome()).group(1) != \
        b.timestamp.search(b.getwelcome()).group(1)
    a.quit()
    b.quit()


def test_apop_login_without_tls(apop):
    p = poplib.POP3("127.0.0.1", apop.pop3_port, timeout=10)
    # Plain-text USER/PASS is refused here; APOP is not plain text.
    assert "USER" not in p.capa()
    resp = p.apop(ALICE, ALICE_PASSWORD)
    assert resp.startswith(b"+OK maildrop")
    assert p.stat() == (0, 0)
    quit_fully(p)
    assert "pop3 login user=" + ALICE in apop.log_text()


def test_apop_bare_local_part(apop):
    p = poplib.POP3("127.0.0.1", apop.pop3_port, timeout=10)
    assert p.apop("alice", ALICE_PASSWORD).startswith(b"+OK")
    quit_fully(p)


def test_apop_uppercase_digest_accepted(apop):
    raw = Raw(apop.pop3_port)
    d = digest(raw.greeting, ALICE_PASSWORD).upper()
    assert raw.command(f"APOP {ALICE} {d}".encode()).startswith(b"+OK")
    raw.quit()


def test_apop_wrong_password_delayed(apop):
    p = poplib.POP3("127.0.0.1", apop.pop3_port, timeout=10)
    started = time.monotonic()
    with pytest.raises(poplib.error_proto) as e:
        p.apop(ALICE, "not-" + ALICE_PASSWORD)
    assert time.monotonic() - started >= 0.18
    assert e.value.args[0].startswith(b"-ERR [AUTH]")
    # The session goes on: the right password still works.
    assert p.apop(ALICE, ALICE_PASSWORD).startswith(b"+OK")
    quit_fully(p)
    assert re.search(r'pop3 login failed mech=APOP user=alice@example\.test '
                     r'ip=127\.0\.0\.1 reason="invalid credentials"',
                     apop.log_text())
    assert "not-" + ALICE_PASSWORD not in apop.log_text()


def test_apop_digest_of_other_timestamp(apop):
    # A digest made for one connection's timestamp fails on another.
    first = Raw(apop.pop3_port)
    second = Raw(apop.pop3_port)
    d = digest(first.greeting, ALICE_PASSWORD)
    assert second.command(f"APOP {ALICE} {d}".encode()).startswith(
        b"-ERR [AUTH]")
    assert first.command(f"APOP {ALICE} {d}".encode()).startswith(b"+OK")
    first.quit()
    second.close()


def test_apop_without_secret_fails(apop):
    p = poplib.POP3("127.0.0.1", apop.pop3_port, timeout=10)
    with pytest.raises(poplib.error_proto) as e:
        p.apop(BOB, BOB_PASSWORD)
    assert e.value.args[0].startswith(b"-ERR [AUTH]")
    with pytest.raises(poplib.error_proto):
        p.apop("nobody@" + DOMAIN, "x")
    p.quit()
    log = apop.log_text()
    assert "user=bob@example.test ip=127.0.0.1 reason=\"unknown user or " \
        "no APOP secret (--legacy-auth)\"" in log


def test_third_failed_apop_closes(apop):
    raw = Raw(apop.pop3_port)
    bad = "0" * 32
    for _ in range(2):
        assert raw.command(f"APOP {ALICE} {bad}".encode()).startswith(
            b"-ERR [AUTH]")
    assert raw.command(f"APOP {ALICE} {bad}".encode()).startswith(
        b"-ERR [AUTH]")
    assert raw.readline() == b""
    raw.close()


@pytest.mark.parametrize("line", [
    b"APOP",
    b"APOP ",
    b"APOP alice@example.test",
    b"APOP alice@example.test ",
    b"APOP  alice@example.test " + b"0" * 32,
    b"APOP alice@example.test  " + b"0" * 32,
    b"APOP alice@example.test " + b"0" * 31,
    b"APOP alice@example.test " + b"0" * 33,
    b"APOP alice@example.test " + b"g" * 32,
    b"APOP alice@example.test " + b"0" * 32 + b" extra",
    b"APOP " + b"u" * 255 + b" " + b"0" * 32,
    b"APOP alice@example.test " + b"0" * 31 + b"\xff",
    b"APOP alice@example.test " + b"0" * 16 + b"\x00" + b"0" * 15,
])
def test_apop_hostile_arguments(apop, line):
    raw = Raw(apop.pop3_port)
    reply = raw.command(line)
    assert reply.startswith(b"-ERR"), reply
    assert not reply.startswith(b"-ERR [AUTH]"), reply
    # The session is still in AUTHORIZATION and usable.
    d = digest(raw.greeting, ALICE_PASSWORD)
    assert raw.command(f"APOP {ALICE} {d}".encode()).startswith(b"+OK")
    raw.quit()


def test_apop_overlong_line(apop):
    raw = Raw(apop.pop3_port)
    reply = raw.command(b"APOP " + b"a" * 400 + b" " + b"0" * 32)
    assert reply.startswith(b"-ERR line too long")
    assert raw.command(b"NOOP").startswith(b"-ERR")
    raw.close()


def test_apop_after_login_rejected(apop):
    p = poplib.POP3("127.0.0.1", apop.pop3_port, timeout=10)
    p.apop(ALICE, ALICE_PASSWORD)
    with pytest.raises(poplib.error_proto) as e:
        p.apop(ALICE, ALICE_PASSWORD)
    assert b"already authenticated" in e.value.args[0]
    quit_fully(p)


def test_apop_pop3_disabled_account(apop):
    apop.ctl("account", "add", CAROL, "--legacy-auth",
             input=CAROL_PASSWORD + "\n")
    path = os.path.join(apop.data_dir, "directory", "accounts")
    with open(path) as f:
        text = f.read()
    st = os.stat(path)
    with open(path + ".new", "w") as f:
        f.write(re.sub(r"^(carol@example\.test:.*)$", r"\1,pop3=no", text,
                       flags=re.M))
    os.chown(path + ".new", st.st_uid, st.st_gid)
    os.chmod(path + ".new", st.st_mode)
    os.rename(path + ".new", path)
    p = poplib.POP3("127.0.0.1", apop.pop3_port, timeout=10)
    with pytest.raises(poplib.error_proto) as e:
        p.apop(CAROL, CAROL_PASSWORD)
    assert b"POP3 access is disabled" in e.value.args[0]
    p.quit()
    assert "user=carol@example.test ip=127.0.0.1 reason=pop3-disabled" in \
        apop.log_text()


def test_site_key_file_created_private(apop):
    path = apop.settings["site_key_file"]
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_size == 32
    assert st.st_uid == os.geteuid()


def test_account_show_lists_secrets(apop):
    out = apop.ctl("account", "show", ALICE).stdout
    assert "legacy_auth: yes\n" in out
    assert "cram_md5_secret: yes\n" in out
    assert "apop_secret: yes\n" in out
    assert "apop=(hidden)" in out
    with open(os.path.join(apop.data_dir, "directory", "accounts")) as f:
        stored = f.read()
    sealed = re.search(r"apop=([A-Za-z0-9+/=]+)", stored).group(1)
    assert sealed not in out
    assert ALICE_PASSWORD not in stored
    out = apop.ctl("account", "show", BOB).stdout
    assert "apop_secret: no\n" in out


def test_no_apop_by_default(hapost):
    p = poplib.POP3("127.0.0.1", hapost.pop3_port, timeout=10)
    assert b"<" not in p.getwelcome()
    raw = Raw(hapost.pop3_port)
    reply = raw.command(f"APOP {ALICE} {'0' * 32}".encode())
    assert reply.startswith(b"-ERR APOP is not available")
    raw.close()
    p.quit()


def test_legacy_auth_without_apop_stores_no_secret(hapost):
    hapost.ctl("account", "passwd", BOB, "--legacy-auth",
               input=BOB_PASSWORD + "\n")
    out = hapost.ctl("account", "show", BOB).stdout
    assert "cram_md5_secret: yes\n" in out
    assert "apop_secret: no\n" in out
    hapost.ctl("account", "passwd", BOB, input=BOB_PASSWORD + "\n")


def test_replaced_site_key_fails_logged(own_daemon):
    h = apop_daemon(start=False)
    own_daemon.append(h)
    key = h.settings["site_key_file"]
    os.unlink(key)
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    h.start()
    p = poplib.POP3("127.0.0.1", h.pop3_port, timeout=10)
    with pytest.raises(poplib.error_proto):
        p.apop(ALICE, ALICE_PASSWORD)
    p.quit()
    assert "APOP secret of alice@example.test does not open with the " \
        "site key" in h.log_text()


def test_open_site_key_refused(own_daemon):
    h = apop_daemon(start=False)
    own_daemon.append(h)
    os.chmod(h.settings["site_key_file"], 0o644)
    h.start()
    p = poplib.POP3("127.0.0.1", h.pop3_port, timeout=10)
    assert b"<" not in p.getwelcome()
    p.quit()
    assert "APOP disabled: site key" in h.log_text()
    assert "accessible by group or others" in h.log_text()


def test_missing_site_key_dir_fails_ctl(own_daemon):
    h = Hapost({"pop3_apop": "yes"})
    own_daemon.append(h)
    h.settings["site_key_file"] = os.path.join(h.tmp, "none", "site.key")
    h.write_config()
    res = h.ctl("account", "passwd", ALICE, "--legacy-auth",
                input=ALICE_PASSWORD + "\n", check=False)
    assert res.returncode == 1
    assert "the APOP secret needs it" in res.stderr
    # Nothing was changed: the old password still works.
    out = h.ctl("account", "show", ALICE).stdout
    assert "legacy_auth: no\n" in out
