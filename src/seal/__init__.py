"""seal-llm: safety-aware data selection for fine-tuning aligned language models (SEAL, ICLR 2025)."""

__version__ = "0.1.0"
