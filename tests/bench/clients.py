"""Minimal POP3 and IMAP clients for timing, over plain sockets.

They parse only what the benchmarks need (the end of a multi-line POP3
reply, the tagged IMAP completion) so the client costs little next to the
server. Every function raises RuntimeError when the server replies with
an error or closes the connection early.
"""

import asyncio
import re
import socket
import time


class LineConn:
    """A blocking socket with a receive buffer and reply parsers."""

    def __init__(self, host, port, timeout=120):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise RuntimeError("server closed the connection")
        self.buf += data

    def read_until(self, marker, start=0):
        """Returns the buffer up to and including marker, and consumes it."""
        pos = self.buf.find(marker, start)
        while pos < 0:
            start = max(0, len(self.buf) - len(marker) + 1)
            self.fill()
            pos = self.buf.find(marker, start)
        end = pos + len(marker)
        out = bytes(self.buf[:end])
        del self.buf[:end]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def line(self):
        return self.read_until(b"\r\n")

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def close(self):
        self.sock.close()


def pop3_expect_ok(reply, command):
    if not reply.startswith(b"+OK"):
        raise RuntimeError(f"POP3 {command}: {reply[:200]!r}")


def pop3_retr_all(host, port, user, password):
    """Logs in, RETRs every message one after another, QUITs.

    Returns (messages, octets, seconds spent in the RETR loop).
    """
    c = LineConn(host, port)
    try:
        pop3_expect_ok(c.line(), "greeting")
        c.send(f"USER {user}")
        pop3_expect_ok(c.line(), "USER")
        c.send(f"PASS {password}")
        pop3_expect_ok(c.line(), "PASS")
        c.send("STAT")
        stat = c.line()
        pop3_expect_ok(stat, "STAT")
        count = int(stat.split()[1])
        octets = 0
        start = time.monotonic()
        for n in range(1, count + 1):
            c.send(f"RETR {n}")
            # The reply ends with CRLF "." CRLF, the first CRLF being the
            # +OK line's own when the message is empty. A message line
            # that starts with "." is dot-stuffed, so the marker cannot
            # occur inside the message.
            reply = c.read_until(b"\r\n.\r\n")
            pop3_expect_ok(reply, f"RETR {n}")
            octets += len(reply) - reply.index(b"\r\n") - 5
        seconds = time.monotonic() - start
        c.send("QUIT")
        pop3_expect_ok(c.line(), "QUIT")
        return count, octets, seconds
    finally:
        c.close()


LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


def imap_command(c, tag, command):
    """Sends one command and returns its untagged responses as bytes.

    Reads line by line and skips over literals, so a tag inside message
    data cannot end the reply early.
    """
    c.send(f"{tag} {command}")
    prefix = f"{tag} ".encode()
    data = bytearray()
    while True:
        line = c.line()
        if line.startswith(prefix):
            break
        data += line
        literal = LITERAL.search(line)
        while literal:
            data += c.read_exact(int(literal.group(1)))
            line = c.line()
            data += line
            literal = LITERAL.search(line)
    if not line[len(prefix):].startswith(b"OK"):
        raise RuntimeError(f"IMAP {command.split()[0]}: {line[:200]!r}")
    return bytes(data)


def imap_fetch_time(host, port, user, password, items):
    """Logs in, SELECTs INBOX and times one FETCH 1:* of items.

    Returns (FETCH responses received, seconds).
    """
    c = LineConn(host, port)
    try:
        greeting = c.line()
        if not greeting.startswith(b"* OK"):
            raise RuntimeError(f"IMAP greeting: {greeting[:200]!r}")
        imap_command(c, "BENCHL", f"LOGIN {user} {password}")
        imap_command(c, "BENCHS", "SELECT INBOX")
        start = time.monotonic()
        data = imap_command(c, "BENCHF", f"FETCH 1:* ({items})")
        seconds = time.monotonic() - start
        responses = len(re.findall(rb"(?:^|\r\n)\* \d+ FETCH ", data))
        imap_command(c, "BENCHQ", "LOGOUT")
        return responses, seconds
    finally:
        c.close()


async def imap_hold_connections(host, port, sources, count, user, password,
                                parallel, on_ready):
    """Opens count idle IMAP sessions, spread over the source addresses,
    with at most parallel logins in flight. Once all are open, awaits
    on_ready() (which measures), then closes every connection.

    Returns (sessions opened, failures, seconds to open them, on_ready's
    result).
    """
    hold = asyncio.Event()
    gate = asyncio.Semaphore(parallel)
    ready = {"n": 0}
    errors = []
    opened = asyncio.Event()

    async def session(i):
        source = sources[i % len(sources)]
        await gate.acquire()
        released = False
        try:
            reader, writer = await asyncio.open_connection(
                host, port, local_addr=(source, 0))
            line = await reader.readline()
            if not line.startswith(b"* OK"):
                raise RuntimeError(f"greeting {line[:100]!r}")
            for tag, command in (("a", f"LOGIN {user} {password}"),
                                 ("b", "SELECT INBOX")):
                writer.write(f"{tag} {command}\r\n".encode())
                while True:
                    line = await reader.readline()
                    if not line:
                        raise RuntimeError(f"{command.split()[0]}: closed")
                    if line.startswith(f"{tag} ".encode()):
                        break
                if not line.startswith(f"{tag} OK".encode()):
                    raise RuntimeError(f"{command.split()[0]}: "
                                       f"{line[:100]!r}")
            gate.release()
            released = True
            ready["n"] += 1
            if ready["n"] + len(errors) == count:
                opened.set()
            await hold.wait()
            writer.close()
        except (OSError, RuntimeError) as e:
            errors.append(f"session {i} from {source}: {e}")
            if ready["n"] + len(errors) == count:
                opened.set()
        finally:
            if not released:
                gate.release()

    start = time.monotonic()
    tasks = [asyncio.ensure_future(session(i)) for i in range(count)]
    await opened.wait()
    seconds = time.monotonic() - start
    result = await on_ready(ready["n"])
    hold.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return ready["n"], errors, seconds, result
