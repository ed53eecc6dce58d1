"""``st.nn.parallel``: data-parallel training over :mod:`simple_torch.distributed`, as
``torch.nn.parallel``."""

from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
