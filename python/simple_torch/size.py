"""Values that read as torch spells them and still answer the seed API's calls.

torch spells ``x.shape``, ``x.ndim``, ``x.is_cuda`` and ``x.device`` as properties; the seed API of
simple_torch spelled them as methods (``x.shape()``, ``x.ndim()``, ...). Both must work, so each
property returns a value that also answers a call with itself: :class:`Size` is a tuple (as
``torch.Size``) whose call gives the seed's list, :class:`CallableInt` an int, :class:`Flag` a
bool-like int, and ``Device`` (in devices.py) returns itself when called.
"""

from __future__ import annotations


class Size(tuple):
    """The sizes of a tensor's dimensions, a tuple of ints as ``torch.Size``. Calling it (the
    seed API's ``x.shape()``) returns them as a list.

    Example:
        >>> x = st.zeros(2, 3)
        >>> x.shape, x.shape[0], x.shape == (2, 3), x.shape()
        (st.Size([2, 3]), 2, True, [2, 3])
    """

    __slots__ = ()

    def __call__(self) -> list[int]:
        return list(self)

    def numel(self) -> int:
        """The number of elements a tensor of this size holds.

        Example:
            >>> st.Size([2, 3]).numel()
            6
        """
        count = 1
        for size in self:
            count *= size
        return count

    def __repr__(self) -> str:
        return f"st.Size({list(self)})"

    def __getitem__(self, index):
        item = tuple.__getitem__(self, index)
        return Size(item) if isinstance(index, slice) else item


class CallableInt(int):
    """An int that returns itself when called: ``x.ndim`` and the seed's ``x.ndim()``.

    Example:
        >>> st.zeros(2, 3).ndim, st.zeros(2, 3).ndim()
        (2, 2)
    """

    __slots__ = ()

    def __call__(self) -> int:
        return int(self)


class Flag(int):
    """A truth value that returns itself when called: ``x.is_cuda`` and the seed's
    ``x.is_cuda()``. It compares, hashes and prints as ``True``/``False`` (``bool`` cannot be
    subclassed, so ``x.is_cuda is True`` is false: compare with ``==`` or use it as a condition).

    Example:
        >>> st.zeros(1).is_cuda, st.zeros(1).is_cuda()
        (False, False)
    """

    __slots__ = ()

    def __new__(cls, value) -> Flag:
        return int.__new__(cls, bool(value))

    def __call__(self) -> bool:
        return bool(self)

    def __repr__(self) -> str:
        return repr(bool(self))

    __str__ = __repr__
