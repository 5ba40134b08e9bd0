"""The Argo CD install kustomization renders, with the upstream manifest in the shape it has.

`infra/k8s/argocd/install` pulls argo-cd's `manifests/install.yaml` at apply time, so the tree
tests leave it out. The rule it depends on: at argoproj/argo-cd v3.4.7 that file holds 59
objects and none has `metadata.namespace` (the install is namespaced by whoever applies it);
`argocd-cm` is `ConfigMap/argocd-cm` with its own `data`. kustomize applies `patches` before
the kustomization's `namespace`, and a patch without `target` is matched by its full id,
namespace included (kubernetes-sigs/kustomize api v0.19.0, the version kubectl 1.33 vendors,
`api/internal/builtins/PatchTransformer.go`: `m.GetById(patch.OrgId())`). A patch that names
`namespace: argocd` matches nothing and `kubectl apply -k` fails before applying anything.

Here the kustomization is rendered by kubectl with the remote resource replaced by a local file
that has upstream's shape: the objects of install.yaml that the patch and the namespace touch,
without a namespace, as at v3.4.7.
"""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_manifests import K8S_ROOT

INSTALL_DIR = K8S_ROOT / "argocd/install"
UPSTREAM_URL = "https://raw.githubusercontent.com/argoproj/argo-cd/v3.4.7/manifests/install.yaml"

# As argo-cd v3.4.7 manifests/install.yaml has them: no namespace, upstream's own data kept.
UPSTREAM_SHAPE: list[dict[str, Any]] = [
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "labels": {
                "app.kubernetes.io/name": "argocd-cm",
                "app.kubernetes.io/part-of": "argocd",
            },
            "name": "argocd-cm",
        },
        "data": {
            "resource.customizations.ignoreResourceUpdates.all": "jsonPointers:\n  - /status\n"
        },
    },
    {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "argocd-application-controller"},
    },
]


def _render(tmp_path: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip(
            "kubectl is not installed: the Argo CD install kustomization cannot be rendered"
        )
    work = tmp_path / "install"
    shutil.copytree(INSTALL_DIR, work)
    kustomization = yaml.safe_load((work / "kustomization.yaml").read_text())
    assert UPSTREAM_URL in kustomization["resources"], "the pinned upstream manifest moved"
    kustomization["resources"] = [
        "upstream.yaml" if r == UPSTREAM_URL else r for r in kustomization["resources"]
    ]
    (work / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    (work / "upstream.yaml").write_text(yaml.safe_dump_all(UPSTREAM_SHAPE))
    result = subprocess.run(
        [kubectl, "kustomize", str(work)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, f"kubectl kustomize argocd/install failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_install_renders_with_the_health_checks_merged_into_upstreams_argocd_cm(
    tmp_path: Path,
) -> None:
    rendered = _render(tmp_path)
    cms = [o for o in rendered if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "argocd-cm"]
    assert len(cms) == 1, "the patch made a second argocd-cm instead of merging"
    cm = cms[0]
    assert cm["metadata"]["namespace"] == "argocd"
    patch = yaml.safe_load((INSTALL_DIR / "argocd-cm.yaml").read_text())
    for key, value in patch["data"].items():
        assert cm["data"][key] == value, f"{key} not merged into argocd-cm"
    # Upstream's own settings stay: a strategic merge, not a replacement.
    assert "resource.customizations.ignoreResourceUpdates.all" in cm["data"]
    namespaces = {o["metadata"].get("namespace") for o in rendered if o["kind"] != "Namespace"}
    assert namespaces == {"argocd"}


def test_patch_names_no_namespace() -> None:
    """The id rule above, stated on the file: a namespace in the patch would match nothing."""
    patch = yaml.safe_load((INSTALL_DIR / "argocd-cm.yaml").read_text())
    assert "namespace" not in patch["metadata"]
