"""Cluster tests against the two-node lab (deploy/lab), run by
tests/cluster/run. Every client connects from the lab's client namespace to
the VIP. The tests run in file order; each finds the active node itself and
leaves the group serving with both nodes online."""

import os
import re
import subprocess
import tempfile
import threading
import time
from xml.etree import ElementTree

import pytest

from conftest import LAB_DIR, NODES, TIMINGS, TOP, Streamer, greeting, \
    wait_until

RESOURCES = ("hapost-data", "hapost-ip", "hapost-mail")


def other(node):
    return NODES[1] if node == NODES[0] else NODES[0]


def started_lines(text, node):
    return [r for r in RESOURCES
            if re.search(rf"{r}\s.*Started {node}\b", text)]


def test_status_tools_show_group(lab):
    node = lab.wait_serving()
    crm_mon = lab.run("status").stdout
    assert started_lines(crm_mon, node) == list(RESOURCES), crm_mon
    assert "Online: [ node1 node2 ]" in crm_mon
    pcs = lab.exec(node, "pcs", "status").stdout
    assert started_lines(pcs, node) == list(RESOURCES), pcs
    crm = lab.exec(other(node), "crm", "status").stdout
    assert started_lines(crm, node) == list(RESOURCES), crm
    fence = re.search(r"hapost-fence\s.*Started", crm_mon)
    assert fence, "the fencing device is not started:\n" + crm_mon


def test_crm_verify_live_cib(lab):
    node = lab.wait_serving()
    live = lab.exec(node, "crm_verify", "--live-check", "-V", check=False)
    assert live.returncode == 0, live.stdout + live.stderr
    cib = lab.exec(node, "cibadmin", "--query").stdout
    assert 'name="stonith-enabled" value="true"' in cib
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
        f.write(cib)
        f.flush()
        saved = subprocess.run(["crm_verify", "--xml-file", f.name, "-V"],
                               capture_output=True, text=True)
    assert saved.returncode == 0, saved.stdout + saved.stderr


def test_crm_script_matches_pcs(lab):
    """deploy/cluster-crm.sh, run on an empty CIB file, creates the same
    resources, parameters and defaults as the lab's live CIB."""
    node = lab.wait_serving()
    live = lab.exec(node, "cibadmin", "--query").stdout
    agent = re.search(r'name="binary" value="([^"]+)"', live).group(1)
    sbin = os.path.dirname(agent)
    with tempfile.TemporaryDirectory() as tmp:
        cib = os.path.join(tmp, "cib.xml")
        script = (f"cibadmin --empty > {cib} && "
                  f"CIB_file={cib} {TOP}/deploy/cluster-crm.sh && "
                  f"crm_verify --xml-file {cib}")
        proc = lab.exec(
            node, "env", f"VIP={lab.vip}",
            f"DATA_DEVICE={LAB_DIR}/shared", "DATA_FSTYPE=none",
            "DATA_OPTIONS=bind", "HAPOST_LOGFILE=/var/log/hapost/hapostd.log",
            f"HAPOST_BINARY={sbin}/hapostd", f"HAPOSTCTL={sbin}/hapostctl",
            "FENCE_AGENT=fence_hapostlab",
            f"FENCE_OPTIONS=lab_dir={LAB_DIR} pcmk_host_list=node1,node2 "
            "pcmk_reboot_action=off",
            "sh", "-c", script, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        # The node sees the machine's /tmp, so the file is readable here.
        with open(cib) as f:
            crm_cib = f.read()

    def summary(xml):
        conf = ElementTree.fromstring(xml).find("configuration")
        prims = {}
        for p in conf.iter("primitive"):
            params = {nv.get("name"): nv.get("value")
                      for nv in p.findall("instance_attributes/nvpair")
                      if nv.get("value")}
            ops = sorted((op.get("name"), op.get("interval"))
                         for op in p.findall("operations/op")
                         if op.get("interval") not in ("0", "0s"))
            prims[p.get("id")] = (p.get("class"), p.get("provider"),
                                  p.get("type"), params, ops)
        group = conf.find("resources/group[@id='hapost']")
        order = [p.get("id") for p in group.findall("primitive")]
        defaults = {nv.get("name"): nv.get("value")
                    for nv in conf.findall("rsc_defaults/meta_attributes/"
                                           "nvpair")}
        props = {nv.get("name"): nv.get("value")
                 for nv in conf.findall("crm_config/cluster_property_set/"
                                        "nvpair")
                 if nv.get("name") == "stonith-enabled"}
        return prims, order, defaults, props

    assert summary(crm_cib) == summary(live)


def test_hapostctl_runs_inside_node(lab):
    node = lab.wait_serving()
    proc = lab.exec(node, "hapostctl", "account", "list")
    assert lab.user in proc.stdout.split()
    for n in NODES:
        conf = lab.exec(n, "hapostctl", "config", "check", check=False)
        assert conf.returncode == 0, conf.stdout + conf.stderr


def test_mail_through_vip(lab):
    lab.wait_serving()
    tag = lab.new_tag()
    ids = lab.send(tag, 3)
    imap = lab.wait_delivered(ids)
    for i in ids:
        assert imap[i] == 1, f"{i} seen {imap[i]} times over IMAP"
    pop3 = lab.pop3_message_ids()
    for i in ids:
        assert pop3[i] == 1, f"{i} seen {pop3[i]} times over POP3"
    assert greeting(lab.vip, lab.submission_port).startswith("220")


def test_master_killed_is_restarted(lab):
    node = lab.wait_serving()
    old = lab.master_pid(node)
    assert old, f"no hapostd pid file on {node}"
    tag = lab.new_tag()
    streamer = Streamer(lab, tag)
    streamer.start()
    wait_until(lambda: len(streamer.acked) >= 5, 30, "the first messages")
    t0 = time.monotonic()
    lab.exec(node, "kill", "-KILL", str(old))

    def restarted():
        where = lab.serving_node()
        if where is None:
            return None
        pid = lab.master_pid(where)
        return (where, pid) if pid and (where, pid) != (node, old) else None
    where, new = wait_until(restarted, 90, "Pacemaker to restart hapostd")
    elapsed = time.monotonic() - t0
    acked_before = len(streamer.acked)
    wait_until(lambda: len(streamer.acked) >= acked_before + 5, 30,
               "messages accepted after the restart")
    streamer.stop()
    TIMINGS.append(f"master SIGKILL on {node} -> serving again on {where} "
                   f"(pid {new}): {elapsed:.2f}s; {len(streamer.acked)} "
                   f"messages acked, {streamer.errors} client errors")
    lab.check_exactly_once(streamer.acked, streamer.tried, tag)
    fails = lab.exec(where, "crm_mon", "-1", "--failcounts").stdout
    assert re.search(r"hapost-mail.*fail-count=", fails), fails
    lab.exec(where, "pcs", "resource", "cleanup", "hapost-mail")
    lab.wait_serving()


def planned_move(lab, command, clear, tool):
    node = lab.wait_serving()
    target = other(node)
    tag = lab.new_tag()
    before = lab.send(tag, 3)
    streamer = Streamer(lab, tag + "s")
    streamer.start()
    wait_until(lambda: len(streamer.acked) >= 3, 30, "the first messages")
    t0 = time.monotonic()
    lab.exec(node, *[target if a == "TARGET" else a for a in command],
             timeout=120)
    lab.wait_serving(not_on=node)
    elapsed = time.monotonic() - t0
    acked_before = len(streamer.acked)
    wait_until(lambda: len(streamer.acked) >= acked_before + 3, 30,
               "messages accepted after the move")
    streamer.stop()
    lab.exec(target, *clear)
    TIMINGS.append(f"{tool} move {node} -> {target}: serving after "
                   f"{elapsed:.2f}s; {streamer.errors} client errors")
    constraints = lab.exec(target, "cibadmin", "--query", "--scope",
                           "constraints").stdout
    assert "cli-" not in constraints, constraints
    assert lab.group_node() == target
    lab.check_exactly_once(before, before, tag)
    lab.check_exactly_once(streamer.acked, streamer.tried, tag + "s")


def test_move_with_pcs(lab):
    planned_move(lab, ["pcs", "resource", "move", "hapost", "TARGET"],
                 ["pcs", "resource", "clear", "hapost"], "pcs resource")


def test_move_with_crm(lab):
    planned_move(lab, ["crm", "resource", "move", "hapost", "TARGET"],
                 ["crm", "resource", "clear", "hapost"], "crm resource")


@pytest.mark.parametrize("round_", [1, 2])
def test_hard_failover_keeps_acked_mail(lab, round_):
    node = lab.wait_serving()
    survivor = other(node)
    tag = lab.new_tag()
    streamer = Streamer(lab, tag)
    streamer.start()
    wait_until(lambda: len(streamer.acked) >= 10, 30, "the first messages")

    answered = {}

    def probe(name, port, prefix):
        while name not in answered and time.monotonic() - t0 < 120:
            if (greeting(lab.vip, port, 0.5) or "").startswith(prefix):
                answered[name] = time.monotonic() - t0
                return
            time.sleep(0.05)

    t0 = time.monotonic()
    lab.run("fail", node)
    probes = [threading.Thread(target=probe, args=a, daemon=True) for a in
              (("SMTP", lab.smtp_port, "220"),
               ("IMAP", lab.imap_port, "* OK"))]
    for p in probes:
        p.start()
    for p in probes:
        p.join(130)
    assert set(answered) == {"SMTP", "IMAP"}, \
        f"the VIP did not answer after the power-off of {node}: {answered}"
    assert lab.wait_serving(not_on=node) == survivor
    acked_before = len(streamer.acked)
    wait_until(lambda: len(streamer.acked) >= acked_before + 10, 30,
               "messages accepted after the failover")
    streamer.stop()
    TIMINGS.append(
        f"failover {round_}: power-off of {node} -> SMTP answers at the VIP "
        f"after {answered['SMTP']:.2f}s, IMAP after {answered['IMAP']:.2f}s; "
        f"{len(streamer.acked)} messages acked, {streamer.errors} client "
        "errors")
    lab.check_exactly_once(streamer.acked, streamer.tried, tag)

    t1 = time.monotonic()
    lab.run("recover", node)
    TIMINGS.append(f"failover {round_}: {node} rejoined "
                   f"{time.monotonic() - t1:.2f}s after recover")
    # Stickiness keeps the group where it is when the old node returns.
    assert lab.wait_serving() == survivor
    online = lab.run("status").stdout
    assert "Online: [ node1 node2 ]" in online, online
