"""IDX reader/writer: round trips (raw and .gz, every IDX type, ndim 1..3 incl. size-0 dims)
and one precise error per kind of corruption."""
import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn.data.idx import IDX_DTYPES, idx_bytes, parse_idx, read_idx, write_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def manual_idx(arr, code):
    """Independent encoder: struct-packed header + big-endian payload."""
    head = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from(DTYPES),
       shape=st.lists(st.integers(0, 5), min_size=1, max_size=3),
       gz=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_roundtrip(tmp_path_factory, dtype, shape, gz, seed):
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    else:
        a = rng.standard_normal(shape).astype(dtype)
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, a)
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    assert b.shape == a.shape
    np.testing.assert_array_equal(b, a)
    code = {np.dtype(v.newbyteorder("=")): k for k, v in IDX_DTYPES.items()}[np.dtype(dtype)]
    raw = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
    assert raw == manual_idx(a, code)          # writer agrees with the independent encoder


def test_reads_independently_encoded_file_noncontiguous(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.int32).reshape(2, 3, 4)[:, ::2, ::-1]   # non-contiguous
    (tmp_path / "x").write_bytes(manual_idx(np.ascontiguousarray(a), 0x0C))
    np.testing.assert_array_equal(read_idx(tmp_path / "x"), a)
    write_idx(tmp_path / "y", a)
    np.testing.assert_array_equal(read_idx(tmp_path / "y"), a)


def test_gzip_detected_by_content_not_name(tmp_path):
    a = np.arange(10, dtype=np.uint8)
    (tmp_path / "plain-name").write_bytes(gzip.compress(manual_idx(a, 0x08)))
    np.testing.assert_array_equal(read_idx(tmp_path / "plain-name"), a)


def test_uint8_result_is_writable(tmp_path):
    write_idx(tmp_path / "a", np.zeros((2, 3), np.uint8))
    a = read_idx(tmp_path / "a")
    a[0, 0] = 7                                 # torchvision-like: data is a normal array
    assert a[0, 0] == 7


GOOD = manual_idx(np.arange(12, dtype=np.uint8).reshape(3, 4), 0x08)


@pytest.mark.parametrize("buf, words", [
    (b"\x00\x00", ["not an IDX file", "4-byte magic", "found 2 bytes"]),
    (b"\x01\x00" + GOOD[2:], ["bad IDX magic", "0x00 0x00 <type> <ndim>", "found 0x01 0x00 0x08 0x02"]),
    (b"\x00\x00\x07\x02" + GOOD[4:], ["unknown type code 0x07", "0x08 uint8"]),
    (b"\x00\x00\x08\x00", ["expected ndim >= 1, found 0"]),
    (GOOD[:9], ["truncated IDX header", "expected 12 bytes for 2 dims, found 9"]),
    (GOOD[:-1], ["truncated IDX file", "dims (3, 4) uint8 = 24 bytes, found 23"]),
    (GOOD + b"\x00\x00", ["length mismatch", "= 24 bytes, found 26", "2 trailing bytes"]),
])
def test_corruption_messages(tmp_path, buf, words):
    p = tmp_path / "bad-file-idx"
    p.write_bytes(buf)
    with pytest.raises(ValueError) as ei:
        read_idx(p)
    msg = str(ei.value)
    assert str(p) in msg
    for w in words:
        assert w in msg


def test_truncated_multibyte_payload():
    buf = manual_idx(np.zeros((2, 5), np.float64), 0x0E)[:-3]
    with pytest.raises(ValueError, match=r"x\.idx: truncated IDX file: header says dims "
                                         r"\(2, 5\) float64 = 92 bytes, found 89"):
        parse_idx(bytearray(buf), "x.idx")


def test_truncated_gzip(tmp_path):
    p = tmp_path / "t.gz"
    p.write_bytes(gzip.compress(GOOD)[:-10])
    with pytest.raises(ValueError, match="corrupt or truncated gzip"):
        read_idx(p)


def test_write_rejects_unsupported():
    with pytest.raises(TypeError, match="IDX cannot store dtype int64"):
        idx_bytes(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"1 to 255 dims, got shape \(\)"):
        idx_bytes(np.float32(1.0))
