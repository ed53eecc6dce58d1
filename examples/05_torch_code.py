"""Ordinary torch code, run with simple_torch in torch's place: a small convolutional network's
forward pass, reductions, indexing and a softmax.

`classify` below is written against torch's API and takes the library as an argument. It runs
once with simple_torch and once with torch itself on the same input and weights, and the two
answers are compared. On a GPU both run there; without one, on the CPU.
Run: python examples/05_torch_code.py
"""

import numpy as np
import torch

import simple_torch as st


def classify(lib, images, conv_weight, conv_bias, fc_weight, fc_bias):
    """A conv -> relu -> max-pool -> linear -> softmax classifier, plus a few statistics, in
    plain torch spelling; `lib` is torch or simple_torch."""
    features = lib.conv2d(images, conv_weight, conv_bias, padding=1).relu()
    pooled = lib.max_pool2d(features, kernel_size=2)
    flat = pooled.reshape(pooled.shape[0], -1)
    logits = flat @ fc_weight.T + fc_bias
    probabilities = logits.softmax(dim=-1)
    best = probabilities.max(dim=1)
    stats = {
        "mean activation": features.mean().item(),
        "active fraction": (features > 0).float().mean().item(),
        "channel energy": features.pow(2).sum(dim=(0, 2, 3)),
        "first image, top-left 2x2 of channel 0": features[0, 0, :2, :2],
        "confident rows": probabilities[best.values > 0.5].shape[0],
    }
    return probabilities, best.indices, stats


device = "cuda" if st.torch_cuda_available() else "cpu"
print(f"running on {'the GPU' if device == 'cuda' else 'the CPU (no CUDA device here)'}")

rng = np.random.default_rng(0)
arrays = [
    rng.standard_normal((8, 3, 16, 16)).astype(np.float32),  # images
    (rng.standard_normal((4, 3, 3, 3)) / 5).astype(np.float32),  # conv weight
    rng.standard_normal(4).astype(np.float32) / 10,  # conv bias
    (rng.standard_normal((10, 4 * 8 * 8)) / 16).astype(np.float32),  # fc weight
    rng.standard_normal(10).astype(np.float32) / 10,  # fc bias
]
ours = classify(st, *[st.tensor(a, device=device) for a in arrays])
theirs = classify(torch, *[torch.tensor(a, device=device) for a in arrays])



def same(mine, torchs, what):
    """Checks one value against torch's and prints it."""
    if isinstance(mine, st.Tensor):
        torch.testing.assert_close(mine.to_torch(), torchs, rtol=1e-4, atol=1e-5)
        mine = [round(v, 4) if isinstance(v, float) else v for v in mine.flatten().tolist()]
    else:
        assert abs(mine - torchs) < 1e-5, (what, mine, torchs)
        mine = round(mine, 4)
    print(f"{what}: {mine} (same as torch)")


(probabilities, classes, stats), (torch_probabilities, torch_classes, torch_stats) = ours, theirs
torch.testing.assert_close(probabilities.to_torch(), torch_probabilities, rtol=1e-4, atol=1e-5)
print(f"probabilities of shape {tuple(probabilities.shape)}, each row summing to 1 (same as torch)")
same(classes, torch_classes, "predicted classes")
for key, value in stats.items():
    same(value, torch_stats[key], key)
print("simple_torch and torch agree")
