"""Secret files as mounted by the Secrets Store CSI driver, reloaded when they change."""

import logging
import time
from pathlib import Path

from kontaxa_common.logs import Redactor

logger = logging.getLogger(__name__)

# The service-to-service token: one Secrets Manager secret, mounted into both pods
# under this file name, presented by main-api to aux-service in this header.
SERVICE_TOKEN_FILE = "service-token"  # noqa: S105 - a file name, not a secret
SERVICE_TOKEN_HEADER = "X-Service-Token"  # noqa: S105 - a header name


class SecretFiles:
    """Reads every regular file of a directory; re-reads when any file changes.

    The check is a `stat` of each file, done at most once per `reload_seconds`,
    so a rotation by the CSI driver is picked up without a restart.
    """

    def __init__(self, directory: Path, reload_seconds: float, redactor: Redactor) -> None:
        self._directory = directory
        self._reload_seconds = reload_seconds
        self._redactor = redactor
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._values: dict[str, str] = {}
        # Each file's value before its last change, and when it changed (rotation grace).
        self._previous: dict[str, tuple[str, float]] = {}
        self._checked_at = float("-inf")

    def __repr__(self) -> str:
        return f"SecretFiles({self._directory}, {len(self._values)} files)"

    def _scan(self) -> tuple[tuple[str, int, int], ...]:
        try:
            entries = sorted(self._directory.iterdir())
        except OSError:
            return ()
        signature = []
        for path in entries:
            # The CSI driver's atomic writer keeps `..data`-style dirs; only files count.
            if path.name.startswith(".") or not path.is_file():
                continue
            stat = path.stat()
            signature.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(signature)

    def refresh(self, force: bool = False) -> None:
        """Re-read the files if due and changed."""
        now = time.monotonic()
        if not force and now - self._checked_at < self._reload_seconds:
            return
        self._checked_at = now
        signature = self._scan()
        if signature == self._signature:
            return
        values: dict[str, str] = {}
        for name, _, _ in signature:
            try:
                values[name] = (self._directory / name).read_text().strip()
            except OSError:
                continue
        for name, old in self._values.items():
            if values.get(name) != old:
                self._previous[name] = (old, now)
        self._values = values
        self._signature = signature
        previous = [old for old, _ in self._previous.values()]
        self._redactor.replace_values([*values.values(), *previous])
        logger.info("secret files loaded", extra={"files": sorted(values)})

    def get(self, name: str) -> str | None:
        """The content of one secret file, or None when absent or empty."""
        self.refresh()
        return self._values.get(name) or None

    def with_previous(self, name: str, grace_seconds: float) -> list[str]:
        """The current value of a file and, for `grace_seconds` after a change, the one before.

        For a token two pods rotate independently: the peer may still send the old one.
        """
        self.refresh()
        accepted = [self._values[name]] if self._values.get(name) else []
        previous = self._previous.get(name)
        if previous and time.monotonic() - previous[1] <= grace_seconds:
            accepted.append(previous[0])
        return accepted

    def with_prefix(self, prefix: str) -> list[str]:
        """The non-empty contents of every file whose name starts with `prefix`."""
        self.refresh()
        return [v for k, v in self._values.items() if k.startswith(prefix) and v]
