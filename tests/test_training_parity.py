"""Training parity: the same MLP and CNN, same seed, same data order, trained 200 steps with st
and with torch on the CPU in float32 give the same loss at every step and the same final
parameters (1e-6 relative), through autograd, nn, init, optim, lr_scheduler and DataLoader."""

import numpy as np
import pytest
import torch
import torch.utils.data

import simple_torch as st
import simple_torch.utils.data

STEPS = 200


def mlp(nn):
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 64), nn.GELU(), nn.LayerNorm(64),
                         nn.Linear(64, 10))


def cnn(nn):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(128, 10),
    )


def train(lib, data, make_model, images: np.ndarray, labels: np.ndarray, device: str = "cpu"):
    """STEPS steps of AdamW with a one-cycle schedule and label smoothing; returns the losses and
    the final parameters as NumPy arrays. `lib` is torch or simple_torch, `data` its utils.data."""
    lib.manual_seed(0)  # st and torch share libtorch's default generator: each run seeds it first
    model = make_model(lib.nn).to(device)
    optimizer = lib.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    schedule = lib.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=STEPS)
    loss_fn = lib.nn.CrossEntropyLoss(label_smoothing=0.1)
    dataset = data.TensorDataset(lib.tensor(images), lib.tensor(labels))
    loader = data.DataLoader(dataset, batch_size=32, shuffle=True, generator=lib.Generator().manual_seed(1))
    losses = []
    while len(losses) < STEPS:
        for x, y in loader:
            loss = loss_fn(model(x.to(device)), y.to(device))
            optimizer.zero_grad()
            loss.backward()
            lib.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            if len(losses) == STEPS:
                break
    return np.array(losses), {name: p.detach().cpu().numpy().copy() for name, p in model.state_dict().items()}


def check_parity(make_model, device: str, tolerance: float):
    rng = np.random.default_rng(0)
    shape = (400, 64) if make_model is mlp else (400, 1, 8, 8)
    images = rng.standard_normal(shape).astype(np.float32)
    labels = rng.integers(0, 10, 400)
    ours, our_params = train(st, st.utils.data, make_model, images, labels, device)
    theirs, their_params = train(torch, torch.utils.data, make_model, images, labels, device)
    np.testing.assert_allclose(ours, theirs, rtol=tolerance, atol=0)
    assert ours[-1] < ours[0]  # it learned something
    assert list(our_params) == list(their_params)
    for name in our_params:
        np.testing.assert_allclose(our_params[name], their_params[name], rtol=tolerance, atol=tolerance / 10, err_msg=name)


@pytest.mark.parametrize("make_model", [mlp, cnn])
def test_st_trains_step_for_step_as_torch(make_model):
    check_parity(make_model, "cpu", 1e-6)


@pytest.mark.cuda
@pytest.mark.parametrize("make_model", [mlp, cnn])
def test_st_trains_step_for_step_as_torch_on_a_gpu(make_model):
    """On a GPU, in float32; cuDNN and cuBLAS may pick other algorithms run to run: 1e-4."""
    check_parity(make_model, "cuda", 1e-4)
