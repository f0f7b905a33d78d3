"""``clove serve``: SpiceDB's v1 gRPC API and the AuthZEN HTTP API over one embedded Database."""
