"""Foreign exchange: rates through one pivot currency, exact conversions with markup, quotes."""

from domain.fx.conversion import Conversion, convert, convert_with_markup, max_source_for_total
from domain.fx.quotes import Quote, QuoteState, create_quote
from domain.fx.rates import MANUAL_SOURCE, PIVOT, Rate, RateBook, require_pivot_based

__all__ = [
    "MANUAL_SOURCE",
    "PIVOT",
    "Conversion",
    "Quote",
    "QuoteState",
    "Rate",
    "RateBook",
    "convert",
    "convert_with_markup",
    "create_quote",
    "max_source_for_total",
    "require_pivot_based",
]
