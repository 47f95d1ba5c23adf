#!/usr/bin/env python3
"""bench/kafka-compare/startup_probe.py -- time from process start to first served request.

Owns: one measurement of broker start-up latency for bench/kafka-compare.sh. It spawns the
broker command itself (so the clock starts at exec, not at some shell prompt), then polls
127.0.0.1:PORT with a Kafka ApiVersions v0 request (request header v1, 1 ms between attempts)
until a well-formed response with the same correlation id and error code 0 arrives. The elapsed
time is measured with a monotonic clock and printed as one number of milliseconds on stdout.
The broker is then stopped (SIGTERM, SIGKILL after --stop-secs) before the script exits.

Usage: startup_probe.py --port PORT [--timeout SECS] [--log FILE] -- CMD [ARGS...]
Exit status 0 with the milliseconds on stdout, 1 when the broker did not answer in time or
exited early (the reason on stderr).
"""

import argparse
import os
import signal
import socket
import struct
import subprocess
import sys
import time

API_VERSIONS = 18
CLIENT_ID = b"runnel-startup-probe"


def api_versions_v0(correlation_id):
    """ApiVersions v0 request: header v1 (key, version, correlation id, client id), empty body."""
    body = struct.pack(">hhih", API_VERSIONS, 0, correlation_id, len(CLIENT_ID)) + CLIENT_ID
    return struct.pack(">i", len(body)) + body


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def probe_once(port, correlation_id):
    """One connect + ApiVersions round trip; True when the broker served it."""
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(api_versions_v0(correlation_id))
        (size,) = struct.unpack(">i", recv_exact(sock, 4))
        if size < 6 or size > 1 << 20:
            return False
        payload = recv_exact(sock, size)
        got_id, error_code = struct.unpack(">ih", payload[:6])
        return got_id == correlation_id and error_code == 0


def stop(proc, secs):
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=secs)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--stop-secs", type=float, default=30.0)
    parser.add_argument("--log", default=os.devnull)
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("no command")

    # A SIGTERM (bench/kafka-compare.sh's exit trap) still stops the broker we started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    with open(args.log, "ab") as log:
        start = time.monotonic_ns()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = start + int(args.timeout * 1e9)
            correlation_id = 0
            while time.monotonic_ns() < deadline:
                if proc.poll() is not None:
                    print(f"broker exited with status {proc.returncode} before serving", file=sys.stderr)
                    return 1
                correlation_id += 1
                try:
                    if probe_once(args.port, correlation_id):
                        elapsed = time.monotonic_ns() - start
                        print(f"{elapsed / 1e6:.1f}")
                        return 0
                except (OSError, ConnectionError, struct.error):
                    pass
                time.sleep(0.001)
            print(f"no ApiVersions answer within {args.timeout}s", file=sys.stderr)
            return 1
        finally:
            stop(proc, args.stop_secs)


if __name__ == "__main__":
    sys.exit(main())
