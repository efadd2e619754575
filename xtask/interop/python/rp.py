"""The Python relying party of `cargo xtask interop`: authlib against Porthor.

authlib does the OpenID Connect work as an application would have it done:
discovery, the authorization URL (PKCE S256, nonce, state), the code exchange
with client_secret_basic (checking state and sending the PKCE verifier), the
ID token's validation against the provider's JWKS, userinfo, and the
refresh-token grant. This script only plays the browser, which logs in
through the provider's form.

Configuration comes from the environment: INTEROP_ISSUER,
INTEROP_CLIENT_ID, INTEROP_CLIENT_SECRET, INTEROP_REDIRECT_URI,
INTEROP_USERNAME, INTEROP_PASSWORD, and the user's expected claims
INTEROP_NAME and INTEROP_EMAIL.

Output, on stdout: a plan line `1..N`, then for every check, in order,
`ok N - check: detail` or `not ok N - check: reason`. A check whose
prerequisite failed is reported `not ok` too (as not run), so that the count
of checks never shrinks. Exits 1 if any check failed.
"""

import os
import sys
import traceback
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.integrations.base_client import (
    BaseApp,
    FrameworkIntegration,
    OAuth2Mixin,
    OpenIDMixin,
)
from authlib.integrations.requests_client import OAuth2Session

SCOPE = "openid profile email offline_access"
# For the browser's requests; authlib's own are bounded by xtask's timeout.
TIMEOUT = 10


class RelyingParty(OAuth2Mixin, OpenIDMixin, BaseApp):
    """authlib's OpenID Connect client, composed as its Flask and Django
    integrations compose it, minus the web framework's session storage:
    this script keeps the state, nonce and code verifier itself."""

    client_cls = OAuth2Session


class Checks:
    """Runs named checks in order and reports each one as a TAP-like line."""

    def __init__(self, names):
        self.names = names
        self.passed = set()
        self.failed = 0
        print(f"1..{len(names)}", flush=True)

    def run(self, name, needs, body):
        number = self.names.index(name) + 1
        missing = [need for need in needs if need not in self.passed]
        if missing:
            self.fail(number, name, f"not run, as {missing[0]!r} failed")
            return
        try:
            detail = body()
        except CheckFailed as failure:
            self.fail(number, name, str(failure))
            return
        except Exception as error:  # a library's refusal is a result too
            self.fail(number, name, f"{type(error).__name__}: {error}")
            traceback.print_exc(file=sys.stderr)
            return
        self.passed.add(name)
        suffix = f": {detail}" if detail else ""
        print(f"ok {number} - {name}{suffix}", flush=True)

    def fail(self, number, name, reason):
        self.failed += 1
        print(f"not ok {number} - {name}: {one_line(reason)}", flush=True)


def one_line(text):
    return " ".join(str(text).split())


class CheckFailed(Exception):
    """A check of this script's own failed (its message says which)."""


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


class FormParser(HTMLParser):
    """The first form of a page: its action and its inputs' names and values."""

    def __init__(self):
        super().__init__()
        self.action = None
        self.inputs = {}
        self.in_form = False
        self.done = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and not self.done:
            self.action = attrs.get("action")
            self.in_form = True
        elif tag == "input" and self.in_form and attrs.get("name"):
            self.inputs[attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form" and self.in_form:
            self.in_form = False
            self.done = True


def query(url):
    """A URL's query parameters, each given once."""
    params = parse_qs(urlsplit(url).query, keep_blank_values=True)
    for name, values in params.items():
        expect(len(values) == 1, f"{name} is repeated in {url}")
    return {name: values[0] for name, values in params.items()}


def redirect(response, status):
    """The absolute Location of a redirect with the given status."""
    expect(
        response.status_code == status,
        f"{response.request.method} {response.url} answered "
        f"{response.status_code}, not {status}: {response.text[:200]}",
    )
    location = response.headers.get("Location")
    expect(location, f"{response.url} redirected without a Location")
    return urljoin(response.url, location)


def log_in(browser, authorization_url, username, password):
    """Follows the authorization URL to the login form and submits it, as a
    browser would; returns where the provider sends the browser next."""

    def get(url):
        return browser.get(url, allow_redirects=False, timeout=TIMEOUT)

    login_url = redirect(get(authorization_url), 302)
    expect(
        urlsplit(login_url).path.endswith("/login") and "rd" in query(login_url),
        f"the provider sent the browser to {login_url}, not to /login?rd=...",
    )
    page = get(login_url)
    expect(page.status_code == 200, f"GET {login_url} answered {page.status_code}")
    expect("porthor_csrf" in page.cookies, "GET /login set no CSRF cookie")
    form = FormParser()
    form.feed(page.text)
    expect(form.action, "the login page has no form")
    for field in ("username", "password", "csrf_token", "rd"):
        expect(field in form.inputs, f"the login form has no {field} field")
    fields = dict(form.inputs, username=username, password=password)
    response = browser.post(
        urljoin(page.url, form.action),
        data=fields,
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    back = redirect(response, 303)
    expect("porthor_session" in response.cookies, "POST /login set no session cookie")
    return back


def main():
    env = os.environ
    issuer = env["INTEROP_ISSUER"]
    client_id = env["INTEROP_CLIENT_ID"]
    redirect_uri = env["INTEROP_REDIRECT_URI"]
    username = env["INTEROP_USERNAME"]

    rp = RelyingParty(
        FrameworkIntegration("porthor"),
        name="porthor",
        client_id=client_id,
        client_secret=env["INTEROP_CLIENT_SECRET"],
        server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": SCOPE,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_basic",
        },
    )
    # authlib checks iss only against its claims options; also check aud.
    id_token_claims = {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": client_id},
    }
    state = {}

    def discovery():
        metadata = rp.load_server_metadata()
        expect(
            metadata.get("issuer") == issuer,
            f"issuer is {metadata.get('issuer')!r}, not {issuer!r}",
        )
        state["metadata"] = metadata
        return f"token endpoint {metadata['token_endpoint']}"

    def advertises_refresh():
        metadata = state["metadata"]
        missing = [
            f"{item} in {field}"
            for field, item in (
                ("scopes_supported", "offline_access"),
                ("grant_types_supported", "refresh_token"),
            )
            if item not in metadata.get(field, [])
        ]
        expect(not missing, "discovery lacks " + " and ".join(missing))

    def authorization_url():
        request = rp.create_authorization_url(redirect_uri)
        params = query(request["url"])
        expect(params.get("code_challenge_method") == "S256", "no S256 PKCE challenge")
        expect(params.get("code_challenge"), "no code_challenge")
        expect(params.get("nonce") == request["nonce"], "no nonce")
        expect(params.get("state") == request["state"], "no state")
        expect(params.get("scope") == SCOPE, f"scope is {params.get('scope')!r}")
        state["request"] = request

    def login_form():
        browser = requests.Session()
        back = log_in(browser, state["request"]["url"], username, env["INTEROP_PASSWORD"])
        state["browser"], state["back"] = browser, back

    def authorization_response():
        response = state["browser"].get(state["back"], allow_redirects=False, timeout=TIMEOUT)
        callback = redirect(response, 302)
        expect(
            callback.split("?")[0] == redirect_uri,
            f"redirected to {callback}, not to the redirect URI",
        )
        params = query(callback)
        expect("code" in params, f"no code in {callback}")
        # RFC 9207: authlib's requests client does not check iss, so do it here.
        expect(params.get("iss") == issuer, f"iss is {params.get('iss')!r}, not {issuer!r}")
        state["callback"] = callback

    def code_exchange():
        request = state["request"]
        token = rp.fetch_access_token(
            redirect_uri=redirect_uri,
            authorization_response=state["callback"],
            state=request["state"],
            code_verifier=request["code_verifier"],
        )
        expect(token.get("access_token"), "no access_token")
        expect(str(token.get("token_type")).lower() == "bearer", "token_type is not Bearer")
        expect(token.get("id_token"), "no id_token")
        state["token"] = token

    def id_token():
        claims = rp.parse_id_token(
            state["token"], nonce=state["request"]["nonce"], claims_options=dict(id_token_claims)
        )
        expect(claims["sub"] == username, f"sub is {claims['sub']!r}, not {username!r}")
        state["sub"] = claims["sub"]
        return f"sub {claims['sub']}"

    def userinfo(token):
        info = rp.userinfo(token=token)
        expect(info.get("sub") == state["sub"], f"sub is {info.get('sub')!r}")
        expect(info.get("email") == env["INTEROP_EMAIL"], f"email is {info.get('email')!r}")
        expect(info.get("name") == env["INTEROP_NAME"], f"name is {info.get('name')!r}")
        return f"sub {info['sub']}, email {info['email']}"

    def refresh_token_issued():
        expect(
            state["token"].get("refresh_token"),
            "the token response has no refresh_token, though offline_access was requested",
        )

    def refresh_grant():
        old = state["token"]
        client = OAuth2Session(
            client_id,
            env["INTEROP_CLIENT_SECRET"],
            scope=SCOPE,
            token_endpoint_auth_method="client_secret_basic",
        )
        new = client.refresh_token(
            state["metadata"]["token_endpoint"], refresh_token=old["refresh_token"]
        )
        expect(new.get("access_token"), "no access_token")
        expect(new["access_token"] != old["access_token"], "the access token is the old one")
        expect(new.get("refresh_token"), "no refresh_token")
        expect(new["refresh_token"] != old["refresh_token"], "the refresh token was not rotated")
        expect(new.get("id_token"), "no id_token")
        # The original nonce does not apply (OpenID Connect Core 12.2).
        claims = rp.parse_id_token(new, nonce=None, claims_options=dict(id_token_claims))
        expect(claims["sub"] == state["sub"], f"the new ID token's sub is {claims['sub']!r}")
        state["refreshed"] = new
        return "new access token, rotated refresh token, valid ID token"

    checks = Checks(
        [
            "discovery",
            "discovery lists offline_access and refresh_token",
            "authorization URL with PKCE S256, nonce and state",
            "login through the form",
            "authorization response with code and iss",
            "code exchange (state, PKCE, client_secret_basic)",
            "ID token (JWKS signature, iss, aud, nonce, at_hash, exp)",
            "userinfo",
            "refresh token issued for offline_access",
            "refresh-token grant",
            "userinfo with the refreshed access token",
        ]
    )
    names = checks.names
    checks.run(names[0], [], discovery)
    checks.run(names[1], [names[0]], advertises_refresh)
    checks.run(names[2], [names[0]], authorization_url)
    checks.run(names[3], [names[2]], login_form)
    checks.run(names[4], [names[3]], authorization_response)
    checks.run(names[5], [names[4]], code_exchange)
    checks.run(names[6], [names[5]], id_token)
    checks.run(names[7], [names[6]], lambda: userinfo(state["token"]))
    checks.run(names[8], [names[5]], refresh_token_issued)
    checks.run(names[9], [names[6], names[8]], refresh_grant)
    checks.run(names[10], [names[9]], lambda: userinfo(state["refreshed"]))
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
