"""Build the optional compiled kernels (whylabel._fast); everything else is in pyproject.toml.

The extension reads spaCy's Doc structs, so it is compiled against the spaCy headers of the same
minor version the package depends on. `optional=True`: without a compiler the install still
succeeds and whylabel runs its numpy paths (slower, same results).
"""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # building from an sdist without Cython: numpy paths only
    ext_modules = []
else:
    import numpy

    ext_modules = cythonize(
        [Extension("whylabel._fast", ["src/whylabel/_fast.pyx"], language="c++", optional=True,
                   include_dirs=[numpy.get_include()], extra_compile_args=["-O2"])],
        language_level=3,
    )

setup(ext_modules=ext_modules)
