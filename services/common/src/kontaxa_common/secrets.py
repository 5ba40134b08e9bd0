"""Secret files as mounted by the Secrets Store CSI driver, reloaded when they change, and
the one credential comparison both services use.
"""

import hmac
import logging
import time
from collections.abc import Iterable
from pathlib import Path

from kontaxa_common.logs import Redactor

logger = logging.getLogger(__name__)

# The service-to-service token: one Secrets Manager secret, mounted into both pods
# under this file name, presented by main-api to aux-service in this header.
SERVICE_TOKEN_FILE = "service-token"  # noqa: S105 - a file name, not a secret
SERVICE_TOKEN_HEADER = "X-Service-Token"  # noqa: S105 - a header name
_KEPT = "secret could not be read; keeping the value read last"


def matches_any(offered: str, accepted: Iterable[str]) -> bool:
    """Whether `offered` is one of the `accepted` credentials.

    Compared with every one, each in constant time, so timing reveals nothing; an empty
    value is never a credential, offered or accepted.
    """
    offered_bytes = offered.encode()
    matched = False
    for value in accepted:
        if value:
            matched |= hmac.compare_digest(offered_bytes, value.encode())
    return matched and bool(offered_bytes)


class SecretFiles:
    """Reads every regular file of a directory; re-reads them at most once per `reload_seconds`.

    Changes are detected by content, not by name, size and modification time: a key restored
    with its old mtime (`cp -p`, `tar`, `rsync -t`) is a change too. The files are small and
    few, so reading them once a second costs nothing measurable. A file that is empty, gone or
    not UTF-8 counts as missing. A read that fails otherwise (EIO, EMFILE: the file may be
    fine) keeps the value read last, so a passing fault does not log every caller out.
    """

    def __init__(self, directory: Path, reload_seconds: float, redactor: Redactor) -> None:
        self._directory = directory
        self._reload_seconds = reload_seconds
        self._redactor = redactor
        self._values: dict[str, str] = {}
        self._loaded = False
        # Each file's non-empty value before its last change, and when it changed (grace).
        self._previous: dict[str, tuple[str, float]] = {}
        # (problem, file) pairs of the last read, so each is logged once per occurrence.
        self._problems: set[tuple[str, str]] = set()
        self._checked_at = float("-inf")

    def __repr__(self) -> str:
        return f"SecretFiles({self._directory}, {len(self._values)} files)"

    def _problem(
        self, problems: set[tuple[str, str]], message: str, name: str, **extra: str
    ) -> None:
        """Record a problem of this read; log it when the last read did not have it (never
        the content)."""
        problems.add((message, name))
        if (message, name) not in self._problems:
            logger.warning(message, extra={"file": name, **extra})

    def _read(self) -> dict[str, str]:
        problems: set[tuple[str, str]] = set()
        try:
            entries = sorted(self._directory.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            entries = []
        except OSError as exc:
            self._problem(problems, _KEPT, ".", error=exc.strerror or type(exc).__name__)
            # The files were not read: their problems (logged already) may persist.
            self._problems |= problems
            return dict(self._values)
        values: dict[str, str] = {}
        for path in entries:
            # The CSI driver's atomic writer keeps `..data`-style dirs; only files count.
            if path.name.startswith(".") or not path.is_file():
                continue
            try:
                # utf-8-sig: a byte-order mark (Windows tools write one) is no part of a value.
                value = path.read_bytes().decode("utf-8-sig").strip()
            except FileNotFoundError:  # removed since the listing
                continue
            except OSError as exc:
                self._problem(problems, _KEPT, path.name, error=exc.strerror or type(exc).__name__)
                if path.name in self._values:
                    values[path.name] = self._values[path.name]
                continue
            except UnicodeDecodeError:
                self._problem(
                    problems, "secret file is not UTF-8 text; treated as missing", path.name
                )
                continue
            if value:
                values[path.name] = value
        self._problems = problems
        return values

    def holds_secret(self, text: str) -> bool:
        """Whether a value of these files (current, or replaced and still redacted) occurs in
        `text`, as this service's redaction finds them: text that goes where that redaction
        does not reach (another service's logs, AWS's) must hold none. Generated values are
        24 characters or more (Terraform's app-config), so ordinary text does not hold one."""
        return self._redactor.holds_secret(text)

    def refresh(self, force: bool = False) -> None:
        """Re-read the files if due; take the new values if any changed."""
        now = time.monotonic()
        if not force and now - self._checked_at < self._reload_seconds:
            return
        self._checked_at = now
        values = self._read()
        if self._loaded and values == self._values:
            return
        for name, old in self._values.items():
            if values.get(name) != old:
                self._previous[name] = (old, now)
        self._values = values
        self._loaded = True
        previous = [old for old, _ in self._previous.values()]
        self._redactor.replace_values([*values.values(), *previous])
        logger.info("secret files loaded", extra={"files": sorted(values)})

    def get(self, name: str) -> str | None:
        """The content of one secret file, or None when absent, empty or unreadable."""
        self.refresh()
        return self._values.get(name)

    def with_previous(self, name: str, grace_seconds: float) -> list[str]:
        """The current value of a file and, for `grace_seconds` after a change, the one before.

        For a token two pods rotate independently: the peer may still send the old one.
        Never an empty value: an empty mount is no credential.
        """
        self.refresh()
        accepted = [self._values[name]] if name in self._values else []
        previous = self._previous.get(name)
        fresh = previous and time.monotonic() - previous[1] <= grace_seconds
        if previous and fresh and previous[0] not in accepted:
            accepted.append(previous[0])
        return accepted

    def with_prefix(self, prefix: str) -> list[str]:
        """The contents of every (non-empty) file whose name starts with `prefix`."""
        self.refresh()
        return [v for k, v in self._values.items() if k.startswith(prefix)]
