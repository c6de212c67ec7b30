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
PROJECT = ("portal", "workspaces", "templates_app", "enterprise", "licensing")
CORE = ("portal", "workspaces", "templates_app")

# The agent runs inside workspaces, vendored into a zipapp: the standard library and these only.
AGENT_THIRD_PARTY = {"websockets", "asyncssh"}
AGENT_DEBT = {
    # `from portal import __version__`: the zipapp ships a one-line portal/__init__.py for it
    # (portal/agent/bundle.py). Issue 11 gives the agent a home with its own version.
    ("portal/agent/agent.py", "portal"),
    ("portal/agent/bundle.py", "portal"),
}

# Django-free helpers of workspaces/templates_app the CLI uses today. Issue 11 moves them to a
# shared Django-free package; until then the CLI may import exactly these.
CLI_SHARED_HELPERS = {
    "templates_app.archive",  # archive checks (`portal templates push`)
    "workspaces.agent_wheels",  # the agent's SSH wheelhouse (`portal agent-wheels`)
    "workspaces.queues",  # queue names for provisioner tags (`portal worker`)
    "workspaces.host_settings",  # this host's build settings (`portal worker`'s sandbox notice)
    "workspaces.provisioner.host",  # the build sandbox notice itself
}
CLI_DEBT: set[tuple[str, str]] = set()

# The code that runs Terraform speaks the job protocol (workspaces/provisioner/protocol.py) and
# nothing else of the server: no Django, models, settings, configuration or key material, so it
# can run in an external provisioner daemon. Besides its own package it may import these
# Django-free modules: archive extraction, the agent's init script, the `portal` provider shim.
PROVISIONER_MAY_IMPORT = (
    "workspaces.provisioner",
    "templates_app.archive",  # extract_archive: a template version's source into the job dir
    "workspaces.agent_scripts",  # the init script the provider hands to agents
    "workspaces.terraform_provider",  # the provider's mirror shim and its reattach launcher
)

# Dependencies point one way: workspaces -> templates_app -> portal.accounts.
LAYERS = {
    "templates_app": ("workspaces",),
    "portal/accounts": ("workspaces", "templates_app"),
    "licensing": ("enterprise",),
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


@cache
def imports(path: Path) -> tuple[tuple[int, str], ...]:
    """(line, module) for every import in the file, relative ones resolved.

    `from a import b` names `a.b` when that is one of our modules, else `a` (and `a.b` for
    others' packages, so `from django import db` is `django.db`).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                if _module_path(sub) is not None or _module_path(module) is None:
                    found.append((node.lineno, sub if alias.name != "*" else module))
                else:
                    found.append((node.lineno, module))
    return tuple(found)


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


def test_agent_imports_only_the_standard_library_websockets_and_asyncssh():
    violations, used = [], set()
    for path in files("portal/agent"):
        for line, module in imports(path):
            top = module.split(".")[0]
            if _under(module, "portal.agent"):
                continue
            if top in sys.stdlib_module_names or top in AGENT_THIRD_PARTY:
                continue
            if (_rel(path), module) in AGENT_DEBT:
                used.add((_rel(path), module))
                continue
            violations.append(f"{_rel(path)}:{line}: imports {module}")
    assert not violations, _report(
        violations, "portal/agent may import the standard library, websockets, asyncssh only"
    )
    assert not _stale(AGENT_DEBT, used), (
        f"no longer needed in AGENT_DEBT: {_stale(AGENT_DEBT, used)}"
    )


def test_cli_imports_no_models_and_only_django_free_helpers_of_the_apps():
    violations, used = [], set()
    for path in files("portal/cli"):
        for line, module in imports(path):
            if _is_orm(module):
                reason = "the ORM or settings"
            elif _under(module, "workspaces", "templates_app") and module not in CLI_SHARED_HELPERS:
                reason = "an app module outside CLI_SHARED_HELPERS"
            else:
                continue
            if (_rel(path), module) in CLI_DEBT:
                used.add((_rel(path), module))
                continue
            violations.append(f"{_rel(path)}:{line}: imports {module} ({reason})")
    assert not violations, _report(violations, "portal/cli must not import models")
    assert not _stale(CLI_DEBT, used), f"no longer needed in CLI_DEBT: {_stale(CLI_DEBT, used)}"


def test_cli_shared_helpers_are_django_free():
    for module in sorted(CLI_SHARED_HELPERS):
        path = _module_path(module)
        assert path is not None, f"{module} is gone: update CLI_SHARED_HELPERS"
        assert not touches_orm(module), f"{module} imports models, django.db or settings"
        django = [
            f"{_rel(path)}:{line}: imports {m}" for line, m in imports(path) if _under(m, "django")
        ]
        assert not django, _report(django, f"{module} must stay Django-free")


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


# The build side: these once imported each other in a circle, hidden by imports inside
# functions. They import project modules at module level only, so a new cycle fails at once.
JOB_MODULES = (
    "workspaces/dispatch.py",
    "workspaces/job_store.py",
    "workspaces/jobs.py",
    "workspaces/provisioning.py",
    "workspaces/services.py",
    "workspaces/tasks.py",
    "workspaces/worker.py",
    "workspaces/provisioner",
)


def _module_level_lines(path: Path) -> set[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {n.lineno for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)}


def test_the_job_modules_import_the_project_at_module_level_only():
    paths = [ROOT / m for m in JOB_MODULES if m.endswith(".py")]
    paths += files(*(m for m in JOB_MODULES if not m.endswith(".py")))
    violations = [
        f"{_rel(path)}:{line}: imports {module} inside a function"
        for path in paths
        for line, module in imports(path)
        if _module_path(module) is not None and line not in _module_level_lines(path)
    ]
    assert not violations, _report(violations, "no import inside a function to dodge a cycle")


def test_no_module_level_import_cycles():
    graph = {}
    for path in files(*PROJECT):
        top = _module_level_lines(path)
        graph[_module_name(path)] = {
            m for line, m in imports(path) if line in top and _module_path(m) is not None
        }
    cycles, index, low, stack, on_stack = [], {}, {}, [], set()

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                on_stack.discard(member)
                component.append(member)
            on_stack.discard(node)
            if component:
                cycles.append(sorted([node, *component]))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not cycles, _report([" <-> ".join(c) for c in cycles], "module-level import cycles")


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
    package = tmp_path / "portal" / "agent"
    package.mkdir(parents=True)
    (tmp_path / "portal" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "y.py").write_text("")
    (package / "x.py").write_text(
        "from . import y, z\ndef f():\n    from django.db import models\n    import celery\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    _module_path.cache_clear()
    imports.cache_clear()
    try:
        found = [m for _, m in imports(package / "x.py")]
    finally:
        _module_path.cache_clear()
        imports.cache_clear()
    assert found == ["portal.agent.y", "portal.agent", "django.db.models", "celery"]
