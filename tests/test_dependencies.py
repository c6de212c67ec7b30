"""Which package may import which (docs/architecture.md), checked statically over every module.

Every `import` counts, at module level or inside a function. A rule broken by today's code is
listed in an allow-list below, with why: the debt stays visible, and an entry that is no longer
needed fails too, so the lists only shrink.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = (
    "portal",
    "portal_agent",
    "portal_cli",
    "portal_shared",
    "portal_provisionerd",
    "workspaces",
    "templates_app",
    "enterprise",
    "licensing",
)
CORE = ("portal", "workspaces", "templates_app")
DJANGO_APPS = ("portal", "workspaces", "templates_app", "enterprise", "licensing")

# The agent runs inside workspaces, vendored into a zipapp (workspaces/distribution/bundle.py)
# with portal_shared/version.py beside it: the standard library, these and that only.
# uvloop: optional, used when importable (portal_agent/loop.py); the bundle runs without it.
AGENT_THIRD_PARTY = {"websockets", "asyncssh", "uvloop"}
AGENT_SHARED = {"portal_shared.version", "portal_shared.dotfiles"}

# What the build pipeline's Django-free half may import besides the standard library.
SHARED_THIRD_PARTY: set[str] = set()

# The code that runs Terraform speaks the job protocol (workspaces/provisioner/protocol.py) and
# nothing else of the server: no Django, models, settings, configuration or key material, so it
# can run in an external provisioner daemon. Besides its own package it may import these
# Django-free modules: archive extraction, the agent's init script, the `portal` provider shim.
PROVISIONER_MAY_IMPORT = (
    "workspaces.provisioner",
    "portal_shared.archive",  # extract_archive: a template version's source into the job dir
    "workspaces.distribution.agent_scripts",  # the init script the provider hands to agents
    "workspaces.terraform_provider",  # the provider's mirror shim and its reattach launcher
)

# The external provisioner daemon (`portal provisionerd`) holds no database, Redis or broker
# settings and reaches Portal over HTTPS only: the runner's modules, the wire format, and these.
PROVISIONERD_THIRD_PARTY = {"httpx", "click", "websockets"}
PROVISIONERD_MAY_IMPORT = (*PROVISIONER_MAY_IMPORT, "portal_provisionerd", "portal_shared")

# Dependencies point one way: workspaces -> templates_app -> portal.accounts.
LAYERS = {
    "templates_app": ("workspaces",),
    "portal/accounts": ("workspaces", "templates_app"),
    # Core's notifications: apps call notify(); it never reaches back into them.
    "portal/notifications": ("workspaces", "templates_app", "enterprise"),
    "licensing": ("enterprise",),
}

# Function-level imports that dodge an import cycle (the imported module imports this one back
# at module level). Each is debt, to be paid by moving code to where dependencies point one way.
CYCLE_DODGES: set[tuple[str, str]] = {
    # the system actor is made by the accounts service the models' manager calls
    ("portal/accounts/models.py", "portal.accounts.services"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _module_path(name: str) -> Path | None:
    """The project file of module `name`, or None when it is not one of ours."""
    if name.split(".")[0] not in PROJECT:
        return None
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _resolve(node: ast.ImportFrom | ast.Import, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        module = ".".join([*base, *([node.module] if node.module else [])])
    else:
        module = node.module or ""
    found = []
    for alias in node.names:
        sub = f"{module}.{alias.name}"
        if _module_path(sub) is not None or _module_path(module) is None:
            found.append(sub if alias.name != "*" else module)
        else:
            found.append(module)
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@cache
def import_sites(path: Path) -> tuple[tuple[int, str, bool | None], ...]:
    """(line, module, when) for every import in the file, relative ones resolved: when is True
    for an import that runs at import time, False inside a function, None for type checkers only
    (under `if TYPE_CHECKING:`).

    `from a import b` names `a.b` when that is one of our modules, else `a` (and `a.b` for
    others' packages, so `from django import db` is `django.db`).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, at_import: bool | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.extend((child.lineno, m, at_import) for m in _resolve(child, package))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, False if at_import is not None else None)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                visit(child, None)
            else:
                visit(child, at_import)

    visit(tree, True)
    return tuple(sorted(found))


def imports(path: Path) -> tuple[tuple[int, str], ...]:
    """(line, module) for every import in the file, at module level or inside a function."""
    return tuple((line, module) for line, module, _ in import_sites(path))


def files(*folders: str) -> list[Path]:
    return sorted(
        p
        for folder in folders
        for p in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in p.parts
    )


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _under(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _is_orm(module: str) -> bool:
    return (
        _under(module, "django.db", "portal.settings")
        or "models" in module.split(".")[1:]
        or module == "models"
    )


def touches_orm(module: str) -> bool:
    """Whether importing our module `module` imports models, django.db or settings, at any depth."""
    todo, seen = [module], set()
    while todo:
        name = todo.pop()
        path = _module_path(name)
        if path is None or name in seen:
            continue
        seen.add(name)
        for _, target in imports(path):
            if _is_orm(target):
                return True
            parts = target.split(".")  # importing a.b.c runs a/__init__ and a/b/__init__ too
            todo.extend(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return False


def _report(violations: list[str], rule: str) -> str:
    return f"{rule}:\n" + "\n".join(f"  {v}" for v in violations)


def _stale(debt: set, used: set) -> list:
    return sorted(debt - used)


def _third_party(module: str) -> bool:
    return _module_path(module) is None and module.split(".")[0] not in PROJECT


def test_agent_imports_only_the_standard_library_websockets_and_asyncssh():
    violations = [
        f"{_rel(path)}:{line}: imports {module}"
        for path in files("portal_agent")
        for line, module in imports(path)
        if not (
            _under(module, "portal_agent", *AGENT_SHARED)
            or module.split(".")[0] in sys.stdlib_module_names
            or module.split(".")[0] in AGENT_THIRD_PARTY
        )
    ]
    assert not violations, _report(
        violations,
        "portal_agent may import the standard library, websockets, asyncssh, uvloop (optional) "
        "and portal_shared.version and .dotfiles only",
    )


def test_cli_imports_no_django_and_none_of_the_server():
    """The CLI runs on laptops: Django-free code only (its own, portal_shared, the agent's
    stream framing). The server's commands reach it as entry points, never by import."""
    violations = [
        f"{_rel(path)}:{line}: imports {module}"
        for path in files("portal_cli")
        for line, module in imports(path)
        if _under(
            module,
            "django",
            "rest_framework",
            "channels",
            "celery",
            "portal_provisionerd",
            *DJANGO_APPS,
        )
        or _is_orm(module)
    ]
    assert not violations, _report(violations, "portal_cli must not import Django or the server")


def test_shared_package_is_standard_library_only():
    violations = [
        f"{_rel(path)}:{line}: imports {module}"
        for path in files("portal_shared")
        for line, module in imports(path)
        if not (
            _under(module, "portal_shared")
            or module.split(".")[0] in sys.stdlib_module_names
            or module.split(".")[0] in SHARED_THIRD_PARTY
        )
    ]
    assert not violations, _report(violations, "portal_shared imports the standard library only")


def test_the_server_imports_the_agent_and_cli_only_to_ship_or_run_them():
    """The Django project and its apps do not reuse the agent's or the CLI's code: the one
    `python -m portal` entry point runs the CLI, and distribution packages the agent."""
    allowed = {
        ("portal/__main__.py", "portal_cli.main"),
        ("workspaces/distribution/bundle.py", "portal_agent"),
    }
    violations = [
        f"{_rel(path)}:{line}: imports {module}"
        for path in files(*DJANGO_APPS)
        for line, module in imports(path)
        if _under(module, "portal_cli", "portal_agent", "portal_provisionerd")
        and (_rel(path), module) not in allowed
    ]
    assert not violations, _report(violations, "the server importing portal_agent or portal_cli")


def test_the_provisioner_imports_no_django_config_keys_or_models():
    violations = []
    for path in files("workspaces/provisioner"):
        for line, module in imports(path):
            top = module.split(".")[0]
            if top not in PROJECT and top != "django":
                continue  # the standard library and other third-party packages
            if _under(module, *PROVISIONER_MAY_IMPORT) and not touches_orm(module):
                continue
            violations.append(f"{_rel(path)}:{line}: imports {module}")
    assert not violations, _report(
        violations, f"workspaces/provisioner may import {', '.join(PROVISIONER_MAY_IMPORT)} only"
    )


def test_the_provisioner_daemon_imports_the_runner_and_an_http_client_only():
    violations = []
    for path in files("portal_provisionerd"):
        for line, module in imports(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in PROVISIONERD_THIRD_PARTY:
                continue
            if _under(module, *PROVISIONERD_MAY_IMPORT) and not touches_orm(module):
                continue
            violations.append(f"{_rel(path)}:{line}: imports {module}")
    assert not violations, _report(
        violations, "portal_provisionerd: the runner, portal_shared, httpx and click only"
    )


def test_core_never_imports_enterprise_or_licensing():
    violations = [
        f"{_rel(path)}:{line}: imports {module}"
        for path in files(*CORE)
        for line, module in imports(path)
        if _under(module, "enterprise", "licensing")
    ]
    assert not violations, _report(violations, "core (portal, workspaces, templates_app)")


def test_dependencies_point_one_way():
    violations = [
        f"{_rel(path)}:{line}: imports {module}"
        for folder, forbidden in LAYERS.items()
        for path in files(folder)
        for line, module in imports(path)
        if _under(module, *forbidden)
    ]
    assert not violations, _report(
        violations, "workspaces -> templates_app -> portal.accounts; enterprise -> licensing"
    )


def test_the_checker_sees_function_level_and_relative_imports(tmp_path, monkeypatch):
    package = tmp_path / "portal_agent"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "y.py").write_text("")
    (package / "x.py").write_text(
        "from typing import TYPE_CHECKING\nfrom . import y, z\nif TYPE_CHECKING:\n"
        "    import portal\ndef f():\n    from django.db import models\n    import celery\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    _module_path.cache_clear()
    import_sites.cache_clear()
    try:
        found = import_sites(package / "x.py")
    finally:
        _module_path.cache_clear()
        import_sites.cache_clear()
    assert found == (
        (1, "typing.TYPE_CHECKING", True),
        (2, "portal_agent", True),
        (2, "portal_agent.y", True),
        (4, "portal", None),
        (6, "django.db.models", False),
        (7, "celery", False),
    )


def _project_module(name: str) -> str | None:
    """The project module that importing `name` lands in (a.b.func -> a.b), or None."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        if _module_path(".".join(parts[:i])) is not None:
            return ".".join(parts[:i])
    return None


@cache
def _import_time_graph() -> dict[str, set[str]]:
    """module -> the project modules importing it runs (parent packages included)."""
    graph: dict[str, set[str]] = {}
    for path in files(*PROJECT):
        if "migrations" in path.parts:
            continue
        edges = graph.setdefault(_module_name(path), set())
        for _, name, at_import in import_sites(path):
            target = _project_module(name) if at_import else None
            if target:
                parts = target.split(".")
                edges.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        edges.discard(_module_name(path))
    return graph


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    todo, seen = [start], set()
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return False


def test_no_import_cycles_at_module_level():
    graph = _import_time_graph()
    cycles = sorted(
        f"{module} -> {target} -> ... -> {module}"
        for module, targets in graph.items()
        for target in targets
        # a package's __init__ importing its own submodules is how packages work, not a cycle
        if not target.startswith(module + ".")
        and _reaches(graph, target, module)
        and not module.startswith(target + ".")
    )
    assert not cycles, _report(cycles, "modules that import each other at import time")


def test_no_import_inside_a_function_to_dodge_a_cycle():
    """A function-level import of a module that imports this one back at import time hides a
    cycle: the code is in the wrong place. (Lazy imports for start-up speed are fine.)"""
    graph = _import_time_graph()
    dodges, used = [], set()
    for path in files(*PROJECT):
        module = _module_name(path)
        for line, name, at_import in import_sites(path):
            target = _project_module(name)
            if at_import is not False or not target or target == module:
                continue
            if not _reaches(graph, target, module):
                continue
            if (_rel(path), target) in CYCLE_DODGES:
                used.add((_rel(path), target))
                continue
            dodges.append(f"{_rel(path)}:{line}: imports {target}, which imports it back")
    assert not dodges, _report(dodges, "imports inside functions that dodge a cycle")
    assert not _stale(CYCLE_DODGES, used), f"paid off: {_stale(CYCLE_DODGES, used)}"
