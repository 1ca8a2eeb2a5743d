"""Retrieval evaluation: datasets (SQuAD, BEIR) and metrics (ir-measures)."""
