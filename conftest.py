"""Fixtures shared by every app's tests."""

import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def staff_user(db):
    """A superuser: staff who may do everything."""
    return get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client
