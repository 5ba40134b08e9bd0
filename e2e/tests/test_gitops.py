"""kind only: Argo CD has synced everything from the seeded revision and heals drift."""

import json
from pathlib import Path

import pytest

from kontaxa_e2e.servers import eventually
from kontaxa_e2e.targets import Target

pytestmark = pytest.mark.kind_only


@pytest.fixture
def kind(target: Target) -> Target:
    return target


def _seeded_revision() -> str:
    state = json.loads((Path(__file__).resolve().parents[2] / ".local/state.json").read_text())
    revision: str = state["revision"]
    return revision


def test_every_application_synced_and_healthy_at_the_seeded_revision(kind: Target) -> None:
    revision = _seeded_revision()
    applications = kind.applications()  # type: ignore[attr-defined]
    assert {a["metadata"]["name"] for a in applications} >= {
        "kontaxa-root",
        "main-api",
        "aux-service",
        "platform",
        "monitoring",
    }
    for app in applications:
        status = app.get("status", {})
        assert status["sync"]["status"] == "Synced", app["metadata"]["name"]
        assert status["health"]["status"] == "Healthy", app["metadata"]["name"]
        revisions = status["sync"].get("revisions") or [status["sync"].get("revision", "")]
        git = [r for r in revisions if len(r) == 40]
        assert not git or revision in git, app["metadata"]["name"]


def test_self_heal_reverts_a_manual_edit(kind: Target) -> None:
    from kontaxa_e2e.kind import NAMESPACE, kubectl

    def history_limit() -> int:
        deployment = json.loads(
            kubectl("-n", NAMESPACE, "get", "deployment/main-api", "-o", "json")
        )
        limit: int = deployment["spec"]["revisionHistoryLimit"]
        return limit

    desired = history_limit()
    kubectl(
        "-n",
        NAMESPACE,
        "patch",
        "deployment/main-api",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"revisionHistoryLimit": desired + 1}}),
    )
    assert history_limit() == desired + 1
    assert eventually(lambda: history_limit() == desired, timeout=300, interval=5)
