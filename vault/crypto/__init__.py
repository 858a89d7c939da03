"""Envelope encryption and keyed hashes for card data, with the HSM off the hot path."""
