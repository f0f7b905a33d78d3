"""Package caveats compiles caveat CEL expressions against their declared parameters and
evaluates them over request and relationship context, with SpiceDB's semantics.

::

    compiled = compile_caveat(schema.caveat("is_valid_ip"))   # SchemaError if it does not check
    values = compiled.convert_context({"user_ip": "10.1.2.3", "cidr": "10.0.0.0/8"})
    compiled.evaluate(values)   # True, False, or frozenset of missing parameter names
"""

from clove.caveats._compile import CompiledCaveat, compile_caveat

__all__ = ["CompiledCaveat", "compile_caveat"]
