"""Training and measuring the project's networks on its own simulated data: the keypoint
network on rendered frames (keypoints.py), how well the pixel path measures
(perception_quality.py) and the per-post grading DNNs (graders.py)."""
