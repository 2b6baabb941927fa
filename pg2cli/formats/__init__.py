"""Readers and writers for the files the field exchanges; the only place file conventions are converted.

In memory keypoints are float32 [18, 2] (x, y) pixels with NaN for a missing point.
"""

from pg2cli.formats.annotations import (
    ANNOTATION_HEADER,
    Annotations,
    format_annotation_row,
    read_annotations,
    write_annotations,
)
from pg2cli.formats.coco import read_coco_keypoints
from pg2cli.formats.openpose import (
    OpenPosePerson,
    people_from_openpose,
    read_openpose_json,
    write_openpose_json,
)
from pg2cli.formats.pairs import PAIRS_HEADER, read_pairs, write_pairs

__all__ = [
    "ANNOTATION_HEADER", "Annotations", "format_annotation_row", "read_annotations", "write_annotations",
    "read_coco_keypoints", "OpenPosePerson", "people_from_openpose", "read_openpose_json",
    "write_openpose_json", "PAIRS_HEADER", "read_pairs", "write_pairs",
]
