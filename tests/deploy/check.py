"""Checks the deployment files in deploy/ without a container engine or a cluster.

- deploy/compose.yaml against the Compose Specification's JSON Schema (vendored in schemas/);
- deploy/kubernetes/*.yaml: core kinds against Kubernetes' own schemas (kubernetes-validate,
  strict: unknown fields fail), the SpinApp against SpinKube's CRD schema (vendored), made strict
  the same way, since the API server would silently prune a misspelt field;
- consistency with the code: every required Spin variable of spin.toml is supplied to the app and
  no undeclared one is; every AURRAS_* variable and --flag given to the ingestor or the relay
  exists in `aurras-ingestor <subcommand> --help`; every Secret key referenced exists;
- every shipped runtime config (runtime-config.toml, deploy/runtime-config.redis.toml, the
  SpinApp's loadFromSecret Secret) blocks private networks (`block_networks` with "private").

Usage: check.py --ingestor target/debug/aurras-ingestor [--deploy DIR]
       check.py --ingestor ... --self-test   (breaks copies on purpose; each must be caught)
"""

import argparse
import copy
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).resolve().parent / "schemas"
KUBERNETES_VERSION = "1.33.0"


def compose_errors(deploy: Path) -> list[str]:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    doc = yaml.safe_load((deploy / "compose.yaml").read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"compose.yaml: {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator.iter_errors(doc)
    ]


def strict(schema):
    """Closes every object schema that lists its properties, as a typo check."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def spinapp_schema() -> dict:
    crd = yaml.safe_load((SCHEMAS / "core.spinkube.dev_spinapps.yaml").read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    schema = strict(version["schema"]["openAPIV3Schema"])
    # metadata is ObjectMeta, checked by the API server, not by the CRD.
    schema["properties"]["metadata"] = {"type": "object"}
    return schema


def kubernetes_docs(deploy: Path) -> list[tuple[str, dict]]:
    docs = []
    for path in sorted((deploy / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


def kubernetes_errors(deploy: Path) -> list[str]:
    errors = []
    spinapp = jsonschema.Draft7Validator(spinapp_schema())
    for name, doc in kubernetes_docs(deploy):
        where = f"{name}: {doc.get('kind')} {doc.get('metadata', {}).get('name')}"
        if doc.get("apiVersion", "").startswith("core.spinkube.dev/"):
            errors += [
                f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in spinapp.iter_errors(doc)
            ]
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{where}: {'/'.join(map(str, e.path))}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            errors.append(f"{where}: no schema for it: {e}")
    return errors


def help_of(ingestor: str, sub: str) -> tuple[set[str], set[str]]:
    """The flags and AURRAS_* variables `aurras-ingestor <sub>` accepts."""
    text = subprocess.run(
        [ingestor, sub, "--help"], check=True, capture_output=True, text=True
    ).stdout
    return set(re.findall(r"(--[a-z0-9-]+)", text)), set(re.findall(r"\[env: (AURRAS_[A-Z0-9_]+)", text))


def env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            pairs[key] = value
    return pairs


def spin_variables() -> tuple[set[str], set[str]]:
    """spin.toml's declared variables and the required ones."""
    manifest = tomllib.loads((ROOT / "spin.toml").read_text())
    variables = manifest.get("variables", {})
    return set(variables), {n for n, v in variables.items() if v.get("required")}


# What each subcommand cannot start without (as flags or their AURRAS_* twins).
REQUIRED = {
    "ingest": {"AURRAS_CHAIN", "AURRAS_BROKERS"},
    "relay": {"AURRAS_BROKERS", "AURRAS_APP", "AURRAS_RELAY_SECRET"},
}


def check_cli(where: str, sub: str, args: list[str], env: set[str], shared: set[str], ingestor: str) -> list[str]:
    """`env` is set for this process alone, so each must be one it reads; `shared` (an env file
    several services load) only counts as supplied."""
    flags, known_env = help_of(ingestor, sub)
    errors = [f"{where}: {sub} has no flag {a}" for a in args if a.startswith("--") and a.split("=")[0] not in flags]
    errors += [f"{where}: {sub} reads no variable {e}" for e in sorted(env) if e.startswith("AURRAS_") and e not in known_env]
    given = env | shared | {"AURRAS_" + a[2:].split("=")[0].upper().replace("-", "_") for a in args if a.startswith("--")}
    errors += [f"{where}: {sub} needs {r} (or its flag)" for r in sorted(REQUIRED[sub] - given)]
    return errors


def check_variables(where: str, given: set[str]) -> list[str]:
    declared, required = spin_variables()
    errors = [f"{where}: spin.toml declares no variable {v}" for v in sorted(given - declared)]
    errors += [f"{where}: the required variable {v} is not supplied" for v in sorted(required - given)]
    return errors


def consistency_errors(deploy: Path, ingestor: str) -> list[str]:
    errors = []
    compose = yaml.safe_load((deploy / "compose.yaml").read_text())
    secrets = env_file(deploy / "secrets.env.example")
    for name, service in compose["services"].items():
        env = set(service.get("environment", {}))
        shared = set(secrets) if "secrets.env" in service.get("env_file", []) else set()
        command = service.get("command", [])
        if name == "app":
            given = {e.removeprefix("SPIN_VARIABLE_").lower() for e in env | shared if e.startswith("SPIN_VARIABLE_")}
            errors += check_variables("compose.yaml app", given)
        elif command and command[0] in ("ingest", "relay"):
            errors += check_cli(f"compose.yaml {name}", command[0], command[1:], env, shared, ingestor)

    docs = kubernetes_docs(deploy)
    secret_keys = {
        (doc["metadata"]["name"], key)
        for _, doc in docs
        if doc.get("kind") == "Secret"
        for key in {**doc.get("stringData", {}), **doc.get("data", {})}
    }
    for name, doc in docs:
        where = f"{name}: {doc.get('kind')} {doc['metadata']['name']}"
        for ref in find_key(doc, "secretKeyRef"):
            if (ref.get("name"), ref.get("key")) not in secret_keys:
                errors.append(f"{where}: no Secret {ref.get('name')} with key {ref.get('key')}")
        if doc.get("kind") == "SpinApp":
            errors += check_variables(where, {v["name"] for v in doc["spec"].get("variables", [])})
        for container in find_key(doc, "containers"):
            for c in container:
                args = c.get("args", [])
                if args and args[0] in ("ingest", "relay"):
                    env = {e["name"] for e in c.get("env", [])}
                    errors += check_cli(where, args[0], args[1:], env, set(), ingestor)
    return errors


def blocks_private(text: str) -> bool:
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return "private" in config.get("outbound_networking", {}).get("block_networks", [])


def runtime_config_errors(deploy: Path) -> list[str]:
    """Deliveries go to URLs anyone can choose: every shipped runtime config blocks private networks."""
    errors = []
    for path in [ROOT / "runtime-config.toml", deploy / "runtime-config.redis.toml"]:
        if not blocks_private(path.read_text()):
            errors.append(f"{path.name}: [outbound_networking] block_networks does not include \"private\"")
    docs = kubernetes_docs(deploy)
    secrets = {doc["metadata"]["name"]: doc for _, doc in docs if doc.get("kind") == "Secret"}
    for name, doc in docs:
        if doc.get("kind") != "SpinApp":
            continue
        where = f"{name}: SpinApp {doc['metadata']['name']}"
        secret = doc["spec"].get("runtimeConfig", {}).get("loadFromSecret")
        if not secret:
            errors.append(f"{where}: runtimeConfig sets no block_networks (only loadFromSecret can)")
            continue
        text = secrets.get(secret, {}).get("stringData", {}).get("runtime-config.toml")
        if text is None:
            errors.append(f"{where}: no Secret {secret} with key runtime-config.toml")
        elif not blocks_private(text):
            errors.append(f"{where}: Secret {secret}: block_networks does not include \"private\"")
    return errors


def find_key(node, key):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from find_key(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from find_key(v, key)


def check(deploy: Path, ingestor: str) -> list[str]:
    return (
        compose_errors(deploy)
        + kubernetes_errors(deploy)
        + consistency_errors(deploy, ingestor)
        + runtime_config_errors(deploy)
    )


def edit_yaml(path: Path, change, index: int = 0):
    docs = list(yaml.safe_load_all(path.read_text()))
    change(docs[index])
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def self_test(deploy: Path, ingestor: str) -> int:
    """Each broken copy must fail with the expected message."""
    breaks = {
        "a misspelt compose service key": (
            lambda d: edit_yaml(d / "compose.yaml", lambda c: c["services"]["redis"].update(healthchek={})),
            "healthchek",
        ),
        "a depends_on condition that does not exist": (
            lambda d: edit_yaml(
                d / "compose.yaml",
                lambda c: c["services"]["relay"]["depends_on"]["app"].update(condition="service_ready"),
            ),
            "service_ready",
        ),
        "a Deployment's replicas as a string": (
            lambda d: edit_yaml(d / "kubernetes/relay.yaml", lambda r: r["spec"].update(replicas="two")),
            "replicas",
        ),
        "a misspelt SpinApp field": (
            lambda d: edit_yaml(d / "kubernetes/app.yaml", lambda a: a["spec"].update(variabels=[])),
            "variabels",
        ),
        "an unknown container field": (
            lambda d: edit_yaml(
                d / "kubernetes/ingestor.yaml",
                lambda s: s["spec"]["template"]["spec"]["containers"][0].update(argz=["ingest"]),
            ),
            "argz",
        ),
        "a required Spin variable missing": (
            lambda d: (d / "secrets.env.example").write_text(
                "\n".join(l for l in (d / "secrets.env.example").read_text().splitlines() if not l.startswith("SPIN_VARIABLE_RELAY_SECRET"))
            ),
            "relay_secret",
        ),
        "an undeclared Spin variable": (
            lambda d: edit_yaml(
                d / "kubernetes/app.yaml",
                lambda a: a["spec"]["variables"].append({"name": "admin_tokn", "value": "x"}),
            ),
            "admin_tokn",
        ),
        "a relay variable the relay does not read": (
            lambda d: edit_yaml(d / "compose.yaml", lambda c: c["services"]["relay"]["environment"].update(AURRAS_BROKER="x:9092")),
            "AURRAS_BROKER",
        ),
        "an ingestor flag that does not exist": (
            lambda d: edit_yaml(
                d / "kubernetes/ingestor.yaml",
                lambda s: s["spec"]["template"]["spec"]["containers"][0].update(args=["ingest", "--fetch-ahaed", "8"]),
            ),
            "--fetch-ahaed",
        ),
        "the relay without its secret": (
            lambda d: edit_yaml(
                d / "kubernetes/relay.yaml",
                lambda r: r["spec"]["template"]["spec"]["containers"][0].update(
                    env=[e for e in r["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"] != "AURRAS_RELAY_SECRET"]
                ),
            ),
            "needs AURRAS_RELAY_SECRET",
        ),
        "the app's runtime config without block_networks": (
            lambda d: edit_yaml(
                d / "kubernetes/secrets.yaml",
                lambda s: s["stringData"].update(
                    {"runtime-config.toml": s["stringData"]["runtime-config.toml"].replace("private", "10.0.0.0/8")}
                ),
                index=1,
            ),
            "block_networks",
        ),
        "compose's runtime config without block_networks": (
            lambda d: (d / "runtime-config.redis.toml").write_text(
                (d / "runtime-config.redis.toml").read_text().replace('["private"]', "[]")
            ),
            "runtime-config.redis.toml",
        ),
        "a Secret key that does not exist": (
            lambda d: edit_yaml(
                d / "kubernetes/relay.yaml",
                lambda r: r["spec"]["template"]["spec"]["containers"][0]["env"].append(
                    {"name": "AURRAS_ADMIN_TOKEN", "valueFrom": {"secretKeyRef": {"name": "aurras", "key": "admin-tokn"}}}
                ),
            ),
            "admin-tokn",
        ),
    }
    failures = 0
    for what, (breaker, expected) in breaks.items():
        with tempfile.TemporaryDirectory() as tmp:
            copy_dir = Path(tmp) / "deploy"
            shutil.copytree(deploy, copy_dir)
            breaker(copy_dir)
            errors = check(copy_dir, ingestor)
            caught = any(expected in e for e in errors)
            print(f"{'caught' if caught else 'MISSED'}: {what}")
            if not caught:
                failures += 1
                print("  errors were:", *errors, sep="\n    ")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ingestor", required=True, help="the aurras-ingestor binary, for its --help")
    parser.add_argument("--deploy", type=Path, default=ROOT / "deploy")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        if check(args.deploy, args.ingestor):
            print("the unbroken files must pass first", file=sys.stderr)
            return 1
        return 1 if self_test(args.deploy, args.ingestor) else 0
    errors = check(args.deploy, args.ingestor)
    for e in errors:
        print(e, file=sys.stderr)
    if not errors:
        print(f"deploy/: compose.yaml and {len(kubernetes_docs(args.deploy))} Kubernetes objects are valid and match spin.toml and aurras-ingestor")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
