"""The rooms' rules, read from the source: the ML core never imports Django, and no module imports in a circle.

Every ``import`` counts, the ones inside functions included: a lazy import still ties two modules together.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "recognizer"
WEB_FRAMEWORKS = ("django", "rest_framework", "drf_spectacular")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; ``from a import b`` counts as ``a.b`` when that is a module)."""
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def local_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def import_graph() -> dict[str, set[str]]:
    modules = local_modules()
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def test_ml_core_never_imports_django_directly_or_through_the_app():
    modules = local_modules()
    offenders = []
    for name, path in modules.items():
        if not name.startswith("recognizer.ml"):
            continue
        for imported in imports_of(path):
            top = imported.split(".")[0]
            if top in WEB_FRAMEWORKS or (top == "recognizer" and not imported.startswith("recognizer.ml")):
                offenders.append(f"{name} imports {imported}")
    assert offenders == []
    assert any(n.startswith("recognizer.ml.") for n in modules), "the ML core package is missing"


def test_ml_core_imports_where_django_cannot_be_imported():
    # A finder that refuses Django, DRF and drf-spectacular; then import every ML module (TensorFlow included).
    script = f"""
import importlib, pkgutil, sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {WEB_FRAMEWORKS!r}:
            raise ImportError("the ML core must not import " + name)
sys.meta_path.insert(0, Refuse())
import recognizer.ml as ml
names = [m.name for m in pkgutil.iter_modules(ml.__path__, "recognizer.ml.")]
for name in names:
    importlib.import_module(name)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in {WEB_FRAMEWORKS!r})
assert not leaked, leaked
print(len(names))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[-1]) >= 6  # preprocess, network, keras_model, mnist, training, canvas_eval, ...


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_sees_a_circle_and_a_clean_graph():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circles_in_the_app():
    graph = import_graph()
    assert len(graph) > 20
    # A package's __init__ importing its own modules is not a circle of concern; none of ours does.
    assert find_cycle(graph) is None


def test_tensorflow_only_in_the_keras_model_inference_and_training():
    allowed = {"recognizer.ml.keras_model", "recognizer.inference", "recognizer.ml.training"}
    users = {
        name
        for name, path in local_modules().items()
        if any(m.split(".")[0] in ("tensorflow", "keras") for m in imports_of(path))
    }
    assert users <= allowed, users - allowed


def test_digitsite_holds_settings_urls_wsgi_asgi_only():
    files = {p.name for p in (ROOT / "digitsite").glob("*.py")}
    assert files <= {"__init__.py", "settings.py", "urls.py", "wsgi.py", "asgi.py"}, files


def modules_importing(prefix, within=("recognizer", "digitsite")):
    found = {}
    for root in within:
        for path in (ROOT / root).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            hits = {m for m in imports_of(path) if m == prefix or m.startswith(prefix + ".")}
            if hits:
                found[module_name(path)] = hits
    return found


def names_used(path: Path) -> set[str]:
    """Every attribute and imported name ``path`` uses."""
    used = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.ImportFrom):
            used.update(alias.name for alias in node.names)
    return used


def test_the_models_are_asked_only_from_the_domain_module():
    asking = {"predict_batch", "predict_both", "predict_many"}
    askers = {name for name, path in local_modules().items() if names_used(path) & asking}
    assert askers <= {"recognizer.domain.predicting", "recognizer.inference"}, askers


def test_staff_and_commands_never_import_the_api():
    importers = {
        name: hits
        for name, hits in modules_importing("recognizer.api").items()
        if name.startswith(("recognizer.staff", "recognizer.management"))
    }
    assert importers == {}


def test_the_product_never_imports_bench_or_experiments():
    assert modules_importing("bench") == {}
    assert modules_importing("experiments") == {}


def private_reads(path: Path) -> list[str]:
    """``obj._name`` where ``obj`` is not ``self``/``cls`` and the name is not ``_meta``, a dunder, or one of this
    module's own names (``module._x`` of a module it imports counts)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
            continue
        if node.attr == "_meta" or (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            continue
        found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    return found


def test_private_internals_are_read_only_in_the_adapter_module():
    reads = [r for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts for r in private_reads(path)]
    outside = [r for r in reads if not r.startswith("recognizer/adapters.py")]
    assert outside == []
    assert any(r.startswith("recognizer/adapters.py") for r in reads)  # the check sees what it looks for
