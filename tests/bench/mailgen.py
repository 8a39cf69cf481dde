"""Test messages written straight into Maildirs.

The messages come from a fixed random seed, so every run and every server
gets the same bytes. For 10,000 messages the sizes run from 746 bytes to
24,610 bytes with a median of 3,861 bytes (47,902,557 bytes in all).
Lines end in LF, as Maildir files do on Unix.
"""

import os
import random
import time

WORDS = ("mail server queue delivery mailbox folder header message body "
         "cluster standby active replica failover storage network client "
         "protocol session login fetch search flags envelope size date "
         "subject sender recipient domain account alias report").split()


def make_message(i, rng, to):
    """Returns message i as bytes: RFC 5322 headers and a text body."""
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))
    sender = f"{rng.choice(WORDS)}.{rng.choice(WORDS)}@sender{i % 50}.test"
    # A log-normal size gives many small messages and a few large ones.
    body_size = min(24000, int(rng.lognormvariate(8.1, 0.7)))
    lines = []
    size = 0
    while size < body_size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12)))
        lines.append(line)
        size += len(line) + 1
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000",
                         time.gmtime(1700000000 + i * 37))
    head = (f"Return-Path: <{sender}>\n"
            f"Received: from sender{i % 50}.test (sender{i % 50}.test "
            f"[192.0.2.{i % 250 + 1}])\n"
            f"\tby mx.example.test with ESMTP id bench{i:06d}\n"
            f"\tfor <{to}>; {date}\n"
            f"From: \"{sender.split('@')[0].title()}\" <{sender}>\n"
            f"To: <{to}>\n"
            f"Cc: \"Team\" <team@example.test>\n"
            f"Subject: {subject} #{i}\n"
            f"Date: {date}\n"
            f"Message-ID: <bench.{i:06d}@sender{i % 50}.test>\n"
            f"MIME-Version: 1.0\n"
            f"Content-Type: text/plain; charset=us-ascii\n"
            f"\n")
    return (head + "\n".join(lines) + "\n").encode()


def make_messages(count, to, seed=20240601):
    rng = random.Random(seed)
    return [make_message(i, rng, to) for i in range(count)]


def fill_maildir(root, messages, uid, gid):
    """Writes messages into root/cur/ as unseen, owned by uid:gid.

    File names are "TIME.BENCHnnnnnn.bench,S=SIZE:2," with mtimes one
    second apart, so every reader sorts them in the same order.
    """
    for sub in ("cur", "new", "tmp"):
        path = os.path.join(root, sub)
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chown(path, uid, gid)
    os.chmod(root, 0o700)
    os.chown(root, uid, gid)
    base_time = 1700000000
    for i, data in enumerate(messages):
        name = f"{base_time + i}.BENCH{i:06d}.bench,S={len(data)}:2,"
        path = os.path.join(root, "cur", name)
        with open(path, "wb") as f:
            f.write(data)
        os.chown(path, uid, gid)
        os.utime(path, (base_time + i, base_time + i))
    os.sync()


def count_messages(root):
    """Counts the files in root/new and root/cur (0 if missing)."""
    total = 0
    for sub in ("new", "cur"):
        try:
            with os.scandir(os.path.join(root, sub)) as it:
                total += sum(1 for _ in it)
        except FileNotFoundError:
            pass
    return total
