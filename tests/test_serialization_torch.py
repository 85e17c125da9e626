"""fastnn.save / fastnn.load in torch's formats: committed fixtures written by torch read without torch
(values in closed form), round trips both ways against torch when it is installed, and a corpus of
malicious and corrupt files refused with a clear message and without side effects."""
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.serialization import UnpicklingError

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
A = np.arange(12, dtype=np.float32).reshape(3, 4)          # the fixtures' closed forms (make_torch_fixtures.py)


@pytest.mark.parametrize("name", ["torch_zip.pt", "torch_legacy.pt"])
def test_reads_torch_fixtures_without_torch(name):
    with pytest.warns(UserWarning, match="bfloat16 widened to float32"):
        d = fastnn.load(os.path.join(FIXTURES, name))
    np.testing.assert_array_equal(d["a"].numpy(), A)
    np.testing.assert_array_equal(d["view"].numpy(), A.T)           # a transposed view of a's storage
    np.testing.assert_array_equal(d["row"].numpy(), A[1])           # storage offset 4
    assert d["scalar"].shape == () and d["scalar"].dtype == fastnn.float64 and d["scalar"].item() == 2.5
    assert d["half"].dtype == fastnn.float16 and d["half"].tolist() == [0, 1, 2, 3]
    assert d["bf16"].dtype == fastnn.float32 and d["bf16"].tolist() == [0, 1, 2, 3]
    assert d["long"].dtype == fastnn.int64 and d["long"].tolist() == [0, 1, 2, 3, 4]
    assert d["bool"].tolist() == [True, False]
    assert isinstance(d["param"], nn.Parameter) and d["param"].requires_grad
    np.testing.assert_array_equal(d["param"].detach().numpy(), A[:, :2])
    assert d["nested"]["list"][1] == 7 and d["nested"]["tuple"] == (1.5, "x")
    lin = nn.Linear(3, 2)
    lin.load_state_dict(d["linear"])
    np.testing.assert_allclose(lin.weight.detach().numpy(), np.arange(6).reshape(2, 3) / 10, rtol=1e-6)
    assert lin.bias.tolist() == [-1.0, 1.0]


def test_fastnn_round_trip_shares_storage_and_keeps_types(tmp_path):
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    opt = fastnn.optim.Adam(model.parameters(), lr=0.1)
    model(fastnn.randn(5, 4)).sum().backward()
    opt.step()
    t = fastnn.arange(12.0).reshape(3, 4)
    obj = {"model": model.state_dict(), "optim": opt.state_dict(), "t": t, "tT": t.t(), "empty": fastnn.zeros(0, 3),
           "i": fastnn.tensor([1, 2], dtype=fastnn.int64), "meta": {"epoch": 3, "tags": ("a", None, 2.5)}}
    fastnn.save(obj, tmp_path / "ck.pt")
    with zipfile.ZipFile(tmp_path / "ck.pt") as z:
        records = [n for n in z.namelist() if "/data/" in n]
        assert all(i.compress_type == zipfile.ZIP_STORED and (i.header_offset + 30 + len(i.filename)
                   + len(i.extra)) % 64 == 0 for i in z.infolist())          # torch's 64-byte alignment
    assert records
    fastnn.save(model.state_dict(), tmp_path / "sd.pt")
    with zipfile.ZipFile(tmp_path / "sd.pt") as z:          # parameters are views of the optimizer's flat
        assert sum("/data/" in n for n in z.namelist()) == 1   # buffer: one storage record holds all four
    back = fastnn.load(tmp_path / "ck.pt")
    for k, v in obj["model"].items():
        np.testing.assert_array_equal(back["model"][k].numpy(), v.numpy())
    np.testing.assert_array_equal(back["tT"].numpy(), t.numpy().T)
    assert back["empty"].shape == (0, 3) and back["i"].dtype == fastnn.int64
    assert back["meta"] == {"epoch": 3, "tags": ("a", None, 2.5)}
    np.testing.assert_array_equal(back["optim"]["state"][0]["exp_avg"].numpy(),
                                  opt.state_dict()["state"][0]["exp_avg"].numpy())


@pytest.mark.torch
def test_torch_reads_fastnn_files_and_fastnn_reads_torch_files(tmp_path):
    torch = pytest.importorskip("torch")
    fastnn.manual_seed(1)
    f = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    fastnn.save({"sd": f.state_dict(), "x": fastnn.randn(3, 5).t(), "p": f[0].weight}, tmp_path / "f.pt")
    d = torch.load(tmp_path / "f.pt", weights_only=True)
    t = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    t.load_state_dict(d["sd"])
    x = np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32)
    np.testing.assert_allclose(t(torch.tensor(x)).detach().numpy(), f(fastnn.tensor(x)).detach().numpy(), rtol=1e-6)
    assert isinstance(d["p"], torch.nn.Parameter) and d["x"].shape == (5, 3)
    # torch -> fastnn: shared storages, offsets, strides, 0-d, a whole optimizer state
    tm = torch.nn.Linear(3, 2)
    to = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    tm(torch.randn(4, 3)).sum().backward()
    to.step()
    base = torch.randn(6, 5, dtype=torch.float64)
    torch.save({"m": tm.state_dict(), "o": to.state_dict(), "v": base[1:, ::2], "s": base[2, 3]}, tmp_path / "t.pt")
    g = fastnn.load(tmp_path / "t.pt")
    np.testing.assert_array_equal(g["v"].numpy(), base[1:, ::2].numpy())
    assert g["s"].shape == () and g["s"].item() == base[2, 3].item()
    lin = nn.Linear(3, 2)
    lin.load_state_dict(g["m"])
    np.testing.assert_array_equal(lin.weight.detach().numpy(), tm.weight.detach().numpy())
    np.testing.assert_array_equal(g["o"]["state"][0]["momentum_buffer"].numpy(),
                                  to.state_dict()["state"][0]["momentum_buffer"].numpy())


# ---- malicious and corrupt files -----------------------------------------------------------------
class _System:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return os.system, (self.cmd,)


def _zip_with_pickle(path, pkl, extra=None):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", "little")
        for k, v in (extra or {}).items():
            z.writestr(k, v)


def test_a_reduce_to_os_system_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    _zip_with_pickle(path, pickle.dumps({"w": _System(f"touch {marker}")}, protocol=2))
    with pytest.raises(UnpicklingError, match=r"Unsupported global: GLOBAL (posix|os)\.system"):
        fastnn.load(path)
    assert not marker.exists()
    legacy = tmp_path / "evil_legacy.pt"
    with open(legacy, "wb") as f:
        pickle.dump(0x1950A86A20F9469CFC6C, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump({}, f, protocol=2)
        pickle.dump(_System(f"touch {marker}"), f, protocol=2)
    with pytest.raises(UnpicklingError, match="Unsupported global"):
        fastnn.load(legacy)
    assert not marker.exists()


@pytest.mark.parametrize("module,name", [("builtins", "eval"), ("pickle", "loads"), ("numpy", "load"),
                                         ("torch", "load"), ("fastnn.serialization", "_rebuild_tensor")])
def test_unknown_globals_are_refused_by_name(tmp_path, module, name):
    pkl = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X\x01\x00\x00\x00x\x85R."    # module.name('x')
    path = tmp_path / "g.pt"
    _zip_with_pickle(path, pkl)
    with pytest.raises(UnpicklingError, match=f"GLOBAL {module}.{name} was not an allowed global"):
        fastnn.load(path)


def test_corrupt_and_truncated_files(tmp_path):
    good = tmp_path / "good.pt"
    fastnn.save({"w": fastnn.arange(10.0)}, good)
    data = good.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(UnpicklingError, match="trunc.pt: corrupt or truncated torch zip archive"):
        fastnn.load(tmp_path / "trunc.pt")
    with zipfile.ZipFile(good) as z:                           # a storage record shorter than declared
        entries = {n: z.read(n) for n in z.namelist()}
    key = next(n for n in entries if "/data/" in n)
    entries[key] = entries[key][:-4]
    with zipfile.ZipFile(tmp_path / "short.pt", "w") as z:
        for n, v in entries.items():
            z.writestr(n, v)
    with pytest.raises(UnpicklingError, match=r"36 bytes, but the pickle declares 10 elements"):
        fastnn.load(tmp_path / "short.pt")
    del entries[key]                                           # a record the pickle refers to is missing
    with zipfile.ZipFile(tmp_path / "missing.pt", "w") as z:
        for n, v in entries.items():
            z.writestr(n, v)
    with pytest.raises(UnpicklingError, match="which the archive lacks"):
        fastnn.load(tmp_path / "missing.pt")
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"a": 1}, protocol=5))
    with pytest.raises(UnpicklingError, match="neither torch's zip format nor its legacy format"):
        fastnn.load(tmp_path / "plain.pkl")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(UnpicklingError, match="the file is empty"):
        fastnn.load(tmp_path / "empty.pt")


def test_a_view_outside_its_storage_is_refused(tmp_path):
    buf = io.BytesIO()
    fastnn.save({"w": fastnn.arange(4.0)}, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    pkl = next(n for n in entries if n.endswith("data.pkl"))
    entries[pkl] = entries[pkl].replace(b"K\x04\x85", b"K\x09\x85")       # shape (4,) -> (9,)
    with zipfile.ZipFile(tmp_path / "oob.pt", "w") as z:
        for n, v in entries.items():
            z.writestr(n, v)
    with pytest.raises(UnpicklingError, match="reach element 8 of a storage of 4"):
        fastnn.load(tmp_path / "oob.pt")


def test_weights_only_false_loads_trusted_objects(tmp_path):
    path = tmp_path / "obj.pt"
    fastnn.save({"when": complex(1, 2), "cls": np.float32}, path)
    with pytest.raises(UnpicklingError, match="numpy.float32"):
        fastnn.load(path)
    assert fastnn.load(path, weights_only=False)["cls"] is np.float32


def test_map_location_puts_tensors_on_the_device(backend, tmp_path):
    fastnn.save({"w": fastnn.arange(3.0), "p": nn.Parameter(fastnn.ones(2))}, tmp_path / "m.pt")
    for where in (backend, {"cpu": backend}):
        d = fastnn.load(tmp_path / "m.pt", map_location=where)
        assert d["w"].device.type == backend and d["w"].tolist() == [0.0, 1.0, 2.0]
        assert isinstance(d["p"], nn.Parameter) and d["p"].device.type == backend
