"""PG²'s networks as pure nn.Modules: G1 (stage I), G2 (stage II), the DCGAN discriminator, built from a config."""

from pg2cli.model.build import Networks, build, count_parameters, parameter_counts
from pg2cli.model.config import D_INPUTS, POSE_EMBEDDINGS, ModelConfig

__all__ = ["D_INPUTS", "POSE_EMBEDDINGS", "ModelConfig", "Networks", "build", "count_parameters", "parameter_counts"]
