"""Winnow classifiers: language id, quality and domain (BERT and fastText), encoder adaptation."""
