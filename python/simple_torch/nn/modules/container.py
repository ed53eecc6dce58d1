"""``Sequential``, ``ModuleList`` and ``ModuleDict``, as torch's ``torch/nn/modules/container.py``."""

from __future__ import annotations

import collections.abc
import operator
from collections import OrderedDict
from itertools import chain, islice
from typing import Any, Iterable, Iterator, Mapping

from .module import Module, _addindent

__all__ = ["ModuleDict", "ModuleList", "Sequential"]


class Sequential(Module):
    """Modules run one after the other, each on the previous one's output, as
    ``torch.nn.Sequential``: from the modules as arguments (named ``"0"``, ``"1"``, ...) or one
    ``OrderedDict`` of named modules. Indexing, slicing (a new Sequential of the same modules),
    ``len``, iteration, ``append``, ``insert``, ``extend``, ``pop``, ``del``, ``+`` and ``*`` work as
    in torch.

    Example:
        >>> model = st.nn.Sequential(st.nn.Linear(4, 8), st.nn.ReLU(), st.nn.Linear(8, 2))
        >>> model(st.randn(3, 4)).shape, len(model), model[0]
        (st.Size([3, 2]), 3, Linear(in_features=4, out_features=8, bias=True))
    """

    def __init__(self, *args: Module) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for index, module in enumerate(args):
                self.add_module(str(index), module)

    def _get_item_by_idx(self, iterator: Iterable, idx: int) -> Any:
        """The idx-th item of ``iterator`` (negative counts from the end)."""
        size = len(self)
        idx = operator.index(idx)
        if not -size <= idx < size:
            raise IndexError(f"index {idx} is out of range")
        return next(islice(iterator, idx % size, None))

    def __getitem__(self, idx: int | slice) -> Module:
        if isinstance(idx, slice):
            return self.__class__(OrderedDict(list(self._modules.items())[idx]))
        return self._get_item_by_idx(self._modules.values(), idx)

    def __setitem__(self, idx: int, module: Module) -> None:
        key = self._get_item_by_idx(self._modules.keys(), idx)
        setattr(self, key, module)

    def __delitem__(self, idx: int | slice) -> None:
        if isinstance(idx, slice):
            for key in list(self._modules.keys())[idx]:
                delattr(self, key)
        else:
            delattr(self, self._get_item_by_idx(self._modules.keys(), idx))
        # renumber, so that the names stay "0", "1", ...
        self._modules = OrderedDict((str(i), module) for i, module in enumerate(self._modules.values()))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        result = Sequential()
        for layer in chain(self, other):
            result.append(layer)
        return result

    def __iadd__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        offset = len(self)
        for i, module in enumerate(other):
            self.add_module(str(i + offset), module)
        return self

    def __mul__(self, other: int) -> Sequential:
        if not isinstance(other, int):
            raise TypeError(f"unsupported operand type(s) for *: {type(self)} and {type(other)}")
        if other <= 0:
            raise ValueError(f"Non-positive multiplication factor {other} for {type(self)}")
        result = Sequential()
        for _ in range(other):
            for module in self:
                result.append(module)
        return result

    __rmul__ = __mul__

    def __dir__(self) -> list[str]:
        return [key for key in super().__dir__() if not key.isdigit()]

    def forward(self, input: Any) -> Any:  # noqa: A002 - torch's name
        for module in self:
            input = module(input)  # noqa: A001
        return input

    def append(self, module: Module) -> Sequential:
        """Adds ``module`` at the end; returns self.

        Example:
            >>> st.nn.Sequential(st.nn.Linear(2, 2)).append(st.nn.ReLU())[-1]
            ReLU()
        """
        self.add_module(str(len(self)), module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Puts ``module`` at ``index``, moving the later ones along; returns self.

        Example:
            >>> st.nn.Sequential(st.nn.Linear(2, 2)).insert(0, st.nn.ReLU())[0]
            ReLU()
        """
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        if index < 0:
            index += n
        for i in range(n, index, -1):
            self._modules[str(i)] = self._modules[str(i - 1)]
        self._modules[str(index)] = module
        return self

    def extend(self, sequential: Iterable[Module]) -> Sequential:
        """Appends every module of ``sequential``; returns self.

        Example:
            >>> len(st.nn.Sequential().extend([st.nn.ReLU(), st.nn.Tanh()]))
            2
        """
        for layer in sequential:
            self.append(layer)
        return self

    def pop(self, key: int | slice) -> Module:
        """Removes the module at ``key`` and returns it.

        Example:
            >>> st.nn.Sequential(st.nn.ReLU(), st.nn.Tanh()).pop(0)
            ReLU()
        """
        value = self[key]
        del self[key]
        return value


class ModuleList(Module):
    """A list of modules, registered as children (named ``"0"``, ``"1"``, ...), as
    ``torch.nn.ModuleList``: indexing, slicing, ``len``, iteration, ``append``, ``extend``,
    ``insert``, ``pop`` and ``+``. It has no ``forward``: the owner decides how to run them.

    Example:
        >>> layers = st.nn.ModuleList([st.nn.Linear(4, 4) for _ in range(3)])
        >>> len(layers), len(list(layers.parameters()))
        (3, 6)
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self += modules

    def _get_abs_string_index(self, idx: int) -> str:
        idx = operator.index(idx)
        if not -len(self) <= idx < len(self):
            raise IndexError(f"index {idx} is out of range")
        return str(idx % len(self))

    def __getitem__(self, idx: int | slice) -> Module:
        if isinstance(idx, slice):
            return self.__class__(list(self._modules.values())[idx])
        return self._modules[self._get_abs_string_index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, self._get_abs_string_index(idx), module)

    def __delitem__(self, idx: int | slice) -> None:
        if isinstance(idx, slice):
            for k in range(len(self._modules))[idx]:
                delattr(self, str(k))
        else:
            delattr(self, self._get_abs_string_index(idx))
        self._modules = OrderedDict((str(i), module) for i, module in enumerate(self._modules.values()))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        combined = ModuleList()
        for i, module in enumerate(chain(self, other)):
            combined.add_module(str(i), module)
        return combined

    def __repr__(self) -> str:
        # torch's layout: runs of identical modules are printed once, as "(0-2): 3 x Linear(...)"
        reprs = [repr(item) for item in self]
        if not reprs:
            return self._get_name() + "()"
        runs = [[0, 0, reprs[0]]]
        for i, text in enumerate(reprs[1:], 1):
            if text == runs[-1][2]:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        lines = []
        for start, end, text in runs:
            line = f"({start}): {text}" if start == end else f"({start}-{end}): {end - start + 1} x {text}"
            lines.append(_addindent(line, 2))
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self) -> list[str]:
        return [key for key in super().__dir__() if not key.isdigit()]

    def insert(self, index: int, module: Module) -> None:
        """Puts ``module`` at ``index``, moving the later ones along.

        Example:
            >>> layers = st.nn.ModuleList([st.nn.ReLU()]); layers.insert(0, st.nn.Tanh()); layers[0]
            Tanh()
        """
        for i in range(len(self._modules), index, -1):
            self._modules[str(i)] = self._modules[str(i - 1)]
        self._modules[str(index)] = module

    def append(self, module: Module) -> ModuleList:
        """Adds ``module`` at the end; returns self.

        Example:
            >>> len(st.nn.ModuleList().append(st.nn.ReLU()))
            1
        """
        self.add_module(str(len(self)), module)
        return self

    def pop(self, key: int | slice) -> Module:
        """Removes the module at ``key`` and returns it.

        Example:
            >>> st.nn.ModuleList([st.nn.ReLU()]).pop(0)
            ReLU()
        """
        value = self[key]
        del self[key]
        return value

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Appends every module of ``modules``; returns self.

        Example:
            >>> len(st.nn.ModuleList().extend([st.nn.ReLU(), st.nn.Tanh()]))
            2
        """
        if not isinstance(modules, collections.abc.Iterable):
            raise TypeError("ModuleList.extend should be called with an iterable, but got " + type(modules).__name__)
        offset = len(self)
        for i, module in enumerate(modules):
            self.add_module(str(offset + i), module)
        return self


class ModuleDict(Module):
    """A dict of modules by name, registered as children in insertion order, as
    ``torch.nn.ModuleDict``: ``d[key]``, ``d[key] = module``, ``del``, ``in``, ``len``, iteration
    over the keys, ``keys()``, ``values()``, ``items()``, ``update``, ``pop``, ``clear``.

    Example:
        >>> heads = st.nn.ModuleDict({"cls": st.nn.Linear(8, 3), "box": st.nn.Linear(8, 4)})
        >>> list(heads), heads["box"].out_features
        (['cls', 'box'], 4)
    """

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def clear(self) -> None:
        """Removes every module.

        Example:
            >>> d = st.nn.ModuleDict({"a": st.nn.ReLU()}); d.clear(); len(d)
            0
        """
        self._modules.clear()

    def pop(self, key: str) -> Module:
        """Removes the module under ``key`` and returns it.

        Example:
            >>> st.nn.ModuleDict({"a": st.nn.ReLU()}).pop("a")
            ReLU()
        """
        value = self[key]
        del self[key]
        return value

    def keys(self):
        """The names.

        Example:
            >>> list(st.nn.ModuleDict({"a": st.nn.ReLU()}).keys())
            ['a']
        """
        return self._modules.keys()

    def items(self):
        """``(name, module)`` pairs.

        Example:
            >>> list(st.nn.ModuleDict({"a": st.nn.ReLU()}).items())
            [('a', ReLU())]
        """
        return self._modules.items()

    def values(self):
        """The modules.

        Example:
            >>> list(st.nn.ModuleDict({"a": st.nn.ReLU()}).values())
            [ReLU()]
        """
        return self._modules.values()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Adds (or replaces) modules from a mapping or from ``(name, module)`` pairs.

        Example:
            >>> d = st.nn.ModuleDict(); d.update([("a", st.nn.ReLU())]); list(d)
            ['a']
        """
        if not isinstance(modules, collections.abc.Iterable):
            raise TypeError("ModuleDict.update should be called with an iterable of key/value pairs, but got "
                            + type(modules).__name__)
        if isinstance(modules, (collections.abc.Mapping, ModuleDict)):
            for key, module in modules.items():
                self[key] = module
            return
        for j, pair in enumerate(modules):
            if not isinstance(pair, collections.abc.Iterable):
                raise TypeError(f"ModuleDict update sequence element #{j} should be Iterable; is" + type(pair).__name__)
            if len(pair) != 2:
                raise ValueError(f"ModuleDict update sequence element #{j} has length {len(pair)}; 2 is required")
            self[pair[0]] = pair[1]
