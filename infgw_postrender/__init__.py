"""infgw-migrate: move a GKE Inference Gateway from the alpha InferencePool API to the GA one."""

__version__ = "0.1.0"
