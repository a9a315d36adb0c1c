"""Training: stage 1 (regularized by the face net), stage 2 (refining), baselines, the run harness."""
