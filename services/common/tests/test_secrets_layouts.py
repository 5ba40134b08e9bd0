"""The services' secret reader on the two layouts a CSI mount can have.

- The driver's (driverWritesSecrets, EKS and kind): kubernetes-sigs/
  secrets-store-csi-driver v1.5.6 `pkg/util/fileutil/atomic_writer.go` Write:
  the files in a hidden timestamped directory, `..data` a symlink to it, each
  visible name a symlink to `..data/<name>`; an update writes a new timestamped
  directory, points a `..data_tmp` link at it, renames that over `..data`, then
  removes the old directory.
- A provider's own (aws/secrets-store-csi-driver-provider-aws 2.1.1
  `server/server.go` writeFile, driverWritesSecrets false): each file written to
  a temporary file in the mount and renamed over its name.

Both layouts are built here step by step as those files do it, independently
of the project's own writer.
"""

import os
import time
from pathlib import Path

from kontaxa_common.logs import Redactor
from kontaxa_common.secrets import SecretFiles


def driver_write(directory: Path, files: dict[str, str]) -> None:
    """One AtomicWriter.Write of `files` into `directory`."""
    directory.mkdir(exist_ok=True)
    data_link = directory / "..data"
    old = os.readlink(data_link) if data_link.is_symlink() else None
    payload = directory / time.strftime(f"..%Y_%m_%d_%H_%M_%S.{time.monotonic_ns()}")
    payload.mkdir()
    for name, value in files.items():
        (payload / name).write_text(value)
    staging = directory / "..data_tmp"
    os.symlink(payload.name, staging)
    os.rename(staging, data_link)
    for name in files:
        link = directory / name
        if not link.is_symlink():
            os.symlink(f"..data/{name}", link)
    for entry in directory.iterdir():
        if entry.is_symlink() and entry.name not in files and entry.name != "..data":
            entry.unlink()
    if old is not None:
        for leftover in (directory / old).iterdir():
            leftover.unlink()
        (directory / old).rmdir()


def provider_write(directory: Path, files: dict[str, str]) -> None:
    """server.go writeFile for each file: a temporary file renamed over the name."""
    directory.mkdir(exist_ok=True)
    for name, value in files.items():
        temporary = directory / f"{name}{time.monotonic_ns()}"
        temporary.write_text(value)
        temporary.chmod(0o644)
        os.rename(temporary, directory / name)


def test_reload_on_the_drivers_atomic_layout(tmp_path: Path) -> None:
    mount = tmp_path / "secrets"
    driver_write(mount, {"service-token": "token-one-0001", "api-key-primary": "key-one-0001"})
    files = SecretFiles(mount, reload_seconds=0, redactor=Redactor())
    assert files.get("service-token") == "token-one-0001"
    assert files.with_prefix("api-key-") == ["key-one-0001"]

    driver_write(
        mount, {"service-token": "token-two-0002-longer", "api-key-primary": "key-two-0002-longer"}
    )

    assert files.get("service-token") == "token-two-0002-longer"
    assert files.with_prefix("api-key-") == ["key-two-0002-longer"]
    # The hidden payload directories and the ..data link are never read as secrets.
    assert files.get("..data") is None


def test_a_name_dropped_from_the_drivers_layout_disappears(tmp_path: Path) -> None:
    mount = tmp_path / "secrets"
    driver_write(mount, {"api-key-primary": "key-one-0001", "api-key-secondary": "key-two-0002"})
    files = SecretFiles(mount, reload_seconds=0, redactor=Redactor())
    assert sorted(files.with_prefix("api-key-")) == ["key-one-0001", "key-two-0002"]

    driver_write(mount, {"api-key-primary": "key-one-0001"})

    assert files.with_prefix("api-key-") == ["key-one-0001"]


def test_reload_on_a_provider_written_layout(tmp_path: Path) -> None:
    mount = tmp_path / "secrets"
    provider_write(mount, {"service-token": "token-one-0001"})
    files = SecretFiles(mount, reload_seconds=0, redactor=Redactor())
    assert files.get("service-token") == "token-one-0001"

    provider_write(mount, {"service-token": "token-two-0002-longer"})

    assert files.get("service-token") == "token-two-0002-longer"
