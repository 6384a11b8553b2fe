"""Reproducible BI-RADS breast-density benchmark: BiomedCLIP zero-shot and linear probe vs fine-tuned ConvNeXt."""

__version__ = "0.1.0"
