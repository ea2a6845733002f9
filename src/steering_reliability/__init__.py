"""Reproducible study of the reliability of CAA steering vectors (Tan et al., NeurIPS 2024)."""

__version__ = "0.1.0"
