"""The embedded Knative Serving emulator: API, controller, data plane, Prometheus launcher.

Start it with ``harness local up`` or ``harness.local.launcher.Emulator.start``; talk to it
through the kubeconfig it writes, like any cluster.
"""
