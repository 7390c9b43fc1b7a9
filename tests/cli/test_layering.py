"""The layers import downwards only (profiler/__init__.py: counters -> conventions -> core -> zoo -> ... -> cli): no
module outside ``profiler.cli`` imports the command line, not even lazily inside a function. The names cache that
``profile-model list`` writes and :func:`profiler.zoo.names.also_in` reads lives in :mod:`profiler.name_cache`."""
import ast
import os
import subprocess
import sys

PACKAGE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep + "profiler"


def _cli_imports(path: str) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name == "profiler.cli" or a.name.startswith("profiler.cli.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "profiler.cli" or node.module.startswith("profiler.cli."):
                found.append(node.module)
            elif node.module == "profiler" and any(a.name == "cli" for a in node.names):
                found.append("profiler.cli")
    return found


def test_no_module_below_the_cli_imports_it():
    bad = {}
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if d not in ("cli", "__pycache__")] if folder == PACKAGE else dirs
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                if _cli_imports(path):
                    bad[os.path.relpath(path, PACKAGE)] = _cli_imports(path)
    assert bad == {}


def test_the_zoo_reads_the_names_cache_without_the_cli(tmp_path):
    probe = ("import sys, profiler.zoo, profiler.zoo.names as names\n"
             "names._cached_names(); names.also_in('timm', 'resnet50'); names.also_in('builtin', 'crossnet')\n"
             "bad = sorted(m for m in sys.modules if m == 'profiler.cli' or m.startswith('profiler.cli.'))\n"
             "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600,
                          cwd=os.path.dirname(PACKAGE), env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_cache_module_is_stdlib_only():
    from profiler import name_cache

    with open(name_cache.__file__, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    mods |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert mods <= {"__future__", "hashlib", "json", "os", "importlib", "profiler"}  # profiler.atomic: stdlib too
