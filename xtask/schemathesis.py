#!/usr/bin/env python3
"""Schemathesis against a running `tenancy serve`, as owner, viewer and outsider.

Usage: python3 xtask/schemathesis.py [BINARY] [--examples N] [--phases LIST] [--lenient]

Starts BINARY (default target/debug/tenancy) on a free port in a temporary
folder, seeds an organization with one of every resource, then runs
`schemathesis run` against the served OpenAPI document once per caller, with
the organization's ids supplied for the path parameters so that operations
reach real data instead of 404s. Every check runs (schemathesis's default) in the
examples, coverage, fuzzing and stateful phases (LIST narrows them): it fails
(exit 1) on any server error, any response that breaks the document, any
invalid input accepted or valid input refused, any undocumented status code,
content type or header, a 405 without `Allow`, and any authorization lapse
the stateful checks find.

The outsider runs first and the owner last: the owner's run deletes what it
finds, and the viewer's run should still see it.
"""

import email
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

# Every check schemathesis has, in every phase: schemathesis runs them all unless told otherwise, and the
# configuration below turns one off for five operations only, and lets one more answer 422 (see ACCEPTANCE). `--lenient` leaves out the two
# checks that judge the document's constraints against the server (`positive_data_acceptance`,
# `ensure_resource_availability`), for a document in the middle of a change.
EXCLUDED = "positive_data_acceptance,ensure_resource_availability"
PHASES = "examples,coverage,fuzzing,stateful"
PASSWORD = "correct horse battery"


def call(base, method, path, token=None, body=None, multipart=None):
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    if multipart is not None:
        name, content = multipart
        boundary = "schemathesis-seed"
        data = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: text/plain\r\n\r\n{content}\r\n--{boundary}--\r\n"
        ).encode()
        headers["content-type"] = f"multipart/form-data; boundary={boundary}"
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        raise SystemExit(f"seeding failed: {method} {path} -> {error.code} {text}")


def sign_up(base, email_address, invitation_token=None):
    body = {"email": email_address, "password": PASSWORD}
    if invitation_token:
        body["invitation_token"] = invitation_token
    _, answer = call(base, "POST", "/v1/auth/signup", body=body)
    return answer


def token_in_outbox(outbox, to, kind="invitations"):
    """The token of the first `/<kind>/<token>` link in an email to `to` (invitations, verify-email)."""
    deadline = time.time() + 30
    while time.time() < deadline:
        for path in glob.glob(os.path.join(outbox, "*.eml")):
            with open(path, "rb") as file:
                message = email.message_from_binary_file(file)
            if to in message.get("To", ""):
                body = message.get_payload(decode=True).decode()
                found = re.findall(rf"/{kind}/([A-Za-z0-9_-]{{43}})", body)
                if found:
                    return found[-1]
        time.sleep(0.2)
    raise SystemExit(f"no /{kind}/ email to {to} in {outbox}")


def spare_session(base, email_address):
    """Signs in once more and returns the id of that session: the one `DELETE /v1/me/sessions/{session_id}`
    ends, so that the session the run uses lives on."""
    _, signed_in = call(base, "POST", "/v1/auth/signin", body={"email": email_address, "password": PASSWORD})
    _, listed = call(base, "GET", "/v1/me/sessions", signed_in["token"])
    return next(item["id"] for item in listed["items"] if item["current"])


def start(binary, folder):
    # The log goes to a file: a pipe nobody reads would fill up and stall the server.
    log = open(os.path.join(folder, "server.log"), "w")
    server = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=log,
        # The rate limits are off: schemathesis signs in and invites far faster than people do, and
        # would meet 429s instead of the behaviour under test.
        env={
            **os.environ,
            "TENANCY_LOG": "warn,tenancy=info",
            "NO_COLOR": "1",
            "TENANCY_SIGNIN_FAILURES_PER_EMAIL": "0",
            "TENANCY_AUTH_ATTEMPTS_PER_IP": "0",
            "TENANCY_ACCOUNT_EMAILS_PER_ADDRESS": "0",
            "TENANCY_INVITATIONS_PER_ORGANIZATION": "0",
        },
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        with open(log.name) as reader:
            found = re.search(r"listening on (http://\S+)", reader.read())
        if found:
            return server, found.group(1)
        if server.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit("the server did not start listening")


def seed(base, folder):
    outbox = os.path.join(folder, "tenancy-data", "outbox")
    owner = sign_up(base, "owner@example.com")
    org = owner["default_organization"]["id"]
    token = owner["token"]
    # Inviting needs a verified address: the owner opens the link of her verification email.
    call(base, "POST", "/v1/auth/verify-email", body={"token": token_in_outbox(outbox, "owner@example.com", "verify-email")})
    o = f"/v1/organizations/{org}"
    _, connection = call(
        base, "POST", f"{o}/connections", token,
        {"label": "Warehouse", "type": "postgres", "credentials": {"password": "pw"}},
    )
    _, agent = call(
        base, "POST", f"{o}/agents", token,
        {"name": "Cost bot", "connection_ids": [connection["id"]]},
    )
    _, report = call(base, "POST", f"{o}/reports", token, {"name": "Weekly", "definition": {}})
    _, run = call(base, "POST", f"{o}/reports/{report['id']}/runs", token)
    _, file = call(base, "POST", f"{o}/knowledge-files", token, multipart=("notes.md", "# notes"))
    call(base, "POST", f"{o}/invitations", token, {"email": "viewer@example.com"})
    viewer = sign_up(base, "viewer@example.com", token_in_outbox(outbox, "viewer@example.com"))
    assert viewer["invitation"]["status"] == "accepted", viewer
    outsider = sign_up(base, "outsider@example.com")
    # A pending invitation, for GET /v1/invitations/{token}.
    call(base, "POST", f"{o}/invitations", token, {"email": "pending@example.com"})
    pending = token_in_outbox(outbox, "pending@example.com")
    ids = {
        "org_id": org,
        "user_id": viewer["user"]["id"],
        "token": pending,
        "agent": agent["id"],
        "connection": connection["id"],
        "report": report["id"],
        "file": file["id"],
        "run": run["id"],
    }
    tokens = {
        "outsider": outsider["token"],
        "viewer": viewer["token"],
        "owner": token,
    }
    for who in tokens:
        ids[f"session_{who}"] = spare_session(base, f"{who}@example.com")
    for who in ("viewer", "owner"):
        _, chat = call(base, "POST", f"{o}/chats", tokens[who], {"agent_id": agent["id"]})
        _, pin = call(base, "POST", f"{o}/pins", tokens[who], {"item_type": "agent", "item_id": agent["id"]})
        ids[f"chat_{who}"] = chat["id"]
        ids[f"pin_{who}"] = pin["id"]
    return ids, tokens


# Valid input may still be refused for the organization's state: 402 is a plan's quota reached, which no request
# schema can foresee. Input that the document allows and the server refuses as invalid (400, 422) still fails.
#
# `ensure_resource_availability` takes a 404 after a POST that created a parent (an organization) for the parent
# not being found, when every parameter came from links. The operations below also name things in their body (a
# pin's `item_id`, a chat's `agent_id` or `report_run_id`, an investigation's `agent_id`, an agent's
# `connection_ids`), which no link supplies; a generated id names nothing, and API.md answers a missing thing with
# 404. The check cannot tell the two apart, so it does not run on them; every other check does, and the 404s of
# their path parameters are covered by the check on every other operation of the same paths.
ACCEPTANCE = """
[checks.positive_data_acceptance]
expected-statuses = ["2XX", "3XX", "401", "402", "403", "404", "409", "429", "5XX"]

[[operations]]
include-operation-id = ["create_pin", "create_chat", "create_investigation", "create_agent", "update_agent"]
checks.ensure_resource_availability.enabled = false

# An organization's deletion and its ownership transfer exist only once requested: right after the organization is
# created, API.md answers 404 for them (`GET`, restore, cancel, accept, decline), which is no created thing missing.
[[operations]]
include-operation-id = ["get_organization_deletion", "restore_organization", "get_ownership_transfer", "cancel_ownership_transfer", "decline_ownership_transfer"]
checks.ensure_resource_availability.enabled = false

# API.md: a `reassign_to` that names the role itself, the owner's or no role of the organization is 422, although
# the document can only say that it is a well-formed key.
[[operations]]
include-operation-id = ["delete_role"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "3XX", "401", "402", "403", "404", "409", "422", "429", "5XX"]

# API.md: `confirm_name` must be the organization's name exactly (422 otherwise), which no schema can say.
[[operations]]
include-operation-id = ["delete_organization"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "3XX", "401", "402", "403", "404", "409", "422", "429", "5XX"]

# API.md: a webhook's `url` must be https and resolve to public addresses only (checked when it is set, 422 otherwise,
# also for a host name that does not resolve), and `events` must name actions of the audit log: no schema can say
# where a name resolves, and the server runs here without `--allow-private-webhooks`.
[[operations]]
include-operation-id = ["create_webhook", "update_webhook"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "3XX", "401", "402", "403", "404", "409", "422", "429", "5XX"]

# API.md: resending a revoked invitation is 410 `invitation_revoked`: the invitation's state, not the request's.
[[operations]]
include-operation-id = ["resend_invitation"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "3XX", "401", "402", "403", "404", "409", "410", "429", "5XX"]

# Accepting an expired transfer is 410 `transfer_expired`, and there is none (404) until the owner requests one.
[[operations]]
include-operation-id = ["accept_ownership_transfer"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "3XX", "401", "402", "403", "404", "409", "410", "429", "5XX"]
checks.ensure_resource_availability.enabled = false
"""


def config(ids, who):
    """A schemathesis.toml naming the seeded ids for each path parameter.

    Only the phases that draw single requests get them: in the stateful phase the ids come from the responses
    along each link, and a pinned value would override the one a link passes on.
    """
    own = who if who != "outsider" else "owner"
    per_path = [
        ("/agents/", ids["agent"]),
        ("/connections/", ids["connection"]),
        ("/reports/", ids["report"]),
        ("/knowledge-files/", ids["file"]),
        ("/chats/", ids[f"chat_{own}"]),
        ("/pins/", ids[f"pin_{own}"]),
    ]
    lines = [
        "[parameters]",
        f'"path.org_id" = "{ids["org_id"]}"',
        f'"path.user_id" = "{ids["user_id"]}"',
        f'"path.token" = "{ids["token"]}"',
        f'"path.session_id" = "{ids[f"session_{who}"]}"',
        "",
    ]
    for fragment, value in per_path:
        lines += [
            "[[operations]]",
            f"include-path-regex = '{fragment}'",
            f'parameters = {{ "path.id" = "{value}" }}',
            "",
        ]
    return ACCEPTANCE + "\n".join(lines)


def main():
    args = sys.argv[1:]
    lenient = "--lenient" in args
    if lenient:
        args.remove("--lenient")
    examples = "100"
    if "--examples" in args:
        at = args.index("--examples")
        examples = args[at + 1]
        del args[at : at + 2]
    phases = PHASES
    if "--phases" in args:
        at = args.index("--phases")
        phases = args[at + 1]
        del args[at : at + 2]
    binary = os.path.abspath(args[0] if args else "target/debug/tenancy")
    failed = []
    with tempfile.TemporaryDirectory(prefix="tenancy-schemathesis-") as folder:
        server, base = start(binary, folder)
        try:
            ids, tokens = seed(base, folder)
            for who in ("outsider", "viewer", "owner"):
                single = [p for p in phases.split(",") if p != "stateful"]
                runs = []
                if single:
                    runs.append((",".join(single), config(ids, who)))
                if "stateful" in phases.split(","):
                    runs.append(("stateful", ACCEPTANCE))
                for run_phases, text in runs:
                    config_path = os.path.join(folder, f"schemathesis-{who}-{run_phases.replace(',', '-')}.toml")
                    with open(config_path, "w") as file:
                        file.write(text)
                    print(f"== schemathesis as {who}: {run_phases}", flush=True)
                    command = [
                        "schemathesis", "--config-file", config_path, "run", f"{base}/openapi.json",
                        "--header", f"Authorization: Bearer {tokens[who]}",
                        # Every check runs by default; `--checks all` would override the configuration's
                        # per-operation settings (command-line options take precedence over the file).
                        *(["--exclude-checks", EXCLUDED] if lenient else []),
                        "--max-examples", examples,
                        "--phases", run_phases,
                        # Signing out would end the session that the rest of the run uses.
                        "--exclude-path", "/v1/auth/signout",
                        "--generation-database", "none",
                        "--seed", "20261127",
                        # One worker: CPython 3.11.7's `ast.parse` is not safe in threads ("AST constructor
                        # recursion depth mismatch"), and hypothesis calls it while describing strategies.
                        "--workers", "1",
                        "--no-color",
                    ]
                    hooks = {
                        "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
                        "PYTHONPATH": os.path.join(os.path.dirname(os.path.abspath(__file__)), "hooks"),
                    }
                    if subprocess.run(command, cwd=folder, env={**os.environ, **hooks}).returncode != 0:
                        failed.append(f"{who} ({run_phases})")
        finally:
            server.terminate()
            server.wait(timeout=30)
    if failed:
        print(f"schemathesis found problems as: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)
    print("schemathesis: no failures as outsider, viewer or owner")


if __name__ == "__main__":
    main()
