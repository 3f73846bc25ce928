"""Analyses of a stored run, each written as its own record beside the runs it analyses.

``mismatch``: how far the one-step student is from the N-step teacher it started from, compared
with how far each is from the data (the paper's claim that imitation is the wrong target).
``spectrum``: radially averaged power spectra of real images, teacher samples and one-step samples
before and after fine-tuning (the paper's frequency-domain explanation).

This module imports nothing heavy: the report reads the record kinds from here.
"""

MISMATCH_KIND = "analysis-mismatch"
SPECTRUM_KIND = "analysis-spectrum"
