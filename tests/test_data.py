"""st.utils.data: datasets, samplers, collation and the DataLoader give torch's batches, in
torch's order for the same seed (with a generator, or after manual_seed), and DistributedSampler
torch's indices; CUDAPrefetcher puts batches on the GPU (or says plainly that there is none)."""

import collections
import warnings

import numpy as np
import pytest
import torch
import torch.utils.data as td

import simple_torch as st
from simple_torch.utils import data
from simple_torch.utils.data import (
    BatchSampler,
    CUDAPrefetcher,
    DataLoader,
    DistributedSampler,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
)


def datasets(n=23):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 3)).astype("float32")
    y = np.arange(n)
    return TensorDataset(st.tensor(x), st.tensor(y)), td.TensorDataset(torch.tensor(x), torch.tensor(y))


def plain(value):
    """Batches as nested Python values, st's and torch's alike (tensors as (dtype, values))."""
    if isinstance(value, st.Tensor):
        return (value.dtype.name, value.tolist())
    if isinstance(value, torch.Tensor):
        return (str(value.dtype).removeprefix("torch."), value.tolist())
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value).__name__, [plain(v) for v in value]
    return value


def epochs(loader, n=1):
    return [[plain(batch) for batch in loader] for _ in range(n)]


def test_tensor_dataset_indexing_and_len():
    ds, tds = datasets()
    assert len(ds) == len(tds) == 23
    for index in (0, 5, -1, slice(2, 7), slice(None, None, 4)):
        assert plain(ds[index]) == plain(tds[index])
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(st.zeros(3), st.zeros(4))


def test_loader_in_order_equals_torchs():
    ds, tds = datasets()
    for batch_size, drop_last in [(1, False), (4, False), (4, True), (23, False), (50, False), (50, True)]:
        loader = DataLoader(ds, batch_size=batch_size, drop_last=drop_last)
        tloader = td.DataLoader(tds, batch_size=batch_size, drop_last=drop_last)
        assert epochs(loader) == epochs(tloader)
        assert len(loader) == len(tloader)


@pytest.mark.parametrize("drop_last", [False, True])
def test_shuffle_with_a_generator_equals_torchs(drop_last):
    ds, tds = datasets()
    loader = DataLoader(ds, batch_size=5, shuffle=True, drop_last=drop_last, generator=st.Generator().manual_seed(0))
    tloader = td.DataLoader(tds, batch_size=5, shuffle=True, drop_last=drop_last, generator=torch.Generator().manual_seed(0))
    ours, theirs = epochs(loader, 3), epochs(tloader, 3)
    assert ours == theirs
    assert ours[0] != ours[1]  # a new order each epoch
    assert len(loader) == len(tloader) == (4 if drop_last else 5)


def test_shuffle_after_manual_seed_equals_torchs():
    # st and torch share libtorch's default generator in this process: each side is seeded and
    # then run on its own, so that the other's draws do not come in between.
    ds, tds = datasets()
    st.manual_seed(0)
    ours = epochs(DataLoader(ds, batch_size=4, shuffle=True), 3)
    torch.manual_seed(0)
    theirs = epochs(td.DataLoader(tds, batch_size=4, shuffle=True), 3)
    assert ours == theirs and ours[0] != ours[1]
    st.manual_seed(123)
    ours = [list(RandomSampler(range(17))) for _ in range(2)]
    torch.manual_seed(123)
    theirs = [list(td.RandomSampler(range(17))) for _ in range(2)]
    assert ours == theirs


def test_random_sampler_with_replacement_and_num_samples():
    for replacement, num_samples in [(True, None), (True, 75), (False, 40), (False, 5)]:
        ours = list(RandomSampler(range(11), replacement, num_samples, generator=st.Generator().manual_seed(3)))
        theirs = list(td.RandomSampler(range(11), replacement, num_samples, generator=torch.Generator().manual_seed(3)))
        assert ours == theirs and len(ours) == (num_samples or 11)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        RandomSampler(range(3), replacement=1)


def test_samplers_and_batch_sampler():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3] and len(SequentialSampler(range(4))) == 4
    ours = list(SubsetRandomSampler([10, 20, 30, 40, 50], generator=st.Generator().manual_seed(7)))
    theirs = list(td.SubsetRandomSampler([10, 20, 30, 40, 50], generator=torch.Generator().manual_seed(7)))
    assert ours == theirs
    for drop_last in (False, True):
        ours = BatchSampler(SequentialSampler(range(10)), 3, drop_last)
        theirs = td.BatchSampler(td.SequentialSampler(range(10)), 3, drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got batch_size=0"):
        BatchSampler(range(3), 0, False)


def test_loader_with_a_sampler_or_a_batch_sampler():
    ds, tds = datasets(12)
    sampler = list(range(11, -1, -1))
    assert epochs(DataLoader(ds, batch_size=5, sampler=sampler)) == epochs(td.DataLoader(tds, batch_size=5, sampler=sampler))
    batches = [[0, 5], [3], [11, 1, 2]]
    loader = DataLoader(ds, batch_sampler=batches)
    assert epochs(loader) == epochs(td.DataLoader(tds, batch_sampler=batches)) and len(loader) == 3
    # unbatched: samples one by one, converted but not collated
    assert epochs(DataLoader(ds, batch_size=None)) == epochs(td.DataLoader(tds, batch_size=None))


@pytest.mark.parametrize("n, replicas, drop_last", [(23, 4, False), (23, 4, True), (10, 3, False), (10, 3, True),
                                                    (12, 4, False), (2, 5, False), (7, 1, False)])
@pytest.mark.parametrize("shuffle", [True, False])
def test_distributed_sampler_equals_torchs(n, replicas, drop_last, shuffle):
    ds, tds = datasets(n)
    for rank in range(replicas):
        ours = DistributedSampler(ds, num_replicas=replicas, rank=rank, shuffle=shuffle, seed=3, drop_last=drop_last)
        theirs = td.DistributedSampler(tds, num_replicas=replicas, rank=rank, shuffle=shuffle, seed=3, drop_last=drop_last)
        for epoch in (0, 1, 5):
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            assert list(ours) == list(theirs) and len(ours) == len(theirs)
    loader = DataLoader(ds, batch_size=2, sampler=DistributedSampler(ds, num_replicas=replicas, rank=0, shuffle=shuffle))
    tloader = td.DataLoader(tds, batch_size=2, sampler=td.DistributedSampler(tds, num_replicas=replicas, rank=0, shuffle=shuffle))
    assert epochs(loader) == epochs(tloader)


def test_distributed_sampler_errors():
    ds, _ = datasets(5)
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 2\]"):
        DistributedSampler(ds, num_replicas=3, rank=3)
    with pytest.raises(RuntimeError, match="Requires distributed package to be available: call st.distributed.init_process_group"):
        DistributedSampler(ds)


Point = collections.namedtuple("Point", "x y")


class Records(data.Dataset):
    """Samples of every kind default_collate handles, built by a function of the tensor module."""

    def __init__(self, tensor, n=6):
        self.tensor, self.n = tensor, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"image": self.tensor([[float(i), 1.0], [2.0, 3.0]]), "label": i, "weight": i / 2, "flag": i % 2 == 0,
                "name": f"item{i}", "point": Point(self.tensor([i]), i), "pair": (i, [np.float32(i), np.arange(2) + i])}


def test_default_collate_equals_torchs():
    loader, tloader = DataLoader(Records(st.tensor), batch_size=4), td.DataLoader(Records(torch.tensor), batch_size=4)
    ours, theirs = epochs(loader), epochs(tloader)
    assert ours == theirs
    first = next(iter(loader))
    assert first["weight"].dtype == st.float64 and first["label"].dtype == st.int64 and first["flag"].dtype == st.bool
    assert isinstance(first["point"], Point) and first["name"] == ["item0", "item1", "item2", "item3"]
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors"):
        data.default_collate([object(), object()])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        data.default_collate([[1, 2], [3]])
    assert plain(data.default_convert({"a": np.arange(3), "b": (np.float64(2.5), "s")})) == \
        plain(td.default_convert({"a": np.arange(3), "b": (np.float64(2.5), "s")}))


def test_custom_collate_fn_and_getitems():
    class Batched(data.Dataset):
        def __len__(self):
            return 7

        def __getitems__(self, indices):  # one call per batch
            return [st.tensor(indices)]

    loader = DataLoader(Batched(), batch_size=3, collate_fn=lambda items: items[0] * 10)
    assert [b.tolist() for b in loader] == [[0, 10, 20], [30, 40, 50], [60]]


def test_iterable_dataset_batches_in_order():
    class Items:
        def __init__(self, module):
            self.module = module

        def __iter__(self):
            return iter(self.module.tensor([float(i), -float(i)]) for i in range(7))

        def __len__(self):
            return 7

    class Stream(Items, data.IterableDataset):
        pass

    class TStream(Items, td.IterableDataset):
        pass

    for batch_size, drop_last in [(3, False), (3, True), (None, False)]:
        loader = DataLoader(Stream(st), batch_size=batch_size, drop_last=drop_last)
        tloader = td.DataLoader(TStream(torch), batch_size=batch_size, drop_last=drop_last)
        assert epochs(loader, 2) == epochs(tloader, 2)
        assert len(loader) == len(tloader)
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Stream(st), shuffle=True)


def test_subset_and_random_split_equal_torchs():
    ds, tds = datasets(10)
    assert plain(data.Subset(ds, [3, 1])[1]) == plain(td.Subset(tds, [3, 1])[1])
    for lengths in ([3, 7], [0.3, 0.3, 0.4], [0.25, 0.75]):
        ours = data.random_split(range(10), lengths, generator=st.Generator().manual_seed(4))
        theirs = td.random_split(range(10), lengths, generator=torch.Generator().manual_seed(4))
        assert [list(s) for s in ours] == [list(s) for s in theirs]
    loader = DataLoader(data.Subset(ds, [9, 0, 4]), batch_size=2)
    assert epochs(loader) == epochs(td.DataLoader(td.Subset(tds, [9, 0, 4]), batch_size=2))
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        data.random_split(range(10), [3, 3])


def test_loader_errors():
    ds, _ = datasets(4)
    with pytest.raises(NotImplementedError, match="num_workers=2.*calling process only"):
        DataLoader(ds, num_workers=2)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, shuffle=True, sampler=[0, 1])
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_size=2, batch_sampler=[[0, 1]])
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(ds, persistent_workers=True)
    loader = DataLoader(ds)
    with pytest.raises(ValueError, match="batch_size attribute should not be set"):
        loader.batch_size = 3


@pytest.mark.skipif(st.cuda_device_count() > 0, reason="checks the behaviour without a GPU")
def test_pin_memory_without_cuda_warns_and_loads_plain_batches():
    ds, tds = datasets(6)
    loader = DataLoader(ds, batch_size=4, pin_memory=True)
    with pytest.warns(UserWarning, match="'pin_memory' argument is set as true but no accelerator is found"):
        batches = list(loader)
    assert [plain(b) for b in batches] == epochs(td.DataLoader(tds, batch_size=4))[0]
    assert not batches[0][0].is_pinned()


@pytest.mark.skipif(st.cuda_device_count() > 0, reason="checks the behaviour without a GPU")
def test_prefetcher_without_cuda_raises_or_passes_batches_through():
    ds, _ = datasets(6)
    loader = DataLoader(ds, batch_size=4)
    with pytest.raises(st.DeviceError, match="pass policy='cpu'"):
        CUDAPrefetcher(loader, "cuda:0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the device fallback warns once per process
        fallback = CUDAPrefetcher(loader, "cuda:0", policy="cpu")
    assert fallback.device == st.Device.cpu() and len(fallback) == 2
    assert epochs(fallback) == epochs(loader)
    assert epochs(CUDAPrefetcher(loader, "cpu")) == epochs(loader)


@pytest.mark.cuda
def test_prefetcher_copies_batches_to_the_gpu_on_a_side_stream():
    ds, _ = datasets(50)
    loader = DataLoader(ds, batch_size=8, pin_memory=True)
    pinned = next(iter(loader))
    assert pinned[0].is_pinned() and pinned[1].is_pinned()
    prefetcher = CUDAPrefetcher(loader, "cuda:0")
    assert prefetcher.stream != st.Stream.current("cuda:0") and len(prefetcher) == len(loader)
    for _ in range(2):
        sums = []
        for x, y in prefetcher:
            assert x.device == st.Device.cuda(0) and y.device == st.Device.cuda(0)
            sums.append(((x * 2).sum().item(), y.tolist()))  # used on the current stream
        expected = [((x * 2).sum().item(), y.tolist()) for x, y in loader]
        assert sums == expected
    with pytest.raises(ValueError, match="side stream must be on cuda:0"):
        CUDAPrefetcher(loader, "cuda:0", stream=st.Stream("cpu"))
