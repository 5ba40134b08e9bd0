"""Render the Inputs and Outputs tables of each module README from its variables.tf and outputs.tf.

Usage: python infra/terraform/scripts/module_docs.py [--check]
Rewrites the part of modules/*/README.md between the BEGIN/END markers; with --check, only
reports READMEs that are out of date (exit 1). The tests run the check, so docs cannot drift.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

TERRAFORM_DIR = Path(__file__).resolve().parents[1]
BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"
_BLOCK = re.compile(r'^(variable|output)\s+"([^"]+)"\s*\{', re.M)


def _block_bodies(text: str, kind: str) -> list[tuple[str, list[str]]]:
    """(name, body lines) of each top-level block of the kind, in file order."""
    lines = text.splitlines()
    blocks: list[tuple[str, list[str]]] = []
    for index, line in enumerate(lines):
        match = _BLOCK.match(line)
        if not match or match.group(1) != kind:
            continue
        body: list[str] = []
        for inner in lines[index + 1 :]:
            if inner.startswith("}"):
                break
            body.append(inner)
        blocks.append((match.group(2), body))
    return blocks


def _attribute(body: list[str], name: str) -> str | None:
    """The expression of a two-space-indented attribute, joined onto one line."""
    for index, line in enumerate(body):
        match = re.match(rf"^  {name}\s*=\s*(.*)$", line)
        if not match:
            continue
        parts = [match.group(1).strip()]
        depth = _depth(parts[0])
        for follow in body[index + 1 :]:
            if depth <= 0:
                break
            parts.append(follow.strip())
            depth += _depth(follow)
        return _join(parts)
    return None


def _depth(line: str) -> int:
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line)
    return sum(without_strings.count(c) for c in "{[(") - sum(
        without_strings.count(c) for c in "}])"
    )


def _join(parts: list[str]) -> str:
    """One line from a multi-line expression: entries separated by commas, spaces collapsed."""
    text = ""
    for part in (re.sub(r"\s+", " ", p) for p in parts if p):
        if (
            text
            and not text.endswith(("{", "[", "(", ","))
            and not part.startswith(("}", "]", ")"))
        ):
            text += ","
        text += part if not text or text.endswith(("{", "[", "(")) else " " + part
    return re.sub(r" ([}\])])", r"\1", text)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(module_dir: Path) -> str:
    """The generated section (markers included) for one module."""
    rows = [
        BEGIN,
        "## Inputs",
        "",
        "| Name | Type | Default | Description |",
        "| --- | --- | --- | --- |",
    ]
    variables = _block_bodies((module_dir / "variables.tf").read_text(), "variable")
    for name, body in variables:
        description = json.loads(_attribute(body, "description") or '""')
        type_expr = _attribute(body, "type") or "any"
        default = _attribute(body, "default")
        shown = "required" if default is None else f"`{_cell(default)}`"
        rows.append(f"| `{name}` | `{_cell(type_expr)}` | {shown} | {_cell(description)} |")
    rows += ["", "## Outputs", "", "| Name | Description |", "| --- | --- |"]
    for name, body in _block_bodies((module_dir / "outputs.tf").read_text(), "output"):
        description = json.loads(_attribute(body, "description") or '""')
        rows.append(f"| `{name}` | {_cell(description)} |")
    rows.append(END)
    return "\n".join(rows)


def stale_readmes(write: bool) -> list[Path]:
    """READMEs whose generated section differs from the code; rewritten when write is true."""
    stale: list[Path] = []
    for module_dir in sorted(p for p in (TERRAFORM_DIR / "modules").iterdir() if p.is_dir()):
        readme = module_dir / "README.md"
        text = readme.read_text() if readme.exists() else f"# {module_dir.name}\n\n{BEGIN}\n{END}\n"
        if BEGIN not in text or END not in text:
            text = f"{text.rstrip()}\n\n{BEGIN}\n{END}\n"
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        updated = head + render(module_dir) + tail
        if updated != text or not readme.exists():
            stale.append(readme)
            if write:
                readme.write_text(updated)
    return stale


def main() -> int:
    """Entry point: rewrite the tables, or with --check list the stale ones."""
    check = "--check" in sys.argv[1:]
    stale = stale_readmes(write=not check)
    for readme in stale:
        verb = "out of date" if check else "updated"
        print(f"{readme.relative_to(TERRAFORM_DIR)}: {verb}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
