"""BERT-family quality and domain classifiers: ``train`` (fit + evaluate + save), ``predict`` (load once, score)."""
