"""Progress output: one line per step, in colour where the terminal has it."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

console = Console(stderr=True, highlight=False, soft_wrap=True)


def step(message: str) -> None:
    """Announce a step."""
    console.print(f"[bold cyan]>[/] {message}")


def done(message: str) -> None:
    """Report a step's success."""
    console.print(f"  [green]ok[/] {message}")


def note(message: str) -> None:
    """A remark that is neither progress nor failure."""
    console.print(f"  [dim]{message}[/]")


def fail(message: str) -> None:
    """Report a failure."""
    console.print(f"[bold red]x[/] {message}")


def took(seconds: dict[str, float], step: str, started: float, message: str) -> None:
    """Record in `seconds` how long `step` took since `started` (time.monotonic), and report
    it: the runtimes print each step's duration, and their up line lists them all."""
    seconds[step] = time.monotonic() - started
    done(f"{message} ({seconds[step]:.1f}s)")


@contextmanager
def timed(seconds: dict[str, float], step: str) -> Iterator[None]:
    """`took` around a block: `step`'s duration, recorded and reported when it ends."""
    started = time.monotonic()
    yield
    took(seconds, step, started, step)


def listed(seconds: dict[str, float]) -> str:
    """The steps' durations as the up line lists them: `step 1.2s, ...`."""
    return ", ".join(f"{step} {s:.1f}s" for step, s in seconds.items())
