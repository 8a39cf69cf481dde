"""hapostctl against a temporary configuration and data directory.

Runs the built hapostctl ($top_builddir, else $HAPOST_BUILDDIR, else the
current directory) with a config file whose data_dir is a fresh temporary
directory, and checks output, exit codes (0 success, 1 failure, 2 usage)
and the files it writes. The last tests edit the directory of a running
hapostd and check that the daemon applies the change without a restart.
"""

import os
import poplib
import pwd
import smtplib
import stat
import subprocess
import tempfile

import pytest

from conftest import DOMAIN, builddir


def hapostctl_path():
    path = os.path.join(builddir(), "hapostctl")
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} not built")
    return path


class Ctl:
    """A config file in a temp dir and a way to run hapostctl with it."""

    def __init__(self, tmp, user=None):
        self.prog = hapostctl_path()
        self.tmp = tmp
        self.data_dir = os.path.join(tmp, "data")
        self.conf = os.path.join(tmp, "hapost.conf")
        self.user = user or pwd.getpwuid(os.geteuid()).pw_name
        with open(self.conf, "w") as f:
            f.write(f"data_dir = {self.data_dir}\n"
                    f"run_dir = {os.path.join(tmp, 'run')}\n"
                    f"user = {self.user}\n")

    def run(self, *args, input=None, env=None, conf=True):
        argv = [self.prog] + (["-c", self.conf] if conf else []) + list(args)
        full_env = dict(os.environ)
        full_env.pop("HAPOST_CONF", None)
        full_env.update(env or {})
        return subprocess.run(argv, input=input, capture_output=True,
                              text=True, timeout=30, env=full_env)

    def ok(self, *args, input=None):
        res = self.run(*args, input=input)
        assert res.returncode == 0, res.stderr
        return res.stdout

    def table(self, name):
        with open(os.path.join(self.data_dir, "directory", name)) as f:
            return f.read()


@pytest.fixture
def ctl():
    tmp = tempfile.mkdtemp(prefix="hapost-ctl-test-")
    os.chmod(tmp, 0o755)
    yield Ctl(tmp)
    subprocess.run(["rm", "-rf", tmp], check=False)


def add_example(ctl):
    ctl.ok("domain", "add", "example.test")
    ctl.ok("account", "add", "alice@example.test", input="pw-alice\n")


def test_domain_add_list_del(ctl):
    assert ctl.ok("domain", "add", "Example.TEST") == ""
    ctl.ok("domain", "add", "b.example")
    assert ctl.ok("domain", "list") == "b.example\nexample.test\n"
    assert ctl.ok("domain", "del", "b.example") == ""
    assert ctl.ok("domain", "list") == "example.test\n"
    assert ctl.table("domains") == "example.test\n"


def test_domain_add_twice_fails(ctl):
    ctl.ok("domain", "add", "example.test")
    res = ctl.run("domain", "add", "EXAMPLE.test")
    assert res.returncode == 1
    assert res.stderr == ("hapostctl: domain add EXAMPLE.test: domain "
                          "already exists\n")


@pytest.mark.parametrize("name,why", [
    ("bad..example", "empty label"),
    ("example.test.", "empty label"),
    ("-x.example", "hyphen"),
    ("ex_ample.test", "character '_'"),
    ("a" * 64 + ".test", "longer than 63 octets"),
    ("1.2.3.4", "all digits"),
    ("", "empty"),
])
def test_invalid_domain_rejected(ctl, name, why):
    res = ctl.run("domain", "add", name)
    assert res.returncode == 1
    assert res.stderr.startswith(f"hapostctl: domain add {name}: "
                                 "invalid domain name: ")
    assert why in res.stderr
    assert ctl.ok("domain", "list") == ""


def test_control_bytes_not_echoed(ctl):
    res = ctl.run("domain", "add", "a\x1b[31m.test")
    assert res.returncode == 1
    assert "\x1b" not in res.stderr
    assert "a?[31m.test" in res.stderr


def test_account_add_creates_mailbox(ctl):
    add_example(ctl)
    root = os.path.join(ctl.data_dir, "mail", "example.test", "alice")
    for sub in ("", "cur", "new", "tmp"):
        st = os.stat(os.path.join(root, sub))
        assert stat.S_ISDIR(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o700
    accounts = ctl.table("accounts")
    assert accounts.startswith("alice@example.test:$6$rounds=")
    assert "pw-alice" not in accounts
    mode = os.stat(os.path.join(ctl.data_dir, "directory", "accounts"))
    assert stat.S_IMODE(mode.st_mode) == 0o600


def test_account_list_and_show(ctl):
    add_example(ctl)
    ctl.ok("domain", "add", "other.test")
    ctl.ok("account", "add", "Bob@Other.test", input="pw-bob\n")
    ctl.ok("alias", "add", "postmaster@example.test", "alice@example.test")
    assert ctl.ok("account", "list") == ("alice@example.test\n"
                                         "bob@other.test\n")
    assert ctl.ok("account", "list", "other.test") == "bob@other.test\n"
    assert ctl.ok("account", "list", "example.test") == \
        "alice@example.test\n"
    res = ctl.run("account", "list", "nowhere.test")
    assert res.returncode == 1
    assert "domain nowhere.test not found" in res.stderr

    show = ctl.ok("account", "show", "ALICE@example.test")
    maildir = os.path.join(ctl.data_dir, "mail", "example.test", "alice")
    assert f"address: alice@example.test\n" in show
    assert f"maildir: {maildir}\n" in show
    assert "imap: yes\npop3: yes\nsmtp_auth: yes\n" in show
    assert "aliases: postmaster@example.test\n" in show
    assert "$6$" not in show


def test_account_missing_domain_rejected(ctl):
    res = ctl.run("account", "add", "bob@nowhere.test", input="pw\n")
    assert res.returncode == 1
    assert res.stderr.startswith("hapostctl: account add bob@nowhere.test: "
                                 "domain nowhere.test is not a local domain")
    assert "hapostctl domain add nowhere.test" in res.stderr


@pytest.mark.parametrize("address,why", [
    ("alice", "missing '@'"),
    ("a b@example.test", "byte 0x20"),
    ("a:b@example.test", "character ':'"),
    ("a/b@example.test", "'/'"),
    ("..@example.test", "dot"),
    ("x" * 65 + "@example.test", "longer than 64 octets"),
    ('"q"@example.test', "quoted"),
])
def test_invalid_address_rejected(ctl, address, why):
    ctl.ok("domain", "add", "example.test")
    res = ctl.run("account", "add", address, input="pw\n")
    assert res.returncode == 1
    assert why in res.stderr
    assert ctl.ok("account", "list") == ""


@pytest.mark.parametrize("stdin", ["", "\n", "\r\n"])
def test_empty_password_rejected(ctl, stdin):
    ctl.ok("domain", "add", "example.test")
    res = ctl.run("account", "add", "alice@example.test", input=stdin)
    assert res.returncode == 1
    assert res.stderr.startswith("hapostctl: account add alice@example.test:"
                                 " empty password")
    assert ctl.ok("account", "list") == ""


def test_overlong_password_rejected(ctl):
    ctl.ok("domain", "add", "example.test")
    res = ctl.run("account", "add", "alice@example.test",
                  input="p" * 512 + "\n")
    assert res.returncode == 1
    assert "longer than 511 bytes" in res.stderr
    assert "ppp" not in res.stderr


def test_account_add_twice_fails(ctl):
    add_example(ctl)
    res = ctl.run("account", "add", "alice@example.test", input="x\n")
    assert res.returncode == 1
    assert "account already exists" in res.stderr


def test_passwd_replaces_hash(ctl):
    add_example(ctl)
    before = ctl.table("accounts")
    res = ctl.run("account", "passwd", "alice@example.test",
                  input="new-secret\n")
    assert res.returncode == 0
    assert "new-secret" not in res.stdout + res.stderr
    after = ctl.table("accounts")
    assert after != before
    assert after.startswith("alice@example.test:$6$")
    assert "new-secret" not in after
    res = ctl.run("account", "passwd", "bob@example.test", input="x\n")
    assert res.returncode == 1
    assert "account not found" in res.stderr


def test_account_del_keeps_mail(ctl):
    add_example(ctl)
    res = ctl.run("account", "del", "alice@example.test")
    assert res.returncode == 0
    maildir = os.path.join(ctl.data_dir, "mail", "example.test", "alice")
    assert f"the mail stays in {maildir}" in res.stderr
    assert os.path.isdir(maildir)
    assert ctl.ok("account", "list") == ""
    res = ctl.run("account", "del", "alice@example.test")
    assert res.returncode == 1
    assert "account not found" in res.stderr


def test_account_del_names_aliases_left(ctl):
    add_example(ctl)
    ctl.ok("alias", "add", "pm@example.test", "alice@example.test")
    ctl.ok("alias", "add", "team@example.test", "alice@example.test")
    res = ctl.run("account", "del", "alice@example.test")
    assert res.returncode == 0
    assert ("still a target of pm@example.test, team@example.test"
            in res.stderr)


def test_domain_del_refuses_accounts(ctl):
    add_example(ctl)
    res = ctl.run("domain", "del", "example.test")
    assert res.returncode == 1
    assert "domain still has 1 account(s)" in res.stderr
    assert ctl.ok("domain", "list") == "example.test\n"
    res = ctl.run("domain", "del", "missing.test")
    assert res.returncode == 1
    assert "domain not found" in res.stderr


def test_alias_add_list_del(ctl):
    add_example(ctl)
    ctl.ok("alias", "add", "team@example.test", "alice@example.test")
    ctl.ok("alias", "add", "team@example.test", "ext@remote.test")
    assert ctl.ok("alias", "list") == \
        "team@example.test: alice@example.test, ext@remote.test\n"
    res = ctl.run("alias", "add", "team@example.test", "ext@remote.test")
    assert res.returncode == 1
    assert "alias already has target ext@remote.test" in res.stderr
    res = ctl.run("alias", "add", "alice@example.test", "ext@remote.test")
    assert res.returncode == 1
    assert "an account with this address exists" in res.stderr
    res = ctl.run("alias", "add", "x@nowhere.test", "alice@example.test")
    assert res.returncode == 1
    assert "not a local domain" in res.stderr

    ctl.ok("alias", "del", "team@example.test", "ext@remote.test")
    assert ctl.ok("alias", "list") == \
        "team@example.test: alice@example.test\n"
    res = ctl.run("alias", "del", "team@example.test", "nobody@x.test")
    assert res.returncode == 1
    assert "alias has no target nobody@x.test" in res.stderr
    ctl.ok("alias", "del", "team@example.test")
    assert ctl.ok("alias", "list") == ""
    res = ctl.run("alias", "del", "team@example.test")
    assert res.returncode == 1
    assert "alias not found" in res.stderr


def test_concurrent_runs_keep_every_edit(ctl):
    procs = [subprocess.Popen([ctl.prog, "-c", ctl.conf, "domain", "add",
                               f"d{i}.test"], stderr=subprocess.PIPE)
             for i in range(12)]
    for p in procs:
        assert p.wait(timeout=30) == 0, p.stderr.read()
        p.stderr.close()
    listed = ctl.ok("domain", "list").split()
    assert sorted(listed) == sorted(f"d{i}.test" for i in range(12))


@pytest.mark.parametrize("args", [
    ["frobnicate"],
    ["domain"],
    ["domain", "rename", "x.test"],
    ["domain", "add"],
    ["domain", "add", "a.test", "b.test"],
    ["account", "list", "a.test", "b.test"],
    ["alias", "add", "a@b.test"],
    ["config"],
    ["config", "frob"],
    [],
    ["--bogus"],
    ["-c"],
])
def test_usage_errors_exit_2(ctl, args):
    res = ctl.run(*args)
    assert res.returncode == 2
    assert res.stderr.startswith("hapostctl: ")
    assert "Usage: hapostctl" in res.stderr
    assert "account passwd ADDRESS" in res.stderr


def test_unknown_command_named(ctl):
    res = ctl.run("frobnicate")
    assert res.stderr.startswith("hapostctl: unknown command frobnicate\n")


def test_help_and_version(ctl):
    res = ctl.run("--help", conf=False)
    assert res.returncode == 2
    assert res.stdout.startswith("Usage: hapostctl [-c FILE] COMMAND")
    for line in ("domain add DOMAIN", "alias del ALIAS [TARGET]",
                 "config check", "queue"):
        assert line in res.stdout
    res = ctl.run("--version", conf=False)
    assert res.returncode == 0
    assert res.stdout.startswith("hapostctl (hapost) ")


def test_config_check(ctl):
    res = ctl.run("config", "check")
    assert res.returncode == 0
    assert res.stdout == f"{ctl.conf}: OK\n"
    with open(ctl.conf, "a") as f:
        f.write("workers = many\n")
    res = ctl.run("config", "check")
    assert res.returncode == 1
    assert f"{ctl.conf}:4: workers: invalid number" in res.stderr
    res = ctl.run("domain", "list")
    assert res.returncode == 1
    assert f"{ctl.conf}:4:" in res.stderr


def test_missing_config_fails(ctl):
    missing = os.path.join(ctl.tmp, "none.conf")
    res = subprocess.run([ctl.prog, "-c", missing, "domain", "list"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 1
    assert missing in res.stderr


def test_hapost_conf_environment(ctl):
    ctl.ok("domain", "add", "example.test")
    res = ctl.run("domain", "list", conf=False,
                  env={"HAPOST_CONF": ctl.conf})
    assert res.returncode == 0
    assert res.stdout == "example.test\n"
    res = ctl.run("config", "check", conf=False,
                  env={"HAPOST_CONF": os.path.join(ctl.tmp, "none.conf")})
    assert res.returncode == 1


def test_corrupt_table_line_reported(ctl):
    add_example(ctl)
    with open(os.path.join(ctl.data_dir, "directory", "domains"), "a") as f:
        f.write("not a domain\n")
    res = ctl.run("domain", "list")
    assert res.returncode == 0
    assert res.stdout == "example.test\n"
    assert "directory/domains:2: invalid domain name" in res.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_root_run_leaves_files_to_user():
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    tmp = tempfile.mkdtemp(prefix="hapost-ctl-test-")
    os.chmod(tmp, 0o755)
    try:
        ctl = Ctl(tmp, user="nobody")
        add_example(ctl)
        for path in ("", "directory", "directory/accounts",
                     "directory/domains", "mail", "mail/example.test",
                     "mail/example.test/alice/new"):
            st = os.stat(os.path.join(ctl.data_dir, path))
            assert st.st_uid == nobody.pw_uid, path
        ctl.ok("account", "passwd", "alice@example.test", input="pw2\n")
    finally:
        subprocess.run(["rm", "-rf", tmp], check=False)


def test_running_daemon_sees_new_account(hapost):
    carol = "carol@" + DOMAIN
    with smtplib.SMTP(hapost.host, hapost.smtp_port, timeout=10) as s:
        s.ehlo("client.example")
        s.mail("sender@remote.example")
        code, _ = s.rcpt(carol)
        assert code == 550
        hapost.ctl("account", "add", carol, input="pw-carol\n")
        code, _ = s.rcpt(carol)
        assert code == 250
        hapost.ctl("account", "del", carol)
        code, _ = s.rcpt(carol)
        assert code == 550
        s.rset()


def test_running_daemon_sees_new_password(hapost):
    dave = "dave@" + DOMAIN
    hapost.ctl("account", "add", dave, input="first-pw\n")
    try:
        pop = poplib.POP3(hapost.host, hapost.pop3_port, timeout=10)
        pop.user(dave)
        pop.pass_("first-pw")
        pop.quit()
        hapost.ctl("account", "passwd", dave, input="second-pw\n")
        pop = poplib.POP3(hapost.host, hapost.pop3_port, timeout=10)
        pop.user(dave)
        with pytest.raises(poplib.error_proto):
            pop.pass_("first-pw")
        pop.close()
        pop = poplib.POP3(hapost.host, hapost.pop3_port, timeout=10)
        pop.user(dave)
        pop.pass_("second-pw")
        pop.quit()
    finally:
        hapost.ctl("account", "del", dave)


def test_account_set_switches(ctl):
    add_example(ctl)
    ctl.ok("account", "set", "alice@example.test", "imap", "off")
    ctl.ok("account", "set", "alice@example.test", "smtp_auth", "no")
    shown = ctl.ok("account", "show", "alice@example.test")
    assert "imap: no" in shown
    assert "pop3: yes" in shown
    assert "smtp_auth: no" in shown
    line = ctl.table("accounts").splitlines()[0]
    assert line.split(":")[2] == "imap=no,smtp_auth=no"
    ctl.ok("account", "set", "alice@example.test", "imap", "on")
    line = ctl.table("accounts").splitlines()[0]
    assert line.split(":")[2] == "smtp_auth=no"


@pytest.mark.parametrize("args, code, message", [
    (["alice@example.test", "ftp", "off"], 1, "unknown switch 'ftp'"),
    (["alice@example.test", "imap", "maybe"], 2, "expected on or off"),
    (["nobody@example.test", "imap", "off"], 1, "account not found"),
])
def test_account_set_rejects_bad_input(ctl, args, code, message):
    add_example(ctl)
    res = ctl.run("account", "set", *args)
    assert res.returncode == code
    assert message in res.stderr


def test_account_set_reaches_running_daemon(hapost):
    import imaplib

    from conftest import BOB, BOB_PASSWORD
    hapost.ctl("account", "set", BOB, "imap", "off")
    m = imaplib.IMAP4(hapost.host, hapost.imap_port)
    with pytest.raises(imaplib.IMAP4.error):
        m.login(BOB, BOB_PASSWORD)
    m.logout()
    hapost.ctl("account", "set", BOB, "imap", "on")
    m = imaplib.IMAP4(hapost.host, hapost.imap_port)
    m.login(BOB, BOB_PASSWORD)
    m.logout()
