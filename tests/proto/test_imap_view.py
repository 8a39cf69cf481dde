"""IMAP sessions of one worker that share a folder's message array, and
the worker's cache of ENVELOPE, BODY and BODYSTRUCTURE response data.

Every daemon here runs one worker, so all sessions of a test live in the
same process and share what the process shares. Each test checks that a
session still sees only what RFC 3501 lets it see: its own sequence
numbers, EXPUNGE and flag changes only with a command that allows them,
\\Recent only in the session that first saw the message.
"""

import os
import pwd
import re
import shutil
import time

from conftest import ALICE
from test_imap import MESSAGE, MULTIPART, Raw, login, make_folder, msg


def raw_session(h, folder):
    r = Raw(h)
    r.login()
    untagged, tagged = r.cmd(b"s", b"SELECT " + folder.encode())
    assert tagged.startswith(b"s OK"), tagged
    return r, untagged


def drop_file(h, folder, body):
    """Delivers body into the folder's new/ as another MDA would."""
    d = h.maildir(ALICE, folder)
    name = f"{time.time():.6f}.view{os.getpid()}.host,S={len(body)}"
    tmp = os.path.join(d, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(body)
    if os.geteuid() == 0:
        pw = pwd.getpwnam(h.user)
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
    os.rename(tmp, os.path.join(d, "new", name))


def uids(r, tag=b"u"):
    """Returns {sequence number: UID} from FETCH 1:* (UID)."""
    untagged, tagged = r.cmd(tag, b"FETCH 1:* (UID)")
    assert tagged.startswith(tag + b" OK"), tagged
    out = {}
    for line in untagged:
        m = re.match(rb"\* (\d+) FETCH \(UID (\d+)\)", line)
        assert m, line
        out[int(m.group(1))] = int(m.group(2))
    return out


def test_expunge_reaches_other_session_only_when_allowed(hapost_factory):
    h = hapost_factory(workers=1)
    m = login(h)
    make_folder(m, "View", [msg(1), msg(2), msg(3)])
    m.logout()
    a, _ = raw_session(h, "View")
    b, _ = raw_session(h, "View")
    before = uids(b)
    assert len(before) == 3

    _, tagged = a.cmd(b"d", b"STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert tagged.startswith(b"d OK")
    untagged, tagged = a.cmd(b"e", b"EXPUNGE")
    assert untagged == [b"* 2 EXPUNGE"]
    # A third session selects the folder after the expunge, so the
    # process now holds the new two-message view as well.
    c, untagged = raw_session(h, "View")
    assert b"* 2 EXISTS" in untagged

    # FETCH, STORE and SEARCH must not announce EXPUNGE (RFC 3501
    # section 7.4.1): b keeps its three sequence numbers meanwhile.
    untagged, tagged = b.cmd(b"f", b"FETCH 1:* (UID)")
    assert not any(b"EXPUNGE" in line for line in untagged)
    assert uids(b, b"g") == before
    untagged, tagged = b.cmd(b"n", b"NOOP")
    assert untagged == [b"* 2 EXPUNGE"]
    assert uids(b, b"h") == {1: before[1], 2: before[3]}
    assert uids(c, b"i") == {1: before[1], 2: before[3]}
    for r in (a, b, c):
        r.close()


def test_flag_change_reaches_other_session_once(hapost_factory):
    h = hapost_factory(workers=1)
    m = login(h)
    make_folder(m, "ViewFlags", [msg(1), msg(2)])
    m.logout()
    a, _ = raw_session(h, "ViewFlags")
    b, _ = raw_session(h, "ViewFlags")
    _, tagged = a.cmd(b"s1", b"STORE 1 +FLAGS.SILENT (\\Flagged)")
    assert tagged.startswith(b"s1 OK")
    # b's FETCH shows b's view, which the STORE in a must not have
    # changed behind b's back...
    untagged, _ = b.cmd(b"f", b"FETCH 1 (FLAGS)")
    assert untagged == [b"* 1 FETCH (FLAGS ())"]
    # ...so that b's next sync finds the change and announces it.
    untagged, _ = b.cmd(b"n", b"NOOP")
    assert len(untagged) == 1
    assert re.match(rb"\* 1 FETCH \(UID \d+ FLAGS \(\\Flagged\)\)",
                    untagged[0]), untagged
    untagged, _ = b.cmd(b"n2", b"NOOP")
    assert untagged == []
    untagged, _ = a.cmd(b"n3", b"NOOP")
    assert untagged == []
    a.close()
    b.close()


def test_recent_belongs_to_one_session(hapost_factory):
    h = hapost_factory(workers=1)
    m = login(h)
    make_folder(m, "ViewRecent")
    m.logout()
    a, _ = raw_session(h, "ViewRecent")
    b, _ = raw_session(h, "ViewRecent")
    drop_file(h, "ViewRecent", msg(1))
    untagged, _ = a.cmd(b"n", b"NOOP")
    assert untagged == [b"* 1 EXISTS", b"* 1 RECENT"]
    untagged, _ = b.cmd(b"n", b"NOOP")
    assert untagged == [b"* 1 EXISTS", b"* 0 RECENT"]
    untagged, _ = a.cmd(b"f", b"FETCH 1 (FLAGS)")
    assert untagged == [b"* 1 FETCH (FLAGS (\\Recent))"]
    untagged, _ = b.cmd(b"f", b"FETCH 1 (FLAGS)")
    assert untagged == [b"* 1 FETCH (FLAGS ())"]
    # \Recent stays with a after a flag change copies its view.
    a.cmd(b"s", b"STORE 1 +FLAGS.SILENT (\\Seen)")
    untagged, _ = a.cmd(b"f2", b"FETCH 1 (FLAGS)")
    assert untagged == [b"* 1 FETCH (FLAGS (\\Seen \\Recent))"]
    untagged, _ = b.cmd(b"n2", b"NOOP")
    assert untagged[-1] == b"* 1 FETCH (UID 1 FLAGS (\\Seen))"
    a.close()
    b.close()


def fetch_content(h, folder):
    r, _ = raw_session(h, folder)
    r.send(b"f FETCH 1:* (ENVELOPE BODY BODYSTRUCTURE)\r\n")
    data = b""
    while not re.search(rb"(^|\r\n)f OK[^\r]*\r\n$", data):
        chunk = r.sock.recv(65536)
        assert chunk
        data += chunk
    r.close()
    return data


def test_cached_data_matches_cold_parse(hapost_factory):
    messages = [MESSAGE, MULTIPART, msg(3, "Third")]
    cold = hapost_factory(workers=1, imap_cache_size=0)
    m = login(cold)
    make_folder(m, "ViewCache", messages)
    m.logout()
    uncached = fetch_content(cold, "ViewCache")
    assert uncached == fetch_content(cold, "ViewCache")

    h = hapost_factory(workers=1)
    m = login(h)
    make_folder(m, "ViewCache", messages)
    m.logout()
    first = fetch_content(h, "ViewCache")
    # The files are gone, so only the cache can supply the data now.
    d = h.maildir(ALICE, "ViewCache")
    saved = {}
    for sub in ("cur", "new"):
        for name in os.listdir(os.path.join(d, sub)):
            path = os.path.join(d, sub, name)
            with open(path, "rb") as f:
                saved[path] = f.read()
    r, _ = raw_session(h, "ViewCache")
    for path in saved:
        os.unlink(path)
    r.send(b"f FETCH 1:* (ENVELOPE BODY BODYSTRUCTURE)\r\n")
    data = b""
    while not re.search(rb"(^|\r\n)f OK[^\r]*\r\n$", data):
        chunk = r.sock.recv(65536)
        assert chunk, data
        data += chunk
    r.close()
    assert first == uncached
    assert data == uncached


def test_cache_forgets_folder_with_new_uidvalidity(hapost_factory):
    h = hapost_factory(workers=1)
    m = login(h)
    make_folder(m, "ViewValidity", [msg(1, "Old subject")])
    m.logout()
    a, untagged = raw_session(h, "ViewValidity")
    old_validity = [x for x in untagged if b"UIDVALIDITY" in x]
    untagged, _ = a.cmd(b"f", b"FETCH 1 (UID ENVELOPE)")
    assert b"Old subject" in untagged[0]
    assert b"UID 1 " in untagged[0]
    a.close()

    # The folder is emptied and its UID list lost: the next sync gives
    # it a new UIDVALIDITY, and UID 1 now names another message.
    d = h.maildir(ALICE, "ViewValidity")
    for sub in ("cur", "new"):
        shutil.rmtree(os.path.join(d, sub))
        os.mkdir(os.path.join(d, sub), 0o700)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(h.user)
            os.chown(os.path.join(d, sub), pw.pw_uid, pw.pw_gid)
    os.unlink(os.path.join(d, "hapost-uidlist"))
    drop_file(h, "ViewValidity", msg(2, "New subject"))

    b, untagged = raw_session(h, "ViewValidity")
    assert [x for x in untagged if b"UIDVALIDITY" in x] != old_validity
    untagged, _ = b.cmd(b"f", b"FETCH 1 (UID ENVELOPE)")
    assert b"UID 1 " in untagged[0]
    assert b"New subject" in untagged[0]
    assert b"Old subject" not in untagged[0]
    b.close()
