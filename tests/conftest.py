import jax
import pytest

# Collected by tests/test_multidevice.py in a process of its own, with 8 CPU devices, and
# by tests/test_multiprocess.py, whose tests start JAX processes joined on loopback.
collect_ignore = ["multidevice", "multiprocess"]


@pytest.fixture
def x64():
    """Runs a test with 64-bit floats enabled, restoring the default after it."""
    with jax.enable_x64(True):
        yield
