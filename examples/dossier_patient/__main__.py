"""``python -m dossier_patient``: run the sample app alone, configured by environment variables.

DOSSIER_ISSUER (Quivive's URL), DOSSIER_CLIENT_ID, DOSSIER_CLIENT_SECRET, DOSSIER_URL (this app's
URL, default http://localhost:8081); register the client with
``quivive client add "Dossier patient" --redirect-uri http://localhost:8081/callback
--post-logout-redirect-uri http://localhost:8081/ --scope openid --scope profile --scope email
--scope healthcare --first-party``.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import uvicorn

from dossier_patient.app import AppConfig, create_app


def main() -> None:
    app_url = os.environ.get("DOSSIER_URL", "http://localhost:8081")
    config = AppConfig(
        issuer=os.environ["DOSSIER_ISSUER"],
        client_id=os.environ["DOSSIER_CLIENT_ID"],
        client_secret=os.environ["DOSSIER_CLIENT_SECRET"],
        app_url=app_url,
    )
    uvicorn.run(create_app(config), host="127.0.0.1", port=urlsplit(app_url).port or 8081)


if __name__ == "__main__":
    main()
