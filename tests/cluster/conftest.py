"""Helpers for the cluster tests, which run against a lab from deploy/lab.

tests/cluster/run brings the lab up before pytest and takes it down after.
At import this module moves the test process into the lab's client network
namespace (lab-client), so every socket the tests open reaches the VIP
the way an outside client would. deploy/lab commands still work from there
because they name their namespaces explicitly.

Fixtures:
    lab     the Lab object: deploy/lab env values, commands, mail helpers

The tests under replicated/ need a lab from "deploy/lab up --replicated";
the others need the shared storage lab. Each kind is skipped on the
other kind of lab (pytest_collection_modifyitems).

In shared storage mode only the active node runs hapostd, so nothing on
the standby sends heartbeats. To test the cluster process's peer code
across the two nodes, Lab.start_standin() runs a second hapostd on a
node with node-private data and run directories (under /run, a tmpfs of
that node), listeners on loopback ports and the lab's cluster_group. It
must be stopped before the group moves to that node.
"""

import ctypes
import imaplib
import json
import os
import poplib
import re
import smtplib
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from email.message import EmailMessage
from xml.etree import ElementTree

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LAB = os.path.join(TOP, "deploy", "lab")
LAB_DIR = os.environ.get("LAB_DIR", "/tmp/hapost-lab")
NODES = ("node1", "node2")
CLONE_NEWNET = 0x40000000

# The stand-in hapostd that Lab.start_standin() runs on a standby node.
STANDIN_DIR = "/run/hapost-standin"
STANDIN_CONF = STANDIN_DIR + "/hapost.conf"
STANDIN_SCRIPT = r"""
set -e
d=$1
mkdir -p "$d/data" "$d/run"
chown hapost:hapost "$d/data" "$d/run"
cat >"$d/hapost.conf" <<CONF
data_dir = $d/data
run_dir = $d/run
user = hapost
hostname = standin.example.test
smtp_listen = 127.0.0.1:2525
submission_listen = 127.0.0.1:2587
pop3_listen = 127.0.0.1:2110
imap_listen = 127.0.0.1:2143
CONF
setsid hapostd -c "$d/hapost.conf" -f </dev/null \
    >>/var/log/hapost/standin.log 2>&1 &
"""

# Timings measured by the tests, printed in the terminal summary.
TIMINGS = []


def enter_client_namespace():
    path = "/run/netns/lab-client"
    if not os.path.exists(path):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns(lab-client) failed: " + os.strerror(err))
    finally:
        os.close(fd)
    return True


IN_CLIENT_NAMESPACE = enter_client_namespace()


def lab_mode():
    """Return the storage mode of the lab that is up: "shared" or
    "replicated" (deploy/lab keeps it in LAB_DIR/state/mode)."""
    try:
        with open(os.path.join(LAB_DIR, "state", "mode")) as f:
            return f.read().strip() or "shared"
    except FileNotFoundError:
        return "shared"


def pytest_collection_modifyitems(config, items):
    mode = lab_mode()
    for item in items:
        replicated = os.path.basename(os.path.dirname(str(item.fspath))) \
            == "replicated"
        if replicated and mode != "replicated":
            item.add_marker(pytest.mark.skip(
                reason="needs the replicated lab (deploy/lab up "
                       "--replicated)"))
        elif not replicated and mode == "replicated":
            item.add_marker(pytest.mark.skip(
                reason="needs the shared storage lab (deploy/lab up)"))


def pytest_terminal_summary(terminalreporter):
    if not TIMINGS:
        return
    terminalreporter.section("cluster timings")
    for line in TIMINGS:
        terminalreporter.write_line(line)


def wait_until(predicate, timeout, what, interval=0.2):
    """Poll predicate until it returns a true value; fail after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def greeting(host, port, timeout=1.0):
    """Return the first line a server sends on connect, or None."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            data = b""
            while b"\n" not in data:
                chunk = s.recv(512)
                if not chunk:
                    break
                data += chunk
            return data.split(b"\r\n")[0].decode("ascii", "replace")
    except OSError:
        return None


class Streamer(threading.Thread):
    """Sends numbered messages over SMTP until stopped, reconnecting after
    errors. acked lists the Message-IDs that got a 250, tried every
    Message-ID sent."""

    def __init__(self, lab, tag, pause=0.02):
        super().__init__(daemon=True)
        self.lab = lab
        self.tag = tag
        self.pause = pause
        self.acked = []
        self.tried = []
        self.errors = 0
        self.stopping = threading.Event()

    def run(self):
        n = 0
        smtp = None
        while not self.stopping.is_set():
            try:
                if smtp is None:
                    smtp = smtplib.SMTP(self.lab.vip, self.lab.smtp_port,
                                        timeout=5)
                    smtp.ehlo("client.lab")
                n += 1
                msg_id = self.lab.message_id(self.tag, n)
                self.tried.append(msg_id)
                smtp.send_message(self.lab.message(msg_id))
                self.acked.append(msg_id)
            except (OSError, smtplib.SMTPException):
                self.errors += 1
                if smtp is not None:
                    try:
                        smtp.close()
                    except OSError:
                        pass
                smtp = None
                time.sleep(0.05)
                continue
            time.sleep(self.pause)
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass

    def stop(self):
        self.stopping.set()
        self.join(30)
        assert not self.is_alive(), "the SMTP streaming client hung"


class Lab:
    def __init__(self, env):
        self.env = env
        self.vip = env["VIP"]
        self.smtp_port = int(env["SMTP_PORT"])
        self.submission_port = int(env["SUBMISSION_PORT"])
        self.pop3_port = int(env["POP3_PORT"])
        self.imap_port = int(env["IMAP_PORT"])
        self.user = env["TEST_USER"]
        self.password = env["TEST_PASS"]
        self.mode = env.get("STORAGE_MODE", "shared")

    # --- deploy/lab -----------------------------------------------------

    def run(self, *args, check=True, timeout=300):
        """Run deploy/lab ARGS; return the CompletedProcess."""
        proc = subprocess.run([LAB, *args], capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            pytest.fail(f"deploy/lab {' '.join(args)} exited with "
                        f"{proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def exec(self, node, *cmd, check=True, timeout=120):
        return self.run("exec", node, *cmd, check=check, timeout=timeout)

    def running_nodes(self):
        return [n for n in NODES
                if os.path.exists(os.path.join(LAB_DIR, "state", n + ".init"))
                and self.exec(n, "true", check=False).returncode == 0]

    def group_node(self):
        """Return the node where the whole hapost group is started, or
        None while it is not started on one node. In replicated mode:
        the node where the clone is Promoted and the VIP started."""
        if self.mode == "replicated":
            return self.promoted_node()
        for node in self.running_nodes():
            out = self.exec(node, "crm_mon", "-1", "--output-as=xml",
                            check=False).stdout
            group = re.search(r'<group id="hapost".*?</group>', out, re.S)
            if not group:
                return None
            body = group.group(0)
            resources = re.findall(r"<resource id=[^>]*>", body)
            started = [r for r in resources
                       if 'role="Started"' in r and 'failed="false"' in r]
            where = set(re.findall(r'<node name="([^"]+)"', body))
            if len(resources) == 3 and len(started) == 3 and len(where) == 1:
                return where.pop()
            return None
        return None

    def crm_mon_xml(self):
        """Return crm_mon's XML from the first running node, or None."""
        for node in self.running_nodes():
            proc = self.exec(node, "crm_mon", "-1", "--output-as=xml",
                             check=False)
            if proc.returncode == 0:
                return proc.stdout
        return None

    def promoted_nodes(self, xml=None):
        """Return the nodes where an instance of the clone hapost is
        Promoted, without failure, from crm_mon's XML."""
        xml = xml or self.crm_mon_xml()
        if xml is None:
            return []
        root = ElementTree.fromstring(xml)
        nodes = []
        for res in root.iterfind(".//clone[@id='hapost']/resource"):
            if res.get("role") in ("Promoted", "Master") and \
                    res.get("failed") == "false":
                nodes += [n.get("name") for n in res.iter("node")]
        return nodes

    def promoted_node(self):
        """Return the node where the clone hapost is Promoted and the VIP
        started, or None."""
        xml = self.crm_mon_xml()
        if xml is None:
            return None
        promoted = self.promoted_nodes(xml)
        root = ElementTree.fromstring(xml)
        ip_nodes = [n.get("name")
                    for res in root.iterfind(".//resource[@id='hapost-ip']")
                    if res.get("role") == "Started"
                    and res.get("failed") == "false"
                    for n in res.iter("node")]
        if len(promoted) == 1 and ip_nodes == promoted:
            return promoted[0]
        return None

    def data_dir(self, node=None):
        """Return the data_dir of node as the machine sees it: the shared
        directory, or in replicated mode LAB_DIR/NODE/data (node None:
        the active node's)."""
        if self.mode != "replicated":
            return os.path.join(LAB_DIR, "shared")
        node = node or self.group_node()
        if node is None:
            pytest.fail("no node is active")
        return os.path.join(LAB_DIR, node, "data")

    def serving_node(self):
        """Return the group's node once SMTP, POP3 and IMAP send their
        greetings at the VIP, else None."""
        node = self.group_node()
        if node is None:
            return None
        if not (greeting(self.vip, self.smtp_port) or "").startswith("220"):
            return None
        if not (greeting(self.vip, self.pop3_port) or "").startswith("+OK"):
            return None
        if not (greeting(self.vip, self.imap_port) or "").startswith("* OK"):
            return None
        return node

    def wait_serving(self, timeout=90, not_on=None):
        def ready():
            node = self.serving_node()
            return node if node and node != not_on else None
        where = "" if not_on is None else f" on a node other than {not_on}"
        return wait_until(ready, timeout,
                          f"the hapost group to serve at the VIP{where}")

    def status(self, node, config=None):
        """Run "hapostctl status --json" on node; return (exit status,
        the parsed report or None, stderr)."""
        cmd = ["hapostctl"]
        if config:
            cmd += ["-c", config]
        proc = self.exec(node, *cmd, "status", "--json", check=False)
        report = json.loads(proc.stdout) if proc.stdout.strip() else None
        return proc.returncode, report, proc.stderr

    def start_standin(self, node):
        """Start the stand-in hapostd on node and wait until it reports
        itself healthy and joined to the CPG group."""
        self.exec(node, "sh", "-c", STANDIN_SCRIPT, "standin", STANDIN_DIR)

        def healthy():
            rc, report, _ = self.status(node, STANDIN_CONF)
            return rc == 0 and report["cluster"]["connected"]
        wait_until(healthy, 30, f"the stand-in hapostd on {node}")

    def stop_standin(self, node):
        """Stop the stand-in hapostd on node, if it runs, and wait until
        its master exited."""
        pidfile = STANDIN_DIR + "/run/hapostd.pid"
        script = (f"pid=$(cat {pidfile} 2>/dev/null) || exit 0; "
                  'kill -TERM "$pid" 2>/dev/null || exit 0; '
                  'for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || '
                  "exit 0; sleep 0.1; done; exit 1")
        if node in self.running_nodes():
            self.exec(node, "sh", "-c", script)

    def master_pid(self, node):
        out = self.exec(node, "cat", "/run/hapost/hapostd.pid",
                        check=False).stdout.strip()
        return int(out) if out.isdigit() else None

    # --- mail -----------------------------------------------------------

    @staticmethod
    def new_tag():
        return uuid.uuid4().hex[:12]

    @staticmethod
    def message_id(tag, n):
        return f"<{tag}.{n}@client.lab>"

    def message(self, msg_id):
        msg = EmailMessage()
        msg["From"] = "sender@client.lab"
        msg["To"] = self.user
        msg["Subject"] = "cluster test " + msg_id
        msg["Message-ID"] = msg_id
        msg.set_content("Body of " + msg_id + "\n")
        return msg

    def send(self, tag, count):
        """Send count messages in one SMTP session; return their ids."""
        ids = []
        with smtplib.SMTP(self.vip, self.smtp_port, timeout=10) as smtp:
            for n in range(1, count + 1):
                msg_id = self.message_id(tag, n)
                smtp.send_message(self.message(msg_id))
                ids.append(msg_id)
        return ids

    def imap_message_ids(self):
        """Return a Counter of the Message-IDs in INBOX, read over IMAP."""
        imap = imaplib.IMAP4(self.vip, self.imap_port, timeout=20)
        try:
            imap.login(self.user, self.password)
            typ, data = imap.select("INBOX", readonly=True)
            assert typ == "OK", data
            if int(data[0]) == 0:
                return Counter()
            typ, data = imap.fetch(
                "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            assert typ == "OK", data
            ids = Counter()
            for item in data:
                if isinstance(item, tuple):
                    m = re.search(rb"Message-ID:\s*(<[^>]+>)", item[1], re.I)
                    if m:
                        ids[m.group(1).decode()] += 1
            return ids
        finally:
            try:
                imap.logout()
            except (OSError, imaplib.IMAP4.error):
                pass

    def pop3_message_ids(self):
        """Return a Counter of the Message-IDs in the maildrop, over POP3."""
        pop = poplib.POP3(self.vip, self.pop3_port, timeout=20)
        try:
            pop.user(self.user)
            pop.pass_(self.password)
            count, _ = pop.stat()
            ids = Counter()
            for i in range(1, count + 1):
                _, lines, _ = pop.retr(i)
                for line in lines:
                    if not line:
                        break
                    m = re.match(rb"Message-ID:\s*(<[^>]+>)", line, re.I)
                    if m:
                        ids[m.group(1).decode()] += 1
            return ids
        finally:
            pop.quit()

    def queue_empty(self):
        """True when the active node's queue holds no message."""
        node = None
        if self.mode == "replicated":
            node = self.group_node()
            if node is None:
                return False
        qdir = os.path.join(self.data_dir(node), "queue", "messages")
        return not os.listdir(qdir)

    def wait_delivered(self, ids, timeout=90):
        """Wait until every id is in INBOX and the queue is empty; return
        the INBOX Counter."""
        want = set(ids)

        def delivered():
            try:
                seen = self.imap_message_ids()
            except (OSError, imaplib.IMAP4.error):
                return None
            if want - set(seen) or not self.queue_empty():
                return None
            return seen
        return wait_until(delivered, timeout,
                          f"{len(want)} messages to be delivered", 0.5)

    def check_exactly_once(self, acked, tried, tag):
        """Assert every acked message is in INBOX once and no message of
        this tag is there twice."""
        seen = self.wait_delivered(acked)
        ours = {k: v for k, v in seen.items() if f"<{tag}." in k}
        missing = [i for i in acked if seen[i] == 0]
        assert not missing, f"acknowledged but lost: {missing}"
        doubled = sorted(k for k, v in ours.items() if v > 1)
        assert not doubled, f"delivered more than once: {doubled}"
        unknown = set(ours) - set(tried)
        assert not unknown, f"never sent but present: {unknown}"
        return ours


@pytest.fixture(scope="session")
def lab():
    if not IN_CLIENT_NAMESPACE:
        pytest.fail("the lab is not up: run tests/cluster/run, or "
                    "deploy/lab up first")
    proc = subprocess.run([LAB, "env"], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail("deploy/lab env failed: " + proc.stderr)
    env = dict(line.split("=", 1) for line in proc.stdout.split())
    the_lab = Lab(env)
    the_lab.wait_serving()
    return the_lab
