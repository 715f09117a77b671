"""Optimizers: the right Keras class and parameters; first steps match the textbook updates."""

import keras
import numpy as np
import pytest

from tlstudio.model.optimizers import OPTIMIZER_HELP, OPTIMIZER_PARAMETERS, make_optimizer
from tlstudio.settings.project import OPTIMIZER_NAMES, OptimizerSettings

LR = 0.1
W0 = np.array([1.0, -2.0, 3.0], "float32")
GRADS = [np.array([0.5, -1.0, 2.0], "float32"), np.array([-0.25, 0.5, 1.0], "float32")]


def run_steps(optimizer, grads=GRADS) -> np.ndarray:
    variable = keras.Variable(W0.copy())
    for g in grads:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), variable)])
    return keras.ops.convert_to_numpy(variable)


@pytest.mark.parametrize("name, cls, expected", [
    ("sgd", keras.optimizers.SGD, {"momentum": 0.0, "nesterov": False}),
    ("momentum", keras.optimizers.SGD, {"momentum": 0.8, "nesterov": False}),
    ("nesterov", keras.optimizers.SGD, {"momentum": 0.8, "nesterov": True}),
    ("adagrad", keras.optimizers.Adagrad, {"initial_accumulator_value": 0.2, "epsilon": 1e-6}),
    ("rmsprop", keras.optimizers.RMSprop, {"rho": 0.95, "momentum": 0.0, "epsilon": 1e-6}),
    ("adam", keras.optimizers.Adam, {"beta_1": 0.85, "beta_2": 0.99, "epsilon": 1e-6}),
    ("adamw", keras.optimizers.AdamW, {"beta_1": 0.85, "beta_2": 0.99, "epsilon": 1e-6,
                                       "weight_decay": 0.01}),
])
def test_each_name_gives_its_keras_class_and_parameters(name, cls, expected):
    settings = OptimizerSettings(name=name, momentum=0.8, rho=0.95, beta_1=0.85, beta_2=0.99, epsilon=1e-6,
                                 weight_decay=0.01, initial_accumulator=0.2, clipnorm=1.5)
    optimizer = make_optimizer(settings, 0.01)
    assert type(optimizer) is cls
    config = optimizer.get_config()
    for key, value in expected.items():
        assert config[key] == pytest.approx(value), key
    assert config["clipnorm"] == pytest.approx(1.5)
    assert config["learning_rate"] == pytest.approx(0.01)
    assert make_optimizer(settings.model_copy(update={"clipnorm": None}), 0.01).get_config()["clipnorm"] is None


def test_tables_cover_every_optimizer_and_only_real_fields():
    assert set(OPTIMIZER_PARAMETERS) == set(OPTIMIZER_NAMES) == set(OPTIMIZER_HELP)
    for name, fields in OPTIMIZER_PARAMETERS.items():
        assert set(fields) <= set(OptimizerSettings.model_fields), name
        assert list(OPTIMIZER_HELP[name]) == fields
        assert all(text.strip() for text in OPTIMIZER_HELP[name].values())


def test_accepts_a_schedule():
    schedule = keras.optimizers.schedules.ExponentialDecay(LR, decay_steps=1, decay_rate=0.5)
    optimizer = make_optimizer(OptimizerSettings(name="sgd"), schedule)
    w = run_steps(optimizer)
    np.testing.assert_allclose(w, W0 - LR * GRADS[0] - LR * 0.5 * GRADS[1], rtol=1e-6)


def test_plain_sgd_step():
    w = run_steps(make_optimizer(OptimizerSettings(name="sgd"), LR), GRADS[:1])
    np.testing.assert_allclose(w, W0 - LR * GRADS[0], rtol=1e-6)


def test_momentum_two_steps():
    # Keras's formulation: v = rho * v - lr * g ; w = w + v
    rho = 0.9
    w = run_steps(make_optimizer(OptimizerSettings(name="momentum", momentum=rho), LR))
    v1 = -LR * GRADS[0]
    v2 = rho * v1 - LR * GRADS[1]
    np.testing.assert_allclose(w, W0 + v1 + v2, rtol=1e-6)


def test_nesterov_two_steps():
    # v = rho * v - lr * g ; w = w + rho * v - lr * g  (look-ahead along the new velocity)
    rho = 0.9
    w = run_steps(make_optimizer(OptimizerSettings(name="nesterov", momentum=rho), LR))
    v1 = -LR * GRADS[0]
    w1 = W0 + rho * v1 - LR * GRADS[0]
    v2 = rho * v1 - LR * GRADS[1]
    np.testing.assert_allclose(w, w1 + rho * v2 - LR * GRADS[1], rtol=1e-6)


def test_adam_first_step():
    b1, b2, eps = 0.9, 0.999, 1e-7
    w = run_steps(make_optimizer(OptimizerSettings(name="adam", beta_1=b1, beta_2=b2, epsilon=eps), LR),
                  GRADS[:1])
    g = GRADS[0].astype("float64")
    m = (1 - b1) * g
    v = (1 - b2) * g * g
    m_hat, v_hat = m / (1 - b1), v / (1 - b2)
    # Keras folds the bias corrections into the rate, so epsilon is scaled slightly differently
    # from the paper's m_hat / (sqrt(v_hat) + eps); at eps=1e-7 the two agree to 1e-6.
    np.testing.assert_allclose(w, W0 - LR * m_hat / (np.sqrt(v_hat) + eps), rtol=1e-5)
    np.testing.assert_allclose(w, W0 - LR * np.sign(g), rtol=1e-5)  # the first Adam step is lr * sign(g)
