#!/usr/bin/env python3
"""Peer benchmark (issue 8 §6): restore one generated bucket's state at T into a fresh
bucket with s3rewind, s3-pit-restore and rclone, in one run, on one local S3 server (moto,
or with --server radosgw a single-node Ceph radosgw from scripts/radosgw),
each through the counting proxy (scripts/s3proxy.py); check every result by content; print
wall time, client CPU, peak RSS, requests per copied key by operation, and the server's own
CopyObject capacity measured in the same run.

    benches/peers.py [--keys 5000] [--concurrency 16] [--tools s3rewind,s3-pit-restore,rclone]
                     [--server moto|radosgw] [--runs N] [--json-out FILE]

With --runs N every tool restores N times, each time into a fresh bucket, and the tools'
order turns by one each run (run 2 starts with the second tool), so no tool always runs
first on a cold server or last on a warm one. The summary gives each tool's median.

What the figures measure: client, server and proxy share this machine's cores, so wall
time tracks the CPU of all three. Each result says how many cores were busy on average
(client + server + proxy CPU over the wall time: `cores_busy`); a tool that spends less
client CPU leaves more to a co-located server. The JSON records the checkout's commit and,
for s3rewind, how many copies started while the source was still listed (`while_listing`).

Needs: moto[server] and boto3 (scripts/ensure-moto), `pip install s3-pit-restore`,
`apt-get install rclone` (each tool that is missing is reported and skipped), GNU time
(/usr/bin/time), and the s3rewind binary: $S3REWIND_BIN or target/release/s3rewind.

The history (seeded, --seed): every key gets 1-4 versions of 64-512 random bytes, 6% of
the keys then get a delete marker (a second later, so no version/marker tie within a
second), T is taken between two fresh seconds, and then the damage: 30% of the keys
overwritten, 10% deleted, 2% of the deleted-before-T keys re-created, 6% new keys. The
expected state at T comes from the generator's own record, not from a listing.

A result is checked by listing the destination directly on the server (not through the proxy):
the key set must equal the state at T and every ETag must be the MD5 of the body at T;
a sample of bodies is read back and compared byte for byte.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone

import boto3
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROXY = os.path.join(ROOT, "scripts", "s3proxy.py")
# The server's keys: moto takes any; scripts/radosgw makes `test`/`test` (set in main()).
KEYS = ["testing", "testing"]
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
         "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
TICK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def proc_cpu(pid: int) -> float:
    """user+sys seconds of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def client(endpoint: str, pool: int = 64):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=KEYS[0], aws_secret_access_key=KEYS[1],
                        config=Config(s3={"addressing_style": "path"}, max_pool_connections=pool,
                                      retries={"mode": "standard", "max_attempts": 10}))


def next_second():
    now = time.time()
    time.sleep(1.0 - (now - int(now)) + 0.05)


class Proxy:
    def __init__(self, upstream: str, workdir: str, name: str, *extra: str):
        self.counts_file = os.path.join(workdir, f"counts-{name}.json")
        self.p = subprocess.Popen([sys.executable, PROXY, "--upstream", upstream,
                                   "--counts-file", self.counts_file, *extra],
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().strip()
        assert line.startswith("LISTENING "), line
        self.endpoint = line.split(" ", 1)[1]

    def counts(self) -> dict:
        with urllib.request.urlopen(self.endpoint + "/__counts") as r:
            return json.load(r)

    def cpu(self) -> float:
        return proc_cpu(self.p.pid)

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


class Server:
    """The S3 server under test, started in `work`: moto, or radosgw (mon + OSD + rgw)."""

    def __init__(self, kind: str, work: str):
        self.kind, self.dir, self.proc = kind, os.path.join(work, kind), None
        if kind == "moto":
            moto = os.environ.get("MOTO_SERVER") or subprocess.check_output(
                [os.path.join(ROOT, "scripts", "ensure-moto")], text=True).strip()
            port = free_port()
            mlog = open(os.path.join(work, "moto.log"), "w")
            self.proc = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)],
                                         stdout=mlog, stderr=mlog)
            self.endpoint = f"http://127.0.0.1:{port}"
            deadline = time.time() + 120
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline or self.proc.poll() is not None:
                        raise SystemExit("moto_server did not start")
                    time.sleep(0.1)
        else:
            os.makedirs(self.dir)
            script = os.path.join(ROOT, "scripts", "radosgw")
            out = subprocess.run([script, "start", self.dir], capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"radosgw did not start: {out.stderr.strip()[-500:]}")
            self.endpoint = out.stdout.strip().splitlines()[-1]
            KEYS[:] = ["test", "test"]
            CREDS.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")

    def pids(self) -> list[int]:
        if self.proc:
            return [self.proc.pid]
        run = os.path.join(self.dir, "run")
        return [int(open(os.path.join(run, f)).read()) for f in os.listdir(run) if f.endswith(".pid")]

    def cpu(self) -> float:
        """user+sys seconds of the server's processes."""
        return sum(proc_cpu(p) for p in self.pids())

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        else:
            subprocess.run([os.path.join(ROOT, "scripts", "radosgw"), "stop", self.dir])


# ---------------------------------------------------------------- the history

def generate(s3, bucket: str, keys: int, seed: int, workers: int):
    """Writes the history; returns (T, {key: (body, version_id)} at T, versions written)."""
    rng = random.Random(seed)
    names = [f"dir{i % 20:02d}/obj-{i:05d}.dat" for i in range(keys)]
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    nver = {k: rng.choices([1, 2, 3, 4], weights=[20, 30, 30, 20])[0] for k in names}
    state: dict[str, tuple[bytes, str] | None] = {}
    written = 0
    lock = threading.Lock()

    def body():
        with lock:
            return rng.randbytes(rng.randint(64, 512))

    def put(k):
        b = body()
        v = s3.put_object(Bucket=bucket, Key=k, Body=b)["VersionId"]
        return k, (b, v)

    def run(fn, items, label):
        nonlocal written
        t0 = time.monotonic()
        with cf.ThreadPoolExecutor(workers) as ex:
            for k, val in ex.map(fn, items):
                state[k] = val
        written += len(items)
        log(f"  {label}: {len(items)} writes in {time.monotonic() - t0:.1f} s")

    def delete(k):
        s3.delete_object(Bucket=bucket, Key=k)
        return k, None

    # Before T: rounds of versions (round r writes the keys with at least r versions).
    for r in range(1, 5):
        run(put, [k for k in names if nver[k] >= r], f"round {r}")
    next_second()  # a marker never shares a second with its key's last version
    deleted_before = rng.sample(names, keys * 6 // 100)
    run(delete, deleted_before, "delete markers before T")
    next_second()
    t = datetime.now(timezone.utc)
    at_t = {k: v for k, v in state.items() if v is not None}
    next_second()
    # The damage.
    live = sorted(at_t)
    overwrite = rng.sample(live, keys * 30 // 100)
    rest = sorted(set(live) - set(overwrite))
    deleted_after = rng.sample(rest, keys * 10 // 100)
    recreated = rng.sample(sorted(deleted_before), len(deleted_before) // 3)
    new = [f"dir{i % 20:02d}/new-{i:05d}.dat" for i in range(keys * 6 // 100)]
    run(put, overwrite + recreated + new, "damage: overwrites, re-created and new keys")
    run(delete, deleted_after, "damage: deletes")
    return t, at_t, written


# ---------------------------------------------------------------- checks

def check(s3, bucket: str, at_t: dict, sample: int, seed: int) -> dict:
    """The destination's current objects against the state at T."""
    got = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            got[o["Key"]] = (o["ETag"].strip('"'), o["Size"])
    missing = sorted(set(at_t) - set(got))
    extra = sorted(set(got) - set(at_t))
    wrong = sorted(k for k in set(got) & set(at_t)
                   if got[k] != (hashlib.md5(at_t[k][0]).hexdigest(), len(at_t[k][0])))
    rng = random.Random(seed)
    common = sorted(set(got) & set(at_t))
    bad_bodies = []
    for k in rng.sample(common, min(sample, len(common))):
        if s3.get_object(Bucket=bucket, Key=k)["Body"].read() != at_t[k][0]:
            bad_bodies.append(k)
    ok = not (missing or extra or wrong or bad_bodies)
    return {"ok": ok, "keys": len(got), "missing": len(missing), "extra": len(extra),
            "wrong_etag": len(wrong), "bad_bodies": len(bad_bodies),
            "examples": (missing[:3] + extra[:3] + wrong[:3] + bad_bodies[:3])}


# ---------------------------------------------------------------- CopyObject capacity

def _copy_chunk(args):
    endpoint, src, dst, items, threads = args
    s3 = client(endpoint, pool=threads)

    def one(kv):
        s3.copy_object(Bucket=dst, Key=kv[0], CopySource={"Bucket": src, "Key": kv[0], "VersionId": kv[1]})

    with cf.ThreadPoolExecutor(threads) as ex:
        list(ex.map(one, items))
    return len(items)


def _worker_init():
    # The parent turns SIGTERM into KeyboardInterrupt (cleanup); workers keep the default.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def copy_capacity(endpoint: str, s3_direct, src: str, dst: str, items, concurrency: int) -> dict:
    """A tight parallel CopyObject loop (versionId sources), `concurrency` in flight over 4
    processes (so the client's GIL is not the limit)."""
    s3_direct.create_bucket(Bucket=dst)
    s3_direct.put_bucket_versioning(Bucket=dst, VersioningConfiguration={"Status": "Enabled"})
    procs = 4
    chunks = [items[i::procs] for i in range(procs)]
    per = max(1, concurrency // procs)
    ctx = multiprocessing.get_context("fork")
    t0 = time.monotonic()
    r0 = os.times()
    with ctx.Pool(procs, initializer=_worker_init) as pool:
        n = sum(pool.map(_copy_chunk, [(endpoint, src, dst, c, per) for c in chunks]))
        # Let the workers exit on their own: terminate() (the with-block's exit) sends
        # SIGTERM, and a worker forked from this threaded process could hang in it.
        pool.close()
        pool.join()
    wall = time.monotonic() - t0
    r1 = os.times()
    cpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    return {"copies": n, "wall_s": round(wall, 2), "copies_per_s": round(n / wall, 1),
            "client_cpu_s": round(cpu, 2)}


# ---------------------------------------------------------------- tools

def parse_time_v(path: str) -> dict:
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().rpartition(": ")
            if k == "User time (seconds)":
                out["user"] = float(v)
            elif k == "System time (seconds)":
                out["sys"] = float(v)
            elif k == "Maximum resident set size (kbytes)":
                out["rss_mib"] = int(v) / 1024
            elif k == "Exit status":
                out["exit"] = int(v)
    return out


def tool_commands(name: str, endpoint: str, src: str, dst: str, t: datetime, conc: int,
                  work: str, binary: str):
    """(argv, extra env) of a tool restoring src at t into dst via endpoint."""
    iso = t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    env = dict(os.environ, **CREDS)
    for v in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "RUST_LOG"):
        env.pop(v, None)
    if name == "s3rewind":
        home = os.path.join(work, "s3rewind-home")
        os.makedirs(home, exist_ok=True)
        env.update(HOME=home, XDG_STATE_HOME=os.path.join(home, "state"),
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                   AWS_EC2_METADATA_DISABLED="true")
        return [binary, "--endpoint-url", endpoint, "--no-progress", "--output", "json", "restore",
                f"s3://{src}", "--at", iso, "--to", f"s3://{dst}", "--yes",
                "--concurrency", str(conc)], env
    if name == "s3-pit-restore":
        env["AWS_ENDPOINT_URL"] = endpoint
        # Needs an offset in the timestamp (README of s3-pit-restore).
        return [shutil.which("s3-pit-restore"), "-b", src, "-B", dst, "-t", t.isoformat(),
                "--max-workers", str(conc)], env
    if name == "rclone":
        env.pop("AWS_CA_BUNDLE", None)  # rclone 1.60 fails on it (LOCAL_S3.md)
        conf = os.path.join(work, "rclone.conf")
        open(conf, "w").close()
        env.update(RCLONE_CONFIG=conf, RCLONE_CONFIG_X_TYPE="s3", RCLONE_CONFIG_X_PROVIDER="Other",
                   RCLONE_CONFIG_X_ENDPOINT=endpoint, RCLONE_CONFIG_X_FORCE_PATH_STYLE="true",
                   RCLONE_CONFIG_X_ACCESS_KEY_ID=KEYS[0], RCLONE_CONFIG_X_SECRET_ACCESS_KEY=KEYS[1],
                   RCLONE_CONFIG_X_REGION="us-east-1")
        # version_at scoped to the source only (the global flag makes the destination
        # read-only); the two remotes differ in config, so server-side copy must be allowed
        # across them, or rclone downloads and uploads every object.
        return [shutil.which("rclone"), "copy", f"x,version_at='{iso}':{src}", f"x:{dst}",
                "--fast-list", "--server-side-across-configs", "--transfers", str(conc),
                "--checkers", str(conc), "--retries", "3",
                # Its best flags here: no HEAD after each copy, and no look at the
                # destination (a fresh bucket each run: nothing there to compare with).
                "--s3-no-head", "--no-check-dest"], env
    raise ValueError(name)


def run_tool(name, upstream, s3, server, src, t, at_t, conc, work, binary, seed, sample, run=1):
    dst = f"dst-{name.replace('_', '-')}-{run}"
    s3.create_bucket(Bucket=dst)
    s3.put_bucket_versioning(Bucket=dst, VersioningConfiguration={"Status": "Enabled"})
    proxy = Proxy(upstream, work, name)
    try:
        argv, env = tool_commands(name, proxy.endpoint, src, dst, t, conc, work, binary)
        timef = os.path.join(work, f"time-{name}-{run}.txt")
        outf = os.path.join(work, f"out-{name}-{run}.txt")
        errf = os.path.join(work, f"err-{name}-{run}.txt")
        log(f"== {name}: {' '.join(argv)}")
        server0, proxy0 = server.cpu(), proxy.cpu()
        t0 = time.monotonic()
        with open(outf, "w") as out, open(errf, "w") as err:
            rc = subprocess.call(["/usr/bin/time", "-v", "-o", timef, *argv], env=env,
                                 stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        wall = time.monotonic() - t0
        server_cpu, proxy_cpu = server.cpu() - server0, proxy.cpu() - proxy0
        counts = proxy.counts()
    finally:
        proxy.stop()
    tv = parse_time_v(timef)
    client_cpu = tv.get("user", 0) + tv.get("sys", 0)
    result = {
        "tool": name, "run": run, "command": argv, "exit": rc, "wall_s": round(wall, 2),
        "cpu_s": round(tv.get("user", 0) + tv.get("sys", 0), 2),
        "user_s": tv.get("user"), "sys_s": tv.get("sys"), "rss_mib": round(tv.get("rss_mib", 0), 1),
        "server_cpu_s": round(server_cpu, 2), "proxy_cpu_s": round(proxy_cpu, 2),
        # Cores kept busy on average by client, server and proxy together.
        "cores_busy": round((client_cpu + server_cpu + proxy_cpu) / wall, 2) if wall else None,
        "requests": counts,
    }
    if name == "s3rewind":
        try:
            with open(outf) as f:
                doc = json.load(f)
            result["summary"] = {"plan": doc.get("plan"), "report": {
                k: doc["report"].get(k) for k in ("copied", "already_done", "seconds", "final_concurrency", "throttled", "while_listing")}}
        except (ValueError, KeyError) as e:
            result["summary"] = f"unreadable: {e}"
    result["check"] = check(s3, dst, at_t, sample, seed)
    with open(errf) as f:
        tail = f.read()[-2000:]
    if rc != 0 or not result["check"]["ok"]:
        result["stderr_tail"] = tail
    log(f"   exit {rc}, {wall:.1f} s, check {result['check']}")
    return result


# ---------------------------------------------------------------- report

def medians(results, copied) -> dict:
    """Each tool's median over its runs: wall, client CPU (and per copied key), cores busy."""
    out = {}
    for name in dict.fromkeys(r["tool"] for r in results):
        rs = [r for r in results if r["tool"] == name]
        cpu = statistics.median(r["cpu_s"] for r in rs)
        out[name] = {
            "runs": len(rs),
            "all_ok": all(r["check"]["ok"] for r in rs),
            "wall_s": round(statistics.median(r["wall_s"] for r in rs), 2),
            "cpu_s": round(cpu, 2),
            "cpu_ms_per_copied_key": round(cpu * 1000 / copied, 3) if copied else None,
            "cores_busy": round(statistics.median(r["cores_busy"] or 0 for r in rs), 2),
        }
    return out


def table(results, capacity, copied, machine) -> str:
    lines = []
    ops_all = sorted({op for r in results for op in r["requests"]["ops"]})
    hdr = (f"{'tool':<15}{'run':>4}{'ok':>4}{'wall s':>8}{'CPU s':>7}{'RSS MiB':>9}{'srv CPU s':>10}"
           f"{'cores':>6}{'req':>7}{'req/key':>8}{'copies/s':>9}{'of cap':>7}")
    lines.append(hdr)
    cap = capacity.get("via_proxy", {}).get("copies_per_s")
    for r in results:
        total = r["requests"]["total"]
        rate = copied / r["wall_s"] if r["wall_s"] else 0
        frac = f"{rate / cap:.0%}" if cap else "-"
        lines.append(f"{r['tool']:<15}{r.get('run', 1):>4}{'yes' if r['check']['ok'] else 'NO':>4}"
                     f"{r['wall_s']:>8.1f}{r['cpu_s']:>7.1f}{r['rss_mib']:>9.0f}{r['server_cpu_s']:>10.1f}"
                     f"{r['cores_busy'] or 0:>6.2f}{total:>7}{total / copied:>8.2f}{rate:>9.1f}{frac:>7}")
    lines.append("")
    lines.append("medians over the runs (client CPU per copied key; cores busy: client + server + proxy):")
    for name, m in medians(results, copied).items():
        lines.append(f"{name:<15} {m['runs']} run(s), all ok: {m['all_ok']}, wall {m['wall_s']} s, "
                     f"client CPU {m['cpu_s']} s = {m['cpu_ms_per_copied_key']} ms per copied key, "
                     f"{m['cores_busy']} cores busy")
    lines.append("")
    firsts = [r for r in results if r.get("run", 1) == 1]
    lines.append("requests per copied key, by operation (first run):")
    lines.append(f"{'operation':<28}" + "".join(f"{r['tool']:>16}" for r in firsts))
    for op in ops_all:
        lines.append(f"{op:<28}" + "".join(f"{r['requests']['ops'].get(op, 0) / copied:>16.3f}" for r in firsts))
    lines.append("")
    for k, v in capacity.items():
        lines.append(f"server CopyObject capacity ({k}): {v['copies_per_s']} copies/s "
                     f"({v['copies']} copies in {v['wall_s']} s, client CPU {v['client_cpu_s']} s)")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--tools", default="s3rewind,s3-pit-restore,rclone")
    ap.add_argument("--capacity-copies", type=int, default=1500)
    ap.add_argument("--sample", type=int, default=200, help="bodies read back per result")
    ap.add_argument("--runs", type=int, default=1,
                    help="restores per tool, the tools' order turned by one each run")
    ap.add_argument("--json-out")
    ap.add_argument("--server", choices=("moto", "radosgw"), default="moto",
                    help="moto (one Python process) or a single-node radosgw (scripts/radosgw)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--wait-bin", type=int, default=0,
                    help="wait up to this many seconds for the s3rewind binary (a build still running)")
    a = ap.parse_args()

    binary = os.environ.get("S3REWIND_BIN") or os.path.join(ROOT, "target", "release", "s3rewind")
    tools = [x for x in a.tools.split(",") if x]
    if a.wait_bin and not os.access(binary, os.X_OK):
        log(f"{binary} missing: will wait up to {a.wait_bin} s for it before running s3rewind")
    missing = {"s3rewind": not a.wait_bin and not os.access(binary, os.X_OK),
               "s3-pit-restore": not shutil.which("s3-pit-restore"),
               "rclone": not shutil.which("rclone")}
    for name in tools:
        if missing.get(name):
            log(f"SKIPPED {name}: not installed (see the docstring for how to install it)")
    tools = [x for x in tools if not missing.get(x)]

    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    machine = f"{os.cpu_count()} cores ({cpu}), shared with other builds; load avg at start {os.getloadavg()[0]:.2f}"
    versions = {}
    for name, cmd in (("moto", [sys.executable, "-c", "import moto; print(moto.__version__)"])
                      if a.server == "moto" else ("radosgw", ["radosgw", "--version"]),
                      ("boto3", [sys.executable, "-c", "import boto3; print(boto3.__version__)"]),
                      ("s3rewind", [binary, "--version"]),
                      ("s3-pit-restore", [sys.executable, "-c", "import importlib.metadata as m; print(m.version('s3-pit-restore'))"]),
                      ("rclone", ["rclone", "version"])):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
            versions[name] = next((l for l in out.splitlines() if l.strip()), "missing").strip()
        except (OSError, subprocess.TimeoutExpired):
            versions[name] = "missing"

    # SIGTERM cleans up like Ctrl-C (moto and the proxies are stopped, the work dir removed).
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    work = tempfile.mkdtemp(prefix="s3rewind-peers.")
    server = Server(a.server, work)
    upstream = server.endpoint
    try:
        s3 = client(upstream)
        log(f"machine: {machine}")
        log(f"generating: {a.keys} keys on {a.server} at {upstream} (seed {a.seed})")
        g0 = time.monotonic()
        t, at_t, written = generate(s3, "src", a.keys, a.seed, a.concurrency)
        gen_s = time.monotonic() - g0
        copied = len(at_t)
        log(f"history: {written} versions and markers in {gen_s:.0f} s; T = {t.isoformat()}; {copied} keys at T")

        capacity = {}
        items = sorted((k, v[1]) for k, v in at_t.items())[: a.capacity_copies]
        log(f"== CopyObject capacity: {len(items)} copies, {a.concurrency} in flight")
        proxy = Proxy(upstream, work, "capacity")
        try:
            capacity["via_proxy"] = copy_capacity(proxy.endpoint, s3, "src", "cap-proxy", items, a.concurrency)
        finally:
            proxy.stop()
        capacity["direct"] = copy_capacity(upstream, s3, "src", "cap-direct", items, a.concurrency)
        log(f"   {capacity}")

        results = []
        for run in range(1, a.runs + 1):
            turn = (run - 1) % max(len(tools), 1)
            for name in tools[turn:] + tools[:turn]:
                if name == "s3rewind":
                    deadline = time.time() + a.wait_bin
                    while not os.access(binary, os.X_OK) and time.time() < deadline:
                        time.sleep(5)
                    if not os.access(binary, os.X_OK):
                        log(f"SKIPPED s3rewind: {binary} missing")
                        continue
                    versions["s3rewind"] = subprocess.run([binary, "--version"], capture_output=True,
                                                          text=True).stdout.strip()
                results.append(run_tool(name, upstream, s3, server, "src", t, at_t, a.concurrency,
                                        work, binary, a.seed, a.sample, run))
    finally:
        server.stop()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)

    commit = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    doc = {"machine": machine, "server": a.server, "versions": versions, "command": " ".join(sys.argv),
           "commit": commit, "runs": a.runs,
           "keys": a.keys, "history_entries": written, "keys_at_t": copied,
           "generate_s": round(gen_s, 1), "concurrency": a.concurrency, "capacity": capacity,
           "results": results, "medians": medians(results, copied)}
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(doc, f, indent=1)
    print(f"peer bench: {a.keys} keys, {written} versions and delete markers, {copied} keys at T "
          f"(each copied once into a fresh bucket), concurrency {a.concurrency}")
    print(f"machine: {machine}; server: {a.server}")
    print("versions: " + "; ".join(f"{k} {v}" for k, v in versions.items()))
    print()
    print(table(results, capacity, copied, machine))
    return 0 if all(r["check"]["ok"] and r["exit"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
