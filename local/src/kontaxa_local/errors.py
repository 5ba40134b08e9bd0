"""The one error the runner raises: which step failed, the command, and where the log is."""

from pathlib import Path

TAIL_IN_MESSAGE = 8  # log lines; report() shows all of the tail


class StepFailed(Exception):
    """A step of local-up/down failed; carries what a developer needs to act."""

    def __init__(
        self,
        step: str,
        reason: str,
        command: list[str] | None = None,
        log: Path | None = None,
        tail: str = "",
    ) -> None:
        # The message ends with the log's last lines: where only str() is shown (a test's
        # failure report in CI, with the stack's log directory gone), the cause still is.
        last = tail.strip().splitlines()[-TAIL_IN_MESSAGE:]
        super().__init__("\n  ".join([f"{step}: {reason}", *last]))
        self.step = step
        self.reason = reason
        self.command = command
        self.log = log
        self.tail = tail

    def report(self) -> str:
        """A multi-line account for the terminal."""
        lines = [f"step failed: {self.step}", f"reason: {self.reason}"]
        if self.command:
            lines.append("command: " + " ".join(self.command))
        if self.tail:
            lines += ["last log lines:", *("  " + line for line in self.tail.splitlines())]
        if self.log:
            lines.append(f"full log: {self.log}")
        return "\n".join(lines)
