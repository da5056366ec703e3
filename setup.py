"""The compiled module only (the stable way to declare one); everything else is in pyproject.toml.

training/token_index.pyx is compiled at install time, as fastText is (its PyPI release is a source
distribution): `pip install -e .` builds it in place.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("training.token_index", ["training/token_index.pyx"], language="c++"),
    ]
)
