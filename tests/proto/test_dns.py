"""MX and host lookups (core/lib/dns.c) against the test DNS server.

tests/tools/dns-lookup runs the lookups on one resolver and prints each
result; dnsserver.py answers on a loopback port. Lookups that end in a
timeout take about 6 s (2 s, then 4 s on the second try), so those
cases share one dns-lookup run.
"""

import os
import subprocess

import pytest

from conftest import builddir
from dnsserver import DNSServer

RECORDS = {
    "example.test": {"MX": [(20, "mx2.example.test"),
                            (10, "mx1.example.test"),
                            (10, "mx1b.example.test"),
                            (30, "mx3.example.test")]},
    "mx1.example.test": {"A": ["192.0.2.1"], "AAAA": ["2001:db8::1"]},
    "mx1b.example.test": {"A": ["192.0.2.11"]},
    "mx2.example.test": {"AAAA": ["2001:db8::2"]},
    "mx3.example.test": {"CNAME": "real.example.test"},
    "real.example.test": {"A": ["192.0.2.3"]},
    "implicit.test": {"A": ["192.0.2.5"], "AAAA": ["2001:db8::5"]},
    "nomail.test": {"MX": [(0, ".")]},
    "gone.test": "NXDOMAIN",
    "broken.test": "SERVFAIL",
    "refused.test": "REFUSED",
    "slow.test": "TIMEOUT",
    "textonly.test": {"TXT": ["v=spf1 -all"]},
    "badmx.test": {"MX": [(10, "missing.badmx.test")]},
    "halfmx.test": {"MX": [(10, "missing.halfmx.test"),
                           (20, "ok.halfmx.test")]},
    "ok.halfmx.test": {"A": ["192.0.2.20"]},
    "v6only.test": {"AAAA": ["2001:db8::6"]},
    "alias.test": {"CNAME": "real.example.test"},
    "aaaaslow.test": {"A": ["192.0.2.30"], "AAAA": "TIMEOUT"},
    "mxslow.test": {"MX": [(10, "slow.test")]},
}


@pytest.fixture(scope="module")
def dns():
    server = DNSServer(RECORDS).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh_records(dns):
    dns.set_records(RECORDS)
    yield


def dns_lookup(dns, kind, *names, options=()):
    tool = os.path.join(builddir(), "tests", "tools", "dns-lookup")
    cmd = [tool, "--servers", dns.servers, *options, kind, *names]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    # Under --enable-asan, a memory error or leak shows up here.
    assert "Sanitizer" not in proc.stderr, proc.stderr
    assert "runtime error" not in proc.stderr, proc.stderr
    return proc


def parse(output):
    """Returns one dict per "lookup" block of dns-lookup's output."""
    results = []
    for line in output.splitlines():
        key, _, value = line.partition(" ")
        if key == "lookup":
            results.append({"name": value.split(" ", 1)[1], "hosts": []})
        elif key == "host":
            name, _, rest = value.partition(" preference ")
            preference, _, status = rest.partition(" status ")
            results[-1]["hosts"].append({"name": name,
                                         "preference": int(preference),
                                         "status": status,
                                         "addresses": []})
        elif key == "address":
            results[-1]["hosts"][-1]["addresses"].append(value)
        else:
            results[-1][key] = value
    return results


def lookup(dns, kind, *names):
    proc = dns_lookup(dns, kind, *names)
    assert proc.returncode == 0, proc.stderr
    results = parse(proc.stdout)
    assert [r["name"] for r in results] == list(names)
    return results if len(names) > 1 else results[0]


def test_mx_order_by_preference(dns):
    r = lookup(dns, "mx", "example.test")
    assert r["status"] == "ok"
    assert r["implicit_mx"] == "no"
    names = [h["name"] for h in r["hosts"]]
    assert sorted(names[:2]) == ["mx1.example.test", "mx1b.example.test"]
    assert names[2:] == ["mx2.example.test", "mx3.example.test"]
    assert [h["preference"] for h in r["hosts"]] == [10, 10, 20, 30]


def test_mx_hosts_resolved(dns):
    hosts = {h["name"]: h for h in lookup(dns, "mx", "example.test")["hosts"]}
    assert sorted(hosts["mx1.example.test"]["addresses"]) == [
        "192.0.2.1", "2001:db8::1"]
    assert hosts["mx2.example.test"]["addresses"] == ["2001:db8::2"]
    # mx3 is a CNAME to real.example.test.
    assert hosts["mx3.example.test"]["addresses"] == ["192.0.2.3"]
    assert all(h["status"] == "ok" for h in hosts.values())


def test_equal_preferences_shuffled(dns):
    results = lookup(dns, "mx", *(["example.test"] * 30))
    firsts = {r["hosts"][0]["name"] for r in results}
    # 30 lookups all in one order would happen with probability 2^-29.
    assert firsts == {"mx1.example.test", "mx1b.example.test"}
    for r in results:
        assert [h["preference"] for h in r["hosts"]] == [10, 10, 20, 30]


def test_implicit_mx(dns):
    r = lookup(dns, "mx", "implicit.test")
    assert r["status"] == "ok"
    assert r["implicit_mx"] == "yes"
    assert len(r["hosts"]) == 1
    assert r["hosts"][0]["name"] == "implicit.test"
    assert r["hosts"][0]["preference"] == 0
    assert sorted(r["hosts"][0]["addresses"]) == ["192.0.2.5",
                                                  "2001:db8::5"]


def test_null_mx(dns):
    r = lookup(dns, "mx", "nomail.test")
    assert r["status"] == "null MX"
    assert r["hosts"] == []
    assert "nomail.test" in r["error"]
    # The domain's addresses were not looked up.
    assert ("nomail.test", "A") not in dns.queries


def test_nxdomain_not_found(dns):
    r = lookup(dns, "mx", "gone.test")
    assert r["status"] == "not found"
    assert "gone.test" in r["error"]


def test_no_mx_no_address(dns):
    r = lookup(dns, "mx", "textonly.test")
    assert r["status"] == "no address"
    assert r["implicit_mx"] == "yes"


def test_mx_host_missing(dns):
    bad, half = lookup(dns, "mx", "badmx.test", "halfmx.test")
    assert bad["status"] == "no address"
    assert bad["hosts"][0]["status"] == "not found"
    assert half["status"] == "ok"
    assert [h["status"] for h in half["hosts"]] == ["not found", "ok"]
    assert half["hosts"][1]["addresses"] == ["192.0.2.20"]


def test_servfail_and_refused_temporary(dns):
    broken, refused = lookup(dns, "mx", "broken.test", "refused.test")
    assert broken["status"] == "temporary failure"
    assert refused["status"] == "temporary failure"


def test_timeouts_temporary(dns):
    slow, mxslow, aaaaslow = lookup(dns, "mx", "slow.test", "mxslow.test",
                                    "aaaaslow.test")
    assert slow["status"] == "temporary failure"
    assert mxslow["status"] == "temporary failure"
    assert mxslow["hosts"][0]["status"] == "temporary failure"
    # The A record still answers when only AAAA times out.
    assert aaaaslow["status"] == "ok"
    assert aaaaslow["hosts"][0]["addresses"] == ["192.0.2.30"]


def test_host_ipv6_and_cname(dns):
    v6, alias = lookup(dns, "host", "v6only.test", "alias.test")
    assert v6["status"] == "ok"
    assert v6["implicit_mx"] == "no"
    assert v6["hosts"][0]["addresses"] == ["2001:db8::6"]
    assert alias["status"] == "ok"
    assert alias["hosts"][0]["name"] == "alias.test"
    assert alias["hosts"][0]["addresses"] == ["192.0.2.3"]


def test_host_not_found(dns):
    r = lookup(dns, "host", "gone.test")
    assert r["status"] == "not found"


def test_address_literals_without_query(dns):
    names = ["[192.0.2.7]", "192.0.2.8", "[IPv6:2001:db8::9]",
             "2001:db8::a"]
    before = len(dns.queries)
    results = lookup(dns, "host", *names)
    assert [r["hosts"][0]["addresses"] for r in results] == [
        ["192.0.2.7"], ["192.0.2.8"], ["2001:db8::9"], ["2001:db8::a"]]
    assert all(r["status"] == "ok" for r in results)
    r = lookup(dns, "mx", "[192.0.2.7]")
    assert r["status"] == "ok"
    assert r["implicit_mx"] == "yes"
    assert len(dns.queries) == before


def test_bad_literal_not_found(dns):
    r = lookup(dns, "host", "[not-an-address]")
    assert r["status"] == "not found"


def test_records_changed_while_running(dns):
    assert lookup(dns, "host", "late.test")["status"] == "not found"
    dns.set("late.test", {"A": ["192.0.2.40"]})
    r = lookup(dns, "host", "late.test")
    assert r["status"] == "ok"
    assert r["hosts"][0]["addresses"] == ["192.0.2.40"]


@pytest.mark.parametrize("option", ["--cancel", "--free"])
def test_cancel_runs_no_callback(dns, option):
    proc = dns_lookup(dns, "mx", "example.test", "slow.test", "[192.0.2.1]",
                      options=[option])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == "no callbacks\n"


def test_bad_server_list(dns):
    proc = dns_lookup(dns, "mx", "example.test",
                      options=["--servers", "not an address"])
    assert proc.returncode == 1
    assert "invalid DNS server list" in proc.stderr
