"""deploy/ cannot be run here (no Docker, no cluster), so it is checked with the real linters and,
for what their schemas cannot see, against hashcart itself: every variable is a real setting and
the examples validate, probes hit /healthz, one place migrates, grace periods cover a clean stop.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "hashcart.env.example"
NGINX = DEPLOY / "nginx" / "hashcart.conf"
UNIT = DEPLOY / "systemd" / "hashcart.service"
README = DEPLOY / "README.md"

IN_CI = os.environ.get("CI") == "true"

#: Variables that are not hashcart's but belong in these files: the interpreter's and the
#: PostgreSQL image's (compose's `postgres` service).
FOREIGN_VARIABLES = {
    "PATH",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
    "POSTGRES_USER",
    "POSTGRES_DB",
    "POSTGRES_PASSWORD_FILE",
}

#: Variables hashcart reads outside its settings models.
EXTRA_HASHCART_VARIABLES = {"HASHCART_CONFIG"}


# -- helpers ------------------------------------------------------------------------------------


def tool(name: str) -> str:
    """A linter from the venv (pyproject's dev extras install them) or the PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        message = f"{name} is not installed (make install puts it in .venv)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def run(*args: str, cwd: Path = ROOT, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.load_all(path.read_text(), Loader=Loader) if doc]


@cache
def kubernetes_objects() -> list[dict[str, Any]]:
    return [doc for path in sorted(KUBERNETES.glob("*.yaml")) for doc in yaml_documents(path)]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in kubernetes_objects() if doc["kind"] == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    (found,) = [doc for doc in of_kind(kind) if doc["metadata"]["name"] == name]
    return found


def pod_templates() -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in of_kind("Deployment") + of_kind("Job"):
        yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]


def env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: {line!r} is not KEY=value"
            values[key.strip()] = value.strip()
    return values


@cache
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(COMPOSE.read_text(), Loader=Loader)
    return loaded


def compose_nodes() -> dict[str, dict[str, Any]]:
    """The services that run `hashcart serve` (the `<<: *node` merge is resolved by PyYAML)."""
    return {
        name: service
        for name, service in compose()["services"].items()
        if service.get("command", [None])[0] == "serve"
    }


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            rows.append((instruction.upper(), arguments.strip()))
    return rows


@cache
def settings_models() -> list[type[BaseSettings]]:
    """The core's models and every installed plugin's, as `hashcart serve` would load them."""
    from hashcart.config import Settings
    from hashcart.plugins import PluginManager
    from hashcart.web.session import WebSettings

    manager = PluginManager()
    manager.load_entry_points()
    assert not manager.failed, manager.failed
    models: list[type[BaseSettings]] = [Settings, WebSettings]
    models += [m for m in manager.hook.hashcart_settings() if m is not None]
    return models


def known_variables() -> set[str]:
    names = set(EXTRA_HASHCART_VARIABLES)
    for model in settings_models():
        prefix = str(model.model_config.get("env_prefix", "")).upper()
        names.update(prefix + field.upper() for field in model.model_fields)
    return names


def secret_variables() -> set[str]:
    """Variables whose fields are `SecretStr`, plus the database URL (it carries a password)."""
    names = {"HASHCART_DATABASE_URL"}
    for model in settings_models():
        prefix = str(model.model_config.get("env_prefix", "")).upper()
        for field, info in model.model_fields.items():
            if "SecretStr" in str(info.annotation):
                names.add(prefix + field.upper())
    return names


def kubernetes_variables() -> dict[str, str]:
    """What a web pod's environment holds: ConfigMap, Secrets and the containers' `env`."""
    values: dict[str, str] = {}
    for config in of_kind("ConfigMap"):
        values.update(config["data"])
    for secret in of_kind("Secret"):
        values.update(secret["stringData"])
    for _, template in pod_templates():
        for container in template["spec"]["containers"]:
            values.update({e["name"]: e.get("value", "") for e in container.get("env", [])})
    return values


def systemd_directives() -> list[tuple[str, str]]:
    rows = []
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            rows.append((key, value))
    return rows


def seconds(value: str | int) -> int:
    text = str(value).strip()
    return int(text.removesuffix("s"))


# -- the linters ----------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint_without_a_single_finding() -> None:
    result = run(tool("hadolint"), "--no-color", "--failure-threshold", "style", str(DOCKERFILE))
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_hadolint_is_a_real_linter() -> None:
    """Guards the test above against a wrapper that installs but checks nothing."""
    result = run(tool("hadolint"), "--no-color", "-", stdin="FROM debian:latest\n")
    assert result.returncode != 0 and "DL3007" in result.stdout


def test_compose_file_matches_the_compose_specification() -> None:
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_yaml_file_passes_yamllint() -> None:
    result = run(tool("yamllint"), "--strict", "-c", str(DEPLOY / ".yamllint.yaml"), str(DEPLOY))
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_manifests_validate_strictly() -> None:
    files = [str(p) for p in sorted(KUBERNETES.glob("*.yaml"))]
    result = run(tool("kubernetes-validate"), "--strict", "--quiet", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_manifests_hold_every_piece_the_deployment_needs() -> None:
    kinds = {(doc["apiVersion"], doc["kind"]) for doc in kubernetes_objects()}
    for wanted in [
        ("apps/v1", "Deployment"),
        ("v1", "Service"),
        ("batch/v1", "Job"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("policy/v1", "PodDisruptionBudget"),
        ("v1", "Secret"),
        ("v1", "ConfigMap"),
    ]:
        assert wanted in kinds, f"no {wanted[1]} ({wanted[0]}) in deploy/kubernetes"


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """verify insists that ExecStart's binary exists: a copy of the unit points at a stub."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if IN_CI:
            pytest.fail("systemd-analyze is missing")
        pytest.skip("systemd-analyze is not installed")
    stub = tmp_path / "bin" / "hashcart"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    text = UNIT.read_text()
    assert "/opt/hashcart/bin/hashcart" in text
    unit = tmp_path / "hashcart.service"
    unit.write_text(text.replace("/opt/hashcart/bin/hashcart", str(stub)))
    result = run(analyze, "verify", str(unit), cwd=tmp_path)
    # verify exits 0 on unknown keys and bad values too; it names the unit when it complains.
    complaints = [
        line for line in (result.stdout + result.stderr).splitlines() if "hashcart" in line
    ]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr


# -- what the schemas cannot see ------------------------------------------------------------------


def test_every_variable_named_in_deploy_is_a_real_setting() -> None:
    known = known_variables()
    named_in: dict[str, set[str]] = {
        "hashcart.env.example": set(env_file(ENV_EXAMPLE)),
        "kubernetes/": set(kubernetes_variables()),
        "compose.yaml": {
            name
            for service in compose()["services"].values()
            for name in (service.get("environment") or {})
        },
        "Dockerfile": {
            match
            for instruction, arguments in dockerfile_instructions()
            if instruction == "ENV"
            for match in re.findall(r"([A-Z_][A-Z0-9_]*)=", arguments)
        },
        "systemd/hashcart.service": {
            value.partition("=")[0] for key, value in systemd_directives() if key == "Environment"
        },
    }
    mentioned = set(re.findall(r"\bHASHCART_[A-Z0-9_]*[A-Z0-9]\b", README.read_text()))
    named_in["README.md"] = mentioned
    for where, names in named_in.items():
        assert names, f"{where}: no variables found (did the parser break?)"
        unknown = {n for n in names if n.startswith("HASHCART_") and n not in known}
        assert not unknown, f"{where} names settings hashcart does not have: {sorted(unknown)}"
        foreign = {n for n in names if not n.startswith("HASHCART_")} - FOREIGN_VARIABLES
        assert not foreign, f"{where} sets unexpected variables: {sorted(foreign)}"


@pytest.mark.parametrize("source", ["hashcart.env.example", "kubernetes", "compose nodes"])
def test_the_example_values_pass_hashcarts_own_validation(
    source: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from hashcart.config import load_settings

    if source == "kubernetes":
        environments = [kubernetes_variables()]
    elif source == "compose nodes":
        environments = [
            {**env_file(ENV_EXAMPLE), **service.get("environment", {})}
            for service in compose_nodes().values()
        ]
    else:
        environments = [env_file(ENV_EXAMPLE)]
    for environment in environments:
        for name in list(os.environ):
            if name.startswith("HASHCART_"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("HASHCART_CONFIG", str(tmp_path / "absent.toml"))
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        # The shipped placeholders must be refused until an operator replaces them ...
        from hashcart import ConfigError

        with pytest.raises(ConfigError, match="placeholder"):
            for model in settings_models():
                load_settings(model)
        # ... and everything else in the examples is valid once they are.
        for name, value in environment.items():
            monkeypatch.setenv(name, value.replace("CHANGE-ME", "replaced-by-the-operator-3f9a1c"))
        for model in settings_models():
            load_settings(model)  # raises ConfigError naming the variable


def test_credentials_live_in_secrets_not_in_the_configmap() -> None:
    secrets = secret_variables()
    for config in of_kind("ConfigMap"):
        leaked = secrets & set(config["data"])
        assert not leaked, f"ConfigMap {config['metadata']['name']} holds credentials: {leaked}"
    in_secrets = {name for secret in of_kind("Secret") for name in secret["stringData"]}
    example = set(env_file(ENV_EXAMPLE))
    assert secrets & example <= in_secrets, "a credential of the env example has no Secret key"


def test_the_image_runs_serve_as_a_non_root_user_with_a_healthz_healthcheck() -> None:
    instructions = dockerfile_instructions()
    stages = [arguments for instruction, arguments in instructions if instruction == "FROM"]
    assert len(stages) == 2 and all(s.startswith("python:3.11-slim") for s in stages)
    final = instructions[max(i for i, (ins, _) in enumerate(instructions) if ins == "FROM") :]
    (user,) = [arguments for instruction, arguments in final if instruction == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric, non-root USER lets runAsNonRoot check it"
    (healthcheck,) = [arguments for instruction, arguments in final if instruction == "HEALTHCHECK"]
    assert "/healthz" in healthcheck and "urllib" in healthcheck
    assert "curl" not in healthcheck and "wget" not in healthcheck, "slim has neither"
    entrypoint = [arguments for instruction, arguments in final if instruction == "ENTRYPOINT"]
    command = [arguments for instruction, arguments in final if instruction == "CMD"]
    assert entrypoint == ['["hashcart"]'] and command == ['["serve", "--no-migrate"]']
    # The manifests run as that user.
    for where, template in pod_templates():
        assert template["spec"]["securityContext"]["runAsUser"] == int(uid), where


def test_every_pod_is_non_root_read_only_limited_and_probed_on_healthz() -> None:
    for where, template in pod_templates():
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert container["resources"]["requests"] and container["resources"]["limits"], where
            if "serve" not in container["args"]:
                continue
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            for probe in ("readinessProbe", "livenessProbe"):
                get = container[probe]["httpGet"]
                assert get["path"] == "/healthz" and get["port"] in ports, f"{where} {probe}"
            assert ports[container["ports"][0]["name"]] == 8080


def test_migrations_run_in_one_place_and_never_in_the_serving_replicas() -> None:
    for where, template in pod_templates():
        for container in template["spec"]["containers"]:
            args = container["args"]
            assert args in (["serve", "--no-migrate"], ["db", "upgrade"]), f"{where}: {args}"
    assert [t for _, t in pod_templates() if t["spec"]["containers"][0]["args"][0] == "db"]
    services = compose()["services"]
    migrating = [n for n, s in services.items() if s.get("command") == ["db", "upgrade"]]
    assert migrating == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    nodes = compose_nodes()
    assert len(nodes) >= 2
    for name, service in nodes.items():
        assert service["command"] == ["serve", "--no-migrate"], name
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "/healthz" in " ".join(service["healthcheck"]["test"]), name
    lb = services["lb"]
    assert {n: d["condition"] for n, d in lb["depends_on"].items()} == dict.fromkeys(
        nodes, "service_healthy"
    )
    directives = systemd_directives()
    assert ("ExecStartPre", "/opt/hashcart/bin/hashcart db upgrade") in directives
    assert ("ExecStart", "/opt/hashcart/bin/hashcart serve --no-migrate") in directives


def test_the_load_balancer_sends_to_every_compose_node() -> None:
    servers = set(re.findall(r"^\s*server\s+([\w.-]+:\d+)", NGINX.read_text(), re.MULTILINE))
    nodes = compose_nodes()
    assert servers == {f"{name}:8080" for name in nodes}
    mounted = " ".join(compose()["services"]["lb"]["volumes"])
    assert "./nginx/hashcart.conf:" in mounted


def test_compose_nodes_split_the_discord_shards_exactly_once() -> None:
    from hashcart_discord.settings import ShardPlan

    plans = []
    for name, service in compose_nodes().items():
        plan = ShardPlan.parse(service["environment"]["HASHCART_DISCORD_SHARDS"])
        assert plan is not None, name
        plans.append(plan)
    (count,) = {plan.shard_count for plan in plans}
    ids = [shard for plan in plans for shard in plan.shard_ids]
    assert sorted(ids) == list(range(count)), "every shard on exactly one node"
    assert "HASHCART_DISCORD_SHARDS" not in env_file(ENV_EXAMPLE)


def test_the_discord_token_reaches_only_the_discord_pods() -> None:
    token_secrets = {
        s["metadata"]["name"]
        for s in of_kind("Secret")
        if "HASHCART_DISCORD_TOKEN" in s["stringData"]
    }
    assert token_secrets == {"hashcart-discord"}
    hpa = named("HorizontalPodAutoscaler", "hashcart")
    for deployment in of_kind("Deployment"):
        refs = {
            source["secretRef"]["name"]
            for container in deployment["spec"]["template"]["spec"]["containers"]
            for source in container.get("envFrom", [])
            if "secretRef" in source
        }
        if refs & token_secrets:
            assert deployment["spec"]["strategy"]["type"] == "Recreate"
            assert deployment["metadata"]["name"] != hpa["spec"]["scaleTargetRef"]["name"]


def test_service_hpa_and_pdb_select_the_web_pods() -> None:
    web = named("Deployment", "hashcart")
    labels = web["spec"]["template"]["metadata"]["labels"]
    others = [d for d in of_kind("Deployment") if d["metadata"]["name"] != "hashcart"]

    def selects(selector: dict[str, str], pod: dict[str, str]) -> bool:
        return all(pod.get(k) == v for k, v in selector.items())

    service = named("Service", "hashcart")
    pdb = named("PodDisruptionBudget", "hashcart")
    for selector in (service["spec"]["selector"], pdb["spec"]["selector"]["matchLabels"]):
        assert selects(selector, labels)
        for other in others:
            assert not selects(selector, other["spec"]["template"]["metadata"]["labels"])
    target = named("HorizontalPodAutoscaler", "hashcart")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "hashcart")
    assert (
        pdb["spec"]["minAvailable"]
        < named("HorizontalPodAutoscaler", "hashcart")["spec"]["minReplicas"]
    ), "the budget must leave room to evict a pod"


def test_grace_periods_cover_a_clean_stop_and_agree_everywhere() -> None:
    """SIGTERM waits for aiohttp's requests in flight and then the reply sender's grace."""
    from aiohttp import web

    from hashcart.outbox import ReplySender

    aiohttp_wait = inspect.signature(web.BaseRunner.__init__).parameters["shutdown_timeout"]
    sender_grace = inspect.signature(ReplySender.stop).parameters["grace"]
    needed = float(aiohttp_wait.default) + float(sender_grace.default)

    graces = {}
    for deployment in of_kind("Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        pre_stop = spec["containers"][0].get("lifecycle", {}).get("preStop", {})
        pause = pre_stop.get("sleep", {}).get("seconds", 0)
        grace = spec["terminationGracePeriodSeconds"]
        assert grace >= needed + pause, deployment["metadata"]["name"]
        graces[deployment["metadata"]["name"]] = grace
    for name, service in compose_nodes().items():
        assert service["stop_signal"] == "SIGTERM"
        graces[f"compose {name}"] = seconds(service["stop_grace_period"])
    directives = dict(systemd_directives())
    assert directives["KillSignal"] == "SIGTERM"
    assert directives["Restart"] == "on-failure"
    graces["systemd"] = seconds(directives["TimeoutStopSec"])
    assert len(set(graces.values())) == 1, graces
    assert min(graces.values()) >= needed
    assert f"{next(iter(graces.values()))} seconds" in README.read_text()


def test_systemd_unit_is_hardened_and_reads_an_environment_file() -> None:
    directives = dict(systemd_directives())
    assert directives["Type"] in ("exec", "simple")
    assert directives["User"] and directives["User"] != "root"
    assert directives["EnvironmentFile"].startswith("/etc/hashcart/")
    for key, value in {
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert directives.get(key) == value, key


def test_the_sizing_notes_quote_the_real_connection_pool() -> None:
    from hashcart.store.db import create_engine

    engine = create_engine("postgresql+asyncpg://u:p@127.0.0.1:1/none")
    pool: Any = engine.pool
    size, overflow = pool.size(), pool._max_overflow
    text = README.read_text()
    assert f"**{size}** connections plus **{overflow}**" in text
    assert f"**{size + overflow} per node**" in text
    hpa_comment = (KUBERNETES / "hpa.yaml").read_text()
    assert f"{size + overflow} connections (pool {size} + overflow {overflow})" in hpa_comment
    for topic in ("bench/README.md", "SQLite is for one node only", "HASHCART_DISCORD_SHARDS"):
        assert topic in text
