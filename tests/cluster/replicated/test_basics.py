"""The replicated lab as Pacemaker and hapostctl show it. One instance
is Promoted and has the VIP, the other is Unpromoted and in sync. The
tests check the CIB that the replicated deploy scripts make, the
promotion scores, mail through the VIP reaching both data_dirs, and a
planned switchover. Every test leaves both nodes in sync."""

import os
import re
import subprocess
import tempfile
import time
from xml.etree import ElementTree

import repl_lab
from conftest import LAB_DIR, TIMINGS, TOP, Streamer, wait_until


def test_clone_promoted_on_one_node(lab):
    active, standby = repl_lab.wait_in_sync(lab)
    xml = lab.crm_mon_xml()
    assert lab.promoted_nodes(xml) == [active]
    root = ElementTree.fromstring(xml)
    roles = {n.get("name"): res.get("role")
             for res in root.iterfind(".//clone[@id='hapost']/resource")
             for n in res.iter("node")}
    assert roles == {active: "Promoted", standby: "Unpromoted"}, roles
    text = lab.run("status").stdout
    assert re.search(rf"Promoted: \[ {active} \]", text), text
    assert re.search(rf"Unpromoted: \[ {standby} \]", text), text
    assert re.search(rf"hapost-ip\s.*Started {active}\b", text), text
    assert re.search(r"hapost-fence\s.*Started", text), text
    assert "Filesystem" not in text


def test_crm_verify_live_cib(lab):
    active, _ = repl_lab.wait_in_sync(lab)
    live = lab.exec(active, "crm_verify", "--live-check", "-V", check=False)
    assert live.returncode == 0, live.stdout + live.stderr
    cib = lab.exec(active, "cibadmin", "--query").stdout
    assert 'name="stonith-enabled" value="true"' in cib
    conf = ElementTree.fromstring(cib).find("configuration")
    clone = conf.find("resources/clone[@id='hapost']")
    assert clone is not None, cib
    meta = {nv.get("name"): nv.get("value")
            for nv in clone.findall("meta_attributes/nvpair")}
    assert meta.get("promotable") == "true", meta
    assert meta.get("promoted-max") == "1", meta
    assert meta.get("clone-max") == "2", meta
    coloc = conf.find("constraints/rsc_colocation[@rsc='hapost-ip']")
    assert coloc is not None, cib
    assert coloc.get("with-rsc") == "hapost"
    assert coloc.get("with-rsc-role") == "Promoted"
    assert coloc.get("score") == "INFINITY"
    order = conf.find("constraints/rsc_order[@then='hapost-ip']")
    assert order is not None, cib
    assert order.get("first") == "hapost"
    assert order.get("first-action") == "promote"
    assert order.get("then-action") == "start"
    types = [p.get("type") for p in conf.iter("primitive")]
    assert "Filesystem" not in types, types
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
        f.write(cib)
        f.flush()
        saved = subprocess.run(["crm_verify", "--xml-file", f.name, "-V"],
                               capture_output=True, text=True)
    assert saved.returncode == 0, saved.stdout + saved.stderr


def cib_summary(xml):
    """Primitives (class, provider, type, parameters, recurring ops with
    their roles), clone meta attributes, constraints, defaults and the
    fencing property of a CIB."""
    conf = ElementTree.fromstring(xml).find("configuration")
    prims = {}
    for p in conf.iter("primitive"):
        params = {nv.get("name"): nv.get("value")
                  for nv in p.findall("instance_attributes/nvpair")
                  if nv.get("value")}
        ops = sorted((op.get("name"), op.get("interval"), op.get("role"))
                     for op in p.findall("operations/op")
                     if op.get("interval") not in ("0", "0s"))
        prims[p.get("id")] = (p.get("class"), p.get("provider"),
                              p.get("type"), params, ops)
    clones = {c.get("id"): ({nv.get("name"): nv.get("value")
                             for nv in c.findall("meta_attributes/nvpair")},
                            [p.get("id") for p in c.findall("primitive")])
              for c in conf.iter("clone")}
    colocs = sorted((c.get("rsc"), c.get("with-rsc"), c.get("score"),
                     c.get("rsc-role") or "Started", c.get("with-rsc-role"))
                    for c in conf.iter("rsc_colocation"))
    orders = sorted((o.get("first"), o.get("first-action"), o.get("then"),
                     o.get("then-action"), o.get("kind") or "Mandatory")
                    for o in conf.iter("rsc_order"))
    defaults = {nv.get("name"): nv.get("value")
                for nv in conf.findall("rsc_defaults/meta_attributes/nvpair")}
    props = {nv.get("name"): nv.get("value")
             for nv in conf.findall("crm_config/cluster_property_set/nvpair")
             if nv.get("name") == "stonith-enabled"}
    return prims, clones, colocs, orders, defaults, props


def test_crm_script_matches_pcs(lab):
    """deploy/cluster-crm-replicated.sh, run on an empty CIB file, makes
    the same resources, constraints and defaults as the lab's live CIB,
    which deploy/cluster-pcs-replicated.sh made."""
    active, _ = repl_lab.wait_in_sync(lab)
    live = lab.exec(active, "cibadmin", "--query").stdout
    binary = re.search(r'name="binary" value="([^"]+)"', live).group(1)
    sbin = os.path.dirname(binary)
    with tempfile.TemporaryDirectory() as tmp:
        cib = os.path.join(tmp, "cib.xml")
        script = (f"cibadmin --empty > {cib} && "
                  f"CIB_file={cib} {TOP}/deploy/cluster-crm-replicated.sh && "
                  f"crm_verify --xml-file {cib}")
        proc = lab.exec(
            active, "env", f"VIP={lab.vip}",
            "HAPOST_LOGFILE=/var/log/hapost/hapostd.log",
            f"HAPOST_BINARY={sbin}/hapostd", f"HAPOSTCTL={sbin}/hapostctl",
            "FENCE_AGENT=fence_hapostlab",
            f"FENCE_OPTIONS=lab_dir={LAB_DIR} pcmk_host_list=node1,node2 "
            "pcmk_reboot_action=off",
            "sh", "-c", script, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        with open(cib) as f:
            crm_cib = f.read()
    assert cib_summary(crm_cib) == cib_summary(live)


def test_status_reports_replication(lab):
    active, standby = repl_lab.wait_in_sync(lab)
    a = repl_lab.report(lab, active)
    s = repl_lab.report(lab, standby)
    assert a["role"] == "active"
    assert s["role"] == "standby"
    ra, rs = a["replication"], s["replication"]
    assert ra["state"] == "in-sync", ra
    assert rs["state"] == "in-sync", rs
    assert ra["connected"] is True, ra
    assert rs["connected"] is True, rs
    assert ra["generation"] == rs["generation"], (ra, rs)
    assert ra["complete"] and rs["complete"], (ra, rs)
    assert rs["promotable"] is True, rs
    assert ra["lag_changes"] == 0, ra


def test_promotion_scores(lab):
    """The agent copies the report's score into the node attribute on
    every monitor: 100 for the in-sync standby, at least 1000 for the
    active node."""
    active, standby = repl_lab.wait_in_sync(lab)

    def scores():
        a = repl_lab.promotion_score(lab, active)
        s = repl_lab.promotion_score(lab, standby)
        return (a, s) if s == 100 and a is not None and a >= 1000 else None
    wait_until(scores, 30, "the promotion scores 1000 and 100")
    rs = repl_lab.replication(lab, standby)
    assert rs["promotion_score"] == 100, rs


def test_lab_status_shows_replication(lab):
    active, standby = repl_lab.wait_in_sync(lab)
    text = lab.run("status").stdout
    part = text.split("Replication:", 1)
    assert len(part) == 2, text
    lines = part[1]
    assert re.search(rf"^  {active}: role active, state in-sync,", lines,
                     re.M), text
    assert re.search(rf"^  {standby}: role standby, state in-sync,", lines,
                     re.M), text


def test_mail_through_vip_reaches_standby(lab):
    active, _ = repl_lab.wait_in_sync(lab)
    ledger = repl_lab.Ledger()
    tag = lab.new_tag()
    ledger.add_sent(tag, lab.send(tag, 5))
    ledger.check(lab, active)
    pop3 = lab.pop3_message_ids()
    for i in ledger.acked:
        assert pop3[i] == 1, f"{i} seen {pop3[i]} times over POP3"
    repl_lab.wait_in_sync(lab)
    repl_lab.wait_same_manifests(lab)


def test_planned_switchover(lab):
    """pcs resource move --promoted with a client streaming mail: the old
    active node is demoted, the standby promoted, the VIP follows, and
    every acknowledged message is there exactly once."""
    active, standby = repl_lab.wait_in_sync(lab)
    ledger = repl_lab.Ledger()
    streamer = Streamer(lab, lab.new_tag())
    streamer.start()
    try:
        wait_until(lambda: len(streamer.acked) >= 5, 30,
                   "the first messages")
        t0 = time.monotonic()
        lab.exec(active, "pcs", "resource", "move", "hapost", standby,
                 "--promoted", timeout=120)
        assert lab.wait_serving(not_on=active) == standby
        elapsed = time.monotonic() - t0
        before = len(streamer.acked)
        wait_until(lambda: len(streamer.acked) >= before + 5, 30,
                   "messages accepted after the switchover")
    finally:
        streamer.stop()
    lab.exec(standby, "pcs", "resource", "clear", "hapost")
    ledger.add_stream(streamer)
    assert repl_lab.wait_in_sync(lab, 180) == (standby, active)
    ledger.check(lab, standby)
    constraints = lab.exec(standby, "cibadmin", "--query", "--scope",
                           "constraints").stdout
    assert "cli-" not in constraints, constraints
    TIMINGS.append(f"pcs resource move hapost {standby} --promoted: "
                   f"serving after {elapsed:.2f}s; {len(streamer.acked)} "
                   f"messages acked, {streamer.errors} client errors")
