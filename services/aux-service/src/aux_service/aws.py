"""The boto3 clients, created once, and the translation of AWS failures into HTTP errors.

The endpoint comes from AWS_ENDPOINT_URL when set, so the same code talks to
AWS, LocalStack or moto; credentials come from the default chain (IRSA on EKS).
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread
import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from aux_service.config import Settings
from kontaxa_common.errors import ApiError
from kontaxa_common.metrics import Metrics
from kontaxa_common.models import Bucket, Parameter

if TYPE_CHECKING:
    from mypy_boto3_ssm.type_defs import ParameterTypeDef

logger = logging.getLogger(__name__)
T = TypeVar("T")
P = TypeVar("P")

_NOT_FOUND = {"ParameterNotFound", "ParameterVersionNotFound", "NoSuchBucket"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden"}
_THROTTLED = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "ThrottledException",
    "RequestThrottled",
}
_UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError)
RETRY_AFTER_SECONDS = 1
# AWS calls alive at once, those past their deadline included (their threads run on until
# botocore gives up); botocore's connection pool holds as many.
MAX_AWS_CALLS = 32


BUSY = "aws_busy"  # the error code when every slot is taken


class _Busy(Exception):
    """Every AWS call slot is taken: the request is refused before it reaches AWS."""


class AwsGateway:
    """S3 and SSM calls, each run in a worker thread, timed, and mapped to ApiError."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._metrics = metrics
        self._deadline = settings.aws_deadline_seconds
        self._calls = threading.BoundedSemaphore(MAX_AWS_CALLS)
        self._prefix = settings.parameter_prefix.rstrip("/")
        config = Config(
            region_name=settings.aws_region,
            connect_timeout=settings.aws_connect_timeout_seconds,
            read_timeout=settings.aws_read_timeout_seconds,
            retries={"total_max_attempts": settings.aws_max_attempts, "mode": "standard"},
            max_pool_connections=MAX_AWS_CALLS,
        )
        session = boto3.session.Session(region_name=settings.aws_region)
        endpoint = settings.aws_endpoint_url or None
        self.s3 = session.client("s3", endpoint_url=endpoint, config=config)
        self.ssm = session.client("ssm", endpoint_url=endpoint, config=config)

    def _slot(self, fn: Callable[[], T]) -> Callable[[], T]:
        """`fn`, holding one of MAX_AWS_CALLS slots while it runs (in its worker thread)."""

        def run() -> T:
            if not self._calls.acquire(blocking=False):
                raise _Busy
            try:
                return fn()
            finally:
                self._calls.release()

        return run

    async def _call(self, operation: str, subject: str, fn: Callable[[threading.Event], T]) -> T:
        """Run `fn` in a worker thread within the deadline; `fn` gets the event set when the
        deadline passed, which a call of several pages checks between them."""
        started = time.perf_counter()
        outcome = "error"
        expired = threading.Event()
        try:
            # The deadline bounds every page and attempt of the call. At the deadline the
            # request is answered and the worker thread left to finish on its own: it makes
            # no further page's call (`expired`), botocore's timeouts end the call in flight
            # (attempts x (connect + read), at most the deadline by default), and its slot
            # bounds how many such threads there are.
            with anyio.move_on_after(self._deadline) as deadline:
                result = await anyio.to_thread.run_sync(
                    self._slot(lambda: fn(expired)), abandon_on_cancel=True
                )
            if deadline.cancelled_caught:
                expired.set()
                outcome = "deadline"
                logger.warning(
                    "AWS call exceeded AWS_DEADLINE_SECONDS",
                    extra={"operation": operation, "seconds": self._deadline},
                )
                raise ApiError(504, "aws_timeout", "AWS did not answer in time")
            outcome = "ok"
            return result
        except _Busy as exc:
            outcome = "busy"
            raise ApiError(
                503,
                BUSY,
                "too many AWS calls are still running",
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from exc
        except ClientError as exc:
            outcome = exc.response.get("Error", {}).get("Code", "ClientError")
            raise _client_error(exc, subject) from exc
        except _UNREACHABLE as exc:
            outcome = "unreachable"
            logger.warning(
                "AWS endpoint unreachable",
                extra={"operation": operation, "error": type(exc).__name__},
            )
            raise ApiError(503, "aws_unavailable", "the AWS endpoint is unreachable") from exc
        except ReadTimeoutError as exc:
            outcome = "timeout"
            raise ApiError(504, "aws_timeout", "AWS did not answer in time") from exc
        except NoCredentialsError as exc:
            outcome = "no_credentials"
            raise ApiError(503, "aws_unavailable", "aux-service has no AWS credentials") from exc
        except BotoCoreError as exc:
            outcome = type(exc).__name__
            logger.warning("AWS call failed", extra={"operation": operation, "error": outcome})
            raise ApiError(502, "aws_error", f"the AWS call {operation} failed") from exc
        finally:
            self._metrics.observe_upstream("aws", operation, outcome, time.perf_counter() - started)

    async def list_buckets(self) -> list[Bucket]:
        """Every bucket the credentials can list (S3 ListBuckets)."""

        def call(expired: threading.Event) -> list[Bucket]:
            buckets: list[Bucket] = []
            for page in _until(expired, self.s3.get_paginator("list_buckets").paginate()):
                buckets += [
                    Bucket(name=b["Name"], created=b.get("CreationDate"))
                    for b in page.get("Buckets", [])
                ]
            return buckets

        return await self._call("ListBuckets", "buckets", call)

    async def get_parameter(self, full_name: str) -> Parameter:
        """One parameter (SSM GetParameter); SecureString values are never decrypted."""

        def call(_: threading.Event) -> Parameter:
            reply = self.ssm.get_parameter(Name=full_name, WithDecryption=False)
            return self._parameter(reply["Parameter"])

        return await self._call("GetParameter", f"parameter '{self._relative(full_name)}'", call)

    async def list_parameters(self) -> list[Parameter]:
        """Every parameter under the prefix, recursively (SSM GetParametersByPath, all pages)."""

        def call(expired: threading.Event) -> list[Parameter]:
            paginator = self.ssm.get_paginator("get_parameters_by_path")
            pages = paginator.paginate(
                Path=self._prefix or "/", Recursive=True, WithDecryption=False
            )
            parameters: list[Parameter] = []
            for page in _until(expired, pages):
                parameters += [self._parameter(p) for p in page.get("Parameters", [])]
            return sorted(parameters, key=lambda p: p.full_name)

        return await self._call("GetParametersByPath", "parameters", call)

    async def ping(self) -> None:
        """A cheap call the service's IAM policy allows, to prove AWS answers."""

        def call(_: threading.Event) -> None:
            self.ssm.get_parameters_by_path(Path=self._prefix or "/", MaxResults=1)

        await self._call("GetParametersByPath", "parameters", call)

    def _relative(self, full_name: str) -> str:
        return (
            full_name[len(self._prefix) + 1 :]
            if full_name.startswith(self._prefix + "/")
            else full_name
        )

    def _parameter(self, raw: "ParameterTypeDef") -> Parameter:
        secure = raw["Type"] == "SecureString"
        return Parameter(
            name=self._relative(raw["Name"]),
            full_name=raw["Name"],
            type=raw["Type"],
            version=raw.get("Version", 0),
            secure=secure,
            value=None if secure else raw.get("Value"),
            last_modified=raw.get("LastModifiedDate"),
        )


class _Abandoned(Exception):
    """The request this call was for has been answered (its deadline passed)."""


def _until(expired: threading.Event, pages: Iterable[P]) -> Iterator[P]:
    """`pages`, stopping before the next page's call once `expired` is set: a listing past
    its deadline is answered 504 and thrown away, so its thread (and its slot) end with the
    page in flight instead of fetching every other page too."""
    for page in pages:
        yield page
        if expired.is_set():
            raise _Abandoned


def _client_error(exc: ClientError, subject: str) -> ApiError:
    """Map an AWS error code to the service's error; AWS's own message is not passed on."""
    code = exc.response.get("Error", {}).get("Code", "")
    if code in _NOT_FOUND:
        return ApiError(404, "not_found", f"{subject} not found")
    if code in _DENIED:
        return ApiError(403, "forbidden", f"aux-service is not allowed to read {subject}")
    if code in _THROTTLED:
        return ApiError(
            429,
            "throttled",
            "AWS is throttling requests; retry later",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if code == "ValidationException":
        return ApiError(400, "invalid_parameter_name", f"AWS rejected the name of {subject}")
    logger.warning("AWS error", extra={"aws_error_code": code})
    return ApiError(502, "aws_error", f"AWS failed while reading {subject} ({code or 'unknown'})")
