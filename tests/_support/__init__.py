"""Helpers shared by the test suites: a scripted driver and a fake clock for the sans-IO core
(``scripted``), and builders of the replies it answers with (``replies``)."""
