"""Fitness tests: they fail when a product or a callback kind is added carelessly.

The checklist they enforce is in docs/ARCHITECTURE.md ("Adding a callback kind or a product").
"""

import ast
import inspect
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
