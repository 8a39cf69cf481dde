"""Runs testssl.sh against hapost's implicit-TLS IMAP listener on loopback.

Usage: testssl.py   (make check-testssl runs it; needs a built tree)

openssl makes a throw-away CA and an RSA-2048 server certificate for
mx.example.test, valid one year. hapostd starts with the default TLS
settings of conf/hapost.conf and an imaps_listen on 127.0.0.1. testssl.sh
(Debian package testssl.sh, 3.0) scans it with the CA added to its trust
store, SNI mx.example.test and no DNS lookups.
The certificate names a CRL and an OCSP responder on 127.0.0.1 that do
not exist: testssl.sh rates a certificate without either as HIGH, a
property of the certificate rather than of the server, and it contacts
neither without --phone-out. Every finding
of severity LOW or above is printed. The exit status is 1 when any
finding is HIGH or CRITICAL, 2 when the scan could not run, else 0.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "proto"))

from conftest import Hapost, free_port  # noqa: E402

NAME = "mx.example.test"
SEVERITIES = ["OK", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
FAILING = {"HIGH", "CRITICAL"}


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   capture_output=True, timeout=60)


def make_certs(d):
    """Makes ca.pem and a server certificate mx.pem/mx.key in d."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "365",
            "-subj", "/CN=hapost testssl CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", "mx.key", "-out", "mx.pem", "-days", "365",
            "-subj", f"/CN={NAME}", "-addext", f"subjectAltName=DNS:{NAME}",
            "-addext", "crlDistributionPoints=URI:http://127.0.0.1:9/ca.crl",
            "-addext", "authorityInfoAccess=OCSP;URI:http://127.0.0.1:9/",
            "-CA", "ca.pem", "-CAkey", "ca.key", cwd=d)
    return [os.path.join(d, n) for n in ("ca.pem", "mx.pem", "mx.key")]


def main():
    testssl = shutil.which("testssl") or shutil.which("testssl.sh")
    if testssl is None:
        print("testssl.py: testssl not found: install the Debian package "
              "testssl.sh", file=sys.stderr)
        return 2
    d = tempfile.mkdtemp(prefix="hapost-testssl-")
    os.chmod(d, 0o755)
    h = None
    try:
        ca, cert, key = make_certs(d)
        port = free_port()
        h = Hapost({"tls_cert_file": cert, "tls_key_file": key,
                    "imaps_listen": f"127.0.0.1:{port}"}).start()
        report = os.path.join(d, "testssl.json")
        cmd = [testssl, "--quiet", "--color", "0", "--warnings", "off",
               "--nodns", "none", "--add-ca", ca, "--ip", "127.0.0.1",
               "--jsonfile", report, f"{NAME}:{port}"]
        print("$ " + " ".join(cmd), flush=True)
        res = subprocess.run(cmd, timeout=1800)
        if not os.path.exists(report):
            print(f"testssl.py: testssl wrote no report (exit status "
                  f"{res.returncode})", file=sys.stderr)
            return 2
        with open(report) as f:
            findings = json.load(f)
    finally:
        if h is not None:
            h.cleanup()
        shutil.rmtree(d, ignore_errors=True)

    shown = [x for x in findings
             if x.get("severity") in SEVERITIES[2:]]
    print()
    print(f"testssl findings of severity LOW or above: {len(shown)}")
    for x in sorted(shown, key=lambda x: -SEVERITIES.index(x["severity"])):
        print(f"  {x['severity']:8} {x['id']}: {x['finding']}")
    failing = [x for x in shown if x["severity"] in FAILING]
    if failing:
        print(f"FAIL: {len(failing)} HIGH or CRITICAL findings")
        return 1
    print("PASS: no HIGH or CRITICAL findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
