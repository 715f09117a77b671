"""The training process's Keras backend: what auto chooses, what each backend refuses, and a real run on JAX, in a
process where TensorFlow cannot be imported, that learns what TensorFlow learns and whose model.keras opens and
exports verified in the app's TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tlstudio.settings.project import Project
from tlstudio.train import backend
from tlstudio.train.backend import Accelerator, BackendError, choose_backend, refusal


def _fake_probes(monkeypatch, gpus: set[str], installed: set[str]) -> None:
    probes = {name: (lambda name=name: Accelerator(name, "GPU" if name in gpus else "CPU (2 cores)",
                                                   name in gpus)) for name in ("tensorflow", "jax", "torch")}
    monkeypatch.setattr(backend, "PROBES", probes)
    monkeypatch.setattr(backend, "installed", lambda name: name in installed)


@pytest.mark.parametrize(("gpus", "installed", "chosen"), [
    (set(), {"tensorflow", "jax", "torch"}, "tensorflow"),  # no GPU anywhere: TensorFlow on the CPU
    ({"tensorflow", "jax"}, {"tensorflow", "jax"}, "tensorflow"),  # TensorFlow sees the GPU: it keeps it
    ({"jax", "torch"}, {"tensorflow", "jax", "torch"}, "jax"),  # Windows: TensorFlow has no GPU, JAX has
    ({"torch"}, {"tensorflow", "jax", "torch"}, "torch"),  # Apple silicon: only PyTorch (MPS) sees it
    ({"jax"}, {"tensorflow"}, "tensorflow"),  # JAX not installed: never probed
    (set(), {"jax"}, "jax"),  # no TensorFlow and no GPU: the backend that is there, on the CPU
])
def test_auto_takes_the_first_backend_that_sees_a_gpu(monkeypatch, gpus, installed, chosen):
    _fake_probes(monkeypatch, gpus, installed)
    assert choose_backend("auto").backend == chosen


def test_a_backend_that_is_not_installed_is_one_sentence_with_the_install_command(monkeypatch):
    _fake_probes(monkeypatch, set(), {"tensorflow"})
    with pytest.raises(BackendError) as error:
        choose_backend("torch")
    assert str(error.value) == ("training.backend is torch, but torch is not installed here; install it "
                                "(pip install 'tlstudio[torch]') or choose training.backend auto.")
    _fake_probes(monkeypatch, set(), set())
    with pytest.raises(BackendError, match="no Keras backend is installed here"):
        choose_backend("auto")


def test_keras_loaded_with_another_backend_is_refused_not_ignored():
    import keras

    assert keras.config.backend() == "tensorflow"  # this test process
    backend.activate("tensorflow")
    with pytest.raises(BackendError, match="already loaded with the tensorflow backend"):
        backend.activate("jax")


def test_what_needs_tensorflow_is_refused_naming_the_backend_that_has_it():
    plain = Project()
    assert refusal(plain, "jax") is None and refusal(plain, "torch") is None
    lbfgs = plain.copy_with(**{"optimizer.name": "lbfgs"})
    assert refusal(lbfgs, "tensorflow") is None
    assert refusal(lbfgs, "jax") == ("L-BFGS needs the tensorflow backend; choose training.backend tensorflow "
                                     "(--backend tensorflow), or another optimizer to train on jax.")
    several = plain.copy_with(**{"training.strategy": "mirrored", "training.tensorboard": True})
    assert refusal(several, "torch") == (
        "the mirrored strategy (tf.distribute) and TensorBoard logs need the tensorflow backend; choose "
        "training.backend tensorflow (--backend tensorflow), or training.strategy auto and training.tensorboard "
        "off to train on torch.")


def test_the_backend_is_a_project_setting_with_a_flag():
    from tlstudio.cli.main import build_parser
    from tlstudio.cli.options import resolve_project
    from tlstudio.settings.project import describe

    assert Project().training.backend == "auto"
    assert describe("training.backend").flag == "--backend"
    assert describe("training.backend").choices == ("auto", "tensorflow", "jax", "torch")
    with pytest.raises(Exception, match="backend"):
        Project().copy_with(**{"training.backend": "theano"})
    args = build_parser().parse_args(["train", "--data", ".", "--backend", "jax"])
    assert resolve_project(args).training.backend == "jax"


# A JAX training process, as the app's worker or `tlstudio train` starts one: the backend is chosen before Keras
# loads. It trains the project, then writes the pooled features of a few images for the parity check.
JAX_RUN = textwrap.dedent("""
    import json, sys

    class NoTensorFlow:  # import tensorflow fails here, as on a machine with only JAX
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ImportError("TensorFlow is blocked in this process")
            return None

    sys.meta_path.insert(0, NoTensorFlow())
    import numpy as np
    from tlstudio.settings.project import Project
    from tlstudio.train import Trainer
    from tlstudio.train.events import Observer

    class Log(Observer):
        lines = []
        def on_log(self, message):
            self.lines.append(message)

    project = Project.load(sys.argv[1])
    log = Log()
    result = Trainer().run(project, observer=log, run_dir=sys.argv[2])
    import keras
    from tlstudio.model.build import POOL_LAYER
    model = keras.saving.load_model(sys.argv[2] + "/model.keras")
    features = keras.Model(model.inputs, model.get_layer(POOL_LAYER).output)
    images = np.load(sys.argv[3])
    np.save(sys.argv[4], keras.ops.convert_to_numpy(features(images, training=False)))
    print(json.dumps({"status": result.status.value, "metrics": result.metrics, "log": log.lines,
                      "backend": keras.config.backend(),
                      "tensorflow": sorted(name for name in sys.modules if name.startswith("tensorflow"))}))
""")


@pytest.mark.slow
def test_a_jax_run_learns_what_tensorflow_learns_and_exports_verified(tmp_path, demo_folder):
    pytest.importorskip("jax")
    import keras

    from tlstudio.data.images import load_images
    from tlstudio.export import export_run
    from tlstudio.model.build import POOL_LAYER
    from tlstudio.train import RunStatus, Trainer

    settings = {"data.folder": str(demo_folder), "model.backbone": "squeezenet1_1", "model.weights": "imagenet",
                "model.image_size": 48, "training.epochs": 20, "training.batch_size": 8, "training.seed": 0}
    project_file = tmp_path / "jax.json"
    Project().copy_with(**settings, **{"training.backend": "jax"}).save(project_file)
    images = load_images(sorted(demo_folder.rglob("*.png"))[:6], 48).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    done = subprocess.run([sys.executable, "-c", JAX_RUN, str(project_file), str(tmp_path / "jax-run"),
                           str(tmp_path / "images.npy"), str(tmp_path / "jax-features.npy")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    jax_run = json.loads(done.stdout.strip().splitlines()[-1])
    assert jax_run["backend"] == "jax" and jax_run["status"] == "FINISHED", jax_run["log"][-5:]
    assert jax_run["tensorflow"] == []  # trained, predicted and saved without TensorFlow
    assert "backend jax on CPU" in jax_run["log"][0]  # the log's first line: what was chosen, and on what

    # The same seeded run on TensorFlow (through the same image fit: the feature cache is TensorFlow's alone).
    tf_project = Project().copy_with(**settings, **{"training.backend": "tensorflow",
                                                    "training.feature_cache": False})
    tf_run = Trainer().run(tf_project, run_dir=tmp_path / "tf-run")
    assert tf_run.status == RunStatus.FINISHED
    # Keras's seeded initializers and the two input streams draw different numbers on each backend, so the runs
    # are two seeds of one recipe: on this validation set (2 of each class's 12 images) they may differ by one
    # image, no more.
    one_image = 1 / 6 + 1e-9
    assert abs(jax_run["metrics"]["val_accuracy"] - tf_run.metrics["val_accuracy"]) <= one_image
    assert min(jax_run["metrics"]["val_accuracy"], tf_run.metrics["val_accuracy"]) >= 0.8

    # The pretrained backbone computes the same features on both backends.
    model = keras.saving.load_model(tmp_path / "jax-run" / "model.keras")
    tf_features = keras.Model(model.inputs, model.get_layer(POOL_LAYER).output)(images, training=False).numpy()
    jax_features = np.load(tmp_path / "jax-features.npy")
    assert np.abs(jax_features - tf_features).max() <= 1e-3 * np.abs(tf_features).max()

    # The model a JAX worker wrote opens in the app's TensorFlow and exports, each format verified.
    report = export_run(tmp_path / "jax-run", ["keras", "tflite"], tmp_path / "export")
    assert report.ok and [r.format for r in report.results] == ["keras", "tflite"]


def test_the_loss_of_other_backends_keeps_the_gradient_of_a_confident_mistake():
    """Keras's loss clips probabilities at 1e-7, so without TensorFlow's logits shortcut a sure mistake teaches
    nothing; the loss other backends train with still pulls it back, and agrees with Keras's elsewhere."""
    import keras
    import tensorflow as tf

    from tlstudio.train.keras_metrics import ProbabilityCrossentropy

    target = tf.constant([[1.0, 0.0, 0.0]])
    logits = tf.Variable([[0.0, 30.0, 0.0]])  # the true class's probability is about 1e-13
    for loss, moves in [(keras.losses.CategoricalCrossentropy(), False), (ProbabilityCrossentropy(), True)]:
        with tf.GradientTape() as tape:
            value = loss(target, tf.nn.softmax(logits))  # probabilities alone: no logits to read
        gradient = tape.gradient(value, logits).numpy()
        assert bool(np.abs(gradient).max() > 0.5) == moves, (type(loss).__name__, gradient)
    assert float(ProbabilityCrossentropy()(target, tf.nn.softmax(logits))) == pytest.approx(30.0, rel=1e-4)

    moderate = tf.nn.softmax(tf.constant([[2.0, 1.0, 0.5], [0.1, 0.2, 3.0]]))
    truth = tf.constant([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    for smoothing in (0.0, 0.1):
        assert float(ProbabilityCrossentropy(smoothing)(truth, moderate)) == pytest.approx(
            float(keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)(truth, moderate)), rel=1e-5)
