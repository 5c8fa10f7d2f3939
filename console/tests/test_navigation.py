"""Every model staff reach in the admin has its place in the grouped navigation (no "Other" pile)."""

from django.contrib.admin.sites import site

from console.navigation import INTERNALS, SECTIONS


def test_every_registered_admin_model_is_in_a_section_or_the_internals():
    placed = {label for _name, labels in SECTIONS for label in labels} | INTERNALS
    registered = {f"{model._meta.app_label}.{model._meta.object_name}" for model in site._registry}
    assert sorted(registered - placed) == []


def test_no_section_names_a_model_that_is_not_registered():
    registered = {f"{model._meta.app_label}.{model._meta.object_name}" for model in site._registry}
    optional = {"django_tasks_database.DBTaskResult", "django_rq.Dashboard"}  # one of them, by TASKS_BACKEND
    placed = {label for _name, labels in SECTIONS for label in labels} | (INTERNALS - optional)
    assert sorted(placed - registered) == []
