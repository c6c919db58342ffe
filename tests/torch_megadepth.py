"""A clean-room PyTorch MegaDepth, written from ../shared/docs/megadepth.md for the tests.

It reproduces the module nesting of the authors' definition so that its state_dict has the
release checkpoint's keys: a flat Sequential [conv, bn, relu, Channels4, conv], each level a
Sequential(LambdaMap(A, B), LambdaReduce(add)), each inception module a list of branch
Sequentials. Nothing here is shared with bokeh_jax: it is the independent reference.
"""

from __future__ import annotations

import torch
from torch import nn

P = [[32], [3, 32, 32], [5, 32, 32], [7, 32, 32]]
Q = [[64], [3, 32, 64], [5, 32, 64], [7, 32, 64]]
E = [[64], [3, 64, 64], [7, 64, 64], [11, 64, 64]]


class IncFlat(nn.Module):
    """Inception module whose branches are children named 0..3 (the checkpoint layout)."""

    def __init__(self, cin, cfg):
        super().__init__()
        for i, c in enumerate(cfg):
            if i == 0:
                seq = nn.Sequential(nn.Conv2d(cin, c[0], 1), nn.BatchNorm2d(c[0], affine=False),
                                    nn.ReLU())
            else:
                k, a, b = c
                seq = nn.Sequential(
                    nn.Conv2d(cin, a, 1), nn.BatchNorm2d(a, affine=False), nn.ReLU(),
                    nn.Conv2d(a, b, k, padding=(k - 1) // 2), nn.BatchNorm2d(b, affine=False),
                    nn.ReLU())
            self.add_module(str(i), seq)
        self.n = len(cfg)

    def forward(self, x):
        return torch.cat([getattr(self, str(i))(x) for i in range(self.n)], 1)


class LambdaMap(nn.Sequential):
    """Applies every child to the same input, returns the list of outputs."""

    def forward(self, x):
        return [m(x) for m in self]


class LambdaReduce(nn.Module):
    def forward(self, xs):
        out = xs[0]
        for y in xs[1:]:
            out = out + y
        return out


def level(a: list, b: list) -> nn.Sequential:
    return nn.Sequential(LambdaMap(nn.Sequential(*a), nn.Sequential(*b)), LambdaReduce())


def up():
    return nn.UpsamplingNearest2d(scale_factor=2)


def channels1():
    return level([IncFlat(256, Q), IncFlat(256, Q)],
                 [nn.AvgPool2d(2), IncFlat(256, Q), IncFlat(256, Q), IncFlat(256, Q), up()])


def channels2():
    return level([IncFlat(256, Q), IncFlat(256, E)],
                 [nn.AvgPool2d(2), IncFlat(256, Q), IncFlat(256, Q), channels1(),
                  IncFlat(256, Q), IncFlat(256, E), up()])


def channels3():
    return level([nn.MaxPool2d(2), IncFlat(128, P), IncFlat(128, Q), channels2(),
                  IncFlat(256, Q), IncFlat(256, P), up()],
                 [IncFlat(128, P), IncFlat(128, [[32], [3, 64, 32], [7, 64, 32], [11, 64, 32]])])


def channels4():
    return level([nn.MaxPool2d(2), IncFlat(128, P), IncFlat(128, P), channels3(),
                  IncFlat(128, [[32], [3, 64, 32], [5, 64, 32], [7, 64, 32]]),
                  IncFlat(128, [[16], [3, 32, 16], [7, 32, 16], [11, 32, 16]]), up()],
                 [IncFlat(128, [[16], [3, 64, 16], [7, 64, 16], [11, 64, 16]])])


def megadepth(out_channels: int = 1) -> nn.Sequential:
    """The whole network; out_channels > 1 gives the paper's bokeh model (before softmax)."""
    return nn.Sequential(nn.Conv2d(3, 128, 7, padding=3), nn.BatchNorm2d(128), nn.ReLU(),
                         channels4(), nn.Conv2d(64, out_channels, 3, padding=1))


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics (and affine params) so inference really uses them."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                if m.affine:
                    m.weight.copy_(1 + 0.2 * torch.randn(m.num_features, generator=g))
                    m.bias.copy_(0.1 * torch.randn(m.num_features, generator=g))
    return model


def release_state_dict(model: nn.Module, *, num_batches_tracked: bool = False,
                       prefix: str = "module.") -> dict:
    """A state_dict in the release layout: `module.` prefix, old PyTorch without counters."""
    sd = model.state_dict()
    return {prefix + k: v.clone() for k, v in sd.items()
            if num_batches_tracked or not k.endswith("num_batches_tracked")}
