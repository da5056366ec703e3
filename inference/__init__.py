"""The model at serving time: text normalisation, the classifier and its compiled batch path, and
the artifact format with its only loader.

Both `training` (which writes artifacts) and `consumer` (which serves them) import this package;
it imports neither, so the service's image carries no training code (see the import-linter
contracts in pyproject.toml).
"""
