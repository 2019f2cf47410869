"""knative-harness: load testing, anytime-valid canary analysis and release gates for Knative."""

__version__ = "0.1.0"
