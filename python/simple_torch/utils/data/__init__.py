"""``st.utils.data``: datasets, samplers and the ``DataLoader``, as ``torch.utils.data``.

The random samplers draw with torch's calls in torch's order, so a shuffled ``DataLoader``
visits samples in the order torch's does for the same seed. ``CUDAPrefetcher`` copies the next
batch to the GPU on a side stream while the current one is being used.

Example:
    >>> import simple_torch as st
    >>> from simple_torch.utils.data import DataLoader, TensorDataset
    >>> st.manual_seed(0)
    >>> loader = DataLoader(TensorDataset(st.randn(10, 3), st.arange(10)), batch_size=4, shuffle=True)
    >>> len(loader), [y.shape[0] for _, y in loader]
    (3, [4, 4, 2])
"""

from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import Dataset, IterableDataset, Subset, TensorDataset, random_split
from .distributed import DistributedSampler
from .prefetch import CUDAPrefetcher
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler

__all__ = [
    "BatchSampler",
    "CUDAPrefetcher",
    "DataLoader",
    "Dataset",
    "DistributedSampler",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "default_collate",
    "default_convert",
    "random_split",
]
