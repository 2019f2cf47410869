"""The emulator's Knative Eventing (Broker, Trigger, broker ingress, delivery, metrics);
docs/eventing.md. Import from the submodules."""
