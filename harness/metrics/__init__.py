"""Server-side metrics of revisions: Prometheus queries behind metric profiles.

``source.MetricSource`` is the interface the canary and perf runs use;
``source.PrometheusSource`` is its implementation. A ``profiles.MetricProfile`` maps
"requests, errors and latency histogram of revision R" to PromQL for one Knative version
or ingress, so no metric name is hard-coded anywhere else. ``counters.CounterTracker``
turns raw counter series into deltas with resets handled. Import from the submodules
(this package imports nothing, so the spec can use profiles without the HTTP client).
"""
