"""Fixtures that run a real hapostd on loopback for protocol tests.

The daemon under test comes from the build tree: $top_builddir (set by
`make check`), else $HAPOST_BUILDDIR, else the current directory. Each
daemon gets a fresh temporary data_dir and run_dir, free loopback ports
for SMTP, submission, POP3 and IMAP, and the directory below, created
with hapostctl:

    domain  example.test
    account alice@example.test  password ALICE_PASSWORD
    account bob@example.test    password BOB_PASSWORD
    alias   postmaster@example.test -> alice@example.test

Fixtures:
    hapost          one daemon shared by the tests of a module
    hapost_factory  hapost_factory(**config_overrides) starts a daemon
                    of its own, for tests that need other limits. It is
                    stopped at the end of the test.

Run as root, the daemon drops privileges to the system user "hapost",
which is created if missing; otherwise it runs as the invoking user.
"""

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

ALICE = "alice@example.test"
ALICE_PASSWORD = "alice-secret-1"
BOB = "bob@example.test"
BOB_PASSWORD = "bob-secret-2"
DOMAIN = "example.test"


def builddir():
    for var in ("top_builddir", "HAPOST_BUILDDIR"):
        if os.environ.get(var):
            return os.path.abspath(os.environ[var])
    return os.getcwd()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, deadline):
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.settimeout(2)
                if s.recv(1):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


def ensure_service_user():
    """Returns the user the daemon runs as, creating 'hapost' as root."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam("hapost")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home",
                        "--shell", "/usr/sbin/nologin", "hapost"],
                       check=True)
    return "hapost"


class Hapost:
    """One hapostd instance with its own directories and ports."""

    def __init__(self, overrides=None):
        self.build = builddir()
        self.hapostd = os.path.join(self.build, "hapostd")
        self.hapostctl = os.path.join(self.build, "hapostctl")
        for prog in (self.hapostd, self.hapostctl):
            if not os.access(prog, os.X_OK):
                raise RuntimeError(f"{prog} not built: run make first "
                                   "or set top_builddir")
        self.tmp = tempfile.mkdtemp(prefix="hapost-test-")
        os.chmod(self.tmp, 0o755)
        self.data_dir = os.path.join(self.tmp, "data")
        self.run_dir = os.path.join(self.tmp, "run")
        self.conf = os.path.join(self.tmp, "hapost.conf")
        self.log_path = os.path.join(self.tmp, "hapostd.log")
        self.host = "127.0.0.1"
        self.smtp_port = free_port()
        self.submission_port = free_port()
        self.pop3_port = free_port()
        self.imap_port = free_port()
        self.user = ensure_service_user()
        self.proc = None
        self.settings = {
            "data_dir": self.data_dir,
            "run_dir": self.run_dir,
            "user": self.user,
            "hostname": "mx.example.test",
            "smtp_listen": f"127.0.0.1:{self.smtp_port}",
            "submission_listen": f"127.0.0.1:{self.submission_port}",
            "pop3_listen": f"127.0.0.1:{self.pop3_port}",
            "imap_listen": f"127.0.0.1:{self.imap_port}",
            "workers": "2",
            "auth_failure_delay": "200",
            "shutdown_timeout": "5",
            "queue_retry_min": "2",
            "queue_retry_max": "10",
            # The tests log in without TLS from 127.0.0.1; test_tls.py
            # sets "no" to check the refusal.
            "allow_plaintext_auth_on_loopback": "yes",
            # Outbound mail (bounces to remote senders, relayed mail)
            # must not reach real resolvers: nothing listens on this
            # port, so lookups fail at once and the mail is deferred.
            # test_remote.py points it at its own test DNS server.
            "dns_servers": "127.0.0.1:9",
        }
        self.settings.update({k: str(v) for k, v in (overrides or {}).items()})
        self.write_config()
        self.ctl("domain", "add", DOMAIN)
        self.ctl("account", "add", ALICE, input=ALICE_PASSWORD + "\n")
        self.ctl("account", "add", BOB, input=BOB_PASSWORD + "\n")
        self.ctl("alias", "add", "postmaster@" + DOMAIN, ALICE)

    def write_config(self):
        with open(self.conf, "w") as f:
            for key, value in self.settings.items():
                f.write(f"{key} = {value}\n")

    def ctl(self, *args, input=None, check=True):
        """Runs hapostctl with this daemon's config; returns the result."""
        res = subprocess.run([self.hapostctl, "-c", self.conf, *args],
                             input=input, capture_output=True, text=True,
                             timeout=30)
        if check and res.returncode != 0:
            raise RuntimeError(f"hapostctl {' '.join(args)} failed "
                               f"({res.returncode}): {res.stderr}")
        return res

    def start(self, timeout=10, attempts=5):
        """Starts hapostd and waits until every listener greets.

        free_port() cannot reserve a port, so another process may take it
        before hapostd binds; then the ports are chosen again and the
        start is retried.
        """
        for attempt in range(attempts):
            log_start = len(self.log_text())
            log = open(self.log_path, "a")
            self.proc = subprocess.Popen(
                [self.hapostd, "-f", "-c", self.conf], stdout=log, stderr=log)
            log.close()
            deadline = time.monotonic() + timeout
            failed = None
            for port in self.ports():
                if not wait_for_port(port, deadline):
                    failed = port
                    break
            if failed is None:
                return self
            self.stop()
            new_log = self.log_text()[log_start:]
            if "failed: Address already in use" not in new_log:
                break
            self.repick_ports()
        raise RuntimeError(f"hapostd did not answer on port {failed}"
                           f"; log:\n{self.log_text()}")

    def repick_ports(self):
        """Chooses new free ports for the listeners and rewrites the config."""
        for key, attr in (("smtp_listen", "smtp_port"),
                          ("submission_listen", "submission_port"),
                          ("pop3_listen", "pop3_port"),
                          ("imap_listen", "imap_port")):
            old = f"127.0.0.1:{getattr(self, attr)}"
            if self.settings.get(key) == old:
                setattr(self, attr, free_port())
                self.settings[key] = f"127.0.0.1:{getattr(self, attr)}"
        self.write_config()

    def promote(self, *args):
        """Runs "hapostctl promote ARGS". A standby binds its listeners
        only when promoted, so a port taken by another program since the
        config was written fails the promotion: then the listeners get
        new ports, the config is reloaded, and the promotion is tried
        again. Returns the last CompletedProcess."""
        for _ in range(3):
            res = self.ctl("promote", *args, check=False)
            if "binding a listener failed" not in res.stderr or \
                    self.proc is None:
                return res
            log_start = len(self.log_text())
            self.repick_ports()
            self.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while "configuration reloaded" not in \
                    self.log_text()[log_start:]:
                if time.monotonic() > deadline:
                    return res
                time.sleep(0.05)
        return res

    def ports(self):
        ports = []
        for key, port in (("smtp_listen", self.smtp_port),
                          ("submission_listen", self.submission_port),
                          ("pop3_listen", self.pop3_port),
                          ("imap_listen", self.imap_port)):
            if self.settings.get(key):
                ports.append(port)
        return ports

    def stop(self, timeout=15):
        """Stops the daemon with SIGTERM; returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill9(self):
        """Kills the master and every child with SIGKILL, like a crash."""
        if self.proc is None:
            return
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)],
                                  capture_output=True, text=True).stdout
        self.proc.kill()
        for pid in children.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.proc = None
        pid_file = os.path.join(self.run_dir, "hapostd.pid")
        deadline = time.monotonic() + 10
        for pid in children.split():
            while time.monotonic() < deadline:
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        if f.read().split()[2] == "Z":
                            break
                except FileNotFoundError:
                    break
                time.sleep(0.02)
        if os.path.exists(pid_file):
            os.unlink(pid_file)

    def wait_listener_checks(self, timeout=10):
        """Waits until the cluster process has checked every listener.

        Its checks are connections from 127.0.0.1, so tests that count
        sessions per IP wait for the first round to end.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            res = self.ctl("status", "--json", check=False)
            try:
                listeners = json.loads(res.stdout).get("listeners", [])
            except ValueError:
                listeners = []
            if listeners and all(item.get("healthy") is True
                                 for item in listeners):
                return
            time.sleep(0.05)
        raise AssertionError("listener checks did not finish")

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def maildir(self, address, folder=None):
        local, domain = address.lower().split("@")
        path = os.path.join(self.data_dir, "mail", domain, local)
        if folder:
            path = os.path.join(path, "." + folder)
        return path

    def messages(self, address, folder=None):
        """Paths of the messages in new/ and cur/ of a mailbox."""
        root = self.maildir(address, folder)
        found = []
        for sub in ("new", "cur"):
            d = os.path.join(root, sub)
            if os.path.isdir(d):
                found += [os.path.join(d, n) for n in sorted(os.listdir(d))]
        return found

    def wait_for_messages(self, address, count, timeout=10, folder=None):
        """Waits until the mailbox contains at least count messages."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages(address, folder)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{address}: {len(self.messages(address))} "
                             f"messages after {timeout} s, expected "
                             f"{count}")

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Records each phase's report on the item, for the fixtures below."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    if rep.failed:
        item.session.hapost_failed = True


def print_log_tail(h, title):
    """Prints the end of the daemon's log into the test's report."""
    print(f"--- {title}: last lines of {h.log_path} ---")
    print("\n".join(h.log_text().splitlines()[-60:]))


@pytest.fixture(scope="module")
def hapost(request):
    h = Hapost().start()
    yield h
    if getattr(request.session, "hapost_failed", False):
        print_log_tail(h, "shared hapostd")
    h.cleanup()


@pytest.fixture
def hapost_factory(request):
    made = []

    def make(**overrides):
        h = Hapost(overrides).start()
        made.append(h)
        return h

    yield make
    rep = getattr(request.node, "rep_call", None)
    for h in made:
        if rep is not None and rep.failed:
            print_log_tail(h, request.node.name)
        h.cleanup()
