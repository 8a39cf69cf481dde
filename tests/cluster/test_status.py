"""hapostctl status in the lab, and the cluster process's peer code across
the two nodes. The standby runs no hapostd in shared storage mode: the
active node shows it from Corosync's membership, as online with no
hapost running. The heartbeat tests run the stand-in hapostd of
conftest.py on it. Every test leaves the group serving with both nodes
online and no stand-in running.
"""

import os
import re
import time

import pytest

from conftest import LAB_DIR, STANDIN_CONF, TIMINGS, wait_until

# The cluster process marks the peer stale after three heartbeat
# intervals (cluster_heartbeat_interval, 1 s in the lab).
STALE_AFTER = 3.0
# Seconds from a power-off until the survivor's status shows the node
# offline. Corosync needs about 2 s with the lab's 1000 ms token.
OFFLINE_WITHIN = 8.0


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
    """Wait until node's status shows heartbeats from peer and return the
    report. A node sends no heartbeat before its first listener probes
    finished, so the peer must be healthy from its first one on."""
    def alive():
        rc, report, _ = lab.status(node)
        if rc != 0 or report is None or report["peer"] is None:
            return None
        p = report["peer"]
        if p["node"] != peer or p["state"] != "alive":
            return None
        return report
    report = wait_until(alive, timeout, f"{node} to see {peer} alive")
    assert report["peer"]["healthy"] is True, report["peer"]
    return report


def test_status_on_active_node(lab):
    node = lab.wait_serving()
    text = lab.exec(node, "hapostctl", "status", check=False)
    assert text.returncode == 0, text.stdout + text.stderr
    assert re.search(rf"^  name: +{node}$", text.stdout, re.M), text.stdout
    assert "health:         healthy" in text.stdout
    assert re.search(r"^  role: +active$", text.stdout, re.M), text.stdout
    rc, report, err = lab.status(node)
    assert rc == 0, err
    assert report["node"] == node
    assert report["role"] == "active"
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


def test_status_shows_standby_peer(lab):
    """The standby runs no hapostd, but the active node's status names it
    from Corosync's node list, online, with no hapost running."""
    active = lab.wait_serving()
    standby = other(active)
    rc, report, err = lab.status(active)
    assert rc == 0, err
    peer = report["peer"]
    assert peer is not None, report
    assert peer["node"] == standby
    assert peer["nodeid"] == int(standby[-1])
    assert peer["ring"] == "online"
    assert peer["hapost_running"] is False
    assert peer["state"] == "none"
    assert peer["healthy"] is None
    assert report["cluster"]["members"] == 1
    text = lab.exec(active, "hapostctl", "status").stdout
    peer_part = text.split("Peer\n", 1)[1]
    assert re.search(rf"^  name: +{standby} \(node id {standby[-1]}\)$",
                     peer_part, re.M), text
    assert re.search(r"^  ring: +online$", peer_part, re.M), text
    assert re.search(r"^  hapost: +no hapost running \(standby\)$",
                     peer_part, re.M), text


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
    assert peer["ring"] == "online"
    assert peer["hapost_running"] is True
    assert report["cluster"]["members"] == 2
    text = lab.exec(active, "hapostctl", "status").stdout
    peer_part = text.split("Peer\n", 1)[1]
    assert re.search(rf"^  name: +{standby} \(node id", peer_part, re.M), \
        text
    assert re.search(r"^  hapost: +running, last heartbeat [0-9.]+ s ago$",
                     peer_part, re.M), text
    assert re.search(r"^  health: +healthy$", peer_part, re.M), text
    # The stand-in reports the active node as its peer. It is a running
    # hapostd joined to the cluster, so by the role rule it reports active
    # too. In shared storage mode only Pacemaker starts a real one.
    rc, back, err = lab.status(standby, STANDIN_CONF)
    assert rc == 0, err
    assert back["peer"]["node"] == active
    assert back["peer"]["state"] == "alive"
    assert back["peer"]["ring"] == "online"
    assert back["role"] == "active"


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

    def offline():
        rc, report, _ = lab.status(active)
        if rc != 0 or report["peer"] is None:
            return None
        return report if report["peer"]["ring"] == "offline" else None
    report = wait_until(offline, OFFLINE_WITHIN,
                        f"{active} to show {standby} offline", 0.1)
    seen_offline = time.monotonic() - t0

    def left():
        text = log_since(active, offset)
        return re.search(rf"notice: peer left: node {standby}, node id "
                         r"\d+, pid \d+, reason node down", text)
    wait_until(left, 30, f"{active} to log that {standby} left")
    seen_left = time.monotonic() - t0
    rc, report, err = lab.status(active)
    assert rc == 0, err
    peer = report["peer"]
    assert peer["node"] == standby
    assert peer["ring"] == "offline"
    assert peer["hapost_running"] is False
    assert peer["state"] == "left", peer
    assert report["role"] == "active"
    assert report["cluster"]["members"] == 1
    assert report["cluster"]["nodes"] == 1
    assert re.search(rf"notice: peer node {standby} \(node id \d+\) is "
                     r"offline in the corosync membership",
                     log_since(active, offset))
    text = lab.exec(active, "hapostctl", "status").stdout
    assert re.search(r"^  ring: +offline$", text, re.M), text
    assert re.search(r"^  hapost: +not running \(node offline\)$", text,
                     re.M), text
    # The standby's failure does not move the group.
    assert lab.wait_serving() == active

    offset = log_size(active)
    lab.run("recover", standby)
    # Back in the ring before any hapostd runs there.

    def online():
        rc, report, _ = lab.status(active)
        if rc != 0 or report["peer"]["ring"] != "online":
            return None
        return report
    report = wait_until(online, 10, f"{active} to show {standby} online")
    assert report["peer"]["hapost_running"] is False
    lab.start_standin(standby)
    report = wait_peer(lab, active, standby)
    assert report["peer"]["last_seen_age"] < STALE_AFTER
    assert report["peer"]["ring"] == "online"
    assert report["cluster"]["nodes"] == 2
    log = log_since(active, offset)
    assert re.search(rf"notice: peer joined: node {standby}", log)
    assert re.search(rf"notice: peer node {standby} \(node id \d+\) is "
                     r"online in the corosync membership", log)
    TIMINGS.append(f"power-off of the standby {standby} -> {active} shows "
                   f"it offline after {seen_offline:.2f}s and logs the "
                   f"peer leaving after {seen_left:.2f}s")
