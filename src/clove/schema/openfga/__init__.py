"""Package openfga owns OpenFGA's modeling languages: DSL, JSON and modular models to checked IR.

``parse_openfga_dsl`` reads a ``model`` / ``schema 1.1`` DSL file, ``parse_openfga_json`` the
JSON form of an authorization model, and ``load_openfga_modules`` an ``fga.mod`` manifest with
its ``module`` files; all three apply OpenFGA's model validation and return the same IR.
``looks_like_openfga`` tells OpenFGA input from SpiceDB schema text.
"""

from __future__ import annotations

from clove.schema.openfga._detect import looks_like_openfga
from clove.schema.openfga._dsl import parse_openfga_dsl
from clove.schema.openfga._json_model import parse_openfga_json
from clove.schema.openfga._modules import load_openfga_modules

__all__ = ["load_openfga_modules", "looks_like_openfga", "parse_openfga_dsl", "parse_openfga_json"]
