"""The simulator and the recorder standing in for the project, for every test module here."""

from .test_simulator import project, simulator  # noqa: F401 - fixtures
