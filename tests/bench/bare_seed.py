"""The seed experiment as a hand-written PyTorch script: the baseline sincos is timed against.

Stateful LSTM(1, 20) + Linear on every step, Adam 0.006, MSE, 501 steps of 50 × 20 sliding
windows of sin(x) → cos(x), the state carried and detached, and a prediction every step
(as the tutorial's live plot needs). No files, no CLI, 1 thread.
"""

import numpy as np
import torch
from torch import nn

torch.set_num_threads(1)
STEPS, B, T, H, LR = 501, 50, 20, 20, 0.006


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, H, batch_first=True)
        self.out = nn.Linear(H, 1)

    def forward(self, x, state):
        y, state = self.lstm(x, state)
        return self.out(y), state


def run(steps=STEPS, seed=0):
    torch.manual_seed(seed)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    state = (torch.zeros(1, B, H), torch.zeros(1, B, H))
    losses, preds = [], []
    for step in range(steps):
        xs = np.arange(step * T, step * T + B * T).reshape(B, T) / (10 * np.pi)
        seq = torch.from_numpy(np.sin(xs)).float().unsqueeze(-1)
        res = torch.from_numpy(np.cos(xs)).float().unsqueeze(-1)
        pred, new = net(seq, state)
        loss = torch.mean((pred - res) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            p, _ = net(seq[:1], tuple(s[:, :1] for s in state))
        state = tuple(s.detach() for s in new)
        losses.append(loss.item())
        preds.append(p[0, :, 0].numpy())
    return losses, preds


if __name__ == "__main__":
    losses, _ = run()
    print(f"final loss {losses[-1]:.6f}")
