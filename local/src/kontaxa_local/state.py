"""What local-up made, recorded so local-down removes exactly that."""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kontaxa_local.procs import ProcessRecord


@dataclass
class Component:
    """A started component: its process, URL, readiness URL and metrics listener (if any)."""

    process: ProcessRecord
    url: str
    ready_url: str
    metrics_url: str = ""


@dataclass
class State:
    """The runner's record of one environment."""

    runtime: str
    emulator: str = ""
    emulator_url: str = ""
    components: dict[str, Component] = field(default_factory=dict)
    terraform_state: str = ""
    revision: str = ""  # kind: the commit Argo CD syncs (the version commit on the snapshot)
    # What the services report (the ConfigMaps' GIT_SHA and BUILD_TIME); process: the
    # working tree's commit (-dirty with uncommitted changes) and the time of the bring-up.
    git_sha: str = ""
    build_time: str = ""
    reload: bool = False  # process: services restart on code changes (task dev)
    created_paths: list[str] = field(default_factory=list)
    started_at: float = 0.0

    @staticmethod
    def path(state_dir: Path) -> Path:
        """Where the state file lives."""
        return state_dir / "state.json"

    @classmethod
    def load(cls, state_dir: Path) -> "State | None":
        """The recorded state, or None when nothing is up."""
        try:
            raw = json.loads(cls.path(state_dir).read_text())
        except (OSError, ValueError):
            return None
        components = {
            name: Component(
                ProcessRecord(**c["process"]), c["url"], c["ready_url"], c.get("metrics_url", "")
            )
            for name, c in raw.pop("components", {}).items()
        }
        return cls(components=components, **raw)

    def save(self, state_dir: Path) -> None:
        """Write the state atomically."""
        state_dir.mkdir(parents=True, exist_ok=True)
        temporary = self.path(state_dir).with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2))
        temporary.replace(self.path(state_dir))
