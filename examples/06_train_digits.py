"""Train a small CNN on scikit-learn's bundled handwritten digits (8x8 images, no download), the
torch way: st.nn, AdamW with a one-cycle schedule, a DataLoader, a progress bar, a loss and
accuracy chart, and a checkpoint in PyTorch's own format that is saved, reloaded and checked.

Run: python examples/06_train_digits.py [--device cuda] [--amp] [--epochs N]
(--amp: float16 autocast and a GradScaler on a GPU, bfloat16 autocast on the CPU.)
"""

import argparse
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import simple_torch as st
from simple_torch import nn
from simple_torch.utils.data import DataLoader, TensorDataset

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--device", default="cpu", help="cpu or cuda (falls back to the CPU without a GPU)")
parser.add_argument("--amp", action="store_true", help="mixed precision: autocast (+ GradScaler on a GPU)")
parser.add_argument("--epochs", type=int, default=12)
parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "simple_torch_digits")
args = parser.parse_args()

device = args.device
if device.startswith("cuda") and not st.torch_cuda_available():
    print("no CUDA device here: training on the CPU")
    device = "cpu"
print(f"training on {'the GPU' if device != 'cpu' else 'the CPU'}{' with mixed precision' if args.amp else ''}")

# -- data: 1,797 images of 8x8 pixels (0-16), 80/20 split ------------------------------------
digits = load_digits()
images = (digits.images / 16.0).astype(np.float32)[:, None]  # N x 1 x 8 x 8 in [0, 1]
train_x, test_x, train_y, test_y = train_test_split(images, digits.target, test_size=0.2, random_state=0,
                                                    stratify=digits.target)
st.manual_seed(0)
train = DataLoader(TensorDataset(st.tensor(train_x), st.tensor(train_y)), batch_size=64, shuffle=True,
                   generator=st.Generator().manual_seed(0))
test_images, test_labels = st.tensor(test_x, device=device), st.tensor(test_y, device=device)


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),  # 64 x 4 x 4
        nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 4 * 4, 128), nn.ReLU(), nn.Linear(128, 10),
    ).to(device)


@st.no_grad()
def accuracy(model: nn.Module) -> float:
    model.eval()
    predicted = model(test_images).argmax(dim=1)
    model.train()
    return (predicted == test_labels).float().mean().item()


model = make_model()
print(model)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")
optimizer = st.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
schedule = st.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=args.epochs * len(train))
loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
amp_type = "cuda" if device != "cpu" else "cpu"
scaler = st.amp.GradScaler(amp_type, enabled=args.amp and device != "cpu")

# -- training ------------------------------------------------------------------------------
history = {"loss": [], "accuracy": []}
start = time.perf_counter()
for epoch in range(args.epochs):
    total, batches = 0.0, 0
    for x, y in tqdm(train, desc=f"epoch {epoch + 1:2d}/{args.epochs}", leave=False, mininterval=0.5):
        x, y = x.to(device), y.to(device)
        with st.autocast(amp_type, enabled=args.amp):
            loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        total, batches = total + loss.item(), batches + 1
    history["loss"].append(total / batches)
    history["accuracy"].append(accuracy(model))
    print(f"epoch {epoch + 1:2d}: loss {history['loss'][-1]:.4f}, test accuracy {history['accuracy'][-1]:.2%}")
elapsed = time.perf_counter() - start
final = history["accuracy"][-1]
print(f"trained in {elapsed:.1f} s: test accuracy {final:.2%}")

# -- the chart -----------------------------------------------------------------------------
args.out.mkdir(parents=True, exist_ok=True)
figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
epochs = range(1, args.epochs + 1)
left.plot(epochs, history["loss"], marker="o")
left.set(title="training loss", xlabel="epoch")
right.plot(epochs, [100 * a for a in history["accuracy"]], marker="o", color="tab:green")
right.set(title="test accuracy (%)", xlabel="epoch")
figure.tight_layout()
chart = args.out / "digits_training.png"
figure.savefig(chart, dpi=100)
print(f"chart: {chart}")

# -- the checkpoint: PyTorch's own format, saved atomically, reloaded into a fresh model -----
checkpoint = args.out / "digits_cnn.pt"
st.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epochs": args.epochs}, checkpoint)
restored = make_model()
state = st.load(checkpoint, map_location=device)
restored.load_state_dict(state["model"])
again = accuracy(restored)
print(f"checkpoint: {checkpoint} ({checkpoint.stat().st_size:,} bytes); reloaded model's accuracy {again:.2%}")
assert again == final, "the reloaded model must classify exactly as the trained one"
assert final >= 0.97, f"expected at least 97% test accuracy, got {final:.2%}"
print("done: at least 97% accuracy, and the checkpoint reproduces it")
