"""A small CNN for sklearn's 8x8 digits (lab 3 serves it with TorchServe)."""

from __future__ import annotations

import torch
from torch import nn


class DigitsCNN(nn.Module):
    """Input: (batch, 1, 8, 8) pixels in [0, 1]. Output: 10 logits."""

    def __init__(self, channels: int = 16, hidden: int = 64):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * channels * 4 * 4, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def train_cnn(x_train, y_train, seed: int, epochs: int, channels: int = 16, hidden: int = 64):
    """Full-batch-free minibatch training; deterministic on CPU for a fixed seed."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    model = DigitsCNN(channels, hidden)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x = torch.from_numpy(x_train).unsqueeze(1)
    y = torch.from_numpy(y_train)
    gen = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 64):
            idx = order[i : i + 64]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
    model.eval()
    return model


def predict_digits(model: DigitsCNN, images) -> torch.Tensor:
    """Class probabilities for images shaped (n, 8, 8) or (n, 64), pixels in [0, 1]."""
    x = torch.as_tensor(images, dtype=torch.float32).reshape(-1, 1, 8, 8)
    with torch.inference_mode():
        return torch.softmax(model(x), dim=1)
