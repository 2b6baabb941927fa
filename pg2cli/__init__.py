"""pg2cli: Pose Guided Person Image Generation (PG², Ma et al. 2017) as one command-line tool."""

__version__ = "0.1.0"
