"""Checkpoints in PyTorch's format (simple_torch.serialization.save/load) and safetensors files:
what torch writes loads here, what we write loads in torch, every dtype bit for bit, views that
share memory keep sharing it, writes are atomic, and damaged or hostile files raise clean errors
that name the file."""

import collections
import io
import os
import pickle
import random
import struct
import warnings
import zipfile

import numpy as np
import pytest
import safetensors
import safetensors.torch
import torch

import simple_torch as st
from helpers import run_python
from simple_torch import serialization
from simple_torch.serialization import (
    CheckpointError,
    UnsafeCheckpointError,
    load,
    load_file,
    save,
    save_file,
)

ALL_DTYPES = list(st.DType)


# -- helpers ------------------------------------------------------------------------------------


def sample(dtype: st.DType, shape=(3, 4), seed=0) -> st.Tensor:
    """Distinct values of ``dtype`` (made in simple_torch, so every dtype, float8 included)."""
    st.manual_seed(seed)
    values = st.randn(*shape) * 50
    if dtype is st.bool:
        return values > 0
    if dtype.is_complex:
        return values.to(st.complex64).mul(1 - 2j).to(dtype)
    return values.to(dtype)


def torch_sample(name: str, shape=(3, 4)) -> torch.Tensor:
    """Distinct values of torch's dtype ``name``."""
    values = torch.randn(*shape) * 50
    if name == "bool":
        return values > 0
    if "complex" in name:
        return (values.to(torch.complex64) * (1 - 2j)).to(getattr(torch, name))
    return values.to(getattr(torch, name))


def raw(tensor) -> tuple:
    """(dtype name, shape, bytes) of a simple_torch or torch tensor: equal means bit for bit."""
    if isinstance(tensor, torch.Tensor):
        flat = tensor.detach().cpu().resolve_conj().resolve_neg().contiguous().reshape(-1)
        return str(tensor.dtype).removeprefix("torch."), tuple(tensor.shape), flat.view(torch.uint8).numpy().tobytes()
    flat = st.ops.aten.view.dtype(tensor.resolve_conj().resolve_neg().contiguous().reshape(-1), st.uint8)
    return tensor.dtype.name, tuple(tensor.shape), flat.cpu().numpy().tobytes()  # uint8: .cpu() takes every dtype


def same_structure(ours, theirs) -> None:
    """The same nesting of containers and values, with equal tensors (ours: simple_torch)."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, st.Tensor), type(ours)
        assert raw(ours) == raw(theirs)
        assert tuple(ours.stride()) == tuple(theirs.stride())
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs)
        for key in theirs:
            same_structure(ours[key], theirs[key])
    elif isinstance(theirs, (list, tuple)) and not isinstance(theirs, torch.Size):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            same_structure(a, b)
    elif isinstance(theirs, torch.dtype):
        assert ours.name == str(theirs).removeprefix("torch.")
    elif isinstance(theirs, torch.Size):
        assert isinstance(ours, st.Size) and tuple(ours) == tuple(theirs)
    elif isinstance(theirs, torch.device):
        assert str(ours) == str(theirs)
    else:
        assert type(ours) is type(theirs) and ours == theirs


def make_model() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5),
        torch.nn.BatchNorm1d(5), torch.nn.Embedding(7, 2),
    )


def model_state_dict():
    """A real state_dict (an OrderedDict with _metadata), with trained BatchNorm statistics."""
    torch.manual_seed(0)
    model = make_model()
    model.train()
    model[:5](torch.randn(8, 3, 8, 8))
    return model.state_dict()


def rezip(source, target, change):
    """Copies a zip archive, record by record, through ``change(name, data) -> data or None``
    (None drops the record); zipfile writes fresh, valid CRC-32s."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = change(info.filename, old.read(info))
            if data is not None:
                new.writestr(info.filename, data)


def with_pickle(path, data_pkl: bytes, target):
    """A copy of checkpoint ``path`` whose data.pkl is ``data_pkl``."""
    rezip(path, target, lambda name, data: data_pkl if name.endswith("/data.pkl") else data)
    return target


# -- torch.save -> load -------------------------------------------------------------------------


def test_torch_state_dict_loads_with_keys_metadata_and_values(tmp_path):
    state = model_state_dict()
    path = tmp_path / "model.pt"
    torch.save(state, path)

    loaded = load(path)

    assert type(loaded) is collections.OrderedDict
    assert list(loaded) == list(state)  # in order
    assert loaded._metadata == state._metadata  # the attribute BUILD sets
    same_structure(loaded, state)
    assert loaded["1.num_batches_tracked"].dtype is st.int64 and loaded["1.num_batches_tracked"].item() == 1


def test_torch_checkpoint_of_nested_containers_and_every_dtype_loads(tmp_path):
    tensors = {d.name: torch_sample(d.name) for d in ALL_DTYPES}
    tensors["empty_uint16"] = torch.zeros(2, 0, dtype=torch.uint16)
    tensors["empty_float8"] = torch.zeros(0, dtype=torch.float8_e4m3fn)
    checkpoint = {
        "tensors": tensors,
        # Not b"": torch pickles it as builtins.bytes(), which its own weights-only loader refuses.
        "nested": [1, -2**40, 2.5, "text", None, True, False, (1, (2, 3)), b"bytes", {1, 2}, 3 + 4j],
        "ordered": collections.OrderedDict(b=torch.ones(2), a=torch.zeros(3)),
        "size": torch.Size([2, 3]), "dtype": torch.bfloat16, "device": torch.device("cpu"),
        "counter": collections.Counter("aab"),
    }
    path = tmp_path / "all.pt"
    torch.save(checkpoint, path)

    loaded = load(path)

    same_structure(loaded["tensors"], checkpoint["tensors"])
    same_structure(loaded["ordered"], checkpoint["ordered"])
    assert loaded["nested"] == checkpoint["nested"]
    assert loaded["size"] == st.Size([2, 3]) and loaded["dtype"] is st.bfloat16 and loaded["device"] == st.Device("cpu")
    assert loaded["counter"] == collections.Counter("aab")


def test_torch_views_keep_sharing_memory_after_load(tmp_path):
    base = torch.arange(24.0).view(4, 6)
    checkpoint = {"base": base, "rows": base[1:3], "column": base[:, 2], "transposed": base.t()}
    path = tmp_path / "views.pt"
    torch.save(checkpoint, path)

    loaded = load(path)

    same_structure(loaded, checkpoint)
    loaded["base"][1, 2] = -1.0  # a write through one is seen by every view of the storage
    assert loaded["rows"][0, 2].item() == -1.0
    assert loaded["column"][1].item() == -1.0
    assert loaded["transposed"][2, 1].item() == -1.0


def test_torch_bfloat16_and_conjugate_views_load(tmp_path):
    values = torch.randn(5, 3).to(torch.bfloat16)
    conj = torch.tensor([1 + 2j, 3 - 4j]).conj()  # torch saves the lazy conjugate bit as metadata
    path = tmp_path / "bf16.pt"
    torch.save({"bf16": values, "conj": conj, "neg": torch._neg_view(torch.tensor([1 + 1j]))}, path)

    loaded = load(path)

    assert raw(loaded["bf16"]) == raw(values)
    assert loaded["bf16"].float().numpy().tolist() == values.float().numpy().tolist()
    assert loaded["conj"].is_conj() and loaded["conj"].tolist() == [1 - 2j, 3 + 4j]
    assert loaded["neg"].tolist() == [-1 - 1j]


def test_torch_parameter_and_requires_grad_load(tmp_path):
    path = tmp_path / "params.pt"
    torch.save({"p": torch.nn.Parameter(torch.ones(2)), "g": torch.ones(3, requires_grad=True)}, path)

    loaded = load(path)

    assert loaded["p"].tolist() == [1.0, 1.0] and loaded["g"].tolist() == [1.0, 1.0, 1.0]
    if isinstance(getattr(st.Tensor, "requires_grad", None), property):  # simple_torch's autograd is there
        assert loaded["p"].requires_grad and loaded["g"].requires_grad
    parameter = serialization._parameter_class()
    if parameter is not None:  # simple_torch.nn is there
        assert isinstance(loaded["p"], parameter) and not isinstance(loaded["g"], parameter)


def test_parameters_save_as_torch_parameters(tmp_path):
    parameter = serialization._parameter_class()
    if parameter is None:
        pytest.skip("simple_torch.nn.Parameter is not in this build")
    weight = parameter(st.ones(2, 2))
    weight.tag = "decay"  # a Python attribute, saved as torch saves a Parameter's
    frozen = parameter(st.zeros(3), requires_grad=False)
    path = tmp_path / "params.pt"
    save({"weight": weight, "frozen": frozen}, path)

    theirs = torch.load(path, weights_only=True)

    assert isinstance(theirs["weight"], torch.nn.Parameter) and theirs["weight"].requires_grad
    assert theirs["weight"].tag == "decay" and not theirs["frozen"].requires_grad
    ours = load(path)
    assert isinstance(ours["weight"], parameter) and ours["weight"].tag == "decay"
    assert ours["weight"].requires_grad and not ours["frozen"].requires_grad


def test_file_objects_both_ways():
    buffer = io.BytesIO()
    torch.save({"x": torch.arange(5)}, buffer)
    buffer.seek(0)
    assert load(buffer)["x"].tolist() == [0, 1, 2, 3, 4]

    buffer = io.BytesIO()
    save({"y": st.arange(3.0)}, buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=True)["y"].tolist() == [0.0, 1.0, 2.0]
    buffer.seek(0)
    assert load(buffer)["y"].tolist() == [0.0, 1.0, 2.0]


def test_saving_and_loading_never_import_torch(tmp_path):
    code = (
        "import collections, sys, simple_torch as st\n"
        "from simple_torch.serialization import save, load, save_file, load_file\n"
        "x = st.arange(6.0).view(2, 3)\n"
        "state = collections.OrderedDict(w=x, v=x.t(), b=st.ones(2).bfloat16()); state._metadata = {}\n"
        f"save(state, {str(tmp_path / 'a.pt')!r}); back = load({str(tmp_path / 'a.pt')!r})\n"
        f"save_file(dict(state), {str(tmp_path / 'a.st')!r}); again = load_file({str(tmp_path / 'a.st')!r})\n"
        "assert back['v'].tolist() == again['v'].tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr


# -- save -> torch.load -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_every_dtype_loads_in_torch_bit_for_bit(tmp_path, dtype):
    tensor = sample(dtype)
    path = tmp_path / "t.pt"
    save({"t": tensor, "view": tensor[1:, ::2], "empty": sample(dtype, shape=(0, 2))}, path)

    loaded = torch.load(path, weights_only=True)

    assert raw(loaded["t"]) == raw(tensor)
    assert loaded["empty"].shape == (0, 2) and raw(load(path)["empty"]) == raw(loaded["empty"])
    assert raw(loaded["view"]) == raw(tensor[1:, ::2])
    assert loaded["view"].stride() == (4, 2) and loaded["view"].storage_offset() == 4
    assert loaded["view"].untyped_storage().data_ptr() == loaded["t"].untyped_storage().data_ptr()


def test_nested_containers_load_in_torch(tmp_path):
    state = collections.OrderedDict(w=st.randn(3, 2), b=st.zeros(2))
    state._metadata = collections.OrderedDict({"": {"version": 1}})
    checkpoint = {
        "model": state,
        "optimizer": {"state": {0: {"step": st.tensor(3.0), "exp_avg": st.ones(3, 2)}}, "param_groups": [
            {"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "amsgrad": False, "name": None}]},
        "epoch": 7, "big": 2**70, "loss": float("inf"), "tag": "ünïcode", "raw": b"\x00\xff", "empty": b"",
        "set": {1, 2}, "complex": 1 - 2j, "tuple": (st.ones(1), [st.zeros(1)]), "size": st.Size([4, 5]),
        "dtype": st.float16, "device": st.Device("cpu"),
    }
    path = tmp_path / "nested.pt"
    save(checkpoint, path)

    theirs = torch.load(path, weights_only=True)

    same_structure(checkpoint, theirs)
    assert theirs["model"]._metadata == {"": {"version": 1}}
    assert theirs["size"] == torch.Size([4, 5]) and theirs["dtype"] is torch.float16
    assert theirs["device"] == torch.device("cpu")
    # And back: the same objects in simple_torch.
    same_structure(load(path), theirs)


def test_state_dict_round_trip_through_both(tmp_path):
    state = model_state_dict()
    first, second = tmp_path / "torch.pt", tmp_path / "ours.pt"
    torch.save(state, first)

    save(load(first), second)
    theirs = torch.load(second, weights_only=True)

    assert list(theirs) == list(state) and theirs._metadata == state._metadata
    for key in state:
        assert torch.equal(theirs[key], state[key]), key
    make_model().load_state_dict(theirs)  # strict: the keys, shapes and metadata a module expects


def test_views_share_one_storage_as_in_torch(tmp_path):
    base = st.arange(24.0).view(4, 6)
    views = {"base": base, "rows": base[1:3], "every_other": base[:, ::2], "transposed": base.t(),
             "expanded": base[0:1].expand(3, 6), "row": base[2]}
    path = tmp_path / "views.pt"
    save(views, path)

    theirs = torch.load(path, weights_only=True)
    ours = load(path)

    same_structure(ours, theirs)
    assert {t.untyped_storage().data_ptr() for t in theirs.values()} == {theirs["base"].untyped_storage().data_ptr()}
    assert theirs["row"].storage_offset() == 12 and theirs["expanded"].stride() == (0, 1)
    ours["base"][2, 0] = 100.0
    assert ours["row"][0].item() == 100.0 and ours["transposed"][0, 2].item() == 100.0
    theirs["base"][2, 0] = 100.0
    assert theirs["row"][0].item() == 100.0


def test_a_view_saves_its_whole_storage_as_torch_does(tmp_path):
    base = st.arange(1000.0)
    path = tmp_path / "slice.pt"
    save({"middle": base[10:20]}, path)

    theirs = torch.load(path, weights_only=True)["middle"]

    assert theirs.untyped_storage().nbytes() == 4000 and theirs.storage_offset() == 10
    assert theirs.tolist() == list(range(10, 20))
    assert load(path)["middle"].tolist() == [float(n) for n in range(10, 20)]


def test_non_contiguous_tensors(tmp_path):
    x = st.randn(4, 5, 6)
    tensors = {"permuted": x.permute(2, 0, 1), "strided": x[::2, 1:, ::3], "channels_last": st.randn(2, 3, 4, 5)
               .contiguous(memory_format=st.channels_last), "diagonal": st.ops.aten.diagonal(x[0])}
    path = tmp_path / "strided.pt"
    save(tensors, path)

    theirs = torch.load(path, weights_only=True)

    same_structure(tensors, theirs)
    assert theirs["channels_last"].is_contiguous(memory_format=torch.channels_last)
    same_structure(load(path), theirs)


def test_tensors_over_overlapping_numpy_arrays(tmp_path):
    array = np.arange(10.0)
    short, full = st.from_numpy(array[:5]), st.from_numpy(array)  # two storages at one address
    path = tmp_path / "overlap.pt"
    save([short, full, st.from_numpy(array[:3])], path)

    theirs = torch.load(path, weights_only=True)

    assert theirs[0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and theirs[1].tolist() == array.tolist()
    assert theirs[2].tolist() == [0.0, 1.0, 2.0]


def test_conjugate_and_negative_bits_are_saved_as_torch_saves_them(tmp_path):
    values = st.tensor([1 + 2j, 3 - 4j])
    path = tmp_path / "conj.pt"
    save({"values": values, "conj": values.conj()}, path)

    theirs = torch.load(path, weights_only=True)

    assert theirs["conj"].is_conj() and theirs["conj"].tolist() == [1 - 2j, 3 + 4j]
    assert theirs["conj"].untyped_storage().data_ptr() == theirs["values"].untyped_storage().data_ptr()
    assert load(path)["conj"].tolist() == [1 - 2j, 3 + 4j]


def test_requires_grad_is_saved(tmp_path):
    x = st.ones(2)
    try:
        x.requires_grad = True
    except AttributeError:
        pytest.skip("simple_torch's autograd (a settable requires_grad) is not in this build")
    path = tmp_path / "grad.pt"
    save({"x": x, "y": st.ones(2)}, path)

    theirs = torch.load(path, weights_only=True)

    assert theirs["x"].requires_grad and not theirs["y"].requires_grad
    ours = load(path)
    assert ours["x"].requires_grad and not ours["y"].requires_grad


def test_layout_matches_torch_writer(tmp_path, monkeypatch):
    """Records start at multiples of 64 and are followed by data descriptors, as torch's writer
    lays them out: torch's debug mode checks the offsets it computes from that layout."""
    path = tmp_path / "layout.pt"
    save([st.ones(n) for n in range(1, 30)] + [sample(st.uint16), sample(st.bfloat16)], path)

    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names[:4] == ["layout/data.pkl", "layout/.format_version", "layout/.storage_alignment",
                             "layout/byteorder"]
        assert names[-2:] == ["layout/version", "layout/.data/serialization_id"]
        data = path.read_bytes()
        for info in archive.infolist():
            name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26: info.header_offset + 30])
            assert (info.header_offset + 30 + name_length + extra_length) % 64 == 0, info.filename
    monkeypatch.setenv("TORCH_SERIALIZATION_DEBUG", "1")
    theirs = torch.load(path, weights_only=True)
    assert theirs[28].tolist() == [1.0] * 29


def test_different_dtypes_over_one_storage_cannot_be_saved(tmp_path):
    x = st.zeros(4)
    with pytest.raises(CheckpointError, match="different dtypes"):
        save([x, st.ops.aten.view.dtype(x, st.int32)], tmp_path / "x.pt")
    assert os.listdir(tmp_path) == []


# -- atomic writes ------------------------------------------------------------------------------


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save({"w": st.ones(3)}, path)
    before = path.read_bytes()

    # An object pickle cannot pickle, after some tensors.
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        save({"w": st.zeros(3), "b": st.zeros(1), "hook": lambda: None}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.pt"]

    # A failure while writing the storages.
    calls = []

    def failing(self):
        calls.append(self.key)
        if len(calls) == 2:
            raise OSError("disk full")
        return original(self)

    original = serialization._SavedStorage.as_bytes
    monkeypatch.setattr(serialization._SavedStorage, "as_bytes", failing)
    with pytest.raises(OSError, match="disk full"):
        save({"a": st.zeros(1000), "b": st.zeros(1000), "c": st.zeros(1000)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.pt"]

    # A failure of fsync, after everything was written.
    def no_fsync(descriptor):
        raise OSError("I/O error")

    monkeypatch.setattr(os, "fsync", no_fsync)
    with pytest.raises(OSError, match="I/O error"):
        save({"w": st.zeros(3)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.pt"]
    assert load(path)["w"].tolist() == [1.0, 1.0, 1.0]


def test_save_replaces_the_file_and_follows_symlinks(tmp_path):
    target = tmp_path / "real.pt"
    link = tmp_path / "link.pt"
    save({"v": 1}, target)
    link.symlink_to(target)

    save({"v": 2}, link)

    assert link.is_symlink() and load(target)["v"] == 2
    assert sorted(os.listdir(tmp_path)) == ["link.pt", "real.pt"]


# -- damaged and hostile files ------------------------------------------------------------------


@pytest.fixture
def checkpoint(tmp_path):
    """A real torch checkpoint: a state_dict and some other dtypes."""
    state = model_state_dict()
    state["extra.bf16"] = torch.randn(4).to(torch.bfloat16)
    state["extra.uint16"] = torch.arange(5).to(torch.uint16)
    path = tmp_path / "good.pt"
    torch.save(state, path)
    return path, state


def test_truncated_and_non_checkpoint_files(tmp_path, checkpoint):
    path, _ = checkpoint
    data = path.read_bytes()
    cases = {
        "empty.pt": (b"", "the file is empty"),
        "text.pt": (b"hello, world\n" * 10, "not a zip archive"),
        "cut.pt": (data[: len(data) // 2], "truncated or corrupt"),
        "cut_end.pt": (data[:-1], "truncated or corrupt"),
    }
    for name, (content, message) in cases.items():
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(CheckpointError, match=message) as error:
            load(bad)
        assert str(bad) in str(error.value)
    with pytest.raises(CheckpointError, match="truncated or corrupt") as error:
        load(tmp_path / "cut.pt")
    assert str(error.value).startswith(f"{tmp_path / 'cut.pt'}: not a PyTorch checkpoint: the file is truncated")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.pt")


def test_zip_without_data_pkl_or_with_a_missing_or_short_storage(tmp_path, checkpoint):
    path, _ = checkpoint
    no_pickle = tmp_path / "no_pickle.pt"
    rezip(path, no_pickle, lambda name, data: None if name.endswith("data.pkl") else data)
    with pytest.raises(CheckpointError, match="no <archive>/data.pkl") as error:
        load(no_pickle)
    assert str(no_pickle) in str(error.value)

    missing = tmp_path / "missing_storage.pt"
    rezip(path, missing, lambda name, data: None if name.endswith("/data/3") else data)
    with pytest.raises(CheckpointError, match="no record good/data/3") as error:
        load(missing)
    assert str(missing) in str(error.value)

    short = tmp_path / "short_storage.pt"
    rezip(path, short, lambda name, data: data[:-4] if name.endswith("/data/0") else data)
    with pytest.raises(CheckpointError, match="storage good/data/0 holds .* bytes, but") as error:
        load(short)
    assert str(short) in str(error.value)


def test_legacy_and_torchscript_files_are_refused_clearly(tmp_path):
    legacy = tmp_path / "legacy.pt"
    torch.save({"x": torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="legacy format") as error:
        load(legacy)
    assert str(legacy) in str(error.value)

    scripted = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), scripted)
    with pytest.raises(CheckpointError, match="TorchScript"):
        load(scripted)


def test_randomly_damaged_checkpoints_fail_cleanly_or_load_intact(tmp_path, checkpoint):
    """200 variants of a real checkpoint, with bytes flipped or cut short: each raises
    CheckpointError naming the file, or (when the damage hit bytes nothing reads, such as
    padding) loads exactly the original tensors, the CRC-32s having checked the rest."""
    path, state = checkpoint
    data = path.read_bytes()
    rng = random.Random(0)
    outcomes = collections.Counter()
    bad = tmp_path / "bad.pt"
    for variant in range(200):
        damaged = bytearray(data)
        if variant % 4 == 0:
            damaged = damaged[: rng.randrange(len(data))]
        else:
            for _ in range(rng.choice([1, 1, 2, 8])):
                damaged[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        bad.write_bytes(bytes(damaged))
        try:
            loaded = load(bad)
        except CheckpointError as error:
            assert str(bad) in str(error), error
            outcomes["error"] += 1
        else:
            same_structure(loaded, state)
            outcomes["intact"] += 1
    assert outcomes["error"] >= 100, outcomes


def test_randomly_damaged_pickles_fail_cleanly(tmp_path, checkpoint):
    """data.pkl itself damaged (with a valid CRC): any wrong opcode, argument or type raises
    CheckpointError; nothing crashes or runs."""
    path, _ = checkpoint
    with zipfile.ZipFile(path) as archive:
        pickled = archive.read("good/data.pkl")
    rng = random.Random(1)
    errors = 0
    for variant in range(200):
        damaged = bytearray(pickled)
        if variant % 5 == 0:
            damaged = damaged[: rng.randrange(len(pickled))]
        else:
            for _ in range(rng.choice([1, 2, 4])):
                damaged[rng.randrange(len(pickled))] = rng.randrange(256)
        bad = with_pickle(path, bytes(damaged), tmp_path / f"pickle{variant}.pt")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                load(bad)
        except CheckpointError as error:
            assert str(bad) in str(error), error
            errors += 1
        bad.unlink()
    assert errors >= 100


class _System:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_forbidden_globals_are_refused_and_never_run(tmp_path, checkpoint):
    path, _ = checkpoint
    marker = tmp_path / "pwned"
    evil = with_pickle(path, pickle.dumps({"x": _System(f"touch {marker}")}, protocol=2), tmp_path / "evil.pt")

    with pytest.raises(UnsafeCheckpointError, match=r"GLOBAL posix\.system is not allowed") as error:
        load(evil)

    assert str(evil) in str(error.value)
    assert isinstance(error.value, pickle.UnpicklingError) and isinstance(error.value, RuntimeError)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):  # torch refuses it as well
        torch.load(evil, weights_only=True)
    assert not marker.exists()


def test_weights_only_false_allows_other_globals(tmp_path, checkpoint):
    import fractions

    path, _ = checkpoint
    other = with_pickle(path, pickle.dumps({"f": fractions.Fraction(1, 3)}, protocol=2), tmp_path / "frac.pt")
    with pytest.raises(UnsafeCheckpointError, match="GLOBAL fractions.Fraction"):
        load(other)
    assert load(other, weights_only=False) == {"f": fractions.Fraction(1, 3)}


def test_forbidden_operations_are_refused(tmp_path, checkpoint):
    path, _ = checkpoint
    # BUILD on something other than an OrderedDict: a Counter given attributes.
    build = (b"\x80\x02ccollections\nCounter\n)R}X\x06\x00\x00\x00updateK\x01sb.")
    with pytest.raises(UnsafeCheckpointError, match="BUILD of a Counter"):
        load(with_pickle(path, build, tmp_path / "build.pt"))
    # A persistent id that is not a storage.
    persid = b"\x80\x02X\x03\x00\x00\x00abcQ."
    with pytest.raises(UnsafeCheckpointError, match="not a storage"):
        load(with_pickle(path, persid, tmp_path / "persid.pt"))
    # Opcodes torch.save never writes, such as BYTEARRAY8, which allocates the size it claims.
    huge = b"\x80\x05\x96" + struct.pack("<Q", 1 << 60) + b"."
    with pytest.raises(UnsafeCheckpointError, match="opcode BYTEARRAY8"):
        load(with_pickle(path, huge, tmp_path / "bytearray8.pt"))
    # bytearray(n) would allocate n bytes: only pickle's own form is allowed.
    huge = b"\x80\x02c__builtin__\nbytearray\n\x8a\x05\x00\x00\x00\x00\x10\x85R."
    with pytest.raises(CheckpointError, match="not how pickle writes a bytearray"):
        load(with_pickle(path, huge, tmp_path / "huge.pt"))


def test_torch_objects_simple_torch_cannot_build(tmp_path):
    sparse = tmp_path / "sparse.pt"
    torch.save({"s": torch.eye(2).to_sparse()}, sparse)
    with pytest.raises(CheckpointError, match="a sparse tensor"):
        load(sparse)

    module = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), module)
    with pytest.raises(UnsafeCheckpointError, match="torch.nn.modules.linear.Linear"):
        load(module)
    with pytest.raises(CheckpointError, match="cannot build without torch"):
        load(module, weights_only=False)


def test_big_endian_checkpoints_are_byteswapped(tmp_path):
    values = {"f": torch.randn(3), "i": torch.arange(4), "c": torch.tensor([1 + 2j]), "b": torch.tensor([1, 2],
                                                                                                 dtype=torch.uint8)}
    path = tmp_path / "little.pt"
    torch.save(values, path)
    unit = {"0": 4, "1": 8, "2": 4, "3": 1}  # storage key (torch numbers them in order) -> bytes to swap

    def swap(name, data):
        if name.endswith("/byteorder"):
            return b"big"
        if "/data/" in name:
            return np.frombuffer(data, f"<u{unit[name.rsplit('/', 1)[1]]}").byteswap().tobytes()
        return data

    big = tmp_path / "big.pt"
    rezip(path, big, swap)

    same_structure(load(big), torch.load(big, weights_only=True))
    same_structure(load(big), values)


# -- map_location -------------------------------------------------------------------------------


@pytest.fixture
def on_cuda(tmp_path):
    """A checkpoint whose storage says it was saved on cuda:0 (made without a GPU)."""
    path = tmp_path / "cpu.pt"
    save({"w": st.arange(4.0)}, path)
    with zipfile.ZipFile(path) as archive:
        pickled = archive.read("cpu/data.pkl")
    location = b"X\x03\x00\x00\x00cpu"
    assert pickled.count(location) == 1
    return with_pickle(path, pickled.replace(location, b"X\x06\x00\x00\x00cuda:0"), tmp_path / "cuda.pt")


def test_map_location_forms(on_cuda):
    seen = []

    def to_cpu(storage, location):
        seen.append((storage.dtype, storage.numel(), location))
        return storage

    for where in ["cpu", st.Device("cpu"), {"cuda:0": "cpu"}, to_cpu, b"cpu"]:
        loaded = load(on_cuda, map_location=where)
        assert loaded["w"].tolist() == [0.0, 1.0, 2.0, 3.0] and loaded["w"].device == st.Device("cpu")
    assert seen == [(st.uint8, 16, "cuda:0")]
    with pytest.raises(CheckpointError, match="unknown|cannot place"):
        load(on_cuda, map_location="tpu:3")


@pytest.mark.skipif(st.cuda_device_count() > 0, reason="checks the error on a machine without a GPU")
def test_cuda_checkpoint_without_a_gpu_says_to_map_to_cpu(on_cuda):
    with pytest.raises(CheckpointError, match="map_location='cpu'") as error:
        load(on_cuda)
    assert str(on_cuda) in str(error.value)
    with pytest.raises(CheckpointError, match="map_location='cpu'"):
        load(on_cuda, map_location=lambda storage, location: None)  # None: where it was saved


@pytest.mark.cuda
def test_cuda_tensors_round_trip(tmp_path, on_cuda):
    assert load(on_cuda)["w"].device == st.Device("cuda:0")
    x = st.arange(6.0).view(2, 3).cuda(0)
    path = tmp_path / "gpu.pt"
    save({"x": x, "t": x.t()}, path)
    theirs = torch.load(path, weights_only=True, map_location="cpu")
    assert theirs["t"].tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    assert torch.load(path, weights_only=True)["x"].is_cuda
    ours = load(path)
    assert ours["x"].is_cuda and ours["t"].cpu().tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    assert load(path, map_location="cpu")["x"].device == st.Device("cpu")


# -- safetensors --------------------------------------------------------------------------------

SAFETENSORS_DTYPES = [d for d in ALL_DTYPES if d not in (st.complex128, st.complex32)]


def test_save_file_loads_with_the_package(tmp_path):
    tensors = {d.name: sample(d) for d in SAFETENSORS_DTYPES}
    tensors.update({"transposed": st.arange(6.0).view(2, 3).t(), "scalar": st.tensor(7), "empty": st.zeros(0, 3),
                    "conj": st.tensor([1 + 1j]).conj()})
    path = tmp_path / "model.safetensors"
    save_file(tensors, path, metadata={"format": "pt", "note": "ünï"})

    theirs = safetensors.torch.load_file(path)

    assert set(theirs) == set(tensors)
    for name, tensor in tensors.items():
        assert raw(theirs[name]) == raw(tensor), name
    with safetensors.safe_open(path, framework="pt") as opened:
        assert opened.metadata() == {"format": "pt", "note": "ünï"}
    assert os.listdir(tmp_path) == ["model.safetensors"]


def test_load_file_reads_the_package_files(tmp_path):
    theirs = {"w": torch.randn(4, 3).to(torch.bfloat16), "b": torch.arange(5), "flag": torch.tensor([True, False]),
              "u16": torch.arange(3).to(torch.uint16), "f8": torch.randn(3).to(torch.float8_e5m2),
              "scalar": torch.tensor(2.5), "empty": torch.zeros(2, 0), "empty_u16": torch.zeros(0, 3, dtype=torch.uint16)}
    path = tmp_path / "theirs.safetensors"
    safetensors.torch.save_file(theirs, path)

    ours = load_file(path)

    assert list(ours) == list(safetensors.torch.load_file(path))  # the file's order
    for name in theirs:
        assert raw(ours[name]) == raw(theirs[name]), name


def test_load_file_maps_the_file_without_copying(tmp_path):
    path = tmp_path / "big.safetensors"
    safetensors.torch.save_file({"a": torch.arange(1 << 16, dtype=torch.float32), "b": torch.ones(8)}, path)
    before = path.read_bytes()

    loaded = load_file(path)

    address = int(loaded["a"].data_ptr)
    if os.path.exists("/proc/self/maps"):  # Linux: the tensor's memory is a mapping of the file
        with open("/proc/self/maps") as maps:
            mapped = [line for line in maps if str(path) in line]
        ranges = [tuple(int(n, 16) for n in line.split()[0].split("-")) for line in mapped]
        assert any(low <= address < high for low, high in ranges), mapped
    loaded["a"][0] = -5.0  # copy-on-write: the tensor changes, the file does not
    assert loaded["a"][0].item() == -5.0 and path.read_bytes() == before


def test_safetensors_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="safetensors has no complex128"):
        save_file({"c": st.ones(2, dtype=st.complex128)}, tmp_path / "c.safetensors")
    assert os.listdir(tmp_path) == []

    path = tmp_path / "ok.safetensors"
    save_file({"w": st.ones(10)}, path)
    data = path.read_bytes()
    for name, content in {"cut.safetensors": data[:-3], "garbage.safetensors": b"\xff" * 40,
                          "header.safetensors": data[:8] + b"[" + data[9:], "tiny.safetensors": b"\x01"}.items():
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(CheckpointError) as error:
            load_file(bad)
        assert str(bad) in str(error.value)
    with pytest.raises(FileNotFoundError):
        load_file(tmp_path / "missing.safetensors")


def test_save_file_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    save_file({"w": st.ones(2)}, path)
    before = path.read_bytes()

    def failing(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors, "serialize_file", failing)
    with pytest.raises(OSError, match="disk full"):
        save_file({"w": st.zeros(2)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["w.safetensors"]
