#!/usr/bin/env python3
"""faultproxy.py -- a small TCP proxy that injects network faults, for tests. Stdlib only.

It listens on 127.0.0.1:0 and forwards every accepted connection to one target (host, port).
Each connection gets a fault mode when it is accepted: the next one queued with push() if
any, else the default set with set() (or given to the constructor). Faults act on the bytes
coming FROM the server (downstream) unless said otherwise.

Modes (parameters in brackets):
  pass        forward unchanged
  delay       sleep [delay_ms] before forwarding each chunk (both directions)
  bytewise    deliver the server's bytes one send() of 1 byte at a time [delay_ms between,
              default 0]; [both=True] also splits the client's bytes
  reset       forward [n] bytes from the server, then reset the client connection
              (SO_LINGER 0 -> RST) and close the upstream one
  close       forward [n] bytes from the server, then close the client side cleanly (FIN)
  stall       forward [n] bytes from the server, then forward nothing more in either
              direction but keep both sockets open (until the client closes or stop())
  drop        read the client's first bytes (the request), then close without answering
              and without ever connecting upstream
  drop_first  the first connection of this proxy (counted from construction or reset_count())
              is handled as `drop`; later ones as `pass`

Python API:
  p = FaultProxy(("127.0.0.1", port), mode="pass", **params); p.port; p.url
  p.set(mode, **params)    default for new connections
  p.push(mode, **params)   one-shot mode for the next new connection (FIFO)
  p.kill_all(rst=False)    close every open client connection (makes pooled ones stale)
  p.conns                  list of dicts: {"mode", "up", "down", "closed"} per connection
  p.reset_count()          forget earlier connections (for drop_first)
  p.stop()
CLI:  faultproxy.py HOST:PORT [MODE [k=v ...]]  prints "PORT n"; then each stdin line
      "MODE k=v ..." sets the default mode, "push MODE k=v ..." queues one, "kill" kills all.
"""
import socket
import struct
import sys
import threading
import time

MODES = ("pass", "delay", "bytewise", "reset", "close", "stall", "drop", "drop_first")


class _Conn:
    def __init__(self, proxy, client, mode, params, index):
        self.proxy = proxy
        self.client = client
        self.upstream = None
        self.mode = mode
        self.params = params
        self.info = {"mode": mode, "index": index, "up": 0, "down": 0, "closed": None}
        self.lock = threading.Lock()
        self.done = False
        self.stalled = threading.Event()

    def start(self):
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        mode = self.mode
        if mode == "drop_first":
            mode = "drop" if self.info["index"] == 0 else "pass"
            self.info["mode"] = mode
        if mode == "drop":
            try:
                self.client.settimeout(5)
                data = self.client.recv(65536)
                self.info["up"] += len(data)
            except OSError:
                pass
            self.close("drop")
            return
        try:
            self.upstream = socket.create_connection(self.proxy.target, timeout=10)
            self.upstream.settimeout(None)
            self.client.settimeout(None)
        except OSError:
            self.close("upstream connect failed", rst=True)
            return
        threading.Thread(target=self._pump, args=(self.client, self.upstream, False), daemon=True).start()
        self._pump(self.upstream, self.client, True)

    def _pump(self, src, dst, down):
        p = self.params
        mode = self.info["mode"]
        limit = int(p.get("n", 0))
        delay = float(p.get("delay_ms", 0)) / 1000.0
        while not self.done:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                # half-close: pass the EOF on; while stalled the server's EOF is held back
                # and the client's EOF ends the connection
                if mode == "stall" and self.stalled.is_set():
                    if not down:
                        self.close("client eof")
                    return
                if down:
                    self.close("server eof")
                else:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    if mode == "stall":
                        # the client closed: nothing more to stall for
                        self.close("client eof")
                return
            if self.stalled.is_set():
                if not down:
                    continue  # swallow the client's bytes while stalled
                return
            if down and mode in ("reset", "close", "stall"):
                room = limit - self.info["down"]
                if room <= len(data):
                    if self._send(dst, data[:max(room, 0)], down, mode, delay) is False:
                        return
                    if mode == "stall":
                        self.stalled.set()
                        self.info["closed"] = "stalled"
                        self._hold()
                        return
                    self.close(mode, rst=(mode == "reset"))
                    return
            if self._send(dst, data, down, mode, delay) is False:
                self.close("send failed")
                return

    def _hold(self):
        # keep the sockets open; the upstream reader side stays unread. Wait for the client
        # to go away (its pump thread notices EOF) or for stop().
        while not self.done and not self.proxy.stopped.is_set():
            time.sleep(0.05)

    def _send(self, dst, data, down, mode, delay):
        try:
            if mode == "delay" and delay:
                time.sleep(delay)
            if mode == "bytewise" and (down or self.params.get("both")):
                for i in range(len(data)):
                    dst.sendall(data[i:i + 1])
                    if delay:
                        time.sleep(delay)
                    self.info["down" if down else "up"] += 1
                return True
            dst.sendall(data)
            self.info["down" if down else "up"] += len(data)
            return True
        except OSError:
            return False

    def close(self, why, rst=False):
        with self.lock:
            if self.done:
                return
            self.done = True
            if self.info["closed"] in (None, "stalled"):
                self.info["closed"] = why
        # shutdown() first: close() alone does not release a socket another thread is
        # blocked in recv() on, so neither the FIN nor the RST would go out.
        if rst:
            try:
                self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.client.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        else:
            try:
                self.client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for s in (self.client, self.upstream):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass


class FaultProxy:
    def __init__(self, target, mode="pass", **params):
        if mode not in MODES:
            raise ValueError("unknown mode %r" % mode)
        self.target = target
        self.default = (mode, params)
        self.queue = []
        self.lock = threading.Lock()
        self.conns = []
        self._live = []
        self._count = 0
        self.stopped = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, mode, **params):
        if mode not in MODES:
            raise ValueError("unknown mode %r" % mode)
        with self.lock:
            self.default = (mode, params)

    def push(self, mode, **params):
        if mode not in MODES:
            raise ValueError("unknown mode %r" % mode)
        with self.lock:
            self.queue.append((mode, params))

    def reset_count(self):
        with self.lock:
            self._count = 0

    def kill_all(self, rst=False):
        with self.lock:
            live = list(self._live)
        for c in live:
            c.close("killed", rst=rst)

    def _accept(self):
        while not self.stopped.is_set():
            try:
                cs, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                mode, params = self.queue.pop(0) if self.queue else self.default
                c = _Conn(self, cs, mode, dict(params), self._count)
                self._count += 1
                self.conns.append(c.info)
                self._live = [x for x in self._live if not x.done] + [c]
            c.start()

    def stop(self):
        self.stopped.set()
        try:
            self.sock.close()
        except OSError:
            pass
        self.kill_all()


def _parse(words):
    params = {}
    for w in words[1:]:
        k, _, v = w.partition("=")
        params[k] = v if not v.lstrip("-").isdigit() else int(v)
    return words[0], params


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    host, _, port = sys.argv[1].rpartition(":")
    mode, params = _parse(sys.argv[2:] or ["pass"])
    p = FaultProxy((host or "127.0.0.1", int(port)), mode, **params)
    print("PORT %d" % p.port, flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "kill":
                p.kill_all(rst="rst" in words)
            elif words[0] == "push":
                p.push(*_parse(words[1:])[:1], **_parse(words[1:])[1])
            else:
                m, kw = _parse(words)
                p.set(m, **kw)
        except ValueError as e:
            sys.stderr.write("faultproxy: %s\n" % e)
    p.stop()


if __name__ == "__main__":
    main()
