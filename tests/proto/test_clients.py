"""End to end with third-party clients: swaks sends, fetchmail and curl read."""

import os
import shutil
import subprocess

import pytest

from conftest import ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD


def need(program):
    if shutil.which(program) is None:
        pytest.fail(f"{program} is not installed: run tests/run, which "
                    "installs the test packages")


def swaks_send(h, to, subject, body):
    need("swaks")
    res = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(h.smtp_port),
         "--from", "sender@remote.example", "--to", to,
         "--header", f"Subject: {subject}", "--body", body],
        capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "<-  250 2.0.0 Ok: queued as " in res.stdout
    return res.stdout


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_fetchmail_downloads_what_swaks_sent(hapost_factory, protocol,
                                             tmp_path):
    need("fetchmail")
    h = hapost_factory()
    swaks_send(h, BOB, f"via {protocol}", f"fetched over {protocol}")
    h.wait_for_messages(BOB, 1)
    port = h.pop3_port if protocol == "pop3" else h.imap_port
    rc = tmp_path / "fetchmailrc"
    out = tmp_path / "mbox"
    rc.write_text(
        f"poll 127.0.0.1 service {port} protocol {protocol.upper()}\n"
        f"  user '{BOB}' there with password '{BOB_PASSWORD}'\n"
        f"  is '{os.environ.get('USER', 'root')}' here\n"
        f"  sslproto '' no sslcertck\n"
        f"  mda 'cat >> {out}'\n")
    rc.chmod(0o600)
    res = subprocess.run(
        ["fetchmail", "-f", str(rc), "--nodetach", "--nosyslog",
         "--pidfile", str(tmp_path / "pid"), "-v"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "HOME": str(tmp_path)})
    assert res.returncode == 0, res.stdout + res.stderr
    text = out.read_text()
    assert f"Subject: via {protocol}" in text
    assert f"fetched over {protocol}" in text
    # fetchmail deletes what it fetched (no "keep"): the mailbox is empty.
    assert h.messages(BOB) == []


def test_curl_reads_over_pop3_and_imap(hapost):
    need("curl")
    swaks_send(hapost, ALICE, "curl check", "read me with curl")
    hapost.wait_for_messages(ALICE, 1)
    user = f"{ALICE}:{ALICE_PASSWORD}"
    pop = subprocess.run(
        ["curl", "-sS", "--user", user,
         f"pop3://127.0.0.1:{hapost.pop3_port}/1"],
        capture_output=True, text=True, timeout=30)
    assert pop.returncode == 0, pop.stderr
    assert "read me with curl" in pop.stdout
    imap = subprocess.run(
        ["curl", "-sS", "--user", user,
         f"imap://127.0.0.1:{hapost.imap_port}/INBOX;UID=1"],
        capture_output=True, text=True, timeout=30)
    assert imap.returncode == 0, imap.stderr
    assert "read me with curl" in imap.stdout


def test_curl_sends_over_smtp(hapost):
    need("curl")
    before = len(hapost.messages(BOB))
    res = subprocess.run(
        ["curl", "-sS", f"smtp://127.0.0.1:{hapost.smtp_port}",
         "--mail-from", "curl@remote.example", "--mail-rcpt", BOB,
         "--upload-file", "-"],
        input="Subject: from curl\r\n\r\nsent by curl\r\n",
        capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    found = hapost.wait_for_messages(BOB, before + 1)
    assert any("sent by curl" in open(p, errors="replace").read()
               for p in found)
