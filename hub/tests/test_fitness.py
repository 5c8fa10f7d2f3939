"""Fitness tests: they fail when a product or a callback kind is added carelessly.

The checklist they enforce is in docs/ARCHITECTURE.md ("Adding a callback kind or a product").
"""

import ast
import inspect
import itertools
import re
import tomllib
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.admin.sites import site
from django.db import models

from hub.callbacks.models import PHONE_LENGTH
from hub.callbacks.payload import PII_FIELDS
from hub.callbacks.registry import kinds
from hub.tests.test_ingestion import KIND_FIXTURES

BASE_DIR = Path(settings.BASE_DIR)
OUR_APPS = [
    a
    for a in apps.get_app_configs()
    if Path(a.path).resolve().is_relative_to(BASE_DIR) and ".venv" not in Path(a.path).resolve().parts
]
#: Payload fields that look like PII by their column but are not: our own shortcode, AT's error text.
NOT_PII = {"to", "errorMessage"}
#: Admin pages only superusers open: raw USSD hops, voice instruction requests, Django's own internals.
SUPERUSER_ONLY = {"ussd.UssdHop", "voice.VoiceInstruction"}


def test_every_app_with_tests_is_collected():
    testpaths = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["testpaths"]
    with_tests = {Path(a.path).name for a in OUR_APPS if any(Path(a.path, "tests").glob("test_*.py"))}
    assert with_tests - set(testpaths) == set(), "add these apps to pyproject.toml's testpaths"


@pytest.mark.django_db
def test_at_viewers_can_view_every_registered_admin_model_of_ours():
    from django.contrib.auth.models import Group

    viewers = Group.objects.get(name="AT viewers")
    granted = {f"{p.content_type.app_label}.{p.codename}" for p in viewers.permissions.select_related("content_type")}
    missing = []
    for model in site._registry:
        label = model._meta.label
        if model._meta.app_label not in {a.label for a in OUR_APPS} or label in SUPERUSER_ONLY:
            continue
        if f"{model._meta.app_label}.view_{model._meta.model_name}" not in granted:
            missing.append(label)
    assert missing == [], "grant the view permission to AT viewers in the app's staff-groups migration"


@pytest.mark.parametrize("name", sorted(kinds()))
def test_every_strict_kind_has_its_repeat_constraint_a_fixture_and_an_admin(name):
    kind = kinds()[name]
    model = kind.model
    assert name in KIND_FIXTURES, "give the kind a payload fixture and list it in hub/tests/test_ingestion.py"
    assert model in site._registry, "register an admin (hub.admin.CallbackEventAdmin)"
    if model.dedupe_window is None:
        unique = [c for c in model._meta.constraints if isinstance(c, models.UniqueConstraint)]
        assert any(c.fields == ("dedupe_key",) for c in unique), "declare dedupe_constraint(...) in Meta"
    else:
        indexed = [tuple(i.fields) for i in model._meta.indexes]
        assert ("dedupe_key", "last_received_at") in indexed, "declare window_dedupe_index(...) in Meta.indexes"


def _payload_reads(model) -> dict[str, str]:
    """{typed column: payload field} read by `fields_from_payload` with payload.text/phone."""
    source = inspect.getsource(model.fields_from_payload)
    reads = {}
    for column, field in re.findall(r'"(\w+)":\s*payload\.(?:text|phone)\("(\w+)"', source):
        reads[column] = field
    for names, field in re.findall(r"^\s*([\w, ]+?)\s*=\s*payload\.phone\(\"(\w+)\"", source, re.MULTILINE):
        for column in (n.strip() for n in names.split(",")):
            reads[column] = field
    return reads


@pytest.mark.parametrize("name", sorted(kinds()))
def test_every_payload_field_holding_a_phone_number_or_a_text_is_masked_in_logs(name):
    model = kinds()[name].model
    for column, field in _payload_reads(model).items():
        try:
            model_field = model._meta.get_field(column)
        except Exception:  # read into a local variable first
            continue
        holds_pii = isinstance(model_field, models.TextField) or getattr(model_field, "max_length", 0) == PHONE_LENGTH
        if holds_pii and field not in NOT_PII:
            assert field.lower() in PII_FIELDS, f"{name}: add {field!r} to hub.callbacks.payload.PII_FIELDS"


@pytest.mark.parametrize("app", OUR_APPS, ids=lambda a: a.label)
def test_no_models_module_imports_its_apps_services_or_tasks(app):
    path = Path(app.path, "models.py")
    if not path.exists():
        return
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = ("." * node.level) + (node.module or "")
            imported.add(module)
            imported.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    forbidden = {f"{app.name}.services", f"{app.name}.tasks", ".services", ".tasks"}
    found = imported & forbidden
    assert not found, f"{app.label}/models.py imports {found}: declare effects in urls.py, hooks in ready()"


def test_the_framework_imports_no_product():
    products = {"sms", "voice", "airtime", "simswap", "ussd", "console", "alerts"}
    offending = []
    for path in (BASE_DIR / "hub").rglob("*.py"):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            offending += [f"{path.relative_to(BASE_DIR)}: {n}" for n in names if n.split(".")[0] in products]
    assert offending == []


# --- The import graph ------------------------------------------------------------


def our_packages(base: Path) -> list[str]:
    """The project's top-level packages: every folder beside manage.py with an `__init__.py`."""
    return sorted(p.name for p in base.iterdir() if (p / "__init__.py").is_file() and not p.name.startswith("."))


def module_paths(base: Path, packages: list[str]) -> dict[str, Path]:
    """{dotted module name: file} for every module of `packages` (a package is its `__init__.py`)."""
    modules = {}
    for package in packages:
        for path in (base / package).rglob("*.py"):
            parts = path.relative_to(base).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those under `if TYPE_CHECKING:` (never executed)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        test = node.test if isinstance(node, ast.If) else None
        if isinstance(test, ast.Name | ast.Attribute) and getattr(test, "id", getattr(test, "attr", "")) == (
            "TYPE_CHECKING"
        ):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) and id(n) not in skipped]


def import_graph(base: Path, packages: list[str]) -> dict[str, dict[str, int]]:
    """{module: {module it imports: line of the first such import}}, between modules of `packages` only."""
    modules = module_paths(base, packages)

    def known(name: str) -> str | None:
        while name not in modules and "." in name:  # `import a.b.Name` is an import of a.b
            name = name.rpartition(".")[0]
        return name if name in modules else None

    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        edges = graph.setdefault(module, {})
        for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                parent = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
                source = ".".join(p for p in (parent, node.module or "") if p)
                # `from a import b`: the submodule a.b when there is one, else a name defined in a.
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source for alias in node.names
                ]
            for target in filter(None, map(known, targets)):
                if target != module:
                    edges.setdefault(target, node.lineno)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def describe_cycle(graph: dict[str, dict[str, int]], component: list[str]) -> str:
    """One closed path through `component`, each step with the line of its import: `a → b (a:12) → a (b:3)`.

    (The component's other imports between its members are in `cycle_imports`.)
    """
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:  # breadth first from `start` until an import leads back to it
        node = queue.pop(0)
        for child in graph[node]:
            if child == start:
                path = [*paths[node], start]
                steps = [f"{b} ({a}:{graph[a][b]})" for a, b in itertools.pairwise(path)]
                return " → ".join([start, *steps])
            if child in members and child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    return ", ".join(component)


def cycle_imports(graph: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """Every import between members of `component`, as `module:line imports other`."""
    return [f"{a}:{graph[a][b]} imports {b}" for a in component for b in graph[a] if b in component]


def test_the_import_graph_has_no_cycles():
    """No two modules of ours import each other, directly or through others.

    What counts: every `import` and `from ... import` statement of every module
    of our top-level packages (apps, atproject, their tests and migrations),
    wherever it stands: at the top, or inside a function or a method, since a
    lazy import only postpones a cycle (it was the way to dodge one here).
    `from a import b` is an import of the submodule `a.b` when there is one,
    else of `a` (a name defined in it). Not counted: imports under
    `if TYPE_CHECKING:` (never executed); the parent packages Python runs
    first (`import a.b` does not count as importing `a`, so a package whose
    `__init__` imports its submodules is fine as long as they do not import
    names back from it); dotted paths in strings (`INSTALLED_APPS`,
    `send_task`, `import_string`), which are read where they are used; a
    module importing itself. An app's `AppConfig.ready()` importing its signals
    or hooks counts like any other import: fine while it closes no cycle.

    Measured as the strongly connected components of that graph (Tarjan's
    algorithm): any with more than one module fails, named with one closed
    path through it and the line of each import.
    """
    graph = import_graph(BASE_DIR, our_packages(BASE_DIR))
    assert {"atproject", "hub", "sms", "console"} <= {module.split(".")[0] for module in graph}
    found = cycles(graph)
    report = [
        f"{', '.join(component)}: {describe_cycle(graph, component)}; " + "; ".join(cycle_imports(graph, component))
        for component in found
    ]
    assert found == [], "import cycles (break them; a lazy import does not):\n" + "\n".join(report)


def test_the_import_graph_check_finds_lazy_cycles_and_ignores_type_checking_imports(tmp_path):
    shop = tmp_path / "shop"
    (shop / "admin").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "models.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .services import place\n",
        "services.py": "from . import models\n\ndef place():\n    from .tasks import send\n    send()\n",
        "tasks.py": "from shop.services import place\n",
        "admin/__init__.py": "from .orders import OrderAdmin\n",
        "admin/orders.py": "from .common import Base\n\nclass OrderAdmin(Base): ...\n",
        "admin/common.py": "from shop.models import *\nBase = object\n",
    }
    for name, text in files.items():
        (shop / name).write_text(text)
    graph = import_graph(tmp_path, our_packages(tmp_path))
    assert graph["shop.services"] == {"shop.models": 1, "shop.tasks": 4}
    assert graph["shop.models"] == {}  # under TYPE_CHECKING
    assert graph["shop.admin"] == {"shop.admin.orders": 1}  # a package importing its submodules
    assert cycles(graph) == [["shop.services", "shop.tasks"]]
    assert describe_cycle(graph, ["shop.services", "shop.tasks"]) == (
        "shop.services → shop.tasks (shop.services:4) → shop.services (shop.tasks:1)"
    )
    (shop / "admin/common.py").write_text("from shop.admin import OrderAdmin\n")  # a name back from the package
    assert cycles(import_graph(tmp_path, ["shop"]))[0] == ["shop.admin", "shop.admin.common", "shop.admin.orders"]
