"""The architecture of G1, G2 and D as one frozen dataclass: widths, depth from the image size, ablations."""

from __future__ import annotations

from dataclasses import dataclass

from pg2cli.errors import UsageError

# The paper's ablations (Fig. 4) are values here, not copies of code.
POSE_EMBEDDINGS = ("maps", "coords", "heatmap-encoder")  # maps = the method; coords = CE; heatmap-encoder = HME
D_INPUTS = ("single", "pair")  # single = the original code (D sees one image); pair = the paper's text


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the three networks. Defaults are the authors' Market-1501 networks.

    image_size: (height, width) the networks are built for; None = take it from the data file when training
    starts (the resolved value is what gets saved). Depth N = log2(height) - 2 (5 at 128x64, 6 at 256x256).
    base_channels: n, the width of G1's first level and of every G2 level (128 in the paper).
    z_dim: G1's fully connected bottleneck (64).
    d_channels: width of D's first conv (64, doubling up to 8x).
    pose_embedding: how G1 sees the target pose: 'maps' (18 maps concatenated with the image, the method),
        'coords' (keypoint coordinates through two FC layers, concatenated at the bottleneck: CE),
        'heatmap-encoder' (the 18 maps through a separate encoder, its FC code concatenated at the bottleneck: HME).
    coord_hidden: hidden width of the 'coords' embedding's first FC layer.
    d_input: 'single' (D judges one image, as the original code) or 'pair' (D judges (condition, image) pairs).
    g2_full_skip: whether G2's last (full-resolution) decoder level also concatenates the first encoder level.
        The authors' 256x256 code does (UAE_noFC_AfterNoise, models256.py); their 128x64 code does not
        (UAE_noFC_After2Noise, trainer.py): False is the Market-1501 network, True the DeepFashion one.
    """

    image_size: tuple[int, int] | None = (128, 64)
    base_channels: int = 128
    z_dim: int = 64
    d_channels: int = 64
    pose_embedding: str = "maps"
    coord_hidden: int = 128
    d_input: str = "single"
    g2_full_skip: bool = False

    def __post_init__(self) -> None:
        if self.image_size is not None:
            object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))
        problems = []
        if self.image_size is not None:
            h, w = self.image_size
            if h < 32 or h & (h - 1):
                problems.append(f"model.image_size height must be a power of two >= 32, got {h}")
            else:
                down = 2 ** (self.depth - 1)
                if w < down or w % down:
                    problems.append(f"model.image_size width must be a multiple of {down} for height {h}, got {w}")
        for name in ("base_channels", "z_dim", "d_channels", "coord_hidden"):
            if getattr(self, name) < 1:
                problems.append(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.pose_embedding not in POSE_EMBEDDINGS:
            problems.append(f"model.pose_embedding must be one of {', '.join(POSE_EMBEDDINGS)}, got {self.pose_embedding!r}")
        if self.d_input not in D_INPUTS:
            problems.append(f"model.d_input must be one of {', '.join(D_INPUTS)}, got {self.d_input!r}")
        if problems:
            raise UsageError("; ".join(problems))

    @property
    def depth(self) -> int:
        """N = log2(height) - 2: G1's number of residual levels (G2 has N - 2)."""
        if self.image_size is None:
            raise UsageError("model.image_size is not resolved yet (it comes from the data file)")
        return self.image_size[0].bit_length() - 3

    def bottleneck(self) -> tuple[int, int]:
        """Spatial size at G1's FC bottleneck: (8, W / 2^(N-1)), i.e. 8x4 on Market and 8x8 on DeepFashion."""
        h, w = self.image_size  # type: ignore[misc]
        down = 2 ** (self.depth - 1)
        return h // down, w // down
