"""docs/architecture.png is drawn from docs/architecture.dot and cannot drift from it."""

import shutil
import struct

import diagram
import pytest


def test_picture_is_stamped_with_its_current_source() -> None:
    """The PNG records the SHA-256 of the .dot it was drawn from: editing one alone fails."""
    texts = diagram.text_chunks(diagram.PICTURE.read_bytes())
    assert texts.get(diagram.SOURCE_KEY) == diagram.source_digest(), (
        "docs/architecture.png is older than docs/architecture.dot: run ./task docs:diagram"
    )


def test_picture_is_a_real_drawing() -> None:
    png = diagram.PICTURE.read_bytes()
    kinds = [kind for kind, _ in diagram.chunks(png)]
    assert kinds[0] == b"IHDR"
    assert kinds[-1] == b"IEND"
    assert b"IDAT" in kinds
    width, height = struct.unpack(">II", png[16:24])
    assert width > 1000
    assert height > 500


def test_picture_redraws_byte_for_byte() -> None:
    """With the Graphviz that drew it, the source gives exactly the committed PNG."""
    recorded = diagram.text_chunks(diagram.PICTURE.read_bytes()).get(diagram.GRAPHVIZ_KEY)
    assert recorded, "architecture.png records no Graphviz version: run ./task docs:diagram"
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed (./task docs:diagram installs it)")
    if diagram.graphviz_version() != recorded:
        pytest.skip(f"Graphviz {diagram.graphviz_version()} here; the PNG was drawn by {recorded}")
    assert diagram.render() == diagram.PICTURE.read_bytes()


@pytest.mark.parametrize(
    "subject",
    [
        "main-api",
        "aux-service",
        "Traefik",
        "S3",
        "SSM Parameter Store",
        "Secrets Manager",
        "Secrets Store CSI Driver",
        "IRSA",
        "Argo CD",
        "GitHub Actions",
        "token.actions.githubusercontent.com",
        "kube-prometheus-stack",
        "kind runtime",
        "process runtime",
        "EKS cluster",
    ],
)
def test_source_shows(subject: str) -> None:
    """The picture covers every part issue 9 names."""
    assert subject in diagram.SOURCE.read_text()
