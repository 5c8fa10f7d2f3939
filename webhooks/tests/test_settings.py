"""The webhooks' settings: a bad value stops the start, naming the variable."""

import pytest

from hub.tests.test_settings import PRODUCTION, manage


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("AT_EVENTS_ALLOW_PRIVATE", "sometimes", "true or false"),
        ("AT_EVENTS_CONNECT_TIMEOUT", "0", "a number"),
        ("AT_EVENTS_READ_TIMEOUT", "soon", "a number"),
    ],
)
def test_a_bad_webhook_setting_stops_the_start_naming_the_variable(variable, value, expected):
    result = manage("check", **{**PRODUCTION, variable: value})
    assert result.returncode != 0, result.stdout
    assert variable in result.stderr and expected in result.stderr, result.stderr[-500:]
