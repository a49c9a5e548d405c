"""A small stateful fake of the Azure ML service as SDK v1 (azureml-core, azureml-pipeline)
calls it: ARM for the workspace, the workspace's discovery, datastores, datasets, models,
snapshots, modules, pipeline runs and run history. Each answer is shaped as the service's
(only the fields the SDK reads); what the SDK sends is recorded by the Wire."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

from azureml.core.authentication import ArmTokenAuthentication

from tests.azurite import ACCOUNT, KEY
from tests.azureml.wire import SUBSCRIPTION, TENANT, Reply, Request, Wire, jwt

RG = "rg"
WS = "ws"
LOCATION = "westeurope"
WS_ID = "33333333-3333-3333-3333-333333333333"
ARM = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}"


def not_found(what: str) -> Reply:
    return Reply(404, {"error": {"code": "UserError", "message": f"{what} not found",
                                 "details": [], "innerError": {"code": "NotFoundError"}}})


def workspace() -> dict[str, Any]:
    """The workspace as ARM gives it (both SDKs read it first)."""
    sub = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers"
    return {
        "id": ARM, "name": WS, "type": "Microsoft.MachineLearningServices/workspaces", "location": LOCATION,
        "identity": {"type": "SystemAssigned"}, "sku": {"name": "Basic", "tier": "Basic"}, "tags": {},
        "properties": {
            "workspaceId": WS_ID, "friendlyName": WS, "provisioningState": "Succeeded",
            "discoveryUrl": f"https://{LOCATION}.api.azureml.ms/discovery",
            "storageAccount": f"{sub}/Microsoft.Storage/storageAccounts/{ACCOUNT}",
            "keyVault": f"{sub}/Microsoft.KeyVault/vaults/wskeyvault",
            "applicationInsights": f"{sub}/Microsoft.insights/components/wsinsights",
            "containerRegistry": f"{sub}/Microsoft.ContainerRegistry/registries/wsregistry",
            "hbiWorkspace": False, "v1LegacyMode": False, "publicNetworkAccess": "Enabled"}}


class WireAuth(ArmTokenAuthentication):
    """azureml-core's ARM-token authentication with tokens shaped as Azure AD's: the
    subscriptions it may use come from ARM (over the wire) as with a real token."""

    def __init__(self) -> None:
        super().__init__(jwt(aud="https://management.core.windows.net/"), cloud="AzureCloud")

    def _get_graph_token(self) -> str:
        return jwt(aud="https://graph.windows.net/")

    def _get_azureml_client_token(self) -> str:
        return jwt(aud="https://ml.azure.com")


def compute(name: str, max_nodes: int = 4) -> dict[str, Any]:
    """An AmlCompute cluster as the workspace lists it."""
    return {"id": f"{ARM}/computes/{name}", "name": name, "location": LOCATION, "tags": None,
            "properties": {"computeType": "AmlCompute", "computeLocation": LOCATION, "description": None,
                           "resourceId": None, "provisioningState": "Succeeded", "provisioningErrors": None,
                           "isAttachedCompute": False, "createdOn": "2026-01-01T00:00:00Z",
                           "modifiedOn": "2026-01-01T00:00:00Z",
                           "properties": {"vmSize": "STANDARD_D2_V2", "vmPriority": "Dedicated", "subnet": None,
                                          "scaleSettings": {"minNodeCount": 0, "maxNodeCount": max_nodes,
                                                            "nodeIdleTimeBeforeScaleDown": "PT1800S"}}}}


def blobstore(name: str, account: str, container: str, key: str | None) -> dict[str, Any]:
    """A blob container datastore as the datastore service gives it (the key included:
    the SDK signs its blob requests with it)."""
    credential = {"credentialType": "AccountKey", "accountKey": key} if key else {"credentialType": "None"}
    return {"name": name, "dataStoreType": "AzureBlob", "hasBeenValidated": True, "tags": {},
            "azureStorageSection": {"accountName": account, "containerName": container,
                                    "endpoint": "core.windows.net", "protocol": "https", "credential": key,
                                    "credentialType": "AccountKey" if key else "None", "sasToken": None,
                                    "accountKey": key, "blobCacheTimeout": 0, "isSas": False,
                                    "clientCredentials": None, "subscriptionId": None,
                                    "resourceGroup": None, "serviceDataAccessAuthIdentity": "None"},
            "_credential": credential}


class ServiceV1:
    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.compute_targets = {"cpu-cluster": compute("cpu-cluster")}
        self.datastores = {"workspaceblobstore": blobstore("workspaceblobstore", ACCOUNT, "azureml-blobstore-ws",
                                                           KEY)}
        self.default_datastore = "workspaceblobstore"
        self.assets: dict[str, Any] = {}
        self.data_types: dict[str, dict[str, Any]] = {}
        self.saved_datasets: dict[str, dict[str, Any]] = {}
        self.modules: dict[str, dict[str, Any]] = {}
        self.snapshots: dict[str, dict[str, Any]] = {}
        self.pipeline_runs: dict[str, dict[str, Any]] = {}
        self.graphs: dict[str, dict[str, Any]] = {}  # pipeline run id -> what the SDK sent
        # How submitted runs end (an unhappy path sets Failed or Canceled), after how many
        # status reads of Running, and the rows their step's append_row file gets.
        self.final_status = "Finished"
        self.running_reads = 1
        self.rows = ["0.png: 7", "1.png: 2", "2.png: 1"]
        self.status_reads: dict[str, int] = {}
        self.canceled: list[str] = []  # the runs a cancel request reached
        self.step_runs: dict[str, dict[str, Any]] = {}  # step run id -> parent, node, name, module
        self.artifacts: dict[str, str] = {}  # origin/container/path -> its blob in the azureml container
        self.models: dict[str, list[dict[str, Any]]] = {}
        wire.azurite.ensure("azureml-blobstore-ws")
        wire.azurite.ensure("azureml")  # where the artifact service keeps what it is given
        wire.azurite.ensure("snapshots")
        r = wire.route
        r("GET", r"^/subscriptions$", self.subscriptions)
        r("GET", f"^{ARM}$", self.workspace)
        r("GET", r"^/discovery$", self.discovery)
        r("GET", f"^/rp/workspaces{ARM}/computes$", self.computes)
        r("POST", f"^/datastore/v1.0{ARM}/datastores$", self.datastore_create)
        r("GET", f"^/datastore/v1.0{ARM}/datastores/(?P<name>[^/]+)$", self.datastore_get)
        r("GET", f"^/datastore/v1.0{ARM}/(?P<name>default)$", self.datastore_get)
        mms = f"^/modelmanagement/v1.0{ARM}"
        r("POST", f"{mms}/assets$", self.asset_create)
        r("POST", f"{mms}/models$", self.model_create)
        pipelines = f"^/pipelines/v1.0{ARM}"
        r("GET", f"{pipelines}/DataTypes$", self.data_types_list)
        r("POST", f"{pipelines}/DataTypes$", self.data_type_create)
        r("GET", f"{pipelines}/Modules/Hash/(?P<hash>[^/]+)$", self.module_by_hash)
        r("POST", f"{pipelines}/Modules$", self.module_create)
        r("GET", f"{pipelines}/Modules/(?P<id>[^/]+)$", self.module_get)
        r("POST", f"{pipelines}/PipelineRuns/Unsubmitted/CreationInfoWithGraph$", self.pipeline_run_create)
        r("POST", f"{pipelines}/PipelineRuns/Submit/(?P<id>[^/]+)$", self.pipeline_run_submit)
        r("GET", f"{pipelines}/PipelineRuns/(?P<id>[^/]+)$", self.pipeline_run_get)
        r("POST", f"{pipelines}/PipelineRuns/(?P<id>[^/]+)/Outputs$", self.node_outputs)
        r("DELETE", f"{pipelines}/PipelineRuns/(?P<id>[^/]+)/Execution$", self.pipeline_run_cancel)
        r("POST", f"^/dataset/v1.0{ARM}/saveddatasets$", self.saved_dataset)
        r("GET", f"^/data/v1.0{ARM}/dataversion/unregistered-(?P<id>[^/]+)/versions/1$", self.saved_dataflow)
        history = f"^/history/v1.0{ARM}"
        r("GET", f"{history}/experiments/(?P<name>[^/]+)$", self.experiment)
        r("GET", f"{history}/experiments/(?P<name>[^/]+)/runs/(?P<id>[^/]+)$", self.history_run)
        r("GET", f"{history}/experimentids/(?P<experiment>[^/]+)/runs/(?P<id>[^/]+)$", self.history_run)
        r("GET", f"{history}/experiments/(?P<name>[^/]+)/runs/(?P<id>[^/]+)/details$", self.history_details)
        r("GET", f"{history}/experiments/(?P<name>[^/]+)/runs/(?P<id>[^/]+)/children$", self.history_children)
        r("GET", f"^/content/v1.0{ARM}/snapshots/latest/metadata$", self.snapshot_latest)
        r("POST", f"^/content/v2.0{ARM}/snapshots/getblob$", self.snapshot_blobs)
        r("POST", f"^/content/v2.0{ARM}/snapshots/(?P<id>[0-9a-f-]+)$", self.snapshot_create)
        artifacts = f"^/artifact/v2.0{ARM}/artifacts"
        r("POST", f"{artifacts}/batch/metadata/(?P<origin>[^/]+)/(?P<container>[^/]+)$", self.artifacts_create)
        r("GET", f"{artifacts}/prefix/contentinfo/(?P<origin>[^/]+)/(?P<container>[^/]+)/(?P<prefix>.*)$",
          self.artifacts_by_prefix)

    def subscriptions(self, request: Request, match: re.Match[str]) -> Reply:
        return Reply(body={"value": [{"id": f"/subscriptions/{SUBSCRIPTION}", "subscriptionId": SUBSCRIPTION,
                                      "displayName": "wire", "state": "Enabled", "tenantId": TENANT}]})

    def workspace(self, request: Request, match: re.Match[str]) -> Reply:
        return Reply(body=workspace())

    @staticmethod
    def discovery(request: Request, match: re.Match[str]) -> Reply:
        api = f"https://{LOCATION}.api.azureml.ms"
        return Reply(body={name: api for name in ("api", "catalog", "experimentation", "history", "hyperdrive",
                                                     "labeling", "modelmanagement", "pipelines")}
                     | {"studio": "https://ml.azure.com"})

    def computes(self, request: Request, match: re.Match[str]) -> Reply:
        return Reply(body={"value": list(self.compute_targets.values())})

    def datastore_create(self, request: Request, match: re.Match[str]) -> Reply:
        body = request.json()
        self.datastores[body["name"]] = body
        return Reply(body=body)

    def datastore_get(self, request: Request, match: re.Match[str]) -> Reply:
        name = self.default_datastore if match["name"] == "default" else match["name"]
        if name not in self.datastores:
            return not_found(f"datastore {name}")
        return Reply(body=self.datastores[name])

    def artifacts_create(self, request: Request, match: re.Match[str]) -> Reply:
        origin, container = match["origin"], match["container"]
        artifacts, content = {}, {}
        for item in request.json()["paths"]:
            path = item["path"]
            blob = f"{origin}/{container}/{path}"
            artifacts[path] = {"artifactId": f"{origin}/{container}/{path}", "origin": origin,
                               "container": container, "path": path, "etag": "0x1",
                               "createdTime": "2026-01-01T00:00:00Z"}
            self.artifacts[blob] = blob
            content[path] = {"contentUri": self.wire.azurite.sas_url("azureml", blob, write=True),
                             "origin": origin, "container": container, "path": path}
        return Reply(body={"artifacts": artifacts, "artifactContentInformation": content, "errors": {}})

    def asset_create(self, request: Request, match: re.Match[str]) -> Reply:
        asset = {**request.json(), "id": f"asset{len(self.assets) + 1}", "createdTime": "2026-01-01T00:00:00Z"}
        self.assets[asset["id"]] = asset
        return Reply(200, asset)

    def model_create(self, request: Request, match: re.Match[str]) -> Reply:
        body = request.json()
        versions = self.models.setdefault(body["name"], [])
        model = {"createdBy": {"userName": "wire"}, "description": None, "mimeType": "application/json",
                 "framework": "Custom", "frameworkVersion": None, "tags": {}, "properties": {}, "unpack": False,
                 "experimentName": None, "runId": None, "datasets": [], "resourceRequirements": None,
                 **body, "id": f"{body['name']}:{len(versions) + 1}", "version": len(versions) + 1,
                 "createdTime": "2026-01-01T00:00:00Z"}
        versions.append(model)
        return Reply(200, model)

    def data_types_list(self, request: Request, match: re.Match[str]) -> Reply:
        return Reply(body=list(self.data_types.values()))

    def data_type_create(self, request: Request, match: re.Match[str]) -> Reply:
        body = request.json()
        entity = {**body, "Etag": "1", "EntityStatus": "Active", "CreatedDate": "2026-01-01T00:00:00Z"}
        self.data_types[body["Id"]] = entity
        return Reply(body=entity)

    def saved_dataset(self, request: Request, match: re.Match[str]) -> Reply:
        """Saved (unregistered) datasets are keyed by their definition: same one, same id."""
        body = request.json()
        saved_id = "5a7ed000-0000-0000-0000-" + hashlib.sha256(body["dataflowJson"].encode()).hexdigest()[:12]
        saved = {**body, "id": saved_id, "dataChanged": False}
        self.saved_datasets[saved_id] = saved
        return Reply(body=saved)

    def saved_dataflow(self, request: Request, match: re.Match[str]) -> Reply:
        """The definition a saved dataset was given, as the data service returns it (the
        SDK reads it back as the dataset's definition)."""
        saved = self.saved_datasets.get(match["id"])
        if saved is None:
            return not_found(f"dataset unregistered-{match['id']}")
        return Reply(body={"legacyDatasetType": saved["datasetType"], "legacyDataflow": saved["dataflowJson"],
                           "dataVersion": {"versionId": "1", "dataType": "uri_folder"}})

    def experiment(self, request: Request, match: re.Match[str]) -> Reply:
        name = match["name"]
        return Reply(body={"experimentId": f"e0000000-0000-0000-0000-{len(name):012d}", "name": name,
                           "description": None, "createdUtc": "2026-01-01T00:00:00Z", "tags": {},
                           "archivedTime": None, "latestCreatedRunCreatedUtc": None})

    def module_by_hash(self, request: Request, match: re.Match[str]) -> Reply:
        """A module with the same identifier hash is reused (the step's allow_reuse)."""
        for module in self.modules.values():
            if module["Data"]["IdentifierHash"] == match["hash"]:
                return Reply(body=module)
        return not_found(f"module with hash {match['hash']}")

    def module_create(self, request: Request, match: re.Match[str]) -> Reply:
        """A ModuleEntity; its interface (parameters, ports) is derived from the structured
        interface the SDK sent, as the service does."""
        body = request.json()
        module_id = f"d0000000-0000-0000-0000-{len(self.modules) + 1:012d}"
        data = {**body, "Id": module_id, "CloudSettings": None, "EntityStatus": "Active", "Etag": "1",
                "UploadState": "Completed", "CreatedDate": "2026-01-01T00:00:00Z"}
        si = body["StructuredInterface"]

        def params(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
            return [{"Name": p["Name"], "DefaultValue": p.get("DefaultValue"), "IsOptional": p.get("IsOptional"),
                     "Type": p.get("ParameterType")} for p in items or []]

        ports = {"Inputs": [{"Name": i["Name"], "DataTypesIds": i.get("DataTypeIdsList"),
                             "IsOptional": i.get("IsOptional")} for i in si.get("Inputs") or []],
                 "Outputs": [{"Name": o["Name"], "DataTypeId": o.get("DataTypeId")} for o in si.get("Outputs") or []]}
        interface = {"Parameters": params(si.get("Parameters")),
                     "MetadataParameters": params(si.get("MetadataParameters")), "Ports": ports}
        self.modules[module_id] = {"Data": data, "Interface": interface}
        return Reply(body=data)

    def module_get(self, request: Request, match: re.Match[str]) -> Reply:
        module = self.modules.get(match["id"])
        return Reply(body=module) if module else not_found(f"module {match['id']}")

    def snapshot_latest(self, request: Request, match: re.Match[str]) -> Reply:
        """No snapshot to diff against: the SDK uploads every file (it keeps the latest in
        a cache under $HOME/.azureml afterwards, which the tests point at a tmp folder)."""
        return Reply(body={"id": None, "root": {}})

    def snapshot_blobs(self, request: Request, match: re.Match[str]) -> Reply:
        names = request.json()["FileNames"]
        batch = uuid.uuid4()
        return Reply(body={"fileNodes": [{"fullName": name, "blobUri": self.wire.azurite.sas_url(
            "snapshots", f"{batch}/{name}", write=True)} for name in names]})

    def snapshot_create(self, request: Request, match: re.Match[str]) -> Reply:
        self.snapshots[match["id"]] = request.json()
        return Reply(body={"id": match["id"]})

    def pipeline_run_create(self, request: Request, match: re.Match[str]) -> Reply:
        body = request.json()
        run_id = str(uuid.uuid4())  # unique across the tests' one Azurite (outputs are kept by run)
        info = body["CreationInfo"]
        self.graphs[run_id] = body
        for node in body["Graph"]["ModuleNodes"]:
            step_id = str(uuid.uuid4())
            self.step_runs[step_id] = {"parent": run_id, "node": node["Id"],
                                       "name": self.modules[node["ModuleId"]]["Data"]["Name"],
                                       "module": node["ModuleId"]}
        self.pipeline_runs[run_id] = {
            "Id": run_id, "GraphId": f"graph-{run_id}", "IsSubmitted": False, "HasErrors": False,
            "HasWarnings": False, "UploadState": "Completed", "Description": info.get("Description"),
            "ParameterAssignments": info.get("ParameterAssignments"),
            "DataSetDefinitionValueAssignments": info.get("DataSetDefinitionValueAssignments"),
            "RunHistoryExperimentName": request.query["experimentName"][0], "RunSource": info.get("RunSource"),
            "RunType": info.get("RunType"), "TotalRunSteps": len(body["Graph"]["ModuleNodes"]), "tags": {},
            "Properties": info.get("Properties") or {}, "EntityStatus": "Active", "Etag": "1",
            "Status": {"StatusCode": "NotStarted", "CreationTime": "2026-01-01T00:00:00Z"},
            "CreatedDate": "2026-01-01T00:00:00Z"}
        return Reply(body=self.pipeline_runs[run_id])

    def pipeline_run_submit(self, request: Request, match: re.Match[str]) -> Reply:
        run = self.pipeline_runs.get(match["id"])
        if run is None:
            return not_found(f"pipeline run {match['id']}")
        run["IsSubmitted"] = True
        run["Status"]["StatusCode"] = "Running"
        return Reply(body=run)

    def status(self, run_id: str) -> str:
        """A submitted run is Running for `running_reads` reads of its status, then ends;
        a run that finishes has written its steps' append_row files (to Azurite)."""
        run = self.pipeline_runs[run_id]
        if not run["IsSubmitted"]:
            return "NotStarted"
        if run_id in self.canceled:
            return "Canceled"
        reads = self.status_reads[run_id] = self.status_reads.get(run_id, 0) + 1
        if reads <= self.running_reads:
            return "Running"
        if reads == self.running_reads + 1 and self.final_status == "Finished":
            for step_id in [s for s, step in self.step_runs.items() if step["parent"] == run_id]:
                for output, (container, path) in self.outputs(step_id).items():
                    self.wire.azurite.put(container, f"{path}/{self.append_row_file(step_id)}",
                                          "".join(f"{row}\n" for row in self.rows).encode())
        return self.final_status

    def outputs(self, step_id: str) -> dict[str, tuple[str, str]]:
        """Where a step's PipelineData outputs live: azureml/<step run id>/<output> in the
        output's datastore, as Azure ML places them."""
        module = self.modules[self.step_runs[step_id]["module"]]["Data"]
        found = {}
        for output in module["StructuredInterface"]["Outputs"]:
            if output.get("DataStoreName"):
                store = self.datastores[output["DataStoreName"]]["azureStorageSection"]["containerName"]
                found[output["Name"]] = (store, f"azureml/{step_id}/{output['Name']}")
        return found

    def append_row_file(self, step_id: str) -> str:
        module = self.modules[self.step_runs[step_id]["module"]]["Data"]
        values = [a["Value"] for a in module["StructuredInterface"]["Arguments"]]
        return values[values.index("--append_row_file_name") + 1]

    def node_outputs(self, request: Request, match: re.Match[str]) -> Reply:
        [node_id] = request.json()
        [step_id] = [s for s, step in self.step_runs.items()
                     if step["parent"] == match["id"] and step["node"] == node_id]
        module = self.modules[self.step_runs[step_id]["module"]]["Data"]
        found = {}
        for output in module["StructuredInterface"]["Outputs"]:
            location = None
            if output["Name"] in self.outputs(step_id):
                container, path = self.outputs(step_id)[output["Name"]]
                location = {"StorageType": "AzureBlob", "DataReference": {"Type": "AzureBlob", "AzureBlobReference": {
                    "Container": container, "Account": ACCOUNT, "RelativePath": path,
                    "AmlDataStoreName": output["DataStoreName"]}}}
            found[output["Name"]] = {"DataTypeId": output["DataTypeId"], "DataLocation": location}
        return Reply(body=found)

    def pipeline_run_get(self, request: Request, match: re.Match[str]) -> Reply:
        run = self.pipeline_runs.get(match["id"])
        if run is None:
            return not_found(f"pipeline run {match['id']}")
        run["Status"]["StatusCode"] = self.status(match["id"])
        return Reply(body=run)

    def history_run(self, request: Request, match: re.Match[str]) -> Reply:
        """A run by experiment name, or by experiment id (how a run is found again by its id)."""
        run_id = match["id"]
        parent = self.step_runs[run_id]["parent"] if run_id in self.step_runs else run_id
        if parent not in self.pipeline_runs:
            return not_found(f"run {run_id}")
        experiment = match.groupdict().get("name") or self.pipeline_runs[parent]["RunHistoryExperimentName"]
        if run_id in self.step_runs:
            return Reply(body=self.step_run_dto(run_id, experiment))
        run = self.pipeline_runs[run_id]
        return Reply(body=self.run_dto(run_id, experiment, run["Status"]["StatusCode"], "azureml.PipelineRun",
                                       {"azureml.runsource": "azureml.PipelineRun", "runSource": "SDK",
                                        "runType": "SDK", "azureml.parameters": "{}"}))

    def run_dto(self, run_id: str, experiment: str, status: str, run_type: str, properties: dict[str, str],
                parent: str | None = None, name: str | None = None) -> dict[str, Any]:
        return {"runId": run_id, "runUuid": run_id, "rootRunId": parent or run_id, "parentRunId": parent,
                "experimentId": f"e0000000-0000-0000-0000-{len(experiment):012d}", "runNumber": 1,
                "status": status, "runType": run_type, "target": "cpu-cluster" if parent else None,
                "createdUtc": "2026-01-01T00:00:00Z", "startTimeUtc": "2026-01-01T00:00:01Z", "name": name,
                "displayName": name, "description": None, "hidden": False, "dataContainerId": f"dcid.{run_id}",
                "properties": properties, "tags": {}, "runDefinition": None, "error": None, "warnings": None}

    def step_run_dto(self, step_id: str, experiment: str) -> dict[str, Any]:
        step = self.step_runs[step_id]
        status = self.pipeline_runs[step["parent"]]["Status"]["StatusCode"]
        ids = {"azureml.nodeid": step["node"], "azureml.pipeline": step["parent"]}  # the SDK reads the tags
        dto = self.run_dto(step_id, experiment, status, "azureml.StepRun",
                           {"azureml.runsource": "azureml.StepRun", "azureml.moduleid": step["module"],
                            "StepType": "ParallelRunStep", **ids}, parent=step["parent"], name=step["name"])
        dto["tags"] = ids
        return dto

    def history_children(self, request: Request, match: re.Match[str]) -> Reply:
        children = [self.step_run_dto(step_id, match["name"]) for step_id, step in self.step_runs.items()
                    if step["parent"] == match["id"]]
        return Reply(body={"value": children, "continuationToken": None, "nextLink": None})

    def history_details(self, request: Request, match: re.Match[str]) -> Reply:
        run = self.pipeline_runs.get(match["id"])
        if run is None:
            return not_found(f"run {match['id']}")
        status = run["Status"]["StatusCode"]
        error = None
        if status == "Failed":
            error = {"error": {"code": "UserError", "message": "step predict-digits-mnist: error_threshold exceeded"}}
        return Reply(body={"runId": match["id"], "runUuid": match["id"], "status": status, "target": None,
                           "startTimeUtc": "2026-01-01T00:00:01Z", "endTimeUtc": "2026-01-01T00:10:00Z",
                           "properties": {}, "inputDatasets": [], "outputDatasets": [], "runDefinition": {},
                           "logFiles": {}, "error": error, "warnings": None, "tags": {}})

    def artifacts_by_prefix(self, request: Request, match: re.Match[str]) -> Reply:
        """A run's files under a prefix (its logs), each with a read SAS."""
        start = f"{match['origin']}/{match['container']}/{match['prefix']}"
        found = [{"contentUri": self.wire.azurite.sas_url("azureml", blob, write=False), "origin": match["origin"],
                  "container": match["container"], "path": key.split("/", 2)[2]}
                 for key, blob in sorted(self.artifacts.items()) if key.startswith(start)]
        return Reply(body={"value": found, "continuationToken": None, "nextLink": None})

    def pipeline_run_cancel(self, request: Request, match: re.Match[str]) -> Reply:
        if match["id"] not in self.pipeline_runs:
            return not_found(f"pipeline run {match['id']}")
        self.canceled.append(match["id"])
        return Reply(200)
