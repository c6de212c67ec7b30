"""The Helm chart, rendered offline (helm-python-sdk's bundled Helm) and schema-validated.

Every rendered manifest is checked with kubernetes-validate against one fixed Kubernetes
version, strictly (an unknown field is an error), for the default values and for the
production-like values in deploy/helm/portal/ci/production-values.yaml.
"""

from __future__ import annotations

import re
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "portal"
PRODUCTION = CHART / "ci" / "production-values.yaml"
KUBERNETES_VERSION = "1.33.0"
NAMESPACE = "portal"


def render(values: dict | None = None) -> tuple[list[dict], str]:
    """The rendered manifests (as objects) and NOTES.txt."""
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values or {}, name="portal", namespace=NAMESPACE)
    manifests, notes = [], ""
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        manifests += [doc for doc in yaml.safe_load_all(text) if doc]
    return manifests, notes


def production_values() -> dict:
    return yaml.safe_load(PRODUCTION.read_text())


def by_kind(manifests: list[dict], kind: str) -> list[dict]:
    return [m for m in manifests if m["kind"] == kind]


def deployment(manifests: list[dict], component: str) -> dict:
    (found,) = [
        m
        for m in by_kind(manifests, "Deployment")
        if m["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    return found


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container["env"]}


@pytest.mark.parametrize("values", ["default", "production"])
def test_every_rendered_manifest_is_valid_for_kubernetes(values):
    manifests, _ = render(production_values() if values == "production" else {})
    assert manifests
    for manifest in manifests:
        # Raises ValidationError (naming the field) on anything the schema refuses.
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("values", ["default", "production"])
def test_helm_lint_finds_nothing_above_information(values):
    report = helm.lint(
        CHART,
        production_values() if values == "production" else {},
        strict=True,
        kube_version=KUBERNETES_VERSION,
    )
    assert report["errors"] == []
    # Severity 1 is information ("icon is recommended"); 2 a warning, 3+ an error.
    assert [m for m in report["messages"] if m["severity"] > 1] == []


def test_default_values_give_one_server_with_its_service_and_workspace_rbac():
    manifests, notes = render()
    kinds = sorted(m["kind"] for m in manifests)
    assert kinds == ["Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"]
    server = deployment(manifests, "server")
    assert server["spec"]["replicas"] == 1
    (container,) = server["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["server"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    env = env_of(container)
    # Services come from Secrets, never from values.
    for name in ("PORTAL_DATABASE_URL", "PORTAL_REDIS_URL", "PORTAL_SECRET_KEY"):
        assert "secretKeyRef" in env[name]["valueFrom"], name
    assert "port-forward service/portal" in notes
    assert "portal-database" in notes


def test_production_values_give_replicas_a_budget_tls_ingress_and_daemons():
    manifests, _ = render(production_values())
    server = deployment(manifests, "server")
    assert server["spec"]["replicas"] == 3
    (pdb,) = by_kind(manifests, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == server["spec"]["selector"]["matchLabels"]
    (ingress,) = by_kind(manifests, "Ingress")
    assert ingress["spec"]["tls"][0]["secretName"] == "portal-tls"
    hosts = [rule["host"] for rule in ingress["spec"]["rules"]]
    assert hosts == ["portal.example.com", "*.apps.portal.example.com"]
    (service,) = by_kind(manifests, "Service")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": service["metadata"]["name"], "port": {"number": 80}}
    # The workers take the builds; the server pods do not run one.
    env = env_of(server["spec"]["template"]["spec"]["containers"][0])
    assert env["PORTAL_EMBEDDED_WORKER"]["value"] == "false"
    assert env["PORTAL_TRUST_PROXY_HEADERS"]["value"] == "true"
    worker = deployment(manifests, "worker")
    assert worker["spec"]["replicas"] == 2
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"][0] == "worker"


def test_server_pods_advertise_their_own_ip_for_the_relay_link():
    manifests, _ = render(production_values())
    (container,) = deployment(manifests, "server")["spec"]["template"]["spec"]["containers"]
    env = env_of(container)
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["PORTAL_RELAY_BIND_ADDRESS"]["value"] == "0.0.0.0"
    assert env["PORTAL_RELAY_ADVERTISE_HOST"]["value"] == "$(POD_IP)"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["relay"] == int(env["PORTAL_RELAY_PORT"]["value"])
    # Kubernetes expands $(POD_IP) only from variables defined before the one using it.
    names = [e["name"] for e in container["env"]]
    assert names.index("POD_IP") < names.index("PORTAL_RELAY_ADVERTISE_HOST")
    assert names.index("POD_IP") < names.index("PORTAL_ALLOWED_HOSTS")


def test_only_server_pods_may_reach_the_relay_link():
    manifests, _ = render(production_values())
    (policy,) = by_kind(manifests, "NetworkPolicy")
    server = deployment(manifests, "server")
    selector = server["spec"]["selector"]["matchLabels"]
    assert policy["spec"]["podSelector"]["matchLabels"] == selector
    http, relay = policy["spec"]["ingress"]
    assert http["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert http["from"][0]["namespaceSelector"]  # the ingress controller's namespace
    # Two web processes per pod: two relay ports, 8100-8101.
    assert relay["ports"] == [{"port": 8100, "endPort": 8101, "protocol": "TCP"}]
    assert relay["from"] == [{"podSelector": {"matchLabels": selector}}]


def test_provisionerd_runs_with_its_key_from_a_secret():
    manifests, _ = render(production_values())
    spec = deployment(manifests, "provisionerd")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["args"][:2] == ["provisionerd", "start"]
    assert "--url=https://portal.example.com" in container["args"]
    assert "--key=$(PROVISIONERD_KEY)" in container["args"]
    assert "--tag=network=private" in container["args"]
    key = env_of(container)["PROVISIONERD_KEY"]["valueFrom"]["secretKeyRef"]
    assert key == {"name": "portal-provisioner-key", "key": "key"}
    # A daemon needs no database or Redis: it talks to Portal over HTTPS only.
    assert "PORTAL_DATABASE_URL" not in env_of(container)


def test_workspace_rbac_is_a_role_in_the_workspaces_namespace():
    manifests, _ = render(production_values())
    (role,) = by_kind(manifests, "Role")
    (binding,) = by_kind(manifests, "RoleBinding")
    assert role["metadata"]["namespace"] == "portal-workspaces"
    granted = {r for rule in role["rules"] for r in rule["resources"]}
    assert {"pods", "pods/log", "persistentvolumeclaims", "services", "events"} <= granted
    assert {"deployments", "secrets"} <= granted  # what the kubernetes example creates
    events = next(rule for rule in role["rules"] if "events" in rule["resources"])
    assert set(events["verbs"]) == {"get", "list", "watch"}
    (account,) = by_kind(manifests, "ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    assert all(
        d["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
        for d in by_kind(manifests, "Deployment")
    )


def test_pods_run_as_the_images_non_root_user():
    manifests, _ = render(production_values())
    for d in by_kind(manifests, "Deployment"):
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_a_missing_secret_name_is_a_clear_render_error():
    with pytest.raises(helm.HelmError, match="database.existingSecret"):
        render({"database": {"existingSecret": ""}})


def test_every_value_is_documented():
    """Each key in values.yaml has a comment right above it, but for the insides of plain
    Kubernetes objects (resources, security contexts) that its parent's comment describes."""
    passthrough = {"resources", "podSecurityContext", "securityContext"}
    lines = (CHART / "values.yaml").read_text().splitlines()
    stack: list[tuple[int, str]] = []
    undocumented = []
    for i, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z][\w.-]*):", line)
        if not match:
            continue
        indent = len(match.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parents = [name for _, name in stack]
        stack.append((indent, match.group(2)))
        above = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        if not above.strip().startswith("#") and not passthrough & set(parents):
            undocumented.append(".".join([*parents, match.group(2)]))
    assert undocumented == []
    assert (CHART / "README.md").is_file()
