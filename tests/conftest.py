import jax
import pytest


@pytest.fixture
def x64():
    """Runs a test with 64-bit floats enabled, restoring the default after it."""
    with jax.enable_x64(True):
        yield
