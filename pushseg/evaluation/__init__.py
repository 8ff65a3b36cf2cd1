"""COCO evaluation (class-agnostic AP with pycocotools) and reports."""

from pushseg.evaluation.coco_eval import detections_to_results, evaluate_results, evaluate_model

__all__ = ["detections_to_results", "evaluate_results", "evaluate_model"]
