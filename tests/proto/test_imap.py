"""IMAP4rev1 server tests with imaplib, raw sockets and curl.

Each test works in folders of its own (named after the test) so the
tests share one daemon without seeing each other's messages. Raw socket
sessions (class Raw) cover what imaplib cannot send: IDLE, LITERAL+,
oversized lines and literals, NUL octets and pipelining.
"""

import imaplib
import os
import pwd
import re
import select
import socket
import subprocess
import time

import pytest

from conftest import ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD

MESSAGE = (b"From: Bob Example <bob@example.test>\r\n"
           b"To: Alice <alice@example.test>\r\n"
           b"Subject: Quarterly numbers\r\n"
           b"Date: Tue, 02 Mar 2021 10:00:00 +0000\r\n"
           b"Message-ID: <q1@example.test>\r\n"
           b"\r\n"
           b"The numbers look fine.\r\n"
           b"Tabs\tand 8-bit \xc3\xa9 stay as they are.\r\n")

MULTIPART = (b"From: bob@example.test\r\n"
             b"To: alice@example.test\r\n"
             b"Subject: With attachment\r\n"
             b"MIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n"
             b"\r\n"
             b"preamble\r\n"
             b"--XYZ\r\n"
             b"Content-Type: text/plain; charset=utf-8\r\n"
             b"\r\n"
             b"Body text here.\r\n"
             b"--XYZ\r\n"
             b"Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
             b"Content-Transfer-Encoding: base64\r\n"
             b"Content-Disposition: attachment; filename=\"a.bin\"\r\n"
             b"\r\n"
             b"AAECAwQ=\r\n"
             b"--XYZ--\r\n")


def login(h, user=ALICE, password=ALICE_PASSWORD):
    m = imaplib.IMAP4(h.host, h.imap_port)
    m.login(user, password)
    return m


def make_folder(m, name, messages=()):
    typ, _ = m.create(name)
    assert typ == "OK"
    for msg in messages:
        typ, _ = m.append(name, None, None, msg)
        assert typ == "OK"


def msg(i, subject=None):
    subject = subject or f"message {i}"
    return (f"From: bob@example.test\r\nTo: alice@example.test\r\n"
            f"Subject: {subject}\r\n\r\nbody {i}\r\n").encode()


class Raw:
    """A plain socket IMAP session for byte-exact requests."""

    def __init__(self, h, timeout=10):
        self.sock = socket.create_connection((h.host, h.imap_port),
                                             timeout=timeout)
        self.buf = b""
        self.greeting = self.line()

    def send(self, data):
        self.sock.sendall(data)

    def line(self, timeout=None):
        while b"\r\n" not in self.buf:
            if timeout is not None:
                ready, _, _ = select.select([self.sock], [], [], timeout)
                if not ready:
                    return None
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def until(self, tag):
        """Reads lines up to the tagged reply; returns (untagged, tagged)."""
        lines = []
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                return lines, line
            lines.append(line)

    def cmd(self, tag, text):
        self.send(tag + b" " + text + b"\r\n")
        return self.until(tag)

    def login(self, user=ALICE, password=ALICE_PASSWORD):
        _, tagged = self.cmd(b"L", f'LOGIN "{user}" "{password}"'.encode())
        assert tagged.startswith(b"L OK"), tagged

    def closed(self, timeout=5):
        """Returns True once the server has closed the connection."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([self.sock], [], [], 0.2)
                if ready and not self.sock.recv(65536):
                    return True
        except ConnectionResetError:
            return True
        return False

    def close(self):
        self.sock.close()


# --- any state, authentication -------------------------------------------

def test_greeting_and_capability(hapost):
    raw = Raw(hapost)
    assert raw.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 ")
    untagged, tagged = raw.cmd(b"a", b"CAPABILITY")
    caps = untagged[0].split()
    for cap in (b"IMAP4rev1", b"LITERAL+", b"IDLE", b"UIDPLUS", b"MOVE",
                b"NAMESPACE", b"ID"):
        assert cap in caps
    # The fixture allows passwords without TLS on loopback.
    assert b"AUTH=PLAIN" in caps and b"SASL-IR" in caps
    assert b"STARTTLS" not in caps and b"LOGINDISABLED" not in caps
    assert tagged == b"a OK CAPABILITY completed"
    _, tagged = raw.cmd(b"b", b"noop")
    assert tagged.startswith(b"b OK")
    untagged, tagged = raw.cmd(b"c", b"LOGOUT")
    assert untagged[0].startswith(b"* BYE")
    assert tagged.startswith(b"c OK")
    assert raw.closed()


def test_login_and_wrong_password(hapost):
    m = imaplib.IMAP4(hapost.host, hapost.imap_port)
    start = time.monotonic()
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        m.login(ALICE, "wrong")
    # The config delays the NO by 200 ms.
    assert time.monotonic() - start >= 0.18
    typ, _ = m.login(ALICE, ALICE_PASSWORD)
    assert typ == "OK"
    m.logout()
    log = hapost.log_text()
    assert "imap login failed ip=127.0.0.1 user=alice@example.test" in log
    assert "wrong" not in log


def test_failed_login_does_not_block_others(hapost_factory):
    # The failed login's reply waits 3 s; another session of the same
    # worker must log in and out before that reply comes.
    h = hapost_factory(workers=1, auth_failure_delay=3000)
    slow = Raw(h)
    slow.send(b"x LOGIN alice@example.test nope\r\n")
    m = login(h)
    m.noop()
    m.logout()
    assert slow.line(timeout=0) is None, \
        "the delayed NO came before the other session finished"
    _, tagged = slow.until(b"x")
    assert tagged.startswith(b"x NO [AUTHENTICATIONFAILED]")


def test_three_failures_end_session(hapost):
    raw = Raw(hapost)
    for tag in (b"a", b"b", b"c"):
        _, tagged = raw.cmd(tag, b"LOGIN alice@example.test bad")
        assert tagged.startswith(tag + b" NO")
    assert raw.closed()


def test_commands_in_wrong_state(hapost):
    raw = Raw(hapost)
    for command in (b"SELECT INBOX", b"LIST \"\" *", b"FETCH 1 FLAGS",
                    b"APPEND INBOX {1+}\r\nx"):
        _, tagged = raw.cmd(b"w", command)
        assert tagged.startswith(b"w BAD"), tagged
    raw.login()
    for command in (b"FETCH 1 FLAGS", b"EXPUNGE", b"CLOSE",
                    b"LOGIN a b", b"UID FETCH 1 FLAGS"):
        _, tagged = raw.cmd(b"s", command)
        assert tagged.startswith(b"s BAD"), tagged
    raw.close()


def test_unknown_mechanism_and_starttls_refused(hapost):
    raw = Raw(hapost)
    _, tagged = raw.cmd(b"a", b"AUTHENTICATE GSSAPI")
    assert tagged.startswith(b"a NO [CANNOT]")
    _, tagged = raw.cmd(b"b", b"STARTTLS")
    assert tagged.startswith(b"b NO")
    raw.close()


def test_id_and_namespace(hapost):
    raw = Raw(hapost)
    untagged, tagged = raw.cmd(b"a", b'ID ("name" "pytest" "os" NIL)')
    assert untagged[0].startswith(b'* ID ("name" "hapost"')
    assert tagged.startswith(b"a OK")
    _, tagged = raw.cmd(b"b", b"ID NIL")
    assert tagged.startswith(b"b OK")
    _, tagged = raw.cmd(b"c", b"ID (\"unpaired\")")
    assert tagged.startswith(b"c BAD")
    raw.login()
    untagged, tagged = raw.cmd(b"d", b"NAMESPACE")
    assert untagged == [b'* NAMESPACE (("" ".")) NIL NIL']
    raw.close()


def test_disabled_account_cannot_log_in(hapost):
    hapost.ctl("account", "add", "carol@example.test",
               input="carol-pw-3\n")
    m = login(hapost, "carol@example.test", "carol-pw-3")
    m.logout()
    # Options are the third field of the accounts table; the daemon
    # re-reads the table when it changes.
    path = os.path.join(hapost.data_dir, "directory", "accounts")
    with open(path) as f:
        lines = f.read().splitlines()
    with open(path, "w") as f:
        for line in lines:
            if line.startswith("carol@example.test:"):
                fields = line.split(":")
                line = ":".join(fields[:2] + ["imap=no"])
            f.write(line + "\n")
    m = imaplib.IMAP4(hapost.host, hapost.imap_port)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        m.login("carol@example.test", "carol-pw-3")
    assert "IMAP disabled for the account" in hapost.log_text()


# --- mailboxes ----------------------------------------------------------

def test_select_examine_responses(hapost):
    m = login(hapost)
    make_folder(m, "SelectMe", [msg(1), msg(2)])
    raw = Raw(hapost)
    raw.login()
    untagged, tagged = raw.cmd(b"s", b"SELECT SelectMe")
    text = b"\n".join(untagged)
    assert b"* FLAGS (" in text
    assert b"* OK [PERMANENTFLAGS (" in text and b"\\*)]" in text
    assert b"* 2 EXISTS" in text
    assert re.search(rb"\* \d+ RECENT", text)
    assert b"* OK [UNSEEN 1]" in text
    assert re.search(rb"\* OK \[UIDVALIDITY \d+\]", text)
    assert b"* OK [UIDNEXT 3]" in text
    assert tagged.startswith(b"s OK [READ-WRITE]")
    untagged, tagged = raw.cmd(b"e", b"EXAMINE SelectMe")
    assert tagged.startswith(b"e OK [READ-ONLY]")
    _, tagged = raw.cmd(b"f", b"STORE 1 +FLAGS (\\Seen)")
    assert tagged.startswith(b"f NO")
    _, tagged = raw.cmd(b"g", b"SELECT NoSuchFolder")
    assert tagged.startswith(b"g NO [NONEXISTENT]")
    # A failed SELECT leaves no mailbox selected.
    _, tagged = raw.cmd(b"h", b"FETCH 1 FLAGS")
    assert tagged.startswith(b"h BAD")
    raw.close()
    m.logout()


def test_create_delete_rename(hapost):
    m = login(hapost)
    assert m.create("Projects")[0] == "OK"
    assert m.create("Projects.2024")[0] == "OK"
    typ, data = m.create("Projects")
    assert typ == "NO" and b"ALREADYEXISTS" in data[0]
    typ, data = m.create("INBOX")
    assert typ == "NO"
    assert m.rename("Projects.2024", "Projects.Done")[0] == "OK"
    typ, data = m.rename("Missing", "Other")
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    typ, data = m.rename("Projects", "Projects.Done")
    assert typ == "NO" and b"ALREADYEXISTS" in data[0]
    typ, data = m.list("\"\"", "Projects*")
    assert b'(\\HasChildren) "." "Projects"' in data
    assert b'(\\HasNoChildren) "." "Projects.Done"' in data
    assert m.delete("Projects.Done")[0] == "OK"
    typ, data = m.delete("Projects.Done")
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    typ, data = m.delete("INBOX")
    assert typ == "NO"
    m.logout()


def test_rename_inbox_moves_messages(hapost):
    m = login(hapost, BOB, BOB_PASSWORD)
    m.append("INBOX", None, None, msg(1))
    m.append("INBOX", None, None, msg(2))
    assert m.rename("INBOX", "OldInbox")[0] == "OK"
    assert m.status("OldInbox", "(MESSAGES)")[1][0].endswith(
        b"(MESSAGES 2)")
    assert m.status("INBOX", "(MESSAGES)")[1][0].endswith(b"(MESSAGES 0)")
    m.logout()


def test_list_wildcards_and_utf7(hapost):
    m = login(hapost)
    for name in ("Lw", "Lw.a", "Lw.a.b", "Lw.c", "Entw&APw-rfe"):
        assert m.create(name)[0] == "OK", name
    typ, data = m.list("\"\"", "Lw.%")
    names = sorted(re.search(rb'"([^"]*)"$', d).group(1) for d in data)
    assert names == [b"Lw.a", b"Lw.c"]
    typ, data = m.list("Lw.", "*")
    names = sorted(re.search(rb'"([^"]*)"$', d).group(1) for d in data)
    assert names == [b"Lw.a", b"Lw.a.b", b"Lw.c"]
    typ, data = m.list("\"\"", "inbox")
    assert data == [b'(\\HasNoChildren) "." "INBOX"']
    typ, data = m.list("\"\"", "\"\"")
    assert data == [b'(\\Noselect) "." ""']
    typ, data = m.list("\"\"", "Entw*")
    assert data == [b'(\\HasNoChildren) "." "Entw&APw-rfe"']
    # Raw 8-bit and broken modified UTF-7 are rejected.
    raw = Raw(hapost)
    raw.login()
    _, tagged = raw.cmd(b"a", b"CREATE \"Entw\xc3\xbcrfe\"")
    assert tagged.startswith(b"a BAD")
    _, tagged = raw.cmd(b"b", b"CREATE \"&AGE-\"")
    assert tagged.startswith(b"b BAD")
    _, tagged = raw.cmd(b"c", b"CREATE \"&Jjo\"")
    assert tagged.startswith(b"c BAD")
    raw.close()
    m.logout()


def test_list_shows_noselect_parents(hapost):
    m = login(hapost)
    assert m.create("Deep.x.y")[0] == "OK"
    typ, data = m.list("\"\"", "Deep.%")
    assert data == [b'(\\Noselect \\HasChildren) "." "Deep.x"']
    m.logout()


def test_subscribe_and_lsub(hapost):
    m = login(hapost)
    make_folder(m, "Sub1")
    make_folder(m, "Sub1.Child")
    assert m.subscribe("Sub1.Child")[0] == "OK"
    typ, data = m.lsub("\"\"", "Sub1*")
    assert data == [b'() "." "Sub1.Child"']
    typ, data = m.lsub("\"\"", "Sub1")
    assert data == [None]
    typ, data = m.lsub("\"\"", "%")
    assert b'(\\Noselect) "." "Sub1"' in data
    assert m.unsubscribe("Sub1.Child")[0] == "OK"
    typ, data = m.lsub("\"\"", "Sub1*")
    assert data == [None]
    m.logout()


def test_status_items(hapost):
    m = login(hapost)
    make_folder(m, "St", [msg(1), msg(2), msg(3)])
    m.select("St")
    m.store("1", "+FLAGS", "(\\Seen)")
    typ, data = m.status("St", "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY "
                               "RECENT)")
    assert typ == "OK"
    assert re.match(rb'"St" \(MESSAGES 3 UNSEEN 2 UIDNEXT 4 UIDVALIDITY '
                    rb'\d+ RECENT \d+\)', data[0]), data
    typ, data = m.status("Nope", "(MESSAGES)")
    assert typ == "NO"
    with pytest.raises(imaplib.IMAP4.error):
        m.status("St", "(BOGUS)")
    m.logout()


# --- APPEND and FETCH -----------------------------------------------------

def test_append_fetch_round_trip(hapost):
    m = login(hapost)
    make_folder(m, "Round")
    date = imaplib.Time2Internaldate(time.mktime((2020, 5, 17, 12, 30, 0,
                                                  0, 0, -1)))
    typ, data = m.append("Round", "(\\Flagged $Work)", date, MESSAGE)
    assert typ == "OK"
    match = re.match(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
    assert match
    uid = match.group(2).decode()
    m.select("Round")
    typ, data = m.uid("FETCH", uid, "(UID FLAGS RFC822.SIZE INTERNALDATE "
                                    "BODY.PEEK[])")
    head, body = data[0]
    assert body == MESSAGE
    assert f"UID {uid}".encode() in head
    assert b"RFC822.SIZE %d" % len(MESSAGE) in head
    assert b"\\Flagged" in head and b"$Work" in head
    assert b"\\Seen" not in head
    t = imaplib.Internaldate2tuple(head)
    assert time.mktime(t) == time.mktime((2020, 5, 17, 12, 30, 0, 0, 0, -1))
    typ, data = m.fetch("1", "(RFC822.HEADER RFC822.TEXT)")
    parts = [p for p in data if isinstance(p, tuple)]
    header = MESSAGE.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    text = MESSAGE.split(b"\r\n\r\n", 1)[1]
    assert parts[0][1] == header
    assert parts[1][1] == text
    m.logout()


def test_append_to_missing_mailbox(hapost):
    m = login(hapost)
    typ, data = m.append("DoesNotExist", None, None, msg(1))
    assert typ == "NO" and b"TRYCREATE" in data[0]
    m.logout()


def test_append_literal_plus_and_flags(hapost):
    m = login(hapost)
    make_folder(m, "Plus")
    m.logout()
    raw = Raw(hapost)
    raw.login()
    body = b"Subject: plus\r\n\r\nsent without waiting\r\n"
    raw.send(b"a APPEND Plus (\\Seen \\Draft) {%d+}\r\n" % len(body) + body +
             b"\r\n")
    _, tagged = raw.until(b"a")
    assert tagged.startswith(b"a OK [APPENDUID ")
    _, tagged = raw.cmd(b"b", b"APPEND Plus (\\Recent) {1+}\r\nx")
    assert tagged.startswith(b"b BAD")
    _, tagged = raw.cmd(b"c", b"APPEND Plus (\\Bogus) {1+}\r\nx")
    assert tagged.startswith(b"c BAD")
    _, tagged = raw.cmd(b"d", b'APPEND Plus "32-Jan-2020 00:00:00 +0000" '
                              b'{1+}\r\nx')
    assert tagged.startswith(b"d BAD")
    untagged, tagged = raw.cmd(b"e", b"EXAMINE Plus")
    untagged, tagged = raw.cmd(b"f", b"FETCH 1 (FLAGS BODY.PEEK[])")
    assert b"\\Seen" in untagged[0] and b"\\Draft" in untagged[0]
    raw.close()


def test_fetch_bodystructure_multipart(hapost):
    m = login(hapost)
    make_folder(m, "Multi", [MULTIPART])
    m.select("Multi")
    typ, data = m.fetch("1", "(BODYSTRUCTURE)")
    bs = data[0]
    assert b'("text" "plain" ("charset" "utf-8")' in bs
    assert b'"application" "octet-stream" ("name" "a.bin")' in bs
    assert b'"base64"' in bs
    assert b'"mixed" ("boundary" "XYZ")' in bs
    assert b'("attachment" ("filename" "a.bin"))' in bs
    typ, data = m.fetch("1", "(BODY)")
    assert b"BODY ((" in data[0] and b"attachment" not in data[0]
    typ, data = m.fetch("1", "(BODY.PEEK[1] BODY.PEEK[2.MIME] "
                             "BODY.PEEK[2]<0.4>)")
    parts = [p for p in data if isinstance(p, tuple)]
    assert parts[0][1] == b"Body text here."
    assert parts[1][1].startswith(b"Content-Type: application/octet-stream")
    assert b"BODY[2]<0>" in parts[2][0]
    assert parts[2][1] == b"AAEC"
    typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert data[0][1] == b"Subject: With attachment\r\n\r\n"
    typ, data = m.fetch("1", "(BODY.PEEK[9])")
    assert data[0][1] in (b"", None)
    m.logout()


def test_fetch_sets_seen_unless_peek(hapost):
    m = login(hapost)
    make_folder(m, "Seen", [msg(1), msg(2)])
    m.select("Seen")
    m.fetch("1", "(BODY.PEEK[TEXT])")
    typ, data = m.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    typ, data = m.fetch("2", "(BODY[TEXT])")
    # The side effect is reported in the same response.
    assert any(b"\\Seen" in (p[0] if isinstance(p, tuple) else p)
               for p in data)
    m.logout()
    m = login(hapost)
    m.select("Seen", readonly=True)
    typ, data = m.fetch("1:2", "(FLAGS)")
    assert b"\\Seen" not in data[0] and b"\\Seen" in data[1]
    m.logout()


def test_fetch_macros_and_envelope(hapost):
    m = login(hapost)
    make_folder(m, "Macros", [MESSAGE])
    m.select("Macros")
    typ, data = m.fetch("1", "ALL")
    assert b"ENVELOPE (\"Tue, 02 Mar 2021 10:00:00 +0000\" " \
           b"\"Quarterly numbers\"" in data[0]
    assert b"FLAGS" in data[0] and b"RFC822.SIZE" in data[0]
    typ, data = m.fetch("1", "FAST")
    assert b"ENVELOPE" not in data[0] and b"INTERNALDATE" in data[0]
    typ, data = m.fetch("1", "FULL")
    assert b"BODY (" in data[0]
    with pytest.raises(imaplib.IMAP4.error):
        m.fetch("1", "(FLAGS ALL)")
    with pytest.raises(imaplib.IMAP4.error):
        m.fetch("1", "(BODY[1.FOO])")
    with pytest.raises(imaplib.IMAP4.error):
        m.fetch("1", "(BODY[]<5>)")
    m.logout()


def test_fetch_many_messages_streams(hapost):
    m = login(hapost)
    make_folder(m, "Many")
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 200
    for _ in range(20):
        m.append("Many", None, None, big)
    m.select("Many")
    typ, data = m.fetch("1:*", "(UID BODY.PEEK[])")
    bodies = [p[1] for p in data if isinstance(p, tuple)]
    assert len(bodies) == 20
    assert all(b == big for b in bodies)
    m.logout()


# --- SEARCH -----------------------------------------------------------------

def test_search_keys(hapost):
    m = login(hapost)
    make_folder(m, "Find", [MESSAGE, msg(2, "second"), msg(3, "third"),
                            MULTIPART])
    m.select("Find")
    m.store("2", "+FLAGS", "(\\Answered $Todo)")
    m.store("3", "+FLAGS", "(\\Deleted)")

    def search(*keys):
        typ, data = m.search(None, *keys)
        assert typ == "OK", keys
        return data[0].split()

    assert search("ALL") == [b"1", b"2", b"3", b"4"]
    assert search("FROM", "\"Bob Example\"") == [b"1"]
    assert search("SUBJECT", "second") == [b"2"]
    assert search("TO", "alice") == [b"1", b"2", b"3", b"4"]
    assert search("BODY", "numbers") == [b"1"]
    assert search("TEXT", "Quarterly") == [b"1"]
    assert search("HEADER", "Message-ID", "q1@") == [b"1"]
    assert search("ANSWERED") == [b"2"]
    assert search("UNANSWERED", "UNDELETED") == [b"1", b"4"]
    assert search("DELETED") == [b"3"]
    assert search("KEYWORD", "$Todo") == [b"2"]
    assert search("UNKEYWORD", "$Todo") == [b"1", b"3", b"4"]
    assert search("OR", "DELETED", "ANSWERED") == [b"2", b"3"]
    assert search("NOT", "(OR DELETED ANSWERED)") == [b"1", b"4"]
    assert search("2:3") == [b"2", b"3"]
    assert search("*") == [b"4"]
    assert search("LARGER", "300") == [b"4"]
    assert search("SMALLER", "100") == [b"2", b"3"]
    assert search("SENTON", "2-Mar-2021") == [b"1"]
    assert search("SENTBEFORE", "1-Jan-2022") == [b"1"]
    assert search("SINCE", "1-Jan-2020") == [b"1", b"2", b"3", b"4"]
    assert search("BEFORE", "1-Jan-2020") == []
    assert search("NEW") == search("RECENT", "UNSEEN")
    assert sorted(search("OLD") + search("RECENT")) == \
        [b"1", b"2", b"3", b"4"]
    typ, data = m.uid("SEARCH", "UID", "1:*")
    assert len(data[0].split()) == 4
    typ, data = m.search("UTF-8", "SUBJECT", "third")
    assert data[0] == b"3"
    typ, data = m.search("US-ASCII", "ALL")
    assert typ == "OK"
    typ, data = m._simple_command("SEARCH", "CHARSET", "KOI8-R", "ALL")
    assert typ == "NO"
    assert data[0].startswith(b"[BADCHARSET (UTF-8 US-ASCII)]")
    with pytest.raises(imaplib.IMAP4.error):
        m.search(None, "BOGUS")
    # A sequence number past the end matches nothing.
    assert search("9") == []
    m.logout()


# --- STORE, flags, EXPUNGE --------------------------------------------------

def test_flags_persist_across_sessions(hapost):
    m = login(hapost)
    make_folder(m, "Persist", [msg(1), msg(2)])
    m.select("Persist")
    typ, data = m.store("1", "+FLAGS", "(\\Flagged \\Seen $Label1)")
    assert b"\\Flagged" in data[0] and b"$Label1" in data[0]
    typ, data = m.store("2", "FLAGS.SILENT", "(\\Draft)")
    assert data == [None]
    m.store("1", "-FLAGS", "(\\Seen)")
    m.logout()
    m = login(hapost)
    m.select("Persist")
    typ, data = m.fetch("1:2", "(FLAGS)")
    assert b"\\Flagged" in data[0] and b"$Label1" in data[0]
    assert b"\\Seen" not in data[0]
    assert b"\\Draft" in data[1]
    typ, data = m.uid("STORE", "1:*", "+FLAGS", "(\\Answered)")
    assert all(b"UID" in d for d in data)
    m.logout()


def test_store_bad_requests(hapost):
    m = login(hapost)
    make_folder(m, "StoreBad", [msg(1)])
    m.logout()
    raw = Raw(hapost)
    raw.login()
    raw.cmd(b"s", b"SELECT StoreBad")
    for text in (b"STORE 1 FLAGS (\\Recent)", b"STORE 1 BOGUS (\\Seen)",
                 b"STORE 1 +FLAGS (\\Seen", b"STORE 5 +FLAGS (\\Seen)",
                 b"STORE 0 +FLAGS (\\Seen)", b"STORE 1 +FLAGS (\\Nope)"):
        _, tagged = raw.cmd(b"t", text)
        assert tagged.startswith(b"t BAD"), (text, tagged)
    _, tagged = raw.cmd(b"u", b"STORE 1 +FLAGS \\Seen \\Flagged")
    assert tagged.startswith(b"u OK")
    raw.close()


def test_expunge_and_close(hapost):
    m = login(hapost)
    make_folder(m, "Exp", [msg(i) for i in range(1, 6)])
    m.select("Exp")
    m.store("2,4", "+FLAGS", "(\\Deleted)")
    typ, data = m.expunge()
    assert data == [b"4", b"2"]
    typ, data = m.search(None, "ALL")
    assert data[0] == b"1 2 3"
    m.store("1", "+FLAGS", "(\\Deleted)")
    m.close()
    typ, data = m.status("Exp", "(MESSAGES)")
    assert data[0].endswith(b"(MESSAGES 2)")
    m.select("Exp")
    m.store("1", "+FLAGS", "(\\Deleted)")
    m._simple_command("UNSELECT")
    typ, data = m.status("Exp", "(MESSAGES)")
    assert data[0].endswith(b"(MESSAGES 2)")
    m.logout()


def test_uid_expunge(hapost):
    m = login(hapost)
    make_folder(m, "UidExp", [msg(i) for i in range(1, 5)])
    m.select("UidExp")
    m.store("1:4", "+FLAGS", "(\\Deleted)")
    typ, data = m.uid("EXPUNGE", "2:3")
    assert typ == "OK"
    assert m.untagged_responses.pop("EXPUNGE") == [b"3", b"2"]
    typ, data = m.uid("SEARCH", "ALL")
    assert data[0] == b"1 4"
    m.logout()


def test_expunge_seen_by_second_session(hapost):
    a = login(hapost)
    make_folder(a, "Shared", [msg(1), msg(2), msg(3)])
    a.select("Shared")
    b = login(hapost)
    b.select("Shared")
    a.store("2", "+FLAGS", "(\\Deleted)")
    a.expunge()
    typ, data = b.noop()
    assert b.untagged_responses.get("EXPUNGE") == [b"2"]
    typ, data = b.search(None, "ALL")
    assert data[0] == b"1 2"
    # Flag changes by the other session arrive as FETCH FLAGS.
    a.store("1", "+FLAGS", "(\\Flagged)")
    b.noop()
    fetches = b.untagged_responses.get("FETCH", [])
    assert any(b"\\Flagged" in f for f in fetches)
    a.logout()
    b.logout()


# --- COPY and MOVE ----------------------------------------------------------

def test_copy_with_copyuid(hapost):
    m = login(hapost)
    make_folder(m, "CopySrc", [msg(1), msg(2), msg(3)])
    make_folder(m, "CopyDst", [msg(9)])
    m.select("CopySrc")
    m.store("2", "+FLAGS", "(\\Flagged $Keep)")
    typ, data = m.copy("2:3", "CopyDst")
    assert typ == "OK"
    match = re.match(rb"\[COPYUID (\d+) 2:3 2:3\]", data[0])
    assert match, data
    typ, data = m.copy("1", "Nowhere")
    assert typ == "NO" and b"TRYCREATE" in data[0]
    m.select("CopyDst")
    typ, data = m.fetch("2", "(FLAGS BODY.PEEK[])")
    assert b"\\Flagged" in data[0][0] and b"$Keep" in data[0][0]
    assert data[0][1] == msg(2)
    typ, data = m.status("CopySrc", "(MESSAGES)")
    assert data[0].endswith(b"(MESSAGES 3)")
    m.logout()


def test_move_with_copyuid(hapost):
    raw = Raw(hapost)
    raw.login()
    m = login(hapost)
    make_folder(m, "MoveSrc", [msg(1), msg(2), msg(3)])
    make_folder(m, "MoveDst")
    m.logout()
    raw.cmd(b"s", b"SELECT MoveSrc")
    untagged, tagged = raw.cmd(b"m", b"MOVE 1:2 MoveDst")
    assert untagged[0].startswith(b"* OK [COPYUID ")
    assert b" 1:2 1:2]" in untagged[0]
    assert untagged[1:] == [b"* 2 EXPUNGE", b"* 1 EXPUNGE"]
    assert tagged.startswith(b"m OK")
    untagged, tagged = raw.cmd(b"u", b"UID MOVE 3 MoveDst")
    assert b"COPYUID" in untagged[0] and b"* 1 EXPUNGE" in untagged
    untagged, tagged = raw.cmd(b"x", b"STATUS MoveDst (MESSAGES)")
    assert untagged[0].endswith(b"(MESSAGES 3)")
    raw.close()


# --- IDLE and other sessions ----------------------------------------------

def test_idle_sees_append_from_other_session(hapost):
    m = login(hapost)
    make_folder(m, "IdleBox", [msg(1)])
    raw = Raw(hapost)
    raw.login()
    raw.cmd(b"s", b"SELECT IdleBox")
    raw.send(b"i IDLE\r\n")
    assert raw.line() == b"+ idling"
    m.append("IdleBox", None, None, msg(2))
    # Pushed by inotify; without it IDLE would stay silent, so the
    # generous timeout only allows for a loaded machine.
    line = raw.line(timeout=5.0)
    assert line == b"* 2 EXISTS", line
    raw.line(timeout=5.0)  # RECENT
    raw.send(b"DONE\r\n")
    _, tagged = raw.until(b"i")
    assert tagged == b"i OK IDLE terminated"
    raw.close()
    m.logout()


def test_idle_sees_maildir_delivery(hapost):
    m = login(hapost)
    make_folder(m, "IdleDrop")
    m.logout()
    raw = Raw(hapost)
    raw.login()
    raw.cmd(b"s", b"SELECT IdleDrop")
    raw.send(b"i IDLE\r\n")
    assert raw.line() == b"+ idling"
    folder = hapost.maildir(ALICE, "IdleDrop")
    body = msg(7)
    name = f"{int(time.time())}.test{os.getpid()}.host,S={len(body)}"
    tmp = os.path.join(folder, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(body)
    if os.geteuid() == 0:
        pw = pwd.getpwnam(hapost.user)
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
    os.rename(tmp, os.path.join(folder, "new", name))
    assert raw.line(timeout=5.0) == b"* 1 EXISTS"
    raw.send(b"DONE\r\n")
    _, tagged = raw.until(b"i")
    assert tagged == b"i OK IDLE terminated"
    raw.close()


def test_idle_sees_expunge_and_flags(hapost):
    m = login(hapost)
    make_folder(m, "IdleExp", [msg(1), msg(2)])
    raw = Raw(hapost)
    raw.login()
    raw.cmd(b"s", b"SELECT IdleExp")
    raw.send(b"i IDLE\r\n")
    assert raw.line() == b"+ idling"
    m.select("IdleExp")
    m.store("1", "+FLAGS", "(\\Flagged)")
    line = raw.line(timeout=1.0)
    assert line is not None and b"FETCH" in line and b"\\Flagged" in line
    m.store("2", "+FLAGS", "(\\Deleted)")
    m.expunge()
    lines = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and b"* 2 EXPUNGE" not in lines:
        line = raw.line(timeout=0.5)
        if line is not None:
            lines.append(line)
    assert b"* 2 EXPUNGE" in lines
    raw.send(b"XYZ\r\n")
    _, tagged = raw.until(b"i")
    assert tagged.startswith(b"i BAD")
    raw.close()
    m.logout()


# --- hostile input -----------------------------------------------------------

def test_overlong_line(hapost):
    raw = Raw(hapost)
    raw.login()
    other = login(hapost)
    raw.send(b"t1 NOOP " + b"x" * 100000 + b"\r\n")
    _, tagged = raw.until(b"t1")
    assert tagged.startswith(b"t1 BAD")
    assert other.noop()[0] == "OK"
    _, tagged = raw.cmd(b"t2", b"NOOP")
    assert tagged == b"t2 OK NOOP completed"
    # Without a readable tag the reply is untagged.
    raw.send(b"x" * 70000 + b"\r\n")
    assert raw.line().startswith(b"* BAD")
    _, tagged = raw.cmd(b"t3", b"NOOP")
    assert tagged.startswith(b"t3 OK")
    raw.close()
    other.logout()


def test_huge_literals(hapost):
    raw = Raw(hapost)
    raw.login()
    # Synchronizing: NO at once, and no continuation request.
    raw.send(b"a APPEND INBOX {999999999}\r\n")
    line = raw.line()
    assert line.startswith(b"a NO [TOOBIG]"), line
    _, tagged = raw.cmd(b"b", b"NOOP")
    assert tagged.startswith(b"b OK")
    # Non-synchronizing: read and dropped, then BAD.
    size = 26 * 1024 * 1024
    raw.send(b"c APPEND INBOX {%d+}\r\n" % size)
    chunk = b"y" * (1024 * 1024)
    for _ in range(26):
        raw.send(chunk)
    raw.send(b"\r\n")
    _, tagged = raw.until(b"c")
    assert tagged.startswith(b"c BAD [TOOBIG]")
    _, tagged = raw.cmd(b"d", b"NOOP")
    assert tagged.startswith(b"d OK")
    raw.close()


def test_bad_sequence_sets_and_garbage(hapost):
    m = login(hapost)
    make_folder(m, "Hostile", [msg(1), msg(2)])
    m.logout()
    raw = Raw(hapost)
    raw.login()
    raw.cmd(b"s", b"SELECT Hostile")
    for text in (b"FETCH 0 FLAGS", b"FETCH 1:0 FLAGS", b"FETCH a FLAGS",
                 b"FETCH 1,,2 FLAGS", b"FETCH 4294967296 FLAGS",
                 b"FETCH 3 FLAGS", b"FETCH 1 (FLAGS", b"FETCH 1 BOGUS",
                 b"FETCH 1 BODY[", b"FROB", b"NOOP extra",
                 b"NO\x00OP", b"SELECT \"unterminated",
                 b"SEARCH " + b"NOT " * 100 + b"ALL"):
        _, tagged = raw.cmd(b"h", text)
        assert tagged.startswith(b"h BAD"), (text, tagged)
        # Ten BAD replies in a row would end the session.
        raw.cmd(b"n", b"NOOP")
    untagged, tagged = raw.cmd(b"u", b"UID FETCH 4294967295 FLAGS")
    assert untagged == [] and tagged.startswith(b"u OK")
    untagged, tagged = raw.cmd(b"v", b"FETCH 2:* (UID)")
    assert len(untagged) == 1 and tagged.startswith(b"v OK")
    untagged, tagged = raw.cmd(b"w", b"UID FETCH 9:* (UID)")
    assert len(untagged) == 1 and b"UID 2" in untagged[0]
    raw.send(b"\r\n")
    assert raw.line().startswith(b"* BAD")
    raw.send(b"+tag NOOP\r\n")
    assert raw.line().startswith(b"* BAD")
    _, tagged = raw.cmd(b"z", b"NOOP")
    assert tagged.startswith(b"z OK")
    raw.close()


def test_too_many_bad_commands(hapost):
    raw = Raw(hapost)
    other = login(hapost)
    lines = []
    # One write: the server may close after the tenth BAD, and a later
    # write of our own would then fail with EPIPE instead of reading BYE.
    raw.send(b"".join(b"b%d FROB\r\n" % i for i in range(12)))
    try:
        while True:
            lines.append(raw.line(timeout=5))
    except EOFError:
        pass
    assert any(line.startswith(b"* BYE") for line in lines if line)
    assert other.noop()[0] == "OK"
    other.logout()


def test_pipelined_commands(hapost):
    raw = Raw(hapost)
    raw.send(b"p1 LOGIN alice@example.test alice-secret-1\r\n"
             b"p2 SELECT INBOX\r\np3 NOOP\r\np4 LOGOUT\r\n")
    for tag in (b"p1", b"p2", b"p3", b"p4"):
        _, tagged = raw.until(tag)
        assert tagged.startswith(tag + b" OK"), tagged
    raw.close()


def test_idle_timeout_autologout(hapost_factory):
    h = hapost_factory(imap_idle_timeout="1s")
    raw = Raw(h)
    raw.login()
    line = raw.line(timeout=5)
    assert line is not None and line.startswith(b"* BYE Autologout")
    assert raw.closed()


def test_shutdown_says_bye(hapost_factory):
    h = hapost_factory()
    raw = Raw(h)
    raw.login()
    h.stop()
    lines = []
    try:
        while True:
            line = raw.line(timeout=5)
            if line is None:
                break
            lines.append(line)
    except (EOFError, ConnectionResetError):
        pass
    assert b"* BYE Server shutting down" in lines


def test_curl_fetch(hapost):
    m = login(hapost)
    make_folder(m, "Curl", [msg(1, "for curl")])
    m.logout()
    res = subprocess.run(
        ["curl", "-s", "--max-time", "20", "--user",
         f"{ALICE}:{ALICE_PASSWORD}",
         f"imap://127.0.0.1:{hapost.imap_port}/Curl;UID=1"],
        capture_output=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout == msg(1, "for curl")
