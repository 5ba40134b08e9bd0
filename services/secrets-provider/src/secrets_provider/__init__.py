"""Secrets Store CSI Driver provider backed by the local AWS emulator, and its library.

The library (what the local runner calls) is re-exported here; the gRPC server
is `secrets_provider.server`, run with `python -m secrets_provider`.
"""

from secrets_provider.errors import (
    MountError,
    ObjectContentError,
    ObjectNotFoundError,
    ObjectSpecError,
    StoreError,
    WriteError,
)
from secrets_provider.fetch import fetch_files, fetch_files_for_parameters, mount_directory
from secrets_provider.files import SecretFile, write_files
from secrets_provider.objects import JmesPathEntry, ObjectType, SecretObject, parse_objects

__all__ = [
    "JmesPathEntry",
    "MountError",
    "ObjectContentError",
    "ObjectNotFoundError",
    "ObjectSpecError",
    "ObjectType",
    "SecretFile",
    "SecretObject",
    "StoreError",
    "WriteError",
    "fetch_files",
    "fetch_files_for_parameters",
    "mount_directory",
    "parse_objects",
    "write_files",
]
