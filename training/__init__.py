"""Training: labelled CSV → validated data → fastText model → calibrated, versioned artifact.

What serving needs of the model (normalisation, the classifier, the artifact format and its loader)
lives in `inference`; training imports it from there, never the other way round.
"""
