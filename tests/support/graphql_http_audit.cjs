// node graphql_http_audit.cjs NODE_DIR URL: graphql-http's GraphQL-over-HTTP server audits
// against URL, one JSON line per audit: {"id", "name", "level", "ok", "reason"}.
// Run by tests/test_graphql_http.py, which installs graphql-http into NODE_DIR.
'use strict';
const path = require('path');
const { createRequire } = require('module');

const [nodeDir, url] = process.argv.slice(2);
const load = createRequire(path.join(path.resolve(nodeDir), 'package.json'));
const { serverAudits } = load('graphql-http');
// One audit that hangs must not stall the run: each request gets 10 s.
const fetchFn = (input, init = {}) => fetch(input, { ...init, signal: AbortSignal.timeout(10000) });

(async () => {
  for (const audit of serverAudits({ url, fetchFn })) {
    const level = audit.name.split(' ')[0]; // MUST, SHOULD or MAY ("MAY NOT" is a MAY)
    let result;
    try {
      result = await audit.fn();
    } catch (error) {
      result = { status: 'error', reason: `threw: ${error && error.message}` };
    }
    const ok = result.status === 'ok';
    const reason = ok ? '' : String(result.reason).replace(/\s+/g, ' ').slice(0, 300);
    console.log(JSON.stringify({ id: audit.id, name: audit.name, level, ok, reason }));
  }
})().catch((error) => {
  console.error(error);
  process.exit(2);
});
