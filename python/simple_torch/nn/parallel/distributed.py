"""``DistributedDataParallel``: each rank trains a replica of the model on its share of every
batch, and the gradients are averaged across ranks during backward, as torch's DDP does.

How it works, as in torch's reducer: the parameters are put into buckets (in reverse order of
registration, which is roughly the order backward produces their gradients; the first bucket
holds 1 MiB, the others ``bucket_cap_mb``). A hook runs on each parameter once its gradient is
accumulated; when every gradient of a bucket is there, the bucket's gradients are flattened,
scaled by 1 / world size and all-reduced asynchronously, while backward carries on. Buckets start
in index order on every rank, so all ranks run the same collectives in the same order. Once the
last bucket has started, backward waits for them all and writes the averages back to ``.grad``.
"""

from __future__ import annotations

import contextlib
import weakref

import simple_torch as st
from ... import distributed as dist
from ...autograd import is_grad_enabled
from ..modules.module import Module

# torch's: the first bucket is small so that communication starts early in backward.
_FIRST_BUCKET_BYTES = 1024 * 1024
_DEFAULT_BUCKET_MB = 25


class _Bucket:
    def __init__(self, params: list):
        self.params = params
        self.flat = None
        self.work = None


class DistributedDataParallel(Module):
    """Wraps ``module`` for data-parallel training over the default process group (or
    ``process_group``): broadcasts rank 0's parameters and buffers to every rank at
    construction, and averages gradients across ranks during ``backward()``. Buffers (e.g.
    batch norm statistics) are broadcast from rank 0 before each forward when
    ``broadcast_buffers``. Every parameter that requires grad must get a gradient in every
    backward (``find_unused_parameters`` is not supported).

    Example:
        >>> dist.init_process_group("gloo")
        >>> model = DistributedDataParallel(Net())
        >>> loss_fn(model(x_shard), y_shard).backward()   # .grad is now averaged over ranks
        >>> optimizer.step()
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0, broadcast_buffers: bool = True,
                 process_group=None, bucket_cap_mb: float | None = None, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False, static_graph: bool = False):
        super().__init__()
        if find_unused_parameters:
            raise NotImplementedError("DistributedDataParallel(find_unused_parameters=True) is not supported by simple_torch: "
                                      "every parameter that requires grad must get a gradient in every backward")
        self.module = module
        self.process_group = dist._group(process_group)
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have any parameter that requires a gradient.")
        self._sync_module_states()
        cap = int((_DEFAULT_BUCKET_MB if bucket_cap_mb is None else bucket_cap_mb) * 1024 * 1024)
        self._buckets = self._make_buckets(params, cap)
        self._pending: list[int] = []
        self._next = len(self._buckets)  # no reduction in flight
        self._syncing = False
        this = weakref.ref(self)  # the hooks live on the parameters: they must not keep this alive
        self._hooks = [p.register_post_accumulate_grad_hook(lambda _, this=this, index=index: (ddp := this()) and ddp._grad_ready(index))
                       for index, bucket in enumerate(self._buckets) for p in bucket.params]

    def forward(self, *inputs, **kwargs):
        if self._syncing and self._next < len(self._buckets):
            raise RuntimeError("Expected to have finished reduction in the prior iteration before starting a new one. "
                               "This error indicates that your module has parameters that were not used in producing "
                               "loss (DistributedDataParallel needs a gradient for every parameter that requires grad).")
        self._syncing = is_grad_enabled() and self.require_backward_grad_sync
        if self._syncing:
            self._pending = [len(bucket.params) for bucket in self._buckets]
            self._next = 0
        if self.broadcast_buffers:
            self._broadcast(list(self.module.buffers()))
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Gradients accumulate locally, without communication, inside this context; the first
        backward after it averages everything accumulated.

        Example:
            >>> with ddp.no_sync():
            ...     loss_fn(ddp(x1), y1).backward()   # local only
            >>> loss_fn(ddp(x2), y2).backward()       # averages both steps' gradients
        """
        previous, self.require_backward_grad_sync = self.require_backward_grad_sync, False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    # -- internals ---------------------------------------------------------------------------

    def _broadcast(self, tensors: list) -> None:
        with st.no_grad():
            for tensor in tensors:
                dist.broadcast(tensor, group_src=0, group=self.process_group)

    def _sync_module_states(self) -> None:
        self._broadcast(list(self.module.parameters()) + list(self.module.buffers()))

    @staticmethod
    def _make_buckets(params: list, cap: int) -> list[_Bucket]:
        buckets, current, size, limit = [], [], 0, _FIRST_BUCKET_BYTES
        for p in reversed(params):
            nbytes = p.numel() * p.element_size()
            if current and (size + nbytes > limit or (p.dtype, p.device) != (current[0].dtype, current[0].device)):
                buckets.append(_Bucket(current))
                current, size, limit = [], 0, cap
            current.append(p)
            size += nbytes
        buckets.append(_Bucket(current))
        return buckets

    def _grad_ready(self, index: int) -> None:
        """A gradient of bucket ``index`` has been accumulated."""
        if not self._syncing:
            return
        self._pending[index] -= 1
        # Start buckets in index order only, so that every rank runs the same collectives.
        while self._next < len(self._buckets) and self._pending[self._next] == 0:
            self._start(self._buckets[self._next])
            self._next += 1
        if self._next == len(self._buckets):
            self._finish()

    def _start(self, bucket: _Bucket) -> None:
        flat = st.cat([p.grad.reshape(-1) for p in bucket.params])
        flat.mul_(1.0 / self.process_group.size())  # as torch's reducer: scale, then sum
        bucket.flat = flat
        bucket.work = dist.all_reduce(flat, group=self.process_group, async_op=True)

    def _finish(self) -> None:
        self._syncing = False
        for bucket in self._buckets:
            bucket.work.wait()
            offset = 0
            for p in bucket.params:
                count = p.numel()
                p.grad.copy_(bucket.flat[offset:offset + count].view_as(p.grad))
                offset += count
            bucket.flat = bucket.work = None
