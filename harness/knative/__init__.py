"""The Knative Serving model: names, URLs, traffic blocks, webhook validation, manifests, lint.

Everything here is pure (no I/O) except ``manifest`` reading files and the backend
modules (``backend``, ``kube``, ``connect``) that talk to a cluster.
"""
