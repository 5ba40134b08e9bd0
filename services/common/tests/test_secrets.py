"""Secret files: loaded, reloaded on change, redacted from logs."""

import os
import time
from pathlib import Path

from kontaxa_common.logs import REDACTED, Redactor
from kontaxa_common.secrets import SecretFiles


def test_files_are_read_and_reloaded_on_change(tmp_path: Path) -> None:
    redactor = Redactor()
    (tmp_path / "service-token").write_text("first-token-value\n")
    (tmp_path / "api-key-a").write_text("key-a-0123456789")
    (tmp_path / ".hidden").write_text("ignored")
    (tmp_path / "subdir").mkdir()
    files = SecretFiles(tmp_path, reload_seconds=0, redactor=redactor)
    assert files.get("service-token") == "first-token-value"
    assert files.with_prefix("api-key-") == ["key-a-0123456789"]
    assert files.get(".hidden") is None
    assert files.get("missing") is None
    (tmp_path / "service-token").write_text("second-token-value")
    assert files.get("service-token") == "second-token-value"
    assert redactor.scrub("x second-token-value y") == f"x {REDACTED} y"
    # The value before the rotation may still be accepted somewhere: it stays redacted.
    assert redactor.scrub("first-token-value") == REDACTED
    assert files.with_previous("service-token", grace_seconds=60) == [
        "second-token-value",
        "first-token-value",
    ]
    assert files.with_previous("service-token", grace_seconds=0) == ["second-token-value"]
    assert "second-token" not in repr(files)


def test_reload_is_rate_limited(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("one-value")
    files = SecretFiles(tmp_path, reload_seconds=60, redactor=Redactor())
    assert files.get("t") == "one-value"
    (tmp_path / "t").write_text("two-value")
    os.utime(tmp_path / "t", (time.time() + 5, time.time() + 5))
    assert files.get("t") == "one-value"  # not checked again within the interval
    files.refresh(force=True)
    assert files.get("t") == "two-value"


def test_missing_directory_means_no_secrets(tmp_path: Path) -> None:
    files = SecretFiles(tmp_path / "absent", reload_seconds=0, redactor=Redactor())
    assert files.get("service-token") is None
    assert files.with_prefix("") == []


def test_short_values_are_not_redacted() -> None:
    redactor = Redactor()
    redactor.replace_values(["abc", "long-enough-secret"])
    assert redactor.scrub("abc long-enough-secret") == f"abc {REDACTED}"
