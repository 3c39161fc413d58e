"""nao-kfp: Neural Architecture Optimization as Kubeflow Pipelines components."""

__version__ = "0.1.0"
