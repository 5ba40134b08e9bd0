"""Render docs/architecture.dot to docs/architecture.png with Graphviz, stamped with its source.

The PNG carries two tEXt chunks: `Source-SHA256` (of the .dot it was drawn from) and
`Graphviz` (the `dot` version that drew it). tests/docs/test_diagram.py fails when the source
changed without the picture, and redraws it byte for byte where the same Graphviz is installed.

    python3 docs/tools/diagram.py           # (re)draw the picture  (task docs:diagram)
    python3 docs/tools/diagram.py --check   # exit 1 when the picture is stale
"""

import argparse
import hashlib
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
SOURCE = DOCS / "architecture.dot"
PICTURE = DOCS / "architecture.png"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SOURCE_KEY = "Source-SHA256"
GRAPHVIZ_KEY = "Graphviz"


def source_digest(source: Path = SOURCE) -> str:
    """SHA-256 of the diagram source."""
    return hashlib.sha256(source.read_bytes()).hexdigest()


def graphviz_version() -> str:
    """The installed `dot` version, e.g. 2.43.0; raises when Graphviz is missing."""
    dot = shutil.which("dot")
    if dot is None:
        raise FileNotFoundError(
            "Graphviz is not installed: `task docs:diagram` installs it as root with apt-get; "
            "elsewhere install the graphviz package (apt, brew, dnf)"
        )
    result = subprocess.run([dot, "-V"], capture_output=True, text=True, check=True)  # noqa: S603
    match = re.search(r"version (\S+)", result.stderr + result.stdout)
    if match is None:
        raise RuntimeError(f"cannot read the Graphviz version from {result.stderr!r}")
    return match.group(1)


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """The (type, data) chunks of a PNG."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    found, offset = [], len(PNG_SIGNATURE)
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        found.append((kind, png[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    return found


def text_chunks(png: bytes) -> dict[str, str]:
    """The tEXt chunks of a PNG, keyword to text."""
    texts = {}
    for kind, data in chunks(png):
        if kind == b"tEXt":
            keyword, _, text = data.partition(b"\0")
            texts[keyword.decode("latin-1")] = text.decode("latin-1")
    return texts


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def stamp(png: bytes, texts: dict[str, str]) -> bytes:
    """`png` with tEXt chunks right after its header (IHDR)."""
    header_end = len(PNG_SIGNATURE) + 12 + 13  # signature, then IHDR (13 bytes of data)
    extra = b"".join(
        _chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
        for key, value in texts.items()
    )
    return png[:header_end] + extra + png[header_end:]


def render(source: Path = SOURCE) -> bytes:
    """The stamped PNG of `source`, drawn by the installed Graphviz."""
    version = graphviz_version()
    drawn = subprocess.run(  # noqa: S603
        ["dot", "-Tpng", str(source)],  # noqa: S607
        capture_output=True,
        check=True,
    ).stdout
    return stamp(drawn, {SOURCE_KEY: source_digest(source), GRAPHVIZ_KEY: version})


def main() -> int:
    """Draw the picture, or with --check say whether it is current."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the PNG is stale")
    args = parser.parse_args()
    if args.check:
        recorded = text_chunks(PICTURE.read_bytes()).get(SOURCE_KEY)
        if recorded != source_digest():
            print(f"{PICTURE.name} is stale: run `task docs:diagram`", file=sys.stderr)
            return 1
        print(f"{PICTURE.name} matches {SOURCE.name}")
        return 0
    PICTURE.write_bytes(render())
    print(f"wrote {PICTURE.relative_to(DOCS.parent)} from {SOURCE.relative_to(DOCS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
