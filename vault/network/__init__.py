"""The card network's entry into Bursar: PAN in, token out, decision from the core."""
