"""Reduce an upstream CustomResourceDefinition to the schema file the manifest tests validate with.

Usage (from the repository root, with the CRD at the pinned version on stdin or as a path):

    uv run python infra/k8s/schemas/reduce_crd.py CRD.yaml \\
        --repository argoproj/argo-cd --path manifests/crds/application-crd.yaml \\
        --ref v3.4.7 --commit <sha> > infra/k8s/schemas/argoproj.io/application.json

What is dropped and why: every `description` (documentation, most of the size) and the
top-level `status` (written by controllers, never by these manifests, so an object that
carries one is rejected). Everything validation reads stays: types, properties, required,
enums, patterns, formats, bounds and the `x-kubernetes-*` markers.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml


def strip_descriptions(node: Any) -> Any:
    """A copy of `node` without `description` keys of schema objects."""
    if isinstance(node, dict):
        return {
            key: strip_descriptions(value)
            for key, value in node.items()
            # A *property* called "description" is kept: only the keyword goes.
            if not (key == "description" and isinstance(value, str))
        }
    if isinstance(node, list):
        return [strip_descriptions(item) for item in node]
    return node


def reduce_crd(crd: dict[str, Any], source: dict[str, str]) -> dict[str, Any]:
    """The reduced schema document of every served version of one CRD."""
    if crd.get("kind") != "CustomResourceDefinition":
        raise SystemExit(f"not a CustomResourceDefinition: kind={crd.get('kind')!r}")
    spec = crd["spec"]
    versions = {}
    for version in spec["versions"]:
        if not version.get("served", False):
            continue
        schema = strip_descriptions(version["schema"]["openAPIV3Schema"])
        schema.get("properties", {}).pop("status", None)
        versions[version["name"]] = schema
    return {
        "source": source,
        "reduction": "descriptions and top-level status removed",
        "group": spec["group"],
        "kind": spec["names"]["kind"],
        "scope": spec["scope"],
        "versions": versions,
    }


def main() -> None:
    """Read a CRD, write the reduced schema document as JSON on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crd", help="CRD YAML file, or - for stdin")
    parser.add_argument("--repository", required=True, help="upstream owner/name")
    parser.add_argument("--path", required=True, help="path of the CRD in that repository")
    parser.add_argument("--ref", required=True, help="the pinned tag")
    parser.add_argument("--commit", required=True, help="the commit the tag points at")
    args = parser.parse_args()
    text = sys.stdin.read() if args.crd == "-" else Path(args.crd).read_text()
    documents = [doc for doc in yaml.safe_load_all(text) if doc]
    if len(documents) != 1:
        raise SystemExit(f"expected one CRD, found {len(documents)} documents")
    source = {
        "repository": args.repository,
        "path": args.path,
        "ref": args.ref,
        "commit": args.commit,
    }
    json.dump(reduce_crd(documents[0], source), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
