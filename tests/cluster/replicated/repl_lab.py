"""Helpers of the replicated-mode cluster tests (deploy/lab up --replicated).

In this lab each node keeps its own data_dir, LAB_DIR/NODE/data, which
the tests read from the machine's side to compare the two nodes. hapostd
runs on both nodes as the promotable clone "hapost"; "hapostctl status
--json" on a node has the top-level role (active or standby) and the
"replication" object (state, connected, lag_changes, generation,
complete, promotable, promotion_score, ...).
"""

import hashlib
import imaplib
import os
import random
import re
import stat
import time

import pytest

from conftest import LAB_DIR, NODES, wait_until

# Replication leaves these out of the stream, so the two data_dirs may
# differ there: node-local state and files in the making.
EXCLUDED_TOP = ("generation", "replication")
EXCLUDED_PREFIX = ".cluster-probe."

# The replication link's interface in the nodes of deploy/lab --replicated.
REPL_IFACE = "eth1"


def other(node):
    return NODES[1] if node == NODES[0] else NODES[0]


def report(lab, node):
    """Return node's "hapostctl status --json" report, or None when
    hapostd does not answer or the node is off."""
    if node not in lab.running_nodes():
        return None
    _, rep, _ = lab.status(node)
    return rep


def replication(lab, node):
    """Return the replication object of node's report, or {}."""
    rep = report(lab, node)
    return (rep or {}).get("replication") or {}


def in_sync(lab):
    """Return (active, standby) when the clone is Promoted on one node,
    the VIP answers there and both nodes report in-sync with nothing
    unacknowledged; else None."""
    active = lab.serving_node()
    if active is None:
        return None
    standby = other(active)
    a = report(lab, active)
    s = report(lab, standby)
    if not a or not s:
        return None
    ra = a.get("replication") or {}
    rs = s.get("replication") or {}
    if a.get("role") != "active" or s.get("role") != "standby":
        return None
    if ra.get("state") != "in-sync" or rs.get("state") != "in-sync":
        return None
    if ra.get("lag_changes") != 0:
        return None
    return active, standby


def wait_in_sync(lab, timeout=120):
    return wait_until(lambda: in_sync(lab), timeout,
                      "both nodes to be in sync with one of them active")


def promotion_score(lab, node, on=None):
    """Return the promotion score node attribute of node, or None when it
    is not set. on names the node that runs the query (default: any
    running node)."""
    on = on or lab.running_nodes()[0]
    proc = lab.exec(on, "crm_attribute", "--node", node, "--name",
                    "master-hapost-mail", "--lifetime", "reboot",
                    "--query", "--quiet", check=False)
    value = proc.stdout.strip()
    if proc.returncode != 0 or not value or value == "(null)":
        return None
    return int(value)


def settle(lab, timeout=120):
    """Wait until Pacemaker has no action pending (crm_resource --wait),
    so that what crm_mon shows is the scheduler's decision."""
    node = lab.running_nodes()[0]
    lab.exec(node, "crm_resource", "--wait", f"--timeout={timeout}s",
             timeout=timeout + 30)


def cleanup_failures(lab):
    """Forget the clone's failures, so that migration-threshold counts
    from zero in the next round."""
    node = lab.running_nodes()[0]
    lab.exec(node, "crm_resource", "--cleanup", "--resource", "hapost")


def kill_hapostd(lab, node):
    """SIGKILL to every hapostd process on node (master, workers, queue
    manager, cluster process, replicator). They were started by
    Pacemaker in the lab node, which this test owns."""
    script = ('for d in /proc/[0-9]*; do '
              'case $(cat "$d/comm" 2>/dev/null) in hapostd*) '
              'kill -KILL "${d#/proc/}" 2>/dev/null;; esac; done')
    lab.exec(node, "sh", "-c", script)


def set_link(lab, node, up):
    """Take the replication link of node down or up (its eth1; corosync
    runs on eth0 and is not touched)."""
    lab.exec(node, "ip", "link", "set", REPL_IFACE, "up" if up else "down")


def limit_link(lab, node, rate=None):
    """Limit what node sends on the replication link to rate (for
    example "2mbit") with a token bucket, or remove the limit."""
    if rate is None:
        lab.exec(node, "tc", "qdisc", "del", "dev", REPL_IFACE, "root",
                 check=False)
    else:
        lab.exec(node, "tc", "qdisc", "replace", "dev", REPL_IFACE, "root",
                 "tbf", "rate", rate, "burst", "16kb", "latency", "1s")


def manifest(node):
    """Return {relative path: (type, mode, size, sha256)} of node's
    data_dir, leaving out what replication leaves out: generation,
    replication/, queue/tmp/, every tmp/ under mail/, and .cluster-probe.*
    files."""
    top = os.path.join(LAB_DIR, node, "data")
    result = {}
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = os.path.relpath(dirpath, top)
        parts = [] if rel_dir == "." else rel_dir.split(os.sep)
        keep = []
        for d in dirnames:
            p = parts + [d]
            if not parts and d in EXCLUDED_TOP:
                continue
            if p == ["queue", "tmp"] or (p[0] == "mail" and d == "tmp"):
                continue
            keep.append(d)
        dirnames[:] = keep
        for d in keep:
            st = os.lstat(os.path.join(dirpath, d))
            result["/".join(parts + [d])] = ("dir", stat.S_IMODE(st.st_mode),
                                             0, "")
        for f in filenames:
            if not parts and f in EXCLUDED_TOP:
                continue
            if f.startswith(EXCLUDED_PREFIX):
                continue
            path = os.path.join(dirpath, f)
            try:
                st = os.lstat(path)
                with open(path, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
            except FileNotFoundError:
                continue
            result["/".join(parts + [f])] = ("file",
                                             stat.S_IMODE(st.st_mode),
                                             st.st_size, digest)
    return result


def manifest_difference(a, b):
    """Return a short text of what differs between two manifests."""
    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    return (f"only on the first: {only_a[:10]} ({len(only_a)}); "
            f"only on the second: {only_b[:10]} ({len(only_b)}); "
            f"different: {[(k, a[k], b[k]) for k in changed[:5]]} "
            f"({len(changed)})")


def wait_same_manifests(lab, timeout=120):
    """Wait until both data_dirs hold the same files with the same
    content and modes; fail with the difference after timeout."""
    last = {}

    def same():
        a, b = manifest(NODES[0]), manifest(NODES[1])
        last["diff"] = manifest_difference(a, b)
        return a == b and len(a) > 0
    deadline = time.monotonic() + timeout
    while not same():
        if time.monotonic() >= deadline:
            pytest.fail(f"the data_dirs of {NODES[0]} and {NODES[1]} still "
                        f"differ after {timeout}s: {last['diff']}")
        time.sleep(1)


class Mailbox:
    """IMAP helpers by Message-ID, through the VIP."""

    def __init__(self, lab):
        self.lab = lab

    def _connect(self, readonly):
        imap = imaplib.IMAP4(self.lab.vip, self.lab.imap_port, timeout=20)
        imap.login(self.lab.user, self.lab.password)
        typ, data = imap.select("INBOX", readonly=readonly)
        assert typ == "OK", data
        return imap, int(data[0])

    @staticmethod
    def _close(imap):
        try:
            imap.logout()
        except (OSError, imaplib.IMAP4.error):
            pass

    def state(self):
        """Return {Message-ID: [flag sets, one per copy]} of INBOX."""
        imap, exists = self._connect(readonly=True)
        try:
            result = {}
            if exists == 0:
                return result
            typ, data = imap.fetch(
                "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            assert typ == "OK", data
            for item in data:
                if not isinstance(item, tuple):
                    continue
                m = re.search(rb"Message-ID:\s*(<[^>]+>)", item[1], re.I)
                f = re.search(rb"FLAGS \(([^)]*)\)", item[0])
                if m:
                    flags = set(f.group(1).decode().split()) if f else set()
                    result.setdefault(m.group(1).decode(), []).append(flags)
            return result
        finally:
            self._close(imap)

    def _uids(self, imap, ids):
        typ, data = imap.uid("FETCH", "1:*",
                             "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        assert typ == "OK", data
        uids = {}
        for item in data:
            if not isinstance(item, tuple):
                continue
            u = re.search(rb"UID (\d+)", item[0])
            m = re.search(rb"Message-ID:\s*(<[^>]+>)", item[1], re.I)
            if u and m and m.group(1).decode() in ids:
                uids[m.group(1).decode()] = u.group(1).decode()
        missing = set(ids) - set(uids)
        assert not missing, f"not in INBOX before the change: {missing}"
        return uids

    def flag(self, ids, flag=r"\Flagged"):
        """Add flag to the messages ids; returns once the server said OK."""
        imap, _ = self._connect(readonly=False)
        try:
            uids = self._uids(imap, ids)
            typ, data = imap.uid("STORE", ",".join(uids.values()),
                                 "+FLAGS.SILENT", f"({flag})")
            assert typ == "OK", data
        finally:
            self._close(imap)

    def expunge(self, ids):
        """Remove the messages ids with \\Deleted and EXPUNGE; returns
        once the server said OK."""
        imap, _ = self._connect(readonly=False)
        try:
            uids = self._uids(imap, ids)
            typ, data = imap.uid("STORE", ",".join(uids.values()),
                                 "+FLAGS.SILENT", r"(\Deleted)")
            assert typ == "OK", data
            typ, data = imap.expunge()
            assert typ == "OK", data
        finally:
            self._close(imap)


class Ledger:
    """What the client was told: every Message-ID that got a 250, those
    it tried, and the IMAP changes acknowledged with OK."""

    def __init__(self):
        self.tags = set()
        self.acked = []
        self.tried = []
        self.flagged = set()
        self.expunged = set()

    def add_stream(self, streamer):
        self.tags.add(streamer.tag)
        self.acked += streamer.acked
        self.tried += streamer.tried

    def add_sent(self, tag, ids):
        """Add messages sent with Lab.send, which all got a 250."""
        self.tags.add(tag)
        self.acked += ids
        self.tried += ids

    def ours(self, msg_id):
        return msg_id[1:].split(".", 1)[0] in self.tags

    def pick_live(self, count, rng=random):
        """Return count acknowledged messages neither expunged nor flagged
        yet."""
        live = [i for i in self.acked
                if i not in self.expunged and i not in self.flagged]
        return rng.sample(live, min(count, len(live)))

    def check(self, lab, where, timeout=120):
        """Assert, over IMAP at the VIP: every acknowledged message that
        was not expunged is there exactly once, an expunged one is not
        there, a flagged one carries \\Flagged, a message that got no
        250 is there at most once, and no other message with one of the
        ledger's tags is there. Returns the INBOX state."""
        want = set(self.acked) - self.expunged
        box = Mailbox(lab)
        last = {}

        def delivered():
            try:
                seen = box.state()
            except (OSError, imaplib.IMAP4.error) as e:
                last["error"] = repr(e)
                return None
            last["seen"] = seen
            if want - set(seen) or not lab.queue_empty():
                return None
            return seen
        seen = wait_until(delivered, timeout,
                          f"{len(want)} acknowledged messages in INBOX on "
                          f"{where}", 0.5)
        ours = {k: v for k, v in seen.items() if self.ours(k)}
        doubled = sorted(k for k, v in ours.items() if len(v) > 1)
        assert not doubled, f"delivered more than once on {where}: {doubled}"
        back = sorted(self.expunged & set(ours))
        assert not back, f"expunged before a kill but back on {where}: {back}"
        unflagged = sorted(i for i in self.flagged
                           if i in ours and r"\Flagged" not in ours[i][0])
        assert not unflagged, \
            f"flagged before a kill but not flagged on {where}: {unflagged}"
        lost_flagged = sorted(self.flagged - set(ours))
        assert not lost_flagged, \
            f"flagged messages missing on {where}: {lost_flagged}"
        unknown = set(ours) - set(self.tried)
        assert not unknown, f"never sent but present on {where}: {unknown}"
        return seen
