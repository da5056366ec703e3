"""The compiled modules only (the stable way to declare them); everything else is in pyproject.toml.

training/*.pyx are compiled at install time, as fastText is (its PyPI release is a source
distribution): `pip install -e .` builds them in place.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("training.token_index", ["training/token_index.pyx"], language="c++"),
        Extension("training.line_sums", ["training/line_sums.pyx"], language="c++"),
        Extension("training.answers", ["training/answers.pyx"]),
    ]
)
