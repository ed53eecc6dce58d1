"""The ``dl`` config: the default device and dtype, where each came from, and the fallback
policy for GPUs that do not exist.

:func:`load_local_config` reads, from highest precedence to lowest: the environment
(``SIMPLE_TORCH_DEVICE``, ``SIMPLE_TORCH_DTYPE``, ``SIMPLE_TORCH_FALLBACK``), ``dl.config.toml``
then ``dl.config.sdn`` in the working directory, then the same two files in the user's config
directory (``$XDG_CONFIG_HOME/simple_torch``, else ``~/.config/simple_torch``). Each key comes
from the highest source that sets it. Files are parsed as data, never executed. Importing
simple_torch reads none of them: until a load, ``dl`` holds the built-in defaults.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import warnings
from pathlib import Path

from .devices import Device
from .dtypes import DType
from .errors import ConfigError, ConfigWarning, DeviceError, DeviceFallbackWarning
from .library import cuda_device_count

#: Fallback policies: what to do when a requested GPU does not exist.
POLICIES = ("error", "cpu")

#: Environment variables read by load_local_config, per key.
ENVIRONMENT = {"device": "SIMPLE_TORCH_DEVICE", "dtype": "SIMPLE_TORCH_DTYPE", "fallback": "SIMPLE_TORCH_FALLBACK"}

#: Config file names, in precedence order within one folder.
FILE_NAMES = ("dl.config.toml", "dl.config.sdn")


def _policy(value) -> str:
    if value not in POLICIES:
        raise ValueError(f"unknown fallback policy {value!r}; accepted: 'error' (raise) or 'cpu' (run on the CPU, warn once)")
    return value


def _backend(value) -> str:
    if value != "torch":
        raise ValueError(f"unknown backend {value!r}; simple_torch has one backend: 'torch'")
    return value


def _bool(value) -> bool:
    if type(value) is not bool:
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _string(parse):
    def parse_string(value):
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return parse(value)
    return parse_string


# key: (parse a value from a file or the environment, built-in default)
_KEYS = {
    "device": (_string(Device), Device.cpu()),
    "dtype": (_string(DType.from_any), DType.float32),
    "fallback": (_policy, None),
    "backend": (_backend, "torch"),
    "autograd": (_bool, True),
}

_DEFAULT_SOURCE = "built-in default"


class Config:
    """The ``dl`` config: defaults that factories (``tensor_zeros`` etc.) use when a call names
    no device or dtype, and the fallback policy. Read ``source(key)`` for where a value came
    from. Setting an attribute validates it and records "set in code" as its source.

    Example:
        >>> dl.default_device, dl.source("device")
        (Device(kind='cpu', index=None), 'built-in default')
        >>> dl.default_dtype = "f64"
        >>> tensor_zeros([2]).dtype
        <DType.float64: 7>
    """

    __slots__ = ("_values", "_sources", "_resolved_default", "_factory_options")

    def __init__(self):
        self._set_all({key: (default, _DEFAULT_SOURCE) for key, (_, default) in _KEYS.items()})

    def _set_all(self, settings: dict) -> None:
        object.__setattr__(self, "_values", {key: value for key, (value, _) in settings.items()})
        object.__setattr__(self, "_sources", {key: source for key, (_, source) in settings.items()})
        object.__setattr__(self, "_resolved_default", None)
        object.__setattr__(self, "_factory_options", None)

    def _set(self, key: str, value) -> None:
        self._values[key] = value
        self._sources[key] = "set in code"
        object.__setattr__(self, "_resolved_default", None)
        object.__setattr__(self, "_factory_options", None)

    @property
    def default_device(self) -> Device:
        """The device factories use when given none (the CPU unless configured)."""
        return self._values["device"]

    @default_device.setter
    def default_device(self, value) -> None:
        self._set("device", Device(value))

    @property
    def default_dtype(self) -> DType:
        """The dtype factories use when given none (float32 unless configured)."""
        return self._values["dtype"]

    @default_dtype.setter
    def default_dtype(self, value) -> None:
        self._set("dtype", DType.from_any(value))

    @property
    def fallback(self) -> str | None:
        """The fallback policy when a GPU does not exist: "error", "cpu", or None (unset: an
        explicit device raises, the configured default device falls back to the CPU)."""
        return self._values["fallback"]

    @fallback.setter
    def fallback(self, value) -> None:
        self._set("fallback", None if value is None else _policy(value))

    @property
    def backend(self) -> str:
        """The compute backend: always "torch" (the original design's key, checked)."""
        return self._values["backend"]

    @property
    def autograd(self) -> bool:
        """Whether grad mode starts on (True by default, as in torch): loading a config whose
        ``autograd`` is false turns gradient recording off in the thread that loads it (see
        :mod:`simple_torch.autograd`: grad mode is per thread)."""
        return self._values["autograd"]

    def source(self, key: str) -> str:
        """Where the value of ``key`` ("device", "dtype", "fallback", "backend", "autograd") came
        from: an environment variable, a file and line, "set in code", or "built-in default".

        Example:
            >>> load_local_config(); dl.source("device")
            '/home/me/project/dl.config.sdn, line 2'
        """
        if key not in self._sources:
            raise KeyError(f"unknown config key {key!r}; keys: {', '.join(_KEYS)}")
        return self._sources[key]

    def __setattr__(self, name, value):
        if name in ("default_device", "default_dtype", "fallback"):
            object.__setattr__(self, name, value)  # the property setter
        else:
            raise AttributeError(f"cannot set {name!r}: settable are default_device, default_dtype and fallback")

    def __repr__(self) -> str:
        lines = [f"  {key}: {self._values[key]!s}  ({self._sources[key]})" for key in _KEYS]
        return "dl config:\n" + "\n".join(lines)


#: The process's config; :func:`load_local_config` updates it in place.
dl = Config()


# -- loading ---------------------------------------------------------------------------------

_PACKAGE_DIR = str(Path(__file__).parent)


def _warn(message: str, category) -> None:
    """Warns, pointing at the user's code: the first caller outside this package."""
    frame, level = sys._getframe(1), 2  # level 2: our caller
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)



def user_config_dir() -> Path:
    """The folder of the per-user config files: ``$XDG_CONFIG_HOME/simple_torch``, else
    ``~/.config/simple_torch``.

    Example:
        >>> user_config_dir()
        PosixPath('/home/me/.config/simple_torch')
    """
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "simple_torch"


def load_local_config(directory=None, *, user: bool = True) -> Config:
    """Reads the config (the environment, ``dl.config.toml`` and ``dl.config.sdn`` in
    ``directory`` (default: the working directory), then the user's files unless
    ``user=False``) into ``dl`` and returns it. A file that cannot be read or holds a bad value
    raises :class:`ConfigError` naming the file, line and key, and leaves ``dl`` unchanged; an
    unknown key warns (:class:`ConfigWarning`). Safe to call again.

    Example:
        >>> load_local_config()
        >>> tensor_zeros([2]).device() == dl.default_device
        True
    """
    folders = [Path.cwd() if directory is None else Path(directory)]
    if user:
        folders.append(user_config_dir())
    layers = [_read_environment()]
    for folder in folders:
        layers += [_read_file(folder / name) for name in FILE_NAMES if (folder / name).is_file()]
    settings = {key: (default, _DEFAULT_SOURCE) for key, (_, default) in _KEYS.items()}
    for layer in reversed(layers):  # lowest precedence first; higher ones overwrite
        settings.update(layer)
    dl._set_all(settings)
    from ._native import lib

    lib.rt_torch_set_grad_enabled(dl.autograd)
    return dl


def _read_environment() -> dict:
    settings = {}
    for key, variable in ENVIRONMENT.items():
        text = os.environ.get(variable, "").strip()
        if text:
            source = f"environment variable {variable}"
            settings[key] = (_parse_value(key, text.lower() if key == "fallback" else text, source, None, None), source)
    return settings


def _parse_value(key: str, value, source: str, path, line):
    try:
        return _KEYS[key][0](value)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{source}, key {key!r}: {error}", path=path, line=line, key=key) from None


def _read_file(path: Path) -> dict:
    """The settings in one config file, each with its source ("<path>, line N")."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}", path=path) from None
    entries = _parse_toml(path, text) if path.suffix == ".toml" else _parse_sdn(path, text)
    settings = {}
    for key, (value, line) in entries.items():
        where = f"{path}, line {line}" if line else str(path)
        if key not in _KEYS:
            _warn(f"{where}: unknown key {key!r} ignored; known keys: {', '.join(_KEYS)}", ConfigWarning)
            continue
        settings[key] = (_parse_value(key, value, where, path, line), where)
    return settings


# -- dl.config.toml ------------------------------------------------------------------------------


def _parse_toml(path: Path, text: str) -> dict:
    """The keys of the ``[dl]`` table: ``{key: (value, line)}``."""
    import tomllib  # here, not at the top: only a config file needs it, and it costs 5 ms of start-up

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"line (\d+)", str(error))
        line = int(match.group(1)) if match else None
        raise ConfigError(f"{path}: not valid TOML: {error}", path=path, line=line) from None
    entries = {}
    for name, value in document.items():
        if name != "dl":
            _warn(f"{path}: unknown key {name!r} ignored; the settings go in the [dl] table", ConfigWarning)
        elif not isinstance(value, dict):
            line = _toml_line(text, None, "dl")
            raise ConfigError(f"{path}, line {line}, key 'dl': expected a [dl] table", path=path, line=line, key="dl")
        else:
            entries = {key: (item, _toml_line(text, "dl", key)) for key, item in value.items()}
    return entries


def _toml_line(text: str, table: str | None, key: str) -> int | None:
    """The line that sets ``key`` in ``[table]`` (or as ``table.key``): tomllib keeps no positions."""
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]\s*(#.*)?", stripped)
        if header:
            current = header.group(1)
        elif current == table and re.match(rf"['\"]?{re.escape(key)}['\"]?\s*=", stripped):
            return number
        elif current is None and table and re.match(rf"{re.escape(table)}\s*\.\s*{re.escape(key)}\s*=", stripped):
            return number
    return None


# -- dl.config.sdn -------------------------------------------------------------------------------

_SDN_ENTRY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*)")
_SDN_NUMBER = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")


def _parse_sdn(path: Path, text: str) -> dict:
    """The keys of the ``dl:`` block of the original design's SDN file: ``{key: (value, line)}``.

    The format read is this indented subset of SDN: ``name:`` opens a block whose entries are
    indented below it; an entry is ``key: value``, where a value is a quoted string, true,
    false, a number or a bare word; ``#`` starts a comment.
    """

    def fail(number: int, message: str, key=None):
        raise ConfigError(f"{path}, line {number}{f', key {key!r}' if key else ''}: {message}", path=path, line=number, key=key)

    entries, block, block_indent, seen = {}, None, None, {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = _without_comment(raw).rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        match = _SDN_ENTRY.fullmatch(line.strip())
        if match is None:
            fail(number, f"expected 'key: value' or 'name:' opening a block, got {line.strip()!r}")
        key, value_text = match.groups()
        if indent == 0:
            block, block_indent = None, None
            if value_text:
                _warn(f"{path}, line {number}: unknown key {key!r} ignored; the settings go in the dl: block", ConfigWarning)
            elif key == "dl":
                if "dl" in seen:
                    fail(number, f"the dl: block appears twice (first on line {seen['dl']})", "dl")
                seen["dl"], block = number, "dl"
            else:
                block = "other"
                _warn(f"{path}, line {number}: unknown block {key!r} ignored; the settings go in the dl: block", ConfigWarning)
            continue
        if block is None:
            fail(number, "indented line outside a block", key)
        if block_indent is None:
            block_indent = indent
        if indent != block_indent:
            fail(number, f"inconsistent indentation ({indent} columns here, {block_indent} for the block's first entry)", key)
        if block != "dl":
            continue
        if not value_text:
            fail(number, "expected a value after ':' (nested blocks are not supported here)", key)
        if key in entries:
            fail(number, f"given twice (first on line {entries[key][1]})", key)
        entries[key] = (_sdn_value(value_text, lambda message: fail(number, message, key)), number)
    return entries


def _without_comment(line: str) -> str:
    """The line up to a ``#`` that is outside quotes."""
    quote = None
    for position, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "#":
            return line[:position]
    return line


def _sdn_value(text: str, fail):
    if text[0] in "\"'":
        if len(text) < 2 or text[-1] != text[0]:
            fail(f"unterminated string {text}")
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if _SDN_NUMBER.fullmatch(text):
        return float(text) if any(c in text for c in ".eE") else int(text)
    if re.fullmatch(r"[A-Za-z0-9_.:+-]+", text):
        return text  # a bare word, e.g. device: cpu
    fail(f"cannot read the value {text!r}: quote strings, e.g. \"cuda:1\"")


# -- choosing a device -------------------------------------------------------------------------

_warned = set()
_warned_lock = threading.Lock()


def _missing(device: Device) -> str | None:
    """Why this machine cannot use ``device``, or None if it can."""
    if device.kind == "cpu":
        return None
    count = cuda_device_count()
    if count == 0:
        return "CUDA is not available"
    if device.index >= count:
        return f"this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
    return None


def _warn_once(device: Device, reason: str, why: str) -> None:
    with _warned_lock:
        if device in _warned:
            return
        _warned.add(device)
    _warn(f"cannot use {device}: {reason}; running on the CPU instead ({why})", DeviceFallbackWarning)


def resolve_device(device=None, policy: str | None = None) -> Device:
    """The device to use for ``device`` (None: ``dl.default_device``) under a fallback policy.
    A GPU this machine lacks raises :class:`DeviceError` under ``"error"``, and gives the CPU
    under ``"cpu"``, warning once per device. Without ``policy``, ``dl.fallback`` decides, and
    when that is unset an explicit device uses "error" and the configured default "cpu".

    Example:
        >>> resolve_device("cuda:1", policy="cpu")  # on a machine with one GPU: warns, then
        Device(kind='cpu', index=None)
    """
    explicit = device is not None
    device = Device.parse(device) if explicit else dl.default_device
    policy = _policy(policy) if policy is not None else dl.fallback or ("error" if explicit else "cpu")
    reason = _missing(device)
    if reason is None:
        return device
    if policy == "cpu":
        why = "fallback policy 'cpu'" + ("" if explicit else f"; dl.default_device: {dl.source('device')}")
        _warn_once(device, reason, why)
        return Device.cpu()
    source = "" if explicit else f" (dl.default_device: {dl.source('device')})"
    raise DeviceError(f"cannot use {device}{source}: {reason}; pass policy='cpu' to run on the CPU instead")


def default_device_code() -> int:
    """The ABI code of ``dl.default_device`` after the fallback policy: what factories use when
    given no device. Resolved once per config change."""
    code = dl._resolved_default
    if code is None:
        code = resolve_device().code
        object.__setattr__(dl, "_resolved_default", code)
    return code


def factory_options() -> tuple[int, int]:
    """The ABI codes (dtype, device) of a floating factory given neither (``st.zeros(3)``): the
    default dtype if it is a floating one (else float32, as torch), and the default device after
    the fallback policy. Resolved once per config change, so that a factory call does no work
    for its defaults."""
    options = dl._factory_options
    if options is None:
        dtype = dl.default_dtype if dl.default_dtype.is_floating_point else DType.float32
        options = (int(dtype), default_device_code())
        object.__setattr__(dl, "_factory_options", options)
    return options


def auto_device() -> Device:
    """The GPU with the most free memory, or the CPU when there is no GPU.

    Example:
        >>> x = tensor_randn([1024, 1024], device=auto_device())
    """
    from .memory import mem_get_info

    count = cuda_device_count()
    if count == 0:
        return Device.cpu()
    free = [mem_get_info(index)[0] for index in range(count)]
    return Device.cuda(max(range(count), key=lambda index: (free[index], -index)))
