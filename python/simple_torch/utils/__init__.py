"""``st.utils``: helpers around tensors, as ``torch.utils``; ``st.utils.data`` has datasets,
samplers and the ``DataLoader``.

Example:
    >>> from simple_torch.utils.data import DataLoader, TensorDataset
    >>> loader = DataLoader(TensorDataset(st.arange(10)), batch_size=4)
    >>> [len(x) for (x,) in loader]
    [4, 4, 2]
"""

from . import data

__all__ = ["data"]
