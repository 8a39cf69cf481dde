"""Private Postfix and Dovecot instances that serve as the reference.

Each instance lives in its own temporary directory with its own config,
queue or state directories, and listeners on free loopback ports, so it
never touches a system-wide Postfix or Dovecot. Each is stopped through
its own config (`postfix -c DIR stop`, `doveadm -c CONF stop`), never by
process name. Both deliver to, or read from, a Maildir owned by the mail
user that the caller passes in (uid, gid).

Tested with Postfix 3.7 and Dovecot 2.3 from Debian 12.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_greeting(port, timeout=20):
    """Waits until 127.0.0.1:port accepts and sends a first byte."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port),
                                          timeout=1) as s:
                s.settimeout(2)
                if s.recv(1):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port} within "
                       f"{timeout} s")


def wait_for_port(port, timeout=20):
    """Waits until 127.0.0.1:port accepts a connection (a TLS listener
    sends nothing before the client's hello)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing accepted on 127.0.0.1:{port} within "
                       f"{timeout} s")


def find_program(name, dirs=("/usr/sbin", "/usr/bin", "/usr/lib/postfix",
                             "/usr/lib/postfix/sbin")):
    found = shutil.which(name)
    if found:
        return found
    for d in dirs:
        path = os.path.join(d, name)
        if os.access(path, os.X_OK):
            return path
    raise RuntimeError(f"{name} not found: install the packages of the "
                       "'bench' group (deploy/install-packages bench)")


# Only the services that receiving over SMTP and delivering with
# virtual(8) need; chroot is off ("n") for every one of them.
POSTFIX_MASTER_CF = """\
{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
virtual   unix  - n n -  - virtual
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class Postfix:
    """A Postfix instance that delivers mail for one address to a Maildir.

    Mail to `address` is delivered by virtual(8) into
    `maildir` (created here, owned by uid:gid). Postfix's defaults stay
    as shipped otherwise, so the queue and the delivery fsync as usual.
    """

    def __init__(self, address, uid, gid):
        self.postfix = find_program("postfix")
        self.tmp = tempfile.mkdtemp(prefix="hapost-bench-postfix-")
        os.chmod(self.tmp, 0o755)
        self.config_dir = os.path.join(self.tmp, "etc")
        self.queue_dir = os.path.join(self.tmp, "spool")
        self.data_dir = os.path.join(self.tmp, "lib")
        self.mail_base = os.path.join(self.tmp, "mail")
        self.log_path = os.path.join(self.tmp, "postfix.log")
        self.port = free_port()
        self.address = address
        domain = address.split("@")[1]
        self.maildir = os.path.join(self.mail_base, domain,
                                    address.split("@")[0])
        self.started = False

        for d in (self.config_dir, self.queue_dir, self.mail_base,
                  self.data_dir):
            os.makedirs(d, exist_ok=True)
        os.chown(self.mail_base, uid, gid)
        shutil.chown(self.data_dir, "postfix", "postfix")

        main_cf = {
            "compatibility_level": "3.6",
            "config_directory": self.config_dir,
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            "meta_directory": "/etc/postfix",
            "maillog_file": self.log_path,
            "maillog_file_prefixes": self.tmp,
            "myhostname": "postfix.bench.test",
            "mydomain": "bench.test",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            "smtpd_banner": "$myhostname ESMTP",
            "virtual_mailbox_domains": domain,
            "virtual_mailbox_base": self.mail_base,
            # The trailing slash selects Maildir format.
            "virtual_mailbox_maps":
                f"inline:{{ {address}={domain}/{address.split('@')[0]}/ }}",
            "virtual_uid_maps": f"static:{uid}",
            "virtual_gid_maps": f"static:{gid}",
            "virtual_minimum_uid": "1",
            "virtual_mailbox_limit": "0",
            "message_size_limit": "0",
        }
        with open(os.path.join(self.config_dir, "main.cf"), "w") as f:
            for key, value in main_cf.items():
                f.write(f"{key} = {value}\n")
        with open(os.path.join(self.config_dir, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER_CF.format(port=f"127.0.0.1:{self.port}"))

    def run(self, *args, check=True):
        # Postfix commands print their errors only to a terminal (and to
        # syslog, which may not run here), so script(1) provides one.
        command = " ".join([self.postfix, "-c", self.config_dir, *args])
        res = subprocess.run(["script", "-qec", command, "/dev/null"],
                             capture_output=True, text=True, timeout=60)
        if check and res.returncode != 0:
            raise RuntimeError(f"postfix -c {self.config_dir} "
                               f"{' '.join(args)} failed "
                               f"({res.returncode}): {res.stdout}"
                               f"{self.log_text()[-2000:]}")
        return res

    def start(self):
        self.run("start")
        self.started = True
        wait_for_greeting(self.port)
        return self

    def stop(self):
        if self.started:
            self.run("stop", check=False)
            self.started = False
            # postfix stop returns before the master has exited; wait for
            # its pid file lock to go so the temp dir can be removed.
            pid_file = os.path.join(self.queue_dir, "pid", "master.pid")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if not pid_alive(read_pid(pid_file)):
                    break
                time.sleep(0.1)

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def pid_alive(pid):
    if pid is None:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


# With TLS: the certificate, TLS 1.2 as the minimum version and the
# caller's TLS 1.2 cipher list, as hapost's tls_* settings have them.
DOVECOT_SSL = """\
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
ssl_cipher_list = {ciphers}
ssl_prefer_server_ciphers = yes"""

# Dovecot's high-performance login mode: each imap-login process serves
# many connections (service_count = 0), one process per CPU core is
# started ahead (process_min_avail).
DOVECOT_FAST_LOGIN = """\
  service_count = 0
  process_min_avail = {cpus}
  vsz_limit = 1G"""

DOVECOT_CONF = """\
base_dir = {base_dir}
state_dir = {state_dir}
log_path = {log_path}
instance_name = hapost-bench-{port_imap}
protocols = imap pop3
listen = 127.0.0.1
{ssl_settings}
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {passwd}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port_imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port_imaps}
    ssl = yes
  }}
{login_settings}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port_pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""


class Dovecot:
    """A Dovecot instance serving one account's Maildir over IMAP and POP3.

    The account's home is its Maildir root, `self.maildir`, owned by
    uid:gid; the caller fills it before the first login.
    """

    def __init__(self, address, password, uid, gid, tls=None):
        """tls, when given, is (certificate file, key file, TLS 1.2 cipher
        list): it turns on the imaps listener (self.imaps_port) and the
        high-performance login mode."""
        self.dovecot = find_program("dovecot")
        self.doveadm = find_program("doveadm")
        self.tmp = tempfile.mkdtemp(prefix="hapost-bench-dovecot-")
        os.chmod(self.tmp, 0o755)
        self.base_dir = os.path.join(self.tmp, "run")
        self.state_dir = os.path.join(self.tmp, "state")
        self.conf = os.path.join(self.tmp, "dovecot.conf")
        self.passwd = os.path.join(self.tmp, "passwd")
        self.log_path = os.path.join(self.tmp, "dovecot.log")
        self.maildir = os.path.join(self.tmp, "mail", address)
        self.imap_port = free_port()
        self.pop3_port = free_port()
        self.imaps_port = free_port() if tls else 0
        self.started = False
        for d in (self.base_dir, self.state_dir, self.maildir):
            os.makedirs(d, exist_ok=True)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(self.maildir, sub), exist_ok=True)
        for root, dirs, _ in os.walk(os.path.join(self.tmp, "mail")):
            os.chown(root, uid, gid)
            for d in dirs:
                os.chown(os.path.join(root, d), uid, gid)
        with open(self.passwd, "w") as f:
            f.write(f"{address}:{{PLAIN}}{password}:{uid}:{gid}::"
                    f"{self.maildir}::\n")
        ssl_settings = "ssl = no"
        login_settings = ""
        if tls:
            ssl_settings = DOVECOT_SSL.format(cert=tls[0], key=tls[1],
                                              ciphers=tls[2])
            login_settings = DOVECOT_FAST_LOGIN.format(
                cpus=os.cpu_count() or 1)
        with open(self.conf, "w") as f:
            f.write(DOVECOT_CONF.format(
                base_dir=self.base_dir, state_dir=self.state_dir,
                log_path=self.log_path, passwd=self.passwd,
                port_imap=self.imap_port, port_pop3=self.pop3_port,
                port_imaps=self.imaps_port, ssl_settings=ssl_settings,
                login_settings=login_settings))

    def start(self):
        # The daemon keeps its stdout and stderr open, so they go to a
        # file rather than to a pipe that would never reach end of file.
        with open(self.log_path, "a") as log:
            res = subprocess.run([self.dovecot, "-c", self.conf],
                                 stdout=log, stderr=log, timeout=30)
        self.started = True
        if res.returncode != 0:
            self.stop()
            raise RuntimeError(f"dovecot -c {self.conf} failed "
                               f"({res.returncode}):\n{self.log_text()}")
        wait_for_greeting(self.imap_port)
        wait_for_greeting(self.pop3_port)
        if self.imaps_port:
            wait_for_port(self.imaps_port)
        return self

    def pids(self):
        """The master's pid and those of all its descendants."""
        master = read_pid(os.path.join(self.base_dir, "master.pid"))
        return process_tree(master) if master else []

    def stop(self):
        if not self.started:
            return
        master = read_pid(os.path.join(self.base_dir, "master.pid"))
        subprocess.run([self.doveadm, "-c", self.conf, "stop"],
                       capture_output=True, text=True, timeout=30)
        deadline = time.monotonic() + 15
        while pid_alive(master) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.started = False

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def process_tree(root):
    """Returns root and every descendant pid, read from /proc."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # The comm field may contain spaces; the fields after it do not.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(name))
    found = [root]
    i = 0
    while i < len(found):
        found += children.get(found[i], [])
        i += 1
    return found


def rss_kib(pids):
    """Sums VmRSS (KiB) over pids; a pid that has exited counts 0."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total
