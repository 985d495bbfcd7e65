import optax

import optax_l1

EXPECTED = {
    "CumulativePenaltyState",
    "LeafSparsity",
    "MaskOrFn",
    "FtrlState",
    "ProximalAdagradState",
    "ProximalAdamState",
    "ScheduleState",
    "SgdL1Method",
    "SparsityReport",
    "TargetSparsityState",
    "adam_l1",
    "add_l1_gradient",
    "freeze_zeros",
    "ftrl",
    "group_soft_threshold",
    "l1_cumulative_penalty",
    "l1_norm",
    "l1_sign_decay",
    "l1_soft_threshold",
    "mask_by_name",
    "proximal_adagrad",
    "proximal_adam",
    "sgd_l1",
    "skip_biases",
    "sparsity",
    "sparsity_report",
    "target_sparsity",
}


TYPE_ALIASES = {"MaskOrFn", "SgdL1Method"}


def test_all_lists_exactly_the_public_api():
    assert set(optax_l1.__all__) == EXPECTED
    for name in optax_l1.__all__:
        if name not in TYPE_ALIASES:
            assert getattr(optax_l1, name).__doc__, f"{name} has no docstring"


def test_transforms_are_gradient_transformations():
    for tx in (
        optax_l1.add_l1_gradient(0.1),
        optax_l1.l1_sign_decay(0.1, learning_rate=1.0),
        optax_l1.l1_soft_threshold(0.1, learning_rate=1.0),
        optax_l1.l1_cumulative_penalty(0.1, learning_rate=1.0),
        optax_l1.group_soft_threshold(0.1, axis=0, learning_rate=1.0),
        optax_l1.ftrl(0.1, l1=0.1),
        optax_l1.proximal_adagrad(0.1, l1=0.1),
    ):
        assert isinstance(tx, optax.GradientTransformation)


def test_importing_pulls_in_no_optional_dependency():
    import subprocess
    import sys

    code = (
        "import sys, optax_l1\n"
        "bad = [m for m in ('flax', 'sklearn', 'matplotlib', 'tqdm') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
