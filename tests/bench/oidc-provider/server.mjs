// The reference server of the sign-in benchmark: node oidc-provider with its
// development interactions (a login form that accepts any user name and
// password, then a consent form), one confidential client, a fresh 2048-bit
// RS256 signing key, and PKCE required, so that it does the same work per
// sign-in as authflow: one RS256 id_token, an opaque access token, userinfo.
//
//   node server.mjs        (settings from the environment, below)
//
// BENCH_PORT, BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, BENCH_REDIRECT_URI.
// Listens on 127.0.0.1 only. Stops on SIGTERM or SIGINT.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const need = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`server.mjs: ${name} is not set`);
    process.exit(2);
  }
  return v;
};

const port = Number(need('BENCH_PORT'));
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: need('BENCH_CLIENT_ID'),
    client_secret: need('BENCH_CLIENT_SECRET'),
    redirect_uris: [need('BENCH_REDIRECT_URI')],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  // Any user name signs in, as the development login form promises.
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          name: `${sub} Example`,
          preferred_username: sub,
          email: `${sub}@example.com`,
          email_verified: true,
        };
      },
    };
  },
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
