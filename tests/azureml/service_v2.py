"""A small stateful fake of the Azure ML service as azure-ai-ml (SDK v2) calls it: the
workspace, compute, datastores (and their secrets), code, environment and component
versions, the pipeline job, run history for its stream, and the job's outputs. Answers
are shaped as the service's (the fields the SDK reads); the Wire records the requests."""

from __future__ import annotations

import re
import uuid
import time
from typing import Any

from azure.core.credentials import AccessToken

from tests.azurite import ACCOUNT, KEY
from tests.azureml.contract_v2 import component_problems, settings_problems
from tests.azureml.service_v1 import ARM, ServiceV1, LOCATION, RG, WS, WS_ID, compute, not_found, workspace
from tests.azureml.wire import SUBSCRIPTION, Reply, Request, Wire, jwt


class WireCredential:
    """A TokenCredential whose tokens carry the claims the SDK reads: aud (the scope),
    tid, oid and exp."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        audience = scopes[0].removesuffix("/.default") if scopes else ""
        return AccessToken(jwt(aud=audience), int(time.time()) + 3600)


def refused(problems: list[str]) -> Reply:
    """The service's answer to a body it does not accept."""
    return Reply(400, {"error": {"code": "UserError", "message": "; ".join(problems),
                                 "details": [], "innerError": {"code": "BadArgument"}}})


class ServiceV2:
    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        r = wire.route
        r("GET", f"^{ARM}$", self.workspace)
        r("GET", f"^{ARM}/computes/(?P<name>[^/]+)$", self.compute_get)
        r("PUT", f"^{ARM}/computes/(?P<name>[^/]+)$", self.compute_put)
        r("GET", r"/(compute|mfe)OperationsStatus/(?P<id>[^/]+)$", self.operation)
        r("POST", f"^{ARM}/jobs/(?P<name>[^/]+)/cancel$", self.job_cancel)
        r("PUT", f"^{ARM}/datastores/(?P<name>[^/]+)$", self.datastore_put)
        r("GET", f"^{ARM}/datastores/(?P<name>[^/]+)$", self.datastore_get)
        r("GET", f"^{ARM}/datastores$", self.datastore_list)
        r("POST", f"^{ARM}/datastores/(?P<name>[^/]+)/listSecrets$", self.datastore_secrets)
        assets = "(?P<kind>models|codes|environments|components|data)"
        r("GET", f"^{ARM}/{assets}/(?P<name>[^/]+)/versions$", self.versions_list)
        r("GET", f"^{ARM}/{assets}/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$", self.version_get)
        r("PUT", f"^{ARM}/{assets}/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$", self.version_put)
        r("POST", f"^{ARM}/{assets}/(?P<name>[^/]+)/versions/(?P<version>[^/]+)/startPendingUpload$",
          self.pending_upload)
        r("GET", f"^{ARM}/{assets}/(?P<name>[^/]+)$", self.container_get)
        r("PUT", f"^{ARM}/{assets}/(?P<name>[^/]+)$", self.container_put)
        r("GET", r"^/discovery$", ServiceV1.discovery)
        r("PUT", f"^{ARM}/jobs/(?P<name>[^/]+)$", self.job_put)
        r("GET", f"^/history/v1.0{ARM}/runs/(?P<name>[^/]+)/details$", self.run_details)
        r("POST", f"^/history/v1.0{ARM}/rundata$", self.run_data)
        r("POST", f"^/data/v1.0{ARM}/dataversion/batchGetResolvedUris$", self.resolved_uris)
        r("GET", f"^{ARM}/jobs/(?P<name>[^/]+)$", self.job_get)
        self.computes = {"cpu-cluster": compute("cpu-cluster")}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.job_bodies: list[dict[str, Any]] = []  # what the SDK sent, in order
        # How submitted jobs end (an unhappy path sets Failed or Canceled), after how many
        # reads of Running, and the rows their step's append_row file gets.
        self.final_status = "Completed"
        self.running_reads = 1
        self.rows = ["0.png: 7", "1.png: 2", "2.png: 1"]
        self.status_reads: dict[str, int] = {}
        self.canceled: list[str] = []  # the jobs a cancel request reached
        self.versions: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}  # (kind, name) -> version -> body
        self.containers: dict[tuple[str, str], dict[str, Any]] = {}
        self.upload_containers: list[str] = []  # the pending uploads' containers (code)
        self.datastores = {"workspaceblobstore": self.resource("datastores", "workspaceblobstore", {
            "datastoreType": "AzureBlob", "accountName": ACCOUNT, "containerName": "azureml-blobstore-ws",
            "endpoint": "core.windows.net", "protocol": "https", "isDefault": True,
            "credentials": {"credentialsType": "AccountKey"}})}
        wire.azurite.ensure("azureml-blobstore-ws")

    def workspace(self, request: Request, match: re.Match[str]) -> Reply:
        return Reply(body=workspace())

    def compute_get(self, request: Request, match: re.Match[str]) -> Reply:
        found = self.computes.get(match["name"])
        return Reply(body=found) if found else not_found(f"compute {match['name']}")

    def resource(self, kind: str, name: str, properties: dict[str, Any]) -> dict[str, Any]:
        return {"id": f"{ARM}/{kind}/{name}", "name": name,
                "type": f"Microsoft.MachineLearningServices/workspaces/{kind}",
                "properties": properties,
                "systemData": {"createdAt": "2026-01-01T00:00:00Z", "createdBy": "wire", "createdByType": "User"}}

    def datastore_put(self, request: Request, match: re.Match[str]) -> Reply:
        body = request.json()
        properties = {**body["properties"], "isDefault": False}
        properties["credentials"] = {k: v for k, v in properties["credentials"].items() if k != "secrets"}
        self.datastores[match["name"]] = self.resource("datastores", match["name"], properties)
        return Reply(200, self.datastores[match["name"]])

    def datastore_get(self, request: Request, match: re.Match[str]) -> Reply:
        found = self.datastores.get(match["name"])
        return Reply(body=found) if found else not_found(f"datastore {match['name']}")

    def datastore_list(self, request: Request, match: re.Match[str]) -> Reply:
        stores = list(self.datastores.values())
        if request.query.get("isDefault") == ["true"]:
            stores = [s for s in stores if s["properties"].get("isDefault")]
        return Reply(body={"value": stores})

    def datastore_secrets(self, request: Request, match: re.Match[str]) -> Reply:
        return Reply(body={"secretsType": "AccountKey", "key": KEY})

    def versions_list(self, request: Request, match: re.Match[str]) -> Reply:
        found = self.versions.get((match["kind"], match["name"]), {})
        return Reply(body={"value": list(reversed(found.values()))})

    def version_get(self, request: Request, match: re.Match[str]) -> Reply:
        found = self.versions.get((match["kind"], match["name"]), {}).get(match["version"])
        return Reply(body=found) if found else not_found(f"{match['kind']} {match['name']}:{match['version']}")

    def version_put(self, request: Request, match: re.Match[str]) -> Reply:
        kind, name, version = match["kind"], match["name"], match["version"]
        spec = request.json()["properties"].get("componentSpec") if kind == "components" else None
        if spec is not None and spec.get("type") == "parallel" and component_problems(spec):
            return refused(component_problems(spec))
        defaults: dict[str, Any] = {"tags": {}, "properties": {}, "isAnonymous": False, "isArchived": False}
        if kind == "models":
            defaults["flavors"] = {}
        body = self.resource(f"{kind}/{name}/versions", version, {**defaults, **request.json()["properties"]})
        self.versions.setdefault((kind, name), {})[version] = body
        return Reply(200, body)

    def container_get(self, request: Request, match: re.Match[str]) -> Reply:
        found = self.containers.get((match["kind"], match["name"]))
        if found is None:
            versions = self.versions.get((match["kind"], match["name"]))
            if not versions:
                return not_found(f"{match['kind']} {match['name']}")
            latest = list(versions)[-1]
            following = str(int(latest) + 1) if latest.isdigit() else None
            found = self.resource(match["kind"], match["name"], {"latestVersion": latest, "nextVersion": following})
        return Reply(body=found)

    def container_put(self, request: Request, match: re.Match[str]) -> Reply:
        body = self.resource(match["kind"], match["name"], request.json().get("properties", {}))
        self.containers[(match["kind"], match["name"])] = body
        return Reply(200, body)

    def pending_upload(self, request: Request, match: re.Match[str]) -> Reply:
        """Where to upload an asset's files: a container of their own (named by the upload's
        id, as the service does) with a SAS for it."""
        upload_id = (request.json() or {}).get("pendingUploadId") or uuid.uuid4().hex
        container = upload_id.replace("-", "")[:63]
        self.wire.azurite.ensure(container)
        self.upload_containers.append(container)
        url = f"https://{ACCOUNT}.blob.core.windows.net/{container}"
        return Reply(body={"blobReferenceForConsumption": {
            "blobUri": url, "storageAccountArmId": None,
            "credential": {"credentialType": "SAS", "sasUri": f"{url}?{self.wire.azurite.container_sas(container)}"}},
            "pendingUploadId": upload_id, "pendingUploadType": "TemporaryBlobReference"})

    def job_put(self, request: Request, match: re.Match[str]) -> Reply:
        body = request.json()
        problems = [f"jobs.{name}.{p}" for name, node in body["properties"].get("jobs", {}).items()
                    if node.get("type") == "parallel" for p in settings_problems(node)]
        if problems:
            return refused(problems)
        self.job_bodies.append(body)
        properties = {**body["properties"], "status": "NotStarted",
                      "services": {"Studio": {"endpoint": f"https://ml.azure.com/runs/{match['name']}?wsid={ARM}",
                                              "jobServiceType": "Studio"}}}
        self.jobs[match["name"]] = self.resource("jobs", match["name"], properties)
        return Reply(201, self.jobs[match["name"]])

    def job_status(self, name: str) -> str:
        """A job is Running for `running_reads` reads of its status, then ends; a job that
        completes has written its outputs (to Azurite)."""
        if name in self.canceled:
            return "Canceled"
        reads = self.status_reads[name] = self.status_reads.get(name, 0) + 1
        if reads <= self.running_reads:
            return "Running"
        if reads == self.running_reads + 1 and self.final_status == "Completed":
            for path in self.output_paths(name).values():
                self.wire.azurite.put("azureml-blobstore-ws", path, "".join(f"{r}\n" for r in self.rows).encode())
        return self.final_status

    def output_paths(self, name: str) -> dict[str, str]:
        """Where each pipeline output's append_row file lands in the default datastore:
        a uri_file output's own path, or parallel_run_step.txt (Azure's default name) in a
        uri_folder output."""
        found = {}
        for output, spec in self.jobs[name]["properties"].get("outputs", {}).items():
            uri = spec.get("uri") or f"azureml://datastores/${{{{default_datastore}}}}/paths/azureml/{name}/{output}/"
            path = uri.split("/paths/", 1)[1].replace("${{name}}", name)
            in_folder = f"{path.rstrip('/')}/parallel_run_step.txt"
            found[output] = path if spec.get("jobOutputType") == "uri_file" else in_folder
        return found

    def run_data(self, request: Request, match: re.Match[str]) -> Reply:
        name = request.json()["runId"]
        if name not in self.jobs:
            return not_found(f"run {name}")
        outputs = {output: {"assetId": f"azureml://locations/{LOCATION}/workspaces/{WS_ID}/data/"
                                       f"azureml_{name}_output_data_{output}/versions/1",
                            "type": spec.get("jobOutputType", "uri_folder")}
                   for output, spec in self.jobs[name]["properties"].get("outputs", {}).items()}
        return Reply(body={"runMetadata": {"runId": name, "runUuid": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                                           "status": self.jobs[name]["properties"]["status"], "outputs": outputs}})

    def resolved_uris(self, request: Request, match: re.Match[str]) -> Reply:
        """An output's asset id -> its path in the datastore (what jobs.download reads)."""
        found = {}
        for asset_id in request.json()["values"]:
            found_ids = re.search(r"/data/azureml_(.+)_output_data_(.+)/versions/", asset_id)
            assert found_ids is not None, asset_id
            name, output = found_ids.groups()
            path = self.output_paths(name)[output]
            kind = self.jobs[name]["properties"]["outputs"][output].get("jobOutputType", "uri_folder")
            if kind != "uri_file":
                path = path.rsplit("/", 1)[0] + "/"
            found[asset_id] = {"uri": f"azureml://subscriptions/{SUBSCRIPTION}/resourcegroups/{RG}/workspaces/{WS}/"
                                      f"datastores/workspaceblobstore/paths/{path}", "type": kind}
        return Reply(body={"values": found})

    def job_get(self, request: Request, match: re.Match[str]) -> Reply:
        job = self.jobs.get(match["name"])
        if job is None:
            return not_found(f"job {match['name']}")
        job["properties"]["status"] = self.job_status(match["name"])
        return Reply(body=job)

    def run_details(self, request: Request, match: re.Match[str]) -> Reply:
        """What jobs.stream polls: the job's run in run history."""
        job = self.jobs.get(match["name"])
        if job is None:
            return not_found(f"run {match['name']}")
        status = self.job_status(match["name"])
        job["properties"]["status"] = status
        error = None
        if status == "Failed":
            error = {"error": {"code": "UserError", "message": "parallel step: error_threshold exceeded"}}
        return Reply(body={"runId": match["name"], "runUuid": str(uuid.uuid5(uuid.NAMESPACE_URL, match["name"])),
                           "status": status, "target": "cpu-cluster", "startTimeUtc": "2026-01-01T00:00:01Z",
                           "endTimeUtc": None if status == "Running" else "2026-01-01T00:10:00Z",
                           "properties": {}, "inputDatasets": [], "outputDatasets": [], "logFiles": {},
                           "error": error, "warnings": None, "tags": {}, "runDefinition": {}})

    def compute_put(self, request: Request, match: re.Match[str]) -> Reply:
        """A long-running creation: 201 and where to poll (Retry-After 0: poll at once)."""
        body = request.json()
        found = compute(match["name"])
        found["properties"] = {**found["properties"], **body["properties"]}
        self.computes[match["name"]] = found
        status = (f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/providers/"
                  f"Microsoft.MachineLearningServices/locations/{LOCATION}/computeOperationsStatus/{uuid.uuid4()}")
        return Reply(201, found, {"Azure-AsyncOperation": status, "Retry-After": "0"})

    def operation(self, request: Request, match: re.Match[str]) -> Reply:
        return Reply(body={"status": "Succeeded", "name": match["id"]})

    def job_cancel(self, request: Request, match: re.Match[str]) -> Reply:
        """A long-running cancel: 202 and where to poll (Retry-After 0: poll at once)."""
        if match["name"] not in self.jobs:
            return not_found(f"job {match['name']}")
        self.canceled.append(match["name"])
        status = (f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/providers/"
                  f"Microsoft.MachineLearningServices/locations/{LOCATION}/mfeOperationsStatus/{uuid.uuid4()}")
        return Reply(202, None, {"Azure-AsyncOperation": status, "Location": status, "Retry-After": "0"})
