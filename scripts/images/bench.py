# ruff: noqa: S603, S607 - runs docker, git and the build scripts, with fixed arguments
"""Measure the images: sizes, what each service adds to the golden image, build times.

    uv run python scripts/images/bench.py [--base] [--output docs/images-report.md]

Works on a clone of the committed HEAD (so a code-only change can be made freely) and tags
its images `:bench`. It empties BuildKit's cache first, so the cold build is really cold;
`--base` also remakes the Debian base (scripts/images/base.sh) and times that. Then:
  cold        golden image and each service image, from an empty build cache
  warm        everything again, nothing changed (all cached)
  code-only   one line added to each service's code, that service rebuilt
and writes a Markdown report. Targets (issue 7): a service adds under 25 MB to the golden
image; a warm rebuild after a code-only change takes under 10 s, only the last layers rebuilt.
Knobs: DOCKER (docker CLI), BASE_IMAGE (as for build.sh).
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TAG = "bench"
GOLDEN = f"kontox-goldenimage:{TAG}"
SERVICES = {
    "main-api": ("kontaxa/main-api", "services/main-api/src/main_api/__init__.py"),
    "aux-service": ("kontaxa/aux-service", "services/aux-service/src/aux_service/__init__.py"),
    "secrets-provider": (
        "kontaxa/secrets-provider",
        "services/secrets-provider/src/secrets_provider/__init__.py",
    ),
}
LAYER_TARGET_BYTES = 25_000_000
WARM_TARGET_SECONDS = 10.0


def docker_cli() -> str:
    """The docker CLI the build scripts use (one that can build with BuildKit)."""
    found = subprocess.run(
        ["bash", "-c", f"source {ROOT}/scripts/images/lib.sh && find_docker"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if not found:
        sys.exit("bench: no docker CLI that can build with BuildKit; see scripts/images/README.md")
    return found


DOCKER = os.environ.get("DOCKER") or docker_cli()


def docker(*args: str) -> str:
    """Run docker; return stdout."""
    return subprocess.run(
        [DOCKER, *args], capture_output=True, text=True, check=True, timeout=600
    ).stdout


@dataclass
class Timing:
    """One timed build."""

    what: str
    seconds: float


@dataclass
class Results:
    """Everything the report shows."""

    timings: dict[str, list[Timing]] = field(default_factory=dict)
    base_seconds: float | None = None

    def add(self, phase: str, what: str, seconds: float) -> None:
        self.timings.setdefault(phase, []).append(Timing(what, seconds))


def timed(command: list[str], cwd: Path, log: Path, env: dict[str, str]) -> float:
    """Run `command`, appending its output to `log`; seconds it took (exits if it fails)."""
    started = time.monotonic()
    with log.open("a") as output:
        output.write(f"\n$ {' '.join(command)}\n")
        output.flush()
        result = subprocess.run(
            command,
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
            timeout=3600,
        )
    if result.returncode != 0:
        sys.exit(f"bench: {' '.join(command)} failed; see {log}")
    return time.monotonic() - started


def layers(image: str) -> list[tuple[int, str]]:
    """(size in bytes, created by) of each step of `image`, oldest first."""
    out = docker(
        "history", "--no-trunc", "--human=false", "--format", "{{.Size}}\t{{.CreatedBy}}", image
    )
    rows = [line.split("\t", 1) for line in out.splitlines()]
    return [(int(size), created_by) for size, created_by in reversed(rows)]


def own_layers(image: str) -> list[tuple[int, str]]:
    """The steps `image` adds to the golden image."""
    return layers(image)[len(layers(GOLDEN)) :]


def image_size(image: str) -> int:
    return int(docker("image", "inspect", "--format", "{{.Size}}", image))


def layer_ids(image: str) -> list[str]:
    ids: list[str] = json.loads(
        docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", image)
    )
    return ids


def describe(created_by: str) -> str:
    """A short name for a build step."""
    text = created_by.replace("/bin/bash -o pipefail -c ", "").replace("|", " ").strip()
    if "uv pip install" in text and "--no-deps" in text:
        return "service code (wheels)"
    if "uv pip install" in text:
        return "service's own locked dependencies"
    if text.startswith("COPY /opt/venv"):
        return "shared Python stack (/opt/venv)"
    if "groupadd" in text:
        return "user 10001, setuid bits stripped"
    if "wanted=" in text:
        return "Python 3.11 and OS packages"
    if not text:
        return "base image"
    return text[:60]


def mb(size: float) -> str:
    return f"{size / 1e6:.1f} MB"


def run(args: argparse.Namespace) -> None:
    results = Results()
    workdir = Path(tempfile.mkdtemp(prefix="kontaxa-bench-"))
    log = workdir / "build.log"
    clone = workdir / "repo"
    env = {**os.environ, "IMAGE_TAG": TAG, "BUILD_PROGRESS": "plain", "DOCKER": DOCKER}
    try:
        subprocess.run(
            ["git", "clone", "--quiet", "--local", "--shared", str(ROOT), str(clone)], check=True
        )
        build = [str(clone / "scripts/images/build.sh")]
        if args.base:
            print("bench: making the Debian base", file=sys.stderr)
            results.base_seconds = timed([str(clone / "scripts/images/base.sh")], clone, log, env)
        print("bench: emptying BuildKit's cache; cold builds", file=sys.stderr)
        docker("builder", "prune", "--all", "--force")
        for image in [GOLDEN] + [f"{name}:{TAG}" for name, _ in SERVICES.values()]:
            subprocess.run(
                [DOCKER, "image", "rm", "--force", image], capture_output=True, check=False
            )
        results.add("cold", "golden (+ builder stage)", timed([*build, "golden"], clone, log, env))
        for service in SERVICES:
            results.add("cold", service, timed([*build, service], clone, log, env))
        print("bench: warm builds", file=sys.stderr)
        results.add("warm, nothing changed", "all images", timed(build, clone, log, env))
        print("bench: code-only changes", file=sys.stderr)
        reused: dict[str, tuple[int, int]] = {}
        for service, (name, source) in SERVICES.items():
            before = layer_ids(f"{name}:{TAG}")
            with (clone / source).open("a") as code:
                code.write(f"# bench: a code-only change ({time.time()})\n")
            results.add(
                "warm, code-only change", service, timed([*build, service], clone, log, env)
            )
            after = layer_ids(f"{name}:{TAG}")
            same = sum(1 for old, new in zip(before, after, strict=False) if old == new)
            reused[service] = (same, len(after))
        report(results, reused, args.output)
        print(f"bench: wrote {args.output}", file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        for image in [GOLDEN, f"kontox-goldenimage:{TAG}-builder"] + [
            f"{name}:{TAG}" for name, _ in SERVICES.values()
        ]:
            subprocess.run([DOCKER, "image", "rm", image], capture_output=True, check=False)


def report(results: Results, reused: dict[str, tuple[int, int]], output: Path) -> None:
    base_name = docker(
        "image",
        "inspect",
        "--format",
        '{{index .Config.Labels "org.opencontainers.image.base.name"}}',
        GOLDEN,
    )
    server = docker("version", "--format", "{{.Server.Version}}").strip()
    lines = [
        "# Container images: sizes and build times",
        "",
        f"Measured by `scripts/images/bench.py` on {datetime.date.today().isoformat()}: "
        f"{os.cpu_count()} cores, {platform.machine()}, Docker engine {server} (BuildKit), "
        f"golden image base `{base_name.strip()}`, no container registry. Regenerate with "
        "`task images:bench` (add `-- --base` to remake and time the Debian base too).",
        "",
        "## Sizes",
        "",
        "| image | size | added on top of the golden image | target < 25 MB |",
        "|---|---|---|---|",
        f"| `kontox-goldenimage` | {mb(image_size(GOLDEN))} | (the base of the others) | |",
    ]
    for name, _ in SERVICES.values():
        ref = f"{name}:{TAG}"
        added = sum(size for size, _ in own_layers(ref))
        verdict = "met" if added < LAYER_TARGET_BYTES else "**missed**"
        lines.append(f"| `{name}` | {mb(image_size(ref))} | {mb(added)} | {verdict} |")
    lines += ["", "### Layers of the golden image", "", "| step | size |", "|---|---|"]
    lines += [f"| {describe(by)} | {mb(size)} |" for size, by in layers(GOLDEN) if size]
    lines += ["", "### Layers each service adds", "", "| image | step | size |", "|---|---|---|"]
    for name, _ in SERVICES.values():
        lines += [
            f"| `{name}` | {describe(by)} | {mb(size)} |"
            for size, by in own_layers(f"{name}:{TAG}")
            if size
        ]
    lines += ["", "## Build times", ""]
    if results.base_seconds is not None:
        lines += [
            f"Debian base (debootstrap minbase, updates, `docker import`): "
            f"{results.base_seconds:.0f} s.",
            "",
        ]
    lines += ["| build | image | seconds | target |", "|---|---|---|---|"]
    for phase, timings in results.timings.items():
        for timing in timings:
            target = ""
            if phase == "warm, code-only change":
                target = "< 10 s: " + (
                    "met" if timing.seconds < WARM_TARGET_SECONDS else "**missed**"
                )
            lines.append(f"| {phase} | {timing.what} | {timing.seconds:.1f} | {target} |")
    cold_total = sum(t.seconds for t in results.timings.get("cold", []))
    lines += [
        "",
        f"Cold build of every image from an empty build cache: {cold_total:.0f} s"
        + (
            f" (plus {results.base_seconds:.0f} s for the Debian base)."
            if results.base_seconds is not None
            else "."
        ),
        "",
        "After a code-only change only the service's last layer (its wheels) is rebuilt: "
        + ", ".join(
            f"{service} kept {same} of {total} layers" for service, (same, total) in reused.items()
        )
        + ".",
        "",
    ]
    output.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", action="store_true", help="remake and time the Debian base")
    parser.add_argument("--output", type=Path, default=ROOT / "docs/images-report.md")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
