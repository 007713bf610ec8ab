"""The domain rules stay free of HTTP (DESIGN §6): a rule raises a domain error and the API maps it (routes raise
no HTTP error of their own), so the
same rule serves a route, a job or a benchmark alike."""

from __future__ import annotations

import ast
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "controlplane" / "domain"
FORBIDDEN = ("fastapi", "starlette", "controlplane.api")


def _imported(source: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_domain_imports_nothing_of_http() -> None:
    modules = sorted(DOMAIN.rglob("*.py"))
    assert modules, f"no modules under {DOMAIN}"
    offending = {
        f"{module.relative_to(DOMAIN)}: {name}"
        for module in modules
        for name in _imported(module)
        if any(name == prefix or name.startswith(f"{prefix}.") for prefix in FORBIDDEN)
    }
    assert not offending, sorted(offending)


def test_routes_raise_domain_errors_not_http_ones() -> None:
    routes = sorted((DOMAIN.parent / "api" / "routes").rglob("*.py"))
    assert routes
    offending = {
        f"{module.name}: {name}"
        for module in routes
        for name in _imported(module)
        if name.startswith(("controlplane.api.errors", "fastapi.HTTPException"))
    }
    assert not offending, sorted(offending)
