#!/usr/bin/env python3
"""The hand-made executor mutants of issue 22: plausible bugs in the runner, the
executor, the journal and the fault injector, each applied alone to a scratch copy of
the tree; the in-memory tests (`cargo test -p s3rewind --lib`) must fail on every one.

    scripts/executor-mutants.py [--tree DIR] [--only N,M] [--json OUT]

--tree: a scratch checkout to mutate (default: a `git worktree` made in a temp dir and
removed after); its target/ is reused between mutants. Prints one line per mutant
(CAUGHT or SURVIVED, with the first failing test) and the score; exit 1 if any survived.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

# (file, old, new, what): `old` must occur exactly once in `file`.
MUTANTS = [
    ("cli/src/run.rs", "Step::Drifted(d) => report.drifted.push(issue(d)),",
     "Step::Drifted(_) => report.already_done += 1,",
     "a drifted key counted as done"),
    ("cli/src/run.rs", "Step::Failed(d) => report.failed.push(issue(d)),",
     "Step::Failed(_) => report.already_done += 1,",
     "a permanent failure counted as done"),
    ("cli/src/run.rs", "                    aimd.on_throttle();\n",
     "",
     "the runner ignores SlowDown (AIMD never lowers the limit)"),
    ("cli/src/run.rs", "            Step::Copied { bytes } => {\n                report.copied += 1;\n                report.bytes_copied += bytes;",
     "            Step::Copied { bytes: _ } => {\n                report.copied += 1;",
     "bytes copied never counted"),
    ("cli/src/run.rs", "while !report.interrupted && tasks.len() < aimd.limit() {",
     "while !report.interrupted && tasks.len() < aimd.limit() + 8 {",
     "more attempts in flight than the limit"),
    ("cli/src/run.rs", "                    queue.push_back((i, attempt + 1, Probe::Read));",
     "                    queue.push_back((i, attempt + 1, Probe::Listed(None)));",
     "a retry does not re-read the key"),
    ("cli/src/execute.rs", "        let mut done = self.copy_done(c, &new_version_id);\n",
     "        let mut done = self.copy_done(c, &new_version_id);\n        let _ = self.record(done.clone());\n",
     "the journal written before the write's outcome is settled (twice)"),
    ("cli/src/execute.rs", "                && (e.version_id != NULL_VERSION || e.etag.is_empty() || h.etag == e.etag)",
     "",
     "a null version matched by id only"),
    ("cli/src/execute.rs", "        if let Err(e) = self.record(done) {\n            return Step::Failed(e);\n        }\n        Step::Copied { bytes: head.size }",
     "        done.new_version_id = NULL_VERSION.to_owned();\n        if let Err(e) = self.record(done) {\n            return Step::Failed(e);\n        }\n        Step::Copied { bytes: head.size }",
     "null journaled as the version id"),
    ("cli/src/execute.rs", "        if !matches_expect(c.expect.as_ref(), now.as_ref()) {\n            let holds_target",
     "        if false && !matches_expect(c.expect.as_ref(), now.as_ref()) {\n            let holds_target",
     "a copy's own drift check skipped"),
    ("cli/src/execute.rs", "                if_none_match: conditional && now.is_none(),",
     "                if_none_match: false,",
     "no If-None-Match on copies"),
    ("cli/src/execute.rs", "                (Some(h), true) if !h.etag.is_empty() => Some(h.etag.as_str()),",
     "                (Some(_), true) => None,",
     "no If-Match on copies"),
    ("cli/src/execute.rs", "        if now.is_none() {\n            // Already absent: an earlier attempt landed, or someone deleted it. Never\n            // stack a second delete marker.",
     "        if now.is_none() && attempt == 0 {\n            // Already absent: an earlier attempt landed, or someone deleted it. Never\n            // stack a second delete marker.",
     "a blind delete-marker retry"),
    ("cli/src/execute.rs", "            Probe::Read => match self.dst.head(&c.key, None).await {\n                Ok(h) => h,\n                Err(e) => return retry_or_fail(e),\n            },\n        };\n        if !matches_expect(c.expect.as_ref(), now.as_ref()) {",
     "            Probe::Read => c.expect.as_ref().map(|e| Head { version_id: e.version_id.clone(), etag: e.etag.clone(), ..Head::default() }),\n        };\n        if !matches_expect(c.expect.as_ref(), now.as_ref()) {",
     "a copy retry without re-reading the key"),
    ("cli/src/execute.rs", "                return Step::Drifted(format!(\n                    \"expected {} but found {}; left as it is (use --force to overwrite)\",",
     "                return Step::AlreadyDone; #[allow(unreachable_code)] return Step::Drifted(format!(\n                    \"expected {} but found {}; left as it is (use --force to overwrite)\",",
     "a drifted copy reported as already done"),
    ("cli/src/execute.rs", "        if !matches_expect(Some(&d.expect), now.as_ref()) && !self.config.force {",
     "        if false && !matches_expect(Some(&d.expect), now.as_ref()) && !self.config.force {",
     "a delete marker's drift check skipped"),
    ("cli/src/execute.rs", "            if let Some(latest) = entries.iter().find(|e| e.version.is_latest) {",
     "            if let Some(latest) = entries.first() {",
     "the drift listing reads a key's first entry in document order"),
    ("cli/src/execute.rs", "        let probe = if failed {\n            Probe::Read\n        } else {\n            Probe::Listed(None)\n        };",
     "        let probe = Probe::Listed(None);",
     "keys a failed drift listing never reached read as absent"),
    ("cli/src/execute.rs", "    let later = new_version_id == NULL_VERSION\n            && self.list_range",
     "    let later = false\n            && self.list_range",
     "copies that name no version are never read back"),
    ("cli/src/bucket/faulty.rs", "                let lose_reply = write && s.chance(f.lost_reply);",
     "                let lose_reply = false && write && s.chance(f.lost_reply);",
     "Faulty never loses a reply"),
    ("cli/src/bucket/faulty.rs", "            let writer_key = (!f.writer_keys.is_empty() && s.chance(f.writer))",
     "            let writer_key = (false && !f.writer_keys.is_empty() && s.chance(f.writer))",
     "Faulty's concurrent writer never writes"),
    ("cli/src/commands/restore.rs", "            for a in &planner.planned()[sent..] {",
     "            for a in &planner.planned()[sent..planner.planned().len().saturating_sub(1).max(sent)] {",
     "the streamed planner never hands over the last action of a part"),
    ("cli/src/pager.rs", "        if next == self.markers {",
     "        if false && next == self.markers {",
     "stalled markers not refused"),
    ("cli/src/pager.rs", "            let url_encoding = self.markers.0.is_none() || self.encode_next;",
     "            let url_encoding = true;",
     "continuation pages asked for URL-encoded (skips on a server comparing encoded keys)"),
]


def run(cmd, cwd, timeout=None, env=None):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree")
    ap.add_argument("--only")
    ap.add_argument("--json")
    args = ap.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    made = None
    tree = args.tree
    if not tree:
        made = tempfile.mkdtemp(prefix="s3rewind-mutants.")
        tree = os.path.join(made, "tree")
        run(["git", "worktree", "add", "--detach", tree, "HEAD"], repo).check_returncode()
    only = {int(x) for x in args.only.split(",")} if args.only else None
    results = []
    env = dict(os.environ)
    env.pop("PROPTEST_CASES", None)
    env.pop("PROPTEST_RNG_SEED", None)
    try:
        for n, (path, old, new, what) in enumerate(MUTANTS, 1):
            if only and n not in only:
                continue
            full = os.path.join(tree, path)
            src = open(full).read()
            if src.count(old) != 1:
                print(f"{n:2} UNAPPLIED {what}: the code it mutates is not there once ({path})", flush=True)
                results.append({"n": n, "what": what, "outcome": "unapplied"})
                continue
            open(full, "w").write(src.replace(old, new))
            started = time.time()
            try:
                r = run(["cargo", "test", "-p", "s3rewind", "--lib"], tree, timeout=1800, env=env)
                out = r.stdout + r.stderr
                if "error[E" in out and "could not compile" in out:
                    outcome, detail = "unviable", "does not compile"
                elif r.returncode == 0:
                    outcome, detail = "survived", ""
                else:
                    failed = re.findall(r"^test (\S+) \.\.\. FAILED", out, re.M)
                    outcome, detail = "caught", (failed[0] if failed else "tests failed")
            except subprocess.TimeoutExpired:
                outcome, detail = "caught", "timeout"
            finally:
                open(full, "w").write(src)
            secs = time.time() - started
            print(f"{n:2} {outcome.upper():9} {what} ({detail}; {secs:.0f} s)", flush=True)
            results.append({"n": n, "what": what, "file": path, "outcome": outcome, "by": detail})
    finally:
        if made:
            run(["git", "worktree", "remove", "--force", tree], repo)
            shutil.rmtree(made, ignore_errors=True)
    viable = [r for r in results if r["outcome"] in ("caught", "survived")]
    caught = [r for r in viable if r["outcome"] == "caught"]
    print(f"score: {len(caught)} of {len(viable)} viable mutants caught")
    if args.json:
        json.dump(results, open(args.json, "w"), indent=1)
    sys.exit(0 if len(caught) == len(viable) else 1)


if __name__ == "__main__":
    main()
