"""Card-detail reveals against single-use grants issued by the core."""
