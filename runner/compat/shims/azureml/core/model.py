from runner.compat.model import Model, ModelNotFoundException

__all__ = ["Model", "ModelNotFoundException"]
