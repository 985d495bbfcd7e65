"""examples/equinox_mlp.py: Equinox, eqx.filter, and the mask Equinox users need."""

import equinox as eqx
import equinox_mlp
import numpy as np

import optax_l1


def test_trains_sparse_with_equinox_names(capsys):
    result = equinox_mlp.main(["--epochs", "3", "--train-limit", "512"])
    assert result["test_accuracy"] > 0.8 and result["zeros"] > 0.1
    params = eqx.filter(result["model"], eqx.is_inexact_array)
    mask = optax_l1.skip_biases(params)
    for layer, selected in zip(params.layers, mask.layers, strict=True):
        assert selected.weight is True and selected.bias is False  # Equinox's names
        assert np.all(np.asarray(layer.bias) != 0)  # biases train with plain Adam
    assert "equinox, adam_l1" in capsys.readouterr().out
