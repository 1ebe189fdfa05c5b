"""A generated function compiled on its first call.

Loading a rule set generates the source of every condition's matcher, but most
rules never meet an event of their types in a given run: ``lazy_function``
returns the function object at once, with a stub for code that compiles the real
source on the first call and swaps it in (``__code__``), so later calls run the
generated code directly and callers may keep the function object.
"""
from __future__ import annotations

import types

# the code of a function until its first call: compile the real code (``_compile_now``)
STUB = next(c for c in compile("def _matcher(view):\n    return _compile_now(view)\n",
                                "<filter>", "exec").co_consts if isinstance(c, types.CodeType))
# the only builtins generated code uses
BUILTINS = {"set": set, "all": all, "any": any, "TypeError": TypeError}


def lazy_function(source: str, namespace: dict):
    """``_matcher`` as ``source`` defines it, with ``namespace`` as its globals (its
    ``__builtins__`` set to BUILTINS); ``.source`` is the source."""
    namespace["__builtins__"] = BUILTINS
    matcher = types.FunctionType(STUB, namespace, "_matcher")

    def compile_now(view):
        exec(compile(source, "<filter>", "exec"), namespace)  # noqa: S102 - our own code
        matcher.__code__ = namespace["_matcher"].__code__
        del namespace["_compile_now"]
        return matcher(view)

    namespace["_compile_now"] = compile_now
    matcher.source = source
    return matcher
