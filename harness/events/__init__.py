"""`harness events`: CloudEvents load through a Broker with delivery accounting (issue 14).

The sender (`user`, a Locust user built on the ``cloudevents`` SDK) gives every event a
unique id and its send time; the receiver (the sample app's receiver mode, `receiver`)
records every delivery with its revision; `accounting` joins the two into sent,
accepted, delivered, lost, duplicated, unexpected and dead-lettered events
(docs/eventing.md, "harness events").
"""
