// The browser test of `cargo xtask e2e`: Debian's Chromium, driven by
// playwright-core, through the pages a person sees at Porthor.
//
// The flow runs once per viewport (a desktop window and a 360 px phone), each
// in a fresh browser context (no cookies): the landing page at `/` names the
// product and links to discovery and the JWKS; an authorization request opens the
// login form; a wrong password shows an error that is announced and tied to
// the field; the right password leads to the consent page (the request says
// prompt=consent); allowing it returns to the client's redirect URI with a
// code and the request's state and iss, and the code is redeemed at the token
// endpoint; RP-initiated logout at the end_session endpoint asks for
// confirmation, and confirming it shows the logged-out page. Then the
// built-in demo relying party: "Try a login" on the landing page leads to
// the login form (naming the demo application), a wrong password fails,
// the right one ends on the demo's claims page (the ID token's claims and
// userinfo), "Refresh tokens" shows refreshed ones, and "Log out" goes
// through the end_session endpoint back to the demo's logged-out page.
//
// On every page the provider serves, the script runs axe-core (failing on
// any `serious` or `critical` violation, and printing the others as
// comments), checks that the page does not scroll sideways
// (document.scrollingElement.scrollWidth <= innerWidth, and <= the
// viewport's width, as a phone widens innerWidth to fit the page), that the browser
// reported no console error (a refused inline style under the pages'
// Content-Security-Policy, for one), and saves a full-page screenshot as
// <E2E_SCREENSHOTS>/<viewport>-<step>.png.
//
// The redirect URI (on a free loopback port xtask picked) is answered by a
// tiny listener in this script; the script reads the callback's URL, as the
// client's handler would.
//
// More pages are more entries in STEPS: each has a name, and a body that gets
// the step's context, acts in the page, checks what it expects and returns a
// detail for its line (or throws CheckFailed). A body ending on a provider's
// page returns `{ page: true, detail }` to have that page checked.
//
// Configuration comes from the environment: E2E_ISSUER, E2E_CLIENT_ID,
// E2E_CLIENT_SECRET, E2E_REDIRECT_URI, E2E_USERNAME, E2E_PASSWORD,
// E2E_SCREENSHOTS (a directory), E2E_CHROMIUM (the browser's path) and
// E2E_SANDBOX (`1` to keep Chromium's sandbox, which does not work as root).
//
// Output, on stdout: a plan line `1..N`, then for every step and viewport,
// in order, `ok N - viewport: step: detail` or `not ok N - viewport: step:
// reason`. A step after a failed one is reported `not ok` (not run), so that
// the count never shrinks. Exits 1 if any step failed.

import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { join } from 'node:path'

import { chromium } from 'playwright-core'

const require = createRequire(import.meta.url)
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')

const env = (name) => {
  const value = process.env[name]
  if (value === undefined || value === '') {
    console.error(`error: ${name} is not set`)
    process.exit(2)
  }
  return value
}

const ISSUER = env('E2E_ISSUER')
const CLIENT_ID = env('E2E_CLIENT_ID')
const CLIENT_SECRET = env('E2E_CLIENT_SECRET')
const REDIRECT_URI = env('E2E_REDIRECT_URI')
const USERNAME = env('E2E_USERNAME')
const PASSWORD = env('E2E_PASSWORD')
const SCREENSHOTS = env('E2E_SCREENSHOTS')
const CHROMIUM = env('E2E_CHROMIUM')
const SANDBOX = process.env.E2E_SANDBOX === '1'

// For each navigation and wait in the browser.
const TIMEOUT_MS = 15_000
// axe-core impacts that fail a page; `minor` and `moderate` are printed.
const FAILING_IMPACTS = new Set(['serious', 'critical'])

const VIEWPORTS = [
  { name: 'desktop', options: { viewport: { width: 1280, height: 800 } } },
  {
    name: 'phone',
    options: {
      viewport: { width: 360, height: 740 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    },
  },
]

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

function base64url(bytes) {
  return Buffer.from(bytes).toString('base64url')
}

/** The provider's endpoints, from its discovery document. */
async function discover() {
  const url = `${ISSUER}/.well-known/openid-configuration`
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) })
  if (!response.ok) {
    throw new Error(`GET ${url}: ${response.status}`)
  }
  return response.json()
}

/** The heading of the page, which names it. */
async function heading(page) {
  const h1 = page.locator('h1')
  return (await h1.count()) > 0 ? oneLine(await h1.first().innerText()) : ''
}

async function expectHeading(page, expected) {
  const actual = await heading(page)
  expect(actual === expected, `expected the page "${expected}", got "${actual}" at ${page.url()}`)
}

// The steps, in order; each needs the one before it to have passed.
const STEPS = [
  {
    name: 'landing page',
    async body(ctx) {
      await ctx.page.goto(`${ISSUER.replace(/\/$/, '')}/`)
      const title = await heading(ctx.page)
      expect(title.includes('Porthor'), `the landing page's heading is "${title}"`)
      for (const [what, url] of [
        ['discovery', ctx.metadata.issuer.replace(/\/$/, '') + '/.well-known/openid-configuration'],
        ['JWKS', ctx.metadata.jwks_uri],
      ]) {
        const links = ctx.page.locator(`a[href="${url}"]`)
        expect((await links.count()) === 1, `no link to the ${what} at ${url}`)
      }
      return { page: true, detail: 'names the product and links to discovery and the JWKS' }
    },
  },
  {
    name: 'login form',
    async body(ctx) {
      const verifier = base64url(randomBytes(32))
      ctx.verifier = verifier
      ctx.state = base64url(randomBytes(16))
      const url = new URL(ctx.metadata.authorization_endpoint)
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: CLIENT_ID,
        redirect_uri: REDIRECT_URI,
        scope: 'openid profile email',
        state: ctx.state,
        nonce: base64url(randomBytes(16)),
        code_challenge: base64url(createHash('sha256').update(verifier).digest()),
        code_challenge_method: 'S256',
        // So that the consent page is part of the flow, whatever the client.
        prompt: 'consent',
      }).toString()
      await ctx.page.goto(url.href)
      await expectHeading(ctx.page, 'Log in')
      for (const field of ['username', 'password']) {
        const label = ctx.page.getByLabel(field === 'username' ? 'Username' : 'Password', {
          exact: true,
        })
        expect((await label.count()) === 1, `no field labelled for ${field}`)
      }
      return { page: true, detail: 'the authorization request shows the form' }
    },
  },
  {
    name: 'wrong password',
    async body({ page }) {
      await page.getByLabel('Username', { exact: true }).fill(USERNAME)
      await page.getByLabel('Password', { exact: true }).fill(`${PASSWORD}-wrong`)
      await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Log in' }).click()])
      await expectHeading(page, 'Log in')
      // The error must be visible, announced by a screen reader when the
      // page loads (role=alert, or a live region), and tied to the field
      // that was wrong, so that it is read again on focusing it.
      const error = page.locator('[role="alert"], [aria-live="assertive"], [aria-live="polite"]')
      expect((await error.count()) === 1, `${await error.count()} announced error messages, not 1`)
      expect(await error.isVisible(), 'the error message is not visible')
      const message = oneLine(await error.innerText())
      expect(message.length > 0, 'the error message is empty')
      const id = await error.getAttribute('id')
      const password = page.getByLabel('Password', { exact: true })
      const describedBy = (await password.getAttribute('aria-describedby')) ?? ''
      expect(
        id !== null && describedBy.split(/\s+/).includes(id),
        `the password field is not described by the error (aria-describedby="${describedBy}", error id ${id})`,
      )
      expect(
        (await password.getAttribute('aria-invalid')) === 'true',
        'the password field is not marked aria-invalid',
      )
      const username = await page.getByLabel('Username', { exact: true }).inputValue()
      expect(username === USERNAME, `the username was not kept: "${username}"`)
      return { page: true, detail: `"${message}", announced and tied to the password field` }
    },
  },
  {
    name: 'consent page',
    async body({ page }) {
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
      await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Log in' }).click()])
      await expectHeading(page, 'Allow access?')
      const text = oneLine(await page.locator('body').innerText())
      expect(text.includes(USERNAME), `the consent page does not name the user: ${text}`)
      for (const name of ['Allow', 'Deny']) {
        const button = page.getByRole('button', { name, exact: true })
        expect((await button.count()) === 1, `no ${name} button`)
      }
      return { page: true, detail: 'logged in; the consent page names the user and asks' }
    },
  },
  {
    name: 'callback',
    async body(ctx) {
      const { page } = ctx
      await Promise.all([
        page.waitForURL((url) => url.href.startsWith(REDIRECT_URI)),
        page.getByRole('button', { name: 'Allow', exact: true }).click(),
      ])
      const url = new URL(page.url())
      const code = url.searchParams.get('code')
      expect(code, `no code in the callback: ${url.search}`)
      expect(url.searchParams.get('state') === ctx.state, 'the callback has another state')
      expect(url.searchParams.get('iss') === ISSUER, `the callback's iss is ${url.searchParams.get('iss')}`)
      // Redeem the code as the client's back end would, to show that the
      // browser carried a real one.
      const basic = Buffer.from(
        `${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`,
      ).toString('base64')
      const response = await fetch(ctx.metadata.token_endpoint, {
        method: 'POST',
        headers: {
          authorization: `Basic ${basic}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: REDIRECT_URI,
          code_verifier: ctx.verifier,
        }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      })
      const tokens = await response.json()
      expect(response.ok, `the token endpoint said ${response.status}: ${JSON.stringify(tokens)}`)
      expect(typeof tokens.id_token === 'string', 'no ID token')
      // The callback page is the script's own, so it is not checked.
      return { page: false, detail: 'allowed; back at the client with the code and state, redeemed' }
    },
  },
  {
    name: 'logout confirmation',
    async body(ctx) {
      const { page } = ctx
      const url = new URL(ctx.metadata.end_session_endpoint)
      url.search = new URLSearchParams({ client_id: CLIENT_ID }).toString()
      await page.goto(url.href)
      await expectHeading(page, 'Log out')
      const text = oneLine(await page.locator('body').innerText())
      expect(text.includes(USERNAME), `the confirmation does not name the user: ${text}`)
      return { page: true, detail: 'RP-initiated logout asks for confirmation' }
    },
  },
  {
    name: 'logged out',
    async body({ page }) {
      await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Log out' }).click()])
      await expectHeading(page, 'Logged out')
      return { page: true, detail: 'confirmed; the session has ended' }
    },
  },
  // The built-in demo relying party, from the landing page's button.
  {
    name: 'demo login form',
    async body({ page }) {
      await page.goto(`${ISSUER.replace(/\/$/, '')}/`)
      await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Try a login' }).click()])
      await expectHeading(page, 'Log in')
      const text = oneLine(await page.locator('body').innerText())
      expect(text.includes('Porthor demo'), `the login form does not name the demo application: ${text}`)
      return { page: true, detail: '"Try a login" on / leads to the login form for the demo application' }
    },
  },
  {
    name: 'demo wrong password',
    async body({ page }) {
      await page.getByLabel('Username', { exact: true }).fill(USERNAME)
      await page.getByLabel('Password', { exact: true }).fill(`${PASSWORD}-wrong`)
      await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Log in' }).click()])
      await expectHeading(page, 'Log in')
      const error = page.locator('[role="alert"]')
      expect(await error.isVisible(), 'the error message is not visible')
      return { page: true, detail: `"${oneLine(await error.innerText())}"` }
    },
  },
  {
    name: 'demo claims',
    async body({ page }) {
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
      await Promise.all([
        page.waitForURL((url) => url.pathname.endsWith('/demo/claims')),
        page.getByRole('button', { name: 'Log in' }).click(),
      ])
      await expectHeading(page, 'Logged in to the demo application')
      // A claim of the ID token, in its table: the user's username.
      const row = page.locator('table.claims tr', { has: page.locator('th', { hasText: /^preferred_username$/ }) })
      expect((await row.count()) === 2, `${await row.count()} preferred_username rows, not 2 (ID token and userinfo)`)
      const value = oneLine(await row.first().locator('td').innerText())
      expect(value === USERNAME, `preferred_username is "${value}", not ${USERNAME}`)
      const text = oneLine(await page.locator('body').innerText())
      expect(text.includes('signature was checked against'), 'the page does not say the signature was checked')
      return { page: true, detail: `logged in; the ID token's claims (preferred_username=${value}) and userinfo shown` }
    },
  },
  {
    name: 'demo refresh',
    async body({ page }) {
      await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Refresh tokens' }).click()])
      await expectHeading(page, 'Logged in to the demo application')
      const status = oneLine(await page.locator('[role="status"]').innerText())
      expect(status.includes('Tokens refreshed'), `no refresh notice: "${status}"`)
      return { page: true, detail: 'new tokens from the refresh token, verified and shown' }
    },
  },
  {
    name: 'demo logged out',
    async body({ page }) {
      await Promise.all([
        page.waitForURL((url) => url.pathname.endsWith('/demo/logged-out')),
        page.getByRole('button', { name: 'Log out' }).click(),
      ])
      await expectHeading(page, 'Logged out of the demo')
      return { page: true, detail: 'RP-initiated logout with id_token_hint, back at the demo' }
    },
  },
]

/** The client's callback: a tiny page on the redirect URI's loopback port.
 * (A route in the browser would not do: playwright does not intercept the
 * request a redirect leads to.) */
async function listen() {
  const url = new URL(REDIRECT_URI)
  const server = createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    response.end('<!doctype html><html lang="en"><title>Callback</title><h1>Callback</h1></html>')
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(Number(url.port), url.hostname, resolve)
  })
  return server
}

/** What is wrong with the page now showing, after saving its screenshot. */
async function checkPage(ctx, step) {
  const { page } = ctx
  const problems = []
  const file = join(SCREENSHOTS, `${ctx.viewport}-${step.replaceAll(' ', '-')}.png`)
  await page.screenshot({ path: file, fullPage: true })

  // Evaluated through the DevTools protocol, which the page's CSP does not
  // govern, unlike an injected <script>: the page is tested as served.
  await page.evaluate(`${AXE_SOURCE}\n;undefined`)
  const results = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { resultTypes: ['violations'] }),
  )
  for (const violation of results.violations) {
    const targets = violation.nodes.map((node) => node.target.join(' ')).join(', ')
    const line = `axe ${violation.impact} ${violation.id}: ${violation.help} (${targets})`
    if (FAILING_IMPACTS.has(violation.impact)) {
      problems.push(line)
    } else {
      console.log(`# ${ctx.viewport}: ${step}: ${line}`)
    }
  }

  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.scrollingElement.scrollWidth,
    innerWidth: window.innerWidth,
  }))
  // A phone (isMobile) widens its layout viewport to fit a page that is too
  // wide, innerWidth with it, so the width asked for is the bound too.
  const width = Math.min(innerWidth, page.viewportSize().width)
  if (scrollWidth > width) {
    problems.push(
      `scrolls sideways: scrollWidth ${scrollWidth} > ${width} (innerWidth ${innerWidth})`,
    )
  }
  for (const message of ctx.consoleErrors.splice(0)) {
    problems.push(`console error: ${oneLine(message)}`)
  }
  return problems
}

async function main() {
  mkdirSync(SCREENSHOTS, { recursive: true })
  const total = STEPS.length * VIEWPORTS.length
  console.log(`1..${total}`)
  let number = 0
  let failed = 0
  const report = (ok, viewport, step, text) => {
    number += 1
    if (!ok) failed += 1
    console.log(`${ok ? 'ok' : 'not ok'} ${number} - ${viewport}: ${step}: ${oneLine(text)}`)
  }

  let browser
  let metadata
  let callback
  try {
    metadata = await discover()
    callback = await listen()
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // playwright-core passes --no-sandbox unless told to keep the sandbox.
      chromiumSandbox: SANDBOX,
      timeout: TIMEOUT_MS,
    })
  } catch (error) {
    console.error(error)
    for (const viewport of VIEWPORTS) {
      for (const step of STEPS) {
        report(false, viewport.name, step.name, `not run: ${error.message}`)
      }
    }
    process.exit(1)
  }

  for (const viewport of VIEWPORTS) {
    const context = await browser.newContext(viewport.options)
    context.setDefaultTimeout(TIMEOUT_MS)
    const page = await context.newPage()
    const ctx = { page, metadata, viewport: viewport.name, consoleErrors: [] }
    page.on('console', (message) => {
      if (message.type() !== 'error') return
      // A page answered with a 4xx status (the login form after a wrong
      // password is a 401) is logged as a failed load of the page itself;
      // its status is the step's business, not an error in the page.
      const loaded = message.location().url
      if (message.text().startsWith('Failed to load resource') && loaded === page.url()) return
      ctx.consoleErrors.push(message.text())
    })
    page.on('pageerror', (error) => ctx.consoleErrors.push(error.message))
    let broken
    for (const step of STEPS) {
      if (broken) {
        report(false, viewport.name, step.name, `not run, as '${broken}' failed`)
        continue
      }
      try {
        const outcome = await step.body(ctx)
        const problems = outcome.page ? await checkPage(ctx, step.name) : []
        if (problems.length > 0) {
          report(false, viewport.name, step.name, `${problems.length} problem(s) on ${new URL(page.url()).pathname}`)
          for (const problem of problems) console.log(`#   ${problem}`)
        } else {
          report(true, viewport.name, step.name, outcome.detail)
        }
      } catch (error) {
        if (!(error instanceof CheckFailed)) console.error(error)
        // A screenshot of where it went wrong, for whoever reads the failure.
        await page
          .screenshot({ path: join(SCREENSHOTS, `${viewport.name}-${step.name.replaceAll(' ', '-')}-failed.png`) })
          .catch(() => {})
        report(false, viewport.name, step.name, error.message)
        broken = step.name
      }
    }
    await context.close()
  }
  await browser.close()
  callback.close()
  process.exit(failed > 0 ? 1 : 0)
}

await main()
