import importlib.util

import jax
import pytest

# Collected by tests/test_multidevice.py in a process of its own, with 8 CPU devices, and
# by tests/test_multiprocess.py, whose tests start JAX processes joined on loopback.
collect_ignore = ["multidevice", "multiprocess"]

# The tests of the examples and benchmarks, and the user flows through Flax and Equinox,
# need the `examples` extra. `make test-min` runs the rest against the lowest versions of
# jax, jaxlib and optax that pyproject.toml allows, where the extra is not installed.
NEEDS_EXAMPLES_EXTRA = [
    "test_benchmarks.py",
    "test_checkpoint_mlp.py",
    "test_compare_formulations.py",
    "test_docs.py",
    "test_equinox_mlp.py",
    "test_flax_mlp.py",
    "test_linen_mlp.py",
    "test_mnist1d.py",
    "test_sparse_logistic.py",
    "test_sparse_regression.py",
    "test_user_flows.py",
    "multidevice/test_sharded_example.py",
    "multiprocess/test_multiprocess_example.py",
]
if importlib.util.find_spec("flax") is None:
    collect_ignore += NEEDS_EXAMPLES_EXTRA


def _enable_x64():
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64  # jax < 0.6, which `make test-min` runs

    return enable_x64(True)


@pytest.fixture
def x64():
    """Runs a test with 64-bit floats enabled, restoring the default after it."""
    with _enable_x64():
        yield
