"""The only modules that talk to outside systems: Ray, MLflow (tracking, registry), Optuna."""
