"""The gRPC provider: `v1alpha1.CSIDriverProvider` on a unix socket, for the CSI driver.

The driver sends the SecretProviderClass parameters merged with the pod's
volume attributes, the node-publish secrets, the pod's volume path, the default
file mode and the versions mounted now. This server returns the files and their
versions and lets the driver write them, so it needs no access to pod volumes.
A failed mount is an error status whose message the driver puts in pod events.
"""

import json
import logging
import signal
import stat
import threading
import traceback
from concurrent import futures
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import FrameType

import boto3
import grpc

from secrets_provider.config import Settings
from secrets_provider.errors import (
    MountError,
    ObjectContentError,
    ObjectNotFoundError,
    ObjectSpecError,
    StoreError,
)
from secrets_provider.fetch import fetch_files_for_parameters
from secrets_provider.v1alpha1 import service_pb2, service_pb2_grpc

logger = logging.getLogger(__name__)

API_VERSION = "v1alpha1"
RUNTIME_NAME = "kontaxa-secrets-provider"
# sockaddr_un.sun_path holds 108 bytes, the terminating NUL included.
_MAX_SOCKET_PATH = 107

# Volume attributes the kubelet adds (podInfoOnMount): logged, never trusted for access.
_POD_NAMESPACE = "csi.storage.k8s.io/pod.namespace"
_POD_NAME = "csi.storage.k8s.io/pod.name"
_SERVICE_ACCOUNT = "csi.storage.k8s.io/serviceAccount.name"

_STATUS_BY_ERROR: tuple[tuple[type[MountError], grpc.StatusCode], ...] = (
    (ObjectSpecError, grpc.StatusCode.INVALID_ARGUMENT),
    (ObjectNotFoundError, grpc.StatusCode.NOT_FOUND),
    (ObjectContentError, grpc.StatusCode.FAILED_PRECONDITION),
    (StoreError, grpc.StatusCode.UNAVAILABLE),
)


def runtime_version() -> str:
    """This package's version, reported to the driver."""
    try:
        return version("kontaxa-secrets-provider")
    except PackageNotFoundError:
        return "0.0.0"


class CSIDriverProvider(service_pb2_grpc.CSIDriverProviderServicer):
    """Serves Version and Mount with the library's fetch."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # One session for every mount: a new one loads the service models again
        # (about a second of CPU per mount, at every rotation of every pod).
        self._session = boto3.session.Session()

    def Version(  # noqa: N802 - the RPC's name
        self, request: service_pb2.VersionRequest, context: grpc.ServicerContext
    ) -> service_pb2.VersionResponse:
        """Report the API version, this provider's name and version."""
        return service_pb2.VersionResponse(
            version=API_VERSION, runtime_name=RUNTIME_NAME, runtime_version=runtime_version()
        )

    def Mount(  # noqa: N802 - the RPC's name
        self, request: service_pb2.MountRequest, context: grpc.ServicerContext
    ) -> service_pb2.MountResponse:
        """Fetch the SecretProviderClass's objects; return every file and version of the mount."""
        try:
            attributes, default_mode = parse_mount_request(request)
            current = {item.id: item.version for item in request.current_object_version}
            logger.info(
                "mount for pod %s/%s (service account %s)",
                attributes.get(_POD_NAMESPACE, "?"),
                attributes.get(_POD_NAME, "?"),
                attributes.get(_SERVICE_ACCOUNT, "?"),
            )
            files, versions = fetch_files_for_parameters(
                attributes,
                current,
                default_region=self._settings.aws_region,
                endpoint_url=self._settings.aws_endpoint_url,
                default_mode=default_mode,
                session=self._session,
            )
        except MountError as error:
            code = next(
                (status for kind, status in _STATUS_BY_ERROR if isinstance(error, kind)),
                grpc.StatusCode.INTERNAL,
            )
            logger.warning("mount failed: %s", error)
            context.abort(code, str(error))
        except Exception as error:  # a mount fails with a status, never a trace
            # Not its message, nor grpc's traceback of it (grpc sends the message to the
            # driver, into the pod's events): it may quote a secret. Its kind and place do.
            where = traceback.extract_tb(error.__traceback__)[-1]
            logger.error(
                "mount failed: unexpected %s at %s:%s",
                type(error).__name__,
                Path(where.filename).name,
                where.lineno,
            )
            context.abort(
                grpc.StatusCode.INTERNAL,
                f"the provider failed unexpectedly ({type(error).__name__}); see its log",
            )
        logger.info("mounted %d files: %s", len(files), ", ".join(sorted(versions)))
        # As server/server.go: the request's versions updated with the fetched
        # ones, so an id no longer mounted is echoed back (the driver's rotation
        # reconciler stores what it gets).
        return service_pb2.MountResponse(
            object_version=[
                service_pb2.ObjectVersion(id=name, version=object_version)
                for name, object_version in {**current, **versions}.items()
            ],
            files=[
                service_pb2.File(path=file.path, mode=file.mode, contents=file.contents)
                for file in files
            ],
        )


def parse_mount_request(request: service_pb2.MountRequest) -> tuple[dict[str, str], int]:
    """The attributes and default file mode of a MountRequest, as the driver encodes them."""
    if not request.target_path:
        raise ObjectSpecError("missing mount path (target_path) in the mount request")
    try:
        attributes = json.loads(request.attributes)
    except ValueError as error:
        raise ObjectSpecError(f"mount request attributes are not JSON: {error}") from error
    if not isinstance(attributes, dict) or not all(
        isinstance(value, str) for value in attributes.values()
    ):
        raise ObjectSpecError("mount request attributes must be a JSON object of strings")
    try:
        # The driver sends json.Marshal(os.FileMode(0644)): a decimal number, "420".
        permission = json.loads(request.permission)
    except ValueError as error:
        raise ObjectSpecError(
            f"mount request permission {request.permission!r} is not JSON: {error}"
        ) from error
    if type(permission) is not int or not 0 <= permission <= 0o777:
        raise ObjectSpecError(
            f"mount request permission {request.permission!r} is not a file mode (0 to 511)"
        )
    # request.secrets (nodePublishSecretRef) is deliberately unused: credentials
    # are the provider's own, never the pod's.
    return attributes, permission


def create_server(settings: Settings) -> grpc.Server:
    """A started gRPC server on the settings' socket (a stale socket file is replaced)."""
    path = settings.socket_path
    if len(str(path).encode()) > _MAX_SOCKET_PATH:
        raise ValueError(f"socket path {path} is longer than {_MAX_SOCKET_PATH} bytes")
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_socket(path)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=settings.max_workers))
    service_pb2_grpc.add_CSIDriverProviderServicer_to_server(CSIDriverProvider(settings), server)
    server.add_insecure_port(f"unix://{path}")
    server.start()
    logger.info(
        "provider %s %s listening on %s (region %s, endpoint %s)",
        RUNTIME_NAME,
        runtime_version(),
        path,
        settings.aws_region,
        settings.aws_endpoint_url or "default",
    )
    return server


def serve(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully and remove the socket."""
    stopping = threading.Event()
    server: grpc.Server | None = None

    def stop(signum: int, frame: FrameType | None) -> None:
        if not stopping.is_set():
            stopping.set()
            logger.info("signal %d: stopping", signum)
            if server is not None:
                server.stop(settings.shutdown_grace_seconds)

    # Handlers first: a signal that arrives once the socket exists must stop us gracefully.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server = create_server(settings)
    if stopping.is_set():
        server.stop(settings.shutdown_grace_seconds)
    try:
        server.wait_for_termination()
    finally:
        settings.socket_path.unlink(missing_ok=True)
        logger.info("stopped")


def _remove_stale_socket(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ValueError(f"{path} exists and is not a socket: refusing to replace it")
    path.unlink()
