"""Progress output: one line per step, in colour where the terminal has it."""

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
