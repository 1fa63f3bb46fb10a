"""Derive the committed reference facts from the official files in ``../shared/reference``.

The contract tests check the sandbox against these facts, so they must run on a clone that has nothing
beside it. ``make reference`` rewrites them; ``test_reference.py`` checks, when the official files are
there, that the committed copies are exactly what this script derives from them.

- ``pipedrive_operations.json``: per spec (v2 at ``/api/v2``, v1 at ``/v1`` and, for OAuth, at the root),
  every path template, and the response schemas (``$ref``s inlined) of each operation the sandbox serves.
- ``workday_v30_digests.json``: a SHA-256 of each v30.0 schema component that the sandbox's shared types
  file also defines, over canonical XML without prose, so "identical to v30.0" can be checked without it.
- ``ml_connector/pipedrive_token_costs.csv``: the token cost of each operation the product and the
  sandbox use (the rows the file already lists), from the specs' ``x-token-cost`` table.

Usage: ``python tests/reference/derive.py [REFERENCE_DIR] [--check]``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference"
OPERATIONS = HERE / "pipedrive_operations.json"
DIGESTS = HERE / "workday_v30_digests.json"
TOKEN_COSTS = ROOT / "ml_connector" / "pipedrive_token_costs.csv"
V30 = Path("workday") / "Financial_Management_v30.0.wsdl"
# (server prefix, spec file): the OAuth server is its own host; the v1 file holds it at the root.
SPECS = (
    ("/api/v2", Path("pipedrive") / "openapi-v2.yaml"),
    ("/v1", Path("pipedrive") / "openapi-v1.yaml"),
    ("", Path("pipedrive") / "openapi-v1.yaml"),
)
XS = "http://www.w3.org/2001/XMLSchema"
NS = {"xsd": XS, "wd": "urn:com.workday/bsvc"}


# -- shared with the tests ----------------------------------------------------------------------------
def template_pattern(template: str) -> re.Pattern[str]:
    """``/organizations/{id}`` as a regex matching one concrete path segment per placeholder."""
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


def match_template(templates: list[str], path: str) -> str | None:
    """The spec template a concrete path belongs to; a literal template wins over a placeholder one."""
    found = [t for t in templates if template_pattern(t).match(path)]
    exact = [t for t in found if "{" not in t]
    return (exact or found or [None])[0]


def normalise_component(el: etree._Element) -> bytes:
    """Canonical XML of a schema component without its prose (documentation and validation texts)."""
    el = etree.fromstring(etree.tostring(el), etree.XMLParser(remove_blank_text=True))
    for prose in el.xpath(".//xsd:documentation | .//wd:Validation", namespaces=NS):
        prose.getparent().remove(prose)
    for tag in ("appinfo", "annotation"):
        for node in el.xpath(f".//xsd:{tag}", namespaces=NS):
            if len(node) == 0 and not node.attrib:
                node.getparent().remove(node)
    return etree.tostring(el, method="c14n", exclusive=True)


def component_key(el: etree._Element) -> str:
    return f"{etree.QName(el).localname}:{el.get('name', '')}"


def components(root: etree._Element) -> Iterator[etree._Element]:
    yield from (c for c in root if isinstance(c.tag, str))


# -- Pipedrive ----------------------------------------------------------------------------------------
def _resolve(doc: dict[str, Any], node: Any) -> Any:
    """Inline local ``$ref``s (``#/components/...``)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return _resolve(doc, target)
        return {k: _resolve(doc, v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(doc, v) for v in node]
    return node


def _served_routes() -> list[tuple[str, str]]:
    """``(method, path)`` of every API route of the Pipedrive sandbox (its control plane left out)."""
    sys.path.insert(0, str(ROOT))
    from ml_connector.sandbox.config import SandboxConfig
    from ml_connector.sandbox.pipedrive.app import build_pipedrive_app

    app = build_pipedrive_app(SandboxConfig(customers=0, suppliers=0))
    routes = []
    for route in app.routes:
        path = str(getattr(route, "path", ""))
        if path.startswith("/_sandbox"):
            continue
        routes += [(m, path) for m in sorted(getattr(route, "methods", ()) or ()) if m != "HEAD"]
    return routes


def pipedrive_operations(reference: Path) -> dict[str, Any]:
    docs: dict[Path, dict[str, Any]] = {}
    for _, file in SPECS:
        if file not in docs:
            with (reference / file).open(encoding="utf-8") as fh:
                docs[file] = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    out: dict[str, Any] = {}
    routes = _served_routes()
    for prefix, file in SPECS:
        doc = docs[file]
        templates = sorted(doc["paths"])
        operations: dict[str, Any] = {}
        for method, path in routes:
            # the prefix owning a path is the longest one it starts with
            owner = max((p for p, _ in SPECS if path.startswith(p)), key=len)
            if owner != prefix:
                continue
            concrete = re.sub(r"\{[^}]+\}", "1", path[len(prefix) :])
            template = match_template(templates, concrete)
            op = doc["paths"][template].get(method.lower()) if template else None
            if op is None:
                raise SystemExit(f"{file} has no operation for the sandbox route {method} {path}")
            responses = {}
            for status, response in op["responses"].items():
                content = (_resolve(doc, response).get("content") or {}).get("application/json")
                responses[status] = _resolve(doc, content["schema"]) if content else None
            operations[f"{method} {template}"] = responses
        out[prefix] = {"source": str(file), "templates": templates, "operations": operations}
    return out


def token_costs(reference: Path) -> str:
    with (reference / "pipedrive" / "token-costs.csv").open(encoding="utf-8") as fh:
        official = {(r["method"], r["path"]): r["x_token_cost"] for r in csv.DictReader(fh)}
    with TOKEN_COSTS.open(encoding="utf-8") as fh:
        used = [(r["method"], r["path"]) for r in csv.DictReader(fh)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["method", "path", "cost"])
    for method, path in used:
        # the table lists the OAuth server's routes under /v1, the spec file they come from
        cost = official.get((method, path)) or official.get((method, f"/v1{path}"))
        if cost is None:
            raise SystemExit(f"{method} {path} is not in the official token-cost table")
        writer.writerow([method, path, cost])
    return buffer.getvalue()


# -- Workday -----------------------------------------------------------------------------------------
def workday_digests(reference: Path) -> dict[str, str]:
    from ml_connector.sandbox.workday import wsdl

    parser = etree.XMLParser(huge_tree=True, remove_blank_text=True)
    schema = etree.parse(str(reference / V30), parser).find(f".//{{{XS}}}schema")
    assert schema is not None
    real = {component_key(c): c for c in components(schema)}
    ours = {component_key(c) for c in components(etree.parse(str(wsdl.TYPES_FILE)).getroot())}
    return {
        key: hashlib.sha256(normalise_component(real[key])).hexdigest() for key in sorted(ours & set(real))
    }


# -- the command ---------------------------------------------------------------------------------------
def derived(reference: Path) -> dict[Path, str]:
    """Every derived file and its exact content."""
    return {
        OPERATIONS: json.dumps(pipedrive_operations(reference), indent=1, sort_keys=True) + "\n",
        DIGESTS: json.dumps(workday_digests(reference), indent=1, sort_keys=True) + "\n",
        TOKEN_COSTS: token_costs(reference),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference", nargs="?", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on any difference")
    args = parser.parse_args(argv)
    if not (args.reference / SPECS[0][1]).is_file():
        print(f"no reference material at {args.reference}", file=sys.stderr)
        return 2
    stale = []
    for path, text in derived(args.reference).items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path.relative_to(ROOT))
        if not args.check:
            path.write_text(text, encoding="utf-8")
    verb = "differ from what the reference gives" if args.check else "rewritten"
    print(f"{len(stale)} file(s) {verb}: {', '.join(map(str, stale)) or 'none'}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
