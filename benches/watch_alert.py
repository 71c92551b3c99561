#!/usr/bin/env python3
"""Time from the first damaged write to `watch --alert`'s alert, on moto through SQS.

    benches/watch_alert.py [--every 30s] [--rounds 3] [--bin target/release/s3rewind]

Each round: a fresh bucket of 8 text documents, `watch --setup --apply` (queue, policy,
notification), a watcher with `--queue URL --alert --alert-every EVERY` (defaults
otherwise: --settle 2s, --alert-lookback 1h), then the 8 documents are emptied at once
and the alert line (s3rewind.watch-alert/v1) is awaited on the watcher's stdout. Prints
each round's `delay_secs` (first damaged write, as the bucket stamps it, to the alert)
and the wall time from the first PUT to the line. moto stamps whole seconds and its
notifications name no version, so each key is read again from the bucket (after
--settle) before the detector sees it: that is part of the delay measured.
"""
import argparse, json, os, select, shutil, signal, socket, subprocess, sys, tempfile, time

import boto3


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", default="30s")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bin", default=os.environ.get("S3REWIND_BIN", "target/release/s3rewind"))
    a = ap.parse_args()
    moto = subprocess.check_output(["scripts/ensure-moto"], text=True).strip()
    port = free_port()
    ep = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_EC2_METADATA_DISABLED="true")
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        s3 = boto3.client("s3", endpoint_url=ep, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
        tmp = tempfile.mkdtemp()
        for r in range(a.rounds):
            b = f"alert-{r}"
            s3.create_bucket(Bucket=b)
            s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
            for k in range(8):
                s3.put_object(Bucket=b, Key=f"docs/{k}.txt", Body=b"a line of text\n" * 20)
            base = [a.bin, "--endpoint-url", ep, "--no-progress"]
            setup = json.loads(subprocess.check_output(
                base + ["--output", "json", "watch", f"s3://{b}", "--index", "x", "--setup", "--apply"],
                env=env))
            idx = os.path.join(tmp, f"{b}.idx")
            w = subprocess.Popen(base + ["watch", f"s3://{b}", "--index", idx, "--queue",
                                         setup["applied"]["queue_url"], "--reconcile-every", "0",
                                         "--alert", "--alert-every", a.every],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            while not os.path.exists(idx):
                time.sleep(0.05)
            time.sleep(1)
            t0 = time.time()
            for k in range(8):
                s3.put_object(Bucket=b, Key=f"docs/{k}.txt", Body=b"")
            line = w.stdout.readline()
            wall = time.time() - t0
            doc = json.loads(line)
            print(json.dumps({"round": r, "every": a.every, "delay_secs": doc["delay_secs"],
                              "wall_from_first_put_secs": round(wall, 3),
                              "kinds": doc["incident"]["kinds"]}))
            w.send_signal(signal.SIGINT)
            w.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
