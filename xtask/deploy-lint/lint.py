"""Lints deploy/ for `cargo xtask deploy-lint`: every artefact with the
linter or validator its ecosystem uses, all installed from PyPI (pinned in
requirements.txt) or Debian, all offline.

Prints one `ok N - ...` or `not ok N - ...` line per check (with the tool's
output under a failure) and, last, `N passed, M failed`. Exits 1 if any
check failed.

Usage: python lint.py REPOSITORY_ROOT PORTHOR_BINARY

The porthor binary checks the configuration the chart renders with
`porthor check-config`, so a chart that writes a key Porthor refuses fails
here rather than in a cluster.
"""

import copy
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import yaml

ROOT = Path(sys.argv[1]).resolve()
PORTHOR = Path(sys.argv[2]).resolve()
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "porthor"
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
# The Kubernetes version the rendered chart is checked against.
KUBERNETES = "1.37.0"
# Custom resources: kubernetes-validate has no schema for them.
CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}
# `systemd-analyze security`'s exposure, in tenths (1.5 of 10 is "OK").
SYSTEMD_EXPOSURE_THRESHOLD = 15

results = {"passed": 0, "failed": 0}


def report(ok, description, detail=""):
    number = results["passed"] + results["failed"] + 1
    results["passed" if ok else "failed"] += 1
    print(f"{'ok' if ok else 'not ok'} {number} - {description}", flush=True)
    if not ok and detail:
        for line in str(detail).rstrip().splitlines():
            print(f"#   {line}", flush=True)


def check(description, fn):
    """Runs fn; a check passes when it returns without raising."""
    try:
        fn()
    except Exception as error:  # noqa: BLE001 - every failure is reported
        report(False, description, f"{type(error).__name__}: {error}")
    else:
        report(True, description)


def tool(description, argv):
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    report(result.returncode == 0, description, result.stdout + result.stderr)
    return result


# --- Dockerfile ---------------------------------------------------------
tool("hadolint deploy/Dockerfile", [BIN / "hadolint", DEPLOY / "Dockerfile"])


def dockerignore():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines, ".dockerignore does not start from an empty context"


check(".dockerignore keeps the build context to the sources", dockerignore)

# --- YAML files ---------------------------------------------------------
yaml_files = [DEPLOY / "compose.yaml", CHART / "Chart.yaml", CHART / "values.yaml"]
tool(
    "yamllint " + " ".join(str(p.relative_to(ROOT)) for p in yaml_files),
    [BIN / "yamllint", "--strict", "-c", HERE / "yamllint.yaml", *yaml_files],
)

# --- compose ------------------------------------------------------------
tool(
    "deploy/compose.yaml against the compose-spec JSON schema",
    [
        BIN / "check-jsonschema",
        "--builtin-schema",
        "vendor.compose-spec",
        DEPLOY / "compose.yaml",
    ],
)


def compose_files():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                path = (DEPLOY / source).resolve()
                assert path.exists(), f"{name} mounts {source}, which does not exist"
                if path.suffix == ".toml":
                    tomllib.loads(path.read_text())
    redis = compose["services"]["redis"]["command"]
    assert "--appendonly" in redis and "yes" in redis, "Redis without append-only persistence"


check("compose.yaml's mounted files exist and porthor.toml is TOML", compose_files)

# --- Helm chart ---------------------------------------------------------
KEYS = {"secrets": {"signingKey": "-----BEGIN PRIVATE KEY-----\n", "storeKey": "AAAA"}}
FULL = {
    "replicaCount": 3,
    "config": {
        "issuer": "https://example.com/idp",
        "server": {"trustedProxies": ["10.0.0.0/8"]},
        "tokens": {"code_lifetime": "30s"},
        "throttle": {"user_failures": 5, "window": "10m"},
        "clients": [
            {
                "client_id": "grafana",
                # The hash of a secret (any 43 base64url characters do).
                "client_secret_hash": "sha256:" + "A" * 43,
                "redirect_uris": ["https://grafana.example.com/login/generic_oauth"],
            }
        ],
        "users": [
            {
                "username": "alice",
                "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$"
                "7yncSP1WwNwOo+2ze2AG8g$aQiSNSxqAEZ/E3ZpzxF6kFmx/VPosIq4EXmBReTscCI",
            }
        ],
    },
    "secrets": {"existingSecret": "porthor-keys"},
    "store": {"redisUrlSecret": {"name": "redis", "key": "url"}},
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "tls": [{"secretName": "example-com-tls", "hosts": ["example.com"]}],
    },
    "serviceMonitor": {"enabled": True},
    "networkPolicy": {
        "enabled": True,
        "ingressFrom": [{"namespaceSelector": {"matchLabels": {"name": "ingress"}}}],
    },
}
SCENARIOS = {
    "default values (keys given)": KEYS,
    "every option on": FULL,
    "the config from an existing Secret": {**KEYS, "existingConfigSecret": "porthor-config"},
}


def lint_chart():
    for values in [KEYS, FULL]:
        found = helm.lint(str(CHART), values, strict=True, kube_version="v" + KUBERNETES)
        problems = [m for m in found["messages"] if m["severity"] >= 2] + found["errors"]
        assert not problems, problems


check("helm lint --strict deploy/helm/porthor", lint_chart)


def schema_refuses_bad_values():
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(KEYS)
        chart.validate_schema(FULL)
        for bad in [
            {**KEYS, "replicaCount": -1},
            {**KEYS, "replicas": 2},
            {**KEYS, "config": {"store": {"redisUrl": "http://x", "keyPrefix": "p", "poolSize": 1}}},
        ]:
            try:
                chart.validate_schema(bad)
            except Exception:  # noqa: BLE001 - the refusal is the point
                continue
            raise AssertionError(f"values.schema.json accepted {bad}")


check("values.schema.json accepts the examples and refuses bad values", schema_refuses_bad_values)


def render(values):
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(copy.deepcopy(values), name="porthor", namespace="auth")
    documents = []
    for name, text in sorted(rendered.items()):
        if not name.endswith(".yaml"):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                documents.append((name, document))
    return documents


def by_kind(documents, kind):
    return [doc for _, doc in documents if doc["kind"] == kind]


def validate_rendered(values, expect):
    def run():
        documents = render(values)
        skipped = []
        for name, document in documents:
            key = (document["apiVersion"], document["kind"])
            if key in CRDS:
                skipped.append(key[1])
                continue
            try:
                kubernetes_validate.validate(document, KUBERNETES, strict=True)
            except kubernetes_validate.ValidationError as error:
                raise AssertionError(f"{name}: {error.message} at {list(error.path)}") from None
        expect(documents)

    return run


def porthor_accepts(config_text):
    """Runs `porthor check-config` on a rendered porthor.toml, with fresh
    keys standing in for the Secret's at the paths it names."""
    with tempfile.TemporaryDirectory() as directory:
        directory = Path(directory)
        signing, store = directory / "signing.pem", directory / "store.key"
        for extra, path in [([], signing), (["--store-key"], store)]:
            subprocess.run(
                [PORTHOR, "keygen", *extra, "--output", path], capture_output=True, check=True
            )
        text = config_text.replace("/run/secrets/porthor/signing.pem", str(signing))
        text = text.replace("/run/secrets/porthor/store.key", str(store))
        config = directory / "porthor.toml"
        config.write_text(text)
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PORTHOR_")}
        result = subprocess.run(
            [PORTHOR, "check-config", "--config", config],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert result.returncode == 0, f"porthor check-config refused:\n{result.stderr}\n{text}"


def expect_defaults(documents):
    (deployment,) = by_kind(documents, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["resources"]["requests"]["memory"] == "64Mi"
    assert by_kind(documents, "PodDisruptionBudget"), "no PodDisruptionBudget"
    assert len(by_kind(documents, "Secret")) == 1
    (config_map,) = by_kind(documents, "ConfigMap")
    config = tomllib.loads(config_map["data"]["porthor.toml"])
    assert config["server"]["listen"] == "0.0.0.0:8080"
    assert config["signing"]["key_file"] == "/run/secrets/porthor/signing.pem"
    assert config["store"]["pool_size"] == 1
    porthor_accepts(config_map["data"]["porthor.toml"])


def expect_full(documents):
    kinds = sorted(doc["kind"] for _, doc in documents)
    for kind in ["Ingress", "NetworkPolicy", "ServiceMonitor"]:
        assert kind in kinds, f"no {kind} in {kinds}"
    assert not by_kind(documents, "Secret"), "a Secret made despite existingSecret"
    (deployment,) = by_kind(documents, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/idp/ready"
    assert container["env"][0]["name"] == "PORTHOR_STORE__REDIS_URL"
    (config_map,) = by_kind(documents, "ConfigMap")
    config = tomllib.loads(config_map["data"]["porthor.toml"])
    assert config["throttle"]["user_failures"] == 5, config["throttle"]
    assert config["clients"][0]["client_id"] == "grafana"
    porthor_accepts(config_map["data"]["porthor.toml"])


def expect_config_secret(documents):
    assert not by_kind(documents, "ConfigMap"), "a ConfigMap made despite existingConfigSecret"
    (deployment,) = by_kind(documents, "Deployment")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert volumes[0]["secret"]["secretName"] == "porthor-config"


for (description, values), expect in zip(
    SCENARIOS.items(), [expect_defaults, expect_full, expect_config_secret]
):
    check(
        f"chart rendered ({description}): valid Kubernetes {KUBERNETES} (strict),"
        " porthor.toml accepted by check-config",
        validate_rendered(values, expect),
    )


def refuses_missing_keys():
    try:
        render({})
    except Exception as error:  # noqa: BLE001 - the refusal is the point
        assert "secrets.signingKey" in str(error), error
        return
    raise AssertionError("rendered without a signing key or existingSecret")


check("chart refuses to render without keys", refuses_missing_keys)

# --- systemd ------------------------------------------------------------
UNIT = DEPLOY / "systemd" / "porthor.service"
analyze = shutil.which("systemd-analyze")
if analyze is None:
    report(False, "systemd-analyze verify", "systemd-analyze is not installed (Debian: systemd)")
else:
    with tempfile.TemporaryDirectory() as directory:
        # verify checks that ExecStart's program exists; the unit names
        # where it is installed, so a stand-in executable takes its place.
        unit = Path(directory) / UNIT.name
        unit.write_text(UNIT.read_text().replace("/usr/local/bin/porthor", sys.executable))
        tool("systemd-analyze verify deploy/systemd/porthor.service", [analyze, "verify", unit])
        tool(
            "systemd-analyze security: exposure at most "
            f"{SYSTEMD_EXPOSURE_THRESHOLD / 10}",
            [
                analyze,
                "security",
                "--offline=yes",
                f"--threshold={SYSTEMD_EXPOSURE_THRESHOLD}",
                "--no-pager",
                unit,
            ],
        )

print(f"{results['passed']} passed, {results['failed']} failed")
sys.exit(1 if results["failed"] else 0)
