"""Training and measuring the project's networks on its own simulated data: the keypoint
network on rendered frames (keypoints.py) and how well the pixel path measures
(perception_quality.py)."""
