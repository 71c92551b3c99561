#!/usr/bin/env python3
"""Fixture for scripts/demo: builds a versioned bucket with a realistic history and then
a ransomware-style incident, on a local S3 server; verifies a restore afterwards.

  demo_bucket.py history ENDPOINT BUCKET SNAPSHOT   -> normal activity; writes the expected state
  demo_bucket.py incident ENDPOINT BUCKET           -> encrypt in place, rename to .locked, wipe, ransom note
  demo_bucket.py verify ENDPOINT BUCKET SNAPSHOT    -> compares every object with the snapshot
"""
import hashlib
import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3

RNG = random.Random(20261121)


def client(endpoint):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="demo", aws_secret_access_key="demo")


def body(kind, i, rev):
    words = " ".join(RNG.choice(["invoice", "quarter", "revenue", "client", "draft", "final",
                                 "meeting", "notes", "budget", "plan"]) for _ in range(40 + i % 30))
    text = f"{kind} {i} revision {rev}\n{words}\n".encode()
    if kind == "pdf":
        return b"%PDF-1.7\n" + text + b"%%EOF\n"
    if kind == "docx":
        return b"PK\x03\x04\x14\x00\x06\x00" + text
    if kind == "png":
        return b"\x89PNG\r\n\x1a\n" + bytes(RNG.randrange(256) for _ in range(200 + i))
    if kind == "csv":
        return b"id,amount,date\n" + b"".join(f"{j},{j * 7 % 1000},2026-11-{1 + j % 28:02}\n".encode() for j in range(20 + i))
    return json.dumps({"name": f"config-{i}", "revision": rev, "enabled": i % 2 == 0}).encode()


KINDS = [("reports/q{}.pdf", "pdf"), ("docs/contract-{}.docx", "docx"),
         ("images/photo-{}.png", "png"), ("data/sales-{}.csv", "csv"), ("config/app-{}.json", "json")]


def put_all(s3, bucket, items):
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), items))


def next_second():
    time.sleep(1.05 - (time.time() % 1.0))


def current(s3, bucket):
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            out[o["Key"]] = hashlib.sha256(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()).hexdigest()
    return out


def history(endpoint, bucket, snapshot):
    s3 = client(endpoint)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    # Day 1: the initial upload.
    put_all(s3, bucket, [(pat.format(i), body(kind, i, 1)) for pat, kind in KINDS for i in range(30)])
    next_second()
    # Day 2: ordinary work: edits, a few deletions, new files.
    put_all(s3, bucket, [(pat.format(i), body(kind, i, 2)) for pat, kind in KINDS for i in range(0, 30, 4)])
    for i in range(25, 30):
        s3.delete_object(Bucket=bucket, Key=f"data/sales-{i}.csv")
    put_all(s3, bucket, [(f"reports/q{i}.pdf", body("pdf", i, 1)) for i in range(30, 36)])
    next_second()
    json.dump(current(s3, bucket), open(snapshot, "w"), indent=1, sort_keys=True)
    n = sum(len(p.get("Versions", [])) + len(p.get("DeleteMarkers", []))
            for p in s3.get_paginator("list_object_versions").paginate(Bucket=bucket))
    print(f"  history: {len(json.load(open(snapshot)))} objects, {n} versions and delete markers")


def incident(endpoint, bucket):
    s3 = client(endpoint)
    keys = sorted(current(s3, bucket))
    victims = [k for k in keys if not k.startswith("config/")]
    encrypt, rename = victims[: len(victims) * 2 // 3], victims[len(victims) * 2 // 3:]
    cipher = lambda k: bytes(RNG.randrange(256) for _ in range(400 + len(k)))
    put_all(s3, bucket, [(k, cipher(k)) for k in encrypt])                      # encrypt in place
    put_all(s3, bucket, [(k + ".locked", cipher(k)) for k in rename])            # rename to .locked
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.delete_object(Bucket=bucket, Key=k), rename))  # ... and delete
    s3.put_object(Bucket=bucket, Key="README_RESTORE_FILES.txt", Body=b"Your files are encrypted. Pay 5 BTC.")
    print(f"  incident: {len(encrypt)} encrypted in place, {len(rename)} renamed to .locked and deleted, ransom note added")


def verify(endpoint, bucket, snapshot):
    s3 = client(endpoint)
    want = json.load(open(snapshot))
    have = current(s3, bucket)
    same = sum(1 for k in want if have.get(k) == want[k])
    wrong = sorted(k for k in want if k in have and have[k] != want[k])
    missing = sorted(k for k in want if k not in have)
    extra = sorted(k for k in have if k not in want)
    print(f"  verify: {same}/{len(want)} objects identical to before the incident (SHA-256 of content); "
          f"{len(wrong)} differ, {len(missing)} missing, {len(extra)} unexpected")
    for title, ks in (("differ", wrong), ("missing", missing), ("unexpected", extra)):
        if ks:
            print(f"    {title}: {', '.join(ks[:10])}")
    return 0 if not (wrong or missing or extra) else 1


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    sys.exit({"history": history, "incident": incident, "verify": verify}[cmd](*args) or 0)
