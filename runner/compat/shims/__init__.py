"""Importable stand-ins for Azure packages; the worker appends this folder to sys.path
(after everything else), so an installed Azure package always wins."""
