"""sslscan against every TLS listener: STARTTLS on SMTP, submission, POP3
and IMAP, and the three implicit-TLS listeners.

Each listener must refuse SSLv2, SSLv3, TLS 1.0 and TLS 1.1, accept TLS 1.2
and TLS 1.3, and offer no NULL, anonymous, EXPORT, RC4, DES or 3DES cipher.
sslscan (Debian package sslscan) writes XML with one <protocol> element
per version and one <cipher> element per accepted cipher suite. A daemon
configured with tls_min_version = TLSv1 checks that the checker does find
an old version. The certificates and daemons come from test_tls.py.
"""

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from test_tls import certs, port_of, start_tls, tls_factory  # noqa: F401

pytestmark = pytest.mark.skipif(shutil.which("sslscan") is None,
                                reason="sslscan is not installed "
                                       "(Debian package sslscan)")

FORBIDDEN_VERSIONS = {("ssl", "2"), ("ssl", "3"), ("tls", "1.0"),
                      ("tls", "1.1")}
REQUIRED_VERSIONS = {("tls", "1.2"), ("tls", "1.3")}
WEAK_CIPHER = re.compile(r"NULL|ANON|ADH|AECDH|EXP|RC4|DES|CBC3|MD5",
                         re.IGNORECASE)


@pytest.fixture(scope="module")
def scanned(certs):  # noqa: F811 (the fixture imported above)
    h = start_tls(certs)
    yield h
    h.cleanup()


def sslscan(port, starttls=None):
    """Runs sslscan on 127.0.0.1:port; returns the parsed XML test."""
    args = ["sslscan", "--xml=-", "--no-colour", "--no-heartbleed"]
    if starttls:
        args.append(f"--starttls-{starttls}")
    res = subprocess.run(args + [f"127.0.0.1:{port}"], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    test = ET.fromstring(res.stdout).find("ssltest")
    assert test is not None, res.stdout
    return test


def findings(test):
    """Lists what is wrong in one sslscan result; empty when all is well."""
    found = []
    enabled = {(p.get("type"), p.get("version"))
               for p in test.iter("protocol") if p.get("enabled") == "1"}
    for version in sorted(FORBIDDEN_VERSIONS & enabled):
        found.append("protocol %s %s is enabled" % version)
    for version in sorted(REQUIRED_VERSIONS - enabled):
        found.append("protocol %s %s is not enabled" % version)
    for c in test.iter("cipher"):
        if WEAK_CIPHER.search(c.get("cipher", "")):
            found.append(f"weak cipher {c.get('cipher')} "
                         f"({c.get('sslversion')})")
        if int(c.get("bits", "0")) < 128:
            found.append(f"cipher {c.get('cipher')} has "
                         f"{c.get('bits')} bits")
    return found


LISTENERS = [
    ("smtp_listen", "smtp"),
    ("submission_listen", "smtp"),
    ("pop3_listen", "pop3"),
    ("imap_listen", "imap"),
    ("submissions_listen", None),
    ("pop3s_listen", None),
    ("imaps_listen", None),
]


@pytest.mark.parametrize("key,starttls", LISTENERS,
                         ids=[k for k, _ in LISTENERS])
def test_listener_scan_clean(scanned, key, starttls):
    test = sslscan(port_of(scanned, key), starttls)
    ciphers = [c.get("cipher") for c in test.iter("cipher")]
    assert ciphers, "sslscan found no accepted cipher"
    assert any(c.get("sslversion") == "TLSv1.3" for c in test.iter("cipher"))
    assert any(c.get("sslversion") == "TLSv1.2" for c in test.iter("cipher"))
    assert findings(test) == []


def test_scan_detects_old_versions(tls_factory):
    h = tls_factory(
        tls_min_version="TLSv1",
        tls_ciphers="ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256")
    test = sslscan(port_of(h, "imaps_listen"))
    found = findings(test)
    assert "protocol tls 1.0 is enabled" in found
    assert "protocol tls 1.1 is enabled" in found
    assert ("TLSv1.0", "ECDHE-RSA-AES128-SHA") in {
        (c.get("sslversion"), c.get("cipher")) for c in test.iter("cipher")}


# Debian 12's OpenSSL 3 did not negotiate DES-CBC3-SHA even when
# tls_ciphers named it, and RC4 and EXPORT need its legacy provider, so
# the weak-cipher check is shown to work on sslscan output written here.
WEAK_SCAN = """<ssltest host="127.0.0.1" port="1">
  <protocol type="tls" version="1.2" enabled="1" />
  <protocol type="tls" version="1.3" enabled="1" />
  <cipher sslversion="TLSv1.2" bits="128" cipher="RC4-SHA" />
  <cipher sslversion="TLSv1.2" bits="0" cipher="NULL-SHA256" />
  <cipher sslversion="TLSv1.2" bits="40" cipher="EXP-RC2-CBC-MD5" />
  <cipher sslversion="TLSv1.2" bits="112" cipher="DES-CBC3-SHA" />
  <cipher sslversion="TLSv1.2" bits="128" cipher="ADH-AES128-SHA" />
  <cipher sslversion="TLSv1.2" bits="128"
          cipher="ECDHE-RSA-AES128-GCM-SHA256" />
</ssltest>"""


def test_findings_flag_weak_ciphers():
    found = findings(ET.fromstring(WEAK_SCAN))
    for name in ("RC4-SHA", "NULL-SHA256", "EXP-RC2-CBC-MD5",
                 "DES-CBC3-SHA", "ADH-AES128-SHA"):
        assert f"weak cipher {name} (TLSv1.2)" in found
    assert "cipher EXP-RC2-CBC-MD5 has 40 bits" in found
    assert not any("ECDHE-RSA-AES128-GCM-SHA256" in f for f in found)
