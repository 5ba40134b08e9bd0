"""The kind runtime: a kind cluster, Argo CD syncing the working tree from an in-cluster git server.

Runs on laptops and in GitHub Actions (not on machines without a Docker engine
and registries); its `--dry-run` plan is what the test suite checks.
"""

import functools
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from kontaxa_local import console, manifests, procs, terraform, version
from kontaxa_local.errors import StepFailed
from kontaxa_local.executor import Executor, run_command
from kontaxa_local.process_runtime import StatusRow, free_port
from kontaxa_local.settings import (
    ARGOCD_BOOTSTRAP,
    ARGOCD_INSTALL,
    GIT_SERVER_DIR,
    IMAGE_TAG,
    KIND_CONFIG,
    REPO_ROOT,
    Settings,
)
from kontaxa_local.state import Component, State

IMAGES = (
    "kontaxa/main-api",
    "kontaxa/aux-service",
    "kontaxa/secrets-provider",
    "kontaxa/git-server",
    "kontaxa/aws-emulator",  # moto from the locked wheels (LocalStack: the upstream image)
)
# Workloads that run a loaded image under the same tag and pod template on every bring-up:
# on a reused cluster their pods keep the image they started with (IfNotPresent), so they
# are restarted after a load. (main-api and aux-service roll by themselves: the build time
# in their ConfigMaps changes. The emulator is not restarted: it holds Terraform's state.)
RESTARTED_AFTER_LOAD = (
    ("kube-system", "daemonset", "kontaxa-secrets-provider"),
    ("git-server", "deployment", "git-server"),
)
# The service account issuer of a kind cluster: what IRSA roles trust locally.
KIND_ISSUER = "https://kubernetes.default.svc.cluster.local"
EMULATOR = ("aws-emulator", "aws-emulator", 4566)  # namespace, service, port
GIT_SERVER = ("git-server", "git-server", 9418)
INGRESS_URL = "http://localhost:8080"
ROOT_APPLICATION = "kontaxa-root"
LOCALSTACK_COMPONENT = "../components/localstack-emulator"
LOCALSTACK_TOKEN_SECRET = "localstack-auth"  # noqa: S105 - a Secret's name


class KindRuntime:
    """Brings the full environment up in kind; every command goes through the executor."""

    name = "kind"

    def __init__(self, settings: Settings, executor: Executor) -> None:
        self.settings = settings
        self.executor = executor
        self.dir = settings.state_dir
        self.context = f"kind-{settings.kind_cluster}"
        self.log = self.dir / "logs/kind.log"
        self.step_seconds: dict[str, float] = {}  # each step of the last up, as it printed

    def kubectl(self, *args: str) -> list[str]:
        """A kubectl command bound to the kind cluster's context."""
        return ["kubectl", "--context", self.context, *args]

    # ---- up ----------------------------------------------------------------------------
    def up(self) -> State | None:
        """Cluster, images, Argo CD, git server, snapshot, root app, Terraform, wait."""
        started = time.monotonic()
        state = State.load(self.dir) or State(runtime=self.name, started_at=time.time())
        self.step_seconds = {}
        timed = functools.partial(console.timed, self.step_seconds)
        try:
            with timed("cluster"):
                self._cluster()
            with timed("images"):
                self._images()
            with timed("argocd"):
                self._argocd()
            with timed("snapshot"):
                revision = self._seed_git(state)
                state.revision = revision
            with timed("bootstrap"):
                self._bootstrap()
            with timed("terraform"):
                self._terraform(state)
            with timed("sync"):
                self._wait_synced(revision)
        finally:
            self._stop_port_forwards(state)
        if not self.executor.dry_run:
            state.save(self.dir)
            console.done(
                f"up in {time.monotonic() - started:.1f}s ({console.listed(self.step_seconds)}): "
                f"main-api at {INGRESS_URL}; status: task local-status"
            )
        return state

    def _cluster(self) -> None:
        console.step(f"kind cluster {self.settings.kind_cluster}")
        exists = False
        if not self.executor.dry_run:
            clusters = run_command("list kind clusters", ["kind", "get", "clusters"]).split()
            exists = self.settings.kind_cluster in clusters
        if exists:
            console.done("exists: reused")
            return
        self.executor.run(
            "create the kind cluster",
            [
                "kind",
                "create",
                "cluster",
                "--name",
                self.settings.kind_cluster,
                "--config",
                str(KIND_CONFIG),
                "--image",
                self.settings.kind_node_image,
                "--wait",
                "180s",
            ],
            log=self.log,
        )

    def _images(self) -> None:
        console.step("build the images and load them into kind")
        tag = IMAGE_TAG
        # scripts/images reads IMAGE_TAG from the environment (a Task variable would not reach
        # it); the dry run shows only these variables, not the whole environment.
        # No provenance attestation in the images: with Docker's containerd image store,
        # buildx adds one by default, and `kind load` (v0.29.0 `ctr images import
        # --all-platforms`) fails on an index whose attestation content is not in the saved
        # archive (kubernetes-sigs/kind#3795; docker buildx BUILDX_NO_DEFAULT_ATTESTATIONS).
        build_env = {"IMAGE_TAG": tag, "BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}
        env = build_env if self.executor.dry_run else {**os.environ, **build_env}
        self.executor.run(
            "build the golden and service images",
            [str(REPO_ROOT / "task"), "images"],
            env=env,
            log=self.log,
            timeout=3600,
        )
        self.executor.run(
            "build the git server image",
            [
                "docker",
                "build",
                "--build-arg",
                f"BASE_IMAGE=kontox-goldenimage:{tag}",
                "--tag",
                f"kontaxa/git-server:{tag}",
                str(GIT_SERVER_DIR),
            ],
            env=env,
            log=self.log,
            timeout=1800,
        )
        self.executor.run(
            "load the images into kind",
            [
                "kind",
                "load",
                "docker-image",
                "--name",
                self.settings.kind_cluster,
                *(f"{image}:{tag}" for image in IMAGES),
            ],
            log=self.log,
            timeout=1800,
        )
        self._restart_on_new_images()

    def _restart_on_new_images(self) -> None:
        """Restart what RESTARTED_AFTER_LOAD names, where it exists (a reused cluster)."""
        if self.executor.dry_run:  # a plan lists no cluster, so nothing exists yet
            return
        for namespace, kind, name in RESTARTED_AFTER_LOAD:
            found = run_command(
                f"look for {kind}/{name}",
                self.kubectl(
                    "-n", namespace, "get", kind, name, "--ignore-not-found", "-o", "name"
                ),
            )
            if found.strip():
                self.executor.run(
                    f"restart {kind}/{name} on the image just loaded",
                    self.kubectl("-n", namespace, "rollout", "restart", f"{kind}/{name}"),
                    log=self.log,
                )

    def _apply_kustomization(self, step: str, path: Path, edit: Any = None) -> None:
        command = self.kubectl("apply", "--server-side", "--force-conflicts")
        if path == ARGOCD_INSTALL:  # names the upstream manifest by URL: kubectl fetches it
            self.executor.run(step, [*command, "-k", str(path)], log=self.log, timeout=600)
            return
        rendered = run_command(f"render {path}", ["kubectl", "kustomize", str(path)])
        if edit is not None:
            objects = [edit(obj) for obj in manifests.load(rendered)]
            rendered = yaml.safe_dump_all(objects, sort_keys=False)
        self.executor.apply(step, rendered, [*command, "-f", "-"])

    def _argocd(self) -> None:
        console.step("install Argo CD (server-side apply: its CRDs are too large otherwise)")
        self._apply_kustomization("install Argo CD", ARGOCD_INSTALL)
        self.executor.run(
            "wait for Argo CD",
            self.kubectl(
                "-n",
                "argocd",
                "rollout",
                "status",
                "deployment/argocd-repo-server",
                "deployment/argocd-server",
                "statefulset/argocd-application-controller",
                "--timeout=600s",
            ),
            log=self.log,
            timeout=700,
        )

    def _seed_git(self, state: State) -> str:
        console.step("start the in-cluster git server and push a snapshot of the working tree")
        self._apply_kustomization("deploy the git server", GIT_SERVER_DIR)
        self.executor.run(
            "wait for the git server",
            self.kubectl(
                "-n",
                GIT_SERVER[0],
                "rollout",
                "status",
                f"deployment/{GIT_SERVER[1]}",
                "--timeout=300s",
            ),
            log=self.log,
            timeout=400,
        )
        snapshot = snapshot_commit(self.executor, self.dir / "snapshot.index")
        # The ConfigMaps say the snapshot; Argo CD syncs its child that writes them so.
        state.git_sha, state.build_time = snapshot, version.rfc3339(time.time())
        revision = version.stamped_commit(
            self.executor,
            snapshot,
            version.Version(state.git_sha, state.build_time),
            self.dir / "version.index",
        )
        port = self._port_forward(state, "git-forward", GIT_SERVER)
        push_snapshot(
            self.executor, REPO_ROOT, revision, f"git://127.0.0.1:{port}/kontaxa.git", self.log
        )
        console.done(f"seeded revision {revision[:12]}")
        return revision

    def _bootstrap(self) -> None:
        console.step("apply the AppProjects and the root Application (app of apps)")
        if self.settings.emulator == "localstack":
            self._localstack_token()
        self._apply_kustomization("bootstrap Argo CD", ARGOCD_BOOTSTRAP, self._select_emulator)

    def _select_emulator(self, obj: manifests.Object) -> manifests.Object:
        """LOCAL_EMULATOR=localstack: the root Application enables the LocalStack component."""
        if (
            self.settings.emulator == "localstack"
            and obj["kind"] == "Application"
            and obj["metadata"]["name"] == ROOT_APPLICATION
        ):
            source = obj["spec"]["sources"][0]
            source.setdefault("kustomize", {}).setdefault("components", []).append(
                LOCALSTACK_COMPONENT
            )
        return obj

    def _localstack_token(self) -> None:
        """LOCALSTACK_AUTH_TOKEN, when set, as the Secret LocalStack's values read (optional)."""
        token = self.settings.localstack_auth_token
        if not token:
            console.note("LocalStack without an auth token: the pinned free image (4.14)")
            return
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": LOCALSTACK_TOKEN_SECRET, "namespace": EMULATOR[0]},
            "stringData": {"LOCALSTACK_AUTH_TOKEN": token},
        }
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": EMULATOR[0]}}
        command = self.kubectl("apply", "--server-side", "-f", "-")
        if self.executor.record(
            "apply", "the LocalStack auth token Secret (value not shown)", command
        ):
            run_command(
                "apply the LocalStack auth token Secret",
                command,
                input_text=yaml.safe_dump_all([namespace, secret]),
            )

    def _terraform(self, state: State) -> None:
        console.step("apply the Terraform local root to the in-cluster emulator")
        namespace, service, _ = EMULATOR
        # Argo CD creates the emulator (the platform Application): kubectl's wait polls only
        # --for=create; any other condition on a missing object fails at once (NotFound).
        for step, condition, seconds in (
            ("wait until Argo CD created the emulator Deployment", "create", 900),
            ("wait for the emulator Deployment", "condition=Available", 600),
        ):
            self.executor.run(
                step,
                self.kubectl(
                    "-n",
                    namespace,
                    "wait",
                    f"--for={condition}",
                    f"deployment/{service}",
                    f"--timeout={seconds}s",
                ),
                log=self.log,
                timeout=seconds + 60,
            )
        port = self._port_forward(state, "emulator-forward", EMULATOR)
        extra = {"create_eks": "false", "cluster_oidc_issuer_url": KIND_ISSUER}
        if self.settings.emulator == "localstack":
            extra["create_ecr_repositories"] = "false"
        terraform.apply(
            self.executor,
            self.settings,
            f"http://127.0.0.1:{port}",
            extra,
            self.dir / "logs/terraform.log",
        )

    def _wait_synced(self, revision: str) -> None:
        console.step("wait until every Argo CD Application is Synced and Healthy")
        self.executor.wait(
            f"Applications Synced and Healthy at {revision[:12]}",
            lambda: (
                all(a.synced_at(revision) for a in self.applications())
                and bool(self.applications())
            ),
            timeout=1200,
            interval=5,
            on_timeout=lambda: StepFailed(
                "wait for Argo CD",
                "not all Applications are Synced "
                "and Healthy: " + "; ".join(str(a) for a in self.applications()),
            ),
        )

    # ---- helpers -------------------------------------------------------------------------
    def _port_forward(self, state: State, name: str, target: tuple[str, str, int]) -> int:
        namespace, service, remote = target
        port = 0 if self.executor.dry_run else free_port()
        command = self.kubectl(
            "-n",
            namespace,
            "port-forward",
            f"service/{service}",
            f"{port or '<free port>'}:{remote}",
            "--address",
            "127.0.0.1",
        )
        if self.executor.record("spawn", f"port-forward to {service}", command):
            record = procs.spawn(
                name, command, _host_env(), self.dir / f"logs/{name}.log", self.dir
            )
            state.components[name] = Component(record, f"http://127.0.0.1:{port}", "")
            state.save(self.dir)
            _wait_port(port, name, record)
        return port

    def _stop_port_forwards(self, state: State) -> None:
        for name in [n for n in state.components if n.endswith("-forward")]:
            procs.stop(state.components.pop(name).process, grace=2)

    def applications(self) -> list["Application"]:
        """Every Argo CD Application with its sync and health."""
        try:
            text = run_command(
                "list Applications",
                self.kubectl("-n", "argocd", "get", "applications.argoproj.io", "-o", "json"),
                timeout=60,
            )
        except StepFailed:
            return []
        return [Application.from_object(item) for item in json.loads(text).get("items", [])]

    # ---- down, status, logs ------------------------------------------------------------
    def down(self) -> None:
        """Delete the cluster and what the runner recorded."""
        state = State.load(self.dir)
        if state is not None:
            self._stop_port_forwards(state)
        self.executor.run(
            "delete the kind cluster",
            ["kind", "delete", "cluster", "--name", self.settings.kind_cluster],
        )
        if not self.executor.dry_run:
            shutil.rmtree(self.dir, ignore_errors=True)

    def status(self) -> list[StatusRow]:
        """The cluster and each Application's sync and health."""
        rows = [
            StatusRow(
                f"application/{a.name}", f"{a.sync}/{a.health}", "", f"revision {a.revision[:12]}"
            )
            for a in self.applications()
        ]
        if rows:
            rows.insert(
                0,
                StatusRow("main-api (ingress)", "routed", INGRESS_URL, "Ingress host: localhost"),
            )
        return rows

    def log_files(self) -> dict[str, Path]:
        """The runner's own logs (pod logs: kubectl logs)."""
        return {path.stem: path for path in sorted((self.dir / "logs").glob("*.log"))}

    def remount_secrets(self) -> None:
        """In kind the CSI driver rotates mounts itself (rotation poll interval)."""
        console.note("kind: the Secrets Store CSI driver remounts on its rotation interval")


class Application:
    """An Argo CD Application's status."""

    def __init__(self, name: str, sync: str, health: str, revision: str) -> None:
        self.name, self.sync, self.health, self.revision = name, sync, health, revision

    @classmethod
    def from_object(cls, item: manifests.Object) -> "Application":
        """From `kubectl get applications -o json`."""
        status = item.get("status", {})
        sync = status.get("sync", {})
        revision = sync.get("revision") or ",".join(sync.get("revisions", []))
        return cls(
            item["metadata"]["name"],
            sync.get("status", "Unknown"),
            status.get("health", {}).get("status", "Unknown"),
            revision,
        )

    def synced_at(self, revision: str) -> bool:
        """Synced and Healthy; at `revision` when the app's source is our git repository."""
        ours = [r for r in self.revision.split(",") if re.fullmatch(r"[0-9a-f]{40}", r)]
        at_revision = not ours or revision in ours  # Helm-only sources report a chart version
        return self.sync == "Synced" and self.health == "Healthy" and at_revision

    def __str__(self) -> str:
        return f"{self.name} {self.sync}/{self.health}"


def snapshot_commit(executor: Executor, index: Path, repo: Path = REPO_ROOT) -> str:
    """A commit of the working tree as it is on disk (uncommitted changes included).

    The commit has no parent: a clone made with `actions/checkout` (depth 1) lacks HEAD's
    history, and git's receive-pack refuses a push that would need new shallow roots
    (`receive.shallowUpdate` is off by default; see local/tests/test_snapshot_push.py).
    HEAD's id goes into the message instead, so the snapshot still says what it came from.
    """
    env = version.git_env(index)
    git = ["git", "-C", str(repo)]
    if executor.dry_run:
        executor.record(
            "run",
            "snapshot the working tree (temporary index, HEAD untouched)",
            [*git, "add", "--all"],
            env,
        )
        executor.record(
            "run",
            "write the snapshot commit (no parent: pushable from a shallow clone)",
            [*git, "commit-tree", "<tree>", "-m", "local snapshot of <HEAD>"],
        )
        return "<snapshot>"
    tree = working_tree_id(index, repo)
    head = version.head_commit(repo)
    message = f"{_SNAPSHOT_OF} {head or 'an unborn HEAD'} at {version.rfc3339(time.time())}"
    commit = version.commit_tree("write the snapshot commit", repo, tree, "", message, env)
    executor.record("run", "snapshot commit", [*git, "commit-tree", tree], manifest=commit)
    return commit


_SNAPSHOT_OF = "local snapshot of"


def working_tree_id(index: Path, repo: Path = REPO_ROOT) -> str:
    """The id of the working tree as it is on disk (uncommitted and untracked files, not the
    ignored ones), written through the temporary `index`: HEAD and the real index untouched."""
    env = version.git_env(index)
    git = ["git", "-C", str(repo)]
    index.parent.mkdir(parents=True, exist_ok=True)
    index.unlink(missing_ok=True)
    run_command("snapshot the working tree", [*git, "add", "--all"], env=env)
    return run_command("write the tree", [*git, "write-tree"], env=env).strip()


def snapshot_mismatch(snapshot: str, index: Path, repo: Path = REPO_ROOT) -> str | None:
    """Why `snapshot` is not a snapshot of this checkout as it is now (its tree is another,
    or its message names another HEAD), or None when it is: what the kind e2e checks Argo CD
    synced, against the checkout rather than the cluster's own word."""
    git = ["git", "-C", str(repo)]
    tree = run_command("read the snapshot's tree", [*git, "rev-parse", f"{snapshot}^{{tree}}"])
    if tree.strip() != working_tree_id(index, repo):
        return f"{snapshot} holds another tree than this checkout's working tree"
    message = run_command(
        "read the snapshot's message", [*git, "log", "-1", "--format=%B", snapshot]
    )
    head = version.head_commit(repo) or "an unborn HEAD"
    if not message.startswith(f"{_SNAPSHOT_OF} {head} "):
        return f"{snapshot} is not a snapshot of HEAD {head}: {message.strip()!r}"
    return None


def push_snapshot(executor: Executor, repo: Path, revision: str, url: str, log: Path) -> None:
    """Force-push the snapshot commit to the git server's `main`."""
    executor.run(
        "push the snapshot",
        ["git", "-C", str(repo), "push", "--force", url, f"{revision}:refs/heads/main"],
        log=log,
    )


def _host_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "KUBECONFIG"}}


def _wait_port(port: int, name: str, record: procs.ProcessRecord) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if not record.alive():
            break
        time.sleep(0.2)
    raise StepFailed(
        f"start {name}",
        "kubectl port-forward did not listen",
        record.command,
        Path(record.log),
        procs.tail(record.log),
    )
