"""SpiceDB's v1 gRPC API (``authzed.api.v1``) over one Database, with the guard around it."""
