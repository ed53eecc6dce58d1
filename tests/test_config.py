"""The dl config: the original design's SDN file, TOML, the environment, the user's files,
their precedence, errors that name file, line and key, and the defaults factories use."""

import os
import threading
import warnings

import pytest

import simple_torch as st
from simple_torch import ConfigError, ConfigWarning, Device, DType, config

# The original design's dl.config.sdn, verbatim.
ORIGINAL_SDN = """\
dl:
    device: "cuda:1"
    dtype: "f32"
    backend: "torch"
    autograd: true
"""


@pytest.fixture(autouse=True)
def clean_config(tmp_path, monkeypatch):
    """An empty environment, working folder and user config folder; dl restored afterwards."""
    for variable in config.ENVIRONMENT.values():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    saved = {key: (st.dl._values[key], st.dl._sources[key]) for key in st.dl._values}
    config._warned.clear()
    yield work
    st.dl._set_all(saved)
    config._warned.clear()


def user_dir():
    folder = st.user_config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def load(**kwargs):
    """load_local_config, failing the test on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return st.load_local_config(**kwargs)


def test_the_original_sdn_file(clean_config):
    (clean_config / "dl.config.sdn").write_text(ORIGINAL_SDN)
    dl = load()
    assert dl is st.dl
    assert (dl.default_device, dl.default_dtype, dl.backend, dl.autograd) == (Device.cuda(1), DType.float32, "torch", True)
    path = clean_config / "dl.config.sdn"
    assert dl.source("device") == f"{path}, line 2"
    assert dl.source("dtype") == f"{path}, line 3"
    assert dl.source("fallback") == "built-in default" and dl.fallback is None


def test_autograd_false_turns_grad_mode_off_in_the_loading_thread(clean_config):
    (clean_config / "dl.config.sdn").write_text('dl:\n    autograd: false\n')
    try:
        assert not load().autograd and not st.is_grad_enabled()
        x = st.ones(2, requires_grad=True)
        assert not (x * 2).requires_grad  # not recorded
        seen = []
        thread = threading.Thread(target=lambda: seen.append(st.is_grad_enabled()))
        thread.start(), thread.join()
        assert seen == [True]  # grad mode is per thread, as in libtorch
    finally:
        (clean_config / "dl.config.sdn").unlink()
        assert load().autograd and st.is_grad_enabled()


def test_nothing_configured_gives_the_built_in_defaults():
    dl = load()
    assert (dl.default_device, dl.default_dtype, dl.fallback, dl.backend, dl.autograd) == (Device.cpu(), DType.float32, None, "torch", True)
    assert all(dl.source(key) == "built-in default" for key in ("device", "dtype", "fallback", "backend", "autograd"))
    assert "device: cpu  (built-in default)" in repr(dl)


def test_precedence_environment_then_toml_then_sdn_then_user_files(clean_config, monkeypatch):
    """Each layer sets dtype; removing the winner each time reveals the next one."""
    layers = [
        ("env", "f64"), (clean_config / "dl.config.toml", "f16"), (clean_config / "dl.config.sdn", "bf16"),
        (user_dir() / "dl.config.toml", "i32"), (user_dir() / "dl.config.sdn", "i64"),
    ]
    for where, dtype in layers:
        if where == "env":
            monkeypatch.setenv("SIMPLE_TORCH_DTYPE", dtype)
        elif where.suffix == ".toml":
            where.write_text(f'[dl]\ndtype = "{dtype}"\n')
        else:
            where.write_text(f'dl:\n  dtype: "{dtype}"\n')
    expected = [DType.float64, DType.float16, DType.bfloat16, DType.int32, DType.int64, DType.float32]
    for (where, _), dtype in zip(layers + [(None, None)], expected):
        dl = load()
        assert dl.default_dtype == dtype
        if where == "env":
            assert dl.source("dtype") == "environment variable SIMPLE_TORCH_DTYPE"
            monkeypatch.delenv("SIMPLE_TORCH_DTYPE")
        elif where is not None:
            assert dl.source("dtype").startswith(str(where))
            where.unlink()


def test_each_key_comes_from_the_highest_source_that_sets_it(clean_config, monkeypatch):
    monkeypatch.setenv("SIMPLE_TORCH_FALLBACK", "CPU")
    (clean_config / "dl.config.toml").write_text('[dl]\ndtype = "float64"\n')
    (user_dir() / "dl.config.sdn").write_text('dl:\n  device: cpu\n  dtype: "f16"\n')
    dl = load()
    assert (dl.default_device, dl.default_dtype, dl.fallback) == (Device.cpu(), DType.float64, "cpu")
    assert dl.source("device") == f"{user_dir() / 'dl.config.sdn'}, line 2"
    assert dl.source("dtype") == f"{clean_config / 'dl.config.toml'}, line 2"
    assert dl.source("fallback") == "environment variable SIMPLE_TORCH_FALLBACK"


def test_user_files_can_be_left_out_and_the_folder_chosen(clean_config, tmp_path):
    (user_dir() / "dl.config.toml").write_text('[dl]\ndtype = "f64"\n')
    assert load().default_dtype == DType.float64
    assert load(user=False).default_dtype == DType.float32
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "dl.config.sdn").write_text("dl:\n  dtype: f16\n")
    assert load(directory=elsewhere, user=False).default_dtype == DType.float16


def test_user_config_dir_follows_xdg_and_defaults_to_dot_config(monkeypatch, tmp_path):
    assert st.user_config_dir() == tmp_path / "xdg" / "simple_torch"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert st.user_config_dir() == tmp_path / "home" / ".config" / "simple_torch"


def test_factories_use_the_configured_defaults(clean_config):
    (clean_config / "dl.config.toml").write_text('[dl]\ndevice = "cpu"\ndtype = "float64"\n')
    load()
    for make in (st.tensor_zeros, st.tensor_ones, st.tensor_randn):
        t = make([2])
        assert (t.dtype, t.device()) == (DType.float64, Device.cpu())
    assert st.from_list([1.5, 2.5]).dtype == DType.float64
    assert st.from_list([1, 2]).dtype == DType.int64  # ints stay int64, as in torch
    assert st.tensor_zeros([2], dtype="f16").dtype == DType.float16  # an argument wins


def test_setting_values_in_code():
    st.dl.default_dtype = "bf16"
    assert st.dl.default_dtype == DType.bfloat16 and st.dl.source("dtype") == "set in code"
    assert st.from_list([1.0, 2.0]).dtype == DType.bfloat16
    st.dl.default_device = -1
    assert st.dl.default_device == Device.cpu()
    with pytest.raises(ValueError, match="invalid device 'gpu'"):
        st.dl.default_device = "gpu"
    with pytest.raises(ValueError, match="unknown dtype 'f8'"):
        st.dl.default_dtype = "f8"
    with pytest.raises(ValueError, match="unknown fallback policy 'never'"):
        st.dl.fallback = "never"
    with pytest.raises(AttributeError, match="cannot set 'autograd'"):
        st.dl.autograd = True
    with pytest.raises(KeyError, match="unknown config key 'colour'"):
        st.dl.source("colour")
    assert st.dl.default_dtype == DType.bfloat16  # the failed settings changed nothing


# -- broken files: each error names the file, the line and the key ---------------------------


@pytest.mark.parametrize("text, line, key, words", [
    ('dl:\n    device: "gpu:0"\n', 2, "device", "invalid device 'gpu:0'; accepted: 'cpu', 'cuda', 'cuda:N'"),
    ('# mine\ndl:\n    device: cpu\n    dtype: "f8"\n', 4, "dtype", "unknown dtype 'f8'; accepted:"),
    ('dl:\n    fallback: "maybe"\n', 2, "fallback", "unknown fallback policy 'maybe'"),
    ('dl:\n    backend: "jax"\n', 2, "backend", "simple_torch has one backend: 'torch'"),
    ('dl:\n    autograd: "yes"\n', 2, "autograd", "expected true or false, got 'yes'"),
    ('dl:\n    device: 3\n', 2, "device", "expected a string, got 3"),
    ('dl:\n    device: "cuda:1\n', 2, "device", "unterminated string"),
    ('dl:\n    device: cpu\n    device: "cuda:0"\n', 3, "device", "given twice (first on line 2)"),
    ('dl:\n    device: cpu\n      dtype: f32\n', 3, "dtype", "inconsistent indentation"),
    ('dl:\n    device:\n', 2, "device", "expected a value after ':'"),
    ('dl:\n    device: cuda(1)\n', 2, "device", "cannot read the value 'cuda(1)'"),
    ('dl:\n    device = "cpu"\n', 2, None, "expected 'key: value'"),
    ('    device: cpu\n', 1, "device", "indented line outside a block"),
    ('dl:\n  dtype: f32\ndl:\n  dtype: f64\n', 3, "dl", "the dl: block appears twice (first on line 1)"),
])
def test_a_broken_sdn_file(clean_config, text, line, key, words):
    path = clean_config / "dl.config.sdn"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load()
    assert (error.value.path, error.value.line, error.value.key) == (path, line, key)
    message = str(error.value)
    assert message.startswith(f"{path}, line {line}" + (f", key {key!r}" if key else ""))
    assert words in message


@pytest.mark.parametrize("text, line, key, words", [
    ('[dl]\ndevice = "gpu"\n', 2, "device", "invalid device 'gpu'"),
    ('# comment\n[dl]\n\ndtype = "f8"  # no such dtype\n', 4, "dtype", "unknown dtype 'f8'"),
    ('dl.fallback = "maybe"\n', 1, "fallback", "unknown fallback policy 'maybe'"),
    ('[dl]\nautograd = 1\n', 2, "autograd", "expected true or false, got 1"),
    ('dl = 3\n', 1, "dl", "expected a [dl] table"),
])
def test_a_toml_file_with_a_bad_value(clean_config, text, line, key, words):
    path = clean_config / "dl.config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load()
    assert (error.value.path, error.value.line, error.value.key) == (path, line, key)
    assert str(error.value).startswith(f"{path}, line {line}, key {key!r}: ")
    assert words in str(error.value)


def test_a_toml_syntax_error_names_the_line(clean_config):
    path = clean_config / "dl.config.toml"
    path.write_text('[dl]\ndevice = "cpu"\ndtype = \n')
    with pytest.raises(ConfigError, match="not valid TOML") as error:
        load()
    assert (error.value.path, error.value.line) == (path, 3)
    assert str(path) in str(error.value) and "line 3" in str(error.value)


def test_an_unreadable_file(clean_config):
    path = clean_config / "dl.config.sdn"
    path.write_bytes(b"dl:\n  device: \xff\xfe\n")
    with pytest.raises(ConfigError, match="cannot read .*dl.config.sdn.*utf-8") as error:
        load()
    assert error.value.path == path


@pytest.mark.parametrize("variable, value, words", [
    ("SIMPLE_TORCH_DEVICE", "gpu", "invalid device 'gpu'"),
    ("SIMPLE_TORCH_DTYPE", "float8", "unknown dtype 'float8'"),
    ("SIMPLE_TORCH_FALLBACK", "ignore", "unknown fallback policy 'ignore'"),
])
def test_a_bad_environment_variable_is_named(monkeypatch, variable, value, words):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load()
    assert str(error.value).startswith(f"environment variable {variable}, key '{error.value.key}': ")
    assert words in str(error.value) and error.value.path is None


def test_an_empty_environment_variable_is_unset(monkeypatch):
    monkeypatch.setenv("SIMPLE_TORCH_DEVICE", "  ")
    assert load().source("device") == "built-in default"


def test_a_failed_load_leaves_dl_as_it_was(clean_config):
    st.dl.default_dtype = "f64"
    (clean_config / "dl.config.toml").write_text('[dl]\ndevice = "cpu"\n')
    (clean_config / "dl.config.sdn").write_text('dl:\n  dtype: "nope"\n')
    with pytest.raises(ConfigError):
        st.load_local_config()
    assert st.dl.default_dtype == DType.float64 and st.dl.source("dtype") == "set in code"
    assert st.dl.source("device") == "built-in default"


def test_unknown_keys_warn_and_the_rest_loads(clean_config):
    (clean_config / "dl.config.sdn").write_text('model:\n  layers: 3\ndl:\n  device: cpu\n  colour: "blue"\nversion: 2\n')
    (clean_config / "dl.config.toml").write_text('title = "x"\n[dl]\ndtype = "f64"\nspeed = 9\n')
    with pytest.warns(ConfigWarning) as caught:
        dl = st.load_local_config()
    messages = [str(w.message) for w in caught]
    sdn, toml = clean_config / "dl.config.sdn", clean_config / "dl.config.toml"
    assert f"{sdn}, line 5: unknown key 'colour' ignored; known keys: device, dtype, fallback, backend, autograd" in messages
    assert f"{sdn}, line 1: unknown block 'model' ignored; the settings go in the dl: block" in messages
    assert f"{sdn}, line 6: unknown key 'version' ignored; the settings go in the dl: block" in messages
    assert f"{toml}, line 4: unknown key 'speed' ignored; known keys: device, dtype, fallback, backend, autograd" in messages
    assert f"{toml}: unknown key 'title' ignored; the settings go in the [dl] table" in messages
    assert all(w.filename == __file__ for w in caught)  # pointed at the caller
    assert (dl.default_device, dl.default_dtype) == (Device.cpu(), DType.float64)


def test_comments_quotes_and_bare_words_in_sdn(clean_config):
    (clean_config / "dl.config.sdn").write_text(
        "# the team's defaults\n\ndl:   # block comment\n\tdevice: 'cuda:0'  # quoted with '\n\tdtype: f16\n\tfallback: cpu\n"
    )
    dl = load()
    assert (dl.default_device, dl.default_dtype, dl.fallback) == (Device.cuda(0), DType.float16, "cpu")


def test_loading_never_executes_code(clean_config):
    marker = clean_config / "executed"
    (clean_config / "dl.config.py").write_text(f"open({str(marker)!r}, 'w')\n")  # not a config file
    (clean_config / "dl.config.sdn").write_text(f"dl:\n  device: __import__('os').system('touch {marker}')\n")
    with pytest.raises(ConfigError, match="line 2, key 'device': cannot read the value"):
        load()
    (clean_config / "dl.config.sdn").write_text(f'dl:\n  device: "__import__(\'os\').system(\'touch {marker}\')"\n')
    with pytest.raises(ConfigError, match="invalid device"):
        load()
    assert not marker.exists() and not os.path.exists("executed")


def test_loading_again_picks_up_changes(clean_config):
    path = clean_config / "dl.config.toml"
    path.write_text('[dl]\ndtype = "f64"\n')
    assert load().default_dtype == DType.float64
    path.write_text('[dl]\ndtype = "f16"\n')
    assert load().default_dtype == DType.float16
    path.unlink()
    assert load().default_dtype == DType.float32
