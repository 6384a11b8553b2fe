"""Reproducible BI-RADS breast-density benchmark.

BiomedCLIP zero-shot and linear probe against a fine-tuned ConvNeXt, driven by DVC.
"""

__version__ = "0.1.0"
