"""Full TLS handshakes per second: hapost IMAPS against Dovecot IMAPS.

Both servers get the same RSA-2048 certificate, TLS 1.2 as the minimum
version and hapost's default TLS 1.2 cipher list; Dovecot runs in its
high-performance login mode (refservers.DOVECOT_FAST_LOGIN). The client
is CLIENT_PROCESSES Python processes, each looping for SECONDS: connect,
a full handshake (a new context without a session, so nothing is
resumed), read the first byte of the IMAP greeting, close. Each process
connects from its own loopback address so that TIME_WAIT sockets do not
run out of ports. The client runs on the same machine as the server and
uses part of its CPU, so the figures are lower bounds of what the server
alone could do.
"""

import multiprocessing
import os
import socket
import ssl
import subprocess
import tempfile
import shutil
import time

import refservers
from conftest import ALICE, Hapost

QUICK = os.environ.get("BENCH_QUICK") == "1"
SECONDS = float(os.environ.get("BENCH_TLS_SECONDS", 3 if QUICK else 10))
CLIENT_PROCESSES = int(os.environ.get("BENCH_TLS_CLIENTS", 4))
# hapost's default tls_ciphers (CFG_TLS_CIPHERS in core/lib/cfg.h).
CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
           "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
           "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
VERSIONS = {"TLSv1.3": ssl.TLSVersion.TLSv1_3,
            "TLSv1.2": ssl.TLSVersion.TLSv1_2}
NAME = "mx.example.test"
# The target: about 850 handshakes per second was the figure for Dovecot's
# high-performance login mode on a 2-core machine like this one. Each run
# also prints its own Dovecot figure.
TARGET = 850


def make_cert(d):
    """Makes a self-signed RSA-2048 certificate; returns (cert, key)."""
    cert, key = os.path.join(d, "mx.pem"), os.path.join(d, "mx.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "30",
                    "-subj", f"/CN={NAME}",
                    "-addext", f"subjectAltName=DNS:{NAME}"],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    return cert, key


def handshake_loop(port, version, source, seconds, out):
    """Runs full handshakes until seconds pass; puts (done, failed)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = VERSIONS[version]
    done = failed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10,
                                          source_address=(source, 0)) as s:
                with ctx.wrap_socket(s, server_hostname=NAME) as t:
                    if not t.recv(1):
                        raise OSError("closed before the greeting")
            done += 1
        except OSError:
            failed += 1
    out.put((done, failed))


def handshakes_per_second(port, version, first_source):
    """Runs CLIENT_PROCESSES clients at once; returns (rate, failed)."""
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(
        target=handshake_loop,
        args=(port, version, f"127.0.{first_source}.{10 + i}", SECONDS,
              out)) for i in range(CLIENT_PROCESSES)]
    started = time.monotonic()
    for p in procs:
        p.start()
    counts = [out.get(timeout=SECONDS + 60) for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - started
    done = sum(c[0] for c in counts)
    return done / elapsed, sum(c[1] for c in counts)


def measure(name, port, first_source, log):
    rates = {}
    for i, version in enumerate(VERSIONS):
        # Warm up: the first connections start Dovecot's login processes
        # and fill caches in both servers.
        handshake_loop(port, version, "127.0.0.9", 0.5,
                       multiprocessing.Queue())
        rate, failed = handshakes_per_second(port, version,
                                             first_source + i)
        log(f"tls: {name} {version}: {rate:.0f} handshakes/s, {failed} "
            f"failed")
        if failed:
            raise RuntimeError(f"{name} {version}: {failed} handshakes "
                               "failed")
        rates[version] = rate
    return rates


def bench_tls(results, log, mail_user):
    d = tempfile.mkdtemp(prefix="hapost-bench-tls-")
    os.chmod(d, 0o755)
    try:
        cert, key = make_cert(d)
        uid, gid = mail_user()
        dovecot = refservers.Dovecot(ALICE, "unused-password", uid, gid,
                                     tls=(cert, key, CIPHERS))
        try:
            dovecot.start()
            ref = measure("Dovecot", dovecot.imaps_port, 1, log)
        finally:
            dovecot.cleanup()
        imaps_port = refservers.free_port()
        hp = Hapost({"tls_cert_file": cert, "tls_key_file": key,
                     "imaps_listen": f"127.0.0.1:{imaps_port}",
                     "sessions_per_ip": 1000})
        try:
            hp.start()
            refservers.wait_for_port(imaps_port)
            workers = hp.settings["workers"]
            mine = measure("hapost", imaps_port, 3, log)
        finally:
            hp.cleanup()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    for version in VERSIONS:
        results.add(f"IMAPS full handshakes/s, {version}, RSA-2048, "
                    f"{CLIENT_PROCESSES} clients, hapost workers="
                    f"{workers}", mine[version], ref[version],
                    "(Dovecot high-performance login)",
                    target=f">= {TARGET}/s", goal=TARGET, absolute=True)
