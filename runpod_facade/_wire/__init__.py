"""The bridge to the generated client: ``requests`` (one table-driven builder for every
operation of the spec), ``replies`` (a parser per reply schema that has a façade type of its
own, and the one generic parser of every other reply schema, from the spec's table of its
fields, into a ``Reply``), ``bodies`` (a body decoded as one JSON object) and ``errors`` (the
typed exception for an error reply)."""
