"""Card numbers in the PCI zone: issuance, tokenization, storage."""
