"""Package openfga owns OpenFGA's modeling languages: DSL, JSON and modular models to checked IR.

``parse_openfga_dsl`` reads a ``model`` / ``schema 1.1`` DSL file, ``parse_openfga_json`` the
JSON form of an authorization model, and ``load_openfga_modules`` an ``fga.mod`` manifest with
its ``module`` files; all three apply OpenFGA's model validation and return the same IR.
``looks_like_openfga`` tells OpenFGA input from SpiceDB schema text.
"""

from __future__ import annotations

from clove.schema.openfga._dsl import parse_openfga_dsl

__all__ = ["parse_openfga_dsl"]
