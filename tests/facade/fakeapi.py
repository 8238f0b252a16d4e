"""Kept only for tests/facade/test_run_many.py, which the batches branch still edits: the fake
API lives in tests/_support/fakeapi.py (import it from there)."""

from tests._support.fakeapi import API_KEY, FAST_POLL, FAST_RETRY, FakeApi, chunks, job, op_of

__all__ = ["API_KEY", "FAST_POLL", "FAST_RETRY", "FakeApi", "chunks", "job", "op_of"]
