"""Training-health checks: divergence names the LR; stuck loss, overfitting and a rising validation loss
each warn once, with the fix."""

import json
import math

from tlstudio.train.loss_checks import DivergenceCheck, EpochWarnings


def row(epoch, loss, val_loss, accuracy=0.5, val_accuracy=0.5, lr=1e-3):
    return {"epoch": epoch, "loss": loss, "val_loss": val_loss, "accuracy": accuracy,
            "val_accuracy": val_accuracy, "lr": lr}


def test_divergence_is_judged_from_where_the_loss_started():
    check = DivergenceCheck(classes=3)
    assert check.divergence(1.2, 0.1, 1, 1) is None  # the first batch sets the start
    assert check.divergence(5.0, 0.1, 1, 2) is None  # a bad stretch, not yet ten times
    message = check.divergence(6.2e11, 1e8, 1, 4)
    assert message.startswith("the loss diverged to 6.2e+11 (it started at 1.2) at epoch 1 step 4")
    assert "the learning rate 1e+08 is too high" in message and "try 1e+07" in message
    assert "became NaN" in DivergenceCheck(classes=3).divergence(math.nan, 1.0, 2, 1)


def test_a_loss_that_does_not_move_asks_for_a_higher_lr_once():
    check = EpochWarnings()
    assert check.epoch(row(1, 1.0986, 1.0990)) == []
    assert check.epoch(row(2, 1.0985, 1.0989)) == []
    warnings = check.epoch(row(3, 1.0984, 1.0988, lr=1e-7))
    assert len(warnings) == 1 and "hardly moved in 3 epochs" in warnings[0] and "1e-07 may be too low" in warnings[0]
    assert check.epoch(row(4, 1.0983, 1.0987)) == []  # said once


def test_overfitting_and_a_rising_validation_loss_warn_with_their_fixes():
    check = EpochWarnings()
    check.epoch(row(1, 1.0, 0.9, accuracy=0.6, val_accuracy=0.6))
    assert check.epoch(row(2, 0.5, 0.8, accuracy=0.95, val_accuracy=0.7)) == []  # one epoch is not a trend
    warnings = check.epoch(row(3, 0.3, 0.85, accuracy=0.99, val_accuracy=0.7))
    assert any("overfits" in w and "augmentation" in w for w in warnings)
    check.epoch(row(4, 0.2, 0.9, accuracy=0.99, val_accuracy=0.7))
    warnings = check.epoch(row(5, 0.1, 1.0, accuracy=1.0, val_accuracy=0.7))
    assert len(warnings) == 1 and "risen for 3 epochs (best 0.8 at epoch 2" in warnings[0]


def test_both_checks_take_up_their_state_after_a_resume():
    """A resumed run judges divergence from where the whole run started and does not repeat a warning."""
    check = DivergenceCheck(classes=3)
    check.divergence(2.0, 0.1, 1, 1)
    resumed = DivergenceCheck(classes=3)
    resumed.set_state(check.get_state())
    assert resumed.divergence(15.0, 0.1, 3, 1) is None  # ten times 2.0 is the limit, not ten times 15.0
    assert resumed.divergence(25.0, 0.1, 3, 2) is not None

    warnings = EpochWarnings()
    for epoch in (1, 2):
        warnings.epoch(row(epoch, 1.0986, 1.0990))
    assert len(warnings.epoch(row(3, 1.0984, 1.0988))) == 1
    again = EpochWarnings()
    again.set_state(json.loads(json.dumps(warnings.get_state())))  # as resume.npz keeps it
    assert again.get_state() == warnings.get_state()
    assert again.epoch(row(4, 1.0983, 1.0987)) == []  # said once a run, resumed or not
