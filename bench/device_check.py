"""Everything a short GPU session should measure, in one run: checks first, then speed.

    python bench/device_check.py --out DIR [--small | --full] [--repeats N] [--budget-s S]

1. The devices (platform, kind, count, memory) and the host.
2. Checks that need the accelerator, each PASS/FAIL with its numbers:
   - every blur method (Gaussian 5/9/25 and the disk and polygon apertures) against OpenCV
     on a small image: live cv2 when importable, else the stored references
     (bench/data/opencv_blur_refs.npz, made with cv2 by ``--write-references``);
   - the network on the device against the same weights on the CPU backend, at the
     default matmul precision and at "highest";
   - a pmapped train step on all local devices: finite loss, the parameters identical on
     every device, and the state's dtypes, weak types and shardings unchanged by three
     steps (so the step compiles once).
3. Timings, each the median of ``--repeats`` runs after warm-up, float32 and bfloat16:
   - (a) HD inference end to end: a 1536x1024 photo in, its bokeh out (``BokehModel.render``,
     paper policy, network at 384x576), and the network alone on the device;
   - (b) training images/s at 384x576 with the phase-2 batch (8) per device, pmapped;
   - (c) evaluation images/s with PSNR, SSIM and LPIPS (``evaluate``, 1536x1024 pairs);
   - (d) each blur method's time for the 25/45/75 stack and for the disk stack on a
     1536x1024 photo; the fastest is the backend's recommended default.

Writes DIR/device_check.json and DIR/device_check.md (a Markdown table) after every section,
so a run cut short still leaves what it measured. A section that fails is recorded with its
error and the run goes on. ``--small`` (automatic on a CPU-only machine, where ``--full``
forces the real shapes) runs the same code at small shapes, kernels 5/9 and a one-level
hourglass (the test suite's network): the CI test.

Goals (README, "GPU"): the paper reports 30 ms per HD image on a TITAN X; ours is at most
3 ms per HD image end to end on one H200.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import median_time as median_seconds  # noqa: E402  (fn, repeats, warmup)

REFERENCES = Path(__file__).resolve().parent / "data" / "opencv_blur_refs.npz"
PAPER_MS = 30.0  # the paper's TITAN X figure per HD image
GOAL_MS = 3.0  # our goal per HD image on one H200
DTYPES = ("float32", "bfloat16")


@dataclass(frozen=True)
class Shapes:
    """What each section runs at: the real sizes, or small ones for a CPU."""

    photo: tuple[int, int]  # (H, W) of the HD photo / eval pairs / blur image
    resolution: tuple[int, int]  # the network's (H, W)
    kernels: tuple[int, ...]
    batch_per_device: int
    eval_images: int
    warmup: int
    phase: int  # the config phase whose optimizer the train step uses
    phase_overrides: tuple = ()  # (field, value) pairs on top of that phase
    levels: int = 4  # the hourglass's depth (4: MegaDepth's)


FULL = Shapes(photo=(1024, 1536), resolution=(384, 576), kernels=(25, 45, 75),
              batch_per_device=8, eval_images=4, warmup=2, phase=2)
# Small: the test suite's tiny phase and network (tests/test_train.py: one hourglass level),
# so CI compiles its step once.
SMALL = Shapes(photo=(96, 144), resolution=(32, 48), kernels=(5, 9), batch_per_device=4,
               eval_images=2, warmup=1, phase=1, levels=1,
               phase_overrides=(("num_steps", 20), ("lr_start", 1e-3), ("lr_end", 1e-4)))

# The small image the correctness checks blur (kernel 25 exceeds its height: OpenCV's
# periodic reflection is exercised too).
REF_SHAPE = (24, 36, 3)
REF_KERNELS = (5, 9, 25)
REF_2D = (("disk", 9), ("polygon", 9))


def reference_blurs(image: np.ndarray) -> dict[str, np.ndarray]:
    """OpenCV's blurs of ``image``: GaussianBlur per kernel, filter2D per aperture."""
    import cv2

    from bokeh_jax.ops import aperture_kernel

    out = {f"gaussian_{k}": cv2.GaussianBlur(image, (k, k), 0) for k in REF_KERNELS}
    for name, k in REF_2D:
        kern = aperture_kernel(name, k, blades=6, rotation=0.0)
        out[f"{name}_{k}"] = cv2.filter2D(image, -1, kern, borderType=cv2.BORDER_REFLECT_101)
    return out


def reference_image() -> np.ndarray:
    return np.random.default_rng(0).random(REF_SHAPE, dtype=np.float32)


def write_references(path: Path) -> None:
    """Stores the image and OpenCV's blurs of it (needs cv2)."""
    image = reference_image()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, image=image, **reference_blurs(image))
    print(f"wrote {path}")


def load_references() -> tuple[np.ndarray, dict[str, np.ndarray], str]:
    """(image, {name: OpenCV result}, where they came from)."""
    try:
        import cv2  # noqa: F401
    except ImportError:
        with np.load(REFERENCES) as data:
            refs = {k: data[k] for k in data.files if k != "image"}
            return data["image"], refs, f"stored ({REFERENCES.name})"
    image = reference_image()
    return image, reference_blurs(image), "live cv2"


class Report:
    """The results so far; written to JSON and Markdown after every section."""

    def __init__(self, out: Path, small: bool):
        self.out = out
        self.data = {"small": small, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                     "devices": {}, "checks": {}, "timings": {}, "errors": {}, "notes": []}

    def save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        for name, text in (("device_check.json", json.dumps(self.data, indent=2) + "\n"),
                           ("device_check.md", markdown(self.data))):
            tmp = self.out / f".{name}.tmp"
            tmp.write_text(text)
            os.replace(tmp, self.out / name)  # atomic: a cut-short run leaves whole files


def _ms(seconds: float) -> float:
    return round(1e3 * seconds, 3)


# --- 1. devices ------------------------------------------------------------------------


def devices_info() -> dict:
    import jax

    devs = jax.local_devices()
    info = {"backend": jax.default_backend(), "jax": jax.__version__,
            "count": len(devs), "global_count": jax.device_count(),
            "kinds": sorted({d.device_kind for d in devs}), "host": platform.node(),
            "host_cpu": _cpu_model(), "host_cores": os.cpu_count(),
            "xla_flags": os.environ.get("XLA_FLAGS", "")}
    try:
        stats = devs[0].memory_stats() or {}
        if "bytes_limit" in stats:
            info["memory_gib"] = round(stats["bytes_limit"] / 2**30, 1)
    except Exception:  # noqa: BLE001 - not every backend reports memory
        pass
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# --- 2. checks -------------------------------------------------------------------------


def check_blurs() -> dict:
    """Each blur method on the device against OpenCV; max abs difference per method."""
    import jax

    from bokeh_jax import ops

    image, refs, source = load_references()
    worst = {}
    for method in ops.METHODS:
        out = np.asarray(jax.jit(lambda x, m=method: ops.blur_stack(x, REF_KERNELS, method=m))(
            image))
        worst[f"gaussian/{method}"] = max(
            float(np.abs(out[i] - refs[f"gaussian_{k}"]).max()) for i, k in
            enumerate(REF_KERNELS))
    for name, k in REF_2D:
        for method in ops.METHODS_2D:
            out = np.asarray(jax.jit(lambda x, m=method, a=name, k=k: ops.blur_stack(
                x, (k,), aperture=a, method=m))(image))
            worst[f"{name}/{method}"] = float(np.abs(out[0] - refs[f"{name}_{k}"]).max())
    tol = 1e-5  # float32 on [0,1]: the methods agree with OpenCV to ~1e-6
    return {"passed": all(v <= tol for v in worst.values()), "tolerance": tol,
            "references": source, "max_abs_diff": worst}


def _random_model(shapes: Shapes, dtype: str = "float32"):
    """A BokehModel with random weights (speed does not depend on their values)."""
    import jax

    from bokeh_jax.inference.model import BokehModel
    from bokeh_jax.network.checkpoint import model_from_metadata
    from bokeh_jax.train.state import init_variables

    meta = {"kernel_sizes": list(shapes.kernels), "head_kernel": 3, "has_depth_head": True,
            "hourglass_levels": shapes.levels,
            "resolution": list(shapes.resolution)}
    module = model_from_metadata(meta, dtype=dtype)
    variables = init_variables(module, 0)
    return BokehModel(module, jax.device_put(variables), meta)


def check_network(shapes: Shapes) -> dict:
    """The network's weights and log-depth on the device vs the CPU backend, same weights."""
    import jax

    from bokeh_jax.network.models import BokehNet

    model = _random_model(shapes)
    rng = np.random.default_rng(1)
    x = rng.random((2, *shapes.resolution, 3), dtype=np.float32)
    cpu = jax.devices("cpu")[0]
    dev = jax.local_devices()[0]

    def maps_on(device, precision):
        with jax.default_matmul_precision(precision):
            f = jax.jit(lambda v, a: model.module.apply(v, a, method=BokehNet.maps))
            v = jax.device_put(model.variables, device)
            out = f(v, jax.device_put(x, device))
            return [np.asarray(o) for o in out]

    result = {"device": str(dev), "same_device": dev.platform == "cpu"}
    ref = maps_on(cpu, "highest")
    limits = {"default": 2e-2, "highest": 1e-4}  # TF32 convs by default on recent GPUs
    if result["same_device"]:
        limits = {"highest": 1e-4}  # CPU against itself: one program is enough
    passed = True
    for precision, limit in limits.items():
        got = maps_on(dev, precision)
        w = float(np.abs(got[0] - ref[0]).max())
        d = float(np.abs(got[1] - ref[1]).max() / (np.abs(ref[1]).max() + 1e-12))
        result[precision] = {"weights_max_abs": w, "log_depth_max_rel": d, "limit": limit}
        passed &= w <= limit and d <= limit
    result["passed"] = bool(passed)
    return result


def _train_setup(shapes: Shapes, dtype: str):
    """(the trainer's pmapped step, the replicated state, a global batch split per device).

    The step is :func:`bokeh_jax.train.placement.parallel_step`, the trainer's own, so the
    check and the timing (and, in the test suite, the training tests) share one program."""
    import jax

    from bokeh_jax.configs import common
    from bokeh_jax.train import placement
    from bokeh_jax.train import state as state_lib
    from bokeh_jax.train.trainer import AXIS, phase_config

    devices = jax.local_devices()
    config = common.get_config()
    config.kernel_sizes = shapes.kernels
    config.hourglass_levels = shapes.levels
    config.dtype = dtype
    config[f"phase{shapes.phase}"].update(
        resolution=shapes.resolution,
        global_batch_size=shapes.batch_per_device * len(devices), **dict(shapes.phase_overrides))
    pc = phase_config(config, shapes.phase)
    model, tx = state_lib.make_model(pc), state_lib.make_optimizer(pc)
    state = state_lib.create_state(state_lib.init_variables(model, 0), tx)
    p_step = placement.parallel_step(model, state_lib.optimizer_settings(pc), pc.loss,
                                     pc.bn_mode, AXIS)
    rng = np.random.default_rng(0)
    shape = (len(devices), shapes.batch_per_device, *shapes.resolution, 3)
    # On the devices once, split as pmap splits it: the timing is the step's, not the copy's.
    sharding = placement.pmap_sharding(devices, AXIS)
    batch = {k: jax.device_put(rng.random(shape, dtype=np.float32), sharding)
             for k in ("original", "bokeh")}
    return p_step, placement.replicate(state, devices, AXIS), batch


def _signature(tree) -> list:
    """What jit keys a compiled program on, per leaf: a change between steps recompiles."""
    import jax

    return [(str(x.dtype), bool(getattr(x, "weak_type", False)), str(x.sharding), x.shape)
            for x in jax.tree.leaves(tree)]


def check_pmap_step(shapes: Shapes) -> dict:
    import jax

    p_step, state, batch = _train_setup(shapes, "float32")
    before, losses = _signature(state), []
    for _ in range(3):
        state, m = p_step(state, batch)
        losses.append(float(np.asarray(m["loss"])[0]))
    stable = _signature(state) == before  # else step 2 would compile the step again
    spread = max(float(np.abs(np.asarray(leaf) - np.asarray(leaf)[:1]).max())
                 for leaf in jax.tree.leaves(state.params))
    passed = all(np.isfinite(losses)) and spread == 0.0 and stable
    return {"passed": bool(passed), "devices": jax.local_device_count(), "losses": losses,
            "params_spread_across_devices": spread, "state_signature_unchanged": stable}


# --- 3. timings ------------------------------------------------------------------------


def time_inference(shapes: Shapes, repeats: int) -> dict:
    import jax

    from bokeh_jax.inference import learned
    from bokeh_jax.inference.resample import resize, working_size

    rgb = np.random.default_rng(2).random((*shapes.photo, 3), dtype=np.float32)
    out = {"photo": f"{shapes.photo[1]}x{shapes.photo[0]}",
           "network": f"{shapes.resolution[0]}x{shapes.resolution[1]}", "policy": "paper"}
    for dtype in DTYPES:
        model = _random_model(shapes, dtype)
        variables = model.variables
        e2e = median_seconds(lambda m=model: m.render(rgb, policy="paper"), repeats,
                             shapes.warmup)
        small = jax.device_put(resize(rgb, working_size(rgb.shape[:2], shapes.resolution)))
        net = median_seconds(
            lambda m=model, v=variables, a=small: jax.block_until_ready(
                learned._network(m.module, v, a)), repeats, shapes.warmup)
        out[dtype] = {"end_to_end_ms": _ms(e2e), "network_ms": _ms(net)}
    return out


def time_training(shapes: Shapes, repeats: int) -> dict:
    import jax

    out = {"resolution": f"{shapes.resolution[0]}x{shapes.resolution[1]}",
           "batch_per_device": shapes.batch_per_device, "devices": jax.local_device_count()}
    for dtype in DTYPES:
        p_step, state, batch = _train_setup(shapes, dtype)
        box = [state]

        def run(box=box, p_step=p_step, batch=batch):
            box[0], m = p_step(box[0], batch)
            jax.block_until_ready(m)

        s = median_seconds(run, repeats, shapes.warmup)
        global_batch = shapes.batch_per_device * jax.local_device_count()
        out[dtype] = {"step_ms": _ms(s), "images_per_s": round(global_batch / s, 2)}
    return out


def time_eval(shapes: Shapes, repeats: int) -> dict:
    from bokeh_jax.evaluation.scoring import evaluate

    rng = np.random.default_rng(3)
    examples = [{"id": i, "original": rng.random((*shapes.photo, 3), dtype=np.float32),
                 "bokeh": rng.random((*shapes.photo, 3), dtype=np.float32)}
                for i in range(shapes.eval_images)]
    out = {"photo": f"{shapes.photo[1]}x{shapes.photo[0]}", "metrics": "psnr, ssim, lpips"}
    for dtype in DTYPES:
        model = _random_model(shapes, dtype)
        evaluate(model, examples[:1], lpips=True, progress=False)  # compiles
        rates = [evaluate(model, examples, lpips=True, progress=False)["images_per_second"]
                 for _ in range(max(1, repeats // 3))]
        out[dtype] = {"images_per_s": round(statistics.median(rates), 3)}
    return out


def time_blurs(shapes: Shapes, repeats: int) -> dict:
    import jax

    from bokeh_jax import ops

    x = jax.device_put(np.random.default_rng(4).random((1, *shapes.photo, 3),
                                                       dtype=np.float32))
    ks = shapes.kernels if len(shapes.kernels) == 3 else (25, 45, 75)
    out = {"image": f"{shapes.photo[1]}x{shapes.photo[0]}", "kernels": list(ks),
           "gaussian_ms": {}, "disk_ms": {}, "code_default": ops.default_method()}
    for aperture, methods, key in (("gaussian", ops.METHODS, "gaussian_ms"),
                                   ("disk", ops.METHODS_2D, "disk_ms")):
        for method in methods:
            f = jax.jit(lambda a, m=method, ap=aperture: ops.blur_stack(a, ks, aperture=ap,
                                                                        method=m))
            out[key][method] = _ms(median_seconds(lambda f=f: f(x).block_until_ready(),
                                                  repeats, shapes.warmup))
    try:
        import cv2

        host = np.asarray(x[0])
        out["opencv_gaussian_ms"] = _ms(median_seconds(
            lambda: [cv2.GaussianBlur(host, (k, k), 0) for k in ks], repeats, 1))
    except ImportError:
        pass
    out["fastest_gaussian"] = min(out["gaussian_ms"], key=out["gaussian_ms"].get)
    out["fastest_disk"] = min(out["disk_ms"], key=out["disk_ms"].get)
    return out


# --- the report ------------------------------------------------------------------------


def markdown(data: dict) -> str:
    dev = data.get("devices", {})
    size = f"small shapes, a {SMALL.levels}-level hourglass" if data["small"] else "full shapes"
    lines = [f"# Device check ({size})", "",
             f"Started {data['started']}; backend {dev.get('backend', '?')}, "
             f"{dev.get('count', '?')} x {', '.join(dev.get('kinds', ['?']))}"
             + (f" ({dev['memory_gib']} GiB)" if "memory_gib" in dev else "")
             + f"; host {dev.get('host_cpu', '?')}, {dev.get('host_cores', '?')} cores; "
             f"jax {dev.get('jax', '?')}.", "", "| check | result | detail |",
             "| --- | --- | --- |"]
    for name, c in data["checks"].items():
        detail = {k: v for k, v in c.items() if k != "passed"}
        lines.append(f"| {name} | {'PASS' if c.get('passed') else 'FAIL'} | "
                     f"`{json.dumps(detail, sort_keys=True)[:400]}` |")
    t = data["timings"]
    lines += ["", "| measure | float32 | bfloat16 | notes |", "| --- | --- | --- | --- |"]
    if "inference" in t:
        i = t["inference"]
        for key, label in (("end_to_end_ms", "HD inference end to end, ms/image"),
                           ("network_ms", "network alone on the device, ms/image")):
            note = (f"{i['photo']} photo, paper policy, network at {i['network']}"
                    + (f"; paper {PAPER_MS:g} ms (TITAN X), goal <= {GOAL_MS:g} ms (H200)"
                       if key == "end_to_end_ms" else ""))
            lines.append(f"| {label} | {i['float32'][key]} | {i['bfloat16'][key]} | {note} |")
    if "training" in t:
        r = t["training"]
        lines.append(f"| training, images/s | {r['float32']['images_per_s']} | "
                     f"{r['bfloat16']['images_per_s']} | {r['resolution']}, batch "
                     f"{r['batch_per_device']} per device x {r['devices']} |")
    if "eval" in t:
        e = t["eval"]
        lines.append(f"| evaluation, images/s | {e['float32']['images_per_s']} | "
                     f"{e['bfloat16']['images_per_s']} | {e['photo']} pairs, {e['metrics']} |")
    if "blur" in t:
        b = t["blur"]
        lines += ["", f"Blur stacks on a {b['image']} photo, kernels {b['kernels']} (ms; "
                  f"fastest Gaussian: {b['fastest_gaussian']}, the code's default here: "
                  f"{b['code_default']}):", "", "| method | gaussian | disk |",
                  "| --- | --- | --- |"]
        for m in sorted(set(b["gaussian_ms"]) | set(b["disk_ms"])):
            lines.append(f"| {m} | {b['gaussian_ms'].get(m, '-')} | "
                         f"{b['disk_ms'].get(m, '-')} |")
        if "opencv_gaussian_ms" in b:
            lines.append(f"| OpenCV (host CPU) | {b['opencv_gaussian_ms']} | - |")
    for name, err in data["errors"].items():
        lines.append(f"\n**{name} failed**: `{err}`")
    for note in data["notes"]:
        lines.append(f"\nNote: {note}")
    return "\n".join(lines) + "\n"


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/device_check", help="folder for the JSON and table")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--small", action="store_true", help="small shapes (default on CPU)")
    size.add_argument("--full", action="store_true", help="real shapes even on a CPU")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed runs per measure (default 10, small: 3)")
    p.add_argument("--budget-s", type=float, default=480.0,
                   help="skip the sections not started after this many seconds")
    p.add_argument("--only", default="", help="comma-separated sections to run (default: "
                   "all): checks,inference,training,eval,blur")
    p.add_argument("--write-references", action="store_true",
                   help=f"regenerate {REFERENCES.relative_to(REPO)} with cv2 and exit")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = _parse(argv)
    if args.write_references:
        write_references(REFERENCES)
        return 0
    import jax

    from bokeh_jax.cli import enable_compilation_cache

    enable_compilation_cache()
    small = args.small or (jax.default_backend() == "cpu" and not args.full)
    shapes = SMALL if small else FULL
    repeats = args.repeats or (3 if small else 10)
    report = Report(Path(args.out), small)
    report.data["devices"] = devices_info()
    report.data["repeats"] = repeats
    print(json.dumps(report.data["devices"]), flush=True)
    report.save()
    start = time.perf_counter()
    sections = [
        ("checks", "blur_vs_opencv", check_blurs, ()),
        ("checks", "network_device_vs_cpu", check_network, (shapes,)),
        ("checks", "pmap_train_step", check_pmap_step, (shapes,)),
        ("timings", "inference", time_inference, (shapes, repeats)),
        ("timings", "training", time_training, (shapes, repeats)),
        ("timings", "eval", time_eval, (shapes, repeats)),
        ("timings", "blur", time_blurs, (shapes, repeats)),
    ]
    only = {s for s in args.only.split(",") if s}
    for group, name, fn, fn_args in sections:
        if only and group not in only and name not in only:
            continue
        if time.perf_counter() - start > args.budget_s:
            report.data["notes"].append(f"{name}: skipped, past the {args.budget_s:g} s budget")
            report.save()
            continue
        t0 = time.perf_counter()
        print(f"[{time.perf_counter() - start:6.1f} s] {name} ...", flush=True)
        try:
            result = fn(*fn_args)
            result["seconds"] = round(time.perf_counter() - t0, 1)
            report.data[group][name] = result
            print(f"    {json.dumps(result)}", flush=True)
        except Exception as e:  # noqa: BLE001 - record it and go on to the next section
            report.data["errors"][name] = f"{type(e).__name__}: {e}"[:500]
            traceback.print_exc()
        report.save()
    text = markdown(report.data)
    print("\n" + text)
    failed = [n for n, c in report.data["checks"].items() if not c.get("passed")]
    failed += list(report.data["errors"])
    print(f"wrote {report.out / 'device_check.json'} and device_check.md; "
          + (f"FAILED: {', '.join(failed)}" if failed else "all checks passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
