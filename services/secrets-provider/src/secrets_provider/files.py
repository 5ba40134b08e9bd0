"""Secret files, and writing a set of them into a directory atomically.

`write_files` lays the directory out as the Secrets Store CSI driver (and the
kubelet's atomic writer) does: the files live in a hidden, timestamped payload
directory, `..data` is a symlink to it, and each visible name is a symlink
through `..data`. A new set of files becomes visible by one rename of `..data`,
so a reader sees either the old set or the new one, never a mix; a failure
before that rename leaves the directory as it was. One writer per directory.
"""

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from secrets_provider.errors import ObjectSpecError, WriteError
from secrets_provider.objects import check_file_path

logger = logging.getLogger(__name__)

DATA_LINK = "..data"
DEFAULT_FILE_MODE = 0o644


@dataclass(frozen=True)
class SecretFile:
    """One file of a mount: path relative to the mount, permission bits, contents."""

    path: str
    mode: int
    contents: bytes = field(repr=False)


def write_files(directory: Path, files: Sequence[SecretFile]) -> None:
    """Make `directory` hold exactly `files`, atomically; on WriteError it is unchanged."""
    _check_payload(files)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        payload = Path(
            tempfile.mkdtemp(prefix=time.strftime("..%Y_%m_%d_%H_%M_%S."), dir=directory)
        )
    except OSError as error:
        raise WriteError(f"cannot create the secrets directory {directory}: {error}") from error
    data_link = directory / DATA_LINK
    previous = os.readlink(data_link) if data_link.is_symlink() else None
    try:
        for secret in files:
            _write_one(payload / secret.path, secret)
        payload.chmod(0o755)  # mkdtemp makes it 0700; readers of other users need to traverse it
        staged_link = directory / f"{payload.name}.link"
        os.symlink(payload.name, staged_link)
        os.replace(staged_link, data_link)
    except OSError as error:
        shutil.rmtree(payload, ignore_errors=True)
        raise WriteError(f"cannot write the secret files into {directory}: {error}") from error
    except BaseException:
        shutil.rmtree(payload, ignore_errors=True)
        raise
    try:
        _link_visible_names(directory, {Path(secret.path).parts[0] for secret in files})
    except OSError as error:
        raise WriteError(
            f"the new secret files are in {data_link} but their names in {directory} "
            f"could not all be linked: {error}"
        ) from error
    if previous is not None and previous != payload.name and os.sep not in previous:
        shutil.rmtree(directory / previous, ignore_errors=True)
    logger.info("wrote %d secret files into %s", len(files), directory)


def _check_payload(files: Sequence[SecretFile]) -> None:
    seen: set[str] = set()
    for secret in files:
        try:
            check_file_path(secret.path)
        except ObjectSpecError as error:
            raise WriteError(str(error)) from error
        if secret.path in seen:
            raise WriteError(f"file path {secret.path!r} is listed twice")
        if not 0 <= secret.mode <= 0o777:
            raise WriteError(f"file mode {secret.mode:o} of {secret.path!r} is not in 0000..0777")
        seen.add(secret.path)


def _write_one(target: Path, secret: SecretFile) -> None:
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(secret.contents)
        out.flush()
        os.fsync(out.fileno())
    target.chmod(secret.mode)


def _link_visible_names(directory: Path, names: set[str]) -> None:
    """Point each top-level name through `..data`; drop the names no longer mounted."""
    for name in sorted(names):
        link = directory / name
        wanted = f"{DATA_LINK}/{name}"
        if link.is_symlink() and os.readlink(link) == wanted:
            continue
        staged = directory / f"..{name}.link"
        if staged.is_symlink():
            staged.unlink()
        os.symlink(wanted, staged)
        os.replace(staged, link)
    for entry in directory.iterdir():
        if entry.name in names or not entry.is_symlink():
            continue
        if os.readlink(entry).startswith(f"{DATA_LINK}/"):
            entry.unlink()
