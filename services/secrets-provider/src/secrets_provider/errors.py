"""Why a mount fails. Every message says what failed and what to do about it.

A failed mount writes nothing: the library raises before any file is written,
and the gRPC server turns the exception into an error status for the driver,
which then shows the message in the pod's events.
"""


class MountError(Exception):
    """A mount that cannot be done."""


class ObjectSpecError(MountError):
    """The SecretProviderClass parameters (the `objects` YAML, region, ...) are invalid."""


class ObjectNotFoundError(MountError):
    """A secret or parameter named in `objects` does not exist (or not in that version)."""


class ObjectContentError(MountError):
    """An object's value cannot be split as its `jmesPath` asks (not JSON, no such key, ...)."""


class StoreError(MountError):
    """Secrets Manager or Parameter Store could not be reached or refused the request."""


class WriteError(MountError):
    """The files could not be written into the target directory."""
