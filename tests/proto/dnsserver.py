"""A test DNS server on 127.0.0.1 or another local address (UDP and TCP,
one free port).

It answers from a dict of records, built on python3-dnslib:

    from dnsserver import DNSServer

    dns = DNSServer({
        "example.test": {"MX": [(10, "mx1.example.test"),
                                (20, "mx2.example.test")]},
        "mx1.example.test": {"A": ["127.0.0.1"], "AAAA": ["::1"]},
        "alias.example.test": {"CNAME": "mx1.example.test"},
        "nomail.example.test": {"MX": [(0, ".")]},     # null MX
        "gone.example.test": "NXDOMAIN",
        "broken.example.test": "SERVFAIL",
        "slow.example.test": "TIMEOUT",                # never answered
        "half.example.test": {"A": ["127.0.0.2"], "AAAA": "TIMEOUT"},
    })
    dns.start()
    subprocess.run(["dns-lookup", "--servers", dns.servers, ...])
    dns.set("new.example.test", {"A": ["127.0.0.3"]})   # while running
    dns.stop()

Names are case-insensitive and written without the final dot. A name's
entry is a dict from record type (A, AAAA, MX, CNAME, TXT) to a list of
values (MX values are (preference, host) pairs, CNAME is one target
name), or one of the strings NXDOMAIN, SERVFAIL, REFUSED and TIMEOUT
(no reply at all). The same strings may stand in place of a list for one
record type. A name that is not in the table gets NXDOMAIN, and a name
without the requested type gets an empty NOERROR answer (NODATA). CNAME
chains within the table are followed in the answer.

DNSServer(records, host="192.0.2.50") listens on another local address,
such as one in a lab namespace (tests/cluster).

Attributes: port, servers ("127.0.0.1:PORT" for --servers or
dns_servers), queries (a list of (name, type) pairs received, in order).
Methods: start(), stop(), set(name, entry), remove(name),
set_records(table) to replace the whole table.
"""

import socket
import socketserver
import threading

from dnslib import AAAA, CNAME, MX, QTYPE, RCODE, RR, TXT, A, DNSError
from dnslib.server import DNSHandler
from dnslib.server import DNSServer as _DNSLibServer

TTL = 60
STATUS_RCODES = {
    "NXDOMAIN": RCODE.NXDOMAIN,
    "SERVFAIL": RCODE.SERVFAIL,
    "REFUSED": RCODE.REFUSED,
}


class _UDPServer(socketserver.ThreadingMixIn, socketserver.UDPServer):
    # No SO_REUSEADDR: a UDP port shared with another test would be silent.
    allow_reuse_address = False
    daemon_threads = True


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


class _QuietLogger:
    """Drops dnslib's per-request log lines."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class _NoReply(DNSError):
    """Raised by the resolver so that dnslib sends nothing back."""


def _normalise(name):
    return str(name).rstrip(".").lower()


class _Resolver:
    def __init__(self, owner):
        self.owner = owner

    def resolve(self, request, handler):
        qname = _normalise(request.q.qname)
        qtype = QTYPE.get(request.q.qtype)
        self.owner._record_query(qname, qtype)
        reply = request.reply()
        name = qname
        for _ in range(8):  # CNAME chain limit
            entry = self.owner._entry(name)
            if entry is None:
                if name == qname:
                    reply.header.rcode = RCODE.NXDOMAIN
                return reply
            if isinstance(entry, str):
                return self._status(reply, entry, name == qname)
            values = entry.get(qtype)
            if values is None and "CNAME" in entry and qtype != "CNAME":
                target = entry["CNAME"]
                reply.add_answer(RR(name, QTYPE.CNAME, ttl=TTL,
                                    rdata=CNAME(target)))
                name = _normalise(target)
                continue
            if values is None:
                return reply
            if isinstance(values, str):
                return self._status(reply, values, name == qname)
            for rdata in self._rdata(qtype, values):
                reply.add_answer(RR(name, getattr(QTYPE, qtype), ttl=TTL,
                                    rdata=rdata))
            return reply
        return reply

    @staticmethod
    def _status(reply, status, first):
        if status == "TIMEOUT":
            raise _NoReply("no reply by request")
        if first:
            reply.header.rcode = STATUS_RCODES[status]
        return reply

    @staticmethod
    def _rdata(qtype, values):
        if qtype == "A":
            return [A(v) for v in values]
        if qtype == "AAAA":
            return [AAAA(v) for v in values]
        if qtype == "MX":
            return [MX(host, preference) for preference, host in values]
        if qtype == "CNAME":
            return [CNAME(values)]
        if qtype == "TXT":
            return [TXT(v) for v in values]
        raise ValueError("unsupported record type %s" % qtype)


class DNSServer:
    """A DNS server for tests; see the module docstring."""

    def __init__(self, records=None, host="127.0.0.1"):
        self.host = host
        self._lock = threading.Lock()
        self._table = {}
        self.queries = []
        self.port = None
        self._servers = []
        self.set_records(records or {})

    @property
    def servers(self):
        return "%s:%d" % (self.host, self.port)

    def set_records(self, table):
        with self._lock:
            self._table = {_normalise(k): v for k, v in table.items()}

    def set(self, name, entry):
        with self._lock:
            self._table[_normalise(name)] = entry

    def remove(self, name):
        with self._lock:
            self._table.pop(_normalise(name), None)

    def _entry(self, name):
        with self._lock:
            return self._table.get(name)

    def _record_query(self, name, qtype):
        with self._lock:
            self.queries.append((name, qtype))

    def start(self):
        """Binds UDP and TCP on one free port and serves in threads."""
        resolver = _Resolver(self)
        last_error = None
        for _ in range(50):
            udp = tcp = None
            try:
                udp = _DNSLibServer(resolver, address=self.host, port=0,
                                    logger=_QuietLogger(),
                                    handler=DNSHandler, server=_UDPServer)
                port = udp.server.server_address[1]
                tcp = _DNSLibServer(resolver, address=self.host,
                                    port=port, logger=_QuietLogger(),
                                    handler=DNSHandler, server=_TCPServer)
            except OSError as e:
                last_error = e
                if udp is not None:
                    udp.server.server_close()
                continue
            self.port = port
            self._servers = [udp, tcp]
            for server in self._servers:
                server.start_thread()
            return self
        raise RuntimeError("no free port for the DNS server: %s" % last_error)

    def stop(self):
        for server in self._servers:
            server.stop()
            server.server.server_close()
        self._servers = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
