"""`make user-token`: the small backend a real application would run, for the local stack.

It keeps a demo application's token in the state folder (never in a page) and asks the API for a
user token for whoever is named, to paste into the web page's sign-in. Only the standard library:
`local/` never imports the product.
"""

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

from .config import Config
from .proc import StackError

JSON = {"Content-Type": "application/json"}


def _call(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=JSON if body is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _application_token(api: str, saved: Path) -> str:
    """The demo application's token: the saved one while the API knows it, else a new one."""
    if saved.exists():
        token = json.loads(saved.read_text())["token"]
        if _call("GET", f"{api}/applications/{token}")[0] == 200:
            return token
    status, created = _call("POST", f"{api}/applications", {"name": "demo"})
    if status != 201:
        raise StackError(f"could not create the demo application: {status} {created}")
    saved.write_text(json.dumps({"token": created["token"]}))
    saved.chmod(0o600)
    return created["token"]


def user_token(
    cfg: Config, name: str, user_id: str = "", access: str = "read_write", expires_in: int = 3600
) -> str:
    """A user token of the demo application for `name` (user id: `user_id`, else the name in
    lower case)."""
    api = json.loads(cfg.outputs_file.read_text())["ApiUrl"]
    token = _application_token(api, cfg.state / "demo-application.json")
    grant = {
        "user_id": user_id or re.sub(r"\W+", "-", name.strip().lower()) or "user",
        "name": name,
        "access": access,
        "expires_in": expires_in,
    }
    status, issued = _call("POST", f"{api}/applications/{token}/user_tokens", grant)
    if status != 201:
        raise StackError(f"could not issue a user token: {status} {issued}")
    return issued["token"]
