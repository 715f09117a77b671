"""Read a state dict from PyTorch's legacy (pre-1.6, non-zip) `torch.save` file, without torch.

The legacy format is a run of pickles followed by raw storage bytes:

1. the magic number ``0x1950a86a20f9469cfc6c``;
2. the protocol version ``1001``;
3. system info (byte order, type sizes);
4. the object itself (here an ``OrderedDict`` of tensors, each pickled as a call to
   ``torch._utils._rebuild_tensor_v2`` on a storage named by a persistent id);
5. the list of storage keys;

then, for each key in that order, an 8-byte element count and the storage's raw bytes.

Only a file whose sha256 the caller names is ever unpickled, and then only with an unpickler
that resolves the handful of globals a state dict needs (tensor rebuilding, storage types,
``OrderedDict``) to harmless stand-ins; any other global is refused. No torch, no TensorFlow.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
from pathlib import Path

import numpy as np

from tlstudio.backbones.zoo.layer_store import verified

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# torch storage type name -> numpy dtype (little-endian; byte-swapped for big-endian files).
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class _StorageType:
    """What a ``torch.<Name>Storage`` global unpickles to: just its name and numpy dtype."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str, dtype: np.dtype) -> None:
        self.name = name
        self.dtype = dtype


class _Storage:
    """A storage named in the pickle; its bytes are read after the pickles, into `array`."""

    __slots__ = ("key", "dtype", "size", "array")

    def __init__(self, key: str, dtype: np.dtype, size: int) -> None:
        self.key = key
        self.dtype = dtype
        self.size = size
        self.array: np.ndarray | None = None


class _StorageView:
    """A legacy view into a root storage (element offset and length), from view metadata."""

    __slots__ = ("root", "offset", "size")

    def __init__(self, root: _Storage, offset: int, size: int) -> None:
        self.root = root
        self.offset = offset
        self.size = size


class _PendingTensor:
    """The arguments of one ``_rebuild_tensor_v2`` call, materialized once storages are read."""

    __slots__ = ("storage", "storage_offset", "size", "stride")

    def __init__(self, storage, storage_offset, size, stride) -> None:
        self.storage = storage
        self.storage_offset = storage_offset
        self.size = size
        self.stride = stride


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, *_metadata):
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: records what to rebuild, runs nothing."""
    if not isinstance(storage, (_Storage, _StorageView)):
        raise pickle.UnpicklingError("a tensor in the file is not backed by a storage")
    return _PendingTensor(storage, storage_offset, size, stride)


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals a legacy state dict needs; every other global is refused."""

    def __init__(self, file, storages: dict[str, _Storage], byteorder: str = "<") -> None:
        super().__init__(file, encoding="utf-8")
        self._storages = storages
        self._byteorder = byteorder

    def find_class(self, module: str, name: str):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name].newbyteorder(self._byteorder))
        raise pickle.UnpicklingError(f"the file refers to {module}.{name}, which a state dict "
                                     "reader does not allow")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise pickle.UnpicklingError("the file holds a persistent id that is not a storage")
        _, storage_type, key, _location, size, view_metadata = pid
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError("a storage in the file has no known storage type")
        if not isinstance(key, str) or not isinstance(size, int) or size < 0:
            raise pickle.UnpicklingError("a storage in the file has a malformed key or size")
        storage = self._storages.get(key)
        if storage is None:
            storage = self._storages[key] = _Storage(key, storage_type.dtype, size)
        elif storage.dtype != storage_type.dtype or storage.size != size:
            raise pickle.UnpicklingError(f"storage {key} is named with two different types or sizes")
        if view_metadata is None:
            return storage
        view_key, offset, view_size = view_metadata
        if not (isinstance(offset, int) and isinstance(view_size, int) and offset >= 0
                and view_size >= 0 and offset + view_size <= size):
            raise pickle.UnpicklingError(f"storage view {view_key} lies outside its storage")
        return _StorageView(storage, offset, view_size)


def _tensor_to_array(tensor: _PendingTensor) -> np.ndarray:
    """Copy one tensor out of its (already read) storage, checking it stays inside it."""
    storage = tensor.storage
    base_offset = 0
    if isinstance(storage, _StorageView):
        base_offset, limit, storage = storage.offset, storage.size, storage.root
    else:
        limit = storage.size
    flat = storage.array
    if flat is None:
        raise ValueError(f"storage {storage.key} is used by a tensor but its bytes are not in the file")
    size, stride, offset = tuple(tensor.size), tuple(tensor.stride), tensor.storage_offset
    if (len(size) != len(stride) or not isinstance(offset, int) or offset < 0
            or any(not isinstance(n, int) or n < 0 for n in size)
            or any(not isinstance(s, int) or s < 0 for s in stride)):
        raise ValueError(f"a tensor in storage {storage.key} has a malformed size, stride or offset")
    if 0 in size:
        return np.zeros(size, dtype=flat.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if last >= limit:
        raise ValueError(f"a tensor in storage {storage.key} reaches past the end of its storage")
    start = base_offset + offset
    view = np.lib.stride_tricks.as_strided(flat[start:], shape=size,
                                           strides=[s * flat.itemsize for s in stride],
                                           writeable=False)
    return np.array(view, dtype=flat.dtype.newbyteorder("="), copy=True, order="C")


def read_legacy_state_dict(path: str | Path, expected_sha256: str) -> dict[str, np.ndarray]:
    """The tensors of a legacy-format PyTorch state dict, in file order, as numpy arrays.

    The file's sha256 must equal `expected_sha256` before anything is unpickled; a mismatch, a
    zip-format or otherwise unreadable file, or a pickle that names any global beyond the
    tensor-rebuild function, the storage types and ``OrderedDict`` raises ``ValueError``.
    ``num_batches_tracked`` entries (if any) are kept; callers decide what to ignore.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path} cannot be read ({exc.strerror or exc}); reinstall the package "
                         "that provides it") from exc
    verified(data, expected_sha256, str(path), "reinstall the package that provides it")
    try:
        return _parse(data)
    except (ValueError, pickle.UnpicklingError, EOFError, struct.error, TypeError,
            AttributeError, IndexError, KeyError) as exc:
        raise ValueError(f"{path} is not a readable legacy PyTorch state dict ({exc}); "
                         "reinstall the package that provides it") from exc


def _parse(data: bytes) -> dict[str, np.ndarray]:
    """The state dict of a legacy torch.save file: the pickled header and tensors, then the raw storages."""
    if data[:4] == b"PK\x03\x04":
        raise ValueError("the file is a zip-format torch.save file, not the legacy format")
    stream = io.BytesIO(data)
    storages: dict[str, _Storage] = {}

    def load(byteorder: str = "<"):
        return _RestrictedUnpickler(stream, storages, byteorder).load()

    byteorder = _read_header(load)
    result = load(byteorder)
    keys = load(byteorder)
    if not isinstance(result, dict) or not isinstance(keys, list):
        raise ValueError("the file does not hold a state dict")
    for key in keys:
        _read_storage(stream, data, key, storages.get(key), byteorder)
    state: dict[str, np.ndarray] = collections.OrderedDict()
    for name, value in result.items():
        if not isinstance(name, str) or not isinstance(value, _PendingTensor):
            raise ValueError(f"state dict entry {name!r} is not a tensor")
        state[name] = _tensor_to_array(value)
    return state


def _read_header(load) -> str:
    """Check the magic number, protocol and system info; the byte order ("<" or ">") the rest is written in."""
    if load() != MAGIC_NUMBER:
        raise ValueError("the file does not start with the legacy PyTorch magic number")
    if load() != PROTOCOL_VERSION:
        raise ValueError("the file uses an unknown legacy PyTorch protocol version")
    sys_info = load()
    if not isinstance(sys_info, dict):
        raise ValueError("the file's system info is malformed")
    return "<" if sys_info.get("little_endian", True) else ">"


def _read_storage(stream: io.BytesIO, data: bytes, key: str, storage: _Storage | None, byteorder: str) -> None:
    """Point `storage` at its elements in `data` (no copy), after checking its length header fits the pickle."""
    if storage is None:
        raise ValueError(f"the file lists storage {key!r} that no tensor uses")
    header = stream.read(8)
    if len(header) != 8:
        raise ValueError(f"the file ends before storage {key}")
    count = struct.unpack(f"{byteorder}q", header)[0]
    if count != storage.size:
        raise ValueError(f"storage {key} holds {count} elements, the pickle says {storage.size}")
    nbytes = count * storage.dtype.itemsize
    start = stream.tell()
    if start + nbytes > len(data):
        raise ValueError(f"the file ends inside storage {key}")
    storage.array = np.frombuffer(data, dtype=storage.dtype, count=count, offset=start)
    stream.seek(start + nbytes)
