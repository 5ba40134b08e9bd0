"""The one error the runner raises: which step failed, the command, and where the log is."""

from pathlib import Path


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
        super().__init__(f"{step}: {reason}")
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
