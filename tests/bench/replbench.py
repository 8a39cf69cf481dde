"""Replicated-storage benchmarks on the two-node lab
(deploy/lab up --replicated).

replicated  SMTP ingest through the VIP of the replicated lab with the
            smtp-source run of the single-node benchmark, against a
            single hapostd on loopback, a private Postfix on loopback
            (one node, no replication: the target is to deliver at
            least as fast) and the shared storage lab (the same network
            path and cluster, no replication) in the same run: accepted
            and delivered msgs/s. While smtp-source runs, the benchmark reads
            the replication lag (lag_changes, lag_seconds) from the
            active node's "hapostctl status --json" every 0.5 s. The
            table shows its median and maximum, and the time from
            smtp-source's end until both nodes are in sync with no lag.
ledger      tests/cluster/replicated/test_ledger.py with more losses of
            the active node than CI runs: every acknowledged message,
            flag and expunge must survive each one. The figures are the
            number of losses and the median and maximum time until a
            node serves at the VIP again.

Both bring the lab up and take it down at the end, also after a failure,
and refuse to start while another lab is up.

Environment:
    BENCH_REPL_MESSAGES    messages per ingest run [20000; 2000 with
                           BENCH_QUICK=1]
    BENCH_LEDGER_KILLS     losses of the active node [30; 10 with
                           BENCH_QUICK=1]
    LAB_DIR, LAB_TOKEN_MS  as for deploy/lab
"""

import json
import os
import pwd
import re
import statistics
import subprocess
import threading
import time

import failover
import mailgen
import refservers
from conftest import ALICE, Hapost, ensure_service_user

QUICK = os.environ.get("BENCH_QUICK") == "1"
MESSAGES = int(os.environ.get("BENCH_REPL_MESSAGES",
                              2000 if QUICK else 20000))
LEDGER_KILLS = int(os.environ.get("BENCH_LEDGER_KILLS",
                                  10 if QUICK else 30))
SESSIONS = 20
PAYLOAD = 2500
LAB_DIR = os.environ.get("LAB_DIR", "/tmp/hapost-lab")
LAG_POLL_INTERVAL = 0.5


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] replicated: {text}", flush=True)


def lab_up(*args):
    """Run deploy/lab up ARGS with the benchmark's build tree; return the
    lab's env values."""
    if failover.lab_is_up():
        raise RuntimeError("a lab is already up; take it down with "
                           "deploy/lab down first")
    build = os.environ.get("top_builddir") or \
        os.environ.get("HAPOST_BUILDDIR")
    env_vars = dict(os.environ)
    if build:
        env_vars["BUILDDIR"] = os.path.abspath(build)
    command = " ".join(["deploy/lab up", *args])
    log(command)
    proc = subprocess.run([failover.LAB, "up", *args],
                          capture_output=True, text=True, env=env_vars,
                          timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"{command} failed: {proc.stderr[-1500:]}")
    return failover.lab_env()


def status(node):
    """Return node's "hapostctl status --json" report, or None."""
    proc = failover.lab("exec", node, "hapostctl", "status", "--json",
                        check=False)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        return None


def in_sync():
    """Return the active node when both nodes are in sync with no lag,
    else None."""
    reports = {n: status(n) for n in failover.NODES}
    if any(r is None for r in reports.values()):
        return None
    active = [n for n, r in reports.items() if r.get("role") == "active"]
    if len(active) != 1:
        return None
    for r in reports.values():
        repl = r.get("replication") or {}
        if repl.get("state") != "in-sync":
            return None
    if reports[active[0]]["replication"].get("lag_changes") != 0:
        return None
    return active[0]


def wait_in_sync(timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        node = in_sync()
        if node:
            return node
        time.sleep(0.5)
    raise RuntimeError(f"the nodes were not in sync within {timeout:.0f}s")


class LagPoller(threading.Thread):
    """Reads the active node's replication lag until stopped."""

    def __init__(self, node):
        super().__init__(daemon=True)
        self.node = node
        self.changes = []
        self.seconds = []
        self.states = set()
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            rep = status(self.node)
            repl = (rep or {}).get("replication") or {}
            if repl.get("lag_changes") is not None:
                self.changes.append(repl["lag_changes"])
            if repl.get("lag_seconds") is not None:
                self.seconds.append(repl["lag_seconds"])
            if repl.get("state"):
                self.states.add(repl["state"])
            self.stopping.wait(LAG_POLL_INTERVAL)

    def stop(self):
        self.stopping.set()
        self.join(30)


def smtp_source(target, to, messages, netns=None):
    """Run smtp-source against target (host:port); return its wall time
    in seconds and its start (time.monotonic())."""
    command = [refservers.find_program("smtp-source"),
               "-s", str(SESSIONS), "-m", str(messages),
               "-l", str(PAYLOAD), "-f", "bench@bench.test",
               "-t", to, target]
    if netns:
        command = ["ip", "netns", "exec", netns] + command
    start = time.monotonic()
    res = subprocess.run(command, capture_output=True, text=True,
                         timeout=3600)
    seconds = time.monotonic() - start
    if res.returncode != 0:
        raise RuntimeError(f"smtp-source against {target} exited "
                           f"{res.returncode}: {res.stderr[-1000:]}")
    return seconds, start, " ".join(command)


def wait_count(maildir, count, start, timeout):
    """Return the seconds since start when maildir contains count
    messages, or None after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mailgen.count_messages(maildir) >= count:
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def single_node(results, n):
    """smtp-source into one hapostd on loopback, as bench.py's smtp
    benchmark does. Returns (accepted/s, delivered/s)."""
    log(f"single hapostd on loopback, {n} messages")
    hp = Hapost({"sessions_per_ip": max(100, SESSIONS * 2)}).start()
    try:
        accept_s, start, command = smtp_source(f"127.0.0.1:{hp.smtp_port}",
                                               ALICE, n)
        results.commands.append("replicated, single node: " + command)
        deliver_s = wait_count(hp.maildir(ALICE), n, start,
                               max(120, n / 20))
        if deliver_s is None:
            results.errors.append(
                f"replicated: the single hapostd delivered "
                f"{mailgen.count_messages(hp.maildir(ALICE))} of {n}")
    finally:
        hp.cleanup()
    return n / accept_s, (n / deliver_s if deliver_s else None)


def postfix_node(results, n):
    """smtp-source into a private Postfix on loopback (no replication),
    the reference of the target. Returns (accepted/s, delivered/s)."""
    log(f"Postfix on loopback, {n} messages")
    pw = pwd.getpwnam(ensure_service_user())
    postfix = refservers.Postfix(ALICE, pw.pw_uid, pw.pw_gid)
    try:
        postfix.start()
        accept_s, start, command = smtp_source(f"127.0.0.1:{postfix.port}",
                                               ALICE, n)
        results.commands.append("replicated, Postfix: " + command)
        deliver_s = wait_count(postfix.maildir, n, start, max(120, n / 20))
        if deliver_s is None:
            results.errors.append(
                f"replicated: Postfix delivered "
                f"{mailgen.count_messages(postfix.maildir)} of {n}")
    finally:
        postfix.cleanup()
    return n / accept_s, (n / deliver_s if deliver_s else None)


def lab_maildir(env, node):
    """Return the test account's Maildir on node as the machine sees it:
    in the shared directory, or in node's own data_dir."""
    local, domain = env["TEST_USER"].split("@")
    if env.get("STORAGE_MODE") == "replicated":
        top = os.path.join(LAB_DIR, node, "data")
    else:
        top = os.path.join(LAB_DIR, "shared")
    return os.path.join(top, "mail", domain, local)


def lab_ingest(results, n, env, node, name):
    """smtp-source through the lab's VIP from the client namespace into
    the Maildir on node. Returns (accepted/s, delivered/s, the time
    smtp-source ended)."""
    maildir = lab_maildir(env, node)
    before = mailgen.count_messages(maildir)
    log(f"{name}, active {node}: {n} messages through the VIP")
    accept_s, start, command = smtp_source(
        f"{env['VIP']}:{env['SMTP_PORT']}", env["TEST_USER"], n,
        "lab-client")
    ended = time.monotonic()
    results.commands.append(f"{name}, lab VIP from lab-client: {command}")
    deliver_s = wait_count(maildir, before + n, start, max(120, n / 20))
    if deliver_s is None:
        results.errors.append(
            f"{name}: delivered {mailgen.count_messages(maildir) - before} "
            f"of {n}")
    accept = n / accept_s
    deliver = n / deliver_s if deliver_s else None
    log(f"{name}: accepted {accept:.0f}/s, delivered "
        f"{failover_fmt(deliver)}/s")
    return accept, deliver, ended


def bench_replicated(results):
    n = MESSAGES
    single_accept, single_deliver = single_node(results, n)
    log(f"single node: accepted {single_accept:.0f}/s, delivered "
        f"{failover_fmt(single_deliver)}/s")
    postfix_accept, postfix_deliver = postfix_node(results, n)
    log(f"Postfix: accepted {postfix_accept:.0f}/s, delivered "
        f"{failover_fmt(postfix_deliver)}/s")

    # The shared storage lab has the same network path and the same
    # cluster processes, without replication.
    env = lab_up()
    try:
        shared_accept, shared_deliver, _ = lab_ingest(
            results, n, env, failover.vip_node(env["VIP"]), "shared lab")
    finally:
        log("deploy/lab down")
        failover.lab("down", check=False)

    env = lab_up("--replicated")
    try:
        active = wait_in_sync(120)
        poller = LagPoller(active)
        poller.start()
        try:
            accept, deliver, ended = lab_ingest(results, n, env, active,
                                                "replicated lab")
        finally:
            poller.stop()
        wait_in_sync(300)
        synced_after = time.monotonic() - ended
        states = sorted(poller.states)
        if states != ["in-sync"]:
            results.errors.append(f"replicated: the active node left "
                                  f"in-sync under load: {states}")
    finally:
        log("deploy/lab down")
        failover.lab("down", check=False)
    log(f"replicated: lag changes median {median(poller.changes)}, max "
        f"{max(poller.changes, default=None)}; lag seconds max "
        f"{max(poller.seconds, default=None)}; in sync "
        f"{synced_after:.2f}s after smtp-source ended")

    label = f"SMTP {n} msgs x {PAYLOAD} B, {SESSIONS} sessions"
    for kind, value, ref in (("accepted", shared_accept, single_accept),
                             ("delivered", shared_deliver, single_deliver)):
        results.add(f"{label}, shared lab via VIP: {kind} msgs/s", value,
                    ref, "(single node)")
    for kind, value, ref, ref_lab in (
            ("accepted", accept, single_accept, shared_accept),
            ("delivered", deliver, single_deliver, shared_deliver)):
        results.add(f"{label}, replicated lab via VIP: {kind} msgs/s",
                    value, ref, "(single node)")
        results.add(f"{label}, replicated lab via VIP: {kind} msgs/s",
                    value, ref_lab, "(shared lab)")
    results.add(f"{label}, replicated lab via VIP: delivered msgs/s",
                deliver, postfix_deliver, "(Postfix, one node)",
                target=">= 1x Postfix", goal=1.0)
    results.add("Replication lag under load, unacknowledged batches, "
                f"median of {len(poller.changes)} reads",
                median(poller.changes), higher_is_better=False)
    results.add("Replication lag under load, unacknowledged batches, max",
                max(poller.changes, default=None), higher_is_better=False)
    results.add("Replication lag under load, age of the oldest "
                "unacknowledged batch, max, s",
                max(poller.seconds, default=None), higher_is_better=False,
                unit="s")
    results.add("smtp-source end -> both nodes in sync with no lag, s",
                synced_after, higher_is_better=False, unit="s")


def bench_ledger(results):
    lab_up("--replicated")
    try:
        test = os.path.join(failover.TOP, "tests", "cluster", "replicated",
                            "test_ledger.py")
        run_env = dict(os.environ, CLUSTER_LEDGER_KILLS=str(LEDGER_KILLS),
                       LAB_DIR=LAB_DIR)
        command = ["/usr/bin/python3", "-m", "pytest", "-v",
                   "-p", "no:cacheprovider", test]
        log(f"ledger: {LEDGER_KILLS} losses of the active node")
        proc = subprocess.run(command, capture_output=True, text=True,
                              env=run_env, timeout=LEDGER_KILLS * 300 + 600)
        results.commands.append(f"ledger: CLUSTER_LEDGER_KILLS="
                                f"{LEDGER_KILLS} " + " ".join(command))
        rounds = [float(m.group(1)) for m in re.finditer(
            r"ledger round \d+: .* after ([0-9.]+)s;", proc.stdout)]
        for line in proc.stdout.splitlines():
            if line.startswith("ledger"):
                log(line)
        if proc.returncode != 0:
            results.errors.append("ledger: test_ledger.py failed:\n"
                                  + proc.stdout[-3000:])
    finally:
        log("deploy/lab down")
        failover.lab("down", check=False)
    results.add("Ledger: losses of the active node, every acknowledged "
                "message, flag and expunge kept", len(rounds)
                if proc.returncode == 0 else 0)
    results.add("Ledger: loss of the active node -> serving at the VIP, "
                f"median of {len(rounds)}, s", median(rounds),
                higher_is_better=False, unit="s")
    results.add("Ledger: loss of the active node -> serving at the VIP, "
                "max, s", max(rounds, default=None),
                higher_is_better=False, unit="s")


def median(values):
    return statistics.median(values) if values else None


def failover_fmt(value):
    return "-" if value is None else f"{value:.0f}"
