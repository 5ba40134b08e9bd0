"""`python -m kontaxa_local up|down|status|logs|reset [--dry-run]`, behind the Task targets."""

import argparse
import shutil
import subprocess
import sys

from rich.table import Table

from kontaxa_local import console
from kontaxa_local.errors import StepFailed
from kontaxa_local.executor import DryRunExecutor, Executor
from kontaxa_local.process_runtime import ProcessRuntime
from kontaxa_local.settings import Settings


def choose_runtime(settings: Settings) -> tuple[str, str]:
    """The runtime to use and why, in one line."""
    if settings.runtime != "auto":
        return settings.runtime, f"LOCAL_RUNTIME={settings.runtime}"
    if shutil.which("kind") is None:
        return "process", "auto: the kind CLI is not installed"
    try:
        subprocess.run(["docker", "info"], capture_output=True, check=True, timeout=20)  # noqa: S607
    except (OSError, subprocess.SubprocessError):
        return "process", "auto: no Docker engine answers"
    return "kind", "auto: a Docker engine answers and kind is installed"


def make_runtime(settings: Settings, executor: Executor) -> "ProcessRuntime":
    """The runtime object for the chosen runtime, saying which and why."""
    name, why = choose_runtime(settings)
    console.note(f"runtime: {name} ({why})")
    if name == "kind":
        from kontaxa_local.kind_runtime import KindRuntime

        return KindRuntime(settings, executor)  # type: ignore[return-value]
    return ProcessRuntime(settings, executor)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="kontaxa-local", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "logs", "reset", "remount"])
    parser.add_argument("component", nargs="?", help="logs: only this component")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print every command and manifest, in order, and do nothing",
    )
    parser.add_argument("-n", "--lines", type=int, default=40, help="logs: lines per component")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        console.fail(str(exc))
        return 2
    executor: Executor = DryRunExecutor() if args.dry_run else Executor()
    runtime = make_runtime(settings, executor)
    try:
        if args.command == "up":
            runtime.up()
        elif args.command == "down":
            runtime.down()
        elif args.command == "reset":
            runtime.down()
            if not executor.dry_run:
                shutil.rmtree(settings.state_dir, ignore_errors=True)
            runtime.up()
        elif args.command == "remount":
            runtime.remount_secrets()
        elif args.command == "status":
            _print_status(runtime)
        elif args.command == "logs":
            _print_logs(runtime, args.component, args.lines)
    except StepFailed as failure:
        console.fail(failure.report())
        return 1
    return 0


def _print_status(runtime: ProcessRuntime) -> None:
    rows = runtime.status()
    if not rows:
        console.console.print("nothing is up (task local-up starts it)")
        return
    table = Table(title=f"Kontaxa local stack ({runtime.name} runtime)")
    for column in ("component", "state", "url", "detail"):
        table.add_column(column)
    for row in rows:
        colour = {"ready": "green", "running": "yellow"}.get(row.state, "red")
        table.add_row(row.component, f"[{colour}]{row.state}[/]", row.url, row.detail)
    console.console.print(table)


def _print_logs(runtime: ProcessRuntime, component: str | None, lines: int) -> None:
    from kontaxa_local.procs import tail

    files = runtime.log_files()
    if component and component not in files:
        raise StepFailed("show logs", f"no component {component!r}; known: {', '.join(files)}")
    for name, path in files.items():
        if component in (None, name):
            console.console.rule(f"{name}: {path}")
            sys.stdout.write(tail(path, lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
