'use strict';

// CORS for the H5 pages of a 公众号 (docs/identities.md): they post a WeChat OAuth code to
// POST /user/wechatlogin/web from a browser, on their own origin. API Gateway answers the
// preflight (OPTIONS) itself, without running a function, and adds the CORS headers to the
// answers, for the origins of the stage param `h5Origins` (comma-separated, each
// `https://host[:port]`) and no other. Empty (the default): no CORS at all, as before.
//
// serverless.yml takes it with the `file` variable source:
//
//   provider:
//     httpApi:
//       cors: ${file(./deploy/cors.cjs):cors}
//
// osls calls the exported function with { resolveVariable } (node_modules/osls/lib/configuration/variables/sources/file.js).

/** The origins of `h5Origins`, each checked: an origin is scheme, host and port, nothing else. */
function originsOf(value) {
  const origins = String(value ?? '')
    .split(/[\s,]+/)
    .filter(Boolean);
  for (const origin of origins) {
    if (!/^https?:\/\/[a-z0-9.-]+(:\d+)?$/i.test(origin)) {
      throw new Error(`deploy/cors.cjs: the stage param h5Origins must list origins such as https://h5.example.com (no path, no slash at the end), got ${JSON.stringify(origin)}`);
    }
  }
  return origins;
}

module.exports.originsOf = originsOf;

module.exports.cors = async ({ resolveVariable }) => {
  const origins = originsOf(await resolveVariable('param:h5Origins'));
  if (origins.length === 0) return false;
  return {
    allowedOrigins: origins,
    // What a page's fetch of the login sends, and what the kit's requests send with a token.
    allowedHeaders: ['Content-Type', 'Authorization', 'X-Login-Proof'],
    allowedMethods: ['GET', 'POST', 'OPTIONS'],
    allowCredentials: false,
    // A browser keeps a preflight's answer this long (seconds).
    maxAge: 600,
  };
};
