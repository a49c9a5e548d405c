"""Model.get_model_path, as scripts call it: where azureml-core looks offline,
$AML_APP_ROOT/azureml-models/<name>/<version>/<the model file or folder>, which the local
engine lays out from the spec's `models`. Used only when azureml-core is not installed;
the real one finds the same path."""

from __future__ import annotations

import os


class ModelNotFoundException(Exception):
    pass


class Model:
    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace: object = None) -> str:
        root = os.path.join(os.environ.get("AML_APP_ROOT", ""), "azureml-models")
        folder = os.path.join(root, model_name)
        if not os.path.isdir(folder):
            known = sorted(os.listdir(root)) if os.path.isdir(root) else []
            raise ModelNotFoundException(f"model '{model_name}' is not bound to this step "
                                         f"(the spec's models: {', '.join(known) or 'none'})")
        versions = [v for v in os.listdir(folder) if v.isdigit()]
        chosen = str(version) if version is not None else max(versions, key=int)
        entries = os.listdir(os.path.join(folder, chosen))
        if len(entries) != 1:
            raise ModelNotFoundException(f"{os.path.join(folder, chosen)} must hold exactly one file or folder")
        return os.path.join(folder, chosen, entries[0])
