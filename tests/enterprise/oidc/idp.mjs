// A real OpenID Provider (npm oidc-provider 8) for the OIDC tests, on 127.0.0.1.
// node idp.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI[,REDIRECT_URI...]
// Accounts are keyed by login name (the dev login form takes any password); their claims are
// set per test with PUT /test/accounts/<login> (JSON), and fall back to a verified
// <login>@example.com with no groups or roles.
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirects] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const accounts = new Map();

function claimsOf(login) {
  return {
    email: `${login}@example.com`,
    email_verified: true,
    name: `Test ${login}`,
    preferred_username: login,
    ...(accounts.get(login) || {}),
    sub: login,
  };
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirects.split(','),
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  async findAccount(ctx, id) {
    return { accountId: id, claims: async () => claimsOf(id) };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
    roles: ['roles'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'roles'],
  // Claims in the ID token as well as userinfo, as Okta and Keycloak can be set up to do.
  conformIdTokenClaims: false,
  pkce: { methods: ['S256'], required: () => true },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['portal-tests-only'] },
  ttl: { IdToken: 300, AccessToken: 300, AuthorizationCode: 60, Interaction: 600, Session: 600, Grant: 600 },
});
provider.proxy = false;

// Test control: set an account's claims.
provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/test\/accounts\/([^/]+)$/);
  if (!match || ctx.method !== 'PUT') return next();
  let raw = '';
  for await (const chunk of ctx.req) raw += chunk;
  accounts.set(decodeURIComponent(match[1]), JSON.parse(raw || '{}'));
  ctx.status = 204;
});

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
