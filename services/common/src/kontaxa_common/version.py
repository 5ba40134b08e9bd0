"""Version metadata: the `meta` object of every JSON body and the version headers."""

import re
from dataclasses import dataclass, field

# What a peer may announce as its version: a SemVer-like token, short. Anything else (a
# huge or odd header from a broken or hostile upstream) is recorded as UNKNOWN_VERSION,
# never echoed on our responses.
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}")
UNKNOWN_VERSION = "unknown"


def _snake(service: str) -> str:
    return service.replace("-", "_")


def version_header(service: str) -> str:
    """`main-api` -> `X-Main-Api-Version`."""
    return "X-" + "-".join(part.capitalize() for part in service.split("-")) + "-Version"


@dataclass
class VersionMetadata:
    """This service's version, git SHA and build time, plus peer versions learnt at run time.

    Peers (main-api's aux-service) start unknown and are updated from the version
    header of each upstream response.
    """

    service: str
    version: str
    git_sha: str
    build_time: str
    peers: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._own_header = (version_header(self.service).lower().encode(), self.version.encode())
        self._peer_headers = {peer: version_header(peer) for peer in self.peers}

    def peer_header_name(self, peer: str) -> str:
        """Header through which `peer` announces its version."""
        return self._peer_headers[peer]

    def learn(self, peer: str, version: str | None) -> None:
        """Record the version a peer announced (ignored when absent; "unknown" when invalid)."""
        if version:
            valid = _VERSION.fullmatch(version) is not None
            self.peers[peer] = version if valid else UNKNOWN_VERSION

    def meta(self) -> dict[str, str | None]:
        """The `meta` object: own and peer versions, git SHA and build time."""
        meta: dict[str, str | None] = {f"{_snake(self.service)}_version": self.version}
        for peer, version in self.peers.items():
            meta[f"{_snake(peer)}_version"] = version
        meta["git_sha"] = self.git_sha
        meta["build_time"] = self.build_time
        return meta

    def header_items(self) -> list[tuple[bytes, bytes]]:
        """Raw ASGI header pairs: own version always, peers when known."""
        items = [self._own_header]
        for peer, version in self.peers.items():
            if version:
                items.append((self._peer_headers[peer].lower().encode(), version.encode()))
        return items
