"""Rules the suite itself keeps, so it passes the same on a loaded 2-core machine as on a quiet one."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import settings


def test_hypothesis_has_no_deadline() -> None:
    assert settings.default.deadline is None


def test_no_test_sets_a_hypothesis_deadline() -> None:
    found = [p.name for p in Path(__file__).parent.rglob("test_*.py")
             if re.search(r"deadline\s*=\s*(?!None)", p.read_text(encoding="utf-8"))
             and p.name != Path(__file__).name]
    assert found == []


def test_adapters_and_the_loader_parts_below_them_never_import_the_loader() -> None:
    """The loader imports the adapter registry; an adapter (or a part the adapters use) importing the loader
    back made an 11-file import cycle. Adapters reach the loader's parts (`types`, `probe`, `select`) only."""
    import ast

    load = Path(__file__).resolve().parents[1] / "rollctl" / "load"
    below = [*sorted((load / "adapters").glob("*.py")),
             *(load / f"{name}.py" for name in ("types", "probe", "select", "validate", "expressions", "files"))]
    offenders = []
    for path in below:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                       else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.name} imports {m}" for m in modules
                          if m in ("rollctl.load.loader", "rollctl.load")]
    assert offenders == []


def test_the_cli_starts_without_duckdb_or_the_loader() -> None:
    """`rollctl --help` and every command's argument checks run before DuckDB, the loader and the adapters are
    imported (they were 0.45 s of a 0.6 s start): a command imports them when it has work for them."""
    import subprocess
    import sys

    probe = ("import sys, rollctl.cli; "
             "print(sorted(m for m in ('duckdb', 'rollctl.load.loader', 'rollctl.load.adapters') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_statsmodels_is_a_test_reference_only() -> None:
    """statsmodels is in the `test` extra, not a runtime dependency: no rollctl module may import it."""
    import ast

    importers = []
    for path in sorted((Path(__file__).resolve().parents[1] / "rollctl").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            importers += [path.name for name in names if name.split(".")[0] == "statsmodels"]
    assert importers == []


# The layers of rollctl, bottom up: a module imports only from its own part or from a lower layer. A new part
# (a package or a top-level module) must be placed here deliberately; the test names the ones that are not.
LAYERS: list[set[str]] = [
    {"rollctl", "errors", "exit_codes"},                       # the package's version, errors, exit codes
    {"stats", "config", "db"},                                 # pure statistics; settings; the DuckDB edge
    {"engines"},                                               # SQL dialects; the Spark edge
    {"load"},                                                  # the one way in for data
    {"metrics", "custom_metrics", "assignment", "checks"},     # domain pieces over the canonical tables
    {"plan"},                                                  # the rollout plan names metrics
    {"sql"},                                                   # reductions to sufficient statistics
    {"text_distance"},                                         # edit distances over Arrow batches of a query
    {"core"},                                                  # one function per command
    {"render"},                                                # views of core results
    {"serve", "integrations"},                                 # other edges: HTTP, the GitHub Action's driver
    {"cli"},                                                   # the command line
    {"__main__"},
]


# Third-party libraries a part must not import: the core and everything below it never touch the terminal or
# templates, and the statistics never touch a database.
FORBIDDEN = {
    **{part: {"typer", "rich", "jinja2", "starlette", "uvicorn"}
       for part in ("core", "sql", "load", "db", "engines", "stats", "metrics", "custom_metrics", "plan", "assignment",
                    "checks", "text_distance", "config")},
    "stats": {"typer", "rich", "jinja2", "starlette", "uvicorn", "duckdb", "pyarrow", "pandas"},
}


def _part(module: str) -> str:
    """`rollctl.load.adapters.otel` -> `load`; `rollctl.plan` -> `plan`; `rollctl` -> `rollctl`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "rollctl"


def test_no_module_imports_upward() -> None:
    """The layer rule, checked on every import statement (type-only imports included: they couple too)."""
    import ast

    root = Path(__file__).resolve().parents[1] / "rollctl"
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    unplaced, upward = set(), []
    for path in sorted(root.rglob("*.py")):
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__")
        source = _part(module)
        if source not in layer:
            unplaced.add(source)
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = ([node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                       else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            forbidden = [t for t in targets if t.split(".")[0] in FORBIDDEN.get(source, set())]
            upward += [f"{module} imports {t} (not allowed in {source})" for t in forbidden]
            for target in (t for t in targets if t == "rollctl" or t.startswith("rollctl.")):
                part = _part(target)
                if part == source:
                    continue
                if part not in layer:
                    unplaced.add(part)
                elif layer[part] >= layer[source]:
                    upward.append(f"{module} imports {target} ({part} is not below {source})")
    assert unplaced == set(), f"place these parts in LAYERS: {sorted(unplaced)}"
    assert upward == []
