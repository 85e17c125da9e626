"""Module layout mirroring torch: fastnn.utils.data and fastnn.cuda exist and behave."""
import numpy as np

import fastnn
import fastnn.cuda
import fastnn.utils.data as fud
from fastnn.data import DataLoader as OldLoader


def test_utils_data_is_the_same_implementation():
    assert fud.DataLoader is OldLoader


def test_utils_data_tensor_dataset_loader():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    ds = fud.TensorDataset(fastnn.tensor(x), fastnn.tensor(np.arange(6)))
    batches = list(fud.DataLoader(ds, batch_size=4))
    assert [len(b[1].numpy()) for b in batches] == [4, 2]
    np.testing.assert_array_equal(batches[0][0].numpy(), x[:4])


def test_cuda_never_raises():
    assert isinstance(fastnn.cuda.is_available(), bool)
    assert fastnn.cuda.device_count() >= 0
    fastnn.cuda.synchronize()
    fastnn.cuda.manual_seed(0)
    assert fastnn.cuda.memory_allocated() >= 0
