"""Generation with a trained run, shared by eval, generate, animate and the quickstart.

`generate_images(generators, sources, target_keypoints)` fits any input size to the model's size (the
source image and its keypoint frame are moved the same way, see `data.render.fit_image`), renders the pose
maps exactly as the run was trained, and returns uint8 images. The helpers below it read a target pose
from an OpenPose JSON file, an annotation CSV row or another photo, and write strips and animations.
Imports stay lazy and light: a cold `pg2 generate` from a JSON pose never imports a pose extractor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from pg2cli.errors import DataError, UsageError
from pg2cli.skeleton import NUM_KEYPOINTS

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from pg2cli.train.checkpoint import Generators

Size = tuple[int, int]  # (height, width)
ANIMATION_SUFFIXES = (".gif", ".mp4")


def to_tensor(images: np.ndarray) -> "torch.Tensor":
    """uint8 RGB [B, H, W, 3] -> float32 [B, 3, H, W] in [-1, 1] (x / 127.5 - 1, as in training)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def to_uint8(images: "torch.Tensor") -> np.ndarray:
    """float [B, 3, H, W] in [-1, 1] -> uint8 RGB [B, H, W, 3] (rounded, clipped)."""
    import torch

    x = ((images.detach().float().cpu() + 1.0) * 127.5).round().clamp(0, 255)
    return x.to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def flush_denormals() -> None:
    """Treat denormal floats as zero on the CPU: barely trained weights can drive activations there and slow
    convolutions about 10x (see notes/performance.md); trained networks lose nothing by it."""
    import torch

    torch.set_flush_denormal(True)


def pose_tensor(keypoints: np.ndarray, generators: "Generators") -> "torch.Tensor":
    """Keypoints [B, 18, 2] in the model's frame -> pose maps [B, 18, H, W] in [-1, 1], rendered with the
    run's pose-map kind, radius and sigma (map value v -> 2v - 1, as the training data)."""
    import torch

    from pg2cli.data.render import render_pose_maps

    kps = np.asarray(keypoints, np.float32).reshape(-1, NUM_KEYPOINTS, 2)
    maps = np.stack([render_pose_maps(kp, generators.image_size, kind=generators.pose_map,
                                      radius=generators.pose_radius, sigma=generators.pose_sigma) for kp in kps])
    return torch.from_numpy(maps) * 2.0 - 1.0  # [B, 18, H, W]


@dataclass
class Generated:
    """What `generate_images` made, all at the model's size: the fitted sources, the target keypoints in the
    model's frame, G1's coarse images and the final images."""

    sources: np.ndarray  # [B, H, W, 3] uint8
    keypoints: np.ndarray  # [B, 18, 2] float32, NaN = missing
    stage1: np.ndarray  # [B, H, W, 3] uint8
    images: np.ndarray  # [B, H, W, 3] uint8 (= stage1 for a stage-1 run)


def _as_list(images: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(images, np.ndarray) and images.ndim == 3:
        return [images]
    return list(images)


def generate_images(generators: "Generators", source_rgb: np.ndarray | Sequence[np.ndarray],
                    target_keypoints: np.ndarray, pose_size: Size | Sequence[Size | None] | None = None,
                    batch_size: int = 16) -> Generated:
    """The person of each source image in each target pose.

    source_rgb: one uint8 RGB image [h, w, 3] or a sequence of them (any sizes). target_keypoints: [18, 2]
    or [B, 18, 2] (x, y), NaN = missing, in the frame of an image of `pose_size` (H, W), or of one size per
    pose (a sequence of (H, W) or None); None = the frame of the corresponding source image (poses from the
    same dataset). One source with B poses, or B sources with
    one pose, are broadcast. Every source is fitted to the model's size (resize keeping the aspect ratio,
    pad) and the keypoints are moved the same way.
    """
    import torch

    from pg2cli.data.render import fit_image, transform_keypoints

    sources = _as_list(source_rgb)
    kps = np.asarray(target_keypoints, np.float32).reshape(-1, NUM_KEYPOINTS, 2)
    b = max(len(sources), len(kps))
    if len(sources) not in (1, b) or len(kps) not in (1, b):
        raise UsageError(f"{len(sources)} source images and {len(kps)} poses: give one of either, or as many of each")
    one_size = pose_size is None or (len(pose_size) == 2 and all(isinstance(v, (int, np.integer)) for v in pose_size))
    sizes = [pose_size] * b if one_size else list(pose_size)
    if len(sizes) != b:
        raise UsageError(f"{len(sizes)} pose sizes for {b} poses")
    size = tuple(generators.image_size)
    empty = np.full((NUM_KEYPOINTS, 2), np.nan, np.float32)
    fitted = [fit_image(s, empty, size)[0] for s in sources]
    model_kps = np.empty((b, NUM_KEYPOINTS, 2), np.float32)
    for i in range(b):
        frame = sizes[i] or sources[i if len(sources) > 1 else 0].shape[:2]
        model_kps[i] = transform_keypoints(kps[i if len(kps) > 1 else 0], tuple(frame), size)
    src = np.stack(fitted if len(fitted) == b else fitted * b)  # [B, H, W, 3]
    coarse, final = [], []
    with torch.inference_mode():
        for start in range(0, b, batch_size):
            sl = slice(start, start + batch_size)
            g1, out = generators(to_tensor(src[sl]), pose_tensor(model_kps[sl], generators))
            coarse.append(to_uint8(g1))
            final.append(to_uint8(out))
    return Generated(src, model_kps, np.concatenate(coarse), np.concatenate(final))


# ---------------------------------------------------------------------------------------------- target poses

@dataclass
class PoseSpec:
    """A target pose read from a file: keypoints [18, 2] and the (H, W) frame they are in (None = unknown)."""

    keypoints: np.ndarray
    frame: Size | None
    description: str


def pose_backend(name: str = "auto", weights: str | None = None) -> tuple[object, str, str]:
    """A pose backend for extraction on the fly: (backend, name used, note). 'auto' = openpose when its
    weights are found, else mediapipe (offline); the note then says so."""
    from pg2cli.errors import MissingWeightsError
    from pg2cli.pose import get_backend

    if name != "auto":
        return get_backend(name, weights=weights), name, ""
    try:
        return get_backend("openpose", weights=weights), "openpose", ""
    except MissingWeightsError:
        return get_backend("mediapipe"), "mediapipe", "openpose weights not found, so mediapipe (offline) was used"


def _best(people, source: str) -> np.ndarray:
    if not people:
        raise DataError(f"{source}: nobody found (expected one person's pose)")
    return max(people, key=lambda p: p.score).keypoints


def _check_visible(kp: np.ndarray, source: str) -> np.ndarray:
    if not np.isfinite(kp).all(axis=1).any():
        raise DataError(f"{source}: the pose has no visible keypoint")
    return kp


def read_pose(path: str | os.PathLike, name: str | None = None, backend=None) -> PoseSpec:
    """A target pose from an OpenPose JSON file (the best-scoring person), a row `name` of an annotation CSV,
    or a photo (extracted with `backend`, made on demand). JSON and CSV poses carry no frame size (None)."""
    from pg2cli.images import IMAGE_SUFFIXES

    path = Path(path)
    suffix = path.suffix.lower()
    if name is not None and suffix != ".csv":
        raise UsageError(f"--pose-name applies to an annotation CSV, not {path.name}")
    if suffix == ".json":
        from pg2cli.formats import read_openpose_json

        return PoseSpec(_check_visible(_best(read_openpose_json(path), str(path)), str(path)), None, f"{path.name}")
    if suffix == ".csv":
        from pg2cli.formats import read_annotations

        ann = read_annotations(path)
        if name is None:
            if len(ann) != 1:
                raise UsageError(f"{path}: holds {len(ann)} poses; choose one with --pose-name NAME")
            name = ann.names[0]
        kp = ann.get(name)
        if kp is None:
            raise DataError(f"{path}: no row named {name!r} (e.g. {', '.join(ann.names[:3])})")
        return PoseSpec(_check_visible(kp, f"{path}:{name}"), None, f"{path.name}:{name}")
    if suffix in IMAGE_SUFFIXES:
        from pg2cli.images import read_image

        image = read_image(path)
        backend = backend if backend is not None else pose_backend()[0]
        return PoseSpec(_check_visible(_estimate(backend, image, str(path)), str(path)), image.shape[:2],
                        f"{path.name} (extracted)")
    raise UsageError(f"--pose {path}: expected an OpenPose .json, an annotation .csv or an image "
                     f"({', '.join(IMAGE_SUFFIXES)})")


def _estimate(backend, image: np.ndarray, source: str) -> np.ndarray:
    from pg2cli.pose import estimate_keypoints

    kp = estimate_keypoints(image, backend)
    if not np.isfinite(kp).all(axis=1).any():
        raise DataError(f"{source}: nobody found (expected one person's pose)")
    return kp


def pose_sequence(poses: str | os.PathLike, backend=None) -> tuple[list[PoseSpec], list[tuple[str, str]]]:
    """Poses for an animation, in order: every row of an annotation CSV, or every image of a folder (sorted by
    name, poses extracted). Returns (poses, skipped (name, reason)), e.g. frames where nobody is found."""
    from pg2cli.images import ImageError, list_images, read_image

    poses = Path(poses)
    out: list[PoseSpec] = []
    skipped: list[tuple[str, str]] = []
    if poses.is_dir():
        backend = backend if backend is not None else pose_backend()[0]
        for rel in list_images(poses):
            try:
                image = read_image(poses / rel)
                out.append(PoseSpec(_estimate(backend, image, rel), image.shape[:2], rel))
            except (ImageError, DataError) as e:
                skipped.append((rel, getattr(e, "reason", None) or "nobody found"))
    elif poses.suffix.lower() == ".csv":
        from pg2cli.formats import read_annotations

        for name, kp in read_annotations(poses):
            if np.isfinite(kp).all(axis=1).any():
                out.append(PoseSpec(kp, None, name))
            else:
                skipped.append((name, "no visible keypoint"))
    else:
        raise UsageError(f"--poses {poses}: expected a folder of frames or an annotation .csv")
    if not out:
        raise DataError(f"{poses}: no usable pose ({len(skipped)} skipped"
                        + (f", e.g. {skipped[0][0]}: {skipped[0][1]})" if skipped else ")"))
    return out, skipped


# ---------------------------------------------------------------------------------------------- outputs

def strip(source: np.ndarray, keypoints: np.ndarray, result: np.ndarray, gap: int = 2) -> np.ndarray:
    """source | pose (skeleton on black) | result side by side, uint8 RGB (all three at one size)."""
    from pg2cli.data.render import draw_pose

    h, w = result.shape[:2]
    sep = np.full((h, gap, 3), 255, np.uint8)
    return np.concatenate([source, sep, draw_pose(keypoints, (h, w)), sep, result], axis=1)


def write_animation(path: str | os.PathLike, frames: Sequence[np.ndarray], fps: float = 10.0,
                    overwrite: bool = False) -> Path:
    """Write uint8 RGB frames as a looping GIF (imageio) or an MP4, atomically. MP4: H.264 (yuv420p, plays in
    browsers) through imageio-ffmpeg when it is installed (the `[video]` extra), else OpenCV's mp4v codec."""
    from pg2cli.fileio import atomic_output

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ANIMATION_SUFFIXES:
        raise UsageError(f"-o {path}: expected a {' or '.join(ANIMATION_SUFFIXES)} file")
    if not frames:
        raise DataError("no frames to write")
    if fps <= 0:
        raise UsageError(f"--fps {fps}: expected > 0")
    with atomic_output(path, overwrite) as tmp:
        if suffix == ".gif":
            import imageio.v3 as iio

            iio.imwrite(tmp, np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0)
        elif mp4_codec() == "h264":
            _write_h264(tmp, frames, fps, path)
        else:
            _write_mp4v(tmp, frames, fps, path)
    return path


def mp4_codec() -> str:
    """The codec `write_animation` uses for .mp4: 'h264' with imageio-ffmpeg installed, else 'mp4v'."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return "mp4v"
    return "h264"


def _even_sides(frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Frames with even height and width, as both MP4 codecs need: an odd last row or column is repeated, never
    resampled (OpenCV's writer would silently crop it)."""
    h, w = frames[0].shape[:2]
    if not h % 2 and not w % 2:
        return list(frames)
    return [np.pad(f, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge") for f in frames]


def _write_h264(tmp: Path, frames: Sequence[np.ndarray], fps: float, path: Path) -> None:
    """H.264 in yuv420p (plays in browsers)."""
    import imageio.v2 as iio2

    try:
        writer = iio2.get_writer(tmp, format="FFMPEG", mode="I", fps=float(fps), codec="libx264",
                                 pixelformat="yuv420p", macro_block_size=1, ffmpeg_log_level="error",
                                 output_params=["-movflags", "+faststart"])
        with writer:
            for f in _even_sides(frames):
                writer.append_data(f)
    except (OSError, RuntimeError) as e:
        raise DataError(f"{path}: ffmpeg could not write H.264 ({str(e).strip().splitlines()[-1][:120]}); "
                        "write a .gif instead") from None


def _write_mp4v(tmp: Path, frames: Sequence[np.ndarray], fps: float, path: Path) -> None:
    """OpenCV's MPEG-4 part 2."""
    import cv2

    frames = _even_sides(frames)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
    if not writer.isOpened():
        raise DataError(f"{path}: OpenCV cannot write MP4 here (no mp4v encoder); write a .gif instead")
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()


# ---------------------------------------------------------------------------------------------- commands' cores

@dataclass
class GenerateReport:
    """What `generate_file` did."""

    output: Path
    stage: int
    image_size: Size
    pose: str  # where the pose came from
    pose_backend: str | None  # set when a pose was extracted from a photo
    note: str = ""


def generate_file(run: str | os.PathLike, image: str | os.PathLike, pose: str | os.PathLike,
                  output: str | os.PathLike, *, pose_name: str | None = None, pose_size: Size | None = None,
                  stage: int | None = None, with_strip: bool = False, device: str = "cpu",
                  backend: str = "auto", pose_weights: str | None = None, overwrite: bool = False) -> GenerateReport:
    """`pg2 generate`: the person of `image` in the pose of `pose` (OpenPose JSON, annotation CSV row
    `pose_name`, or a photo), written to `output` at the model's size (or as a source | pose | result strip).

    A JSON/CSV pose is taken to be in the frame of `image` unless `pose_size` (H, W) says otherwise.
    """
    from pg2cli.fileio import check_output
    from pg2cli.images import IMAGE_SUFFIXES, read_image, write_image
    from pg2cli.train.checkpoint import load_generators

    output = check_output(output, overwrite)
    if output.suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageError(f"-o {output}: expected an image file ({', '.join(IMAGE_SUFFIXES)})")
    source = read_image(image)
    be = used = note = None
    if Path(pose).suffix.lower() in IMAGE_SUFFIXES:
        be, used, note = pose_backend(backend, pose_weights)
    try:
        spec = read_pose(pose, pose_name, be)
    finally:
        if be is not None:
            be.close()
    flush_denormals()
    gens = load_generators(run, stage=stage, device=device)
    out = generate_images(gens, source, spec.keypoints, pose_size=spec.frame or pose_size)
    picture = strip(out.sources[0], out.keypoints[0], out.images[0]) if with_strip else out.images[0]
    write_image(output, picture, overwrite=overwrite)
    return GenerateReport(output, gens.stage, tuple(gens.image_size), spec.description, used, note or "")


@dataclass
class AnimateReport:
    """What `animate_file` did."""

    output: Path
    frames: int
    stage: int
    skipped: list[tuple[str, str]]
    pose_backend: str | None
    note: str = ""


def animate_file(run: str | os.PathLike, image: str | os.PathLike, poses: str | os.PathLike,
                 output: str | os.PathLike, *, fps: float = 10.0, pose_size: Size | None = None,
                 stage: int | None = None, with_strip: bool = False, device: str = "cpu", backend: str = "auto",
                 pose_weights: str | None = None, batch_size: int = 16, overwrite: bool = False) -> AnimateReport:
    """`pg2 animate`: the person of `image` through a pose sequence (a folder of frames whose poses are
    extracted, or an annotation CSV), one output frame per usable pose, as a GIF or MP4."""
    from pg2cli.fileio import check_output
    from pg2cli.images import read_image
    from pg2cli.train.checkpoint import load_generators

    output = check_output(output, overwrite)
    if output.suffix.lower() not in ANIMATION_SUFFIXES:
        raise UsageError(f"-o {output}: expected a {' or '.join(ANIMATION_SUFFIXES)} file")
    source = read_image(image)
    be = used = note = None
    if Path(poses).is_dir():
        be, used, note = pose_backend(backend, pose_weights)
    try:
        specs, skipped = pose_sequence(poses, be)
    finally:
        if be is not None:
            be.close()
    flush_denormals()
    gens = load_generators(run, stage=stage, device=device)
    out = generate_images(gens, source, np.stack([p.keypoints for p in specs]),
                          pose_size=[p.frame or pose_size for p in specs], batch_size=batch_size)
    if with_strip:
        frames = [strip(s, k, r) for s, k, r in zip(out.sources, out.keypoints, out.images)]
    else:
        frames = list(out.images)
    write_animation(output, frames, fps, overwrite)
    return AnimateReport(output, len(frames), gens.stage, skipped, used, note or "")
