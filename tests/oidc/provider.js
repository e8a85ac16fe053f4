// A real OpenID provider (oidc-provider, certified) for Atalaia's single sign-on tests.
// Started by tests/oidc_provider.py on 127.0.0.1; configured by environment variables:
//   PORT, ISSUER (default http://127.0.0.1:PORT), CLIENT_ID, CLIENT_SECRET,
//   REDIRECT_URIS and POST_LOGOUT_REDIRECT_URIS (comma-separated), ID_TOKEN_TTL (seconds).
// Any login name signs in (the development login form, no password check); the accounts
// below carry claims, others get a plain profile with no groups.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

// `make test-future` moves the clock of every Python process the suite starts
// (tests/clock/sitecustomize.py); the provider's tokens must be dated by the same clock.
const offsetDays = Number(process.env.ATALAIA_TEST_CLOCK_OFFSET_DAYS || 0);
if (offsetDays) {
  const realNow = Date.now;
  Date.now = () => realNow() + offsetDays * 86400 * 1000;
}

const port = Number(process.env.PORT);
const issuer = process.env.ISSUER || `http://127.0.0.1:${port}`;
const list = (value) => (value || '').split(',').filter(Boolean);

const ACCOUNTS = {
  alice: { name: 'Alice Commander', email: 'alice@example.com', groups: ['atalaia-commanders'] },
  carol: { name: 'Carol Admin', email: 'carol@example.com', groups: ['staff', 'atalaia-admins'] },
  dave: { name: 'Dave Viewer', email: 'dave@example.com', groups: ['staff'] },
};

function claimsOf(id) {
  const known = ACCOUNTS[id] || { name: id, email: `${id}@example.com`, groups: [] };
  return {
    sub: id, preferred_username: id, name: known.name,
    email: known.email, email_verified: true, groups: known.groups,
  };
}

// A fresh signing key each start: nothing secret is kept in the repository.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: list(process.env.REDIRECT_URIS),
    post_logout_redirect_uris: list(process.env.POST_LOGOUT_REDIRECT_URIS),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['atalaia-test-cookie-key'] },
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  // ID token claims in the ID token itself (not only from userinfo), as Keycloak does.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  ttl: { IdToken: Number(process.env.ID_TOKEN_TTL || 300), AccessToken: 300, AuthorizationCode: 60 },
  findAccount: (ctx, id) => ({ accountId: id, claims: () => claimsOf(id) }),
  // Atalaia is a first-party client: no consent screen, the grant is made at once.
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({
      accountId: ctx.oidc.session.accountId, clientId: ctx.oidc.client.clientId,
    });
    grant.addOIDCScope('openid profile email groups');
    grant.addOIDCClaims(['groups', 'preferred_username', 'email', 'name']);
    await grant.save();
    return grant;
  },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
