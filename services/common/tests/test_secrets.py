"""Secret files: loaded, reloaded on change, redacted from logs."""

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from kontaxa_common.logs import REDACTED, JsonFormatter, Redactor
from kontaxa_common.secrets import SecretFiles, matches_any


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


SECRETS = {
    "short": "k3y",
    "quote": 'pa"ss',
    "backslash": "pa\\ss-word",
    "tab": "pa\tss-word",
    "non-ASCII": "pässwörd-ü",
    "newline": "line\nbreak-secret",
}


@pytest.mark.parametrize("secret", SECRETS.values(), ids=SECRETS.keys())
def test_secrets_are_redacted_as_raw_values_in_every_field(
    secret: str, capfd: pytest.CaptureFixture[str]
) -> None:
    redactor = Redactor()
    redactor.replace_values([secret])
    formatter = JsonFormatter("test", redactor)
    logger = logging.getLogger("test.redaction")
    record = logger.makeRecord(
        "test.redaction",
        logging.WARNING,
        __file__,
        0,
        "token %s refused",
        (secret,),
        None,
        extra={"header": f"Bearer {secret}", "nested": {"values": [secret, 1]}},
    )
    line = formatter.format(record)
    entry = json.loads(line)
    assert secret not in line
    assert secret not in json.dumps(entry, ensure_ascii=False)
    assert entry["msg"] == f"token {REDACTED} refused"
    assert entry["header"] == f"Bearer {REDACTED}"
    assert entry["nested"] == {"values": [REDACTED, 1]}


def test_an_empty_file_is_never_a_credential(tmp_path: Path) -> None:
    token = tmp_path / "service-token"
    token.write_text("")  # an empty mount at start, or a truncate-then-write caught halfway
    files = SecretFiles(tmp_path, reload_seconds=0, redactor=Redactor())
    assert files.get("service-token") is None
    assert files.with_previous("service-token", grace_seconds=120) == []
    token.write_text("the-new-token-value")
    assert files.with_previous("service-token", grace_seconds=120) == ["the-new-token-value"]
    token.write_text("   \n")  # blanked, then restored
    assert files.with_previous("service-token", grace_seconds=120) == ["the-new-token-value"]
    token.write_text("the-new-token-value")
    assert files.with_previous("service-token", grace_seconds=120) == ["the-new-token-value"]
    assert not matches_any("", ["", "the-new-token-value"])
    assert not matches_any("", [""])
    assert matches_any("the-new-token-value", ["other", "the-new-token-value"])


def test_a_byte_order_mark_is_no_part_of_a_value(tmp_path: Path) -> None:
    """Windows tools write UTF-8 with a leading U+FEFF; kept, it made a token no header can
    carry (main-api answered 503 to every call while /ready said ready)."""
    (tmp_path / "service-token").write_bytes(b"\xef\xbb\xbfa-token-from-windows\r\n")
    files = SecretFiles(tmp_path, reload_seconds=0, redactor=Redactor())
    assert files.get("service-token") == "a-token-from-windows"


def test_a_non_utf8_file_counts_as_missing_and_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "service-token").write_bytes(b"\xff\xfe-binary-\x80")
    files = SecretFiles(tmp_path, reload_seconds=0, redactor=Redactor())
    with caplog.at_level(logging.WARNING, logger="kontaxa_common.secrets"):
        files.refresh(force=True)
        assert files.get("service-token") is None
        assert files.with_previous("service-token", 120) == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert getattr(warnings[0], "file", None) == "service-token"
    assert "binary" not in caplog.text
    (tmp_path / "service-token").write_text("a-good-token-again")
    assert files.get("service-token") == "a-good-token-again"


def test_a_file_problem_is_not_logged_again_after_a_failed_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A listing that fails reads no file: what is known of the files (logged once) stands,
    so the next good listing does not log their problems a second time."""
    (tmp_path / "service-token").write_bytes(b"\xff-binary")
    files = SecretFiles(tmp_path, reload_seconds=0, redactor=Redactor())
    iterdir = Path.iterdir

    def failing_listing(path: Path) -> Any:
        raise OSError(24, "Too many open files")

    with caplog.at_level(logging.WARNING, logger="kontaxa_common.secrets"):
        files.refresh(force=True)
        monkeypatch.setattr(Path, "iterdir", failing_listing)
        files.refresh(force=True)
        monkeypatch.setattr(Path, "iterdir", iterdir)
        files.refresh(force=True)
    logged = [getattr(r, "file", None) for r in caplog.records if r.levelno == logging.WARNING]
    assert logged == ["service-token", "."]


def test_a_same_length_key_restored_with_its_old_mtime_is_picked_up(tmp_path: Path) -> None:
    key = tmp_path / "api-key-a"
    key.write_text("key-one-0123456789")
    stat = key.stat()
    files = SecretFiles(tmp_path, reload_seconds=0, redactor=Redactor())
    assert files.with_prefix("api-key-") == ["key-one-0123456789"]
    key.write_text("key-two-0123456789")  # same length
    os.utime(key, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as `cp -p` or `rsync -t` leave it
    assert files.with_prefix("api-key-") == ["key-two-0123456789"]


def test_a_failed_read_keeps_the_value_read_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """EIO or EMFILE say nothing about the secret: it stays (it was dropped: every caller
    got 401 until the fault passed); a file that is gone is gone."""
    (tmp_path / "service-token").write_text("the-token-value")
    (tmp_path / "api-key-primary").write_text("the-key-value")
    files = SecretFiles(tmp_path, reload_seconds=0, redactor=Redactor())
    files.refresh(force=True)
    read_bytes = Path.read_bytes
    iterdir = Path.iterdir

    def failing_read(path: Path) -> bytes:
        if path.name == "service-token":
            raise OSError(5, "Input/output error")
        return read_bytes(path)

    def failing_listing(path: Path) -> Any:
        raise OSError(24, "Too many open files")

    with caplog.at_level(logging.WARNING, logger="kontaxa_common.secrets"):
        monkeypatch.setattr(Path, "read_bytes", failing_read)
        for _ in range(3):
            assert files.get("service-token") == "the-token-value"
        monkeypatch.setattr(Path, "iterdir", failing_listing)
        assert files.get("api-key-primary") == "the-key-value"
        monkeypatch.setattr(Path, "iterdir", iterdir)
        monkeypatch.setattr(Path, "read_bytes", read_bytes)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [getattr(w, "file", None) for w in warnings] == ["service-token", "."]
    assert "the-token-value" not in caplog.text
    (tmp_path / "service-token").unlink()
    assert files.get("service-token") is None
    assert files.get("api-key-primary") == "the-key-value"
