from runner.compat.model import Model

__all__ = ["Model"]
