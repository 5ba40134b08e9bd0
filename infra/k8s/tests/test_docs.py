"""The READMEs state the pinned versions the manifests really use."""

import re

from k8s_manifests import (
    CHECKOV_VERSION,
    EKS_KUBERNETES_VERSION,
    ENVIRONMENTS,
    K8S_ROOT,
    KIND_KUBERNETES_VERSION,
    REPO_ROOT,
    crd_schemas,
    environment_dirs,
    find,
    render,
)


def _table(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\| ([^|]+?) \| ([^|]+?) \|$", text, re.MULTILINE))


def test_readme_pins_match_the_manifests() -> None:
    """Chart versions, Argo CD, Kubernetes and checkov in infra/k8s/README.md are the real ones."""
    pins = _table((K8S_ROOT / "README.md").read_text())
    charts = {}
    for env in ENVIRONMENTS:
        for directory in environment_dirs(env):
            for app in find(render(directory), "Application"):
                for source in app["spec"]["sources"]:
                    if "chart" in source:
                        charts[f"chart {source['chart']}"] = str(source["targetRevision"])
    assert len(charts) == 7
    for name, version in charts.items():
        assert pins.get(name) == version, f"README says {name} {pins.get(name)}, not {version}"
    install = (K8S_ROOT / "argocd/install/kustomization.yaml").read_text()
    assert f"/{pins['Argo CD']}/manifests/install.yaml" in install
    kind_row = "Kubernetes on kind (node image; manifests validate against it)"
    eks_row = "Kubernetes on EKS (cluster, Cluster Autoscaler image; manifests validate against it)"
    assert pins[kind_row] == KIND_KUBERNETES_VERSION
    assert pins[eks_row] == EKS_KUBERNETES_VERSION
    assert pins["checkov (isolated, `uv tool run`)"] == CHECKOV_VERSION


def test_schema_readme_matches_the_schemas() -> None:
    """Each schema file's row names the repository and tag recorded in the file."""
    text = (K8S_ROOT / "schemas/README.md").read_text()
    rows = re.findall(
        r"^\| `([^`]+\.json)` \| [^|]+ \| ([^|]+) \| `([^`]+)` \| ([^|]+) \|$", text, re.M
    )
    assert len(rows) == len({(s.group, s.kind) for s in crd_schemas().values()})
    sources = {
        (s.source["repository"], s.source["path"], s.source["ref"]) for s in crd_schemas().values()
    }
    for file, repository, path, ref in rows:
        assert (K8S_ROOT / "schemas" / file).is_file(), file
        assert (repository, path, ref) in sources, file


def test_deployment_guide_gives_argo_cd_its_repository_credentials_first() -> None:
    """A private repository: Argo CD reads repository credentials from Secrets in its namespace
    labelled argocd.argoproj.io/secret-type=repository, with `type`, `url` and `username` /
    `password` (argoproj/argo-cd v3.4.7, docs/operator-manual/declarative-setup.md,
    "Repositories"). The guide creates one before the bootstrap, whose Applications need it."""
    guide = (REPO_ROOT / "docs/deployment-guide.md").read_text()
    create = guide.index("kubectl -n argocd create secret generic kontaxa-repository")
    label = guide.index(
        "kubectl -n argocd label secret kontaxa-repository "
        "argocd.argoproj.io/secret-type=repository"
    )
    bootstrap = guide.index("kubectl apply --server-side -k infra/k8s/argocd/bootstrap/eks")
    install = guide.index(
        "kubectl apply --server-side --force-conflicts -k infra/k8s/argocd/install"
    )
    assert install < bootstrap
    for key in ("type=git", "url=", "username=", "password="):
        assert (
            f"--from-literal={key}" in guide[create:label]
            or f"--from-file={key}" in guide[create:label]
        ), key
    assert "before the bootstrap" in guide[:create]
