"""Every kustomization renders offline, and every Argo CD source points at something real."""

import re

import pytest
import yaml
from k8s_manifests import (
    ENVIRONMENTS,
    K8S_ROOT,
    NOT_RENDERED_OFFLINE,
    REPO_ROOT,
    environment_dirs,
    environment_of,
    find,
    kustomization_dirs,
    render,
    render_text,
    rendered_dirs,
)

PARAMETER_DIRS = {f"argocd/parameters/{env}" for env in ENVIRONMENTS}


def test_the_render_list_covers_every_tree() -> None:
    """The discovery finds the overlays, platform, monitoring and Argo CD trees."""
    dirs = set(kustomization_dirs())
    for expected in (
        "overlays/local",
        "overlays/eks",
        "overlays/local/main-api",
        "overlays/eks/aux-service",
        "platform/local",
        "platform/eks",
        "platform/local-localstack",
        "monitoring/local",
        "monitoring/eks",
        "argocd/local",
        "argocd/eks",
        "argocd/bootstrap/local",
        "argocd/bootstrap/eks",
    ):
        assert expected in dirs


@pytest.mark.parametrize("directory", rendered_dirs())
def test_kustomization_renders(directory: str) -> None:
    """`kubectl kustomize` succeeds, and only parameter sets render to nothing."""
    objects = render(directory)
    if directory in PARAMETER_DIRS:
        assert objects == (), "parameters are local-config: they must never reach a cluster"
    else:
        assert objects, f"infra/k8s/{directory} renders no object"


@pytest.mark.parametrize("directory", [d for d in rendered_dirs() if environment_of(d)])
def test_no_placeholder_survives(directory: str) -> None:
    """The placeholders of the bases (repository, path, host) never reach an environment."""
    text = render_text(directory)
    assert "git.invalid" not in text
    assert "/ENV" not in text
    assert "main-api.invalid" not in text


@pytest.mark.parametrize("directory", sorted(NOT_RENDERED_OFFLINE))
def test_remote_kustomizations_are_pinned(directory: str) -> None:
    """What cannot render offline pulls only pinned remote resources (no branch, no HEAD)."""
    kustomization = yaml.safe_load((K8S_ROOT / directory / "kustomization.yaml").read_text())
    remote = [r for r in kustomization["resources"] if "://" in r]
    assert remote
    for url in remote:
        assert re.search(r"/v\d+\.\d+\.\d+/", url), f"{url} is not pinned to a release tag"


def _applications() -> list[tuple[str, dict]]:
    """The Applications of every environment's trees (bases hold placeholders)."""
    return [
        (directory, app)
        for directory in rendered_dirs()
        if environment_of(directory)
        for app in find(render(directory), "Application")
    ]


def test_every_argocd_source_path_renders() -> None:
    """Each Application's git path is a rendered kustomization of this repository."""
    paths = {
        source["path"]
        for _, app in _applications()
        for source in app["spec"]["sources"]
        if "path" in source
    }
    assert {"infra/k8s/overlays/local/main-api", "infra/k8s/argocd/eks"} <= paths
    for path in sorted(paths):
        directory = path.removeprefix("infra/k8s/")
        assert directory in rendered_dirs(), f"{path} is not a kustomization under infra/k8s"
        assert render(directory), f"{path} renders nothing"


def test_every_values_file_exists_and_is_a_mapping() -> None:
    """Every `$values/...` file a Helm source names is committed and parses."""
    value_files = {
        file
        for _, app in _applications()
        for source in app["spec"]["sources"]
        for file in source.get("helm", {}).get("valueFiles", [])
    }
    assert len(value_files) >= 10
    for file in sorted(value_files):
        assert file.startswith("$values/"), f"{file}: values come from this repository"
        path = REPO_ROOT / file.removeprefix("$values/")
        assert path.is_file(), f"{file} does not exist"
        assert isinstance(yaml.safe_load(path.read_text()), dict), f"{file} is not a mapping"


def test_every_values_file_is_used() -> None:
    """No values file is left behind by a removed or renamed Application."""
    used = {
        file.removeprefix("$values/")
        for _, app in _applications()
        for source in app["spec"]["sources"]
        for file in source.get("helm", {}).get("valueFiles", [])
    }
    committed = {
        path.relative_to(REPO_ROOT).as_posix()
        for tree in ("platform/values", "monitoring/values", "overlays/eks/terraform/values")
        for path in (K8S_ROOT / tree).rglob("*.yaml")
    }
    assert committed == used


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_sources_use_the_environment_parameters(env: str) -> None:
    """Each environment's trees point every "kontaxa" source at that environment's repository."""
    parameters = yaml.safe_load((K8S_ROOT / f"argocd/parameters/{env}/gitops.yaml").read_text())[
        "data"
    ]
    checked = 0
    for directory in environment_dirs(env):
        for app in find(render(directory), "Application"):
            kontaxa = [s for s in app["spec"]["sources"] if s.get("name") == "kontaxa"]
            assert len(kontaxa) == 1, f"{directory}: {app['metadata']['name']} lacks its source"
            assert kontaxa[0]["repoURL"] == parameters["repoURL"]
            assert kontaxa[0]["targetRevision"] == parameters["targetRevision"]
            if "path" in kontaxa[0]:
                assert kontaxa[0]["path"].split("/")[3].startswith(env)
            checked += 1
        for project in find(render(directory), "AppProject"):
            if project["metadata"]["name"] == "default":
                continue  # locked: no source at all (test_argocd.py)
            assert project["spec"]["sourceRepos"][0] == parameters["repoURL"]
    assert checked >= 10
