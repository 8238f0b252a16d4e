"""docs/reliability.md: what the reliability tests record (``store``), how it is written
(``render``), and the pytest plugin that writes it from a complete run (``plugin``)."""
