#!/usr/bin/env python3
"""Tests of scripts/s3proxy.py (unittest; needs moto[server] and boto3, as scripts/ensure-moto
installs them):

    python3 scripts/test_s3proxy.py

- the bytes that reach the upstream are the bytes the client sent (request line, headers in
  order and spelling, Content-Length and chunked bodies), checked with a raw-socket upstream
  that records what it receives;
- SigV4 survives the proxy: against moto with IAM authentication enforced, signed requests
  through the proxy succeed, and the same requests with a wrong secret fail with
  SignatureDoesNotMatch (so moto does check, and what it checks was not altered);
- operations are classified and counted; faults come back as S3 would send them, at roughly
  the configured rates, reproducibly for a seed.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PROXY = os.path.join(HERE, "s3proxy.py")

sys.path.insert(0, HERE)
import s3proxy  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_proxy(upstream, *extra):
    p = subprocess.Popen([sys.executable, PROXY, "--upstream", upstream, *extra],
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    assert line.startswith("LISTENING "), line
    return p, line.split(" ", 1)[1]


def wait_port(port, proc=None, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("no answer on port %d" % port)


def counts(endpoint):
    with urllib.request.urlopen(endpoint + "/__counts") as r:
        return json.load(r)


class RawUpstream:
    """A server that records each request's raw bytes and answers 200 with a fixed body."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            c, _ = self.sock.accept()
            threading.Thread(target=self.conn, args=(c,), daemon=True).start()

    def conn(self, c):
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            head, _, rest = buf.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            hdrs = {l.split(b":", 1)[0].strip().lower(): l.split(b":", 1)[1].strip() for l in lines[1:]}
            if b"chunked" in hdrs.get(b"transfer-encoding", b""):
                while not (rest.endswith(b"0\r\n\r\n") or b"\r\n0\r\n\r\n" in rest or rest.startswith(b"0\r\n\r\n")):
                    rest += c.recv(65536)
                end = rest.index(b"0\r\n\r\n") + 5 if rest.startswith(b"0\r\n") else rest.index(b"\r\n0\r\n\r\n") + 7
                body, buf = rest[:end], rest[end:]
            else:
                n = int(hdrs.get(b"content-length", b"0"))
                while len(rest) < n:
                    rest += c.recv(65536)
                body, buf = rest[:n], rest[n:]
            self.received.append(head + b"\r\n\r\n" + body)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")


class ByteIdentity(unittest.TestCase):
    def test_requests_reach_upstream_unchanged(self):
        up = RawUpstream()
        proxy, endpoint = start_proxy("http://127.0.0.1:%d" % up.port)
        try:
            port = int(endpoint.rsplit(":", 1)[1])
            host = b"Host: 127.0.0.1:" + str(port).encode() + b"\r\n"
            sent = [
                # Header spelling and order as an SDK sends them; Host names the proxy's
                # port, which the signature covers and which must therefore stay.
                b"PUT /bucket/dir%20a/%C3%BC%2B%26.txt?versionId=abc HTTP/1.1\r\n" + host
                + b"x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n"
                b"X-Amz-Date: 20261130T000000Z\r\nx-amz-copy-source: src/k%3F?versionId=v1\r\n"
                b"Authorization: AWS4-HMAC-SHA256 Credential=t/20261130/us-east-1/s3/aws4_request, "
                b"SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=00\r\n"
                b"Content-Length: 5\r\n\r\nhello",
                # A chunked (streaming) body, aws-chunked inside: framing kept as sent.
                b"PUT /bucket/streamed HTTP/1.1\r\n" + host
                + b"Content-Encoding: aws-chunked\r\nx-amz-decoded-content-length: 11\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
                b"6;ext=1\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n",
                b"GET /bucket?versions&max-keys=2 HTTP/1.1\r\n" + host + b"\r\n",
            ]
            s = socket.create_connection(("127.0.0.1", port))
            for req in sent:  # all on one kept-alive connection
                s.sendall(req)
                resp = b""
                while not resp.endswith(b"ok"):
                    resp += s.recv(65536)
                self.assertTrue(resp.startswith(b"HTTP/1.1 200"), resp)
            s.close()
            self.assertEqual(up.received, sent)
            c = counts(endpoint)
            self.assertEqual(c["ops"], {"CopyObject": 1, "ListObjectVersions": 1, "PutObject": 1})
            self.assertEqual(c["ops_detail"]["CopyObject+versionId"], 1)
        finally:
            proxy.terminate()
            proxy.wait()


class Classify(unittest.TestCase):
    def test_operations(self):
        cases = [
            ("GET", "/b?versions&key-marker=a", {}, "ListObjectVersions"),
            ("GET", "/b?versioning", {}, "GetBucketVersioning"),
            ("GET", "/b?lifecycle", {}, "GetBucketLifecycleConfiguration"),
            ("GET", "/b?list-type=2&prefix=x", {}, "ListObjectsV2"),
            ("GET", "/b", {}, "ListObjects"),
            ("HEAD", "/b", {}, "HeadBucket"),
            ("PUT", "/b", {}, "CreateBucket"),
            ("HEAD", "/b/k?versionId=1", {}, "HeadObject"),
            ("GET", "/b/k/x", {}, "GetObject"),
            ("GET", "/b/k?tagging", {}, "GetObjectTagging"),
            ("PUT", "/b/k", {}, "PutObject"),
            ("PUT", "/b/k", {"x-amz-copy-source": "a/b"}, "CopyObject"),
            ("PUT", "/b/k?partNumber=1&uploadId=u", {"x-amz-copy-source": "a/b"}, "UploadPartCopy"),
            ("PUT", "/b/k?partNumber=1&uploadId=u", {}, "UploadPart"),
            ("POST", "/b/k?uploads", {}, "CreateMultipartUpload"),
            ("POST", "/b/k?uploadId=u", {}, "CompleteMultipartUpload"),
            ("DELETE", "/b/k?uploadId=u", {}, "AbortMultipartUpload"),
            ("DELETE", "/b/k", {}, "DeleteObject"),
            ("POST", "/b?delete", {}, "DeleteObjects"),
            ("GET", "/", {}, "ListBuckets"),
        ]
        for method, target, headers, op in cases:
            self.assertEqual(s3proxy.classify(method, target, headers)[0], op, (method, target))


class AgainstMoto(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import shutil
        moto = os.environ.get("MOTO_SERVER") or shutil.which("moto_server")
        if not moto:
            raise unittest.SkipTest("moto_server not installed (scripts/ensure-moto)")
        cls.port = free_port()
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="4")
        cls.moto = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(cls.port)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(cls.port, cls.moto)
        cls.upstream = "http://127.0.0.1:%d" % cls.port
        import boto3
        iam = boto3.client("iam", endpoint_url=cls.upstream, region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="x")
        iam.create_user(UserName="u")
        k = iam.create_access_key(UserName="u")["AccessKey"]
        iam.put_user_policy(UserName="u", PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        cls.keys = (k["AccessKeyId"], k["SecretAccessKey"])

    @classmethod
    def tearDownClass(cls):
        cls.moto.terminate()
        cls.moto.wait()

    def client(self, endpoint, secret=None, **cfg):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                            aws_access_key_id=self.keys[0],
                            aws_secret_access_key=secret or self.keys[1],
                            config=Config(s3={"addressing_style": "path"}, **cfg))

    def test_sigv4_survives_the_proxy(self):
        from botocore.exceptions import ClientError
        proxy, endpoint = start_proxy(self.upstream)
        try:
            s3 = self.client(endpoint)
            s3.create_bucket(Bucket="sig")
            s3.put_bucket_versioning(Bucket="sig", VersioningConfiguration={"Status": "Enabled"})
            # moto's own signature check rejects keys with `ü+&=` even without the proxy
            # (measured): awkward keys are covered by the byte-identity test above.
            key = "dir a/x.txt"
            v1 = s3.put_object(Bucket="sig", Key=key, Body=b"one")["VersionId"]
            s3.put_object(Bucket="sig", Key=key, Body=b"two")
            s3.copy_object(Bucket="sig", Key="copy", CopySource={"Bucket": "sig", "Key": key, "VersionId": v1})
            self.assertEqual(s3.get_object(Bucket="sig", Key="copy")["Body"].read(), b"one")
            self.assertEqual(len(s3.list_object_versions(Bucket="sig")["Versions"]), 3)
            s3.head_object(Bucket="sig", Key="copy")
            s3.delete_object(Bucket="sig", Key="copy")
            # A wrong secret through the same proxy is refused: moto checks signatures.
            bad = self.client(endpoint, secret="wrong")
            with self.assertRaises(ClientError) as e:
                bad.list_object_versions(Bucket="sig")
            self.assertEqual(e.exception.response["Error"]["Code"], "SignatureDoesNotMatch")
            with self.assertRaises(ClientError) as e:
                bad.put_object(Bucket="sig", Key="x", Body=b"x")
            self.assertEqual(e.exception.response["Error"]["Code"], "SignatureDoesNotMatch")
            c = counts(endpoint)
            for op, n in {"CreateBucket": 1, "PutBucketVersioning": 1, "PutObject": 3,
                          "CopyObject": 1, "GetObject": 1, "ListObjectVersions": 2,
                          "HeadObject": 1, "DeleteObject": 1}.items():
                self.assertEqual(c["ops"].get(op), n, (op, c))
            self.assertEqual(c["statuses"].get("403"), 2, c)
        finally:
            proxy.terminate()
            proxy.wait()

    def test_faults_are_s3_shaped_and_seeded(self):
        from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
        from botocore.config import Config

        s3 = self.client(self.upstream)
        s3.create_bucket(Bucket="faults")
        s3.put_object(Bucket="faults", Key="k", Body=b"x")

        def run(seed):
            proxy, endpoint = start_proxy(self.upstream, "--seed", str(seed), "--slowdown", "0.2",
                                          "--internal-error", "0.2", "--reset", "0.2",
                                          "--fault-ops", "GetObject")
            try:
                c = self.client(endpoint, retries={"total_max_attempts": 1, "mode": "standard"})
                seen = []
                for _ in range(60):
                    try:
                        c.get_object(Bucket="faults", Key="k")["Body"].read()
                        seen.append("ok")
                    except ClientError as e:
                        seen.append(e.response["Error"]["Code"])
                    except (ConnectionClosedError, EndpointConnectionError):
                        seen.append("reset")
                # Not in --fault-ops: never faulted.
                for _ in range(10):
                    c.head_object(Bucket="faults", Key="k")
                return seen, counts(endpoint)
            finally:
                proxy.terminate()
                proxy.wait()

        seen, cnt = run(7)
        for code in ("ok", "SlowDown", "InternalError", "reset"):
            self.assertGreater(seen.count(code), 3, (code, seen))
        self.assertEqual(cnt["ops"]["GetObject"], 60)
        self.assertEqual([k for k in cnt["faults"] if k.endswith(":HeadObject")], [])
        self.assertEqual(cnt["statuses"].get("503"), seen.count("SlowDown"))
        self.assertEqual(seen, run(7)[0], "the same seed gives the same faults")
        self.assertNotEqual(seen, run(8)[0])

        # Every copy gets a 200 with an <Error> body; botocore turns it into an error.
        proxy, endpoint = start_proxy(self.upstream, "--copy-error-200", "1")
        try:
            c = self.client(endpoint, retries={"total_max_attempts": 1, "mode": "standard"})
            with self.assertRaises(ClientError) as e:
                c.copy_object(Bucket="faults", Key="k2", CopySource={"Bucket": "faults", "Key": "k"})
            self.assertEqual(e.exception.response["Error"]["Code"], "InternalError")
            # (botocore rewrites the 200 to 500 when it finds the error body; the proxy
            # counts what it sent.)
            c.put_object(Bucket="faults", Key="k3", Body=b"y")  # other operations are not touched
            cnt = counts(endpoint)
            self.assertEqual(cnt["faults"]["copy_error_200"], 1)
            self.assertEqual(cnt["statuses"], {"200": 2})
        finally:
            proxy.terminate()
            proxy.wait()
        self.assertFalse(s3.list_objects_v2(Bucket="faults", Prefix="k2").get("Contents"),
                         "a 200-with-error copy is not executed")

    def test_after_forward_faults_still_execute(self):
        from botocore.exceptions import ClientError
        s3 = self.client(self.upstream)
        s3.create_bucket(Bucket="after")
        proxy, endpoint = start_proxy(self.upstream, "--internal-error", "1", "--after-forward", "1",
                                      "--fault-ops", "PutObject")
        try:
            c = self.client(endpoint, retries={"total_max_attempts": 1, "mode": "standard"})
            with self.assertRaises(ClientError) as e:
                c.put_object(Bucket="after", Key="k", Body=b"written")
            self.assertEqual(e.exception.response["Error"]["Code"], "InternalError")
            self.assertEqual(s3.get_object(Bucket="after", Key="k")["Body"].read(), b"written")
            self.assertEqual(counts(endpoint)["faults"]["internal_error_after_forward"], 1)
        finally:
            proxy.terminate()
            proxy.wait()

    def test_fault_after_spares_the_first_requests_of_the_fault_operations(self):
        from botocore.exceptions import ClientError
        s3 = self.client(self.upstream)
        s3.create_bucket(Bucket="later")
        s3.put_object(Bucket="later", Key="k", Body=b"x")
        proxy, endpoint = start_proxy(self.upstream, "--internal-error", "1",
                                      "--fault-ops", "GetObject", "--fault-after", "3")
        try:
            c = self.client(endpoint, retries={"total_max_attempts": 1, "mode": "standard"})
            seen = []
            for _ in range(6):
                try:
                    c.get_object(Bucket="later", Key="k")["Body"].read()
                    seen.append("ok")
                except ClientError as e:
                    seen.append(e.response["Error"]["Code"])
                # Other operations neither count towards N nor get faults.
                c.head_object(Bucket="later", Key="k")
            self.assertEqual(seen, ["ok"] * 3 + ["InternalError"] * 3)
        finally:
            proxy.terminate()
            proxy.wait()

    def test_counts_file_on_sigterm_and_slow(self):
        import tempfile
        s3 = self.client(self.upstream)
        s3.create_bucket(Bucket="slow")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "counts.json")
            proxy, endpoint = start_proxy(self.upstream, "--counts-file", path, "--slow", "1",
                                          "--slow-ms", "300")
            c = self.client(endpoint)
            t = time.monotonic()
            c.put_object(Bucket="slow", Key="k", Body=b"x" * 100_000)
            self.assertGreaterEqual(time.monotonic() - t, 0.3)
            proxy.terminate()
            proxy.wait()
            with open(path) as f:
                data = json.load(f)
            self.assertEqual(data["ops"], {"PutObject": 1})
            self.assertEqual(data["faults"]["slow"], 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
