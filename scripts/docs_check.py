#!/usr/bin/env python3
"""Checks of the book (docs/) and README.md that mdBook does not make. Used by scripts/docs.

  docs_check.py BIN           check; exit 1 with one line per problem
  docs_check.py BIN --update  rewrite the help blocks from BIN first, then check
  docs_check.py --html DIR    check the links of the built book in DIR

1. Every page under docs/src is reachable from SUMMARY.md, and SUMMARY.md names no missing page.
2. Every internal link (Markdown and HTML, in the book and in README.md) resolves: the file
   exists, and a #anchor names a heading of that page (mdBook's and GitHub's ids).
   Links to this repository on GitHub (https://github.com/s3rewind/s3rewind/blob/main/PATH)
   must name a file that exists here.
3. Every `<!-- help: CMD -->` block holds exactly what `s3rewind CMD -h` prints.
4. (--html DIR, after mdbook build) every link and image in the built pages resolves: what
   mdBook renamed (a README.md becomes index.html) and anchors as mdBook wrote them.
5. docs/src/timeline-example.svg (the book's copy) equals docs/timeline-example.svg (README's).
6. Every command line in a code block (a line starting `s3rewind ` or `$ s3rewind `) names a
   real command, and every `--option` in it is one that command's -h lists.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SRC = DOCS / "src"
GITHUB = "https://github.com/s3rewind/s3rewind/blob/main/"

problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def rel(p):
    return os.path.relpath(p, ROOT)


# ---- headings and anchors -------------------------------------------------------------

FENCE = re.compile(r"^\s*(```|~~~)")


def prose_lines(text):
    """(line number, line) outside fenced code blocks."""
    fence = None
    for n, line in enumerate(text.split("\n"), 1):
        m = FENCE.match(line)
        if m:
            if fence is None:
                fence = m.group(1)
            elif line.strip().startswith(fence):
                fence = None
            continue
        if fence is None:
            yield n, line


def heading_text(raw):
    t = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", raw)  # links -> their text
    t = re.sub(r"<[^>]+>", "", t)  # HTML tags
    t = t.replace("`", "").replace("*", "")
    return t.strip()


def slug(text):
    """mdBook's normalize_id (GitHub's differs only in characters we do not use)."""
    out = []
    for ch in text.strip().lower():
        if ch.isalnum() or ch in "_-":
            out.append(ch)
        elif ch.isspace():
            out.append("-")
    return "".join(out)


def anchors(path, cache={}):
    if path not in cache:
        ids, seen = set(), {}
        text = path.read_text(encoding="utf-8")
        for _, line in prose_lines(text):
            m = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
            if m:
                base = slug(heading_text(m.group(2)))
                n = seen.get(base, 0)
                seen[base] = n + 1
                ids.add(base if n == 0 else f"{base}-{n}")
        for m in re.finditer(r'\bid="([^"]+)"', text):
            ids.add(m.group(1))
        cache[path] = ids
    return cache[path]


# ---- links ------------------------------------------------------------------------------

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HREF = re.compile(r"""(?:href|src)="([^"]+)\"""")


def check_links(page):
    text = page.read_text(encoding="utf-8")
    for n, line in prose_lines(text):
        # Inline code is not a link.
        line = re.sub(r"`[^`]*`", "", line)
        for target in LINK.findall(line) + HREF.findall(line):
            check_target(page, n, target)


def check_target(page, n, target):
    where = f"{rel(page)}:{n}"
    if target.startswith(GITHUB):
        path = target[len(GITHUB):].split("#")[0]
        if not (ROOT / path).exists():
            problem(where, f"link to {target}: no {path} in this repository")
        return
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: …: not ours
        return
    path, _, anchor = target.partition("#")
    dest = page if path == "" else (page.parent / path)
    dest = Path(os.path.normpath(dest))
    if not dest.exists():
        problem(where, f"link to {target}: {rel(dest)} does not exist")
        return
    if path and SRC in page.parents and SRC not in dest.parents and dest != SRC:
        problem(where, f"link to {target} leaves docs/src: the built book would not have it")
    if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
        problem(where, f"link to {target}: {rel(dest)} has no heading #{anchor}")


# ---- reachability -------------------------------------------------------------------------


def check_summary():
    summary = SRC / "SUMMARY.md"
    named = set()
    for n, line in prose_lines(summary.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            p = Path(os.path.normpath(SRC / target.partition("#")[0]))
            if not p.exists():
                problem(f"{rel(summary)}:{n}", f"names {target}, which does not exist")
            named.add(p)
    for page in sorted(SRC.rglob("*.md")):
        if page.name == "SUMMARY.md":
            continue
        if page not in named:
            problem(rel(page), "not reachable: SUMMARY.md does not name it")


# ---- help blocks and command lines ----------------------------------------------------------

HELP_BLOCK = re.compile(r"<!-- help: ([a-z -]+?) -->\n(.*?)<!-- /help -->\n", re.S)


def run_help(binary, words, cache={}):
    """`s3rewind WORDS -h`, as an 80-column terminal shows it (the book's column width:
    clap wraps help to the terminal's width and ignores COLUMNS, so it gets a pty)."""
    key = tuple(words)
    if key not in cache:
        import fcntl
        import pty
        import struct
        import termios

        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 80, 0, 0))
        # --help shows an S3REWIND_* variable's value when it is set: leave them out.
        env = {k: v for k, v in os.environ.items() if not k.startswith("S3REWIND_")}
        env.update({"NO_COLOR": "1", "TERM": "dumb"})
        proc = subprocess.Popen(
            [binary, *words, "-h"],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        text = out.decode("utf-8").replace("\r\n", "\n")
        cache[key] = text if proc.wait() == 0 else None
    return cache[key]


def help_blocks(binary, update):
    for page in sorted(SRC.rglob("*.md")):
        text = page.read_text(encoding="utf-8")

        def render(m):
            words = m.group(1).split()
            out = run_help(binary, words)
            if out is None:
                problem(rel(page), f"s3rewind {' '.join(words)} -h fails")
                return m.group(0)
            want = f"<!-- help: {m.group(1)} -->\n```text\n{out.rstrip()}\n```\n<!-- /help -->\n"
            if m.group(0) != want and not update:
                problem(
                    rel(page),
                    f"the help block of `s3rewind {' '.join(words)}` differs from -h "
                    "(scripts/docs --update rewrites it)",
                )
            return want

        new = HELP_BLOCK.sub(render, text)
        if update and new != text:
            page.write_text(new, encoding="utf-8")
            print(f"updated the help blocks of {rel(page)}")


def subcommands(help_text):
    """The command names of a help text's "Commands:" list."""
    names, inside = set(), False
    for line in help_text.split("\n"):
        if line.startswith("Commands:"):
            inside = True
            continue
        if inside:
            if not line.startswith("  "):
                break
            m = re.match(r"^  ([a-z][a-z0-9-]*)\s", line + " ")
            if m:
                names.add(m.group(1))
    return names


def options(help_text):
    return set(re.findall(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)", help_text)) | set(
        re.findall(r"(?<![\w-])(-[a-zA-Z])\b", help_text)
    )


def command_lines(page):
    """(line number, command line) of every s3rewind invocation in a code block."""
    fence, cont = None, None
    for n, line in enumerate(page.read_text(encoding="utf-8").split("\n"), 1):
        m = FENCE.match(line)
        if m:
            if fence is None:
                fence = line.strip()[3:].strip() or "text"
            else:
                fence = None
            continue
        if fence is None or fence in ("json", "text", "yaml", "toml"):
            if fence == "yaml":
                # A CI job: the command after `run:` or `- ` in a script.
                m = re.match(r"^\s*(?:-\s+)?(?:run:\s*)?(s3rewind\s.*)$", line)
                if m:
                    yield n, m.group(1)
            continue
        s = line.strip()
        if s.startswith("$ "):
            s = s[2:]
        if cont is not None:
            s, cont = cont + " " + s, None
        if s.endswith("\\"):
            cont = s[:-1]
            continue
        if s.startswith("s3rewind "):
            yield n, s


def check_command_line(binary, where, line):
    # Everything from a comment, a pipe or a redirection on is the shell's.
    line = re.sub(r"\s#\s.*$", "", line).strip()
    try:
        words = shlex.split(line, posix=True)
    except ValueError as e:
        problem(where, f"cannot split {line!r}: {e}")
        return
    cut = [i for i, w in enumerate(words) if w in ("|", ">", ">>", "2>", "&&", ";", "||")]
    words = words[1 : cut[0] if cut else len(words)]
    path = []
    top = run_help(binary, [])
    level = top
    for w in words:
        if w.startswith("-"):
            continue
        if w in subcommands(level):
            path.append(w)
            level = run_help(binary, path)
            continue
        break
    if not path:
        # `s3rewind --output json scan …`: find the command after global options.
        for i, w in enumerate(words):
            if w in subcommands(top):
                path = [w]
                level = run_help(binary, path)
                for w2 in words[i + 1 :]:
                    if w2 in subcommands(level):
                        path.append(w2)
                        level = run_help(binary, path)
                    else:
                        break
                break
    if not path:
        if words and words[0] not in ("--version", "--help", "-h", "-V"):
            problem(where, f"`{line}`: no s3rewind command in it")
        return
    known = options(level)
    for w in words:
        if w.startswith("--"):
            opt = w.split("=", 1)[0]
            if opt not in known:
                problem(where, f"`{line}`: s3rewind {' '.join(path)} has no option {opt}")


def check_commands(binary):
    pages = sorted(SRC.rglob("*.md")) + [ROOT / "README.md"]
    count = 0
    for page in pages:
        for n, line in command_lines(page):
            count += 1
            check_command_line(binary, f"{rel(page)}:{n}", line)
    return count


def check_html(book):
    """Links and images in the main part of every built page resolve, anchors included."""
    count = 0
    for page in sorted(book.rglob("*.html")):
        if page.name in ("print.html", "toc.html", "404.html"):
            continue
        text = page.read_text(encoding="utf-8")
        main = text[text.find("<main>") : text.find("</main>")]
        for attr, target in re.findall(r'(href|src)="([^"]+)"', main):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue
            count += 1
            path, _, anchor = target.partition("#")
            dest = page if not path else Path(os.path.normpath(page.parent / path))
            where = f"{rel(page)} (built)"
            if not dest.exists():
                problem(where, f"{attr} {target}: {rel(dest)} was not built")
            elif anchor and dest.suffix == ".html":
                if f'id="{anchor}"' not in dest.read_text(encoding="utf-8"):
                    problem(where, f"{attr} {target}: no id {anchor} in {rel(dest)}")
    return count


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "--html":
        n = check_html(Path(sys.argv[2]).resolve())
        if problems:
            for p in problems:
                print(p)
            print(f"docs: {len(problems)} problem(s) in the built book", file=sys.stderr)
            sys.exit(1)
        print(f"docs: {n} links and images in the built book resolve")
        return
    binary, update = sys.argv[1], "--update" in sys.argv[2:]
    help_blocks(binary, update)
    check_summary()
    book_svg, readme_svg = SRC / "timeline-example.svg", DOCS / "timeline-example.svg"
    if book_svg.read_bytes() != readme_svg.read_bytes():
        problem(rel(book_svg), f"differs from {rel(readme_svg)}: copy one over the other")
    pages = sorted(SRC.rglob("*.md")) + [ROOT / "README.md"]
    for page in pages:
        check_links(page)
    n = check_commands(binary)
    book_pages = len([p for p in SRC.rglob("*.md") if p.name != "SUMMARY.md"])
    if problems:
        for p in problems:
            print(p)
        print(f"docs: {len(problems)} problem(s)", file=sys.stderr)
        sys.exit(1)
    print(
        f"docs: {book_pages} pages reachable from SUMMARY.md; links resolve in them and in "
        f"README.md; {n} command lines use real commands and options; help blocks match -h"
    )


if __name__ == "__main__":
    main()
