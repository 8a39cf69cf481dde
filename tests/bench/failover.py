"""Failover benchmark on the two-node lab (deploy/lab).

It brings the lab up, then measures, from the lab's client namespace
against the VIP:

- node kill: the active node is powered off (deploy/lab fail); the time
  from the power-off until SMTP sends 220 and IMAP sends "* OK" at the
  VIP, each separately. The killed node is powered on again (deploy/lab
  recover) before the next kill, which hits the node now active.
- planned move: "crm_resource --move" and "pcs resource move" run on the
  active node; the time from the command's start until the VIP is on the
  target node and both SMTP and IMAP greet there. Each move is cleared
  ("--clear", "pcs resource clear") before the next, which goes back.

The lab is taken down at the end, also after a failure. It refuses to
start while another lab is up.

Environment:
    BENCH_FAILOVER_KILLS   node kills [5; 3 with BENCH_QUICK=1]
    BENCH_FAILOVER_MOVES   planned moves per tool [3; 1 with BENCH_QUICK=1]
    LAB_DIR, LAB_TOKEN_MS  as for deploy/lab
"""

import ctypes
import os
import socket
import statistics
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
LAB = os.path.join(TOP, "deploy", "lab")
NODES = ("node1", "node2")
CLONE_NEWNET = 0x40000000

QUICK = os.environ.get("BENCH_QUICK") == "1"
KILLS = int(os.environ.get("BENCH_FAILOVER_KILLS", 3 if QUICK else 5))
MOVES = int(os.environ.get("BENCH_FAILOVER_MOVES", 1 if QUICK else 3))
# Seconds a single failover or move may take before it counts as failed.
MEASURE_TIMEOUT = 60.0
POLL_INTERVAL = 0.02

# Reference figures: a dummy service (socat under ocf:heartbeat:anything)
# grouped with an ocf:heartbeat:IPaddr2 VIP in a lab of this design on a
# 2-core Debian 12 machine (corosync 3.1.7, pacemaker 2.1.5, token
# 1000 ms). A client got a TCP answer from the survivor a median of about
# 2.6 s after a node power-off, and about 0.6 s after a planned move
# command started.
REF_KILL = 2.6
REF_MOVE = 0.6
TARGET_KILL = 3.0
TARGET_MOVE = 2.0


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] failover: {text}", flush=True)


def lab(*args, timeout=300, check=True):
    proc = subprocess.run([LAB, *args], capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"deploy/lab {' '.join(args)} exited with "
                           f"{proc.returncode}: {proc.stderr[-1500:]}")
    return proc


def lab_env():
    return dict(line.split("=", 1) for line in lab("env").stdout.split())


def lab_is_up():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True,
                         text=True).stdout
    return any(line.split()[0] == "lab-switch"
               for line in out.splitlines() if line.strip())


def vip_node(vip):
    """Return the node whose network namespace has the VIP, or None."""
    for node in NODES:
        out = subprocess.run(["ip", "-n", "lab-" + node, "-o", "addr",
                              "show"], capture_output=True, text=True)
        if out.returncode == 0 and f" {vip}/" in out.stdout:
            return node
    return None


def other(node):
    return NODES[1] if node == NODES[0] else NODES[0]


def enter_client_namespace():
    """Move the calling thread into the lab's client network namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/lab-client", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns(lab-client) failed: "
                          + os.strerror(err))
    finally:
        os.close(fd)


def greets(host, port, prefix, timeout=0.5):
    """True when host:port sends a first line starting with prefix."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            data = b""
            while b"\n" not in data:
                chunk = s.recv(512)
                if not chunk:
                    break
                data += chunk
            return data.startswith(prefix)
    except OSError:
        return False


class Prober(threading.Thread):
    """Polls one greeting at the VIP from the client namespace until it
    arrives; answered is then its time.monotonic() and ready, if given,
    must return True first (for example: the VIP is on the target)."""

    def __init__(self, vip, port, prefix, ready=None):
        super().__init__(daemon=True)
        self.vip = vip
        self.port = port
        self.prefix = prefix
        self.ready = ready
        self.answered = None
        self.error = None

    def run(self):
        try:
            enter_client_namespace()
            deadline = time.monotonic() + MEASURE_TIMEOUT
            while time.monotonic() < deadline:
                if (self.ready is None or self.ready()) and \
                        greets(self.vip, self.port, self.prefix):
                    self.answered = time.monotonic()
                    return
                time.sleep(POLL_INTERVAL)
        except Exception as e:  # reported by the caller
            self.error = f"{type(e).__name__}: {e}"


def probe_pair(env, ready=None):
    probes = (Prober(env["VIP"], int(env["SMTP_PORT"]), b"220", ready),
              Prober(env["VIP"], int(env["IMAP_PORT"]), b"* OK", ready))
    for p in probes:
        p.start()
    return probes


def join_pair(probes, what):
    for p in probes:
        p.join(MEASURE_TIMEOUT + 5)
        if p.error:
            raise RuntimeError(f"{what}: probe failed: {p.error}")
        if p.answered is None:
            raise RuntimeError(f"{what}: no greeting on port {p.port} "
                               f"within {MEASURE_TIMEOUT:.0f}s")
    return probes[0].answered, probes[1].answered


def wait_serving(env, not_on=None, timeout=MEASURE_TIMEOUT):
    """Wait until the VIP is on a node other than not_on and both
    greetings arrive; return that node."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        node = vip_node(env["VIP"])
        if node and node != not_on:
            probes = probe_pair(env)
            join_pair(probes, "serving check")
            return node
        time.sleep(0.2)
    raise RuntimeError("the VIP did not come up within "
                       f"{timeout:.0f}s")


def measure_kill(env, n):
    node = wait_serving(env)
    t0 = time.monotonic()
    lab("fail", node)
    smtp, imap = join_pair(probe_pair(env), f"kill {n} of {node}")
    survivor = wait_serving(env, not_on=node)
    log(f"kill {n}: power-off of {node}: SMTP 220 after {smtp - t0:.2f}s, "
        f"IMAP greeting after {imap - t0:.2f}s, on {survivor}")
    lab("recover", node)
    return smtp - t0, imap - t0


def measure_move(env, tool, n):
    node = wait_serving(env)
    target = other(node)
    if tool == "crm_resource":
        move = ["crm_resource", "--move", "-r", "hapost", "-N", target]
        clear = ["crm_resource", "--clear", "-r", "hapost"]
    else:
        move = ["pcs", "resource", "move", "hapost", target]
        clear = ["pcs", "resource", "clear", "hapost"]
    t0 = time.monotonic()
    probes = probe_pair(env, lambda: vip_node(env["VIP"]) == target)
    lab("exec", node, *move)
    smtp, imap = join_pair(probes, f"{tool} move {n} to {target}")
    lab("exec", target, *clear)
    wait_serving(env)
    seconds = max(smtp, imap) - t0
    log(f"{tool} move {n}: {node} -> {target}: SMTP and IMAP greet after "
        f"{seconds:.2f}s")
    return seconds


def bench_failover(results):
    if lab_is_up():
        raise RuntimeError("a lab is already up; take it down with "
                           "deploy/lab down first")
    build = os.environ.get("top_builddir") or \
        os.environ.get("HAPOST_BUILDDIR")
    env_vars = dict(os.environ)
    if build:
        env_vars["BUILDDIR"] = os.path.abspath(build)
    log("deploy/lab up")
    proc = subprocess.run([LAB, "up"], capture_output=True, text=True,
                          env=env_vars, timeout=600)
    try:
        if proc.returncode != 0:
            raise RuntimeError(f"deploy/lab up failed: "
                               f"{proc.stderr[-1500:]}")
        env = lab_env()
        run_failover(results, env)
    finally:
        log("deploy/lab down")
        lab("down", check=False)


def run_failover(results, env):
    token = os.environ.get("LAB_TOKEN_MS", "1000")
    kills = [measure_kill(env, n) for n in range(1, KILLS + 1)]
    smtp = [k[0] for k in kills]
    imap = [k[1] for k in kills]
    for name, values in (("SMTP 220", smtp), ("IMAP greeting", imap)):
        log(f"kill: {name}: median {statistics.median(values):.2f}s, "
            f"min {min(values):.2f}s, max {max(values):.2f}s")
        results.add(f"Node kill -> {name} at the VIP, median of "
                    f"{len(values)} (token {token} ms), s",
                    statistics.median(values), REF_KILL, "(dummy service)",
                    higher_is_better=False,
                    target=f"<= {TARGET_KILL:.0f} s", goal=TARGET_KILL,
                    absolute=True, unit="s")
    for tool in ("crm_resource", "pcs"):
        times = [measure_move(env, tool, n) for n in range(1, MOVES + 1)]
        command = "crm_resource --move" if tool == "crm_resource" else \
            "pcs resource move"
        log(f"{command}: median {statistics.median(times):.2f}s, "
            f"min {min(times):.2f}s, max {max(times):.2f}s")
        results.add(f"Planned move, {command} -> SMTP and IMAP greet at "
                    f"the VIP, median of {len(times)}, s",
                    statistics.median(times), REF_MOVE, "(dummy service)",
                    higher_is_better=False,
                    target=f"<= {TARGET_MOVE:.0f} s", goal=TARGET_MOVE,
                    absolute=True, unit="s")
    results.commands.append("failover: deploy/lab up; deploy/lab fail NODE "
                            "and deploy/lab recover NODE per kill; "
                            "crm_resource --move -r hapost -N NODE and "
                            "pcs resource move hapost NODE per move")
