"""Cards: programs, cardholders, cards and their controls, authorizations and reveal grants."""
