#!/usr/bin/env python3
"""Kafka wire capture proxy and golden-vector extractor (Python 3.11, stdlib only).

Subcommands:

  proxy   --listen 127.0.0.1:19094 --upstream 127.0.0.1:19092 --raw DIR [--specs SPEC_DIR] [--no-clamp]
      Accepts client connections, opens one upstream connection per client connection and
      forwards bytes in both directions. Frames are forwarded unchanged except ApiVersions
      responses, which are clamped to the message specs (see clamp_api_versions): every API's
      max_version is lowered to the max of the spec's validVersions, and APIs without a spec
      (or whose min_version is above the clamped max) are removed, so that clients negotiate
      the versions our codec (generated from those specs) supports. --no-clamp forwards
      everything unchanged. Every request frame and the response frame as forwarded to the
      client are also written to DIR:
        DIR/NNNNNN.req.bin   request payload (no 4-byte size prefix; starts at api_key)
        DIR/NNNNNN.resp.bin  response payload (no size prefix; starts at correlation_id)
        DIR/NNNNNN.upstream.resp.bin  the broker's original response, when it was rewritten
        DIR/index.jsonl      one JSON line per finished exchange
        DIR/proxy.json       the proxy's settings (clamped_to_specs, specs dir)
      NNNNNN is the order in which requests reached the proxy, over all connections.
      Responses are paired with requests by correlation id on the same connection (Kafka
      answers in order; a Produce with acks=0 has no response and stays unpaired).
      Runs until SIGTERM/SIGINT.

  extract --raw DIR --out GOLDEN_DIR --client NAME [--specs SPEC_DIR] [--meta KEY=VALUE ...]
      Keeps the first answered exchange of each distinct (api_key, api_version) and, when it
      is clearly larger (--extra-largest), the exchange with the largest response of that
      (api_key, api_version); writes them, numbered in capture order, as
      GOLDEN_DIR/NNN-<ApiName>-v<version>.{req,resp}.bin plus GOLDEN_DIR/manifest.json. Existing *.bin files and manifest.json in GOLDEN_DIR are
      replaced.

  warmup  --broker 127.0.0.1:19092
      Asks the broker directly for a group coordinator until it has one (creates
      __consumer_offsets before any client runs).

The clients must reach the broker only through the proxy, so the broker should advertise the
proxy's address (advertised.listeners=PLAINTEXT://<proxy host:port>).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]
DEFAULT_SPECS = next((str(p) for p in (_REPO.parent / "shared" / "kafka-message-specs-4.4",
                                       Path("/work/shared/kafka-message-specs-4.4")) if p.is_dir()),
                     str(_REPO.parent / "shared" / "kafka-message-specs-4.4"))


# --------------------------------------------------------------------------- spec loading

def strip_json_comments(text: str) -> str:
    """Remove // comments that are outside JSON strings."""
    out = []
    i, n = 0, len(text)
    in_str = False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_str = False
            i += 1
            continue
        if c == '"':
            in_str = True
            out.append(c)
            i += 1
            continue
        if c == "/" and i + 1 < n and text[i + 1] == "/":
            while i < n and text[i] != "\n":
                i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_versions(spec: str | None) -> tuple[int, int] | None:
    """'3+' -> (3, big), '0-4' -> (0, 4), '2' -> (2, 2), 'none'/None -> None."""
    if not spec or spec == "none":
        return None
    if spec.endswith("+"):
        return int(spec[:-1]), 1 << 15
    if "-" in spec:
        lo, hi = spec.split("-", 1)
        return int(lo), int(hi)
    return int(spec), int(spec)


class Specs:
    """api_key -> (name without 'Request' suffix, flexibleVersions range); api_key -> validVersions."""

    def __init__(self, spec_dir: str | os.PathLike | None):
        self.apis: dict[int, tuple[str, tuple[int, int] | None]] = {}
        self.valid: dict[int, tuple[int, int]] = {}
        if not spec_dir or not Path(spec_dir).is_dir():
            return
        for p in sorted(Path(spec_dir).glob("*Request.json")):
            try:
                doc = json.loads(strip_json_comments(p.read_text()))
            except (OSError, ValueError) as e:
                print(f"warning: cannot parse {p}: {e}", file=sys.stderr)
                continue
            if doc.get("type") != "request" or "apiKey" not in doc:
                continue
            name = doc["name"]
            if name.endswith("Request"):
                name = name[: -len("Request")]
            self.apis[int(doc["apiKey"])] = (name, parse_versions(doc.get("flexibleVersions")))
            valid = parse_versions(doc.get("validVersions"))
            if valid is not None:
                self.valid[int(doc["apiKey"])] = valid

    def name(self, key: int) -> str:
        return self.apis.get(key, (f"ApiKey{key}", None))[0]

    def flexible(self, key: int, version: int) -> bool | None:
        if key not in self.apis:
            return None
        rng = self.apis[key][1]
        return rng is not None and rng[0] <= version <= rng[1]


# --------------------------------------------------------------------------- framing

def recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_frame(sock: socket.socket) -> bytes | None:
    """Returns one frame's payload (without the size prefix), or None at EOF."""
    head = recv_exact(sock, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">i", head)
    if size < 0 or size > 256 * 1024 * 1024:
        raise ValueError(f"bad frame size {size}")
    body = recv_exact(sock, size)
    if body is None:
        return None
    return body


def parse_request_header(payload: bytes) -> dict:
    api_key, api_version, corr = struct.unpack_from(">hhi", payload, 0)
    client_id = None
    if len(payload) >= 10:
        (n,) = struct.unpack_from(">h", payload, 8)
        if n >= 0 and 10 + n <= len(payload):
            client_id = payload[10 : 10 + n].decode("utf-8", "replace")
    return {"api_key": api_key, "api_version": api_version, "correlation_id": corr,
            "client_id": client_id}


# --------------------------------------------------------------------------- ApiVersions clamp

API_VERSIONS_KEY = 18
UNSUPPORTED_VERSION = 35


def read_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 28:
            raise ValueError("bad uvarint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def write_uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def clamp_api_versions(payload: bytes, request_version: int,
                       spec_max: dict[int, int]) -> tuple[bytes, dict]:
    """Rewrites an ApiVersions response payload (starting at the correlation id) so that each
    API's max_version is at most spec_max[api_key]; drops APIs with no entry in spec_max and APIs
    whose min_version is above the clamped max. min_version, throttle time, per-entry and
    top-level tagged fields (SupportedFeatures, FinalizedFeatures, ...) are copied unchanged.

    The body is v0-encoded when error_code is UNSUPPORTED_VERSION (the broker does not know the
    request version), else encoded at the request version (flexible from v3). Returns the new
    payload (the original object when nothing changed) and a summary for the index.
    Raises ValueError when the payload does not parse."""
    if len(payload) < 6:
        raise ValueError("short ApiVersions response")
    (error_code,) = struct.unpack_from(">h", payload, 4)
    version = 0 if error_code == UNSUPPORTED_VERSION else request_version
    flexible = version >= 3
    pos = 6
    if flexible:
        n1, pos = read_uvarint(payload, pos)
        count = n1 - 1
    else:
        (count,) = struct.unpack_from(">i", payload, pos)
        pos += 4
    if count < 0:
        raise ValueError("null api_keys array")
    kept: list[bytes] = []
    changes: list[dict] = []
    for _ in range(count):
        start = pos
        if pos + 6 > len(payload):
            raise ValueError("truncated api_keys entry")
        key, lo, hi = struct.unpack_from(">hhh", payload, pos)
        pos += 6
        if flexible:  # per-entry tagged fields, copied as they are
            ntags, pos = read_uvarint(payload, pos)
            for _ in range(ntags):
                _tag, pos = read_uvarint(payload, pos)
                size, pos = read_uvarint(payload, pos)
                pos += size
            if pos > len(payload):
                raise ValueError("truncated tagged fields")
        entry = payload[start:pos]
        if key not in spec_max:
            changes.append({"api_key": key, "min_version": lo, "broker_max_version": hi,
                            "action": "dropped: no spec"})
            continue
        new_hi = min(hi, spec_max[key])
        if lo > new_hi:
            changes.append({"api_key": key, "min_version": lo, "broker_max_version": hi,
                            "spec_max_version": spec_max[key],
                            "action": "dropped: min_version above spec max"})
            continue
        if new_hi != hi:
            entry = entry[:4] + struct.pack(">h", new_hi) + entry[6:]
            changes.append({"api_key": key, "min_version": lo, "broker_max_version": hi,
                            "max_version": new_hi, "action": "clamped"})
        kept.append(entry)
    rest = payload[pos:]  # throttle_time_ms (v1+) and top-level tagged fields (v3+)
    expected_rest = 0 if version == 0 else 4
    if (not flexible and len(rest) != expected_rest) or (flexible and len(rest) < 5):
        raise ValueError(f"unexpected {len(rest)} trailing bytes for ApiVersions v{version}")
    summary = {"error_code": error_code, "body_version": version,
               "apis_in": count, "apis_out": len(kept), "changes": changes}
    if not changes:
        return payload, summary
    head = payload[:6] + (write_uvarint(len(kept) + 1) if flexible else struct.pack(">i", len(kept)))
    return head + b"".join(kept) + rest, summary


# --------------------------------------------------------------------------- proxy

class Recorder:
    def __init__(self, raw_dir: Path):
        self.dir = raw_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.seq = 0
        self.index = open(self.dir / "index.jsonl", "a", buffering=1)

    def request(self, conn_id: int, payload: bytes) -> dict:
        hdr = parse_request_header(payload)
        with self.lock:
            seq = self.seq
            self.seq += 1
        (self.dir / f"{seq:06d}.req.bin").write_bytes(payload)
        hdr.update(seq=seq, conn=conn_id, t_req=time.time(), req_size=len(payload))
        return hdr

    def response(self, ex: dict, payload: bytes | None, upstream: bytes | None = None) -> None:
        if upstream is not None:
            (self.dir / f"{ex['seq']:06d}.upstream.resp.bin").write_bytes(upstream)
        if payload is not None:
            (self.dir / f"{ex['seq']:06d}.resp.bin").write_bytes(payload)
            ex.update(t_resp=time.time(), resp_size=len(payload), answered=True)
        else:
            ex.update(answered=False)
        with self.lock:
            self.index.write(json.dumps(ex, sort_keys=True) + "\n")


class Connection:
    def __init__(self, rec: Recorder, conn_id: int, client: socket.socket, upstream: tuple[str, int],
                 spec_max: dict[int, int] | None):
        self.rec, self.id, self.client = rec, conn_id, client
        self.spec_max = spec_max
        self.server = socket.create_connection(upstream, timeout=10)
        self.server.settimeout(None)
        for s in (self.client, self.server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending: dict[int, dict] = {}
        self.plock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self.pump_requests, daemon=True).start()
        threading.Thread(target=self.pump_responses, daemon=True).start()

    def close(self) -> None:
        for s in (self.client, self.server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def pump_requests(self) -> None:
        try:
            while True:
                payload = read_frame(self.client)
                if payload is None:
                    break
                if len(payload) >= 8:
                    ex = self.rec.request(self.id, payload)
                    with self.plock:
                        self.pending[ex["correlation_id"]] = ex
                self.server.sendall(struct.pack(">i", len(payload)) + payload)
        except (OSError, ValueError):
            pass
        finally:
            self.close()

    def pump_responses(self) -> None:
        try:
            while True:
                payload = read_frame(self.server)
                if payload is None:
                    break
                if len(payload) >= 4:
                    (corr,) = struct.unpack_from(">i", payload, 0)
                    with self.plock:
                        ex = self.pending.pop(corr, None)
                    upstream = None
                    if (ex is not None and ex["api_key"] == API_VERSIONS_KEY
                            and self.spec_max is not None):
                        try:
                            new, summary = clamp_api_versions(payload, ex["api_version"], self.spec_max)
                        except (ValueError, struct.error) as e:
                            # Forwarding the broker's ranges would silently capture versions our
                            # codec lacks; fail the connection loudly instead.
                            print(f"conn {self.id}: cannot parse ApiVersions v{ex['api_version']} "
                                  f"response: {e}; closing", file=sys.stderr, flush=True)
                            ex["clamp_error"] = str(e)
                            self.rec.response(ex, None, upstream=payload)
                            break
                        ex["clamp"] = summary
                        if new is not payload:
                            upstream, payload = payload, new
                    if ex is not None:
                        self.rec.response(ex, payload, upstream=upstream)
                self.client.sendall(struct.pack(">i", len(payload)) + payload)
        except (OSError, ValueError):
            pass
        finally:
            self.close()
            with self.plock:
                left, self.pending = list(self.pending.values()), {}
            for ex in left:
                self.rec.response(ex, None)


def host_port(s: str) -> tuple[str, int]:
    host, _, port = s.rpartition(":")
    return host or "127.0.0.1", int(port)


def cmd_proxy(args: argparse.Namespace) -> int:
    rec = Recorder(Path(args.raw))
    spec_max = None
    if not args.no_clamp:
        specs = Specs(args.specs)
        if not specs.valid:
            print(f"no message specs found in {args.specs} (use --no-clamp to forward ApiVersions "
                  "unchanged)", file=sys.stderr)
            return 2
        spec_max = {k: hi for k, (_lo, hi) in specs.valid.items()}
    (rec.dir / "proxy.json").write_text(json.dumps(
        {"clamped_to_specs": spec_max is not None, "specs": None if spec_max is None else str(args.specs),
         "spec_max_versions": spec_max}, indent=2, sort_keys=True) + "\n")
    upstream = host_port(args.upstream)
    lhost, lport = host_port(args.listen)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((lhost, lport))
    ls.listen(64)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
        try:
            ls.close()
        except OSError:
            pass

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"capture proxy {lhost}:{lport} -> {upstream[0]}:{upstream[1]}, raw dir {args.raw}, "
          f"ApiVersions {'clamped to ' + str(args.specs) if spec_max is not None else 'unchanged'}",
          file=sys.stderr, flush=True)
    conn_id = 0
    conns: list[Connection] = []
    while not stop.is_set():
        try:
            cs, _ = ls.accept()
        except OSError:
            break
        try:
            c = Connection(rec, conn_id, cs, upstream, spec_max)
        except OSError as e:
            print(f"upstream connect failed: {e}", file=sys.stderr)
            cs.close()
            continue
        conn_id += 1
        conns.append(c)
        c.start()
    for c in conns:
        c.close()
    time.sleep(0.2)  # let pump threads flush their index lines
    print(f"capture proxy stopped after {rec.seq} requests on {conn_id} connections",
          file=sys.stderr, flush=True)
    return 0


# --------------------------------------------------------------------------- extract

def cmd_extract(args: argparse.Namespace) -> int:
    specs = Specs(args.specs)
    raw = Path(args.raw)
    out = Path(args.out)
    exchanges = []
    with open(raw / "index.jsonl") as f:
        for line in f:
            line = line.strip()
            if line:
                exchanges.append(json.loads(line))
    exchanges.sort(key=lambda e: e["seq"])
    first: dict[tuple[int, int], dict] = {}
    largest: dict[tuple[int, int], dict] = {}
    for ex in exchanges:
        if not ex.get("answered"):
            continue
        if args.apis and ex["api_key"] not in args.apis:
            continue
        k = (ex["api_key"], ex["api_version"])
        first.setdefault(k, ex)
        if k not in largest or ex["resp_size"] > largest[k]["resp_size"]:
            largest[k] = ex
    chosen = {ex["seq"]: dict(ex, selection="first") for ex in first.values()}
    if args.extra_largest >= 0:
        # A first exchange is often the thin one (Metadata without topics, JoinGroup answered
        # MEMBER_ID_REQUIRED); also keep the fullest answer of the same (api_key, api_version).
        for k, ex in largest.items():
            if ex["seq"] not in chosen and ex["resp_size"] >= first[k]["resp_size"] + args.extra_largest:
                chosen[ex["seq"]] = dict(ex, selection="largest-response")
    out.mkdir(parents=True, exist_ok=True)
    for p in list(out.glob("*.bin")) + [out / "manifest.json"]:
        if p.exists():
            p.unlink()
    entries = []
    for i, ex in enumerate(sorted(chosen.values(), key=lambda e: e["seq"])):
        key, ver = ex["api_key"], ex["api_version"]
        name = specs.name(key)
        stem = f"{i:03d}-{name}-v{ver}"
        req = (raw / f"{ex['seq']:06d}.req.bin").read_bytes()
        resp = (raw / f"{ex['seq']:06d}.resp.bin").read_bytes()
        (out / f"{stem}.req.bin").write_bytes(req)
        (out / f"{stem}.resp.bin").write_bytes(resp)
        flex = specs.flexible(key, ver)
        entry = {
            "index": i,
            "api_key": key,
            "api_name": name,
            "api_version": ver,
            "correlation_id": ex["correlation_id"],
            "client_id": ex["client_id"],
            "flexible": flex,
            # request header v2 when flexible (v1 otherwise); response header v1 when flexible,
            # except ApiVersions, whose response header is always v0.
            "request_header_version": None if flex is None else (2 if flex else 1),
            "response_header_version": None if flex is None else (1 if flex and key != 18 else 0),
            "request_file": f"{stem}.req.bin",
            "request_size": len(req),
            "response_file": f"{stem}.resp.bin",
            "response_size": len(resp),
            "selection": ex["selection"],
            "capture_seq": ex["seq"],
            "connection": ex["conn"],
        }
        if key == 18 and len(resp) >= 6:
            (code,) = struct.unpack_from(">h", resp, 4)
            entry["response_error_code"] = code
            if code != 0:
                entry["comment"] = ("the broker does not support this ApiVersions version: it answers "
                                    "with a v0-encoded body (error_code, api_keys; no throttle time)")
            if "clamp" in ex:
                # The response file is what the proxy forwarded to the client (clamped); record
                # what was changed relative to the broker's original.
                up = raw / f"{ex['seq']:06d}.upstream.resp.bin"
                entry["clamp"] = {
                    "broker_response_size": up.stat().st_size if up.exists() else len(resp),
                    "apis_from_broker": ex["clamp"]["apis_in"],
                    "apis_forwarded": ex["clamp"]["apis_out"],
                    "changes": ex["clamp"]["changes"],
                }
        entries.append(entry)
    meta = {}
    for kv in args.meta or []:
        k, _, v = kv.partition("=")
        meta[k] = v
    proxy_conf = raw / "proxy.json"
    clamped = json.loads(proxy_conf.read_text()).get("clamped_to_specs", False) if proxy_conf.exists() else False
    manifest = {
        "clamped_to_specs": clamped,
        "client": args.client,
        **meta,
        "note": "Request files start at the request header (api_key); response files start at "
                "the correlation id. Neither has the 4-byte size prefix. Kept: the first answered "
                "exchange per (api_key, api_version) (selection=first) and, when its response is "
                "clearly larger, the one with the largest response (selection=largest-response); "
                "files are numbered in capture order."
                + (" The capture proxy clamped the broker's ApiVersions response to the max "
                   "validVersions of each *Request.json spec (and dropped APIs without a spec), so "
                   "clients used versions our codec supports; ApiVersions response files are the "
                   "clamped bytes the client received, and each ApiVersions exchange lists the "
                   "changes under 'clamp'." if clamped else ""),
        "exchanges": entries,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    total = sum(e["request_size"] + e["response_size"] for e in entries)
    print(f"{args.client}: {len(entries)} exchanges ({total} bytes) -> {out}", file=sys.stderr)
    for e in entries:
        print(f"  {e['request_file'][:-8]:<34} corr={e['correlation_id']:<4} req={e['request_size']:<5} "
              f"resp={e['response_size']:<5} {e['selection']}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- warmup

def cmd_warmup(args: argparse.Namespace) -> int:
    """Sends FindCoordinator v0 straight to the broker until the group coordinator is ready, so
    that __consumer_offsets exists before the clients run (their first FindCoordinator then gets
    a normal answer rather than COORDINATOR_NOT_AVAILABLE)."""
    host, port = host_port(args.broker)
    key = args.group.encode()
    client_id = b"runnel-capture-warmup"
    deadline = time.time() + args.timeout
    corr = 0
    while time.time() < deadline:
        corr += 1
        body = struct.pack(">hhih", 10, 0, corr, len(client_id)) + client_id
        body += struct.pack(">h", len(key)) + key
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                s.sendall(struct.pack(">i", len(body)) + body)
                resp = read_frame(s)
        except OSError:
            resp = None
        if resp is not None and len(resp) >= 6:
            rcorr, err = struct.unpack_from(">ih", resp, 0)
            if rcorr == corr and err == 0:
                print(f"group coordinator ready after {corr} FindCoordinator call(s)", file=sys.stderr)
                return 0
        time.sleep(0.5)
    print("group coordinator not ready in time", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("proxy")
    p.add_argument("--listen", default="127.0.0.1:19094")
    p.add_argument("--upstream", default="127.0.0.1:19092")
    p.add_argument("--raw", required=True)
    p.add_argument("--specs", default=os.environ.get("KAFKA_SPECS", DEFAULT_SPECS),
                   help="message spec dir whose *Request.json validVersions cap ApiVersions")
    p.add_argument("--no-clamp", action="store_true",
                   help="forward ApiVersions responses unchanged")
    p.set_defaults(func=cmd_proxy)
    e = sub.add_parser("extract")
    e.add_argument("--raw", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--client", required=True)
    e.add_argument("--specs", default=os.environ.get("KAFKA_SPECS", DEFAULT_SPECS))
    e.add_argument("--meta", action="append", help="KEY=VALUE added to manifest.json")
    e.add_argument("--apis", type=lambda v: {int(x) for x in v.split(",") if x},
                   help="comma-separated api keys to keep (default: all)")
    e.add_argument("--extra-largest", type=int, default=16, metavar="BYTES",
                   help="also keep the largest response per (api_key, version) when it is at least "
                        "BYTES larger than the first one's (default 16; -1 disables)")
    e.set_defaults(func=cmd_extract)
    w = sub.add_parser("warmup")
    w.add_argument("--broker", default="127.0.0.1:19092")
    w.add_argument("--group", default="runnel-capture-warmup")
    w.add_argument("--timeout", type=float, default=60)
    w.set_defaults(func=cmd_warmup)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
