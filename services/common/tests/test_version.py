"""Version metadata: headers and the meta object."""

import pytest

from kontaxa_common.version import VersionMetadata, version_header


def test_header_names() -> None:
    assert version_header("main-api") == "X-Main-Api-Version"
    assert version_header("aux-service") == "X-Aux-Service-Version"


def test_peer_versions_are_learnt() -> None:
    metadata = VersionMetadata("main-api", "2.0.0", "abc", "t", peers={"aux-service": None})
    assert metadata.meta() == {
        "main_api_version": "2.0.0",
        "aux_service_version": None,
        "git_sha": "abc",
        "build_time": "t",
    }
    assert metadata.header_items() == [(b"x-main-api-version", b"2.0.0")]
    metadata.learn("aux-service", None)
    assert metadata.peers["aux-service"] is None
    metadata.learn("aux-service", "1.1.0")
    assert metadata.meta()["aux_service_version"] == "1.1.0"
    assert (b"x-aux-service-version", b"1.1.0") in metadata.header_items()


@pytest.mark.parametrize(
    "announced",
    ["1" * 120_000, "1.0 <script>", "a\tb", "-1.0", "x" * 65],
    ids=["120,000 bytes", "markup", "tab", "leading dash", "65 characters"],
)
def test_an_invalid_peer_version_is_recorded_as_unknown(announced: str) -> None:
    metadata = VersionMetadata("main-api", "2.0.0", "abc", "t", peers={"aux-service": None})
    metadata.learn("aux-service", announced)
    assert metadata.meta()["aux_service_version"] == "unknown"
    assert (b"x-aux-service-version", b"unknown") in metadata.header_items()
    metadata.learn("aux-service", "1.4.0-rc.1+build.7")
    assert metadata.peers["aux-service"] == "1.4.0-rc.1+build.7"
