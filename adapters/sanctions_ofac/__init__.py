"""OFAC's SDN list in its legacy CSV layout, read into the domain's ``SanctionsList``."""

from adapters.sanctions_ofac.parser import OfacFormatError, load_ofac_list

__all__ = ["OfacFormatError", "load_ofac_list"]
