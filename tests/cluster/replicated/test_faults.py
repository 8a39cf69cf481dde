"""Failures around the replication link in the replicated lab: the
standby powered off under load, the replication link cut while the
corosync link stays up, and the active node lost while its standby is
still catching up. Every test ends with one node active and both in
sync; the last one needs the old active node back for that."""

import smtplib
import threading
import time

import repl_lab
from conftest import TIMINGS, Streamer, wait_until


def state_of(lab, node):
    return repl_lab.replication(lab, node).get("state")


def wait_state(lab, node, want, timeout=60):
    return wait_until(lambda: state_of(lab, node) == want, timeout,
                      f"{node} to report the replication state {want}")


def wait_more_acked(streamer, count, timeout, description):
    before = len(streamer.acked)
    wait_until(lambda: len(streamer.acked) >= before + count, timeout,
               description)


class RoleWatch(threading.Thread):
    """Polls crm_mon and the standby's report until stopped and records
    every moment with more than one Promoted instance, or with the
    standby reporting the active role."""

    def __init__(self, lab, standby):
        super().__init__(daemon=True)
        self.lab = lab
        self.standby = standby
        self.violations = []
        self.polls = 0
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            promoted = self.lab.promoted_nodes()
            if len(promoted) > 1:
                self.violations.append(f"Promoted on {promoted}")
            rep = repl_lab.report(self.lab, self.standby)
            if rep and rep.get("role") == "active":
                self.violations.append(f"{self.standby} reports active")
            self.polls += 1
            self.stopping.wait(0.5)

    def stop(self):
        self.stopping.set()
        self.join(60)


def test_standby_power_off_under_load(lab):
    active, standby = repl_lab.wait_in_sync(lab)
    ledger = repl_lab.Ledger()
    streamer = Streamer(lab, lab.new_tag())
    streamer.start()
    try:
        wait_until(lambda: len(streamer.acked) >= 10, 30,
                   "the first messages")
        lab.run("fail", standby)
        t0 = time.monotonic()
        wait_state(lab, active, "degraded")
        degraded_after = time.monotonic() - t0
        wait_more_acked(streamer, 20, 60,
                        "messages accepted by the degraded active node")
        assert lab.promoted_nodes() == [active]
        lab.run("recover", standby)
        t1 = time.monotonic()
        wait_more_acked(streamer, 10, 60,
                        "messages accepted while the standby returns")
    finally:
        streamer.stop()
    ledger.add_stream(streamer)
    assert repl_lab.wait_in_sync(lab, 180) == (active, standby)
    in_sync_after = time.monotonic() - t1
    ledger.check(lab, active)
    repl_lab.wait_same_manifests(lab)
    TIMINGS.append(f"standby {standby} powered off under load: {active} "
                   f"degraded after {degraded_after:.2f}s; in sync again "
                   f"{in_sync_after:.2f}s after recover; "
                   f"{len(streamer.acked)} messages acked, "
                   f"{streamer.errors} client errors")


def test_replication_link_cut(lab):
    active, standby = repl_lab.wait_in_sync(lab)
    ledger = repl_lab.Ledger()
    watch = RoleWatch(lab, standby)
    streamer = Streamer(lab, lab.new_tag())
    streamer.start()
    watch.start()
    try:
        wait_until(lambda: len(streamer.acked) >= 10, 30,
                   "the first messages")
        repl_lab.set_link(lab, standby, up=False)
        t0 = time.monotonic()
        wait_state(lab, active, "degraded")
        degraded_after = time.monotonic() - t0
        wait_more_acked(streamer, 20, 60,
                        "messages accepted by the degraded active node")
        # The active node announced its new generation over corosync, so
        # the standby's report marks its data stale and the agent deletes
        # its score.
        wait_until(lambda: repl_lab.promotion_score(lab, standby) is None,
                   60, f"{standby}'s promotion score to be deleted")
        rs = repl_lab.replication(lab, standby)
        assert rs.get("promotable") is False, rs
        assert lab.promoted_nodes() == [active]
        repl_lab.set_link(lab, standby, up=True)
        t1 = time.monotonic()
        wait_more_acked(streamer, 10, 60,
                        "messages accepted after the link is back")
    finally:
        repl_lab.set_link(lab, standby, up=True)
        streamer.stop()
        watch.stop()
    ledger.add_stream(streamer)
    assert repl_lab.wait_in_sync(lab, 180) == (active, standby)
    in_sync_after = time.monotonic() - t1
    assert watch.polls > 0
    assert not watch.violations, watch.violations
    ledger.check(lab, active)
    repl_lab.wait_same_manifests(lab)
    TIMINGS.append(f"replication link of {standby} cut: {active} degraded "
                   f"after {degraded_after:.2f}s, in sync "
                   f"{in_sync_after:.2f}s after the link is back; "
                   f"{watch.polls} role checks, one active throughout")


def send_large(lab, ledger, count, size):
    """Send count messages of about size bytes each; add them to the
    ledger."""
    tag = lab.new_tag()
    ids = []
    with smtplib.SMTP(lab.vip, lab.smtp_port, timeout=60) as smtp:
        for n in range(1, count + 1):
            msg_id = lab.message_id(tag, n)
            msg = lab.message(msg_id)
            line = ("0123456789" * 7 + "\n")
            msg.set_content("Body of " + msg_id + "\n" +
                            line * (size // len(line)))
            smtp.send_message(msg)
            ids.append(msg_id)
    ledger.add_sent(tag, ids)


def test_stale_standby_not_promoted(lab):
    """The standby was away while the active node took mail; the active
    node is lost while the standby still catches up. Pacemaker must not
    promote the stale standby: no Promoted instance, no score. Once the
    old active node is back, it is promoted and the other catches up."""
    active, standby = repl_lab.wait_in_sync(lab)
    ledger = repl_lab.Ledger()
    lab.run("fail", standby)
    wait_state(lab, active, "degraded")
    # About 4 MB for the standby to copy, at 1 Mbit/s: half a minute of
    # catching up, far more than the few seconds until the kill below.
    send_large(lab, ledger, 16, 256 * 1024)
    ledger.check(lab, active)
    repl_lab.limit_link(lab, active, "1mbit")
    try:
        lab.run("recover", standby)
        wait_state(lab, standby, "catching-up", 120)
        rs = repl_lab.replication(lab, standby)
        assert rs.get("promotable") is False, rs
    except BaseException:
        repl_lab.limit_link(lab, active, None)
        raise

    lab.run("fail", active)
    t0 = time.monotonic()
    # Wait until the survivor has fenced the lost node and the scheduler
    # has nothing left to do: its decision is then final.
    wait_until(lambda: active not in lab.running_nodes(), 30,
               f"{active} to be off")
    repl_lab.settle(lab)
    settled_after = time.monotonic() - t0
    assert lab.promoted_nodes() == [], lab.run("status").stdout
    assert repl_lab.promotion_score(lab, standby) is None
    rep = repl_lab.report(lab, standby)
    assert rep["role"] == "standby", rep
    assert rep["replication"]["promotable"] is False, rep["replication"]
    assert rep["replication"]["promotion_score"] == 0, rep["replication"]

    # The old active node has the newest complete data: it is promoted
    # again and the stale node catches up from it.
    lab.run("recover", active)
    assert lab.wait_serving(timeout=120) == active
    assert repl_lab.wait_in_sync(lab, 180) == (active, standby)
    ledger.check(lab, active)
    repl_lab.wait_same_manifests(lab)
    TIMINGS.append(f"active {active} lost while {standby} caught up: no "
                   f"promotion ({settled_after:.2f}s until the cluster "
                   "settled); service back when the old active returned")
