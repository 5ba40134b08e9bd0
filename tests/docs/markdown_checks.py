"""What the docs tests read in Markdown: relative links, heading anchors, Task targets named."""

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^(```|~~~)[^\n]*\n.*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
_HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")
# `task NAME` or `./task NAME` as a command: at the start of a code line or span, or after a
# shell separator or an env assignment.
_TASK = re.compile(
    r"(?:^\s*|[;&|(]\s*|\$\s+|\b[A-Z][A-Z0-9_]*=\S*\s+)(?:\./)?task\s+([A-Za-z0-9][\w:.-]*)",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Link:
    """A link in a Markdown file."""

    source: Path
    target: str
    line: int


def without_code(text: str) -> str:
    """`text` with fenced blocks and inline code blanked (line numbers kept)."""

    def blank(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    return _INLINE_CODE.sub(blank, _FENCE.sub(blank, text))


def code_fragments(text: str) -> list[str]:
    """The content of every fenced block and inline code span."""
    fragments = []
    for block in _FENCE.finditer(text):
        fragments.append(block.group(0).split("\n", 1)[1].rsplit("\n", 1)[0])
    stripped = _FENCE.sub("", text)
    fragments += [span.group(2) for span in _INLINE_CODE.finditer(stripped)]
    return fragments


def links(path: Path) -> list[Link]:
    """Every Markdown link and image of `path`, outside code."""
    text = without_code(path.read_text())
    return [
        Link(path, match.group(1), text.count("\n", 0, match.start()) + 1)
        for match in _LINK.finditer(text)
    ]


def is_external(target: str) -> bool:
    """A URL with a scheme (http, https, mailto...), not a file of this repository."""
    return re.match(r"^[a-z][a-z0-9+.-]*:", target) is not None


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text only
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a link may name in `path` (GitHub numbers repeated headings -1, -2...)."""
    text = path.read_text()
    found: set[str] = set(_HTML_ANCHOR.findall(text))
    seen: dict[str, int] = {}
    for match in _HEADING.finditer(without_code(text)):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def broken_links(path: Path) -> list[str]:
    """Each relative link of `path` whose file (or anchor) does not exist."""
    problems = []
    for link in links(path):
        if is_external(link.target):
            continue
        file_part, _, anchor = link.target.partition("#")
        target = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(ROOT)}:{link.line}: {link.target}"
        if not target.exists():
            problems.append(f"{where}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            problems.append(f"{where}: no heading with anchor #{anchor}")
    return problems


_REPO_PATH = re.compile(
    r"(?<![\w./=-])((?:services|infra|local|e2e|scripts|tests|docs|\.github)/[\w./*@-]*[\w*])"
)


def named_paths(text: str) -> set[str]:
    """Repository paths written in the code of a Markdown text (`infra/k8s/README.md`...).

    Paths with a placeholder (`<service>`, `ENV`, `{...}`) are left out; `*` is a glob.
    """
    found = set()
    for fragment in code_fragments(text):
        for match in _REPO_PATH.finditer(fragment):
            path = match.group(1)
            end = match.end(1)
            if fragment[end : end + 1] in {"<", "{"} or "ENV" in path.split("/"):
                continue
            found.add(path)
    return found


def missing_paths(text: str) -> list[str]:
    """The named repository paths that match no file or directory."""
    return sorted(p for p in named_paths(text) if not any(ROOT.glob(p)))


def task_names(text: str) -> set[str]:
    """The Task targets named as commands in the code of a Markdown text."""
    names = set()
    for fragment in code_fragments(text):
        names |= {name.rstrip(".:") for name in _TASK.findall(fragment)}
    return names


def listed_targets() -> set[str]:
    """Every target `./task --list-all` knows, aliases included."""
    import json

    result = subprocess.run(
        [str(ROOT / "task"), "--list-all", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    names = set()
    for task in json.loads(result.stdout)["tasks"]:
        names.add(task["name"])
        names.update(task.get("aliases") or [])
    return names
