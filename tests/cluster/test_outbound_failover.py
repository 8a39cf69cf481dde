"""Outbound mail deferred before a failover is retried by the new active
node, once.

The test process runs in the lab's client namespace (conftest.py), so the
remote side runs there too, on the client's address. A test DNS server
(tests/proto/dnsserver.py) gives the domain outbound.test an MX host on
that address. Receiver, an SMTP server there, replies 451 to the end of
data until the test lets it accept. The test appends
dns_servers and smtp_client_port to both nodes' hapost.conf (the files
deploy/lab wrote, bind-mounted in the nodes), reloads the active node,
and puts the files back at the end.

Then it submits mail through the VIP with AUTH, waits until every
message was deferred by the 451, powers the active node off, flushes the
queue on the new active node and checks that the receiver accepted each
message exactly once, from the new active node.
"""

import os
import re
import smtplib
import socket
import sys
import threading
import time
from email.message import EmailMessage

import pytest

from conftest import LAB_DIR, NODES, TIMINGS, TOP, wait_until

sys.path.insert(0, os.path.join(TOP, "tests", "proto"))
from dnsserver import DNSServer  # noqa: E402

# The client namespace's address (deploy/lab), which both nodes reach.
CLIENT_ADDR = "192.0.2.50"
NODE_ADDR = {"node1": "192.0.2.11", "node2": "192.0.2.12"}
DOMAIN = "outbound.test"
MESSAGES = 3


def other(node):
    return NODES[1] if node == NODES[0] else NODES[0]


class Receiver:
    """An SMTP server on CLIENT_ADDR that defers with 451 at the end of
    data until accept is set, then accepts and records each message.

    deferred and accepted list (peer address, Message-ID) pairs.
    """

    def __init__(self):
        self.accept = threading.Event()
        self.lock = threading.Lock()
        self.deferred = []
        self.accepted = []
        self.stopped = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((CLIENT_ADDR, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept_loop,
                                       daemon=True)
        self.thread.start()

    def _accept_loop(self):
        while not self.stopped.is_set():
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, peer[0]),
                             daemon=True).start()

    def _serve(self, conn, peer):
        conn.settimeout(60)
        try:
            self._dialogue(conn, peer)
        except OSError:
            pass
        finally:
            conn.close()

    def _dialogue(self, conn, peer):
        reader = conn.makefile("rb")
        conn.sendall(b"220 mx.outbound.test ESMTP test receiver\r\n")
        while True:
            line = reader.readline(4096)
            if not line:
                return
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"EHLO":
                conn.sendall(b"250-mx.outbound.test\r\n250 8BITMIME\r\n")
            elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                conn.sendall(b"250 2.0.0 Ok\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                body = b""
                while True:
                    data = reader.readline(1 << 20)
                    if not data:
                        return
                    if data == b".\r\n":
                        break
                    body += data
                m = re.search(rb"^Message-ID:\s*(<[^>]+>)", body,
                              re.M | re.I)
                msg_id = m.group(1).decode() if m else None
                with self.lock:
                    if self.accept.is_set():
                        self.accepted.append((peer, msg_id))
                        reply = b"250 2.0.0 Ok: queued\r\n"
                    else:
                        self.deferred.append((peer, msg_id))
                        reply = b"451 4.3.0 Try again later\r\n"
                conn.sendall(reply)
            elif verb == b"QUIT":
                conn.sendall(b"221 2.0.0 Bye\r\n")
                return
            else:
                conn.sendall(b"502 5.5.1 Not implemented\r\n")

    def ids(self, which):
        with self.lock:
            return [msg_id for _, msg_id in getattr(self, which)]

    def peers(self, which):
        with self.lock:
            return {peer for peer, _ in getattr(self, which)}

    def stop(self):
        self.stopped.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def conf_path(node):
    return os.path.join(LAB_DIR, node, "etc-hapost", "hapost.conf")


def log_path(node):
    return os.path.join(LAB_DIR, node, "var-log", "hapost", "hapostd.log")


def log_count(node, text):
    try:
        with open(log_path(node), errors="replace") as f:
            return f.read().count(text)
    except FileNotFoundError:
        return 0


def reload_node(lab, node):
    """Sends SIGHUP to hapostd on node and waits for its new queue
    manager, which reads the outbound settings."""
    before = log_count(node, "queue manager started")
    pid = lab.master_pid(node)
    assert pid, f"no hapostd pid file on {node}"
    lab.exec(node, "kill", "-HUP", str(pid))
    wait_until(lambda: log_count(node, "queue manager started") > before,
               30, f"the reloaded queue manager on {node}")


@pytest.fixture
def outbound(lab):
    """The DNS server and Receiver, and the nodes configured for them."""
    receiver = Receiver()
    dns = DNSServer({
        DOMAIN: {"MX": [(10, "mx." + DOMAIN)]},
        "mx." + DOMAIN: {"A": [CLIENT_ADDR]},
    }, host=CLIENT_ADDR).start()
    originals = {}
    for node in NODES:
        with open(conf_path(node)) as f:
            originals[node] = f.read()
        with open(conf_path(node), "a") as f:
            f.write("# Added by tests/cluster/test_outbound_failover.py.\n"
                    f"dns_servers = {dns.servers}\n"
                    f"smtp_client_port = {receiver.port}\n")
    try:
        reload_node(lab, lab.wait_serving())
        yield receiver
    finally:
        for node, text in originals.items():
            with open(conf_path(node), "w") as f:
                f.write(text)
        # The next tests expect both nodes online.
        running = lab.running_nodes()
        for node in NODES:
            if node not in running:
                lab.run("recover", node, check=False)
        reload_node(lab, lab.wait_serving())
        dns.stop()
        receiver.stop()


def submit(lab, msg_id, rcpt):
    """Submits one message to rcpt through the VIP, logged in."""
    msg = EmailMessage()
    msg["From"] = lab.user
    msg["To"] = rcpt
    msg["Subject"] = "outbound failover " + msg_id
    msg["Message-ID"] = msg_id
    msg.set_content("Body of " + msg_id + "\n")
    with smtplib.SMTP(lab.vip, lab.submission_port, timeout=20) as smtp:
        smtp.login(lab.user, lab.password)
        refused = smtp.send_message(msg)
    assert refused == {}


def test_deferred_mail_retried_once_after_failover(lab, outbound):
    node = lab.wait_serving()
    survivor = other(node)
    tag = lab.new_tag()
    ids = [lab.message_id(tag, n) for n in range(1, MESSAGES + 1)]
    for n, msg_id in enumerate(ids, 1):
        submit(lab, msg_id, f"rcpt{n}@{DOMAIN}")

    # Each message reaches the receiver once and is deferred by its 451.
    wait_until(lambda: set(ids) <= set(outbound.ids("deferred")), 60,
               "the first attempts, deferred with 451")
    assert outbound.ids("accepted") == []
    assert outbound.peers("deferred") <= {NODE_ADDR[node], lab.vip}
    listing = lab.exec(node, "hapostctl", "queue", "list").stdout
    for n in range(1, MESSAGES + 1):
        assert f"rcpt{n}@{DOMAIN}" in listing, listing
    assert "451" in listing, listing

    outbound.accept.set()
    t0 = time.monotonic()
    lab.run("fail", node)
    assert lab.wait_serving(not_on=node) == survivor
    failover = time.monotonic() - t0
    lab.exec(survivor, "hapostctl", "queue", "flush")
    wait_until(lambda: set(ids) <= set(outbound.ids("accepted")), 60,
               "the retries from the new active node")
    wait_until(lab.queue_empty, 60, "an empty queue on the new active node")
    retried = time.monotonic() - t0

    # A second flush finds nothing left to send.
    lab.exec(survivor, "hapostctl", "queue", "flush")
    time.sleep(2)
    accepted = outbound.ids("accepted")
    for msg_id in ids:
        assert accepted.count(msg_id) == 1, \
            f"{msg_id} accepted {accepted.count(msg_id)} times"
    assert len(accepted) == len(ids), accepted
    assert NODE_ADDR[node] not in outbound.peers("accepted")
    TIMINGS.append(f"outbound failover: {MESSAGES} deferred messages; "
                   f"power-off of {node} -> serving on {survivor} after "
                   f"{failover:.2f}s, all retried once after "
                   f"{retried:.2f}s")

    lab.run("recover", node)
    assert lab.wait_serving() == survivor
