"""Benchmarks of hapost against Postfix and Dovecot on this machine.

Usage: bench.py [smtp] [mailbox] [idle] [failover] [tls] [replicated]
                [ledger]   (default: all but ledger)

    smtp     smtp-source into one local mailbox: accepted and delivered
             msgs/s, hapost against a private Postfix
    mailbox  a 10,000-message Maildir: POP3 RETR of every message and
             IMAP FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE), hapost against
             a private Dovecot
    idle     10,000 logged-in IMAP sessions with INBOX selected: total
             RSS of hapostd's processes before and after
    failover the two-node lab (deploy/lab): node kill to SMTP 220 and
             IMAP greeting at the VIP, and planned moves with
             crm_resource --move and pcs resource move (failover.py)
    tls      full TLS 1.3 and 1.2 handshakes per second on IMAPS, hapost
             against a private Dovecot (tlsbench.py)
    replicated
             the smtp-source run through the VIP of the replicated lab
             (deploy/lab up --replicated) against a single hapostd, and
             the replication lag under that load (replbench.py)
    ledger   repeated losses of the active node in the replicated lab,
             every acknowledged message kept (replbench.py); only when
             named

Environment:
    top_builddir       build tree with hapostd and hapostctl (make bench
                       sets it); HAPOST_BUILDDIR works too
    BENCH_QUICK=1      smaller runs: 2,000 SMTP messages, a 2,000-message
                       mailbox, 1,000 idle sessions
    BENCH_SMTP_MESSAGES, BENCH_MAILBOX_MESSAGES, BENCH_IDLE_SESSIONS
                       override each count
    BENCH_IDLE_INBOX_MESSAGES
                       messages in the INBOX that every idle session
                       selects (default 100)
    BENCH_REVISION     names the hapost source in the output (default:
                       the git commit of top_srcdir)

The figures are printed as a Markdown table with hapost/reference ratios
and the targets beside them. Nothing is asserted about the timings: the
exit status is 1 only when a benchmark could not run at all.
"""

import asyncio
import os
import platform
import pwd
import resource
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "proto"))

import clients  # noqa: E402
import failover  # noqa: E402
import mailgen  # noqa: E402
import refservers  # noqa: E402
import replbench  # noqa: E402
import tlsbench  # noqa: E402
from conftest import (ALICE, ALICE_PASSWORD, Hapost,  # noqa: E402
                      ensure_service_user)

QUICK = os.environ.get("BENCH_QUICK") == "1"
SMTP_MESSAGES = int(os.environ.get("BENCH_SMTP_MESSAGES",
                                   2000 if QUICK else 20000))
MAILBOX_MESSAGES = int(os.environ.get("BENCH_MAILBOX_MESSAGES",
                                      2000 if QUICK else 10000))
IDLE_SESSIONS = int(os.environ.get("BENCH_IDLE_SESSIONS",
                                   1000 if QUICK else 10000))
SMTP_SESSIONS = 20
SMTP_PAYLOAD = 2500
IDLE_INBOX_MESSAGES = int(os.environ.get("BENCH_IDLE_INBOX_MESSAGES",
                                         100))
# Sessions per loopback source address in the idle benchmark, so that no
# single address needs more than a few thousand ephemeral ports.
IDLE_SESSIONS_PER_SOURCE = 1000
FETCH_ITEMS = "FLAGS RFC822.SIZE ENVELOPE"
# Warm POP3 and FETCH figures are the best of this many sessions.
WARM_RUNS = 3
REFERENCE_PASSWORD = "reference-secret-1"


class Results:
    """Rows of the summary table, the commands behind them and errors."""

    def __init__(self):
        self.rows = []
        self.commands = []
        self.errors = []

    def add(self, metric, hapost, reference=None, ref_name="",
            higher_is_better=True, target="", goal=None, unit="",
            absolute=False):
        """Adds one row. goal is the ratio (or for no reference, or with
        absolute set, the value) that meets the target: at least goal
        when higher is better, else at most goal."""
        ratio = None
        if hapost is not None and reference:
            ratio = hapost / reference
        compared = ratio if reference is not None and not absolute \
            else hapost
        met = ""
        if goal is not None and compared is not None:
            ok = compared >= goal if higher_is_better else compared <= goal
            met = "yes" if ok else "no"
        self.rows.append((metric, fmt(hapost, unit),
                          f"{fmt(reference, unit)} {ref_name}".strip()
                          if reference is not None else "-",
                          f"{ratio:.2f}" if ratio is not None else "-",
                          target, met))

    def print_table(self):
        head = ("metric", "hapost", "reference", "hapost/ref", "target",
                "met")
        rows = [head] + self.rows
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]

        def line(r):
            return "| " + " | ".join(c.ljust(w) for c, w in
                                     zip(r, widths)) + " |"
        print(line(head))
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for r in self.rows:
            print(line(r))


def fmt(value, unit=""):
    if value is None:
        return "failed"
    if value >= 100:
        text = f"{value:,.0f}"
    elif value >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return f"{text} {unit}".strip()


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def mail_user():
    """Returns (uid, gid) of the user that owns every test Maildir."""
    pw = pwd.getpwnam(ensure_service_user())
    return pw.pw_uid, pw.pw_gid


def wait_for_count(maildir, count, start, timeout):
    """Waits until maildir contains count messages; returns the seconds since
    start when it did, or None after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mailgen.count_messages(maildir) >= count:
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def smtp_source_run(port, messages, results, name):
    """Runs smtp-source against port; returns (accept seconds, start)."""
    command = [refservers.find_program("smtp-source"),
               "-s", str(SMTP_SESSIONS), "-m", str(messages),
               "-l", str(SMTP_PAYLOAD), "-f", "bench@bench.test",
               "-t", ALICE, f"127.0.0.1:{port}"]
    results.commands.append(f"{name}: " + " ".join(command))
    start = time.monotonic()
    res = subprocess.run(command, capture_output=True, text=True,
                         timeout=3600)
    seconds = time.monotonic() - start
    if res.returncode != 0:
        raise RuntimeError(f"smtp-source against {name} exited "
                           f"{res.returncode}: {res.stderr[-1000:]}")
    return seconds, start


def bench_smtp(results):
    n = SMTP_MESSAGES
    uid, gid = mail_user()
    # The delivery wait allows 20 msgs/s at worst, and never less than
    # two minutes.
    delivery_timeout = max(120, n / 20)

    log(f"smtp: Postfix, {n} messages")
    postfix = refservers.Postfix(ALICE, uid, gid)
    try:
        postfix.start()
        accept_s, start = smtp_source_run(postfix.port, n, results,
                                          "Postfix")
        deliver_s = wait_for_count(postfix.maildir, n, start,
                                   delivery_timeout)
    finally:
        postfix.cleanup()
    ref_accept = n / accept_s
    ref_deliver = n / deliver_s if deliver_s else None
    log(f"smtp: Postfix accepted {ref_accept:.0f}/s, delivered "
        f"{fmt(ref_deliver)}/s")

    log(f"smtp: hapost, {n} messages")
    hp = Hapost({"sessions_per_ip": max(100, SMTP_SESSIONS * 2)}).start()
    try:
        accept_s, start = smtp_source_run(hp.smtp_port, n, results,
                                          "hapost")
        deliver_s = wait_for_count(hp.maildir(ALICE), n, start,
                                   delivery_timeout)
        if deliver_s is None:
            results.errors.append(
                f"smtp: hapost delivered "
                f"{mailgen.count_messages(hp.maildir(ALICE))} of {n} "
                f"messages within {delivery_timeout:.0f} s; log tail:\n"
                + hp.log_text()[-2000:])
    finally:
        hp.cleanup()
    accept = n / accept_s
    deliver = n / deliver_s if deliver_s else None
    log(f"smtp: hapost accepted {accept:.0f}/s, delivered "
        f"{fmt(deliver)}/s")

    label = f"SMTP {n} msgs x {SMTP_PAYLOAD} B, {SMTP_SESSIONS} sessions"
    results.add(f"{label}: accepted msgs/s", accept, ref_accept,
                "(Postfix)", target=">= 2x Postfix", goal=2.0)
    results.add(f"{label}: delivered msgs/s", deliver, ref_deliver,
                "(Postfix)", target=">= 2x Postfix", goal=2.0)


def measure_mailbox(name, pop3_port, imap_port, user, password):
    """Returns {metric: value} for one server.

    "cold" is the first session after the server started on a mailbox
    it has never opened. "warm" is the best of WARM_RUNS later sessions,
    each a new login, so that other work on the machine disturbs the
    figure less.
    """
    out = {}
    runs = ["cold"] + ["warm"] * WARM_RUNS
    for run in runs:
        count, octets, seconds = clients.pop3_retr_all(
            "127.0.0.1", pop3_port, user, password)
        if count != MAILBOX_MESSAGES:
            raise RuntimeError(f"{name} POP3 STAT shows {count} messages, "
                               f"expected {MAILBOX_MESSAGES}")
        key = f"pop3 {run}"
        out[key] = max(out.get(key, 0), count / seconds)
        log(f"mailbox: {name} POP3 RETR {run}: {count} msgs, {octets} "
            f"octets in {seconds:.3f} s")
    for run in runs:
        responses, seconds = clients.imap_fetch_time(
            "127.0.0.1", imap_port, user, password, FETCH_ITEMS)
        if responses != MAILBOX_MESSAGES:
            raise RuntimeError(f"{name} FETCH returned {responses} "
                               f"responses, expected {MAILBOX_MESSAGES}")
        key = f"fetch {run}"
        out[key] = min(out.get(key, seconds), seconds)
        log(f"mailbox: {name} FETCH {run}: {responses} responses in "
            f"{seconds:.3f} s")
    return out


def bench_mailbox(results):
    n = MAILBOX_MESSAGES
    uid, gid = mail_user()
    log(f"mailbox: generating {n} messages")
    messages = mailgen.make_messages(n, ALICE)

    dovecot = refservers.Dovecot(ALICE, REFERENCE_PASSWORD, uid, gid)
    try:
        mailgen.fill_maildir(dovecot.maildir, messages, uid, gid)
        dovecot.start()
        ref = measure_mailbox("Dovecot", dovecot.pop3_port,
                              dovecot.imap_port, ALICE, REFERENCE_PASSWORD)
    finally:
        dovecot.cleanup()

    hp = Hapost()
    try:
        make_parents(hp.maildir(ALICE), hp.data_dir, uid, gid)
        mailgen.fill_maildir(hp.maildir(ALICE), messages, uid, gid)
        hp.start()
        mine = measure_mailbox("hapost", hp.pop3_port, hp.imap_port, ALICE,
                               ALICE_PASSWORD)
    finally:
        hp.cleanup()

    label = f"{n}-msg Maildir"
    for run in ("warm", "cold"):
        results.add(f"{label}: POP3 RETR all, msgs/s ({run})",
                    mine[f"pop3 {run}"], ref[f"pop3 {run}"], "(Dovecot)",
                    target=">= 1x Dovecot", goal=1.0)
    for run in ("warm", "cold"):
        results.add(f"{label}: FETCH 1:* ({FETCH_ITEMS}), s ({run})",
                    mine[f"fetch {run}"], ref[f"fetch {run}"], "(Dovecot)",
                    higher_is_better=False, target="<= 1x Dovecot",
                    goal=1.0, unit="s")


def make_parents(path, top, uid, gid):
    """Creates the directories between top and path, owned by uid:gid."""
    missing = []
    while not os.path.isdir(path) and path != top:
        missing.append(path)
        path = os.path.dirname(path)
    for d in reversed(missing[1:]):
        os.mkdir(d, 0o700)
        os.chown(d, uid, gid)


def hapost_pids(hp):
    return refservers.process_tree(hp.proc.pid)


def bench_idle(results):
    n = IDLE_SESSIONS
    uid, gid = mail_user()
    sources = [f"127.0.0.{2 + i}"
               for i in range((n + IDLE_SESSIONS_PER_SOURCE - 1)
                              // IDLE_SESSIONS_PER_SOURCE)]
    hp = Hapost({"sessions_per_ip": IDLE_SESSIONS_PER_SOURCE * 2,
                 "max_connections": n + 1000,
                 "imap_idle_timeout": "30m"})
    try:
        make_parents(hp.maildir(ALICE), hp.data_dir, uid, gid)
        mailgen.fill_maildir(hp.maildir(ALICE),
                             mailgen.make_messages(IDLE_INBOX_MESSAGES,
                                                   ALICE), uid, gid)
        hp.start()
        # One session first, so that the INBOX's UID list exists and the
        # "before" figure does not count its one-time creation.
        clients.imap_fetch_time("127.0.0.1", hp.imap_port, ALICE,
                                ALICE_PASSWORD, "FLAGS")
        time.sleep(1)
        pids = hapost_pids(hp)
        before = refservers.rss_kib(pids)
        log(f"idle: hapost {len(pids)} processes, RSS {before} KiB; "
            f"opening {n} sessions from {len(sources)} addresses")

        async def measure(opened):
            await asyncio.sleep(2)
            after_pids = hapost_pids(hp)
            for pid in after_pids:
                log(f"idle: pid {pid} RSS {refservers.rss_kib([pid])} KiB")
            return refservers.rss_kib(after_pids), len(after_pids)

        opened, errors, seconds, (after, nprocs) = asyncio.run(
            clients.imap_hold_connections(
                "127.0.0.1", hp.imap_port, sources, n, ALICE,
                ALICE_PASSWORD, parallel=100, on_ready=measure))
    finally:
        hp.cleanup()
    log(f"idle: {opened} sessions open in {seconds:.1f} s, "
        f"{len(errors)} failed; RSS {before} -> {after} KiB over "
        f"{nprocs} processes")
    if errors:
        results.errors.append(f"idle: {len(errors)} of {n} sessions "
                              "failed; first: " + "; ".join(errors[:3]))
    results.add(f"IMAP idle: sessions open (of {n}), INBOX of "
                f"{IDLE_INBOX_MESSAGES} msgs", opened)
    # VmRSS is in KiB; the target is in MB (10^6 bytes).
    results.add("IMAP idle: hapostd RSS before, MB", before * 1024 / 1e6,
                unit="MB")
    results.add(f"IMAP idle: hapostd RSS with {opened} sessions, MB",
                after * 1024 / 1e6, higher_is_better=False,
                target="<= 300 MB for 10,000" if n == 10000 else
                f"<= {300 * n / 10000:.0f} MB (300 MB per 10,000)",
                goal=300 * n / 10000, unit="MB")
    if opened:
        results.add("IMAP idle: RSS per session, KiB",
                    (after - before) / opened, unit="KiB")
    results.add("IMAP idle: sessions opened per second", opened / seconds)


def raise_fd_limit(want=65536):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (max(soft, want), max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def describe_machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        with open("/etc/debian_version") as f:
            debian = "Debian " + f.read().strip()
    except OSError:
        debian = platform.platform()
    fs = subprocess.run(["df", "--output=fstype", "/tmp"],
                        capture_output=True, text=True).stdout.split()[-1]
    return (f"{debian}, kernel {platform.release()}, {os.cpu_count()} x "
            f"{cpu}, {mem:.0f} GiB RAM, /tmp on {fs}")


def versions():
    out = []
    for cmd in (["postconf", "-h", "mail_version"], ["dovecot", "--version"]):
        try:
            res = subprocess.run(cmd, capture_output=True, text=True)
            out.append(f"{cmd[0]} {res.stdout.strip()}")
        except OSError:
            pass
    return ", ".join(out)


def hapost_revision():
    """Returns $BENCH_REVISION, else the source tree's git commit with
    "+" if the tree has uncommitted edits."""
    if os.environ.get("BENCH_REVISION"):
        return os.environ["BENCH_REVISION"]
    top = os.environ.get("top_srcdir", os.path.join(HERE, "..", ".."))
    try:
        head = subprocess.run(["git", "-C", top, "rev-parse", "--short",
                               "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", top, "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True)
    except OSError:
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


def bench_tls(results):
    tlsbench.bench_tls(results, log, mail_user)


BENCHMARKS = {"smtp": bench_smtp, "mailbox": bench_mailbox,
              "idle": bench_idle, "failover": failover.bench_failover,
              "tls": bench_tls, "replicated": replbench.bench_replicated,
              "ledger": replbench.bench_ledger}
# ledger takes about 15 minutes, so it runs only when named.
DEFAULT_BENCHMARKS = [name for name in BENCHMARKS if name != "ledger"]


def main(argv):
    chosen = argv or DEFAULT_BENCHMARKS
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"bench.py: unknown benchmark {', '.join(unknown)}; choose "
              f"from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2

    if os.geteuid() != 0:
        print("bench.py: run as root: the private Postfix and Dovecot "
              "need it, and hapostd drops to the user 'hapost'",
              file=sys.stderr)
        return 2

    limit = raise_fd_limit()
    revision = hapost_revision()
    results = Results()
    log(f"machine: {describe_machine()}")
    log(f"hapost commit {revision}, built in "
        f"{os.environ.get('top_builddir', '?')}; reference: {versions()}; "
        f"open files limit {limit}")
    for name in chosen:
        log(f"{name}: load average {os.getloadavg()[0]:.2f} at start")
        try:
            BENCHMARKS[name](results)
        except Exception as e:  # one broken benchmark must not stop others
            traceback.print_exc()
            results.errors.append(f"{name}: {type(e).__name__}: {e}")

    print()
    print(f"hapost benchmarks, {time.strftime('%Y-%m-%d')}, hapost commit "
          f"{revision}, {describe_machine()}")
    print()
    results.print_table()
    print()
    for command in results.commands:
        print(f"    {command}")
    for error in results.errors:
        print(f"ERROR {error}")
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
