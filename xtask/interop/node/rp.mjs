// The Node.js relying party of `cargo xtask interop`: openid-client against
// Porthor.
//
// openid-client does the OpenID Connect work as an application would have it
// done: discovery, the authorization URL (PKCE S256, nonce, state), the code
// exchange with client_secret_basic (checking state, the RFC 9207 iss
// parameter, PKCE and nonce, and, with enableNonRepudiationChecks, the ID
// token's signature against the provider's JWKS), userinfo, and the
// refresh-token grant. This script only plays the browser, which logs in
// through the provider's form.
//
// Configuration comes from the environment: INTEROP_ISSUER,
// INTEROP_CLIENT_ID, INTEROP_CLIENT_SECRET, INTEROP_REDIRECT_URI,
// INTEROP_USERNAME, INTEROP_PASSWORD, and the user's expected claims
// INTEROP_NAME and INTEROP_EMAIL.
//
// Output, on stdout: a plan line `1..N`, then for every check, in order,
// `ok N - check: detail` or `not ok N - check: reason`. A check whose
// prerequisite failed is reported `not ok` too (as not run), so that the
// count of checks never shrinks. Exits 1 if any check failed.

import * as client from 'openid-client'

const SCOPE = 'openid profile email offline_access'
// For the browser's requests; openid-client's own are bounded by its default
// timeout and by xtask's.
const TIMEOUT_MS = 10_000

/** A check of this script's own failed (its message says which). */
class CheckFailed extends Error {}

function expect(condition, message) {
  if (!condition) {
    throw new CheckFailed(message)
  }
}

function oneLine(text) {
  return String(text).split(/\s+/).filter(Boolean).join(' ')
}

/** What a library's error says, with the provider's error code if any. */
function describe(error) {
  const parts = [`${error.name}: ${error.message}`]
  if (error.code) parts.push(`(${error.code})`)
  if (error.error) parts.push(`error=${error.error}`)
  if (error.error_description) parts.push(`error_description=${error.error_description}`)
  if (error.cause?.message) parts.push(`caused by: ${error.cause.message}`)
  return parts.join(' ')
}

/** Runs named checks in order and reports each one as a TAP-like line. */
class Checks {
  constructor(names) {
    this.names = names
    this.passed = new Set()
    this.failed = 0
    console.log(`1..${names.length}`)
  }

  async run(name, needs, body) {
    const number = this.names.indexOf(name) + 1
    const missing = needs.filter((need) => !this.passed.has(need))
    if (missing.length > 0) {
      this.fail(number, name, `not run, as '${missing[0]}' failed`)
      return
    }
    let detail
    try {
      detail = await body()
    } catch (error) {
      if (error instanceof CheckFailed) {
        this.fail(number, name, error.message)
      } else {
        // A library's refusal is a result too.
        this.fail(number, name, describe(error))
        console.error(error)
      }
      return
    }
    this.passed.add(name)
    console.log(`ok ${number} - ${name}${detail ? `: ${detail}` : ''}`)
  }

  fail(number, name, reason) {
    this.failed += 1
    console.log(`not ok ${number} - ${name}: ${oneLine(reason)}`)
  }
}

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

function decodeEntities(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, name) => {
    if (name[0] === '#') {
      const hex = name[1] === 'x' || name[1] === 'X'
      return String.fromCodePoint(parseInt(name.slice(hex ? 2 : 1), hex ? 16 : 10))
    }
    return ENTITIES[name.toLowerCase()] ?? whole
  })
}

function attributes(tag) {
  const found = {}
  const pattern = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g
  for (const match of tag.replace(/^<\w+|\/?>$/g, '').matchAll(pattern)) {
    found[match[1].toLowerCase()] = decodeEntities(match[2] ?? match[3] ?? match[4] ?? '')
  }
  return found
}

/** The first form of a page: its action and its inputs' names and values. */
function parseForm(html) {
  const form = html.match(/<form\b[^>]*>[\s\S]*?<\/form>/i)
  if (!form) return null
  const inputs = {}
  for (const [tag] of form[0].matchAll(/<input\b[^>]*>/gi)) {
    const input = attributes(tag)
    if (input.name) inputs[input.name] = input.value ?? ''
  }
  return { action: attributes(form[0].match(/<form\b[^>]*>/i)[0]).action, inputs }
}

/**
 * A minimal browser: fetch without following redirects, and a cookie jar for
 * the one host it talks to (Porthor scopes its cookies to the issuer's path,
 * here `/`, so names alone tell them apart).
 */
class Browser {
  cookies = new Map()

  async request(url, init = {}) {
    const headers = new Headers(init.headers)
    if (this.cookies.size > 0) {
      headers.set('cookie', [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; '))
    }
    const response = await fetch(url, {
      ...init,
      headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    })
    const set = []
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';')
      const at = pair.indexOf('=')
      const name = pair.slice(0, at).trim()
      const value = pair.slice(at + 1).trim()
      const expired = attrs.some((attr) => /^\s*max-age\s*=\s*(0|-)/i.test(attr))
      if (expired) {
        this.cookies.delete(name)
      } else {
        this.cookies.set(name, value)
        set.push(name)
      }
    }
    response.cookiesSet = set
    return response
  }
}

/** The absolute Location of a redirect with the given status. */
async function redirect(response, method, url, status) {
  if (response.status !== status) {
    const body = (await response.text()).slice(0, 200)
    throw new CheckFailed(`${method} ${url} answered ${response.status}, not ${status}: ${body}`)
  }
  const location = response.headers.get('location')
  expect(location, `${url} redirected without a Location`)
  return new URL(location, url).href
}

/**
 * Follows the authorization URL to the login form and submits it, as a
 * browser would; returns where the provider sends the browser next.
 */
async function logIn(browser, authorizationUrl, username, password) {
  const loginUrl = await redirect(
    await browser.request(authorizationUrl),
    'GET',
    authorizationUrl,
    302,
  )
  const login = new URL(loginUrl)
  expect(
    login.pathname.endsWith('/login') && login.searchParams.has('rd'),
    `the provider sent the browser to ${loginUrl}, not to /login?rd=...`,
  )
  const page = await browser.request(loginUrl)
  expect(page.status === 200, `GET ${loginUrl} answered ${page.status}`)
  expect(page.cookiesSet.includes('porthor_csrf'), 'GET /login set no CSRF cookie')
  const form = parseForm(await page.text())
  expect(form?.action, 'the login page has no form')
  for (const field of ['username', 'password', 'csrf_token', 'rd']) {
    expect(field in form.inputs, `the login form has no ${field} field`)
  }
  const fields = new URLSearchParams({ ...form.inputs, username, password })
  const action = new URL(form.action, loginUrl).href
  const response = await browser.request(action, { method: 'POST', body: fields })
  const back = await redirect(response, 'POST', action, 303)
  expect(response.cookiesSet.includes('porthor_session'), 'POST /login set no session cookie')
  return back
}

async function main() {
  const env = process.env
  const issuer = env.INTEROP_ISSUER
  const clientId = env.INTEROP_CLIENT_ID
  const redirectUri = env.INTEROP_REDIRECT_URI
  const username = env.INTEROP_USERNAME
  const s = {}

  const checks = new Checks([
    'discovery',
    'discovery lists offline_access and refresh_token',
    'authorization URL with PKCE S256, nonce and state',
    'login through the form',
    'authorization response with a code',
    'code exchange and ID token (state, iss, PKCE, client_secret_basic, nonce, JWKS signature)',
    'userinfo',
    'refresh token issued for offline_access',
    'refresh-token grant',
    'userinfo with the refreshed access token',
  ])
  const [
    discovery,
    advertises,
    authorizationUrl,
    loginForm,
    authorizationResponse,
    codeExchange,
    userinfo,
    refreshIssued,
    refreshGrant,
    refreshedUserinfo,
  ] = checks.names

  await checks.run(discovery, [], async () => {
    s.config = await client.discovery(
      new URL(issuer),
      clientId,
      undefined,
      client.ClientSecretBasic(env.INTEROP_CLIENT_SECRET),
      {
        // The issuer is plain http on loopback; openid-client wants https.
        // Non-repudiation checks make it verify ID token signatures against
        // the JWKS, which it otherwise skips for token endpoint responses.
        execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
      },
    )
    const metadata = s.config.serverMetadata()
    expect(metadata.issuer === issuer, `issuer is ${metadata.issuer}, not ${issuer}`)
    return `token endpoint ${metadata.token_endpoint}`
  })

  await checks.run(advertises, [discovery], async () => {
    const metadata = s.config.serverMetadata()
    const missing = [
      ['scopes_supported', 'offline_access'],
      ['grant_types_supported', 'refresh_token'],
    ]
      .filter(([field, item]) => !(metadata[field] ?? []).includes(item))
      .map(([field, item]) => `${item} in ${field}`)
    expect(missing.length === 0, `discovery lacks ${missing.join(' and ')}`)
  })

  await checks.run(authorizationUrl, [discovery], async () => {
    s.codeVerifier = client.randomPKCECodeVerifier()
    s.state = client.randomState()
    s.nonce = client.randomNonce()
    s.url = client.buildAuthorizationUrl(s.config, {
      redirect_uri: redirectUri,
      scope: SCOPE,
      code_challenge: await client.calculatePKCECodeChallenge(s.codeVerifier),
      code_challenge_method: 'S256',
      state: s.state,
      nonce: s.nonce,
    })
    const params = s.url.searchParams
    expect(params.get('code_challenge_method') === 'S256', 'no S256 PKCE challenge')
    expect(params.get('code_challenge'), 'no code_challenge')
    expect(params.get('nonce') === s.nonce, 'no nonce')
    expect(params.get('state') === s.state, 'no state')
    expect(params.get('scope') === SCOPE, `scope is ${params.get('scope')}`)
  })

  await checks.run(loginForm, [authorizationUrl], async () => {
    s.browser = new Browser()
    s.back = await logIn(s.browser, s.url.href, username, env.INTEROP_PASSWORD)
  })

  await checks.run(authorizationResponse, [loginForm], async () => {
    const response = await s.browser.request(s.back)
    const callback = await redirect(response, 'GET', s.back, 302)
    expect(
      callback.split('?')[0] === redirectUri,
      `redirected to ${callback}, not to the redirect URI`,
    )
    expect(new URL(callback).searchParams.has('code'), `no code in ${callback}`)
    s.callback = new URL(callback)
  })

  await checks.run(codeExchange, [authorizationResponse], async () => {
    s.tokens = await client.authorizationCodeGrant(s.config, s.callback, {
      pkceCodeVerifier: s.codeVerifier,
      expectedState: s.state,
      expectedNonce: s.nonce,
      idTokenExpected: true,
    })
    const claims = s.tokens.claims()
    expect(claims.sub === username, `sub is ${claims.sub}, not ${username}`)
    s.sub = claims.sub
    return `sub ${claims.sub}`
  })

  const checkUserinfo = async (accessToken) => {
    // openid-client checks that the sub is the ID token's.
    const info = await client.fetchUserInfo(s.config, accessToken, s.sub)
    expect(info.email === env.INTEROP_EMAIL, `email is ${info.email}`)
    expect(info.name === env.INTEROP_NAME, `name is ${info.name}`)
    return `sub ${info.sub}, email ${info.email}`
  }

  await checks.run(userinfo, [codeExchange], () => checkUserinfo(s.tokens.access_token))

  await checks.run(refreshIssued, [codeExchange], async () => {
    expect(
      s.tokens.refresh_token,
      'the token response has no refresh_token, though offline_access was requested',
    )
  })

  await checks.run(refreshGrant, [codeExchange, refreshIssued], async () => {
    const old = s.tokens
    // openid-client validates the new ID token (signature included) and
    // checks its claims as for the original one, nonce aside.
    const tokens = await client.refreshTokenGrant(s.config, old.refresh_token)
    expect(tokens.access_token, 'no access_token')
    expect(tokens.access_token !== old.access_token, 'the access token is the old one')
    expect(tokens.refresh_token, 'no refresh_token')
    expect(tokens.refresh_token !== old.refresh_token, 'the refresh token was not rotated')
    expect(tokens.id_token, 'no id_token')
    const sub = tokens.claims()?.sub
    expect(sub === s.sub, `the new ID token's sub is ${sub}`)
    s.refreshed = tokens
    return 'new access token, rotated refresh token, valid ID token'
  })

  await checks.run(refreshedUserinfo, [refreshGrant], () =>
    checkUserinfo(s.refreshed.access_token),
  )

  return checks.failed > 0 ? 1 : 0
}

process.exitCode = await main()
