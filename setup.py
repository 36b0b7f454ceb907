"""Only the optional native Avro writer and reader live here; everything else is in
pyproject.toml.

The extensions are optional: without a C compiler the install still succeeds and
streams.avro_codegen uses its generated pure-Python writer and reader (same bytes and
records, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("streams._avro_writer", ["streams/_avro_writer.c"], optional=True),
        Extension("streams._avro_reader", ["streams/_avro_reader.c"], optional=True),
    ]
)
