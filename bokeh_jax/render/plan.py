"""What ``python -m bokeh_jax.render`` will do: input photos, their depth maps, output paths.

Pure path logic, checked before any pixel is read:

- inputs are files (tried whatever their extension) or folders (their images, by
  extension, sorted; not recursive); a file named twice is rendered once;
- ``-o OUT`` is a file for one input file whose name has an image extension, else a folder
  (created if missing), where each result is ``OUT/<input stem>.<ext>``: the input's own
  extension for JPEG, PNG, WebP and TIFF inputs, ``.png`` otherwise, or ``--format``;
- side pictures (``--save-weights``, ``--save-depth``) go beside each result as
  ``<stem>_weights.png`` and ``<stem>_depth.png``;
- a job whose output would replace one of the inputs (photo or depth map) or another job's
  output fails; one whose outputs all exist is skipped unless ``overwrite``; one with only
  some of them (a rerun that adds ``--save-weights``) writes the missing ones and keeps the
  rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bokeh_jax.errors import UserError
from bokeh_jax.io.photos import IMAGE_SUFFIXES, OUTPUT_FORMATS

DEPTH_SUFFIXES = (*IMAGE_SUFFIXES, ".npy")


@dataclass
class Job:
    """One photo to render."""

    source: Path
    output: Path
    depth: Path | None = None  # the matched depth map (depth mode with maps)
    extras: dict[str, Path] = field(default_factory=dict)  # "weights"/"depth" -> PNG path
    error: str | None = None  # set when the job cannot run (reported as failed)
    skip: str | None = None  # set when the job is skipped (outputs exist)
    keep: list[Path] = field(default_factory=list)  # outputs that exist: not written again

    @property
    def outputs(self) -> list[Path]:
        return [self.output, *self.extras.values()]

    def writes(self, path: Path) -> bool:
        """Whether ``path`` (one of :attr:`outputs`) is to be written."""
        return path not in self.keep


def collect_inputs(paths: Sequence[str | Path]) -> tuple[list[Path], list[str]]:
    """(photo paths in order, notes about folders without images)."""
    files, notes, seen = [], [], set()
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir()
                           if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
                           and not f.name.startswith("."))
            if not found:
                notes.append(f"{p}: no images in this folder (looked for "
                             f"{', '.join(IMAGE_SUFFIXES)})")
        else:
            found = [p]  # a missing or unreadable file fails on its own, later
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                files.append(f)
    return files, notes


def _suffix(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    s = fmt.lower() if fmt.startswith(".") else "." + fmt.lower()
    if s not in OUTPUT_FORMATS:
        raise UserError(f"--format {fmt!r}: not an output format; use jpg, png, webp or tif")
    return s


def output_is_file(out: Path, input_args: Sequence[str | Path], n_inputs: int) -> bool:
    """Whether ``-o OUT`` names one output file (else a folder), checking the combination."""
    single = n_inputs == 1 and len(input_args) == 1 and not Path(input_args[0]).is_dir()
    looks_like_file = bool(out.suffix) and not out.is_dir()
    if looks_like_file and out.suffix.lower() not in OUTPUT_FORMATS:
        raise UserError(f"-o {out}: cannot write {out.suffix!r} files; name it .jpg, .png, "
                        ".webp or .tif, or give a folder")
    if looks_like_file and not single:
        raise UserError(f"-o {out}: a file name, but there are {n_inputs} photos to render; "
                        "give a folder")
    if not looks_like_file and out.exists() and not out.is_dir():
        raise UserError(f"-o {out}: exists and is not a folder; choose another output")
    return looks_like_file


def match_depth(photo: Path, depth: Path) -> Path:
    """The depth map of ``photo`` in folder ``depth``: the file with the same stem."""
    found = sorted(f for f in depth.glob(f"{_glob_escape(photo.stem)}.*")
                   if f.suffix.lower() in DEPTH_SUFFIXES and f.is_file())
    if not found:
        raise UserError(f"no depth map for {photo.name} in {depth} (looked for "
                        f"{photo.stem}.png/.jpg/.tif/.npy ...); add one or leave the photo out")
    if len(found) > 1:
        raise UserError(f"several depth maps for {photo.name} in {depth}: "
                        f"{', '.join(f.name for f in found)}; keep one")
    return found[0]


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def plan_jobs(inputs: Sequence[Path], out: Path, as_file: bool, *, fmt: str | None = None,
              depth: Path | None = None, extras: Sequence[str] = (),
              overwrite: bool = False) -> list[Job]:
    """One :class:`Job` per input: output paths, depth map, and why it cannot run, if so.

    ``depth``: a folder (maps matched by stem) or a single map (one input), or None.
    ``extras``: any of "weights", "depth" (side pictures to write).
    """
    suffix = _suffix(fmt)
    if as_file and suffix and suffix != out.suffix.lower():
        raise UserError(f"--format {fmt} contradicts -o {out}; drop one of them")
    if depth is not None and not depth.is_dir() and len(inputs) > 1:
        raise UserError(f"--depth {depth}: one map for {len(inputs)} photos; give a folder "
                        "of maps named like the photos")
    jobs = []
    for src in inputs:
        if as_file:
            target = out
        else:
            ext = src.suffix if src.suffix.lower() in OUTPUT_FORMATS else ".png"
            target = out / f"{src.stem}{suffix or ext}"
        job = Job(src, target,
                  extras={k: target.with_name(f"{target.stem}_{k}.png") for k in extras})
        if depth is not None:
            try:
                job.depth = match_depth(src, depth) if depth.is_dir() else depth
            except UserError as e:
                job.error = str(e)
        jobs.append(job)
    _check_collisions(jobs, overwrite)
    return jobs


def _check_collisions(jobs: list[Job], overwrite: bool) -> None:
    protected = {j.source.resolve(): j.source for j in jobs}
    protected |= {j.depth.resolve(): j.depth for j in jobs if j.depth is not None}
    claimed: dict[Path, Path] = {}
    for job in jobs:
        if job.error:
            continue
        for path in job.outputs:
            key = path.resolve()
            if key in protected:
                job.error = (f"{job.source}: its result {path} would replace the input "
                             f"{protected[key]}; choose another -o or --format")
            elif key in claimed:
                job.error = (f"{job.source}: its result {path} would replace the result of "
                             f"{claimed[key]} (same name); render them into separate folders")
            if job.error:
                break
        if job.error:
            continue
        for path in job.outputs:
            claimed[path.resolve()] = job.source
        existing = [p for p in job.outputs if p.exists()]
        if existing and not overwrite:
            if len(existing) == len(job.outputs):
                job.skip = f"{existing[0]} exists (pass --overwrite to replace it)"
            else:
                job.keep = existing
