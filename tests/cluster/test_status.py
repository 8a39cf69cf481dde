"""hapostctl status in the lab, and the cluster process's peer code across
the two nodes. The standby runs no hapostd in shared storage mode, so the
peer tests run the stand-in hapostd of conftest.py on it. Every test
leaves the group serving with both nodes online and no stand-in running.
"""

import os
import re
import time

import pytest

from conftest import LAB_DIR, STANDIN_CONF, TIMINGS, wait_until

# The cluster process marks the peer stale after three heartbeat
# intervals (cluster_heartbeat_interval, 1 s in the lab).
STALE_AFTER = 3.0


def other(node):
    return "node2" if node == "node1" else "node1"


def hapostd_log(node):
    return os.path.join(LAB_DIR, node, "var-log", "hapost", "hapostd.log")


def log_size(node):
    try:
        return os.path.getsize(hapostd_log(node))
    except FileNotFoundError:
        return 0


def log_since(node, offset):
    with open(hapostd_log(node), "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


@pytest.fixture
def standin(lab):
    """Run the stand-in hapostd on the standby node; yield (active,
    standby) and stop the stand-in afterwards."""
    active = lab.wait_serving()
    standby = other(active)
    lab.start_standin(standby)
    try:
        yield active, standby
    finally:
        lab.stop_standin(standby)


def wait_peer(lab, node, peer, timeout=30):
    """Wait until node's status shows peer alive and healthy; return the
    report. A peer's first heartbeats show its listeners as failed until
    its first probes have finished."""
    def alive():
        rc, report, _ = lab.status(node)
        if rc != 0 or report is None or report["peer"] is None:
            return None
        p = report["peer"]
        if p["node"] != peer or p["state"] != "alive" or not p["healthy"]:
            return None
        return report
    return wait_until(alive, timeout,
                      f"{node} to see {peer} alive and healthy")


def test_status_on_active_node(lab):
    node = lab.wait_serving()
    text = lab.exec(node, "hapostctl", "status", check=False)
    assert text.returncode == 0, text.stdout + text.stderr
    assert re.search(rf"^  name: +{node}$", text.stdout, re.M), text.stdout
    assert "health:         healthy" in text.stdout
    rc, report, err = lab.status(node)
    assert rc == 0, err
    assert report["node"] == node
    assert report["healthy"] is True
    assert report["data_dir"] == "/srv/hapost"
    assert report["data_dir_writable"] is True
    assert report["qmgr_alive"] is True
    services = sorted(listener["service"] for listener in
                      report["listeners"])
    assert services == ["imap", "pop3", "smtp", "submission"]
    assert all(listener["healthy"] for listener in report["listeners"])
    cluster = report["cluster"]
    assert cluster["connected"] is True, cluster
    assert cluster["group"] == "hapost"
    assert cluster["nodeid"] == int(node[-1])
    assert cluster["nodes"] == 2


def test_status_on_standby_node(lab):
    standby = other(lab.wait_serving())
    proc = lab.exec(standby, "hapostctl", "status", check=False)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert "hapostd is not running" in proc.stderr


def test_status_names_peer(lab, standin):
    active, standby = standin
    report = wait_peer(lab, active, standby)
    peer = report["peer"]
    assert peer["nodeid"] == int(standby[-1])
    assert peer["last_seen_age"] < STALE_AFTER, peer
    assert peer["qmgr_alive"] is True
    assert peer["data_dir_writable"] is True
    assert len(peer["listeners"]) == 4
    assert report["cluster"]["members"] == 2
    text = lab.exec(active, "hapostctl", "status").stdout
    peer_part = text.split("Peer\n", 1)[1]
    assert re.search(rf"^  name: +{standby} \(node id", peer_part, re.M), \
        text
    assert "state:          alive" in peer_part
    # The stand-in reports the active node as its peer.
    rc, back, err = lab.status(standby, STANDIN_CONF)
    assert rc == 0, err
    assert back["peer"]["node"] == active
    assert back["peer"]["state"] == "alive"


def test_peer_heartbeat_stays_fresh(lab, standin):
    active, standby = standin
    wait_peer(lab, active, standby)
    ages = []
    for _ in range(5):
        time.sleep(0.7)
        _, report, _ = lab.status(active)
        assert report["peer"]["state"] == "alive", report["peer"]
        ages.append(report["peer"]["last_seen_age"])
    assert max(ages) < STALE_AFTER, ages


def test_standby_power_off_and_recover(lab, standin):
    active, standby = standin
    wait_peer(lab, active, standby)
    offset = log_size(active)
    t0 = time.monotonic()
    lab.run("fail", standby)

    def left():
        text = log_since(active, offset)
        return re.search(rf"notice: peer left: node {standby}, node id "
                         r"\d+, pid \d+, reason node down", text)
    wait_until(left, 30, f"{active} to log that {standby} left")
    seen_left = time.monotonic() - t0
    rc, report, err = lab.status(active)
    assert rc == 0, err
    peer = report["peer"]
    assert peer is None or peer["state"] == "left", peer
    assert report["role"] == "standalone"
    assert report["cluster"]["members"] == 1
    assert report["cluster"]["nodes"] == 1
    # The standby's failure does not move the group.
    assert lab.wait_serving() == active

    offset = log_size(active)
    lab.run("recover", standby)
    lab.start_standin(standby)
    report = wait_peer(lab, active, standby)
    assert report["peer"]["last_seen_age"] < STALE_AFTER
    assert report["cluster"]["nodes"] == 2
    assert re.search(rf"notice: peer joined: node {standby}",
                     log_since(active, offset))
    TIMINGS.append(f"power-off of the standby {standby} -> {active} logs "
                   f"the peer leaving after {seen_left:.2f}s")
