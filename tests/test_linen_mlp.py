"""examples/linen_mlp.py: Flax linen, TrainState, jax.jit."""

import linen_mlp
import numpy as np


def test_trains_sparse_and_leaves_biases_unregularized(capsys):
    result = linen_mlp.main(["--epochs", "3", "--train-limit", "512"])
    assert result["test_accuracy"] > 0.8 and result["zeros"] > 0.1
    for layer in result["params"].values():
        assert np.all(np.asarray(layer["bias"]) != 0)  # plain Adam: biases move, none zeroed
    assert "linen, adam_l1" in capsys.readouterr().out
