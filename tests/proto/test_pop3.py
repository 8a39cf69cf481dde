"""POP3 against a running hapostd, with Python's poplib and raw sockets.

Messages are written straight into the account's Maildir (tmp/, then a
rename into new/, owned by the daemon's user), the way any MDA stores
them, so these tests depend on POP3 alone.
"""

import hashlib
import os
import poplib
import pwd
import socket
import time

import pytest

from conftest import ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD

_counter = [0]


def chown_tree(path, user, stop):
    """Gives path and its parents up to stop to the daemon's user."""
    pw = pwd.getpwnam(user)
    while True:
        os.chown(path, pw.pw_uid, pw.pw_gid)
        if path == stop:
            break
        path = os.path.dirname(path)


def put_message(h, address, data):
    """Stores data (bytes) as a new message; returns its file path."""
    root = h.maildir(address)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(root, sub), mode=0o700, exist_ok=True)
        chown_tree(os.path.join(root, sub), h.user, h.data_dir)
    _counter[0] += 1
    name = (f"{int(time.time())}.M{_counter[0]}P{os.getpid()}"
            f"Q{_counter[0]}.test,S={len(data)}")
    tmp = os.path.join(root, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(data)
    pw = pwd.getpwnam(h.user)
    os.chown(tmp, pw.pw_uid, pw.pw_gid)
    final = os.path.join(root, "new", name)
    os.rename(tmp, final)
    return final


def clear_mailbox(h, address):
    for path in h.messages(address):
        os.unlink(path)


def login(h, user=ALICE, password=ALICE_PASSWORD):
    p = poplib.POP3("127.0.0.1", h.pop3_port, timeout=10)
    p.user(user)
    p.pass_(password)
    return p


def login_when_free(h, user=ALICE, password=ALICE_PASSWORD, timeout=5):
    """Logs in, retrying while a closed session still holds the lock."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return login(h, user, password)
        except poplib.error_proto as e:
            if b"[IN-USE]" not in e.args[0] or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def message(subject, body_lines):
    lines = [f"Subject: {subject}", "From: a@example.test",
             "To: alice@example.test", ""] + body_lines
    return ("\r\n".join(lines) + "\r\n").encode()


class Raw:
    """A POP3 connection for bytes poplib will not send."""

    def __init__(self, h):
        self.sock = socket.create_connection(("127.0.0.1", h.pop3_port),
                                             timeout=10)
        self.file = self.sock.makefile("rb")
        assert self.readline().startswith(b"+OK")

    def send(self, data):
        self.sock.sendall(data)

    def readline(self):
        return self.file.readline()

    def command(self, data):
        self.send(data)
        return self.readline()

    def close(self):
        self.file.close()
        self.sock.close()


@pytest.fixture
def alice(hapost):
    clear_mailbox(hapost, ALICE)
    yield hapost
    clear_mailbox(hapost, ALICE)


def test_capa_lists_extensions(hapost):
    p = poplib.POP3("127.0.0.1", hapost.pop3_port, timeout=10)
    caps = p.capa()
    for name in ("TOP", "UIDL", "USER", "RESP-CODES", "PIPELINING",
                 "AUTH-RESP-CODE", "IMPLEMENTATION"):
        assert name in caps
    p.quit()


def test_login_and_stat(alice):
    one = message("one", ["first"])
    two = message("two", ["second", "line"])
    put_message(alice, ALICE, one)
    put_message(alice, ALICE, two)
    p = login(alice)
    assert p.stat() == (2, len(one) + len(two))
    assert p.quit().startswith(b"+OK")


def test_bad_login_delayed_then_good(alice):
    p = poplib.POP3("127.0.0.1", alice.pop3_port, timeout=10)
    p.user(ALICE)
    started = time.monotonic()
    with pytest.raises(poplib.error_proto) as e:
        p.pass_("wrong password")
    assert time.monotonic() - started >= 0.18
    assert e.value.args[0].startswith(b"-ERR [AUTH]")
    p.user("nobody@example.test")
    with pytest.raises(poplib.error_proto) as e:
        p.pass_("whatever")
    assert e.value.args[0].startswith(b"-ERR [AUTH]")
    p.user(ALICE)
    assert p.pass_(ALICE_PASSWORD).startswith(b"+OK")
    p.quit()
    log = alice.log_text()
    assert "pop3 login failed user=nobody@example.test" in log
    assert "wrong password" not in log


def test_third_bad_login_closes(alice):
    p = poplib.POP3("127.0.0.1", alice.pop3_port, timeout=10)
    for _ in range(3):
        p.user(ALICE)
        with pytest.raises(poplib.error_proto):
            p.pass_("bad")
    with pytest.raises((poplib.error_proto, OSError, EOFError)):
        p.noop()


def test_pass_without_user_rejected(hapost):
    p = poplib.POP3("127.0.0.1", hapost.pop3_port, timeout=10)
    with pytest.raises(poplib.error_proto):
        p.pass_(ALICE_PASSWORD)
    with pytest.raises(poplib.error_proto):
        p.stat()
    p.quit()


def test_list_uidl_top_retr_content(alice):
    first = message("dots", [".starts with a dot", "..two dots", ".",
                             "plain", "last"])
    second = message("second", ["x" * 990] * 3)
    put_message(alice, ALICE, first)
    put_message(alice, ALICE, second)
    p = login(alice)
    resp, listing, _ = p.list()
    assert resp.startswith(b"+OK")
    assert listing == [f"1 {len(first)}".encode(),
                       f"2 {len(second)}".encode()]
    assert p.list(2).split() == [b"+OK", b"2", str(len(second)).encode()]

    resp, lines, octets = p.retr(1)
    assert resp.startswith(b"+OK")
    assert b"\r\n".join(lines) + b"\r\n" == first
    resp, lines, _ = p.retr(2)
    assert b"\r\n".join(lines) + b"\r\n" == second

    resp, lines, _ = p.top(1, 0)
    assert lines == first.split(b"\r\n")[:4]
    resp, lines, _ = p.top(1, 2)
    assert lines == first.split(b"\r\n")[:6]

    resp, uids, _ = p.uidl()
    assert len(uids) == 2
    first_uidl = p.uidl(1).split()[2]
    assert uids[0].split()[1] == first_uidl
    assert len(set(u.split()[1] for u in uids)) == 2
    p.quit()

    # UIDL stays the same in the next session.
    p = login_when_free(alice)
    assert p.uidl(1).split()[2] == first_uidl
    p.quit()


def test_large_message_streams(alice):
    line = b"0123456789" * 7 + b"\r\n"
    body = message("big", []) + line * (6 * 1024 * 1024 // len(line))
    put_message(alice, ALICE, body)
    p = login(alice)
    resp, lines, _ = p.retr(1)
    got = b"\r\n".join(lines) + b"\r\n"
    assert len(got) == len(body)
    assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()
    p.quit()


def test_dele_quit_removes(alice):
    put_message(alice, ALICE, message("keep", ["k"]))
    gone = put_message(alice, ALICE, message("drop", ["d"]))
    p = login(alice)
    assert p.dele(2).startswith(b"+OK")
    with pytest.raises(poplib.error_proto):
        p.retr(2)
    with pytest.raises(poplib.error_proto):
        p.dele(2)
    assert p.stat()[0] == 1
    p.quit()
    assert not any(os.path.basename(gone) in path
                   for path in alice.messages(ALICE))
    p = login_when_free(alice)
    assert p.stat()[0] == 1
    resp, lines, _ = p.retr(1)
    assert b"Subject: keep" in lines
    p.quit()


def test_rset_unmarks(alice):
    put_message(alice, ALICE, message("a", ["a"]))
    p = login(alice)
    p.dele(1)
    assert p.stat()[0] == 0
    p.rset()
    assert p.stat()[0] == 1
    p.quit()
    assert len(alice.messages(ALICE)) == 1


def test_dele_dropped_connection_keeps(alice):
    put_message(alice, ALICE, message("survivor", ["s"]))
    p = login(alice)
    p.dele(1)
    # Drop the TCP connection without QUIT (poplib's file keeps the
    # socket open after sock.close(), so shut it down explicitly).
    p.sock.shutdown(socket.SHUT_RDWR)
    p.sock.close()
    p = login_when_free(alice)
    assert p.stat()[0] == 1
    p.quit()
    assert len(alice.messages(ALICE)) == 1


def test_quit_frees_maildrop_before_reply(alice):
    """A client that logs in again as soon as QUIT's +OK arrives finds
    the maildrop free: QUIT releases the lock before it replies."""
    put_message(alice, ALICE, message("again", ["a"]))
    login_when_free(alice).quit()
    for _ in range(30):
        p = login(alice)
        assert p.stat()[0] == 1
        p.quit()


def test_second_session_in_use(alice):
    put_message(alice, ALICE, message("locked", ["l"]))
    first = login_when_free(alice)
    second = poplib.POP3("127.0.0.1", alice.pop3_port, timeout=10)
    second.user(ALICE)
    with pytest.raises(poplib.error_proto) as e:
        second.pass_(ALICE_PASSWORD)
    assert e.value.args[0].startswith(b"-ERR [IN-USE]")
    assert first.stat()[0] == 1
    first.quit()
    second.user(ALICE)
    second.pass_(ALICE_PASSWORD)
    assert second.stat()[0] == 1
    second.quit()


def test_hostile_lines_get_err(alice):
    raw = Raw(alice)
    other = login(alice, BOB, BOB_PASSWORD)
    assert raw.command(b"A" * 1000 + b"\r\n").startswith(b"-ERR")
    assert raw.command(b"CAPA\r\n").startswith(b"+OK")
    while raw.readline() != b".\r\n":
        pass
    assert raw.command(b"ST\x00T\r\n").startswith(b"-ERR")
    assert raw.command(b"XYZZY\r\n").startswith(b"-ERR")
    assert raw.command(b"STAT\r\n").startswith(b"-ERR")
    assert raw.command(b"\xff\xfe\r\n").startswith(b"-ERR")
    assert raw.command(b"USER " + b"u" * 300 + b"\r\n").startswith(b"-ERR")
    # An overlong line that arrives in pieces gets one -ERR.
    raw.send(b"B" * 200)
    time.sleep(0.1)
    raw.send(b"B" * 200 + b"\r\nNOOP\r\n")
    assert raw.readline().startswith(b"-ERR line too long")
    assert raw.readline().startswith(b"-ERR")
    assert other.noop().startswith(b"+OK")
    assert other.stat()[0] == 0
    other.quit()
    raw.close()


def test_bad_arguments_get_err(alice):
    put_message(alice, ALICE, message("hostile", ["h"]))
    raw = Raw(alice)
    raw.send(f"USER {ALICE}\r\n".encode())
    assert raw.readline().startswith(b"+OK")
    raw.send(f"PASS {ALICE_PASSWORD}\r\n".encode())
    assert raw.readline().startswith(b"+OK")
    for bad in (b"RETR abc", b"RETR 0", b"RETR 2", b"RETR 99999999999",
                b"RETR -1", b"TOP 1", b"DELE", b"LIST 1 2", b"STAT 1"):
        assert raw.command(bad + b"\r\n").startswith(b"-ERR"), bad
    assert raw.command(b"STAT\r\n").startswith(b"+OK 1 ")
    raw.close()


def test_error_limit_closes(hapost):
    raw = Raw(hapost)
    for _ in range(9):
        assert raw.command(b"BOGUS\r\n").startswith(b"-ERR")
    raw.send(b"BOGUS\r\n")
    assert raw.readline().startswith(b"-ERR")
    assert b"too many errors" in raw.readline()
    assert raw.readline() == b""
    raw.close()


def test_pipelined_commands(alice):
    one = message("p1", ["one"])
    put_message(alice, ALICE, one)
    raw = Raw(alice)
    raw.send(f"USER {ALICE}\r\nPASS {ALICE_PASSWORD}\r\nSTAT\r\n"
             f"RETR 1\r\nLIST 1\r\nNOOP\r\nQUIT\r\n".encode())
    assert raw.readline().startswith(b"+OK")
    assert raw.readline().startswith(b"+OK")
    assert raw.readline() == f"+OK 1 {len(one)}\r\n".encode()
    assert raw.readline().startswith(b"+OK")
    body = b""
    while True:
        line = raw.readline()
        if line == b".\r\n":
            break
        body += line
    assert body == one
    assert raw.readline() == f"+OK 1 {len(one)}\r\n".encode()
    assert raw.readline() == b"+OK\r\n"
    assert raw.readline().startswith(b"+OK")
    assert raw.readline() == b""
    raw.close()


def test_pipelined_bad_login_delayed(alice):
    raw = Raw(alice)
    started = time.monotonic()
    raw.send(f"USER {ALICE}\r\nPASS bad\r\nUSER {ALICE}\r\n"
             f"PASS {ALICE_PASSWORD}\r\nSTAT\r\nQUIT\r\n".encode())
    assert raw.readline().startswith(b"+OK")
    assert raw.readline().startswith(b"-ERR [AUTH]")
    assert time.monotonic() - started >= 0.18
    assert raw.readline().startswith(b"+OK")
    assert raw.readline().startswith(b"+OK")
    assert raw.readline().startswith(b"+OK 0 0")
    assert raw.readline().startswith(b"+OK")
    raw.close()


def set_account_options(h, address, options):
    """Rewrites the options field of address in the accounts table."""
    path = os.path.join(h.data_dir, "directory", "accounts")
    with open(path) as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        fields = line.split(":")
        if fields[0] == address:
            lines[i] = ":".join(fields[:2] + [options])
    st = os.stat(path)
    with open(path + ".new", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chown(path + ".new", st.st_uid, st.st_gid)
    os.chmod(path + ".new", st.st_mode)
    os.rename(path + ".new", path)


def test_disabled_account_rejected(alice):
    set_account_options(alice, BOB, "pop3=no")
    try:
        p = poplib.POP3("127.0.0.1", alice.pop3_port, timeout=10)
        p.user(BOB)
        with pytest.raises(poplib.error_proto) as e:
            p.pass_(BOB_PASSWORD)
        assert e.value.args[0].startswith(b"-ERR [AUTH]")
        assert b"disabled" in e.value.args[0]
        p.quit()
    finally:
        set_account_options(alice, BOB, "")
    p = login(alice, BOB, BOB_PASSWORD)
    p.quit()


def test_idle_timeout_closes(hapost_factory):
    h = hapost_factory(pop3_idle_timeout="1")
    raw = Raw(h)
    started = time.monotonic()
    assert raw.readline().startswith(b"-ERR")
    assert raw.readline() == b""
    assert time.monotonic() - started < 15
    raw.close()
