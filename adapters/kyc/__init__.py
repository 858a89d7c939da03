"""KYC providers (application/ports/kyc.py): manual review by ops, and a simulated vendor for demos."""

from adapters.kyc.manual import ManualReview
from adapters.kyc.simulated import SimulatedVendor

__all__ = ["ManualReview", "SimulatedVendor"]
