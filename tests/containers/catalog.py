"""The images under test: names, services, commands (as the manifests and ECR name them)."""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TAG = os.environ.get("IMAGE_TAG", "dev")
GOLDEN = f"kontox-goldenimage:{TAG}"


@dataclass(frozen=True)
class ServiceImage:
    """A service image and what its pod runs."""

    service: str  # folder under services/
    image: str  # image name
    distribution: str  # its Python distribution (uv package name)
    module: str  # `python -m <module>`
    http: bool  # serves HTTP on 8080 (the secrets provider serves a unix socket)

    @property
    def ref(self) -> str:
        """name:tag."""
        return f"{self.image}:{TAG}"


SERVICE_IMAGES = [
    ServiceImage("main-api", "kontaxa/main-api", "main-api", "main_api", http=True),
    ServiceImage("aux-service", "kontaxa/aux-service", "aux-service", "aux_service", http=True),
    ServiceImage(
        "secrets-provider",
        "kontaxa/secrets-provider",
        "kontaxa-secrets-provider",
        "secrets_provider",
        http=False,
    ),
]
SERVICE = {image.service: image for image in SERVICE_IMAGES}
# moto server from the locked wheels: what kind deploys and the containers target runs.
EMULATOR = ServiceImage(
    "aws-emulator", "kontaxa/aws-emulator", "aws-emulator", "moto.server", False
)


def uv() -> str:
    """The uv that runs this session (`uv run` exports it), else the one ./task installed."""
    return os.environ.get("UV") or shutil.which("uv") or str(ROOT / ".tools/bin/uv")
