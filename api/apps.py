from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The read API (/api/v1/), its OpenAPI schema (/api/schema/) and interactive docs (/api/docs/)."""

    name = "api"
    verbose_name = "Read API"

    def ready(self):
        from . import schema  # noqa: F401 - registers the schema extensions of the invoke views
