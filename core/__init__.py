"""Shared vocabulary of the platform: settings, Redis key names, stages, errors and records.

Everything here is imported by the controller, the builder and the worker alike, so it must
never import web code (FastAPI) or Docker code.
"""
