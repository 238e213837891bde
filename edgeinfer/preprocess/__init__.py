"""Preprocess: turn camera frames and image files into model input tensors."""
