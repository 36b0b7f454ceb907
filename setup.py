"""Only the optional native Avro writer lives here; everything else is in pyproject.toml.

The extension is optional: without a C compiler the install still succeeds and
streams.codec uses its generated pure-Python writer (same bytes, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("streams._avro_writer", ["streams/_avro_writer.c"], optional=True),
    ]
)
