"""Use cases of events and webhooks: the dispatcher, subscriptions and deliveries."""
