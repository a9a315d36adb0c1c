"""Inference: ``ExpressionRecognizer``, its backends (torch, onnxruntime), the ``predict`` command over photos,
folders, videos and webcams (``predict``, ``media``) and video summaries (``summary``)."""

from .recognizer import ExpressionRecognizer

__all__ = ["ExpressionRecognizer"]
