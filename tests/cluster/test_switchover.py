"""A planned switchover with sessions open. An SMTP session between RCPT
and DATA receives 421 and an idle, logged-in IMAP session receives
* BYE, and both are closed cleanly instead of reset. The mail accepted
before the move is readable after it."""

import imaplib
import smtplib
import socket
import time

from conftest import TIMINGS, wait_until


def other(node):
    return "node2" if node == "node1" else "node1"


def read_until_eof(sock, timeout):
    """Read sock until the server closes it and return (data, error).
    error is None after a clean close (FIN), else "ConnectionResetError"
    or "timeout"."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            return data, "ConnectionResetError"
        except socket.timeout:
            return data, "timeout"
        if not chunk:
            return data, None
        data += chunk
    return data, "timeout"


def test_move_closes_sessions_cleanly(lab):
    node = lab.wait_serving()
    target = other(node)
    tag = lab.new_tag()
    before = lab.send(tag, 3)

    smtp = smtplib.SMTP(lab.vip, lab.smtp_port, timeout=10)
    smtp.ehlo("client.lab")
    code, reply = smtp.mail("sender@client.lab")
    assert code == 250, reply
    code, reply = smtp.rcpt(lab.user)
    assert code == 250, reply

    imap = imaplib.IMAP4(lab.vip, lab.imap_port, timeout=10)
    typ, data = imap.login(lab.user, lab.password)
    assert typ == "OK", data
    typ, data = imap.select("INBOX")
    assert typ == "OK", data

    t0 = time.monotonic()
    lab.exec(node, "pcs", "resource", "move", "hapost", target,
             timeout=120)
    smtp_data, smtp_error = read_until_eof(smtp.sock, 30)
    imap_data, imap_error = read_until_eof(imap.sock, 30)
    smtp.sock.close()
    imap.sock.close()
    assert smtp_error is None, (smtp_error, smtp_data)
    assert smtp_data.startswith(b"421 "), smtp_data
    assert imap_error is None, (imap_error, imap_data)
    assert imap_data.startswith(b"* BYE "), imap_data

    lab.wait_serving(not_on=node)
    elapsed = time.monotonic() - t0
    lab.exec(target, "pcs", "resource", "clear", "hapost")
    TIMINGS.append(f"pcs resource move {node} -> {target} with an SMTP "
                   f"transaction and an IMAP session open: serving after "
                   f"{elapsed:.2f}s")
    assert lab.group_node() == target
    lab.check_exactly_once(before, before, tag)

    # The interrupted transaction was never accepted; a new one is.
    after = lab.send(tag + "a", 1)
    lab.check_exactly_once(after, after, tag + "a")
    wait_until(lambda: lab.serving_node() == target, 30,
               f"the group to stay on {target} after clear")
