"""Model code files that MLflow logs beside the weights ("models from code"): no pickle."""
