"""st.optim: SGD, Adam and AdamW update parameters bit for bit as torch's (every option, the
single-tensor, foreach and fused implementations), their state dicts have torch's layout and
resume training exactly, the schedulers give torch's learning rates step by step, and errors
are torch's."""

import warnings

import numpy as np
import pytest
import torch

import simple_torch as st
from simple_torch import optim
from simple_torch.optim import lr_scheduler

SHAPES = [(4, 3), (3,), (2, 2)]


def params(seed=0, requires_grad=True, dtype="float32"):
    """The same parameters as st tensors and torch tensors."""
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
    ours = [st.tensor(v, requires_grad=requires_grad) for v in values]
    theirs = [torch.tensor(v, requires_grad=requires_grad) for v in values]
    return ours, theirs


def grads(step, dtype="float32"):
    """The gradients of one step (the last parameter gets none every third step: skipped)."""
    rng = np.random.default_rng(1000 + step)
    values = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
    if step % 3 == 2:
        values[-1] = None
    return values


def set_grads(ours, theirs, values):
    for p, tp, g in zip(ours, theirs, values):
        p.grad = None if g is None else st.tensor(g)
        tp.grad = None if g is None else torch.tensor(g)


def assert_exact(ours, theirs, context=""):
    for i, (p, tp) in enumerate(zip(ours, theirs)):
        a, b = p.detach().numpy(), tp.detach().numpy()
        assert a.dtype == b.dtype and np.array_equal(a, b), f"{context} param {i}: max diff {np.abs(a - b).max()}"


def to_numpy(value):
    if isinstance(value, st.Tensor):
        return value.detach().numpy()
    return value.detach().numpy()


def assert_same_state_dict(ours, theirs):
    """Same keys and structure, tensors with equal values, dtypes and shapes, equal options."""
    assert list(ours) == list(theirs) == ["state", "param_groups"]
    assert list(ours["state"]) == list(theirs["state"])
    for index, state in ours["state"].items():
        their_state = theirs["state"][index]
        assert list(state) == list(their_state)
        for key, value in state.items():
            if isinstance(value, st.Tensor):
                a, b = to_numpy(value), to_numpy(their_state[key])
                assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), (index, key)
            else:
                assert value == their_state[key]
    assert ours["param_groups"] == theirs["param_groups"]
    for group, their_group in zip(ours["param_groups"], theirs["param_groups"]):
        assert list(group) == list(their_group)  # the same keys in the same order


def run_both(make_ours, make_theirs, steps=20, seed=0):
    ours, theirs = params(seed)
    opt, topt = make_ours(ours), make_theirs(theirs)
    for step in range(steps):
        set_grads(ours, theirs, grads(step))
        opt.step()
        topt.step()
        assert_exact(ours, theirs, f"step {step}")
    assert_same_state_dict(opt.state_dict(), topt.state_dict())
    return opt, topt, ours, theirs


SGD_OPTIONS = [
    {},
    {"momentum": 0.9},
    {"momentum": 0.9, "dampening": 0.3},
    {"momentum": 0.9, "nesterov": True},
    {"weight_decay": 0.05},
    {"momentum": 0.8, "weight_decay": 0.05, "nesterov": True},
    {"maximize": True},
    {"momentum": 0.9, "weight_decay": 0.01, "dampening": 0.1, "maximize": True},
]

ADAM_OPTIONS = [
    {},
    {"amsgrad": True},
    {"weight_decay": 0.1},
    {"weight_decay": 0.1, "amsgrad": True},
    {"maximize": True},
    {"maximize": True, "amsgrad": True, "weight_decay": 0.02},
    {"betas": (0.8, 0.99), "eps": 1e-6, "lr": 0.05},
]

IMPLEMENTATIONS = [{}, {"foreach": True}, {"fused": True}]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=["single", "foreach", "fused"])
@pytest.mark.parametrize("options", SGD_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "plain")
def test_sgd_matches_torch_every_step(options, impl):
    kwargs = {"lr": 0.05, **options, **impl}
    run_both(lambda p: optim.SGD(p, **kwargs), lambda p: torch.optim.SGD(p, **kwargs))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=["single", "foreach", "fused"])
@pytest.mark.parametrize("options", ADAM_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "plain")
def test_adam_matches_torch_every_step(options, impl):
    kwargs = {"lr": 0.01, **options, **impl}
    run_both(lambda p: optim.Adam(p, **kwargs), lambda p: torch.optim.Adam(p, **kwargs))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=["single", "foreach", "fused"])
@pytest.mark.parametrize("options", ADAM_OPTIONS + [{"weight_decay": 0.0}],
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default-decay")
def test_adamw_matches_torch_every_step(options, impl):
    kwargs = {"lr": 0.01, **options, **impl}
    run_both(lambda p: optim.AdamW(p, **kwargs), lambda p: torch.optim.AdamW(p, **kwargs))


def test_adam_state_is_torchs():
    opt, topt, ours, _ = run_both(lambda p: optim.Adam(p, amsgrad=True), lambda p: torch.optim.Adam(p, amsgrad=True), steps=3)
    step = opt.state[ours[0]]["step"]
    # torch keeps the step as a float32 0-d tensor on the CPU
    assert step.dtype == st.float32 and step.shape == () and step.device.kind == "cpu" and step.item() == 3.0
    assert opt.state[ours[2]]["step"].item() == 2.0  # skipped when it had no gradient
    fused = optim.Adam([st.zeros(2, requires_grad=True)], fused=True)
    fused.param_groups[0]["params"][0].grad = st.ones(2)
    fused.step()
    assert next(iter(fused.state.values()))["step"].dtype == st.float32


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 1e-2}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
])
def test_training_by_backward_matches_torch(name, kwargs):
    """Gradients from a loss and backward() on both sides, zero_grad between steps."""
    ours, theirs = params(3)
    opt, topt = getattr(optim, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)
    rng = np.random.default_rng(7)
    for step in range(20):
        x = rng.standard_normal((3, 5)).astype("float32")
        opt.zero_grad()
        topt.zero_grad()
        loss = ((ours[0] @ st.tensor(x)) ** 2).sum() + (ours[1] * ours[1]).sum() + ours[2].abs().sum()
        tloss = ((theirs[0] @ torch.tensor(x)) ** 2).sum() + (theirs[1] * theirs[1]).sum() + theirs[2].abs().sum()
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
        assert_exact(ours, theirs, f"step {step}")
        for p in ours:  # the update was not recorded
            assert p.is_leaf and p.requires_grad and p.grad_fn is None
    assert_same_state_dict(opt.state_dict(), topt.state_dict())


def test_closure_is_evaluated_with_grad_and_its_loss_returned():
    ours, theirs = params(4)
    opt, topt = optim.SGD(ours, lr=0.1, momentum=0.5), torch.optim.SGD(theirs, lr=0.1, momentum=0.5)

    def closure():
        opt.zero_grad()
        assert st.is_grad_enabled()
        loss = sum((p * p).sum() for p in ours)
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = sum((p * p).sum() for p in theirs)
        loss.backward()
        return loss

    for _ in range(5):
        with st.no_grad():  # the closure still gets gradients, as in torch
            loss = opt.step(closure)
        tloss = topt.step(tclosure)
        assert loss.item() == tloss.item()
        assert_exact(ours, theirs)


def test_param_groups_with_their_own_options_and_add_param_group():
    ours, theirs = params(5)

    def make(module, ps):
        opt = module.Adam([{"params": ps[:1]}, {"params": [ps[1]], "lr": 0.05, "amsgrad": True}], lr=0.01, betas=(0.8, 0.9))
        opt.add_param_group({"params": ps[2], "weight_decay": 0.3})
        return opt

    opt, topt = make(optim, ours), make(torch.optim, theirs)
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.05, 0.01]
    for step in range(10):
        set_grads(ours, theirs, grads(step))
        opt.step()
        topt.step()
        assert_exact(ours, theirs)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert_same_state_dict(sd, tsd)
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1], [2]]


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {"lr": 0.03, "momentum": 0.9, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.05}),
    ("Adam", {"lr": 0.01, "foreach": True}),
    ("AdamW", {"lr": 0.01, "fused": True}),
])
def test_load_state_dict_resumes_identically(name, kwargs):
    """Ten steps, a state dict, a new optimizer over copies of the parameters loading it, ten
    more steps: the same parameters as torch's twenty uninterrupted steps."""
    ours, theirs = params(6)
    opt, topt = getattr(optim, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)
    for step in range(10):
        set_grads(ours, theirs, grads(step))
        opt.step()
        topt.step()
    saved = opt.state_dict()
    resumed = [p.detach().clone().requires_grad_() for p in ours]
    # a fresh optimizer with other options: load_state_dict brings back the saved ones
    opt2 = getattr(optim, name)(resumed, lr=123.0)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == kwargs["lr"] and opt2.param_groups[0]["params"] == resumed
    for key, value in opt2.state[resumed[0]].items():
        assert np.array_equal(to_numpy(value), to_numpy(opt.state[ours[0]][key]))
    for step in range(10, 20):
        set_grads(resumed, theirs, grads(step))
        opt2.step()
        topt.step()
        assert_exact(resumed, theirs, f"step {step}")
    assert_same_state_dict(opt2.state_dict(), topt.state_dict())


def test_state_dicts_cross_between_st_and_torch():
    """torch's optimizer loads an st state dict (its tensors converted) and continues as if it
    had taken the steps itself; and the other way round."""
    ours, theirs = params(8)
    opt, topt = optim.Adam(ours, lr=0.02, amsgrad=True), torch.optim.Adam(theirs, lr=0.02, amsgrad=True)
    for step in range(5):
        set_grads(ours, theirs, grads(step))
        opt.step()
        topt.step()

    def converted(sd, make_tensor):
        return {"state": {i: {k: make_tensor(to_numpy(v)) for k, v in s.items()} for i, s in sd["state"].items()},
                "param_groups": sd["param_groups"]}

    ours2 = [p.detach().clone().requires_grad_() for p in ours]
    theirs2 = [p.detach().clone().requires_grad_() for p in theirs]
    topt2 = torch.optim.Adam(theirs2)
    topt2.load_state_dict(converted(opt.state_dict(), lambda a: torch.tensor(a)))
    opt2 = optim.Adam(ours2)
    opt2.load_state_dict(converted(topt.state_dict(), lambda a: st.tensor(a)))
    for step in range(5, 10):
        set_grads(ours2, theirs2, grads(step))
        opt2.step()
        topt2.step()
        assert_exact(ours2, theirs2, f"step {step}")


def test_complex_parameters_match_torch():
    rng = np.random.default_rng(9)
    value = (rng.standard_normal((3,)) + 1j * rng.standard_normal((3,))).astype("complex64")
    p, tp = st.tensor(value, requires_grad=True), torch.tensor(value, requires_grad=True)
    opt = optim.Adam([p], lr=0.05, amsgrad=True, weight_decay=0.1)
    topt = torch.optim.Adam([tp], lr=0.05, amsgrad=True, weight_decay=0.1)
    for step in range(10):
        g = (rng.standard_normal((3,)) + 1j * rng.standard_normal((3,))).astype("complex64")
        p.grad, tp.grad = st.tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
        assert np.array_equal(p.detach().numpy(), tp.detach().numpy())


@pytest.mark.parametrize("foreach", [False, True])
def test_zero_grad(foreach):
    ours, theirs = params(10)
    opt = optim.SGD(ours, lr=0.1, foreach=foreach)
    set_grads(ours, theirs, grads(0))
    opt.zero_grad(set_to_none=False)
    for p in ours:
        assert p.grad is not None and p.grad.tolist() == np.zeros(p.shape).tolist()
    opt.zero_grad()
    assert all(p.grad is None for p in ours)
    opt.zero_grad()  # nothing to clear: fine


def test_default_foreach_is_the_single_tensor_loop_on_the_cpu():
    # the state and group options are torch's defaults too
    opt, topt, _, _ = run_both(lambda p: optim.Adam(p), lambda p: torch.optim.Adam(p), steps=2)
    assert opt.param_groups[0]["foreach"] is None and opt.defaults == topt.defaults


def messages(make_ours, make_theirs, error):
    with pytest.raises(error) as ours:
        make_ours()
    with pytest.raises(error) as theirs:
        make_theirs()
    return str(ours.value), str(theirs.value)


def test_a_non_leaf_tensor_is_refused_as_by_torch():
    x, tx = st.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    ours, theirs = messages(lambda: optim.SGD([x * 2], lr=0.1), lambda: torch.optim.SGD([tx * 2], lr=0.1), ValueError)
    assert ours == theirs == "can't optimize a non-leaf Tensor"
    y, ty = x * 2, tx * 2
    y.retain_grad()
    ty.retain_grad()
    optim.SGD([y], lr=0.1)  # a non-leaf that retains its grad is allowed, as in torch
    torch.optim.SGD([ty], lr=0.1)


def test_bad_params_are_refused_as_by_torch():
    x, tx = st.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    ours, theirs = messages(lambda: optim.Adam(x), lambda: torch.optim.Adam(tx), TypeError)
    prefix = "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
    assert ours == prefix + "simple_torch.Tensor" and theirs.startswith(prefix)
    ours, theirs = messages(lambda: optim.Adam(5), lambda: torch.optim.Adam(5), TypeError)
    assert ours.startswith(prefix) and "int" in ours
    ours, theirs = messages(lambda: optim.Adam([x, 3]), lambda: torch.optim.Adam([tx, 3]), TypeError)
    assert ours == theirs == "optimizer can only optimize Tensors, but one of the params is int"
    ours, theirs = messages(lambda: optim.Adam([]), lambda: torch.optim.Adam([]), ValueError)
    assert ours == theirs == "optimizer got an empty parameter list"
    ours, theirs = messages(lambda: optim.Adam([{"params": [x]}, {"params": [x]}]),
                            lambda: torch.optim.Adam([{"params": [tx]}, {"params": [tx]}]), ValueError)
    assert ours == theirs == "some parameters appear in more than one parameter group"
    ours, theirs = messages(lambda: optim.Adam([{"params": {x}}]), lambda: torch.optim.Adam([{"params": {tx}}]), TypeError)
    assert ours == theirs and "ordered collections" in ours
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([x, x], lr=0.1)
    ours, theirs = messages(lambda: optim.SGD([x]).add_param_group([x]), lambda: torch.optim.SGD([tx]).add_param_group([tx]), TypeError)
    assert ours == "param_group must be a dict, but got list"


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {"lr": -1.0}),
    ("SGD", {"lr": 0.1, "momentum": -0.5}),
    ("SGD", {"lr": 0.1, "weight_decay": -1.0}),
    ("SGD", {"lr": 0.1, "nesterov": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}),
    ("Adam", {"lr": -1.0}),
    ("Adam", {"eps": -1.0}),
    ("Adam", {"betas": (1.0, 0.9)}),
    ("Adam", {"betas": (0.9, -0.1)}),
    ("AdamW", {"weight_decay": -0.1}),
])
def test_bad_options_are_refused_as_by_torch(name, kwargs):
    x, tx = st.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    ours, theirs = messages(lambda: getattr(optim, name)([x], **kwargs), lambda: getattr(torch.optim, name)([tx], **kwargs), ValueError)
    assert ours == theirs


def test_unsupported_options_say_so():
    x = st.ones(2, requires_grad=True)
    for make in (lambda: optim.Adam([x], capturable=True), lambda: optim.Adam([x], differentiable=True),
                 lambda: optim.SGD([x], differentiable=True), lambda: optim.AdamW([x], lr=st.tensor(0.1))):
        with pytest.raises(NotImplementedError, match="simple_torch"):
            make()
    with pytest.raises(RuntimeError, match="cannot be `True` together"):
        optim.Adam([x], foreach=True, fused=True)


def test_load_state_dict_checks_the_groups():
    x, y = st.ones(2, requires_grad=True), st.ones(3, requires_grad=True)
    saved = optim.SGD([x], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.SGD([x, y], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD([{"params": [x]}, {"params": [y]}], lr=0.1).load_state_dict(saved)


def test_repr_as_torch():
    x, tx = st.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    assert repr(optim.AdamW([x], lr=0.1)) == repr(torch.optim.AdamW([tx], lr=0.1))


# ---- learning-rate schedulers ------------------------------------------------------------------


def schedule(make, make_torch, optimizer="SGD", options=None, steps=60, groups=1):
    """The learning rates (and momenta) of st's scheduler and torch's, step by step."""
    options = options or {"lr": 0.1, "momentum": 0.9}
    ps = [[st.zeros(2, requires_grad=True)] for _ in range(groups)]
    tps = [[torch.zeros(2, requires_grad=True)] for _ in range(groups)]
    opt = getattr(optim, optimizer)([{"params": p} for p in ps], **options)
    topt = getattr(torch.optim, optimizer)([{"params": p} for p in tps], **options)
    sched, tsched = make(opt), make_torch(topt)
    ours, theirs = [], []
    for _ in range(steps):
        for p, tp in zip(ps, tps):
            p[0].grad, tp[0].grad = st.ones(2), torch.ones(2)
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        ours.append((sched.get_last_lr(), [g.get("momentum") for g in opt.param_groups], [g.get("betas") for g in opt.param_groups]))
        theirs.append((tsched.get_last_lr(), [g.get("momentum") for g in topt.param_groups], [g.get("betas") for g in topt.param_groups]))
        for p, tp in zip(ps, tps):  # the optimizer used the scheduled rate
            assert np.array_equal(p[0].detach().numpy(), tp[0].detach().numpy())
    assert ours == theirs  # exact floats
    sd, tsd = sched.state_dict(), tsched.state_dict()
    assert sorted(sd) == sorted(tsd)
    assert {k: v for k, v in sd.items() if k != "lr_lambdas"} == {k: v for k, v in tsd.items() if k != "lr_lambdas"}
    assert_same_state_dict(opt.state_dict(), topt.state_dict())
    return sched, opt


def test_step_lr():
    schedule(lambda o: lr_scheduler.StepLR(o, step_size=7, gamma=0.5),
             lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5), groups=2)


@pytest.mark.parametrize("t_max, eta_min", [(10, 0.0), (13, 1e-3), (60, 0.01)])
def test_cosine_annealing_lr(t_max, eta_min):
    # past T_max it goes back up, as torch's recursive form does
    schedule(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=t_max, eta_min=eta_min),
             lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=t_max, eta_min=eta_min), steps=70)


def test_lambda_lr_with_one_function_per_group():
    fns = [lambda e: 0.95 ** e, lambda e: 1.0 / (1 + e // 5)]
    sched, _ = schedule(lambda o: lr_scheduler.LambdaLR(o, lr_lambda=fns),
                        lambda o: torch.optim.lr_scheduler.LambdaLR(o, lr_lambda=fns), groups=2)
    assert sched.state_dict()["lr_lambdas"] == [None, None]


@pytest.mark.parametrize("kwargs", [
    {"max_lr": 0.5, "total_steps": 60},
    {"max_lr": 0.5, "epochs": 6, "steps_per_epoch": 10, "pct_start": 0.25, "anneal_strategy": "linear"},
    {"max_lr": [0.5, 0.2], "total_steps": 60, "three_phase": True, "div_factor": 10.0, "final_div_factor": 100.0},
    {"max_lr": 0.5, "total_steps": 60, "cycle_momentum": False},
    {"max_lr": 0.5, "total_steps": 60, "base_momentum": 0.8, "max_momentum": 0.9},
], ids=["default", "linear", "three-phase", "no-momentum", "momenta"])
@pytest.mark.parametrize("optimizer, options", [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.1}),
                                                 ("AdamW", {"lr": 0.1, "weight_decay": 0.1})])
def test_one_cycle_lr_with_momentum_or_betas(kwargs, optimizer, options):
    groups = 2 if isinstance(kwargs["max_lr"], list) else 1
    schedule(lambda o: lr_scheduler.OneCycleLR(o, **kwargs), lambda o: torch.optim.lr_scheduler.OneCycleLR(o, **kwargs),
             optimizer=optimizer, options=options, steps=59, groups=groups)


def test_one_cycle_lr_errors_as_torch():
    x, tx = st.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    for kwargs, error in [({"max_lr": 0.1}, ValueError), ({"max_lr": 0.1, "total_steps": 0}, ValueError),
                          ({"max_lr": 0.1, "total_steps": 10, "pct_start": 1.5}, ValueError),
                          ({"max_lr": 0.1, "total_steps": 10, "anneal_strategy": "exp"}, ValueError),
                          ({"max_lr": [0.1, 0.2], "total_steps": 10}, ValueError)]:
        ours, theirs = messages(lambda: lr_scheduler.OneCycleLR(optim.SGD([x], momentum=0.9), **kwargs),
                                lambda: torch.optim.lr_scheduler.OneCycleLR(torch.optim.SGD([tx], momentum=0.9), **kwargs), error)
        assert ours == theirs
    sched = lr_scheduler.OneCycleLR(optim.SGD([x], momentum=0.9), max_lr=0.1, total_steps=3)
    for _ in range(3):
        sched.optimizer.step()
        sched.step()
    with pytest.raises(ValueError, match="Tried to step 4 times. The specified number of total steps is 3"):
        sched.step()


def test_scheduler_state_dict_resumes():
    ps = [st.zeros(2, requires_grad=True)]
    opt = optim.SGD(ps, lr=0.1, momentum=0.9)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=20)
    for _ in range(7):
        opt.step()
        sched.step()
    saved_opt, saved = opt.state_dict(), sched.state_dict()
    expected = []
    for _ in range(10):
        opt.step()
        sched.step()
        expected.append(sched.get_last_lr())
    opt2 = optim.SGD([st.zeros(2, requires_grad=True)], lr=0.1, momentum=0.9)
    sched2 = lr_scheduler.CosineAnnealingLR(opt2, T_max=20)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved)
    resumed = []
    for _ in range(10):
        opt2.step()
        sched2.step()
        resumed.append(sched2.get_last_lr())
    assert resumed == expected


def test_scheduler_warnings_and_errors_as_torch():
    x = st.zeros(2, requires_grad=True)
    opt = optim.SGD([x], lr=0.1)
    sched = lr_scheduler.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        sched.step()
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        lr_scheduler.StepLR([x], step_size=2)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(optim.SGD([x], lr=0.1), step_size=2, last_epoch=3)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        lr_scheduler.OneCycleLR(optim.Optimizer([x], {"lr": 0.1}), max_lr=0.1, total_steps=5)


def test_step_with_an_epoch_uses_the_closed_form_as_torch():
    x, tx = st.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    opt, topt = optim.SGD([x], lr=0.1), torch.optim.SGD([tx], lr=0.1)
    sched, tsched = lr_scheduler.StepLR(opt, 3, 0.5), torch.optim.lr_scheduler.StepLR(topt, 3, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in (4, 9, 2):
            sched.step(epoch)
            tsched.step(epoch)
            assert sched.get_last_lr() == tsched.get_last_lr()
