"""The bridge to the generated client: ``requests`` (one table-driven builder for every
operation of the spec), ``replies`` (one parser per reply schema) and ``errors`` (the typed
exception for an error reply)."""
