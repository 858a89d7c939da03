"""FX use cases: refresh feed rates, set manual rates, create and use quotes."""
