#!/usr/bin/env python3
"""A small reverse HTTP proxy in front of an S3 endpoint: counts requests by S3 operation
and, optionally, injects faults with a seeded PRNG. Python 3.11 standard library only.

    scripts/s3proxy.py --upstream http://127.0.0.1:5000 [--port 0] [--counts-file F]
        [--seed N] [--slowdown P] [--internal-error P] [--reset P] [--slow P --slow-ms MS]
        [--copy-error-200 P] [--after-forward P] [--fault-ops OP,OP,...] [--fault-after N]
        [--log F]

It prints `LISTENING http://127.0.0.1:PORT` on stdout once it accepts connections.

Forwarding is transparent: the request line, every header (Host included, in order and
spelling) and the body bytes (chunked bodies chunk by chunk, as received) reach the upstream
unchanged, so SigV4 signatures stay valid. Responses are read whole and sent back with a
Content-Length (Transfer-Encoding and hop-by-hop headers of the upstream are dropped).
Client connections are kept alive (HTTP/1.1); each has its own upstream connection.

Counting: every request is classified from method, path (path-style addressing) and query
(`?versions` → ListObjectVersions, PUT with `x-amz-copy-source` → CopyObject, ...). The
counts are JSON: `GET /__counts` returns them, `POST /__reset` returns them and starts
again from zero, and `--counts-file` receives them on SIGTERM/SIGINT (and on `POST /__dump`).
Control paths start with `__`, which no bucket name can.

Faults (each an independent probability per request, drawn from one `random.Random(seed)`;
under concurrency the draws are shared by all threads in arrival order):
- `--slowdown P`: 503 SlowDown with S3's XML error body; the upstream never sees it;
- `--internal-error P`: 500 InternalError;
- `--reset P`: the connection is closed (RST) without any reply;
- `--after-forward P`: a 500 or reset is applied *after* the upstream executed the request
  with this probability (the write happened, the client does not know) — else before;
- `--slow P --slow-ms MS`: the reply is held back MS milliseconds (forwarded normally);
- `--copy-error-200 P`: a CopyObject (or UploadPartCopy) answers 200 OK whose body is an
  `<Error>` (S3 does this when a copy fails after the response started); not forwarded.
`--fault-ops` limits faults to the named operations (default: every operation);
`--fault-after N` spares the first N requests of those operations (a listing that breaks
midway: `--internal-error 1 --fault-ops ListObjectVersions --fault-after 3`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te"}

BUCKET_SUBRESOURCES = {
    "accelerate": "Accelerate", "acl": "Acl", "analytics": "Analytics", "cors": "Cors",
    "encryption": "Encryption", "intelligent-tiering": "IntelligentTiering",
    "inventory": "Inventory", "lifecycle": "Lifecycle", "location": "Location",
    "logging": "Logging", "metrics": "Metrics", "notification": "Notification",
    "object-lock": "ObjectLock", "ownershipControls": "OwnershipControls",
    "policy": "Policy", "policyStatus": "PolicyStatus", "publicAccessBlock": "PublicAccessBlock",
    "replication": "Replication", "requestPayment": "RequestPayment", "tagging": "Tagging",
    "versioning": "Versioning", "website": "Website",
}
OBJECT_SUBRESOURCES = {
    "acl": "Acl", "tagging": "Tagging", "retention": "Retention", "legal-hold": "LegalHold",
    "attributes": "Attributes", "torrent": "Torrent",
}


def classify(method: str, target: str, headers) -> tuple[str, str]:
    """The S3 operation of a request (path-style addressing), and a detail variant that
    also says whether a versionId was given (e.g. `HeadObject+versionId`)."""
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    path = parts.path.lstrip("/")
    bucket, _, key = path.partition("/")
    copy = headers.get("x-amz-copy-source") is not None
    op = "Unknown"
    if not bucket:
        op = "ListBuckets" if method == "GET" else "Unknown"
    elif not key:
        sub = next((s for s in BUCKET_SUBRESOURCES if s in query), None)
        if method == "GET":
            if "versions" in query:
                op = "ListObjectVersions"
            elif "uploads" in query:
                op = "ListMultipartUploads"
            elif sub:
                op = ("GetBucketLifecycleConfiguration" if sub == "lifecycle"
                      else "GetBucket" + BUCKET_SUBRESOURCES[sub])
            elif query.get("list-type") == ["2"]:
                op = "ListObjectsV2"
            else:
                op = "ListObjects"
        elif method == "PUT":
            op = "PutBucket" + BUCKET_SUBRESOURCES[sub] if sub else "CreateBucket"
        elif method == "HEAD":
            op = "HeadBucket"
        elif method == "DELETE":
            op = "DeleteBucket" + (BUCKET_SUBRESOURCES[sub] if sub else "")
        elif method == "POST":
            op = "DeleteObjects" if "delete" in query else "PostBucket"
    else:
        sub = next((s for s in OBJECT_SUBRESOURCES if s in query), None)
        if method == "HEAD":
            op = "HeadObject"
        elif method == "GET":
            if "uploadId" in query:
                op = "ListParts"
            elif sub:
                op = "GetObject" + OBJECT_SUBRESOURCES[sub]
            else:
                op = "GetObject"
        elif method == "PUT":
            if "partNumber" in query and "uploadId" in query:
                op = "UploadPartCopy" if copy else "UploadPart"
            elif sub:
                op = "PutObject" + OBJECT_SUBRESOURCES[sub]
            elif copy:
                op = "CopyObject"
            else:
                op = "PutObject"
        elif method == "POST":
            if "uploads" in query:
                op = "CreateMultipartUpload"
            elif "uploadId" in query:
                op = "CompleteMultipartUpload"
            elif "restore" in query:
                op = "RestoreObject"
            elif "select" in query:
                op = "SelectObjectContent"
            else:
                op = "PostObject"
        elif method == "DELETE":
            if "uploadId" in query:
                op = "AbortMultipartUpload"
            elif sub:
                op = "DeleteObject" + OBJECT_SUBRESOURCES[sub]
            else:
                op = "DeleteObject"
    detail = op + ("+versionId" if "versionId" in query else "")
    return op, detail


def error_xml(code: str, message: str, resource: str, request_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<Resource>{_xml_escape(resource)}</Resource><RequestId>{request_id}</RequestId>"
        f"<HostId>s3proxy-{request_id}</HostId></Error>"
    ).encode()


def _xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class State:
    """Counters and the fault PRNG, shared by all connection threads."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.rng = random.Random(args.seed)
        self.fault_ops = set(filter(None, (args.fault_ops or "").split(","))) or None
        # Requests of the fault operations seen so far (for --fault-after).
        self.eligible = 0
        self.log = open(args.log, "a", buffering=1) if args.log else None
        self.started = time.time()
        self.reset_counts()

    def reset_counts(self):
        self.ops = Counter()
        self.details = Counter()
        self.faults = Counter()
        self.statuses = Counter()
        self.forwarded = 0
        self.total = 0
        self.since = time.time()

    def snapshot(self) -> dict:
        return {
            "total": self.total,
            "forwarded": self.forwarded,
            "ops": dict(sorted(self.ops.items())),
            "ops_detail": dict(sorted(self.details.items())),
            "statuses": dict(sorted(self.statuses.items())),
            "faults": dict(sorted(self.faults.items())),
            "seconds": round(time.time() - self.since, 3),
        }

    def count(self, op: str, detail: str):
        with self.lock:
            self.total += 1
            self.ops[op] += 1
            self.details[detail] += 1

    def draw(self, op: str) -> dict:
        """Which faults this request gets. Every probability is drawn for every request
        (whether or not it applies), so a seed gives the same sequence of decisions."""
        a = self.args
        with self.lock:
            r = [self.rng.random() for _ in range(6)]
        if self.fault_ops is not None and op not in self.fault_ops:
            return {}
        with self.lock:
            self.eligible += 1
            if self.eligible <= a.fault_after:
                return {}
        is_copy = op in ("CopyObject", "UploadPartCopy")
        f = {}
        if r[0] < a.slowdown:
            f["kind"] = "slowdown"
        elif r[1] < a.internal_error:
            f["kind"] = "internal_error"
        elif r[2] < a.reset:
            f["kind"] = "reset"
        elif is_copy and r[3] < a.copy_error_200:
            f["kind"] = "copy_error_200"
        if f.get("kind") in ("internal_error", "reset") and r[4] < a.after_forward:
            f["after"] = True
        if r[5] < a.slow:
            f["slow"] = True
        return f

    def note_fault(self, op, fault):
        with self.lock:
            if fault.get("kind"):
                name = fault["kind"] + ("_after_forward" if fault.get("after") else "")
                self.faults[name] += 1
                self.faults[name + ":" + op] += 1
            if fault.get("slow"):
                self.faults["slow"] += 1

    def note_status(self, status):
        with self.lock:
            self.statuses[str(status)] += 1

    def record(self, op, status, fault, ms, target):
        """Counts are kept as replies are made (before the client can see them, so a
        snapshot taken right after a client's call includes it); this only logs."""
        if self.log:
            self.log.write(json.dumps({"op": op, "status": status, "fault": fault,
                                       "ms": round(ms, 1), "target": target}) + "\n")

    def dump(self):
        if self.args.counts_file:
            with self.lock:
                data = self.snapshot()
            tmp = self.args.counts_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.write("\n")
            os.replace(tmp, self.args.counts_file)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "s3proxy"
    # Set on the class by main().
    state: State = None  # type: ignore[assignment]
    upstream_host = "127.0.0.1"
    upstream_port = 80

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    # Every method goes through one path.
    def do_GET(self):
        self.proxy()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_OPTIONS = do_PATCH = do_GET

    def read_body(self) -> bytes:
        """The request body exactly as received (chunked framing kept)."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            raw = bytearray()
            while True:
                line = self.rfile.readline(65537)
                raw += line
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers, then the empty line.
                    while True:
                        t = self.rfile.readline(65537)
                        raw += t
                        if t in (b"\r\n", b"\n", b""):
                            break
                    return bytes(raw)
                raw += self.rfile.read(size)
                raw += self.rfile.readline(65537)  # CRLF after the chunk
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def control(self) -> bool:
        path = urlsplit(self.path).path
        if not path.startswith("/__"):
            return False
        st = self.state
        if path == "/__counts":
            with st.lock:
                data = st.snapshot()
        elif path == "/__reset" and self.command == "POST":
            with st.lock:
                data = st.snapshot()
                st.reset_counts()
        elif path == "/__dump" and self.command == "POST":
            st.dump()
            with st.lock:
                data = st.snapshot()
        else:
            self.reply(404, [("Content-Type", "text/plain")], b"unknown control path\n", count=False)
            return True
        self.reply(200, [("Content-Type", "application/json")],
                   json.dumps(data, sort_keys=True).encode() + b"\n", count=False)
        return True

    def reply(self, status, headers, body, reason=None, count=True):
        if count:
            self.state.note_status(status)
        self.send_response_only(status, reason)
        has_len = False
        for k, v in headers:
            if k.lower() == "content-length":
                has_len = True
            self.send_header(k, v)
        if not has_len:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.wfile.flush()

    def error_reply(self, status, code, message):
        rid = uuid.uuid4().hex[:16].upper()
        body = error_xml(code, message, urlsplit(self.path).path, rid)
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", rid),
                   ("Date", self.date_time_string())]
        if self.command == "HEAD":
            headers.append(("Content-Length", "0"))
            body = b""
        self.reply(status, headers, body)

    def reset_connection(self):
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True

    def forward(self, body: bytes):
        """Send the request upstream unchanged; returns (status, reason, headers, body)."""
        for attempt in (0, 1):
            conn = getattr(self, "_up", None)
            fresh = conn is None
            if conn is None:
                conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=300)
                self._up = conn
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in self.headers.raw_items():
                    conn.putheader(k, v)
                conn.endheaders()
                if body:
                    conn.send(body)
                resp = conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    conn.close()
                    self._up = None
                return resp.status, resp.reason, resp.getheaders(), data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self._up = None
                # A kept-alive upstream connection the server had closed: try once more.
                if fresh or attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def proxy(self):
        t0 = time.monotonic()
        body = self.read_body()
        if self.control():
            return
        st = self.state
        op, detail = classify(self.command, self.path, self.headers)
        st.count(op, detail)
        fault = st.draw(op)
        st.note_fault(op, fault)
        kind = fault.get("kind")
        status = None
        try:
            if kind == "slowdown":
                status = 503
                self.error_reply(503, "SlowDown", "Please reduce your request rate.")
                return
            if kind in ("internal_error", "reset") and not fault.get("after"):
                if kind == "reset":
                    st.note_status("reset")
                    self.reset_connection()
                    return
                status = 500
                self.error_reply(500, "InternalError", "We encountered an internal error. Please try again.")
                return
            if kind == "copy_error_200":
                status = 200
                rid = uuid.uuid4().hex[:16].upper()
                self.reply(200, [("Content-Type", "application/xml"), ("x-amz-request-id", rid)],
                           error_xml("InternalError", "We encountered an internal error. Please try again.",
                                     urlsplit(self.path).path, rid))
                return
            try:
                up_status, reason, headers, data = self.forward(body)
            except (OSError, http.client.HTTPException) as e:
                status = 502
                self.error_reply(502, "BadGateway", f"upstream: {type(e).__name__}")
                return
            with st.lock:
                st.forwarded += 1
            if kind == "reset":  # after forwarding: the upstream did it, the client never hears
                st.note_status("reset")
                self.reset_connection()
                return
            if kind == "internal_error":
                status = 500
                self.error_reply(500, "InternalError", "We encountered an internal error. Please try again.")
                return
            if fault.get("slow"):
                time.sleep(st.args.slow_ms / 1000.0)
            status = up_status
            out = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
            no_body = self.command == "HEAD" or up_status in (204, 304) or 100 <= up_status < 200
            if no_body:
                out += [(k, v) for k, v in headers if k.lower() == "content-length"]
                if not any(k.lower() == "content-length" for k, _ in out) and up_status != 204:
                    out.append(("Content-Length", "0"))
            else:
                out.append(("Content-Length", str(len(data))))
            st.note_status(up_status)
            self.send_response_only(up_status, reason)
            for k, v in out:
                self.send_header(k, v)
            self.end_headers()
            if not no_body and data:
                self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            st.record(op, status, fault, (time.monotonic() - t0) * 1000, self.command + " " + self.path)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--upstream", required=True, help="http://HOST:PORT of the S3 endpoint")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    p.add_argument("--port-file", help="write the port number here once listening")
    p.add_argument("--counts-file", help="write the counts (JSON) here on SIGTERM/SIGINT")
    p.add_argument("--log", help="append one JSON line per request here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--slowdown", type=float, default=0.0, help="probability of 503 SlowDown")
    p.add_argument("--internal-error", type=float, default=0.0, help="probability of 500 InternalError")
    p.add_argument("--reset", type=float, default=0.0, help="probability of a connection reset")
    p.add_argument("--after-forward", type=float, default=0.0,
                   help="probability that a 500/reset comes after the upstream executed the request")
    p.add_argument("--slow", type=float, default=0.0, help="probability of a delayed reply")
    p.add_argument("--slow-ms", type=float, default=500.0, help="delay of a slow reply")
    p.add_argument("--copy-error-200", type=float, default=0.0,
                   help="probability that a CopyObject answers 200 with an <Error> body")
    p.add_argument("--fault-ops", help="comma-separated operations faults apply to (default: all)")
    p.add_argument("--fault-after", type=int, default=0,
                   help="the first N requests of those operations get no fault")
    args = p.parse_args(argv)

    up = urlsplit(args.upstream)
    if up.scheme != "http" or not up.hostname:
        p.error("--upstream must be http://HOST:PORT")
    state = State(args)
    Handler.state = state
    Handler.upstream_host = up.hostname
    Handler.upstream_port = up.port or 80
    server = Server((args.host, args.port), Handler)
    port = server.server_address[1]

    def stop(signum, frame):
        state.dump()
        # shutdown() waits for serve_forever, which runs in this (main) thread: exit instead.
        sys.stdout.flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"LISTENING http://{args.host}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
