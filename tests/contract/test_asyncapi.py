"""Each service's AsyncAPI document (`GET /asyncapi.json`) is valid for the official parser
(@asyncapi/parser, run by node from tools/asyncapi), and lists exactly the topics the contracts
say the service publishes and consumes (bookflow_contracts.topics.PUBLISHED_BY / CONSUMED_BY)."""
from __future__ import annotations

import fcntl
import importlib
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from bookflow_contracts import topics

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "asyncapi"
SERVICES = ("booking", "notification", "scheduler", "recall", "checkin")

EXPECTED_GAPS: dict[tuple[str, str, str], str] = {
    # Topics the contracts give a service that its code does not publish or consume yet; each is
    # added by the issue named. Remove a line when the service declares it (the test then holds
    # the service to it). (service, "send" | "receive", topic) → issue.
    ("booking", "receive", topics.NOTIFICATION_STATUS): "issue 12: booking keeps its own projection of delivery statuses",
    ("booking", "receive", topics.BOOKING_COMMANDS): "issues 14 and 16: contact changes, work lines and auto-booking as commands",
    ("booking", "receive", topics.CHECKIN_EVENTS): "issue 14: online check-in",
    **{("checkin", "send", t): "issue 14: online check-in" for t in (
        topics.TIMER_REQUESTS, topics.NOTIFICATION_REQUESTS, topics.BOOKING_COMMANDS, topics.CHECKIN_EVENTS)},
    **{("checkin", "receive", t): "issue 14: online check-in" for t in (
        topics.ORDER_TRANSITIONED, topics.TENANT_UPDATED, topics.BOOKING_COMMAND_RESULTS, topics.REMINDER_DUE)},
    **{("recall", "send", t): "issues 15 and 16: book-again reminders and recall" for t in (
        topics.TIMER_REQUESTS, topics.NOTIFICATION_REQUESTS, topics.BOOKING_COMMANDS, topics.SALES_RECORDED)},
    **{("recall", "receive", t): "issues 15 and 16: book-again reminders and recall" for t in (
        topics.ORDER_TRANSITIONED, topics.CUSTOMER_UPDATED, topics.TENANT_UPDATED, topics.BOOKING_COMMAND_RESULTS,
        topics.REMINDER_DUE, topics.NOTIFICATION_STATUS, topics.SALES_RECORDED)},
}


async def served_document(name: str) -> dict:
    """The service's `/asyncapi.json`, from its app in this process (in development mode, which
    the test fixtures set; nothing is started, the document is built from what it registers)."""
    app_module = importlib.import_module(f"bookflow_{name}.app")
    settings_module = importlib.import_module(f"bookflow_{name}.settings")
    settings_class = next(v for k, v in vars(settings_module).items() if k.endswith("Settings") and k != "ServiceSettings")
    app = app_module.create_app(settings_class(database_url="postgresql+asyncpg://unused@127.0.0.1:1/unused"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        response = await client.get("/asyncapi.json")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
async def documents() -> dict[str, dict]:
    return {name: await served_document(name) for name in SERVICES}


@pytest.fixture(scope="session")
def asyncapi_parser() -> Path:
    """tools/asyncapi with its node_modules, installed from its package.json and lock on first use."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed to check the AsyncAPI documents (apt-get install nodejs npm)"
    with open(TOOL / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs at once install once
        if not (TOOL / "node_modules" / "@asyncapi" / "parser").is_dir():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=TOOL, check=True, timeout=600,
                           capture_output=True)
    return TOOL / "validate.mjs"


def test_each_services_asyncapi_document_is_valid_for_the_official_parser(documents, asyncapi_parser, tmp_path):
    files = []
    for name, document in documents.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(document))
        files.append(str(path))
    checked = subprocess.run(["node", str(asyncapi_parser), *files], capture_output=True, text=True, timeout=120)
    results = [json.loads(line) for line in checked.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(files), checked.stdout + checked.stderr
    problems = {Path(r["file"]).stem: r["errors"] + r["warnings"] for r in results if r["errors"] or r["warnings"]}
    assert not problems, json.dumps(problems, indent=1)
    assert checked.returncode == 0, checked.stderr


def declared(document: dict) -> set[tuple[str, str]]:
    """(action, topic) of every operation in a document."""
    channels = document["channels"]
    return {(op["action"], channels[op["channel"]["$ref"].rsplit("/", 1)[1]]["address"])
            for op in document["operations"].values()}


def test_each_topic_appears_in_the_documents_of_exactly_the_services_that_publish_and_consume_it(documents):
    wrong, gaps = [], []
    for topic in topics.ALL:
        for name in SERVICES:
            ops = declared(documents[name])
            for action, listed in (("send", topics.PUBLISHED_BY.get(topic, ())), ("receive", topics.CONSUMED_BY.get(topic, ()))):
                should, does = name in listed, (action, topic) in ops
                if should and not does:
                    if (name, action, topic) in EXPECTED_GAPS:
                        gaps.append((name, action, topic))
                    else:
                        wrong.append(f"{name} does not {action} {topic}, which the contracts say it does")
                if does and not should:
                    wrong.append(f"{name} {action}s {topic}, which the contracts do not list")
    assert not wrong, "\n".join(wrong)
    for name, action, topic in gaps:
        print(f"expected gap: {name} {action} {topic} ({EXPECTED_GAPS[(name, action, topic)]})")


def test_each_message_in_a_document_carries_its_payload_schema_and_the_correlation_header(documents):
    for name, document in documents.items():
        schemas = document["components"]["schemas"]
        for message_id, message in document["components"]["messages"].items():
            if message_id == "DeadLetter":
                assert "dead-letter-reason" in message["headers"]["properties"]
                continue
            payload_ref = message["payload"]["allOf"][1]["properties"]["payload"]["$ref"]
            model = payload_ref.rsplit("/", 1)[1]
            assert schemas[model].get("properties") is not None or schemas[model].get("type") == "object", (name, message_id)
            assert message["correlationId"]["location"] == "$message.header#/correlation-id"
            assert "correlation-id" in message["headers"]["properties"]
