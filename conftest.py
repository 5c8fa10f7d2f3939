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


@pytest.fixture(autouse=True)
def spool_dir(settings, tmp_path):
    """Each test spools callbacks into its own folder."""
    settings.AT_SPOOL_DIR = str(tmp_path / "spool")
    return tmp_path / "spool"


@pytest.fixture(scope="session", autouse=True)
def redis_server():
    """TASKS_BACKEND=redis: the Redis the tests use. With REDIS_URL in the environment, that one (CI starts its
    own); else a throwaway redis-server on a free loopback port, stopped when the tests end. (Session-wide and
    first, so that no test's `settings` fixture outlives the setting.)"""
    import os

    from hub import queue
    from hub.testing import RedisServer, use_redis

    if not queue.uses_redis():
        yield None
        return
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = RedisServer()
    use_redis(server.url)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def task_queue(redis_server):
    """With TASKS_BACKEND=redis every test starts with an empty queue (the database's tasks go with the test
    database)."""
    from hub import queue

    if not queue.uses_redis():
        yield
        return
    queue.clear()
    yield
    queue.clear()
