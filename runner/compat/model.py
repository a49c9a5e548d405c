"""Model.get_model_path, as scripts call it on Azure ML compute: the model's folder under
AZUREML_MODEL_DIR (<name>/<version>), which the local engine lays out from the spec's
`models`."""

from __future__ import annotations

import os


class Model:
    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace: object = None) -> str:
        root = os.environ.get("AZUREML_MODEL_DIR")
        if not root or not os.path.isdir(os.path.join(root, model_name)):
            known = sorted(os.listdir(root)) if root and os.path.isdir(root) else []
            raise ModelNotFoundException(f"model '{model_name}' is not bound to this step"
                                         f" (the spec's models: {', '.join(known) or 'none'})")
        versions = sorted(os.listdir(os.path.join(root, model_name)), key=lambda v: int(v) if v.isdigit() else 0)
        chosen = str(version) if version is not None else versions[-1]
        path = os.path.join(root, model_name, chosen)
        entries = os.listdir(path) if os.path.isdir(path) and not os.path.islink(path) else []
        # A model registered from one file resolves to that file, as on Azure.
        return os.path.join(path, entries[0]) if len(entries) == 1 and os.path.islink(os.path.join(path, entries[0])) \
            else path


class ModelNotFoundException(Exception):
    pass
