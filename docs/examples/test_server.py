"""The server page's example: a subprocess given gcpfakes_server.env reaches the test's fakes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).with_name("export_tool.py")


def test_cli_tool(fake_pubsub, fake_storage, gcpfakes_server):
    fake_pubsub.create_topic("events")
    fake_storage.create_bucket("exports")
    subprocess.run([sys.executable, str(TOOL)], env=gcpfakes_server.env, check=True)
    assert fake_storage.objects("exports") == ["2026-12-05.csv"]
    (message,) = fake_pubsub.published("events")
    assert (message.data, message.attributes["file"]) == (b"exported", "2026-12-05.csv")


def test_other_programs_get_the_emulator_variables(gcpfakes_server):
    env = gcpfakes_server.env
    assert env["PUBSUB_EMULATOR_HOST"] == gcpfakes_server.pubsub_address
    assert env["STORAGE_EMULATOR_HOST"] == gcpfakes_server.storage_url
