"""The house rules, checked on the source: packages import only the layers below them, no
module imports itself back through others (lazily or not), no module passes 400 lines, and
every package says what it holds and what it may import."""

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "sincos_cli"
CORE = {"errors", "text", "config", "status", ""}  # "" is sincos_cli itself (__version__)
# What each package may import besides CORE and itself: a layer sees only those below it.
LAYERS = {
    "store": set(),
    "stats": set(),
    "training": {"store"},
    "views": {"store", "stats", "training"},
    "report": {"store", "stats", "training", "views"},
    "sweep": {"store", "stats", "training", "views"},
}
MAX_LINES = 400


def modules() -> dict[str, Path]:
    """Dotted names under sincos_cli (`store.runs`, `cli`, `store` for its __init__)."""
    out = {}
    for p in SRC.rglob("*.py"):
        parts = p.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The sincos modules `name` imports anywhere in its text, function bodies included."""
    pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("sincos_cli"):
                target = node.module.removeprefix("sincos_cli").lstrip(".")
            else:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}".lstrip(".")
                found.add(sub if sub in known else target)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("sincos_cli").lstrip(".") for a in node.names
                      if a.name.startswith("sincos_cli")}
    found.discard(name)
    return found


GRAPH = {name: imports(name, path, modules()) for name, path in modules().items()}


def package(name: str) -> str:
    head = name.split(".")[0]
    return head if head in LAYERS else ""


@pytest.mark.parametrize("pkg", sorted(LAYERS))
def test_a_package_imports_only_the_layers_below_it(pkg):
    wrong = sorted(f"{m} imports {t}" for m, ts in GRAPH.items() if package(m) == pkg
                   for t in ts if t not in CORE and package(t) not in LAYERS[pkg] | {pkg})
    assert not wrong


def test_the_core_modules_import_no_package():
    wrong = sorted(f"{m} imports {t}" for m in CORE - {""} for t in GRAPH[m] if t not in CORE)
    assert not wrong


def test_no_import_circle_not_even_through_a_lazy_import():
    seen, stack, circles = set(), [], []

    def visit(m):
        if m in stack:
            circles.append(" -> ".join([*stack[stack.index(m):], m]))
            return
        if m in seen:
            return
        stack.append(m)
        for t in sorted(GRAPH.get(m, ())):
            visit(t)
        stack.pop()
        seen.add(m)

    for m in sorted(GRAPH):
        visit(m)
    assert not circles


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long


@pytest.mark.parametrize("pkg", sorted([*LAYERS, "commands"]))
def test_every_package_says_what_it_holds_and_may_import(pkg):
    doc = ast.get_docstring(ast.parse((SRC / pkg / "__init__.py").read_text())) or ""
    holds = {p.stem for p in (SRC / pkg).glob("*.py")} - {"__init__"}
    assert all(m in doc for m in holds), sorted(m for m in holds if m not in doc)
    assert pkg == "commands" or "May import" in doc


# Calls that change the process or the disk: none may run when a module is imported.
SIDE_EFFECTS = re.compile(r"^(os\.(umask|putenv|chdir|environ\.(setdefault|update))|signal\."
                          r"|atexit\.|torch\.|np\.random\.|random\.seed|open$|print$"
                          r"|logging\.basicConfig|warnings\.(filterwarnings|simplefilter)"
                          r"|sys\.|.*\.(mkdir|write_text|write_bytes|unlink)$)")


def test_no_module_does_work_when_imported():
    """Importing a module changes nothing (no umask flipped and put back, no handler
    installed, no file touched): the statements at module level call nothing that does."""
    wrong = []
    for name, path in modules().items():
        if name == "__main__":
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                continue
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and SIDE_EFFECTS.match(ast.unparse(call.func)):
                    wrong.append(f"{name}: {ast.unparse(call)}")
    assert not wrong


def _body_lines(fn: ast.FunctionDef) -> int:
    """A function's statements after its signature and docstring, in lines."""
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return body[-1].end_lineno - body[0].lineno + 1 if body else 0


def test_commands_parse_and_print_in_at_most_60_lines():
    """#35: a command's body parses its options and prints; planning lives below it."""
    long = sorted(f"{p.name}:{fn.name} {_body_lines(fn)}"
                  for p in (SRC / "commands").glob("*.py")
                  for fn in ast.walk(ast.parse(p.read_text()))
                  if isinstance(fn, ast.FunctionDef) and _body_lines(fn) > 60)
    assert not long


def test_a_status_is_spelled_in_one_place():
    """#35: the word "completed" as a string literal lives in status.py (RunStatus) only;
    every other module says RunStatus.COMPLETED."""
    spelled = sorted(name for name, path in modules().items()
                     if any(isinstance(n, ast.Constant) and n.value == "completed"
                            for n in ast.walk(ast.parse(path.read_text()))))
    assert spelled == ["status"], spelled


def _reads(tree: ast.AST, key: str) -> bool:
    """Does the code read `key` out of a mapping: d[key] or d.get(key)?"""
    for n in ast.walk(tree):
        if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Constant) \
                and n.slice.value == key:
            return True
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) \
                and n.func.attr in ("get", "pop", "setdefault") and n.args \
                and isinstance(n.args[0], ast.Constant) and n.args[0].value == key:
            return True
    return False


def test_sweep_json_is_read_through_its_type():
    """#35: sweep.json's members are read in store/sweep_doc.py (SweepDoc) alone; every
    other module asks the type. (store/show.py reads `show --json`'s own document, whose
    "members" is their number.)"""
    readers = sorted(name for name, path in modules().items()
                     if _reads(ast.parse(path.read_text()), "members"))
    assert readers == ["store.show", "store.sweep_doc"], readers


def _file_calls(tree: ast.AST) -> set[str]:
    """The run folder's JSON files a module reads or writes itself: read_json(…/"run.json"),
    atomic_write_json(…/"summary.json", …) and their kin."""
    named = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and isinstance(n.func, (ast.Name, ast.Attribute)) and \
                getattr(n.func, "id", getattr(n.func, "attr", "")) in (
                    "read_json", "atomic_write_json", "write_json_in_place"):
            named |= {c.value for a in n.args for c in ast.walk(a)
                      if isinstance(c, ast.Constant) and c.value in (
                          "run.json", "summary.json", "meta.json", "sweep.json")}
    return named


def test_each_json_file_is_read_and_written_through_its_type():
    """#35: run.json, summary.json, meta.json and sweep.json are read and written by their
    types alone (store/run_doc.py, summary_doc.py, meta.py, sweep_doc.py, which name the
    file once); no other module opens one itself. (sweep_doc's lenient run_names reads
    sweep.json for `rm` of a sweep that cannot be loaded.)"""
    found = {name: _file_calls(ast.parse(path.read_text())) for name, path in modules().items()}
    assert {k: v for k, v in found.items() if v} == {"store.sweep_doc": {"sweep.json"}}
