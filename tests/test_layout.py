"""The package's layout: no import cycle (function-level imports included), leaves stay
leaves, the public API is the list in ``bokeh_jax/__init__.py``, the console script works."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import bokeh_jax

PACKAGE = Path(bokeh_jax.__file__).parent
LEAVES = ("bokeh_jax.errors", "bokeh_jax.names", "bokeh_jax.ops.gaussian")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports, at any depth of its code (ast, not run).

    ``from bokeh_jax.a import b`` counts as importing ``bokeh_jax.a.b`` when that is a
    module, else ``bokeh_jax.a``. Importing a module also runs its packages' __init__, but
    those only define names (checked below), so the edges are the explicit imports.
    """
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    base = ".".join([*package.split(".")[:len(package.split(".")) - node.level
                                                           + 1], *filter(None, [base])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    graph = import_graph(_modules())
    assert len(graph) > 40 and graph["bokeh_jax.inference.learned"]  # the parse saw imports
    assert find_cycles(graph) == []


def test_leaves_import_nothing_of_the_project():
    graph = import_graph(_modules())
    for leaf in LEAVES:
        assert graph[leaf] == set(), leaf


def test_no_module_imports_names_from_the_package_root():
    """``bokeh_jax/__init__`` re-exports lazily; inside the package, import the real module."""
    modules = _modules()
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "bokeh_jax":
                for alias in node.names:
                    assert f"bokeh_jax.{alias.name}" in modules or alias.name == "__version__", (
                        f"{name} imports {alias.name} from the bokeh_jax root")


def test_public_api_is_the_listed_names():
    assert sorted(bokeh_jax.__all__) == sorted(["__version__", *bokeh_jax._EXPORTS])
    for name in bokeh_jax.__all__:
        value = getattr(bokeh_jax, name)
        if name != "__version__":
            assert value is getattr(importlib.import_module(bokeh_jax._EXPORTS[name]), name)
    with pytest.raises(AttributeError):
        bokeh_jax.not_a_name  # noqa: B018


def test_console_script_lists_every_command():
    proc = subprocess.run([sys.executable, "-m", "bokeh_jax", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for name in ("convert", "prepare", "train", "eval", "render", "gallery", "app", "launch"):
        assert f"\n  {name} " in proc.stdout, name
    proc = subprocess.run([sys.executable, "-m", "bokeh_jax", "nope"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown command 'nope'")


def test_flags_are_kebab_case_with_silent_snake_case_aliases(capsys):
    from bokeh_jax.cli import ArgumentParser

    p = ArgumentParser(prog="x")
    p.add_argument("--pairs-dir")
    p.add_argument("--num-visuals", type=int, default=0)
    p.add_argument("name", nargs="?")
    assert vars(p.parse_args(["--pairs_dir", "a", "--num_visuals=3"])) == {
        "pairs_dir": "a", "num_visuals": 3, "name": None}
    # After "--" nothing is a flag; an unknown snake_case flag stays unknown.
    assert p.parse_args(["--", "--pairs_dir"]).name == "--pairs_dir"
    with pytest.raises(SystemExit):
        p.parse_args(["--no_such_flag"])
    assert "--no_such_flag" in capsys.readouterr().err
    proc = subprocess.run([sys.executable, "-m", "bokeh_jax", "eval", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "--pairs-dir" in proc.stdout and "--pairs_dir" not in proc.stdout
    assert "examples:" in proc.stdout


@pytest.mark.parametrize("command", ["convert", "prepare", "train", "eval", "render",
                                     "gallery", "app", "launch"])
def test_every_subcommand_help_shows_a_worked_example(command, capsys):
    from bokeh_jax import cli

    with pytest.raises(SystemExit) as e:
        cli.main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: bokeh-jax {command}") and "example" in out
    assert f"bokeh-jax {command} " in out.split("example", 1)[1]  # the example runs it


def _script_imports() -> list[tuple[str, str, str]]:
    """(script, module, name) for every ``from bokeh_jax... import name`` outside the
    package: the benchmarks, experiments and the top-level entry points."""
    root = PACKAGE.parent
    scripts = [*sorted((root / "bench").glob("*.py")), *sorted((root / "experiments").glob("*.py")),
               root / "train.py", root / "eval.py"]
    ours = lambda module: (module or "").split(".")[0] == "bokeh_jax"  # noqa: E731
    found = []
    for path in scripts:
        script = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and ours(node.module):
                found += [(script, node.module, a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                found += [(script, a.name, "") for a in node.names if ours(a.name)]
    return found


def test_scripts_outside_the_package_import_names_that_exist():
    """The benchmarks and experiments are not run by the suite; after a move inside the
    package their imports would break silently (bench_conv and bench_metrics once did)."""
    imports = _script_imports()
    assert len({script for script, _, _ in imports}) > 10  # the parse saw the scripts
    for script, module, name in imports:
        imported = importlib.import_module(module)
        if name:
            assert hasattr(imported, name) or importlib.util.find_spec(f"{module}.{name}"), (
                f"{script}: `from {module} import {name}` does not resolve")
