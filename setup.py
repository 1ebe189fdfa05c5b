"""Only the C accelerator lives here; everything else is declared in setup.cfg.

falcolib._speedups is optional: where it cannot be built (no compiler or Python
headers), the install still succeeds and falcolib runs its pure-Python loops.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("falcolib._speedups",
                             ["falcolib/_speedups.c", "falcolib/_speedups_open.c",
                              "falcolib/_speedups_rules.c"],
                             depends=["falcolib/_speedups.h"],
                             extra_compile_args=["-O2", "-Wall"], optional=True)])
