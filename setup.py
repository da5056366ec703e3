"""The compiled modules only (the stable way to declare them); everything else is in pyproject.toml.

inference/*.pyx and consumer/*.pyx are compiled at install time, as fastText is (its PyPI release
is a source distribution): `pip install -e .` builds them in place.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("inference.token_index", ["inference/token_index.pyx"], language="c++"),
        Extension("inference.line_sums", ["inference/line_sums.pyx"], language="c++"),
        Extension("inference.answers", ["inference/answers.pyx"]),
        Extension("inference.fields", ["inference/fields.pyx"]),
        Extension("consumer.splice", ["consumer/splice.pyx"]),
    ]
)
