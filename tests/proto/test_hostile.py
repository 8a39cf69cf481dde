"""Hostile input against SMTP, POP3 and IMAP, over raw sockets.

Each test sends input that a well-behaved client never sends: overlong
lines, NUL bytes, bare CR or LF, huge numbers and literals, and deep
nesting. It checks that the session gets the protocol's error reply.
Then it checks that a new session of every protocol still works, which
shows that the worker that read the input is still serving.
"""

import re
import socket
import time

from conftest import ALICE, ALICE_PASSWORD


class Raw:
    """A line-oriented client that sends bytes exactly as given."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.pending = b""
        self.greeting = self.line()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        """Returns the next line with its CRLF, or b"" at end of stream."""
        while b"\n" not in self.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                rest, self.pending = self.pending, b""
                return rest
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return line + b"\n"

    def until_tagged(self, tag):
        """Returns every line up to and including the tagged IMAP reply."""
        prefix = tag.encode() + b" "
        lines = []
        while True:
            line = self.line()
            if not line:
                return lines
            lines.append(line)
            literal = re.search(rb"\{(\d+)\}\r\n$", line)
            if literal:
                lines.append(self.read_exactly(int(literal.group(1))))
                continue
            if line.startswith(prefix):
                return lines

    def read_exactly(self, n):
        while len(self.pending) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.pending += chunk
        data, self.pending = self.pending[:n], self.pending[n:]
        return data

    def close(self):
        self.sock.close()


def imap_login(h):
    c = Raw(h.imap_port)
    c.send(f"L LOGIN {ALICE} {ALICE_PASSWORD}\r\n")
    assert c.until_tagged("L")[-1].startswith(b"L OK")
    return c


def imap_select(h):
    c = imap_login(h)
    c.send("S SELECT INBOX\r\n")
    assert c.until_tagged("S")[-1].startswith(b"S OK")
    return c


def imap_append(h, message):
    c = imap_login(h)
    c.send(b"A APPEND INBOX {%d+}\r\n" % len(message) + message + b"\r\n")
    reply = c.until_tagged("A")[-1]
    c.close()
    assert reply.startswith(b"A OK"), reply


def assert_all_serving(h):
    """Checks that a new SMTP, POP3 and IMAP session each work."""
    smtp = Raw(h.smtp_port)
    smtp.send("EHLO check.example\r\n")
    line = smtp.line()
    while line.startswith(b"250-"):
        line = smtp.line()
    assert line.startswith(b"250 "), line
    smtp.close()

    pop3 = Raw(h.pop3_port)
    pop3.send(f"USER {ALICE}\r\nPASS {ALICE_PASSWORD}\r\n")
    assert pop3.line().startswith(b"+OK")
    assert pop3.line().startswith(b"+OK")
    pop3.close()

    imap = imap_login(h)
    imap.send("N NOOP\r\n")
    assert imap.until_tagged("N")[-1].startswith(b"N OK")
    imap.close()


def read_smtp_reply(c):
    line = c.line()
    while line[3:4] == b"-":
        line = c.line()
    return line


def test_smtp_overlong_line(hapost):
    c = Raw(hapost.smtp_port)
    c.send(b"EHLO " + b"a" * 100000 + b"\r\n")
    assert read_smtp_reply(c).startswith(b"500 5.5.6")
    c.send("NOOP\r\n")
    assert read_smtp_reply(c).startswith(b"250")
    c.close()
    assert_all_serving(hapost)


def test_smtp_nul_in_command(hapost):
    c = Raw(hapost.smtp_port)
    c.send(b"EHLO a\0b\r\nNOOP\r\n")
    assert read_smtp_reply(c).startswith(b"500 5.5.2")
    assert read_smtp_reply(c).startswith(b"250")
    c.close()
    assert_all_serving(hapost)


def test_smtp_data_bare_lf_dot(hapost):
    """A bare-LF end of data must not end the message (SMTP smuggling)."""
    c = Raw(hapost.smtp_port)
    c.send("EHLO x\r\nMAIL FROM:<a@example.test>\r\n"
           f"RCPT TO:<{ALICE}>\r\nDATA\r\n")
    for _ in range(3):
        read_smtp_reply(c)
    assert read_smtp_reply(c).startswith(b"354")
    c.send(b"Subject: s\r\n\r\nhi\n.\nMAIL FROM:<evil@example.test>\r\n"
           b"\r\n.\r\n")
    assert read_smtp_reply(c).startswith(b"550 5.5.2")
    c.send("NOOP\r\n")
    assert read_smtp_reply(c).startswith(b"250")
    c.close()
    assert_all_serving(hapost)


def test_smtp_data_one_mb_line(hapost):
    c = Raw(hapost.smtp_port)
    c.send("EHLO x\r\nMAIL FROM:<a@example.test>\r\n"
           f"RCPT TO:<{ALICE}>\r\nDATA\r\n")
    for _ in range(3):
        read_smtp_reply(c)
    assert read_smtp_reply(c).startswith(b"354")
    c.send(b"X" * (1 << 20) + b"\r\n.\r\n")
    assert read_smtp_reply(c).startswith(b"554 5.6.0")
    c.close()
    assert_all_serving(hapost)


def test_smtp_bdat_bad_sizes(hapost):
    c = Raw(hapost.smtp_port)
    c.send("EHLO x\r\nMAIL FROM:<a@example.test>\r\n"
           f"RCPT TO:<{ALICE}>\r\n")
    for _ in range(3):
        read_smtp_reply(c)
    for size in ("99999999999999999999999 LAST", "-1", "0x10",
                 "5 LAST junk"):
        c.send(f"BDAT {size}\r\n")
        assert read_smtp_reply(c).startswith(b"501"), size
    c.send(b"BDAT 30000000 LAST\r\n" + b"q" * 30000000)
    assert read_smtp_reply(c).startswith(b"552")
    c.send("NOOP\r\n")
    assert read_smtp_reply(c).startswith(b"250")
    c.close()
    assert_all_serving(hapost)


def test_sessions_per_ip_limit(hapost_factory):
    # The limit leaves room for the cluster process's listener checks
    # (one connection per listener at once, also from 127.0.0.1); the
    # next round is an hour away.
    limit = 6
    h = hapost_factory(sessions_per_ip=limit, cluster_probe_interval="1h")
    h.wait_listener_checks()
    open_sessions = [Raw(h.smtp_port) for _ in range(limit)]
    for c in open_sessions:
        assert c.greeting.startswith(b"220")
    extra_smtp = Raw(h.smtp_port)
    extra_imap = Raw(h.imap_port)
    assert extra_smtp.greeting.startswith(b"421")
    assert extra_imap.greeting.startswith(b"* BYE")
    extra_smtp.close()
    extra_imap.close()
    for c in open_sessions:
        c.close()
    time.sleep(0.5)
    assert_all_serving(h)


def test_pop3_thousand_arguments(hapost):
    c = Raw(hapost.pop3_port)
    c.send("USER " + " ".join(["a"] * 1000) + "\r\n")
    assert c.line().startswith(b"-ERR")
    c.send("CAPA\r\n")
    assert c.line().startswith(b"+OK")
    c.close()
    assert_all_serving(hapost)


def test_pop3_nul_and_bare_cr(hapost):
    c = Raw(hapost.pop3_port)
    c.send(b"USER al\0ice@example.test\r\n")
    assert c.line().startswith(b"-ERR")
    c.send(b"NOOP\rUSER x\r\n")
    assert c.line().startswith(b"-ERR")
    c.close()
    assert_all_serving(hapost)


def test_imap_huge_sequence_sets(hapost):
    imap_append(hapost, b"Subject: seq\r\n\r\nbody\r\n")
    c = imap_select(hapost)
    c.send("F1 FETCH 1:4294967295 (FLAGS)\r\n")
    assert c.until_tagged("F1")[-1].startswith(b"F1 BAD")
    c.send("F2 UID FETCH 1:4294967295 (FLAGS)\r\n")
    assert c.until_tagged("F2")[-1].startswith(b"F2 OK")
    c.send("F3 FETCH *:* (FLAGS)\r\n")
    assert c.until_tagged("F3")[-1].startswith(b"F3 OK")
    c.send("F4 FETCH 4294967296 (FLAGS)\r\n")
    assert c.until_tagged("F4")[-1].startswith(b"F4 BAD")
    c.close()
    assert_all_serving(hapost)


def test_imap_search_nested_deeply(hapost):
    c = imap_select(hapost)
    c.send("Q1 SEARCH " + "NOT " * 10000 + "ALL\r\n")
    assert c.until_tagged("Q1")[-1].startswith(b"Q1 BAD")
    c.send("Q2 SEARCH " + "(" * 10000 + "ALL" + ")" * 10000 + "\r\n")
    assert c.until_tagged("Q2")[-1].startswith(b"Q2 BAD")
    c.send("Q3 NOOP\r\n")
    assert c.until_tagged("Q3")[-1].startswith(b"Q3 OK")
    c.close()
    assert_all_serving(hapost)


def test_imap_fetch_deep_section(hapost):
    imap_append(hapost, b"Subject: sec\r\n\r\nbody\r\n")
    c = imap_select(hapost)
    section = ".".join(str(n) for n in range(1, 2000))
    c.send(f"B1 FETCH 1 BODY.PEEK[{section}]\r\n")
    assert c.until_tagged("B1")[-1].startswith(b"B1 OK")
    c.send("B2 FETCH 1 BODY.PEEK[4294967296]\r\n")
    assert c.until_tagged("B2")[-1].startswith(b"B2 BAD")
    c.close()
    assert_all_serving(hapost)


def test_imap_invalid_utf7_names(hapost):
    c = imap_login(hapost)
    for n, name in enumerate(["&", "&AGE", "&Jjo!", "&AGE-&AGI-",
                              "INBOX.&"]):
        tag = f"C{n}"
        c.send(f'{tag} CREATE "{name}"\r\n')
        reply = c.until_tagged(tag)[-1]
        assert reply.startswith(tag.encode() + b" BAD"), name
    c.close()
    assert_all_serving(hapost)


def test_imap_nonsync_literal_too_big(hapost):
    c = imap_login(hapost)
    c.send("T1 NOOP {30000000+}\r\n")
    c.send(b"y" * 30000000 + b"\r\nT2 NOOP\r\n")
    assert c.until_tagged("T1")[-1].startswith(b"T1 BAD [TOOBIG]")
    assert c.until_tagged("T2")[-1].startswith(b"T2 OK")
    c.close()
    assert_all_serving(hapost)


def balanced(data):
    """Returns True if parentheses outside strings and literals balance."""
    depth = 0
    i = 0
    while i < len(data):
        ch = data[i:i + 1]
        if ch == b'"':
            i += 1
            while data[i:i + 1] != b'"':
                i += 2 if data[i:i + 1] == b"\\" else 1
        elif ch == b"{":
            literal = re.match(rb"\{(\d+)\}\r\n", data[i:])
            if literal:
                i += literal.end() + int(literal.group(1))
                continue
        elif ch == b"(":
            depth += 1
        elif ch == b")":
            depth -= 1
            if depth < 0:
                return False
        i += 1
    return depth == 0


def test_imap_malformed_mime_bodystructure(hapost):
    nested = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; "
                      b"boundary=b%d\r\n\r\n" % (i, i + 1)
                      for i in range(3000))
    messages = [
        b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n" + nested,
        b"Content-Type: multipart/mixed\r\n\r\n--\r\nx\r\n----\r\n",
        b"Content-Type: message/rfc822\r\n\r\n" * 3000 + b"x\r\n",
        b"Content-Type: text/plain; charset=\"open; name*0*=''%ZZ; a="
        + b";" * 20000 + b"\r\n\r\nx\r\n",
        b"X: y",
    ]
    for message in messages:
        imap_append(hapost, message)
    c = imap_select(hapost)
    c.send("M FETCH 1:* (BODYSTRUCTURE ENVELOPE)\r\n")
    lines = c.until_tagged("M")
    assert lines[-1].startswith(b"M OK")
    assert balanced(b"".join(lines[:-1]))
    c.close()
    assert_all_serving(hapost)


def test_imap_preauth_literal_limited(hapost):
    # Before login a literal may only hold a user name or a password.
    c = Raw(hapost.imap_port)
    c.send("P1 LOGIN {100000}\r\n")
    reply = c.line()
    assert reply.startswith(b"P1 NO [TOOBIG]"), reply
    c.send(b"P2 LOGIN {8}\r\n")
    assert c.line().startswith(b"+")
    c.send(b"nobody@x {3}\r\n")
    assert c.line().startswith(b"+")
    c.send(b"pw!\r\n")
    assert c.until_tagged("P2")[-1].startswith(b"P2 NO")
    c.close()
    assert_all_serving(hapost)


def test_imap_append_with_nul_rejected(hapost):
    c = imap_login(hapost)
    message = b"Subject: a\0b\r\n\r\nx\0y\r\n"
    c.send(b"A APPEND INBOX {%d+}\r\n" % len(message) + message + b"\r\n")
    reply = c.until_tagged("A")[-1]
    assert reply.startswith(b"A NO [CANNOT]"), reply
    c.close()
    assert_all_serving(hapost)


def test_imap_utf7_name_with_nul_rejected(hapost):
    c = imap_login(hapost)
    c.send('U CREATE "&AAA-"\r\n')
    assert c.until_tagged("U")[-1].startswith(b"U BAD")
    c.close()
    assert_all_serving(hapost)


def test_imap_fetch_too_many_sections(hapost):
    imap_append(hapost, b"Subject: big\r\n\r\n" + b"x" * 1000 + b"\r\n")
    c = imap_select(hapost)
    items = b" ".join([b"BODY.PEEK[]"] * 65)
    c.send(b"F FETCH 1 (" + items + b")\r\n")
    reply = c.until_tagged("F")[-1]
    assert reply.startswith(b"F BAD"), reply
    c.send(b"G FETCH 1 (" + b" ".join([b"BODY.PEEK[]"] * 64) + b")\r\n")
    assert c.until_tagged("G")[-1].startswith(b"G OK")
    c.close()
    assert_all_serving(hapost)
