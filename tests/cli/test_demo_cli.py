"""``quivive demo`` as a real process: both apps answer, a scripted sign-in works, Ctrl-C stops.

The browser is an httpx client following the OIDC redirects by hand and posting Quivive's forms,
with the TOTP code computed from the secret the demo prints, as a person would type it.
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from quivive.cli import demo as demo_command
from quivive.config import load_settings
from quivive.domain.demo_establishment import DEMO_PASSWORD
from quivive.protocols import totp
from quivive.protocols.oidc.acr import ACR_AAL1, ACR_AAL2, ACR_EMERGENCY
from support.oidc import csrf_token

# Seeding (a month of history) and two servers on a loaded 2-core machine.
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0
READY_LINE = "Press Ctrl-C to stop."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def quivive(*args: str) -> list[str]:
    return [sys.executable, "-c", "from quivive.cli.main import main; main()", *args]


def clean_env() -> dict[str, str]:
    kept = {name: value for name, value in os.environ.items() if not name.startswith("QUIVIVE_")}
    return {**kept, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


class Demo:
    """``quivive demo`` in a child process, its output read line by line as it comes."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port, self.app_port = free_port(), free_port()
        self.quivive_url = f"http://localhost:{self.port}"
        self.app_url = f"http://localhost:{self.app_port}"
        ports = ("--port", str(self.port), "--app-port", str(self.app_port))
        self.process = subprocess.Popen(
            quivive("demo", "--data-dir", str(data_dir), *ports),
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while READY_LINE not in self.output:
            if self.process.poll() is not None:
                self._reader.join(STOP_TIMEOUT_S)
                pytest.fail(f"quivive demo exited with {self.process.returncode}: {self.output}")
            if time.monotonic() > deadline:
                pytest.fail(f"quivive demo not ready within {START_TIMEOUT_S} s: {self.output}")
            time.sleep(0.1)

    def totp_secret(self, username: str) -> str:
        for line in self.output:
            cells = [cell.strip() for cell in line.split("│")]
            if len(cells) > 2 and cells[1] == username:
                return cells[-2]
        raise AssertionError(f"no row for {username} in {self.output}")

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(STOP_TIMEOUT_S)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(STOP_TIMEOUT_S)
        assert self.process.stdout is not None
        self.process.stdout.close()


def running_demo(data_dir: Path) -> Iterator[Demo]:
    demo = Demo(data_dir)
    try:
        demo.wait_until_ready()
        yield demo
    finally:
        demo.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    yield from running_demo(tmp_path_factory.mktemp("demo") / "data")


# --- a browser, by hand ---------------------------------------------------------------------------


def walk(browser: httpx.Client, url: str, *, stop_at: str | None = None) -> httpx.Response:
    """GET ``url`` and follow redirects; stop before a location starting with ``stop_at``."""
    response = browser.get(url)
    for _ in range(15):
        location = response.headers.get("location")
        if response.status_code not in (302, 303, 307) or location is None:
            return response
        target = urljoin(str(response.url), location)
        if stop_at is not None and target.startswith(stop_at):
            return response
        response = browser.get(target)
    raise AssertionError("too many redirects")


def sign_in(demo: Demo, browser: httpx.Client, username: str, code: str = "") -> httpx.Response:
    """From the sample app's sign-in link to the answer of Quivive's sign-in form."""
    login_page = walk(browser, demo.app_url + "/login")
    assert str(login_page.url).startswith(demo.quivive_url + "/login")
    match = re.search(r'name="next" value="([^"]*)"', login_page.text)
    assert match, login_page.text
    form = {
        "csrf_token": csrf_token(login_page.text),
        "username": username,
        "password": DEMO_PASSWORD,
        "code": code,
        "next": html.unescape(match[1]),
    }
    answer = browser.post(demo.quivive_url + "/login", data=form)
    assert answer.status_code == 303, answer.text
    return answer


def browser() -> httpx.Client:
    return httpx.Client(timeout=15, headers={"accept-language": "fr"})


# --- tests ---------------------------------------------------------------------------------------


def test_both_apps_answer(demo: Demo) -> None:
    assert httpx.get(demo.quivive_url + "/healthz").status_code == 200
    home = httpx.get(demo.app_url + "/")
    assert home.status_code == 200
    assert "Se connecter avec Quivive" in home.text
    assert any(demo.app_url in line for line in demo.output)
    assert any("tisane-brancard-azur-47" in line for line in demo.output)


def test_a_nurse_signs_in_with_password_and_totp_and_opens_the_records(demo: Demo) -> None:
    secret = demo.totp_secret("camille.durand")
    code = totp.code_at(secret, totp.step_at(datetime.now(UTC)))
    with browser() as client:
        answer = sign_in(demo, client, "camille.durand", code)
        claims_page = walk(client, urljoin(demo.quivive_url, answer.headers["location"]))
        records = client.get(demo.app_url + "/records")

    assert str(claims_page.url) == demo.app_url + "/"
    assert "Camille Durand" in claims_page.text
    assert ACR_AAL2 in claims_page.text
    assert "infirmier" in claims_page.text
    assert "otp" in claims_page.text
    assert records.status_code == 200
    assert 'id="records"' in records.text
    assert ACR_EMERGENCY not in records.text


def test_an_aal1_session_is_sent_to_quivive_for_a_step_up_before_the_records(demo: Demo) -> None:
    with browser() as client:
        answer = sign_in(demo, client, "ines.moreau")  # password only, rule not yet in force
        claims_page = walk(client, urljoin(demo.quivive_url, skip_link(client, demo, answer)))
        to_quivive = walk(client, demo.app_url + "/records", stop_at=demo.quivive_url)
        authorize = urljoin(demo.app_url, to_quivive.headers["location"])
        step_up = client.get(authorize)

    assert "Inès Moreau" in claims_page.text
    assert ACR_AAL1 in claims_page.text
    assert authorize.startswith(demo.quivive_url + "/authorize")
    asked = parse_qs(urlsplit(authorize).query)["acr_values"][0].split()
    assert asked == [ACR_AAL2, ACR_EMERGENCY]
    # Quivive keeps the request and asks for a sign-in at level 2 before going back to the app.
    assert step_up.status_code == 303
    to_login = urlsplit(step_up.headers["location"])
    assert to_login.path == "/login"
    assert parse_qs(to_login.query)["level"] == ["2"]


def test_after_the_step_up_and_a_new_authenticator_the_records_open(demo: Demo) -> None:
    with browser() as client:
        answer = sign_in(demo, client, "anais.roux")  # care assistant, password only, nudged
        walk(client, urljoin(demo.quivive_url, skip_link(client, demo, answer)))
        again = walk(client, demo.app_url + "/records")  # Quivive's sign-in page, level 2
        signed = post_form(client, again, username="anais.roux", password=DEMO_PASSWORD)
        offer = walk(client, urljoin(demo.quivive_url, signed.headers["location"]))
        enrol = re.search(r'href="(/account/totp/enrol[^"]*)"', offer.text)
        assert enrol, offer.text
        enrol_page = walk(client, urljoin(demo.quivive_url, html.unescape(enrol[1])))
        secret = re.search(r'id="secret" readonly value="([A-Z2-7]+)"', enrol_page.text)
        assert secret, enrol_page.text
        code = totp.code_at(secret[1], totp.step_at(datetime.now(UTC)))
        codes_page = post_form(client, enrol_page, name="Téléphone", code=code)
        onward = re.search(r'href="(/authorize[^"]+)"', codes_page.text)  # codes kept: continue
        assert onward, codes_page.text
        records = walk(client, urljoin(demo.quivive_url, html.unescape(onward[1])))

    assert str(records.url) == demo.app_url + "/records"
    assert 'id="records"' in records.text


def test_skipping_the_step_up_gets_a_clear_refusal_not_a_loop(demo: Demo) -> None:
    with browser() as client:
        answer = sign_in(demo, client, "gael.dubois")  # care assistant, password only, nudged
        walk(client, urljoin(demo.quivive_url, skip_link(client, demo, answer)))
        again = walk(client, demo.app_url + "/records")  # Quivive's sign-in page, level 2
        signed = post_form(client, again, username="gael.dubois", password=DEMO_PASSWORD)
        refused = walk(client, urljoin(demo.quivive_url, skip_link(client, demo, signed)))

    assert str(refused.url) == demo.app_url + "/records"
    assert refused.status_code == 403
    assert "AAL2" in refused.text
    assert "step_up=1" in refused.text  # the way to try again


def skip_link(client: httpx.Client, demo: Demo, answer: httpx.Response) -> str:
    nudge = walk(client, urljoin(demo.quivive_url, answer.headers["location"]))
    skip = re.search(r'id="skip" href="([^"]+)"', nudge.text)
    assert skip, nudge.text
    return html.unescape(skip[1])


def post_form(client: httpx.Client, page: httpx.Response, **fields: str) -> httpx.Response:
    """Post the first form of a Quivive page, with its CSRF token and ``next``."""
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action, page.text
    next_value = re.search(r'name="next" value="([^"]*)"', page.text)
    data = {"csrf_token": csrf_token(page.text), **fields}
    if next_value:
        data["next"] = html.unescape(next_value[1])
    return client.post(urljoin(str(page.url), html.unescape(action[1])), data=data)


def test_a_physician_without_his_phone_breaks_the_glass_and_the_app_marks_it(demo: Demo) -> None:
    with browser() as client:
        answer = sign_in(demo, client, "karim.benali")  # TOTP enrolled, phone at home
        owed = urlsplit(answer.headers["location"])
        next_url = parse_qs(owed.query)["next"][0]
        page = client.get(demo.quivive_url + "/login/emergency", params={"next": next_url})
        form = {
            "csrf_token": csrf_token(page.text),
            "next": next_url,
            "password": DEMO_PASSWORD,
            "reason": "factor_forgotten",
            "justification": "Arrêt cardiaque chambre 204, téléphone resté à la maison.",
            "witness_name": "Camille Durand",
        }
        granted = client.post(demo.quivive_url + "/login/emergency", data=form)
        claims_page = walk(client, urljoin(demo.quivive_url, granted.headers["location"]))
        records = client.get(demo.app_url + "/records")

    assert owed.path == "/login/second-factor"
    assert granted.status_code == 303, granted.text
    assert "Dr Karim Benali" in claims_page.text
    assert ACR_EMERGENCY in claims_page.text
    assert 'class="emergency"' in claims_page.text
    assert records.status_code == 200
    assert 'id="records"' in records.text
    assert 'class="emergency"' in records.text


def test_the_administrator_opens_the_console_on_the_seeded_month(demo: Demo) -> None:
    secret = demo.totp_secret("sophie.garnier")
    with browser() as client:
        page = client.get(demo.quivive_url + "/login", params={"next": "/admin"})
        form = {
            "csrf_token": csrf_token(page.text),
            "username": "sophie.garnier",
            "password": DEMO_PASSWORD,
            "code": totp.code_at(secret, totp.step_at(datetime.now(UTC))),
            "next": "/admin",
        }
        answer = client.post(demo.quivive_url + "/login", data=form)
        dashboard = walk(client, urljoin(demo.quivive_url, answer.headers["location"]))

    assert str(dashboard.url) == demo.quivive_url + "/admin"
    assert "ines.moreau" in dashboard.text  # still password-only
    assert 'id="emergency-overdue"' in dashboard.text  # the nurse's use, still unreviewed


def test_the_demo_folder_holds_a_configuration_for_other_commands(demo: Demo) -> None:
    settings = load_settings(env={}, config_file=demo.data_dir / "quivive.toml")

    assert settings.data_dir == demo.data_dir
    assert settings.establishment_name == "Centre hospitalier de Valmont"
    assert "medecin" in settings.emergency.roles


def test_the_posture_report_runs_on_the_demo_folder(demo: Demo, tmp_path: Path) -> None:
    output = tmp_path / "rapport.json"
    config = str(demo.data_dir / "quivive.toml")
    args = ("--config", config, "report", "--format", "json", "--output", str(output))
    result = subprocess.run(
        quivive(*args), env=clean_env(), capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(output.read_text(encoding="utf-8"))
    outcomes = {check["id"]: check["status"] for check in report["checks"]}
    # The demo is built to show both: what the establishment does well and what it must fix.
    assert outcomes["admins_phishing_resistant"] == "fail"
    assert outcomes["emergency_reviewed"] == "fail"
    assert outcomes["dormant_accounts"] == "fail"
    assert outcomes["audit_chain"] == "pass"


def test_ctrl_c_stops_both_servers(tmp_path: Path) -> None:
    for demo in running_demo(tmp_path / "data"):
        status = demo.interrupt()
        demo.close()

        assert status == 0, demo.output
        assert "demo stopped" in demo.output
        for port in (demo.port, demo.app_port):
            with (
                pytest.raises(ConnectionRefusedError),
                socket.create_connection(("127.0.0.1", port), 1),
            ):
                pass


# --- errors: one clear line, a non-zero exit -----------------------------------------------------


def run_demo(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    ports = ("--port", str(free_port()), "--app-port", str(free_port()))
    return subprocess.run(
        quivive("demo", "--data-dir", str(data_dir), *ports, *args),
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        check=False,
    )


def test_a_non_empty_data_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "quivive.db").write_text("an installation's data")

    result = run_demo(tmp_path)

    assert result.returncode == 2
    assert "is not empty" in result.stderr
    assert "--reset" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (tmp_path / "quivive.db").read_text() == "an installation's data"


def test_reset_wipes_only_a_folder_the_demo_made(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")

    result = run_demo(tmp_path, "--reset")

    assert result.returncode == 2
    assert "not made by quivive demo" in result.stderr
    assert (tmp_path / "precious.txt").exists()


def test_reset_wipes_a_previous_demo_folder(tmp_path: Path) -> None:
    (tmp_path / ".quivive-demo").write_text("made by quivive demo\n")
    (tmp_path / "quivive.db").write_text("last week's demo")
    with socket.socket() as taken:  # stops the demo right after the wipe, before seeding
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = subprocess.run(
            quivive("demo", "--data-dir", str(tmp_path), "--port", port, "--reset"),
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            check=False,
        )

    assert "already in use" in result.stderr
    assert not (tmp_path / "quivive.db").exists()


def test_without_the_sample_app_quivive_runs_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # As from an installed wheel: no examples/ beside the package nor in the current folder.
    monkeypatch.setattr(demo_command, "__file__", str(tmp_path / "a" / "b" / "c" / "demo.py"))
    monkeypatch.chdir(tmp_path)

    assert demo_command._sample_app_factory() is None


def test_a_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            quivive("demo", "--data-dir", str(tmp_path / "d"), "--port", str(port)),
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            check=False,
        )

    assert result.returncode == 1
    assert f"port {port}" in result.stderr
    assert "already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()  # nothing written before the ports are held
