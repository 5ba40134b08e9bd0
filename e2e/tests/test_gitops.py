"""kind only: Argo CD has synced everything from the seeded revision and heals drift."""

import json

import pytest

from kontaxa_e2e.servers import eventually
from kontaxa_e2e.targets import Target
from kontaxa_local.settings import Settings
from kontaxa_local.state import State

pytestmark = pytest.mark.kind_only


@pytest.fixture
def kind(target: Target) -> Target:
    return target


def _seeded_revision() -> str:
    """The commit the runner seeded, from its state where the runner keeps it (LOCAL_STATE_DIR)."""
    state = State.load(Settings.from_env().state_dir)
    assert state is not None, "the kind runner left no state"
    assert state.revision, "the kind runner's state has no revision"
    return state.revision


# Applications whose source is this repository (infra/k8s/argocd: the root and its children);
# the Applications these create for Helm charts report a chart version instead.
GIT_SOURCED = {"kontaxa-root", "main-api", "aux-service", "platform", "monitoring"}


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
        if app["metadata"]["name"] in GIT_SOURCED:  # these must say the commit they synced
            assert revision in git, (app["metadata"]["name"], revisions)
        else:  # a chart's version, with the seeded commit where values come from git
            assert not git or revision in git, app["metadata"]["name"]


def test_argo_cd_synced_this_checkout(kind: Target) -> None:
    """The snapshot under the commit Argo CD synced (what `git_sha` must say, in
    test_operations) is this checkout's working tree and names its HEAD: the expected
    `git_sha` is anchored in the checkout, not only in what the cluster reports."""
    mismatch = kind.snapshot_mismatch()  # type: ignore[attr-defined]
    assert mismatch is None, (
        f"{mismatch} (the checkout changed since local-up, e.g. an edit, or terraform init "
        "adding a platform's hash to a lock file: run local-up again)"
    )


def test_self_heal_reverts_a_manual_edit(kind: Target) -> None:
    from kontaxa_e2e.kind import NAMESPACE, kubectl

    def history_limit() -> int:
        deployment = json.loads(
            kubectl("-n", NAMESPACE, "get", "deployment/main-api", "-o", "json")
        )
        limit: int = deployment["spec"]["revisionHistoryLimit"]
        return limit

    desired = history_limit()
    patched = kubectl(
        "-n",
        NAMESPACE,
        "patch",
        "deployment/main-api",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"revisionHistoryLimit": desired + 1}}),
    )
    # The API server took the edit (kubectl says "(no change)" otherwise); reading it back
    # could already find Argo CD's revert.
    assert "patched" in patched, patched
    assert "no change" not in patched, patched
    assert eventually(lambda: history_limit() == desired, timeout=300, interval=5)
