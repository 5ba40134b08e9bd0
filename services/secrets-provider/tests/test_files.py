"""Atomic writes of a mount's files into a directory, laid out as the CSI driver does."""

import os
from pathlib import Path
from typing import Any

import pytest

from secrets_provider import SecretFile, WriteError, write_files


def visible(directory: Path) -> dict[str, bytes]:
    """What a reader of the directory sees: the non-hidden names and their contents."""
    return {
        path.name: path.read_bytes()
        for path in directory.iterdir()
        if not path.name.startswith(".") and path.is_file()
    }


def payload_dirs(directory: Path) -> list[str]:
    return sorted(
        p.name
        for p in directory.iterdir()
        if p.name.startswith("..") and p.is_dir() and not p.is_symlink()
    )


def test_files_are_linked_through_data_like_the_driver_does(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"

    write_files(directory, [SecretFile("a", 0o640, b"one"), SecretFile("b", 0o644, b"two")])

    assert visible(directory) == {"a": b"one", "b": b"two"}
    data = directory / "..data"
    assert data.is_symlink()
    assert os.readlink(directory / "a") == "..data/a"
    assert (data / "a").stat().st_mode & 0o777 == 0o640
    assert payload_dirs(directory) == [os.readlink(data)]


def test_a_second_write_replaces_the_set_and_drops_stale_names(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    write_files(directory, [SecretFile("a", 0o644, b"one"), SecretFile("b", 0o644, b"two")])
    first_payload = os.readlink(directory / "..data")

    write_files(directory, [SecretFile("b", 0o644, b"two-v2"), SecretFile("c", 0o644, b"three")])

    assert visible(directory) == {"b": b"two-v2", "c": b"three"}
    assert not (directory / "a").is_symlink()
    assert payload_dirs(directory) == [os.readlink(directory / "..data")]
    assert os.readlink(directory / "..data") != first_payload


def test_nested_paths_are_written_under_their_directory(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"

    write_files(directory, [SecretFile("kontaxa/app/welcome", 0o644, b"hi")])

    assert (directory / "kontaxa" / "app" / "welcome").read_bytes() == b"hi"
    assert os.readlink(directory / "kontaxa") == "..data/kontaxa"


def test_a_regular_file_left_by_another_writer_is_replaced(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    directory.mkdir()
    (directory / "a").write_bytes(b"stale")

    write_files(directory, [SecretFile("a", 0o644, b"fresh")])

    assert (directory / "a").read_bytes() == b"fresh"
    assert (directory / "a").is_symlink()


def test_a_failure_while_writing_leaves_the_previous_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot_of: Any
) -> None:
    directory = tmp_path / "secrets"
    write_files(directory, [SecretFile("a", 0o644, b"one")])
    before = snapshot_of(directory)
    real_fsync = os.fsync
    calls = []

    def failing_fsync(descriptor: int) -> None:
        calls.append(descriptor)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", failing_fsync)

    with pytest.raises(WriteError, match="No space left on device"):
        write_files(directory, [SecretFile("a", 0o644, b"new"), SecretFile("b", 0o644, b"two")])

    assert len(calls) == 2
    assert snapshot_of(directory) == before


@pytest.mark.parametrize(
    ("files", "message"),
    [
        # The driver's own checks (v1.5.6 pkg/util/fileutil: validatePath, Validate).
        ([SecretFile("/etc/passwd", 0o644, b"x")], "must be a relative path"),
        ([SecretFile("../escape", 0o644, b"x")], "must not contain '..'"),
        ([SecretFile("a/../../b", 0o644, b"x")], "must not contain '..'"),
        ([SecretFile("..a", 0o644, b"x")], "must not start with '..'"),
        ([SecretFile("a//b", 0o644, b"x")], "not a clean path"),
        ([SecretFile("./a", 0o644, b"x")], "not a clean path"),
        ([SecretFile("", 0o644, b"x")], "empty"),
        ([SecretFile("x" * 256, 0o644, b"x")], "longer than 255 bytes"),
        ([SecretFile("a", 0o644, b"x"), SecretFile("a", 0o644, b"y")], "listed twice"),
        ([SecretFile("a", 0o1777, b"x")], "not in 0000..0777"),
    ],
)
def test_invalid_payloads_are_refused_before_writing(
    tmp_path: Path, files: list[SecretFile], message: str
) -> None:
    directory = tmp_path / "secrets"

    with pytest.raises(WriteError, match=message):
        write_files(directory, files)

    assert not directory.exists()
