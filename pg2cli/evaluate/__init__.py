"""Evaluation: the field's metrics under named protocols and the evaluate() driver (run mode and folder mode)."""

from pg2cli.evaluate.driver import (
    ALL_METRICS,
    BASELINES,
    EvalOptions,
    EvalResult,
    Networks,
    Scorer,
    evaluate,
    evaluate_folders,
    evaluate_packed,
    load_networks,
    parse_metrics,
    score_images,
)

__all__ = [
    "ALL_METRICS", "BASELINES", "EvalOptions", "EvalResult", "Networks", "Scorer", "evaluate", "evaluate_folders",
    "evaluate_packed", "load_networks", "parse_metrics", "score_images",
]
