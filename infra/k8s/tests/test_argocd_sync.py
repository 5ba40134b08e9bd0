"""Every Application of the rendered tree can sync on a fresh cluster, in wave order.

The rule is gitops-engine's, as vendored in argoproj/argo-cd v3.4.7 (its go.mod replaces
github.com/argoproj/argo-cd/gitops-engine with ./gitops-engine), file
gitops-engine/pkg/sync/sync_context.go, `getSyncTasks` and `hasCRDOfGroupKind`: before any
wave is applied, every task's kind is looked up on the API server; a kind the server does not
know fails the whole operation (nothing is applied) unless the CRD of that group and kind is
among the same sync's target objects, or the resource carries the sync option
`SkipDryRunOnMissingResource=true` (annotation `argocd.argoproj.io/sync-options`, read with
`HasAnnotationOption`; gitops-engine/pkg/sync/common/types.go), or the Application's own
syncOptions set it. A skipped kind must still exist by the resource's wave: some Application
of a lower wave in the same sync must create its CRD.

Waves between Applications wait for a child to be Healthy only because argocd-cm assesses
Application health (argo-cd v3.4.7 docs/operator-manual/upgrading/1.7-1.8.md: the Application
health check was removed in 1.8); `test_argocd_health.py` runs that check in Lua.

Helm charts cannot be rendered offline: the CRDs a chart source installs are the committed
schemas in infra/k8s/schemas whose recorded source is that chart at that version (a chart's
own custom resources sit in the same sync as its CRDs, and pass the rule for that reason).
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import kubernetes_validate
import pytest
import yaml
from k8s_manifests import (
    ENVIRONMENTS,
    K8S_ROOT,
    KUBERNETES_VERSIONS,
    SCHEMAS_DIR,
    Obj,
    find,
    one,
    render,
)

GroupKind = tuple[str, str]
SKIP_DRY_RUN = "SkipDryRunOnMissingResource=true"
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"


def _wave(obj: Obj) -> int:
    return int(obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


def _group_kind(obj: Obj) -> GroupKind:
    group = obj["apiVersion"].rpartition("/")[0]
    return group, obj["kind"]


def _builtin(obj: Obj) -> bool:
    """A kind the API servers of KUBERNETES_VERSIONS (kind's and EKS's) serve without any CRD."""
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version)
        except kubernetes_validate.SchemaNotFoundError:
            return False
        except kubernetes_validate.ValidationError:
            continue  # served (a schema exists); whether the object is valid is checked elsewhere
    return True


def _chart_crds() -> dict[tuple[str, str], set[GroupKind]]:
    """(chart or repository, version) -> the CRDs it installs, from the committed schemas."""
    installs: dict[tuple[str, str], set[GroupKind]] = {}
    for path in SCHEMAS_DIR.rglob("*.json"):
        document = json.loads(path.read_text())
        source = document["source"]
        if source["repository"] == "argoproj/argo-cd":
            key = ("argo-cd", source["ref"].removeprefix("v"))
        else:
            chart = source["path"].split("/")[1]  # charts/<chart>/...
            key = (chart, source["ref"].removeprefix(f"{chart}-").removeprefix("v"))
        installs.setdefault(key, set()).add((document["group"], document["kind"]))
    return installs


def _argocd_version() -> str:
    install = yaml.safe_load((K8S_ROOT / "argocd/install/kustomization.yaml").read_text())
    (url,) = [r for r in install["resources"] if r.startswith("https://")]
    return url.split("/argo-cd/")[1].split("/")[0].removeprefix("v")


@dataclass
class App:
    """An Application, what its sync applies, and the Applications among it."""

    obj: Obj
    objects: list[Obj] = field(default_factory=list)
    chart_crds: set[GroupKind] = field(default_factory=set)
    children: list["App"] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    def own_crds(self, below_wave: int | None = None) -> set[GroupKind]:
        """CRDs this sync applies itself (before `below_wave`, when given)."""
        crds = {
            (o["spec"]["group"], o["spec"]["names"]["kind"])
            for o in self.objects
            if o["kind"] == "CustomResourceDefinition"
            and (below_wave is None or _wave(o) < below_wave)
        }
        return crds | self.chart_crds

    def provides(self) -> set[GroupKind]:
        """Every CRD that exists once this Application is Healthy (its children's too)."""
        crds = self.own_crds()
        for child in self.children:
            crds |= child.provides()
        return crds

    def skips_dry_run(self, obj: Obj) -> bool:
        annotation = obj["metadata"].get("annotations", {}).get(SYNC_OPTIONS, "")
        options = {o.strip() for o in annotation.split(",")}
        return SKIP_DRY_RUN in options or SKIP_DRY_RUN in self.obj["spec"].get(
            "syncPolicy", {}
        ).get("syncOptions", [])


def _load(app_obj: Obj, platform_path: str | None = None) -> App:
    """The Application with its sources rendered (git paths) or looked up (charts)."""
    app = App(app_obj)
    installs = _chart_crds()
    for source in app_obj["spec"]["sources"]:
        if "chart" in source:
            key = (source["chart"], str(source["targetRevision"]))
            app.chart_crds |= installs.get(key, set())
        elif "path" in source:
            path = source["path"]
            if platform_path and app_obj["metadata"]["name"] == "platform":
                path = platform_path
            app.objects.extend(render(path.removeprefix("infra/k8s/")))
    app.children = [_load(o, platform_path) for o in app.objects if o["kind"] == "Application"]
    return app


def _root(env: str, platform_path: str | None = None) -> App:
    (root,) = find(render(f"argocd/bootstrap/{env}"), "Application")
    return _load(root, platform_path)


def _problems(app: App, known: set[GroupKind]) -> Iterator[str]:
    """What stops `app` from syncing, given the kinds the cluster knows when it starts."""
    own = app.own_crds()
    for obj in app.objects:
        kind = _group_kind(obj)
        if _builtin(obj) or kind in known or kind in own:
            continue
        where = f"{app.name}: {obj['kind']}/{obj['metadata']['name']}"
        if not app.skips_dry_run(obj):
            yield (
                f"{where}: {kind} is unknown when the sync starts and its CRD is not in the "
                f"same Application; the whole sync fails (add {SYNC_OPTIONS}: {SKIP_DRY_RUN} "
                "or move it)"
            )
        elif not any(kind in c.provides() and _wave(c.obj) < _wave(obj) for c in app.children):
            yield f"{where}: skips the dry run, but nothing creates {kind} before its wave"
    for child in app.children:
        before = set(known) | app.own_crds(below_wave=_wave(child.obj))
        for sibling in app.children:
            if _wave(sibling.obj) < _wave(child.obj):
                before |= sibling.provides()
        yield from _problems(child, before)


def _variants() -> Iterator[tuple[str, str | None]]:
    for env in ENVIRONMENTS:
        yield env, None
    yield "local", "infra/k8s/platform/local-localstack"


VARIANTS = list(_variants())
IDS = [f"{env}{'-localstack' if path else ''}" for env, path in VARIANTS]


@pytest.mark.parametrize(("env", "platform_path"), VARIANTS, ids=IDS)
def test_every_application_passes_the_dry_run_and_waves_precede_what_they_need(
    env: str, platform_path: str | None
) -> None:
    root = _root(env, platform_path)
    argocd = _chart_crds()[("argo-cd", _argocd_version())]  # installed before the root
    problems = list(_problems(root, argocd))
    assert not problems, "\n".join(problems)
    assert len(list(_walk(root))) >= 9


def _walk(app: App) -> Iterator[App]:
    yield app
    for child in app.children:
        yield from _walk(child)


def test_the_rule_finds_what_deadlocked_the_monitoring_application() -> None:
    """Without the sync option, monitoring's PrometheusRule fails the sync; so does a wave
    that puts the rule before the chart that installs its CRD."""
    root = _root("local")
    (monitoring,) = [a for a in _walk(root) if a.name == "monitoring"]
    (rule,) = [o for o in monitoring.objects if o["kind"] == "PrometheusRule"]
    argocd = _chart_crds()[("argo-cd", _argocd_version())]
    annotations = rule["metadata"]["annotations"]
    saved = dict(annotations)
    try:
        del annotations[SYNC_OPTIONS]
        assert any("unknown when the sync starts" in p for p in _problems(root, argocd))
        annotations[SYNC_OPTIONS] = SKIP_DRY_RUN
        annotations["argocd.argoproj.io/sync-wave"] = "-10"
        assert any("nothing creates" in p for p in _problems(root, argocd))
    finally:
        annotations.clear()
        annotations.update(saved)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_chart_pins_match_the_schemas_the_rule_reads(env: str) -> None:
    """Each chart whose CRDs the tree needs is pinned at the version its schemas came from."""
    installs = _chart_crds()
    charts = {
        (s["chart"], str(s["targetRevision"]))
        for app in _walk(_root(env))
        for s in app.obj["spec"]["sources"]
        if "chart" in s
    }
    needed = {k for k in installs if k[0] != "argo-cd"}
    assert needed <= charts, f"schemas come from {needed - charts}, not the pinned charts"
    assert one(render(f"monitoring/{env}"), "Application", "kube-prometheus-stack")
