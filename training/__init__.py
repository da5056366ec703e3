"""Training: labelled CSV → validated data → fastText model → calibrated, versioned artifact.

Kept import-light: the consumer imports `training.text` and `training.artifact` and must not pull in
scikit-learn or matplotlib.
"""
