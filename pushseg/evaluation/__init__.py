"""COCO evaluation (class-agnostic AP with pycocotools) and reports."""

from pushseg.evaluation.coco_eval import (
                                          CocoEvaluator,
                                          choose_scales,
                                          detections_to_results,
                                          evaluate_model,
                                          evaluate_results,
)

__all__ = ["CocoEvaluator", "choose_scales", "detections_to_results", "evaluate_results", "evaluate_model"]
