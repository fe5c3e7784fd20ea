#!/usr/bin/env node
// negotiate_browser.mjs — signs in to URLs the way a user's browser does: Debian's headless
// Chromium (/usr/bin/chromium, never a downloaded build) driven by playwright-core, doing SPNEGO
// with the ticket cache in KRB5CCNAME (and the realm in KRB5_CONFIG) of this process's env.
//
// Input: one JSON object, as argv[2] or on stdin:
//   {"urls": ["http://localhost:8080/a", ...],  visited in order, in one browser context
//    "allowlist": "localhost",                  --auth-server-allowlist; "" or null: none
//    "delegate": false,                         Local State auth.negotiate_delegate_whitelist
//    "ignoreHttpsErrors": false,
//    "followMs": 0,                             after each load, wait up to this long for the
//                                               page to navigate on by itself (meta refresh)
//    "timeoutMs": 30000,                        per navigation, and for the launch
//    "profileParent": "/tmp"}                   where the throw-away profile dir is made
// Output: ONE JSON object on stdout:
//   {"chromium": "156.0...", "profileDir": "...", "tcpConnections": n,
//    "timingsMs": {"launch", "visits": [...], "close"},
//    "results": [{"url", "status" (null when the navigation failed), "error" ("net::ERR_..." or
//                 null), "finalUrl", "body" (text, at most 64 KiB; "bodyTruncated"),
//                 "responseHeaders" {lower-case name: value},
//                 "exchanges": [{"status", "authorization", "cookie" (bytes of that request
//                                header, or null), "connection"}],  this navigation on the wire
//                 "authorizationRequests": n,        exchanges that carried Authorization
//                 "negotiate": [{"spn", "client", "target", "delegated", "mutual", "error"}],
//                 "subrequests": [{"url", "exchanges", "negotiate"}],   e.g. /favicon.ico
//                 "navigations": [{"url", "status", "error"}]}, ...],  main-frame navigations
//                                    the page started by itself after loading (followMs > 0)
//    "cookies": [{"name", "valueLength", "domain", "path", "expires", "httpOnly", "secure",
//                 "sameSite"}]}
//
// Where the wire facts come from: playwright (and the DevTools protocol under it) sees one request
// per navigation with the headers of the *first* attempt and the *final* response — the 401, the
// retry and its Authorization header are handled inside Chromium's network stack, below DevTools.
// Chromium's NetLog (--log-net-log, "Default" capture mode: Authorization, cookies and
// WWW-Authenticate tokens are replaced by their length) records each attempt, the connection it
// used, and each gss_init_sec_context with its flags; it is read after the browser has closed.
// "connection" numbers the TCP connections in order of first use, "tcpConnections" counts every
// connection opened to the URLs' hosts (Chromium preconnects; not all are used).
//
// Secrets never reach the output: cookie values are absent, Set-Cookie / Authorization /
// WWW-Authenticate values are reduced to name or scheme, and any cookie value that the body
// echoes is replaced by "<cookie NAME>". The browser resolves only the URLs' hosts (every other
// name fails at once), so a run never reaches past them.
// Exit 0 with the JSON; on any harness error (bad input, launch failure, timeout) exit 1 with one
// line "negotiate_browser: ..." on stderr. The profile dir is removed in every case.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const EXECUTABLE = '/usr/bin/chromium';
const BODY_LIMIT = 64 * 1024;

function readInput() {
  const text = process.argv.length > 2 ? process.argv[2] : fs.readFileSync(0, 'utf8');
  let input;
  try {
    input = JSON.parse(text);
  } catch (e) {
    throw new Error(`input is not JSON: ${e.message}`);
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new Error('input must be a JSON object');
  }
  const known = ['urls', 'allowlist', 'delegate', 'ignoreHttpsErrors', 'timeoutMs',
                 'profileParent', 'followMs'];
  for (const k of Object.keys(input)) {
    if (!known.includes(k)) throw new Error(`unknown input key '${k}'`);
  }
  const {urls, allowlist = 'localhost', delegate = false, ignoreHttpsErrors = false,
         timeoutMs = 30000, profileParent = os.tmpdir(), followMs = 0} = input;
  if (!Array.isArray(urls) || urls.length === 0 ||
      !urls.every((u) => typeof u === 'string' && /^https?:\/\/[^/]/.test(u))) {
    throw new Error('urls must be a non-empty list of http(s) URLs');
  }
  if (allowlist !== null && typeof allowlist !== 'string') {
    throw new Error('allowlist must be a string or null');
  }
  if (typeof delegate !== 'boolean' || typeof ignoreHttpsErrors !== 'boolean') {
    throw new Error('delegate and ignoreHttpsErrors must be booleans');
  }
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new Error('timeoutMs must be a positive integer');
  }
  if (!Number.isInteger(followMs) || followMs < 0) {
    throw new Error('followMs must be a non-negative integer');
  }
  if (typeof profileParent !== 'string' || !fs.existsSync(profileParent)) {
    throw new Error(`profileParent ${JSON.stringify(profileParent)} does not exist`);
  }
  return {urls: urls.map((u) => new URL(u).href), allowlist: allowlist || '', delegate,
          ignoreHttpsErrors, timeoutMs, profileParent, followMs};
}

// Local State is read once at start-up. Without net.received_http_auth_negotiate_headers a fresh
// profile answers a Negotiate challenge with ERR_UNSUPPORTED_AUTH_SCHEME; delegation is allowed
// only to hosts in auth.negotiate_delegate_whitelist (there is no command-line flag for it).
function writeLocalState(profileDir, {allowlist, delegate}) {
  const state = {auth: {}, net: {received_http_auth_negotiate_headers: true}};
  if (delegate) state.auth.negotiate_delegate_whitelist = allowlist || 'localhost';
  fs.writeFileSync(path.join(profileDir, 'Local State'), JSON.stringify(state));
}

function scheme(value) {
  return value ? String(value).trim().split(/\s+/, 1)[0] : null;
}

function redactHeaders(headers) {
  const out = {};
  for (const [name, value] of Object.entries(headers)) {
    const n = name.toLowerCase();
    if (n === 'set-cookie') {
      // One cookie per line; keep its name and attributes, never its value.
      out[n] = String(value).split('\n').map((line) => {
        const [pair, ...attrs] = line.split(';');
        const eq = pair.indexOf('=');
        const cname = eq < 0 ? pair.trim() : pair.slice(0, eq).trim();
        const len = eq < 0 ? 0 : pair.slice(eq + 1).trim().length;
        return [`${cname}=<${len} bytes>`, ...attrs.map((a) => a.trim())].join('; ');
      }).join('\n');
    } else if (['authorization', 'www-authenticate', 'proxy-authenticate',
                'proxy-authorization'].includes(n)) {
      out[n] = String(value).split('\n').map((v) => {
        const s = scheme(v);
        return v.trim() === s ? s : `${s} <redacted>`;
      }).join('\n');
    } else {
      out[n] = value;
    }
  }
  return out;
}

function redactBody(body, cookies) {
  let out = body;
  for (const c of cookies) {
    if (c.value && c.value.length >= 8) out = out.split(c.value).join(`<cookie ${c.name}>`);
  }
  return out;
}

// ---------------------------------------------------------------------------------- NetLog
// The file is one JSON object, but written line by line: line 1 holds the constants, then one
// event per line. Reading it by lines also copes with a file cut short by a crash.
function readNetLog(file) {
  if (!fs.existsSync(file)) throw new Error(`Chromium wrote no NetLog (--log-net-log=${file})`);
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const constants = JSON.parse(lines[0].replace(/,\s*$/, '') + '}').constants;
  const events = [];
  for (const line of lines.slice(1)) {
    if (!line.startsWith('{"')) continue;
    try {
      events.push(JSON.parse(line.replace(/\]?,\s*$/, '')));
    } catch {
      // the torn last line of an unfinished file
    }
  }
  const invert = (m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [v, k]));
  const type = invert(constants.logEventTypes);
  const phase = invert(constants.logEventPhase);
  return events.map((e) => ({...e, type: type[e.type], phase: phase[e.phase]}));
}

function statusOfHeaders(lines) {
  const m = /^HTTP\/\S+ (\d{3})/.exec(lines?.[0] ?? '');
  return m ? Number(m[1]) : null;
}

// The size of request header `name` (NetLog "Default" mode keeps only that of credentials).
function headerBytes(lines, name) {
  const rx = new RegExp(`^${name}:\\s*(.*)$`, 'i');
  for (const l of lines ?? []) {
    const m = rx.exec(l);
    if (!m) continue;
    const stripped = /\[(\d+) bytes were stripped\]/.exec(m[1]);
    return stripped ? Number(stripped[1]) : m[1].length;
  }
  return null;
}

// "gss_init_sec_context: <major> (<minor>)", or null for GSS_S_COMPLETE / GSS_S_CONTINUE_NEEDED.
function gssError(status) {
  const major = status?.major_status;
  if (!major || major.status === 0 || major.status === 1) return null;
  const text = (m) => (m?.message ?? [String(m?.status ?? '')]).join('; ').replace(/\0/g, '');
  return `${status.function ?? 'gss'}: ${text(major)} (${text(status.minor_status)})`;
}

// The URL requests to `hosts`, in start order, each with its exchanges and Negotiate contexts.
function wireFacts(events, hosts) {
  const bySource = new Map();
  const dep = (e) => e.params?.source_dependency?.id;
  const jobSocket = new Map();  // stream job -> socket (SOCKET_IN_USE on the socket)
  const requestOfController = new Map();
  const connNumber = new Map();  // socket id -> 1, 2, ... in order of first use
  let tcpConnections = 0;
  for (const e of events) {
    if (e.type === 'SOCKET_IN_USE' && e.phase === 'PHASE_BEGIN') jobSocket.set(dep(e), e.source.id);
    if (e.type === 'AUTH_BOUND_TO_CONTROLLER') requestOfController.set(dep(e), e.source.id);
    if (e.type === 'TCP_CONNECT' && e.phase === 'PHASE_END' && e.params?.remote_address) {
      const port = e.params.remote_address.replace(/^.*:/, '');
      if (hosts.ports.has(port)) tcpConnections += 1;
    }
  }
  const requests = [];
  for (const e of events) {
    const id = e.source.id;
    if (e.type === 'URL_REQUEST_START_JOB' && e.phase === 'PHASE_BEGIN' && !bySource.has(id)) {
      let url;
      try {
        url = new URL(e.params.url);
      } catch {
        continue;
      }
      if (!hosts.names.has(url.hostname)) continue;
      const r = {url: url.href, mainFrame: e.params.request_type === 'main frame',
                 exchanges: [], negotiate: [], socket: null};
      bySource.set(id, r);
      requests.push(r);
      continue;
    }
    const ctlRequest = bySource.get(requestOfController.get(id));
    const r = bySource.get(id);
    if (r && e.type === 'HTTP_STREAM_REQUEST_BOUND_TO_JOB') {
      r.socket = jobSocket.get(dep(e)) ?? null;
    } else if (r && /^HTTP_TRANSACTION_.*SEND_REQUEST_HEADERS$/.test(e.type)) {
      if (r.socket !== null && !connNumber.has(r.socket)) {
        connNumber.set(r.socket, connNumber.size + 1);
      }
      r.exchanges.push({status: null,
                        authorization: headerBytes(e.params?.headers, 'authorization'),
                        cookie: headerBytes(e.params?.headers, 'cookie'),
                        connection: r.socket === null ? null : connNumber.get(r.socket)});
    } else if (r && /^HTTP_TRANSACTION_.*READ_RESPONSE_HEADERS$/.test(e.type)) {
      const x = r.exchanges.findLast((x) => x.status === null);
      if (x) x.status = statusOfHeaders(e.params?.headers);
    } else if (ctlRequest && e.type === 'AUTH_LIBRARY_IMPORT_NAME') {
      ctlRequest.negotiate.push({spn: e.params?.spn ?? null, client: null, target: null,
                                 delegated: null, mutual: null, error: null});
    } else if (ctlRequest && e.type === 'AUTH_LIBRARY_INIT_SEC_CTX' && e.phase === 'PHASE_END') {
      const n = ctlRequest.negotiate.at(-1);
      if (!n) continue;
      const ctx = e.params?.context;
      n.client = ctx?.source?.name ?? null;
      n.target = ctx?.target?.name ?? null;
      n.delegated = ctx?.flags?.delegated ?? null;
      n.mutual = ctx?.flags?.mutual ?? null;
      const netError = e.params?.net_error ? `net error ${e.params.net_error}` : null;
      n.error = gssError(e.params?.status) ?? netError;
    } else if (ctlRequest && e.type === 'AUTH_GENERATE_TOKEN' && e.phase === 'PHASE_END' &&
               e.params?.net_error && ctlRequest.negotiate.length > 0) {
      ctlRequest.negotiate.at(-1).error ??= `net error ${e.params.net_error}`;
    }
  }
  return {requests, tcpConnections};
}

// Navigation k owns the k-th main-frame request and the requests started after it.
function attachWire(results, wire) {
  let k = -1;
  for (const r of wire.requests) {
    if (r.mainFrame) k += 1;
    const res = results[Math.max(k, 0)];
    if (!res) break;
    const {url, exchanges, negotiate} = r;
    if (r.mainFrame && !res.wireSeen) {
      Object.assign(res, {exchanges, negotiate, wireSeen: true});
    } else {
      res.subrequests.push({url, exchanges, negotiate});
    }
  }
  for (const res of results) {
    delete res.wireSeen;
    res.authorizationRequests = res.exchanges.filter((x) => x.authorization !== null).length;
  }
}

// ---------------------------------------------------------------------------------- browser
// Main-frame navigation requests from now on, each {url, status, error} once it ended; the
// first one is the visit's own (page.goto), later ones the page started itself.
function watchNavigations(page) {
  const navs = [];
  const byRequest = new Map();
  const mine = (req) => req.isNavigationRequest() && req.frame() === page.mainFrame();
  const onRequest = (req) => {
    if (!mine(req) || req.redirectedFrom()) return;  // a redirect continues its navigation
    const n = {url: req.url(), status: null, error: null, done: false};
    byRequest.set(req, n);
    navs.push(n);
  };
  const navOf = (req) => {
    let r = req;
    while (r.redirectedFrom()) r = r.redirectedFrom();
    return byRequest.get(r);
  };
  const onFinished = async (req) => {
    const n = navOf(req);
    if (!n || req.redirectedTo()) return;
    const res = await req.response().catch(() => null);
    n.status = res ? res.status() : null;
    n.done = true;
  };
  const onFailed = (req) => {
    const n = navOf(req);
    if (!n) return;
    n.error = req.failure()?.errorText ?? 'failed';
    n.done = true;
  };
  page.on('request', onRequest);
  page.on('requestfinished', onFinished);
  page.on('requestfailed', onFailed);
  return {
    navs,
    stop() {
      page.off('request', onRequest);
      page.off('requestfinished', onFinished);
      page.off('requestfailed', onFailed);
    },
  };
}

async function visit(page, url, timeoutMs, followMs) {
  const result = {url, status: null, error: null, finalUrl: null, body: '', bodyTruncated: false,
                  responseHeaders: {}, exchanges: [], authorizationRequests: 0, negotiate: [],
                  subrequests: [], navigations: []};
  let response = null;
  const watch = watchNavigations(page);
  // Bodies are fetched as soon as each main-frame response arrives: once a meta refresh has
  // replaced the document, DevTools no longer has the old one's body.
  const bodies = new Map();
  const onResponse = (res) => {
    if (res.request().isNavigationRequest() && res.frame() === page.mainFrame()) {
      bodies.set(res.request(), res.text().catch(() => null));
    }
  };
  page.on('response', onResponse);
  try {
    response = await page.goto(url, {waitUntil: 'load', timeout: timeoutMs});
  } catch (e) {
    const m = /net::ERR_[A-Z0-9_]+/.exec(e.message);
    if (!m) {
      watch.stop();
      page.off('response', onResponse);
      throw e;  // a timeout or a crash is the harness's failure, not a result
    }
    result.error = m[0];
  }
  if (response) {
    result.status = response.status();
    result.finalUrl = response.url();
    result.responseHeaders = await response.allHeaders();
    let text = await (bodies.get(response.request()) ?? Promise.resolve(null));
    if (text === null) {
      try {
        text = await response.text();
      } catch {
        text = '';  // no body (e.g. a redirect that was followed)
      }
    }
    result.bodyTruncated = text.length > BODY_LIMIT;
    result.body = text.slice(0, BODY_LIMIT);
  }
  // A meta refresh (or script) may navigate on after the load: wait for such a navigation to
  // end, or for followMs.
  const until = performance.now() + followMs;
  while (performance.now() < until && !(watch.navs.length > 1 && watch.navs.at(-1).done)) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  watch.stop();
  page.off('response', onResponse);
  result.navigations = watch.navs.slice(1).map(({url: u, status, error}) => ({url: u, status,
                                                                            error}));
  return result;
}

async function run(opts) {
  if (!fs.existsSync(EXECUTABLE)) {
    throw new Error(`${EXECUTABLE} not found (scripts/install-deps.sh installs chromium)`);
  }
  const {chromium} = await import('playwright-core');
  const profileDir = fs.mkdtempSync(path.join(opts.profileParent, 'gssgate-chromium-'));
  const netLog = path.join(profileDir, 'netlog.json');
  let context = null;
  const closeBrowser = async () => {
    if (context) {
      const c = context;
      context = null;
      await c.close().catch(() => {});
    }
  };
  // A signal closes the browser and removes the profile (playwright's own handlers are off: they
  // would exit before the profile is gone). Should closing hang, exiting still kills Chromium:
  // playwright kills the processes it launched when node exits.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      const code = 128 + os.constants.signals[sig];
      setTimeout(() => process.exit(code), 3000).unref();
      closeBrowser().finally(() => {
        fs.rmSync(profileDir, {recursive: true, force: true});
        process.exit(code);
      });
    });
  }
  try {
    writeLocalState(profileDir, opts);
    const hosts = {names: new Set(), ports: new Set()};
    for (const u of opts.urls) {
      const url = new URL(u);
      hosts.names.add(url.hostname);
      hosts.ports.add(url.port || (url.protocol === 'https:' ? '443' : '80'));
    }
    const exclude = [...hosts.names].map((h) => `EXCLUDE ${h}`).join(', ');
    const args = ['--disable-background-networking', '--disable-component-update',
                  '--disable-sync', '--no-first-run', '--disable-quic', '--no-proxy-server',
                  `--host-resolver-rules=MAP * ~NOTFOUND, ${exclude}`,
                  `--log-net-log=${netLog}`, '--net-log-capture-mode=Default'];
    if (opts.allowlist) args.push(`--auth-server-allowlist=${opts.allowlist}`);
    const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    const t0 = performance.now();
    const ms = (t) => Math.round(performance.now() - t);
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: EXECUTABLE,
      headless: true,
      chromiumSandbox: !isRoot,  // as root Chromium refuses to start with its sandbox
      args,
      ignoreHTTPSErrors: opts.ignoreHttpsErrors,
      timeout: opts.timeoutMs,
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
      env: process.env,  // KRB5CCNAME, KRB5_CONFIG
    });
    const chromiumVersion = context.browser()?.version() ?? null;
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(opts.timeoutMs);

    const timingsMs = {launch: ms(t0), visits: [], close: 0};
    const results = [];
    for (const url of opts.urls) {
      const t = performance.now();
      results.push(await visit(page, url, opts.timeoutMs, opts.followMs));
      timingsMs.visits.push(ms(t));
    }
    const cookies = await context.cookies();
    const tClose = performance.now();
    await closeBrowser();  // flushes the NetLog
    timingsMs.close = ms(tClose);

    const wire = wireFacts(readNetLog(netLog), hosts);
    attachWire(results, wire);
    for (const r of results) {
      r.responseHeaders = redactHeaders(r.responseHeaders);
      r.body = redactBody(r.body, cookies);
    }
    return {
      chromium: chromiumVersion,
      profileDir,
      tcpConnections: wire.tcpConnections,
      timingsMs,
      results,
      cookies: cookies.map((c) => ({name: c.name, valueLength: c.value.length, domain: c.domain,
                                    path: c.path, expires: c.expires, httpOnly: c.httpOnly,
                                    secure: c.secure, sameSite: c.sameSite})),
    };
  } finally {
    await closeBrowser();
    fs.rmSync(profileDir, {recursive: true, force: true});
  }
}

try {
  const out = await run(readInput());
  process.stdout.write(JSON.stringify(out) + '\n');
} catch (e) {
  const msg = (e && e.message ? e.message : String(e)).split('\n').find((l) => l.trim()) ?? '';
  process.stderr.write(`negotiate_browser: ${msg.trim()}\n`);
  process.exitCode = 1;
}
