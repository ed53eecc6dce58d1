"""``st.nn`` against ``torch.nn`` computing the same thing.

simple_torch and torch load the same libtorch, so in one process they share its default random
generator: each side is seeded right before it draws (``st.manual_seed(s)`` then the simple_torch
code, ``torch.manual_seed(s)`` then the torch code), and the same seed must give bit-identical
parameters, dropout masks and outputs.
"""

import copy
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch

import simple_torch as st
import simple_torch.nn as nn
import simple_torch.nn.functional as F
from simple_torch.nn import init


# ---- helpers ---------------------------------------------------------------------------------


def pair(shape, dtype="float32", seed=0, low=None, high=None):
    """The same values as a simple_torch tensor and a torch tensor: normal samples, or integers
    in [low, high)."""
    rng = np.random.default_rng(seed)
    if low is not None:
        values = rng.integers(low, high, size=shape).astype("int64")
    else:
        values = rng.standard_normal(shape).astype(dtype)
    return st.from_numpy(values), torch.from_numpy(values.copy())


def as_torch(tensor):
    """A simple_torch tensor's values as a torch tensor (detached, shared memory)."""
    return tensor.detach().to_torch()


def assert_same(ours, theirs, exact=True):
    """Same values (bit for bit unless ``exact=False``), shape and dtype as torch's."""
    if ours is None or theirs is None:
        assert ours is None and theirs is None
        return
    theirs = theirs.detach()
    if exact:
        torch.testing.assert_close(as_torch(ours), theirs, rtol=0, atol=0)
    else:
        torch.testing.assert_close(as_torch(ours), theirs)


def assert_same_state(ours, theirs):
    """The two modules' state dicts have the same keys, in the same order, and the same values."""
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key in ours_state:
        assert_same(ours_state[key], theirs_state[key])


def assert_same_st_state(ours, other):
    """Two simple_torch modules hold the same state."""
    ours_state, other_state = ours.state_dict(), other.state_dict()
    assert list(ours_state) == list(other_state)
    for key in ours_state:
        assert ours_state[key].tolist() == other_state[key].tolist(), key


def built(make_ours, make_theirs, seed=0):
    """The same layer built by both, each after the same seed."""
    st.manual_seed(seed)
    ours = make_ours()
    torch.manual_seed(seed)
    theirs = make_theirs()
    return ours, theirs


def torch_message(error: Exception) -> str:
    """torch's error message, with sizes spelled as simple_torch prints them."""
    return str(error).replace("torch.Size(", "st.Size(")


# ---- every layer: parameters, repr and forward as torch's ------------------------------------

# (constructor source, input shape or (low, high, shape) for indices); the constructor is
# evaluated once with st.nn as `nn` and once with torch.nn.
LAYERS = [
    ("nn.Linear(5, 3)", (4, 5)),
    ("nn.Linear(5, 3, bias=False)", (2, 7, 5)),
    ("nn.Conv1d(4, 6, 3, stride=2, padding=1)", (2, 4, 9)),
    ("nn.Conv1d(4, 6, 3, padding='same', padding_mode='circular')", (2, 4, 9)),
    ("nn.Conv1d(4, 4, 2, groups=4, dilation=2, bias=False)", (4, 9)),
    ("nn.Conv2d(3, 8, 3, padding=1)", (2, 3, 8, 8)),
    ("nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding='valid', dilation=2, groups=2, bias=False)", (2, 4, 9, 9)),
    ("nn.Conv2d(3, 4, 3, padding='same', padding_mode='reflect')", (1, 3, 6, 6)),
    ("nn.Conv2d(3, 4, 3, padding=(2, 1), padding_mode='replicate')", (3, 6, 6)),
    ("nn.MaxPool2d(2)", (2, 3, 8, 8)),
    ("nn.MaxPool2d(3, stride=2, padding=1, dilation=1, ceil_mode=True)", (2, 3, 9, 9)),
    ("nn.MaxPool2d((2, 3), stride=1, dilation=2)", (1, 2, 7, 7)),
    ("nn.AvgPool2d(2)", (2, 3, 8, 8)),
    ("nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)", (2, 3, 9, 9)),
    ("nn.AvgPool2d(2, divisor_override=3)", (1, 2, 4, 4)),
    ("nn.AdaptiveAvgPool2d((2, 3))", (2, 3, 7, 9)),
    ("nn.AdaptiveAvgPool2d(1)", (2, 3, 5, 5)),
    ("nn.AdaptiveAvgPool2d((None, 2))", (2, 3, 5, 5)),
    ("nn.BatchNorm1d(4)", (6, 4)),
    ("nn.BatchNorm1d(4, momentum=None, affine=False)", (6, 4, 5)),
    ("nn.BatchNorm2d(3)", (4, 3, 5, 5)),
    ("nn.BatchNorm2d(3, eps=1e-3, momentum=0.3, track_running_stats=False)", (4, 3, 5, 5)),
    ("nn.LayerNorm(5)", (3, 5)),
    ("nn.LayerNorm([4, 5], eps=1e-6, bias=False)", (2, 3, 4, 5)),
    ("nn.LayerNorm(5, elementwise_affine=False)", (3, 5)),
    ("nn.GroupNorm(2, 4)", (3, 4, 5)),
    ("nn.GroupNorm(3, 6, affine=False)", (2, 6, 3, 3)),
    ("nn.Dropout()", (8, 16)),
    ("nn.Dropout(p=0.2)", (4, 5, 6)),
    ("nn.Dropout(p=0.0)", (4, 5)),
    ("nn.Dropout(p=1.0)", (4, 5)),
    ("nn.Embedding(10, 4)", (0, 10, (3, 5))),
    ("nn.Embedding(10, 4, padding_idx=0)", (0, 10, (3, 5))),
    ("nn.Embedding(10, 4, padding_idx=-1, max_norm=1.0)", (0, 10, (2, 6))),
    ("nn.Embedding(6, 3, max_norm=0.5, norm_type=1.0, scale_grad_by_freq=True)", (0, 6, (7,))),
    ("nn.ReLU()", (3, 4)),
    ("nn.GELU()", (3, 4)),
    ("nn.GELU(approximate='tanh')", (3, 4)),
    ("nn.SiLU()", (3, 4)),
    ("nn.Tanh()", (3, 4)),
    ("nn.Sigmoid()", (3, 4)),
    ("nn.Softmax(dim=1)", (3, 4)),
    ("nn.Softmax(dim=-1)", (2, 3, 4)),
    ("nn.Flatten()", (2, 3, 4, 5)),
    ("nn.Flatten(0, 1)", (2, 3, 4)),
    ("nn.Identity(3, unused=True)", (2, 3)),
    ("nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2))", (5, 4)),
]


def make_input(spec, seed=0):
    if len(spec) == 3 and isinstance(spec[2], tuple):  # indices
        low, high, shape = spec
        return pair(shape, seed=seed, low=low, high=high)
    return pair(spec, seed=seed)


@pytest.mark.parametrize("source, input_spec", LAYERS, ids=[source for source, _ in LAYERS])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_layer_matches_torch(source, input_spec, training):
    ours, theirs = built(lambda: eval(source, {"nn": nn}), lambda: eval(source, {"nn": torch.nn}))
    assert repr(ours) == repr(theirs)
    assert [name for name, _ in ours.named_parameters()] == [name for name, _ in theirs.named_parameters()]
    assert_same_state(ours, theirs)
    ours.train(training)
    theirs.train(training)
    x, tx = make_input(input_spec)
    for step in range(2):  # twice: running statistics and renormalized embeddings change state
        st.manual_seed(100 + step)
        output = ours(x)
        torch.manual_seed(100 + step)
        expected = theirs(tx)
        assert_same(output, expected)
        assert_same_state(ours, theirs)


def test_layers_accept_dtype():
    ours, theirs = built(lambda: nn.Conv2d(2, 3, 3, dtype=st.float64), lambda: torch.nn.Conv2d(2, 3, 3, dtype=torch.float64))
    assert ours.weight.dtype == st.float64
    assert_same_state(ours, theirs)
    x, tx = pair((1, 2, 5, 5), dtype="float64")
    assert_same(ours(x), theirs(tx))
    norm = nn.BatchNorm1d(3, dtype=st.float64, device="cpu")
    assert norm.running_mean.dtype == st.float64 and norm.num_batches_tracked.dtype == st.int64


def test_batch_norm_running_stats_match_torch():
    for momentum in (0.1, None):
        ours, theirs = built(lambda: nn.BatchNorm2d(3, momentum=momentum), lambda: torch.nn.BatchNorm2d(3, momentum=momentum))
        for step in range(4):
            x, tx = pair((5, 3, 4, 4), seed=step)
            assert_same(ours(x), theirs(tx))
        assert int(ours.num_batches_tracked) == 4
        assert_same(ours.running_mean, theirs.running_mean)
        assert_same(ours.running_var, theirs.running_var)
        ours.eval()
        theirs.eval()
        x, tx = pair((2, 3, 4, 4), seed=10)
        assert_same(ours(x), theirs(tx))
        assert int(ours.num_batches_tracked) == 4  # evaluation leaves the statistics alone


def test_batch_norm_checks_its_input():
    with pytest.raises(ValueError, match=r"expected 4D input \(got 2D input\)"):
        nn.BatchNorm2d(3)(st.randn(4, 3))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        nn.BatchNorm1d(3)(st.randn(4, 3, 2, 2))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        nn.BatchNorm1d(3)(st.randn(1, 3))


def test_dropout_matches_torch_and_is_identity_in_eval():
    x, tx = pair((50, 40))
    st.manual_seed(3)
    dropped = nn.Dropout(0.4)(x)
    torch.manual_seed(3)
    assert_same(dropped, torch.nn.Dropout(0.4)(tx))
    assert 0.3 < float((dropped == 0).float().mean()) < 0.5
    assert bool((nn.Dropout(0.4).eval()(x) == x).all())
    inplace = x.clone()
    st.manual_seed(3)
    assert nn.Dropout(0.4, inplace=True)(inplace) is inplace
    assert_same(inplace, as_torch(dropped))
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)


def test_embedding_padding_idx_and_from_pretrained():
    embedding = nn.Embedding(5, 3, padding_idx=2)
    assert embedding.weight[2].tolist() == [0.0, 0.0, 0.0]
    assert embedding.weight.requires_grad
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(5, 3, padding_idx=5)
    vectors, tvectors = pair((4, 3))
    ours = nn.Embedding.from_pretrained(vectors)
    theirs = torch.nn.Embedding.from_pretrained(tvectors)
    assert not ours.weight.requires_grad
    assert ours.weight.data_ptr == vectors.data_ptr  # shared, as torch's
    index, tindex = pair((2, 3), low=0, high=4)
    assert_same(ours(index), theirs(tindex))
    assert nn.Embedding.from_pretrained(vectors, freeze=False).weight.requires_grad


def test_multihead_attention_parameters_are_torchs():
    ours, theirs = built(lambda: nn.MultiheadAttention(8, 2), lambda: torch.nn.MultiheadAttention(8, 2))
    assert [n for n, _ in ours.named_parameters()] == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert_same_state(ours, theirs)
    assert repr(ours) == repr(theirs)
    separate, theirs_separate = built(lambda: nn.MultiheadAttention(8, 4, kdim=3, vdim=5, add_bias_kv=True, bias=False),
                                      lambda: torch.nn.MultiheadAttention(8, 4, kdim=3, vdim=5, add_bias_kv=True, bias=False))
    assert [n for n, _ in separate.named_parameters()] == [n for n, _ in theirs_separate.named_parameters()]
    assert_same_state(separate, theirs_separate)


MHA_CASES = [
    dict(),
    dict(batch_first=True),
    dict(kdim=3, vdim=5),
    dict(add_bias_kv=True, add_zero_attn=True),
    dict(bias=False, dropout=0.3),
]


@pytest.mark.parametrize("options", MHA_CASES, ids=str)
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_multihead_attention_matches_torch(options, need_weights, training):
    ours, theirs = built(lambda: nn.MultiheadAttention(8, 2, **options).train(training),
                         lambda: torch.nn.MultiheadAttention(8, 2, **options).train(training))
    batch_first = options.get("batch_first", False)

    def shape(length, features):
        return (3, length, features) if batch_first else (length, 3, features)

    (q, tq), (k, tk), (v, tv) = (pair(shape(4, 8), seed=1), pair(shape(6, options.get("kdim", 8)), seed=2),
                                 pair(shape(6, options.get("vdim", 8)), seed=3))
    padding = np.zeros((3, 6), bool)
    padding[:, -1] = True
    causal = np.triu(np.ones((4, 6), bool), 1)
    st.manual_seed(5)
    output, weights = ours(q, k, v, key_padding_mask=st.from_numpy(padding), need_weights=need_weights,
                           attn_mask=st.from_numpy(causal))
    torch.manual_seed(5)
    expected, expected_weights = theirs(tq, tk, tv, key_padding_mask=torch.from_numpy(padding.copy()),
                                        need_weights=need_weights, attn_mask=torch.from_numpy(causal.copy()))
    assert_same(output, expected)
    assert_same(weights, expected_weights)


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_self_attention_matches_torch(batch_first):
    ours, theirs = built(lambda: nn.MultiheadAttention(16, 4, batch_first=batch_first),
                         lambda: torch.nn.MultiheadAttention(16, 4, batch_first=batch_first))
    x, tx = pair((2, 5, 16) if batch_first else (5, 2, 16))  # batches of 2, sequences of 5
    float_mask, tfloat_mask = pair((5, 5), seed=4)
    for kwargs, tkwargs in [({}, {}), ({"average_attn_weights": False}, {"average_attn_weights": False}),
                            ({"attn_mask": float_mask}, {"attn_mask": tfloat_mask}),
                            ({"attn_mask": st.from_numpy(np.triu(np.ones((5, 5), bool), 1)), "is_causal": True,
                              "need_weights": False},
                             {"attn_mask": torch.from_numpy(np.triu(np.ones((5, 5), bool), 1)), "is_causal": True,
                              "need_weights": False})]:
        for mode in (True, False):
            ours.train(mode)
            theirs.train(mode)
            output, weights = ours(x, x, x, **kwargs)
            with torch.no_grad():  # in evaluation, torch may take its fused fast path: it must agree
                expected, expected_weights = theirs(tx, tx, tx, **tkwargs)
            assert_same(output, expected, exact=False)
            assert_same(weights, expected_weights, exact=False)
    unbatched, tunbatched = pair((5, 16), seed=2)
    output, weights = ours(unbatched, unbatched, unbatched)
    expected, expected_weights = theirs(tunbatched, tunbatched, tunbatched)
    assert_same(output, expected, exact=False)
    assert_same(weights, expected_weights, exact=False)


# ---- losses ----------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_and_nll_match_torch(reduction):
    logits, tlogits = pair((6, 5))
    target, ttarget = pair((6,), low=0, high=5)
    target[0] = 2
    ttarget[0] = 2
    target[1] = -100  # ignored by default
    ttarget[1] = -100
    weight, tweight = st.from_numpy(np.linspace(0.5, 2, 5, dtype="float32")), torch.linspace(0.5, 2, 5)
    for options, toptions in [({}, {}), ({"weight": weight}, {"weight": tweight}),
                              ({"label_smoothing": 0.2}, {"label_smoothing": 0.2}),
                              ({"ignore_index": 2, "weight": weight}, {"ignore_index": 2, "weight": tweight})]:
        # with ignore_index=2 the -100 is a class index like any other: out of bounds
        labels, tlabels = (target.clamp(min=0), ttarget.clamp(min=0)) if "ignore_index" in options else (target, ttarget)
        assert_same(nn.CrossEntropyLoss(reduction=reduction, **options)(logits, labels),
                    torch.nn.CrossEntropyLoss(reduction=reduction, **toptions)(tlogits, tlabels))
        if "label_smoothing" not in options:
            log_probs, tlog_probs = F.log_softmax(logits, dim=1), torch.log_softmax(tlogits, dim=1)
            assert_same(nn.NLLLoss(reduction=reduction, **options)(log_probs, labels),
                        torch.nn.NLLLoss(reduction=reduction, **toptions)(tlog_probs, tlabels))
    # class probabilities as targets, and images (N, C, H, W)
    probabilities, tprobabilities = F.softmax(pair((6, 5), seed=1)[0], dim=1), torch.softmax(pair((6, 5), seed=1)[1], dim=1)
    assert_same(F.cross_entropy(logits, probabilities, reduction=reduction, label_smoothing=0.1),
                torch.nn.functional.cross_entropy(tlogits, tprobabilities, reduction=reduction, label_smoothing=0.1))
    images, timages = pair((2, 5, 3, 3))
    labels, tlabels = pair((2, 3, 3), low=0, high=5)
    assert_same(F.cross_entropy(images, labels, reduction=reduction), torch.nn.functional.cross_entropy(timages, tlabels, reduction=reduction))
    assert_same(F.nll_loss(images, labels, reduction=reduction), torch.nn.functional.nll_loss(timages, tlabels, reduction=reduction))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_and_binary_losses_match_torch(reduction):
    (x, tx), (y, ty) = pair((4, 3)), pair((4, 3), seed=1)
    assert_same(nn.MSELoss(reduction=reduction)(x, y), torch.nn.MSELoss(reduction=reduction)(tx, ty))
    assert_same(nn.L1Loss(reduction=reduction)(x, y), torch.nn.L1Loss(reduction=reduction)(tx, ty))
    weight, tweight = pair((4, 3), seed=2)
    weight, tweight = weight.abs(), tweight.abs()
    assert_same(F.mse_loss(x, y, reduction=reduction, weight=weight), torch.nn.functional.mse_loss(tx, ty, reduction=reduction, weight=tweight))
    assert_same(F.l1_loss(x, y, reduction=reduction, weight=weight), torch.nn.functional.l1_loss(tx, ty, reduction=reduction, weight=tweight))
    targets, ttargets = (y > 0).float(), (ty > 0).float()
    pos_weight, tpos_weight = st.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 3.0])
    assert_same(nn.BCEWithLogitsLoss(reduction=reduction)(x, targets), torch.nn.BCEWithLogitsLoss(reduction=reduction)(tx, ttargets))
    ours = nn.BCEWithLogitsLoss(weight=weight, pos_weight=pos_weight, reduction=reduction)
    theirs = torch.nn.BCEWithLogitsLoss(weight=tweight, pos_weight=tpos_weight, reduction=reduction)
    assert_same(ours(x, targets), theirs(tx, ttargets))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "pos_weight"]


def test_losses_check_their_arguments():
    x = st.randn(3)
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.mse_loss(x, x, reduction="average")
    with pytest.raises(ValueError, match=r"Target size \(st.Size\(\[2\]\)\) must be the same as input size"):
        F.binary_cross_entropy_with_logits(x, st.ones(2))
    with pytest.warns(UserWarning, match="Using a target size"):
        F.l1_loss(st.zeros(3, 1), st.zeros(3))
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        assert nn.MSELoss(size_average=False).reduction == "sum"


# ---- functional ------------------------------------------------------------------------------

# (name, arguments after the input, input shape): F.name against torch.nn.functional.name.
FUNCTIONAL = [
    ("relu", (), (3, 4)),
    ("gelu", (), (3, 4)),
    ("silu", (), (3, 4)),
    ("tanh", (), (3, 4)),
    ("sigmoid", (), (3, 4)),
    ("softmax", (1,), (3, 4)),
    ("log_softmax", (0,), (3, 4)),
    ("max_pool2d", (3, 2, 1), (1, 2, 7, 7)),
    ("avg_pool2d", ((2, 3),), (1, 2, 6, 6)),
    ("adaptive_avg_pool2d", ((3, 2),), (1, 2, 7, 5)),
    ("layer_norm", ((4,),), (2, 4)),
    ("group_norm", (2,), (2, 4, 3)),
    ("dropout", (0.25,), (10, 10)),
    ("pad", ((1, 2, 0, 1),), (2, 3, 3)),
    ("pad", ((1, 1), "reflect"), (2, 3, 4)),
    ("pad", ((1, 0, 2, 2), "constant", 2.5), (2, 3, 4)),
]


@pytest.mark.parametrize("name, args, shape", FUNCTIONAL, ids=[f"{n}{a}" for n, a, _ in FUNCTIONAL])
def test_functional_matches_torch(name, args, shape):
    x, tx = pair(shape)
    st.manual_seed(1)
    output = getattr(F, name)(x, *args)
    torch.manual_seed(1)
    assert_same(output, getattr(torch.nn.functional, name)(tx, *args))


def test_functional_with_weights_matches_torch():
    x, tx = pair((2, 3, 6, 6))
    w, tw = pair((4, 3, 3, 3), seed=1)
    b, tb = pair((4,), seed=2)
    assert_same(F.conv2d(x, w, b, stride=2, padding=1), torch.nn.functional.conv2d(tx, tw, tb, stride=2, padding=1))
    assert_same(F.conv2d(x, w, padding="same"), torch.nn.functional.conv2d(tx, tw, padding="same"))
    w1, tw1 = pair((5, 3, 2), seed=3)
    assert_same(F.conv1d(x[:, :, 0], w1, dilation=2), torch.nn.functional.conv1d(tx[:, :, 0], tw1, dilation=2))
    lw, tlw = pair((7, 6), seed=4)
    assert_same(F.linear(x, lw), torch.nn.functional.linear(tx, tlw))
    out, indices = F.max_pool2d(x, 2, return_indices=True)
    tout, tindices = torch.nn.functional.max_pool2d(tx, 2, return_indices=True)
    assert_same(out, tout)
    assert_same(indices, tindices)
    mean, var = st.zeros(3), st.ones(3)
    tmean, tvar = torch.zeros(3), torch.ones(3)
    assert_same(F.batch_norm(x, mean, var, training=True, momentum=0.2),
                torch.nn.functional.batch_norm(tx, tmean, tvar, training=True, momentum=0.2))
    assert_same(mean, tmean)
    assert_same(var, tvar)
    table, ttable = pair((10, 4), seed=5)
    index, tindex = pair((2, 3), low=0, high=10)
    assert_same(F.embedding(index, table, padding_idx=1), torch.nn.functional.embedding(tindex, ttable, padding_idx=1))
    q, tq = pair((2, 3, 5, 4), seed=6)
    k, tk = pair((2, 3, 7, 4), seed=7)
    v, tv = pair((2, 3, 7, 4), seed=8)
    assert_same(F.scaled_dot_product_attention(q, k, v), torch.nn.functional.scaled_dot_product_attention(tq, tk, tv))
    assert_same(F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3),
                torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True, scale=0.3))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        assert_same(F.softmax(x), torch.nn.functional.softmax(tx, dim=1))


def test_inplace_activations_write_their_input():
    x, tx = pair((3, 4))
    assert F.relu(x, inplace=True) is x
    assert_same(x, torch.relu(tx))
    y, ty = pair((3, 4), seed=1)
    assert nn.SiLU(inplace=True)(y) is y
    assert_same(y, torch.nn.functional.silu(ty))


# ---- init ------------------------------------------------------------------------------------

INITS = [
    ("uniform_", (), {}),
    ("uniform_", (-0.5, 2.0), {}),
    ("normal_", (), {"mean": 1.0, "std": 0.02}),
    ("trunc_normal_", (), {"std": 0.5, "a": -0.4, "b": 0.6}),
    ("constant_", (0.3,), {}),
    ("ones_", (), {}),
    ("zeros_", (), {}),
    ("xavier_uniform_", (), {"gain": 2.0}),
    ("xavier_normal_", (), {}),
    ("kaiming_uniform_", (), {"a": math.sqrt(5)}),
    ("kaiming_uniform_", (), {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", (), {}),
    ("kaiming_normal_", (), {"mode": "fan_out", "nonlinearity": "tanh"}),
    ("orthogonal_", (), {}),
    ("orthogonal_", (), {"gain": 0.5}),
]


@pytest.mark.parametrize("shape", [(6, 4), (3, 5, 2, 2)], ids=str)
@pytest.mark.parametrize("name, args, kwargs", INITS, ids=[f"{n}{a}{k}" for n, a, k in INITS])
def test_init_matches_torch(name, args, kwargs, shape):
    ours = nn.Parameter(st.empty(shape))
    theirs = torch.nn.Parameter(torch.empty(shape))
    st.manual_seed(4)
    result = getattr(init, name)(ours, *args, **kwargs)
    torch.manual_seed(4)
    getattr(torch.nn.init, name)(theirs, *args, **kwargs)
    assert result is ours  # in place, and not recorded: the parameter stays a leaf
    assert ours.is_leaf and ours.requires_grad and ours.grad_fn is None
    assert_same(ours, theirs, exact=name != "orthogonal_")  # QR may round differently on the two sides


def test_init_with_generator_matches_torch():
    ours, theirs = st.empty(5, 3), torch.empty(5, 3)
    init.xavier_uniform_(ours, generator=st.Generator().manual_seed(9))
    torch.nn.init.xavier_uniform_(theirs, generator=torch.Generator().manual_seed(9))
    assert_same(ours, theirs)


def test_calculate_gain_matches_torch():
    for nonlinearity, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                                ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)]:
        assert init.calculate_gain(nonlinearity, param) == torch.nn.init.calculate_gain(nonlinearity, param)
    with pytest.raises(ValueError, match="Unsupported nonlinearity softsign"):
        init.calculate_gain("softsign")
    with pytest.raises(ValueError, match="Fan in and fan out can not be computed"):
        init.xavier_uniform_(st.empty(3))


# ---- Parameter -------------------------------------------------------------------------------


def test_parameter_is_a_leaf_sharing_its_data():
    data = st.randn(2, 3)
    param = nn.Parameter(data)
    assert isinstance(param, st.Tensor) and isinstance(param, nn.Parameter)
    assert param.requires_grad and param.is_leaf and not data.requires_grad
    assert param.data_ptr == data.data_ptr  # the same memory
    assert repr(param) == "Parameter containing:\n" + repr(data.detach().requires_grad_())
    assert type(param * 2) is st.Tensor  # operations give plain tensors
    with st.no_grad():
        assert param.mul_(2) is param  # in place gives the parameter back
    assert not nn.Parameter(data, requires_grad=False).requires_grad
    assert nn.Parameter().shape == (0,)
    clone = copy.deepcopy(param)
    assert type(clone) is nn.Parameter and clone.data_ptr != param.data_ptr
    assert clone.tolist() == param.tolist() and clone.requires_grad
    with pytest.raises(TypeError, match="Parameter needs a tensor"):
        nn.Parameter([1.0, 2.0])


# ---- Module: registration, naming, walking ---------------------------------------------------


def define_models(nn_module):
    """The same nested model class, written once on st.nn and once on torch.nn."""
    tensors = torch if nn_module is torch.nn else st  # for the factories

    class Block(nn_module.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv = nn_module.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.norm = nn_module.BatchNorm2d(channels)
            self.act = nn_module.ReLU()

        def forward(self, x):
            return self.act(self.norm(self.conv(x))) + x

    class Net(nn_module.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn_module.Sequential(nn_module.Conv2d(3, 8, 3, stride=2, padding=1), nn_module.GELU())
            self.blocks = nn_module.ModuleList([Block(8) for _ in range(2)])
            self.pool = nn_module.AdaptiveAvgPool2d(1)
            self.heads = nn_module.ModuleDict({"cls": nn_module.Linear(8, 5), "aux": nn_module.Linear(8, 1)})
            self.scale = nn_module.Parameter(tensors.ones(1))
            self.register_buffer("steps", tensors.zeros(1))
            self.register_buffer("cache", tensors.zeros(2), persistent=False)

        def forward(self, x):
            x = self.stem(x)
            for block in self.blocks:
                x = block(x)
            x = self.pool(x).flatten(1)
            return self.heads["cls"](x) * self.scale, self.heads["aux"](x)

    return Net


def nets(seed=0):
    return built(lambda: define_models(nn)(), lambda: define_models(torch.nn)(), seed)


def test_nested_model_names_state_and_repr_are_torchs():
    ours, theirs = nets()
    assert repr(ours) == repr(theirs)
    for walk in ("named_parameters", "named_buffers", "named_modules", "named_children"):
        assert [name for name, _ in getattr(ours, walk)()] == [name for name, _ in getattr(theirs, walk)()], walk
    assert [name for name, _ in ours.named_parameters(prefix="model", recurse=True)] == \
        [name for name, _ in theirs.named_parameters(prefix="model")]
    assert [name for name, _ in ours.named_parameters(recurse=False)] == ["scale"]
    assert [name for name, _ in ours.named_buffers(recurse=False)] == ["steps", "cache"]
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))
    assert len(list(ours.modules())) == len(list(theirs.modules()))
    assert [type(m).__name__ for m in ours.children()] == [type(m).__name__ for m in theirs.children()]
    assert_same_state(ours, theirs)
    state = ours.state_dict()
    assert isinstance(state, OrderedDict) and "cache" not in state
    assert state["stem.0.weight"].data_ptr == ours.stem[0].weight.data_ptr  # detached, not copied
    assert not state["stem.0.weight"].requires_grad and type(state["stem.0.weight"]) is st.Tensor
    assert ours.state_dict(keep_vars=True)["stem.0.weight"] is ours.stem[0].weight
    assert list(ours.state_dict(prefix="net.")) == list(theirs.state_dict(prefix="net."))
    x, tx = pair((2, 3, 8, 8))
    for mode in (True, False):
        ours.train(mode)
        theirs.train(mode)
        for output, expected in zip(ours(x), theirs(tx)):
            assert_same(output, expected)


def test_shared_modules_and_parameters_are_counted_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    tshared = torch.nn.Linear(2, 2)
    tmodel = torch.nn.Sequential(tshared, torch.nn.ReLU(), tshared)
    for kwargs in ({}, {"remove_duplicate": False}):
        assert [n for n, _ in model.named_parameters(**kwargs)] == [n for n, _ in tmodel.named_parameters(**kwargs)]
        assert [n for n, _ in model.named_modules(**kwargs)] == [n for n, _ in tmodel.named_modules(**kwargs)]
    assert list(model.state_dict()) == list(tmodel.state_dict())
    assert len(list(model.children())) == 2


def test_setattr_registers_and_getattr_finds():
    module = nn.Module()
    module.weight = nn.Parameter(st.ones(2))
    module.child = nn.Linear(2, 2)
    module.register_buffer("stat", st.zeros(2))
    module.plain = 3
    assert list(module._parameters) == ["weight"] and list(module._modules) == ["child"]
    assert list(module._buffers) == ["stat"] and module.plain == 3
    module.stat = st.ones(2)  # a buffer stays a buffer when reassigned
    assert module._buffers["stat"].tolist() == [1.0, 1.0]
    module.weight = None  # a parameter slot may be emptied
    assert module.weight is None and "weight" in module._parameters
    with pytest.raises(TypeError, match=r"cannot assign 'simple_torch._tensor.TorchTensorWrapper' as parameter 'weight'"):
        module.weight = st.ones(2)
    with pytest.raises(TypeError, match="cannot assign 'int' as child module 'child'"):
        module.child = 5
    module.child = None
    assert module.child is None
    with pytest.raises(AttributeError) as ours_error:
        module.missing  # noqa: B018
    with pytest.raises(AttributeError) as theirs_error:
        torch.nn.Module().missing  # noqa: B018
    assert str(ours_error.value) == str(theirs_error.value)
    with pytest.raises(KeyError, match="attribute 'plain' already exists"):
        module.register_buffer("plain", st.zeros(1))
    with pytest.raises(KeyError, match="parameter name can.*t contain"):
        module.register_parameter("a.b", None)
    with pytest.raises(KeyError, match="module name can.*t contain.*got: a.b"):
        module.add_module("a.b", nn.ReLU())
    with pytest.raises(TypeError, match="int is not a Module subclass"):
        module.register_module("x", 3)
    with pytest.raises(TypeError, match="cannot assign 'list' object to buffer 'b'"):
        module.register_buffer("b", [1, 2])
    with pytest.raises(AttributeError, match=r"cannot assign parameters before Module.__init__\(\) call"):
        class Broken(nn.Module):
            def __init__(self):
                self.weight = nn.Parameter(st.ones(1))

        Broken()
    assert {"weight", "stat", "plain", "forward"} <= set(dir(module))
    del module.weight, module.stat, module.child, module.plain
    assert not module._parameters and not module._buffers and not module._modules and not hasattr(module, "plain")
    with pytest.raises(NotImplementedError, match='Module \\[Module\\] is missing the required "forward" function'):
        module(st.ones(1))


def test_get_submodule_parameter_and_buffer():
    ours, _ = nets()
    assert ours.get_submodule("blocks.1.conv") is ours.blocks[1].conv
    assert ours.get_submodule("") is ours
    assert ours.get_parameter("heads.cls.bias") is ours.heads["cls"].bias
    assert ours.get_buffer("blocks.0.norm.running_var") is ours.blocks[0].norm.running_var
    with pytest.raises(AttributeError, match="Linear has no attribute `nothing`"):
        ours.get_parameter("heads.cls.nothing")


def test_train_eval_apply_and_hooks():
    ours, _ = nets()
    assert all(m.training for m in ours.modules())
    assert ours.eval() is ours and not any(m.training for m in ours.modules())
    ours.blocks.train()
    assert ours.blocks[0].norm.training and not ours.stem.training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        ours.train(1)
    visited = []
    assert ours.apply(lambda m: visited.append(type(m).__name__)) is ours
    tvisited = []
    _, theirs = nets()
    theirs.apply(lambda m: tvisited.append(type(m).__name__))
    assert visited == tvisited

    layer = nn.Linear(3, 2)
    seen = []
    pre = layer.register_forward_pre_hook(lambda module, args: (args[0] * 0,))
    post = layer.register_forward_hook(lambda module, args, output: seen.append(output.shape))
    first = layer.register_forward_hook(lambda module, args, kwargs, output: output + 1, with_kwargs=True, prepend=True)
    result = layer(st.ones(4, 3))
    assert seen == [(4, 2)]
    assert result.tolist() == (layer.bias + 1).expand(4, 2).tolist()
    for handle in (pre, post, first):
        handle.remove()
    assert layer(st.ones(4, 3)).tolist() == layer.forward(st.ones(4, 3)).tolist() and len(seen) == 1


def test_features_left_out_say_so():
    layer = nn.Linear(2, 2)
    for call in (lambda: layer.register_full_backward_hook(print), lambda: layer.register_backward_hook(print),
                 lambda: layer.share_memory(), lambda: layer.to_empty(device="cpu"), lambda: layer.compile(),
                 lambda: layer.register_forward_hook(print, always_call=True),
                 lambda: layer.to(memory_format=st.channels_last)):
        with pytest.raises(NotImplementedError, match="not supported by simple_torch"):
            call()


# ---- Module: state dicts ---------------------------------------------------------------------


def test_load_state_dict_copies_in_place():
    ours, theirs = nets(seed=0)
    other, _ = nets(seed=1)
    weight = ours.stem[0].weight
    assert repr(ours.load_state_dict(other.state_dict())) == "<All keys matched successfully>"
    assert ours.stem[0].weight is weight and weight.requires_grad  # the same parameter, new values
    assert_same_st_state(ours, other)
    # a torch model's state_dict loads as it is
    torch.manual_seed(7)
    _, theirs = nets(seed=7)
    ours.load_state_dict(theirs.state_dict())
    assert_same_state(ours, theirs)
    x, tx = pair((2, 3, 8, 8))
    assert_same(ours(x)[0], theirs(tx)[0])


def test_load_state_dict_errors_are_torchs():
    ours, theirs = built(lambda: nn.Linear(4, 4), lambda: torch.nn.Linear(4, 4))
    state, tstate = ours.state_dict(), theirs.state_dict()
    del state["bias"], tstate["bias"]
    state["foo"], tstate["foo"] = st.ones(1), torch.ones(1)
    with pytest.raises(RuntimeError) as ours_error:
        ours.load_state_dict(state)
    with pytest.raises(RuntimeError) as theirs_error:
        theirs.load_state_dict(tstate)
    assert str(ours_error.value) == torch_message(theirs_error.value)
    assert str(ours_error.value) == ('Error(s) in loading state_dict for Linear:\n\tMissing key(s) in state_dict: "bias". '
                                     '\n\tUnexpected key(s) in state_dict: "foo". ')
    result = ours.load_state_dict(state, strict=False)
    assert result == theirs.load_state_dict(tstate, strict=False) == (["bias"], ["foo"])
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["foo"]
    assert repr(result) == repr(theirs.load_state_dict(tstate, strict=False))

    wrong, twrong = {"weight": st.ones(3, 4), "bias": st.ones(4)}, {"weight": torch.ones(3, 4), "bias": torch.ones(4)}
    with pytest.raises(RuntimeError) as ours_error:
        ours.load_state_dict(wrong)
    with pytest.raises(RuntimeError) as theirs_error:
        theirs.load_state_dict(twrong)
    assert str(ours_error.value) == torch_message(theirs_error.value)
    assert "size mismatch for weight: copying a param with shape st.Size([3, 4]) from checkpoint, the shape in current model is st.Size([4, 4])." in str(ours_error.value)

    nested, tnested = nets()
    state, tstate = nested.state_dict(), tnested.state_dict()
    for s in (state, tstate):
        del s["blocks.1.norm.running_mean"]
        s["heads.extra.weight"] = s["scale"]
        s["blocks.0.conv.weight"] = s["blocks.0.conv.weight"][:1]
    with pytest.raises(RuntimeError) as ours_error:
        nested.load_state_dict(state)
    with pytest.raises(RuntimeError) as theirs_error:
        tnested.load_state_dict(tstate)
    assert str(ours_error.value).startswith("Error(s) in loading state_dict for Net:")
    assert str(ours_error.value) == torch_message(theirs_error.value)
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        nested.load_state_dict([("scale", st.ones(1))])


def test_load_state_dict_of_old_batch_norm_and_assign():
    norm, tnorm = built(lambda: nn.BatchNorm1d(3), lambda: torch.nn.BatchNorm1d(3))
    state, tstate = norm.state_dict(), tnorm.state_dict()
    assert state._metadata == tstate._metadata == {"": {"version": 2}}
    # a state dict from before num_batches_tracked (no metadata) loads, keeping the module's own
    old = OrderedDict((k, v) for k, v in state.items() if k != "num_batches_tracked")
    told = OrderedDict((k, v) for k, v in tstate.items() if k != "num_batches_tracked")
    assert norm.load_state_dict(old) == tnorm.load_state_dict(told)
    new_weight = st.full((3,), 2.0)
    linear = nn.BatchNorm1d(3)
    linear.load_state_dict({**linear.state_dict(), "weight": new_weight}, assign=True)
    assert isinstance(linear.weight, nn.Parameter) and linear.weight.data_ptr == new_weight.data_ptr
    assert linear.weight.requires_grad


# ---- Module: devices and dtypes --------------------------------------------------------------


def test_to_converts_in_place_keeping_parameters():
    ours, theirs = nets()
    weight = ours.heads["cls"].weight
    assert ours.to(st.float64) is ours
    theirs.to(torch.float64)
    assert ours.heads["cls"].weight is weight and weight.dtype == st.float64 and weight.requires_grad
    assert ours.blocks[0].norm.num_batches_tracked.dtype == st.int64  # integers keep their dtype
    assert_same_state(ours, theirs)
    x, tx = pair((1, 3, 8, 8), dtype="float64")
    assert_same(ours(x)[0], theirs(tx)[0])
    assert ours.float().steps.dtype == st.float32
    assert ours.half().scale.dtype == st.float16
    assert ours.bfloat16().scale.dtype == st.bfloat16
    assert ours.double().scale.dtype == st.float64
    assert ours.to("cpu", st.float32).scale.dtype == st.float32
    assert ours.to(dtype="float64", device="cpu").scale.dtype == st.float64
    assert ours.to(st.zeros(1, dtype=st.float16)).scale.dtype == st.float16
    assert ours.cpu().scale.device == st.Device("cpu")
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point or complex dtypes"):
        ours.to(st.int32)


def test_to_moves_gradients_too():
    layer = nn.Linear(3, 2)
    layer(st.randn(4, 3)).sum().backward()
    layer.double()
    assert layer.weight.grad.dtype == st.float64 and layer.weight.dtype == st.float64


@pytest.mark.cuda
def test_cuda_moves_parameters_and_buffers():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    weight = model[0].weight
    model.cuda()
    assert model[0].weight is weight and weight.is_cuda and model[1].running_mean.is_cuda
    assert model(st.randn(5, 4).cuda()).is_cuda
    assert not model.to("cpu")[1].num_batches_tracked.is_cuda


# ---- containers ------------------------------------------------------------------------------


def test_sequential_behaves_as_torchs():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    model = nn.Sequential(*layers)
    assert len(model) == 3 and list(model) == layers
    assert model[0] is layers[0] and model[-1] is layers[2]
    head = model[1:]
    assert isinstance(head, nn.Sequential) and list(head._modules) == ["1", "2"] and head[0] is layers[1]
    with pytest.raises(IndexError, match="index 3 is out of range"):
        model[3]  # noqa: B018
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert list(named._modules) == ["fc", "act"] and named.fc is named[0]
    model.append(nn.Sigmoid())
    assert len(model) == 4 and isinstance(model[3], nn.Sigmoid)
    model.insert(1, nn.Identity())
    assert [type(m).__name__ for m in model] == ["Linear", "Identity", "ReLU", "Linear", "Sigmoid"]
    assert isinstance(model.pop(1), nn.Identity)
    del model[-1]
    assert list(model._modules) == ["0", "1", "2"] and list(model) == layers
    model.extend([nn.Tanh()])
    assert len(model + nn.Sequential(nn.ReLU())) == 5 and len(model * 2) == 8
    model[3] = nn.Sigmoid()
    assert isinstance(model[3], nn.Sigmoid)
    assert model(st.randn(4, 2)).shape == (4, 1)


def test_module_list_and_dict_behave_as_torchs():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and isinstance(layers[1:], nn.ModuleList) and len(layers[1:]) == 2
    layers.append(nn.ReLU()).extend([nn.Tanh()])
    layers.insert(0, nn.Sigmoid())
    assert [type(m).__name__ for m in layers] == ["Sigmoid", "Linear", "Linear", "Linear", "ReLU", "Tanh"]
    del layers[0]
    assert list(layers._modules) == [str(i) for i in range(5)]
    layers += nn.ModuleList([nn.GELU()])
    assert len(layers) == 6 and isinstance(layers[-1], nn.GELU)
    assert [n for n, _ in layers.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"]
    tlayers = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)] + [torch.nn.ReLU(), torch.nn.Tanh(), torch.nn.GELU()])
    assert repr(layers) == repr(tlayers)
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())

    heads = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.ReLU()})
    heads["c"] = nn.Tanh()
    heads.update([("d", nn.Sigmoid())])
    assert list(heads) == list(heads.keys()) == ["a", "b", "c", "d"] and "b" in heads and len(heads) == 4
    assert [type(m).__name__ for m in heads.values()] == ["Linear", "ReLU", "Tanh", "Sigmoid"]
    assert isinstance(heads.pop("b"), nn.ReLU) and "b" not in heads
    del heads["c"]
    assert [k for k, _ in heads.items()] == ["a", "d"]
    heads.clear()
    assert len(heads) == 0


# ---- autograd through the layers -------------------------------------------------------------


def test_gradients_through_a_model_match_torch():
    ours, theirs = nets()
    x, tx = pair((2, 3, 8, 8))
    labels, tlabels = st.tensor([1, 4]), torch.tensor([1, 4])
    logits, aux = ours(x)
    (F.cross_entropy(logits, labels) + aux.square().mean()).backward()
    tlogits, taux = theirs(tx)
    (torch.nn.functional.cross_entropy(tlogits, tlabels) + taux.square().mean()).backward()
    for (name, param), (_, tparam) in zip(ours.named_parameters(), theirs.named_parameters()):
        torch.testing.assert_close(as_torch(param.grad), tparam.grad, msg=name)


def test_zero_grad_and_requires_grad():
    ours, theirs = nets()
    x, tx = pair((2, 3, 8, 8))
    logits, aux = ours(x)
    (logits.sum() + aux.sum()).backward()
    assert all(p.grad is not None for p in ours.parameters())
    ours.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not bool(p.grad.any()) for p in ours.parameters())
    ours.zero_grad()
    assert all(p.grad is None for p in ours.parameters())
    assert ours.requires_grad_(False) is ours and not any(p.requires_grad for p in ours.parameters())
    ours.heads.requires_grad_()
    assert [n for n, p in ours.named_parameters() if p.requires_grad] == ["heads.cls.weight", "heads.cls.bias",
                                                                          "heads.aux.weight", "heads.aux.bias"]


@pytest.mark.parametrize("norm_type", [2.0, 1, float("inf")])
@pytest.mark.parametrize("foreach", [None, False])
def test_clip_grad_norm_matches_torch(norm_type, foreach):
    ours, theirs = nets()
    x, tx = pair((2, 3, 8, 8))
    (ours(x)[0] * 10).sum().backward()
    (theirs(tx)[0] * 10).sum().backward()
    ours.heads["aux"].weight.grad = None  # a parameter without a gradient is skipped
    theirs.heads["aux"].weight.grad = None
    total = nn.utils.clip_grad_norm_(ours.parameters(), 0.5, norm_type=norm_type, foreach=foreach)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs.parameters(), 0.5, norm_type=norm_type, foreach=foreach)
    torch.testing.assert_close(as_torch(total), ttotal)
    for (name, param), (_, tparam) in zip(ours.named_parameters(), theirs.named_parameters()):
        if tparam.grad is None:
            assert param.grad is None
        else:
            torch.testing.assert_close(as_torch(param.grad), tparam.grad, msg=name)
    clipped = nn.utils.get_total_norm([p.grad for p in ours.parameters() if p.grad is not None], norm_type)
    assert float(clipped) == pytest.approx(0.5, rel=1e-4)


def test_clip_grad_edge_cases():
    param = nn.Parameter(st.ones(3))
    assert float(nn.utils.clip_grad_norm_(param, 1.0)) == 0.0  # no gradient at all
    param.grad = st.tensor([3.0, float("nan"), 4.0])
    with pytest.raises(RuntimeError, match="The total norm of order 2.0 for gradients from `parameters` is non-finite"):
        nn.utils.clip_grad_norm_([param], 1.0, error_if_nonfinite=True)
    param.grad = st.tensor([3.0, 0.0, 4.0])
    assert float(nn.utils.clip_grad_norm_([param], 10.0)) == 5.0 and param.grad.tolist() == [3.0, 0.0, 4.0]
    with pytest.warns(UserWarning, match="`parameters` is an empty generator"):
        nn.utils.clip_grad_norm_((p for p in []), 1.0)
    param.grad = st.tensor([3.0, -0.2, -4.0])
    tparam = torch.nn.Parameter(torch.ones(3))
    tparam.grad = torch.tensor([3.0, -0.2, -4.0])
    nn.utils.clip_grad_value_([param], 0.5)
    torch.nn.utils.clip_grad_value_([tparam], 0.5)
    assert_same(param.grad, tparam.grad)


def test_training_steps_match_torch():
    """A few plain SGD steps, written with no_grad, give the same parameters as torch's."""
    ours, theirs = built(lambda: nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 3)),
                         lambda: torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.LayerNorm(8), torch.nn.Linear(8, 3)))
    for step in range(3):
        x, tx = pair((16, 4), seed=step)
        y, ty = pair((16,), seed=step, low=0, high=3)
        ours.zero_grad()
        theirs.zero_grad()
        F.cross_entropy(ours(x), y).backward()
        torch.nn.functional.cross_entropy(theirs(tx), ty).backward()
        nn.utils.clip_grad_norm_(ours.parameters(), 1.0)
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
        with st.no_grad():
            for param in ours.parameters():
                param -= 0.1 * param.grad
        with torch.no_grad():
            for param in theirs.parameters():
                param -= 0.1 * param.grad
    for (name, param), (_, tparam) in zip(ours.named_parameters(), theirs.named_parameters()):
        torch.testing.assert_close(as_torch(param), tparam.detach(), msg=name)
